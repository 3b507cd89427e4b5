"""What the IdP publishes and answers is checked before it is used: a
discovery document whose issuer is not the one its well-known URL stands for
(OIDC Discovery 1.0 4.3), a token response whose token_type is missing or not
Bearer (RFC 6749 5.1, 7.1; OIDC Core 3.1.3.3). Each is refused with 502 and
nothing is written."""
import pytest

import jitprov_harness as h
from jitprov_harness import SESSION_COOKIE


@pytest.fixture
def fresh(env):
    yield env
    env.idp.override_discovery()
    env.httpd.stop()


def test_discovery_issuer_must_fit_its_url(fresh, s):
    env = fresh
    env.idp.override_discovery(issuer="http://127.0.0.1:1/impostor")
    env.httpd.start(env.standard_config(), fresh_db=True)
    r = s.get(env.httpd.url("/app/issuer"), allow_redirects=False)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert h.error_ref(r) and SESSION_COOKIE not in h.set_cookies(r)
    assert h.wait_for_log(env.httpd, "JITPROV0900")
    log = env.httpd.log_since_start()
    assert "http://127.0.0.1:1/impostor" in log and env.idp.discovery_url in log, log[-1500:]
    assert h.written_rows(env.httpd) == []


def test_fitting_issuer_logs_in(fresh, s):
    env = fresh
    env.httpd.start(env.standard_config(), fresh_db=True)
    r = h.login(s, env.httpd.url("/app/issuer"), "alice")
    assert r.status_code == 200 and r.json()["remote_user"] == "alice"
    assert "JITPROV0900" not in env.httpd.log_since_start()


@pytest.fixture
def fault(env):
    f = h.FaultServer(env.idp).start()
    f.mode_token = "edit"
    yield f
    f.stop()
    env.httpd.stop()


def edited(answer, field, value):
    """The token answer with `field` set to value, or removed (None)."""
    answer = dict(answer)
    if value is None:
        answer.pop(field, None)
    else:
        answer[field] = value
    return answer


def refused_with_nothing_sent(env, fault, s, edit, status, logged):
    """A login whose token answer `edit` changes is refused with `status` and
    `logged` on its error line; its access token goes nowhere (userinfo is on
    and not called) and nothing is written."""
    fault.edit_token = edit
    env.httpd.start(env.standard_config(metadata_url=fault.discovery_url,
                                        server_extra="JITProvUserInfo On"), fresh_db=True)
    before = env.idp.stats().get("/me", 0)
    r = h.login(s, env.httpd.url("/app/refused"), "alice")
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert SESSION_COOKIE not in h.set_cookies(r)
    line = h.logged_line(env.httpd, r)
    assert logged in line, line
    assert env.idp.stats().get("/me", 0) == before
    assert h.written_rows(env.httpd) == []


@pytest.mark.parametrize("token_type,logged", [
    (None, "token_type is missing (token_type (none)"),
    ("mac", "token_type is not Bearer (token_type mac"),
    ("DPoP", "token_type is not Bearer (token_type DPoP"),
    (7, "token_type is not Bearer (token_type (none)"),
])
def test_token_type_must_be_bearer(env, fault, s, token_type, logged):
    refused_with_nothing_sent(env, fault, s,
                              lambda answer: edited(answer, "token_type", token_type), 502,
                              logged)


@pytest.mark.parametrize("access_token,logged", [
    (None, "access_token is missing or not a string"),
    ("", "access_token is missing or not a string"),
    (["a"], "access_token is missing or not a string"),
    ("at\r\nX-Evil: 1", "access_token has characters RFC 6749 A.12 does not allow"),
])
def test_access_token_is_required(env, fault, s, access_token, logged):
    # RFC 6749 5.1 (and OIDC Core 3.1.3.5): access_token is REQUIRED. An answer
    # without a usable one is not a token response; with userinfo on, its
    # claims would silently be missing.
    refused_with_nothing_sent(env, fault, s,
                              lambda answer: edited(answer, "access_token", access_token), 502,
                              "token response refused: " + logged)


def test_access_token_must_match_the_id_tokens_at_hash(env, fault, s):
    # oidc-provider puts at_hash in the ID token it returns with the access
    # token (OIDC Core 3.1.3.8). An access token swapped on the way is not
    # this user's: refused before it reaches userinfo or the backend.
    refused_with_nothing_sent(
        env, fault, s, lambda answer: dict(answer, access_token="someone-elses-token"), 401,
        "ID token rejected: token at_hash does not match the access token")


def test_token_type_any_case_of_bearer(env, fault, s):
    fault.edit_token = lambda answer: edited(answer, "token_type", "bEARER")
    env.httpd.start(env.standard_config(metadata_url=fault.discovery_url), fresh_db=True)
    r = h.login(s, env.httpd.url("/app/token-type"), "alice")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert fault.hits.get("/token", 0) == 1


@pytest.mark.parametrize("field,value", [
    ("issuer", None),
    ("authorization_endpoint", None),
    ("token_endpoint", None),
    ("jwks_uri", None),
    ("token_endpoint", "ftp://127.0.0.1/token"),
])
def test_discovery_without_required_metadata(fresh, s, field, value):
    # OIDC Discovery 1.0, 3: issuer, authorization_endpoint, token_endpoint
    # (code flow) and jwks_uri are required, as http(s) URLs.
    env = fresh
    env.idp.override_discovery(**{field: value})
    env.httpd.start(env.standard_config(), fresh_db=True)
    r = s.get(env.httpd.url("/app/meta"), allow_redirects=False)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    ref = h.error_ref(r)
    assert ref and SESSION_COOKIE not in h.set_cookies(r)
    assert "Location" not in r.headers
    assert h.wait_for_log(env.httpd, f"[ref {ref}]")
    assert "discovery document lacks issuer, authorization_endpoint, token_endpoint or " \
           "jwks_uri" in env.httpd.log_since_start()
    assert h.written_rows(env.httpd) == []
