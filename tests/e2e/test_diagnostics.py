"""Diagnostics a sysadmin can act on. The IdP here leaves email, name and
groups out of ID tokens (as LemonLDAP::NG does for a new RP: they come from
userinfo only). With JITProvUserInfo Off the login succeeds without them and
the module warns once per process and claim, naming the directive that reads
it; SetHandler jitprov-status at ?claims lists the claim names (never values)
the last logins carried, per issuer, and whether they came from the ID token
or only from userinfo."""
import re

import pytest

import jitprov_harness as h

STATUS = """
<Location /jitprov-status>
    SetHandler jitprov-status
    Require ip 127.0.0.1
</Location>
"""


def site_config(env):
    return env.standard_config(locations_extra=STATUS)


@pytest.fixture(scope="module", autouse=True)
def userinfo_only_idp(site):
    original = [dict(c) for c in site.idp.clients]
    site.idp.clients = [site.client(test_userinfo_only_claims=["email", "name", "groups"])]
    site.idp.restart()
    yield
    site.idp.clients = original
    site.idp.restart()


def restart_httpd(site, server_extra=""):
    site.httpd.stop()
    site.httpd.start(site.standard_config(server_extra=server_extra, locations_extra=STATUS))


def claims_view(site):
    r = h.requests.get(site.httpd.url("/jitprov-status?claims"))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Cache-Control"] == "no-store"
    return r.text


def warnings(site, needle):
    """(pid, line) of each JITPROV0341 line containing needle."""
    out = []
    for line in site.httpd.log_since_start().splitlines():
        if "JITPROV0341" in line and needle in line:
            out.append((re.search(r"\[pid (\d+)", line).group(1), line))
    return out


def test_missing_claims_are_named_once_per_process(site):
    for user in ("dave", "bob", "carol"):
        with h.requests.Session() as s:
            r = h.login(s, site.httpd.url("/app/diag"), user)
            assert r.status_code == 200, r.text[:300]
            got = r.json()
            # The login works; the mapped headers are simply absent.
            assert "HTTP_X_USER_EMAIL" not in got["http"]
            assert got["remote_user"] == user  # preferred_username is in the ID token
    needle = ("claim 'email' used by JITProvHeader X-User-Email is missing from the ID "
              "token; JITProvUserInfo is Off - the IdP may send it only in userinfo")
    assert h.wait_for_log(site.httpd, needle)
    seen = warnings(site, needle)
    pids = [p for p, _ in seen]
    assert len(pids) == len(set(pids)), seen  # once per process, not per login
    assert warnings(site, "claim 'groups' used by JITProvHeader X-User-Groups")
    assert warnings(site, "claim 'groups' used by Require jitprov-group (JITProvGroupsClaim)")
    assert warnings(site, "claim 'email' used by Require jitprov-claim email~")
    # Claims the token does carry are not complained about.
    assert not warnings(site, "claim 'preferred_username'")
    assert not warnings(site, "claim 'department'")

    view = claims_view(site)
    assert f"issuer {site.idp.issuer}: 3 logins" in view, view
    assert "  sub: 3 (3 / 0)" in view and "  preferred_username: 3 (3 / 0)" in view, view
    assert "  email:" not in view  # names only, and email never arrived
    assert "dave" not in view and "@" not in view  # no values


def test_claims_view_shows_userinfo_only_claims(site):
    restart_httpd(site, "JITProvUserInfo On")
    try:
        assert "issuer" not in claims_view(site)  # emptied by the restart
        with h.requests.Session() as s:
            r = h.login(s, site.httpd.url("/app/diag-ui"), "alice")
            assert r.status_code == 200
            assert r.json()["http"]["HTTP_X_USER_EMAIL"] == "alice@example.com"
        view = claims_view(site)
        assert f"issuer {site.idp.issuer}: 1 logins" in view, view
        assert "  email: 1 (0 / 1)" in view and "  groups: 1 (0 / 1)" in view, view
        assert "  sub: 1 (1 / 0)" in view, view
        assert not warnings(site, "claim 'email'")
        # The Prometheus view is unchanged.
        r = h.requests.get(site.httpd.url("/jitprov-status"))
        assert "jitprov_logins_total" in r.text and "issuer" not in r.text
    finally:
        restart_httpd(site)
