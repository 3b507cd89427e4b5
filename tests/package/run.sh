#!/usr/bin/env bash
# The Debian package, end to end, as root on Debian 12: build
# libapache2-mod-jitprov from a copy of the tracked files (dpkg-buildpackage
# writes ../*.deb, so never in the checkout), lintian, install, a2enmod with
# the shipped configuration, apache2ctl -t, jitprov-admin and its man page,
# then a2dismod, purge, and no file of the package left behind.
# One PASS/FAIL line per check; exit status 1 when any check failed.
# JITPROV_PACKAGE_KEEP=1 keeps the temp dir (its path is printed).
# shellcheck disable=SC2016,SC2317 # bash -c bodies take "$1"; cleanup runs from trap
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
src=$(cd "$(dirname "$0")/../.." && pwd)
pkg=libapache2-mod-jitprov
failed=0
pass() { echo "PASS: $* [${SECONDS}s]"; }
fail() {
    echo "FAIL: $* [${SECONDS}s]"
    failed=1
}
check() { # description command...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

[ "$(id -u)" = 0 ] || { echo "tests/package/run.sh: must run as root" >&2; exit 1; }
if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    echo "tests/package/run.sh: $pkg is already installed here; not touching it" >&2
    exit 1
fi

work=$(mktemp -d /tmp/jitprov-package.XXXXXX)
# Installing must not start Debian's apache2 on port 80: policy-rc.d refuses
# every service start (ours only if none was there before).
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
fi
installed=0
cleanup() {
    # A run that stopped half way must not leave the package behind.
    if [ "$installed" = 1 ] && dpkg-query -W "$pkg" >/dev/null 2>&1; then
        a2dismod -q jitprov >/dev/null 2>&1
        apt-get purge -y -q "$pkg" >/dev/null 2>&1
    fi
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ "${JITPROV_PACKAGE_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------
mkdir "$work/src"
# Tracked and new (not ignored) files as they are in the working tree, so
# uncommitted edits are tested too; never build products.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c '[ -e "$1" ] && printf "%s\0" "$1"' _ {} |
    tar --null -T - -cf -) | tar -xf - -C "$work/src"
# make check runs (the unit tests, not the e2e suite); both cores build.
(cd "$work/src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
st=$?
if [ $st -ne 0 ]; then
    tail -60 "$work/build.log"
    fail "dpkg-buildpackage -us -uc -b (exit $st, log above)"
    exit 1
fi
pass "dpkg-buildpackage -us -uc -b"
deb=$(ls "$work"/${pkg}_*.deb)
changes=$(ls "$work"/*.changes)

# ---- lintian ----------------------------------------------------------------
# Exit status 0: no error tags (2: errors; anything else: lintian failed).
lintian --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1
st=$?
cat "$work/lintian.log"
if [ $st -ne 0 ] || grep -q '^E: ' "$work/lintian.log"; then
    fail "lintian: no errors (exit $st)"
else
    pass "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings)"
fi

# ---- contents ---------------------------------------------------------------
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\.||')
for f in /usr/lib/apache2/modules/mod_jitprov.so /etc/apache2/mods-available/jitprov.load \
    /etc/apache2/mods-available/jitprov.conf /usr/sbin/jitprov-admin \
    /usr/share/man/man8/jitprov-admin.8.gz /usr/share/doc/$pkg/README.md \
    /usr/share/doc/$pkg/directives.md /usr/share/doc/$pkg/changelog \
    /usr/share/doc/$pkg/copyright; do
    # dh_compress gzips documents over 4 kB
    check "package holds $f" grep -qxE "$f(\.gz)?" <<<"$contents"
done
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends has apache2-api-20120211 ($depends)" grep -q 'apache2-api-20120211' <<<"$depends"
check "postinst does not enable the module" \
    bash -c '! dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./postinst 2>/dev/null | grep -q enmod' _ "$deb"

# ---- install ----------------------------------------------------------------
enabled_before=$(ls /etc/apache2/mods-enabled)
# a2enmod/a2dismod keep markers of what the admin chose; put back dbd's and
# socache_shmcb's as they were at the end.
markers_before=$(find /var/lib/apache2/module -type f \( -name dbd -o -name socache_shmcb \) 2>/dev/null)
installed=1
apt-get install -y -q "$deb" >"$work/install.log" 2>&1
st=$?
if [ $st -ne 0 ]; then
    cat "$work/install.log"
    fail "apt-get install ./$(basename "$deb") (exit $st)"
    exit 1
fi
pass "apt-get install ./$(basename "$deb")"
dpkg -L "$pkg" >"$work/files.list"
check "installing enables nothing" [ "$(ls /etc/apache2/mods-enabled)" = "$enabled_before" ]

check "a2enmod jitprov" a2enmod jitprov
check "a2enmod pulled in dbd and socache_shmcb" \
    test -e /etc/apache2/mods-enabled/dbd.load -a -e /etc/apache2/mods-enabled/socache_shmcb.load
check "apache2ctl -t with the shipped configuration" apache2ctl -t
# The sample with its directives uncommented must be valid too (all but the
# redis line: one JITProvSessionCache, and mod_socache_redis is not enabled).
awk '/^#<Location/ { inloc = 1 }
     /redis/ { next }
     inloc || /^#[A-Za-z<]/ { sub(/^#/, ""); print; if (/^<\/Location>/) inloc = 0 }' \
    /etc/apache2/mods-available/jitprov.conf |
    sed "s|/etc/apache2/jitprov/client-secret|$work/client-secret|" >"$work/uncommented.conf"
echo test-client-secret >"$work/client-secret"
check "the sample has $(grep -c '^JITProv' "$work/uncommented.conf") JITProv directives to uncomment" \
    [ "$(grep -c '^JITProv' "$work/uncommented.conf")" -ge 10 ]
check "apache2ctl -t with the sample's directives uncommented" \
    env JITPROV_PASSPHRASE=package-test-passphrase-0123456789 \
    apache2ctl -t -c "Include $work/uncommented.conf"
check "apache2ctl -M lists jitprov_module" bash -c 'apache2ctl -M 2>/dev/null | grep -q jitprov_module'
check "jitprov-admin --help" bash -c 'jitprov-admin --help | grep -q "^Usage: jitprov-admin"'
check "jitprov-admin --version says $(dpkg-deb -f "$deb" Version)" \
    bash -c 'jitprov-admin --version | grep -qF "$1"' _ "$(dpkg-deb -f "$deb" Version)"
check "jitprov-admin init and list on SQLite (installed driver)" \
    bash -c 'jitprov-admin -d sqlite3 -p "$1/accounts.db" init >/dev/null &&
             jitprov-admin -d sqlite3 -p "$1/accounts.db" list >/dev/null' _ "$work"
if command -v man >/dev/null 2>&1; then
    check "man -w jitprov-admin" man -w jitprov-admin
else
    check "man page installed" test -e /usr/share/man/man8/jitprov-admin.8.gz
fi

# ---- remove -----------------------------------------------------------------
check "a2dismod jitprov" a2dismod -q jitprov
check "apache2ctl -t after a2dismod" apache2ctl -t
# Removing the package while the module is enabled must disable it, or
# apache2 would not start without the .so.
a2enmod -q jitprov
apt-get remove -y -q "$pkg" >"$work/remove.log" 2>&1
check "apt-get remove -y $pkg (module enabled)" [ $? -eq 0 ]
check "removal disabled the module" [ ! -e /etc/apache2/mods-enabled/jitprov.load ]
check "apache2ctl -t after removal" apache2ctl -t
apt-get purge -y -q "$pkg" >"$work/purge.log" 2>&1
check "apt-get purge -y $pkg" [ $? -eq 0 ]
# Leave the machine's module set as it was (a2enmod added dbd, socache_shmcb).
for m in dbd socache_shmcb; do
    grep -qx "$m.load" <<<"$enabled_before" || a2dismod -q -p "$m"
done
find /var/lib/apache2/module -type f \( -name dbd -o -name socache_shmcb \) -delete 2>/dev/null
[ -z "$markers_before" ] || xargs touch <<<"$markers_before"
left=""
while IFS= read -r f; do
    [ -d "$f" ] && continue # shared directories (/etc/apache2, /usr/sbin...)
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done <"$work/files.list"
check "no file of the package left after purge${left:+:$left}" [ -z "$left" ]
check "no /etc/apache2/mods-*/jitprov.* left" \
    bash -c '! ls /etc/apache2/mods-available/jitprov.* /etc/apache2/mods-enabled/jitprov.* 2>/dev/null | grep -q .'
check "no a2enmod state left for jitprov" \
    bash -c '[ -z "$(find /var/lib/apache2/module -name jitprov 2>/dev/null)" ]'
check "$pkg no longer known to dpkg" bash -c '! dpkg-query -W "$1" >/dev/null 2>&1' _ "$pkg"

if [ $failed = 0 ]; then echo "package: all checks passed"; else echo "package: some checks FAILED"; fi
exit $failed
