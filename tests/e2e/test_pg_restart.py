"""PostgreSQL restarted under a running httpd (tracker issue 8): the pooled
mod_dbd connections outlive their server sessions. mod_dbd reconnects a
broken one (PQreset) when it next hands it out, and the new session has none
of the statements the module prepared on the old one ("prepared statement
... does not exist"). Once the server is back, every login, every session
status re-check and every SCIM request must work, on every pooled
connection, without restarting httpd."""
import concurrent.futures
import secrets
import time

import pytest
import requests

import jitprov_harness as h

pytestmark = pytest.mark.parametrize("db", ["pgsql"], indirect=True)

TOKEN = "scim-" + secrets.token_urlsafe(32)
SERVER = f"""JITProvSCIMBearerToken {TOKEN}
JITProvAccountRecheckInterval 1"""
SCIM_LOCATION = """<Location /scim/v2>
    SetHandler jitprov-scim
</Location>"""
# Enough parallel clients to warm several pooled connections (16 threads a
# child): each holds the module's prepared statements when the server goes.
CLIENTS = 8
USERS = [h.bulk_user(i) for i in range(960, 960 + CLIENTS)]


class Site(h.ProvSite):
    """The provisioning site plus the SCIM endpoint."""

    def config(self, server_extra="", identity=h.PROV_IDENTITY, session_cache=None, extra=""):
        return super().config(server_extra, identity, session_cache,
                              extra=SCIM_LOCATION + "\n" + extra)


@pytest.fixture(scope="module")
def prov(env, db):
    site = Site(env, db).start(SERVER)
    yield site
    env.httpd.stop()
    if not db.server.started:
        db.server.start()


def login(prov, user):
    with requests.Session() as sess:
        r = h.login(sess, prov.url(f"/app/{user}"), user)
        return r.status_code, h.error_ref(r) if r.status_code != 200 else None


def scim_list(prov, _=None):
    r = requests.get(prov.url("/scim/v2/Users"), params={"count": "5"}, timeout=30,
                     headers={"Authorization": f"Bearer {TOKEN}",
                              "Accept": "application/scim+json"})
    return r.status_code


def in_parallel(fn, prov, args):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(lambda a: fn(prov, a), args))


def test_everything_works_after_postgres_restarts(prov):
    # Before: logins, a live session and SCIM requests on several connections.
    assert in_parallel(login, prov, USERS) == [(200, None)] * CLIENTS
    assert in_parallel(scim_list, prov, range(CLIENTS)) == [200] * CLIENTS
    live = requests.Session()
    assert h.login(live, prov.url("/app/live"), "bob").status_code == 200

    pg = prov.db.server
    pg.stop("fast")
    pg.start()
    mark = len(prov.httpd.log_since_start())
    time.sleep(1.2)  # the live session's status re-check falls due

    # After: the first request on each dead connection included.
    r = live.get(prov.url("/app/after"), allow_redirects=False, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    for _ in range(3):
        got = in_parallel(login, prov, USERS)
        assert got == [(200, None)] * CLIENTS, got
        assert in_parallel(scim_list, prov, range(CLIENTS)) == [200] * CLIENTS
    time.sleep(1.2)
    r = live.get(prov.url("/app/later"), allow_redirects=False, timeout=30)
    assert r.status_code == 200, r.status_code
    live.close()

    log = prov.httpd.log_since_start()[mark:]
    assert "does not exist" not in log, log[-3000:]
    # Every login counted once: four rounds, the first before the restart.
    for u in USERS:
        assert prov.account(u)["login_count"] == 4, u
