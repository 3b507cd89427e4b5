"""Client options against the real IdP: token endpoint authentication methods,
HS256 ID tokens MACed with the client secret, JITProvUserInfo, ErrorDocument."""
import pytest

import jitprov_harness as h


@pytest.fixture
def idp_client(site):
    """Re-registers the test client at the IdP with other settings, then restores it."""
    original = [dict(c) for c in site.idp.clients]

    def apply(**over):
        site.idp.clients = [site.client(**over)]
        site.idp.restart()

    yield apply
    site.idp.clients = original
    site.idp.restart()


def restart_httpd(site, server_extra="", locations_extra=""):
    site.httpd.stop()
    site.httpd.start(site.standard_config(server_extra=server_extra,
                                          locations_extra=locations_extra))


def test_client_secret_post(site, s, idp_client):
    idp_client(token_endpoint_auth_method="client_secret_post")
    restart_httpd(site, "JITProvTokenEndpointAuth client_secret_post")
    try:
        r = h.login(s, site.httpd.url("/app/post"), "alice")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["remote_user"] == "alice"
    finally:
        restart_httpd(site)


def test_wrong_client_secret_is_a_clear_502(site, s):
    restart_httpd(site, "JITProvClientSecret not-the-secret-the-idp-knows")
    try:
        cb = h.login(s, site.httpd.url("/app/wrong-secret"), "alice", stop_at_callback=True)
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert h.error_ref(r)
        assert "jitprov_session" not in h.set_cookies(r)
        assert h.wait_for_log(site.httpd, "invalid_client")
    finally:
        restart_httpd(site)


def test_hs256_id_token(site, s, idp_client):
    # HS256 needs a secret of at least 256 bits at the IdP.
    secret = "hs256-" + "k" * 58
    idp_client(id_token_signed_response_alg="HS256", client_secret=secret)
    restart_httpd(site, "JITProvClientSecret " + secret)
    try:
        cb = h.login(s, site.httpd.url("/app/hs"), "bob", stop_at_callback=True)
        assert site.idp.stats()  # the IdP is up
        r = h.follow(s, s.get(cb, allow_redirects=False))
        assert r.status_code == 200, r.text[:300]
        assert r.json()["remote_user"] == "bob"
    finally:
        restart_httpd(site)


def test_userinfo_is_fetched_and_merged(site, s):
    restart_httpd(site, "JITProvUserInfo On")
    try:
        before = site.idp.stats().get("/me", 0)
        r = h.login(s, site.httpd.url("/app/ui"), "dave")
        assert r.status_code == 200, r.text[:300]
        assert site.idp.stats().get("/me", 0) == before + 1
        assert r.json()["http"]["HTTP_X_USER_EMAIL"] == "dave@partner.example.org"
    finally:
        restart_httpd(site)


def test_error_document_is_honoured(site, s):
    restart_httpd(site, "ErrorDocument 400 /public/bad-request-page")
    try:
        r = s.get(site.httpd.url("/callback?state=" + "A" * 43 + "&code=x"),
                  allow_redirects=False)
        assert r.status_code == 400
        j = r.json()  # the CGI backend served the ErrorDocument, not our page
        assert j["script_name"].startswith("/public")
    finally:
        restart_httpd(site)


# ---- HS* ID tokens: a key as long as the hash, and only when discovery lists the alg

class TokenStub:
    """A token endpoint answering the ID token the test sets (MACed here)."""

    def __init__(self):
        import http.server
        import threading
        self.port = h.free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.id_token = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = h.json.dumps({"access_token": "stub-at", "token_type": "Bearer",
                                     "expires_in": 60, "id_token": outer.id_token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def hs_jwt(alg, secret, payload):
    import hashlib
    import hmac
    inp = (h.b64url(h.json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "."
           + h.b64url(h.json.dumps(payload).encode()))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return inp + "." + h.b64url(hmac.new(secret.encode(), inp.encode(), digest).digest())


@pytest.fixture
def token_stub(site):
    st = TokenStub()
    yield st
    site.idp.override_discovery()
    restart_httpd(site)
    st.stop()


def stub_login(site, s, stub, alg, secret):
    """Starts a login, then answers the callback with an HS* ID token from the stub."""
    def sign(claims):
        stub.id_token = hs_jwt(alg, secret, claims)
    return h.stub_callback(site, s, "/app/hs-stub", sign)


def logged_reason(site, r):
    return h.logged_line(site.httpd, r)


@pytest.mark.parametrize("alg,secret_len,listed,ok,reason", [
    ("HS256", 32, ["RS256", "HS256"], True, None),
    ("HS256", 31, ["RS256", "HS256"], False, "has 31 bytes, RFC 7518 3.2 wants at least 32"),
    ("HS384", 40, ["HS384"], False, "has 40 bytes, RFC 7518 3.2 wants at least 48"),
    ("HS512", 64, ["HS512"], True, None),
    ("HS256", 64, ["RS256", "ES256"], False, "only when the IdP's discovery document lists it"),
    ("HS256", 64, None, False, "only when the IdP's discovery document lists it"),
])
def test_hs_id_token_rules(site, s, token_stub, alg, secret_len, listed, ok, reason):
    secret = ("s3cr3t-" * 20)[:secret_len]
    # listed None: the IdP publishes no id_token_signing_alg_values_supported.
    site.idp.override_discovery(token_endpoint=token_stub.origin + "/token",
                                id_token_signing_alg_values_supported=listed)
    restart_httpd(site, "JITProvClientSecret " + secret)
    r = stub_login(site, s, token_stub, alg, secret)
    if ok:
        assert r.status_code == 302, (r.status_code, r.text[:300])
        assert "jitprov_session" in h.set_cookies(r)
    else:
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert "jitprov_session" not in h.set_cookies(r)
        line = logged_reason(site, r)
        assert "ID token rejected" in line and reason in line, line


def test_configtest_warns_about_a_short_client_secret(site):
    r = site.httpd.configtest(site.standard_config(server_extra="JITProvClientSecret short-secret"))
    assert r.returncode == 0, r.stderr
    out = r.stderr + r.stdout
    assert "JITPROV0040" in out and "12 bytes" in out and "HS256/384/512" in out, out
    r = site.httpd.configtest(site.standard_config())
    assert "JITPROV0040" not in r.stderr + r.stdout
