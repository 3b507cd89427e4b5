"""The audit trail records changes, not logins (tracker issue 10, item 5), on
SQLite and PostgreSQL: a returning login that creates, links or changes
nothing writes no audit row (last_login_at and login_count still move); groups
the IdP sends in another order are no change; a real change is exactly one
'update' row naming only the changed columns; a login that only changes the
application roles writes only its grant/revoke rows, under its correlation
id."""
import json
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS, lit

# This module's own IdP users, so that no other test's accounts change.
USERS = {
    "nora": {"sub": "u-a0d10000-0000-4000-8000-00000000b001", "email": "nora@example.com",
             "email_verified": True, "name": "Nora Nochange", "preferred_username": "nora",
             "groups": ["staff", "admins", "ops"], "department": "ops"},
    "otto": {"sub": "u-a0d10000-0000-4000-8000-00000000b002", "email": "otto@example.com",
             "email_verified": True, "name": "Otto Roles", "preferred_username": "otto",
             "groups": ["staff"], "department": "ops"},
}

ROLES_SQL = """CREATE TABLE app_roles (
    account_id BIGINT NOT NULL,
    role VARCHAR(100) NOT NULL,
    PRIMARY KEY (account_id, role));"""

# department feeds the roles and no column: a change of department changes
# the roles alone.
SERVER = """JITProvRoleTable app_roles account_id role
JITProvRoleClaim department
JITProvRoleMap ops operator
JITProvRoleMap sales seller
JITProvRoleAllow operator seller"""


@pytest.fixture(scope="module")
def prov(env, db):
    original = {u: env.idp.users.get(u) for u in USERS}
    USER_CLAIMS.update(USERS)
    env.idp.users.update({k: dict(v) for k, v in USERS.items()})
    env.idp.restart()
    site = h.ProvSite(env, db).start(SERVER, setup_sql=ROLES_SQL)
    yield site
    env.httpd.stop()
    for u, v in original.items():
        if v is None:
            env.idp.users.pop(u, None)
        else:
            env.idp.users[u] = v
    env.idp.restart()


def login(prov, user):
    with requests.Session() as sess:
        r = h.login(sess, prov.url("/app/"), user)
        assert r.status_code == 200, r.text[:500]
        return r


def since(prov, user, mark):
    return prov.audit(f"sub = {lit(USERS[user]['sub'])} AND id > {int(mark)}")


def last_id(prov):
    return h.db_scalar(prov.db, "SELECT coalesce(max(id), 0) AS n FROM jitprov_audit")


def test_same_claims_twice_write_one_audit_row(prov):
    login(prov, "nora")
    first = prov.account("nora")
    assert [a["event"] for a in prov.audit_of("nora")] == ["create", "grant"]
    time.sleep(1.1)  # a later second: last_login_at must move
    mark = last_id(prov)
    r = login(prov, "nora")
    row = prov.account("nora")
    assert since(prov, "nora", mark) == []
    assert row["login_count"] == first["login_count"] + 1
    assert int(row["last_login_at"]) > int(first["last_login_at"])
    assert row["updated_at"] == first["updated_at"]  # nothing changed
    assert h.account_headers(r)["id"] == str(row["id"])
    # The login still has its log line, under its correlation id.
    assert h.wait_for_log(prov.httpd, f"account {row['id']} used for iss=")


def test_reordered_groups_write_no_audit_row(prov):
    login(prov, "nora")
    before = prov.account("nora")
    mark = last_id(prov)
    h.change_idp_user(prov.env, "nora", groups=list(reversed(USERS["nora"]["groups"])))
    r = login(prov, "nora")
    assert r.json()["jitprov"]["JITPROV_CLAIM_GROUPS"] == "ops,admins,staff"
    row = prov.account("nora")
    assert since(prov, "nora", mark) == []
    assert row["groups"] == "admins,ops,staff" == before["groups"]
    assert row["login_count"] == before["login_count"] + 1


def test_one_changed_claim_is_one_update_row_naming_that_column(prov):
    login(prov, "nora")
    before = prov.account("nora")
    mark = last_id(prov)
    time.sleep(1.1)  # a later second: updated_at must move
    h.change_idp_user(prov.env, "nora", name="Nora Renamed")
    login(prov, "nora")
    row = prov.account("nora")
    new = since(prov, "nora", mark)
    assert [a["event"] for a in new] == ["update"], new
    assert json.loads(new[0]["detail"]) == {
        "changed": {"display_name": {"old": "Nora Nochange", "new": "Nora Renamed"}}}
    assert new[0]["account_id"] == row["id"] and new[0]["corr_id"]
    assert row["display_name"] == "Nora Renamed"
    assert int(row["updated_at"]) > int(before["updated_at"])
    assert row["login_count"] == before["login_count"] + 1


def test_a_role_change_alone_writes_only_its_role_rows(prov):
    login(prov, "otto")
    row = prov.account("otto")
    assert [a["event"] for a in prov.audit_of("otto")] == ["create", "grant"]
    mark = last_id(prov)
    h.change_idp_user(prov.env, "otto", department="sales")
    login(prov, "otto")
    new = since(prov, "otto", mark)
    assert sorted((a["event"], json.loads(a["detail"])["role"]) for a in new) == [
        ("grant", "seller"), ("revoke", "operator")], new
    # One login, one transaction: both rows carry its correlation id.
    assert len({a["corr_id"] for a in new}) == 1 and new[0]["corr_id"]
    assert all(a["account_id"] == row["id"] for a in new)
    assert prov.account("otto")["login_count"] == row["login_count"] + 1
    # The same department again: no role and no column changes, no row.
    mark = last_id(prov)
    login(prov, "otto")
    assert since(prov, "otto", mark) == []
