"""Outgoing HTTP to the IdP (issue 9, item 5): the userinfo call follows no
redirect (the access token must not travel elsewhere), and plain http:// to a
host that is not loopback draws a configtest warning, not an error."""
import http.server
import threading

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


class Redirector:
    """Answers every request with a 302 to the same path at `target`; /discovery
    goes to target's discovery document."""

    def __init__(self, target):
        self.hits = 0
        self.port = h.free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                # 307 keeps the method and the body: the code and the secret.
                outer.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                outer.hits += 1
                self.send_response(302)
                path = ("/.well-known/openid-configuration" if self.path == "/discovery"
                        else self.path)
                self.send_header("Location", target + path)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def redirector(env):
    r = Redirector(env.idp.issuer)
    yield r
    r.stop()
    env.idp.override_discovery()
    env.httpd.stop()


def test_userinfo_redirect_not_followed(env, redirector, s):
    env.idp.override_discovery(userinfo_endpoint=redirector.origin + "/me")
    env.httpd.start(env.standard_config(server_extra="JITProvUserInfo On"))
    before = env.idp.stats().get("/me", 0)
    cb = h.login(s, env.httpd.url("/app/ui"), "bob", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False, timeout=15)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert "invalid profile" in r.text and h.error_ref(r)
    assert SESSION_COOKIE not in h.set_cookies(r)
    assert redirector.hits >= 1
    # The bearer token never reached the redirect's target.
    assert env.idp.stats().get("/me", 0) == before


def test_token_endpoint_redirect_not_followed(env, redirector, s):
    env.idp.override_discovery(token_endpoint=redirector.origin + "/token")
    env.httpd.start(env.standard_config())
    before, hits = env.idp.stats().get("/token", 0), redirector.hits
    cb = h.login(s, env.httpd.url("/app/tok"), "bob", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False, timeout=15)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert h.error_ref(r) and SESSION_COOKIE not in h.set_cookies(r)
    assert redirector.hits == hits + 1
    assert h.wait_for_log(env.httpd, "token endpoint answered HTTP 307")
    # Neither the code nor the client secret reached the redirect's target.
    assert env.idp.stats().get("/token", 0) == before


def test_userinfo_direct_still_works(env, redirector, s):
    env.idp.override_discovery()
    env.httpd.start(env.standard_config(server_extra="JITProvUserInfo On"))
    r = h.login(s, env.httpd.url("/app/ui"), "bob")
    assert r.status_code == 200 and r.json()["remote_user"] == "bob"


def test_discovery_redirect_on_http_still_followed(env, redirector, s):
    # http -> http redirects of the discovery document stay allowed (only a
    # downgrade from https is refused). A well-known URL on the redirector
    # would stand for the redirector's own issuer, hence a path of no shape.
    env.httpd.start(env.standard_config(metadata_url=redirector.origin + "/discovery"))
    r = s.get(env.httpd.url("/app/r"), allow_redirects=False, timeout=15)
    assert r.status_code == 302, (r.status_code, r.text[:300])


def test_configtest_warns_for_remote_plain_http(env):
    text = env.standard_config(
        metadata_url="http://idp.example.com/.well-known/openid-configuration")
    r = env.httpd.configtest(text)
    assert r.returncode == 0, r.stderr
    out = r.stderr + r.stdout
    assert "JITPROV0081" in out and "JITProvProviderMetadataURL" in out, out


def test_configtest_quiet_for_loopback(env):
    r = env.httpd.configtest(env.standard_config())
    assert r.returncode == 0, r.stderr
    assert "JITPROV0081" not in r.stderr + r.stdout
