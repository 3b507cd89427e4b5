"""Two httpd nodes behind one (imaginary) load balancer: shared sessions in
Redis (JITProvSessionCache redis:, mod_socache_redis) and shared accounts in
PostgreSQL. Any node serves any request; a logout on one ends the session on
the other; what Redis stores is sealed, not readable claims; a row disabled in
SQL ends the user's sessions on both nodes within the re-check interval.

Cookies are per host, not per port, so one requests.Session sends the session
cookie to both nodes (127.0.0.1:A and 127.0.0.1:B), as a browser would to two
nodes behind one name."""
import time
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS, lit

SERVER = "JITProvAccountRecheckInterval 1"


@pytest.fixture(scope="module")
def nodes(env, postgres, redis):
    db = h.PgDb(postgres)
    redis.flush()
    cache = f"redis:127.0.0.1:{redis.port}"
    a = h.ProvSite(env, db).start(SERVER, session_cache=cache)
    b = h.ProvSite(env, db, httpd=env.second_httpd()).start(SERVER, session_cache=cache,
                                                           fresh=False)
    yield a, b
    b.httpd.stop()
    a.httpd.stop()


def replay(cookie, url):
    with requests.Session() as other:
        other.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        return other.get(url, allow_redirects=False)


def test_login_on_a_session_used_on_b(nodes, s, env):
    a, b = nodes
    r = h.login(s, a.url("/app/"), "alice")
    assert r.status_code == 200
    acc_id = h.account_headers(r)["id"]
    before = env.idp.stats()
    r = s.get(b.url("/app/on-b"), allow_redirects=False)
    assert r.status_code == 200, (r.status_code, h.tail(b.httpd.error_log, 10))
    assert r.json()["remote_user"] == "alice"
    assert h.account_headers(r)["id"] == acc_id
    after = env.idp.stats()
    for endpoint in ("/auth", "/token"):
        assert after.get(endpoint, 0) == before.get(endpoint, 0), endpoint
    # And the other way round, for a login that completes on node B.
    with requests.Session() as s2:
        r = h.login(s2, b.url("/app/"), "bob")
        assert r.status_code == 200
        r = s2.get(a.url("/app/on-a"), allow_redirects=False)
        assert r.status_code == 200 and r.json()["remote_user"] == "bob"
    # One account per user in the shared database, whichever node made it.
    for user in ("alice", "bob"):
        assert len(a.db.rows(f"SELECT id FROM jitprov_accounts WHERE sub = "
                             f"{lit(USER_CLAIMS[user]['sub'])}")) == 1


def test_logout_on_b_ends_session_on_a(nodes, s):
    a, b = nodes
    assert h.login(s, a.url("/app/"), "carol").status_code == 200
    old = s.cookies.get(SESSION_COOKIE)
    assert replay(old, b.url("/app/")).status_code == 200
    r = s.get(b.url("/logout?return_to=/x"), allow_redirects=False)
    assert r.status_code in (302, 303)
    assert s.cookies.get(SESSION_COOKIE) is None
    # The ID token that node A sealed into the logout-path cookie opens on
    # node B and reaches the IdP as id_token_hint.
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert h.jwt_parts(q["id_token_hint"])[1]["sub"] == USER_CLAIMS["carol"]["sub"]
    r = replay(old, a.url("/app/after"))
    assert r.status_code == 302
    assert r.headers["Location"].startswith(a.env.idp.discovery()["authorization_endpoint"])
    assert replay(old, a.url("/api401/")).status_code == 401
    assert replay(old, b.url("/api401/")).status_code == 401


def test_redis_records_are_not_plaintext(nodes, redis):
    a, b = nodes
    for user, node in (("dave", a), ("grace", b)):
        with requests.Session() as sess:
            assert h.login(sess, node.url("/app/"), user).status_code == 200
            cookie = sess.cookies.get(SESSION_COOKIE)
        stored = redis.dump()
        assert stored, "nothing in Redis: the nodes do not use it"
        claims = USER_CLAIMS[user]
        secrets_ = [claims["email"], claims["name"], claims["sub"],
                    claims["preferred_username"], claims["groups"][0], a.env.idp.issuer,
                    cookie, "eyJhbGci"]  # the start of any JWT (the ID token): {"alg"
        # (a bare "eyJ" turns up by chance in a 12 KB sealed blob about one run in 20)
        for key, value in stored.items():
            for text in secrets_:
                needle = text.encode("utf-8")
                assert needle not in key, (key, text)
                assert needle not in value, (key, text, value[:200])


def test_disabled_in_sql_ends_sessions_on_both_nodes(nodes):
    a, b = nodes
    on_a, on_b = requests.Session(), requests.Session()
    try:
        assert h.login(on_a, a.url("/app/"), "judy").status_code == 200
        assert h.login(on_b, b.url("/app/"), "judy").status_code == 200
        assert on_a.get(b.url("/app/x"), allow_redirects=False).status_code == 200
        assert on_b.get(a.url("/app/x"), allow_redirects=False).status_code == 200
        a.db.execute("UPDATE jitprov_accounts SET status = 'disabled' WHERE sub = "
                     f"{lit(USER_CLAIMS['judy']['sub'])}")
        time.sleep(1.3)
        # Each browser asks the node it did not log in on first.
        assert on_a.get(b.url("/api401/"), allow_redirects=False).status_code == 401
        assert on_b.get(a.url("/api401/"), allow_redirects=False).status_code == 401
        assert on_a.get(a.url("/api401/"), allow_redirects=False).status_code == 401
        assert on_b.get(b.url("/app/"), allow_redirects=False).status_code == 302
        # Logging in again is refused on either node.
        for node in (a, b):
            with requests.Session() as sess:
                r = h.login(sess, node.url("/app/"), "judy")
                assert r.status_code == 403 and "disabled" in r.text
    finally:
        on_a.close()
        on_b.close()
