"""Concurrency (tracker issue 3), on SQLite and on PostgreSQL: fifty simultaneous
first logins of one new user make exactly one account and one 'create' audit
row, and all fifty get a session; a thousand distinct users whose callbacks
arrive at once make a thousand accounts with no error.

For the fifty, the IdP part of every login (authorize, password, redirect) is
done first; then all callbacks are fired together, which is where the module
provisions. JITPROV_BULK_USERS overrides the number of distinct users (default
1000 on PostgreSQL, 250 on SQLite). Timings go to build/test-logs/e2e-scale.txt."""
import concurrent.futures
import os
import sys
import threading
import time

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS, lit

# A thousand on PostgreSQL (the multi-node backend); fewer on SQLite to keep
# the whole e2e run within a few minutes on 2 cores. Override with
# JITPROV_BULK_USERS (both) or JITPROV_BULK_USERS_SQLITE.
BULK_PG = min(int(os.environ.get("JITPROV_BULK_USERS", h.BULK_COUNT)), h.BULK_COUNT)
BULK_SQLITE = min(int(os.environ.get("JITPROV_BULK_USERS_SQLITE",
                                     os.environ.get("JITPROV_BULK_USERS", 250))), h.BULK_COUNT)


@pytest.fixture(scope="module")
def prov(env, db):
    site = h.ProvSite(env, db).start("")
    yield site
    env.httpd.stop()


def report(msg):
    # Timings end up in the pytest output (-rA / -s) and in test-logs.
    print(f"[scale] {msg}", file=sys.stderr, flush=True)
    logdir = os.path.join(h.ROOT, "build", "test-logs")
    try:
        os.makedirs(logdir, exist_ok=True)
        with open(os.path.join(logdir, "e2e-scale.txt"), "a") as f:
            f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + msg + "\n")
    except OSError:
        pass


def browser():
    """A requests session that does not keep connections alive: under this load
    a gap between two requests can exceed httpd's KeepAliveTimeout, and requests
    would reuse a connection httpd has just closed (RemoteDisconnected, which a
    browser retries)."""
    sess = requests.Session()
    sess.headers["Connection"] = "close"
    return sess


def idp_part(prov, users, workers=16):
    """[(session, callback URL)] in the order of users: each a separate browser
    that has logged in at the IdP and holds the module's state cookie."""

    def one(i_user):
        i, user = i_user
        sess = browser()
        cb = h.callback_of(sess, prov.url(f"/app/u{i}"), user)
        sess.close()  # keep the cookies, drop the idle connections
        return sess, cb

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(users)))


def fire_callbacks(pairs, workers):
    """GET every callback, `workers` at a time, all threads released together.
    Returns [(status, has session cookie, error page text)]."""
    barrier = threading.Barrier(min(workers, len(pairs)))
    started = threading.local()

    def one(pair):
        sess, cb = pair
        if not getattr(started, "done", False):
            started.done = True
            barrier.wait(timeout=60)
        try:
            r = sess.get(cb, allow_redirects=False, timeout=60)
        except requests.RequestException as e:
            return (0, False, repr(e))
        ok = SESSION_COOKIE in h.set_cookies(r)
        return (r.status_code, ok, "" if r.status_code == 302 else r.text[:300])

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, pairs))


def test_fifty_simultaneous_first_logins_of_one_user(prov):
    assert prov.account("frank") is None
    t0 = time.monotonic()
    pairs = idp_part(prov, ["frank"] * 50)
    t1 = time.monotonic()
    results = fire_callbacks(pairs, 50)
    t2 = time.monotonic()
    report(f"{prov.db.name}: 50 first logins of one user: IdP part {t1 - t0:.1f}s, "
           f"50 simultaneous callbacks {t2 - t1:.2f}s")
    bad = [(i, r) for i, r in enumerate(results) if r[0] != 302 or not r[1]]
    assert not bad, bad[:5]

    rows = prov.accounts(f"sub = {lit(USER_CLAIMS['frank']['sub'])}")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["login_count"] == 50
    audit = prov.audit_of("frank")
    # The 49 that lost the race found the row and changed nothing: the
    # create is the only audit row.
    assert [a["event"] for a in audit] == ["create"], audit
    assert audit[0]["account_id"] == row["id"]

    # Every one of the fifty browsers has a working session, on that account.
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        alive = list(pool.map(lambda pair: prov.session_works(pair[0]), pairs))
    assert alive == [True] * 50, alive
    for sess, _ in (pairs[0], pairs[-1]):
        r = sess.get(prov.url("/app/after"), allow_redirects=False, timeout=30)
        assert r.status_code == 200
        assert h.account_headers(r)["id"] == str(row["id"])


def test_many_distinct_users_at_once(prov):
    # The test IdP keeps everything in oidc-provider's memory adapter, an LRU of
    # 1000 entries (about 6 per login in flight): 1000 logins cannot all be
    # parked at the callback at once. So each of 64 browsers-at-a-time runs the
    # whole login, IdP part then callback, and the callbacks of 64 users keep
    # arriving together at the module for the whole run.
    BULK = BULK_PG if prov.db.name == "pgsql" else BULK_SQLITE
    users = [h.bulk_user(i) for i in range(BULK)]
    n_before = prov.counts()

    def one(i_user):
        i, user = i_user
        sess = browser()
        try:
            cb = h.callback_of(sess, prov.url(f"/app/u{i}"), user)
            r = sess.get(cb, allow_redirects=False, timeout=60)
        except (requests.RequestException, AssertionError) as e:
            url = getattr(getattr(e, "request", None), "url", "")
            return sess, (0, False, f"{url}: {e!r}"[:300])
        finally:
            sess.close()
        ok = SESSION_COOKIE in h.set_cookies(r)
        return sess, (r.status_code, ok, "" if r.status_code == 302 else r.text[:300])

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        out = list(pool.map(one, enumerate(users)))
    t1 = time.monotonic()
    report(f"{prov.db.name}: {BULK} distinct users, 64 concurrent logins: {t1 - t0:.1f}s "
           f"({BULK / (t1 - t0):.0f} logins/s)")
    bad = [(users[i], res) for i, (_, res) in enumerate(out) if res[0] != 302 or not res[1]]
    assert not bad, f"{len(bad)} of {BULK} logins failed, e.g. {bad[:3]}"

    assert prov.counts() == (n_before[0] + BULK, n_before[1] + BULK)
    rows = prov.db.rows("SELECT sub, username, email, login_count, status FROM "
                        "jitprov_accounts WHERE username LIKE 'bulk%'")
    assert len(rows) == BULK
    assert {r["username"] for r in rows} == set(users)
    assert all(r["login_count"] == 1 and r["status"] == "active" for r in rows)
    assert all(r["email"] == USER_CLAIMS[r["username"]]["email"] for r in rows)
    creates = h.db_scalar(prov.db, "SELECT count(*) AS n FROM jitprov_audit "
                                   "WHERE event = 'create' AND sub LIKE 'u-b0000000-%'")
    assert creates == BULK

    # A sample of the sessions works, each as its own user.
    # Every session still works (they all fit in the default session cache).
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        alive = list(pool.map(lambda o: prov.session_works(o[0]), out))
    lost = [users[i] for i, ok in enumerate(alive) if not ok]
    assert not lost, f"{len(lost)} of {BULK} sessions lost, e.g. {lost[:5]}"
    for i in (0, BULK - 1):
        r = out[i][0].get(prov.url("/app/check"), allow_redirects=False, timeout=30)
        assert r.status_code == 200 and r.json()["remote_user"] == users[i]
