"""JITProvUnauthAction and the Require providers jitprov-group / jitprov-claim."""
import pytest
import requests

import jitprov_harness as h


@pytest.fixture(scope="module")
def users(site):
    jars = {}
    for u in ("alice", "bob", "carol", "dave", "erin"):
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
