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
        if e is not None:
            rep.sections.append(("httpd error_log (tail)", h.tail(e.httpd.error_log, 40)))
            rep.sections.append(("httpd access_log (tail)", h.tail(e.httpd.access_log, 15)))
            rep.sections.append(("IdP log (tail)", h.tail(e.idp.log_path, 15)))
