"""Several login attempts in one browser (tabs) and several browsers at once."""
import concurrent.futures
import urllib.parse

import requests

import jitprov_harness as h
from jitprov_harness import STATE_PREFIX

# Upper bound on state cookies the module keeps per browser: enough for a few
# tabs, small enough that the Cookie header stays far below httpd's 8 KB limit.
STATE_COOKIE_CAP_MAX = 20


def begin(site, sess, path):
    r = sess.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 302, (path, r.status_code, r.text[:300])
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))[
        "state"]
    return state, r.headers["Location"]


def finish_at_idp(site, sess, authorize_url, user="alice"):
    """From an authorize URL to the module's callback URL (not visited)."""
    r = sess.get(authorize_url, allow_redirects=False)
    for _ in range(15):
        if h.is_redirect(r):
            nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
            if nxt.startswith(site.httpd.url("/callback")):
                return nxt
            r = sess.get(nxt, allow_redirects=False)
        elif 'name="login"' in r.text:
            action, fields = h.parse_form(r.text)
            fields.update(login=user, password=f"pass-{user}")
            r = sess.post(urllib.parse.urljoin(r.url, action), data=fields,
                          allow_redirects=False)
        else:
            break
    raise AssertionError(f"IdP flow did not reach the callback: {r.status_code} {r.text[:300]}")


def test_tabs_do_not_collide(site, s):
    attempts = [begin(site, s, f"/app/tab{i}?i={i}") for i in range(4)]
    names = h.state_cookies(s)
    assert sorted(STATE_PREFIX + st[:16] for st, _ in attempts) == names
    # Finish them in reverse order; each returns to its own page.
    for i, (state, url) in reversed(list(enumerate(attempts))):
        cb = finish_at_idp(site, s, url)
        assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query))["state"] == state
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 302, (i, r.status_code, r.text[:300])
        assert h.same_origin(r.headers["Location"], site.httpd.origin)
        assert urllib.parse.urljoin(site.httpd.origin, r.headers["Location"]) == \
            site.httpd.url(f"/app/tab{i}?i={i}")
        assert STATE_PREFIX + state[:16] not in h.state_cookies(s)
    assert h.state_cookies(s) == []
    assert s.get(site.httpd.url("/app/"), allow_redirects=False).status_code == 200


def test_state_cookies_are_capped(site, s):
    attempts = []
    for i in range(30):
        attempts.append(begin(site, s, f"/app/many{i}"))
        n = len(h.state_cookies(s))
        assert n <= STATE_COOKIE_CAP_MAX, n
        cookie_header = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
        assert len(cookie_header) < 7000, len(cookie_header)
    # The newest attempts still complete.
    for i in (29, 28):
        state, url = attempts[i]
        cb = finish_at_idp(site, s, url)
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 302, (i, r.status_code, r.text[:300])
        assert r.headers["Location"].endswith(f"/app/many{i}")


def test_browsers_in_parallel(site):
    users = ["alice", "bob", "carol", "dave", "erin", "alice", "bob", "carol"]

    def one(i_user):
        i, user = i_user
        with requests.Session() as sess:
            r = h.login(sess, site.httpd.url(f"/app/par{i}"), user)
            return r.status_code, r.json().get("remote_user"), r.url

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, enumerate(users)))
    for i, (status, who, url) in enumerate(results):
        assert status == 200 and who == users[i], results
        assert url == site.httpd.url(f"/app/par{i}")


def test_many_sessions_many_threads_no_crosstalk(site):
    # Many sessions hammered at once by many threads, also after one of them
    # logs out: every answer carries the identity of the cookie it was sent
    # with (the per-process memory of opened cookies never mixes two up), and
    # the logged-out cookie stays dead while its plaintext is still remembered.
    users = ["alice", "bob", "carol", "dave", "erin"] * 4
    cookies = []
    for i, user in enumerate(users):
        with requests.Session() as sess:
            assert h.login(sess, site.httpd.url(f"/app/x{i}"), user).status_code == 200
            cookies.append((user, sess.cookies.get(h.SESSION_COOKIE)))
    gone_user, gone = cookies[0]
    with requests.Session() as sess:
        sess.cookies.set(h.SESSION_COOKIE, gone, domain="127.0.0.1", path="/")
        assert sess.get(site.httpd.url("/app/"), allow_redirects=False).status_code == 200
        assert sess.get(site.httpd.url("/logout"), allow_redirects=False).status_code == 302

    def hammer(k):
        wrong = []
        # A new connection each time: a keep-alive connection the server is
        # closing at that moment would be the client's race, not ours.
        for n in range(30):
            user, cookie = cookies[(k * 7 + n) % len(cookies)]
            r = requests.get(site.httpd.url("/app/"), allow_redirects=False,
                             headers={"Cookie": f"{h.SESSION_COOKIE}={cookie}",
                                      "Connection": "close"})
            if cookie == gone:
                if r.status_code != 302:
                    wrong.append(("revived", r.status_code))
            elif r.status_code != 200 or r.json()["remote_user"] != user:
                wrong.append((user, r.status_code, r.text[:100]))
        return wrong

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        wrong = [w for ws in pool.map(hammer, range(16)) for w in ws]
    assert not wrong, wrong[:5]
