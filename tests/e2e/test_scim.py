"""SetHandler jitprov-scim: the SCIM 2.0 Users endpoint over the account table,
on SQLite and on PostgreSQL. Bodies are shaped like what Entra ID and Okta send.
Every bad request gets a SCIM error body and writes nothing (checked in the
database); a SCIM-created account is linked at its first OIDC login by verified
email; a SCIM deactivation ends the live session at once and refuses the next
login."""
import json
import secrets
import uuid

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS, lit

TOKEN = "scim-" + secrets.token_urlsafe(32)
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_CT = "application/scim+json"

# An hour between status re-checks: a session that ends at once after a SCIM
# deactivation was ended by the revocation, not by a re-check.
SERVER = f"""JITProvSCIMBearerToken {TOKEN}
JITProvLinkByEmail On
JITProvAccountRecheckInterval 3600"""

SCIM_LOCATION = """<Location /scim/v2>
    SetHandler jitprov-scim
</Location>"""


def site_config(env, db=None, server_extra=SERVER):
    """/app needs a login; /scim/v2 is the SCIM endpoint (bearer token only)."""
    locations = h.protected("/app") + "\n" + SCIM_LOCATION
    if db is None:
        return env.httpd.render(h.jitprov_server_config(env, extra=server_extra), locations)
    return env.httpd.render(h.jitprov_server_config(env, extra=server_extra), locations, db=db)


class Scim:
    """The site under test, a SCIM client for it, and views of its database."""

    def __init__(self, env, db):
        self.env = env
        self.db = db
        self.base = env.httpd.url("/scim/v2")

    def start(self, server_extra=SERVER):
        self.env.httpd.stop()
        self.db.reset()
        self.env.httpd.start(site_config(self.env, self.db, server_extra))

    def url(self, path):
        return self.env.httpd.url(path)

    def req(self, method, path, body=None, token=TOKEN, headers=None, data=None, params=None):
        hdrs = {"Accept": SCIM_CT}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body)
        if data is not None:
            hdrs["Content-Type"] = SCIM_CT
        hdrs.update(headers or {})
        return requests.request(method, self.base + path, data=data, headers=hdrs,
                                params=params, allow_redirects=False, timeout=15)

    def create(self, user_name, email=None, display=None, **extra):
        body = {"schemas": [USER], "userName": user_name}
        if email:
            body["emails"] = [{"value": email, "type": "work", "primary": True}]
        if display:
            body["displayName"] = display
        body.update(extra)
        r = self.req("POST", "/Users", body)
        assert r.status_code == 201, r.text
        return r.json()

    def patch(self, uid, ops, **kw):
        return self.req("PATCH", f"/Users/{uid}", {"schemas": [PATCH_OP], "Operations": ops},
                        **kw)

    # database views
    def row(self, uid):
        rows = self.db.rows(f"SELECT * FROM jitprov_accounts WHERE id = {int(uid)}")
        return rows[0] if rows else None

    def audit(self, uid):
        return self.db.rows(f"SELECT * FROM jitprov_audit WHERE account_id = {int(uid)} "
                            "ORDER BY id")

    def events(self, uid):
        return [a["event"] for a in self.audit(uid)]

    def counts(self):
        return (h.db_scalar(self.db, "SELECT count(*) AS n FROM jitprov_accounts"),
                h.db_scalar(self.db, "SELECT count(*) AS n FROM jitprov_audit"))

    def snapshot(self):
        """Everything SCIM could write: for 'nothing was written' checks."""
        return (self.db.rows("SELECT * FROM jitprov_accounts ORDER BY id"),
                self.db.rows("SELECT * FROM jitprov_audit ORDER BY id"))


@pytest.fixture(scope="module")
def scim(env, db):
    sc = Scim(env, db)
    sc.start()
    yield sc
    env.httpd.stop()


def unique(prefix="user"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def detail(audit_row):
    return json.loads(audit_row["detail"]) if audit_row["detail"] else {}


def assert_scim_error(r, status, scim_type=None, text=None):
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith(SCIM_CT), r.headers
    j = r.json()
    assert j["schemas"] == [ERROR], j
    assert j["status"] == str(status), j
    if scim_type:
        assert j.get("scimType") == scim_type, j
    else:
        assert "scimType" not in j, j
    assert j.get("detail"), j
    if text:
        assert text.lower() in j["detail"].lower(), j
    return j


# ------------------------------------------------------------ authentication

@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-wrong-token-wrong-token",
                                  "Basic " + "eDp5", "Bearer", "bearer  " + "x" * 40,
                                  "Bearer " + TOKEN + "x", "Bearer " + TOKEN[:-1]])
def test_bearer_token_required(scim, auth):
    before = scim.snapshot()
    headers = {"Authorization": auth} if auth else {}
    for method, path, body in (("GET", "/Users", None),
                               ("POST", "/Users", {"schemas": [USER], "userName": unique()}),
                               ("GET", "/ServiceProviderConfig", None),
                               ("DELETE", "/Users/1", None)):
        r = scim.req(method, path, body, token=None, headers=headers)
        assert_scim_error(r, 401, text="bearer token")
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
    assert scim.snapshot() == before


def test_token_scheme_is_case_insensitive(scim):
    r = scim.req("GET", "/Users", token=None, headers={"Authorization": f"bearer   {TOKEN} "})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------ discovery

def test_discovery_documents(scim):
    r = scim.req("GET", "/ServiceProviderConfig")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(SCIM_CT)
    spc = r.json()
    assert spc["patch"]["supported"] is True
    assert spc["filter"]["supported"] is True
    assert spc["bulk"]["supported"] is False
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert spc["meta"]["location"] == scim.base + "/ServiceProviderConfig"

    rt = scim.req("GET", "/ResourceTypes").json()
    assert rt["schemas"] == [LIST] and rt["totalResults"] == 1
    assert rt["Resources"][0]["endpoint"] == "/Users"
    assert scim.req("GET", "/ResourceTypes/User").json()["schema"] == USER
    sch = scim.req("GET", "/Schemas").json()
    assert sch["Resources"][0]["id"] == USER
    one = scim.req("GET", "/Schemas/" + USER).json()
    assert {a["name"] for a in one["attributes"]} >= {"userName", "emails", "active", "groups"}

    assert_scim_error(scim.req("GET", "/Schemas/urn:nope"), 404)
    assert_scim_error(scim.req("GET", "/Nothing"), 404)
    assert_scim_error(scim.req("GET", "/Groups"), 501)
    assert_scim_error(scim.req("POST", "/ServiceProviderConfig", {}), 405)


# ------------------------------------------------------------ create, read, list

def test_create_get_and_list(scim):
    name = unique("Test.User") + "@contoso.com"
    before = scim.counts()
    # Entra ID's create body, extension schema and unmapped attributes included.
    r = scim.req("POST", "/Users", {
        "schemas": [USER, ENTERPRISE], "externalId": "0a1b-ext", "userName": name,
        "active": True, "displayName": "Test User",
        "emails": [{"primary": True, "type": "work", "value": name.lower()}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "User", "givenName": "Test"}, "title": "Tester",
        ENTERPRISE: {"employeeNumber": "42", "department": "QA"}})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(SCIM_CT)
    u = r.json()
    uid = u["id"]
    assert r.headers["Location"] == scim.base + "/Users/" + uid
    assert u["meta"]["location"] == r.headers["Location"]
    assert u["meta"]["resourceType"] == "User"
    assert u["userName"] == name
    assert u["displayName"] == "Test User"
    assert u["emails"][0]["value"] == name.lower()
    assert u["active"] is True
    assert u["meta"]["created"].endswith("Z")

    row = scim.row(uid)
    assert row["iss"] is None and row["sub"] is None  # linked at the first login
    assert row["username"] == name
    assert row["email"] == name.lower()
    assert row["display_name"] == "Test User"
    assert row["status"] == "active"
    assert row["source"] == "scim"
    assert scim.counts() == (before[0] + 1, before[1] + 1)
    audit = scim.audit(uid)
    assert [a["event"] for a in audit] == ["scim_create"]
    d = detail(audit[0])
    assert d["source"] == "scim" and d["externalId"] == "0a1b-ext"
    assert d["set"]["username"] == name
    assert audit[0]["client_ip"] == "127.0.0.1" and audit[0]["corr_id"]

    assert scim.req("GET", f"/Users/{uid}").json() == u

    # userName is caseExact false; the filter value is a JSON string with escapes.
    for flt in (f'userName eq "{name.upper()}"', f'USERNAME Eq "{name}"',
                f'{USER}:userName eq "{name}"', f'emails.value eq "{name}"',
                f'emails eq "{name}"', f'id eq "{uid}"'):
        lst = scim.req("GET", "/Users", params={"filter": flt}).json()
        assert lst["schemas"] == [LIST], (flt, lst)
        assert lst["totalResults"] == 1 and lst["Resources"][0]["id"] == uid, (flt, lst)
    # What Entra ID asks before creating: no match is an empty list, not a 404.
    lst = scim.req("GET", "/Users", params={"filter": 'userName eq "nobody\\"x"'}).json()
    assert lst["totalResults"] == 0 and lst["Resources"] == []


def test_list_paging(scim):
    for i in range(3):
        scim.create(unique(f"page{i}"))
    ids = [str(r["id"]) for r in scim.db.rows("SELECT id FROM jitprov_accounts ORDER BY id")]
    everything = scim.req("GET", "/Users").json()
    assert everything["totalResults"] == len(ids)
    assert [u["id"] for u in everything["Resources"]] == ids
    page = scim.req("GET", "/Users", params={"startIndex": 2, "count": 2}).json()
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert page["totalResults"] == len(ids)
    assert [u["id"] for u in page["Resources"]] == ids[1:3]
    only_total = scim.req("GET", "/Users", params={"count": 0}).json()
    assert only_total["totalResults"] == len(ids) and only_total["Resources"] == []
    past = scim.req("GET", "/Users", params={"startIndex": 10000}).json()
    assert past["Resources"] == [] and past["totalResults"] == len(ids)
    # Out-of-range values are clamped as RFC 7644 says; garbage is an error.
    assert scim.req("GET", "/Users", params={"startIndex": -5, "count": -1}).json()[
        "startIndex"] == 1
    assert_scim_error(scim.req("GET", "/Users", params={"count": "ten"}), 400, "invalidValue")


# ------------------------------------------------------------ bad input writes nothing

def _bad_requests(existing_id):
    big = {"schemas": [USER], "userName": unique(), "displayName": "x" * 70000}
    return [
        # (method, path, raw body or dict, extra headers, status, scimType, detail text)
        ("POST", "/Users", "{not json", None, 400, "invalidSyntax", "json"),
        ("POST", "/Users", "", None, 400, "invalidSyntax", "body"),
        ("POST", "/Users", [1, 2], None, 400, "invalidSyntax", "object"),
        ("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                            "userName": unique()}, None, 400, "invalidSyntax", "schemas"),
        ("POST", "/Users", {"userName": unique()}, None, 400, "invalidSyntax", "schemas"),
        ("POST", "/Users", {"schemas": [USER], "displayName": "No Name"}, None, 400,
         "invalidValue", "userName"),
        ("POST", "/Users", {"schemas": [USER], "userName": ""}, None, 400, "invalidValue",
         "userName"),
        ("POST", "/Users", {"schemas": [USER], "userName": "a\r\nX-Evil: 1"}, None, 400,
         "invalidValue", "control"),
        ("POST", "/Users", {"schemas": [USER], "userName": unique(), "activ": False}, None, 400,
         "invalidSyntax", "activ"),
        ("POST", "/Users", {"schemas": [USER], "userName": unique(),
                            "emails": [{"value": "not an address"}]}, None, 400,
         "invalidValue", "email"),
        ("POST", "/Users", {"schemas": [USER], "userName": unique(), "active": "perhaps"},
         None, 400, "invalidValue", "active"),
        ("POST", "/Users", big, None, 413, None, "larger"),
        ("POST", "/Users", {"schemas": [USER], "userName": unique()},
         {"Content-Type": "application/x-www-form-urlencoded"}, 415, None, SCIM_CT),
        ("PUT", "/Users", {"schemas": [USER], "userName": unique()}, None, 405, None, "PUT"),
        ("GET", "/Users/999999", None, None, 404, None, "no such user"),
        ("GET", "/Users/abc", None, None, 404, None, "no such user"),
        ("DELETE", "/Users/999999", None, None, 404, None, "no such user"),
        ("PUT", "/Users/999999", {"schemas": [USER], "userName": unique()}, None, 404, None,
         "no such user"),
        ("PATCH", "/Users/999999", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}, None, 404, None,
         "no such user"),
        ("PATCH", f"/Users/{existing_id}", "[", None, 400, "invalidSyntax", "json"),
        ("PATCH", f"/Users/{existing_id}", {"Operations": [
            {"op": "replace", "path": "active", "value": False}]}, None, 400, "invalidSyntax",
         "PatchOp"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": []}, None, 400,
         "invalidSyntax", "Operations"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "Delete", "path": "active"}]}, None, 400, "invalidSyntax", "op"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "remove"}]}, None, 400, "noTarget", "path"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "activ", "value": False}]}, None, 400, "invalidPath",
         "activ"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": "perhaps"}]}, None, 400,
         "invalidValue", "active"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "groups", "value": [{"value": "admins"}]}]}, None, 400,
         "mutability", "groups"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "id", "value": "1"}]}, None, 400, "mutability", "id"),
        # An invalid operation after a valid one: the valid one is not applied either.
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": False},
            {"op": "replace", "path": "userName", "value": None}]}, None, 400, "invalidValue",
         "userName"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": 'emails[value eq "nobody@x"].value',
             "value": "n@x"}]}, None, 400, "noTarget", "email"),
        # RFC 7644 3.5.2.2: a required attribute cannot be removed (mutability);
        # active is refused too rather than guessed (docs/scim.md, PATCH).
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": "userName"}]}, None, 400, "mutability", "userName"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "Remove", "path": "active"}]}, None, 400, "mutability", "active"),
        # RFC 7644 3.12: a value filter that matches nothing is noTarget.
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": 'emails[value eq "nomatch@x"]'}]}, None, 400,
         "noTarget", "nomatch"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": 'emails[value eq "nomatch@x"].value'}]}, None, 400,
         "noTarget", "nomatch"),
        # RFC 7644 3.5.2.3: the one address kept is type work and primary, so
        # a replace or remove of another type has no target (add drops it).
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": 'emails[type eq "home"].value', "value": "h@x"}]}, None,
         400, "noTarget", "type work and primary"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "remove", "path": 'emails[primary eq false]'}]}, None, 400, "noTarget",
         "primary eq false"),
        # A misspelt core URN is no extension schema: refused, never dropped, so
        # the account stays active (RFC 7644 3.5.2: invalidPath).
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": USER + ".active", "value": False}]}, None, 400,
         "invalidPath", "User.active"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {USER + ".active": False}}]}, None, 400,
         "invalidPath", "User.active"),
        ("PATCH", f"/Users/{existing_id}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:Usr:active",
             "value": False}]}, None, 400, "invalidPath", "Usr:active"),
        ("PUT", f"/Users/{existing_id}", {"schemas": [USER], "userName": unique(),
                                          USER + ".active": False}, None, 400,
         "invalidSyntax", "User.active"),
        ("POST", "/Users", {"schemas": [USER], "userName": unique(), USER + ".active": False},
         None, 400, "invalidSyntax", "User.active"),
        ("GET", "/Users?filter=userName%20gt%20%22a%22", None, None, 400, "invalidFilter", "gt"),
        ("GET", "/Users?filter=title%20eq%20%22a%22", None, None, 400, "invalidFilter",
         "title"),
        ("GET", "/Users?filter=userName%20eq%20%22a", None, None, 400, "invalidFilter",
         "unterminated"),
        ("GET", "/Users?filter=userName%20eq%20%22a%22%20and%20(active%20eq%20true", None, None,
         400, "invalidFilter", "("),
        ("GET", "/Users?filter=title%20eq%20%22a%22", None, None, 400, "invalidFilter", "title"),
        ("GET", "/Users?filter=a&filter=b", None, None, 400, "invalidFilter", "twice"),
    ]


def test_bad_requests_write_nothing(scim):
    existing = scim.create(unique("victim"), unique("victim") + "@example.org", "Victim")
    before = scim.snapshot()
    for method, path, body, headers, status, scim_type, text in _bad_requests(existing["id"]):
        if isinstance(body, (dict, list)):
            data = json.dumps(body)
        else:
            data = body
        hdrs = {"Content-Type": SCIM_CT} if data is not None else {}
        hdrs.update(headers or {})
        if "?" in path:
            r = requests.request(method, scim.base + path, data=data, timeout=15,
                                 headers={"Authorization": f"Bearer {TOKEN}", **hdrs})
        else:
            r = scim.req(method, path, data=data, headers=hdrs)
        try:
            assert_scim_error(r, status, scim_type, text)
        except AssertionError as e:
            raise AssertionError(f"{method} {path} {str(body)[:120]}: {e}") from None
        assert scim.snapshot() == before, (method, path, body)
    # The victim is as it was.
    assert scim.req("GET", f"/Users/{existing['id']}").json() == existing


def test_chunked_body_over_the_cap(scim):
    before = scim.snapshot()

    def chunks():
        yield b'{"schemas":["' + USER.encode() + b'"],"userName":"chunky","displayName":"'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    r = requests.post(scim.base + "/Users", data=chunks(), timeout=15,
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": SCIM_CT})
    assert_scim_error(r, 413, text="larger")
    assert scim.snapshot() == before


def test_uniqueness(scim):
    name = unique("Dup")
    email = unique("dup") + "@example.net"
    first = scim.create(name, email)
    before = scim.snapshot()
    # userName is unique case-insensitively.
    r = scim.req("POST", "/Users", {"schemas": [USER], "userName": name.upper()})
    assert_scim_error(r, 409, "uniqueness", "userName")
    # Two accounts waiting for their first login with one email could not be
    # told apart at that login.
    r = scim.req("POST", "/Users", {"schemas": [USER], "userName": unique(),
                                    "emails": [{"value": email.upper()}]})
    assert_scim_error(r, 409, "uniqueness", "email")
    assert scim.snapshot() == before
    # A rename onto a taken userName, by PUT or PATCH.
    other = scim.create(unique("Other"))
    before = scim.snapshot()
    r = scim.req("PUT", f"/Users/{other['id']}", {"schemas": [USER], "userName": name.lower()})
    assert_scim_error(r, 409, "uniqueness", "userName")
    r = scim.patch(other["id"], [{"op": "replace", "path": "userName", "value": name}])
    assert_scim_error(r, 409, "uniqueness", "userName")
    assert scim.snapshot() == before
    # Changing only the case of one's own userName is fine.
    r = scim.patch(first["id"], [{"op": "replace", "path": "userName", "value": name.upper()}])
    assert r.status_code == 200 and r.json()["userName"] == name.upper()


def test_attributes_and_excluded_attributes(scim):
    """RFC 7644 3.4.2.5 and 3.9: GET (one user and a list) and the answers to
    POST, PUT and PATCH return only the attributes asked for, or leave out the
    excluded ones; id and schemas always stay. A bad name is refused before
    anything is written."""
    name = unique("Attr")
    r = scim.req("POST", "/Users", {"schemas": [USER], "userName": name,
                                    "emails": [{"value": name + "@example.org"}],
                                    "name": {"givenName": "At", "familyName": "Tr"}},
                 params={"attributes": "userName,emails.value"})
    assert r.status_code == 201, r.text
    u = r.json()
    assert set(u) == {"schemas", "id", "userName", "emails"}, u
    assert u["emails"] == [{"value": name + "@example.org"}]
    uid = u["id"]
    assert r.headers["Location"].endswith("/Users/" + uid)

    r = scim.req("GET", f"/Users/{uid}",
                 params={"attributes": f"{USER}:name.givenName,ACTIVE,meta.location"})
    assert r.json() == {"schemas": [USER], "id": uid, "name": {"givenName": "At"},
                        "active": True,
                        "meta": {"location": scim.base + "/Users/" + uid}}, r.text
    r = scim.req("GET", f"/Users/{uid}",
                 params={"excludedAttributes": "emails,meta,name.familyName,id,schemas"})
    j = r.json()
    assert "emails" not in j and "meta" not in j and j["name"] == {"formatted": "At Tr",
                                                                   "givenName": "At"}, j
    assert j["id"] == uid and j["schemas"] == [USER] and j["userName"] == name

    lst = scim.req("GET", "/Users", params={"filter": f'userName eq "{name}"',
                                            "attributes": "userName"}).json()
    assert lst["schemas"] == [LIST] and lst["totalResults"] == 1, lst
    assert lst["Resources"] == [{"schemas": [USER], "id": uid, "userName": name}]

    r = scim.patch(uid, [{"op": "replace", "path": "displayName", "value": "Attr X"}],
                   params={"attributes": "displayName"})
    assert r.status_code == 200 and r.json() == {"schemas": [USER], "id": uid,
                                                 "displayName": "Attr X"}, r.text
    r = scim.req("PUT", f"/Users/{uid}", {"schemas": [USER], "userName": name,
                                          "displayName": "Attr Y"},
                 params={"excludedAttributes": "groups,meta,name,emails"})
    assert r.status_code == 200 and r.json() == {"schemas": [USER], "id": uid,
                                                 "userName": name, "displayName": "Attr Y",
                                                 "active": True}, r.text

    # A name that is none: 400, and the change is not made.
    before = scim.snapshot()
    r = scim.patch(uid, [{"op": "replace", "path": "active", "value": False}],
                   params={"attributes": 'emails[type eq "work"]'})
    assert_scim_error(r, 400, "invalidValue", "attributes")
    r = scim.req("POST", "/Users", {"schemas": [USER], "userName": unique()},
                 params={"excludedAttributes": USER + ".userName"})
    assert_scim_error(r, 400, "invalidValue", "excludedAttributes")
    r = scim.req("GET", "/Users", params={"attributes": "a..b"})
    assert_scim_error(r, 400, "invalidValue", "attributes")
    assert scim.snapshot() == before
    assert scim.row(uid)["status"] == "active"


def test_filter_operators_and_logic(scim):
    """RFC 7644 3.4.2.2 beyond `eq`: ne co sw ew pr, and/or/not, parentheses,
    as prepared SQL on SQLite and PostgreSQL; case rules as for eq (userName,
    emails, displayName case-insensitive; externalId case-exact). Values with
    SQL's LIKE characters match literally."""
    tag = uuid.uuid4().hex[:8]
    a = scim.create(f"fa-{tag}-Alpha", f"alpha.{tag}@Example.com", "Ann A",
                    externalId=f"Ext{tag}A",
                    name={"givenName": "Ann", "familyName": f"O'Malley-{tag}"})
    b = scim.create(f"fb-{tag}-beta", None, "Bob_100%", externalId=f"ext{tag}b",
                    name={"givenName": "Bob", "familyName": f"Jensen-{tag}"})
    c = scim.create(f"fc-{tag}-gamma", f"gamma.{tag}@example.org")
    scim.patch(c["id"], [{"op": "replace", "path": "active", "value": False}])
    mine = {a["id"], b["id"], c["id"]}

    def ids(flt):
        r = scim.req("GET", "/Users", params={"filter": flt, "count": 200})
        assert r.status_code == 200, (flt, r.text)
        j = r.json()
        got = {u["id"] for u in j["Resources"]}
        assert j["totalResults"] == len(got), (flt, j["totalResults"])
        return got & mine

    assert ids(f'userName sw "FA-{tag}"') == {a["id"]}
    assert ids(f'userName co "-{tag}-"') == mine
    assert ids(f'userName ew "ALPHA"') == {a["id"]}
    assert ids(f'userName ew "{tag}-alpha-longer-than-the-name-{tag}"') == set()
    assert ids(f'userName co "-{tag}-" and not (emails pr)') == {b["id"]}
    assert ids(f'emails ew "@EXAMPLE.com" and userName co "{tag}"') == {a["id"]}
    assert ids(f'userName co "{tag}" and active eq false') == {c["id"]}
    assert ids(f'userName co "{tag}" and active ne false') == {a["id"], b["id"]}
    assert ids(f'(userName ew "beta" or userName ew "gamma") and emails pr') == {c["id"]}
    assert ids(f'userName ew "alpha" or userName ew "beta" and active eq false') == {a["id"]}
    assert ids(f'userName co "{tag}" and displayName ne "ann a"') == {b["id"], c["id"]}
    # ne and not() match rows without the attribute (no NULL surprises).
    assert ids(f'userName co "{tag}" and emails ne "x@y"') == mine
    assert ids(f'userName co "{tag}" and not (externalId sw "ext")') == {a["id"], c["id"]}
    # externalId is case-exact; LIKE's % and _ mean themselves.
    assert ids(f'externalId sw "Ext{tag}"') == {a["id"]}
    assert ids(f'externalId co "{tag}B"') == set()
    assert ids('displayName co "_100%"') == {b["id"]}
    assert ids('displayName co "%"') == {b["id"]}
    assert ids(f'userName co "{tag}" and displayName co "_"') == {b["id"]}
    assert ids(f'userName co "{tag}" and id ne "{a["id"]}"') == {b["id"], c["id"]}
    assert ids(f'userName sw "fa-{tag}" and id pr and active pr') == {a["id"]}
    # The name parts, case-insensitively (RFC 7644 3.4.2.2's own example).
    assert ids(f'name.familyName co "o\'malley-{tag}"') == {a["id"]}
    assert ids(f'NAME.FAMILYNAME eq "JENSEN-{tag}"') == {b["id"]}
    assert ids(f'userName co "{tag}" and {USER}:name.givenName sw "b"') == {b["id"]}
    assert ids(f'userName co "{tag}" and not (name.givenName pr)') == {c["id"]}
    assert ids(f'userName co "{tag}" and name.familyName ne "jensen-{tag}"') == {a["id"],
                                                                                 c["id"]}
    # Refused, writing nothing: orderings, an unclosed group, a bare not.
    before = scim.snapshot()
    for flt, text in (('userName ge "a"', "ge"), (f'(userName co "{tag}"', "("),
                      ('not userName eq "a"', "not"), ('active co "t"', "active")):
        r = scim.req("GET", "/Users", params={"filter": flt})
        assert_scim_error(r, 400, "invalidFilter", text)
    assert scim.snapshot() == before


def test_jit_rows_without_username_are_found_by_the_username_get_shows(scim):
    """A login without preferred_username leaves the username column empty and
    GET shows the email, else the subject, as userName. The IdP looks that
    name up before creating the user: it must find this row (case-insensitively)
    and a POST of it must be a conflict, or the IdP would create an orphan whose
    deactivation never reaches the account the person logs in with."""
    iss = "https://idp.example/jit"
    email = unique("Jit.Mail") + "@Example.org"
    sub = unique("jit-sub")
    for username, mail, subject in ((None, email, unique("s")), ("", None, sub)):
        scim.db.execute(
            "INSERT INTO jitprov_accounts (iss, sub, username, email, status, created_at, "
            f"updated_at, login_count, source) VALUES ({lit(iss)}, {lit(subject)}, "
            f"{lit(username)}, {lit(mail)}, 'active', 1, 1, 1, 'jit')")
    by_mail = scim.db.rows(f"SELECT id FROM jitprov_accounts WHERE email = {lit(email)}")[0]["id"]
    by_sub = scim.db.rows(f"SELECT id FROM jitprov_accounts WHERE sub = {lit(sub)}")[0]["id"]
    for uid, shown in ((by_mail, email), (by_sub, sub)):
        assert scim.req("GET", f"/Users/{uid}").json()["userName"] == shown
        for value in (shown, shown.upper()):
            lst = scim.req("GET", "/Users",
                           params={"filter": f'userName eq "{value}"'}).json()
            assert lst["totalResults"] == 1, (value, lst)
            assert lst["Resources"][0]["id"] == str(uid)
            assert lst["Resources"][0]["userName"] == shown
    other = scim.create(unique("Other"))
    before = scim.snapshot()
    for value in (email.lower(), sub.upper()):
        r = scim.req("POST", "/Users", {"schemas": [USER], "userName": value})
        assert_scim_error(r, 409, "uniqueness", "userName")
        r = scim.req("PUT", f"/Users/{other['id']}", {"schemas": [USER], "userName": value})
        assert_scim_error(r, 409, "uniqueness", "userName")
        r = scim.patch(other["id"], [{"op": "replace", "path": "userName", "value": value}])
        assert_scim_error(r, 409, "uniqueness", "userName")
    assert scim.snapshot() == before
    # A new email renames a row that shows its email: that name must be free too.
    taken = scim.create(unique("taken") + "@example.org")
    before = scim.snapshot()
    r = scim.patch(by_mail, [{"op": "replace", "path": "emails",
                              "value": [{"value": taken["userName"].upper()}]}])
    assert_scim_error(r, 409, "uniqueness", "userName")
    assert scim.snapshot() == before
    # What the IdP does next: deactivate the row it found, the one used to log in.
    r = scim.patch(by_mail, [{"op": "replace", "path": "active", "value": False}])
    assert r.status_code == 200 and r.json()["active"] is False
    assert scim.row(by_mail)["status"] == "disabled"


# ------------------------------------------------------------ updates

def test_patch_as_entra_id_sends_it(scim):
    u = scim.create(unique("entra") + "@contoso.com", "old@contoso.com", "Old Name")
    uid = u["id"]
    r = scim.patch(uid, [
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "new@contoso.com"},
        {"op": "Replace", "path": "displayName", "value": "New Name"},
        {"op": "Replace", "path": "name.givenName", "value": "New"},
        {"op": "Replace", "path": "name.familyName", "value": "Name"},
        {"op": "Add", "path": ENTERPRISE + ":employeeNumber", "value": "7"},
        {"op": "Add", "path": "externalId", "value": "e-7"},
        {"op": "Replace", "path": "title", "value": "Lead"},
    ])
    assert r.status_code == 200, r.text
    assert r.json()["emails"][0]["value"] == "new@contoso.com"
    assert r.json()["displayName"] == "New Name"
    assert r.json()["active"] is True
    row = scim.row(uid)
    assert row["email"] == "new@contoso.com" and row["display_name"] == "New Name"
    audit = scim.audit(uid)
    assert [a["event"] for a in audit] == ["scim_create", "scim_update"]
    ch = detail(audit[-1])["changed"]
    assert ch["email"] == {"old": "old@contoso.com", "new": "new@contoso.com"}
    assert ch["display_name"]["new"] == "New Name"

    # Nothing changes: no write, no audit row.
    r = scim.patch(uid, [{"op": "Replace", "path": "displayName", "value": "New Name"}])
    assert r.status_code == 200
    assert scim.events(uid) == ["scim_create", "scim_update"]

    # Entra ID's soft delete: active as the string "False".
    r = scim.patch(uid, [{"op": "Replace", "path": "active", "value": "False"}])
    assert r.status_code == 200 and r.json()["active"] is False
    assert scim.row(uid)["status"] == "disabled"
    assert scim.events(uid)[-1] == "scim_deactivate"
    assert detail(scim.audit(uid)[-1])["changed"]["status"] == {"old": "active",
                                                                "new": "disabled"}
    r = scim.patch(uid, [{"op": "Replace", "path": "active", "value": "True"}])
    assert r.status_code == 200 and r.json()["active"] is True
    assert scim.row(uid)["status"] == "active"
    assert scim.events(uid)[-1] == "scim_update"

    # Filtering on active.
    inactive = scim.req("GET", "/Users", params={"filter": "active eq false"}).json()
    assert uid not in [x["id"] for x in inactive["Resources"]]


def test_patch_value_filter_without_match_is_no_target(scim):
    """RFC 7644 3.5.2.3: Replace emails[type eq "work"].value on a user
    without an email selects nothing: 400 noTarget, nothing written (row and
    audit). Add sets the address, as Entra ID sends it the first time; then
    Replace changes it."""
    u = scim.create(unique("nomail"), None, "No Mail")
    uid = u["id"]
    before = scim.snapshot()
    for ops, text in (
            ([{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@x.org"}],
             "has no email"),
            ([{"op": "replace", "path": "displayName", "value": "Changed"},
              {"op": "replace", "path": "emails[primary eq true]", "value": {"value": "w@x.org"}}],
             "has no email"),
            ([{"op": "remove", "path": 'emails[type eq "work"]'}], "has no email"),
            ([{"op": "replace", "value": {'emails[type eq "work"].value': "w@x.org"}}],
             "has no email"),
            ([{"op": "Add", "path": 'emails[type eq "home"].value', "value": "h@x.org"},
              {"op": "Replace", "path": 'emails[type eq "home"].value', "value": "h@x.org"}],
             "type work and primary")):
        r = scim.patch(uid, ops)
        assert_scim_error(r, 400, "noTarget", text)
        assert scim.snapshot() == before, ops
    assert scim.row(uid)["email"] is None and scim.events(uid) == ["scim_create"]

    r = scim.patch(uid, [{"op": "Add", "path": 'emails[type eq "work"].value',
                          "value": "first@x.org"}])
    assert r.status_code == 200, r.text
    assert r.json()["emails"] == [{"value": "first@x.org", "type": "work", "primary": True}]
    r = scim.patch(uid, [{"op": "Replace", "path": 'emails[type eq "work"].value',
                          "value": "second@x.org"}])
    assert r.status_code == 200, r.text
    assert scim.row(uid)["email"] == "second@x.org"
    assert scim.events(uid) == ["scim_create", "scim_update", "scim_update"]
    assert detail(scim.audit(uid)[-1])["changed"]["email"] == {"old": "first@x.org",
                                                              "new": "second@x.org"}


def test_patch_as_okta_sends_it_and_put(scim):
    u = scim.create(unique("okta"), unique("okta") + "@example.com")
    uid = u["id"]
    r = scim.patch(uid, [{"op": "replace", "value": {"active": False}}])
    assert r.status_code == 200 and r.json()["active"] is False
    assert scim.row(uid)["status"] == "disabled"
    assert scim.events(uid) == ["scim_create", "scim_deactivate"]
    # Okta's PUT carries the whole profile; active true reactivates.
    new_name = unique("okta-renamed")
    r = scim.req("PUT", f"/Users/{uid}", {
        "schemas": [USER], "id": uid, "userName": new_name,
        "name": {"givenName": "Olga", "familyName": "Kta"},
        "emails": [{"primary": True, "value": "olga@example.com", "type": "work"}],
        "active": True, "groups": [], "password": "ignored"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["userName"] == new_name and j["displayName"] == "Olga Kta" and j["active"] is True
    row = scim.row(uid)
    assert (row["username"], row["email"], row["display_name"], row["status"]) == (
        new_name, "olga@example.com", "Olga Kta", "active")
    assert scim.events(uid)[-1] == "scim_update"
    # A PUT without "active" leaves the status alone and clears what it omits.
    scim.db.execute(f"UPDATE jitprov_accounts SET status = 'pending' WHERE id = {int(uid)}")
    r = scim.req("PUT", f"/Users/{uid}", {"schemas": [USER], "userName": new_name})
    assert r.status_code == 200, r.text
    row = scim.row(uid)
    assert row["status"] == "pending" and row["email"] is None and row["display_name"] is None


def test_delete_removes_the_resource(scim):
    """RFC 7644 3.6: after DELETE the resource answers 404 and is in no query
    result, and its userName can be created again. The row stays as a tombstone
    for the audit trail."""
    name, email = unique("leaver"), unique("leaver") + "@example.com"
    u = scim.create(name, email)
    uid = u["id"]
    r = scim.req("DELETE", f"/Users/{uid}")
    assert r.status_code == 204 and r.content == b""
    row = scim.row(uid)
    assert row is not None and row["status"] == "disabled"  # kept for the audit trail
    assert row["username"] == f"~deleted~{uid}" and row["sub"].startswith(f"~deleted~{uid}:")
    assert scim.events(uid) == ["scim_create", "scim_delete"]
    detail = json.loads(scim.audit(uid)[-1]["detail"])
    assert detail["changed"]["username"] == {"old": name, "new": f"~deleted~{uid}"}
    assert_scim_error(scim.req("GET", f"/Users/{uid}"), 404, None, "no such user")
    before = scim.snapshot()
    assert_scim_error(scim.req("DELETE", f"/Users/{uid}"), 404, None, "no such user")
    assert_scim_error(scim.patch(uid, [{"op": "replace", "path": "displayName", "value": "x"}]),
                      404, None, "no such user")
    assert_scim_error(scim.req("PUT", f"/Users/{uid}", {"schemas": [USER], "userName": name}),
                      404, None, "no such user")
    assert scim.snapshot() == before  # nothing written by those
    for flt in (f'userName eq "{name}"', f'emails.value eq "{email}"', f'id eq "{uid}"',
                "active eq false"):
        lst = scim.req("GET", "/Users", params={"filter": flt}).json()
        assert uid not in [x["id"] for x in lst["Resources"]], (flt, lst)
    lst = scim.req("GET", "/Users", params={"count": 1000}).json()
    assert uid not in [x["id"] for x in lst["Resources"]]
    assert lst["totalResults"] == len(lst["Resources"])
    # The userName (and the email) are free again: a new resource, a new id.
    again = scim.create(name, email)
    assert again["id"] != uid and again["active"] is True
    # A userName in the tombstone form cannot be made by hand.
    n_before = scim.counts()
    assert_scim_error(scim.req("POST", "/Users", {"schemas": [USER],
                                                  "userName": "~deleted~1"}),
                      400, "invalidValue", "~deleted~")
    assert_scim_error(scim.patch(again["id"], [{"op": "replace", "path": "userName",
                                                "value": "~deleted~x"}]),
                      400, "invalidValue", "~deleted~")
    assert scim.counts() == n_before
    # A pending account is deprovisioned too.
    p = scim.create(unique("pending"))
    scim.db.execute(f"UPDATE jitprov_accounts SET status = 'pending' WHERE id = {int(p['id'])}")
    assert scim.req("DELETE", f"/Users/{p['id']}").status_code == 204
    assert scim.row(p["id"])["status"] == "disabled"


# ------------------------------------------------------------ with OIDC logins

def test_scim_user_is_linked_at_first_login_and_deactivation_ends_the_session(scim, s):
    alice = USER_CLAIMS["alice"]
    u = scim.create(unique("alice.scim"), alice["email"].upper(), "Alice (SCIM)")
    uid = u["id"]
    assert scim.row(uid)["sub"] is None

    r = h.login(s, scim.url("/app/first"), "alice")
    assert r.status_code == 200, r.text[:500]
    row = scim.row(uid)
    assert row["iss"] == scim.env.idp.issuer and row["sub"] == alice["sub"]
    # Linked, not created anew.
    assert h.db_scalar(scim.db, "SELECT count(*) AS n FROM jitprov_accounts WHERE sub = "
                       + lit(alice["sub"])) == 1
    assert scim.events(uid) == ["scim_create", "link"]
    assert s.get(scim.url("/app/again")).status_code == 200
    got = scim.req("GET", f"/Users/{uid}").json()
    assert got["active"] is True and got["id"] == uid

    # Entra ID deactivates: the live session ends at once (the re-check interval
    # is an hour), the next request goes to the IdP.
    r = scim.patch(uid, [{"op": "Replace", "path": "active", "value": "False"}])
    assert r.status_code == 200 and r.json()["active"] is False
    r = s.get(scim.url("/app/after"), allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    assert r.headers["Location"].startswith(scim.env.idp.discovery()["authorization_endpoint"])
    # And the next login is refused.
    r = h.login(s, scim.url("/app/again"), "alice")
    assert r.status_code == 403, r.text[:500]
    assert "disabled" in r.text
    assert h.SESSION_COOKIE not in h.set_cookies(r)
    assert scim.events(uid)[-2:] == ["scim_deactivate", "refuse"]


def test_delete_ends_the_session_too(scim, s):
    bob = USER_CLAIMS["bob"]
    u = scim.create(unique("bob"), bob["email"])
    assert h.login(s, scim.url("/app/"), "bob").status_code == 200
    assert scim.row(u["id"])["sub"] == bob["sub"]
    assert scim.req("DELETE", f"/Users/{u['id']}").status_code == 204
    r = s.get(scim.url("/app/"), allow_redirects=False)
    assert r.status_code == 302
    assert scim.row(u["id"])["status"] == "disabled"
    # The IdP provisions the user again: the next login links the new resource,
    # never the deleted row.
    u2 = scim.create(u["userName"], bob["email"])
    with requests.Session() as fresh:
        assert h.login(fresh, scim.url("/app/"), "bob").status_code == 200
    assert scim.row(u2["id"])["sub"] == bob["sub"]
    assert scim.row(u["id"])["sub"].startswith("~deleted~")


def test_put_deactivation_ends_the_session(scim, s):
    dave = USER_CLAIMS["dave"]
    u = scim.create(unique("dave"), dave["email"])
    assert h.login(s, scim.url("/app/"), "dave").status_code == 200
    r = scim.req("PUT", f"/Users/{u['id']}", {"schemas": [USER], "userName": u["userName"],
                                              "emails": [{"value": dave["email"]}],
                                              "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert s.get(scim.url("/app/"), allow_redirects=False).status_code == 302


# ------------------------------------------------------------ a legacy table

def test_table_without_status_column(scim):
    """An application's table without a status column: SCIM cannot deactivate
    and says so; DELETE and everything else work. Without name columns the
    name filters match no row (ne: every row), as for other absent columns."""
    try:
        scim.start(SERVER + "\nJITProvAccountColumn status none"
                   "\nJITProvAccountColumn given_name none"
                   "\nJITProvAccountColumn family_name none")
        u = scim.create(unique("legacy"), name={"givenName": "Lee", "familyName": "Gacy"})
        assert u["active"] is True and u["name"] == {"formatted": "Lee Gacy"}, u
        for flt, want in (('name.givenName eq "Lee"', 0), ('name.familyName co "a"', 0),
                          ("name.givenName pr", 0), ('name.familyName ne "Gacy"', 1),
                          ("not (name.familyName pr)", 1)):
            lst = scim.req("GET", "/Users", params={"filter": flt}).json()
            assert lst["totalResults"] == want, (flt, lst)
        assert "status" not in scim.db.rows(
            f"SELECT * FROM jitprov_accounts WHERE id = {int(u['id'])}")[0]
        before = scim.snapshot()
        assert_scim_error(scim.patch(u["id"], [{"op": "replace", "path": "active",
                                                "value": False}]), 501, None, "status column")
        assert_scim_error(scim.req("POST", "/Users", {"schemas": [USER], "userName": unique(),
                                                      "active": False}),
                          501, None, "status column")
        assert scim.snapshot() == before
        r = scim.patch(u["id"], [{"op": "replace", "path": "active", "value": True},
                                 {"op": "replace", "path": "displayName", "value": "L"}])
        assert r.status_code == 200 and r.json()["displayName"] == "L"
        lst = scim.req("GET", "/Users", params={"filter": "active eq false"}).json()
        assert lst["totalResults"] == 0
        # DELETE needs no status column: the resource is gone all the same.
        assert scim.req("DELETE", f"/Users/{u['id']}").status_code == 204
        assert_scim_error(scim.req("GET", f"/Users/{u['id']}"), 404, None, "no such user")
    finally:
        scim.start()


def test_filter_forms_per_connection_are_capped(scim):
    """Each distinct filter form (attributes, operators, and/or/not) is a
    statement prepared on the database connection and kept as long as the
    connection lives: a connection takes 32 forms and refuses new ones with a
    clear 400, while the forms it holds (any values) keep answering. Last in
    this module: the connection stays full."""
    # One database connection: with more, a request may start before the
    # previous one has handed its connection back, and take another.
    scim.start(SERVER + "\nDBDMin 1\nDBDKeep 1\nDBDMax 1")
    first = 'userName eq "cap-probe"'
    assert scim.req("GET", "/Users", params={"filter": first}).status_code == 200
    before = scim.snapshot()
    ops = ("eq", "ne", "co", "sw", "ew")
    forms = [f'{attr} {op} "x"' + " and userName pr" * k
             for k in range(8) for attr in ("userName", "emails", "displayName", "externalId")
             for op in ops]
    refused = None
    for i, flt in enumerate(forms):
        r = scim.req("GET", "/Users", params={"filter": flt})
        if r.status_code != 200:
            refused = i
            break
    # forms[0] is first's form: forms[1:32] fill the connection's 32.
    assert refused == 32, refused
    j = assert_scim_error(r, 400, "invalidFilter", "at most 32 distinct filter forms")
    assert "userName eq" in j["detail"], j
    assert_scim_error(scim.req("GET", "/Users", params={"filter": forms[refused]}), 400,
                      "invalidFilter")
    for flt in (first, 'userName eq "another value"', forms[0], forms[refused - 1]):
        assert scim.req("GET", "/Users", params={"filter": flt}).status_code == 200, flt
    # No filter, or one user by id, is no filter form.
    assert scim.req("GET", "/Users").status_code == 200
    assert scim.snapshot() == before
    assert "JITPROV0903" in scim.env.httpd.log_since_start()
