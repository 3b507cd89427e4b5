/* What the files of jitprov-admin share: the program is one command per run,
 * single-threaded, so its state (the pool, the options, the database) lives in
 * these globals. jitprov-admin.c: main and the command line; admin_db.c: the
 * httpd config reader and the database; admin_output.c: tables, CSV, JSON;
 * admin_cmds.c: the commands and their help. */
#ifndef JP_ADMIN_H
#define JP_ADMIN_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "store.h"

#define DEFAULT_CONFIG "/etc/apache2/apache2.conf"

/* Exit codes (also in docs/jitprov-admin.md). */
enum {
    EX_OK = 0,
    EX_FAIL = 1,     /* database or configuration error */
    EX_USAGE = 2,    /* bad command line */
    EX_NOTFOUND = 3, /* no such account */
    EX_REFUSED = 4   /* conflict, wrong status, column missing */
};

typedef struct {
    const char *name;
    int (*run)(void);
    const char *opts;    /* command options allowed, space separated */
    const char *summary; /* its line in 'jitprov-admin --help' */
    const char *help;
} command;

/* jitprov-admin.c */
extern const char *prog;
extern apr_pool_t *pool;
extern apr_array_header_t *args; /* positional words after the command */
extern const command *cmd;       /* the command being run */
extern jp_actor actor;           /* who makes the changes, for their audit rows */
void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The value of option --name ("" for a flag), NULL when not given. */
const char *o(const char *name);

/* What a login and the request after it use besides the store, for check:
 * the gates, and the identity directives of the server and of each
 * <Location> (later blocks override earlier ones, as httpd merges them). */
typedef struct {
    const char *name, *key; /* header name; "c:CLAIM", "a:COLUMN" */
} chk_header;
typedef struct {
    const char *path;            /* <Location PATH>; NULL for the server */
    apr_array_header_t *headers; /* of chk_header; NULL = not set here */
    const char *remote_user;     /* key; NULL = not set */
    int encoding;                /* jp_encoding, -1 = not set */
    const char *delim;           /* NULL = not set */
} chk_dir;
typedef struct {
    const char *claim, *pattern;
} chk_gate;
typedef struct {
    int provisioning;          /* JITProvProvisioning, default 1 */
    apr_array_header_t *gates; /* of chk_gate */
    apr_array_header_t *dirs;  /* of chk_dir *: [0] the server, then each <Location> */
} chk_cfg;
extern chk_cfg login_cfg;

/* admin_db.c */
extern jp_db db;
extern jp_store_cfg cfg;
extern const char *db_driver, *db_params, *db_name; /* db_name: as given */
/* Opens the database named by -d/-p or the httpd config, with its store
 * directives; dies on failure. creating: 1 init may create the file; 2 dry
 * run: a missing file is planned against an empty in-memory database. */
void open_db(int creating);
void close_db(void);
/* Maps a store result to a message and exit code; returns only on success. */
void check_rc(int rc, const char *err, const char *what);

/* admin_output.c */
int is_time_col(const char *name);
int is_number(const char *v);
/* Unix seconds as UTC: "2024-05-01T12:00:00Z" (iso) or "2024-05-01 12:00". */
const char *fmt_time(const char *v, int iso);
/* For a terminal: control characters (claim values come from outside) become '?'. */
const char *safe(const char *v);
/* --format, or dflt; dies unless it is one of the space-separated allowed. */
const char *format_opt(const char *dflt, const char *allowed);
/* Accounts as a table of the main columns, or every column as CSV or JSON. */
void print_rows(const jp_rowset *rs, const char *fmt);
/* times_col_at / audit: the rows are audit rows (their "at" is a time, their
 * detail JSON). */
void print_csv(const jp_rowset *rs, int times_col_at);
void print_json(const jp_rowset *rs, int audit);
/* Audit rows one per line: compact JSON objects, or syslog-style
 * key=value lines (values quoted and escaped, never a line break). */
void print_jsonl(const jp_rowset *rs);
void print_syslog(const jp_rowset *rs);

/* admin_check.c */
int cmd_check(void);

/* admin_cmds.c */
extern const command commands[];

#endif
