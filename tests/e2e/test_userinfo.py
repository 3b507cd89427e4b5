"""JITProvUserInfo On with userinfo as plain JSON or as a signed JWT
(application/jwt, OIDC Core 5.3.2): the real IdP signing it for a client
registered with userinfo_signed_response_alg, then a stand-in userinfo
endpoint answering every kind of bad response, each refused with 502, a
precise log line, no session and no account."""
import http.server
import json
import re
import threading

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS


@pytest.fixture
def idp_client(site):
    """Re-registers the test client at the IdP with other settings, then restores it."""
    original = [dict(c) for c in site.idp.clients]

    def apply(**over):
        site.idp.clients = [site.client(**over)]
        site.idp.restart()

    yield apply
    site.idp.clients = original
    site.idp.restart()


def restart_httpd(site, server_extra=""):
    site.httpd.stop()
    site.httpd.start(site.standard_config(server_extra=server_extra))


def test_signed_userinfo_from_the_idp(site, s, idp_client):
    # As LemonLDAP::NG does for a new RP: email, name, groups only in userinfo.
    idp_client(userinfo_signed_response_alg="RS256",
               test_userinfo_only_claims=["email", "name", "groups"])
    restart_httpd(site, "JITProvUserInfo On")
    try:
        r = h.login(s, site.httpd.url("/app/signed-userinfo"), "dave")
        assert r.status_code == 200, r.text[:300]
        got = r.json()["http"]
        assert got["HTTP_X_USER_EMAIL"] == "dave@partner.example.org"
        assert got["HTTP_X_USER_GROUPS"] == "contractors"
        assert h.wait_for_log(site.httpd,
                              "JITPROV0340: userinfo (application/jwt, signature verified) merged")
        # The completed login's timing counts the userinfo call.
        sub = USER_CLAIMS["dave"]["sub"]
        assert h.wait_for_log(site.httpd, f"JITPROV0311: login of sub={sub} complete in ")
        m = re.search(r"JITPROV0311: login of sub=" + re.escape(sub) + r" complete in [\d.]+ ms: "
                      r"token endpoint [\d.]+ ms, ID token check [\d.]+ ms, userinfo ([\d.]+) ms",
                      site.httpd.log_since_start())
        assert m and float(m.group(1)) > 0
    finally:
        restart_httpd(site)


class UserinfoStub:
    """A userinfo endpoint answering whatever the test sets: (status, type, body)."""

    def __init__(self):
        self.port = h.free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.answer = (200, "application/json", b"{}")
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                status, ctype, body, *extra = outer.answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stub(site):
    st = UserinfoStub()
    site.idp.override_discovery(userinfo_endpoint=st.origin + "/userinfo")
    restart_httpd(site, "JITProvUserInfo On")
    yield st
    site.idp.override_discovery()
    restart_httpd(site)
    st.stop()


def ui_claims(site, user, **over):
    c = {"iss": site.idp.issuer, "aud": site.client_id, "sub": USER_CLAIMS[user]["sub"],
         "email": "someone-else@example.com"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def idp_key(site):
    return site.idp.keys[0]


def signed(site, payload, key=None, alg="RS256"):
    key = key or idp_key(site)
    return h.sign_jwt(key, {"alg": alg, "kid": idp_key(site)["kid"], "typ": "JWT"}, payload)


USER = "judy"


def accounts_of(site, user):
    db = h.SqliteDb(site.httpd)
    try:
        return len(db.rows("SELECT id FROM jitprov_accounts WHERE sub = "
                           + h.lit(USER_CLAIMS[user]["sub"])))
    except Exception:  # no table yet: nothing written either
        return 0


def bad_answers(site):
    other = site.idp.genkey("RS256", idp_key(site)["kid"])
    jwt = "application/jwt"
    return [
        ("signed, wrong sub", (200, jwt, signed(site, ui_claims(site, USER, sub="u-someone-else"))),
         "signed userinfo sub is missing or not the ID token's sub"),
        ("signed, for another client", (200, jwt, signed(site, ui_claims(site, USER, aud="other"))),
         "token aud does not contain the client_id"),
        ("signed, other issuer", (200, jwt, signed(site, ui_claims(site, USER,
                                                                   iss="http://evil.example"))),
         "token iss does not match the issuer"),
        ("signed by another key", (200, jwt, signed(site, ui_claims(site, USER), key=other)),
         "token signature does not verify"),
        ("alg none", (200, jwt, h.unsigned_jwt({"alg": "none"}, ui_claims(site, USER)) + "AAAA"),
         'none" not allowed'),
        ("encrypted", (200, jwt, "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"),
         "userinfo is encrypted (JWE)"),
        ("JSON, wrong sub", (200, "application/json",
                             json.dumps(ui_claims(site, USER, sub="u-someone-else"))),
         "userinfo sub u-someone-else is not the ID token's sub"),
        ("JSON, no sub", (200, "application/json", json.dumps({"email": "x@example.com"})),
         "userinfo response has no sub"),
        ("HTML", (200, "text/html", "<html>login page</html>"),
         "is neither a JSON object nor application/jwt"),
        ("HTTP 401", (401, "application/json", '{"error":"invalid_token"}'),
         "userinfo endpoint answered HTTP 401"),
        # RFC 6750 3: the reason is in the header; a body may be empty.
        ("HTTP 401 with WWW-Authenticate", (401, "text/plain", "", {
            "WWW-Authenticate": 'Bearer error=invalid_token, realm="idp", '
                                'error_description="The access token expired\x01"'}),
         "answered HTTP 401 (WWW-Authenticate: Bearer error=invalid_token, realm="),
        ("over 128 KiB", (200, "application/json",
                          json.dumps(ui_claims(site, USER, pad="p" * (130 * 1024)))),
         "bytes is over 131072"),
        ("over 1 MiB", (200, "application/json",
                        json.dumps(ui_claims(site, USER, pad="p" * (1100 * 1024)))),
         "userinfo: response larger than 1 MiB from " + site.idp.discovery().get(
             "userinfo_endpoint", "")),
    ]


def test_bad_userinfo_is_refused_precisely(site, stub):
    before = accounts_of(site, USER)
    for what, (status, ctype, body, *extra), needle in bad_answers(site):
        stub.answer = (status, ctype, body.encode() if isinstance(body, str) else body, *extra)
        with h.requests.Session() as s:
            cb = h.login(s, site.httpd.url("/app/bad-userinfo"), USER, stop_at_callback=True)
            r = s.get(cb, allow_redirects=False)
            assert r.status_code == 502, (what, r.status_code, r.text[:300])
            ref = h.error_ref(r)
            assert ref, what
            assert SESSION_COOKIE not in h.set_cookies(r), what
            assert h.wait_for_log(site.httpd, f"[ref {ref}]"), what
            line = [l for l in site.httpd.log_since_start().splitlines() if f"[ref {ref}]" in l][0]
            assert "JITPROV0001" in line and needle in line, (what, line)
    assert accounts_of(site, USER) == before


def test_good_signed_userinfo_from_the_stub(site, stub, s):
    stub.answer = (200, "application/jwt; charset=utf-8",
                   signed(site, ui_claims(site, "ivan", email="ivan-ui@example.com")).encode())
    r = h.login(s, site.httpd.url("/app/stub-userinfo"), "ivan")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["http"]["HTTP_X_USER_EMAIL"] == "ivan-ui@example.com"
