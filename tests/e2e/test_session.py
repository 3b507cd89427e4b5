"""Session cookies that the module did not issue, or that were altered, are no
session at all."""
import secrets

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


@pytest.fixture(scope="module")
def good(site):
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), "alice")
        assert r.status_code == 200
        yield sess.cookies.get(SESSION_COOKIE)


def tamper(value):
    i = len(value) // 2
    ch = "A" if value[i] != "A" else "B"
    return value[:i] + ch + value[i + 1:]


def assert_no_session(site, cookie_value):
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, cookie_value, domain="127.0.0.1", path="/")
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])
        r = sess.get(site.httpd.url("/api401/"), allow_redirects=False)
        assert r.status_code == 401
        r = sess.get(site.httpd.url("/maybe/"), allow_redirects=False)
        assert r.status_code == 200
        assert r.json()["remote_user"] in (None, "")
        assert r.json()["http"].get("HTTP_X_USER_EMAIL", "") == ""


def test_good_cookie_works(site, good):
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, good, domain="127.0.0.1", path="/")
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 200 and r.json()["remote_user"] == "alice"


def test_tampered_cookie(site, good):
    assert_no_session(site, tamper(good))


def test_truncated_and_extended_cookie(site, good):
    assert_no_session(site, good[:-1])
    assert_no_session(site, good + "A")


@pytest.mark.parametrize("value", [
    "", "x", "A" * 43, "AAAA.BBBB.CCCC", "../../../etc/passwd", "%00%0d%0a",
    "Zm9v" * 1500,  # 6000 bytes
])
def test_unknown_cookie(site, value):
    assert_no_session(site, value or secrets.token_urlsafe(32))


def test_two_session_cookies_one_bad(site, good):
    # A forged cookie sent next to a good one must not confuse the lookup into
    # anything but "the good one" or "no session"; never another identity.
    with requests.Session() as sess:
        sess.headers["Cookie"] = f"{SESSION_COOKIE}={tamper(good)}; {SESSION_COOKIE}={good}"
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code in (200, 302)
        if r.status_code == 200:
            assert r.json()["remote_user"] == "alice"
