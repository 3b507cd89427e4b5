"""A client that keeps sending the cookie it had (a script with a fixed Cookie
header, or requests in flight while a write-back replaces the cookie).

Each httpd process serves such a client by the cookie it issued to replace
the old one (the same session with newer activity and re-check times), so the
account re-check and the cookie write-back happen once per interval, not on
every request. What must not change: the re-check still runs every
JITProvAccountRecheckInterval (an account disabled in SQL ends the session
for the old cookie too), a logout by either cookie ends both, and every
answer carries the session's own identity."""
import time

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS, lit

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


def hammer(prov, cookie, user, secs):
    """Requests with the same old cookie for secs seconds: all served as user;
    returns how many answers carried a replacement cookie."""
    replaced, t0 = 0, time.time()
    while time.time() - t0 < secs:
        r = get(prov, cookie)
        assert r.status_code == 200, (r.status_code, r.text[:200])
        assert r.json()["remote_user"] == user
        replaced += SESSION_COOKIE in r.headers.get("Set-Cookie", "")
        time.sleep(0.05)
    return replaced


def test_old_cookie_is_rechecked_and_ends_when_the_account_is_disabled(prov):
    cookie = login(prov, "carol")
    replaced = hammer(prov, cookie, "carol", 3.5)
    # Re-checks and write-backs fall due every second; each process answers
    # one request with a new cookie per interval, not every request.
    assert 1 <= replaced <= 20, replaced
    prov.db.execute("UPDATE jitprov_accounts SET status = 'disabled' WHERE sub = "
                    f"{lit(USER_CLAIMS['carol']['sub'])}")
    try:
        time.sleep(1.3)
        for _ in range(12):  # every process, whatever it remembers
            assert get(prov, cookie, "/api401/").status_code == 401
    finally:
        prov.db.execute("UPDATE jitprov_accounts SET status = 'active' WHERE sub = "
                        f"{lit(USER_CLAIMS['carol']['sub'])}")


def test_logout_with_the_old_cookie_ends_its_replacement_too(prov):
    cookie = login(prov, "bob")
    hammer(prov, cookie, "bob", 2.5)
    newer = None
    for _ in range(40):
        r = get(prov, cookie)
        if SESSION_COOKIE in r.headers.get("Set-Cookie", ""):
            newer = r.cookies.get(SESSION_COOKIE)
            break
        time.sleep(0.1)
    assert newer and newer != cookie
    assert get(prov, newer).json()["remote_user"] == "bob"
    r = get(prov, cookie, "/logout")
    assert r.status_code == 302
    for c in (cookie, newer):
        for _ in range(6):
            assert get(prov, c, "/api401/").status_code == 401


def identity(r):
    """What the backend was handed about the user: variables and headers."""
    j = r.json()
    return (j["remote_user"], j["jitprov"],
            {k: v for k, v in j["http"].items() if k.startswith("HTTP_X_")})


def test_old_cookie_and_its_replacement_carry_the_same_identity(prov):
    # Served from what each process remembers (the record rebuilt from the
    # places of its strings, the environment kept beside it), by the old
    # cookie before and after the write-back that replaced it, and by the
    # replacement itself: the same variables and headers every time.
    cookie = login(prov, "dave")
    want = identity(get(prov, cookie))
    assert want[0] == "dave"
    assert want[1]["JITPROV_CLAIM_EMAIL"] == USER_CLAIMS["dave"]["email"]
    assert "HTTP_X_USER_EMAIL" in want[2]
    newer, t0 = None, time.time()
    while time.time() - t0 < 2.5 or not newer:
        assert time.time() - t0 < 10, "no write-back"
        r = get(prov, cookie)
        assert r.status_code == 200
        assert identity(r) == want
        if SESSION_COOKIE in r.headers.get("Set-Cookie", ""):
            newer = r.cookies.get(SESSION_COOKIE)
        time.sleep(0.05)
    for _ in range(6):
        assert identity(get(prov, newer)) == want
