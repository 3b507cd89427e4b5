"""Just-in-time provisioning with the default tables (tracker issue 3), once on
SQLite and once on PostgreSQL: first login creates, later logins update, the
backend gets its own account id, the status re-check ends sessions of rows
disabled behind the module's back, claim values are data and never SQL, and a
failed callback writes nothing."""
import json
import time
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE, USER_CLAIMS

SERVER = "JITProvAccountRecheckInterval 1"


@pytest.fixture(scope="module")
def prov(env, db):
    site = h.ProvSite(env, db).start(SERVER)
    yield site
    env.httpd.stop()


def fresh_login(prov, user, path="/app/"):
    with requests.Session() as sess:
        r = h.login(sess, prov.url(path), user)
        return r, sess.cookies.get(SESSION_COOKIE)


def detail(row):
    return json.loads(row["detail"]) if row["detail"] else {}


def assert_refused(r, status, text):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert text in r.text, r.text[:500]
    ref = h.error_ref(r)
    assert ref, r.text[:500]
    assert SESSION_COOKIE not in h.set_cookies(r)
    return ref


def test_first_login_creates_the_account(prov, s):
    t0 = int(time.time())
    assert prov.account("bob") is None
    r = h.login(s, prov.url("/app/first"), "bob")
    assert r.status_code == 200, r.text[:500]
    t1 = int(time.time())

    row = prov.account("bob")
    want = USER_CLAIMS["bob"]
    assert row["iss"] == prov.env.idp.issuer
    assert row["sub"] == want["sub"]
    assert row["username"] == "bob"
    assert row["email"] == want["email"]
    assert row["display_name"] == want["name"]
    assert row["groups"] == ",".join(sorted(set(want["groups"])))
    assert row["status"] == "active"
    assert row["login_count"] == 1
    assert row["source"] == "jit"
    for col in ("created_at", "updated_at", "last_login_at"):
        assert t0 - 1 <= int(row[col]) <= t1 + 1, (col, row)

    audit = prov.audit_of("bob")
    assert [a["event"] for a in audit] == ["create"], audit
    a = audit[0]
    assert a["account_id"] == row["id"]
    assert a["iss"] == prov.env.idp.issuer
    assert a["client_ip"] == "127.0.0.1"
    assert a["corr_id"] and len(a["corr_id"]) >= 8
    d = detail(a)
    assert d.get("source") == "jit" and d.get("status") == "active", d

    # The backend receives the account row, not only claims.
    acc = h.account_headers(r)
    assert acc["id"] == str(row["id"])
    assert acc["username"] == "bob"
    assert acc["email"] == want["email"]
    assert acc["display"] == want["name"]
    assert acc["groups"] == "staff"
    assert acc["status"] == "active"
    assert r.json()["remote_user"] == "bob"

    # Later requests of the session: same account id, no further writes.
    r2 = s.get(prov.url("/app/again"), allow_redirects=False)
    assert r2.status_code == 200
    assert h.account_headers(r2)["id"] == str(row["id"])
    assert prov.account("bob")["login_count"] == 1
    assert len(prov.audit_of("bob")) == 1


def test_create_decision_is_logged_with_its_correlation_id(prov):
    # "Every decision writes one audit row and one log line with the correlation
    # id"; the harness runs with LogLevel jitprov:debug.
    r, _ = fresh_login(prov, "alice")
    assert r.status_code == 200
    row = prov.account("alice")
    a = prov.audit_of("alice")[0]
    assert h.wait_for_log(prov.httpd, f"[ref {a['corr_id']}]"), \
        "no error_log line with ref " + a["corr_id"]
    lines = [ln for ln in prov.httpd.log_since_start().splitlines()
             if f"[ref {a['corr_id']}]" in ln]
    assert any(f"account {row['id']} create" in ln for ln in lines), lines


def test_client_cannot_supply_account_headers(prov, s):
    h.login(s, prov.url("/app/"), "bob")
    row = prov.account("bob")
    r = s.get(prov.url("/app/spoof"), headers={"X-Account-Id": "1; DROP",
                                              "X-Account_Status": "admin"},
              allow_redirects=False)
    assert r.status_code == 200
    acc = h.account_headers(r)
    assert acc["id"] == str(row["id"]) and acc["status"] == "active"
    r = s.get(prov.url("/public/x"), headers={"X-Account-Id": "1"}, allow_redirects=False)
    assert "HTTP_X_ACCOUNT_ID" not in r.json()["http"]


def test_second_login_updates_the_account(prov):
    before = dict(prov.env.idp.users["henry"])
    r, _ = fresh_login(prov, "henry")
    assert r.status_code == 200, r.text[:500]
    first = prov.account("henry")
    assert first["login_count"] == 1 and first["display_name"] == before["name"]

    # The IdP now says something else about henry.
    new_name = "Henry After" if before["name"] == "Henry Before" else "Henry Before"
    new_groups = ["staff", "ops"] if before["groups"] == ["staff"] else ["staff"]
    h.change_idp_user(prov.env, "henry", name=new_name, groups=new_groups)
    time.sleep(1.1)  # a later second, so updated_at must move
    r, _ = fresh_login(prov, "henry")
    assert r.status_code == 200, r.text[:500]

    row = prov.account("henry")
    assert row["id"] == first["id"]
    assert row["login_count"] == 2
    assert row["display_name"] == new_name
    assert row["groups"] == ",".join(sorted(new_groups))  # a set, stored sorted
    assert row["email"] == before["email"] and row["username"] == "henry"
    assert row["status"] == "active"
    assert int(row["last_login_at"]) > int(first["last_login_at"])
    assert int(row["updated_at"]) > int(first["updated_at"])
    assert row["created_at"] == first["created_at"]

    audit = prov.audit_of("henry")
    assert [a["event"] for a in audit] == ["create", "update"], audit
    upd = audit[1]
    assert upd["account_id"] == row["id"] and upd["corr_id"]
    assert upd["corr_id"] != audit[0]["corr_id"]
    changed = detail(upd).get("changed", {})
    assert changed.get("display_name") == {"old": before["name"], "new": new_name}, changed
    assert "groups" in changed and "email" not in changed, changed
    acc = h.account_headers(r)
    assert acc["display"] == new_name and acc["id"] == str(row["id"])


def test_recheck_ends_session_of_row_disabled_in_sql(prov, s):
    r = h.login(s, prov.url("/app/"), "judy")
    assert r.status_code == 200
    assert s.get(prov.url("/api401/"), allow_redirects=False).status_code == 200
    row = prov.account("judy")
    prov.db.execute(f"UPDATE jitprov_accounts SET status = 'disabled' WHERE id = {row['id']}")
    time.sleep(1.3)  # > JITProvAccountRecheckInterval 1
    r = s.get(prov.url("/app/after"), allow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    assert r.headers["Location"].startswith(prov.env.idp.discovery()["authorization_endpoint"])
    r = s.get(prov.url("/api401/after"), allow_redirects=False)
    assert r.status_code == 401
    # Logging in again is refused: the login does not re-activate the row.
    r = h.login(s, prov.url("/app/"), "judy")
    ref = assert_refused(r, 403, "disabled")
    row2 = prov.account("judy")
    assert row2["status"] == "disabled" and row2["login_count"] == 1
    refusals = [a for a in prov.audit_of("judy") if a["event"] == "refuse"]
    assert [a["corr_id"] for a in refusals] == [ref]
    assert detail(refusals[0]).get("reason") == "disabled"


def test_recheck_ends_session_of_row_deleted_in_sql(prov, s):
    h.login(s, prov.url("/app/"), "dave")
    old = prov.account("dave")
    prov.db.execute(f"DELETE FROM jitprov_accounts WHERE id = {old['id']}")
    time.sleep(1.3)
    r = s.get(prov.url("/api401/"), allow_redirects=False)
    assert r.status_code == 401
    # The next login makes a new row (JITProvAccountCreate On).
    r = h.login(s, prov.url("/app/"), "dave")
    assert r.status_code == 200
    new = prov.account("dave")
    assert new["id"] != old["id"] and new["login_count"] == 1
    assert h.account_headers(r)["id"] == str(new["id"])


def test_disabled_account_refused_and_never_reactivated(prov):
    r, _ = fresh_login(prov, "ivan")
    assert r.status_code == 200
    row = prov.account("ivan")
    # A live session of ivan's, in another browser.
    live = requests.Session()
    assert h.login(live, prov.url("/app/"), "ivan").status_code == 200
    row = prov.account("ivan")
    assert row["login_count"] == 2

    out = h.admin(prov.db, "disable", row["id"], "--reason", "left the company")
    assert out.returncode == 0, out.stdout + out.stderr
    assert prov.account("ivan")["status"] == "disabled"
    assert prov.audit_of("ivan")[-1]["event"] == "disable"

    time.sleep(1.3)
    assert live.get(prov.url("/api401/"), allow_redirects=False).status_code == 401
    live.close()

    for attempt in range(2):
        r, cookie = fresh_login(prov, "ivan")
        ref = assert_refused(r, 403, "Your account is disabled")
        assert cookie is None
        now = prov.account("ivan")
        assert now["status"] == "disabled", now
        assert now["login_count"] == row["login_count"]
        last = prov.audit_of("ivan")[-1]
        assert last["event"] == "refuse" and last["corr_id"] == ref
        assert last["account_id"] == row["id"]

    out = h.admin(prov.db, "enable", row["id"])
    assert out.returncode == 0, out.stdout + out.stderr
    r, _ = fresh_login(prov, "ivan")
    assert r.status_code == 200
    assert prov.account("ivan")["login_count"] == row["login_count"] + 1


def test_sql_injection_in_claims_is_stored_verbatim(prov):
    before_tables = prov.db.tables()
    n_accounts, n_audit = prov.counts()
    want = USER_CLAIMS["mallory"]
    for i in (1, 2):  # the create path, then the update path
        r, cookie = fresh_login(prov, "mallory")
        assert r.status_code == 200, r.text[:500]
        assert cookie
        assert r.json()["remote_user"] == want["preferred_username"]
        row = prov.account("mallory")
        assert row is not None
        assert row["sub"] == want["sub"]
        assert row["username"] == want["preferred_username"]
        assert row["email"] == want["email"]
        assert row["display_name"] == want["name"]
        assert row["groups"] == ",".join(sorted(set(want["groups"])))
        assert row["login_count"] == i
        acc = h.account_headers(r)
        assert acc["display"] == want["name"] and acc["id"] == str(row["id"])
    # Nothing was executed: every table and every other row is still there.
    assert prov.db.tables() == before_tables
    # The second login changed nothing: the create is the only audit row.
    assert prov.counts() == (n_accounts + 1, n_audit + 1)
    assert [a["event"] for a in prov.audit_of("mallory")] == ["create"]


def _no_session(r):
    return SESSION_COOKIE not in h.set_cookies(r)


def test_bad_callbacks_write_nothing(prov, s):
    cb = h.callback_of(s, prov.url("/app/bad"), "erin")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb).query))
    base = prov.url("/callback")
    bad = [
        ("no parameters", "GET", base, 400),
        ("no state", "GET", base + "?code=" + q["code"], 400),
        ("forged state", "GET", base + "?" + urllib.parse.urlencode(
            {"state": "A" * 43, "code": q["code"]}), 400),
        ("state with SQL", "GET", base + "?" + urllib.parse.urlencode(
            {"state": "x' OR '1'='1'; DROP TABLE jitprov_accounts;--", "code": "c"}), 400),
        ("right state, forged code", "GET", base + "?" + urllib.parse.urlencode(
            {"state": q["state"], "code": "forged-" + q["code"][:20]}), None),
        ("POST", "POST", cb, 405),
    ]
    counts = prov.counts()
    for what, method, url, status in bad:
        with requests.Session() as other:
            # Another browser: it has no state cookie for this attempt.
            r = other.request(method, url, allow_redirects=False)
            if status:
                assert r.status_code == status, (what, r.status_code, r.text[:300])
            else:
                assert r.status_code >= 400, (what, r.status_code)
            assert h.error_ref(r), (what, r.text[:300])
            assert _no_session(r), what
        assert prov.counts() == counts, what
    # The IdP said no (with its iss, which it promises: RFC 9207).
    with requests.Session() as other:
        cb2 = h.callback_of(other, prov.url("/app/denied"), "erin")
        st = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(cb2).query))["state"]
        r = other.get(base + "?" + urllib.parse.urlencode(
            {"state": st, "error": "access_denied", "error_description": "no'; DROP--",
             "iss": prov.env.idp.issuer}),
            allow_redirects=False)
        assert r.status_code == 403 and h.error_ref(r) and _no_session(r)
    assert prov.counts() == counts
    # The genuine callback still works once, in its own browser; a replay does not,
    # not even with a copy of the state cookie taken before the first use.
    stolen = [(c.name, c.value, c.domain, c.path) for c in s.cookies
              if c.name.startswith(h.STATE_PREFIX)]
    assert stolen
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 302 and not _no_session(r)
    counts = prov.counts()
    with requests.Session() as other:
        for name, value, domain, path in stolen:
            other.cookies.set(name, value, domain=domain, path=path)
        r = other.get(cb, allow_redirects=False)
        assert r.status_code >= 400 and h.error_ref(r) and _no_session(r), r.status_code
    r = s.get(cb, allow_redirects=False)
    assert r.status_code == 400 and _no_session(r)
    assert prov.counts() == counts
    assert prov.account("erin")["login_count"] == 1
