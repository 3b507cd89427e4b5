"""OpenID Connect Back-Channel Logout (JITProvBackChannelLogoutURI): the IdP's
client registration has backchannel_logout_uri = <httpd>/backchannel-logout.
Logging out at the IdP makes it POST a logout token there and the module's
session ends; forged or invalid tokens get 400 and end nothing; GET gets 405."""
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS

BCL_PATH = "/backchannel-logout"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def site_config(env):
    return env.standard_config(server_extra=f"JITProvBackChannelLogoutURI {BCL_PATH}")


def bcl_count(site):
    return site.idp.stats().get("backchannel.success", 0)


def wait_bcl(site, before, timeout=10):
    deadline = time.monotonic() + timeout
    while bcl_count(site) <= before:
        assert time.monotonic() < deadline, "the IdP sent no back-channel logout\n" + \
            h.tail(site.idp.log_path, 10)
        time.sleep(0.1)


def session_alive(site, cookie):
    with requests.Session() as other:
        other.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        r = other.get(site.httpd.url("/api401/probe"), allow_redirects=False)
        assert r.status_code in (200, 401), r.status_code
        return r.status_code == 200


def logout_at_idp(site, s):
    """Sign out at the IdP's end_session_endpoint and wait until its
    back-channel logout POST reached httpd and was answered 200."""
    before = bcl_count(site)
    end = site.idp.discovery()["end_session_endpoint"] + "?" + urllib.parse.urlencode(
        {"client_id": site.client_id})
    r = h.follow_idp_logout(s, end)
    assert r.status_code in (200, 302, 303), r.status_code
    wait_bcl(site, before)
    deadline = time.monotonic() + 3
    while f'"POST {BCL_PATH} HTTP/1.1" 200' not in h.tail(site.httpd.access_log, 50):
        assert time.monotonic() < deadline, h.tail(site.httpd.access_log, 10)
        time.sleep(0.1)


def test_logout_at_the_idp_ends_the_session(site, s):
    r = h.login(s, site.httpd.url("/app/"), "alice")
    assert r.status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    # The user signs out at the IdP itself (another application's logout link).
    logout_at_idp(site, s)
    # The browser still holds the cookie; the session behind it is gone.
    assert s.cookies.get(SESSION_COOKIE) == cookie
    r = s.get(site.httpd.url("/app/after"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])
    assert not session_alive(site, cookie)


def test_rp_initiated_logout_ends_every_session_of_the_idp_session(site, s):
    # Two sessions at the module from one IdP session (same sid): the second
    # login is single sign-on, no password.
    assert h.login(s, site.httpd.url("/app/one"), "bob").status_code == 200
    first = s.cookies.get(SESSION_COOKIE)
    s.cookies.clear(domain="127.0.0.1", path="/", name=SESSION_COOKIE)
    r = h.login(s, site.httpd.url("/app/two"), "bob")
    assert r.status_code == 200 and not r.logged_in_at_idp
    second = s.cookies.get(SESSION_COOKIE)
    assert first != second and session_alive(site, first) and session_alive(site, second)

    before = bcl_count(site)
    r = s.get(site.httpd.url("/logout?return_to=/x"), allow_redirects=False)
    assert r.status_code in (302, 303)
    r = h.follow_idp_logout(s, r.headers["Location"])
    assert h.is_redirect(r) and r.headers["Location"] == site.httpd.url("/x")
    wait_bcl(site, before)
    # The local logout ended the second; the IdP's logout token the first.
    assert not session_alive(site, second)
    assert not session_alive(site, first)


# ---- tokens the module must refuse ------------------------------------------

def idp_key(site):
    keys = site.idp.keys
    return next((k for k in keys if k.get("alg") == "RS256"), keys[0])


def good_claims(site, user="carol", **over):
    now = int(time.time())
    c = {"iss": site.idp.issuer, "aud": site.client_id, "iat": now, "exp": now + 120,
         "jti": secrets.token_urlsafe(16), "sub": USER_CLAIMS[user]["sub"],
         "events": {EVENT: {}}}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def signed(site, claims, key=None, **hdr):
    key = key or idp_key(site)
    header = {"alg": key["alg"], "kid": key["kid"], "typ": "logout+jwt"}
    header.update(hdr)
    return h.sign_jwt(key, header, claims)


def post_token(site, token, **kw):
    data = {} if token is None else {"logout_token": token}
    return requests.post(site.httpd.url(BCL_PATH), data=data, allow_redirects=False,
                         timeout=15, **kw)


FORGED = [
    "no logout_token", "empty", "garbage", "alg none", "HS256 wrong secret",
    "attacker RSA key with the IdP's kid", "wrong aud", "untrusted second aud", "wrong iss",
    "no events",
    "with nonce", "issued an hour ago", "expired", "neither sub nor sid",
    "a real ID token",
]


@pytest.fixture(scope="module")
def id_token(site):
    with requests.Session() as sess:
        out = h.idp_code_flow(sess, site.idp, site.client_id, site.client_secret,
                              site.httpd.url("/callback"), user="carol")
    return out["id_token"]


def forged_token(site, what, id_token):
    now = int(time.time())
    key = idp_key(site)
    if what == "no logout_token":
        return None
    if what == "empty":
        return ""
    if what == "garbage":
        return "not.a.jwt"
    if what == "alg none":
        return h.unsigned_jwt({"alg": "none", "typ": "logout+jwt"}, good_claims(site))
    if what == "HS256 wrong secret":
        return h.hs256_jwt("not-the-client-secret", {"alg": "HS256", "kid": key["kid"]},
                           good_claims(site))
    if what == "attacker RSA key with the IdP's kid":
        evil = site.idp.genkey("RS256", key["kid"])
        return signed(site, good_claims(site), key=evil)
    if what == "wrong aud":
        return signed(site, good_claims(site, aud="another-client"))
    if what == "untrusted second aud":
        # BCL 2.6: aud is checked as an ID token's (OIDC Core 3.1.3.7 step 3).
        return signed(site, good_claims(site, aud=[site.client_id, "https://other-rp.example"]))
    if what == "wrong iss":
        return signed(site, good_claims(site, iss="http://127.0.0.1:1"))
    if what == "no events":
        return signed(site, good_claims(site, events=None))
    if what == "with nonce":
        return signed(site, good_claims(site, nonce="n-0S6_WzA2Mj"))
    if what == "issued an hour ago":
        return signed(site, good_claims(site, iat=now - 3600, exp=now + 3600))
    if what == "expired":
        return signed(site, good_claims(site, iat=now - 300, exp=now - 200))
    if what == "neither sub nor sid":
        return signed(site, good_claims(site, sub=None))
    if what == "a real ID token":
        return id_token
    raise AssertionError(what)


@pytest.mark.parametrize("what", FORGED)
def test_invalid_logout_token_gets_400_and_ends_nothing(site, s, id_token, what):
    assert h.login(s, site.httpd.url("/app/"), "carol").status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    r = post_token(site, forged_token(site, what, id_token))
    assert r.status_code == 400, (what, r.status_code, r.text[:300])
    assert r.headers.get("Cache-Control") == "no-cache, no-store", r.headers
    assert r.headers.get("Pragma") == "no-cache", r.headers
    assert session_alive(site, cookie), what
    assert s.get(site.httpd.url("/app/still"), allow_redirects=False).status_code == 200


def test_valid_logout_token_posted_directly_ends_the_users_sessions(site, s):
    # The control for the cases above: the same construction, correctly made.
    assert h.login(s, site.httpd.url("/app/"), "dave").status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    with requests.Session() as other:
        assert h.login(other, site.httpd.url("/app/"), "erin").status_code == 200
        bystander = other.cookies.get(SESSION_COOKIE)
    r = post_token(site, signed(site, good_claims(site, user="dave")))
    assert r.status_code == 200, (r.status_code, r.text[:300])
    # Back-Channel Logout 1.0 2.8's recommended pair
    assert r.headers.get("Cache-Control") == "no-cache, no-store", r.headers
    assert r.headers.get("Pragma") == "no-cache", r.headers
    assert not session_alive(site, cookie)
    assert session_alive(site, bystander)


def test_get_is_405(site):
    r = requests.get(site.httpd.url(BCL_PATH), allow_redirects=False)
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", "POST")


def test_oversized_body_is_refused(site, s):
    assert h.login(s, site.httpd.url("/app/"), "carol").status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    r = post_token(site, "x" * 40000)
    assert r.status_code in (400, 413), r.status_code
    assert session_alive(site, cookie)


# ---- HS* logout tokens (BCL 1.0 2.6: validated as ID tokens are) -----------

# 64 bytes: long enough for HS512 (RFC 7518 3.2), so every HS* alg is usable.
HS_SECRET = "hs-logout-" + "k" * 54


def restart_httpd(site, server_extra=""):
    site.httpd.stop()
    site.httpd.start(site.standard_config(
        server_extra=f"JITProvBackChannelLogoutURI {BCL_PATH}\n{server_extra}"))


@pytest.fixture
def hs_client(site):
    """The client registered with HS256 ID tokens (and so logout tokens) at the
    IdP, and the same long secret in httpd; restored afterwards."""
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = [site.client(id_token_signed_response_alg="HS256",
                                    client_secret=HS_SECRET)]
    site.idp.restart()
    restart_httpd(site, "JITProvClientSecret " + HS_SECRET)
    try:
        yield
    finally:
        site.idp.clients = original
        site.idp.restart()
        restart_httpd(site)


def hs_token(alg, secret, claims):
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    inp = (h.b64url(json.dumps({"alg": alg, "typ": "logout+jwt"}).encode()) + "."
           + h.b64url(json.dumps(claims).encode()))
    return inp + "." + h.b64url(hmac.new(secret.encode(), inp.encode(), digest).digest())


def test_idp_hs256_logout_token_ends_the_session(site, s, hs_client):
    r = h.login(s, site.httpd.url("/app/"), "bob")
    assert r.status_code == 200, r.text[:300]
    cookie = s.cookies.get(SESSION_COOKIE)
    logout_at_idp(site, s)
    assert not session_alive(site, cookie)


@pytest.fixture
def all_hs_listed(site, hs_client):
    """The IdP's discovery document lists every HS* alg for ID tokens."""
    site.idp.override_discovery(
        id_token_signing_alg_values_supported=["RS256", "HS256", "HS384", "HS512"])
    restart_httpd(site, "JITProvClientSecret " + HS_SECRET)
    try:
        yield
    finally:
        site.idp.override_discovery()


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hs_logout_token_with_the_client_secret_ends_the_session(site, s, all_hs_listed, alg):
    assert h.login(s, site.httpd.url("/app/"), "carol").status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    r = post_token(site, hs_token(alg, "not-" + HS_SECRET, good_claims(site, user="carol")))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert session_alive(site, cookie)
    r = post_token(site, hs_token(alg, HS_SECRET, good_claims(site, user="carol")))
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert not session_alive(site, cookie)


def test_hs_logout_token_refused_when_the_idp_does_not_list_it(site, s, hs_client):
    # The IdP (oidc-provider's defaults) lists HS256 but not HS512 for ID tokens.
    assert "HS512" not in site.idp.discovery()["id_token_signing_alg_values_supported"]
    assert h.login(s, site.httpd.url("/app/"), "carol").status_code == 200
    cookie = s.cookies.get(SESSION_COOKIE)
    r = post_token(site, hs_token("HS512", HS_SECRET, good_claims(site, user="carol")))
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert session_alive(site, cookie)
