"""JITProvAuthRequestParams: extra authorization request parameters (prompt,
max_age, acr_values, IdP hints) sent as given; max_age makes auth_time
required and checked (OIDC Core 2, 3.1.3.7 step 13)."""
import urllib.parse

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


@pytest.fixture
def site(env):
    yield env
    env.httpd.stop()


def test_params_reach_the_idp_and_login_works(site):
    site.httpd.start(site.standard_config(
        server_extra='JITProvAuthRequestParams "prompt=login&ui_locales=de%20en&max_age=600"'))
    s = h.client()
    r = s.get(site.httpd.url("/app/params"), allow_redirects=False)
    assert r.status_code == 302
    loc = r.headers["Location"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert q["prompt"] == ["login"] and q["ui_locales"] == ["de en"] and q["max_age"] == ["600"]
    # The module's own parameters are still there, once each.
    for k in ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
              "code_challenge", "code_challenge_method"):
        assert len(q[k]) == 1, (k, q)
    # The IdP honours max_age and puts auth_time into the ID token: login works.
    r = h.login(s, site.httpd.url("/app/params"), "bob")
    assert r.status_code == 200, r.text[:300]
    assert s.cookies.get(SESSION_COOKIE)


@pytest.mark.parametrize("value,needle", [
    ("state=abc", "state"),
    ("redirect_uri=https%3A%2F%2Fevil.example%2Fcb", "redirect_uri"),
    ("response_mode=form_post", "response_mode"),
    ('"prompt=select account"', "percent-encode"),
    ("prompt=login&prompt=none", "twice"),
    ("max_age=1h", "max_age"),
    ("prompt", "name=value"),
])
def test_bad_params_refused_at_configtest(env, value, needle):
    r = env.httpd.configtest(env.standard_config(
        server_extra=f"JITProvAuthRequestParams {value}"))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "JITProvAuthRequestParams" in out and needle in out, out
