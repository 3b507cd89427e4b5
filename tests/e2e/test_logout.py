"""Local + RP-initiated logout (JITProvLogoutURI /logout)."""
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS


def logout_params(site, r):
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    loc = r.headers["Location"]
    end = site.idp.discovery()["end_session_endpoint"]
    assert loc.startswith(end + "?"), loc
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))


def test_logout_full(site, s):
    h.login(s, site.httpd.url("/app/"), "alice")
    old = s.cookies.get(SESSION_COOKIE)
    assert old
    logins_before = site.idp.stats().get("logins", 0)

    r = s.get(site.httpd.url("/logout?return_to=/x"), allow_redirects=False)
    q = logout_params(site, r)
    assert q["client_id"] == site.client_id
    assert q["post_logout_redirect_uri"] == site.httpd.url("/x")
    hdr, claims = h.jwt_parts(q["id_token_hint"])
    assert claims["sub"] == USER_CLAIMS["alice"]["sub"] and claims["aud"] == site.client_id
    # The browser's cookie is cleared ...
    sc = h.set_cookies(r)
    assert SESSION_COOKIE in sc and h.is_clearing(*sc[SESSION_COOKIE])
    assert s.cookies.get(SESSION_COOKIE) is None
    # ... and the session is gone on the server: the old cookie no longer works.
    with requests.Session() as replay:
        replay.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
        r2 = replay.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r2.status_code == 302
        assert replay.get(site.httpd.url("/api401/"), allow_redirects=False).status_code == 401

    # The IdP ends its session and sends the browser back to return_to.
    r3 = h.follow_idp_logout(s, r.headers["Location"])
    assert h.is_redirect(r3) and r3.headers["Location"] == site.httpd.url("/x")
    assert s.get(site.httpd.url("/x"), allow_redirects=False).status_code == 200

    # Next visit: a real login at the IdP again (no SSO left).
    r4 = h.login(s, site.httpd.url("/app/again"), "bob")
    assert r4.status_code == 200 and r4.logged_in_at_idp
    assert r4.json()["remote_user"] == "bob"
    assert site.idp.stats().get("logins", 0) == logins_before + 1


def test_logout_default_return_is_site_root(site, s):
    h.login(s, site.httpd.url("/app/"), "bob")
    q = logout_params(site, s.get(site.httpd.url("/logout"), allow_redirects=False))
    assert q["post_logout_redirect_uri"] == site.httpd.url("/")


def test_logout_absolute_same_origin_return_to(site, s):
    h.login(s, site.httpd.url("/app/"), "bob")
    target = site.httpd.url("/x/after-logout")
    r = s.get(site.httpd.url("/logout"), params={"return_to": target}, allow_redirects=False)
    assert logout_params(site, r)["post_logout_redirect_uri"] == target


def test_logout_return_to_is_a_whole_parameter_name(site, s):
    # "xreturn_to" is some other parameter: ignored, the default return applies.
    h.login(s, site.httpd.url("/app/"), "bob")
    r = s.get(site.httpd.url("/logout?xreturn_to=/x"), allow_redirects=False)
    assert logout_params(site, r)["post_logout_redirect_uri"] == site.httpd.url("/")


def test_logout_malformed_return_to_is_400(site, s):
    for q in ("return_to=%00", "return%5Fto=%00", "return_to=/a&return_to=/b"):
        r = s.get(site.httpd.url("/logout?" + q), allow_redirects=False)
        assert r.status_code == 400, (q, r.status_code)
        assert "is malformed" in r.text, q


def test_logout_without_session(site, s):
    r = s.get(site.httpd.url("/logout?return_to=/x"), allow_redirects=False)
    assert r.status_code < 500
    if h.is_redirect(r):
        loc = r.headers["Location"]
        end = site.idp.discovery()["end_session_endpoint"]
        assert h.same_origin(loc, site.httpd.origin) or loc.startswith(end + "?")
        if loc.startswith(end + "?"):
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
            assert h.same_origin(q.get("post_logout_redirect_uri", "/"), site.httpd.origin)


def test_logout_only_ends_own_session(site):
    with requests.Session() as a, requests.Session() as b:
        h.login(a, site.httpd.url("/app/"), "alice")
        h.login(b, site.httpd.url("/app/"), "bob")
        a.get(site.httpd.url("/logout"), allow_redirects=False)
        r = b.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 200 and r.json()["remote_user"] == "bob"


def test_logout_without_end_session_endpoint_still_ends_the_session(site):
    # An IdP that publishes no end_session_endpoint (RP-Initiated Logout is
    # optional for it): the session ends here all the same and the browser
    # goes straight to return_to. A fresh httpd: the metadata is cached.
    config = site.httpd.config_text
    site.idp.override_discovery(end_session_endpoint=None)
    site.httpd.stop()
    site.httpd.start(config)
    try:
        with requests.Session() as sess:
            assert h.login(sess, site.httpd.url("/app/"), "carol").status_code == 200
            old = sess.cookies.get(SESSION_COOKIE)
            r = sess.get(site.httpd.url("/logout?return_to=/x"), allow_redirects=False)
            assert r.status_code == 302 and r.headers["Location"] == site.httpd.url("/x")
            assert h.is_clearing(*h.set_cookies(r)[SESSION_COOKIE])
        with requests.Session() as replay:
            replay.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
            assert replay.get(site.httpd.url("/api401/"), allow_redirects=False).status_code == 401
    finally:
        site.idp.override_discovery()
        site.httpd.stop()
        site.httpd.start(config)


def test_logout_by_form_post(site, s):
    """A "Log out" button (a same-origin form POST) logs out as the link does."""
    h.login(s, site.httpd.url("/app/"), "carol")
    old = s.cookies.get(SESSION_COOKIE)
    r = s.post(site.httpd.url("/logout?return_to=/x"), allow_redirects=False,
               headers={"Origin": site.httpd.origin})
    q = logout_params(site, r)
    assert q["post_logout_redirect_uri"] == site.httpd.url("/x")
    r = requests.get(site.httpd.url("/api401/"), cookies={SESSION_COOKIE: old},
                     allow_redirects=False)
    assert r.status_code == 401


@pytest.mark.parametrize("method", ["HEAD", "PUT", "DELETE", "OPTIONS"])
def test_logout_other_methods_end_nothing(site, s, method):
    """A HEAD (link checkers, previews) gets the confirmation page's headers,
    another method 405; either way the session lives on."""
    h.login(s, site.httpd.url("/app/"), "dave")
    cookie = s.cookies.get(SESSION_COOKIE)
    r = s.request(method, site.httpd.url("/logout"), allow_redirects=False)
    if method == "HEAD":
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert r.headers["Cache-Control"] == "no-store"
    else:
        assert r.status_code == 405, (method, r.status_code)
        allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
        assert "GET" in allow and "POST" in allow and method not in allow, allow
    assert SESSION_COOKIE not in h.set_cookies(r)
    r = requests.get(site.httpd.url("/api401/"), cookies={SESSION_COOKIE: cookie},
                     allow_redirects=False)
    assert r.status_code == 200 and r.json()["remote_user"] == "dave"
