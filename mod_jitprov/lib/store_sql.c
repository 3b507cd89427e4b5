/* The SQL plumbing under store_*.c and scim_store.c (store_sql.h): statements
 * built in step with their bound values, prepared lazily on the connection they
 * run on under a label derived from their text, errors, one retry,
 * transactions, the audit row, and the account-row reads every writer shares.
 *
 * Every statement text is built from identifiers validated at config time and
 * prepared on the connection it runs on: a missing table only fails the logins
 * that need it, and two vhosts with different tables never share a statement.
 * Values are always bound parameters. One SQL text serves SQLite 3.40 and
 * PostgreSQL 15, except FOR UPDATE (pgsql only: SQLite's BEGIN IMMEDIATE
 * already serializes writers) and the column types of CREATE TABLE. */

#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <apr_md5.h>
#include <apr_time.h>
#include <apr_general.h>

#include "store.h"
#include "store_sql.h"
#include "claims.h"

#define JP_DETAIL_VALUE_MAX 256 /* longest value quoted in an audit detail */
#define JP_PG_LOCK_TIMEOUT "2s" /* pgsql: longest wait for a row lock */

/* ------------------------------------------------------------------------ */
/* Statements, errors, transactions (store_sql.h: scim_store.c uses them too) */

void jp_q_init(jp_q *q, apr_pool_t *p)
{
    q->p = p;
    q->parts = apr_array_make(p, 16, sizeof(const char *));
    q->nargs = 0;
}

void jp_q_sql(jp_q *q, const char *sql)
{
    *(const char **)apr_array_push(q->parts) = sql;
}

static void q_arg(jp_q *q, const char *fmt, const void *v)
{
    if (q->nargs >= JP_MAX_ARGS)
        abort(); /* bounded by JP_NCOLS: a bug, not input */
    jp_q_sql(q, fmt);
    q->arg[q->nargs++] = v;
}

void jp_q_str(jp_q *q, const char *v)
{
    q_arg(q, "%s", v);
}

void jp_q_intp(jp_q *q, const apr_int64_t *v)
{
    q_arg(q, "%lld", v);
}

void jp_q_int(jp_q *q, apr_int64_t v)
{
    apr_int64_t *x = apr_palloc(q->p, sizeof(*x));
    *x = v;
    jp_q_intp(q, x);
}

void jp_q_append(jp_q *q, const jp_q *tail)
{
    if (q->nargs + tail->nargs > JP_MAX_ARGS)
        abort();
    apr_array_cat(q->parts, tail->parts);
    memcpy(q->arg + q->nargs, tail->arg, sizeof(tail->arg[0]) * tail->nargs);
    q->nargs += tail->nargs;
}

const char *jp_q_text(jp_q *q)
{
    return apr_array_pstrcat(q->p, q->parts, 0);
}

const char *jp_store_dialect(const jp_db *db)
{
    const char *n;
    if (!db || !db->driver)
        return NULL;
    n = apr_dbd_name(db->driver);
    if (n && !strcmp(n, "sqlite3"))
        return "sqlite3";
    if (n && !strcmp(n, "pgsql"))
        return "pgsql";
    return NULL;
}

int jp_sql_init(jp_sql *s, apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *label)
{
    const char *d = jp_store_dialect(db);
    memset(s, 0, sizeof(*s));
    s->p = p;
    s->db = db;
    s->cfg = cfg;
    s->label = label;
    if (!d || !db->handle || !db->pool) {
        s->err = d ? "no database connection" : "unsupported DBDriver (use sqlite3 or pgsql)";
        return -1;
    }
    /* Identifiers become SQL text: never trust that the caller checked them,
     * unless jp_store_cfg_seal did (at configuration time, once). */
    if (!cfg->shape && (s->err = jp_store_cfg_check(p, cfg)))
        return -1;
    s->pg = !strcmp(d, "pgsql");
    if (!db->prepared)
        db->prepared = apr_hash_make(db->pool);
    if (cfg->shape)
        s->sh = *cfg->shape;
    else
        jp_shape_build(p, cfg, &s->sh);
    return 0;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return 1;
    return 0;
}

void jp_sql_fail(jp_sql *s, const char *msg)
{
    size_t n;
    char *m;
    if (s->err)
        return;
    m = apr_pstrdup(s->p, msg && *msg ? msg : "database error");
    /* One log line: pgsql messages span lines (DETAIL, CONTEXT, caret). */
    for (n = 0; m[n]; n++)
        if (m[n] == '\n' || m[n] == '\r' || m[n] == '\t')
            m[n] = ' ';
    n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == '\r' || m[n - 1] == ' '))
        m[--n] = '\0';
    s->err = m;
    /* SQLite: "database is locked", "database table is locked"; PostgreSQL:
     * deadlocks, serialization failures and lock timeouts. */
    s->busy = contains_ci(m, "locked") || contains_ci(m, "busy") || contains_ci(m, "deadlock") ||
              contains_ci(m, "could not serialize") || contains_ci(m, "lock timeout");
    s->retry = s->busy || contains_ci(m, "UNIQUE constraint failed") ||
               contains_ci(m, "duplicate key") || contains_ci(m, "schema has changed");
}

static void fail_rv(jp_sql *s, int rv)
{
    jp_sql_fail(s, apr_dbd_error(s->db->driver, s->db->handle, rv));
}

static void jitter_sleep(void)
{
    unsigned char b[2] = {0, 0};
    apr_generate_random_bytes(b, sizeof(b));
    apr_sleep(apr_time_from_msec(50 + (((unsigned)b[0] << 8 | b[1]) % 201)));
}

/* The sqlite3 driver prepares with the legacy sqlite3_prepare(), whose
 * statements fail for good once the schema changes (jitprov-admin init adding a
 * column while httpd runs), with messages as vague as "not an error". So the
 * schema version seen when our statements were prepared is kept beside them in
 * the connection's statement hash; after an error, a different version means
 * they are stale: forget all of ours (scim_store.c's too) so the retry
 * prepares them afresh. pgsql re-plans by itself. */
#define JP_SCHEMA_KEY "jitprov:schema_version" /* a string, not a statement */

/* pgsql has the opposite trap: when the server restarts (or ends our session),
 * mod_dbd reconnects the pooled connection with PQreset() the next time it
 * hands it out (apr_dbd_check_conn), and the new server session has none of
 * the statements we prepared on the old one ("prepared statement ... does not
 * exist", SQLSTATE 26000: every login through that connection would get 503),
 * while our hash still lists them. So the backend process id seen when they
 * were prepared is kept beside them; after an error, the connection is
 * probed (and reconnected if the server went away), and another process id
 * means they are gone: forget them and retry once. The error text is not
 * used: the server's messages may be in any language. */
#define JP_PG_PID_KEY "jitprov:backend_pid" /* a string, not a statement */

int jp_sql_value(jp_sql *s, const char *sql, int record, const char **v)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *e;
    int rv = apr_dbd_select(s->db->driver, s->p, s->db->handle, &res, sql, 1);
    *v = NULL;
    if (rv || !res) {
        if (record)
            fail_rv(s, rv);
        return -1;
    }
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1)
        if (!*v && (e = apr_dbd_get_entry(s->db->driver, row, 0)))
            *v = apr_pstrdup(s->p, e);
    return 0;
}

/* Not recorded: it runs beside other statements, whose errors are the ones
 * that count. */
static const char *sqlite_schema_version(jp_sql *s)
{
    const char *v;
    jp_sql_value(s, "PRAGMA schema_version", 0, &v);
    return v;
}

static const char *pg_backend_pid(jp_sql *s)
{
    const char *v;
    jp_sql_value(s, "SELECT pg_backend_pid()", 0, &v);
    return v;
}

/* What our statements are prepared against: the SQLite schema version, or
 * the PostgreSQL server session. */
static void remember_schema(jp_sql *s)
{
    const char *key = s->pg ? JP_PG_PID_KEY : JP_SCHEMA_KEY, *v;
    if (apr_hash_get(s->db->prepared, key, APR_HASH_KEY_STRING))
        return;
    if ((v = s->pg ? pg_backend_pid(s) : sqlite_schema_version(s)))
        apr_hash_set(s->db->prepared, key, APR_HASH_KEY_STRING, apr_pstrdup(s->db->pool, v));
}

static void note_stale(jp_sql *s)
{
    const char *now, *then;
    if (s->pg || s->stale)
        return;
    now = sqlite_schema_version(s);
    then = apr_hash_get(s->db->prepared, JP_SCHEMA_KEY, APR_HASH_KEY_STRING);
    if (now && (!then || strcmp(now, then)))
        s->stale = 1;
}

static void forget_stale(jp_sql *s)
{
    apr_hash_index_t *hi;
    if (!s->stale)
        return;
    s->stale = 0;
    /* Deleting the current entry while iterating is allowed by apr_hash. */
    for (hi = apr_hash_first(s->p, s->db->prepared); hi; hi = apr_hash_next(hi)) {
        const void *key;
        apr_hash_this(hi, &key, NULL, NULL);
        if (!strncmp((const char *)key, JP_SQL_LABEL, strlen(JP_SQL_LABEL)) ||
            !strcmp((const char *)key, JP_SCHEMA_KEY) || !strcmp((const char *)key, JP_PG_PID_KEY))
            apr_hash_set(s->db->prepared, key, APR_HASH_KEY_STRING, NULL);
    }
}

/* pgsql, after a failed attempt: is the server session the one our
 * statements were prepared in? The probe needs a usable connection: the
 * attempt's transaction is rolled back first (a no-op when none is open).
 * A connection the server dropped is reconnected here, as mod_dbd would at
 * its next use, and the attempt is worth repeating on the new session.
 * Still down: no retry, the attempt's error stands. */
static void pg_note_reset(jp_sql *s)
{
    const char *then = apr_hash_get(s->db->prepared, JP_PG_PID_KEY, APR_HASH_KEY_STRING), *now;
    jp_sql_rollback(s);
    if ((now = pg_backend_pid(s))) {
        /* Reconnected before this attempt (by mod_dbd): ours are gone. */
        if (then && strcmp(now, then))
            s->stale = 1;
        return;
    }
    if (apr_dbd_check_conn(s->db->driver, s->p, s->db->handle) == APR_SUCCESS && pg_backend_pid(s))
        s->stale = 1; /* a new session: nothing prepared on it yet */
}

/* One more attempt after an error? Only once, and only when it may help: a
 * lock (after a random 50-250 ms, so colliding writers spread out), a lost race,
 * statements made stale by a schema change, or (pgsql) statements lost with
 * a server session that ended. */
static int want_retry(jp_sql *s, int attempt)
{
    if (attempt > 0)
        return 0;
    if (s->pg && !s->stale)
        pg_note_reset(s);
    if (!(s->retry || s->stale))
        return 0;
    forget_stale(s);
    if (s->retry)
        jitter_sleep();
    return 1;
}

int jp_sql_run(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *label, jp_sql_op op,
               void *arg, const char **err)
{
    jp_sql s;
    int attempt, rc = JP_STORE_ERROR;
    if (err)
        *err = NULL;
    for (attempt = 0;; attempt++) {
        if (jp_sql_init(&s, p, db, cfg, label) == 0)
            rc = op(&s, arg);
        if (!s.err)
            return rc;
        if (want_retry(&s, attempt))
            continue;
        break;
    }
    if (err)
        *err = s.err;
    return s.busy ? JP_STORE_BUSY : JP_STORE_ERROR;
}

/* prefix + 16 hex digits of the MD5 of the text. Not a security hash: a name
 * for our own SQL text. Lowercase hex because pgsql folds the unquoted PREPARE
 * name. */
const char *jp_sql_label(apr_pool_t *p, const char *prefix, const char *sql)
{
    unsigned char d[APR_MD5_DIGESTSIZE];
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(prefix);
    char *l = apr_palloc(p, n + 16 + 1);
    int i;
    apr_md5(d, sql, strlen(sql));
    memcpy(l, prefix, n);
    for (i = 0; i < 8; i++) {
        l[n + 2 * i] = hex[d[i] >> 4];
        l[n + 2 * i + 1] = hex[d[i] & 15];
    }
    l[n + 16] = '\0';
    return l;
}

/* The forms a connection took (jp_sql_admit_form), beside its statements.
 * forget_stale keeps it: the forms stay admitted when their statements are
 * prepared again after a schema change. */
#define JP_FORMS_KEY "jitprov:client_forms" /* an apr_hash_t, not a statement */

int jp_sql_admit_form(jp_sql *s, const char *key, int max)
{
    apr_hash_t *forms = apr_hash_get(s->db->prepared, JP_FORMS_KEY, APR_HASH_KEY_STRING);
    if (!forms) {
        forms = apr_hash_make(s->db->pool);
        apr_hash_set(s->db->prepared, JP_FORMS_KEY, APR_HASH_KEY_STRING, forms);
    }
    if (apr_hash_get(forms, key, APR_HASH_KEY_STRING))
        return 0;
    if ((int)apr_hash_count(forms) >= max)
        return 1;
    key = apr_pstrdup(s->db->pool, key);
    apr_hash_set(forms, key, APR_HASH_KEY_STRING, key);
    return 0;
}

/* A statement is found by its text behind the caller's prefix (the prefix
 * lets forget_stale tell ours from other modules' entries); the label, a
 * digest, is computed only to prepare it, not at every execution. */
static apr_dbd_prepared_t *prep(jp_sql *s, const char *sql)
{
    const char *key = apr_pstrcat(s->p, s->label, sql, NULL), *label;
    apr_dbd_prepared_t *st = apr_hash_get(s->db->prepared, key, APR_HASH_KEY_STRING);
    int rv;
    if (st)
        return st;
    remember_schema(s);
    /* Prepared statements live as long as the connection: its pool. */
    label = jp_sql_label(s->db->pool, s->label, sql);
    rv = apr_dbd_prepare(s->db->driver, s->db->pool, s->db->handle, sql, label, &st);
    if (rv || !st) {
        fail_rv(s, rv);
        return NULL;
    }
    apr_hash_set(s->db->prepared, apr_pstrdup(s->db->pool, key), APR_HASH_KEY_STRING, st);
    return st;
}

/* pgsql frees its result when the row loop ends: values are copied. */
int jp_sql_select(jp_sql *s, jp_q *q, apr_array_header_t **rows, int *ncols)
{
    apr_dbd_prepared_t *st;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    int rv, n, i;

    *rows = apr_array_make(s->p, 2, sizeof(const char **));
    if (ncols)
        *ncols = 0;
    if (s->err || !(st = prep(s, jp_q_text(q))))
        return -1;
    rv = apr_dbd_pbselect(s->db->driver, s->p, s->db->handle, &res, st, 1, q->arg);
    if (rv || !res) {
        fail_rv(s, rv);
        note_stale(s);
        return -1;
    }
    n = apr_dbd_num_cols(s->db->driver, res);
    if (ncols)
        *ncols = n;
    /* Read to the end, always: the drivers release the result there. */
    row = NULL;
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1) {
        const char **vals = apr_pcalloc(s->p, (n > 0 ? n : 1) * sizeof(*vals));
        for (i = 0; i < n; i++) {
            const char *v = NULL;
            if (apr_dbd_datum_get(s->db->driver, row, i, APR_DBD_TYPE_STRING, &v) == APR_SUCCESS &&
                v)
                vals[i] = apr_pstrdup(s->p, v);
        }
        *(const char ***)apr_array_push(*rows) = vals;
    }
    return 0;
}

/* A statement without result rows, prepared once per connection. A schema
 * change expires every statement of the connection, ours included: a failure
 * notes it, and the retry prepares them again. */
static int exec_prepared(jp_sql *s, const char *sql, const void **args, int *nrows)
{
    apr_dbd_prepared_t *st;
    int rv, n = 0;
    if (s->err || !(st = prep(s, sql)))
        return -1;
    rv = apr_dbd_pbquery(s->db->driver, s->p, s->db->handle, &n, st, args);
    if (rv) {
        fail_rv(s, rv);
        note_stale(s);
        return -1;
    }
    if (nrows)
        *nrows = n;
    return 0;
}

int jp_sql_exec(jp_sql *s, jp_q *q, int *nrows)
{
    return exec_prepared(s, jp_q_text(q), q->arg, nrows);
}

int jp_sql_first(jp_sql *s, jp_q *q, const char ***row)
{
    apr_array_header_t *rows;
    *row = NULL;
    if (jp_sql_select(s, q, &rows, NULL))
        return -1;
    if (rows->nelts > 0)
        *row = ((const char ***)rows->elts)[0];
    return 0;
}

int jp_sql_plain(jp_sql *s, const char *sql)
{
    int n = 0, rv;
    if (s->err)
        return -1;
    rv = apr_dbd_query(s->db->driver, s->db->handle, &n, sql);
    if (rv) {
        fail_rv(s, rv);
        return -1;
    }
    return 0;
}

/* Transaction control (BEGIN IMMEDIATE, COMMIT, SAVEPOINT...) runs at every
 * login: on SQLite it is prepared once per connection like our other
 * statements, where a plain query would compile it each time. PostgreSQL
 * cannot PREPARE these: plain there. */
int jp_sql_tx(jp_sql *s, const char *sql)
{
    return s->pg ? jp_sql_plain(s, sql) : exec_prepared(s, sql, NULL, NULL);
}

/* 1 when the statement runs (probes for tables, columns, indexes). */
int jp_sql_probe(jp_sql *s, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv = apr_dbd_select(s->db->driver, s->p, s->db->handle, &res, sql, 1);
    if (rv || !res)
        return 0;
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1)
        ;
    return 1;
}

/* Transactions are plain BEGIN/COMMIT/ROLLBACK statements rather than
 * apr_dbd_transaction_start(): apr-util 1.6's pgsql driver dereferences a NULL
 * transaction when BEGIN fails on a dead connection, and its sqlite3 driver
 * leaves the handle marked "in transaction" when BEGIN IMMEDIATE is refused.
 * Every statement's result is checked here anyway. */
void jp_sql_rollback(jp_sql *s)
{
    int n;
    /* Errors ignored: SQLite may already have rolled back by itself. */
    apr_dbd_query(s->db->driver, s->db->handle, &n, "ROLLBACK");
}

/* How a write commits on SQLite: synchronous=NORMAL for a login's
 * bookkeeping (s->relaxed, store_prov.c says when), FULL for everything else.
 * The level holds for the connection until changed and cannot change inside
 * a transaction, so it is set before each write, and only when it differs
 * from the one this connection was last set to, marked beside our prepared
 * statements: logins, nearly every write, then issue no PRAGMA at all (a
 * PRAGMA is compiled afresh each time). A connection we never set (a
 * DBDInitSQL may have chosen anything) is set at its first write. */
#define JP_SYNC_KEY "jitprov:synchronous" /* a mark, not a statement */

static int sync_level(jp_sql *s)
{
    const char *want = s->relaxed ? "NORMAL" : "FULL";
    const char *now = apr_hash_get(s->db->prepared, JP_SYNC_KEY, APR_HASH_KEY_STRING);
    if (s->pg || (now && !strcmp(now, want)))
        return 0;
    /* Unknown until it succeeds: a failed FULL must not leave NORMAL marked. */
    apr_hash_set(s->db->prepared, JP_SYNC_KEY, APR_HASH_KEY_STRING, NULL);
    if (jp_sql_plain(s, s->relaxed ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL"))
        return -1;
    apr_hash_set(s->db->prepared, JP_SYNC_KEY, APR_HASH_KEY_STRING, want);
    return 0;
}

int jp_sql_begin(jp_sql *s)
{
    if (!s->pg)
        return sync_level(s) ? -1 : jp_sql_tx(s, "BEGIN IMMEDIATE");
    /* A row lock held elsewhere (an open psql session) must not hang a worker:
     * time out like SQLite's busy wait does, then retry once and give 503. */
    if (jp_sql_plain(s, "BEGIN") ||
        jp_sql_plain(s, "SET LOCAL lock_timeout = '" JP_PG_LOCK_TIMEOUT "'")) {
        jp_sql_rollback(s);
        return -1;
    }
    return 0;
}

int jp_sql_commit(jp_sql *s)
{
    if (jp_sql_tx(s, "COMMIT")) {
        jp_sql_rollback(s); /* a refused SQLite COMMIT leaves the transaction open */
        return -1;
    }
    return 0;
}

const char *jp_sql_status(const char *v)
{
    if (v && (!strcmp(v, "active") || !strcmp(v, "pending")))
        return v;
    return "disabled";
}

/* ------------------------------------------------------------------------ */
/* Values                                                                     */

/* Numbers, objects and arrays as compact JSON text. */
const char *jp_sql_json_text(apr_pool_t *p, const json_t *v)
{
    return jp_json_text(p, v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* At most max bytes, cut on a UTF-8 character boundary. */
const char *jp_sql_cap(apr_pool_t *p, const char *s, size_t max)
{
    size_t n;
    if (!s || strlen(s) <= max)
        return s;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return apr_pstrndup(p, s, n);
}

json_t *jp_detail_str(apr_pool_t *p, const char *v)
{
    json_t *j;
    char *c;
    size_t i;
    if (!v)
        return json_null();
    v = jp_sql_cap(p, v, JP_DETAIL_VALUE_MAX);
    if ((j = json_string(v)))
        return j;
    c = apr_pstrdup(p, v);
    for (i = 0; c[i]; i++)
        if ((unsigned char)c[i] >= 0x80)
            c[i] = '?';
    return json_string(c);
}

const char *jp_detail_text(apr_pool_t *p, json_t *o)
{
    const char *t = jp_sql_json_text(p, o);
    json_decref(o);
    return t;
}

void jp_detail_actor(apr_pool_t *p, const jp_actor *who, const char *def, json_t *o)
{
    json_object_set_new(o, "source", jp_detail_str(p, who && who->source ? who->source : def));
    if (who && who->by)
        json_object_set_new(o, "by", jp_detail_str(p, who->by));
}

apr_int64_t jp_sql_now(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

/* ------------------------------------------------------------------------ */
/* Audit                                                                      */

int jp_sql_audit(jp_sql *s, const jp_audit_entry *e)
{
    jp_q q;
    if (!s->cfg->audit_table || !*s->cfg->audit_table)
        return 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", s->cfg->audit_table,
                             " (at, event, iss, sub, account_id, client_ip, corr_id, detail)"
                             " VALUES (",
                             NULL));
    jp_q_int(&q, e->at ? e->at : jp_sql_now());
    jp_q_sql(&q, ", ");
    jp_q_str(&q, e->event ? e->event : "unknown");
    jp_q_sql(&q, ", ");
    jp_q_str(&q, jp_sql_cap(s->p, e->iss, JP_VALUE_MAX));
    jp_q_sql(&q, ", ");
    jp_q_str(&q, jp_sql_cap(s->p, e->sub, JP_VALUE_MAX));
    jp_q_sql(&q, ", ");
    if (e->account_id > 0)
        jp_q_int(&q, e->account_id);
    else
        jp_q_intp(&q, NULL);
    jp_q_sql(&q, ", ");
    jp_q_str(&q, jp_sql_cap(s->p, e->client_ip, 255));
    jp_q_sql(&q, ", ");
    jp_q_str(&q, jp_sql_cap(s->p, e->corr_id, 255));
    jp_q_sql(&q, ", ");
    jp_q_str(&q, e->detail);
    jp_q_sql(&q, ")");
    return jp_sql_exec(s, &q, NULL);
}

int jp_sql_audit_change(jp_sql *s, apr_int64_t at, const char *event, const char *iss,
                        const char *sub, apr_int64_t id, const jp_actor *who, json_t *detail)
{
    jp_audit_entry e;
    memset(&e, 0, sizeof(e));
    e.at = at;
    e.event = event;
    e.iss = iss;
    e.sub = sub;
    e.account_id = id;
    e.client_ip = who ? who->client_ip : NULL;
    e.corr_id = who ? who->corr_id : NULL;
    if (!(e.detail = jp_detail_text(s->p, detail))) {
        jp_sql_fail(s, "out of memory writing the audit detail");
        return -1;
    }
    return jp_sql_audit(s, &e);
}

int jp_sql_audit_alone(jp_sql *s, const jp_audit_entry *e)
{
    return sync_level(s) || jp_sql_audit(s, e) ? -1 : 0;
}

static int op_audit(jp_sql *s, void *e)
{
    return jp_sql_audit_alone(s, e) ? JP_STORE_ERROR : JP_STORE_OK;
}

int jp_audit_ex(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_audit_entry *e,
                const char **err)
{
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_audit, (void *)e, err) == JP_STORE_OK ? 0 : -1;
}

int jp_audit(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *event, const char *iss,
             const char *sub, int64_t account_id, const char *client_ip, const char *detail)
{
    jp_audit_entry e;
    memset(&e, 0, sizeof(e));
    e.event = event;
    e.iss = iss;
    e.sub = sub;
    e.account_id = account_id;
    e.client_ip = client_ip;
    e.detail = detail;
    return jp_audit_ex(p, db, cfg, &e, NULL);
}

/* ------------------------------------------------------------------------ */
/* New rows                                                                   */

void jp_q_col_str(jp_sql *s, jp_q *cols, jp_q *vals, const char *col, const char *v)
{
    jp_q_sql(cols, apr_pstrcat(s->p, ", ", col, NULL));
    jp_q_sql(vals, ", ");
    jp_q_str(vals, v);
}

void jp_q_col_int(jp_sql *s, jp_q *cols, jp_q *vals, const char *col, apr_int64_t v)
{
    jp_q_sql(cols, apr_pstrcat(s->p, ", ", col, NULL));
    jp_q_sql(vals, ", ");
    jp_q_int(vals, v);
}

void jp_q_managed_cols(jp_sql *s, jp_q *cols, jp_q *vals, const char *status, apr_int64_t now,
                       int login, const char *source)
{
    static const int stamp[] = {JP_COL_CREATED_AT, JP_COL_UPDATED_AT, JP_COL_LAST_LOGIN_AT};
    int i;
    if (HAS_ROLE(s, JP_COL_STATUS))
        jp_q_col_str(s, cols, vals, ROLE_COL(s, JP_COL_STATUS), status);
    for (i = 0; i < (login ? 3 : 2); i++)
        if (HAS_ROLE(s, stamp[i]))
            jp_q_col_int(s, cols, vals, ROLE_COL(s, stamp[i]), now);
    if (HAS_ROLE(s, JP_COL_LOGIN_COUNT))
        jp_q_col_int(s, cols, vals, ROLE_COL(s, JP_COL_LOGIN_COUNT), login ? 1 : 0);
    if (HAS_ROLE(s, JP_COL_SOURCE))
        jp_q_col_str(s, cols, vals, ROLE_COL(s, JP_COL_SOURCE), source);
}

/* ------------------------------------------------------------------------ */
/* Account lookups                                                            */

void jp_sql_q_accounts(jp_sql *s, jp_q *q)
{
    jp_q_sql(q, apr_pstrcat(s->p, "SELECT ", s->sh.list, " FROM ", s->cfg->table, NULL));
}

/* The row q selects, locked on pgsql until the transaction ends (SQLite's
 * BEGIN IMMEDIATE already serializes writers). */
static int locked_row(jp_sql *s, jp_q *q, const char ***row)
{
    if (s->pg)
        jp_q_sql(q, " FOR UPDATE");
    return jp_sql_first(s, q, row);
}

const char *jp_sql_key_cols(jp_sql *s)
{
    if (!HAS_ROLE(s, JP_COL_ISS))
        return ROLE_COL(s, JP_COL_SUB);
    return apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ISS), ", ", ROLE_COL(s, JP_COL_SUB), NULL);
}

const char *jp_sql_unlinked_cond(jp_sql *s)
{
    if (!HAS_ROLE(s, JP_COL_ISS))
        return apr_pstrcat(s->p, ROLE_COL(s, JP_COL_SUB), " IS NULL", NULL);
    return apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ISS), " IS NULL AND ", ROLE_COL(s, JP_COL_SUB),
                       " IS NULL", NULL);
}

int jp_sql_find_key(jp_sql *s, const char *iss, const char *sub, const char ***row)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
    jp_q_sql(&q, " WHERE ");
    if (HAS_ROLE(s, JP_COL_ISS)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ISS), " = ", NULL));
        jp_q_str(&q, iss);
        jp_q_sql(&q, " AND ");
    }
    jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_SUB), " = ", NULL));
    jp_q_str(&q, sub);
    return locked_row(s, &q, row);
}

int jp_sql_find_id(jp_sql *s, apr_int64_t id, const char ***row)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    return locked_row(s, &q, row);
}

/* Pre-provisioned rows (no iss/sub yet) with this email; at most 2 are read,
 * enough to tell "one" from "ambiguous". */
int jp_sql_find_unlinked_by(jp_sql *s, int role, const char *value, int nocase,
                            apr_array_header_t **rows)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
    jp_q_sql(&q,
             apr_pstrcat(s->p, " WHERE ", jp_sql_unlinked_cond(s), " AND ", nocase ? "lower(" : "",
                         ROLE_COL(s, role), nocase ? ") = lower(" : " = ", NULL));
    jp_q_str(&q, value);
    jp_q_sql(&q, apr_pstrcat(s->p, nocase ? ")" : "", " ORDER BY ", ROLE_COL(s, JP_COL_ID),
                             " LIMIT 2", NULL));
    if (s->pg)
        jp_q_sql(&q, " FOR UPDATE");
    return jp_sql_select(s, &q, rows, NULL);
}

int jp_sql_find_unlinked(jp_sql *s, const char *email, apr_array_header_t **rows)
{
    return jp_sql_find_unlinked_by(s, JP_COL_EMAIL, email, 1, rows);
}

apr_int64_t jp_sql_row_id(jp_sql *s, const char **row)
{
    const char *v = ROW_VAL(s, row, JP_COL_ID);
    return v ? apr_atoi64(v) : 0;
}

/* Status of a row. No status column: every row is active. Anything but the
 * three known values (NULL included) is treated as disabled: fail closed. */
const char *jp_sql_row_status(jp_sql *s, const char **row)
{
    if (!HAS_ROLE(s, JP_COL_STATUS))
        return "active";
    return jp_sql_status(ROW_VAL(s, row, JP_COL_STATUS));
}
