"""The stress driver (tests/stress/stress.py) still runs and passes: 20 s of
sqlite-graceful. Opt-in, like the driver itself: JITPROV_STRESS=1."""
import os
import subprocess
import sys

import pytest

import jitprov_harness as h

pytestmark = pytest.mark.skipif(os.environ.get("JITPROV_STRESS") != "1",
                                reason="the stress driver runs only with JITPROV_STRESS=1")

STRESS = os.path.join(h.ROOT, "tests", "stress", "stress.py")


def test_stress_driver_sqlite_graceful_passes():
    # Its own IdP and httpd: the suite's are left alone.
    r = subprocess.run([sys.executable, STRESS, "sqlite-graceful", "--seconds", "20",
                        "--login-threads", "10", "--click-threads", "4"],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    assert r.returncode == 0 and last.startswith("PASS stress sqlite-graceful"), out[-6000:]
    assert " 0 logins" not in last, last
