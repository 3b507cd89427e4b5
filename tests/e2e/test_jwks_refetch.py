"""An unknown kid refetches the JWKS, but a stream of forged tokens cannot make
the module hammer the IdP: logout tokens (which anyone can POST) refetch at most
once per 30 s per process."""
import json
import secrets

import jitprov_harness as h


def site_config(env):
    return env.standard_config(server_extra="JITProvBackChannelLogoutURI /backchannel-logout")


def forged(kid):
    header = h.b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "logout+jwt"}).encode())
    payload = h.b64url(json.dumps({"iss": "x", "sub": "y"}).encode())
    return f"{header}.{payload}.{h.b64url(secrets.token_bytes(256))}"


def jwks_fetches(site):
    uri = site.idp.discovery()["jwks_uri"]
    path = "/" + uri.split("/", 3)[3]
    return site.idp.stats().get(path, 0)


def test_forged_kids_do_not_hammer_the_idp(site, s):
    # A first login caches the key set.
    assert h.login(s, site.httpd.url("/app/"), "alice").status_code == 200
    before = jwks_fetches(site)
    for _ in range(40):
        r = h.requests.post(site.httpd.url("/backchannel-logout"),
                            data={"logout_token": forged("kid-" + secrets.token_hex(8))})
        assert r.status_code == 400
        assert h.error_ref(r)
    # ServerLimit 4: at most one refetch per child process in the window.
    assert jwks_fetches(site) - before <= 4
    # The session is untouched.
    assert s.get(site.httpd.url("/app/still"), allow_redirects=False).status_code == 200


def test_forged_kid_is_cut_short_in_the_log(site, s):
    # The kid of an unauthenticated logout token reaches the error log (the
    # second one within 30 s is the rate-limited path): escaped and cut to
    # 40 characters, as token.c keeps what it logs of a token, so it neither
    # starts a line of its own nor fills the log.
    assert h.login(s, site.httpd.url("/app/"), "alice").status_code == 200
    kid = "k\n[Thu Jan 01 00:00:00.000000 2026] [jitprov:notice] FORGED-LINE " + "z" * 2000
    for _ in range(3):
        r = h.requests.post(site.httpd.url("/backchannel-logout"),
                            data={"logout_token": forged(kid)})
        assert r.status_code == 400
        ref = h.error_ref(r)
        assert ref and h.wait_for_log(site.httpd, f"[ref {ref}]")
    log = site.httpd.log_since_start()
    assert not [l for l in log.splitlines() if "FORGED-LINE" in l and "JITPROV" not in l], log[-2000:]
    assert "z" * 200 not in log
