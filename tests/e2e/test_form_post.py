"""JITProvResponseMode form_post (OAuth 2.0 Form Post Response Mode): the IdP
posts its answer to the callback instead of putting it in the address. The
callback then takes a POST only, a state cookie that survives a cross-site
POST over https, and refuses an answer that came the other way."""
import sqlite3
import urllib.parse

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

FORM_POST = "JITProvResponseMode form_post"


@pytest.fixture(scope="module")
def fp(env):
    env.httpd.stop()
    env.httpd.start(env.standard_config(server_extra=FORM_POST))
    yield env
    env.httpd.stop()


def accounts(env, sub_like):
    db = sqlite3.connect(env.httpd.db_path)
    try:
        return db.execute("SELECT count(*) FROM jitprov_accounts WHERE username = ?",
                          (sub_like,)).fetchone()[0]
    finally:
        db.close()


def answer(env, user, path):
    """A browser's login up to the IdP's form_post page: (session, callback
    URL, the fields the page would post)."""
    s = h.client()
    got = h.login(s, env.httpd.url(path), user, stop_at_callback=True)
    assert isinstance(got, tuple), f"no form_post page, the flow stopped at {got}"
    action, fields = got
    return s, action, fields


def test_login_by_form_post(fp):
    s = h.client()
    r = s.get(fp.httpd.url("/app/fp1"), allow_redirects=False)
    assert r.status_code == 302
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
    assert q["response_mode"] == ["form_post"] and q["response_type"] == ["code"]
    r = h.login(s, fp.httpd.url("/app/fp1"), "alice")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "alice"
    # The IdP's page posted to the callback, which sent the browser on with
    # a GET (303), not another POST.
    posted = [st for st, u in r.trace if urllib.parse.urlsplit(u).path == "/callback"]
    assert posted == [303], r.trace
    assert s.cookies.get(SESSION_COOKIE)
    assert accounts(fp, "alice") == 1


def test_answer_in_the_address_is_refused(fp):
    s, action, fields = answer(fp, "bob", "/app/fp2")
    before = accounts(fp, "bob")
    r = s.get(action, params=fields, allow_redirects=False)
    assert r.status_code == 400, r.text[:300]
    assert "form" in r.text and SESSION_COOKIE not in h.set_cookies(r)
    assert "callback by GET while JITProvResponseMode is form_post" in h.logged_line(fp.httpd, r)
    assert accounts(fp, "bob") == before
    # The state was not spent by the refusal: the real answer still logs in.
    r = s.post(action, data=fields, allow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def test_idp_error_in_the_address_is_logged(fp):
    s = h.client()
    r = s.get(fp.httpd.url("/callback"), params={"error": "access_denied", "state": "x" * 43},
              allow_redirects=False)
    assert r.status_code == 400
    assert "it carries IdP error access_denied" in h.logged_line(fp.httpd, r)


@pytest.mark.parametrize("how,status", [
    ("text/plain", 415),
    ("application/json", 415),
    ("none", 415),
    ("query", 400),
    ("big", 413),
])
def test_malformed_posts_refused(fp, how, status):
    s, action, fields = answer(fp, "carol", f"/app/fp-{how.replace('/', '-')}")
    before = accounts(fp, "carol")
    body = urllib.parse.urlencode(fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    url = action
    if how in ("text/plain", "application/json"):
        headers["Content-Type"] = how
    elif how == "none":
        headers = {}
    elif how == "query":
        url = action + "?" + body
    elif how == "big":
        body += "&pad=" + "a" * 9000
    r = s.post(url, data=body.encode(), headers=headers, allow_redirects=False)
    assert r.status_code == status, (how, r.status_code, r.text[:300])
    assert SESSION_COOKIE not in h.set_cookies(r)
    assert accounts(fp, "carol") == before


def test_other_methods_refused(fp):
    s = h.client()
    r = s.put(fp.httpd.url("/callback"), data=b"code=x&state=y", allow_redirects=False)
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    # GET stays: logins a third party starts (OIDC Core 4) come by GET too.
    assert r.status_code == 405 and "POST" in allow and "GET" in allow, allow
    assert "PUT" not in allow


def test_head_of_the_callback_does_nothing(fp):
    """A HEAD (link checkers) neither spends the state nor logs in."""
    s, action, fields = answer(fp, "erin", "/app/fp-head")
    r = s.head(action + "?" + urllib.parse.urlencode(fields), allow_redirects=False)
    assert r.status_code == 400 and SESSION_COOKIE not in h.set_cookies(r)
    r = s.post(action, data=fields, allow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def test_replayed_post_refused(fp):
    s, action, fields = answer(fp, "dave", "/app/fp3")
    state_cookies = {c.name: c.value for c in s.cookies if c.name.startswith("jitprov_state_")}
    r = s.post(action, data=fields, allow_redirects=False)
    assert r.status_code == 303
    # A second browser with a copy of the state cookie posts the same answer.
    other = h.client()
    cookie = "; ".join(f"{k}={v}" for k, v in state_cookies.items())
    r = other.post(action, data=fields, headers={"Cookie": cookie}, allow_redirects=False)
    assert r.status_code == 400 and SESSION_COOKIE not in h.set_cookies(r)


def test_state_cookie_samesite_none_over_https(env):
    """Behind a TLS proxy the state cookie is SameSite=None; Secure: the
    IdP's cross-site POST carries it. The answer then logs in."""
    env.httpd.stop()
    env.httpd.start(env.standard_config(
        server_extra=FORM_POST + "\nJITProvTrustedProxy 127.0.0.1\n"
                     "JITProvRedirectURI /callback"))
    try:
        s = h.client()
        tls = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "127.0.0.1",
               "X-Forwarded-Port": str(env.httpd.port)}
        r = s.get(env.httpd.url("/app/fp4"), headers=tls, allow_redirects=False)
        assert r.status_code == 302
        states = {n: v for n, v in h.set_cookies(r).items() if n.startswith("jitprov_state_")}
        (name, (value, attrs)), = states.items()
        assert attrs["samesite"] == "None" and attrs["secure"] is True, attrs
        # Explicitly Lax stays Lax (an IdP on the same site needs no None).
        env.httpd.stop()
        env.httpd.start(env.standard_config(
            server_extra=FORM_POST + "\nJITProvTrustedProxy 127.0.0.1\n"
                         "JITProvCookieSameSite state Lax"))
        r = h.client().get(env.httpd.url("/app/fp5"), headers=tls, allow_redirects=False)
        states = {n: v for n, v in h.set_cookies(r).items() if n.startswith("jitprov_state_")}
        (_, (_, attrs)), = states.items()
        assert attrs["samesite"] == "Lax" and attrs["secure"] is True, attrs
    finally:
        env.httpd.stop()


def test_idp_without_form_post_is_named_in_the_log(env):
    """An IdP whose discovery document lists response modes without
    form_post: the log says so when the module reads the document."""
    env.idp.override_discovery(response_modes_supported=["query", "fragment"])
    env.httpd.stop()
    env.httpd.start(env.standard_config(server_extra=FORM_POST))
    try:
        r = h.client().get(env.httpd.url("/app/fp6"), allow_redirects=False)
        assert r.status_code == 302
        assert h.wait_for_log(env.httpd, "JITPROV0906")
        assert "response_modes_supported without form_post" in env.httpd.log_since_start()
    finally:
        env.idp.override_discovery()
        env.httpd.stop()


def test_query_mode_refuses_post(env):
    env.httpd.stop()
    env.httpd.start(env.standard_config())
    try:
        r = h.client().post(env.httpd.url("/callback"), data={"code": "x", "state": "y" * 43},
                         allow_redirects=False)
        assert r.status_code == 405 and "GET" in r.headers.get("Allow", "")
    finally:
        env.httpd.stop()


@pytest.mark.parametrize("value", ["fragment", "form-post", "FORM_POST_JWT", ""])
def test_bad_mode_refused_at_configtest(env, value):
    r = env.httpd.configtest(env.standard_config(
        server_extra=f'JITProvResponseMode "{value}"'))
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "JITProvResponseMode" in out, out
