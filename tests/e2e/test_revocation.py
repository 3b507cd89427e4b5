"""Revocation without caps or races, one-use states and logout tokens, and a
logout that holds whatever the database does (docs/operations.md, "Sessions").

Every session of a user ends with one sub-only logout token, however many there
are; a sid token ends that IdP session's sessions and no other; logins racing a
logout token never leave a session from before the token alive; a replayed
logout token (same jti) answers 400 and ends nothing; a copied state cookie
completes no second callback; a logout while the database is down still ends
the session on the server."""
import concurrent.futures
import time

import pytest
import requests

import jitprov_harness as h
import test_backchannel as bc
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS

BCL = "/backchannel-logout"


def site_config(env):
    return env.httpd.render(
        h.jitprov_server_config(env, extra=f"JITProvBackChannelLogoutURI {BCL}",
                                session_cache=None),
        h.standard_locations().replace("{proxy}", env.proxy_backend.origin))


def alive(site, cookie):
    return bc.session_alive(site, cookie)


def login_cookie(site, user):
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), user)
        assert r.status_code == 200, r.text[:300]
        return sess.cookies.get(SESSION_COOKIE)


def test_one_sub_token_ends_25_sessions(site):
    cookies = [login_cookie(site, "bob") for _ in range(25)]
    bystander = login_cookie(site, "carol")
    assert all(alive(site, c) for c in cookies)
    r = bc.post_token(site, bc.signed(site, bc.good_claims(site, user="bob")))
    assert r.status_code == 200, r.text[:300]
    assert [alive(site, c) for c in cookies] == [False] * 25
    assert alive(site, bystander)
    assert "every session of sub=" + USER_CLAIMS["bob"]["sub"] in site.httpd.log_since_start()
    # The user logs in again afterwards: a new session works.
    assert alive(site, login_cookie(site, "bob"))


def test_replayed_logout_token_is_refused_and_ends_nothing(site):
    token = bc.signed(site, bc.good_claims(site, user="dave"))
    old = login_cookie(site, "dave")
    r = bc.post_token(site, token)
    assert r.status_code == 200
    assert not alive(site, old)
    new = login_cookie(site, "dave")
    r = bc.post_token(site, token)
    assert r.status_code == 400, r.text[:300]
    assert "already used" in r.text
    assert alive(site, new)


def test_logout_token_without_exp_is_refused(site):
    cookie = login_cookie(site, "erin")
    r = bc.post_token(site, bc.signed(site, bc.good_claims(site, user="erin", exp=None)))
    assert r.status_code == 400
    assert "exp" in site.httpd.log_since_start()
    assert alive(site, cookie)


def test_logins_racing_a_logout_token(site):
    """Logins that finished before the token was sent never survive it; the ones
    racing it either end or start after it; none fails; a second token ends all."""
    done_before = [login_cookie(site, "alice") for _ in range(3)]

    def one(_):
        with requests.Session() as sess:
            r = h.login(sess, site.httpd.url("/app/"), "alice")
            return r.status_code, sess.cookies.get(SESSION_COOKIE)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        racing = [pool.submit(one, i) for i in range(8)]
        time.sleep(0.3)
        r = bc.post_token(site, bc.signed(site, bc.good_claims(site, user="alice")))
        assert r.status_code == 200, r.text[:300]
        results = [f.result() for f in racing]
    assert all(code == 200 and cookie for code, cookie in results), results
    assert not any(alive(site, c) for c in done_before)
    r = bc.post_token(site, bc.signed(site, bc.good_claims(site, user="alice")))
    assert r.status_code == 200
    assert not any(alive(site, c) for _, c in results)


def test_copied_state_cookie_completes_one_callback_only(site):
    with requests.Session() as first, requests.Session() as second:
        cb = h.callback_of(first, site.httpd.url("/app/copied"), "bob")
        for cookie in first.cookies:
            if cookie.name.startswith(h.STATE_PREFIX):
                second.cookies.set(cookie.name, cookie.value, domain="127.0.0.1", path="/")
        r = first.get(cb, allow_redirects=False)
        assert r.status_code == 302 and first.cookies.get(SESSION_COOKIE)
        r = second.get(cb, allow_redirects=False)
        assert r.status_code == 400, r.status_code
        assert "already used" in r.text or "unknown, expired or already used" in r.text
        assert SESSION_COOKIE not in h.set_cookies(r)
        assert second.cookies.get(SESSION_COOKIE) is None


def test_copied_state_refused_after_a_graceful_restart(site):
    # The one-use marker lives in the revocation file: a reload does not forget it.
    with requests.Session() as first, requests.Session() as second:
        cb = h.callback_of(first, site.httpd.url("/app/copied"), "carol")
        for cookie in first.cookies:
            if cookie.name.startswith(h.STATE_PREFIX):
                second.cookies.set(cookie.name, cookie.value, domain="127.0.0.1", path="/")
        assert first.get(cb, allow_redirects=False).status_code == 302
        site.httpd.graceful()
        r = second.get(cb, allow_redirects=False)
        assert r.status_code == 400


# ---- the database down during a logout --------------------------------------

@pytest.fixture
def pg_site(env, postgres):
    site = h.ProvSite(env, h.PgDb(postgres)).start("JITProvAccountRecheckInterval 1")
    yield site
    site.httpd.stop()


def test_logout_with_the_database_down_ends_the_session(pg_site, s):
    site = pg_site
    assert h.login(s, site.url("/app/"), "alice").status_code == 200
    old = s.cookies.get(SESSION_COOKIE)
    site.db.make_unavailable()
    try:
        time.sleep(1.3)  # the status re-check falls due and fails closed
        r = s.get(site.url(h.STATIC_PAGE), allow_redirects=False)
        assert r.status_code == 503, r.status_code
        r = s.get(site.url("/logout?return_to=/x"), allow_redirects=False)
        assert r.status_code in (302, 303), (r.status_code, r.text[:300])
        assert s.cookies.get(SESSION_COOKIE) is None
    finally:
        site.db.make_available()
    # The database is back: the old cookie is refused, it does not come back.
    with requests.Session() as replay:
        replay.cookies.set(SESSION_COOKIE, old, domain="127.0.0.1", path="/")
        assert not site.session_works(replay)


def test_sid_token_ends_exactly_its_idp_session(site):
    """A client registered with backchannel_logout_session_required gets `sid` in
    ID tokens and logout tokens: logging out of one IdP session ends the
    sessions made from it, not the same user's session from another browser."""
    env = site
    client_id = "jitprov-sid"
    if not any(c["client_id"] == client_id for c in env.idp.clients):
        env.idp.clients.append(env.client(client_id=client_id,
                                          backchannel_logout_session_required=True))
        env.idp.restart()
    text = site_config(env).replace(f"JITProvClientID {env.client_id}",
                                    f"JITProvClientID {client_id}")
    env.httpd.start(text)
    try:
        a, b = requests.Session(), requests.Session()
        assert h.login(a, env.httpd.url("/app/"), "alice").status_code == 200
        assert h.login(b, env.httpd.url("/app/"), "alice").status_code == 200
        ca, cb = a.cookies.get(SESSION_COOKIE), b.cookies.get(SESSION_COOKIE)
        assert alive(env, ca) and alive(env, cb)
        before = bc.bcl_count(env)
        end = env.idp.discovery()["end_session_endpoint"] + "?client_id=" + client_id
        h.follow_idp_logout(a, end)
        bc.wait_bcl(env, before)
        deadline = time.monotonic() + 5
        while alive(env, ca):
            assert time.monotonic() < deadline, h.tail(env.httpd.error_log, 10)
            time.sleep(0.1)
        assert alive(env, cb)
        assert "every session of sid=" in env.httpd.log_since_start()
        a.close()
        b.close()
    finally:
        env.httpd.start(site_config(env))


def test_scim_deactivation_with_another_account_key_ends_every_session(env):
    """JITProvAccountKey email: the account row's sub is not the key; SCIM ends
    the sessions by account id, all of them."""
    import test_scim as ts
    sc = ts.Scim(env, h.SqliteDb(env.httpd))
    sc.start(ts.SERVER + "\nJITProvAccountKey email\nJITProvBackChannelLogoutURI " + BCL)
    try:
        bob = USER_CLAIMS["bob"]
        u = sc.create(ts.unique("bob"), bob["email"])
        cookies = []
        for _ in range(20):
            with requests.Session() as sess:
                assert h.login(sess, sc.url("/app/"), "bob").status_code == 200
                cookies.append(sess.cookies.get(SESSION_COOKIE))
        def on_app(cookie):
            with requests.Session() as other:
                other.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
                r = other.get(sc.url("/app/probe"), allow_redirects=False)
                assert r.status_code in (200, 302), r.status_code
                return r.status_code == 200

        assert all(on_app(c) for c in cookies)
        r = sc.patch(u["id"], [{"op": "replace", "path": "active", "value": False}])
        assert r.status_code == 200 and r.json()["active"] is False
        assert not any(on_app(c) for c in cookies)
    finally:
        env.httpd.stop()
        env.httpd.start(site_config(env))
