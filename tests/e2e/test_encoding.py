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
    v = get_http(site, alice, "/enc/base64url/")["HTTP_X_USER_GROUPS"]
    assert h.b64url_decode(v) == b"staff,admins"
    v = get_http(site, alice, "/enc/percent/")["HTTP_X_USER_GROUPS"]
    assert urllib.parse.unquote(v) == "staff,admins"
