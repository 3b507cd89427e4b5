"""Sessions survive what production does to httpd: `apachectl graceful` (Debian's
logrotate, nightly) and a full restart, with the DEFAULT configuration (no
JITProvSessionCache: the session record travels sealed in the cookie, revocations
live in JITProvRevocationFile), under traffic, and on two nodes sharing Redis or
memcached. A revoked session stays revoked across both, and nothing needs the
IdP again (no login storm)."""
import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

BCL = "/backchannel-logout"


def site_config(env):
    # No JITProvSessionCache: the module's default.
    return env.httpd.render(
        h.jitprov_server_config(env, extra=f"JITProvBackChannelLogoutURI {BCL}",
                                session_cache=None),
        h.standard_locations().replace("{proxy}", env.proxy_backend.origin))


def alive(url, cookie):
    with requests.Session() as other:
        other.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
        r = other.get(url, allow_redirects=False, timeout=15)
        assert r.status_code in (200, 401), (r.status_code, r.text[:200])
        return r.status_code == 200


def idp_calls(env):
    st = env.idp.stats()
    return st.get("/auth", 0), st.get("/token", 0)


@pytest.mark.parametrize("how", ["graceful", "restart"])
def test_sessions_survive(site, how):
    env = site
    cookies = {}
    for user in ("alice", "bob", "grace"):  # grace: claims too large for a cookie
        with requests.Session() as sess:
            assert h.login(sess, env.httpd.url("/app/"), user).status_code == 200
            cookies[user] = sess.cookies.get(SESSION_COOKIE)
    # A session ended before the reload must stay ended after it.
    with requests.Session() as sess:
        assert h.login(sess, env.httpd.url("/app/"), "dave").status_code == 200
        ended = sess.cookies.get(SESSION_COOKIE)
        assert sess.get(env.httpd.url("/logout?return_to=/x"),
                        allow_redirects=False).status_code in (302, 303)
    assert not alive(env.httpd.url("/api401/"), ended)
    before = idp_calls(env)
    if how == "graceful":
        env.httpd.graceful()
    else:
        env.httpd.restart_full()
    for user in ("alice", "bob"):
        with requests.Session() as sess:
            sess.cookies.set(SESSION_COOKIE, cookies[user], domain="127.0.0.1", path="/")
            r = sess.get(env.httpd.url("/app/after-reload"), allow_redirects=False)
            assert r.status_code == 200, (how, user, r.status_code)
            assert r.json()["remote_user"] == user
    assert not alive(env.httpd.url("/api401/"), ended)
    # No login storm: nobody was sent back to the IdP.
    assert idp_calls(env) == before
    # grace's claims do not fit a cookie: they are kept, sealed, in a file
    # beside the revocation file, which survives reloads as well.
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, cookies["grace"], domain="127.0.0.1", path="/")
        # Her group names hold commas (LDAP DNs): "," would make the header
        # ambiguous, so read them where the delimiter is "|".
        r = sess.get(env.httpd.url("/enc/pipe/grace"), allow_redirects=False)
        assert r.status_code == 200, r.status_code
        assert r.json()["http"]["HTTP_X_USER_GROUPS"] == "|".join(
            h.USER_CLAIMS["grace"]["groups"])
    assert idp_calls(env) == before


def test_revoked_by_sub_stays_revoked_after_restart(site):
    env = site
    with requests.Session() as sess:
        assert h.login(sess, env.httpd.url("/app/"), "erin").status_code == 200
        cookie = sess.cookies.get(SESSION_COOKIE)
    import test_backchannel as bc
    r = bc.post_token(env, bc.signed(env, bc.good_claims(env, user="erin")))
    assert r.status_code == 200, r.text[:300]
    assert not alive(env.httpd.url("/api401/"), cookie)
    env.httpd.graceful()
    assert not alive(env.httpd.url("/api401/"), cookie)
    env.httpd.restart_full()
    assert not alive(env.httpd.url("/api401/"), cookie)
    # A new login of the same user works.
    with requests.Session() as sess:
        assert h.login(sess, env.httpd.url("/app/"), "erin").status_code == 200
        assert alive(env.httpd.url("/api401/"), sess.cookies.get(SESSION_COOKIE))


def served_as(r, user):
    """The proxied backend got the request with user's identity."""
    if r.status_code != 200:
        return False
    hdrs = {k.lower(): v for k, v in r.json()["headers"]}
    return hdrs.get("x-user-email") == f"{user}@example.com"


def test_graceful_restarts_under_traffic(site):
    """What logrotate meets: `apachectl graceful` while signed-in users click and
    others log in. Eight clients keep requesting with their sessions, two keep
    logging in from scratch (some logins start in one generation and finish
    their callback in the next); three graceful restarts go by. Every request
    reaches the (proxied) application as its user, every login ends there,
    nobody is sent to the IdP, and no child dies. (The backend is proxied, not
    a CGI: mod_cgid restarts its daemon at a graceful restart and answers 503
    to a CGI request caught in between, whatever the authentication.)"""
    import threading
    import time

    env = site
    users = ["alice", "bob", "carol", "frank", "henry", "ivan", "judy", "pat"]
    cookies = {}
    for user in users:
        with requests.Session() as sess:
            assert h.login(sess, env.httpd.url("/proxied/"), user).status_code == 200
            cookies[user] = sess.cookies.get(SESSION_COOKIE)
    stop = threading.Event()
    bad, served, logins, resets = [], [0], [0], [0]
    lock = threading.Lock()

    def clicker(user):
        sess = requests.Session()
        sess.cookies.set(SESSION_COOKIE, cookies[user], domain="127.0.0.1", path="/")
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = sess.get(env.httpd.url(f"/proxied/click/{n}"), allow_redirects=False,
                             timeout=15)
            except requests.ConnectionError:
                # A kept-alive connection that an old generation's child closed
                # as the request went out: HTTP's own race, retried as browsers do.
                with lock:
                    resets[0] += 1
                sess.close()
                continue
            ok = served_as(r, user)
            with lock:
                served[0] += 1
                if not ok:
                    bad.append((user, r.status_code, r.headers.get("Location"), r.text[:200]))
        sess.close()

    def newcomer(user):
        while not stop.is_set():
            with requests.Session() as sess:
                try:
                    r = h.login(sess, env.httpd.url("/proxied/fresh"), user)
                except requests.ConnectionError:
                    with lock:
                        resets[0] += 1
                    continue
                ok = served_as(r, user)
                with lock:
                    logins[0] += 1
                    if not ok:
                        bad.append(("login " + user, r.status_code, r.text[:200]))

    threads = [threading.Thread(target=clicker, args=(u,)) for u in users]
    threads += [threading.Thread(target=newcomer, args=(u,)) for u in ("gwen", "trudy")]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        before = served[0]
        for _ in range(3):
            env.httpd.graceful()
            time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not bad, bad[:5]
    assert served[0] - before >= 30 and logins[0] >= 4, (served[0], before, logins[0])
    # Retries of closed keep-alive connections stay rare.
    assert resets[0] <= served[0] // 20, (resets[0], served[0])
    with open(env.httpd.error_log) as f:
        log = f.read()
    assert "exit signal" not in log and "AH00052" not in log, h.tail(env.httpd.error_log)


@pytest.mark.parametrize("kind", ["redis", "memcache"])
def test_two_nodes_on_a_shared_cache_survive_restarts(env, request, kind):
    """Both nodes restart (one graceful, one full) and every session still works
    on both; a logout on one, after the restarts, holds on the other. (It takes
    over and stops the httpd the other tests share: it stays last.)"""
    server = request.getfixturevalue("redis" if kind == "redis" else "memcached")
    server.flush()
    cache = f"{kind}:127.0.0.1:{server.port}"
    locs = h.standard_locations().replace("{proxy}", env.proxy_backend.origin)
    a = env.httpd
    b = env.second_httpd()
    a.start(a.render(h.jitprov_server_config(env, session_cache=cache), locs))
    b.start(b.render(h.jitprov_server_config(env, session_cache=cache), locs))
    try:
        with requests.Session() as s1, requests.Session() as s2:
            assert h.login(s1, a.url("/app/"), "alice").status_code == 200
            assert h.login(s2, b.url("/app/"), "bob").status_code == 200
            c1, c2 = s1.cookies.get(SESSION_COOKIE), s2.cookies.get(SESSION_COOKIE)
            before = idp_calls(env)
            a.graceful()
            b.restart_full()
            for node in (a, b):
                assert alive(node.url("/api401/"), c1) and alive(node.url("/api401/"), c2)
            assert idp_calls(env) == before
            r = s1.get(a.url("/logout?return_to=/x"), allow_redirects=False)
            assert r.status_code in (302, 303)
            assert not alive(b.url("/api401/"), c1)
            assert not alive(a.url("/api401/"), c1)
            assert alive(b.url("/api401/"), c2)
            b.restart_full()
            assert not alive(b.url("/api401/"), c1)
    finally:
        b.stop()
        a.stop()
