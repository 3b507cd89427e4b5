"""Header values: multi-valued claims joined, non-ASCII in each encoding."""
import urllib.parse

import pytest
import requests

import jitprov_harness as h
from jitprov_harness import USER_CLAIMS

NAME = USER_CLAIMS["dave"]["name"]  # "Zoë Ünïcode"


@pytest.fixture(scope="module")
def dave(site):
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), "dave")
        assert r.status_code == 200
        yield sess


@pytest.fixture(scope="module")
def alice(site):
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), "alice")
        assert r.status_code == 200
        yield sess


def get_http(site, sess, path):
    r = sess.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()["http"]


def test_none_passes_utf8_bytes(site, dave):
    http = get_http(site, dave, "/enc/none/")
    assert h.env_bytes(http["HTTP_X_USER_NAME"]) == NAME.encode("utf-8")


def test_percent(site, dave):
    http = get_http(site, dave, "/enc/percent/")
    v = http["HTTP_X_USER_NAME"]
    assert all(0x20 <= ord(c) < 0x7f for c in v), v
    assert urllib.parse.unquote(v, encoding="utf-8", errors="strict") == NAME
    assert "%C3%AB" in v.upper()
    # ASCII-only values keep their shape.
    assert urllib.parse.unquote(http["HTTP_X_USER_EMAIL"]) == USER_CLAIMS["dave"]["email"]


def test_base64url(site, dave):
    http = get_http(site, dave, "/enc/base64url/")
    v = http["HTTP_X_USER_NAME"]
    assert all(c.isalnum() or c in "-_" for c in v), v
    assert h.b64url_decode(v) == NAME.encode("utf-8")
    assert h.b64url_decode(http["HTTP_X_USER_EMAIL"]) == USER_CLAIMS["dave"]["email"].encode()


def test_through_proxy_raw_bytes(site, dave):
    r = dave.get(site.httpd.url("/proxied/enc"), allow_redirects=False)
    assert r.status_code == 200
    assert h.header_values(r, "X-User-Name") == [NAME.encode("utf-8")]


def test_groups_joined_with_delimiter(site, alice):
    assert get_http(site, alice, "/app/")["HTTP_X_USER_GROUPS"] == "staff,admins"
    assert get_http(site, alice, "/enc/pipe/")["HTTP_X_USER_GROUPS"] == "staff|admins"


def test_groups_encoded(site, alice):
    # base64url: each element on its own, joined with the delimiter.
    v = get_http(site, alice, "/enc/base64url/")["HTTP_X_USER_GROUPS"]
    assert v == "c3RhZmY,YWRtaW5z"
    assert [h.b64url_decode(x) for x in v.split(",")] == [b"staff", b"admins"]
    v = get_http(site, alice, "/enc/percent/")["HTTP_X_USER_GROUPS"]
    assert [urllib.parse.unquote(x) for x in v.split(",")] == ["staff", "admins"]


# Issue 9, item 3: one group named "staff,admins" must never read as the two
# groups "staff" and "admins" (alice), in any encoding.
COMMA = {"commagroup": {"sub": "u-c0aa0000-0000-4000-8000-00000000c001",
                        "email": "commagroup@example.com", "email_verified": True,
                        "name": "Doe, Comma", "preferred_username": "commagroup",
                        "groups": ["staff,admins"]}}


def decode(value, enc, delim=","):
    """The recipe of docs/directives.md (JITProvHeaderEncoding)."""
    parts = value.split(delim)
    if enc == "percent":
        return [urllib.parse.unquote(x, errors="strict") for x in parts]
    if enc == "base64url":
        return [h.b64url_decode(x).decode("utf-8") for x in parts]
    return parts


def logged_in(site, users, name):
    """A session of `name`, one of `users` (claims), which the IdP gets first
    when it does not know them yet."""
    if site.idp.users.get(name) != users[name]:
        site.idp.users.update(users)
        site.idp.restart()
    USER_CLAIMS.update(users)
    sess = requests.Session()
    r = h.login(sess, site.httpd.url("/app/"), name)
    assert r.status_code == 200
    return sess, r


@pytest.fixture(scope="module")
def comma(site):
    sess, _ = logged_in(site, COMMA, "commagroup")
    with sess:
        yield sess


@pytest.mark.parametrize("path,enc", [("/enc/percent/", "percent"),
                                      ("/enc/base64url/", "base64url")])
def test_delimiter_inside_an_element_is_unambiguous(site, alice, comma, path, enc):
    one = get_http(site, comma, path)["HTTP_X_USER_GROUPS"]
    two = get_http(site, alice, path)["HTTP_X_USER_GROUPS"]
    assert one != two
    assert decode(one, enc) == ["staff,admins"]
    assert decode(two, enc) == ["staff", "admins"]
    if enc == "percent":
        assert one == "staff%2Cadmins"


def test_none_refuses_an_element_holding_the_delimiter(site, alice, comma):
    http = get_http(site, comma, "/app/")  # none, ","
    assert "HTTP_X_USER_GROUPS" not in http
    assert "HTTP_X_USER_NAME" not in http  # "Doe, Comma"
    assert http["HTTP_X_USER_EMAIL"] == "commagroup@example.com"
    assert get_http(site, alice, "/app/")["HTTP_X_USER_GROUPS"] == "staff,admins"
    assert h.wait_for_log(site.httpd, "JITPROV0680")
    # With a delimiter the values do not contain, they pass as they are.
    http = get_http(site, comma, "/enc/pipe/")
    assert http["HTTP_X_USER_GROUPS"] == "staff,admins"
    assert http["HTTP_X_USER_NAME"] == "Doe, Comma"


def test_spoofed_header_still_stripped_when_refused(site, comma):
    r = comma.get(site.httpd.url("/app/"), headers={"X-User-Groups": "admins"},
                  allow_redirects=False)
    assert r.status_code == 200
    assert "HTTP_X_USER_GROUPS" not in r.json()["http"]


def test_environment_follows_each_location_with_one_cookie(site, alice):
    # Each process keeps the environment it made for a cookie, keyed by the
    # prefix, delimiter and encoding: one cookie used across locations with
    # different settings, in alternation, gets each location's own rendering
    # every time, and the same answer on every repeat.
    want = {
        "/enc/none/": ("staff,admins", b"Alice Anderson"),
        "/enc/percent/": ("staff,admins", b"Alice Anderson"),
        "/enc/pipe/": ("staff|admins", b"Alice Anderson"),
    }
    seen = {}
    for _ in range(4):
        for path in list(want) + ["/enc/base64url/"]:
            r = alice.get(site.httpd.url(path), allow_redirects=False)
            assert r.status_code == 200
            env = r.json()["jitprov"]
            got = (env["JITPROV_CLAIM_GROUPS"], h.env_bytes(env["JITPROV_CLAIM_NAME"]),
                   env["JITPROV_ACCOUNT_ID"] if "JITPROV_ACCOUNT_ID" in env else None,
                   sorted(env))
            if path in want:
                assert got[:2] == want[path], (path, got[:2])
            else:
                assert env["JITPROV_CLAIM_GROUPS"] == "c3RhZmY,YWRtaW5z"
                assert env["JITPROV_CLAIM_NAME"] == "QWxpY2UgQW5kZXJzb24"
            assert seen.setdefault(path, got) == got, path


CTRL = {"ctrlname": {"sub": "u-ctrl-0000-0000-000000000001", "email": "ctrlname@example.com",
                     "email_verified": True, "name": "Control Name",
                     "preferred_username": "\u0001\u0007\u001b", "groups": ["staff"]}}


def test_remote_user_of_only_control_characters_is_the_sub(site):
    """JITProvRemoteUser claim:preferred_username: a value that is nothing
    but control characters is empty once they are removed, and an empty
    source means the sub (docs/directives.md)."""
    sess, r = logged_in(site, CTRL, "ctrlname")
    with sess:
        assert r.json()["remote_user"] == CTRL["ctrlname"]["sub"]
