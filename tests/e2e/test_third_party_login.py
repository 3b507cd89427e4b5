"""Logins started by a third party (OpenID Connect Core 4): an IdP's portal
or app launcher sends the browser to the redirect URI with iss, and maybe
login_hint and target_link_uri. The module starts a login at that issuer if
it is one of the site's, back to target_link_uri if that is on the site."""
import urllib.parse

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


def initiate(site, s, **params):
    return s.get(site.httpd.url("/callback"), params=params, allow_redirects=False)


def auth_query(site, r):
    assert r.status_code == 302, (r.status_code, r.text[:300])
    loc = r.headers["Location"]
    assert loc.startswith(site.idp.issuer + "/auth?"), loc
    return urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)


def test_third_party_login_lands_on_target(site):
    s = h.client()
    target = site.httpd.url("/app/from-portal?x=1")
    r = initiate(site, s, iss=site.idp.issuer, target_link_uri=target, login_hint="bob")
    q = auth_query(site, r)
    assert q["login_hint"] == ["bob"] and q["response_type"] == ["code"]
    assert [n for n in h.set_cookies(r) if n.startswith("jitprov_state_")]
    # The rest is an ordinary login that ends on the target.
    r = h.login(s, r.headers["Location"], "bob")
    assert r.status_code == 200, r.text[:300]
    assert r.url == target and r.json()["remote_user"] == "bob"
    assert s.cookies.get(SESSION_COOKIE)


def test_without_target_lands_on_site_root(site):
    s = h.client()
    r = initiate(site, s, iss=site.idp.issuer)
    q = auth_query(site, r)
    assert "login_hint" not in q
    r = h.login(s, r.headers["Location"], "alice")
    assert r.url == site.httpd.url("/"), r.trace


@pytest.mark.parametrize("params,logged", [
    ({"iss": "https://evil.example"}, "not a provider of this site"),
    ({"iss": "ISSUER", "target_link_uri": "https://evil.example/phish"}, "refused"),
    ({"iss": "ISSUER", "target_link_uri": "//evil.example/x"}, "refused"),
    ({"iss": "ISSUER", "target_link_uri": "javascript:alert(1)"}, "refused"),
    ({"iss": ["ISSUER", "ISSUER"]}, "iss missing, repeated or malformed"),
    ({"iss": "ISSUER", "login_hint": "a" * 300}, "login_hint"),
    ({"iss": "ISSUER", "target_link_uri": ["/a", "/b"]}, "target_link_uri"),
])
def test_bad_initiations_refused(site, params, logged):
    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        return site.idp.issuer if v == "ISSUER" else v
    s = h.client()
    r = initiate(site, s, **{k: fix(v) for k, v in params.items()})
    assert r.status_code == 400, (r.status_code, r.headers.get("Location"))
    assert not [n for n in h.set_cookies(r) if n.startswith("jitprov_state_")]
    assert logged in h.logged_line(site.httpd, r)


def test_an_answer_is_not_an_initiation(site):
    """A GET with iss and state is the IdP's answer (RFC 9207), not a new
    login: with an unknown state it is refused as an answer."""
    r = initiate(site, h.client(), iss=site.idp.issuer, state="s" * 43, code="c")
    assert r.status_code == 400
    assert "state cookie" in h.logged_line(site.httpd, r)


@pytest.mark.parametrize("target", ["/callback?iss=ISSUER", "/logout", "/logout?return_to=/x",
                                    "/./callback?iss=ISSUER", "/app/../callback?iss=ISSUER"])
def test_target_cannot_be_the_modules_own_endpoints(site, target):
    """A login landing on the callback would start the next one (a loop while
    the IdP signs in silently); on the logout path it would end itself."""
    t = target.replace("ISSUER", urllib.parse.quote(site.idp.issuer, safe=""))
    r = initiate(site, h.client(), iss=site.idp.issuer, target_link_uri=t)
    assert r.status_code == 400
    assert "target_link_uri" in h.logged_line(site.httpd, r)


def test_initiation_by_post(site):
    """OIDC Dynamic Client Registration 2: initiate_login_uri takes POST too
    (a portal's auto-submitted form)."""
    s = h.client()
    r = s.post(site.httpd.url("/callback"), allow_redirects=False,
               data={"iss": site.idp.issuer, "target_link_uri": "/app/posted",
                     "login_hint": "carol"})
    q = auth_query(site, r)
    assert q["login_hint"] == ["carol"]
    r = h.login(s, r.headers["Location"], "carol")
    assert r.status_code == 200 and r.url == site.httpd.url("/app/posted"), r.trace
    # A POST that starts no login is not an answer in the query mode, nor
    # is one that is not a form, nor one with parameters in the address.
    r = h.client().post(site.httpd.url("/callback"), data={"target_link_uri": "/x"},
                        allow_redirects=False)
    assert r.status_code == 405
    r = h.client().post(site.httpd.url("/callback"), json={"iss": site.idp.issuer},
                        allow_redirects=False)
    assert r.status_code == 405
    assert not [n for n in h.set_cookies(r) if n.startswith("jitprov_state_")]
    r = h.client().post(site.httpd.url("/callback?iss=x"), data={"iss": site.idp.issuer},
                        allow_redirects=False)
    assert r.status_code == 405


def test_head_starts_nothing(site):
    r = h.client().head(site.httpd.url("/callback"), allow_redirects=False,
                        params={"iss": site.idp.issuer})
    assert r.status_code == 400
    assert not [n for n in h.set_cookies(r) if n.startswith("jitprov_state_")]


def test_login_hint_replaces_the_configured_one(env):
    """OIDC Core 4: a login_hint the third party gives MUST reach the IdP,
    in place of one JITProvAuthRequestParams sends."""
    env.httpd.stop()
    env.httpd.start(env.standard_config(
        server_extra='JITProvAuthRequestParams "login_hint=someone&prompt=login"'))
    try:
        r = initiate(env, h.client(), iss=env.idp.issuer, login_hint="dave")
        q = auth_query(env, r)
        assert q["login_hint"] == ["dave"] and q["prompt"] == ["login"]
        r = initiate(env, h.client(), iss=env.idp.issuer)
        assert auth_query(env, r)["login_hint"] == ["someone"]
    finally:
        env.httpd.stop()
