"""Cross-site logout (issue 9, item 4): a logout link on another site must not
end the session (nor the IdP's, through id_token_hint). Such a request gets a
confirmation page whose link, followed from our own origin, logs out; same-site
links and return_to keep working."""
import re
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

EVIL = "http://evil.example"


def logged_in(site, user="bob"):
    sess = requests.Session()
    assert h.login(sess, site.httpd.url("/app/"), user).status_code == 200
    assert sess.cookies.get(SESSION_COOKIE)
    return sess


def alive(site, sess):
    return sess.get(site.httpd.url("/api401/"), allow_redirects=False).status_code == 200


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site", "Referer": "http://127.0.0.1/"},
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Referer": EVIL + "/page?x=1"},
], ids=["sec-fetch-site", "sfs-wins-over-referer", "origin", "origin-null", "referer"])
def test_cross_site_logout_only_asks(site, headers):
    sess = logged_in(site)
    before = site.idp.stats().get("/session/end", 0)
    r = sess.get(site.httpd.url("/logout?return_to=/x"), headers=headers,
                 allow_redirects=False)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "Log out?" in r.text and "Another site" in r.text
    assert "Location" not in r.headers
    assert SESSION_COOKIE not in h.set_cookies(r)  # cookie not cleared
    assert r.headers.get("Cache-Control") == "no-store"
    assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", "")
    # The session lives on, here and at the IdP.
    assert alive(site, sess)
    assert site.idp.stats().get("/session/end", 0) == before
    assert h.wait_for_log(site.httpd, "JITPROV0480")
    sess.close()


def test_confirmation_link_logs_out_with_return_to(site):
    sess = logged_in(site)
    r = sess.get(site.httpd.url("/logout?return_to=/x"),
                 headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False)
    href = re.search(r'id="jitprov-logout" href="([^"]+)"', r.text).group(1)
    href = href.replace("&amp;", "&")
    assert href == "/logout?return_to=/x"
    # The click on our page: a same-origin navigation.
    r = sess.get(site.httpd.url(href), allow_redirects=False,
                 headers={"Sec-Fetch-Site": "same-origin",
                          "Referer": site.httpd.url("/logout?return_to=/x")})
    assert r.status_code == 302
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert q["post_logout_redirect_uri"] == site.httpd.url("/x")
    assert sess.cookies.get(SESSION_COOKIE) is None
    assert not alive(site, sess)


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "none"},  # typed in the address bar, a bookmark
    {},  # old browsers, scripts
    {"Referer": "REPLACED_BY_OWN_ORIGIN/app/"},
    {"Origin": "REPLACED_BY_OWN_ORIGIN"},
], ids=["same-origin", "same-site", "none", "no-headers", "own-referer", "own-origin"])
def test_same_site_logout_works(site, headers):
    own = site.httpd.url("").rstrip("/")
    headers = {k: v.replace("REPLACED_BY_OWN_ORIGIN", own) for k, v in headers.items()}
    sess = logged_in(site)
    r = sess.get(site.httpd.url("/logout?return_to=/x"), headers=headers,
                 allow_redirects=False)
    assert r.status_code == 302, (headers, r.status_code, r.text[:300])
    assert sess.cookies.get(SESSION_COOKIE) is None
    assert not alive(site, sess)


def test_confirmation_page_escapes_the_query(site, s):
    r = s.get(site.httpd.url('/logout?return_to=/x&"><script>alert(1)</script>'),
              headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False)
    assert r.status_code == 200
    assert "<script>" not in r.text


@pytest.mark.parametrize("headers,ends", [
    ({"Origin": EVIL}, False),
    ({"Sec-Fetch-Site": "cross-site", "Origin": EVIL}, False),
    ({"Origin": "REPLACED_BY_OWN_ORIGIN"}, True),
], ids=["cross-origin", "cross-site", "own-origin"])
def test_logout_by_post_is_guarded_alike(site, headers, ends):
    # A form on another site posting to the logout path: the same guard as
    # for links (a Lax session cookie stays behind on a cross-site POST, but
    # JITProvCookieSameSite session None sends it).
    own = site.httpd.url("").rstrip("/")
    headers = {k: v.replace("REPLACED_BY_OWN_ORIGIN", own) for k, v in headers.items()}
    sess = logged_in(site)
    r = sess.post(site.httpd.url("/logout?return_to=/x"), headers=headers,
                  data={"return_to": "http://evil.example/"}, allow_redirects=False)
    if ends:
        assert r.status_code == 302
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
        assert q["post_logout_redirect_uri"] == site.httpd.url("/x")  # the body is not read
        assert not alive(site, sess)
    else:
        assert r.status_code == 200 and "Log out?" in r.text
        assert alive(site, sess)
    sess.close()
