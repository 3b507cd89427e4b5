"""No open redirects: return_to and the post-login redirect stay on our origin."""
import urllib.parse

import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

EVIL = [
    "//evil.example",
    "//evil.example/x",
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "http://evil.example/",
    "https://evil.example/x",
    "http:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "data:text/html,x",
    "HTTP://EVIL.EXAMPLE/",
    "/x\r\nLocation: http://evil.example/",
    "/x\nSet-Cookie: pwned=1",
    "/\t/evil.example",
    "/%0d%0aLocation:%20http://evil.example/",
    " //evil.example",
    "///evil.example",
    "{origin}@evil.example/",
    "http://127.0.0.1@evil.example/",
    "http://evil.example@127.0.0.1:{port}/",
    "http://127.0.0.1:{other}/",
    "https://127.0.0.1:{port}/",
    "http://[127.0.0.1]:{port}/",   # brackets belong to IPv6 only: browsers refuse it
    "https:evil.example",
    "http:///evil.example",
    "%2F%2Fevil.example",           # still encoded after the query is decoded once
    "\t//evil.example",
    "/\x0b/evil.example",
    "\uff0f\uff0fevil.example",       # fullwidth solidus: browsers map it to "/"
    "http://127.0.0.1:{port}\\@evil.example/",
    "http://127.0.0.1:{port}%40evil.example/",
    "http://127.0.0.1:{port}:80/",
]


def check_redirects_home(site, r):
    """r answers a logout: 400 or a redirect that can only end on our origin."""
    for k, v in r.headers.items():
        assert "\r" not in v and "\n" not in v, k
    assert "pwned" not in r.headers.get("Set-Cookie", "")
    if r.status_code == 400:
        return
    assert h.is_redirect(r), (r.status_code, r.text[:300])
    loc = r.headers["Location"]
    end = site.idp.discovery()["end_session_endpoint"]
    if loc.startswith(end + "?"):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
        target = q.get("post_logout_redirect_uri", site.httpd.url("/"))
        assert target.startswith(site.httpd.origin + "/"), target
        assert h.same_origin(target, site.httpd.origin), target
    else:
        assert h.same_origin(loc, site.httpd.origin), loc


@pytest.mark.parametrize("evil", EVIL)
def test_logout_return_to(site, s, evil):
    evil = evil.format(origin=site.httpd.origin, port=site.httpd.port,
                       other=site.idp.port)
    h.login(s, site.httpd.url("/app/"), "alice")
    r = s.get(site.httpd.url("/logout"), params={"return_to": evil}, allow_redirects=False)
    check_redirects_home(site, r)


@pytest.mark.parametrize("evil", EVIL[:6])
def test_logout_return_to_without_session(site, s, evil):
    r = s.get(site.httpd.url("/logout"), params={"return_to": evil}, allow_redirects=False)
    assert r.status_code < 500
    check_redirects_home(site, r)


@pytest.mark.parametrize("path", [
    "/app//evil.example/x",
    "/app/..%2F..%2F/evil.example",
    "/app/%2F%2Fevil.example",
    "/app/?next=//evil.example",
    "/app/%5Cevil.example",
])
def test_post_login_redirect_stays_home(site, s, path):
    r = s.get(site.httpd.url(path), allow_redirects=False)
    if r.status_code != 302:
        assert r.status_code in (400, 404), r.status_code  # httpd may refuse odd paths
        return
    cb = h.login(s, site.httpd.url(path), "alice", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 302
    assert h.same_origin(r.headers["Location"], site.httpd.origin), r.headers["Location"]
    assert s.cookies.get(SESSION_COOKIE)
