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


NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"


def counters(site):
    """The page, checked against the Prometheus text exposition format 0.0.4:
    per metric a HELP line, a TYPE line, then its samples."""
    r = h.requests.get(site.httpd.url("/jitprov-status"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.text.endswith("\n") and "\r" not in r.text
    out, lines = {}, r.text.splitlines()
    assert len(lines) % 3 == 0, r.text
    for i in range(0, len(lines), 3):
        m = re.fullmatch(rf"# HELP ({NAME}) ([^\\\n]+)", lines[i])
        assert m, lines[i]
        name = m.group(1)
        assert lines[i + 1] == f"# TYPE {name} counter", lines[i + 1]
        assert name.startswith("jitprov_") and name.endswith("_total"), name
        sample, value = lines[i + 2].split(" ")
        assert sample == name and name not in out, lines[i + 2]
        out[name] = int(value)
        assert out[name] >= 0
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


def test_counters_go_on_through_apachectl_restart_and_end_at_a_stop(site):
    """docs/operations.md: `apachectl restart` (SIGHUP) keeps the totals as a
    graceful restart does (the parent and its process pool live on); only a
    stop and start begins them again."""
    with h.requests.Session() as s:
        assert h.login(s, site.httpd.url("/app/"), "bob").status_code == 200
        before = counters(site)
        assert before["jitprov_logins_total"] >= 1
        pid = site.httpd.pid()
        site.httpd.graceful(how="restart")
        assert site.httpd.pid() == pid
        assert s.get(site.httpd.url("/app/z")).status_code == 200
        after = counters(site)
        assert after["jitprov_logins_total"] == before["jitprov_logins_total"]
        assert (after["jitprov_authenticated_requests_total"]
                == before["jitprov_authenticated_requests_total"] + 1)
        site.httpd.restart_full()
        assert counters(site)["jitprov_logins_total"] == 0


def test_logouts_count_only_logouts(site):
    before = counters(site)["jitprov_logouts_total"]
    with h.requests.Session() as s:
        assert h.login(s, site.httpd.url("/app/"), "erin").status_code == 200
        # A cross-site link only asks (confirmation page), a foreign return_to
        # is refused: neither is a logout.
        r = s.get(site.httpd.url("/logout"), headers={"Sec-Fetch-Site": "cross-site"},
                  allow_redirects=False)
        assert r.status_code == 200
        r = s.get(site.httpd.url("/logout?return_to=//evil.example/"), allow_redirects=False)
        assert r.status_code == 400
        assert counters(site)["jitprov_logouts_total"] == before
        assert s.get(site.httpd.url("/logout"), allow_redirects=False).status_code == 302
    assert counters(site)["jitprov_logouts_total"] == before + 1


def test_status_shows_no_secrets(site):
    with h.requests.Session() as s:
        assert h.login(s, site.httpd.url("/app/"), "alice").status_code == 200
        cookie = s.cookies.get(h.SESSION_COOKIE)
    for q in ("", "?claims"):
        r = h.requests.get(site.httpd.url("/jitprov-status" + q))
        assert r.status_code == 200
        for secret in (site.passphrase, site.client_secret, cookie[:40], "alice@example.com",
                       h.USER_CLAIMS["alice"]["sub"], "Alice Anderson"):
            assert secret not in r.text, (q, secret)
    assert "email:" in h.requests.get(site.httpd.url("/jitprov-status?claims")).text
