/* The SQL layer under store_*.c and scim_store.c (store_sql.c, the shape in
 * store_cfg.c); not part of the public store API (store.h), and no other file
 * should need it.
 *
 * One jp_sql is one attempt at one operation on one connection: it carries
 * the first error of the attempt and whether another attempt may help.
 * Statements are prepared lazily on the connection they run on, under a label
 * made of a prefix and a hash of their text, and kept in jp_db.prepared. */
#ifndef JP_STORE_SQL_H
#define JP_STORE_SQL_H

#include "store.h"

#define JP_MAP_MAX 32      /* JITProvMapClaim entries */
#define JP_VALUE_MAX 65535 /* longest claim value written to a column */
/* The label prefix of store_*.c's statements; scim_store.c's labels start so
 * too, so that statements made stale (schema change, new server session) are
 * all forgotten. */
#define JP_SQL_LABEL "jitprov_"
#define JP_NCOLS (JP_COL__COUNT + JP_MAP_MAX)
#define JP_MAX_ARGS (JP_NCOLS + 16)

/* The shape of the account table: which columns exist, which claims feed them.
 * The role columns come first, in role order, then the mapped ones. */
typedef struct jp_shape {
    int ncols;
    const char *col[JP_NCOLS]; /* every column read, roles first */
    int role[JP_COL__COUNT];   /* index in col, -1 when the role has no column */
    int nmap;
    const char *map_claim[JP_NCOLS]; /* claim feeding map_col[i] */
    int map_col[JP_NCOLS];
    int map_sync[JP_NCOLS]; /* jp_sync of map_col[i] as configured (DEFAULT unresolved) */
    const char *list;       /* "a, b, c" */
} jp_shape;

typedef struct {
    apr_pool_t *p;
    jp_db *db;
    const jp_store_cfg *cfg;
    jp_shape sh;
    int pg;
    const char *label; /* prefix of this caller's statement labels */
    const char *err;   /* first error of this attempt */
    int busy;          /* ... looked like a lock/busy timeout */
    int retry;         /* ... is worth one more attempt (busy, lost race, stale plan) */
    int stale;         /* ... came from statements prepared before a schema change
                          (SQLite) or in a server session that ended (pgsql) */
    int relaxed;       /* SQLite: this run's writes commit with synchronous=NORMAL */
} jp_sql;

#define ROLE_COL(s, r) ((s)->cfg->col[r])
#define HAS_ROLE(s, r) ((s)->sh.role[r] >= 0)
/* A role's value in a row read in shape order (or any select list that starts
 * with the role columns in role order, up to the role asked for). */
#define ROW_VAL(s, row, r) (HAS_ROLE(s, r) ? (row)[(s)->sh.role[r]] : NULL)

/* The shape of the table cfg describes (store_cfg.c); cfg already checked. */
void jp_shape_build(apr_pool_t *p, const jp_store_cfg *cfg, jp_shape *sh);

/* Checks cfg (identifiers become SQL text) and the connection, builds the
 * shape (or copies cfg->shape when jp_store_cfg_seal checked and built it).
 * label: "jitprov_" plus something of the caller's, lowercase (pgsql folds
 * PREPARE names). 0, or -1 with s->err set. */
int jp_sql_init(jp_sql *s, apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *label);

/* Records the first error of an attempt (one line), and whether it is worth a
 * retry. */
void jp_sql_fail(jp_sql *s, const char *msg);

/* One operation, run again once when that may help: after a lock (and a random
 * 50-250 ms pause, so colliding writers spread out), a lost race, statements
 * made stale by a schema change, or (pgsql) a server session that ended under
 * the connection (restart, terminated backend: reconnected, statements
 * prepared again). Returns what op returned, or
 * JP_STORE_BUSY / JP_STORE_ERROR with *err set when the last attempt failed. */
typedef int (*jp_sql_op)(jp_sql *s, void *arg);
int jp_sql_run(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *label, jp_sql_op op,
               void *arg, const char **err);

/* A statement being built: SQL text plus its bound values, in step. */
typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
    const void *arg[JP_MAX_ARGS];
    int nargs;
} jp_q;

void jp_q_init(jp_q *q, apr_pool_t *p);
void jp_q_sql(jp_q *q, const char *sql);
void jp_q_str(jp_q *q, const char *v); /* NULL binds SQL NULL */
void jp_q_int(jp_q *q, apr_int64_t v);
/* v NULL binds SQL NULL; *v must live until the statement has run. */
void jp_q_intp(jp_q *q, const apr_int64_t *v);
/* Appends the text and values of tail (e.g. the VALUES half of an INSERT). */
void jp_q_append(jp_q *q, const jp_q *tail);
const char *jp_q_text(jp_q *q);

/* One more column of an INSERT built in two halves: ", col" into cols, the
 * value into vals. */
void jp_q_col_str(jp_sql *s, jp_q *cols, jp_q *vals, const char *col, const char *v);
void jp_q_col_int(jp_sql *s, jp_q *cols, jp_q *vals, const char *col, apr_int64_t v);
/* The columns mod_jitprov manages in a new row, those the table has: status,
 * created_at and updated_at (now), last_login_at (now, only for a row made by
 * a login), login_count (1 for a login, else 0), source. */
void jp_q_managed_cols(jp_sql *s, jp_q *cols, jp_q *vals, const char *status, apr_int64_t now,
                       int login, const char *source);

/* A SELECT (or ... RETURNING): every row as an array of strings (NULL for SQL
 * NULL) copied into s->p; ncols may be NULL. Nothing runs once s->err is set.
 * 0 or -1. */
int jp_sql_select(jp_sql *s, jp_q *q, apr_array_header_t **rows, int *ncols);
/* The first row of a SELECT in *row, NULL when there is none. 0 or -1. */
int jp_sql_first(jp_sql *s, jp_q *q, const char ***row);
/* Any other statement; *nrows (may be NULL) gets the rows it changed. */
int jp_sql_exec(jp_sql *s, jp_q *q, int *nrows);
/* Unprepared, without parameters (transactions, DDL). */
int jp_sql_plain(jp_sql *s, const char *sql);
/* The same for BEGIN, COMMIT and savepoints: kept prepared on SQLite. */
int jp_sql_tx(jp_sql *s, const char *sql);

/* 1 when an unprepared statement runs (probes for tables, columns, indexes). */
int jp_sql_probe(jp_sql *s, const char *sql);
/* The first non-NULL value of an unprepared statement without parameters
 * (PRAGMAs) in *v, NULL when there is none. 0, or -1; the error goes into
 * s->err only when record is set. */
int jp_sql_value(jp_sql *s, const char *sql, int record, const char **v);
/* Statements whose form a client chooses (SCIM filters: each combination of
 * attributes, operators, and/or/not is another SQL text) are prepared on the
 * connection and kept with it like the others, and apr_dbd frees prepared
 * statements only when it closes the connection. So a connection takes at
 * most max distinct forms, each named by key (the text of one of the form's
 * statements): 0 when key is one of them (known, or admitted now), 1 when the
 * connection already holds max others. */
int jp_sql_admit_form(jp_sql *s, const char *key, int max);

/* prefix + 16 hex digits of a hash of sql: a statement label, or an index name
 * that stays short. */
const char *jp_sql_label(apr_pool_t *p, const char *prefix, const char *sql);

/* Plain BEGIN (IMMEDIATE on SQLite, with a lock timeout on pgsql) / COMMIT /
 * ROLLBACK. A failed commit rolls back. */
int jp_sql_begin(jp_sql *s);
int jp_sql_commit(jp_sql *s);
void jp_sql_rollback(jp_sql *s);

/* "active" or "pending" as they are; anything else (NULL included) is
 * "disabled": fail closed. */
const char *jp_sql_status(const char *v);

/* Now, in unix seconds. */
apr_int64_t jp_sql_now(void);
/* Numbers, objects and arrays as compact JSON text. */
const char *jp_sql_json_text(apr_pool_t *p, const json_t *v);
/* At most max bytes of s, cut on a UTF-8 character boundary. */
const char *jp_sql_cap(apr_pool_t *p, const char *s, size_t max);

/* Audit details: a capped JSON string that is never invalid UTF-8 (legacy
 * tables may hold Latin-1 text), the actor's "source" (def when who has none)
 * and "by", and the compact text of an object (released). */
json_t *jp_detail_str(apr_pool_t *p, const char *v);
void jp_detail_actor(apr_pool_t *p, const jp_actor *who, const char *def, json_t *o);
const char *jp_detail_text(apr_pool_t *p, json_t *o);

/* One audit row on this attempt's connection (inside its transaction, if
 * any). 0, or -1 with s->err set; 0 when there is no audit table. */
int jp_sql_audit(jp_sql *s, const jp_audit_entry *e);
/* The same as a row on its own, outside any transaction of ours: it commits
 * by itself. 0 or -1. */
int jp_sql_audit_alone(jp_sql *s, const jp_audit_entry *e);
/* The audit row of a change made by who (an admin, a SCIM client): its
 * address and correlation id, detail (released) as text; at 0 means now. */
int jp_sql_audit_change(jp_sql *s, apr_int64_t at, const char *event, const char *iss,
                        const char *sub, apr_int64_t id, const jp_actor *who, json_t *detail);

/* Account rows, read the same way by logins and jitprov-admin: in shape order
 * (every configured column), locked on pgsql until the transaction ends.
 * jp_sql_q_accounts starts q as "SELECT <shape> FROM <table>". The finders
 * give the row in *row (NULL when there is none), or up to two pre-provisioned
 * rows (no iss/sub yet) with that email (enough to tell one from ambiguous);
 * 0 or -1. */
void jp_sql_q_accounts(jp_sql *s, jp_q *q);
/* The account key's columns: "iss, sub", or "sub" alone when the table has no
 * iss column (JITProvAccountColumn iss none: one issuer per site). */
const char *jp_sql_key_cols(jp_sql *s);
/* The condition of a row no login has claimed yet: iss and sub NULL. */
const char *jp_sql_unlinked_cond(jp_sql *s);

int jp_sql_find_key(jp_sql *s, const char *iss, const char *sub, const char ***row);
int jp_sql_find_id(jp_sql *s, apr_int64_t id, const char ***row);
int jp_sql_find_unlinked(jp_sql *s, const char *email, apr_array_header_t **rows);
/* The same for the row role's column equal to value: exactly (externalId is
 * case-exact), or case-insensitively when nocase is set (userName). */
int jp_sql_find_unlinked_by(jp_sql *s, int role, const char *value, int nocase,
                            apr_array_header_t **rows);
/* The id of a row; its status ("active" without a status column, anything
 * unknown is "disabled": fail closed). */
apr_int64_t jp_sql_row_id(jp_sql *s, const char **row);
const char *jp_sql_row_status(jp_sql *s, const char **row);

#endif
