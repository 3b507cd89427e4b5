#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine as root: installs what is missing,
# builds the module, starts the test IdP (tests/idp) and an httpd with the
# module in front of a small CGI that shows what the application receives.
# Stays in the foreground; Ctrl-C stops and removes everything.
#
#   JITPROV_DEMO_PORT (8080), JITPROV_DEMO_IDP_PORT (9090): ports on 127.0.0.1
#   JITPROV_SKIP_DEPS=1: do not run scripts/deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

[ "${JITPROV_SKIP_DEPS:-0}" = 1 ] || bash scripts/deps.sh
if [ ! -f build/Makefile ]; then
    autoreconf -fi
    mkdir -p build
    (cd build && ../configure --quiet)
fi
make -C build -j"$(nproc 2>/dev/null || echo 2)"

export JITPROV_MODULE="$root/build/.libs/mod_jitprov.so"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 tests/e2e/jitprov_harness.py demo \
    "${JITPROV_DEMO_PORT:-8080}" "${JITPROV_DEMO_IDP_PORT:-9090}"
