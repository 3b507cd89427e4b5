"""SCIM and OIDC on the keys Entra ID and Okta share: externalId and
name.givenName/familyName are stored, externalId can be filtered on, and
JITProvLinkBy attaches a SCIM-created row to the first OIDC login by a claim
(Okta: externalId = the user id = sub; Entra ID: externalId = objectId = oid;
or userName = preferred_username). Only rows without (iss, sub) are linked,
only for the configured issuer; on SQLite and PostgreSQL."""
import json
import uuid

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS, lit

TOKEN = "scim-link-" + uuid.uuid4().hex + uuid.uuid4().hex
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_CT = "application/scim+json"

IDENTITY = """    JITProvHeader X-Account-Id account:id
    JITProvHeader X-Account-Username account:username
    JITProvHeader X-Account-Given account:given_name
    JITProvHeader X-Account-Family account:family_name
    JITProvHeader X-Account-External account:external_id
    JITProvRemoteUser claim:preferred_username"""

# SCIM maintains the profile columns here (JITProvAccountUpdate Off), so the
# headers show what SCIM stored, not what the token says.
BASE = f"""JITProvSCIMBearerToken {TOKEN}
JITProvAccountUpdate Off
JITProvAccountRecheckInterval 3600"""


def config(env, db, extra):
    locations = f"""<Location /app>
    AuthType jitprov
{IDENTITY}
    Require valid-user
</Location>
<Location /scim/v2>
    SetHandler jitprov-scim
</Location>"""
    return env.httpd.render(h.jitprov_server_config(env, extra=BASE + "\n" + extra), locations,
                            db=db)


class Site:
    def __init__(self, env, db):
        self.env, self.db = env, db
        self.extra = None

    def start(self, extra="JITProvLinkBy externalId sub"):
        if extra == self.extra and self.env.httpd.running():
            return
        self.env.httpd.stop()
        self.db.reset()
        self.env.httpd.start(config(self.env, self.db, extra))
        self.extra = extra

    def scim(self, method, path, body=None, params=None):
        hdrs = {"Accept": SCIM_CT, "Authorization": f"Bearer {TOKEN}"}
        data = None
        if body is not None:
            hdrs["Content-Type"] = SCIM_CT
            data = json.dumps(body)
        return requests.request(method, self.env.httpd.url("/scim/v2" + path), data=data,
                                headers=hdrs, params=params, timeout=15)

    def create(self, user_name, external_id=None, given=None, family=None, **extra):
        body = {"schemas": [USER], "userName": user_name, **extra}
        if external_id is not None:
            body["externalId"] = external_id
        if given or family:
            body["name"] = {k: v for k, v in (("givenName", given), ("familyName", family)) if v}
        r = self.scim("POST", "/Users", body)
        assert r.status_code == 201, r.text
        return r.json()

    def row(self, uid):
        rows = self.db.rows(f"SELECT * FROM jitprov_accounts WHERE id = {int(uid)}")
        return rows[0] if rows else None

    def rows_of(self, sub):
        return self.db.rows("SELECT * FROM jitprov_accounts WHERE sub = " + lit(sub))

    def events(self, uid):
        return [a["event"] for a in self.db.rows(
            f"SELECT event FROM jitprov_audit WHERE account_id = {int(uid)} ORDER BY id")]

    def audit(self, event):
        return self.db.rows("SELECT * FROM jitprov_audit WHERE event = " + lit(event)
                            + " ORDER BY id")


@pytest.fixture(scope="module")
def site(env, db):
    st = Site(env, db)
    st.start()
    yield st
    env.httpd.stop()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_external_id_and_name_are_stored_and_filterable(site):
    site.start()
    ext = "00u" + uuid.uuid4().hex[:17]
    u = site.create(unique("kim"), ext, "Kim", "Kowalski")
    assert u["externalId"] == ext
    assert u["name"]["givenName"] == "Kim" and u["name"]["familyName"] == "Kowalski"
    row = site.row(u["id"])
    assert (row["external_id"], row["given_name"], row["family_name"]) == (ext, "Kim",
                                                                           "Kowalski")
    # externalId is case-exact (RFC 7643): another case is another value.
    r = site.scim("GET", "/Users", params={"filter": f'externalId eq "{ext}"'})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["Resources"]] == [u["id"]]
    r = site.scim("GET", "/Users", params={"filter": f'externalId eq "{ext.upper()}"'})
    assert r.status_code == 200 and r.json()["totalResults"] == 0
    # PATCH as Entra ID sends it, and PUT as Okta does.
    r = site.scim("PATCH", f"/Users/{u['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "name.givenName", "value": "Kimberly"},
        {"op": "Replace", "path": "externalId", "value": ext + "x"}]})
    assert r.status_code == 200, r.text
    assert r.json()["name"]["givenName"] == "Kimberly" and r.json()["externalId"] == ext + "x"
    r = site.scim("PUT", f"/Users/{u['id']}", {"schemas": [USER], "userName": u["userName"],
                                               "externalId": ext,
                                               "name": {"givenName": "Kim",
                                                        "familyName": "K."}})
    assert r.status_code == 200, r.text
    row = site.row(u["id"])
    assert (row["external_id"], row["given_name"], row["family_name"]) == (ext, "Kim", "K.")
    # Bad values are refused and write nothing.
    before = site.row(u["id"])
    for bad in ({"externalId": 7}, {"externalId": "x" * 2000}, {"name": {"givenName": ["a"]}},
                {"externalId": "a\nb"}):
        r = site.scim("PUT", f"/Users/{u['id']}", {"schemas": [USER],
                                                   "userName": u["userName"], **bad})
        assert r.status_code == 400, (bad, r.text)
    assert site.row(u["id"]) == before


def test_first_login_links_the_scim_row_by_external_id(site, s):
    site.start()
    bob = USER_CLAIMS["bob"]
    u = site.create(unique("bob.scim"), bob["sub"], "Robert", "Brown-SCIM")
    assert site.row(u["id"])["sub"] is None
    r = h.login(s, site.env.httpd.url("/app/first"), "bob")
    assert r.status_code == 200, r.text[:500]
    row = site.row(u["id"])
    assert row["iss"] == site.env.idp.issuer and row["sub"] == bob["sub"]
    assert len(site.rows_of(bob["sub"])) == 1  # linked, not created anew
    assert site.events(u["id"]) == ["scim_create", "link"]
    d = json.loads(site.audit("link")[-1]["detail"])
    assert d["by"] == "externalId" and d["claim"] == "sub"
    http = r.json()["http"]
    assert http["HTTP_X_ACCOUNT_ID"] == str(u["id"])
    assert http["HTTP_X_ACCOUNT_GIVEN"] == "Robert"
    assert http["HTTP_X_ACCOUNT_FAMILY"] == "Brown-SCIM"
    assert http["HTTP_X_ACCOUNT_EXTERNAL"] == bob["sub"]
    # The next login finds the row by (iss, sub): no second link.
    with requests.Session() as s2:
        assert h.login(s2, site.env.httpd.url("/app/again"), "bob").status_code == 200
    assert site.events(u["id"]) == ["scim_create", "link"]  # and nothing changed


def test_a_row_that_has_a_sub_is_not_relinked(site, s):
    site.start()
    carol = USER_CLAIMS["carol"]
    u = site.create(unique("carol.taken"), carol["sub"])
    site.db.execute("UPDATE jitprov_accounts SET iss = 'https://other.example', "
                    f"sub = 'someone-else' WHERE id = {int(u['id'])}")
    r = h.login(s, site.env.httpd.url("/app/"), "carol")
    assert r.status_code == 200, r.text[:500]
    assert site.row(u["id"])["sub"] == "someone-else"
    mine = site.rows_of(carol["sub"])
    assert len(mine) == 1 and mine[0]["id"] != u["id"]
    assert site.events(mine[0]["id"]) == ["create"]


def test_two_unlinked_rows_with_the_value_refuse_the_login(site, s):
    site.start()
    dave = USER_CLAIMS["dave"]
    a = site.create(unique("dave1"), dave["sub"])
    b = site.create(unique("dave2"), dave["sub"])
    r = h.login(s, site.env.httpd.url("/app/"), "dave")
    assert r.status_code == 403, r.text[:500]
    assert h.SESSION_COOKIE not in h.set_cookies(r)
    assert site.row(a["id"])["sub"] is None and site.row(b["id"])["sub"] is None
    assert site.rows_of(dave["sub"]) == []
    assert json.loads(site.audit("refuse")[-1]["detail"])["reason"] == "link_ambiguous"


def test_wrong_issuer_is_not_linked(site, s):
    site.start("JITProvLinkBy externalId sub https://idp.other.example\n"
               "JITProvAccountCreate Off")
    alice = USER_CLAIMS["alice"]
    u = site.create(unique("alice.other"), alice["sub"])
    r = h.login(s, site.env.httpd.url("/app/"), "alice")
    assert r.status_code == 403, r.text[:500]
    assert site.row(u["id"])["sub"] is None
    assert site.events(u["id"]) == ["scim_create"]
    assert json.loads(site.audit("refuse")[-1]["detail"])["reason"] == "not_provisioned"


def test_link_by_username_and_preferred_username(site, s):
    site.start("JITProvLinkBy userName preferred_username")
    # userName is not case-exact in SCIM: Okta may send another case.
    u = site.create("ERIN", "erin-ext", "Erin", "Empty-SCIM")
    r = h.login(s, site.env.httpd.url("/app/"), "erin")
    assert r.status_code == 200, r.text[:500]
    assert site.row(u["id"])["sub"] == USER_CLAIMS["erin"]["sub"]
    assert r.json()["http"]["HTTP_X_ACCOUNT_FAMILY"] == "Empty-SCIM"
    d = json.loads(site.audit("link")[-1]["detail"])
    assert d["by"] == "userName" and d["claim"] == "preferred_username"


@pytest.mark.parametrize("line,needle", [
    ("JITProvLinkBy title sub", "JITProvLinkBy"),
    ("JITProvLinkBy externalId", "JITProvLinkBy"),
    ("JITProvLinkBy externalId sub not-a-url", "JITProvLinkBy"),
])
def test_bad_link_by_is_a_configtest_error(site, line, needle):
    r = site.env.httpd.configtest(config(site.env, site.db, line))
    assert r.returncode != 0
    assert needle in r.stdout + r.stderr


OLD_SCHEMA = """CREATE TABLE jitprov_accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, iss TEXT, sub TEXT,
 username TEXT, email TEXT, display_name TEXT, groups TEXT,
 status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending', 'disabled')),
 created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_login_at INTEGER,
 login_count INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'jit', UNIQUE (iss, sub));
CREATE TABLE jitprov_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
 event TEXT NOT NULL, iss TEXT, sub TEXT, account_id INTEGER, client_ip TEXT, corr_id TEXT,
 detail TEXT);
INSERT INTO jitprov_accounts (username, email, status, created_at, updated_at, source)
 VALUES ('legacy.scim', 'legacy@example.com', 'active', 1, 1, 'scim');"""


def test_a_database_from_0_1_gets_the_new_columns(site, s):
    """The default tables as 0.1 made them, jitprov-admin init not run again:
    the first SCIM request adds the columns and asks for a retry, the first
    login works (SQLite; the SQL is the same on PostgreSQL)."""
    if site.db.name != "sqlite":
        pytest.skip("the old schema is written in SQLite's dialect")
    env = site.env
    env.httpd.stop()
    site.db.reset()
    for stmt in OLD_SCHEMA.split(";"):
        if stmt.strip():
            site.db.execute(stmt)
    env.httpd.start(config(env, site.db, "JITProvLinkBy externalId sub"), init_db=False)
    site.extra = None  # the next test starts afresh
    r = site.scim("GET", "/Users", params={"filter": 'userName eq "legacy.scim"'})
    assert r.status_code == 503 and r.headers.get("Retry-After") == "1", r.text
    assert h.wait_for_log(env.httpd, "JITPROV0760")
    r = site.scim("GET", "/Users", params={"filter": 'userName eq "legacy.scim"'})
    assert r.status_code == 200 and r.json()["totalResults"] == 1, r.text
    cols = {row["name"] for row in site.db.rows("PRAGMA table_info(jitprov_accounts)")}
    assert {"external_id", "given_name", "family_name"} <= cols
    assert h.login(s, env.httpd.url("/app/"), "alice").status_code == 200
