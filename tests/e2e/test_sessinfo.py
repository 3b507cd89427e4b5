"""SetHandler jitprov-session-info: the session as JSON for single-page
applications, only the claims JITProvSessionInfoClaims allows; an explicit
extend by POST from the same origin only, never past
JITProvSessionMaxDuration; a real browser's fetch() passes the origin check."""
import json
import time

import pytest

import jitprov_harness as h

INFO_LOCATIONS = """
<Location /session-info>
    SetHandler jitprov-session-info
    JITProvSessionInfoClaims email groups name email_verified
</Location>
<Location /session-info-bare>
    SetHandler jitprov-session-info
</Location>
""" + h.protected("/index.html") + "\n" + h.protected(
    "/cacheable", 'Header always set Cache-Control "public, max-age=600"',
    'Header always set Content-Type "text/plain"', "ErrorDocument 404 \"cacheable page")


def site_config(env):
    return env.standard_config(
        server_extra="JITProvSessionInactivityTimeout 60\nJITProvSessionMaxDuration 120",
        locations_extra=INFO_LOCATIONS)


def info(site, s, path="/session-info", method="GET", **kw):
    r = s.request(method, site.httpd.url(path), allow_redirects=False, **kw)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.headers.get("Cache-Control") == "no-store"
    return r


def test_no_session_is_a_json_401(site, s):
    r = info(site, s)
    assert r.status_code == 401
    assert r.json()["error"] == "no_session"
    # A forged cookie is no session either.
    s.cookies.set(h.SESSION_COOKIE, "A" * 43)
    assert info(site, s).status_code == 401


def test_allowed_claims_only(site, s):
    assert h.login(s, site.httpd.url("/app/si"), "alice").status_code == 200
    j = info(site, s).json()
    assert j["sub"] == h.USER_CLAIMS["alice"]["sub"]
    assert j["claims"] == {"email": "alice@example.com", "groups": ["staff", "admins"],
                           "name": "Alice Anderson", "email_verified": "true"}
    assert isinstance(j["account_id"], int) and j["account_id"] > 0
    assert j["expires"] - j["created"] == 120
    assert j["inactivity_timeout"] == 60
    assert j["idle_expires"] == min(j["last_activity"] + 60, j["expires"])
    # Nothing beyond sub and the times by default.
    bare = info(site, s, "/session-info-bare").json()
    assert bare["claims"] == {} and bare["sub"] == j["sub"]
    assert "department" not in json.dumps(bare) and "alice@" not in json.dumps(bare)


def test_get_is_not_activity_and_post_extends(site, s):
    assert h.login(s, site.httpd.url("/app/si2"), "bob").status_code == 200
    first = info(site, s).json()
    time.sleep(6.2)  # past the write-back threshold (a tenth of the 60 s timeout)
    assert info(site, s).json()["last_activity"] == first["last_activity"]
    r = info(site, s, method="POST", headers={"Origin": site.httpd.origin})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["last_activity"] > first["last_activity"]
    assert j["expires"] == first["expires"]  # the hard end never moves
    assert j["idle_expires"] == min(j["last_activity"] + 60, j["expires"])
    # Stored: the next read sees it.
    assert info(site, s).json()["last_activity"] == j["last_activity"]


@pytest.mark.parametrize("path", ["/index.html", "/cacheable"])
def test_a_refreshed_session_cookie_is_never_cached(site, s, path):
    # The session cookie is re-issued on an ordinary page once the write-back
    # interval (a tenth of the 60 s timeout) has passed. That answer is the
    # backend's (here a static file, which sends no Cache-Control, and one
    # that says public): a shared cache storing it would hand this user's
    # cookie to the next client.
    assert h.login(s, site.httpd.url(path), "dave").status_code in (200, 404)
    time.sleep(6.2)
    r = s.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code in (200, 404), r.text[:300]
    assert h.SESSION_COOKIE in h.set_cookies(r), r.headers
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    # Within the interval no cookie is set, and the backend's header stands.
    r = s.get(site.httpd.url(path), allow_redirects=False)
    assert h.SESSION_COOKIE not in h.set_cookies(r)
    assert "no-store" not in r.headers.get("Cache-Control", ""), r.headers


@pytest.mark.parametrize("headers,ok", [
    ({}, False),
    ({"Origin": "http://evil.example"}, False),
    ({"Origin": "null"}, False),
    ({"Origin": "https://127.0.0.1"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-site"}, False),
    ({"Sec-Fetch-Site": "same-origin"}, True),
    ({"Origin": "{origin}"}, True),
])
def test_extend_same_origin_only(site, s, headers, ok):
    assert h.login(s, site.httpd.url("/app/si3"), "carol").status_code == 200
    before = info(site, s).json()
    headers = {k: v.replace("{origin}", site.httpd.origin) for k, v in headers.items()}
    r = info(site, s, method="POST", headers=headers)
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "cross_origin"
        assert info(site, s).json()["last_activity"] == before["last_activity"]


def test_extend_without_session_is_401(site, s):
    r = info(site, s, method="POST", headers={"Origin": site.httpd.origin})
    assert r.status_code == 401


def test_other_methods_refused(site, s):
    r = info(site, s, method="PUT", data="x")
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", "")


def test_after_logout(site, s):
    assert h.login(s, site.httpd.url("/app/si4"), "dave").status_code == 200
    assert info(site, s).status_code == 200
    s.get(site.httpd.url("/logout"), allow_redirects=False)
    assert info(site, s).status_code == 401


def test_browser_fetch_passes_origin_check(site):
    from test_browser import CHROMEDRIVER, CHROMIUM  # noqa: F401
    import shutil
    import tempfile
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jitprov-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        start = site.httpd.url("/app/spa")
        h.chromium_login(d, start, "erin")
        out = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            Promise.all([
              fetch('/session-info').then(r => r.json().then(j => [r.status, j])),
              fetch('/session-info', {method: 'POST'}).then(r => r.json().then(j => [r.status, j])),
            ]).then(done, e => done(String(e)));
        """)
        (gs, gj), (ps, pj) = out
        assert gs == 200 and gj["sub"] == h.USER_CLAIMS["erin"]["sub"]
        assert ps == 200 and pj["sub"] == gj["sub"]
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
