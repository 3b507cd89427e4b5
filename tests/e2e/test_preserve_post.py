"""A form POST arriving without a session survives the login it starts
(JITProvPreservePostMax): kept sealed in the session cache, bound to that
login's state, re-posted once by an auto-submitting page (CSP nonce) to the
original URL; cross-site, oversized, non-urlencoded posts are not kept; a
real headless Chromium goes through the whole thing."""
import os
import re
import urllib.parse

import pytest

import jitprov_harness as h

FORM = {"title": "Quarterly report", "body": "line 1\r\nline 2 <b>&amp; \"quoted\"",
        "submit": "Save", "name": "Zo\u00eb"}


def site_config(env):
    return env.standard_config()


def restart(env, extra=""):
    env.httpd.stop()
    env.httpd.start(env.standard_config(server_extra=extra))


def post_then_login(site, s, user, data=None, headers=None, path="/app/form?draft=1"):
    """POSTs without a session, logs in at the IdP; returns the callback's
    response (not followed)."""
    hdr = {"Origin": site.httpd.origin}
    hdr.update(headers or {})
    r = s.post(site.httpd.url(path), data=FORM if data is None else data, headers=hdr,
               allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith(site.idp.issuer), r.text
    cb = h.idp_login_until(s, r.headers["Location"], site.httpd.url("/callback"), user)
    return s.get(cb, allow_redirects=False)


def test_post_is_reposted_after_login(site, s):
    r = post_then_login(site, s, "alice")
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-store"
    csp = r.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "default-src 'none'" in csp
    assert f'<script nonce="{nonce}">' in r.text
    assert h.SESSION_COOKIE in h.set_cookies(r)
    action, fields = h.parse_form(r.text, "jitprov-repost")
    assert action == "/app/form?draft=1"
    assert fields == FORM
    # The browser's submission of that page: the application gets the form.
    r2 = s.post(site.httpd.url(action), data=fields, allow_redirects=False,
                headers={"Origin": site.httpd.origin})
    assert r2.status_code == 200, r2.text[:300]
    j = r2.json()
    assert j["remote_user"] == "alice" and j["request_method"] == "POST"
    assert dict(urllib.parse.parse_qsl(j["body"])) == FORM
    # The kept line counts the fields it kept (it once read them after they were freed).
    sent = len(urllib.parse.urlencode(FORM))
    assert h.wait_for_log(site.httpd, f"JITPROV0376: POST to /app/form ({sent} bytes, 4 fields)"), \
        h.tail(site.httpd.error_log, 5)
    assert h.wait_for_log(site.httpd, "JITPROV0378")


def test_kept_post_is_used_once(site, s):
    hdr = {"Origin": site.httpd.origin}
    r = s.post(site.httpd.url("/app/once"), data={"a": "1"}, headers=hdr,
               allow_redirects=False)
    state_cookie = next((n, v[0]) for n, v in h.set_cookies(r).items()
                        if n.startswith(h.STATE_PREFIX))
    cb = h.idp_login_until(s, r.headers["Location"], site.httpd.url("/callback"), "bob")
    assert s.get(cb, allow_redirects=False).status_code == 200
    # The same callback again, even with the state cookie put back: refused,
    # and no re-post page.
    r = s.get(cb, allow_redirects=False, headers={"Cookie": "=".join(state_cookie)})
    assert r.status_code in (400, 401, 502), r.status_code
    assert "jitprov-repost" not in r.text


@pytest.mark.parametrize("headers,why", [
    ({"Origin": "http://evil.example"}, "not sent from this site"),
    ({"Origin": "null"}, "not sent from this site"),
    ({"Origin": None, "Sec-Fetch-Site": "cross-site"}, "not sent from this site"),
    ({"Origin": None}, "not sent from this site"),
    ({"Content-Type": "application/json"}, "not application/x-www-form-urlencoded"),
])
def test_posts_not_kept(site, s, headers, why):
    data = '{"a": 1}' if "Content-Type" in headers else FORM
    r = post_then_login(site, s, "carol", data=data, headers=headers, path="/app/notkept")
    # An ordinary login: back to the URL with a GET; the form is gone.
    assert r.status_code == 302 and r.headers["Location"] == "/app/notkept"
    assert h.wait_for_log(site.httpd, why)


def test_same_origin_by_fetch_metadata(site, s):
    r = post_then_login(site, s, "dave", headers={"Origin": None,
                                                  "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and "jitprov-repost" in r.text


def test_size_cap_and_off(site, s):
    restart(site, "JITProvPreservePostMax 64")
    try:
        r = post_then_login(site, s, "erin", data={"big": "x" * 100}, path="/app/big")
        assert r.status_code == 302 and r.headers["Location"] == "/app/big"
        assert h.wait_for_log(site.httpd, "larger than JITProvPreservePostMax")
        s.cookies.clear()
        r = post_then_login(site, s, "erin", data={"small": "y"}, path="/app/small")
        assert r.status_code == 200 and "jitprov-repost" in r.text
        restart(site, "JITProvPreservePostMax 0")
        s.cookies.clear()
        r = post_then_login(site, s, "erin", data={"small": "y"}, path="/app/off")
        assert r.status_code == 302 and r.headers["Location"] == "/app/off"
    finally:
        restart(site)


def test_xhr_post_still_gets_401(site, s):
    r = s.post(site.httpd.url("/app/xhr"), data={"a": "1"},
               headers={"X-Requested-With": "XMLHttpRequest", "Origin": site.httpd.origin},
               allow_redirects=False)
    assert r.status_code == 401


@pytest.mark.parametrize("value", ["-1", "lots", "2000000"])
def test_bad_preserve_post_max(env, value):
    r = env.httpd.configtest(env.standard_config(server_extra=f"JITProvPreservePostMax {value}"))
    assert r.returncode != 0
    assert "JITProvPreservePostMax" in r.stderr + r.stdout


def test_headless_chromium_resubmits_the_form(site):
    import shutil
    import tempfile
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    from test_browser import CHROMEDRIVER, CHROMIUM

    page = os.path.join(site.httpd.dir, "htdocs", "formpage.html")
    with open(page, "w") as f:
        f.write('<!DOCTYPE html><html><head><meta charset="utf-8"><title>form</title></head>'
                '<body><form method="post" action="/app/browser-form">'
                '<input name="title" id="title"><textarea name="text" id="text"></textarea>'
                '<button type="submit" id="send">Send</button></form></body></html>')
    os.chmod(page, 0o644)
    profile = tempfile.mkdtemp(prefix="jitprov-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        wait = WebDriverWait(d, 20)
        d.get(site.httpd.url("/formpage.html"))
        d.find_element(By.ID, "title").send_keys("Caf\u00e9 & co")
        d.find_element(By.ID, "text").send_keys("two\nlines")
        d.find_element(By.ID, "send").click()
        wait.until(EC.presence_of_element_located((By.ID, "submit")))
        assert d.current_url.startswith(site.idp.issuer + "/interaction/")
        d.find_element(By.NAME, "login").send_keys("alice")
        d.find_element(By.NAME, "password").send_keys("pass-alice")
        d.find_element(By.ID, "submit").click()
        wait.until(lambda x: x.current_url == site.httpd.url("/app/browser-form")
                   and '"request_method"' in x.page_source)
        import json
        j = json.loads(d.find_element(By.TAG_NAME, "body").text)
        assert j["request_method"] == "POST" and j["remote_user"] == "alice"
        got = dict(urllib.parse.parse_qsl(j["body"]))
        assert got == {"title": "Caf\u00e9 & co", "text": "two\r\nlines"}
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
