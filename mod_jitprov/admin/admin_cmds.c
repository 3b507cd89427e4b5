/* jitprov-admin's commands and their help texts. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include <apr_time.h>

#include "store.h"
#include "admin.h"

static apr_int64_t parse_id(const char *s)
{
    char *end = NULL;
    apr_int64_t id;
    if (!s)
        die(EX_USAGE, "%s needs an account ID (see '%s list')", cmd->name, prog);
    errno = 0;
    id = apr_strtoi64(s, &end, 10);
    if (errno || !*s || *end || id <= 0)
        die(EX_USAGE, "'%s' is not an account ID (a positive number)", s);
    return id;
}

static const char *arg1(void)
{
    if (args->nelts > 1)
        die(EX_USAGE, "too many arguments for '%s'", cmd->name);
    return args->nelts ? ((const char **)args->elts)[0] : NULL;
}

static void no_args(void)
{
    if (args->nelts)
        die(EX_USAGE, "'%s' takes no argument '%s'", cmd->name, ((const char **)args->elts)[0]);
}

static void note(void *ctx, const char *msg)
{
    printf(o("dry-run") ? "%s\n" : "  %s\n", msg);
}

static int cmd_init(void)
{
    const char *err = NULL, *owner = o("owner");
    struct passwd *pw = NULL;
    no_args();
    if (owner) {
        if (!(pw = getpwnam(owner)))
            die(EX_USAGE, "--owner: no such user '%s'", owner);
    }
    if (o("dry-run")) {
        open_db(2);
        printf("-- %s database %s: statements init would run\n", db_driver, db_name);
        if (jp_store_init_schema_ex(pool, &db, &cfg,
                                    JP_SCHEMA_DRY_RUN | (o("alter") ? JP_SCHEMA_ALTER : 0), note,
                                    NULL, &err))
            die(EX_FAIL, "init --dry-run failed: %s", err ? err : "database error");
        return EX_OK;
    }
    open_db(1);
    printf("%s database %s\n", db_driver, db_params);
    if (jp_store_init_schema_ex(pool, &db, &cfg, o("alter") ? JP_SCHEMA_ALTER : 0, note, NULL,
                                &err))
        die(EX_FAIL, "init failed: %s", err ? err : "database error");
    close_db();
    if (pw && !strcmp(db_driver, "sqlite3")) {
        char *dir = apr_pstrdup(pool, db_params), *slash = strrchr(dir, '/');
        struct stat st;
        /* O_NOFOLLOW + fchown: a symlink swapped in since the check above is
         * refused too, not followed. */
        int fd = open(db_params, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            die(EX_FAIL, "init --owner: cannot open %s without following links: %s", db_params,
                strerror(errno));
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            die(EX_FAIL, "chown %s: not a regular file", db_params);
        }
        if (fchown(fd, pw->pw_uid, pw->pw_gid) != 0) {
            int e = errno;
            close(fd);
            die(EX_FAIL, "chown %s: %s", db_params, strerror(e));
        }
        close(fd);
        printf("  %s now belongs to %s\n", db_params, owner);
        if (slash)
            *slash = '\0';
        else
            dir = ".";
        if (!*dir)
            dir = "/";
        if (stat(dir, &st) == 0 && st.st_uid != pw->pw_uid)
            printf("  note: %s needs write access to %s too (SQLite keeps -wal and -shm files "
                   "there)\n",
                   owner, dir);
    } else if (pw) {
        warn("--owner only applies to sqlite3 database files");
    }
    printf("ready: accounts in %s, audit %s\n", cfg.table,
           *cfg.audit_table ? cfg.audit_table : "off (JITProvAuditTable none)");
    return EX_OK;
}

/* local@domain, both parts non-empty, no space or control character: the
 * address a login's email claim is compared with. */
static int email_ok(const char *e)
{
    const char *at = strrchr(e, '@'), *c;
    if (!at || at == e || !at[1])
        return 0;
    for (c = e; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

static int cmd_add(void)
{
    jp_new_account a;
    int64_t id = 0;
    const char *err = NULL, *st;
    int rc;
    no_args();
    memset(&a, 0, sizeof(a));
    a.email = o("email");
    a.iss = o("iss");
    a.sub = o("sub");
    a.username = o("username");
    a.display_name = o("name");
    a.status = o("status");
    if (!a.email && !a.iss && !a.sub)
        die(EX_USAGE, "add needs --email EMAIL, or --iss ISSUER --sub SUBJECT");
    if (!a.iss != !a.sub)
        die(EX_USAGE, "--iss and --sub go together");
    /* An empty issuer or subject is a key no ID token has: the row could
     * never be logged into, nor linked by email (its iss/sub are not NULL). */
    if ((a.iss && !*a.iss) || (a.sub && !*a.sub))
        die(EX_USAGE, "--iss and --sub must not be empty");
    if (a.email && !email_ok(a.email))
        die(EX_USAGE, "--email '%s' is not an email address", safe(a.email));
    if (a.status && strcmp(a.status, "active") && strcmp(a.status, "pending") &&
        strcmp(a.status, "disabled"))
        die(EX_USAGE, "--status must be active, pending or disabled");
    open_db(0);
    rc = jp_store_add(pool, &db, &cfg, &a, &actor, &id, &err);
    if (rc == JP_STORE_CONFLICT)
        die(EX_REFUSED,
            a.iss ? "an account with this iss and sub exists already (id %" APR_INT64_T_FMT ")"
                  : "an account with this email is already waiting for its first login (id "
                    "%" APR_INT64_T_FMT ")",
            (apr_int64_t)id);
    if (rc == JP_STORE_UNSUPPORTED)
        die(EX_REFUSED, "the account table has no column for one of the values given "
                        "(--username/--name/--email/--status)");
    check_rc(rc, err, "add");
    st = a.status ? a.status : "active";
    printf("created account %" APR_INT64_T_FMT " (%s)%s\n", (apr_int64_t)id, st,
           a.iss ? ""
                 : "; it is linked to the first login with this verified email "
                   "(JITProvLinkByEmail On)");
    return EX_OK;
}

static int cmd_list(void)
{
    jp_rowset rs;
    const char *err = NULL, *fmt = format_opt("table", "table csv json"), *st = o("status");
    no_args();
    if (st && strcmp(st, "active") && strcmp(st, "pending") && strcmp(st, "disabled"))
        die(EX_USAGE, "--status must be active, pending or disabled");
    open_db(0);
    check_rc(jp_store_list(pool, &db, &cfg, st, &rs, &err), err, "list");
    print_rows(&rs, fmt);
    return EX_OK;
}

static void show_one(const jp_rowset *rs, const char **row)
{
    int i;
    size_t w = 0;
    jp_rowset au;
    const char *err = NULL;
    apr_int64_t id = 0;
    for (i = 0; i < rs->ncols; i++)
        if (strlen(rs->names[i]) > w)
            w = strlen(rs->names[i]);
    for (i = 0; i < rs->ncols; i++) {
        const char *v = row[i];
        if (!strcmp(rs->names[i], cfg.col[JP_COL_ID]) && v)
            id = apr_atoi64(v);
        if (v && is_time_col(rs->names[i]))
            v = apr_psprintf(pool, "%s (%s)", fmt_time(v, 1), v);
        printf("%-*s  %s\n", (int)w, rs->names[i], v ? safe(v) : "(null)");
    }
    if (!*cfg.audit_table || id <= 0)
        return;
    if (jp_store_audit_list(pool, &db, &cfg, 0, id, &au, &err) != JP_STORE_OK) {
        warn("audit events not available: %s", err ? err : "");
        return;
    }
    printf("recent audit events:\n");
    if (au.rows->nelts == 0)
        printf("  (none)\n");
    for (i = au.rows->nelts > 10 ? au.rows->nelts - 10 : 0; i < au.rows->nelts; i++) {
        const char **a = ((const char ***)au.rows->elts)[i];
        printf("  %s  %-8s %s\n", fmt_time(a[1], 0), safe(a[2]), a[8] ? safe(a[8]) : "");
    }
}

static int cmd_show(void)
{
    jp_rowset rs;
    const char *err = NULL, *a = arg1(), *by, *val, *what;
    int i, given = (a != NULL) + (o("email") != NULL) + (o("sub") != NULL);
    if (given != 1)
        die(EX_USAGE, "show needs exactly one of: ID, --email EMAIL, --sub SUBJECT [--iss ISSUER]");
    if (o("iss") && !o("sub"))
        die(EX_USAGE, "--iss only goes with --sub");
    if (a) {
        by = "id";
        val = apr_psprintf(pool, "%" APR_INT64_T_FMT, parse_id(a));
        what = apr_psprintf(pool, "account %s", val);
    } else if (o("email")) {
        by = "email";
        val = o("email");
        what = apr_psprintf(pool, "email %s", val);
    } else {
        by = "sub";
        val = o("sub");
        what = apr_psprintf(pool, "sub %s", val);
    }
    open_db(0);
    check_rc(jp_store_get(pool, &db, &cfg, by, val, o("iss"), &rs, &err), err, what);
    for (i = 0; i < rs.rows->nelts; i++) {
        if (i)
            printf("\n");
        show_one(&rs, ((const char ***)rs.rows->elts)[i]);
    }
    return EX_OK;
}

/* approve / disable / enable: one status change with its audit row. */
static int change_status(const char *const *from, const char *to, const char *event)
{
    apr_int64_t id = parse_id(arg1());
    jp_rowset rs;
    const char *err = NULL, *cur;
    int rc, i, si = -1;
    open_db(0);
    if (!cfg.col[JP_COL_STATUS])
        die(EX_REFUSED, "the account table has no status column (JITProvAccountColumn status)");
    rc = jp_store_set_status(pool, &db, &cfg, id, from, to, event, &actor, o("reason"), &err);
    if (rc == JP_STORE_BAD_STATE) {
        check_rc(jp_store_get(pool, &db, &cfg, "id", apr_psprintf(pool, "%" APR_INT64_T_FMT, id),
                              NULL, &rs, &err),
                 err, "status");
        for (i = 0; i < rs.ncols; i++)
            if (!strcmp(rs.names[i], cfg.col[JP_COL_STATUS]))
                si = i;
        cur = si >= 0 ? ((const char ***)rs.rows->elts)[0][si] : NULL;
        if (cur && !strcmp(cur, to)) {
            printf("account %" APR_INT64_T_FMT " is already %s\n", id, to);
            return EX_OK;
        }
        die(EX_REFUSED, "account %" APR_INT64_T_FMT " is %s: '%s' applies to %s accounts only%s",
            id, cur ? safe(cur) : "(null)", cmd->name, from[0],
            !strcmp(event, "enable") && cur && !strcmp(cur, "pending") ? " (use approve)" : "");
    }
    check_rc(rc, err, apr_psprintf(pool, "account %" APR_INT64_T_FMT, id));
    printf("account %" APR_INT64_T_FMT " is now %s\n", id, to);
    if (!strcmp(to, "disabled"))
        printf("its sessions end at their next status re-check "
               "(JITProvAccountRecheckInterval)\n");
    return EX_OK;
}

static int cmd_approve(void)
{
    static const char *const from[] = {"pending", NULL};
    return change_status(from, "active", "approve");
}

static int cmd_disable(void)
{
    static const char *const from[] = {"active", "pending", NULL};
    return change_status(from, "disabled", "disable");
}

static int cmd_enable(void)
{
    static const char *const from[] = {"disabled", NULL};
    return change_status(from, "active", "enable");
}

static int cmd_stale(void)
{
    static const char *const from[] = {"active", NULL};
    jp_rowset rs;
    const char *err = NULL, *d = o("inactive-days"), *fmt = format_opt("table", "table csv json");
    char *end = NULL;
    apr_int64_t days, cutoff;
    int i, idc = -1, done = 0, failed = 0;
    no_args();
    if (!d)
        die(EX_USAGE, "stale needs --inactive-days N");
    errno = 0;
    days = apr_strtoi64(d, &end, 10);
    if (errno || !*d || *end || days < 1 || days > 100000)
        die(EX_USAGE, "--inactive-days must be a whole number of days (1 or more)");
    open_db(0);
    cutoff = (apr_int64_t)apr_time_sec(apr_time_now()) - days * 86400;
    check_rc(jp_store_stale(pool, &db, &cfg, cutoff,
                            o("include-never-logged-in") ? JP_STALE_NEVER_LOGGED_IN : 0, &rs, &err),
             err, "stale");
    if (!o("disable")) {
        print_rows(&rs, fmt);
        if (!strcmp(fmt, "table"))
            printf("%d account(s) without a login for %" APR_INT64_T_FMT
                   " days; add --disable to disable them\n",
                   rs.rows->nelts, days);
        return EX_OK;
    }
    if (!cfg.col[JP_COL_STATUS])
        die(EX_REFUSED, "the account table has no status column (JITProvAccountColumn status)");
    for (i = 0; i < rs.ncols; i++)
        if (!strcmp(rs.names[i], cfg.col[JP_COL_ID]))
            idc = i;
    for (i = 0; i < rs.rows->nelts; i++) {
        const char *v = ((const char ***)rs.rows->elts)[i][idc];
        int rc = jp_store_set_status(
            pool, &db, &cfg, apr_atoi64(v), from, "disabled", "disable", &actor,
            apr_psprintf(pool, "inactive for %" APR_INT64_T_FMT " days", days), &err);
        if (rc == JP_STORE_OK) {
            printf("disabled account %s\n", v);
            done++;
        } else if (rc != JP_STORE_BAD_STATE && rc != JP_STORE_NOT_FOUND) {
            warn("account %s: %s", v, err ? err : "database error");
            failed++;
        }
    }
    printf("%d account(s) disabled\n", done);
    return failed ? EX_FAIL : EX_OK;
}

static int month_days(int y, int mo)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mo == 2 && leap ? 29 : n[mo - 1];
}

/* --since: YYYY-MM-DD or "YYYY-MM-DD HH:MM[:SS]" (UTC), or unix seconds. */
static apr_int64_t parse_since(const char *s)
{
    apr_time_exp_t t;
    apr_time_t at;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    char sep;
    if (is_number(s))
        return apr_atoi64(s);
    memset(&t, 0, sizeof(t));
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        die(EX_USAGE, "--since '%s': use YYYY-MM-DD, \"YYYY-MM-DD HH:MM\" (UTC) or unix seconds",
            s);
    if (s[n]) {
        int m = 0;
        if (sscanf(s + n, "%c%2d:%2d%n", &sep, &h, &mi, &m) != 3 || (sep != ' ' && sep != 'T'))
            die(EX_USAGE, "--since '%s': bad time of day", s);
        n += m;
        if (s[n] == ':') {
            m = 0;
            if (sscanf(s + n, ":%2d%n", &sec, &m) != 1)
                die(EX_USAGE, "--since '%s': bad seconds", s);
            n += m;
        }
        if (s[n] == 'Z')
            n++;
        if (s[n])
            die(EX_USAGE, "--since '%s': unexpected '%s'", s, s + n);
    }
    /* apr would roll 2024-02-31 over into March rather than refuse it. */
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
        sec > 60)
        die(EX_USAGE, "--since '%s': no such date", s);
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = sec;
    if (apr_time_exp_gmt_get(&at, &t) != APR_SUCCESS)
        die(EX_USAGE, "--since '%s': no such date", s);
    return (apr_int64_t)apr_time_sec(at);
}

static int cmd_audit(void)
{
    jp_rowset rs;
    const char *err = NULL, *fmt = format_opt("csv", "csv json jsonl syslog");
    apr_int64_t since = o("since") ? parse_since(o("since")) : 0, acct = 0;
    int rc;
    no_args();
    if (o("account"))
        acct = parse_id(o("account"));
    open_db(0);
    rc = jp_store_audit_list(pool, &db, &cfg, since, acct, &rs, &err);
    if (rc == JP_STORE_UNSUPPORTED)
        die(EX_REFUSED, "no audit table is configured (JITProvAuditTable none)");
    check_rc(rc, err, "audit");
    if (!strcmp(fmt, "json"))
        print_json(&rs, 1);
    else if (!strcmp(fmt, "jsonl"))
        print_jsonl(&rs);
    else if (!strcmp(fmt, "syslog"))
        print_syslog(&rs);
    else
        print_csv(&rs, 1);
    return EX_OK;
}

const command commands[] = {
    {"init", cmd_init, "owner dry-run alter", "create the tables and indexes (safe to run again)",
     "Usage: jitprov-admin [DATABASE] init [--owner USER] [--dry-run] [--alter]\n"
     "\n"
     "Creates what mod_jitprov needs, and only what is missing: the account table\n"
     "(with the configured table and column names), its unique index on (iss, sub),\n"
     "indexes on lower(email) and last_login_at, the audit table and, with\n"
     "JITProvRoleTable, the grants ledger. An application's own table\n"
     "(JITProvAccountTable) is never changed unless --alter is given: without it,\n"
     "init fails when the table lacks a configured column or the unique key, and\n"
     "names the statements that would add them. SQLite database files are switched\n"
     "to WAL journal mode. Run it before starting httpd; it is safe to run again.\n"
     "\n"
     "  --alter        add the missing columns, the unique key and the indexes to the\n"
     "                 application's own table\n"
     "  --owner USER   (sqlite3) give the database file to USER, e.g. www-data, the\n"
     "                 user httpd runs as; it needs write access to the directory too\n"
     "  -n, --dry-run  change nothing: print the SQL statements init would run (for a\n"
     "                 DBA to review, or to run by hand)\n"},
    {"add", cmd_add, "email iss sub username name status",
     "pre-provision an account (by email, or by iss + sub)",
     "Usage: jitprov-admin [DATABASE] add (--email EMAIL | --iss ISSUER --sub SUBJECT)\n"
     "                     [--username NAME] [--name DISPLAY_NAME] [--status STATUS]\n"
     "\n"
     "Pre-provisions an account, the way accounts exist before their first login\n"
     "when JITProvAccountCreate is Off.\n"
     "\n"
     "  --email EMAIL        an account that the user's first login attaches to when\n"
     "                       JITProvLinkByEmail is On and the IdP says the email is\n"
     "                       verified; until then it has no iss/sub\n"
     "  --iss ISSUER --sub SUBJECT\n"
     "                       an account for a known IdP identity (issuer URL exactly\n"
     "                       as in the ID token, and its 'sub')\n"
     "  --username, --name   initial username and display name\n"
     "  --status STATUS      active (default), pending or disabled\n"},
    {"list", cmd_list, "status format", "list accounts",
     "Usage: jitprov-admin [DATABASE] list [--status STATUS] [--format table|csv|json]\n"
     "\n"
     "Lists accounts by id. The table shows the main columns; csv and json carry\n"
     "every configured column, times as UTC ISO 8601.\n"},
    {"show", cmd_show, "email sub iss", "one account in full, with its recent audit events",
     "Usage: jitprov-admin [DATABASE] show (ID | --email EMAIL | --sub SUBJECT [--iss ISSUER])\n"
     "\n"
     "Prints every column of the account(s) and the last 10 audit events of each.\n"
     "--email matches case-insensitively.\n"},
    {"approve", cmd_approve, "reason", "let a pending account log in",
     "Usage: jitprov-admin [DATABASE] approve ID [--reason TEXT]\n"
     "\n"
     "Makes a pending account active (JITProvNewAccountStatus pending): the user's\n"
     "next login succeeds.\n"},
    {"disable", cmd_disable, "reason", "refuse an account's logins and end its sessions",
     "Usage: jitprov-admin [DATABASE] disable ID [--reason TEXT]\n"
     "\n"
     "Disables an account: logins are refused, and live sessions end at their next\n"
     "status re-check (JITProvAccountRecheckInterval, default 60 s). A login never\n"
     "re-activates a disabled account.\n"},
    {"enable", cmd_enable, "reason", "re-activate a disabled account",
     "Usage: jitprov-admin [DATABASE] enable ID [--reason TEXT]\n"
     "\n"
     "Re-activates a disabled account. (A pending account is approved with\n"
     "'approve'.)\n"},
    {"stale", cmd_stale, "inactive-days disable format include-never-logged-in",
     "accounts without a login for N days (optionally disable them)",
     "Usage: jitprov-admin [DATABASE] stale --inactive-days N [--disable]\n"
     "                     [--include-never-logged-in] [--format table|csv|json]\n"
     "\n"
     "Lists active accounts whose last login is more than N days ago (without\n"
     "--disable it only reports). Accounts that never logged in are exempt: an\n"
     "approved or pre-provisioned account whose user has not come yet is not\n"
     "dormant. With --disable, disables each listed account (one audit row each,\n"
     "reason \"inactive for N days\"). Needs a last_login_at column.\n"
     "\n"
     "  --include-never-logged-in  also list accounts never used that were\n"
     "                 created more than N days ago\n"},
    {"audit", cmd_audit, "since format account",
     "export the audit log (csv, json, jsonl or syslog)",
     "Usage: jitprov-admin [DATABASE] audit [--since DATE] [--account ID]\n"
     "                     [--format csv|json|jsonl|syslog]\n"
     "\n"
     "Exports audit rows oldest first: id, at, event, iss, sub, account_id,\n"
     "client_ip, corr_id, detail. Events: create, update, link, refuse, grant,\n"
     "revoke (logins); approve, disable, enable (and create with source admin)\n"
     "from this tool; scim_create, scim_update, scim_deactivate, scim_delete.\n"
     "\n"
     "  --since DATE   YYYY-MM-DD or \"YYYY-MM-DD HH:MM[:SS]\" in UTC, or unix seconds\n"
     "  --account ID   only this account's rows\n"
     "  --format       csv (default), json (one array), jsonl (one object a line) or\n"
     "                 syslog (one line per event: time, event, account, iss, sub,\n"
     "                 correlation id, client address, detail); CSV values starting\n"
     "                 with = + - @ get a leading ' so spreadsheets do not evaluate them\n"},
    {"check", cmd_check, "claims location format",
     "what a login with these claims would do, without doing it",
     "Usage: jitprov-admin [-f HTTPD.CONF] check --claims FILE.json [--location PATH]\n"
     "                     [--format text|json]\n"
     "\n"
     "What a login with these ID token claims (a JSON object with at least iss\n"
     "and sub) would do, without doing it: the JITProvRequireClaim gates, the\n"
     "account decision (create, link, update, refuse) with the audit rows it would\n"
     "write (grants and revokes of roles included), the account row after it, and\n"
     "the headers and REMOTE_USER the application would receive at PATH (its\n"
     "<Location> blocks). The account part runs the module's own code and SQL in a\n"
     "transaction that is rolled back; a new account's id is not predicted.\n"
     "--format json prints the same as one JSON object.\n"},
    {NULL, NULL, NULL, NULL, NULL}};
