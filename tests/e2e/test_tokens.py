"""Access tokens for the backend (JITProvPassAccessToken): a separate IdP
client that gets refresh tokens; the token handed over as a header, the
Authorization header or an environment variable is accepted by the IdP's
userinfo endpoint; refresh before expiry (JITProvRefreshMargin); a failed
refresh ends the session (JITProvRefreshFailure end|auth); spoofed token
headers are stripped; no token in any log."""
import requests

import pytest

import jitprov_harness as h

REFRESH_CLIENT = "jitprov-e2e-refresh"

TOKEN_LOCATIONS = """
<Location /app/tok-header>
    JITProvPassAccessToken header
</Location>
<Location /app/tok-env>
    JITProvPassAccessToken env
</Location>
<Location /app/tok-both>
    JITProvPassAccessToken both
    JITProvAccessTokenHeader X-Api-Token
</Location>
<Location /proxied/authz>
    JITProvPassAccessToken header
    JITProvAccessTokenHeader Authorization
</Location>
"""


@pytest.fixture(scope="module")
def tok_site(site):
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = original + [site.client(client_id=REFRESH_CLIENT)]
    site.idp.extra = {"refresh_token_clients": [REFRESH_CLIENT]}
    site.idp.restart()
    yield site
    site.idp.clients = original
    site.idp.extra = {}
    site.idp.restart()
    site.httpd.stop()
    site.httpd.start(site.standard_config())


def start(env, extra=""):
    text = env.standard_config(server_extra=extra, locations_extra=TOKEN_LOCATIONS)
    text = text.replace(f"JITProvClientID {env.client_id}\n", f"JITProvClientID {REFRESH_CLIENT}\n")
    env.httpd.stop()
    env.httpd.start(text)


def userinfo(env, token):
    return requests.get(env.idp.discovery()["userinfo_endpoint"],
                        headers={"Authorization": "Bearer " + token}, timeout=10)


def token_requests(env):
    return env.idp.stats().get("/token", 0)


def test_header_env_and_authorization(tok_site, s):
    start(tok_site)
    assert h.login(s, tok_site.httpd.url("/app/first"), "alice").status_code == 200
    before = token_requests(tok_site)
    j = s.get(tok_site.httpd.url("/app/tok-header/x")).json()
    at = j["http"]["HTTP_X_ACCESS_TOKEN"]
    ui = userinfo(tok_site, at)
    assert ui.status_code == 200 and ui.json()["sub"] == h.USER_CLAIMS["alice"]["sub"]
    # Not on locations that do not ask for it.
    assert "HTTP_X_ACCESS_TOKEN" not in s.get(tok_site.httpd.url("/app/plain")).json()["http"]
    env = s.get(tok_site.httpd.url("/app/tok-env/x")).json()["jitprov"]
    assert env["JITPROV_ACCESS_TOKEN"] == at
    assert int(env["JITPROV_ACCESS_TOKEN_EXPIRES"]) > 0
    both = s.get(tok_site.httpd.url("/app/tok-both/x")).json()
    assert both["http"]["HTTP_X_API_TOKEN"] == at and both["jitprov"]["JITPROV_ACCESS_TOKEN"] == at
    r = s.get(tok_site.httpd.url("/proxied/authz"), headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert h.header_values(r, "Authorization") == [b"Bearer " + at.encode()]
    # Far from expiry: no refresh.
    assert token_requests(tok_site) == before


def test_tokens_stay_server_side(tok_site, s):
    """A session holding tokens keeps its record on the server (the cookie only
    refers to it): the record survives a full restart, and the cookie of a
    session without tokens is the whole record."""
    start(tok_site)
    assert h.login(s, tok_site.httpd.url("/app/srv"), "alice").status_code == 200
    assert h.wait_for_log(tok_site.httpd, "JITPROV0233")
    stub = s.cookies.get(h.SESSION_COOKIE)
    at = s.get(tok_site.httpd.url("/app/tok-header/x")).json()["http"]["HTTP_X_ACCESS_TOKEN"]
    tok_site.httpd.restart_full()
    j = s.get(tok_site.httpd.url("/app/tok-header/y")).json()
    assert j["http"]["HTTP_X_ACCESS_TOKEN"] == at
    # Without JITProvPassAccessToken anywhere the same login fits the cookie,
    # which is then larger than the stub that only names the record.
    tok_site.httpd.stop()
    tok_site.httpd.start(tok_site.standard_config())
    s2 = requests.Session()
    assert h.login(s2, tok_site.httpd.url("/app/srv"), "alice").status_code == 200
    assert not h.wait_for_log(tok_site.httpd, "JITPROV0233", timeout=0.5)
    assert len(s2.cookies.get(h.SESSION_COOKIE)) > len(stub)


def test_spoofed_token_headers_are_stripped(tok_site, s):
    start(tok_site)
    forged = {"X-Access-Token": "forged", "X-Api-Token": "forged"}
    r = s.get(tok_site.httpd.url("/public-proxied/x"), headers=forged)
    assert h.header_values(r, "X-Access-Token") == [] and h.header_values(r, "X-Api-Token") == []
    assert h.login(s, tok_site.httpd.url("/app/spoof"), "bob").status_code == 200
    j = s.get(tok_site.httpd.url("/app/plain"), headers=forged).json()
    assert "HTTP_X_ACCESS_TOKEN" not in j["http"] and "HTTP_X_API_TOKEN" not in j["http"]
    j = s.get(tok_site.httpd.url("/app/tok-header/x"), headers=forged).json()
    assert j["http"]["HTTP_X_ACCESS_TOKEN"] != "forged"


def test_refresh_before_expiry(tok_site, s):
    # A margin longer than the token's life: every use refreshes.
    start(tok_site, "JITProvRefreshMargin 86400")
    assert h.login(s, tok_site.httpd.url("/app/refresh"), "carol").status_code == 200
    before = token_requests(tok_site)
    a = s.get(tok_site.httpd.url("/app/tok-header/1")).json()["http"]["HTTP_X_ACCESS_TOKEN"]
    b = s.get(tok_site.httpd.url("/app/tok-header/2")).json()["http"]["HTTP_X_ACCESS_TOKEN"]
    assert a != b
    assert token_requests(tok_site) == before + 2
    for t in (a, b):
        ui = userinfo(tok_site, t)
        assert ui.status_code == 200 and ui.json()["sub"] == h.USER_CLAIMS["carol"]["sub"]
    assert h.wait_for_log(tok_site.httpd, "JITPROV0371")


@pytest.mark.parametrize("action", ["end", "auth"])
def test_failed_refresh_ends_session(tok_site, s, action):
    start(tok_site, f"JITProvRefreshMargin 86400\nJITProvRefreshFailure {action}")
    assert h.login(s, tok_site.httpd.url("/app/fail"), "dave").status_code == 200
    old = s.cookies.get(h.SESSION_COOKIE)
    # The IdP forgets every refresh token it issued (in-memory store).
    tok_site.idp.restart()
    r = s.get(tok_site.httpd.url("/app/tok-header/x"), allow_redirects=False)
    cleared = h.set_cookies(r).get(h.SESSION_COOKIE)
    assert cleared and h.is_clearing(*cleared)
    if action == "end":
        assert r.status_code == 401, r.text[:300]
        assert h.error_ref(r)
    else:
        assert r.status_code == 302
        assert r.headers["Location"].startswith(tok_site.idp.issuer)
    assert h.wait_for_log(tok_site.httpd, "JITPROV0372")
    assert h.wait_for_log(tok_site.httpd, "JITPROV0374")
    # The session is gone on the server too: the old cookie no longer works.
    r = requests.get(tok_site.httpd.url("/api401/"), allow_redirects=False,
                     cookies={h.SESSION_COOKIE: old})
    assert r.status_code == 401


def test_tokens_never_logged(tok_site, s):
    start(tok_site, "JITProvRefreshMargin 86400")
    assert h.login(s, tok_site.httpd.url("/app/log"), "erin").status_code == 200
    seen = set()
    for i in range(2):
        seen.add(s.get(tok_site.httpd.url(f"/app/tok-header/{i}")).json()["http"][
            "HTTP_X_ACCESS_TOKEN"])
    logs = open(tok_site.httpd.error_log).read() + open(tok_site.httpd.access_log).read()
    for t in seen:
        assert t not in logs


@pytest.mark.parametrize("snippet,directive", [
    ("<Location /bad>\n JITProvPassAccessToken maybe\n</Location>", "JITProvPassAccessToken"),
    ("<Location /bad>\n JITProvAccessTokenHeader Cookie\n</Location>", "JITProvAccessTokenHeader"),
    ("<Location /bad>\n JITProvAccessTokenHeader \"X Bad\"\n</Location>",
     "JITProvAccessTokenHeader"),
    ("JITProvRefreshMargin -5", "JITProvRefreshMargin"),
    ("JITProvRefreshMargin soon", "JITProvRefreshMargin"),
    ("JITProvRefreshFailure never", "JITProvRefreshFailure"),
])
def test_bad_token_directives(env, snippet, directive):
    r = env.httpd.configtest(env.standard_config(locations_extra=snippet))
    assert r.returncode != 0
    assert directive in r.stderr + r.stdout, r.stderr
