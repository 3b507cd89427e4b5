#!/usr/bin/env bash
# The whole test run, on a fresh Debian 12 machine as root:
#   dependencies -> build -> unit tests -> Debian package -> unit tests under ASan/UBSan
#   -> fuzz smoke run -> end-to-end suite (real httpd, IdP, browser).
# Every stage runs even when an earlier test stage failed (a build failure
# stops the run); the exit status is non-zero when anything failed.
#
# Environment: JITPROV_SKIP_DEPS=1 skips scripts/deps.sh; JITPROV_SKIP_PACKAGE=1,
# JITPROV_SKIP_ASAN=1, JITPROV_SKIP_FUZZ=1, JITPROV_SKIP_E2E=1 skip stages
# (local use only);
# PYTEST_ARGS adds pytest arguments (e.g. "-k logout -x").
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
logdir=$root/build/test-logs
declare -a results=()
failed=0

stage() { printf '\n==== %s\n' "$*"; }
record() { # name status
    if [ "$2" -eq 0 ]; then
        results+=("$1: ok")
    else
        results+=("$1: FAILED (exit $2)")
        failed=1
    fi
}
die() {
    echo "test.sh: $*" >&2
    exit 1
}

if [ "${JITPROV_SKIP_DEPS:-0}" != 1 ]; then
    stage "dependencies (scripts/deps.sh)"
    bash scripts/deps.sh || die "scripts/deps.sh failed"
fi

stage "autoreconf"
autoreconf -fi || die "autoreconf failed"

stage "build (build/)"
mkdir -p build
(cd build && ../configure --quiet && make -j"$jobs") ||
    die "build failed"
mkdir -p "$logdir"

show_test_logs() { # build dir: automake's summary names each failing test's log
    [ -f "$1/test-suite.log" ] && tail -80 "$1/test-suite.log"
}

stage "code format (.clang-format)"
# shellcheck disable=SC2046
clang-format --dry-run --Werror $(git ls-files 'mod_jitprov/*.[ch]' 2>/dev/null ||
    find mod_jitprov -name '*.[ch]')
record "format" $?

stage "unit tests (make check)"
(cd build && make -j"$jobs" check)
st=$?
[ $st -eq 0 ] || show_test_logs build
record "unit" $st

if [ "${JITPROV_SKIP_PACKAGE:-0}" != 1 ]; then
    stage "Debian package: build, lintian, install, a2enmod, purge (tests/package/run.sh)"
    bash tests/package/run.sh 2>&1 | tee "$logdir/package.log"
    record "package" "${PIPESTATUS[0]}"
fi

stage "store and jitprov-admin against real SQLite and PostgreSQL (tests/store/run-pg.sh)"
JITPROV_BUILD=$root/build bash tests/store/run-pg.sh
record "store-pg+admin" $?

if [ "${JITPROV_SKIP_ASAN:-0}" != 1 ]; then
    stage "unit tests under ASan/UBSan (build-asan/)"
    mkdir -p build-asan
    san="-fsanitize=address,undefined"
    (cd build-asan && ../configure --quiet \
        CFLAGS="-g -O1 $san -fno-omit-frame-pointer" LDFLAGS="$san" &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        make -j"$jobs" check)
    st=$?
    [ $st -eq 0 ] || show_test_logs build-asan
    record "unit-asan" $st
fi

if [ "${JITPROV_SKIP_FUZZ:-0}" != 1 ] && [ -f tests/fuzz/build.sh ]; then
    stage "fuzz smoke (tests/fuzz/build.sh --smoke)"
    bash tests/fuzz/build.sh --smoke
    record "fuzz-smoke" $?
fi

pytest_summary=""
if [ "${JITPROV_SKIP_E2E:-0}" != 1 ]; then
    stage "end-to-end (tests/e2e, Debian's /usr/bin/python3 -m pytest)"
    export JITPROV_MODULE=${JITPROV_MODULE:-$root/build/.libs/mod_jitprov.so}
    export PYTHONDONTWRITEBYTECODE=1
    # shellcheck disable=SC2086
    /usr/bin/python3 -m pytest tests/e2e -p no:cacheprovider -q -rfE --durations=8 \
        ${PYTEST_ARGS:-} 2>&1 | tee "$logdir/e2e.log"
    st=${PIPESTATUS[0]}
    pytest_summary=$(grep -E '[0-9]+ (passed|failed|errors?)' "$logdir/e2e.log" |
        grep -E ' in [0-9.]+s' | tail -1)
    record "e2e" $st
fi

stage "summary"
printf '%s\n' "${results[@]}"
[ -n "$pytest_summary" ] && echo "$pytest_summary"
exit $failed
