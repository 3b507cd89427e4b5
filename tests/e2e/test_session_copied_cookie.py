"""A copy of an old session cookie, after the browser moved on to the cookies
that replaced it, is judged on its own times once the write-back interval
has passed: it cannot outlive its own inactivity timeout by riding on its
replacement (httpd/hot.c serves an old cookie by its replacement only within
that interval, for requests in flight). A lowered JITProvSessionMaxDuration
ends the sessions older than it."""
import time

import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


def get(site, cookie, path):
    return requests.get(site.url(path), allow_redirects=False,
                        headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Connection": "close"})


def test_a_copied_old_cookie_does_not_outlive_its_own_inactivity(env):
    # The browser takes every new cookie; a copy of its first cookie keeps
    # being sent by another client that takes none. Within a write-back
    # interval (6 s here) the copy is served by the cookie that replaced it;
    # past it the copy is judged on its own times, so once it is older than
    # the inactivity timeout it is refused, while the browser goes on.
    # (About 75 s: the timeout's minimum is 60.)
    site = h.ProvSite(env, h.SqliteDb(env.httpd)).start(
        "JITProvSessionInactivityTimeout 60\nJITProvAccountRecheckInterval 1")
    try:
        with requests.Session() as browser:
            assert h.login(browser, site.url("/app/"), "dave").status_code == 200
            first = browser.cookies.get(SESSION_COOKIE)
            t0 = time.time()
            while time.time() - t0 < 72:
                assert browser.get(site.url("/app/"), allow_redirects=False).status_code == 200
                r = get(site, first, "/api401/")
                if time.time() - t0 < 50:
                    assert r.status_code == 200, (time.time() - t0, r.status_code)
                time.sleep(2)
            assert browser.cookies.get(SESSION_COOKIE) != first
            for _ in range(8):  # every process, whatever it remembers
                assert get(site, first, "/api401/").status_code == 401
            assert browser.get(site.url("/app/"), allow_redirects=False).status_code == 200
            # Here because it needs a session over a minute old (the least
            # JITProvSessionMaxDuration): the limit lowered below the age of
            # the browser's session, active all along, ends it at once. A
            # session ends that long after the login whatever the limit was
            # when it began, or it would outlive the revocation markers,
            # which last as long as the present limit.
            now = browser.cookies.get(SESSION_COOKIE)
            site.start("JITProvSessionInactivityTimeout 60\nJITProvSessionMaxDuration 60\n"
                       "JITProvAccountRecheckInterval 1", fresh=False)
            for _ in range(4):
                assert get(site, now, "/api401/").status_code == 401
    finally:
        env.httpd.stop()
