"""The test IdP on its own, driven by a tiny Python relying party: if these fail,
the module's e2e results mean nothing."""
import requests

import jitprov_harness as h


def test_discovery(env):
    d = env.idp.discovery()
    assert d["issuer"] == env.idp.issuer
    for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint",
              "userinfo_endpoint"):
        assert d[k].startswith(env.idp.issuer + "/"), k
    assert "S256" in d["code_challenge_methods_supported"]
    assert {"openid", "email", "profile", "groups"} <= set(d["scopes_supported"])
    assert "groups" in d["claims_supported"]
    assert d["backchannel_logout_supported"] is True
    assert "introspection_endpoint" not in d


def test_jwks_is_public(env):
    keys = requests.get(env.idp.discovery()["jwks_uri"], timeout=5).json()["keys"]
    assert keys and all("kid" in k for k in keys)
    assert not any(p in k for k in keys for p in ("d", "p", "q", "dp", "dq", "qi"))


def test_code_flow_with_pkce(env, s):
    tok = h.idp_code_flow(s, env.idp, env.client_id, env.client_secret,
                          env.httpd.origin + "/callback", user="dave")
    assert tok["_params"]["iss"] == env.idp.issuer
    header, claims = h.jwt_parts(tok["id_token"])
    assert header["alg"] == "RS256" and header["kid"] == env.idp.keys[0]["kid"]
    assert claims["iss"] == env.idp.issuer and claims["aud"] == env.client_id
    assert claims["nonce"] == tok["_nonce"]
    want = h.USER_CLAIMS["dave"]
    for k in ("sub", "email", "email_verified", "name", "preferred_username", "groups",
              "department"):
        assert claims[k] == want[k], k
    # A second authorization in the same jar is SSO: no login form.
    tok2 = h.idp_code_flow(s, env.idp, env.client_id, env.client_secret,
                           env.httpd.origin + "/callback", user="dave")
    assert h.jwt_parts(tok2["id_token"])[1]["sub"] == want["sub"]


def test_claims_per_user(env):
    for user in ("alice", "carol", "erin"):
        with requests.Session() as sess:
            tok = h.idp_code_flow(sess, env.idp, env.client_id, env.client_secret,
                                  env.httpd.origin + "/callback", user=user)
        claims = h.jwt_parts(tok["id_token"])[1]
        for k, v in h.USER_CLAIMS[user].items():
            assert claims.get(k) == v, (user, k)
        if user == "erin":
            assert "email" not in claims and "groups" not in claims


def test_wrong_password_shows_form_again(env, s):
    disc = env.idp.discovery()
    r = s.get(disc["authorization_endpoint"], params={
        "response_type": "code", "client_id": env.client_id,
        "redirect_uri": env.httpd.origin + "/callback", "scope": "openid",
        "state": "s" * 20, "code_challenge": "A" * 43, "code_challenge_method": "S256"},
        timeout=10)
    assert r.status_code == 200 and 'id="submit"' in r.text
    action, fields = h.parse_form(r.text)
    fields.update(login="alice", password="nope")
    r2 = s.post(requests.compat.urljoin(r.url, action), data=fields, allow_redirects=False,
                timeout=10)
    assert r2.status_code == 200 and 'id="error"' in r2.text


def test_unknown_redirect_uri_refused(env, s):
    disc = env.idp.discovery()
    r = s.get(disc["authorization_endpoint"], params={
        "response_type": "code", "client_id": env.client_id,
        "redirect_uri": "http://evil.example/callback", "scope": "openid",
        "state": "s" * 20, "code_challenge": "A" * 43, "code_challenge_method": "S256"},
        allow_redirects=False, timeout=10)
    assert r.status_code == 400


def test_rp_initiated_logout_needs_no_click(env, s):
    tok = h.idp_code_flow(s, env.idp, env.client_id, env.client_secret,
                          env.httpd.origin + "/callback")
    disc = env.idp.discovery()
    target = env.httpd.origin + "/x"
    q = requests.compat.urlencode({"id_token_hint": tok["id_token"], "client_id": env.client_id,
                                   "post_logout_redirect_uri": target})
    r = h.follow_idp_logout(s, disc["end_session_endpoint"] + "?" + q)
    assert h.is_redirect(r), r.text[:500]
    assert r.headers["Location"] == target
