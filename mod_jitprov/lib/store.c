/* Account and audit SQL through apr_dbd: the provisioning rules of DESIGN.md,
 * the session status re-check, the default schema and the queries of
 * jitprov-admin. Shared by the module (mod_dbd's pooled connections) and the
 * admin tool, so both always speak the same SQL.
 *
 * Every statement text is built from identifiers validated at config time and
 * prepared lazily on the connection it runs on, under a label derived from the
 * text itself: a missing table only fails the logins that need it, and two
 * vhosts with different tables never share a statement. Values are always bound
 * parameters. One SQL text serves SQLite 3.40 and PostgreSQL 15, except
 * FOR UPDATE (pgsql only: SQLite's BEGIN IMMEDIATE already serializes writers)
 * and the column types of CREATE TABLE. The plumbing (statements, errors,
 * retries, transactions, audit rows) is shared with scim_store.c through
 * store_sql.h. */

#include <stddef.h>
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

#define JP_VALUE_MAX 65535      /* longest claim value written to a column */
#define JP_DETAIL_VALUE_MAX 256 /* longest value quoted in an audit detail */
#define JP_PG_LOCK_TIMEOUT "2s" /* pgsql: longest wait for a row lock */
#define JP_LABEL "jitprov_"     /* store.c's statement labels; every label starts so */

static const char *const role_name[JP_COL__COUNT] = {
    "id",     "iss",        "sub",        "username",      "email",       "display_name", "groups",
    "status", "created_at", "updated_at", "last_login_at", "login_count", "source"};

/* Roles the module writes itself: never a JITProvMapClaim target, or a claim
 * could set its own status or identity. */
static int role_is_managed(int r)
{
    return r == JP_COL_ID || r == JP_COL_ISS || r == JP_COL_SUB || r == JP_COL_STATUS ||
           r == JP_COL_CREATED_AT || r == JP_COL_UPDATED_AT || r == JP_COL_LAST_LOGIN_AT ||
           r == JP_COL_LOGIN_COUNT || r == JP_COL_SOURCE;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

void jp_store_cfg_init(apr_pool_t *p, jp_store_cfg *c)
{
    int i;
    memset(c, 0, sizeof(*c));
    c->table = "jitprov_accounts";
    c->audit_table = "jitprov_audit";
    for (i = 0; i < JP_COL__COUNT; i++)
        c->col[i] = role_name[i];
    c->map = apr_array_make(p, 4, sizeof(jp_claim_map));
    c->create = 1;
    c->update = 1;
    c->link_by_email = 0;
    c->new_status = "active";
    c->account_key = "sub";
    c->delim = ",";
}

int jp_store_role_from_name(const char *name)
{
    int i;
    if (!name)
        return -1;
    for (i = 0; i < JP_COL__COUNT; i++)
        if (!strcmp(name, role_name[i]))
            return i;
    return -1;
}

/* Words reserved in SQLite or PostgreSQL that a sysadmin might plausibly pick as
 * a table or column name; unquoted they would only fail at the first login. */
static const char *const reserved[] = {
    "all",        "alter",        "and",       "as",      "asc",          "between",
    "by",         "case",         "check",     "column",  "constraint",   "create",
    "cross",      "current_user", "default",   "delete",  "desc",         "distinct",
    "drop",       "else",         "end",       "except",  "exists",       "foreign",
    "from",       "full",         "group",     "having",  "in",           "index",
    "inner",      "insert",       "intersect", "into",    "is",           "join",
    "left",       "like",         "limit",     "natural", "not",          "null",
    "offset",     "on",           "or",        "order",   "outer",        "primary",
    "references", "returning",    "right",     "select",  "session_user", "set",
    "table",      "then",         "to",        "union",   "unique",       "update",
    "user",       "using",        "values",    "when",    "where",        "with",
    NULL};

static int ident_part_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || n > 63)
        return 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    for (i = 0; reserved[i]; i++)
        if (strlen(reserved[i]) == n && !strncasecmp(reserved[i], s, n))
            return 0;
    return 1;
}

int jp_store_ident_ok(const char *s)
{
    const char *dot;
    if (!s)
        return 0;
    dot = strchr(s, '.');
    if (!dot)
        return ident_part_ok(s, strlen(s));
    return ident_part_ok(s, (size_t)(dot - s)) && ident_part_ok(dot + 1, strlen(dot + 1));
}

/* A column name may not carry a schema prefix. */
static int col_ok(const char *s)
{
    return s && !strchr(s, '.') && jp_store_ident_ok(s);
}

const char *jp_store_cfg_check(apr_pool_t *p, const jp_store_cfg *c)
{
    int i, j;
    const jp_claim_map *m = c->map ? (const jp_claim_map *)c->map->elts : NULL;
    int nmap = c->map ? c->map->nelts : 0;

    if (!jp_store_ident_ok(c->table))
        return apr_psprintf(p, "JITProvAccountTable: '%s' is not a valid SQL identifier",
                            c->table ? c->table : "");
    if (!c->audit_table)
        return "JITProvAuditTable: not set";
    if (*c->audit_table) {
        if (!jp_store_ident_ok(c->audit_table))
            return apr_psprintf(p, "JITProvAuditTable: '%s' is not a valid SQL identifier",
                                c->audit_table);
        if (!strcasecmp(c->audit_table, c->table))
            return "JITProvAuditTable: must differ from JITProvAccountTable";
    }
    for (i = 0; i < JP_COL__COUNT; i++) {
        if (!c->col[i])
            continue;
        if (!col_ok(c->col[i]))
            return apr_psprintf(p, "JITProvAccountColumn %s: '%s' is not a valid column name",
                                role_name[i], c->col[i]);
        for (j = 0; j < i; j++)
            if (c->col[j] && !strcasecmp(c->col[i], c->col[j]))
                return apr_psprintf(p, "JITProvAccountColumn: roles %s and %s both use column '%s'",
                                    role_name[j], role_name[i], c->col[i]);
    }
    if (!c->col[JP_COL_ID] || !c->col[JP_COL_ISS] || !c->col[JP_COL_SUB])
        return "JITProvAccountColumn: the id, iss and sub roles need a column";
    if (nmap > JP_MAP_MAX)
        return apr_psprintf(p, "JITProvMapClaim: at most %d mappings", JP_MAP_MAX);
    for (i = 0; i < nmap; i++) {
        if (!m[i].claim || !*m[i].claim || strlen(m[i].claim) > 255)
            return "JITProvMapClaim: bad claim name";
        if (!col_ok(m[i].column))
            return apr_psprintf(p, "JITProvMapClaim: '%s' is not a valid column name",
                                m[i].column ? m[i].column : "");
        for (j = 0; j < JP_COL__COUNT; j++)
            if (c->col[j] && role_is_managed(j) && !strcasecmp(c->col[j], m[i].column))
                return apr_psprintf(p,
                                    "JITProvMapClaim %s %s: column '%s' holds the %s role, "
                                    "which mod_jitprov manages itself",
                                    m[i].claim, m[i].column, m[i].column, role_name[j]);
    }
    if (!c->new_status || (strcmp(c->new_status, "active") && strcmp(c->new_status, "pending")))
        return "JITProvNewAccountStatus must be active or pending";
    if (!strcmp(c->new_status, "pending") && !c->col[JP_COL_STATUS])
        return "JITProvNewAccountStatus pending needs a status column (JITProvAccountColumn "
               "status)";
    if (c->link_by_email && !c->col[JP_COL_EMAIL])
        return "JITProvLinkByEmail On needs an email column (JITProvAccountColumn email)";
    if (!c->account_key || !*c->account_key || strlen(c->account_key) > 255)
        return "JITProvAccountKey: bad claim name";
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The shape of the account table: which columns exist, which claims feed them */

static int shape_find(const jp_shape *sh, const char *name)
{
    int i;
    for (i = 0; i < sh->ncols; i++)
        if (!strcasecmp(sh->col[i], name))
            return i;
    return -1;
}

static void shape_map(jp_shape *sh, const char *claim, int ci)
{
    int i;
    for (i = 0; i < sh->nmap; i++)
        if (sh->map_col[i] == ci) {
            sh->map_claim[i] = claim; /* the last mapping of a column wins */
            return;
        }
    sh->map_claim[sh->nmap] = claim;
    sh->map_col[sh->nmap++] = ci;
}

static void shape_build(apr_pool_t *p, const jp_store_cfg *c, jp_shape *sh)
{
    static const struct {
        int role;
        const char *claim;
    } defaults[] = {{JP_COL_USERNAME, "preferred_username"},
                    {JP_COL_EMAIL, "email"},
                    {JP_COL_DISPLAY_NAME, "name"},
                    {JP_COL_GROUPS, "groups"}};
    const jp_claim_map *m = c->map ? (const jp_claim_map *)c->map->elts : NULL;
    int nmap = c->map ? c->map->nelts : 0;
    apr_array_header_t *parts;
    int i, ci;

    memset(sh, 0, sizeof(*sh));
    for (i = 0; i < JP_COL__COUNT; i++) {
        sh->role[i] = -1;
        if (!c->col[i])
            continue;
        ci = shape_find(sh, c->col[i]);
        if (ci < 0) {
            ci = sh->ncols;
            sh->col[sh->ncols++] = c->col[i];
        }
        sh->role[i] = ci;
    }
    for (i = 0; i < (int)(sizeof(defaults) / sizeof(defaults[0])); i++)
        if (sh->role[defaults[i].role] >= 0)
            shape_map(sh, defaults[i].claim, sh->role[defaults[i].role]);
    for (i = 0; i < nmap && i < JP_MAP_MAX; i++) {
        int r, managed = 0;
        if (!m[i].claim || !col_ok(m[i].column))
            continue;
        for (r = 0; r < JP_COL__COUNT; r++)
            if (c->col[r] && role_is_managed(r) && !strcasecmp(c->col[r], m[i].column))
                managed = 1;
        if (managed)
            continue; /* refused by jp_store_cfg_check; never written */
        ci = shape_find(sh, m[i].column);
        if (ci < 0) {
            ci = sh->ncols;
            sh->col[sh->ncols++] = m[i].column;
        }
        shape_map(sh, m[i].claim, ci);
    }
    parts = apr_array_make(p, sh->ncols, sizeof(const char *));
    for (i = 0; i < sh->ncols; i++)
        *(const char **)apr_array_push(parts) = sh->col[i];
    sh->list = apr_array_pstrcat(p, parts, ',');
}

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
    /* Identifiers become SQL text: never trust that the caller checked them. */
    if ((s->err = jp_store_cfg_check(p, cfg)))
        return -1;
    s->pg = !strcmp(d, "pgsql");
    if (!db->prepared)
        db->prepared = apr_hash_make(db->pool);
    shape_build(p, cfg, &s->sh);
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

static const char *sqlite_schema_version(jp_sql *s)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL, *e;
    if (apr_dbd_select(s->db->driver, s->p, s->db->handle, &res, "PRAGMA schema_version", 1) ||
        !res)
        return NULL;
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1)
        if (!v && (e = apr_dbd_get_entry(s->db->driver, row, 0)))
            v = apr_pstrdup(s->p, e);
    return v;
}

static void remember_schema(jp_sql *s)
{
    const char *v;
    if (s->pg || apr_hash_get(s->db->prepared, JP_SCHEMA_KEY, APR_HASH_KEY_STRING))
        return;
    if ((v = sqlite_schema_version(s)))
        apr_hash_set(s->db->prepared, JP_SCHEMA_KEY, APR_HASH_KEY_STRING,
                     apr_pstrdup(s->db->pool, v));
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
        if (!strncmp((const char *)key, JP_LABEL, strlen(JP_LABEL)) ||
            !strcmp((const char *)key, JP_SCHEMA_KEY))
            apr_hash_set(s->db->prepared, key, APR_HASH_KEY_STRING, NULL);
    }
}

/* One more attempt after an error? Only once, and only when it may help: a
 * lock (after a random 50-250 ms, so colliding writers spread out), a lost race,
 * or statements made stale by a schema change. */
static int want_retry(jp_sql *s, int attempt)
{
    if (attempt > 0 || !(s->retry || s->stale))
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
static const char *make_label(apr_pool_t *p, const char *prefix, const char *sql)
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

static apr_dbd_prepared_t *prep(jp_sql *s, const char *sql)
{
    const char *label = make_label(s->p, s->label, sql);
    apr_dbd_prepared_t *st = apr_hash_get(s->db->prepared, label, APR_HASH_KEY_STRING);
    int rv;
    if (st)
        return st;
    remember_schema(s);
    /* Prepared statements live as long as the connection: its pool. */
    label = apr_pstrdup(s->db->pool, label);
    rv = apr_dbd_prepare(s->db->driver, s->db->pool, s->db->handle, sql, label, &st);
    if (rv || !st) {
        fail_rv(s, rv);
        return NULL;
    }
    apr_hash_set(s->db->prepared, label, APR_HASH_KEY_STRING, st);
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

int jp_sql_exec(jp_sql *s, jp_q *q, int *nrows)
{
    apr_dbd_prepared_t *st;
    int rv, n = 0;
    if (s->err || !(st = prep(s, jp_q_text(q))))
        return -1;
    rv = apr_dbd_pbquery(s->db->driver, s->p, s->db->handle, &n, st, q->arg);
    if (rv) {
        fail_rv(s, rv);
        note_stale(s);
        return -1;
    }
    if (nrows)
        *nrows = n;
    return 0;
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

/* 1 when the statement runs (probes for tables, columns, indexes). */
static int probe(jp_sql *s, const char *sql)
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

int jp_sql_begin(jp_sql *s)
{
    if (!s->pg)
        return jp_sql_plain(s, "BEGIN IMMEDIATE");
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
    if (jp_sql_plain(s, "COMMIT")) {
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
static const char *json_dump_pool(apr_pool_t *p, const json_t *v)
{
    return jp_json_text(p, v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* At most max bytes, cut on a UTF-8 character boundary. */
static const char *cap_utf8(apr_pool_t *p, const char *s, size_t max)
{
    size_t n;
    if (!s || strlen(s) <= max)
        return s;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return apr_pstrndup(p, s, n);
}

/* A string claim as a C string, or NULL when it holds a NUL byte: bound as a
 * C string it would be cut there ("admin@corp\0@evil" stored, or matched for
 * linking, as "admin@corp"), so such a value counts as absent, as in claims.c. */
static const char *claim_string(json_t *v)
{
    const char *s = json_string_value(v);
    return s && !memchr(s, '\0', json_string_length(v)) ? s : NULL;
}

static const char *scalar_text(apr_pool_t *p, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return claim_string(v);
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)json_integer_value(v));
    case JSON_REAL:
        return json_dump_pool(p, v);
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

static const char *join(apr_pool_t *p, const apr_array_header_t *parts, const char *sep)
{
    const char **e = (const char **)parts->elts;
    size_t n = 0, sl = strlen(sep), l;
    char *out, *o;
    int i;
    for (i = 0; i < parts->nelts; i++)
        n += strlen(e[i]) + (i ? sl : 0);
    o = out = apr_palloc(p, n + 1);
    for (i = 0; i < parts->nelts; i++) {
        if (i) {
            memcpy(o, sep, sl);
            o += sl;
        }
        l = strlen(e[i]);
        memcpy(o, e[i], l);
        o += l;
    }
    *o = '\0';
    return out;
}

/* A claim by name, or by dotted path when no top-level claim has the full name
 * (namespaced claims like "https://example.com/roles" contain dots). */
static json_t *claim_lookup(apr_pool_t *p, json_t *claims, const char *path)
{
    json_t *v;
    char *copy, *seg, *last;
    if (!claims || !json_is_object(claims) || !path)
        return NULL;
    if ((v = json_object_get(claims, path)))
        return v;
    if (!strchr(path, '.'))
        return NULL;
    copy = apr_pstrdup(p, path);
    v = claims;
    for (seg = apr_strtok(copy, ".", &last); seg; seg = apr_strtok(NULL, ".", &last)) {
        if (!json_is_object(v))
            return NULL;
        if (!(v = json_object_get(v, seg)))
            return NULL;
    }
    return v == claims ? NULL : v;
}

/* The text a claim is stored as: strings as they are, numbers and booleans as
 * JSON, arrays of scalars joined with delim, anything else as compact JSON.
 * NULL when absent or null. */
static const char *claim_text(apr_pool_t *p, json_t *claims, const char *path, const char *delim)
{
    json_t *v = claim_lookup(p, claims, path);
    const char *t;
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_array(v)) {
        apr_array_header_t *parts = apr_array_make(p, json_array_size(v), sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!(t = scalar_text(p, e))) {
                parts = NULL;
                break;
            }
            *(const char **)apr_array_push(parts) = t;
        }
        if (parts)
            return cap_utf8(p, join(p, parts, delim ? delim : ","), JP_VALUE_MAX);
        return cap_utf8(p, json_dump_pool(p, v), JP_VALUE_MAX);
    }
    if (json_is_object(v))
        return cap_utf8(p, json_dump_pool(p, v), JP_VALUE_MAX);
    return cap_utf8(p, scalar_text(p, v), JP_VALUE_MAX);
}

json_t *jp_detail_str(apr_pool_t *p, const char *v)
{
    json_t *j;
    char *c;
    size_t i;
    if (!v)
        return json_null();
    v = cap_utf8(p, v, JP_DETAIL_VALUE_MAX);
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
    const char *t = json_dump_pool(p, o);
    json_decref(o);
    return t;
}

void jp_detail_actor(apr_pool_t *p, const jp_actor *who, const char *def, json_t *o)
{
    json_object_set_new(o, "source", jp_detail_str(p, who && who->source ? who->source : def));
    if (who && who->by)
        json_object_set_new(o, "by", jp_detail_str(p, who->by));
}

static apr_int64_t now_sec(void)
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
    jp_q_int(&q, e->at ? e->at : now_sec());
    jp_q_sql(&q, ", ");
    jp_q_str(&q, e->event ? e->event : "unknown");
    jp_q_sql(&q, ", ");
    jp_q_str(&q, cap_utf8(s->p, e->iss, JP_VALUE_MAX));
    jp_q_sql(&q, ", ");
    jp_q_str(&q, cap_utf8(s->p, e->sub, JP_VALUE_MAX));
    jp_q_sql(&q, ", ");
    if (e->account_id > 0)
        jp_q_int(&q, e->account_id);
    else
        jp_q_intp(&q, NULL);
    jp_q_sql(&q, ", ");
    jp_q_str(&q, cap_utf8(s->p, e->client_ip, 255));
    jp_q_sql(&q, ", ");
    jp_q_str(&q, cap_utf8(s->p, e->corr_id, 255));
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

static int op_audit(jp_sql *s, void *e)
{
    return jp_sql_audit(s, e) ? JP_STORE_ERROR : JP_STORE_OK;
}

int jp_audit_ex(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_audit_entry *e,
                const char **err)
{
    return jp_sql_run(p, db, cfg, JP_LABEL, op_audit, (void *)e, err) == JP_STORE_OK ? 0 : -1;
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
/* Account lookups                                                            */

static void q_select_head(jp_sql *s, jp_q *q)
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

static int find_by_key(jp_sql *s, const char *iss, const char *sub, const char ***row)
{
    jp_q q;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ISS), " = ", NULL));
    jp_q_str(&q, iss);
    jp_q_sql(&q, apr_pstrcat(s->p, " AND ", ROLE_COL(s, JP_COL_SUB), " = ", NULL));
    jp_q_str(&q, sub);
    return locked_row(s, &q, row);
}

static int find_by_id(jp_sql *s, apr_int64_t id, const char ***row)
{
    jp_q q;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    return locked_row(s, &q, row);
}

/* Pre-provisioned rows (no iss/sub yet) with this email; at most 2 are read,
 * enough to tell "one" from "ambiguous". */
static int find_unlinked_by_email(jp_sql *s, const char *email, apr_array_header_t **rows)
{
    jp_q q;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ISS), " IS NULL AND ",
                             ROLE_COL(s, JP_COL_SUB), " IS NULL AND lower(",
                             ROLE_COL(s, JP_COL_EMAIL), ") = lower(", NULL));
    jp_q_str(&q, email);
    jp_q_sql(&q, apr_pstrcat(s->p, ") ORDER BY ", ROLE_COL(s, JP_COL_ID), " LIMIT 2", NULL));
    if (s->pg)
        jp_q_sql(&q, " FOR UPDATE");
    return jp_sql_select(s, &q, rows, NULL);
}

static apr_int64_t row_id(jp_sql *s, const char **row)
{
    const char *v = ROW_VAL(s, row, JP_COL_ID);
    return v ? apr_atoi64(v) : 0;
}

/* Status of a row. No status column: every row is active. Anything but the
 * three known values (NULL included) is treated as disabled: fail closed. */
static const char *row_status(jp_sql *s, const char **row)
{
    if (!HAS_ROLE(s, JP_COL_STATUS))
        return "active";
    return jp_sql_status(ROW_VAL(s, row, JP_COL_STATUS));
}

static void fill_account(jp_sql *s, const char **row, jp_account *out)
{
    int i;
    out->id = row_id(s, row);
    out->status = row_status(s, row);
    out->cols = apr_table_make(s->p, s->sh.ncols);
    for (i = 0; i < s->sh.ncols; i++)
        if (row[i])
            apr_table_setn(out->cols, s->sh.col[i], row[i]);
}

static jp_prov_rc status_rc(const char *status)
{
    if (!strcmp(status, "active"))
        return JP_PROV_OK;
    if (!strcmp(status, "pending"))
        return JP_PROV_PENDING;
    return JP_PROV_DISABLED;
}

/* ------------------------------------------------------------------------ */
/* Provisioning                                                               */

typedef struct {
    const jp_login *in;
    const char *kiss, *ksub; /* the account key: iss + sub (or JITProvAccountKey) */
    apr_int64_t now;
    jp_account *out;
    const char *why; /* short reason for logs */
} jp_prov;

static int audit_login(jp_sql *s, jp_prov *v, const char *event, apr_int64_t id, json_t *detail)
{
    jp_audit_entry e;
    memset(&e, 0, sizeof(e));
    e.at = v->now;
    e.event = event;
    e.iss = v->kiss;
    e.sub = v->ksub;
    e.account_id = id;
    e.client_ip = v->in->client_ip;
    e.corr_id = v->in->corr_id;
    e.detail = jp_detail_text(s->p, detail);
    v->out->event = event;
    return jp_sql_audit(s, &e);
}

/* A refused login: one audit row "refuse", no other change. */
static jp_prov_rc refuse(jp_sql *s, jp_prov *v, const char *reason, apr_int64_t id,
                         const char *status, jp_prov_rc rc)
{
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string(reason));
    if (status)
        json_object_set_new(d, "status", json_string(status));
    v->why = reason;
    if (audit_login(s, v, "refuse", id, d))
        return JP_PROV_DB_ERROR;
    return rc;
}

/* Later login (or first login through a pre-provisioned row when link_email is
 * set): refuse pending/disabled, else refresh the mapped columns and the login
 * counters, audit, and read the row back for the session. */
static jp_prov_rc login_existing(jp_sql *s, jp_prov *v, const char **row, const char *link_email)
{
    const jp_shape *sh = &s->sh;
    apr_int64_t id = row_id(s, row);
    const char *status = row_status(s, row);
    const char *event = link_email ? "link" : "update";
    json_t *changed, *detail;
    jp_q q;
    int i, nset = 0, nrows = 0;
    int nchanged = link_email != NULL; /* linking sets iss/sub: updated_at moves */
    int apply = s->cfg->update || link_email;

    if (!link_email && strcmp(status, "active")) {
        fill_account(s, row, v->out);
        return refuse(s, v, status, id, status, status_rc(status));
    }
    if (link_email) {
        jp_q_init(&q, s->p);
        jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", ROLE_COL(s, JP_COL_ISS),
                                 " = ", NULL));
        jp_q_str(&q, v->kiss);
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_SUB), " = ", NULL));
        jp_q_str(&q, v->ksub);
        jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
        jp_q_int(&q, id);
        jp_q_sql(&q, apr_pstrcat(s->p, " AND ", ROLE_COL(s, JP_COL_ISS), " IS NULL AND ",
                                 ROLE_COL(s, JP_COL_SUB), " IS NULL", NULL));
        if (jp_sql_exec(s, &q, &nrows))
            return JP_PROV_DB_ERROR;
        if (nrows != 1) {
            /* Someone linked it between our read and write: start over. */
            jp_sql_fail(s, "pre-provisioned account was linked concurrently");
            s->retry = 1;
            return JP_PROV_DB_ERROR;
        }
    }

    changed = json_object();
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", NULL));
    for (i = 0; apply && i < sh->nmap; i++) {
        int ci = sh->map_col[i];
        const char *nv = claim_text(s->p, v->in->claims, sh->map_claim[i], s->cfg->delim);
        const char *ov = row[ci];
        /* An absent claim keeps the stored value, except groups: IdPs omit the
         * claim for a user in no group, and a stale list would keep privileges. */
        if (!nv && ci == sh->role[JP_COL_GROUPS] && ov && *ov)
            nv = "";
        if (nv && (!ov || strcmp(ov, nv))) {
            json_t *ch = json_object();
            json_object_set_new(ch, "old", jp_detail_str(s->p, ov));
            json_object_set_new(ch, "new", jp_detail_str(s->p, nv));
            json_object_set_new(changed, sh->col[ci], ch);
            nchanged++;
        } else {
            nv = NULL; /* unchanged: COALESCE keeps the column as it is */
        }
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", sh->col[ci], " = COALESCE(", NULL));
        jp_q_str(&q, nv);
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", sh->col[ci], ")", NULL));
    }
    if (HAS_ROLE(s, JP_COL_UPDATED_AT) && apply) {
        const char *c = ROLE_COL(s, JP_COL_UPDATED_AT);
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", c, " = COALESCE(", NULL));
        jp_q_intp(&q, nchanged ? &v->now : NULL);
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", c, ")", NULL));
    }
    if (HAS_ROLE(s, JP_COL_LAST_LOGIN_AT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", ROLE_COL(s, JP_COL_LAST_LOGIN_AT), " = ",
                                 NULL));
        jp_q_int(&q, v->now);
    }
    if (HAS_ROLE(s, JP_COL_LOGIN_COUNT)) {
        const char *c = ROLE_COL(s, JP_COL_LOGIN_COUNT);
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", c, " = COALESCE(", c, ", 0) + 1", NULL));
    }
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    if (nset && jp_sql_exec(s, &q, NULL)) {
        json_decref(changed);
        return JP_PROV_DB_ERROR;
    }

    detail = json_object();
    if (link_email) {
        json_object_set_new(detail, "by", json_string("email"));
        json_object_set_new(detail, "email", jp_detail_str(s->p, link_email));
        json_object_set_new(detail, "status", json_string(status));
    }
    json_object_set_new(detail, "changed", changed);
    if (audit_login(s, v, event, id, detail))
        return JP_PROV_DB_ERROR;
    if (find_by_id(s, id, &row))
        return JP_PROV_DB_ERROR;
    if (!row) {
        jp_sql_fail(s, "account row vanished during login");
        return JP_PROV_DB_ERROR;
    }
    fill_account(s, row, v->out);
    if (link_email && strcmp(status, "active"))
        v->why = status;
    return status_rc(v->out->status);
}

/* INSERT ... ON CONFLICT (iss, sub) DO NOTHING RETURNING id: *id 0 when a
 * concurrent first login of the same user won the race. */
static int insert_account(jp_sql *s, jp_prov *v, apr_int64_t *id, json_t *set)
{
    const jp_shape *sh = &s->sh;
    jp_q cols, vals;
    const char **row;
    int i;
    static const int stamp[] = {JP_COL_CREATED_AT, JP_COL_UPDATED_AT, JP_COL_LAST_LOGIN_AT};

    jp_q_init(&cols, s->p);
    jp_q_init(&vals, s->p);
    jp_q_sql(&vals, ") VALUES (");
    jp_q_str(&vals, v->kiss);
    jp_q_sql(&vals, ", ");
    jp_q_str(&vals, v->ksub);
    for (i = 0; i < sh->nmap; i++) {
        const char *nv = claim_text(s->p, v->in->claims, sh->map_claim[i], s->cfg->delim);
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, nv);
        jp_q_sql(&cols, apr_pstrcat(s->p, ", ", sh->col[sh->map_col[i]], NULL));
        if (nv)
            json_object_set_new(set, sh->col[sh->map_col[i]], jp_detail_str(s->p, nv));
    }
    if (HAS_ROLE(s, JP_COL_STATUS)) {
        jp_q_sql(&cols, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_STATUS), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, s->cfg->new_status);
    }
    for (i = 0; i < 3; i++) {
        if (!HAS_ROLE(s, stamp[i]))
            continue;
        jp_q_sql(&cols, apr_pstrcat(s->p, ", ", ROLE_COL(s, stamp[i]), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_int(&vals, v->now);
    }
    if (HAS_ROLE(s, JP_COL_LOGIN_COUNT)) {
        jp_q_sql(&cols, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_LOGIN_COUNT), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_int(&vals, 1);
    }
    if (HAS_ROLE(s, JP_COL_SOURCE)) {
        jp_q_sql(&cols, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_SOURCE), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, "jit");
    }
    jp_q_sql(&vals, apr_pstrcat(s->p, ") ON CONFLICT (", ROLE_COL(s, JP_COL_ISS), ", ",
                                ROLE_COL(s, JP_COL_SUB), ") DO NOTHING RETURNING ",
                                ROLE_COL(s, JP_COL_ID), NULL));
    /* Join the two halves: column list first, then values with their args. */
    {
        jp_q q;
        jp_q_init(&q, s->p);
        jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (", ROLE_COL(s, JP_COL_ISS),
                                 ", ", ROLE_COL(s, JP_COL_SUB), NULL));
        jp_q_append(&q, &cols);
        jp_q_append(&q, &vals);
        if (jp_sql_first(s, &q, &row))
            return -1;
    }
    *id = row && row[0] ? apr_atoi64(row[0]) : 0;
    return 0;
}

static jp_prov_rc first_login(jp_sql *s, jp_prov *v)
{
    const char **row = NULL;
    apr_int64_t id = 0;
    json_t *set, *detail;

    if (s->cfg->link_by_email && HAS_ROLE(s, JP_COL_EMAIL)) {
        json_t *ej = claim_lookup(s->p, v->in->claims, "email");
        const char *email = claim_string(ej);
        apr_array_header_t *cand;
        if (email && *email && strlen(email) <= 320) {
            if (find_unlinked_by_email(s, email, &cand))
                return JP_PROV_DB_ERROR;
            if (cand->nelts > 0) {
                json_t *ev = json_object_get(v->in->claims, "email_verified");
                if (!json_is_true(ev))
                    return refuse(s, v, "email_unverified", 0, NULL, JP_PROV_EMAIL_UNVERIFIED);
                if (cand->nelts > 1)
                    return refuse(s, v, "email_ambiguous", 0, NULL, JP_PROV_NOT_PROVISIONED);
                return login_existing(s, v, ((const char ***)cand->elts)[0], email);
            }
        }
    }
    if (!s->cfg->create)
        return refuse(s, v, "not_provisioned", 0, NULL, JP_PROV_NOT_PROVISIONED);

    set = json_object();
    if (insert_account(s, v, &id, set)) {
        json_decref(set);
        return JP_PROV_DB_ERROR;
    }
    if (!id) {
        /* Lost the race to a concurrent first login: that one created the row
         * (and its "create" audit row); this login is a later login. */
        json_decref(set);
        if (find_by_key(s, v->kiss, v->ksub, &row))
            return JP_PROV_DB_ERROR;
        if (!row) {
            jp_sql_fail(s, "account insert conflicted but no row has this key");
            return JP_PROV_DB_ERROR;
        }
        return login_existing(s, v, row, NULL);
    }
    detail = json_object();
    json_object_set_new(detail, "source", json_string("jit"));
    if (HAS_ROLE(s, JP_COL_STATUS))
        json_object_set_new(detail, "status", json_string(s->cfg->new_status));
    json_object_set_new(detail, "set", set);
    if (audit_login(s, v, "create", id, detail))
        return JP_PROV_DB_ERROR;
    if (find_by_id(s, id, &row))
        return JP_PROV_DB_ERROR;
    if (!row) {
        jp_sql_fail(s, "new account row not found");
        return JP_PROV_DB_ERROR;
    }
    fill_account(s, row, v->out);
    if (strcmp(v->out->status, "active"))
        v->why = v->out->status;
    return status_rc(v->out->status);
}

static jp_prov_rc provision_once(jp_sql *s, jp_prov *v)
{
    const char **row = NULL;
    jp_prov_rc rc;

    if (jp_sql_begin(s))
        return JP_PROV_DB_ERROR;
    if (find_by_key(s, v->kiss, v->ksub, &row))
        rc = JP_PROV_DB_ERROR;
    else if (row)
        rc = login_existing(s, v, row, NULL);
    else
        rc = first_login(s, v);
    if (s->err || jp_sql_commit(s)) {
        jp_sql_rollback(s);
        return JP_PROV_DB_ERROR;
    }
    return rc;
}

jp_prov_rc jp_provision(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                        jp_account *out, const char **err)
{
    jp_sql s;
    jp_prov v;
    jp_prov_rc rc = JP_PROV_DB_ERROR;
    int attempt;

    memset(out, 0, sizeof(*out));
    if (err)
        *err = NULL;
    memset(&v, 0, sizeof(v));
    v.in = in;
    v.out = out;
    v.kiss = in->iss;
    v.ksub = in->sub;
    if (cfg->account_key && strcmp(cfg->account_key, "sub"))
        v.ksub = claim_text(p, in->claims, cfg->account_key, cfg->delim);
    if (!v.kiss || !*v.kiss || !v.ksub || !*v.ksub || strlen(v.kiss) > JP_VALUE_MAX ||
        strlen(v.ksub) > JP_VALUE_MAX) {
        jp_audit_entry e;
        memset(&e, 0, sizeof(e));
        e.event = "refuse";
        e.iss = in->iss;
        e.sub = in->sub;
        e.client_ip = in->client_ip;
        e.corr_id = in->corr_id;
        e.detail = "{\"reason\":\"key_claim_missing\"}";
        out->event = "refuse";
        if (err)
            *err = "the account key claim is missing, empty or too long";
        if (jp_audit_ex(p, db, cfg, &e, NULL))
            return JP_PROV_DB_ERROR;
        return JP_PROV_NOT_PROVISIONED;
    }

    for (attempt = 0;; attempt++) {
        v.now = now_sec();
        v.why = NULL;
        memset(out, 0, sizeof(*out));
        if (jp_sql_init(&s, p, db, cfg, JP_LABEL) == 0)
            rc = provision_once(&s, &v);
        if (!s.err)
            break;
        if (want_retry(&s, attempt))
            continue;
        break;
    }
    if (s.err) {
        memset(out, 0, sizeof(*out));
        if (err)
            *err = s.err;
        return s.busy ? JP_PROV_DB_BUSY : JP_PROV_DB_ERROR;
    }
    if (err && v.why) {
        if (!strcmp(v.why, "pending"))
            *err = "account is pending approval";
        else if (!strcmp(v.why, "disabled"))
            *err = "account is disabled";
        else if (!strcmp(v.why, "email_unverified"))
            *err = "email matches a pre-provisioned account but is not verified";
        else if (!strcmp(v.why, "email_ambiguous"))
            *err = "email matches several pre-provisioned accounts";
        else if (!strcmp(v.why, "not_provisioned"))
            *err = "no account and JITProvAccountCreate is Off";
        else
            *err = v.why;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Status re-check                                                            */

typedef struct {
    apr_int64_t id;
    const char *status;
} jp_status_check;

static int op_status(jp_sql *s, void *varg)
{
    jp_status_check *a = varg;
    jp_q q;
    const char **row;
    jp_q_init(&q, s->p);
    jp_q_sql(&q,
             apr_pstrcat(s->p, "SELECT ",
                         HAS_ROLE(s, JP_COL_STATUS) ? ROLE_COL(s, JP_COL_STATUS)
                                                    : ROLE_COL(s, JP_COL_ID),
                         " FROM ", s->cfg->table, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, a->id);
    if (jp_sql_first(s, &q, &row))
        return JP_STORE_ERROR;
    if (!row)
        a->status = "gone";
    else if (!HAS_ROLE(s, JP_COL_STATUS))
        a->status = "active";
    else
        a->status = jp_sql_status(row[0]);
    return JP_STORE_OK;
}

int jp_account_status(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                      const char **status)
{
    jp_status_check a = {id, NULL};
    int rc = jp_sql_run(p, db, cfg, JP_LABEL, op_status, &a, NULL);
    *status = rc == JP_STORE_OK ? a.status : NULL;
    return rc == JP_STORE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Schema                                                                     */

typedef struct {
    jp_sql *s;
    void (*note)(void *, const char *);
    void *ctx;
    int dry; /* only report the statements */
} jp_schema;

static void say(jp_schema *k, const char *msg)
{
    if (k->note && !k->dry)
        k->note(k->ctx, msg);
}

static int ddl(jp_schema *k, const char *sql)
{
    if (k->dry) {
        if (k->note)
            k->note(k->ctx, apr_pstrcat(k->s->p, sql, ";", NULL));
        return 0;
    }
    return jp_sql_plain(k->s, sql);
}

/* Index names live in the table's schema: "app.users" -> base "users". */
static const char *base_name(const char *table)
{
    const char *dot = strchr(table, '.');
    return dot ? dot + 1 : table;
}

/* CREATE INDEX for the dialect: pgsql puts a schema on the table, SQLite on the
 * index name. */
static const char *index_sql(apr_pool_t *p, int pg, int unique, const char *table,
                             const char *suffix, const char *expr)
{
    const char *base = base_name(table), *name;
    const char *schema = base == table ? NULL : apr_pstrndup(p, table, base - table - 1);
    name = apr_pstrcat(p, base, "_", suffix, NULL);
    if (strlen(name) > 63)
        name = apr_pstrcat(p, make_label(p, JP_LABEL, table), "_", suffix, NULL);
    if (pg || !schema)
        return apr_pstrcat(p, "CREATE ", unique ? "UNIQUE " : "", "INDEX IF NOT EXISTS ", name,
                           " ON ", table, " (", expr, ")", NULL);
    return apr_pstrcat(p, "CREATE ", unique ? "UNIQUE " : "", "INDEX IF NOT EXISTS ", schema, ".",
                       name, " ON ", base, " (", expr, ")", NULL);
}

static const char *col_type(jp_sql *s, int role, int creating)
{
    const char *ity = s->pg ? "BIGINT" : "INTEGER";
    switch (role) {
    case JP_COL_STATUS:
        /* Existing rows of an application's table are its active users. */
        return apr_pstrcat(s->p, "TEXT NOT NULL DEFAULT 'active' CHECK (",
                           ROLE_COL(s, JP_COL_STATUS), " IN ('active', 'pending', 'disabled'))",
                           NULL);
    case JP_COL_CREATED_AT:
    case JP_COL_UPDATED_AT:
        return creating ? apr_pstrcat(s->p, ity, " NOT NULL", NULL) : ity;
    case JP_COL_LAST_LOGIN_AT:
        return ity;
    case JP_COL_LOGIN_COUNT:
        return apr_pstrcat(s->p, ity, " NOT NULL DEFAULT 0", NULL);
    case JP_COL_SOURCE:
        return creating ? "TEXT NOT NULL DEFAULT 'jit'" : "TEXT";
    default:
        return "TEXT";
    }
}

static int role_of_col(jp_sql *s, int ci)
{
    int r;
    for (r = 0; r < JP_COL__COUNT; r++)
        if (s->sh.role[r] == ci)
            return r;
    return -1;
}

static int schema_accounts(jp_schema *k)
{
    jp_sql *s = k->s;
    const char *t = s->cfg->table;
    const char *iss = ROLE_COL(s, JP_COL_ISS), *sub = ROLE_COL(s, JP_COL_SUB);
    int i;

    if (!probe(s, apr_pstrcat(s->p, "SELECT 1 FROM ", t, " WHERE 1 = 0", NULL))) {
        char *create = apr_pstrcat(s->p, "CREATE TABLE ", t, " (", ROLE_COL(s, JP_COL_ID),
                                   s->pg ? " BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
                                         : " INTEGER PRIMARY KEY AUTOINCREMENT",
                                   NULL);
        for (i = 0; i < s->sh.ncols; i++) {
            int r = role_of_col(s, i);
            if (r == JP_COL_ID)
                continue;
            create = apr_pstrcat(s->p, create, ", ", s->sh.col[i], " ", col_type(s, r, 1), NULL);
        }
        create = apr_pstrcat(s->p, create, ", UNIQUE (", iss, ", ", sub, "))", NULL);
        if (ddl(k, create))
            return -1;
        say(k, apr_psprintf(s->p, "created table %s", t));
    } else {
        if (!probe(s, apr_pstrcat(s->p, "SELECT ", ROLE_COL(s, JP_COL_ID), " FROM ", t,
                                  " WHERE 1 = 0", NULL))) {
            jp_sql_fail(s, apr_psprintf(s->p,
                                        "table %s has no column %s (JITProvAccountColumn id): "
                                        "an existing table needs its own primary key column",
                                        t, ROLE_COL(s, JP_COL_ID)));
            return -1;
        }
        for (i = 0; i < s->sh.ncols; i++) {
            int r = role_of_col(s, i);
            if (r == JP_COL_ID)
                continue;
            if (probe(s, apr_pstrcat(s->p, "SELECT ", s->sh.col[i], " FROM ", t, " WHERE 1 = 0",
                                     NULL)))
                continue;
            if (ddl(k, apr_pstrcat(s->p, "ALTER TABLE ", t, " ADD COLUMN ", s->sh.col[i], " ",
                                   col_type(s, r, 0), NULL)))
                return -1;
            say(k, apr_psprintf(s->p, "added column %s.%s", t, s->sh.col[i]));
        }
        /* ON CONFLICT (iss, sub) needs a unique index on exactly those columns:
         * probe with an insert of no rows. */
        if (!probe(s, apr_pstrcat(s->p, "INSERT INTO ", t, " (", iss, ", ", sub,
                                  ") SELECT NULL, NULL WHERE 1 = 0 ON CONFLICT (", iss, ", ", sub,
                                  ") DO NOTHING", NULL))) {
            if (ddl(k, index_sql(s->p, s->pg, 1, t, "jitprov_key",
                                 apr_pstrcat(s->p, iss, ", ", sub, NULL))))
                return -1;
            say(k, apr_psprintf(s->p, "created unique index on %s (%s, %s)", t, iss, sub));
        }
    }
    if (HAS_ROLE(s, JP_COL_EMAIL) &&
        ddl(k, index_sql(s->p, s->pg, 0, t, "jitprov_email",
                         apr_pstrcat(s->p, "lower(", ROLE_COL(s, JP_COL_EMAIL), ")", NULL))))
        return -1;
    if (HAS_ROLE(s, JP_COL_LAST_LOGIN_AT) &&
        ddl(k,
            index_sql(s->p, s->pg, 0, t, "jitprov_last_login", ROLE_COL(s, JP_COL_LAST_LOGIN_AT))))
        return -1;
    return 0;
}

static int schema_audit(jp_schema *k)
{
    jp_sql *s = k->s;
    const char *t = s->cfg->audit_table;
    const char *ity = s->pg ? "BIGINT" : "INTEGER";
    if (!t || !*t)
        return 0;
    if (probe(s, apr_pstrcat(s->p, "SELECT id FROM ", t, " WHERE 1 = 0", NULL)))
        return 0;
    if (ddl(k, apr_pstrcat(s->p, "CREATE TABLE ", t, " (id",
                           s->pg ? " BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
                                 : " INTEGER PRIMARY KEY AUTOINCREMENT",
                           ", at ", ity,
                           " NOT NULL, event TEXT NOT NULL, iss TEXT, "
                           "sub TEXT, account_id ",
                           ity, ", client_ip TEXT, corr_id TEXT, detail TEXT)", NULL)) ||
        ddl(k, index_sql(s->p, s->pg, 0, t, "at", "at")) ||
        ddl(k, index_sql(s->p, s->pg, 0, t, "account", "account_id")))
        return -1;
    say(k, apr_psprintf(s->p, "created table %s", t));
    return 0;
}

/* WAL lets readers (status re-checks) run beside a writer. It persists in the
 * file, so it is set here once rather than per connection (a DBDInitSQL PRAGMA
 * that returns a row silently stops the later DBDInitSQL lines). */
static int schema_wal(jp_schema *k)
{
    jp_sql *s = k->s;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *mode = NULL;
    int rv = apr_dbd_select(s->db->driver, s->p, s->db->handle, &res, "PRAGMA journal_mode", 1);
    if (rv || !res) {
        fail_rv(s, rv);
        return -1;
    }
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1)
        if (!mode)
            mode = apr_pstrdup(s->p, apr_dbd_get_entry(s->db->driver, row, 0));
    if (mode && !strcasecmp(mode, "wal"))
        return 0;
    if (k->dry)
        return ddl(k, "PRAGMA journal_mode=WAL");
    res = NULL;
    rv = apr_dbd_select(s->db->driver, s->p, s->db->handle, &res, "PRAGMA journal_mode=WAL", 1);
    if (rv || !res) {
        fail_rv(s, rv);
        return -1;
    }
    mode = NULL;
    row = NULL;
    while (apr_dbd_get_row(s->db->driver, s->p, res, &row, -1) != -1)
        if (!mode)
            mode = apr_pstrdup(s->p, apr_dbd_get_entry(s->db->driver, row, 0));
    if (mode && !strcasecmp(mode, "wal"))
        say(k, "switched the database file to WAL journal mode");
    else
        say(k, apr_psprintf(s->p, "journal mode stays %s (WAL not possible here)",
                            mode ? mode : "unknown"));
    return 0;
}

int jp_store_init_schema_ex(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int flags,
                            void (*note)(void *ctx, const char *msg), void *ctx, const char **err)
{
    jp_sql s;
    jp_schema k;
    const char *bad = jp_store_cfg_check(p, cfg);
    if (err)
        *err = NULL;
    if (bad) {
        if (err)
            *err = bad;
        return -1;
    }
    if (jp_sql_init(&s, p, db, cfg, JP_LABEL)) {
        if (err)
            *err = s.err;
        return -1;
    }
    k.s = &s;
    k.note = note;
    k.ctx = ctx;
    k.dry = (flags & JP_SCHEMA_DRY_RUN) != 0;
    if ((!s.pg && schema_wal(&k)) || schema_accounts(&k) || schema_audit(&k)) {
        if (err)
            *err = s.err ? s.err : "schema creation failed";
        return -1;
    }
    return 0;
}

int jp_store_init_schema(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char **err)
{
    return jp_store_init_schema_ex(p, db, cfg, 0, NULL, NULL, err);
}

/* ------------------------------------------------------------------------ */
/* Admin queries                                                              */

/* Ends q (a SELECT of the shape's columns) with ORDER BY id and reads every
 * row into out. */
static int rowset_select(jp_sql *s, jp_q *q, jp_rowset *out)
{
    apr_array_header_t *rows;
    jp_q_sql(q, apr_pstrcat(s->p, " ORDER BY ", ROLE_COL(s, JP_COL_ID), NULL));
    if (jp_sql_select(s, q, &rows, NULL))
        return JP_STORE_ERROR;
    out->ncols = s->sh.ncols;
    out->names = apr_pmemdup(s->p, s->sh.col, sizeof(const char *) * s->sh.ncols);
    out->rows = rows;
    return JP_STORE_OK;
}

typedef struct {
    const char *by, *value, *iss, *status;
    apr_int64_t cutoff, id;
    jp_rowset *out;
} jp_query_arg;

static int op_get(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    if (!strcmp(a->by, "id")) {
        char *end = NULL;
        apr_int64_t id = apr_strtoi64(a->value, &end, 10);
        if (!*a->value || !end || *end || id <= 0)
            return JP_STORE_NOT_FOUND;
        jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
        jp_q_int(&q, id);
    } else if (!strcmp(a->by, "email")) {
        if (!HAS_ROLE(s, JP_COL_EMAIL))
            return JP_STORE_UNSUPPORTED;
        jp_q_sql(&q,
                 apr_pstrcat(s->p, " WHERE lower(", ROLE_COL(s, JP_COL_EMAIL), ") = lower(", NULL));
        jp_q_str(&q, a->value);
        jp_q_sql(&q, ")");
    } else if (!strcmp(a->by, "sub")) {
        jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_SUB), " = ", NULL));
        jp_q_str(&q, a->value);
        if (a->iss) {
            jp_q_sql(&q, apr_pstrcat(s->p, " AND ", ROLE_COL(s, JP_COL_ISS), " = ", NULL));
            jp_q_str(&q, a->iss);
        }
    } else {
        return JP_STORE_UNSUPPORTED;
    }
    if (rowset_select(s, &q, a->out))
        return JP_STORE_ERROR;
    return a->out->rows->nelts ? JP_STORE_OK : JP_STORE_NOT_FOUND;
}

int jp_store_get(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *by,
                 const char *value, const char *iss, jp_rowset *out, const char **err)
{
    jp_query_arg a = {.by = by, .value = value, .iss = iss, .out = out};
    memset(out, 0, sizeof(*out));
    if (!by || !value)
        return JP_STORE_NOT_FOUND;
    return jp_sql_run(p, db, cfg, JP_LABEL, op_get, &a, err);
}

static int op_list(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    if (a->status) {
        if (!HAS_ROLE(s, JP_COL_STATUS))
            return JP_STORE_UNSUPPORTED;
        jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_STATUS), " = ", NULL));
        jp_q_str(&q, a->status);
    }
    return rowset_select(s, &q, a->out);
}

int jp_store_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *status,
                  jp_rowset *out, const char **err)
{
    jp_query_arg a = {.status = status, .out = out};
    memset(out, 0, sizeof(*out));
    return jp_sql_run(p, db, cfg, JP_LABEL, op_list, &a, err);
}

static int op_stale(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    if (!HAS_ROLE(s, JP_COL_LAST_LOGIN_AT))
        return JP_STORE_UNSUPPORTED;
    jp_q_init(&q, s->p);
    q_select_head(s, &q);
    jp_q_sql(&q, " WHERE ");
    if (HAS_ROLE(s, JP_COL_STATUS))
        jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_STATUS), " = 'active' AND ", NULL));
    jp_q_sql(&q, apr_pstrcat(s->p, "(", ROLE_COL(s, JP_COL_LAST_LOGIN_AT), " < ", NULL));
    jp_q_int(&q, a->cutoff);
    if (HAS_ROLE(s, JP_COL_CREATED_AT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, " OR (", ROLE_COL(s, JP_COL_LAST_LOGIN_AT), " IS NULL AND ",
                                 ROLE_COL(s, JP_COL_CREATED_AT), " < ", NULL));
        jp_q_int(&q, a->cutoff);
        jp_q_sql(&q, ")");
    }
    jp_q_sql(&q, ")");
    return rowset_select(s, &q, a->out);
}

int jp_store_stale(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t cutoff,
                   jp_rowset *out, const char **err)
{
    jp_query_arg a = {.cutoff = cutoff, .out = out};
    memset(out, 0, sizeof(*out));
    return jp_sql_run(p, db, cfg, JP_LABEL, op_stale, &a, err);
}

static int op_audit_list(jp_sql *s, void *varg)
{
    static const char *const names[] = {"id",         "at",        "event",   "iss",   "sub",
                                        "account_id", "client_ip", "corr_id", "detail"};
    jp_query_arg *a = varg;
    jp_q q;
    apr_array_header_t *rows;
    if (!s->cfg->audit_table || !*s->cfg->audit_table)
        return JP_STORE_UNSUPPORTED;
    jp_q_init(&q, s->p);
    jp_q_sql(&q,
             apr_pstrcat(s->p,
                         "SELECT id, at, event, iss, sub, account_id, client_ip, corr_id, detail"
                         " FROM ",
                         s->cfg->audit_table, " WHERE at >= ", NULL));
    jp_q_int(&q, a->cutoff);
    if (a->id > 0) {
        jp_q_sql(&q, " AND account_id = ");
        jp_q_int(&q, a->id);
    }
    jp_q_sql(&q, " ORDER BY id");
    if (jp_sql_select(s, &q, &rows, NULL))
        return JP_STORE_ERROR;
    a->out->ncols = 9;
    a->out->names = apr_pmemdup(s->p, names, sizeof(names));
    a->out->rows = rows;
    return JP_STORE_OK;
}

int jp_store_audit_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t since,
                        int64_t account_id, jp_rowset *out, const char **err)
{
    jp_query_arg a = {.cutoff = since, .id = account_id, .out = out};
    memset(out, 0, sizeof(*out));
    return jp_sql_run(p, db, cfg, JP_LABEL, op_audit_list, &a, err);
}

typedef struct {
    const jp_new_account *a;
    const jp_actor *who;
    apr_int64_t id;
} jp_add_arg;

static int op_add(jp_sql *s, void *varg)
{
    jp_add_arg *x = varg;
    const jp_new_account *a = x->a;
    const char *status = a->status ? a->status : "active";
    const char **row = NULL;
    apr_array_header_t *rows;
    apr_int64_t now = now_sec();
    jp_q q, vals;
    json_t *detail, *set;
    static const struct {
        int role;
        size_t off;
    } attrs[] = {{JP_COL_USERNAME, offsetof(jp_new_account, username)},
                 {JP_COL_EMAIL, offsetof(jp_new_account, email)},
                 {JP_COL_DISPLAY_NAME, offsetof(jp_new_account, display_name)}};
    int i;

    if (strcmp(status, "active") && strcmp(status, "pending") && strcmp(status, "disabled"))
        return JP_STORE_BAD_STATE;
    if (strcmp(status, "active") && !HAS_ROLE(s, JP_COL_STATUS))
        return JP_STORE_UNSUPPORTED;
    for (i = 0; i < 3; i++)
        if (*(const char *const *)((const char *)a + attrs[i].off) && !HAS_ROLE(s, attrs[i].role))
            return JP_STORE_UNSUPPORTED;
    if (jp_sql_begin(s))
        return JP_STORE_ERROR;
    if (a->iss && a->sub) {
        if (find_by_key(s, a->iss, a->sub, &row))
            goto fail;
    } else {
        if (find_unlinked_by_email(s, a->email, &rows))
            goto fail;
        if (rows->nelts)
            row = ((const char ***)rows->elts)[0];
    }
    if (row) {
        x->id = row_id(s, row);
        jp_sql_rollback(s);
        return JP_STORE_CONFLICT;
    }

    set = json_object();
    jp_q_init(&q, s->p);
    jp_q_init(&vals, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (", ROLE_COL(s, JP_COL_ISS),
                             ", ", ROLE_COL(s, JP_COL_SUB), NULL));
    jp_q_sql(&vals, ") VALUES (");
    jp_q_str(&vals, a->iss && a->sub ? a->iss : NULL);
    jp_q_sql(&vals, ", ");
    jp_q_str(&vals, a->iss && a->sub ? a->sub : NULL);
    for (i = 0; i < 3; i++) {
        const char *v = *(const char *const *)((const char *)a + attrs[i].off);
        if (!HAS_ROLE(s, attrs[i].role))
            continue;
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, attrs[i].role), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, v);
        if (v)
            json_object_set_new(set, ROLE_COL(s, attrs[i].role), jp_detail_str(s->p, v));
    }
    if (HAS_ROLE(s, JP_COL_STATUS)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_STATUS), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, status);
    }
    for (i = JP_COL_CREATED_AT; i <= JP_COL_UPDATED_AT; i++)
        if (HAS_ROLE(s, i)) {
            jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, i), NULL));
            jp_q_sql(&vals, ", ");
            jp_q_int(&vals, now);
        }
    if (HAS_ROLE(s, JP_COL_LOGIN_COUNT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_LOGIN_COUNT), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_int(&vals, 0);
    }
    if (HAS_ROLE(s, JP_COL_SOURCE)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_SOURCE), NULL));
        jp_q_sql(&vals, ", ");
        jp_q_str(&vals, x->who && x->who->source ? x->who->source : "admin");
    }
    jp_q_sql(&vals, apr_pstrcat(s->p, ") RETURNING ", ROLE_COL(s, JP_COL_ID), NULL));
    jp_q_append(&q, &vals);
    if (jp_sql_first(s, &q, &row) || !row || !row[0]) {
        json_decref(set);
        jp_sql_fail(s, "insert returned no id");
        goto fail;
    }
    x->id = apr_atoi64(row[0]);

    detail = json_object();
    jp_detail_actor(s->p, x->who, "admin", detail);
    if (HAS_ROLE(s, JP_COL_STATUS))
        json_object_set_new(detail, "status", json_string(status));
    json_object_set_new(detail, "set", set);
    if (jp_sql_audit_change(s, now, "create", a->iss && a->sub ? a->iss : NULL,
                            a->iss && a->sub ? a->sub : NULL, x->id, x->who, detail) ||
        jp_sql_commit(s))
        goto fail;
    return JP_STORE_OK;
fail:
    jp_sql_rollback(s);
    return JP_STORE_ERROR;
}

int jp_store_add(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_new_account *a,
                 const jp_actor *who, int64_t *id, const char **err)
{
    jp_add_arg x;
    int rc;
    if (err)
        *err = NULL;
    if (id)
        *id = 0;
    if (!a || (!(a->iss && *a->iss && a->sub && *a->sub) && !(a->email && *a->email)) ||
        (!a->iss != !a->sub)) {
        if (err)
            *err = "give an email, or both iss and sub";
        return JP_STORE_ERROR;
    }
    x.a = a;
    x.who = who;
    x.id = 0;
    rc = jp_sql_run(p, db, cfg, JP_LABEL, op_add, &x, err);
    if (id)
        *id = x.id;
    return rc;
}

typedef struct {
    apr_int64_t id;
    const char *const *from;
    const char *to, *event, *reason;
    const jp_actor *who;
} jp_status_arg;

static int op_set_status(jp_sql *s, void *varg)
{
    jp_status_arg *a = varg;
    const char **row;
    const char *cur;
    apr_int64_t now = now_sec();
    jp_q q;
    json_t *detail;
    int ok, i;

    if (!HAS_ROLE(s, JP_COL_STATUS))
        return JP_STORE_UNSUPPORTED;
    if (jp_sql_begin(s))
        return JP_STORE_ERROR;
    if (find_by_id(s, a->id, &row))
        goto fail;
    if (!row) {
        jp_sql_rollback(s);
        return JP_STORE_NOT_FOUND;
    }
    cur = row_status(s, row);
    ok = !a->from;
    for (i = 0; a->from && a->from[i]; i++)
        if (!strcmp(a->from[i], cur))
            ok = 1;
    if (!ok || !strcmp(cur, a->to)) {
        jp_sql_rollback(s);
        return JP_STORE_BAD_STATE;
    }
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", ROLE_COL(s, JP_COL_STATUS),
                             " = ", NULL));
    jp_q_str(&q, a->to);
    if (HAS_ROLE(s, JP_COL_UPDATED_AT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_UPDATED_AT), " = ", NULL));
        jp_q_int(&q, now);
    }
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, a->id);
    if (jp_sql_exec(s, &q, NULL))
        goto fail;
    detail = json_object();
    jp_detail_actor(s->p, a->who, "admin", detail);
    json_object_set_new(detail, "from", json_string(cur));
    json_object_set_new(detail, "to", jp_detail_str(s->p, a->to));
    if (a->reason)
        json_object_set_new(detail, "reason", jp_detail_str(s->p, a->reason));
    if (jp_sql_audit_change(s, now, a->event ? a->event : "status", ROW_VAL(s, row, JP_COL_ISS),
                            ROW_VAL(s, row, JP_COL_SUB), a->id, a->who, detail) ||
        jp_sql_commit(s))
        goto fail;
    return JP_STORE_OK;
fail:
    jp_sql_rollback(s);
    return JP_STORE_ERROR;
}

int jp_store_set_status(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                        const char *const *from, const char *to, const char *event,
                        const jp_actor *who, const char *reason, const char **err)
{
    jp_status_arg a;
    if (err)
        *err = NULL;
    if (!to || (strcmp(to, "active") && strcmp(to, "pending") && strcmp(to, "disabled"))) {
        if (err)
            *err = "status must be active, pending or disabled";
        return JP_STORE_ERROR;
    }
    a.id = id;
    a.from = from;
    a.to = to;
    a.event = event;
    a.reason = reason;
    a.who = who;
    return jp_sql_run(p, db, cfg, JP_LABEL, op_set_status, &a, err);
}
