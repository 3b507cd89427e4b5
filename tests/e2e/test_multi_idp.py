"""More than one IdP in one virtual host: the single-provider directives stay
the default provider; JITProvProvider adds a second real IdP (another
tests/idp instance with its own issuer, keys and client); a discovery page,
a path rule and a host rule pick one; the provider's name rides in the
state, so a callback cannot be steered to the other provider; accounts stay
keyed by (iss, sub); logout goes to the session's own IdP."""
import os
import secrets
import urllib.parse

import pytest

import jitprov_harness as h

IDP2_CLIENT = "jitprov-e2e-idp2"


@pytest.fixture(scope="module")
def idp2(env):
    idp = h.IdP(os.path.join(env.dir, "second-idp"))
    secret = secrets.token_urlsafe(32)
    # sid in its ID tokens, for the front-channel logout test.
    idp.clients = [env.client(client_id=IDP2_CLIENT, client_secret=secret,
                              frontchannel_logout_session_required=True)]
    idp.users = dict(h.EXTRA_USERS)
    idp.start()
    idp.secret = secret
    yield idp
    idp.stop()


def config(env, idp2, extra=""):
    return env.standard_config(server_extra=f"""
JITProvProvider idp2 {idp2.discovery_url} {IDP2_CLIENT} {idp2.secret} "Partner IdP"
JITProvProviderSelect path /app/partner idp2
JITProvProviderSelect host localhost idp2
JITProvProviderSelect path /app/home default
JITProvProviderLabel "Company IdP"
{extra}""")


@pytest.fixture(scope="module")
def multi(env, idp2):
    env.httpd.start(config(env, idp2, "JITProvDiscoveryURI /choose\n"
                                      "JITProvBackChannelLogoutURI /backchannel-logout\n"
                                      "JITProvFrontChannelLogoutURI /frontchannel-logout"),
                    fresh_db=True)
    yield env
    env.httpd.stop()


def test_path_rule_logs_in_with_the_second_idp(multi, idp2, s):
    r = s.get(multi.httpd.url("/app/partner/x"), allow_redirects=False)
    assert r.headers["Location"].startswith(idp2.issuer + "/auth?")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert q["client_id"] == IDP2_CLIENT and q["state"].endswith("idp2")
    r = h.login(s, multi.httpd.url("/app/partner/x"), "alice")
    assert r.status_code == 200, r.text[:300]
    assert r.json()["remote_user"] == "alice"
    # The session serves every path of the vhost.
    assert s.get(multi.httpd.url("/app/home/y")).json()["remote_user"] == "alice"
    db = h.SqliteDb(multi.httpd)
    rows = db.rows(f"SELECT iss FROM jitprov_accounts WHERE sub = "
                   f"{h.lit(h.USER_CLAIMS['alice']['sub'])}")
    assert [x["iss"] for x in rows] == [idp2.issuer]
    # Logout goes to the IdP the session came from.
    r = s.get(multi.httpd.url("/logout?return_to=/x"), allow_redirects=False)
    assert r.headers["Location"].startswith(idp2.issuer)


def test_same_user_at_both_idps_gets_two_accounts(multi, idp2):
    with h.requests.Session() as a, h.requests.Session() as b:
        assert h.login(a, multi.httpd.url("/app/home/1"), "bob").status_code == 200
        assert h.login(b, multi.httpd.url("/app/partner/1"), "bob").status_code == 200
    db = h.SqliteDb(multi.httpd)
    rows = db.rows(f"SELECT iss FROM jitprov_accounts WHERE sub = "
                   f"{h.lit(h.USER_CLAIMS['bob']['sub'])} ORDER BY iss")
    assert sorted(x["iss"] for x in rows) == sorted([multi.idp.issuer, idp2.issuer])


def test_discovery_page(multi, idp2, s):
    r = s.get(multi.httpd.url("/app/other?q=1"), allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "/choose?return_to=%2Fapp%2Fother%3Fq%3D1"
    page = s.get(multi.httpd.url(r.headers["Location"]), allow_redirects=False)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Company IdP" in page.text and "Partner IdP" in page.text
    links = [l.replace("&amp;", "&") for l in
             __import__("re").findall(r'href="([^"]+)"', page.text)]
    assert len(links) == 2
    partner = next(l for l in links if "provider=idp2" in l)
    r = s.get(urllib.parse.urljoin(multi.httpd.url("/choose"), partner), allow_redirects=False)
    assert r.headers["Location"].startswith(idp2.issuer + "/auth?")
    cb = h.idp_login_until(s, r.headers["Location"], multi.httpd.url("/callback"), "carol")
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/app/other?q=1"
    assert s.get(multi.httpd.url("/app/other?q=1")).json()["remote_user"] == "carol"


@pytest.mark.parametrize("query", ["provider=nosuch&return_to=/app/",
                                   "provider=idp2&return_to=https://evil.example/"])
def test_discovery_page_refuses(multi, s, query):
    r = s.get(multi.httpd.url("/choose?" + query), allow_redirects=False)
    assert r.status_code == 400


def test_host_rule(multi, idp2, s):
    r = s.get(multi.httpd.url("/app/h"), headers={"Host": "localhost"}, allow_redirects=False)
    assert r.headers["Location"].startswith(idp2.issuer + "/auth?")


def test_state_cannot_be_steered_to_another_provider(multi, idp2, s):
    # A login with the default IdP; its callback presented as idp2's.
    cb = h.login(s, multi.httpd.url("/app/home/steer"), "dave", stop_at_callback=True)
    parts = urllib.parse.urlsplit(cb)
    q = dict(urllib.parse.parse_qsl(parts.query))
    for forged in (q["state"] + "idp2", q["state"] + "nosuch"):
        q2 = dict(q, state=forged)
        r = s.get(multi.httpd.url("/callback?" + urllib.parse.urlencode(q2)),
                  allow_redirects=False)
        assert r.status_code == 400, r.text[:300]
        assert h.SESSION_COOKIE not in h.set_cookies(r)


def test_backchannel_logout_from_the_second_idp(multi, idp2, s):
    import time
    assert h.login(s, multi.httpd.url("/app/partner/bcl"), "erin").status_code == 200
    cookie = s.cookies.get(h.SESSION_COOKIE)
    before = idp2.stats().get("backchannel.success", 0)
    end = idp2.discovery()["end_session_endpoint"] + "?" + urllib.parse.urlencode(
        {"client_id": IDP2_CLIENT})
    h.follow_idp_logout(s, end)
    deadline = time.monotonic() + 10
    while idp2.stats().get("backchannel.success", 0) <= before:
        assert time.monotonic() < deadline, h.tail(idp2.log_path, 10)
        time.sleep(0.1)
    r = h.requests.get(multi.httpd.url("/api401/probe"), cookies={h.SESSION_COOKIE: cookie},
                       allow_redirects=False)
    assert r.status_code == 401


def test_frontchannel_logout_from_the_second_idp(multi, idp2, s):
    """The iss picks the provider: the second IdP's sid ends its sessions, which
    live in the vhost's one namespace; an unknown iss is refused."""
    r = h.login(s, multi.httpd.url("/app/partner/fcl"), "alice")
    assert r.status_code == 200, r.text[:300]
    sid = r.json()["jitprov"].get("JITPROV_CLAIM_SID")
    assert sid
    cookie = s.cookies.get(h.SESSION_COOKIE)
    fcl = multi.httpd.url("/frontchannel-logout?" + urllib.parse.urlencode(
        {"iss": "http://127.0.0.1:1/nosuch", "sid": sid}))
    assert h.requests.get(fcl, allow_redirects=False).status_code == 400
    alive = h.requests.get(multi.httpd.url("/api401/probe"), cookies={h.SESSION_COOKIE: cookie},
                           allow_redirects=False)
    assert alive.status_code == 200
    fcl = multi.httpd.url("/frontchannel-logout?" + urllib.parse.urlencode(
        {"iss": idp2.issuer, "sid": sid}))
    r = h.requests.get(fcl, allow_redirects=False)
    assert r.status_code == 200, r.text[:300]
    r = h.requests.get(multi.httpd.url("/api401/probe"), cookies={h.SESSION_COOKIE: cookie},
                       allow_redirects=False)
    assert r.status_code == 401


def test_third_party_login_picks_the_provider_by_iss(multi, idp2, s):
    """OpenID Connect Core 4: the issuer that started the login is the one
    the login goes to, the second provider included."""
    r = s.get(multi.httpd.url("/callback"), allow_redirects=False,
              params={"iss": idp2.issuer, "target_link_uri": "/app/home/tp"})
    assert r.status_code == 302 and r.headers["Location"].startswith(idp2.issuer + "/auth?")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))
    assert q["client_id"] == IDP2_CLIENT and q["state"].endswith("idp2")
    r = h.login(s, r.headers["Location"], "alice")
    assert r.status_code == 200 and r.url == multi.httpd.url("/app/home/tp"), r.trace


def test_form_post_with_two_providers(env, idp2):
    """JITProvResponseMode form_post: the state that names the provider comes
    in the POST body, and each IdP's answer reaches its own provider."""
    env.httpd.stop()
    env.httpd.start(config(env, idp2, "JITProvResponseMode form_post"), fresh_db=True)
    try:
        for path, idp in (("/app/partner/fp", idp2), ("/app/home/fp", env.idp)):
            s = h.requests.Session()
            s.trust_env = False
            r = s.get(env.httpd.url(path), allow_redirects=False)
            loc = r.headers["Location"]
            assert loc.startswith(idp.issuer + "/auth?") and "response_mode=form_post" in loc
            r = h.login(s, env.httpd.url(path), "alice")
            assert r.status_code == 200, r.text[:300]
            assert r.json()["remote_user"] == "alice"
            assert [st for st, u in r.trace if u.endswith("/callback")] == [303], r.trace
        # An answer of the second IdP posted with the first's state name is
        # still refused (the provider's name rides in the sealed state).
        s = h.requests.Session()
        s.trust_env = False
        action, fields = h.login(s, env.httpd.url("/app/partner/fp2"), "bob",
                                 stop_at_callback=True)
        fields["state"] = fields["state"][:-len("idp2")]
        r = s.post(action, data=fields, allow_redirects=False)
        assert r.status_code == 400 and h.SESSION_COOKIE not in h.set_cookies(r)
    finally:
        env.httpd.stop()


def test_single_provider_config_unchanged(env, idp2):
    r = env.httpd.configtest(env.standard_config())
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("extra,needle", [
    ("JITProvProvider default http://x/ c s", "JITProvProvider"),
    ("JITProvProvider bad-name http://x/ c s", "JITProvProvider"),
    ("JITProvProvider p2 ftp://x/ c s", "JITProvProvider"),
    ("JITProvProvider p2 http://x/ c", "JITProvProvider"),
    ("JITProvProvider p2 http://x/ c s\nJITProvProvider p2 http://y/ d t", "twice"),
    ("JITProvProvider p2 http://x/ c file:/nonexistent/secret", "JITProvProvider p2"),
    ("JITProvProviderSelect path /x nosuch", "JITProvProviderSelect"),
    ("JITProvProviderSelect header X idp2", "JITProvProviderSelect"),
    ("JITProvProviderSelect path relative idp2", "JITProvProviderSelect"),
    ("JITProvDiscoveryURI /choose", "JITProvDiscoveryURI"),
])
def test_bad_multi_provider_config(env, extra, needle):
    r = env.httpd.configtest(env.standard_config(server_extra=extra))
    out = r.stderr + r.stdout
    assert r.returncode != 0, out
    assert needle in out, out


def test_two_providers_naming_one_issuer_are_both_refused(env, idp2, s):
    # A metadata URL with a query (Azure AD B2C's ?p=policy) stands for no
    # issuer, so idp2 can name the default's: neither provider may be used,
    # or idp2's users would log in as the default IdP's (RFC 9207, 4).
    idp2.override_discovery(issuer=env.idp.issuer)
    try:
        env.httpd.start(env.standard_config(server_extra=f"""
JITProvProvider idp2 {idp2.discovery_url}?p=x {IDP2_CLIENT} {idp2.secret}
JITProvProviderSelect path /app/partner idp2"""), fresh_db=True)
        for path in ("/app/partner/x", "/app/home"):
            r = s.get(env.httpd.url(path), allow_redirects=False)
            assert r.status_code == 502, (path, r.status_code, r.text[:300])
            assert h.error_ref(r)
        assert h.wait_for_log(env.httpd, "JITPROV0901")
        log = env.httpd.log_since_start()
        assert "idp2" in log and env.idp.issuer in log, log[-1500:]
        assert h.written_rows(env.httpd) == []
    finally:
        idp2.override_discovery()
        env.httpd.stop()


def test_a_clash_that_appears_later_refuses_both(env, idp2, s):
    # The issuers are compared when a discovery document arrives, not at each
    # use: a provider whose document comes late (here idp2's, unusable at
    # first) is compared then, and a login already under way with the other
    # provider is refused at its callback.
    import time
    idp2.override_discovery(issuer="")
    try:
        env.httpd.start(env.standard_config(server_extra=f"""
JITProvProvider idp2 {idp2.discovery_url}?p=x {IDP2_CLIENT} {idp2.secret}
JITProvProviderSelect path /app/partner idp2
JITProvFrontChannelLogoutURI /frontchannel-logout"""), fresh_db=True)
        cb = h.login(s, env.httpd.url("/app/home/late"), "alice", stop_at_callback=True)
        idp2.override_discovery(issuer=env.idp.issuer)
        # idp2's failed fetch backs off for a second or two first.
        deadline = time.monotonic() + 10
        while True:
            # Not with s: a new login would replace the state cookie of cb.
            r = h.requests.get(env.httpd.url("/app/home"), allow_redirects=False)
            if r.status_code == 502 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        r = s.get(cb, allow_redirects=False)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        assert h.SESSION_COOKIE not in h.set_cookies(r)
        fcl = env.httpd.url("/frontchannel-logout?" + urllib.parse.urlencode(
            {"iss": env.idp.issuer, "sid": "x"}))
        assert h.requests.get(fcl, allow_redirects=False).status_code == 502
        assert s.get(env.httpd.url("/app/partner/x"), allow_redirects=False).status_code == 502
        log = env.httpd.log_since_start()
        assert "JITPROV0901" in log and "idp2" in log, log[-1500:]
        assert h.written_rows(env.httpd) == []
    finally:
        idp2.override_discovery()
        env.httpd.stop()
