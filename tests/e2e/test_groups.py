"""Claims as values, not strings (once on SQLite, once on PostgreSQL):
- an IdP that returns groups in a different order at every login (LemonLDAP::NG
  does) changes nothing: no audit row, the column keeps one canonical (sorted)
  order;
- Microsoft Entra ID's group overage (over 200 groups: `_claim_names` points at
  Microsoft Graph and `groups` is absent) makes the groups unknown, not empty:
  logged with the remedy, Require jitprov-group refuses, and the account's
  groups column keeps its value."""
import json

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS

MANY = ["zeta", "alpha", "staff", "Ops", "mid-team", "b2", "admins", "x_y"]
USERS = {
    "quinn": {"sub": "u-9c1a0000-0000-4000-8000-0000000c0001", "email": "quinn@example.com",
              "email_verified": True, "name": "Quinn Shuffle", "preferred_username": "quinn",
              "groups": MANY, "department": "ops"},
    "olga": {"sub": "u-01a90000-0000-4000-8000-0000000a0002", "email": "olga@example.com",
             "email_verified": True, "name": "Olga Overage", "preferred_username": "olga",
             "groups": ["admins", "staff"], "department": "it"},
}
OVERAGE = {"_claim_names": {"groups": "src1"},
           "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/"
                                                   "01a9/getMemberObjects"}}}
ADMINS = """JITProvMapClaim nickname display_name
<Location /admins>
    AuthType jitprov
    Require jitprov-group admins
</Location>"""


@pytest.fixture(scope="module")
def prov(env, db):
    original_clients = [dict(c) for c in env.idp.clients]
    original_users = dict(env.idp.users)
    USER_CLAIMS.update(USERS)
    env.idp.users.update({k: dict(v) for k, v in USERS.items()})
    env.idp.clients = [env.client(test_shuffle_groups=True)]
    env.idp.restart()
    site = h.ProvSite(env, db).start(ADMINS)
    yield site
    env.httpd.stop()
    env.idp.clients = original_clients
    env.idp.users = original_users
    env.idp.restart()


def fresh_login(prov, user, path="/app/"):
    with requests.Session() as sess:
        r = h.login(sess, prov.url(path), user)
        assert r.status_code == 200, r.text[:500]
        return r, sess


def test_reordered_groups_are_no_change(prov):
    orders = set()
    for _ in range(5):
        r, _ = fresh_login(prov, "quinn")
        # The claim shows the IdP's order of the moment...
        orders.add(r.json()["jitprov"]["JITPROV_CLAIM_GROUPS"])
        assert h.account_headers(r)["groups"] == ",".join(sorted(MANY))
    assert len(orders) > 1, orders  # the IdP really shuffles
    row = prov.account("quinn")
    # ... the account row holds one canonical order.
    assert row["groups"] == ",".join(sorted(MANY)), row["groups"]
    assert row["login_count"] == 5
    assert row["updated_at"] == row["created_at"]  # nothing changed, ever
    assert int(row["last_login_at"]) >= int(row["created_at"])
    # A login that changes nothing writes no audit row: the create is the only one.
    audit = prov.audit_of("quinn")
    assert [a["event"] for a in audit] == ["create"], audit


def test_a_real_group_change_is_still_one_update(prov):
    fresh_login(prov, "quinn")
    h.change_idp_user(prov.env, "quinn", groups=MANY + ["newcomers"])
    fresh_login(prov, "quinn")
    row = prov.account("quinn")
    assert row["groups"] == ",".join(sorted(MANY + ["newcomers"]))
    audit = prov.audit_of("quinn")
    assert [a["event"] for a in audit] == ["create", "update"], audit
    assert json.loads(audit[1]["detail"]) == {"changed": {"groups": {
        "old": ",".join(sorted(MANY)), "new": ",".join(sorted(MANY + ["newcomers"]))}}}, audit


def test_group_overage_means_unknown_not_empty(prov):
    r, sess = fresh_login(prov, "olga")
    assert sess.get(prov.url("/admins/"), allow_redirects=False).status_code != 403
    assert prov.account("olga")["groups"] == "admins,staff"
    before = prov.counts()

    # Olga joins her 201st group: Entra sends the overage pointer instead.
    user = dict(USERS["olga"])
    del user["groups"]
    user.update(OVERAGE)
    prov.env.idp.users["olga"] = user
    prov.env.idp.restart()
    with requests.Session() as sess:
        r = h.login(sess, prov.url("/app/"), "olga")
        assert r.status_code == 200, r.text[:300]  # the login itself works
        ref = h.wait_for_log(prov.httpd, "JITPROV0342: groups of sub=" + USERS["olga"]["sub"])
        assert ref
        log = prov.httpd.log_since_start()
        assert "Groups assigned to the application" in log
        # Unknown groups grant nothing: fail closed, with the remedy in the log.
        r = sess.get(prov.url("/admins/"), allow_redirects=False)
        assert r.status_code == 403, r.status_code
        assert h.wait_for_log(prov.httpd, "JITPROV0540: Require jitprov-group admins: denied "
                                          f"to {USERS['olga']['sub']}, whose groups are unknown")
        # The backend never sees the pointer's details (they may hold a token).
        r = sess.get(prov.url("/app/"), allow_redirects=False)
        assert r.status_code == 200
        assert "JITPROV_CLAIM__CLAIM_SOURCES" not in r.json()["jitprov"]
        assert "JITPROV_CLAIM__CLAIM_NAMES" in r.json()["jitprov"]
    row = prov.account("olga")
    assert row["groups"] == "admins,staff", row["groups"]  # not emptied
    # No IdP user has a nickname: the mapping that reads it is named once.
    assert "JITPROV0341: claim 'nickname' used by JITProvMapClaim (nickname -> column " \
           "display_name) is missing from the ID token" in prov.httpd.log_since_start()
    assert row["login_count"] == 2
    # Nothing but the login counters changed: no audit row for that login.
    audit = prov.audit_of("olga")
    assert [a["event"] for a in audit] == ["create"], audit
    assert prov.counts()[0] == before[0]
