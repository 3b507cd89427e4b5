"""Incoming headers named like a configured JITProvHeader (any case, "-" and "_"
alike) never reach the backend, on protected and unprotected paths alike."""
import http.client
import json

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS

SPOOF = "spoofed@evil.example"


def site_config(env):
    # A prefix on top of the mapped names, and an ErrorDocument for a request
    # that httpd refuses before it walks the config (400 on %00): its target
    # is a JITProvUnauthAction pass location, so the module's authn runs there.
    return env.standard_config(server_extra="JITProvHeaderPrefix X-Remote-",
                               locations_extra="ErrorDocument 400 /maybe/bad-request")
NAMES = [
    "X-User-Email", "x-user-email", "X-USER-EMAIL", "X_User_Email", "X-User_Email",
    "x_user-email", "X-User-Groups", "x-user_groups", "X-User-Name", "X_USER_NAME",
]


@pytest.fixture(scope="module")
def alice(site):
    with requests.Session() as sess:
        assert h.login(sess, site.httpd.url("/app/"), "alice").status_code == 200
        yield sess


def no_spoof_in_proxy(r):
    assert r.status_code == 200, (r.status_code, r.text[:300])
    for k, v in h.raw_headers(r):
        assert b"spoofed" not in v and v != b"evil", (k, v)


def no_spoof_in_cgi(r):
    assert r.status_code == 200, (r.status_code, r.text[:300])
    for k, v in r.json()["http"].items():
        assert "spoofed" not in v and v != "evil", k


@pytest.mark.parametrize("name", NAMES)
def test_unprotected_proxy(site, s, name):
    r = s.get(site.httpd.url("/public-proxied/x"), headers={name: SPOOF})
    no_spoof_in_proxy(r)


@pytest.mark.parametrize("name", NAMES)
def test_unprotected_cgi(site, s, name):
    r = s.get(site.httpd.url("/public/x"), headers={name: SPOOF})
    no_spoof_in_cgi(r)


@pytest.mark.parametrize("name", NAMES)
def test_unprotected_root(site, s, name):
    # Not a backend, but the module must not choke on it either.
    assert s.get(site.httpd.url("/"), headers={name: SPOOF}).status_code == 200


@pytest.mark.parametrize("name", NAMES)
def test_pass_without_session(site, s, name):
    r = s.get(site.httpd.url("/maybe/x"), headers={name: SPOOF}, allow_redirects=False)
    no_spoof_in_cgi(r)
    assert r.json()["remote_user"] in (None, "")


@pytest.mark.parametrize("name", NAMES)
def test_protected_proxy(site, alice, name):
    r = alice.get(site.httpd.url("/proxied/x"), headers={name: SPOOF}, allow_redirects=False)
    no_spoof_in_proxy(r)
    # The module's own value arrives, once.
    assert h.header_values(r, "X-User-Email") == [b"alice@example.com"]
    assert h.header_values(r, "X-User-Groups") == [b"staff,admins"]
    assert h.header_values(r, "X-User-Name") == [b"Alice Anderson"]


@pytest.mark.parametrize("name", NAMES)
def test_protected_cgi(site, alice, name):
    r = alice.get(site.httpd.url("/app/x"), headers={name: SPOOF}, allow_redirects=False)
    no_spoof_in_cgi(r)
    assert r.json()["http"]["HTTP_X_USER_EMAIL"] == USER_CLAIMS["alice"]["email"]


def test_many_spoofs_at_once(site, alice):
    # Several spellings in one request (requests folds case, so use distinct spellings).
    hdrs = {"X-User-Email": SPOOF, "X_User_Email": SPOOF, "X-User_Groups": "evil",
            "X-USER-NAME": "evil"}
    r = alice.get(site.httpd.url("/proxied/x"), headers=hdrs, allow_redirects=False)
    no_spoof_in_proxy(r)
    assert h.header_values(r, "X-User-Email") == [b"alice@example.com"]
    r = requests.get(site.httpd.url("/public-proxied/x"), headers=hdrs)
    no_spoof_in_proxy(r)
    for n in ("X-User-Email", "X-User-Groups", "X-User-Name"):
        assert h.header_values(r, n) == []


def test_unrelated_headers_untouched(site, alice):
    r = alice.get(site.httpd.url("/proxied/x"), headers={"X-User-Agentish": "keep",
                                                         "X-Users-Email": "keep"})
    assert h.header_values(r, "X-User-Agentish") == [b"keep"]
    assert h.header_values(r, "X-Users-Email") == [b"keep"]


# Internal redirects (mod_dir's DirectoryIndex, ErrorDocument) share headers_in
# with the first request and run the header parser again: the module's own
# headers must survive that, spoofed ones must not.

def test_directory_index_protected(site, alice):
    r = alice.get(site.httpd.url("/idx/"), headers={"X_User_Email": SPOOF},
                  allow_redirects=False)
    no_spoof_in_cgi(r)
    j = r.json()
    assert j["script_name"].endswith("index.cgi")
    assert j["remote_user"] == "alice"
    assert j["http"]["HTTP_X_USER_EMAIL"] == USER_CLAIMS["alice"]["email"]
    assert j["http"]["HTTP_X_USER_GROUPS"] == "staff,admins"


def test_directory_index_unprotected(site, s):
    r = s.get(site.httpd.url("/pubidx/"), headers={"X-User-Email": SPOOF},
              allow_redirects=False)
    no_spoof_in_cgi(r)
    assert r.json()["script_name"].endswith("index.cgi")


def test_error_document(site, s):
    r = s.get(site.httpd.url("/no-such-page"), headers={"X-User-Email": SPOOF},
              allow_redirects=False)
    assert r.status_code == 404
    j = r.json()  # the ErrorDocument is the CGI
    assert j["script_name"] == "/public"
    for k, v in j["http"].items():
        assert "spoofed" not in v, k


# httpd unescapes the URL before it walks the config and before the header
# parser: an encoded slash or NUL (404, AllowEncodedSlashes Off) or a bad
# escape (400) fails there and goes straight to the ErrorDocument, which
# shares headers_in.
EARLY_SPOOF = {"X-User-Email": SPOOF, "X-Remote-User": "admin", "X_Remote_Role": "evil",
               "x-user_groups": "evil"}
EARLY_FAILS = [("/a%2fb", 404, "/public"), ("/a%00b", 404, "/public"),
               # JITProvUnauthAction pass: the module's authn runs at the target.
               ("/a%zzb", 400, "/maybe")]


def raw_get(site, path, headers):
    # requests would re-encode "%zz" as "%25zz".
    conn = http.client.HTTPConnection("127.0.0.1", site.httpd.port, timeout=15)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def no_spoof_at_error_document(j):
    for k, v in j["http"].items():
        assert "spoofed" not in v and v not in ("admin", "evil"), (k, v)
        assert not k.startswith("HTTP_X_REMOTE"), k


@pytest.mark.parametrize("path,status,target", EARLY_FAILS)
def test_error_document_of_early_failure(site, path, status, target):
    code, j = raw_get(site, path, EARLY_SPOOF)
    assert code == status
    assert j["script_name"] == target
    assert j["remote_user"] in (None, "")
    no_spoof_at_error_document(j)


def test_error_document_after_login_keeps_own_headers(site, alice):
    # A logged-in user's request that fails early: the spoofed values go, and
    # the pass location still gets the module's own identity headers.
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    code, j = raw_get(site, "/a%zzb", dict(EARLY_SPOOF, Cookie=cookie))
    assert code == 400
    assert j["remote_user"] == "alice"
    assert j["http"]["HTTP_X_USER_EMAIL"] == USER_CLAIMS["alice"]["email"]
    no_spoof_at_error_document(j)


@pytest.mark.parametrize("name", ["X-Remote-User", "x_remote_user", "X-REMOTE-Whatever"])
def test_prefix_stripped(site, s, name):
    r = s.get(site.httpd.url("/public/x"), headers={name: "admin"})
    assert r.status_code == 200
    no_spoof_at_error_document(r.json())
