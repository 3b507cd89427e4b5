"""Signing keys: rotation (an unknown kid makes the module refetch the JWKS) and
each signing algorithm the module supports."""
import pytest
import requests

import jitprov_harness as h


@pytest.fixture(scope="module")
def restore(env, site):
    keys, clients = list(env.idp.keys), list(env.idp.clients)
    yield
    env.idp.clients = clients
    env.idp.restart(keys=keys)


def test_key_rotation(site, restore):
    idp = site.idp
    with requests.Session() as before:
        r = h.login(before, site.httpd.url("/app/"), "alice")
        assert r.status_code == 200
        old_kid = idp.keys[0]["kid"]

        new = idp.genkey("RS256", "rotated-" + old_kid)
        idp.restart(keys=[new])
        assert [k["kid"] for k in requests.get(idp.discovery()["jwks_uri"]).json()["keys"]] == \
            [new["kid"]]
        jwks_before = idp.stats().get("/jwks", 0)

        with requests.Session() as after:
            r = h.login(after, site.httpd.url("/app/rotated"), "bob")
            assert r.status_code == 200, r.text[:500]
            assert r.json()["remote_user"] == "bob"
        assert idp.stats().get("/jwks", 0) >= jwks_before + 1

        # Sessions made before the rotation live on (they hold no token to re-check).
        r = before.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 200 and r.json()["remote_user"] == "alice"


def test_rotation_with_overlap(site, restore):
    idp = site.idp
    a, b = idp.genkey("ES256", "overlap-a"), idp.genkey("RS256", "overlap-b")
    idp.clients = [site.client(id_token_signed_response_alg="RS256")]
    idp.restart(keys=[b, a])
    with requests.Session() as sess:
        assert h.login(sess, site.httpd.url("/app/"), "dave").status_code == 200


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_signing_algorithm(site, restore, alg):
    idp = site.idp
    key = idp.genkey(alg, f"alg-{alg.lower()}")
    idp.clients = [site.client(id_token_signed_response_alg=alg)]
    idp.restart(keys=[key])
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url(f"/app/{alg}"), "alice")
        assert r.status_code == 200, (alg, r.status_code, r.text[:500])
        assert r.json()["remote_user"] == "alice"
