"""A session names its account by id; the account re-check also makes sure
that id still names the same account (its iss and key columns). Ids can be
handed out again: a row deleted by hand whose id SQLite reuses, or commits
lost with the power. A session of the old account then ends at its next
re-check, and the sessions of the account that now has the id go on."""
import time

import pytest

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS, lit

SERVER = "JITProvAccountRecheckInterval 1"


@pytest.fixture(scope="module")
def prov(env, db):
    site = h.ProvSite(env, db).start(SERVER)
    yield site
    env.httpd.stop()


def get(prov, cookie, path="/app/"):
    return h.get_with_cookie(prov.url(path), cookie)


def login(prov, user):
    return h.session_cookie_of(prov.url("/app/"), user)


def account_id(prov, user):
    rows = prov.db.rows("SELECT id FROM jitprov_accounts WHERE sub = "
                        f"{lit(USER_CLAIMS[user]['sub'])}")
    assert len(rows) == 1, rows
    return int(rows[0]["id"])


def test_a_session_ends_when_its_account_id_names_another_account(prov):
    alice = login(prov, "alice")
    bob = login(prov, "bob")
    a, b = account_id(prov, "alice"), account_id(prov, "bob")
    assert get(prov, alice).json()["remote_user"] == "alice"
    # bob's row goes, and alice's id is given to bob: his next login finds
    # that row by his key.
    prov.db.execute(f"DELETE FROM jitprov_accounts WHERE id = {b}")
    prov.db.execute(f"UPDATE jitprov_accounts SET sub = {lit(USER_CLAIMS['bob']['sub'])}, "
                    f"username = 'bob', email = 'bob@example.com' WHERE id = {a}")
    bob2 = login(prov, "bob")
    assert account_id(prov, "bob") == a
    time.sleep(1.3)
    for _ in range(8):  # every process, whatever it remembers
        assert get(prov, alice, "/api401/").status_code == 401
    # The old bob cookie names a row that is gone: it ends too.
    assert get(prov, bob, "/api401/").status_code == 401
    # bob's new session, on the same id, is not ended with alice's.
    for _ in range(4):
        r = get(prov, bob2)
        assert r.status_code == 200 and r.json()["remote_user"] == "bob"
    assert "another account" in h.tail(prov.httpd.error_log, 200)


# An application's table whose key column is named "id" (its own text id),
# the module's id role on another column: the session keeps that column's
# value under the same name as the account id. The re-check must not take
# one for the other and end every session as "another account".
APP_ID_SQL = {
    "sqlite": """CREATE TABLE app_people (pk INTEGER PRIMARY KEY AUTOINCREMENT,
                                          id VARCHAR(200) NOT NULL UNIQUE,
                                          login VARCHAR(64));""",
    "pgsql": """CREATE TABLE app_people (pk SERIAL PRIMARY KEY,
                                         id VARCHAR(200) NOT NULL UNIQUE,
                                         login VARCHAR(64));""",
}

APP_ID_SERVER = """JITProvAccountTable app_people
JITProvAccountColumn id pk
JITProvAccountColumn iss none
JITProvAccountColumn sub id
JITProvAccountColumn username login
JITProvAccountColumn email none
JITProvAccountColumn display_name none
JITProvAccountColumn groups none
JITProvAccountColumn status none
JITProvAccountColumn created_at none
JITProvAccountColumn updated_at none
JITProvAccountColumn last_login_at none
JITProvAccountColumn login_count none
JITProvAccountColumn source none
JITProvAccountRecheckInterval 1"""

APP_ID_IDENTITY = """    JITProvHeader X-Account-Id account:id
    JITProvRemoteUser account:login"""


@pytest.fixture(scope="module")
def app_id(env, db):
    site = h.ProvSite(env, db).start(APP_ID_SERVER, setup_sql=APP_ID_SQL[db.name],
                                     identity=APP_ID_IDENTITY)
    yield site
    env.httpd.stop()


def test_a_key_column_named_id_keeps_its_sessions(app_id):
    with open(app_id.httpd.error_log) as f:
        before = len(f.read())
    alice = login(app_id, "alice")
    rows = app_id.db.rows("SELECT pk, id FROM app_people")
    assert len(rows) == 1 and rows[0]["id"] == USER_CLAIMS["alice"]["sub"], rows
    r = get(app_id, alice)
    assert r.status_code == 200 and r.json()["remote_user"] == "alice"
    time.sleep(1.3)
    for _ in range(6):  # re-checked in every process
        r = get(app_id, alice, "/api401/")
        assert r.status_code != 401, h.tail(app_id.httpd.error_log, 20)
    with open(app_id.httpd.error_log) as f:
        assert "another account" not in f.read()[before:]
