"""Cookies as browsers want them: SameSite per cookie (JITProvCookieSameSite),
Secure where needed, the __Host- prefix (JITProvCookieHostPrefix), and
configtest refusing combinations browsers would drop."""
import urllib.parse

import pytest

import jitprov_harness as h


def start(env, extra):
    env.httpd.stop()
    env.httpd.start(env.standard_config(server_extra=extra))


@pytest.fixture(scope="module")
def restore(site):
    yield site
    start(site, "")


def login_by_hand(env, s, path, user):
    """A login that carries the cookies itself (requests does not send Secure
    cookies over http). Returns (state Set-Cookie attrs, callback response)."""
    r = s.get(env.httpd.url(path), allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    states = {n: v for n, v in h.set_cookies(r).items() if "jitprov_state_" in n}
    assert len(states) == 1, h.set_cookie_lines(r)
    name, (value, attrs) = next(iter(states.items()))
    cb = h.idp_login_until(s, r.headers["Location"], env.httpd.url("/callback"), user)
    q = urllib.parse.urlsplit(cb).query
    r = s.get(env.httpd.url("/callback?" + q), allow_redirects=False,
              headers={"Cookie": f"{name}={value}"})
    return name, attrs, r


def test_defaults(restore, s):
    start(restore, "")
    name, attrs, r = login_by_hand(restore, s, "/app/c1", "alice")
    assert name.startswith("jitprov_state_")
    assert attrs["samesite"] == "Lax" and attrs["path"] == "/" and attrs["httponly"] is True
    assert "secure" not in attrs
    assert r.status_code == 302, r.text[:300]
    v, a = h.set_cookies(r)[h.SESSION_COOKIE]
    assert a["samesite"] == "Lax" and a["httponly"] is True and "secure" not in a
    assert "domain" not in a and "max-age" not in a
    # The ID token's cookie: for the logout path only, otherwise alike.
    v, a = h.set_cookies(r)[h.SESSION_COOKIE + "_hint"]
    assert a["path"] == "/logout" and a["samesite"] == "Lax" and a["httponly"] is True
    assert "secure" not in a and "domain" not in a and "max-age" not in a


def test_samesite_per_cookie(restore, s):
    start(restore, "JITProvCookieSameSite session Strict\nJITProvCookieSameSite state None")
    name, attrs, r = login_by_hand(restore, s, "/app/c2", "bob")
    # None needs Secure, or browsers drop the cookie.
    assert attrs["samesite"] == "None" and attrs["secure"] is True
    assert r.status_code == 302, r.text[:300]
    cookies = h.set_cookies(r)
    # The callback clears the state cookie with the same attributes.
    assert h.is_clearing(*cookies[name]) and cookies[name][1]["samesite"] == "None"
    v, a = cookies[h.SESSION_COOKIE]
    assert a["samesite"] == "Strict" and "secure" not in a
    assert cookies[h.SESSION_COOKIE + "_hint"][1]["samesite"] == "Strict"
    r = s.get(restore.httpd.url("/app/c2"), headers={"Cookie": f"{h.SESSION_COOKIE}={v}"},
              allow_redirects=False)
    assert r.status_code == 200 and r.json()["remote_user"] == "bob"


def test_attributes_of_jitprov_cookie_still_win(restore, s):
    start(restore, 'JITProvCookie app_sso "SameSite=Strict; Domain=127.0.0.1"\n'
                   "JITProvCookieSameSite state Lax")
    name, attrs, r = login_by_hand(restore, s, "/app/c3", "carol")
    assert attrs["samesite"] == "Lax" and "domain" not in attrs
    v, a = h.set_cookies(r)["app_sso"]
    assert a["samesite"] == "Strict" and a["domain"] == "127.0.0.1" and a["httponly"] is True
    # Its hint cookie takes the SameSite, not the Domain: the logout path is
    # on this host.
    v, a = h.set_cookies(r)["app_sso_hint"]
    assert a["samesite"] == "Strict" and "domain" not in a and a["path"] == "/logout"


def test_host_prefix(restore, s):
    start(restore, "JITProvCookieHostPrefix On")
    name, attrs, r = login_by_hand(restore, s, "/app/c4", "dave")
    assert name.startswith("__Host-jitprov_state_")
    assert attrs["secure"] is True and attrs["path"] == "/" and "domain" not in attrs
    assert r.status_code == 302, r.text[:300]
    cookies = h.set_cookies(r)
    assert h.is_clearing(*cookies[name])
    v, a = cookies["__Host-" + h.SESSION_COOKIE]
    assert a["secure"] is True and a["path"] == "/" and "domain" not in a
    # __Host- needs Path=/: the logout-path cookie is __Secure- instead.
    hv, ha = cookies["__Secure-" + h.SESSION_COOKIE + "_hint"]
    assert ha["secure"] is True and ha["path"] == "/logout"
    r = s.get(restore.httpd.url("/app/c4"),
              headers={"Cookie": f"__Host-{h.SESSION_COOKIE}={v}"}, allow_redirects=False)
    assert r.status_code == 200 and r.json()["remote_user"] == "dave"
    # The unprefixed name is not the session cookie any more.
    r = s.get(restore.httpd.url("/api401/"), headers={"Cookie": f"{h.SESSION_COOKIE}={v}"},
              allow_redirects=False)
    assert r.status_code == 401
    # Logout clears the prefixed cookie.
    r = s.get(restore.httpd.url("/logout"), allow_redirects=False,
              headers={"Cookie": f"__Host-{h.SESSION_COOKIE}={v}; "
                                 f"__Secure-{h.SESSION_COOKIE}_hint={hv}"})
    assert h.is_clearing(*h.set_cookies(r)["__Host-" + h.SESSION_COOKIE])
    assert h.is_clearing(*h.set_cookies(r)["__Secure-" + h.SESSION_COOKIE + "_hint"])
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert h.jwt_parts(q["id_token_hint"])[1]["sub"] == h.USER_CLAIMS["dave"]["sub"]


@pytest.mark.parametrize("extra,needles", [
    ('JITProvCookieHostPrefix On\nJITProvCookie sso "Domain=app.example.com"',
     ["JITProvCookie", "__Host-", "Domain"]),
    ('JITProvCookieHostPrefix On\nJITProvCookie sso "Path=/app"',
     ["JITProvCookie", "__Host-", "Path=/"]),
    ('JITProvCookie __Host-sso "Domain=app.example.com"', ["JITProvCookie", "Domain"]),
    ('JITProvCookie sso "SameSite=Sometimes"', ["JITProvCookie", "SameSite"]),
    ("JITProvCookieSameSite state Strict", ["JITProvCookieSameSite", "state"]),
    ("JITProvCookieSameSite session Sometimes", ["JITProvCookieSameSite"]),
    ("JITProvCookieSameSite everything Lax", ["JITProvCookieSameSite"]),
    ('JITProvCookie sso "SameSite=Lax"\nJITProvCookieSameSite session None',
     ["JITProvCookieSameSite", "contradicts"]),
    ("JITProvCookieHostPrefix Maybe", ["JITProvCookieHostPrefix"]),
    ('JITProvCookie sso "Secure; Max-Age=86400"', ["JITProvCookie", "Max-Age"]),
    ('JITProvCookie sso "Expires=Wed, 01 Jan 2031 00:00:00 GMT"', ["JITProvCookie", "Expires"]),
    # the logout would never see the session cookie
    ('JITProvCookie sso "Path=/app"\nJITProvLogoutURI /logout',
     ["JITProvCookie", "Path=/app", "JITProvLogoutURI"]),
    ('JITProvCookie sso "Path=/app"\nJITProvLogoutURI /application/logout',
     ["JITProvCookie", "JITProvLogoutURI"]),
])
def test_bad_cookie_settings_at_configtest(env, extra, needles):
    r = env.httpd.configtest(env.standard_config(server_extra=extra))
    out = r.stderr + r.stdout
    assert r.returncode != 0, out
    for n in needles:
        assert n in out, out


def test_cookie_path_covering_the_logout_is_fine(env):
    r = env.httpd.configtest(env.standard_config(
        server_extra='JITProvCookie sso "Path=/app"\nJITProvLogoutURI /app/logout'))
    assert r.returncode == 0, r.stderr


def test_host_prefix_with_explicit_root_path_is_fine(env):
    r = env.httpd.configtest(env.standard_config(
        server_extra='JITProvCookieHostPrefix On\nJITProvCookie sso "Path=/; Secure"'))
    assert r.returncode == 0, r.stderr
