"""An IdP over https, as every IdP in production is: a CA of its own named by
JITProvCAFile, the certificate's name checked, and the connection to the IdP
kept and reused by each httpd process (issue 8, item 6) rather than a TCP and
TLS handshake per login. A certificate the module does not trust, or one for
another name, ends the login with 502 and a log line that says why, before
anything is written."""
import os
import shutil
import subprocess

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS


@pytest.fixture(scope="module")
def tls(env):
    return h.make_tls(os.path.join(env.dir, "tls"))


@pytest.fixture(scope="module")
def tls_idp(env, tls):
    idp = h.IdP(os.path.join(env.dir, "tls-idp"), tls=tls)
    idp.clients = [env.client()]
    idp.users = dict(h.EXTRA_USERS)
    idp.start()
    yield idp
    idp.stop()


def start(env, metadata_url, ca=None):
    env.httpd.start(env.standard_config(metadata_url=metadata_url,
                                        server_extra=f'JITProvCAFile "{ca}"' if ca else ""),
                    fresh_db=True)


def browser(tls_idp):
    s = requests.Session()
    # The test's browser trusts the IdP's CA (and no REQUESTS_CA_BUNDLE).
    s.trust_env = False
    s.verify = tls_idp.verify
    return s


def accounts(env):
    db = h.SqliteDb(env.httpd)
    if not db.rows("SELECT name FROM sqlite_master WHERE name = 'jitprov_accounts'"):
        return []
    return db.rows("SELECT id FROM jitprov_accounts")


@pytest.fixture
def site(env, tls_idp, tls):
    start(env, tls_idp.discovery_url, tls["ca"])
    yield env
    env.httpd.stop()


def test_login_through_an_https_idp(site, tls_idp):
    assert tls_idp.issuer.startswith("https://")
    with browser(tls_idp) as s:
        r = h.login(s, site.httpd.url("/app/tls"), "alice")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["remote_user"] == "alice"
    rows = h.SqliteDb(site.httpd).rows(
        f"SELECT iss FROM jitprov_accounts WHERE sub = {h.lit(USER_CLAIMS['alice']['sub'])}")
    assert [x["iss"] for x in rows] == [tls_idp.issuer]


def test_connection_to_the_idp_is_reused_across_logins(site, tls_idp):
    users = ("alice", "bob", "dave", "erin", "alice", "bob", "dave", "erin")
    before = tls_idp.stats().get("_conns /token", 0)
    for u in users:
        with browser(tls_idp) as s:
            assert h.login(s, site.httpd.url("/app/tls"), u).status_code == 200
    st = tls_idp.stats()
    # The token requests of these logins came on connections httpd kept
    # open: one per child at most (the test's httpd runs 1 to 4), never one
    # per login.
    assert st["/token"] >= len(users)
    assert st["_conns /token"] - before <= 4, st


def test_untrusted_certificate_ends_the_login(env, tls_idp):
    # Without JITProvCAFile only the system's CAs are trusted.
    start(env, tls_idp.discovery_url)
    try:
        with browser(tls_idp) as s:
            r = s.get(env.httpd.url("/app/tls"), allow_redirects=False)
        assert r.status_code == 502
        assert "cannot be reached" in r.text
        assert h.wait_for_log(env.httpd, "provider metadata")
        log = env.httpd.log_since_start()
        assert "certificate" in log.lower(), log[-1500:]
        assert accounts(env) == []
    finally:
        env.httpd.stop()


def test_certificate_for_another_name_ends_the_login(env, tls_idp, tls):
    # The certificate names 127.0.0.1; reached as localhost it must not pass,
    # even from the trusted CA.
    start(env, tls_idp.discovery_url.replace("127.0.0.1", "localhost"), tls["ca"])
    try:
        with browser(tls_idp) as s:
            r = s.get(env.httpd.url("/app/tls"), allow_redirects=False)
        assert r.status_code == 502
        assert h.wait_for_log(env.httpd, "provider metadata")
        log = env.httpd.log_since_start()
        assert "localhost" in log and ("subject name" in log or "certificate" in log.lower()), \
            log[-1500:]
        assert accounts(env) == []
    finally:
        env.httpd.stop()


@pytest.mark.parametrize("field", ["jwks_uri", "token_endpoint", "end_session_endpoint"])
def test_plain_http_endpoint_of_an_https_issuer_is_refused(env, tls_idp, tls, field):
    # OIDC Discovery 1.0, 3: the endpoints use https. The document came over
    # TLS, but the keys or the code and secret would not: refused, even on
    # loopback, before any login starts.
    url = tls_idp.discovery()[field]
    assert url.startswith("https://")
    tls_idp.override_discovery(**{field: "http://" + url[len("https://"):]})
    start(env, tls_idp.discovery_url, tls["ca"])
    try:
        with browser(tls_idp) as s:
            r = s.get(env.httpd.url("/app/tls"), allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert h.error_ref(r)
        assert h.wait_for_log(env.httpd, "JITPROV0905")
        line = [l for l in env.httpd.log_since_start().splitlines() if "JITPROV0905" in l][0]
        assert field in line and "http://" + url[len("https://"):] in line, line
        assert accounts(env) == []
    finally:
        tls_idp.override_discovery()
        env.httpd.stop()


def own_system_ca_dir(certdir):
    """A prefix for httpd's command line: a mount namespace of its own in which
    /etc/ssl/certs (libcurl's built-in CA directory on Debian) is certdir."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/ssl/certs && exec "$@"', certdir]


def test_ca_file_is_the_only_trust(env, tls_idp, tls):
    # JITProvCAFile names the CAs the IdP is checked against, and only those:
    # a CA the system store holds must not vouch for the IdP as well. Here,
    # in httpd's own mount namespace, the system CA directory holds the IdP's
    # CA while JITProvCAFile names another one.
    d = os.path.join(env.dir, "tls-capath")
    certdir = os.path.join(d, "certs")
    os.makedirs(certdir, exist_ok=True)
    shutil.copy(tls["ca"], os.path.join(certdir, "idp-ca.pem"))
    subprocess.run(["openssl", "rehash", certdir], check=True, capture_output=True)
    wrap = own_system_ca_dir(certdir)
    if subprocess.run([*wrap, "true"], capture_output=True).returncode != 0:
        pytest.skip("no mount namespaces here (unshare -m)")
    other = h.make_tls(os.path.join(d, "other"), ca_name="another CA")
    env.httpd.start(env.standard_config(metadata_url=tls_idp.discovery_url,
                                        server_extra=f'JITProvCAFile "{other["ca"]}"'),
                    fresh_db=True, wrap=wrap)
    try:
        with browser(tls_idp) as s:
            r = s.get(env.httpd.url("/app/tls"), allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.headers.get("Location"))
        assert h.wait_for_log(env.httpd, "provider metadata")
        assert "certificate" in env.httpd.log_since_start().lower()
        assert accounts(env) == []
    finally:
        env.httpd.stop()
    # The same namespace, the IdP's CA in the file: trusted.
    env.httpd.start(env.standard_config(metadata_url=tls_idp.discovery_url,
                                        server_extra=f'JITProvCAFile "{tls["ca"]}"'),
                    wrap=wrap)
    try:
        with browser(tls_idp) as s:
            assert h.login(s, env.httpd.url("/app/tls"), "alice").status_code == 200
    finally:
        env.httpd.stop()
