/* jitprov-admin: the sysadmin's side of mod_jitprov's account table. It opens
 * the same database as mod_dbd (DBDriver/DBDParams, given directly or read from
 * the httpd config) and runs the same SQL as the module (lib/store_*.c), so an
 * account it approves or disables is exactly what the next login or status
 * re-check sees. Every change writes an audit row with source "admin".
 * This file: main and the command line (admin.h says where the rest is). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_dbd.h>

#include "store.h"
#include "admin.h"

#ifndef JITPROV_VERSION /* set by Makefile.am */
#define JITPROV_VERSION "dev"
#endif

const char *prog = "jitprov-admin";
apr_pool_t *pool;

void die(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

void warn(const char *fmt, ...)
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
    "Commands:\n";
/* ... then one line per command, from commands[], so none is left out ... */
static const char usage_tail[] =
    "\n"
    "  -h, --help           this text; 'jitprov-admin COMMAND --help' for a command\n"
    "  -V, --version        print the version\n"
    "\n"
    "Exit status: 0 done, 1 database or configuration error, 2 usage error,\n"
    "3 no such account, 4 refused (already exists, wrong status, no such column).\n";

static void usage(FILE *f)
{
    const command *c;
    fputs(usage_main, f);
    for (c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fputs(usage_tail, f);
}

/* ------------------------------------------------------------------------ */
/* Command line                                                               */

typedef struct {
    const char *lng;
    char shrt;
    int arg;
} optdef;

static const optdef optdefs[] = {{"config", 'f', 1},  {"driver", 'd', 1},
                                 {"params", 'p', 1},  {"help", 'h', 0},
                                 {"version", 'V', 0}, {"email", 0, 1},
                                 {"iss", 0, 1},       {"sub", 0, 1},
                                 {"username", 0, 1},  {"name", 0, 1},
                                 {"status", 0, 1},    {"format", 0, 1},
                                 {"since", 0, 1},     {"inactive-days", 0, 1},
                                 {"disable", 0, 0},   {"reason", 0, 1},
                                 {"account", 0, 1},   {"owner", 0, 1},
                                 {"dry-run", 'n', 0}, {"yes", 'y', 0},
                                 {"alter", 0, 0},     {"include-never-logged-in", 0, 0},
                                 {"claims", 0, 1},    {"location", 0, 1},
                                 {NULL, 0, 0}};

static apr_table_t *opt; /* long name -> value ("" for flags) */
apr_array_header_t *args;
const command *cmd;
jp_actor actor;

const char *o(const char *name)
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
            usage(stdout);
            return EX_OK;
        }
        usage(stderr);
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
