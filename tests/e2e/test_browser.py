"""One real browser (headless Chromium) through the IdP's login page and back,
then logout."""
import json
import os
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE

CHROMIUM = os.environ.get("JITPROV_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("JITPROV_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture
def browser():
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


def body_json(driver):
    return json.loads(driver.find_element(By.TAG_NAME, "body").text)


def test_browser_login_and_logout(site, browser):
    wait = WebDriverWait(browser, 20)
    start = site.httpd.url("/app/browser?from=chromium")
    browser.get(start)
    wait.until(EC.presence_of_element_located((By.ID, "submit")))
    assert browser.current_url.startswith(site.idp.issuer + "/interaction/")
    browser.find_element(By.NAME, "login").send_keys("dave")
    browser.find_element(By.NAME, "password").send_keys("pass-dave")
    browser.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url == start)
    j = body_json(browser)
    assert j["remote_user"] == "dave"
    assert j["http"]["HTTP_X_USER_EMAIL"] == "dave@partner.example.org"
    assert j["http"]["HTTP_X_USER_GROUPS"] == "contractors"
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Lax"
    assert not cookie["secure"]
    assert not [c for c in browser.get_cookies() if c["name"].startswith("jitprov_state_")]

    # Same session on the next page, no trip to the IdP.
    browser.get(site.httpd.url("/app/second"))
    assert browser.current_url == site.httpd.url("/app/second")
    assert body_json(browser)["remote_user"] == "dave"

    # Logout: the IdP's confirmation page submits itself; we land on return_to.
    browser.get(site.httpd.url("/logout?return_to=/x/after-logout"))
    wait.until(lambda d: d.current_url == site.httpd.url("/x/after-logout"))
    assert browser.get_cookie(SESSION_COOKIE) is None
    browser.get(site.httpd.url("/app/again"))
    wait.until(EC.presence_of_element_located((By.ID, "submit")))
    assert browser.current_url.startswith(site.idp.issuer + "/interaction/")


def test_browser_login_by_form_post(env, browser):
    """JITProvResponseMode form_post: the IdP's page posts the answer to the
    callback by a script, as with real IdPs; the browser lands on the page."""
    env.httpd.stop()
    env.httpd.start(env.standard_config(server_extra="JITProvResponseMode form_post"))
    try:
        start = env.httpd.url("/app/browser-fp")
        h.chromium_login(browser, start, "erin")
        assert body_json(browser)["remote_user"] == "erin"
        assert not [c for c in browser.get_cookies() if c["name"].startswith("jitprov_state_")]
    finally:
        env.httpd.stop()
