#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets to tests/fuzz/corpus/<target>/.

Standard library only. The seeds are valid (or nearly valid) inputs in each
target's own framing (see the comment at the top of each tests/fuzz/fuzz_*.c),
so that mutations start next to the logic instead of at the parsers' first
byte. Deterministic: run it again after changing a target's framing and commit
the result.

    /usr/bin/python3 tests/fuzz/make-corpus.py
"""
import base64
import hashlib
import hmac
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# Must match tests/fuzz/fuzz_token.c.
SECRET = b"fuzz-client-secret-fuzz-client-secret-fuzz-client-secret-64bytes"
NOW = 1700000000
SEP = "\x1f"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def hs(header, payload, alg="HS256"):
    h = b64u(compact(header)) + "." + b64u(compact(payload))
    dig = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return h + "." + b64u(hmac.new(SECRET, h.encode(), dig).digest())


def idtoken_claims(**over):
    c = {"iss": "https://idp.example", "sub": "u-1", "aud": "client", "exp": NOW + 300,
         "iat": NOW - 10, "nonce": "nonce", "email": "a@example.com",
         "groups": ["staff", "admins"], "auth_time": NOW - 20}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def logout_claims(**over):
    c = {"iss": "https://idp.example", "aud": "client", "iat": NOW - 5, "jti": "j-1",
         "sid": "s-1", "sub": "u-1",
         "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def token_seeds():
    seeds = []
    hdrs = [{"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": "rsa"},
            {"alg": "HS512"}, {"alg": "RS256", "kid": "rsa"}, {"alg": "ES256", "kid": "ec"},
            {"alg": "EdDSA", "kid": "ed"}, {"alg": "none"}, {"alg": "HS256", "crit": ["exp"]},
            {"alg": "HS256", "typ": "logout+jwt"}]
    ids = [idtoken_claims(), idtoken_claims(aud=["client", "other"], azp="client"),
           idtoken_claims(nonce=None), idtoken_claims(exp=NOW - 1000),
           idtoken_claims(iat=NOW + 1000), idtoken_claims(nbf=NOW + 500),
           idtoken_claims(iss="https://evil.example"), idtoken_claims(sub=None)]
    lts = [logout_claims(), logout_claims(sid=None), logout_claims(sub=None),
           logout_claims(nonce="x"), logout_claims(events={}), logout_claims(jti=None)]
    # modes 0/1: compact tokens (HS* ones verify with the client secret)
    for i, c in enumerate(ids):
        seeds.append(bytes([0]) + hs(hdrs[i % 3], c, "HS512" if i % 3 == 2 else "HS256").encode())
    for i, c in enumerate(lts):
        seeds.append(bytes([1]) + hs({"alg": "HS256", "typ": "logout+jwt"}, c).encode())
    seeds.append(bytes([0]) + b"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSJ9.e30.AAAA")
    seeds.append(bytes([0]) + b"a.b.c.d.e")  # JWE shape
    # modes 2/3: "header\npayload", signed HS256 by the target
    for h in hdrs:
        for c in ids[:4]:
            seeds.append(bytes([2]) + compact(h) + b"\n" + compact(c))
    for c in lts:
        seeds.append(bytes([3]) + compact({"alg": "HS256", "typ": "logout+jwt"}) + b"\n" +
                     compact(c))
    return seeds


JWKS = {"keys": [
    {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "e": "AQAB",
     "n": "mRJfnwY9Ik0P3aBJJZK6-dp6UB0ZgFt8b3Rc-i29YKn_imLvsVZLhrwUYYsH6IMl3_GDHu3xeelxvP-"
          "s5jb84QSx0KP5Abu12jfA8oRhDl3x5ZgWXbJTAOaHOJfhzBkEC5i6u2rK6JBHZvCX18AwvxWqarCkF1Qr"
          "ZuBnlDTJ3NBX9_kM2Q_CBDDOYRXefecgRaObCafarwCTwwfT5ouu1wry_MXi6_cQXNl7eF0RfQisYvNVmk4"
          "_zPz1DBr5VUxvEsgNfASsmKUcDkt12YzKR7Op1OKdOwJW2P1xKy0qUm9ZP6Aew2_qZ_E4wi14AdA-UxjkV"
          "UazkHNLfSruvXV6QQ"},
    {"kty": "EC", "kid": "ec", "crv": "P-256", "use": "sig",
     "x": "X1pRDjNYQkb1fspehvQuO35v702xWKLlR8vLnbpVbzY",
     "y": "EHHHddyUklyRDbO5NZ3Riv-QhhJnSq-1g97yr11pLuA"},
    {"kty": "OKP", "kid": "ed", "crv": "Ed25519",
     "x": "kSWLFkKo2ghfuLMZPF4867sX29vH1UPMdiU2ngcLn_M"},
]}


def jwks_seeds():
    k = JWKS["keys"]
    variants = [JWKS, {"keys": k[:1]}, {"keys": k[1:2]}, {"keys": k[2:]},
                {"keys": [dict(k[0], use="enc")]}, {"keys": [dict(k[1], crv="P-384")]},
                {"keys": [{"kty": "oct", "k": b64u(b"x" * 32), "kid": "h"}]},
                {"keys": [{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, k[0]]},
                {"keys": [dict(k[0], n="!!!")]}, {"keys": []}, {"keys": {}}, {}]
    return [compact(v) for v in variants]


def scim_seeds():
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bob",
            "active": True, "displayName": "Bob B", "externalId": "e-1",
            "name": {"givenName": "Bob", "familyName": "B"},
            "emails": [{"value": "bob@example.com", "primary": True, "type": "work"}],
            "groups": [{"value": "staff"}]}
    patches = [
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
         "Operations": [{"op": "replace", "path": "active", "value": False}]},
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
         "Operations": [{"op": "Replace", "value": {"active": "False"}}]},
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
         "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value",
                         "value": "new@example.com"},
                        {"op": "add", "path": "displayName", "value": "New"},
                        {"op": "remove", "path": "externalId"}]},
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
         "Operations": [{"op": "replace", "path": "userName", "value": "bob2"}]},
    ]
    filters = ['userName eq "bob"', 'userName eq "a\\"b"', 'externalId eq "e-1"',
               'emails.value eq "bob@example.com"', 'userName sw "b"', 'active eq true',
               'userName eq "x" and active eq true', 'userName pr']
    seeds = [bytes([0]) + compact(user), bytes([4]) + compact(dict(user, active="true")),
             bytes([0]) + compact({"userName": "x"})]
    seeds += [bytes([1]) + compact(p) for p in patches]
    seeds += [bytes([5]) + compact(patches[0])]
    seeds += [bytes([2]) + f.encode() for f in filters]
    seeds.append(bytes([3]) + b"alice\0alice@example.com\0Alice A\0staff,admins")
    seeds.append(bytes([3]) + "z\u00f6e\0\0Zo\u00eb\0".encode())
    return seeds


def store_seeds():
    c = {"iss": "https://idp.example", "sub": "u-1", "email": "a@example.com",
         "email_verified": True, "preferred_username": "alice", "name": "Alice",
         "groups": ["staff", "admins"], "address": {"country": "DE"},
         "https://example.com/roles": ["r1"], "upn": "alice@corp"}
    seeds = []
    for mode in (0, 1, 2, 4, 8, 16, 32, 36):
        seeds.append(bytes([mode]) + compact(c))
    seeds.append(bytes([0]) + compact(dict(c, sub="u-2", email=None, groups="one")))
    seeds.append(bytes([4]) + compact(dict(c, sub="u-3", email_verified="true")))
    return seeds


def state_seeds():
    pt = {"s": "ABCDEFGHIJKLMNOPqrstuvwxyz0123456789ABCDEFG", "n": "n" * 43, "v": "v" * 43,
          "r": "/app/?x=1", "t": NOW}
    seeds = [bytes([1]) + compact(pt), bytes([1]) + compact(dict(pt, r=None)),
             bytes([1]) + compact(dict(pt, t=NOW - 1000)), bytes([1]) + compact(dict(pt, s=""))]
    seeds.append(bytes([0]) + b"AAAA" + b64u(os.urandom(0) + b"\x00" * 60).encode())
    seeds.append(bytes([0]) + b64u(b"\x01" * 80).encode())
    return seeds


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


SESS_STRS = ("https://idp.example", "u-1", "s-1", "a.b.c", "sess-1")
SESS_KV = (("c:iss", "https://idp.example"), ("c:sub", "u-1"), ("c:email", "a@example.com"),
           ("c:groups", "staff" + SEP + "admins"), ("a:id", "7"), ("a:iss", "https://idp.example"),
           ("a:email", "a@example.com"), ("a:x", ""), ("a:y", ""))


def sessrec(created=NOW, strs=SESS_STRS, kv=SESS_KV, tokens=""):
    """A canonical JPS5 record (mod_jitprov/lib/sessrec.c): a non-empty string
    equal to an earlier one is a reference (odd varint) to the first of them."""
    b = b"JPS5" + struct.pack(">5q", created, created + 5, created + 3600, created, 7)
    seen = {}
    flat = list(strs) + [x for pair in kv for x in pair] + ([tokens] if tokens else [])
    for i, s in enumerate(flat):
        if i == len(strs):
            b += varint(len(kv))
        e = s.encode()
        if e and e in seen:
            b += varint(2 * seen[e] + 1)
            continue
        if e:
            seen[e] = i
        b += varint(2 * len(e)) + e
    if len(flat) == len(strs):
        b += varint(len(kv))
    return b


def sessrec4(created=NOW, strs=SESS_STRS, kv=SESS_KV, tokens=""):
    """A JPS4 record as earlier builds wrote it: marker keys, a user field,
    plain lengths."""
    b = b"JPS4" + struct.pack(">5q", created, created + 5, created + 3600, created, 7)
    b += bytes(range(96))  # four revocation marker keys of 24 bytes
    for s in strs[:3] + ("",) + strs[3:]:
        e = s.encode()
        b += varint(len(e)) + e
    b += varint(len(kv))
    for k, v in kv:
        for s in (k, v):
            e = s.encode()
            b += varint(len(e)) + e
    if tokens:
        b += varint(len(tokens)) + tokens.encode()
    return b


def sessrec_seeds():
    seeds = []
    for make in (sessrec, sessrec4):
        seeds += [make(), make(kv=()), make(strs=("", "", "", "", "")),
                  make(kv=(("c:name", "Zo\u00eb"),)), make(tokens="AQ-sealed-tokens"),
                  make(kv=tuple((f"c:k{i}", "v" * (i % 3)) for i in range(70)))]
    return seeds


def headers_seeds():
    # first byte % 4 = delimiter length, then the delimiter, then the value
    vals = ["staff" + SEP + "admins", "staff,admins", "Zo\u00eb \u00dcn\u00efcode",
            "a" + SEP + SEP + "b", "100%", "x@evil.org\n@example.com", ""]
    seeds = []
    for d in ("", ",", "|", ", ", "%", "-", "\u2022"):
        db = d.encode()
        for v in vals:
            seeds.append(bytes([len(db) % 4]) + db[:3] + v.encode())
    return seeds


def url_seeds():
    return [s.encode() for s in (
        "/app/?x=1", "//evil.example/", "/\\evil", "http://127.0.0.1:8080/x",
        "http://127.0.0.1/x", "https://127.0.0.1:8080/", "http://user@127.0.0.1:8080/",
        "javascript:alert(1)", "state=abc&code=def&iss=https%3A%2F%2Fidp",
        "return_to=%2Fapp%2F&return_to=%2Fx", "a=%zz&b=%00", "/x\r\nSet-Cookie: a=b",
        "code=1\x00state=2", "x=1&state=" + "A" * 43, "http://[127.0.0.1]",
        "http://[::1]:8080/x")]


def roles_seeds():
    # the claims JSON; a bare array stands for the groups claim
    return [compact(c) for c in (
        {"groups": ["admins", "staff"]}, {"groups": ["team-a", "team-b", "stuff"]},
        {"groups": "admins"}, {"groups": []}, {"groups": ["aaaaaaaaaaaaaaaaaaaaaaaa!"]},
        {"groups": ["x\nadmins", "admins\u0000"]}, ["staff", "team-z"], {"sub": "u-1"})]


def token_response():
    # what an IdP's token endpoint returns on a login (~1.4 KB, mostly the ID token)
    claims = idtoken_claims(name="Alice Example", preferred_username="alice",
                            email_verified=True, sid="s-" + "0123456789abcdef" * 2,
                            at_hash="x" * 22, azp="client", acr="urn:mace:incommon:iap:silver",
                            amr=["pwd", "otp"], locale="en-US", zoneinfo="Europe/Paris")
    access = hs({"alg": "HS256", "typ": "at+jwt", "kid": "k1"},
                {"iss": "https://idp.example", "sub": "u-1", "aud": "api", "exp": NOW + 3600,
                 "iat": NOW, "jti": "a" * 32, "scope": "openid email profile"})
    return {"access_token": access, "expires_in": 3600, "token_type": "Bearer",
            "id_token": hs({"alg": "HS256", "kid": "k1"}, claims),
            "refresh_token": b64u(hashlib.sha256(b"refresh").digest() * 2),
            "scope": "openid email profile offline_access"}


def json_seeds():
    # the raw JSON text; every seed is parsed under each flag set
    state = {"s": "ABCDEFGHIJKLMNOPqrstuvwxyz0123456789ABCDEFG", "n": "n" * 43, "v": "v" * 43,
             "r": "/app/?x=1&y=%C3%A9", "t": NOW, "p": "https://idp.example"}
    resp = token_response()
    seeds = [compact(resp), json.dumps(resp, indent=2).encode(),
             compact(idtoken_claims(name="Zo\u00eb \"Z\"", groups=["a/b", "c\\d"])),
             compact(state), compact(logout_claims()),
             json.dumps({"emoji": "\U0001F600 \u00e9\u20ac\u2028", "ctl": "\b\f\n\r\t\x01\x7f",
                         "k\u00e9y": "/"}, ensure_ascii=False).encode(),
             json.dumps({"emoji": "\U0001F600 \u00e9\u20ac", "ctl": "\b\f\n\r\t\x01"}).encode(),
             b'{"a":1,"b":2,"a":3}', b'{"a":1,"\\u0061":2}', b'{"":0,"":1}',
             b'[0,-0,-0.0,1e400,-1e400,1e-400,9223372036854775807,-9223372036854775808,'
             b'9223372036854775808,-9223372036854775809,1.5e+10,2E-3,0.1,123456789012345678901234]',
             b'[01,1.,.5,+1,-,1e,1e+,0x1F,NaN,Infinity]',
             b'["\\ud83d\\ude00","\\ud83d","\\ude00","\\ud83d\\u0041","\\u0000","\\uDBFF\\uDFFF"]',
             b'["\xc3\xa9","\xc0\xaf","\xed\xa0\x80","\xf4\x90\x80\x80","\xff","\xe2\x82"]',
             b'"just a string"', b'42', b'-0', b'1e400', b'true', b'null', b' \t\r\n[ ] \n',
             b'{} x', b'[1\x00]', b'[true\x00,2\x00]', b'\xef\xbb\xbf{}', b'[\x0c1]',
             b'["a\\x"]', b'["\\u12G4"]', b'["tab\there"]',
             b"[" * 2048 + b"]" * 2048, b"[" * 2047 + b"1" + b"]" * 2047,
             b"[" * 2049 + b"]" * 2049, b'{"a":' * 600 + b"{}" + b"}" * 600,
             # an escaped key waiting while a long escaped value grows the scratch stack
             b'{"' + b"k" * 600 + b'\\n":{"in\\u006eer":"' + b"v" * 2000 + b'\\t"}}']
    return seeds


DICTS = {
    "fuzz_roles": ['"groups"', '"admins"', '"staff"', '"team-"', '"member"', '"admin"', 'aa'],
    "fuzz_token": ['"alg"', '"kid"', '"typ"', '"crit"', '"HS256"', '"HS512"', '"RS256"',
                   '"PS256"', '"ES256"', '"EdDSA"', '"none"', '"iss"', '"sub"', '"aud"',
                   '"azp"', '"exp"', '"iat"', '"nbf"', '"nonce"', '"sid"', '"jti"',
                   '"events"', '"https://idp.example"', '"client"', '"logout+jwt"',
                   '"http://schemas.openid.net/event/backchannel-logout"', '1700000000', '.',
                   '"rsa"', '"ec"', '"ed"'],
    "fuzz_jwks": ['"keys"', '"kty"', '"RSA"', '"EC"', '"OKP"', '"oct"', '"kid"', '"use"',
                  '"sig"', '"enc"', '"alg"', '"crv"', '"P-256"', '"P-384"', '"P-521"',
                  '"Ed25519"', '"secp256k1"', '"n"', '"e"', '"x"', '"y"', '"k"', '"AQAB"'],
    "fuzz_scim": ['"schemas"', '"userName"', '"active"', '"displayName"', '"externalId"',
                  '"emails"', '"value"', '"primary"', '"groups"', '"Operations"', '"op"',
                  '"path"', '"replace"', '"add"', '"remove"', '"True"', '"False"', 'eq', 'ne',
                  'co', 'sw', 'pr', 'and', 'or', 'not', '[', ']',
                  '"urn:ietf:params:scim:api:messages:2.0:PatchOp"',
                  '"urn:ietf:params:scim:schemas:core:2.0:User"'],
    "fuzz_store": ['"sub"', '"iss"', '"email"', '"email_verified"', '"preferred_username"',
                   '"name"', '"groups"', '"address"', '"country"', '"upn"',
                   '"https://example.com/roles"', 'true', 'false', 'null', '"\\x00"'],
    "fuzz_state": ['"s"', '"n"', '"v"', '"r"', '"t"', '1700000000', '"/"', 'null'],
    "fuzz_json": ['"{"', '"}"', '"["', '"]"', '":"', '","', '"\\""', '"true"', '"false"',
                  '"null"', '"\\\\u"', '"\\\\ud83d\\\\ude00"', '"\\\\udc00"', '"\\\\u0000"',
                  '"\\\\n"', '"\\\\/"', '"1e400"', '"-0"', '"1e-400"', '"9223372036854775808"',
                  '"-9223372036854775808"', '"0.5"', '"E+"', '"\\xc3\\xa9"', '"\\xf0\\x9f\\x98\\x80"',
                  '"\\xed\\xa0\\x80"', '"\\xf4\\x90\\x80\\x80"', '"\\x00"', '"\\x0c"',
                  '"\\xef\\xbb\\xbf"', '"id_token"', '"access_token"', '"sub"'],
    "fuzz_sessrec": ['"JPS5"', '"JPS4"', '"\\x80\\x01"', '"\\x01"', '"\\x03"', '"\\x81\\x01"',
                     '"c:"', '"a:"', '"\\x1f"', '"\\x00\\x00\\x00\\x00"'],
    "fuzz_headers": ['"\\x1f"', '","', '"|"', '"%"', '"%2C"', '"\\xc3\\xab"', '"\\x00"',
                     '"\\x7f"'],
    "fuzz_url": ['"return_to="', '"state="', '"code="', '"&"', '"%2F"', '"%00"', '"//"',
                 '"http://"', '"https://"', '"127.0.0.1"', '":8080"', '"@"', '"\\\\"',
                 '"%0d%0a"', '"["', '"]"'],
}

SEEDS = {"fuzz_token": token_seeds, "fuzz_jwks": jwks_seeds, "fuzz_scim": scim_seeds,
         "fuzz_store": store_seeds, "fuzz_state": state_seeds, "fuzz_sessrec": sessrec_seeds,
         "fuzz_headers": headers_seeds, "fuzz_url": url_seeds, "fuzz_roles": roles_seeds,
         "fuzz_json": json_seeds}


def main():
    for target, make in SEEDS.items():
        d = os.path.join(OUT, target)
        # Only our own seeds are replaced: inputs a fuzzing run found and that
        # were committed beside them (crash regressions, coverage) stay.
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.startswith("seed-"):
                os.remove(os.path.join(d, old))
        for i, seed in enumerate(make()):
            with open(os.path.join(d, f"seed-{i:03d}"), "wb") as f:
                f.write(seed)
        with open(os.path.join(HERE, target + ".dict"), "w") as f:
            f.write(f"# libFuzzer dictionary for {target} (written by make-corpus.py)\n")
            for i, tok in enumerate(DICTS[target]):
                f.write(f"kw{i}={tok if tok.startswith(chr(34)) else json.dumps(tok)}\n")
    print("corpora written to", OUT)


if __name__ == "__main__":
    main()
