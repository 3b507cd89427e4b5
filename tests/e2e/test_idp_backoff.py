"""IdP down: fetch back-off (issue 9, item 2). With no JWKS or discovery
document cached, a failed fetch starts a per-process back-off (1 s, doubling,
at most 60 s): requests inside it, unauthenticated back-channel logout POSTs
included, get a fast 503/502 page and cause no fetch; after the back-off the
next request fetches again and everything works."""
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

BCL_PATH = "/backchannel-logout"
N = 20


@pytest.fixture(scope="module")
def fault(env):
    f = h.FaultServer(env.idp).start()
    yield f
    f.stop()
    env.idp.override_discovery()
    env.httpd.stop()


def start(env, metadata_url=None):
    env.httpd.start(env.standard_config(server_extra=f"JITProvBackChannelLogoutURI {BCL_PATH}",
                                        metadata_url=metadata_url))


def wait_retry_after(r):
    time.sleep(int(r.headers.get("Retry-After", "1")) + 0.3)


def test_logout_posts_back_off_then_recover(env, fault, s):
    fault.mode_jwks = "reset"
    env.idp.override_discovery(jwks_uri=fault.origin + "/jwks")
    start(env)  # nothing cached
    before = fault.hits.get("/jwks", 0)
    statuses = []
    last = None
    for _ in range(N):
        last = requests.post(env.httpd.url(BCL_PATH), data={"logout_token": "a.b.c"},
                             timeout=10)
        statuses.append(last.status_code)
        # Back-Channel Logout 1.0 2.8: a logout that failed is a 400; the
        # page and the log say why.
        assert last.status_code == 400, (last.status_code, last.text[:300])
        assert "cannot be reached" in last.text
        assert h.error_ref(last)
    fetches = fault.hits.get("/jwks", 0) - before
    # Without the back-off every POST fetched; with it, one fetch per second
    # (per process) at most: the loop is far shorter than N seconds.
    assert 1 <= fetches <= 4, (fetches, statuses)
    log = env.httpd.log_since_start()
    assert "JITPROV0180" in log and "no new attempt for" in log
    assert "JITPROV0182" in log

    # The IdP's keys come back: after the back-off, logins work again.
    fault.mode_jwks = "proxy"
    r = requests.post(env.httpd.url(BCL_PATH), data={"logout_token": "a.b.c"}, timeout=10)
    if "cannot be reached" in r.text:
        wait_retry_after(r)
    deadline = time.monotonic() + 10
    while True:
        with requests.Session() as sess:
            cb = h.login(sess, env.httpd.url("/app/b"), "alice", stop_at_callback=True)
            r = sess.get(cb, allow_redirects=True, timeout=10)
            if r.status_code == 200:
                assert r.json()["remote_user"] == "alice"
                assert sess.cookies.get(SESSION_COOKIE)
                break
            assert r.status_code in (502, 503), (r.status_code, r.text[:300])
            assert time.monotonic() < deadline, "no recovery after the back-off"
            wait_retry_after(r)


def test_discovery_back_off_then_recover(env, fault, s):
    env.idp.override_discovery()
    fault.mode_discovery = "reset"
    start(env, fault.discovery_url)
    before = fault.hits.get("/discovery", 0)
    codes = []
    for _ in range(N):
        r = s.get(env.httpd.url("/app/d"), allow_redirects=False, timeout=10)
        codes.append(r.status_code)
        assert r.status_code in (502, 503), (r.status_code, r.text[:300])
        assert h.error_ref(r)
        assert SESSION_COOKIE not in h.set_cookies(r)
        if r.status_code == 503:
            assert int(r.headers["Retry-After"]) >= 1
    fetches = fault.hits.get("/discovery", 0) - before
    assert 1 <= fetches <= 4, (fetches, codes)
    assert 503 in codes
    assert "JITPROV0182" in env.httpd.log_since_start()

    fault.mode_discovery = "proxy"
    deadline = time.monotonic() + 10
    while True:
        r = s.get(env.httpd.url("/app/d"), allow_redirects=False, timeout=10)
        if r.status_code == 302:
            break
        assert r.status_code in (502, 503), r.status_code
        assert time.monotonic() < deadline, "no recovery after the back-off"
        wait_retry_after(r)
    with requests.Session() as sess:
        assert h.login(sess, env.httpd.url("/app/d"), "bob").status_code == 200
