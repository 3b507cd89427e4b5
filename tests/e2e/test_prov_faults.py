"""The account database failing in the middle of a login (tracker issue 3): the
browser gets a 503 page with a correlation id, no session is created and nothing
is written; sessions whose status re-check falls due fail closed; once the
database is back, logins work again without restarting httpd.

PostgreSQL: the server is stopped between the IdP part of a login and its
callback. SQLite: the database file becomes unreadable for httpd's children
(httpd restarted so that no pooled connection keeps the open file), and
separately the write lock is held by another process."""
import os
import subprocess
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

SERVER = "JITProvAccountRecheckInterval 1"


@pytest.fixture(scope="module")
def prov(env, db):
    site = h.ProvSite(env, db).start(SERVER)
    yield site
    env.httpd.stop()
    if db.name == "pgsql" and not db.server.started:
        db.server.start()


def assert_503(prov, r):
    assert r.status_code == 503, (r.status_code, r.text[:500])
    assert "database" in r.text.lower(), r.text[:500]
    ref = h.error_ref(r)
    assert ref, r.text[:500]
    assert SESSION_COOKIE not in h.set_cookies(r)
    assert h.wait_for_log(prov.httpd, f"[ref {ref}]"), "no error_log line for " + ref
    return ref


def test_database_down_mid_login(prov, s):
    db = prov.db
    # A session that exists before the outage.
    live = requests.Session()
    assert h.login(live, prov.url("/app/"), "alice").status_code == 200
    # bob is half-way: logged in at the IdP, the callback not yet delivered.
    cb = h.callback_of(s, prov.url("/app/bob"), "bob")
    counts = prov.counts()

    try:
        if db.name == "pgsql":
            db.make_unavailable()
        else:
            # SQLite: pooled connections keep the open file; restart httpd (the
            # state cookie of bob's login stays valid: same passphrase) with the
            # database directory closed to the children.
            prov.httpd.stop()
            db.make_unavailable()
            prov.httpd.start(prov.httpd.config_text, init_db=False)
        t0 = time.monotonic()
        r = s.get(cb, allow_redirects=False, timeout=30)
        assert time.monotonic() - t0 < 10
        assert_503(prov, r)
        assert s.cookies.get(SESSION_COOKIE) is None
        if db.name == "pgsql":
            # The existing session's re-check falls due and fails closed.
            time.sleep(1.3)
            r = live.get(prov.url("/app/during"), allow_redirects=False, timeout=30)
            assert_503(prov, r)
    finally:
        db.make_available()

    # Back: nothing of bob's failed attempt was written ...
    assert prov.counts() == counts
    assert prov.account("bob") is None
    # ... and new logins work at once, without restarting httpd: a pooled
    # connection that died with the server must not cost a user a 503.
    statuses = []
    for i in range(6):
        with requests.Session() as b:
            statuses.append(h.login(b, prov.url(f"/app/bob{i}"), "bob").status_code)
    assert statuses == [200] * 6, statuses
    row = prov.account("bob")
    assert row and row["login_count"] == 6
    # The same claims five more times: no change, no further audit row.
    assert [a["event"] for a in prov.audit_of("bob")] == ["create"]
    if db.name == "pgsql":
        r = live.get(prov.url("/app/after"), allow_redirects=False, timeout=30)
        assert r.status_code == 200, r.status_code
    live.close()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sqlite_locked_gives_503_and_writes_nothing(prov, s):
    live = requests.Session()
    assert h.login(live, prov.url("/app/"), "dave").status_code == 200
    cb = h.callback_of(s, prov.url("/app/carol"), "carol")
    counts = prov.counts()
    lock = prov.db.hold_write_lock()
    try:
        t0 = time.monotonic()
        r = s.get(cb, allow_redirects=False, timeout=30)
        elapsed = time.monotonic() - t0
        assert_503(prov, r)
        assert elapsed < 10, elapsed
        # Readers are not blocked (WAL): a session whose re-check is due works.
        time.sleep(1.1)
        r = live.get(prov.url("/app/during"), allow_redirects=False, timeout=30)
        assert r.status_code == 200, r.status_code
    finally:
        lock.rollback()
        lock.close()
        prov.db._fix_owner()
    assert prov.counts() == counts
    with requests.Session() as b:
        r = h.login(b, prov.url("/app/carol2"), "carol")
        assert r.status_code == 200, r.text[:300]
    assert prov.account("carol")["login_count"] == 1
    live.close()


@pytest.mark.parametrize("db", ["pgsql"], indirect=True)
def test_pgsql_locked_table_gives_503_not_a_hung_worker(prov, s):
    cb = h.callback_of(s, prov.url("/app/erin"), "erin")
    counts = prov.counts()
    pg = prov.db.server
    locker = subprocess.Popen(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
         "-d", prov.db.dbname], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PGAPPNAME": "jitprov-e2e-locker"})
    locker.stdin.write("BEGIN; LOCK TABLE jitprov_accounts IN ACCESS EXCLUSIVE MODE;\n"
                       "SELECT pg_sleep(60);\n")
    locker.stdin.flush()
    deadline = time.monotonic() + 10
    while not prov.db.rows("SELECT pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                           "WHERE c.relname = 'jitprov_accounts' AND l.mode = "
                           "'AccessExclusiveLock' AND l.granted"):
        assert time.monotonic() < deadline, "could not take the table lock"
        time.sleep(0.1)
    try:
        t0 = time.monotonic()
        try:
            r = s.get(cb, allow_redirects=False, timeout=15)
        except requests.Timeout:
            r = None
        elapsed = time.monotonic() - t0
    finally:
        pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'jitprov-e2e-locker';", "postgres")
        locker.kill()
        locker.wait(10)
    assert r is not None and elapsed < 12, \
        f"callback answered only after {elapsed:.1f}s (status " \
        f"{r.status_code if r is not None else 'none'}): the worker waited for the lock"
    assert_503(prov, r)
    assert prov.counts() == counts


@pytest.mark.parametrize("db", ["pgsql"], indirect=True)
def test_recheck_fail_open_keeps_sessions_but_not_logins(prov, s):
    # JITProvAccountRecheckFailOpen On: a session whose re-check falls due
    # while the database is down keeps working (logged); a login still needs
    # the database and gets 503, nothing written.
    prov.start(SERVER + "\nJITProvAccountRecheckFailOpen On", fresh=False)
    try:
        live = requests.Session()
        assert h.login(live, prov.url("/app/"), "ivan").status_code == 200
        row = prov.account("ivan")
        cb = h.callback_of(s, prov.url("/app/judy"), "judy")
        counts = prov.counts()
        prov.db.make_unavailable()
        try:
            time.sleep(1.3)  # > JITProvAccountRecheckInterval 1
            for _ in range(2):
                r = live.get(prov.url("/app/during"), allow_redirects=False, timeout=30)
                assert r.status_code == 200, (r.status_code, r.text[:300])
                assert h.account_headers(r)["id"] == str(row["id"])
            assert h.wait_for_log(prov.httpd, "JITPROV0202")
            r = s.get(cb, allow_redirects=False, timeout=30)
            assert_503(prov, r)
        finally:
            prov.db.make_available()
        assert prov.counts() == counts
        assert prov.account("judy") is None
        live.close()
    finally:
        prov.start(SERVER, fresh=False)
