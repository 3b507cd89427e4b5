#!/bin/bash
# End-to-end test of jitprov-admin: runs every subcommand against a real SQLite
# file, and against PostgreSQL too when JITPROV_PG_PARAMS is set (run-pg.sh sets
# it), checking output, exit codes and the rows left in the database.
#
# Usage: tests/store/admin-test.sh [PATH/TO/jitprov-admin]
#   default: ./jitprov-admin (in-tree build). Needs the sqlite3 CLI, and psql
#   for the PostgreSQL part. Prints "N passed, N failed"; exit 1 on failure.
set -u

ADMIN=${1:-./jitprov-admin}
src=$(cd "$(dirname "$0")/../.." && pwd)
case $ADMIN in /*) ;; *) ADMIN=$PWD/$ADMIN ;; esac
if [ ! -x "$ADMIN" ]; then
    echo "admin-test.sh: $ADMIN not found (build first: make)" >&2
    exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

tmp=$(mktemp -d /tmp/jitprov-admin-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
out=

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    echo "FAIL [$suite] $*" >&2
}

# expect RC ARGS...: runs jitprov-admin with the suite's database options; the
# output (stdout and stderr) is kept in $out for the checks that follow.
expect() {
    local want=$1 rc
    shift
    out=$("$ADMIN" "${db_opts[@]}" "$@" 2>&1)
    rc=$?
    if [ "$rc" = "$want" ]; then ok; else bad "jitprov-admin $* -> exit $rc, wanted $want: $out"; fi
}
# like expect, without the database options
expect_raw() {
    local want=$1 rc
    shift
    out=$("$ADMIN" "$@" 2>&1)
    rc=$?
    if [ "$rc" = "$want" ]; then ok; else bad "jitprov-admin $* -> exit $rc, wanted $want: $out"; fi
}
has() { if grep -qF -- "$1" <<<"$out"; then ok; else bad "output lacks '$1': $out"; fi; }
hasnt() { if grep -qF -- "$1" <<<"$out"; then bad "output has '$1': $out"; else ok; fi; }
same() { if [ "$1" = "$2" ]; then ok; else bad "'$1' != '$2' ($3)"; fi; }

# Test-only SQL, straight to the database.
sql() {
    if [ "$driver" = sqlite3 ]; then
        sqlite3 "$params" "$1"
    else
        psql "$params" -Atq -v ON_ERROR_STOP=1 -c "$1"
    fi
}

suite_common() {
    local now old id

    # ---- usage and help ----
    # --help lists every command of the table in admin_cmds.c, and the audit
    # formats that cmd_audit accepts.
    local cmds formats c f
    cmds=$(sed -n '/^const command commands\[\] = {/,/^ *{NULL/p' "$src/mod_jitprov/admin/admin_cmds.c" |
        sed -n 's/^ *{"\([a-z-]*\)", cmd_.*/\1/p')
    formats=$(sed -n '/^static int cmd_audit(void)/,/^}/s/.*format_opt("[a-z]*", "\([a-z ]*\)").*/\1/p' \
        "$src/mod_jitprov/admin/admin_cmds.c")
    same "$(wc -w <<<"$cmds") $(grep -cw check <<<"$cmds")" "10 1" "commands read from admin_cmds.c: $cmds"
    same "$formats" "csv json jsonl syslog" "audit formats read from admin_cmds.c"
    expect_raw 0 --help
    has "Commands:"
    for c in $cmds; do
        if grep -qE "^  $c +[a-z]" <<<"$out"; then ok; else bad "--help does not list '$c': $out"; fi
    done
    for f in $formats; do
        if grep -E "^  audit " <<<"$out" | grep -qw "$f"; then ok; else bad "--help's audit line lacks '$f': $out"; fi
    done
    expect_raw 2
    has "Usage:"
    has "  check "
    expect_raw 0 --version
    has "jitprov-admin"
    for c in $cmds; do
        expect_raw 0 "$c" --help
        if grep -qE "^Usage: jitprov-admin \[[^]]*\] $c( |\$)" <<<"$out"; then ok; else bad "$c --help: $out"; fi
    done
    expect 2 frobnicate
    has "unknown command"
    expect 2 list --bogus
    has "unknown option"
    expect 2 list --email x@example.com
    has "does not apply"
    expect 2 approve
    has "needs an account ID"
    expect 2 approve abc
    has "not an account ID"
    expect 2 list --format xml
    expect 2 add --iss https://idp.example.com
    has "go together"
    expect 2 add --email not-an-email
    for bad in "@" "jane@" "@example.com" "jane doe@example.com" $'jane@example.com\nx'; do
        expect 2 add --email "$bad"
        has "is not an email address"
    done
    expect_raw 2 -d sqlite3 list
    has "no database"
    expect_raw 2 -d mysql -p x list
    has "not supported"

    # ---- init ----
    expect 0 init --dry-run
    has "CREATE TABLE jitprov_accounts ("
    has "UNIQUE (iss, sub));"
    has "CREATE TABLE jitprov_audit ("
    if [ "$driver" = sqlite3 ]; then
        same "$(ls "$params" 2>/dev/null)" "" "dry run creates no database file"
    else
        same "$(sql "SELECT count(*) FROM information_schema.tables WHERE table_name = 'jitprov_accounts'")" \
            0 "dry run creates no table"
    fi
    expect 0 init
    has "ready: accounts in jitprov_accounts, audit jitprov_audit"
    expect 0 init
    hasnt "created table"
    if [ "$driver" = sqlite3 ]; then
        same "$(sql 'PRAGMA journal_mode')" wal "WAL after init"
    fi

    # ---- add ----
    expect 0 add --email Pat@Example.com --name "Pat Doe"
    # the exact line jitprov-admin.md documents for add --email
    same "$out" "created account 1 (active); it is linked to the first login with this verified email (JITProvLinkByEmail On)" \
        "add --email's output"
    expect 4 add --email pat@example.com
    has "already waiting for its first login (id 1)"
    expect 0 add --iss https://idp.example.com --sub s-2 --username sam --status pending
    same "$out" "created account 2 (pending)" "add --iss --sub's output"
    expect 4 add --iss https://idp.example.com --sub s-2
    has "exists already"
    expect 0 add --iss https://idp.example.com --sub "o'neil\"; DROP TABLE jitprov_accounts; --" \
        --username "=HYPERLINK(\"http://evil\")"
    has "created account 3"
    # an empty key could never be logged into nor linked: a usage error, nothing written
    expect 2 add --iss https://idp.example.com --sub ""
    has "must not be empty"
    expect 2 add --email e@example.com --iss "" --sub s-empty
    has "must not be empty"
    same "$(sql "SELECT count(*) FROM jitprov_accounts")" 3 "three accounts"
    same "$(sql "SELECT username FROM jitprov_accounts WHERE id = 3")" '=HYPERLINK("http://evil")' \
        "hostile value stored verbatim"
    same "$(sql "SELECT source FROM jitprov_accounts WHERE id = 2")" admin "source admin"
    same "$(sql "SELECT count(*) FROM jitprov_audit WHERE event = 'create' AND detail LIKE '%\"source\":\"admin\"%'")" \
        3 "one audit row per add"

    # ---- list ----
    expect 0 list
    has "pending  sam"
    has "Pat@Example.com"
    expect 0 list --status pending
    has "sam"
    hasnt "Pat@Example.com"
    expect 0 list --format csv
    has "id,iss,sub,username,email,display_name,groups,status,created_at,updated_at,last_login_at,login_count,source"
    has "1,,,,Pat@Example.com,Pat Doe,,active,"
    has "\"'=HYPERLINK(\"\"http://evil\"\")\""
    expect 0 list --format json
    has '"login_count": 0'
    has '"status": "pending"'
    has '"id": 2,'
    expect 2 list --status gone

    # ---- show ----
    expect 0 show 2
    has "status         pending"
    has "recent audit events:"
    has "create"
    expect 0 show --email PAT@example.com
    has "display_name   Pat Doe"
    expect 0 show --sub s-2 --iss https://idp.example.com
    has "username       sam"
    expect 3 show --sub nobody
    has "no such account"
    expect 3 show 999
    expect 2 show 1 --email pat@example.com
    has "exactly one"

    # ---- approve / disable / enable ----
    expect 4 enable 2
    has "use approve"
    expect 0 approve 2 --reason "ticket 42"
    has "account 2 is now active"
    expect 0 approve 2
    has "already active"
    expect 0 disable 2 --reason "left"
    has "account 2 is now disabled"
    has "re-check"
    expect 4 approve 2
    has "applies to pending accounts only"
    expect 0 disable 2
    has "already disabled"
    expect 0 enable 2
    has "account 2 is now active"
    expect 3 disable 999
    same "$(sql "SELECT status FROM jitprov_accounts WHERE id = 2")" active "status after enable"
    same "$(sql "SELECT count(*) FROM jitprov_audit WHERE account_id = 2 AND event IN ('approve', 'disable', 'enable')")" \
        3 "one audit row per change, none for no-ops"
    same "$(sql "SELECT count(*) FROM jitprov_audit WHERE event = 'disable' AND detail LIKE '%\"reason\":\"left\"%'")" \
        1 "reason in the audit detail"

    # ---- stale ----
    now=$(date +%s)
    old=$((now - 200 * 86400))
    sql "UPDATE jitprov_accounts SET last_login_at = $old, login_count = 5 WHERE id = 2"
    sql "UPDATE jitprov_accounts SET created_at = $old WHERE id = 1"
    sql "UPDATE jitprov_accounts SET last_login_at = $now WHERE id = 3"
    # Account 1 never logged in (approved, its user not come yet): exempt
    # unless asked for.
    expect 0 stale --inactive-days 90
    has "1 account(s) without a login for 90 days"
    has "sam"
    hasnt "Pat@Example.com"
    expect 0 stale --inactive-days 90 --include-never-logged-in
    has "2 account(s) without a login for 90 days"
    has "Pat@Example.com"
    expect 0 stale --inactive-days 365
    has "0 account(s)"
    expect 0 stale --inactive-days 90 --format csv
    has "2,https://idp.example.com,s-2,sam"
    expect 2 stale
    expect 2 stale --inactive-days 0
    expect 2 stale --inactive-days ten
    expect 0 stale --inactive-days 90 --disable --include-never-logged-in
    has "disabled account 1"
    has "disabled account 2"
    has "2 account(s) disabled"
    same "$(sql "SELECT count(*) FROM jitprov_accounts WHERE status = 'disabled'")" 2 "stale disabled"
    same "$(sql "SELECT count(*) FROM jitprov_audit WHERE detail LIKE '%inactive for 90 days%'")" 2 \
        "stale audit rows"
    expect 0 stale --inactive-days 90
    has "0 account(s)"

    # ---- audit ----
    expect 0 audit
    has "id,at,event,iss,sub,account_id,client_ip,corr_id,detail"
    has ",approve,https://idp.example.com,s-2,2,,jitprov-admin-"
    expect 0 audit --format json
    has '"event": "disable"'
    has '"source": "admin"'
    expect 0 audit --format jsonl
    same "$(grep -c '^{"id":[0-9]*,"at":' <<<"$out")" "$(sql "SELECT count(*) FROM jitprov_audit")" \
        "one JSON object per line and audit row"
    expect 0 audit --format syslog
    same "$(grep -c ' jitprov-audit: event="' <<<"$out")" "$(sql "SELECT count(*) FROM jitprov_audit")" \
        "one syslog line per audit row"
    has 'event="approve" account_id="2" iss="https://idp.example.com" sub="s-2" corr_id="jitprov-admin-'
    has ' client_ip=- detail="{\"source\":\"admin\"'
    expect 0 audit --since 2000-01-01
    has ",create,"
    expect 0 audit --since "$((now + 3600))"
    same "$(wc -l <<<"$out" | tr -d ' ')" 1 "only the header after --since in the future"
    expect 0 audit --since "2000-01-01 10:30"
    expect 0 audit --account 2 --format csv
    hasnt ",1,,jitprov-admin"
    has ",2,,jitprov-admin"
    expect 2 audit --since yesterday
    expect 2 audit --since 2024-13-01
    expect 2 audit --since 2023-02-29
    has "no such date"
    expect 2 audit --since "2024-04-31 10:00"
    has "no such date"
    expect 0 audit --since 2024-02-29
    expect 2 audit --format table
}

# An httpd config with the database and an application's own table.
suite_config() {
    local conf=$tmp/$suite-httpd.conf
    mkdir -p "$tmp/$suite-conf.d"
    cat >"$conf" <<EOF
# a comment
ServerRoot "$tmp"
<IfModule mod_dbd.c>
    DBDriver $driver
    DBDParams "$params"
</IfModule>
IncludeOptional $suite-conf.d/*.conf
IncludeOptional nowhere/*.conf
EOF
    cat >"$tmp/$suite-conf.d/app.conf" <<'EOF'
<VirtualHost *:80>
    JITProvAccountTable app_users
    JITProvAuditTable none
    JITProvAccountColumn id user_id
    JITProvAccountColumn iss oidc_iss
    JITProvAccountColumn sub oidc_sub
    JITProvAccountColumn username login
    JITProvAccountColumn email mail
    JITProvAccountColumn display_name none
    JITProvAccountColumn groups none
    JITProvAccountColumn status none
    JITProvAccountColumn created_at none
    JITProvAccountColumn updated_at none
    JITProvAccountColumn last_login_at none
    JITProvAccountColumn login_count none
    JITProvAccountColumn source none
    JITProvMapClaim department \
        dept
</VirtualHost>
EOF
    if [ "$driver" = sqlite3 ]; then
        sql "CREATE TABLE app_users (user_id INTEGER PRIMARY KEY, login TEXT, mail TEXT)"
    else
        sql "CREATE TABLE app_users (user_id SERIAL PRIMARY KEY, login TEXT, mail TEXT)"
    fi
    sql "INSERT INTO app_users (login, mail) VALUES ('legacy', 'legacy@example.com')"

    expect_raw 0 -f "$conf" init -n
    has "ALTER TABLE app_users ADD COLUMN oidc_iss TEXT;"
    has "CREATE UNIQUE INDEX IF NOT EXISTS app_users_jitprov_key ON app_users (oidc_iss, oidc_sub);"
    hasnt "CREATE TABLE app_users"
    # The application's table is changed only when asked to.
    expect_raw 1 -f "$conf" init
    has "not run (needs --alter): ALTER TABLE app_users ADD COLUMN oidc_iss TEXT;"
    has "init --alter"
    expect_raw 0 -f "$conf" init --alter
    has "added column app_users.oidc_iss"
    has "added column app_users.oidc_sub"
    has "added column app_users.dept"
    has "created unique index on app_users (oidc_iss, oidc_sub)"
    has "audit off"
    expect_raw 0 -f "$conf" init
    hasnt "added column"
    expect_raw 0 -f "$conf" add --email new@example.com --username newbie
    has "created account 2"
    expect_raw 4 -f "$conf" add --email other@example.com --status pending
    has "no column"
    expect_raw 0 -f "$conf" list
    has "user_id  login   mail"
    has "legacy"
    has "newbie"
    expect_raw 0 -f "$conf" show --email NEW@example.com
    has "dept      (null)"
    hasnt "recent audit events"
    expect_raw 4 -f "$conf" disable 1
    has "no status column"
    expect_raw 4 -f "$conf" stale --inactive-days 30
    expect_raw 4 -f "$conf" audit
    has "no audit table"
    # -d/-p override the file's database; the table settings still come from it
    expect_raw 0 -f "$conf" -d "$driver" -p "$params" list --format json
    has '"user_id": 2'

    # a second, different DBDParams: warned about, the first one is used
    cat >>"$conf" <<EOF
<VirtualHost *:81>
DBDParams "/nonexistent/other.db"
</VirtualHost>
EOF
    expect_raw 0 -f "$conf" list
    has "another DBDParams"
    expect_raw 1 -f "$tmp/missing.conf" list
    has "cannot read"
    printf 'JITProvAccountTable "users; DROP TABLE x"\n' >"$tmp/$suite-bad.conf"
    expect_raw 1 -f "$tmp/$suite-bad.conf" -d "$driver" -p "$params" list
    has "not a valid SQL identifier"
}

run_suite() {
    suite=$1
    driver=$2
    params=$3
    db_opts=(-d "$driver" -p "$params")
    echo "== $suite"
    suite_common
    suite_config
}

if command -v sqlite3 >/dev/null; then
    run_suite sqlite sqlite3 "$tmp/accounts.db"
    # a database file owned by another user: the tool acts as that user
    if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
        suite=sqlite-owner
        db_opts=(-d sqlite3 -p "$tmp/own/accounts.db")
        mkdir -p "$tmp/own"
        chmod 755 "$tmp"
        chown nobody "$tmp/own"
        expect 0 init --owner nobody
        has "now belongs to nobody"
        expect 0 add --email owner@example.com
        same "$(stat -c %U "$tmp/own/accounts.db")" nobody "file owner kept"
        expect 2 init --owner no-such-user-here
        # a symlink as the database: refused, its target neither created nor given away
        db_opts=(-d sqlite3 -p "$tmp/own/link.db")
        ln -s "$tmp/own/target.db" "$tmp/own/link.db"
        expect 1 init --owner nobody
        has "symbolic link"
        same "$([ -e "$tmp/own/target.db" ] && echo created || echo absent)" absent "symlink target not created"
        : > "$tmp/root-owned"
        ln -sf "$tmp/root-owned" "$tmp/own/link.db"
        expect 1 init --owner nobody
        same "$(stat -c %U "$tmp/root-owned")" root "symlink target not given away"
    fi
else
    echo "admin-test.sh: sqlite3 CLI missing: SQLite part skipped" >&2
fi

if [ -n "${JITPROV_PG_PARAMS:-}" ]; then
    if command -v psql >/dev/null; then
        psql "$JITPROV_PG_PARAMS" -Atq -c "DROP TABLE IF EXISTS jitprov_accounts, jitprov_audit, app_users" \
            >/dev/null 2>&1
        run_suite pgsql pgsql "$JITPROV_PG_PARAMS"
        psql "$JITPROV_PG_PARAMS" -Atq -c "DROP TABLE IF EXISTS jitprov_accounts, jitprov_audit, app_users" \
            >/dev/null 2>&1
    else
        echo "admin-test.sh: psql missing: PostgreSQL part skipped" >&2
    fi
else
    echo "admin-test.sh: JITPROV_PG_PARAMS not set: PostgreSQL part skipped" >&2
fi

echo "admin-test.sh: $pass passed, $fail failed"
[ "$fail" = 0 ]
