#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need on a fresh
# Debian 12 machine (as root). Safe to run again: apt-get and npm ci are
# idempotent. Set JITPROV_DEPS_BENCH=1 to add the benchmark tools.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(
  ca-certificates openssl curl git make gcc clang clang-format pkg-config autoconf automake libtool
  apache2 apache2-dev libapr1-dev libaprutil1-dev
  libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql sqlite3
  libcjose-dev libjansson-dev libcurl4-openssl-dev libssl-dev libpcre2-dev
  libclang-rt-14-dev
  dpkg-dev debhelper lintian fakeroot
  python3 python3-pytest python3-requests python3-selenium
  chromium chromium-driver
  postgresql redis-server memcached
)
if [ "${JITPROV_DEPS_BENCH:-0}" = 1 ]; then
  pkgs+=(wrk valgrind libapache2-mod-auth-openidc)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  # policy-rc.d keeps the packaged services (apache2, postgresql, redis, memcached) from
  # starting on their default ports; the tests start their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LemonLDAP::NG, the e2e suite's second IdP (tests/e2e/test_idp2_lemonldap.py),
# with its recommends: the portal needs Perl modules it only recommends.
if ! dpkg-query -W -f='${Status}' lemonldap-ng 2>/dev/null | grep -q 'install ok installed'; then
  apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq lemonldap-ng libplack-perl
fi

# Node: these machines may ship Node 20 outside apt; install only when missing.
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
(cd "$here/tests/idp" && npm ci --no-audit --no-fund --loglevel=error)
