"""JITProvUnauthAction and the Require providers jitprov-group / jitprov-claim."""
import pytest
import requests

import jitprov_harness as h


def site_config(env):
    # Under /x (an unprotected echo CGI): areas that combine the providers.
    return env.standard_config(locations_extra=f"""
<Location /x/passgrp>
    AuthType jitprov
    JITProvUnauthAction pass
    Require jitprov-group admins
</Location>
<Location /x/anyof>
    AuthType jitprov
    <RequireAny>
        Require jitprov-group admins
        Require jitprov-claim department:sales
    </RequireAny>
</Location>
<Location /x/notcontractor>
    AuthType jitprov
    <RequireAll>
        Require valid-user
        Require not jitprov-group contractors
    </RequireAll>
</Location>
<Location /x/user>
    AuthType jitprov
    JITProvRemoteUser claim:preferred_username
    Require user bob
</Location>
<Location /x/iss>
    AuthType jitprov
    Require jitprov-claim iss:{env.idp.issuer}
</Location>
<Location /x/issprefix>
    AuthType jitprov
    Require jitprov-claim iss:http://127.0.0.1
</Location>
<Location /x/finance>
    AuthType jitprov
    Require jitprov-claim groups:finance
</Location>
<Location /x/number>
    AuthType jitprov
    Require jitprov-claim exp~^[0-9]+$
</Location>
<Location /x/ns>
    AuthType jitprov
    Require jitprov-claim https://example.com/roles:editor
</Location>
<Location /x/nsre>
    AuthType jitprov
    Require jitprov-claim https://example.com/roles~^view
</Location>
""")


@pytest.fixture(scope="module")
def users(site):
    jars = {}
    for u in ("alice", "bob", "carol", "dave", "erin", "nora"):
        sess = requests.Session()
        assert h.login(sess, site.httpd.url("/app/"), u).status_code == 200
        jars[u] = sess
    yield jars
    for sess in jars.values():
        sess.close()


def test_unauth_auth_redirects(site, s):
    r = s.get(site.httpd.url("/app/"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])


@pytest.mark.parametrize("path,status", [("/api401/x", 401), ("/api403/x", 403)])
def test_unauth_status(site, s, path, status):
    r = s.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == status
    assert "Location" not in r.headers
    assert not h.state_cookies(s)  # no login attempt started
    # RFC 9110 15.5.2: a 401 carries a challenge; a 403 has no use for one.
    assert r.headers.get("WWW-Authenticate") == ("jitprov" if status == 401 else None)


@pytest.mark.parametrize("method,path,headers", [
    ("GET", "/app/x", {"X-Requested-With": "XMLHttpRequest"}),
    ("POST", "/app/x", {"X-Requested-With": "XMLHttpRequest"}),
    # fetch() and sub-resources: a browser marks them as no navigation
    ("GET", "/app/x", {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}),
    ("GET", "/app/x.png", {"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}),
    ("POST", "/app/x", {"Sec-Fetch-Mode": "same-origin", "Sec-Fetch-Dest": "empty"}),
    ("GET", "/app/ws", {"Sec-Fetch-Mode": "websocket"}),
    ("POST", "/api401/x", {}),
    ("GET", "/x/passgrp/", {}),  # pass, then a Require line needs a user: httpd's 401
])
def test_every_401_carries_a_challenge(site, s, method, path, headers):
    r = s.request(method, site.httpd.url(path), headers=headers, data={"a": "1"},
                  allow_redirects=False)
    assert r.status_code == 401, (r.status_code, r.text[:200])
    assert r.headers.get("WWW-Authenticate") == "jitprov", r.headers
    assert "Location" not in r.headers
    assert not h.state_cookies(s)


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    {"Sec-Fetch-Mode": "NAVIGATE"},
    {},  # no fetch metadata at all: an older browser or a plain client
])
def test_navigation_starts_a_login(site, s, headers):
    r = s.get(site.httpd.url("/app/x"), headers=headers, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])
    assert h.state_cookies(s)


def test_unauth_pass(site, s):
    r = s.get(site.httpd.url("/maybe/x"), allow_redirects=False)
    assert r.status_code == 200
    j = r.json()
    assert j["remote_user"] in (None, "")
    assert not any(k.startswith("HTTP_X_USER_") for k in j["http"])
    assert not any(k.startswith("JITPROV_CLAIM_") for k in j["jitprov"])


@pytest.mark.parametrize("path", ["/api401/x", "/api403/x", "/maybe/x"])
def test_with_session_identity_flows(site, users, path):
    r = users["bob"].get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 200
    j = r.json()
    assert j["remote_user"] == "bob"
    assert j["http"]["HTTP_X_USER_EMAIL"] == "bob@example.com"


@pytest.mark.parametrize("user,path,status", [
    ("alice", "/admins/", 200),
    ("bob", "/admins/", 403),
    ("dave", "/admins/", 403),
    ("erin", "/admins/", 403),        # no groups claim at all
    ("alice", "/verified/", 200),
    ("bob", "/verified/", 200),
    ("carol", "/verified/", 403),     # email_verified: false
    ("erin", "/verified/", 403),      # no email_verified claim
    ("alice", "/corp/", 200),
    ("carol", "/corp/", 200),
    ("dave", "/corp/", 403),          # @partner.example.org
    ("erin", "/corp/", 403),          # no email
    ("alice", "/dept/", 200),
    ("bob", "/dept/", 403),
])
def test_require(site, users, user, path, status):
    r = users[user].get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == status, (user, path, r.status_code)
    if status == 200:
        assert r.json()["remote_user"] == user


def test_denied_without_session_logs_in_first(site, s):
    # No session: authz needs a user, so the module starts a login (not a 403).
    r = s.get(site.httpd.url("/admins/"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])


@pytest.mark.parametrize("user,path,status", [
    ("alice", "/x/passgrp/", 200),
    ("bob", "/x/passgrp/", 403),
    ("alice", "/x/anyof/", 200),       # admins
    ("bob", "/x/anyof/", 200),         # department sales
    ("carol", "/x/anyof/", 403),
    ("alice", "/x/notcontractor/", 200),
    ("dave", "/x/notcontractor/", 403),
    ("bob", "/x/user/", 200),          # mod_authz_user's provider on our REMOTE_USER
    ("alice", "/x/user/", 403),
    ("erin", "/x/iss/", 200),          # the value is everything after the first colon
    ("erin", "/x/issprefix/", 403),    # exact, not a prefix
    ("carol", "/x/finance/", 200),     # one element of an array
    ("alice", "/x/finance/", 403),
    ("bob", "/x/number/", 200),        # a number compares as its JSON text
    # a claim named by a URL: the separator comes after the host
    ("nora", "/x/ns/", 200),
    ("bob", "/x/ns/", 403),
    ("nora", "/x/nsre/", 200),
    ("bob", "/x/nsre/", 403),
])
def test_require_combined(site, users, user, path, status):
    r = users[user].get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == status, (user, path, r.status_code)
    if status == 200:  # REMOTE_USER is the sub where JITProvRemoteUser is not set
        assert r.json()["remote_user"] in (user, h.USER_CLAIMS[user]["sub"])
    else:
        assert "WWW-Authenticate" not in r.headers


@pytest.mark.parametrize("path", ["/x/anyof/", "/x/notcontractor/", "/x/user/", "/x/iss/"])
def test_combined_without_session_logs_in_first(site, s, path):
    r = s.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])
