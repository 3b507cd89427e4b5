"""Client options against the real IdP: token endpoint authentication methods,
HS256 ID tokens MACed with the client secret, JITProvUserInfo, ErrorDocument."""
import pytest

import jitprov_harness as h


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


def restart_httpd(site, server_extra="", locations_extra=""):
    site.httpd.stop()
    site.httpd.start(site.standard_config(server_extra=server_extra,
                                          locations_extra=locations_extra))


def test_client_secret_post(site, s, idp_client):
    idp_client(token_endpoint_auth_method="client_secret_post")
    restart_httpd(site, "JITProvTokenEndpointAuth client_secret_post")
    try:
        r = h.login(s, site.httpd.url("/app/post"), "alice")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["remote_user"] == "alice"
    finally:
        restart_httpd(site)


def test_wrong_client_secret_is_a_clear_502(site, s):
    restart_httpd(site, "JITProvClientSecret not-the-secret-the-idp-knows")
    try:
        cb = h.login(s, site.httpd.url("/app/wrong-secret"), "alice", stop_at_callback=True)
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert h.error_ref(r)
        assert "jitprov_session" not in h.set_cookies(r)
        assert h.wait_for_log(site.httpd, "invalid_client")
    finally:
        restart_httpd(site)


def test_hs256_id_token(site, s, idp_client):
    # HS256 needs a secret of at least 256 bits at the IdP.
    secret = "hs256-" + "k" * 58
    idp_client(id_token_signed_response_alg="HS256", client_secret=secret)
    restart_httpd(site, "JITProvClientSecret " + secret)
    try:
        cb = h.login(s, site.httpd.url("/app/hs"), "bob", stop_at_callback=True)
        assert site.idp.stats()  # the IdP is up
        r = h.follow(s, s.get(cb, allow_redirects=False))
        assert r.status_code == 200, r.text[:300]
        assert r.json()["remote_user"] == "bob"
    finally:
        restart_httpd(site)


def test_userinfo_is_fetched_and_merged(site, s):
    restart_httpd(site, "JITProvUserInfo On")
    try:
        before = site.idp.stats().get("/me", 0)
        r = h.login(s, site.httpd.url("/app/ui"), "dave")
        assert r.status_code == 200, r.text[:300]
        assert site.idp.stats().get("/me", 0) == before + 1
        assert r.json()["http"]["HTTP_X_USER_EMAIL"] == "dave@partner.example.org"
    finally:
        restart_httpd(site)


def test_error_document_is_honoured(site, s):
    restart_httpd(site, "ErrorDocument 400 /public/bad-request-page")
    try:
        r = s.get(site.httpd.url("/callback?state=" + "A" * 43 + "&code=x"),
                  allow_redirects=False)
        assert r.status_code == 400
        j = r.json()  # the CGI backend served the ErrorDocument, not our page
        assert j["script_name"].startswith("/public")
    finally:
        restart_httpd(site)
