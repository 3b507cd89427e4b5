"""Access regexes and line breaks (issue 9, item 1): JITProvRequireClaim and
`Require jitprov-claim name~regex` are compiled without httpd's default DOTALL,
and a claim carrying a control character never passes them. Each refusal is a
clear 403 page and writes nothing but the refusal's audit row."""
import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

# Users the IdP gets for this module (one IdP restart for all of them).
CRAFTED = {
    # The reviewer's example: "^.*@example\.com$" with DOTALL matched this.
    "nlmail": {"sub": "u-0e0a0000-0000-4000-8000-00000000e001",
               "email": "x@evil.org\n@example.com", "email_verified": True,
               "name": "Newline Mail", "preferred_username": "nlmail", "groups": ["staff"]},
    # The old docs' example "@example\.com$" admits this one.
    "atmail": {"sub": "u-0e0a0000-0000-4000-8000-00000000e002",
               "email": "x@evil.org@example.com", "email_verified": True,
               "name": "At Mail", "preferred_username": "atmail", "groups": ["staff"]},
    # A group element with a line break in front of an allowed name.
    "nlgroup": {"sub": "u-0e0a0000-0000-4000-8000-00000000e003",
                "email": "nlgroup@example.com", "email_verified": True,
                "name": "Newline Group", "preferred_username": "nlgroup",
                "groups": ["evil\nstaff"]},
    # A trailing newline: '$' must not match before it.
    "nltail": {"sub": "u-0e0a0000-0000-4000-8000-00000000e004",
               "email": "nltail@example.com\n", "email_verified": True,
               "name": "Newline Tail", "preferred_username": "nltail", "groups": ["staff"]},
}


@pytest.fixture(scope="module")
def crafted_users(env):
    added = [u for u in CRAFTED if env.idp.users.get(u) != CRAFTED[u]]
    if added:
        env.idp.users.update(CRAFTED)
        env.idp.restart()
    h.USER_CLAIMS.update(CRAFTED)
    return CRAFTED


class TestGates:
    @pytest.fixture(scope="class")
    def prov(self, env, crafted_users):
        db = h.SqliteDb(env.httpd)
        site = h.ProvSite(env, db).start(
            'JITProvRequireClaim email "^.*@example\\.com$"\n'
            'JITProvRequireClaim email "^[^@]+@example\\.com$"\n'
            'JITProvRequireClaim groups "^.*staff$"')
        yield site
        env.httpd.stop()

    @pytest.mark.parametrize("user", ["nlmail", "atmail", "nlgroup", "nltail"])
    def test_crafted_claim_refused_nothing_created(self, prov, user):
        n_acc, n_audit = prov.counts()
        with requests.Session() as sess:
            r = h.login(sess, prov.url("/app/"), user)
            assert r.status_code == 403, (user, r.status_code, r.text[:300])
            assert "access policy" in r.text
            ref = h.error_ref(r)
            assert ref
            assert sess.cookies.get(SESSION_COOKIE) is None
        assert prov.account(user) is None
        assert prov.counts() == (n_acc, n_audit + 1), "only the refusal's audit row"
        row = prov.audit("id = (SELECT max(id) FROM jitprov_audit)")[0]
        assert row["event"] == "refuse" and row["corr_id"] == ref
        assert '"gate"' in row["detail"]
        assert h.wait_for_log(prov.httpd, f"[ref {ref}]")
        if user != "atmail":
            log = prov.httpd.log_since_start()
            assert "carries a control character" in log

    def test_plain_address_still_passes(self, prov):
        with requests.Session() as sess:
            r = h.login(sess, prov.url("/app/"), "alice")
            assert r.status_code == 200
        assert prov.account("alice")["status"] == "active"


class TestRequire:
    """/corp is `Require jitprov-claim email~^.*@example\\.com$` (the standard
    site), /x here `Require jitprov-claim groups~^.*staff$`."""

    @pytest.fixture(scope="class")
    def site2(self, env, crafted_users):
        env.httpd.start(env.standard_config(locations_extra=h.protected(
            "/x", require="Require jitprov-claim groups~^.*staff$")))
        yield env
        env.httpd.stop()

    @pytest.mark.parametrize("user,path", [("nlmail", "/corp/"), ("nltail", "/corp/"),
                                           ("nlgroup", "/x/")])
    def test_control_character_denied(self, site2, user, path):
        with requests.Session() as sess:
            r = h.login(sess, site2.httpd.url("/app/"), user)
            assert r.status_code == 200
            r = sess.get(site2.httpd.url(path), allow_redirects=False)
            assert r.status_code == 403, (user, path, r.status_code)
            assert "not allowed to see this page" in r.text
        assert h.wait_for_log(site2.httpd, "JITPROV0580")

    def test_plain_address_allowed(self, site2):
        with requests.Session() as sess:
            assert h.login(sess, site2.httpd.url("/app/"), "alice").status_code == 200
            assert sess.get(site2.httpd.url("/corp/"), allow_redirects=False).status_code == 200
