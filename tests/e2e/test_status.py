"""SetHandler jitprov-status: Prometheus counters shared by all children."""
import re

import jitprov_harness as h


def site_config(env):
    return env.standard_config(locations_extra="""
<Location /jitprov-status>
    SetHandler jitprov-status
    Require ip 127.0.0.1
</Location>
""")


def counters(site):
    r = h.requests.get(site.httpd.url("/jitprov-status"))
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for line in r.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) jitprov_\w+ ", line), line
            continue
        name, value = line.split(" ")
        out[name] = int(value)
    return out


def test_counters_move(site, s):
    before = counters(site)
    assert set(before) >= {"jitprov_logins_total", "jitprov_authenticated_requests_total",
                           "jitprov_login_failures_total"}
    assert h.login(s, site.httpd.url("/app/"), "bob").status_code == 200
    for _ in range(5):
        assert s.get(site.httpd.url("/app/again")).status_code == 200
    # A forged callback counts as a failure.
    assert s.get(site.httpd.url("/callback?state=x&code=y")).status_code == 400
    after = counters(site)
    assert after["jitprov_logins_total"] == before["jitprov_logins_total"] + 1
    assert after["jitprov_login_redirects_total"] >= before["jitprov_login_redirects_total"] + 1
    assert (after["jitprov_authenticated_requests_total"]
            >= before["jitprov_authenticated_requests_total"] + 6)
    assert after["jitprov_login_failures_total"] == before["jitprov_login_failures_total"] + 1


def test_counts_are_exact_under_concurrency(site):
    """Many clients at once, over threads of more than one child: no request
    is lost from the totals (each thread counts into its own stripe)."""
    from concurrent.futures import ThreadPoolExecutor

    with h.requests.Session() as s:
        assert h.login(s, site.httpd.url("/app/"), "carol").status_code == 200
        cookie = s.cookies.get(h.SESSION_COOKIE)
    before = counters(site)["jitprov_authenticated_requests_total"]

    def client(i):
        with h.requests.Session() as c:
            c.cookies.set(h.SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
            for n in range(20):
                url = site.httpd.url(f"/app/n{i}-{n}")
                try:
                    r = c.get(url, allow_redirects=False, timeout=30)
                except h.requests.ConnectionError:
                    # The event MPM closes idle kept-alive connections when its
                    # workers are short; one that goes as the request is sent is
                    # retried, as browsers do (it was never read: not counted).
                    r = c.get(url, allow_redirects=False, timeout=30)
                assert r.status_code == 200, r.status_code

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(client, range(24)))
    assert counters(site)["jitprov_authenticated_requests_total"] == before + 24 * 20



def test_counters_go_on_through_a_graceful_restart(site):
    """docs/operations.md: totals since httpd started; a graceful restart (the
    nightly logrotate) keeps them, as mod_status keeps its own."""
    with h.requests.Session() as s:
        assert h.login(s, site.httpd.url("/app/"), "dave").status_code == 200
        assert s.get(site.httpd.url("/app/x")).status_code == 200
        before = counters(site)
        assert before["jitprov_logins_total"] >= 1
        site.httpd.graceful()
        assert s.get(site.httpd.url("/app/y")).status_code == 200
    after = counters(site)
    assert after["jitprov_logins_total"] == before["jitprov_logins_total"]
    assert (after["jitprov_authenticated_requests_total"]
            == before["jitprov_authenticated_requests_total"] + 1)
