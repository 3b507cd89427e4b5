"""JITProvOutgoingProxy: the calls to the IdP through a forward proxy, as
sites without a direct route out need; `none` ignores httpd's environment;
unset, libcurl takes http_proxy from it."""
import http.client
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "proxy-authorization", "proxy-authenticate"}


class ForwardProxy:
    """A plain-http forward proxy (absolute-URI requests), recording them."""

    def __init__(self):
        self.seen = []
        outer = self

        class Handler(h.QuietHandler):
            def relay(self):
                outer.seen.append((self.command, self.path))
                u = urllib.parse.urlsplit(self.path)
                if u.scheme != "http" or not u.hostname:
                    self.send_error(400, "absolute http URI expected")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
                try:
                    c.request(self.command, (u.path or "/") + ("?" + u.query if u.query else ""),
                              body=body or None, headers=hdrs)
                    r = c.getresponse()
                    data = r.read()
                finally:
                    c.close()
                keep = [(k, v) for k, v in r.getheaders()
                        if k.lower() not in HOP and k.lower() not in ("content-length",
                                                                      "content-type")]
                self.send_body(r.status, data, r.getheader("Content-Type") or "text/plain", keep)

            do_GET = do_POST = relay

        self.http = h.LoopbackServer(Handler)
        self.port, self.stop = self.http.port, self.http.stop

    def paths(self):
        return [urllib.parse.urlsplit(p).path for _, p in self.seen]


@pytest.fixture
def proxy(env):
    p = ForwardProxy()
    yield p
    p.stop()
    env.httpd.stop()


def logs_in(env):
    s = requests.Session()
    s.trust_env = False
    r = h.login(s, env.httpd.url("/app/proxy"), "bob")
    assert r.status_code == 200, r.text[:300]
    assert s.cookies.get(SESSION_COOKIE)
    return r


def test_calls_go_through_the_configured_proxy(env, proxy):
    env.httpd.start(env.standard_config(
        server_extra=f"JITProvOutgoingProxy http://127.0.0.1:{proxy.port}"))
    logs_in(env)
    paths = proxy.paths()
    disc = env.idp.discovery()
    # discovery, JWKS and the token call: every call to the IdP
    assert "/.well-known/openid-configuration" in paths[0], paths
    assert urllib.parse.urlsplit(disc["jwks_uri"]).path in paths, paths
    assert ("POST", disc["token_endpoint"]) in proxy.seen, proxy.seen


def test_none_ignores_the_environment(env, proxy):
    # httpd's environment names a proxy nobody listens on: with none, the
    # calls go straight to the IdP.
    dead = f"http://127.0.0.1:{h.free_port()}"
    env.httpd.start(env.standard_config(server_extra="JITProvOutgoingProxy none"),
                    wrap=("env", f"http_proxy={dead}", f"HTTPS_PROXY={dead}", "no_proxy="))
    logs_in(env)


def test_unset_takes_the_environment(env, proxy):
    env.httpd.start(env.standard_config(),
                    wrap=("env", f"http_proxy=http://127.0.0.1:{proxy.port}", "no_proxy="))
    logs_in(env)
    assert any("/.well-known/openid-configuration" in p for p in proxy.paths()), proxy.seen


@pytest.mark.parametrize("value", [
    "proxy.example:3128",            # no scheme
    "ftp://proxy.example",
    "http://",
    "http://user:secret@",
    '"http://proxy example"',
])
def test_bad_proxy_refused_at_configtest(env, value):
    r = env.httpd.configtest(env.standard_config(server_extra=f"JITProvOutgoingProxy {value}"))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "JITProvOutgoingProxy" in out, out
    assert "secret" not in out  # a password in the value is never repeated
