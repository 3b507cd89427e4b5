"""A second, independent OpenID Provider: LemonLDAP::NG 2.16 from Debian's archive
(package lemonldap-ng), started on loopback by the harness (h.LemonLDAP).

It differs from tests/idp where deployments hurt: HS512 ID tokens MACed with the
client secret that carry only sub/acr/at_hash, email/name/groups in userinfo only,
groups in random order, userinfo optionally signed, front-channel logout only."""
import json
import os
import shutil
import tempfile
import time
import urllib.parse

import pytest
import requests

import jitprov_harness as h

CHROMIUM = os.environ.get("JITPROV_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JITPROV_CHROMEDRIVER", "/usr/bin/chromedriver")

SCOPE = "openid email profile groups"


@pytest.fixture(scope="module")
def llng(env):
    if not h.LemonLDAP.installed():
        pytest.skip("LemonLDAP::NG is not installed (Debian package lemonldap-ng; "
                    "scripts/deps.sh installs it)")
    idp = h.LemonLDAP(env.dir)
    idp.write_config(**rp_settings(env))
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()
        env.httpd.stop()


def rp_settings(env, **options):
    return dict(redirect_uris=[env.httpd.origin + "/callback"],
                logout_url=env.httpd.origin + "/fclogout",
                post_logout_uris=[env.httpd.origin + "/"], **options)


def site_text(env, idp, server_extra=""):
    server = f"""JITProvProviderMetadataURL {idp.discovery_url}
JITProvClientID {idp.client_id}
JITProvClientSecret {idp.client_secret}
JITProvScope "{SCOPE}"
JITProvRedirectURI /callback
JITProvLogoutURI /logout
JITProvCryptoPassphrase {env.passphrase}
JITProvSessionCache shmcb
JITProvHTTPTimeout 5
{server_extra}"""
    identity = """    AuthType jitprov
    JITProvRemoteUser claim:sub
    JITProvHeader X-User-Email claim:email
    JITProvHeader X-User-Name claim:name
    JITProvHeader X-User-Groups claim:groups
    JITProvClaimDelimiter ","
"""
    locations = f"""<Location /app>
{identity}    Require valid-user
</Location>
<Location /x>
{identity}    Require jitprov-group timelords
</Location>"""
    return env.httpd.render(server, locations)


def start_site(env, idp, server_extra=""):
    env.httpd.start(site_text(env, idp, server_extra))


def code_flow(idp, user="dwho"):
    """A minimal RP in Python against LemonLDAP: what it issues, unvalidated."""
    s = requests.Session()
    redirect = "http://127.0.0.1:1/callback"
    disc = idp.discovery()
    q = urllib.parse.urlencode({"response_type": "code", "client_id": idp.client_id,
                                "redirect_uri": redirect, "scope": SCOPE,
                                "state": "s1", "nonce": "n1"})
    cb = h.llng_login(s, disc["authorization_endpoint"] + "?" + q, user,
                      stop_at_callback=True, callback_origin="http://127.0.0.1:1")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query))
    tok = requests.post(disc["token_endpoint"], auth=(idp.client_id, idp.client_secret),
                        data={"grant_type": "authorization_code", "code": params["code"],
                              "redirect_uri": redirect}, timeout=10)
    tok.raise_for_status()
    ui = requests.get(disc["userinfo_endpoint"], timeout=10,
                      headers={"Authorization": "Bearer " + tok.json()["access_token"]})
    return tok.json(), ui


@pytest.fixture
def plain_rp(env, llng):
    """LemonLDAP restarted so that the Python RP's redirect URI is registered too."""
    cfg = rp_settings(env)
    cfg["redirect_uris"] = cfg["redirect_uris"] + ["http://127.0.0.1:1/callback"]
    llng.restart(**cfg)
    yield llng
    llng.restart(**rp_settings(env))


def test_lemonldap_issues_hs512_id_tokens_without_profile_claims(plain_rp):
    tok, ui = code_flow(plain_rp, "dwho")
    header, claims = h.jwt_parts(tok["id_token"])
    assert header["alg"] == "HS512"
    assert claims["sub"] == "dwho" and "at_hash" in claims
    assert not {"email", "name", "groups", "sid"} & set(claims)
    assert ui.headers["Content-Type"].startswith("application/json")
    info = ui.json()
    assert info["email"] == "dwho@badwolf.org"
    assert sorted(info["groups"]) == ["timelords", "users"]


def test_without_userinfo_the_mapped_headers_are_missing(env, llng, s):
    start_site(env, llng)
    r = h.llng_login(s, env.httpd.url("/app/off"), "dwho")
    assert r.status_code == 200, r.text[:500]
    j = r.json()
    assert j["remote_user"] == "dwho"
    for name in ("HTTP_X_USER_EMAIL", "HTTP_X_USER_NAME", "HTTP_X_USER_GROUPS"):
        assert name not in j["http"], j["http"]


def test_with_userinfo_on_the_claims_arrive(env, llng, s):
    start_site(env, llng, "JITProvUserInfo On")
    r = h.llng_login(s, env.httpd.url("/app/on"), "dwho")
    assert r.status_code == 200, r.text[:500]
    j = r.json()
    assert j["remote_user"] == "dwho"
    assert j["http"]["HTTP_X_USER_EMAIL"] == "dwho@badwolf.org"
    assert j["http"]["HTTP_X_USER_NAME"] == "Doctor Who"
    # LemonLDAP lists groups in hash order, which changes from process to process.
    assert sorted(j["http"]["HTTP_X_USER_GROUPS"].split(",")) == ["timelords", "users"]


def test_groups_from_userinfo_authorize(env, llng):
    start_site(env, llng, "JITProvUserInfo On")
    with requests.Session() as s:
        r = h.llng_login(s, env.httpd.url("/x/timelords"), "dwho")
        assert r.status_code == 200, r.text[:500]
    with requests.Session() as s:
        r = h.llng_login(s, env.httpd.url("/x/timelords"), "rtyler")
        assert r.status_code == 403
        r = s.get(env.httpd.url("/app/rose"))
        assert r.status_code == 200
        assert r.json()["http"]["HTTP_X_USER_GROUPS"].split(",") != ["timelords"]


# LemonLDAP::NG 2.16 signs userinfo without iss and aud (OIDC Core 5.3.2: SHOULD):
# absent ones are accepted, present ones must be right.
def test_signed_userinfo(env, llng, s):
    llng.restart(**rp_settings(env, UserInfoSignAlg="RS256"))
    try:
        start_site(env, llng, "JITProvUserInfo On")
        r = h.llng_login(s, env.httpd.url("/app/signed"), "rtyler")
        assert r.status_code == 200, r.text[:500]
        j = r.json()
        assert j["remote_user"] == "rtyler"
        assert j["http"]["HTTP_X_USER_EMAIL"] == "rtyler@badwolf.org"
        assert sorted(j["http"]["HTTP_X_USER_GROUPS"].split(",")) == ["earthlings", "users"]
    finally:
        llng.restart(**rp_settings(env))


def test_wrong_client_secret_fails_closed(env, llng, s):
    # The HS512 MAC is keyed with the secret: a module with another secret must
    # refuse the ID token (or the token endpoint refuses the client first).
    text = site_text(env, llng).replace(llng.client_secret, "z" * 80)
    env.httpd.start(text)
    cb = h.llng_login(s, env.httpd.url("/app/wrong"), "dwho", stop_at_callback=True)
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert h.SESSION_COOKIE not in h.set_cookies(r)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="jitprov-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_front_channel_logout_in_a_browser(env, llng, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    # LemonLDAP::NG 2.16 sends the user's sub as sid and puts no sid in ID
    # tokens: the session found is the one whose cookie the iframe carries,
    # which the browser sends here because portal and site are same-site.
    env.httpd.start(site_text(env, llng,
                              "JITProvUserInfo On\nJITProvFrontChannelLogoutURI /fclogout"))
    wait = WebDriverWait(browser, 20)
    start = env.httpd.url("/app/browser")
    browser.get(start)
    wait.until(EC.presence_of_element_located((By.NAME, "password")))
    assert browser.current_url.startswith(llng.issuer)
    browser.find_element(By.NAME, "user").send_keys("dwho")
    browser.find_element(By.NAME, "password").send_keys("dwho")
    browser.find_element(By.NAME, "password").submit()
    wait.until(lambda d: d.current_url == start)
    j = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert j["remote_user"] == "dwho"
    assert browser.get_cookie(h.SESSION_COOKIE)

    # Logout at the IdP: its page loads the module's front-channel URI in an iframe.
    browser.get(llng.issuer + "/?logout=1")
    deadline = time.monotonic() + 15
    while "/fclogout?" not in h.tail(env.httpd.access_log, 20):
        assert time.monotonic() < deadline, "the IdP never called /fclogout"
        time.sleep(0.2)
    time.sleep(0.5)
    browser.get(env.httpd.url("/app/after"))
    wait.until(EC.presence_of_element_located((By.NAME, "password")))
    assert browser.current_url.startswith(llng.issuer)
