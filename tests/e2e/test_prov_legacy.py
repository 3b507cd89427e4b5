"""Provisioning straight into an application's own users table (tracker issue 3):
other table and column names, no status, no login counters, no audit table,
configured with JITProvAccountTable, JITProvAccountColumn and JITProvMapClaim
only. jitprov-admin init adds the two key columns and the unique index; the
application's existing rows are left alone. Once on SQLite, once on PostgreSQL."""
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS, lit

LEGACY_SQL = {
    "sqlite": """
CREATE TABLE app_users (
    user_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    login     VARCHAR(100) NOT NULL,
    mail      VARCHAR(200),
    full_name VARCHAR(200),
    dept      VARCHAR(100),
    created   INTEGER,
    is_admin  INTEGER NOT NULL DEFAULT 0
);
""",
    "pgsql": """
CREATE TABLE app_users (
    user_id   SERIAL PRIMARY KEY,
    login     VARCHAR(100) NOT NULL,
    mail      VARCHAR(200),
    full_name VARCHAR(200),
    dept      VARCHAR(100),
    created   BIGINT,
    is_admin  INTEGER NOT NULL DEFAULT 0
);
""",
}
EXISTING = """
INSERT INTO app_users (login, mail, full_name, dept, created, is_admin)
    VALUES ('legacy-joe', 'joe@example.com', 'Joe Legacy', 'old', 1000000000, 1);
"""

SERVER = """JITProvAccountTable app_users
JITProvAccountColumn id user_id
JITProvAccountColumn iss oidc_iss
JITProvAccountColumn sub oidc_sub
JITProvAccountColumn username login
JITProvAccountColumn email mail
JITProvAccountColumn display_name full_name
JITProvAccountColumn groups none
JITProvAccountColumn status none
JITProvAccountColumn created_at created
JITProvAccountColumn updated_at none
JITProvAccountColumn last_login_at none
JITProvAccountColumn login_count none
JITProvAccountColumn source none
JITProvMapClaim department dept
JITProvAuditTable none
JITProvAccountRecheckInterval 1"""

IDENTITY = """    JITProvHeader X-Account-Id account:id
    JITProvHeader X-Account-Login account:login
    JITProvHeader X-Account-Dept account:dept
    JITProvHeader X-Account-Full-Name account:full_name
    JITProvRemoteUser account:login"""


@pytest.fixture(scope="module")
def prov(env, db):
    site = h.ProvSite(env, db).start(SERVER, setup_sql=LEGACY_SQL[db.name] + EXISTING,
                                     identity=IDENTITY)
    yield site
    env.httpd.stop()


def app_user(prov, user):
    rows = prov.db.rows(f"SELECT * FROM app_users WHERE oidc_sub = "
                        f"{lit(USER_CLAIMS[user]['sub'])}")
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def fresh_login(prov, user, path="/app/"):
    with requests.Session() as sess:
        r = h.login(sess, prov.url(path), user)
        return r, sess.cookies.get(SESSION_COOKIE)


def test_init_added_only_the_key_columns(prov):
    cols = set(prov.db.rows("SELECT * FROM app_users WHERE 1=1")[0])
    assert cols == {"user_id", "login", "mail", "full_name", "dept", "created", "is_admin",
                    "oidc_iss", "oidc_sub"}
    # No default tables appear next to the application's.
    assert not any(t.startswith("jitprov") for t in prov.db.tables()), prov.db.tables()


def test_login_creates_a_row_in_the_application_table(prov):
    t0 = int(time.time())
    r, cookie = fresh_login(prov, "alice")
    assert r.status_code == 200, r.text[:500]
    assert cookie
    row = app_user(prov, "alice")
    want = USER_CLAIMS["alice"]
    assert row["oidc_iss"] == prov.env.idp.issuer
    assert row["login"] == "alice"
    assert row["mail"] == want["email"]
    assert row["full_name"] == want["name"]
    assert row["dept"] == "engineering"
    assert row["is_admin"] == 0
    assert t0 - 1 <= int(row["created"]) <= int(time.time()) + 1
    j = r.json()
    assert j["remote_user"] == "alice"
    acc = h.account_headers(r)
    assert acc["id"] == str(row["user_id"])
    assert acc["login"] == "alice" and acc["dept"] == "engineering"
    assert acc["full_name"] == want["name"]
    assert not any(t.startswith("jitprov") for t in prov.db.tables())


def test_later_login_updates_the_row(prov):
    r, _ = fresh_login(prov, "bob")
    assert r.status_code == 200
    first = app_user(prov, "bob")
    prov.db.execute(f"UPDATE app_users SET full_name = 'Stale Name', dept = 'stale' "
                    f"WHERE user_id = {first['user_id']}")
    r, _ = fresh_login(prov, "bob")
    assert r.status_code == 200
    row = app_user(prov, "bob")
    assert row["user_id"] == first["user_id"]
    assert row["full_name"] == USER_CLAIMS["bob"]["name"] and row["dept"] == "sales"
    assert row["created"] == first["created"]
    assert h.account_headers(r)["dept"] == "sales"
    n = h.db_scalar(prov.db, "SELECT count(*) AS n FROM app_users WHERE login = 'bob'")
    assert n == 1


def test_existing_application_rows_untouched(prov):
    fresh_login(prov, "carol")
    joe = prov.db.rows("SELECT * FROM app_users WHERE login = 'legacy-joe'")
    assert joe == [{"user_id": 1, "login": "legacy-joe", "mail": "joe@example.com",
                    "full_name": "Joe Legacy", "dept": "old", "created": 1000000000,
                    "is_admin": 1, "oidc_iss": None, "oidc_sub": None}]


def test_deleted_row_ends_the_session(prov, s):
    # No status column: a row that exists is active, a deleted one ends sessions.
    assert h.login(s, prov.url("/app/"), "dave").status_code == 200
    row = app_user(prov, "dave")
    prov.db.execute(f"DELETE FROM app_users WHERE user_id = {row['user_id']}")
    time.sleep(1.3)
    assert s.get(prov.url("/api401/"), allow_redirects=False).status_code == 401


@pytest.mark.parametrize("directive,line", [
    ("JITProvAccountTable", "JITProvAccountTable \"app_users; DROP TABLE x\""),
    ("JITProvAccountTable", "JITProvAccountTable 1users"),
    ("JITProvAccountColumn", "JITProvAccountColumn username \"login--\""),
    ("JITProvAccountColumn", "JITProvAccountColumn favourite_colour colour"),
    ("JITProvMapClaim", "JITProvMapClaim department \"dept) VALUES (1);--\""),
    ("JITProvAuditTable", "JITProvAuditTable \"audit log\""),
])
def test_bad_identifiers_fail_configtest(prov, directive, line):
    text = prov.config(SERVER + "\n" + line, identity=IDENTITY)
    r = prov.httpd.configtest(text)
    assert r.returncode != 0, f"configtest accepted: {line}"
    assert directive in r.stderr + r.stdout, r.stderr
