"""The IdP down or slow: 502 / 504 within JITProvHTTPTimeout (3 s here) plus a
little, never a hung worker, never a session."""
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

TIMEOUT = 3  # JITProvHTTPTimeout in the test config
SLACK = 2.5


@pytest.fixture(scope="module")
def fault(env):
    f = h.FaultServer(env.idp).start()
    yield f
    f.stop()
    env.idp.override_discovery()
    env.httpd.stop()


def restart(env, metadata_url=None):
    env.httpd.start(env.standard_config(metadata_url=metadata_url))


def assert_gateway_error(env, r, status, elapsed):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert elapsed < TIMEOUT + SLACK, f"took {elapsed:.1f}s"
    assert h.error_ref(r), r.text[:500]
    assert SESSION_COOKIE not in h.set_cookies(r)
    # The worker is free again.
    t = time.monotonic()
    assert requests.get(env.httpd.url("/public/"), timeout=5).status_code == 200
    assert time.monotonic() - t < 1.5


def timed_get(sess, url):
    t = time.monotonic()
    r = sess.get(url, allow_redirects=False, timeout=TIMEOUT + 15)
    return r, time.monotonic() - t


def test_metadata_unreachable(env, fault, s):
    closed = h.free_port()  # nothing listens there
    restart(env, f"http://127.0.0.1:{closed}/.well-known/openid-configuration")
    r, dt = timed_get(s, env.httpd.url("/app/"))
    assert_gateway_error(env, r, 502, dt)


def test_metadata_connection_reset(env, fault, s):
    fault.mode_discovery = "reset"
    restart(env, fault.discovery_url)
    r, dt = timed_get(s, env.httpd.url("/app/"))
    assert_gateway_error(env, r, 502, dt)


def test_metadata_server_error(env, fault, s):
    fault.mode_discovery = "500"
    restart(env, fault.discovery_url)
    r, dt = timed_get(s, env.httpd.url("/app/"))
    assert_gateway_error(env, r, 502, dt)


def test_metadata_black_hole(env, fault, s):
    fault.mode_discovery = "blackhole"
    restart(env, fault.discovery_url)
    r, dt = timed_get(s, env.httpd.url("/app/"))
    assert_gateway_error(env, r, 504, dt)


def test_api_location_also_reports_gateway_errors(env, fault, s):
    # Even where unauthenticated requests get 401, no login starts while the IdP
    # is broken: a 401 is fine there (no IdP needed), never a 500.
    fault.mode_discovery = "blackhole"
    restart(env, fault.discovery_url)
    r, dt = timed_get(s, env.httpd.url("/api401/"))
    assert r.status_code in (401, 504)
    assert dt < TIMEOUT + SLACK


def token_endpoint_through_fault(env, fault, mode):
    fault.mode_token = mode
    env.idp.override_discovery(token_endpoint=fault.origin + "/token")
    restart(env)


def test_login_through_fault_proxy_works(env, fault, s):
    # Sanity: with the fault server only forwarding, logins succeed.
    token_endpoint_through_fault(env, fault, "proxy")
    r = h.login(s, env.httpd.url("/app/ok"), "alice")
    assert r.status_code == 200 and r.json()["remote_user"] == "alice"
    assert fault.hits.get("/token", 0) >= 1


@pytest.mark.parametrize("mode,status", [("reset", 502), ("500", 502), ("blackhole", 504)])
def test_token_endpoint_failures(env, fault, s, mode, status):
    token_endpoint_through_fault(env, fault, mode)
    cb = h.login(s, env.httpd.url("/app/t"), "bob", stop_at_callback=True)
    r, dt = timed_get(s, cb)
    assert_gateway_error(env, r, status, dt)
    assert s.get(env.httpd.url("/app/t"), allow_redirects=False).status_code == 302


def test_idp_process_down_then_back(env, fault, s):
    env.idp.override_discovery()
    restart(env)
    cb = h.login(s, env.httpd.url("/app/down"), "carol", stop_at_callback=True)
    env.idp.stop()
    try:
        r, dt = timed_get(s, cb)
        assert_gateway_error(env, r, 502, dt)
    finally:
        env.idp.start()
    # Back up (same keys): logins work again without restarting httpd.
    with requests.Session() as fresh:
        r = h.login(fresh, env.httpd.url("/app/up"), "carol")
        assert r.status_code == 200 and r.json()["remote_user"] == "carol"


@pytest.mark.parametrize("mode,status", [("reset", 502), ("blackhole", 504)])
def test_jwks_endpoint_failures(env, fault, s, mode, status):
    fault.mode_jwks = mode
    env.idp.override_discovery(jwks_uri=fault.origin + "/jwks")
    restart(env)  # no JWKS cached yet
    cb = h.login(s, env.httpd.url("/app/j"), "alice", stop_at_callback=True)
    r, dt = timed_get(s, cb)
    assert_gateway_error(env, r, status, dt)
