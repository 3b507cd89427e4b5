"""JITProvLoginSync: with SQLite, a login's writes commit without waiting for
the disk by default (synchronous=NORMAL under WAL), and with `full` as every
other write does (an fdatasync per commit). Watched with strace on the httpd
children: the fdatasync calls during logins."""
import os
import shutil
import subprocess
import time

import pytest
import requests

import jitprov_harness as h

pytestmark = pytest.mark.skipif(not shutil.which("strace"), reason="strace not installed")


@pytest.fixture(scope="module")
def prov(env, db):
    if not isinstance(db, h.SqliteDb):
        pytest.skip("SQLite only: PostgreSQL syncs in its own server")
    yield h.ProvSite(env, db)
    env.httpd.stop()


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def fdatasyncs_during_logins(prov, users):
    kids = children(prov.httpd.pid())
    assert kids
    log = os.path.join(prov.httpd.dir, "logs", "strace.txt")
    st = subprocess.Popen(["strace", "-f", "-q", "-e", "trace=fdatasync,fsync", "-o", log]
                          + sum([["-p", str(p)] for p in kids], []))
    try:
        time.sleep(1)
        for user in users:
            with requests.Session() as s:
                assert h.login(s, prov.url("/app/"), user).status_code == 200
    finally:
        st.terminate()
        st.wait()
    with open(log) as f:
        return sum(1 for line in f if "fdatasync(" in line or "fsync(" in line)


@pytest.mark.parametrize("mode,users", [("normal", ["alice", "bob", "carol"]),
                                        ("full", ["dave", "erin", "frank"])])
def test_login_commits(prov, mode, users):
    prov.start("" if mode == "normal" else "JITProvLoginSync full")
    # One login first: connections made, the WAL in place.
    with requests.Session() as s:
        assert h.login(s, prov.url("/app/"), "henry").status_code == 200
    n = fdatasyncs_during_logins(prov, users)
    if mode == "normal":
        assert n == 0, n
    else:
        assert n >= len(users), n
    # Written all the same: the accounts are there, with their audit rows.
    for u in users:
        assert prov.db.rows("SELECT id FROM jitprov_accounts WHERE sub = "
                            f"{h.lit(h.USER_CLAIMS[u]['sub'])}")
