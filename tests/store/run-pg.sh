#!/bin/bash
# Starts a throwaway PostgreSQL 15 on 127.0.0.1, runs the store tests against
# it (tests/unit/test_store with JITPROV_PG_PARAMS, then tests/store/admin-test.sh
# against both SQLite and PostgreSQL), and stops it again, whatever happens.
#
# Usage: tests/store/run-pg.sh [-- COMMAND [ARGS...]]
#   With a COMMAND, runs that instead of the store tests, with JITPROV_PG_PARAMS
#   (apr_dbd/mod_dbd DBDParams string), PGHOST and PGPORT exported.
#
# Environment:
#   JITPROV_BUILD   build directory holding tests/unit/test_store and
#                   jitprov-admin (default: the source tree, i.e. in-tree build)
#   JITPROV_PG_PORT first port to try (default 25432; the next free one up to
#                   +20 is used; keep it below 32768)
#   PG_BIN          PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
# Exit status: that of the tests (or COMMAND); 77 when PostgreSQL is not installed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${JITPROV_BUILD:-$src}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
port=${JITPROV_PG_PORT:-25432}

if [ ! -x "$PG_BIN/initdb" ]; then
    echo "run-pg.sh: $PG_BIN/initdb not found (apt-get install postgresql-15); skipped" >&2
    exit 77
fi

if [ "$(id -u)" = 0 ]; then
    pg_user=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    pg_user=$(id -un)
    as_pg() { "$@"; }
fi

dir=$(mktemp -d /tmp/jitprov-pg.XXXXXX) || exit 1
chmod 755 "$dir"
[ "$(id -u)" = 0 ] && chown "$pg_user" "$dir"

cleanup() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if ! as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1; then
    echo "run-pg.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
fi

last=$((port + 20))
started=
while [ "$port" -le "$last" ]; do
    if port_free "$port"; then
        if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
                -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
                start >/dev/null 2>&1; then
            started=1
            break
        fi
    fi
    port=$((port + 1))
done
if [ -z "$started" ]; then
    echo "run-pg.sh: could not start PostgreSQL:" >&2
    cat "$dir/server.log" >&2 2>/dev/null
    exit 1
fi

if ! "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres jitprov; then
    echo "run-pg.sh: createdb failed" >&2
    exit 1
fi

JITPROV_PG_PARAMS="host=127.0.0.1 port=$port user=postgres dbname=jitprov"
PGHOST=127.0.0.1
PGPORT=$port
JITPROV_PG_DIR=$dir
export JITPROV_PG_PARAMS PGHOST PGPORT JITPROV_PG_DIR
echo "run-pg.sh: PostgreSQL on 127.0.0.1:$port ($dir)"

if [ "${1:-}" = "--" ]; then
    shift
    "$@"
    exit $?
fi

rc=0
"$build/tests/unit/test_store" || rc=1
"$here/admin-test.sh" "$build/jitprov-admin" || rc=1
exit $rc
