"""The redirect URI: bad, missing, mismatched and replayed state get 400 with a
correlation id that is also in the error log, and never a session."""
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, STATE_PREFIX


def assert_error_page(site, r, status=400):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith("text/html")
    assert SESSION_COOKIE not in h.set_cookies(r) or h.is_clearing(
        *h.set_cookies(r)[SESSION_COOKIE])
    ref = h.error_ref(r)
    assert ref, r.text[:1000]
    assert h.wait_for_log(site.httpd, ref), f"correlation id {ref} not in the error log"
    # The page says what went wrong without echoing the request back.
    assert "<script" not in r.text.lower()
    return ref


def start_attempt(site, sess, path="/app/cb"):
    """Begin a login; returns (state, authorize URL)."""
    r = sess.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 302
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    return q["state"], r.headers["Location"]


def test_no_parameters(site, s):
    assert_error_page(site, s.get(site.httpd.url("/callback"), allow_redirects=False))


def test_unknown_state(site, s):
    r = s.get(site.httpd.url("/callback?code=abc&state=" + "Q" * 43), allow_redirects=False)
    assert_error_page(site, r)


def test_state_without_cookie(site, s):
    state, _ = start_attempt(site, s)
    with requests.Session() as other:  # the cookie stays in the first jar
        r = other.get(site.httpd.url(f"/callback?code=abc&state={state}"),
                      allow_redirects=False)
        assert_error_page(site, r)


def test_state_mismatch_same_prefix(site, s):
    state, _ = start_attempt(site, s)
    forged = state[:16] + ("A" if state[16] != "A" else "B") + state[17:]
    r = s.get(site.httpd.url(f"/callback?code=abc&state={forged}"), allow_redirects=False)
    assert_error_page(site, r)


def test_state_too_long_or_odd(site, s):
    for st in ("Q" * 3000, "../../x", "%0d%0aSet-Cookie:%20x=y", "A" * 15):
        r = s.get(site.httpd.url(f"/callback?code=abc&state={st}"), allow_redirects=False)
        assert_error_page(site, r)
        assert "x=y" not in str(r.headers.get("Set-Cookie", ""))


def test_duplicate_state_parameter(site, s):
    state, _ = start_attempt(site, s)
    r = s.get(site.httpd.url(f"/callback?code=abc&state={state}&state={state}"),
              allow_redirects=False)
    assert_error_page(site, r)


@pytest.mark.parametrize("code,status,shown", [
    ("access_denied", 403, "access_denied"),
    ("temporarily_unavailable", 503, "temporarily_unavailable"),
    ("server_error", 502, "server_error"),
    ("invalid_scope", 400, "invalid_scope"),
    ("%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400, "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("a%0D%0Ab%22c", 400, "a??b?c"),
    ("x" * 300, 400, "x" * 64 + "..."),
])
def test_idp_error_response(site, s, code, status, shown):
    # RFC 6749 4.1.2.1: the code is shown (sanitised, capped, escaped), the
    # free-text description is not; the IdP's own trouble is a 502/503.
    before = h.written_rows(site.httpd)
    state, _ = start_attempt(site, s)
    r = s.get(site.httpd.url(f"/callback?error={code}&error_description=%3Cb%3Enope"
                             f"&state={state}&{iss_param(site)}"), allow_redirects=False)
    assert_error_page(site, r, status)
    assert f"(error: {shown})" in r.text, r.text[:600]
    assert "x" * 65 not in r.text and "nope" not in r.text
    assert h.written_rows(site.httpd) == before


def iss_param(site):
    return "iss=" + urllib.parse.quote(site.idp.issuer, safe="")


@pytest.mark.parametrize("iss,logged", [
    ("iss={i}&iss={i}", "(repeated or malformed)"),   # RFC 9207: one iss, not two
    ("iss=%00", "(repeated or malformed)"),           # present but unreadable (NUL)
    ("iss=http%3A%2F%2Fevil.example", "http://evil.example is not"),
    ("", "without the iss parameter"),  # the IdP's discovery document promises iss
])
def test_iss_parameter_refused(site, s, iss, logged):
    before = h.written_rows(site.httpd)
    state, _ = start_attempt(site, s)
    iss = iss.format(i=urllib.parse.quote(site.idp.issuer, safe=""))
    r = s.get(site.httpd.url(f"/callback?code=abc&state={state}&{iss}"), allow_redirects=False)
    ref = assert_error_page(site, r)
    assert "issuer" in r.text
    assert any(ref in line and logged in line
               for line in site.httpd.log_since_start().splitlines()), logged
    assert h.written_rows(site.httpd) == before


def test_iss_checked_before_an_error_response(site, s):
    # RFC 9207 2 covers error responses: one from another issuer is not the
    # IdP's answer, whatever it says.
    state, _ = start_attempt(site, s)
    r = s.get(site.httpd.url(f"/callback?error=access_denied&state={state}"
                             f"&iss=http%3A%2F%2Fevil.example"), allow_redirects=False)
    assert_error_page(site, r)
    assert "wrong issuer" in r.text


def test_wrong_code(site, s):
    state, _ = start_attempt(site, s)
    r = s.get(site.httpd.url(f"/callback?code=not-a-real-code&state={state}&{iss_param(site)}"),
              allow_redirects=False)
    assert 400 <= r.status_code < 600 and r.status_code != 500
    assert h.error_ref(r)
    assert SESSION_COOKIE not in h.set_cookies(r)


def test_replayed_callback_same_jar(site, s):
    cb = h.login(s, site.httpd.url("/app/replay"), "alice", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 302
    session_value = s.cookies.get(SESSION_COOKIE)
    assert session_value
    r2 = s.get(cb, allow_redirects=False)
    assert_error_page(site, r2)
    assert SESSION_COOKIE not in h.set_cookies(r2)
    # The first session is unaffected.
    assert s.get(site.httpd.url("/app/replay"), allow_redirects=False).status_code == 200


def test_replayed_callback_with_restored_state_cookie(site, s):
    cb = h.login(s, site.httpd.url("/app/replay2"), "bob", stop_at_callback=True)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query))["state"]
    name = STATE_PREFIX + state[:16]
    saved = s.cookies.get(name)
    assert saved, h.state_cookies(s)
    assert s.get(cb, allow_redirects=False).status_code == 302
    with requests.Session() as attacker:
        attacker.cookies.set(name, saved, domain="127.0.0.1", path="/")
        r = attacker.get(cb, allow_redirects=False)
        assert_error_page(site, r)
        assert SESSION_COOKIE not in h.set_cookies(r)
        assert attacker.get(site.httpd.url("/app/"), allow_redirects=False).status_code == 302


def test_callback_post_not_accepted_as_get(site, s):
    # response_mode is query: a POST to the callback is no login.
    state, _ = start_attempt(site, s)
    r = s.post(site.httpd.url("/callback"), data={"code": "abc", "state": state},
               allow_redirects=False)
    assert r.status_code in (400, 405)
    assert SESSION_COOKIE not in h.set_cookies(r)
