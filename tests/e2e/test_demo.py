"""The demo (scripts/demo.sh) with its HTML pages: /demo/me shows the headers the
application received, the account row and its latest audit events; /demo/admin
lists accounts, roles and the audit trail. The JSON echo the other tests parse
(/app/) is unchanged beside them."""
import html
import os
import re

import pytest

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS


@pytest.fixture(scope="module")
def demo(env):
    env.httpd.stop()
    env.httpd.reset_database()
    h.demo_prepare(env)
    env.httpd.start(h.demo_config(env))
    yield env
    env.httpd.stop()
    env.httpd.reset_database()
    # The demo's landing page replaced the test site's: later modules read it.
    with open(os.path.join(env.httpd.dir, "htdocs", "index.html"), "w") as f:
        f.write(h.INDEX_HTML)


def text(r):
    """The page's visible text, tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", r.text))


def test_me_shows_headers_account_row_and_audit(demo, s):
    r = h.login(s, demo.httpd.url("/demo/me"), "alice")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/html")
    t = text(r)
    assert "What the application received" in t
    assert "X-Account-Id" in t and "X-User-Email" in t
    assert USER_CLAIMS["alice"]["sub"] in t          # the account row
    assert "alice@example.com" in t
    assert re.search(r"\bcreate\b", t)               # its audit event
    assert re.search(r"Your roles[^A-Z]*admin\s*,\s*member", t, re.S), t  # granted from groups
    assert re.search(r"\bgrant\b", t)
    # The JSON echo is still what /app/ answers.
    j = s.get(demo.httpd.url("/app/"), timeout=30)
    assert j.json()["http"]["HTTP_X_USER_EMAIL"] == "alice@example.com"


def test_second_login_is_an_update_and_admin_lists_it(demo):
    import requests
    # A login that changes nothing writes no audit row: change a claim first.
    before = demo.idp.users.get("alice", USER_CLAIMS["alice"])["name"]
    out = h.demo_command(demo, "claims alice 'name=Alice Demo'")
    assert "Alice Demo" in out, out
    try:
        with requests.Session() as s2:
            assert h.login(s2, demo.httpd.url("/demo/me"), "alice").status_code == 200
    finally:
        h.change_idp_user(demo, "alice", name=before)
    rows = h.SqliteDb(demo.httpd).rows(
        "SELECT event, detail FROM jitprov_audit WHERE sub = "
        f"{h.lit(USER_CLAIMS['alice']['sub'])} ORDER BY id DESC LIMIT 1")
    assert rows[0]["event"] == "update" and "Alice Demo" in rows[0]["detail"], rows
    r = requests.get(demo.httpd.url("/demo/admin"), timeout=30)
    assert r.status_code == 200
    t = text(r)
    assert "Accounts" in t and "Audit trail" in t
    assert USER_CLAIMS["alice"]["sub"] in t
    assert re.search(r"\bupdate\b", t)


def test_disabled_account_refused_and_shown(demo, s):
    h.login(s, demo.httpd.url("/demo/me"), "bob")
    acct = h.db_scalar(h.SqliteDb(demo.httpd),
                       f"SELECT id AS n FROM jitprov_accounts WHERE sub = "
                       f"{h.lit(USER_CLAIMS['bob']['sub'])}")
    out = h.demo_command(demo, f"disable {acct}")
    assert "disabled" in out.lower() or out == "", out
    import requests
    with requests.Session() as s2:
        r = h.login(s2, demo.httpd.url("/demo/me"), "bob")
        assert r.status_code == 403
    t = text(requests.get(demo.httpd.url("/demo/admin"), timeout=30))
    assert "refuse" in t and "disabled" in t


def test_markup_in_claims_is_escaped(demo, s):
    """Claim values are data: the demo page escapes them (mallory's name holds
    quotes; no raw '<' from a claim reaches the page)."""
    r = h.login(s, demo.httpd.url("/demo/me"), "mallory")
    assert r.status_code == 200
    assert "DROP TABLE" in text(r)
    assert "<script" not in r.text.lower()


def test_roles_follow_the_claims(demo):
    """The newcomer's story: bob gets team-blue at the IdP (the demo's
    "claims" command), logs in again, and the admin page shows the grant."""
    import requests
    out = h.demo_command(demo, "claims bob groups=staff,team-blue")
    assert "team-blue" in out
    try:
        with requests.Session() as s2:
            r = h.login(s2, demo.httpd.url("/demo/me"), "bob")
        if r.status_code == 403:  # disabled by the test above: enable, log in again
            bid = h.db_scalar(h.SqliteDb(demo.httpd), "SELECT id AS n FROM jitprov_accounts "
                              f"WHERE sub = {h.lit(USER_CLAIMS['bob']['sub'])}")
            h.demo_command(demo, f"enable {bid}")
            with requests.Session() as s3:
                r = h.login(s3, demo.httpd.url("/demo/me"), "bob")
        assert r.status_code == 200
        assert re.search(r"Your roles[^A-Z]*member\s*,\s*team-blue", text(r), re.S)
    finally:
        h.change_idp_user(demo, "bob", groups=USER_CLAIMS["bob"]["groups"])


def test_unknown_demo_page_404(demo):
    import requests
    assert requests.get(demo.httpd.url("/demo/nope"), timeout=30).status_code == 404
