"""pytest fixtures for the e2e suite. Run with Debian's interpreter:

    /usr/bin/python3 -m pytest tests/e2e

JITPROV_MODULE selects the module (default build/.libs/mod_jitprov.so);
JITPROV_E2E_KEEP=1 keeps the temporary directory for a look afterwards.
"""
import os
import signal
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
import jitprov_harness as h  # noqa: E402


def _terminate(signum, frame):
    # A SIGTERM (timeout, CI stop) unwinds like Ctrl-C, so the session fixtures
    # still stop httpd and the IdP and remove the temporary directory.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _terminate)


def pytest_report_header(config):
    mod = os.environ.get("JITPROV_MODULE", os.path.join(h.ROOT, "build", ".libs",
                                                         "mod_jitprov.so"))
    return [f"jitprov module: {mod}" + ("" if os.path.exists(mod) else " (MISSING)")]


@pytest.fixture(scope="session")
def env():
    e = h.Env(keep=os.environ.get("JITPROV_E2E_KEEP") == "1")
    try:
        e.start()
        yield e
    finally:
        e.stop()
        if e.keep:
            print(f"\ne2e files kept in {e.dir}")


@pytest.fixture(scope="module")
def site(env, request):
    """httpd with the standard configuration, started afresh for each test module
    (so module-level caches — provider metadata, JWKS, sessions — start empty).
    A test module may define site_config(env) -> config text to use another."""
    maker = getattr(request.module, "site_config", None)
    text = maker(env) if maker else env.standard_config()
    env.httpd.start(text)
    yield env
    env.httpd.stop()


@pytest.fixture(scope="session")
def postgres(env):
    """A PostgreSQL 15 server of the test session (started on first use)."""
    pg = h.Postgres(env.dir)
    try:
        pg.start()
        env.postgres_port = pg.port
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def redis(env):
    """A redis-server of the test session (started on first use)."""
    r = h.Redis(env.dir)
    try:
        r.start()
        env.redis_port = r.port
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="session")
def memcached(env):
    """A memcached of the test session (started on first use)."""
    m = h.Memcached(env.dir)
    try:
        m.start()
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module", params=["sqlite", "pgsql"])
def db(request, env):
    """The account database: each test module runs once per backend."""
    if request.param == "sqlite":
        yield h.SqliteDb(env.httpd)
    else:
        yield h.PgDb(request.getfixturevalue("postgres"))


@pytest.fixture
def s():
    """A fresh cookie jar (one browser)."""
    with requests.Session() as sess:
        yield sess


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        e = item.funcargs.get("env") or item.funcargs.get("site")
        if e is None:
            vals = [x for v in item.funcargs.values()
                    for x in (v if isinstance(v, tuple) else (v,))]
            e = next((v.env for v in vals if isinstance(v, h.ProvSite)), None)
        if e is not None and e.httpd2 is not None and os.path.exists(e.httpd2.error_log):
            rep.sections.append(("httpd2 error_log (tail)", h.tail(e.httpd2.error_log, 25)))
        if e is not None:
            rep.sections.append(("httpd error_log (tail)", h.tail(e.httpd.error_log, 40)))
            rep.sections.append(("httpd access_log (tail)", h.tail(e.httpd.access_log, 15)))
            rep.sections.append(("IdP log (tail)", h.tail(e.idp.log_path, 15)))
