"""Session cookies sealed by earlier builds (record format JPS4) keep working
after an upgrade: nobody is logged out, and revocation still ends them.

An old cookie is made here from a fresh login's: opened with the site's key,
its JPS5 record rewritten as JPS4 (the four revocation marker keys after the
integers, the user field, every string a literal) and sealed again. It must
open to the same user, and end when its session, its user or its account is
ended: the server derives the marker keys from the record's fields, whatever
keys the record carries (here the ones earlier builds wrote, or zeros)."""
import base64
import hashlib
import os
import struct

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import jitprov_harness as h
import test_backchannel as bc
from jitprov_harness import SESSION_COOKIE

BCL = "/backchannel-logout"


def site_config(env):
    return env.standard_config(server_extra=f"JITProvBackChannelLogoutURI {BCL}")


# ---- the sealed cookie (lib/crypto.c jp_seal, session.c cookie_aad)

def session_key(site):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mod_jitprov",
                info=b"mod_jitprov session record v1").derive(site.passphrase.encode())


def aad(site):
    return b"\x01" + f"jitprov-session-v2:{site.client_id}\n{SESSION_COOKIE}".encode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def open_cookie(site, value):
    raw = b64u_decode(value)
    assert raw[0] == 1
    return AESGCM(session_key(site)).decrypt(raw[1:13], raw[13:], aad(site))


def seal(site, record):
    iv = os.urandom(12)
    raw = b"\x01" + iv + AESGCM(session_key(site)).encrypt(iv, record, aad(site))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---- the records (lib/sessrec.c)

def get_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def put_varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def parse_jps5(rec):
    """(five integers, [iss, sub, sid, id_token, id], [(key, val)], tokens)"""
    assert rec[:4] == b"JPS5", rec[:4]
    ints = struct.unpack(">5q", rec[4:44])
    i, strs = 44, []

    def get():
        nonlocal i
        v, i = get_varint(rec, i)
        if v & 1:
            strs.append(strs[v >> 1])
        else:
            strs.append(rec[i:i + (v >> 1)])
            i += v >> 1
        return strs[-1]

    fields = [get() for _ in range(5)]
    nkv, i = get_varint(rec, i)
    kv = [(get(), get()) for _ in range(nkv)]
    tokens = get() if i < len(rec) else b""
    assert i == len(rec)
    return ints, fields, kv, tokens


def marker_keys(site, ints, fields):
    """What earlier builds stored: session.c mark_keys."""
    def key(kind, a, b=b""):
        return hashlib.sha256(site.client_id.encode() + b"\n" + kind + b"\n" + a + b"\n" +
                              b).digest()[:24]
    iss, sub, sid, _, sess_id = fields
    account = ints[4]
    return (key(b"s", sess_id) + key(b"u", iss, sub) +
            (key(b"i", iss, sid) if sid else bytes(24)) +
            (key(b"a", str(account).encode()) if account else bytes(24)))


def jps4(ints, fields, kv, tokens, marks):
    b = b"JPS4" + struct.pack(">5q", *ints) + marks
    iss, sub, sid, id_token, sess_id = fields
    for s in (iss, sub, sid, b"", id_token, sess_id):
        b += put_varint(len(s)) + s
    b += put_varint(len(kv))
    for k, v in kv:
        b += put_varint(len(k)) + k + put_varint(len(v)) + v
    if tokens:
        b += put_varint(len(tokens)) + tokens
    return b


def login(site, user):
    with requests.Session() as s:
        r = h.login(s, site.httpd.url("/app/"), user)
        assert r.status_code == 200, r.text[:300]
        return s.cookies.get(SESSION_COOKIE)


def old_cookie(site, cookie, marks):
    rec = open_cookie(site, cookie)
    ints, fields, kv, tokens = parse_jps5(rec)
    keys = marker_keys(site, ints, fields) if marks == "stored" else bytes(96)
    old = jps4(ints, fields, kv, tokens, keys)
    # The repeated strings and the 96 bytes of keys: what JPS5 saves.
    assert len(old) > len(rec) + 96
    return seal(site, old)


def identity(site, cookie):
    with requests.Session() as s:
        s.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        r = s.get(site.httpd.url("/proxied/who"), allow_redirects=False, timeout=15)
        assert r.status_code == 200, r.status_code
        return {k.lower(): v for k, v in r.json()["headers"] if k.lower().startswith("x-user-")}


MARKS = ["stored", "zero"]


@pytest.mark.parametrize("marks", MARKS)
def test_old_cookie_opens_to_the_same_user(site, marks):
    new = login(site, "alice")
    old = old_cookie(site, new, marks)
    want = identity(site, new)
    assert want.get("x-user-email") == h.USER_CLAIMS["alice"]["email"]
    assert identity(site, old) == want
    # Again: now from what the process remembered of it.
    assert identity(site, old) == want
    assert "unreadable record" not in site.httpd.log_since_start()


@pytest.mark.parametrize("marks", MARKS)
def test_logout_with_an_old_cookie_ends_its_session(site, marks):
    new = login(site, "alice")
    old = old_cookie(site, new, marks)
    assert bc.session_alive(site, old)
    with requests.Session() as s:
        s.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
        r = s.get(site.httpd.url("/logout"), allow_redirects=False, timeout=15)
        assert r.status_code in (302, 303), r.status_code
    # The same session: its JPS5 cookie ended with it.
    assert not bc.session_alive(site, old)
    assert not bc.session_alive(site, new)


@pytest.mark.parametrize("marks", MARKS)
def test_logout_token_ends_old_cookies(site, marks):
    new = login(site, "carol")
    old = old_cookie(site, new, marks)
    other = old_cookie(site, login(site, "carol"), marks)
    assert bc.session_alive(site, old) and bc.session_alive(site, other)
    r = bc.post_token(site, bc.signed(site, bc.good_claims(site, user="carol")))
    assert r.status_code == 200, r.text[:300]
    assert not bc.session_alive(site, old)
    assert not bc.session_alive(site, other)
    assert not bc.session_alive(site, new)
