"""Provisioning policies (tracker issue 3), each on SQLite and on PostgreSQL:
JITProvAccountCreate Off with pre-provisioned rows and JITProvLinkByEmail,
JITProvNewAccountStatus pending with jitprov-admin approve, JITProvRequireClaim
gates, JITProvAccountKey and JITProvAccountUpdate Off. Every refusal is a 403
page with a correlation id, no session, no account written, and one audit row
'refuse' carrying that correlation id."""
import json

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS, lit


def start_site(env, db, extra):
    return h.ProvSite(env, db).start(extra)


# What a client can say about its own address: the audit row must keep the
# TCP peer (no mod_remoteip, no JITProvTrustedProxy here).
FORGED_ADDRESS = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7",
                  "X-Real-IP": "203.0.113.7", "Client-IP": "203.0.113.7"}


def fresh_login(prov, user, path="/app/", headers=None):
    with requests.Session() as sess:
        sess.headers.update(headers or {})
        r = h.login(sess, prov.url(path), user)
        return r, sess.cookies.get(SESSION_COOKIE)


def detail(row):
    return json.loads(row["detail"]) if row["detail"] else {}


def refused(prov, user, text, reason, status=403):
    """Logs user in, expects a refusal page; returns (ref, the audit row)."""
    n_acc, n_audit = prov.counts()
    r, cookie = fresh_login(prov, user, headers=FORGED_ADDRESS)
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert text in r.text, r.text[:500]
    ref = h.error_ref(r)
    assert ref, r.text[:500]
    assert cookie is None and SESSION_COOKIE not in h.set_cookies(r)
    assert prov.counts() == (n_acc, n_audit + 1), "a refusal writes one audit row, nothing else"
    row = prov.audit("id = (SELECT max(id) FROM jitprov_audit)")[0]
    assert row["event"] == "refuse", row
    assert detail(row).get("reason") == reason, row
    assert row["corr_id"] == ref, (row, ref)
    assert row["client_ip"] == "127.0.0.1"
    assert h.wait_for_log(prov.httpd, f"[ref {ref}]"), "no log line for " + ref
    return ref, row


def admin_ok(db, *args):
    out = h.admin(db, *args)
    assert out.returncode == 0, (args, out.returncode, out.stdout, out.stderr)
    return out


class TestCreateOffLinkByEmail:
    @pytest.fixture(scope="class")
    def prov(self, env, db):
        site = start_site(env, db, "JITProvAccountCreate Off\nJITProvLinkByEmail On\n"
                                   "JITProvAccountRecheckInterval 1")
        yield site
        env.httpd.stop()

    def test_unknown_user_refused_nothing_created(self, prov):
        ref, row = refused(prov, "bob", "You do not have an account", "not_provisioned")
        assert row["sub"] == USER_CLAIMS["bob"]["sub"] and row["iss"] == prov.env.idp.issuer
        assert row["account_id"] is None
        assert prov.account("bob") is None
        # Again: still nothing.
        refused(prov, "bob", "You do not have an account", "not_provisioned")
        assert prov.accounts() == []

    def test_preprovisioned_email_links_at_first_login(self, prov):
        # The admin types the address with other capitals than the IdP sends.
        admin_ok(prov.db, "add", "--email", "Alice@Example.COM", "--username", "alice-pre",
                 "--name", "Pre Alice")
        pre = prov.accounts(f"lower(email) = {lit('alice@example.com')}")
        assert len(pre) == 1 and pre[0]["iss"] is None and pre[0]["sub"] is None
        assert pre[0]["source"] == "admin" and pre[0]["status"] == "active"
        assert prov.audit(f"account_id = {pre[0]['id']}")[0]["event"] == "create"

        r, cookie = fresh_login(prov, "alice")
        assert r.status_code == 200, r.text[:500]
        assert cookie
        row = prov.account("alice")
        assert row is not None and row["id"] == pre[0]["id"]
        assert row["iss"] == prov.env.idp.issuer
        assert row["username"] == "alice" and row["display_name"] == "Alice Anderson"
        assert row["login_count"] == 1 and row["status"] == "active"
        events = prov.audit(f"account_id = {row['id']}")
        assert [e["event"] for e in events] == ["create", "link"], events
        link = events[-1]
        assert link["sub"] == USER_CLAIMS["alice"]["sub"] and link["corr_id"]
        assert detail(link).get("by") == "email"
        assert h.account_headers(r)["id"] == str(row["id"])
        # Second login: found by (iss, sub); the same claims change nothing,
        # so only the counters move and no audit row is written.
        r, _ = fresh_login(prov, "alice")
        assert r.status_code == 200
        assert prov.account("alice")["login_count"] == 2
        assert [e["event"] for e in prov.audit(f"account_id = {row['id']}")] == ["create", "link"]
        assert len(prov.accounts()) == len(prov.accounts("1=1"))  # sanity
        assert len(prov.accounts(f"lower(email) = {lit('alice@example.com')}")) == 1

    @pytest.mark.parametrize("user", ["carol", "trudy", "una"])
    def test_unverified_email_does_not_link(self, prov, user):
        # carol: email_verified false; trudy: the string "true", not the
        # boolean; una: no email_verified claim at all.
        email = USER_CLAIMS[user]["email"]
        admin_ok(prov.db, "add", "--email", email)
        before = prov.accounts(f"email = {lit(email)}")
        ref, row = refused(prov, user, "not verified", "email_unverified")
        after = prov.accounts(f"email = {lit(email)}")
        assert after == before and after[0]["iss"] is None and after[0]["sub"] is None
        assert prov.account(user) is None

    def test_two_unlinked_rows_with_one_email_link_neither(self, prov):
        # jitprov-admin add refuses a second row for one address, but SQL (or
        # an application) can make two: the login must not pick one.
        email = USER_CLAIMS["ivan"]["email"]
        for spelling in (email, email.upper()):
            prov.db.execute("INSERT INTO jitprov_accounts (email, status, created_at, "
                            f"updated_at, source) VALUES ({lit(spelling)}, 'active', 1, 1, "
                            "'admin')")
        before = prov.accounts(f"lower(email) = {lit(email)}")
        assert len(before) == 2
        ref, row = refused(prov, "ivan", "You do not have an account", "email_ambiguous")
        assert row["account_id"] is None
        assert prov.accounts(f"lower(email) = {lit(email)}") == before
        assert prov.account("ivan") is None

    def test_preprovisioned_by_iss_and_sub(self, prov):
        admin_ok(prov.db, "add", "--iss", prov.env.idp.issuer, "--sub",
                 USER_CLAIMS["dave"]["sub"], "--username", "dave-pre")
        pre = prov.account("dave")
        r, _ = fresh_login(prov, "dave")
        assert r.status_code == 200, r.text[:500]
        row = prov.account("dave")
        assert row["id"] == pre["id"] and row["login_count"] == 1
        assert row["username"] == "dave" and row["display_name"] == USER_CLAIMS["dave"]["name"]
        assert prov.audit_of("dave")[-1]["event"] == "update"

    def test_disabled_preprovisioned_row_is_linked_but_refused(self, prov):
        admin_ok(prov.db, "add", "--email", "judy@example.com", "--status", "disabled")
        n_acc, _ = prov.counts()
        r, cookie = fresh_login(prov, "judy")
        assert r.status_code == 403 and "disabled" in r.text and h.error_ref(r)
        assert cookie is None
        row = prov.accounts(f"email = {lit('judy@example.com')}")[0]
        assert row["status"] == "disabled"
        assert prov.counts()[0] == n_acc
        # Still refused next time; never re-activated.
        r, cookie = fresh_login(prov, "judy")
        assert r.status_code == 403 and cookie is None
        assert prov.accounts(f"email = {lit('judy@example.com')}")[0]["status"] == "disabled"


class TestPending:
    @pytest.fixture(scope="class")
    def prov(self, env, db):
        site = start_site(env, db, "JITProvNewAccountStatus pending")
        yield site
        env.httpd.stop()

    def test_pending_until_approved(self, prov):
        r, cookie = fresh_login(prov, "pat")
        assert r.status_code == 403, r.text[:500]
        assert "awaiting approval" in r.text and h.error_ref(r)
        assert cookie is None
        row = prov.account("pat")
        assert row["status"] == "pending" and row["login_count"] == 1
        create = prov.audit_of("pat")
        assert [a["event"] for a in create] == ["create"]
        assert detail(create[0]).get("status") == "pending"
        assert create[0]["corr_id"] == h.error_ref(r)

        refused(prov, "pat", "awaiting approval", "pending")
        assert prov.account("pat")["status"] == "pending"

        out = admin_ok(prov.db, "approve", row["id"], "--reason", "e2e")
        assert prov.account("pat")["status"] == "active"
        assert prov.audit_of("pat")[-1]["event"] == "approve"
        r, cookie = fresh_login(prov, "pat")
        assert r.status_code == 200, r.text[:500]
        assert cookie
        assert h.account_headers(r)["status"] == "active"
        assert h.account_headers(r)["id"] == str(row["id"])
        # Approving again is a no-op; approving a disabled account is refused
        # (exit 4): approve only turns pending into active.
        n_audit = prov.counts()[1]
        out = admin_ok(prov.db, "approve", row["id"])
        assert "already active" in out.stdout and prov.counts()[1] == n_audit
        admin_ok(prov.db, "disable", row["id"])
        out = h.admin(prov.db, "approve", row["id"])
        assert out.returncode == 4, (out.returncode, out.stdout, out.stderr)
        assert prov.account("pat")["status"] == "disabled"

    def test_approve_unknown_id(self, prov):
        out = h.admin(prov.db, "approve", "999999")
        assert out.returncode == 3, (out.returncode, out.stdout, out.stderr)


class TestGates:
    @pytest.fixture(scope="class")
    def prov(self, env, db):
        site = start_site(env, db, 'JITProvRequireClaim email "@example\\.com$"\n'
                                   "JITProvRequireClaim groups ^staff$")
        yield site
        env.httpd.stop()

    @pytest.mark.parametrize("user", ["dave", "erin", "bulk0999"])
    def test_gate_refuses_and_creates_nothing(self, prov, user):
        # dave: partner.example.org; erin: no email at all; bulk0999: not in staff.
        ref, row = refused(prov, user, "access policy", "gate")
        assert row["account_id"] is None and row["sub"] == USER_CLAIMS[user]["sub"]
        assert prov.account(user) is None

    def test_gate_lets_matching_users_in(self, prov):
        for user in ("alice", "carol"):
            r, cookie = fresh_login(prov, user)
            assert r.status_code == 200 and cookie, (user, r.status_code)
            assert prov.account(user)["status"] == "active"

    def test_gate_holds_for_an_existing_account(self, prov):
        # The gate is checked before an existing account is used, not only
        # before one is created: a user who left the group is refused, and
        # the refusal is recorded on that account.
        before = dict(prov.env.idp.users["henry"])
        r, cookie = fresh_login(prov, "henry")
        assert r.status_code == 200 and cookie
        row = prov.account("henry")
        try:
            h.change_idp_user(prov.env, "henry", groups=["ops"])
            ref, audit = refused(prov, "henry", "access policy", "gate")
            assert audit["account_id"] == row["id"], audit
            assert audit["sub"] == USER_CLAIMS["henry"]["sub"]
            # Nothing of the row changed: not the groups, not the counters.
            assert prov.account("henry") == row
        finally:
            h.change_idp_user(prov.env, "henry", groups=before["groups"])


class TestAccountKeyAndNoUpdate:
    @pytest.fixture(scope="class")
    def prov(self, env, db):
        site = start_site(env, db, "JITProvAccountKey email\nJITProvAccountUpdate Off")
        yield site
        env.httpd.stop()

    def test_missing_key_claim_refused(self, prov):
        refused(prov, "erin", "", "key_claim_missing")
        assert prov.accounts() == []

    def test_key_claim_and_update_off(self, prov):
        email = USER_CLAIMS["henry"]["email"]
        before = dict(prov.env.idp.users["henry"])
        r, _ = fresh_login(prov, "henry")
        assert r.status_code == 200
        rows = prov.accounts(f"sub = {lit(email)}")
        assert len(rows) == 1 and rows[0]["display_name"] == before["name"]
        new_name = "Henry After" if before["name"] == "Henry Before" else "Henry Before"
        h.change_idp_user(prov.env, "henry", name=new_name)
        r, _ = fresh_login(prov, "henry")
        assert r.status_code == 200
        row = prov.accounts(f"sub = {lit(email)}")[0]
        # JITProvAccountUpdate Off: mapped columns keep their first values,
        # the login counters move; nothing changed, so no audit row.
        assert row["display_name"] == before["name"]
        assert row["login_count"] == 2
        assert int(row["last_login_at"]) >= int(rows[0]["last_login_at"])
        assert [e["event"] for e in prov.audit(f"account_id = {row['id']}")] == ["create"]
