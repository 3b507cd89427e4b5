/* jitprov-admin: the sysadmin's side of mod_jitprov's account table. It opens
 * the same database as mod_dbd (DBDriver/DBDParams, given directly or read from
 * the httpd config) and runs the same store.c SQL as the module, so an account
 * it approves or disables is exactly what the next login or status re-check
 * sees. Every change writes an audit row with source "admin". */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_file_io.h>
#include <apr_dbd.h>

#include "store.h"

#ifndef JITPROV_VERSION /* set by Makefile.am */
#define JITPROV_VERSION "dev"
#endif

#define DEFAULT_CONFIG "/etc/apache2/apache2.conf"

/* Exit codes (also in docs/jitprov-admin.md). */
enum {
    EX_OK = 0,
    EX_FAIL = 1,     /* database or configuration error */
    EX_USAGE = 2,    /* bad command line */
    EX_NOTFOUND = 3, /* no such account */
    EX_REFUSED = 4   /* conflict, wrong status, column missing */
};

static const char *prog = "jitprov-admin";
static apr_pool_t *pool;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: warning: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------------ */
/* Help                                                                       */

static const char usage_main[] =
    "Usage: jitprov-admin [-f CONFIG | -d DRIVER -p PARAMS] COMMAND [OPTIONS]\n"
    "\n"
    "Manage the accounts that mod_jitprov provisions, in the same database as\n"
    "mod_dbd and with the same SQL as the module.\n"
    "\n"
    "Database (one of):\n"
    "  -f, --config FILE    read DBDriver, DBDParams, JITProvAccountTable,\n"
    "                       JITProvAuditTable, JITProvAccountColumn and\n"
    "                       JITProvMapClaim from an httpd config file (Include\n"
    "                       and IncludeOptional are followed); default\n"
    "                       " DEFAULT_CONFIG " when it exists\n"
    "  -d, --driver NAME    sqlite3 or pgsql, as DBDriver (overrides CONFIG)\n"
    "  -p, --params STRING  as DBDParams: a file path for sqlite3, a conninfo\n"
    "                       string (\"host=... dbname=... user=...\") for pgsql\n"
    "\n"
    "Commands:\n"
    "  init       create the tables and indexes (safe to run again)\n"
    "  add        pre-provision an account (by email, or by iss + sub)\n"
    "  list       list accounts\n"
    "  show       one account in full, with its recent audit events\n"
    "  approve    let a pending account log in\n"
    "  disable    refuse an account's logins and end its sessions\n"
    "  enable     re-activate a disabled account\n"
    "  stale      accounts without a login for N days (optionally disable them)\n"
    "  audit      export the audit log (CSV or JSON)\n"
    "\n"
    "  -h, --help           this text; 'jitprov-admin COMMAND --help' for a command\n"
    "  -V, --version        print the version\n"
    "\n"
    "Exit status: 0 done, 1 database or configuration error, 2 usage error,\n"
    "3 no such account, 4 refused (already exists, wrong status, no such column).\n";

typedef struct {
    const char *name;
    int (*run)(void);
    const char *opts; /* command options allowed, space separated */
    const char *help;
} command;

/* ------------------------------------------------------------------------ */
/* Command line                                                               */

typedef struct {
    const char *lng;
    char shrt;
    int arg;
} optdef;

static const optdef optdefs[] = {{"config", 'f', 1},  {"driver", 'd', 1},      {"params", 'p', 1},
                                 {"help", 'h', 0},    {"version", 'V', 0},     {"email", 0, 1},
                                 {"iss", 0, 1},       {"sub", 0, 1},           {"username", 0, 1},
                                 {"name", 0, 1},      {"status", 0, 1},        {"format", 0, 1},
                                 {"since", 0, 1},     {"inactive-days", 0, 1}, {"disable", 0, 0},
                                 {"reason", 0, 1},    {"account", 0, 1},       {"owner", 0, 1},
                                 {"dry-run", 'n', 0}, {"yes", 'y', 0},         {NULL, 0, 0}};

static apr_table_t *opt;         /* long name -> value ("" for flags) */
static apr_array_header_t *args; /* positional words after the command */
static const command *cmd;

static const char *o(const char *name)
{
    return apr_table_get(opt, name);
}

static void parse_args(int argc, char **argv, const command *cmds)
{
    int i, j, k;
    opt = apr_table_make(pool, 8);
    args = apr_array_make(pool, 4, sizeof(const char *));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        const optdef *d = NULL;
        if (!strcmp(a, "--")) {
            for (i++; i < argc; i++)
                *(const char **)apr_array_push(args) = argv[i];
            break;
        }
        if (a[0] != '-' || !a[1]) {
            if (!cmd) {
                for (k = 0; cmds[k].name; k++)
                    if (!strcmp(cmds[k].name, a))
                        cmd = &cmds[k];
                if (!cmd)
                    die(EX_USAGE, "unknown command '%s' (try --help)", a);
            } else {
                *(const char **)apr_array_push(args) = a;
            }
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            for (j = 0; optdefs[j].lng; j++)
                if (strlen(optdefs[j].lng) == n && !strncmp(optdefs[j].lng, a + 2, n))
                    d = &optdefs[j];
            if (!d)
                die(EX_USAGE, "unknown option '%s' (try --help)", a);
            if (eq) {
                if (!d->arg)
                    die(EX_USAGE, "option --%s takes no value", d->lng);
                val = eq + 1;
            }
        } else {
            for (j = 0; optdefs[j].lng; j++)
                if (optdefs[j].shrt && optdefs[j].shrt == a[1])
                    d = &optdefs[j];
            if (!d)
                die(EX_USAGE, "unknown option '%s' (try --help)", a);
            if (a[2]) {
                if (!d->arg)
                    die(EX_USAGE, "option -%c takes no value", d->shrt);
                val = a + 2;
            }
        }
        if (d->arg && !val) {
            if (i + 1 >= argc)
                die(EX_USAGE, "option --%s needs a value", d->lng);
            val = argv[++i];
        }
        apr_table_set(opt, d->lng, d->arg ? val : "");
    }
}

/* Command options outside the command's list are mistakes worth stopping on. */
static void check_opts(void)
{
    static const char *const global[] = {"config", "driver", "params", "help", "version", NULL};
    const apr_array_header_t *arr = apr_table_elts(opt);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i, k, ok;
    for (i = 0; i < arr->nelts; i++) {
        ok = 0;
        for (k = 0; global[k]; k++)
            if (!strcmp(global[k], e[i].key))
                ok = 1;
        if (!ok) {
            const char *w = cmd->opts, *hit = strstr(w, e[i].key);
            size_t n = strlen(e[i].key);
            while (hit && !((hit == w || hit[-1] == ' ') && (hit[n] == ' ' || !hit[n])))
                hit = strstr(hit + 1, e[i].key);
            ok = hit != NULL;
        }
        if (!ok)
            die(EX_USAGE, "option --%s does not apply to '%s' (try %s %s --help)", e[i].key,
                cmd->name, prog, cmd->name);
    }
}

/* ------------------------------------------------------------------------ */
/* The httpd config file                                                      */

typedef struct {
    const char *driver, *params, *where_driver, *where_params;
    jp_store_cfg cfg;
    const char *server_root;
    apr_table_t *defines;
    int depth;
    int store_set;        /* a JITProv store directive was seen */
    const char *store_at; /* where the first one was */
} conf;

/* One httpd-style word: quotes group, backslash escapes a quote inside them. */
static char *next_word(char **s)
{
    char *p = *s, *out, *w;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (!*p)
        return NULL;
    w = out = p;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q) {
            if (*p == '\\' && (p[1] == q || p[1] == '\\'))
                p++;
            *out++ = *p++;
        }
        if (*p)
            p++;
    } else {
        while (*p && !isspace((unsigned char)*p))
            *out++ = *p++;
    }
    if (*p)
        p++;
    *out = '\0';
    *s = p;
    return w;
}

/* ${NAME} from Define lines or the environment; unknown names stay as they are. */
static const char *expand(conf *c, const char *s)
{
    const char *d, *e;
    char *out = apr_pstrdup(pool, "");
    while ((d = strstr(s, "${")) && (e = strchr(d + 2, '}'))) {
        const char *name = apr_pstrndup(pool, d + 2, e - d - 2);
        const char *v = apr_table_get(c->defines, name);
        if (!v)
            v = getenv(name);
        out = apr_pstrcat(pool, out, apr_pstrndup(pool, s, d - s),
                          v ? v : apr_pstrndup(pool, d, e - d + 1), NULL);
        s = e + 1;
    }
    return apr_pstrcat(pool, out, s, NULL);
}

static void read_conf(conf *c, const char *path, int optional);

static void include(conf *c, const char *pattern, int optional, const char *where)
{
    glob_t g;
    size_t i;
    int rc;
    if (pattern[0] != '/')
        pattern = apr_pstrcat(pool, c->server_root, "/", pattern, NULL);
    rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        if (!optional && !strpbrk(pattern, "*?["))
            die(EX_FAIL, "%s: Include %s: no such file", where, pattern);
        return;
    }
    if (rc != 0)
        die(EX_FAIL, "%s: Include %s: cannot read", where, pattern);
    for (i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            include(c, apr_pstrcat(pool, g.gl_pathv[i], "/*", NULL), 1, where);
            continue;
        }
        read_conf(c, apr_pstrdup(pool, g.gl_pathv[i]), optional);
    }
    globfree(&g);
}

static void set_once(const char **slot, const char **where_slot, const char *val, const char *where,
                     const char *name)
{
    if (!*slot) {
        *slot = val;
        *where_slot = where;
    } else if (strcmp(*slot, val)) {
        warn("%s: another %s (first one at %s is used; pass -d/-p to choose)", where, name,
             *where_slot);
    }
}

static void store_directive(conf *c, const char *where)
{
    if (!c->store_set) {
        c->store_set = 1;
        c->store_at = where;
    }
}

static void directive(conf *c, const char *where, char *line)
{
    char *name = next_word(&line), *a1, *a2;
    if (!name || name[0] == '#' || name[0] == '<')
        return;
    a1 = next_word(&line);
    a2 = a1 ? next_word(&line) : NULL;
    if (a1)
        a1 = (char *)expand(c, a1);
    if (a2)
        a2 = (char *)expand(c, a2);

    if (!strcasecmp(name, "Define") && a1) {
        apr_table_set(c->defines, a1, a2 ? a2 : "");
    } else if (!strcasecmp(name, "ServerRoot") && a1) {
        c->server_root = a1;
    } else if ((!strcasecmp(name, "Include") || !strcasecmp(name, "IncludeOptional")) && a1) {
        include(c, a1, !strcasecmp(name, "IncludeOptional"), where);
    } else if (!strcasecmp(name, "DBDriver") && a1) {
        set_once(&c->driver, &c->where_driver, a1, where, "DBDriver");
    } else if (!strcasecmp(name, "DBDParams") && a1) {
        set_once(&c->params, &c->where_params, a1, where, "DBDParams");
    } else if (!strcasecmp(name, "JITProvAccountTable") && a1) {
        store_directive(c, where);
        if (!jp_store_ident_ok(a1))
            die(EX_FAIL, "%s: JITProvAccountTable: '%s' is not a valid SQL identifier", where, a1);
        c->cfg.table = a1;
    } else if (!strcasecmp(name, "JITProvAuditTable") && a1) {
        store_directive(c, where);
        if (!strcasecmp(a1, "none"))
            a1 = "";
        else if (!jp_store_ident_ok(a1))
            die(EX_FAIL, "%s: JITProvAuditTable: '%s' is not a valid SQL identifier", where, a1);
        c->cfg.audit_table = a1;
    } else if (!strcasecmp(name, "JITProvAccountColumn") && a1 && a2) {
        int r = jp_store_role_from_name(a1);
        store_directive(c, where);
        if (r < 0)
            die(EX_FAIL, "%s: JITProvAccountColumn: unknown role '%s'", where, a1);
        if (!strcasecmp(a2, "none"))
            a2 = NULL;
        else if (!jp_store_ident_ok(a2))
            die(EX_FAIL, "%s: JITProvAccountColumn: '%s' is not a valid SQL identifier", where, a2);
        c->cfg.col[r] = a2;
    } else if (!strcasecmp(name, "JITProvMapClaim") && a1 && a2) {
        jp_claim_map *m = apr_array_push(c->cfg.map);
        store_directive(c, where);
        m->claim = a1;
        m->column = a2;
    }
}

static void read_conf(conf *c, const char *path, int optional)
{
    apr_file_t *f;
    char buf[8192];
    char *line = NULL;
    int lineno = 0, start = 0;
    if (++c->depth > 16)
        die(EX_FAIL, "%s: Include nesting too deep", path);
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, pool) != APR_SUCCESS) {
        if (optional)
            return;
        die(EX_FAIL, "cannot read %s: %s", path, strerror(errno));
    }
    while (apr_file_gets(buf, sizeof(buf), f) == APR_SUCCESS) {
        size_t n = strlen(buf);
        lineno++;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (!line)
            start = lineno;
        /* A trailing backslash continues the directive on the next line. */
        if (n && buf[n - 1] == '\\') {
            buf[n - 1] = ' ';
            line = apr_pstrcat(pool, line ? line : "", buf, NULL);
            continue;
        }
        line = apr_pstrcat(pool, line ? line : "", buf, NULL);
        directive(c, apr_psprintf(pool, "%s:%d", path, start), line);
        line = NULL;
    }
    if (line)
        directive(c, apr_psprintf(pool, "%s:%d", path, start), line);
    apr_file_close(f);
    c->depth--;
}

/* ------------------------------------------------------------------------ */
/* Database                                                                   */

static jp_db db;
static jp_store_cfg cfg;
static const char *db_driver, *db_params, *db_name; /* db_name: as given */
static jp_actor actor;

/* Run as the owner of a SQLite file rather than root: files SQLite creates
 * beside it (-wal, -shm) must stay writable for httpd. */
static void become_owner(const char *path)
{
    struct stat st;
    if (geteuid() != 0 || stat(path, &st) != 0 || st.st_uid == 0)
        return;
    if (setgroups(0, NULL) != 0 || setgid(st.st_gid) != 0 || setuid(st.st_uid) != 0)
        die(EX_FAIL, "cannot switch to the owner (uid %ld) of %s: %s", (long)st.st_uid, path,
            strerror(errno));
}

/* creating: 1 init may create the file; 2 dry run: a missing file is planned
 * against an empty in-memory database. */
static void open_db(int creating)
{
    const char *conf_path = o("config"), *err = NULL, *bad;
    conf c;
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    jp_store_cfg_init(pool, &c.cfg);
    c.defines = apr_table_make(pool, 4);
    if (!conf_path && !(o("driver") && o("params"))) {
        apr_finfo_t fi;
        if (apr_stat(&fi, DEFAULT_CONFIG, APR_FINFO_TYPE, pool) == APR_SUCCESS)
            conf_path = DEFAULT_CONFIG;
    }
    if (conf_path) {
        char *dir = apr_pstrdup(pool, conf_path), *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        c.server_root = slash ? (*dir ? dir : "/") : ".";
        read_conf(&c, conf_path, 0);
    }
    db_driver = o("driver") ? o("driver") : c.driver;
    db_params = o("params") ? o("params") : c.params;
    db_name = db_params;
    if (!db_driver || !db_params)
        die(EX_USAGE, "no database: give -d DRIVER -p PARAMS, or -f an httpd config with "
                      "DBDriver and DBDParams");
    if (strcmp(db_driver, "sqlite3") && strcmp(db_driver, "pgsql"))
        die(EX_USAGE, "DBDriver '%s' is not supported: use sqlite3 or pgsql", db_driver);
    cfg = c.cfg;
    if ((bad = jp_store_cfg_check(pool, &cfg)))
        die(EX_FAIL, "%s%s%s", c.store_at ? c.store_at : "", c.store_at ? ": " : "", bad);

    if (!strcmp(db_driver, "sqlite3")) {
        apr_finfo_t fi;
        if (apr_stat(&fi, db_params, APR_FINFO_TYPE, pool) != APR_SUCCESS) {
            if (creating == 2)
                db_params = ":memory:";
            else if (!creating)
                die(EX_FAIL, "database file %s does not exist (run '%s init' first)", db_params,
                    prog);
        } else {
            become_owner(db_params);
        }
    }
    rv = apr_dbd_get_driver(pool, db_driver, &db.driver);
    if (rv != APR_SUCCESS)
        die(EX_FAIL,
            "apr_dbd driver '%s' is not available (Debian: apt-get install "
            "libaprutil1-dbd-%s)",
            db_driver, db_driver);
    rv = apr_dbd_open_ex(db.driver, pool, db_params, &db.handle, &err);
    if (rv != APR_SUCCESS || !db.handle)
        die(EX_FAIL, "cannot open the %s database: %s", db_driver, err ? err : "connection failed");
    db.pool = pool;
    db.prepared = apr_hash_make(pool);
}

static void close_db(void)
{
    if (db.handle)
        apr_dbd_close(db.driver, db.handle);
    db.handle = NULL;
}

/* Maps a store result to a message and exit code; returns only on success. */
static void check_rc(int rc, const char *err, const char *what)
{
    switch (rc) {
    case JP_STORE_OK:
        return;
    case JP_STORE_NOT_FOUND:
        die(EX_NOTFOUND, "%s: no such account", what);
    case JP_STORE_BUSY:
        die(EX_FAIL, "%s: the database is busy (locked); try again: %s", what, err ? err : "");
    case JP_STORE_UNSUPPORTED:
        die(EX_REFUSED,
            "%s: the configured table has no column for this (see "
            "JITProvAccountColumn)",
            what);
    case JP_STORE_CONFLICT:
        die(EX_REFUSED, "%s: already exists", what);
    case JP_STORE_BAD_STATE:
        die(EX_REFUSED, "%s: not allowed from the account's current status", what);
    default:
        die(EX_FAIL, "%s: %s", what, err ? err : "database error");
    }
}

/* ------------------------------------------------------------------------ */
/* Output                                                                     */

static int is_time_col(const char *name)
{
    return (cfg.col[JP_COL_CREATED_AT] && !strcmp(name, cfg.col[JP_COL_CREATED_AT])) ||
           (cfg.col[JP_COL_UPDATED_AT] && !strcmp(name, cfg.col[JP_COL_UPDATED_AT])) ||
           (cfg.col[JP_COL_LAST_LOGIN_AT] && !strcmp(name, cfg.col[JP_COL_LAST_LOGIN_AT]));
}

static int is_number(const char *v)
{
    if (!v || !*v)
        return 0;
    if (*v == '-')
        v++;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return 0;
    return 1;
}

/* Unix seconds as UTC: "2024-05-01T12:00:00Z" (iso) or "2024-05-01 12:00" (short). */
static const char *fmt_time(const char *v, int iso)
{
    apr_time_exp_t t;
    if (!is_number(v))
        return v;
    apr_time_exp_gmt(&t, apr_time_from_sec(apr_atoi64(v)));
    if (iso)
        return apr_psprintf(pool, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1,
                            t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    return apr_psprintf(pool, "%04d-%02d-%02d %02d:%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                        t.tm_hour, t.tm_min);
}

/* For a terminal: control characters (claim values come from outside) become '?'. */
static const char *safe(const char *v)
{
    char *c;
    size_t i;
    if (!v)
        return "";
    c = apr_pstrdup(pool, v);
    for (i = 0; c[i]; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            c[i] = '?';
    return c;
}

static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++; /* UTF-8 characters, not bytes */
    return n;
}

static const char *clip(const char *s, size_t max)
{
    size_t n = 0, i;
    for (i = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == max - 3)
            return apr_pstrcat(pool, apr_pstrndup(pool, s, i), "...", NULL);
    return s;
}

static void print_table(const jp_rowset *rs, const char *const *want)
{
    int idx[32], ncol = 0, i, r;
    size_t w[32];
    const char ***rows = (const char ***)rs->rows->elts;
    const char *heads[32];

    for (i = 0; want[i] && ncol < 32; i++) {
        int k;
        for (k = 0; k < rs->ncols; k++)
            if (!strcmp(rs->names[k], want[i])) {
                idx[ncol] = k;
                heads[ncol] = rs->names[k];
                w[ncol] = width(heads[ncol]);
                ncol++;
            }
    }
    for (r = 0; r < rs->rows->nelts; r++)
        for (i = 0; i < ncol; i++) {
            const char *v = rows[r][idx[i]];
            v = is_time_col(heads[i]) ? fmt_time(v, 0) : v;
            v = clip(safe(v), 40);
            if (width(v) > w[i])
                w[i] = width(v);
        }
    for (i = 0; i < ncol; i++)
        printf("%s%-*s", i ? "  " : "", i + 1 < ncol ? (int)w[i] : 0, heads[i]);
    printf("\n");
    for (r = 0; r < rs->rows->nelts; r++) {
        for (i = 0; i < ncol; i++) {
            const char *v = rows[r][idx[i]];
            v = is_time_col(heads[i]) ? fmt_time(v, 0) : v;
            v = clip(safe(v), 40);
            /* pad by characters, not bytes; the last column needs none */
            printf("%s%s%*s", i ? "  " : "", v, i + 1 < ncol ? (int)(w[i] - width(v)) : 0, "");
        }
        printf("\n");
    }
}

/* RFC 4180 field. A leading = + - @ gets a ' so a spreadsheet opening the
 * export never runs a claim value as a formula. */
static void csv_field(const char *v)
{
    const char *s;
    if (!v)
        return;
    if (*v && strchr("=+-@", *v) && !is_number(v))
        v = apr_pstrcat(pool, "'", v, NULL);
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(safe(v), stdout);
        return;
    }
    putchar('"');
    for (s = v; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r') || *s == 0x7f ? '?' : *s);
    }
    putchar('"');
}

static void print_csv(const jp_rowset *rs, int times_col_at)
{
    const char ***rows = (const char ***)rs->rows->elts;
    int r, i;
    for (i = 0; i < rs->ncols; i++) {
        if (i)
            putchar(',');
        csv_field(rs->names[i]);
    }
    putchar('\n');
    for (r = 0; r < rs->rows->nelts; r++) {
        for (i = 0; i < rs->ncols; i++) {
            const char *v = rows[r][i];
            if (i)
                putchar(',');
            if (is_time_col(rs->names[i]) || (times_col_at && !strcmp(rs->names[i], "at")))
                v = v ? fmt_time(v, 1) : NULL;
            csv_field(v);
        }
        putchar('\n');
    }
}

static void print_json(const jp_rowset *rs, int audit)
{
    const char ***rows = (const char ***)rs->rows->elts;
    json_t *arr = json_array();
    char *out;
    int r, i;
    for (r = 0; r < rs->rows->nelts; r++) {
        json_t *o = json_object();
        for (i = 0; i < rs->ncols; i++) {
            const char *n = rs->names[i], *v = rows[r][i];
            json_t *j = NULL;
            if (!v)
                j = json_null();
            else if (is_time_col(n) || (audit && !strcmp(n, "at")))
                j = json_string(fmt_time(v, 1));
            else if (audit && !strcmp(n, "detail"))
                j = json_loads(v, 0, NULL);
            else if ((!strcmp(n, cfg.col[JP_COL_ID]) || !strcmp(n, "account_id") ||
                      (cfg.col[JP_COL_LOGIN_COUNT] && !strcmp(n, cfg.col[JP_COL_LOGIN_COUNT]))) &&
                     is_number(v))
                j = json_integer(apr_atoi64(v));
            if (!j)
                j = json_string(v);
            if (!j) /* not UTF-8 (a legacy table's Latin-1): keep it readable */
                j = json_string(safe(apr_pstrdup(pool, v)));
            json_object_set_new(o, n, j ? j : json_null());
        }
        json_array_append_new(arr, o);
    }
    out = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (out) {
        json_malloc_t m;
        json_free_t f;
        puts(out);
        json_get_alloc_funcs(&m, &f);
        (f ? f : free)(out);
    }
    json_decref(arr);
}

static const char *format_opt(const char *dflt, const char *allowed)
{
    const char *f = o("format") ? o("format") : dflt;
    const char *hit = strstr(allowed, f);
    size_t n = strlen(f);
    if (!*f || !hit || (hit != allowed && hit[-1] != ' ') || (hit[n] && hit[n] != ' '))
        die(EX_USAGE, "--format must be one of: %s", allowed);
    return f;
}

static void print_rows(const jp_rowset *rs, const char *fmt)
{
    static const char *const roles[] = {
        "id",  "status",        "username",    "email", "display_name",
        "sub", "last_login_at", "login_count", NULL};
    const char *want[16];
    int i, n = 0;
    if (!strcmp(fmt, "csv")) {
        print_csv(rs, 0);
        return;
    }
    if (!strcmp(fmt, "json")) {
        print_json(rs, 0);
        return;
    }
    if (rs->rows->nelts == 0) {
        printf("(no accounts)\n");
        return;
    }
    for (i = 0; roles[i]; i++) {
        int r = jp_store_role_from_name(roles[i]);
        if (cfg.col[r])
            want[n++] = cfg.col[r];
    }
    want[n] = NULL;
    print_table(rs, want);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                   */

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
        if (jp_store_init_schema_ex(pool, &db, &cfg, JP_SCHEMA_DRY_RUN, note, NULL, &err))
            die(EX_FAIL, "init --dry-run failed: %s", err ? err : "database error");
        return EX_OK;
    }
    open_db(1);
    printf("%s database %s\n", db_driver, db_params);
    if (jp_store_init_schema_ex(pool, &db, &cfg, 0, note, NULL, &err))
        die(EX_FAIL, "init failed: %s", err ? err : "database error");
    close_db();
    if (pw && !strcmp(db_driver, "sqlite3")) {
        char *dir = apr_pstrdup(pool, db_params), *slash = strrchr(dir, '/');
        struct stat st;
        if (chown(db_params, pw->pw_uid, pw->pw_gid) != 0)
            die(EX_FAIL, "chown %s: %s", db_params, strerror(errno));
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
    if (a.email && (!*a.email || !strchr(a.email, '@')))
        die(EX_USAGE, "--email '%s' is not an email address", a.email);
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
    check_rc(jp_store_stale(pool, &db, &cfg, cutoff, &rs, &err), err, "stale");
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
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
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
    const char *err = NULL, *fmt = format_opt("csv", "csv json");
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
    else
        print_csv(&rs, 1);
    return EX_OK;
}

static const command commands[] = {
    {"init", cmd_init, "owner dry-run",
     "Usage: jitprov-admin [DATABASE] init [--owner USER] [--dry-run]\n"
     "\n"
     "Creates what mod_jitprov needs, and only what is missing: the account table\n"
     "(with the configured table and column names), its unique index on (iss, sub),\n"
     "indexes on lower(email) and last_login_at, and the audit table. On an existing\n"
     "application table (JITProvAccountTable) it adds the configured columns that\n"
     "are missing and the unique index, and changes nothing else. SQLite database\n"
     "files are switched to WAL journal mode. Run it before starting httpd; it is\n"
     "safe to run again.\n"
     "\n"
     "  --owner USER   (sqlite3) give the database file to USER, e.g. www-data, the\n"
     "                 user httpd runs as; it needs write access to the directory too\n"
     "  -n, --dry-run  change nothing: print the SQL statements init would run (for a\n"
     "                 DBA to review, or to run by hand)\n"},
    {"add", cmd_add, "email iss sub username name status",
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
    {"list", cmd_list, "status format",
     "Usage: jitprov-admin [DATABASE] list [--status STATUS] [--format table|csv|json]\n"
     "\n"
     "Lists accounts by id. The table shows the main columns; csv and json carry\n"
     "every configured column, times as UTC ISO 8601.\n"},
    {"show", cmd_show, "email sub iss",
     "Usage: jitprov-admin [DATABASE] show (ID | --email EMAIL | --sub SUBJECT [--iss ISSUER])\n"
     "\n"
     "Prints every column of the account(s) and the last 10 audit events of each.\n"
     "--email matches case-insensitively.\n"},
    {"approve", cmd_approve, "reason",
     "Usage: jitprov-admin [DATABASE] approve ID [--reason TEXT]\n"
     "\n"
     "Makes a pending account active (JITProvNewAccountStatus pending): the user's\n"
     "next login succeeds.\n"},
    {"disable", cmd_disable, "reason",
     "Usage: jitprov-admin [DATABASE] disable ID [--reason TEXT]\n"
     "\n"
     "Disables an account: logins are refused, and live sessions end at their next\n"
     "status re-check (JITProvAccountRecheckInterval, default 60 s). A login never\n"
     "re-activates a disabled account.\n"},
    {"enable", cmd_enable, "reason",
     "Usage: jitprov-admin [DATABASE] enable ID [--reason TEXT]\n"
     "\n"
     "Re-activates a disabled account. (A pending account is approved with\n"
     "'approve'.)\n"},
    {"stale", cmd_stale, "inactive-days disable format",
     "Usage: jitprov-admin [DATABASE] stale --inactive-days N [--disable]\n"
     "                     [--format table|csv|json]\n"
     "\n"
     "Lists active accounts whose last login is more than N days ago, and those\n"
     "never used that were created more than N days ago. With --disable, disables\n"
     "each of them (one audit row each, reason \"inactive for N days\").\n"
     "Needs a last_login_at column.\n"},
    {"audit", cmd_audit, "since format account",
     "Usage: jitprov-admin [DATABASE] audit [--since DATE] [--account ID]\n"
     "                     [--format csv|json]\n"
     "\n"
     "Exports audit rows oldest first: id, at, event, iss, sub, account_id,\n"
     "client_ip, corr_id, detail. Events: create, update, link, refuse (logins),\n"
     "approve, disable, enable (and create with source admin) from this tool.\n"
     "\n"
     "  --since DATE   YYYY-MM-DD or \"YYYY-MM-DD HH:MM[:SS]\" in UTC, or unix seconds\n"
     "  --account ID   only this account's rows\n"
     "  --format       csv (default) or json; CSV values starting with = + - @ get a\n"
     "                 leading ' so spreadsheets do not evaluate them\n"},
    {NULL, NULL, NULL, NULL}};

static void set_actor(void)
{
    const char *by = getenv("SUDO_USER");
    struct passwd *pw = NULL;
    if (!by || !*by) {
        pw = getpwuid(getuid());
        by = pw ? pw->pw_name : apr_psprintf(pool, "uid %ld", (long)getuid());
    }
    actor.source = "admin";
    actor.by = apr_pstrdup(pool, by);
    actor.client_ip = NULL;
    actor.corr_id = apr_psprintf(pool, "jitprov-admin-%ld-%" APR_INT64_T_FMT, (long)getpid(),
                                 (apr_int64_t)apr_time_sec(apr_time_now()));
}

int main(int argc, char **argv)
{
    int rc;
    apr_app_initialize(&argc, (const char *const **)&argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    apr_dbd_init(pool);
    parse_args(argc, argv, commands);
    if (o("version")) {
        printf("jitprov-admin (mod_jitprov) %s\n", JITPROV_VERSION);
        return EX_OK;
    }
    if (!cmd) {
        if (o("help")) {
            fputs(usage_main, stdout);
            return EX_OK;
        }
        fputs(usage_main, stderr);
        return EX_USAGE;
    }
    if (o("help")) {
        fputs(cmd->help, stdout);
        return EX_OK;
    }
    check_opts();
    set_actor();
    rc = cmd->run();
    close_db();
    fflush(stdout);
    if (ferror(stdout))
        die(EX_FAIL, "writing the output failed");
    return rc;
}
