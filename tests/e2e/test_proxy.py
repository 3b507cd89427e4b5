"""Behind a reverse proxy: JITProvTrustedProxy. Forwarded / X-Forwarded-*
headers change the redirect_uri sent to the IdP, the cookies' Secure flag and
the same-origin checks only when the TCP peer is a configured proxy; forged
ones from anyone else, and invalid ones from the proxy, are ignored. A real
mod_proxy front end (a second httpd) carries a whole login."""
import os
import urllib.parse

import pytest

import jitprov_harness as h


def start(env, trusted):
    env.httpd.stop()
    env.httpd.start(env.standard_config(
        server_extra=f"JITProvTrustedProxy {trusted}" if trusted else ""))


def authorize_params(r):
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))


def state_cookie_attrs(r):
    found = [a for n, (v, a) in h.set_cookies(r).items() if n.startswith(h.STATE_PREFIX)]
    assert len(found) == 1, h.set_cookie_lines(r)
    return found[0]


FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Port": "8443", "Forwarded": 'proto=https;host="evil.example"'}


@pytest.fixture(scope="module")
def untrusted(site):
    # Another network is trusted, not the test client's 127.0.0.1.
    start(site, "10.9.8.0/24 2001:db8::/32 192.0.2.7")
    yield site


def test_forged_headers_from_untrusted_client_are_ignored(untrusted, s):
    r = s.get(untrusted.httpd.url("/app/fwd"), headers=FORGED, allow_redirects=False)
    p = authorize_params(r)
    assert p["redirect_uri"] == untrusted.httpd.origin + "/callback"
    assert "secure" not in state_cookie_attrs(r)


def test_untrusted_forged_host_cannot_widen_logout_return_to(untrusted, s):
    r = s.get(untrusted.httpd.url("/logout?return_to=https://evil.example/x"),
              headers=FORGED, allow_redirects=False)
    assert r.status_code == 400
    r = s.get(untrusted.httpd.url("/logout?return_to=/x"), headers=FORGED,
              allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == untrusted.httpd.origin + "/x"


@pytest.fixture(scope="module")
def trusted(site):
    start(site, "127.0.0.1")
    yield site
    start(site, None)


@pytest.mark.parametrize("headers,want", [
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example"},
     "https://app.example/callback"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "App.Example:8443"},
     "https://app.example:8443/callback"),
    ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example",
      "X-Forwarded-Port": "9443"}, "https://app.example:9443/callback"),
    # A chain: the value the nearest proxy appended (last) counts.
    ({"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, app.example"},
     "https://app.example/callback"),
    # TLS terminator that keeps Host: the Host header's port is the browser's.
    ({"X-Forwarded-Proto": "https"}, "https://127.0.0.1:{port}/callback"),
    ({"Forwarded": 'for=192.0.2.60;proto=https;host="app.example"'},
     "https://app.example/callback"),
    ({"Forwarded": 'proto=http;host=evil.example, for=10.0.0.1;proto=https;host="[2001:db8::1]:444"'},
     "https://[2001:db8::1]:444/callback"),
    # Forwarded wins over X-Forwarded-*.
    ({"Forwarded": "proto=https;host=app.example", "X-Forwarded-Host": "other.example"},
     "https://app.example/callback"),
])
def test_trusted_proxy_headers_set_redirect_uri_and_secure(trusted, s, headers, want):
    r = s.get(trusted.httpd.url("/app/fwd"), headers=headers, allow_redirects=False)
    p = authorize_params(r)
    assert p["redirect_uri"] == want.replace("{port}", str(trusted.httpd.port))
    assert state_cookie_attrs(r).get("secure") is True


@pytest.mark.parametrize("headers", [
    {"X-Forwarded-Proto": "javascript"},
    {"X-Forwarded-Host": "evil.example/path"},
    {"X-Forwarded-Host": "user@evil.example"},
    {"X-Forwarded-Host": "evil.example:99999"},
    {"X-Forwarded-Port": "http"},
    {"X-Forwarded-Port": "0"},
    {"Forwarded": "proto=https;proto=http"},
    {"Forwarded": 'host="a b"'},
    {"Forwarded": "proto=gopher"},
])
def test_invalid_values_from_trusted_proxy_are_ignored(trusted, s, headers):
    r = s.get(trusted.httpd.url("/app/fwd"), headers=headers, allow_redirects=False)
    p = authorize_params(r)
    assert p["redirect_uri"] == trusted.httpd.origin + "/callback"
    assert "secure" not in state_cookie_attrs(r)
    assert h.wait_for_log(trusted.httpd, "JITPROV0670")


@pytest.fixture
def https_redirect_uri(trusted):
    """The IdP also accepts https://127.0.0.1:PORT/callback (what the module
    builds behind a TLS terminator)."""
    original = [dict(c) for c in trusted.idp.clients]
    uri = f"https://127.0.0.1:{trusted.httpd.port}/callback"
    c = dict(original[0])
    c["redirect_uris"] = list(c["redirect_uris"]) + [uri]
    trusted.idp.clients = [c] + original[1:]
    trusted.idp.restart()
    yield uri
    trusted.idp.clients = original
    trusted.idp.restart()


def test_login_behind_tls_terminator_sets_secure_session_cookie(trusted, s,
                                                                https_redirect_uri):
    hdr = {"X-Forwarded-Proto": "https"}
    r = s.get(trusted.httpd.url("/app/secure"), headers=hdr, allow_redirects=False)
    p = authorize_params(r)
    assert p["redirect_uri"] == https_redirect_uri
    name, (value, attrs) = next((n, v) for n, v in h.set_cookies(r).items()
                                if n.startswith(h.STATE_PREFIX))
    assert attrs.get("secure") is True
    cb = h.idp_login_until(s, r.headers["Location"], https_redirect_uri, "alice")
    # The browser's https request reaches httpd over http from the terminator;
    # requests would not send a Secure cookie over http, so it goes by hand.
    q = urllib.parse.urlsplit(cb).query
    r = s.get(trusted.httpd.url("/callback?" + q), allow_redirects=False,
              headers={**hdr, "Cookie": f"{name}={value}"})
    assert r.status_code == 302, r.text[:300]
    assert r.headers["Location"] == "/app/secure"
    sess = h.set_cookies(r)[h.SESSION_COOKIE]
    assert sess[1].get("secure") is True
    # The session cookie works through the terminator.
    r = s.get(trusted.httpd.url("/app/secure"), allow_redirects=False,
              headers={**hdr, "Cookie": f"{h.SESSION_COOKIE}={sess[0]}"})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "alice"


@pytest.fixture(scope="module")
def front(site):
    """A real reverse proxy: a second httpd (mod_proxy, ProxyPreserveHost Off)
    on the port of the IdP's second registered redirect URI, forwarding to the
    module's httpd, which trusts 127.0.0.1."""
    start(site, "127.0.0.1")
    fe = h.Httpd(site.dir, site.httpd2_port, name="front")
    loads = "\n".join(f"LoadModule {n} {h.APACHE_MODULES}/{f}" for n, f in h.LOAD_MODULES
                      if n in ("mpm_event_module", "authz_core_module", "proxy_module",
                               "proxy_http_module"))
    fe.start(f"""ServerRoot "{fe.dir}"
DefaultRuntimeDir "{fe.dir}/run"
PidFile "{fe.dir}/run/httpd.pid"
ErrorLog "{fe.dir}/logs/error.log"
Listen 127.0.0.1:{fe.port}
ServerName 127.0.0.1:{fe.port}
User nobody
Group nogroup
{loads}
StartServers 1
ProxyPass / {site.httpd.origin}/
ProxyPassReverse / {site.httpd.origin}/
""", init_db=False)
    yield fe
    fe.stop()
    start(site, None)


def test_login_through_a_real_reverse_proxy(front, site, s):
    r = s.get(front.url("/app/through-proxy"), allow_redirects=False)
    p = authorize_params(r)
    assert p["redirect_uri"] == front.origin + "/callback"
    r = h.login(s, front.url("/app/through-proxy"), "bob")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "bob"
    # Every hop back from the IdP went to the front end, none to the backend.
    assert all(not u.startswith(site.httpd.origin) for _, u in r.trace), r.trace
    # Logout's return_to is checked against the front end's origin.
    r = s.get(front.url("/logout?return_to=" + urllib.parse.quote(front.origin + "/x")),
              allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    r = s.get(front.url("/logout?return_to=" + urllib.parse.quote(site.httpd.origin + "/x")),
              allow_redirects=False)
    assert r.status_code == 400


@pytest.mark.parametrize("arg", ["proxy.example.com", "10.0.0.0/33", "10.0.0.0/", "1.2.3.4/x",
                                 "::g"])
def test_bad_trusted_proxy_named_at_configtest(env, arg):
    r = env.httpd.configtest(env.standard_config(server_extra=f"JITProvTrustedProxy {arg}"))
    assert r.returncode != 0
    assert "JITProvTrustedProxy" in r.stderr + r.stdout, r.stderr


def test_nothing_trusted_by_default(env):
    text = env.standard_config()
    assert "JITProvTrustedProxy" not in text
    assert os.path.exists(env.httpd.module)
