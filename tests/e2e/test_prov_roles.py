"""Provisioning that fits real applications (tracker issue 11), on SQLite and
PostgreSQL: roles into the application's own membership table (granted and
revoked across logins, an administrator's roles left alone), per-column sync
policies, and a new user whose user name is taken."""
import json

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import lit

# This module's own IdP users, so that no other test's accounts change.
USERS = {
    "rita": {"sub": "u-r0000000-0000-4000-8000-00000000a001", "email": "rita@example.com",
             "email_verified": True, "name": "Rita Roles", "preferred_username": "rita",
             "groups": ["staff", "admins"], "department": "ops"},
    "sam": {"sub": "u-r0000000-0000-4000-8000-00000000a002", "email": "sam@example.com",
            "email_verified": True, "name": "Sam Set", "preferred_username": "sam",
            "groups": ["staff"], "department": "ops"},
    "tess": {"sub": "u-r0000000-0000-4000-8000-00000000a003", "email": "tess@example.com",
             "email_verified": True, "name": "Tess Sync", "preferred_username": "tess",
             "groups": ["staff", "admins"], "department": "before"},
    "cody": {"sub": "u-r0000000-0000-4000-8000-00000000a004", "email": "cody@example.com",
             "email_verified": True, "name": "Cody Clash", "preferred_username": "cody",
             "groups": ["staff"], "department": "ops"},
    "cody2": {"sub": "u-r0000000-0000-4000-8000-00000000a005", "email": "cody2@example.com",
              "email_verified": True, "name": "Cody Again", "preferred_username": "cody",
              "groups": ["staff"], "department": "ops"},
    # Their user names differ from a taken one only in case.
    "niko": {"sub": "u-r0000000-0000-4000-8000-00000000a00b", "email": "niko@example.com",
             "email_verified": True, "name": "Niko Case", "preferred_username": "niko",
             "groups": ["staff"], "department": "ops"},
    "niko2": {"sub": "u-r0000000-0000-4000-8000-00000000a00c", "email": "niko2@example.com",
              "email_verified": True, "name": "Niko Again", "preferred_username": "Niko",
              "groups": ["staff"], "department": "ops"},
    "vera": {"sub": "u-r0000000-0000-4000-8000-00000000a009", "email": "vera@example.com",
             "email_verified": True, "name": "Vera Check", "preferred_username": "vera",
             "groups": ["staff", "team-blue"], "department": "qa"},
    # A name and a group holding the delimiter: each encoding renders them its
    # own way, and `none` sends neither (JITPROV0680).
    "dora": {"sub": "u-r0000000-0000-4000-8000-00000000a00a", "email": "dora@example.com",
             "email_verified": True, "name": "Doe, Dora", "preferred_username": "dora",
             "groups": ["staff", "admins", "ops,qa"], "department": "ops"},
}

ROLES_SQL = """CREATE TABLE app_user_roles (
    account_id BIGINT NOT NULL,
    role VARCHAR(100) NOT NULL,
    PRIMARY KEY (account_id, role));"""

SERVER = """JITProvRoleTable app_user_roles account_id role
JITProvRoleClaim groups
JITProvRoleMap admins admin
JITProvRoleMap staff member
JITProvRoleMap ~team-(.+) team-$1
JITProvRoleAllow admin member team-blue
JITProvMapClaim preferred_username username create
JITProvMapClaim name display_name create
JITProvMapClaim email email present
JITProvMapClaim department dept_always always
JITProvMapClaim department dept_never never
JITProvAccountRecheckInterval 1"""

# The claim headers in each JITProvHeaderEncoding, for check's predictions.
ENC_LOCATIONS = "\n".join(f"""<Location /enc/{enc}>
    AuthType jitprov
{h.PROV_IDENTITY}
    JITProvHeader X-User-Groups claim:groups
    JITProvHeaderEncoding {enc}
    Require valid-user
</Location>""" for enc in ("none", "percent", "base64url"))


def set_users(env, **changes):
    for login, claims in changes.items():
        env.idp.users[login] = {**env.idp.users.get(login, {}), **claims}
    env.idp.restart()


@pytest.fixture(scope="module")
def prov(env, db):
    set_users(env, **USERS)
    site = h.ProvSite(env, db).start(SERVER, setup_sql=ROLES_SQL, extra=ENC_LOCATIONS)
    yield site
    env.httpd.stop()
    for u in USERS:
        env.idp.users.pop(u, None)
    env.idp.restart()


def login(prov, user, path="/app/"):
    with requests.Session() as sess:
        return h.login(sess, prov.url(path), user)


def account(prov, user):
    rows = prov.db.rows(f"SELECT * FROM jitprov_accounts WHERE sub = {lit(USERS[user]['sub'])}")
    assert len(rows) <= 1
    return rows[0] if rows else None


def roles(prov, account_id):
    return sorted(r["role"] for r in prov.db.rows(
        f"SELECT role FROM app_user_roles WHERE account_id = {account_id}"))


def events(prov, account_id, kinds=("grant", "revoke")):
    return [(r["event"], json.loads(r["detail"])["role"]) for r in prov.audit(
        f"account_id = {account_id} AND event IN ({', '.join(lit(k) for k in kinds)})")]


def test_roles_granted_at_first_login_in_the_same_transaction(prov):
    r = login(prov, "rita")
    assert r.status_code == 200, r.text[:300]
    a = account(prov, "rita")
    assert roles(prov, a["id"]) == ["admin", "member"]
    assert sorted(events(prov, a["id"])) == [("grant", "admin"), ("grant", "member")]
    # The grants carry the login's correlation id: one transaction, one login.
    corr = {row["corr_id"] for row in prov.audit(f"account_id = {a['id']}")}
    assert len(corr) == 1, corr
    ledger = prov.db.rows(f"SELECT role FROM jitprov_grants WHERE account_id = {a['id']} "
                          "ORDER BY role")
    assert [x["role"] for x in ledger] == ["admin", "member"]


def test_roles_follow_the_claim_and_spare_an_administrators_role(prov):
    a = account(prov, "rita") or (login(prov, "rita") and account(prov, "rita"))
    # An administrator gives rita a role in the application itself.
    prov.db.execute(f"INSERT INTO app_user_roles (account_id, role) VALUES ({a['id']}, 'auditor')")
    set_users(prov.env, rita={"groups": ["staff", "team-blue", "team-red", "admins\nx"]})
    assert login(prov, "rita").status_code == 200
    # admin revoked; team-blue granted; team-red is not on the allow-list; the
    # value with a line break matches nothing; auditor untouched.
    assert roles(prov, a["id"]) == ["auditor", "member", "team-blue"]
    assert ("revoke", "admin") in events(prov, a["id"])
    assert ("grant", "team-blue") in events(prov, a["id"])
    # Claim gone (a user in no group): JITProvRoleMissing clear takes back the
    # module's grants only.
    set_users(prov.env, rita={"groups": None})
    assert login(prov, "rita").status_code == 200
    assert roles(prov, a["id"]) == ["auditor"]
    n = h.db_scalar(prov.db, f"SELECT count(*) AS n FROM jitprov_grants WHERE account_id = {a['id']}")
    assert n == 0


def test_role_an_administrator_set_is_never_revoked(prov):
    set_users(prov.env, sam={"groups": ["staff"]})
    assert login(prov, "sam").status_code == 200
    a = account(prov, "sam")
    assert roles(prov, a["id"]) == ["member"]
    # The administrator makes sam an admin by hand; later the IdP says so too.
    prov.db.execute(f"INSERT INTO app_user_roles (account_id, role) VALUES ({a['id']}, 'admin')")
    set_users(prov.env, sam={"groups": ["staff", "admins"]})
    assert login(prov, "sam").status_code == 200
    assert ("grant", "admin") not in events(prov, a["id"])
    # ... and then the IdP drops it: the administrator's role stays.
    set_users(prov.env, sam={"groups": ["staff"]})
    assert login(prov, "sam").status_code == 200
    assert roles(prov, a["id"]) == ["admin", "member"]
    assert ("revoke", "admin") not in events(prov, a["id"])


def test_sync_policies(prov):
    r = login(prov, "tess")
    assert r.status_code == 200
    a = account(prov, "tess")
    assert a["username"] == "tess" and a["display_name"] == "Tess Sync"
    assert a["dept_always"] == "before" and a["dept_never"] is None
    # SCIM (or an administrator) renames the user; the IdP changes everything.
    prov.db.execute(f"UPDATE jitprov_accounts SET username = 'tess.local' WHERE id = {a['id']}")
    set_users(prov.env, tess={"preferred_username": "tess-idp", "name": "Tess Renamed",
                              "email": "tess.new@example.com", "department": "after"})
    assert login(prov, "tess").status_code == 200
    b = account(prov, "tess")
    assert b["username"] == "tess.local"          # create: set once, the local value stays
    assert b["display_name"] == "Tess Sync"       # create
    assert b["email"] == "tess.new@example.com"   # present
    assert b["dept_always"] == "after"            # always
    assert b["dept_never"] is None                # never
    # Claims gone: present keeps the value, always empties it.
    set_users(prov.env, tess={"email": None, "department": None})
    assert login(prov, "tess").status_code == 200
    c = account(prov, "tess")
    assert c["email"] == "tess.new@example.com"
    assert c["dept_always"] == ""
    upd = prov.audit(f"account_id = {a['id']} AND event = 'update'")
    changed = json.loads(upd[-1]["detail"])["changed"]
    assert set(changed) == {"dept_always"}, changed


def test_reordered_groups_are_no_change(prov):
    set_users(prov.env, tess={"groups": ["staff", "admins"]})
    assert login(prov, "tess").status_code == 200
    a = account(prov, "tess")
    mark = last_audit_id(prov)
    set_users(prov.env, tess={"groups": ["admins", "staff"]})
    assert login(prov, "tess").status_code == 200
    # No column and no role changed: no update, grant or revoke row.
    assert prov.audit(f"account_id = {a['id']} AND id > {mark}") == []
    assert account(prov, "tess")["login_count"] == a["login_count"] + 1


def test_collision_refused_then_suffixed(prov):
    # The application's user names are unique; someone already has "cody".
    prov.db.execute("CREATE UNIQUE INDEX app_username_unique ON jitprov_accounts (username)")
    prov.db.execute("INSERT INTO jitprov_accounts (username, email, status, created_at, "
                    "updated_at, login_count, source) VALUES ('cody', 'other@example.com', "
                    "'active', 1, 1, 0, 'admin')")
    before = h.db_scalar(prov.db, "SELECT count(*) AS n FROM jitprov_accounts")
    r = login(prov, "cody")
    assert r.status_code == 409, r.text[:300]
    assert "user name or e-mail address is already used" in r.text
    assert account(prov, "cody") is None
    assert h.db_scalar(prov.db, "SELECT count(*) AS n FROM jitprov_accounts") == before
    ref = prov.audit(f"sub = {lit(USERS['cody']['sub'])} AND event = 'refuse'")
    assert json.loads(ref[-1]["detail"])["reason"] == "collision"
    assert json.loads(ref[-1]["detail"])["column"] == "username"
    # The other row is untouched: no takeover.
    other = prov.db.rows("SELECT * FROM jitprov_accounts WHERE username = 'cody'")
    assert other[0]["email"] == "other@example.com" and other[0]["sub"] is None

    prov.start(SERVER + "\nJITProvCollision suffix", fresh=False, extra=ENC_LOCATIONS)
    r = login(prov, "cody")
    assert r.status_code == 200, r.text[:300]
    assert account(prov, "cody")["username"] == "cody-2"
    r = login(prov, "cody2")
    assert r.status_code == 200, r.text[:300]
    assert account(prov, "cody2")["username"] == "cody-3"
    create = prov.audit(f"sub = {lit(USERS['cody2']['sub'])} AND event = 'create'")
    assert json.loads(create[0]["detail"])["collision"] == {"column": "username", "taken": "cody",
                                                             "used": "cody-3"}


def test_collision_on_an_index_that_ignores_case(prov):
    # Applications often make user names unique whatever their case. The
    # refusal names the user name (409, or a suffix), not an unknown column
    # (503): a row holding it in another case counts as taken.
    pg = isinstance(prov.db, h.PgDb)
    prov.db.execute("DROP INDEX IF EXISTS app_username_unique")
    prov.db.execute("CREATE UNIQUE INDEX app_username_nocase ON jitprov_accounts "
                    + ("(lower(username))" if pg else "(username COLLATE NOCASE)"))
    try:
        prov.db.execute("INSERT INTO jitprov_accounts (username, email, status, created_at, "
                        "updated_at, login_count, source) VALUES ('NIKO', 'nk@example.com', "
                        "'active', 1, 1, 0, 'admin')")
        prov.start(SERVER + "\nJITProvCollision suffix", fresh=False, extra=ENC_LOCATIONS)
        r = login(prov, "niko")
        assert r.status_code == 200, r.text[:300]
        assert account(prov, "niko")["username"] == "niko-2"
        prov.start(SERVER, fresh=False, extra=ENC_LOCATIONS)
        r = login(prov, "niko2")
        assert r.status_code == 409, r.text[:300]
        assert "user name or e-mail address is already used" in r.text
        assert account(prov, "niko2") is None
        ref = prov.audit(f"sub = {lit(USERS['niko2']['sub'])} AND event = 'refuse'")
        assert json.loads(ref[-1]["detail"])["column"] == "username"
    finally:
        prov.db.execute("DROP INDEX IF EXISTS app_username_nocase")


@pytest.mark.parametrize("line,directive", [
    ("JITProvRoleMap admins root", "JITProvRoleMap"),          # not on the allow-list
    ("JITProvRoleMap ~(unclosed admin", "JITProvRoleMap"),
    ("JITProvRoleMap admins $1", "JITProvRoleMap"),
    ("JITProvRoleTable app_user_roles account_id", "JITProvRoleTable"),
    ("JITProvRoleTable \"roles; drop\" a b", "JITProvRoleTable"),
    ("JITProvRoleMissing sometimes", "JITProvRoleMissing"),
    ("JITProvMapClaim email email sometimes", "JITProvMapClaim"),
    ("JITProvCollision takeover", "JITProvCollision"),
])
def test_bad_role_and_sync_config_fails_configtest(prov, line, directive):
    r = prov.httpd.configtest(prov.config(SERVER + "\n" + line))
    assert r.returncode != 0, f"configtest accepted: {line}"
    assert directive in r.stderr + r.stdout, r.stderr


def test_role_map_without_allow_list_fails_configtest(prov):
    text = prov.config("\n".join(l for l in SERVER.splitlines()
                                 if not l.startswith("JITProvRoleAllow")))
    r = prov.httpd.configtest(text)
    assert r.returncode != 0 and "JITProvRoleAllow" in r.stderr + r.stdout


def check(prov, claims, location="/app/", fmt="json"):
    """jitprov-admin check with these claims against the running site's config;
    fmt None: without --format."""
    import os
    import subprocess
    path = os.path.join(prov.httpd.dir, "conf", "claims.json")
    with open(path, "w") as f:
        json.dump({"iss": prov.env.idp.issuer, **claims}, f)
    r = subprocess.run([h.JITPROV_ADMIN, "-f", prov.httpd.conf_path, "check"]
                       + (["--format", fmt] if fmt else [])
                       + ["--claims", path, "--location", location], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if fmt == "json" else r.stdout


def audit_since(prov, sub, after_id):
    return [{"event": a["event"], "detail": json.loads(a["detail"])} for a in prov.audit(
        f"sub = {lit(sub)} AND id > {after_id}")]


def last_audit_id(prov):
    return h.db_scalar(prov.db, "SELECT coalesce(max(id), 0) AS n FROM jitprov_audit")


TIME_COLS = {"created_at", "updated_at", "last_login_at"}


def test_check_predicts_exactly_what_the_login_does(prov):
    vera = USERS["vera"]
    # First login: a create with two grants. The new row's id is not predicted.
    before, mark = prov.counts(), last_audit_id(prov)
    plan = check(prov, vera)
    text = check(prov, vera, fmt="text")
    default = check(prov, vera, fmt=None)           # the text report, not JSON
    assert default.startswith("outcome:  login (HTTP 302)\n"), default
    with pytest.raises(json.JSONDecodeError):
        json.loads(default)
    assert prov.counts() == before                   # the dry runs wrote nothing
    assert "outcome:  login (HTTP 302)" in text and "grant" in text, text
    assert "X-Account-Username: vera" in text, text
    assert plan["outcome"] == "login" and plan["status"] == 302
    r = login(prov, "vera")
    assert r.status_code == 200
    assert audit_since(prov, vera["sub"], mark) == plan["events"]
    assert [e["event"] for e in plan["events"]] == ["create", "grant", "grant"]
    row = account(prov, "vera")
    for col, v in plan["account"].items():
        if col not in TIME_COLS | {"id"}:
            assert (None if row[col] is None else str(row[col])) == v, col

    # Later login after changes at the IdP: update, a grant and a revoke; now
    # everything is predicted, headers and REMOTE_USER included.
    set_users(prov.env, vera={"groups": ["admins"], "name": "Vera Renamed", "department": "ops"})
    vera2 = {**vera, "groups": ["admins"], "name": "Vera Renamed", "department": "ops"}
    mark = last_audit_id(prov)
    plan = check(prov, vera2)
    r = login(prov, "vera")
    assert r.status_code == 200
    assert audit_since(prov, vera["sub"], mark) == plan["events"]
    assert sorted((e["event"], e["detail"].get("role")) for e in plan["events"]) == [
        ("grant", "admin"), ("revoke", "member"), ("revoke", "team-blue"), ("update", None)]
    row = account(prov, "vera")
    for col, v in plan["account"].items():
        if col not in TIME_COLS:
            assert (None if row[col] is None else str(row[col])) == v, col
    got = {k[5:].replace("_", "-").lower(): v for k, v in r.json()["http"].items()
           if k.startswith("HTTP_X_")}
    want = {k.lower(): v for k, v in plan["headers"].items() if v is not None}
    assert got == want
    assert r.json()["remote_user"] == plan["remote_user"]

    # The same claims again: the check predicts no audit row, and the login
    # writes none.
    mark = last_audit_id(prov)
    plan = check(prov, vera2)
    text = check(prov, vera2, fmt="text")
    assert plan["outcome"] == "login" and plan["events"] == []
    assert "audit rows the login would write: none" in text, text
    assert login(prov, "vera").status_code == 200
    assert audit_since(prov, vera["sub"], mark) == []

    # Disabled: the check says 403 and the refusal row the login then writes.
    prov.db.execute(f"UPDATE jitprov_accounts SET status = 'disabled' WHERE id = {row['id']}")
    mark = last_audit_id(prov)
    plan = check(prov, vera2)
    assert plan["status"] == 403 and plan["outcome"] == "refused: disabled"
    with requests.Session() as sess:
        r = h.login(sess, prov.url("/app/"), "vera")
    assert r.status_code == 403
    assert audit_since(prov, vera["sub"], mark) == plan["events"]


def x_headers(r):
    """The X- headers the backend received, named as JITProvHeader names them."""
    return {k[5:].replace("_", "-").lower(): v for k, v in r.json()["http"].items()
            if k.startswith("HTTP_X_")}


def test_check_predicts_the_claim_headers_of_every_encoding(prov):
    dora = USERS["dora"]
    assert login(prov, "dora").status_code == 200   # the account exists: ids are known
    for enc in ("base64url", "percent", "none"):
        path = f"/enc/{enc}/"
        plan = check(prov, dora, location=path)
        r = login(prov, "dora", path)
        assert r.status_code == 200, r.text[:300]
        assert plan["outcome"] == "login"
        want = {k.lower(): v for k, v in plan["headers"].items() if v is not None}
        assert x_headers(r) == want, enc
        assert r.json()["remote_user"] == plan["remote_user"]
    # Each element encoded on its own; the group holding the delimiter stays one.
    assert plan_of(prov, dora, "/enc/base64url/")["X-User-Groups"] == "c3RhZmY,YWRtaW5z,b3BzLHFh"
    assert plan_of(prov, dora, "/enc/percent/")["X-User-Groups"] == "staff,admins,ops%2Cqa"
    # none cannot show "ops,qa" or "Doe, Dora" unambiguously: the module sends
    # nothing (JITPROV0680), and check says so.
    plan = plan_of(prov, dora, "/enc/none/")
    assert plan["X-User-Groups"] is None and plan["X-User-Name"] is None
    assert plan["X-User-Email"] == "dora@example.com"
    assert h.wait_for_log(prov.httpd, "JITPROV0680")
    text = check(prov, dora, location="/enc/none/", fmt="text")
    assert "X-User-Groups: (not sent: " in text and "JITPROV0680" in text, text
    assert "X-User-Email: dora@example.com" in text, text


def plan_of(prov, claims, location):
    return check(prov, claims, location=location)["headers"]
