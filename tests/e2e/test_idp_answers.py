"""What the IdP publishes is checked before it is used: a discovery document
whose issuer is not the one its well-known URL stands for (OIDC Discovery 1.0
4.3) is refused with 502, and nothing is written."""
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
