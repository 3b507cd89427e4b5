"""OpenID Connect Front-Channel Logout 1.0 (JITProvFrontChannelLogoutURI): the
IdP's logout page loads <site>/frontchannel-logout?iss=…&sid=… in a hidden
iframe. The browser sends no SameSite=Lax cookie into a cross-site iframe, so
the module ends the sessions by iss + sid (the ID token's sid, kept with each
session); without both it refuses with 400 and ends nothing."""
import json
import os
import re
import urllib.parse

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE
from test_browser import browser  # noqa: F401  (the headless Chromium fixture)

FCL = "/frontchannel-logout"


def site_config(env):
    return env.standard_config(server_extra=f"JITProvFrontChannelLogoutURI {FCL}",
                               locations_extra="""
<Location /jitprov-status>
    SetHandler jitprov-status
    Require ip 127.0.0.1
</Location>""")


def fcl_counter(site):
    r = requests.get(site.httpd.url("/jitprov-status"))
    return int(re.search(r"^jitprov_frontchannel_logouts_total (\d+)$", r.text, re.M).group(1))


@pytest.fixture(scope="module", autouse=True)
def fcl_client(site):
    """The client registered with a front-channel logout URI on another site
    (localhost, where the session cookie for 127.0.0.1 is never sent) and
    frontchannel_logout_session_required, so ID tokens carry sid."""
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = [site.client(
        frontchannel_logout_uri=f"http://localhost:{site.httpd.port}{FCL}",
        frontchannel_logout_session_required=True)]
    site.idp.restart()
    yield
    site.idp.clients = original
    site.idp.restart()


def session_alive(site, cookie):
    with requests.Session() as other:
        other.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        r = other.get(site.httpd.url("/api401/probe"), allow_redirects=False)
        assert r.status_code in (200, 401), r.status_code
        return r.status_code == 200


def login_sid(site, sess, user, path):
    """Logs user in; returns (session cookie, the ID token's sid as the backend saw it)."""
    r = h.login(sess, site.httpd.url(path), user)
    assert r.status_code == 200, r.text[:300]
    sid = r.json()["jitprov"].get("JITPROV_CLAIM_SID")
    assert sid, "frontchannel_logout_session_required puts sid into ID tokens"
    return sess.cookies.get(SESSION_COOKIE), sid


def fcl_url(site, **params):
    return site.httpd.url(FCL + "?" + urllib.parse.urlencode(params))


def test_iss_and_sid_end_every_session_of_that_idp_session(site, s):
    # Two sessions here from one IdP session (single sign-on: same sid), and an
    # unrelated user in another browser.
    first, sid = login_sid(site, s, "bob", "/app/fcl-one")
    s.cookies.clear(domain="127.0.0.1", path="/", name=SESSION_COOKIE)
    second, sid2 = login_sid(site, s, "bob", "/app/fcl-two")
    assert sid2 == sid and first != second
    with requests.Session() as other:
        bystander, other_sid = login_sid(site, other, "alice", "/app/fcl-other")
    assert other_sid != sid

    # The IdP's iframe: no cookie at all.
    before = fcl_counter(site)
    r = requests.get(fcl_url(site, iss=site.idp.issuer, sid=sid), allow_redirects=False)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/html")
    # Front-Channel Logout 1.0 2: the answer must not be cached.
    assert r.headers["Cache-Control"] == "no-cache, no-store"
    assert r.headers["Pragma"] == "no-cache"
    assert "X-Frame-Options" not in r.headers
    assert "frame-ancestors" not in r.headers.get("Content-Security-Policy", "")
    assert 'id="jitprov-signed-out"' in r.text and len(r.text) < 1024
    assert not session_alive(site, first) and not session_alive(site, second)
    assert session_alive(site, bystander)
    assert fcl_counter(site) == before + 1
    assert h.wait_for_log(site.httpd, f"JITPROV0440: front-channel logout (sid={sid}): the "
                                      "sessions of that sid ended")

    # Again: nothing left to end, still 200 (the IdP may retry).
    r = requests.get(fcl_url(site, iss=site.idp.issuer, sid=sid), allow_redirects=False)
    assert r.status_code == 200
    assert session_alive(site, bystander)


def test_without_iss_and_sid_nothing_is_ended(site, s):
    cookie, sid = login_sid(site, s, "carol", "/app/fcl-refused")
    cases = [
        ({"iss": site.idp.issuer}, 400),                       # no sid (session_required)
        ({}, 400),
        ({"iss": "http://evil.example", "sid": sid}, 400),     # another issuer
        ({"iss": site.idp.issuer + "/", "sid": sid}, 400),     # not exactly the issuer
        ({"iss": site.idp.issuer, "sid": sid + "\n"}, 400),    # control byte
        ({"iss": "", "sid": sid}, 400),                        # empty iss
        ({"iss": site.idp.issuer, "sid": "x" * 2000}, 400),    # oversized
    ]
    for params, status in cases:
        # Even with the session cookie: a request that names no session ends none.
        r = s.get(fcl_url(site, **params), allow_redirects=False)
        assert r.status_code == status, (params, r.status_code)
        assert h.error_ref(r), params
        assert r.headers["Cache-Control"] == "no-cache, no-store"
        assert r.headers["Pragma"] == "no-cache"
        assert session_alive(site, cookie), params
    r = requests.post(fcl_url(site, iss=site.idp.issuer, sid=sid), allow_redirects=False)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert session_alive(site, cookie)
    assert h.wait_for_log(site.httpd, "register frontchannel_logout_session_required=true")

    # An unknown sid ends nothing (0 sessions) and still answers 200.
    r = requests.get(fcl_url(site, iss=site.idp.issuer, sid="not-a-known-sid"))
    assert r.status_code == 200
    assert session_alive(site, cookie)


def test_sid_without_iss_as_entra_sends_it(site, s):
    # Entra ID omits iss; the vhost's one issuer is meant, never another's sessions.
    cookie, sid = login_sid(site, s, "henry", "/app/fcl-entra")
    r = requests.get(site.httpd.url(FCL + "?sid=" + urllib.parse.quote(sid)))
    assert r.status_code == 200
    assert not session_alive(site, cookie)


def test_iss_is_a_whole_parameter_name(site, s):
    # "xiss=" is another parameter, not a malformed iss: the sid alone counts.
    cookie, sid = login_sid(site, s, "ivan", "/app/fcl-xiss")
    r = requests.get(site.httpd.url(FCL + "?xiss=junk&sid=" + urllib.parse.quote(sid)))
    assert r.status_code == 200, r.text[:300]
    assert not session_alive(site, cookie)
    # A real iss parameter that does not decode (NUL) is refused, however its name is spelled.
    with requests.Session() as other:  # a new IdP session: another sid
        cookie, sid = login_sid(site, other, "ivan", "/app/fcl-bad-iss")
    for q in ("iss=%00", "i%73s=%00"):
        r = requests.get(site.httpd.url(FCL + "?" + q + "&sid=" + urllib.parse.quote(sid)))
        assert r.status_code == 400, (q, r.status_code)
        assert session_alive(site, cookie)


def test_session_cookie_sent_along_ends_that_session_too(site, s):
    # Same-site embeddings (an IdP on a sibling host) do send the cookie: the
    # session behind it ends even when the IdP names another sid for it.
    cookie, _ = login_sid(site, s, "dave", "/app/fcl-cookie")
    r = s.get(fcl_url(site, iss=site.idp.issuer, sid="some-other-sid"), allow_redirects=False)
    assert r.status_code == 200
    assert not session_alive(site, cookie)
    assert h.is_clearing(*h.set_cookies(r)[SESSION_COOKIE])


def test_cross_site_iframe_in_chromium(site, browser):  # noqa: F811
    """A page on another site (http://localhost:PORT is not the same site as
    http://127.0.0.1:PORT) embeds the endpoint as an IdP's logout page does:
    Chromium sends no session cookie into the frame, the frame loads, and the
    browser's session is over."""
    wait = WebDriverWait(browser, 20)
    start = site.httpd.url("/app/fcl-browser")
    h.chromium_login(browser, start, "erin")
    sid = json.loads(browser.find_element(By.TAG_NAME, "body").text)[
        "jitprov"]["JITPROV_CLAIM_SID"]
    cookie = browser.get_cookie(SESSION_COOKIE)["value"]
    assert session_alive(site, cookie)

    frame_src = fcl_url(site, iss=site.idp.issuer, sid=sid)
    page_dir = os.path.join(site.httpd.dir, "htdocs", "fclpage")
    os.makedirs(page_dir, exist_ok=True)
    os.chmod(page_dir, 0o755)
    with open(os.path.join(page_dir, "index.html"), "w") as f:
        f.write(f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>IdP logout</title>
</head><body><p>Signing you out of every application&hellip;</p>
<iframe id="rp" src="{frame_src}" onload="document.body.setAttribute('data-done', '1')"></iframe>
</body></html>""")
    other_site = f"http://localhost:{site.httpd.port}/fclpage/index.html"
    browser.get(other_site)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done") == "1")
    browser.switch_to.frame(browser.find_element(By.ID, "rp"))
    assert browser.find_element(By.ID, "jitprov-signed-out").text == "Signed out."
    browser.switch_to.default_content()

    assert not session_alive(site, cookie)
    # The frame really came without the cookie (the access log records it).
    line = [l for l in h.tail(site.httpd.access_log, 40).splitlines()
            if f"GET {FCL}?" in l and " 200 " in l][-1]
    assert SESSION_COOKIE + "=" not in line, line
    # The browser still holds the cookie; a protected API says it has no session.
    browser.get(site.httpd.url("/api401/fcl-after"))
    assert "You need to log in" in browser.page_source


def test_logout_at_the_idp_loads_the_frame_in_chromium(site, browser):  # noqa: F811
    """The user signs out at the IdP itself: its logout page renders the
    registered frontchannel_logout_uri in an iframe with iss and sid."""
    wait = WebDriverWait(browser, 20)
    start = site.httpd.url("/app/fcl-idp")
    h.chromium_login(browser, start, "alice")
    sid = json.loads(browser.find_element(By.TAG_NAME, "body").text)[
        "jitprov"]["JITPROV_CLAIM_SID"]
    cookie = browser.get_cookie(SESSION_COOKIE)["value"]
    assert session_alive(site, cookie)

    end = site.idp.discovery()["end_session_endpoint"] + "?" + urllib.parse.urlencode(
        {"client_id": site.client_id})
    browser.get(end)
    wait.until(EC.presence_of_element_located((By.ID, "signed-out")))
    assert not session_alive(site, cookie)
    assert h.wait_for_log(site.httpd, f"JITPROV0440: front-channel logout (sid={sid})")
    line = [l for l in h.tail(site.httpd.access_log, 40).splitlines()
            if f"GET {FCL}?" in l and " 200 " in l][-1]
    assert SESSION_COOKIE + "=" not in line, line
