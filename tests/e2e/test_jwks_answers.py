"""The JWKS as the module fetches it (RFC 7517, OIDC Core 10.1.1), from a
stand-in that serves the key set and the token endpoint the test sets, the
discovery document staying the real IdP's: a key rotation at an IdP whose
tokens name no kid (allowed with one key), a key too weak to use, and key
sets that are not JSON or too large, each refused with its reason in the log
and nothing written."""
import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


def _b64(n):
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")) \
        .rstrip(b"=").decode()


class Key:
    def __init__(self, kid=None, bits=2048):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pub = self.key.public_key().public_numbers()
        self.jwk = {"kty": "RSA", "use": "sig", "n": _b64(pub.n), "e": _b64(pub.e)}
        self.kid = kid
        if kid:
            self.jwk["kid"] = kid

    def sign(self, payload):
        hdr = {"alg": "RS256", "typ": "JWT", **({"kid": self.kid} if self.kid else {})}
        inp = h.b64url(json.dumps(hdr).encode()) + "." + h.b64url(json.dumps(payload).encode())
        sig = self.key.sign(inp.encode(), padding.PKCS1v15(), hashes.SHA256())
        return inp + "." + h.b64url(sig)


class KeyStub:
    """GET /jwks answers `jwks` (bytes as they are, else JSON); POST /token
    answers `id_token`."""

    def __init__(self):
        self.jwks = {"keys": []}
        self.id_token = None
        self.hits = {}
        outer = self

        class Handler(h.QuietHandler):
            def _send(self, body):
                self.send_body(200, body)

            def do_GET(self):
                outer.hits["/jwks"] = outer.hits.get("/jwks", 0) + 1
                j = outer.jwks
                self._send(j if isinstance(j, bytes) else json.dumps(j).encode())

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits["/token"] = outer.hits.get("/token", 0) + 1
                self._send(json.dumps({"access_token": "stub-at", "token_type": "Bearer",
                                       "expires_in": 60, "id_token": outer.id_token}).encode())

        self.http = h.LoopbackServer(Handler)
        self.port, self.origin, self.stop = self.http.port, self.http.origin, self.http.stop


@pytest.fixture(scope="module")
def stub(site):
    st = KeyStub()
    site.idp.override_discovery(token_endpoint=st.origin + "/token",
                                jwks_uri=st.origin + "/jwks")
    yield st
    site.idp.override_discovery()
    st.stop()


def stub_login(site, s, stub, key, user="pat"):
    """Starts a login, then answers the callback with an ID token `key` signs."""
    def sign(claims):
        stub.id_token = key.sign(claims)
    return h.stub_callback(site, s, "/app/jwks-stub", sign, user)


def logged_reason(site, r):
    return h.logged_line(site.httpd, r)


def test_rotation_without_kid(site, stub):
    # One key, no kid (OIDC Core 10.1: a kid is needed only with several keys).
    old, new = Key(), Key()
    stub.jwks = {"keys": [old.jwk]}
    site.httpd.start(site.standard_config(), fresh_db=True)
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, old)
        assert r.status_code == 302 and SESSION_COOKIE in h.set_cookies(r), r.text[:300]
    fetched = stub.hits.get("/jwks", 0)
    # The IdP rotates: the cached set no longer holds the signing key, and the
    # token names no kid to say so. The module must look again, as for a new kid.
    stub.jwks = {"keys": [new.jwk]}
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, new)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        assert SESSION_COOKIE in h.set_cookies(r)
    assert stub.hits.get("/jwks", 0) == fetched + 1
    # A token no published key signed is still refused, after that one look.
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, Key())
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert SESSION_COOKIE not in h.set_cookies(r)
        assert "ID token rejected" in logged_reason(site, r)


def test_unusable_key_is_named_with_its_reason(site, stub):
    # OIDC Core 10.1 leaves the key size to JWA: RSA under 2048 bits is not
    # used (RFC 7518 3.3). The refusal says so, rather than "no such kid".
    legacy = Key("legacy-1024", bits=1024)
    stub.jwks = {"keys": [legacy.jwk]}
    site.httpd.start(site.standard_config(), fresh_db=True)
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, legacy)
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert SESSION_COOKIE not in h.set_cookies(r)
        line = logged_reason(site, r)
    assert "legacy-1024" in line and "is not used: an RSA key of 1024 bits" in line, line
    assert h.written_rows(site.httpd) == []


def test_set_with_no_usable_key_fails_closed_and_says_so(site, stub):
    # The IdP publishes a set we cannot verify with (here only an encryption
    # key). Keeping the old set would keep keys the IdP withdrew: the new set
    # replaces it, every token is refused, and a warning at the default level
    # names the reason.
    old, enc = Key("sig-old"), Key("enc-only")
    stub.jwks = {"keys": [old.jwk]}
    site.httpd.start(site.standard_config(), fresh_db=True)
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, old)
        assert r.status_code == 302 and SESSION_COOKIE in h.set_cookies(r), r.text[:300]
    before = h.written_rows(site.httpd)
    stub.jwks = {"keys": [dict(enc.jwk, use="enc")]}
    for key in (enc, old):
        with h.requests.Session() as s:
            r = stub_login(site, s, stub, key)
            assert r.status_code == 401, (r.status_code, r.text[:300])
            assert SESSION_COOKIE not in h.set_cookies(r)
    assert h.wait_for_log(site.httpd, "JITPROV0908")
    warn = [l for l in site.httpd.log_since_start().splitlines() if "JITPROV0908" in l][0]
    assert ":warn]" in warn and "kid enc-only" in warn and "no key usable" in warn, warn
    assert h.written_rows(site.httpd) == before


UNUSABLE = {
    "html": (b"<html>maintenance</html>", "JWKS is not a JSON object"),
    "300k": (b'{"keys": []}' + b" " * (300 * 1024), "larger than 256 KiB"),
    "over 1M": (b'{"keys": [' + b'{"kty":"oct","k":"AAAA"},' * 50000 + b'{}]}',
                "response larger than 1 MiB"),
    "keys not an array": (b'{"keys": {}}', 'no "keys" array'),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_unusable_jwks_is_a_clear_502(site, stub, case):
    body, reason = UNUSABLE[case]
    stub.jwks = body
    site.httpd.start(site.standard_config(), fresh_db=True)
    with h.requests.Session() as s:
        r = stub_login(site, s, stub, Key())
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert SESSION_COOKIE not in h.set_cookies(r)
        line = logged_reason(site, r)
        assert reason in line, line
    assert h.written_rows(site.httpd) == []


@pytest.mark.parametrize("age,ok", [
    (None, False),   # max_age sent, no auth_time: OIDC Core 2 makes it REQUIRED
    (3600, False),   # the IdP answered from a sign-in older than max_age
    (5, True),
])
def test_max_age_needs_a_fresh_auth_time(site, stub, age, ok):
    # An IdP may ignore max_age; the module checks auth_time itself
    # (OIDC Core 3.1.3.7 step 13).
    key = Key("max-age")
    stub.jwks = {"keys": [key.jwk]}
    site.httpd.start(site.standard_config(server_extra="JITProvAuthRequestParams max_age=60"),
                     fresh_db=True)

    def sign(claims):
        if age is not None:
            claims["auth_time"] = claims["iat"] - age
        stub.id_token = key.sign(claims)

    with h.requests.Session() as s:
        r = h.stub_callback(site, s, "/app/jwks-stub", sign)
        if ok:
            assert r.status_code == 302 and SESSION_COOKIE in h.set_cookies(r), r.text[:300]
            return
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert SESSION_COOKIE not in h.set_cookies(r)
        line = logged_reason(site, r)
    assert ("auth_time missing" if age is None else "older than the requested max_age") in line
    assert h.written_rows(site.httpd) == []
