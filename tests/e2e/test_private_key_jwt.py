"""private_key_jwt client authentication (RFC 7523, OIDC Core 9) against the
real IdP: a separate client registered with the public half of a key the test
generates now (no committed secrets), logins with EC and RSA keys, a key the
IdP does not know, and configtest errors for bad key files."""
import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import jitprov_harness as h

PKJ_CLIENT = "jitprov-e2e-pkjwt"


def _b64(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode()


def make_key(name, kind, kid, tmpdir):
    """(path of the PEM private key, public JWK) of a fresh key."""
    if kind == "EC":
        key = ec.generate_private_key(ec.SECP256R1())
        pub = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _b64(pub.x, 32), "y": _b64(pub.y, 32)}
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": _b64(pub.n), "e": _b64(pub.e)}
        fmt = serialization.PrivateFormat.PKCS8
    if kid:
        jwk["kid"] = kid
    path = os.path.join(tmpdir, f"{name}.pem")
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, fmt,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o400)
    return path, jwk


@pytest.fixture(scope="module")
def keys(env):
    d = os.path.join(env.dir, "pkjwt")
    os.makedirs(d, exist_ok=True)
    return {"ec": make_key("ec", "EC", "rp-ec-1", d), "rsa": make_key("rsa", "RSA", None, d),
            "unknown": make_key("unknown", "EC", "rp-ec-1", d), "dir": d}


@pytest.fixture(scope="module")
def pk_site(site, keys):
    """The IdP with one more client (private_key_jwt, EC and RSA public keys)."""
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = original + [site.client(
        client_id=PKJ_CLIENT, client_secret=None, token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [keys["ec"][1], keys["rsa"][1]]})]
    site.idp.restart()
    yield site
    site.idp.clients = original
    site.idp.restart()
    site.httpd.stop()
    site.httpd.start(site.standard_config())


def pkjwt_config(env, key_lines):
    text = env.standard_config(server_extra=key_lines)
    # This client has no secret at all: drop the standard one.
    text = text.replace(f"JITProvClientID {env.client_id}\n", f"JITProvClientID {PKJ_CLIENT}\n")
    return "\n".join(l for l in text.splitlines() if not l.startswith("JITProvClientSecret "))


def start(env, key_lines):
    env.httpd.stop()
    env.httpd.start(pkjwt_config(env, key_lines))


def test_login_with_ec_key_and_kid(pk_site, keys, s):
    start(pk_site, "JITProvTokenEndpointAuth private_key_jwt\n"
          f"JITProvPrivateKeyFile {keys['ec'][0]}\nJITProvPrivateKeyID rp-ec-1")
    before = pk_site.idp.stats().get("/token", 0)
    r = h.login(s, pk_site.httpd.url("/app/pkjwt-ec"), "alice")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "alice"
    assert pk_site.idp.stats().get("/token", 0) == before + 1


def test_login_with_rsa_key_without_kid(pk_site, keys, s):
    start(pk_site, "JITProvTokenEndpointAuth private_key_jwt\n"
          f"JITProvPrivateKeyFile {keys['rsa'][0]}")
    r = h.login(s, pk_site.httpd.url("/app/pkjwt-rsa"), "bob")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "bob"


def test_key_unknown_to_the_idp_is_a_clear_502(pk_site, keys, s):
    start(pk_site, "JITProvTokenEndpointAuth private_key_jwt\n"
          f"JITProvPrivateKeyFile {keys['unknown'][0]}\nJITProvPrivateKeyID rp-ec-1")
    cb = h.login(s, pk_site.httpd.url("/app/pkjwt-bad"), "alice", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert h.error_ref(r)
    assert h.SESSION_COOKIE not in h.set_cookies(r)
    assert h.wait_for_log(pk_site.httpd, "invalid_client")


def test_secret_client_still_works_beside_it(pk_site, s):
    pk_site.httpd.stop()
    pk_site.httpd.start(pk_site.standard_config())
    r = h.login(s, pk_site.httpd.url("/app/secret"), "carol")
    assert r.status_code == 200, r.text[:300]


def _write(d, name, data, mode=0o600):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("case,needle", [
    ("missing", "cannot read"),
    ("empty", "1 to"),
    ("garbage", "no PEM private key"),
    ("public", "no PEM private key"),
    ("encrypted", "encrypted"),
    ("rsa1024", "2048"),
    ("secp256k1", "P-256"),
])
def test_bad_key_file_named_at_configtest(env, keys, case, needle):
    d = keys["dir"]
    if case == "missing":
        path = os.path.join(d, "no-such-key.pem")
    elif case == "empty":
        path = _write(d, "empty.pem", b"")
    elif case == "garbage":
        path = _write(d, "garbage.pem", b"-----BEGIN PRIVATE KEY-----\nnot base64 !!\n"
                                        b"-----END PRIVATE KEY-----\n")
    elif case == "public":
        k = ec.generate_private_key(ec.SECP256R1()).public_key()
        path = _write(d, "public.pem", k.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    elif case == "encrypted":
        k = ec.generate_private_key(ec.SECP256R1())
        path = _write(d, "encrypted.pem", k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase")))
    elif case == "rsa1024":
        k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        path = _write(d, "rsa1024.pem", k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    else:
        k = ec.generate_private_key(ec.SECP256K1())
        path = _write(d, "k1.pem", k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    r = env.httpd.configtest(pkjwt_config(
        env, f"JITProvTokenEndpointAuth private_key_jwt\nJITProvPrivateKeyFile {path}"))
    out = r.stderr + r.stdout
    assert r.returncode != 0, out
    assert "JITProvPrivateKeyFile" in out and needle in out, out


def test_private_key_jwt_without_key_file(env):
    r = env.httpd.configtest(pkjwt_config(env, "JITProvTokenEndpointAuth private_key_jwt"))
    out = r.stderr + r.stdout
    assert r.returncode != 0
    assert "JITProvPrivateKeyFile" in out and "private_key_jwt" in out, out


def test_secret_still_required_for_secret_methods(env, keys):
    r = env.httpd.configtest(pkjwt_config(env, f"JITProvPrivateKeyFile {keys['ec'][0]}"))
    out = r.stderr + r.stdout
    assert r.returncode != 0
    assert "JITProvClientSecret is required" in out, out


@pytest.mark.parametrize("kid", ['"a b"', '"a\\"b"'])
def test_bad_key_id(env, keys, kid):
    r = env.httpd.configtest(pkjwt_config(
        env, f"JITProvTokenEndpointAuth private_key_jwt\nJITProvPrivateKeyFile {keys['ec'][0]}\n"
             f"JITProvPrivateKeyID {kid}"))
    assert r.returncode != 0
    assert "JITProvPrivateKeyID" in r.stderr + r.stdout
