"""Session cookies that the module did not issue, or that were altered, are no
session at all."""
import base64
import os
import secrets
import urllib.parse

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


@pytest.fixture(scope="module")
def good(site):
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), "alice")
        assert r.status_code == 200
        yield sess.cookies.get(SESSION_COOKIE)


def tamper(value):
    i = len(value) // 2
    ch = "A" if value[i] != "A" else "B"
    return value[:i] + ch + value[i + 1:]


def assert_no_session(site, cookie_value):
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, cookie_value, domain="127.0.0.1", path="/")
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        assert r.headers["Location"].startswith(site.idp.discovery()["authorization_endpoint"])
        r = sess.get(site.httpd.url("/api401/"), allow_redirects=False)
        assert r.status_code == 401
        r = sess.get(site.httpd.url("/maybe/"), allow_redirects=False)
        assert r.status_code == 200
        assert r.json()["remote_user"] in (None, "")
        assert r.json()["http"].get("HTTP_X_USER_EMAIL", "") == ""


def test_good_cookie_works(site, good):
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, good, domain="127.0.0.1", path="/")
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code == 200 and r.json()["remote_user"] == "alice"


def test_tampered_cookie(site, good):
    assert_no_session(site, tamper(good))


def test_truncated_and_extended_cookie(site, good):
    assert_no_session(site, good[:-1])
    assert_no_session(site, good + "A")


@pytest.mark.parametrize("value", [
    "", "x", "A" * 43, "AAAA.BBBB.CCCC", "../../../etc/passwd", "%00%0d%0a",
    "Zm9v" * 1500,  # 6000 bytes
])
def test_unknown_cookie(site, value):
    assert_no_session(site, value or secrets.token_urlsafe(32))


def test_two_session_cookies_one_bad(site, good):
    # A forged cookie sent next to a good one must not confuse the lookup into
    # anything but "the good one" or "no session"; never another identity.
    with requests.Session() as sess:
        sess.headers["Cookie"] = f"{SESSION_COOKIE}={tamper(good)}; {SESSION_COOKIE}={good}"
        r = sess.get(site.httpd.url("/app/"), allow_redirects=False)
        assert r.status_code in (200, 302)
        if r.status_code == 200:
            assert r.json()["remote_user"] == "alice"


def test_tampered_cookie_after_the_good_one_was_served(site, good):
    # The process remembers the plaintexts of cookies it opened; a cookie that
    # differs anywhere (same tail: same slot of that memory) still has to open.
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, good, domain="127.0.0.1", path="/")
        for _ in range(5):
            assert sess.get(site.httpd.url("/app/"), allow_redirects=False).status_code == 200
    assert_no_session(site, tamper(good))
    assert_no_session(site, good[:10] + ("A" if good[10] != "A" else "B") + good[11:])
    assert_no_session(site, good[:-1] + ("A" if good[-1] != "A" else "B"))


def hint_files(site):
    d = os.path.join(site.httpd.dir, "run", "jitprov-revocations.d")
    return sorted(f for f in os.listdir(d) if f.endswith(".h")) if os.path.isdir(d) else []


HINT_COOKIE = SESSION_COOKIE + "_hint"


def logout_query(sess, site):
    r = sess.get(site.httpd.url("/logout"), allow_redirects=False)
    assert r.status_code == 302
    return r, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))


def hint_set_cookies(r):
    return [v for k, v in r.raw.headers.items()
            if k.lower() == "set-cookie" and v.startswith(HINT_COOKIE + "=")]


def test_id_token_is_in_a_cookie_for_the_logout_path_only(site):
    # The ID token is read at logout only (id_token_hint): it travels sealed
    # in its own cookie whose Path is JITProvLogoutURI, so no other request
    # carries it and no login writes a file for it. Logout reads it, sends
    # it, and clears it.
    before = hint_files(site)
    with requests.Session() as sess:
        r = h.login(sess, site.httpd.url("/app/"), "alice")
        assert r.status_code == 200
        assert hint_files(site) == before
        jar = [c for c in sess.cookies if c.name == HINT_COOKIE]
        assert len(jar) == 1 and jar[0].path == "/logout", [(c.name, c.path) for c in jar]
        assert jar[0].has_nonstandard_attr("HttpOnly")
        assert "eyJhbGci" not in jar[0].value  # sealed, not a readable JWT
        cookie = sess.cookies.get(SESSION_COOKIE)
        # Any other path: a browser (here requests' jar, by the same rule)
        # does not send it.
        other = sess.prepare_request(requests.Request("GET", site.httpd.url("/app/")))
        assert HINT_COOKIE not in other.headers.get("Cookie", "")
        r, q = logout_query(sess, site)
        idt = q["id_token_hint"]
        assert h.jwt_parts(idt)[1]["sub"] == h.USER_CLAIMS["alice"]["sub"]
        # The session cookie is shorter than the token it does not carry
        # would make it: claims, ids and keys only.
        assert len(cookie) < len(idt) + 700, (len(cookie), len(idt))
        cleared = hint_set_cookies(r)
        assert cleared and "Max-Age=0" in cleared[0] and "Path=/logout" in cleared[0], cleared
        assert not [c for c in sess.cookies if c.name == HINT_COOKIE]


def test_logout_without_a_session_clears_a_leftover_hint(site):
    with requests.Session() as other:
        assert h.login(other, site.httpd.url("/app/"), "bob").status_code == 200
        hint = other.cookies.get(HINT_COOKIE, path="/logout")
    r = requests.get(site.httpd.url("/logout"), allow_redirects=False,
                     headers={"Cookie": f"{HINT_COOKIE}={hint}"})
    assert r.status_code == 302
    cleared = hint_set_cookies(r)
    assert cleared and "Max-Age=0" in cleared[0] and "Path=/logout" in cleared[0], cleared


def test_logout_without_its_id_token_still_ends_the_session(site):
    # The hint cookie is gone (the browser dropped it): logout still ends the
    # session and sends the IdP client_id instead of a hint.
    with requests.Session() as sess:
        assert h.login(sess, site.httpd.url("/app/"), "bob").status_code == 200
        old = sess.cookies.get(SESSION_COOKIE)
        sess.cookies.clear(domain="127.0.0.1", path="/logout", name=HINT_COOKIE)
        r, q = logout_query(sess, site)
        assert "id_token_hint" not in q and q["client_id"] == site.client_id
    assert_no_session(site, old)


@pytest.mark.parametrize("how", ["another session's", "tampered", "oversized"])
def test_logout_ignores_a_hint_cookie_of_another_session(site, how):
    # A hint opens only for the session it was made for: bob's hint sent with
    # carol's session (or a tampered one) is not sent to the IdP as hers.
    with requests.Session() as other:
        assert h.login(other, site.httpd.url("/app/"), "bob").status_code == 200
        bobs = other.cookies.get(HINT_COOKIE, path="/logout")
    with requests.Session() as sess:
        assert h.login(sess, site.httpd.url("/app/"), "carol").status_code == 200
        own = sess.cookies.get(HINT_COOKIE, path="/logout")
        old = sess.cookies.get(SESSION_COOKIE)
        sess.cookies.clear(domain="127.0.0.1", path="/logout", name=HINT_COOKIE)
        value = {"another session's": bobs, "tampered": tamper(own),
                 "oversized": own * 3}[how]
        sess.cookies.set(HINT_COOKIE, value, domain="127.0.0.1", path="/logout")
        r, q = logout_query(sess, site)
        assert "id_token_hint" not in q and q["client_id"] == site.client_id
    assert_no_session(site, old)


def test_an_id_token_too_large_for_a_cookie_is_kept_beside_it(site):
    # gwen's ID token (60 group DNs) does not fit a cookie: it is sealed into
    # a file next to the revocation table, found at logout and removed.
    before = hint_files(site)
    with requests.Session() as sess:
        assert h.login(sess, site.httpd.url("/app/"), "gwen").status_code == 200
        assert not [c for c in sess.cookies if c.name == HINT_COOKIE]
        new = [f for f in hint_files(site) if f not in before]
        assert len(new) == 1, new
        with open(os.path.join(site.httpd.dir, "run", "jitprov-revocations.d", new[0])) as f:
            assert "eyJhbGci" not in f.read()
        r, q = logout_query(sess, site)
        assert h.jwt_parts(q["id_token_hint"])[1]["sub"] == h.USER_CLAIMS["gwen"]["sub"]
        assert new[0] not in hint_files(site)


# ---- cookies sealed by hand (lib/crypto.c jp_seal, session.c cookie_aad)

def seal_key(passphrase):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mod_jitprov",
                info=b"mod_jitprov session record v1").derive(passphrase.encode())


def cookie_aad(client_id, name=SESSION_COOKIE):
    return b"\x01" + f"jitprov-session-v2:{client_id}\n{name}".encode()


def unseal(site, value):
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return AESGCM(seal_key(site.passphrase)).decrypt(raw[1:13], raw[13:],
                                                      cookie_aad(site.client_id))


def reseal(record, passphrase, aad):
    iv = os.urandom(12)
    raw = b"\x01" + iv + AESGCM(seal_key(passphrase)).encrypt(iv, record, aad)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_cookie_of_another_passphrase_or_client(site, good):
    rec = unseal(site, good)
    # Same client, another passphrase: another site's key.
    assert_no_session(site, reseal(rec, "another passphrase, 32 chars long",
                                   cookie_aad(site.client_id)))
    # Same passphrase, another client id (another virtual host) or cookie name.
    assert_no_session(site, reseal(rec, site.passphrase, cookie_aad("another-client")))
    assert_no_session(site, reseal(rec, site.passphrase,
                                   cookie_aad(site.client_id, "other_session")))
    # The control: sealed again as the site seals it, it opens.
    with requests.Session() as sess:
        sess.cookies.set(SESSION_COOKIE, reseal(rec, site.passphrase, cookie_aad(site.client_id)),
                         domain="127.0.0.1", path="/")
        assert sess.get(site.httpd.url("/app/"), allow_redirects=False).status_code == 200


def test_passphrase_rotation(site):
    # docs/directives.md JITProvCryptoPassphrase: the first passphrase seals
    # everything new, all of them open. Old sessions and logins in flight
    # survive adding a new first passphrase; removing the old one ends them.
    old, new = site.passphrase, "rotated-" + secrets.token_urlsafe(24)
    line = f"JITProvCryptoPassphrase {old}"
    base = site.standard_config()
    assert line in base

    def restart(passphrases):
        site.httpd.stop()
        site.httpd.start(base.replace(line, "JITProvCryptoPassphrase " + passphrases))

    def works(cookie):
        with requests.Session() as sess:
            sess.cookies.set(SESSION_COOKIE, cookie, domain="127.0.0.1", path="/")
            r = sess.get(site.httpd.url("/api401/"), allow_redirects=False)
            assert r.status_code in (200, 401), r.status_code
            return r.status_code == 200

    try:
        with requests.Session() as a, requests.Session() as b:
            assert h.login(a, site.httpd.url("/app/"), "alice").status_code == 200
            c_old = a.cookies.get(SESSION_COOKIE)
            cb = h.login(b, site.httpd.url("/app/flight"), "bob", stop_at_callback=True)
            restart(f"{new} {old}")
            assert works(c_old)
            # The login begun under the old passphrase completes.
            r = b.get(cb, allow_redirects=False)
            assert r.status_code == 302, r.text[:300]
            c_new = b.cookies.get(SESSION_COOKIE)
            assert works(c_new)
            # Sealed with the first passphrase, not the old one.
            raw = base64.urlsafe_b64decode(c_new + "=" * (-len(c_new) % 4))
            AESGCM(seal_key(new)).decrypt(raw[1:13], raw[13:], cookie_aad(site.client_id))
            restart(new)
            assert works(c_new)
            assert not works(c_old)
    finally:
        site.httpd.stop()
        site.httpd.start(base)
