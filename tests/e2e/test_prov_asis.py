"""An application's tables as they are (tracker issue 11): a legacy schema with
users, roles and user_roles, no OIDC columns, used with no DDL at all. The
single issuer's users are keyed on the existing unique username column
(JITProvAccountColumn iss none, JITProvAccountKey preferred_username); roles
go into user_roles through the roles lookup table; an administrator's role
survives. jitprov-admin init creates only the module's own tables. Once on
SQLite, once on PostgreSQL."""
import json

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import lit

USERS = {
    "lena": {"sub": "u-a5150000-0000-4000-8000-00000000b001", "email": "lena@example.com",
             "email_verified": True, "name": "Lena Legacy", "preferred_username": "lena",
             "groups": ["staff"]},
    "nils": {"sub": "u-a5150000-0000-4000-8000-00000000b002", "email": "nils@example.com",
             "email_verified": True, "name": "Nils New", "preferred_username": "nils",
             "groups": ["staff", "admins"]},
}

SCHEMA = {
    "sqlite": """
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT,
                    username VARCHAR(64) NOT NULL UNIQUE,
                    email VARCHAR(200), full_name VARCHAR(200));
CREATE TABLE roles (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE);
CREATE TABLE user_roles (user_id INTEGER NOT NULL REFERENCES users (id),
                         role_id INTEGER NOT NULL REFERENCES roles (id),
                         PRIMARY KEY (user_id, role_id));
""",
    "pgsql": """
CREATE TABLE users (id SERIAL PRIMARY KEY,
                    username VARCHAR(64) NOT NULL UNIQUE,
                    email VARCHAR(200), full_name VARCHAR(200));
CREATE TABLE roles (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE);
CREATE TABLE user_roles (user_id INTEGER NOT NULL REFERENCES users (id),
                         role_id INTEGER NOT NULL REFERENCES roles (id),
                         PRIMARY KEY (user_id, role_id));
""",
}
DATA = """
INSERT INTO roles (id, name) VALUES (1, 'admin');
INSERT INTO roles (id, name) VALUES (2, 'member');
INSERT INTO roles (id, name) VALUES (3, 'auditor');
INSERT INTO users (username, email, full_name) VALUES ('legacy-joe', 'joe@example.com', 'Joe');
INSERT INTO users (username, email, full_name) VALUES ('lena', 'lena@old.example', 'Lena L.');
INSERT INTO user_roles (user_id, role_id) VALUES (2, 3);
"""

SERVER = """JITProvAccountTable users
JITProvAccountColumn id id
JITProvAccountColumn iss none
JITProvAccountColumn sub username
JITProvAccountColumn username none
JITProvAccountColumn email email
JITProvAccountColumn display_name full_name
JITProvAccountColumn groups none
JITProvAccountColumn status none
JITProvAccountColumn created_at none
JITProvAccountColumn updated_at none
JITProvAccountColumn last_login_at none
JITProvAccountColumn login_count none
JITProvAccountColumn source none
JITProvAccountKey preferred_username
JITProvMapClaim name full_name create
JITProvRoleTable user_roles user_id role_id roles id name
JITProvRoleMap admins admin
JITProvRoleMap staff member
JITProvRoleAllow admin member"""

IDENTITY = """    JITProvHeader X-Account-Id account:id
    JITProvHeader X-Account-Username account:username
    JITProvRemoteUser account:username"""


def schema_of(db):
    """The application's tables, columns and indexes, to prove nothing changed."""
    if db.name == "sqlite":
        return sorted((r["name"], r["sql"]) for r in db.rows(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name IN "
            "('users', 'roles', 'user_roles') ORDER BY name"))
    cols = db.rows("SELECT table_name, column_name, data_type FROM information_schema.columns "
                   "WHERE table_name IN ('users', 'roles', 'user_roles') ORDER BY 1, 2")
    idx = db.rows("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                  "('users', 'roles', 'user_roles') ORDER BY 1")
    return [tuple(r.values()) for r in cols + idx]


@pytest.fixture(scope="module")
def prov(env, db):
    for login, claims in USERS.items():
        env.idp.users[login] = claims
    env.idp.restart()
    env.httpd.init_args = ()  # plain init: no --alter
    site = h.ProvSite(env, db)
    site.httpd.stop()
    db.reset()
    db.execute(SCHEMA[db.name] + DATA)
    site.before = schema_of(db)
    site.start(SERVER, identity=IDENTITY, fresh=False)
    yield site
    env.httpd.stop()
    env.httpd.init_args = ("--alter",)
    for u in USERS:
        env.idp.users.pop(u, None)
    env.idp.restart()


def login(prov, user):
    with requests.Session() as sess:
        return h.login(sess, prov.url("/app/"), user)


def user_row(prov, username):
    rows = prov.db.rows(f"SELECT * FROM users WHERE username = {lit(username)}")
    assert len(rows) <= 1
    return rows[0] if rows else None


def roles(prov, user_id):
    return sorted(r["name"] for r in prov.db.rows(
        "SELECT r.name AS name FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
        f"WHERE ur.user_id = {user_id}"))


def test_init_left_the_application_tables_alone(prov):
    assert schema_of(prov.db) == prov.before
    tables = set(prov.db.tables())
    assert {"jitprov_audit", "jitprov_grants"} <= tables, tables


def test_existing_user_is_found_by_username_and_gets_roles(prov):
    r = login(prov, "lena")
    assert r.status_code == 200, r.text[:300]
    row = user_row(prov, "lena")
    assert row["id"] == 2                      # the existing row, no new one
    assert h.account_headers(r)["id"] == "2"
    assert r.json()["remote_user"] == "lena"
    assert row["email"] == "lena@example.com"  # present (default): follows the IdP
    assert row["full_name"] == "Lena L."       # create: the application's value stays
    assert roles(prov, 2) == ["auditor", "member"]
    assert h.db_scalar(prov.db, "SELECT count(*) AS n FROM users") == 2


def test_new_user_created_with_roles_and_revoked_later(prov):
    r = login(prov, "nils")
    assert r.status_code == 200, r.text[:300]
    row = user_row(prov, "nils")
    assert row["full_name"] == "Nils New"
    assert roles(prov, row["id"]) == ["admin", "member"]
    # The administrator also makes nils an auditor in the application.
    prov.db.execute(f"INSERT INTO user_roles (user_id, role_id) VALUES ({row['id']}, 3)")
    prov.env.idp.users["nils"] = {**USERS["nils"], "groups": ["staff"]}
    prov.env.idp.restart()
    assert login(prov, "nils").status_code == 200
    assert roles(prov, row["id"]) == ["auditor", "member"]
    ev = [(a["event"], json.loads(a["detail"])["role"]) for a in prov.audit(
        f"account_id = {row['id']} AND event IN ('grant', 'revoke')")]
    assert ev == [("grant", "admin"), ("grant", "member"), ("revoke", "admin")]
    assert schema_of(prov.db) == prov.before
