"""What the module sends to the token endpoint, read on the wire by a tap in
front of it: client_secret_basic with the id and secret form-encoded before
Basic encoding (RFC 6749 2.3.1), client_secret_post, and private_key_jwt
assertions (RFC 7523 3, OIDC Core 9: iss = sub = client id, aud = the token
endpoint URL, a fresh jti, a 60 s lifetime, alg and kid from the key). The
secrets hold every character that form encoding changes (':', '%', '+',
space, '&', '='), and the real IdP must accept them."""
import base64
import json
import os
import time
import urllib.parse

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import jitprov_harness as h

# RFC 6749 A.1, A.2: ids and secrets are VSCHAR (%x20-7E); the IdP refuses others.
ODD_SECRET = "p:a%25s+s w/rd~*'&=?#-" + "x" * 24
BASIC_ID = "jitprov-e2e:basic+odd"
POST_ID = "jitprov-e2e-post odd"
PKJ_ID = "jitprov-e2e-wire-pkjwt"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenTap:
    """Records each POST to /token, then forwards it to the real IdP unless
    `answer` is set, in which case that (status, dict) is sent instead."""

    def __init__(self, idp):
        self.seen = []
        self.answer = None
        outer = self

        class Handler(h.QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append({"headers": dict(self.headers.items()), "body": body,
                                   "at": time.time()})
                if outer.answer:
                    status, doc = outer.answer
                    out, ctype = json.dumps(doc).encode(), "application/json"
                else:
                    fwd = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "accept")}
                    r = requests.post(idp.issuer + "/token", data=body, headers=fwd, timeout=10)
                    status, out = r.status_code, r.content
                    ctype = r.headers.get("Content-Type", "application/json")
                self.send_body(status, out, ctype)

        self.http = h.LoopbackServer(Handler)
        self.port, self.origin, self.stop = self.http.port, self.http.origin, self.http.stop


def _b64(n, size):
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode()


def _pem(key, d, name):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o400)
    return path


@pytest.fixture(scope="module")
def wire(site):
    d = os.path.join(site.dir, "wire")
    os.makedirs(d, exist_ok=True)
    eckey = ec.generate_private_key(ec.SECP256R1())
    rsakey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = eckey.public_key().public_numbers()
    secret_file = os.path.join(d, "secret")
    with open(secret_file, "w", encoding="utf-8") as f:
        f.write(ODD_SECRET + "\n")
    os.chmod(secret_file, 0o600)
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = original + [
        site.client(client_id=BASIC_ID, client_secret=ODD_SECRET),
        site.client(client_id=POST_ID, client_secret=ODD_SECRET,
                    token_endpoint_auth_method="client_secret_post"),
        site.client(client_id=PKJ_ID, client_secret=None,
                    token_endpoint_auth_method="private_key_jwt",
                    jwks={"keys": [{"kty": "EC", "crv": "P-256", "kid": "wire-ec",
                                    "x": _b64(pub.x, 32), "y": _b64(pub.y, 32)}]})]
    site.idp.restart()
    tap = TokenTap(site.idp)
    site.idp.override_discovery(token_endpoint=tap.origin + "/token")
    yield {"tap": tap, "secret_file": secret_file, "ec": (eckey, _pem(eckey, d, "ec.pem")),
           "rsa": (rsakey, _pem(rsakey, d, "rsa.pem"))}
    site.idp.override_discovery()
    site.idp.clients = original
    site.idp.restart()
    tap.stop()
    site.httpd.stop()
    site.httpd.start(site.standard_config())


def start(env, client_id, lines):
    text = env.standard_config(server_extra=lines)
    text = text.replace(f"JITProvClientID {env.client_id}\n", f'JITProvClientID "{client_id}"\n')
    text = "\n".join(l for l in text.splitlines()
                     if not l.startswith(f"JITProvClientSecret {env.client_secret}"))
    env.httpd.stop()
    env.httpd.start(text)


def form(body):
    return urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


def test_client_secret_basic_form_encodes_before_base64(wire, site, s):
    tap = wire["tap"]
    start(site, BASIC_ID, f"JITProvClientSecret file:{wire['secret_file']}")
    tap.seen.clear()
    r = h.login(s, site.httpd.url("/app/wire-basic"), "alice")
    assert r.status_code == 200, r.text[:1500]
    req = tap.seen[-1]
    scheme, _, cred = req["headers"]["Authorization"].partition(" ")
    assert scheme == "Basic"
    raw = base64.b64decode(cred, validate=True).decode("ascii")
    # Exactly one ':' survives: the separator; every other one is %3A.
    uid, sep, pw = raw.partition(":")
    assert sep and ":" not in pw and " " not in raw and "+" not in raw, raw
    assert urllib.parse.unquote_plus(uid) == BASIC_ID
    assert urllib.parse.unquote_plus(pw) == ODD_SECRET  # the file's newline is not in it
    # Nothing of the secret in the body.
    fields = form(req["body"])
    assert "client_secret" not in fields and "client_assertion" not in fields
    assert fields["grant_type"] == ["authorization_code"]


def test_client_secret_post_in_the_body(wire, site, s):
    tap = wire["tap"]
    start(site, POST_ID, 'JITProvTokenEndpointAuth client_secret_post\n'
                         f'JITProvClientSecret "{ODD_SECRET}"')
    tap.seen.clear()
    r = h.login(s, site.httpd.url("/app/wire-post"), "bob")
    assert r.status_code == 200, r.text[:1500]
    req = tap.seen[-1]
    assert "Authorization" not in req["headers"]
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    fields = form(req["body"])
    assert fields["client_id"] == [POST_ID] and fields["client_secret"] == [ODD_SECRET]


def _segments(jwt):
    hb, pb, sb = jwt.split(".")
    return (json.loads(h.b64url_decode(hb)), json.loads(h.b64url_decode(pb)),
            h.b64url_decode(sb), f"{hb}.{pb}".encode())


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_private_key_jwt_assertion(wire, site, kind):
    tap = wire["tap"]
    key, path = wire[kind]
    lines = f"JITProvTokenEndpointAuth private_key_jwt\nJITProvPrivateKeyFile {path}"
    if kind == "ec":
        lines += "\nJITProvPrivateKeyID wire-ec"
    start(site, PKJ_ID, lines)
    tap.seen.clear()
    # Two logins: each assertion must be new. The IdP is not asked (the
    # audience is the tap's URL), the tap answers invalid_client: a 502.
    tap.answer = (401, {"error": "invalid_client",
                        "error_description": "unknown assertion key\nFORGED"})
    try:
        for n in range(2):
            with requests.Session() as sess:
                cb = h.login(sess, site.httpd.url(f"/app/wire-pk-{n}"), "carol",
                             stop_at_callback=True)
                r = sess.get(cb, allow_redirects=False)
                assert r.status_code == 502, (r.status_code, r.text[:300])
                assert h.SESSION_COOKIE not in h.set_cookies(r)
    finally:
        tap.answer = None
    # RFC 6749 5.2: the IdP's description of the refusal is logged, escaped.
    assert h.wait_for_log(site.httpd, "token endpoint answered HTTP 401, error invalid_client "
                                      "(unknown assertion key\\\\nFORGED)")
    assert len(tap.seen) == 2
    jtis = set()
    for req in tap.seen:
        assert "Authorization" not in req["headers"]
        fields = form(req["body"])
        assert fields["client_id"] == [PKJ_ID]
        assert fields["client_assertion_type"] == [ASSERTION_TYPE]
        assert "client_secret" not in fields
        hdr, claims, sig, signed = _segments(fields["client_assertion"][0])
        if kind == "ec":
            assert hdr == {"alg": "ES256", "typ": "JWT", "kid": "wire-ec"}, hdr
            assert len(sig) == 64
            key.public_key().verify(
                encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                     int.from_bytes(sig[32:], "big")),
                signed, ec.ECDSA(hashes.SHA256()))
        else:
            assert hdr == {"alg": "RS256", "typ": "JWT"}, hdr
            key.public_key().verify(sig, signed, padding.PKCS1v15(), hashes.SHA256())
        assert claims["iss"] == PKJ_ID and claims["sub"] == PKJ_ID
        assert claims["aud"] == tap.origin + "/token"  # the discovery's token_endpoint
        assert claims["exp"] - claims["iat"] == 60
        assert abs(claims["iat"] - req["at"]) <= 5
        assert len(claims["jti"]) >= 43
        jtis.add(claims["jti"])
        assert set(claims) == {"iss", "sub", "aud", "jti", "iat", "exp"}
    assert len(jtis) == 2


@pytest.mark.parametrize("case,needle", [
    ("missing", "cannot read"),
    ("empty", "must hold 1 to 4096 bytes"),
    ("newline only", "must not be empty"),
    ("too big", "must hold 1 to 4096 bytes"),
    ("NUL byte", "holds a NUL byte"),
    ("unset env", "JITPROV_E2E_NO_SUCH_SECRET is not set"),
    ("empty env", "JITPROV_E2E_EMPTY_SECRET is not set"),
])
def test_bad_secret_source_named_at_configtest(env, monkeypatch, case, needle):
    d = os.path.join(env.dir, "secrets")
    os.makedirs(d, exist_ok=True)
    content = {"empty": b"", "newline only": b"\r\n", "too big": b"s" * 4097,
               "NUL byte": b"short\0" + b"s" * 40}.get(case)
    path = os.path.join(d, case.replace(" ", "-"))
    if content is not None:
        with open(path, "wb") as f:
            f.write(content)
    arg = {"unset env": "env:JITPROV_E2E_NO_SUCH_SECRET",
           "empty env": "env:JITPROV_E2E_EMPTY_SECRET"}.get(case, "file:" + path)
    monkeypatch.delenv("JITPROV_E2E_NO_SUCH_SECRET", raising=False)
    monkeypatch.setenv("JITPROV_E2E_EMPTY_SECRET", "")
    text = env.standard_config().replace(f"JITProvClientSecret {env.client_secret}\n",
                                         f"JITProvClientSecret {arg}\n")
    assert f"JITProvClientSecret {arg}\n" in text
    r = env.httpd.configtest(text)
    out = r.stderr + r.stdout
    assert r.returncode != 0, out
    assert "JITProvClientSecret" in out and needle in out, out


def test_secret_from_env_is_used(env, monkeypatch):
    monkeypatch.setenv("JITPROV_E2E_SECRET", env.client_secret)
    text = env.standard_config().replace(f"JITProvClientSecret {env.client_secret}\n",
                                         "JITProvClientSecret env:JITPROV_E2E_SECRET\n")
    r = env.httpd.configtest(text)
    assert r.returncode == 0, r.stderr + r.stdout
