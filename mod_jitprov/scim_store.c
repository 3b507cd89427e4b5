/* SCIM's SQL over the account table.
 *
 * Same rules as store.c: statement text is built only from identifiers that
 * jp_store_cfg_check() accepted, values are always bound, and statements are
 * prepared lazily on the connection they run on (labels jitprov_scim_<hash of
 * the text>), so two vhosts with different tables never share one and a
 * missing table fails only the requests that need it. Writes are one
 * transaction with their audit row (jp_audit_ex on the same connection), so a
 * change is never without its trace. userName uniqueness is checked inside
 * that transaction: SQLite's BEGIN IMMEDIATE serializes writers, and on
 * PostgreSQL a transaction-scoped advisory lock serializes SCIM writers. */

#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <apr_md5.h>
#include <apr_time.h>
#include <apr_general.h>

#include "scim_store.h"

#define MAX_ARGS 24
#define DETAIL_MAX 256                     /* longest value quoted in an audit detail */
#define PG_LOCK_TIMEOUT "2s"               /* as store.c: never hang a worker on a lock */
#define PG_SCIM_LOCK "7650899751277867373" /* advisory lock key of SCIM writes */

/* Roles SCIM reads, in select-list order. */
static const int roles[] = {JP_COL_ID,         JP_COL_ISS,          JP_COL_SUB,    JP_COL_USERNAME,
                            JP_COL_EMAIL,      JP_COL_DISPLAY_NAME, JP_COL_GROUPS, JP_COL_STATUS,
                            JP_COL_CREATED_AT, JP_COL_UPDATED_AT};
#define NROLES ((int)(sizeof(roles) / sizeof(roles[0])))

typedef struct {
    apr_pool_t *p;
    jp_db *db;
    const jp_store_cfg *cfg;
    int pg;
    const char *list;       /* select list */
    int idx[JP_COL__COUNT]; /* role -> column in a row, -1 when absent */
    const char *err;
    int busy;
} sq;

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *parts;
    const void *arg[MAX_ARGS];
    int nargs;
} qb;

#define COL(s, r) ((s)->cfg->col[r])
#define HAS(s, r) ((s)->cfg->col[r] != NULL)

static void q_init(qb *q, apr_pool_t *p)
{
    q->p = p;
    q->parts = apr_array_make(p, 16, sizeof(const char *));
    q->nargs = 0;
}

static void q_sql(qb *q, const char *s)
{
    *(const char **)apr_array_push(q->parts) = s;
}

static void q_str(qb *q, const char *v)
{
    if (q->nargs >= MAX_ARGS)
        abort(); /* a fixed number per statement: a bug, not input */
    q_sql(q, "%s");
    q->arg[q->nargs++] = v;
}

static void q_int(qb *q, apr_int64_t v)
{
    apr_int64_t *x = apr_palloc(q->p, sizeof(*x));
    if (q->nargs >= MAX_ARGS)
        abort();
    *x = v;
    q_sql(q, "%lld");
    q->arg[q->nargs++] = x;
}

static apr_int64_t now_sec(void)
{
    return (apr_int64_t)apr_time_sec(apr_time_now());
}

/* ---- connection, errors ---- */

static int sq_init(sq *s, apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg)
{
    const char *d = jp_store_dialect(db), *bad;
    apr_array_header_t *cols;
    int i;
    memset(s, 0, sizeof(*s));
    s->p = p;
    s->db = db;
    s->cfg = cfg;
    if (!d || !db->handle || !db->pool) {
        s->err = d ? "no database connection" : "unsupported DBDriver (use sqlite3 or pgsql)";
        return -1;
    }
    if ((bad = jp_store_cfg_check(p, cfg)) || (bad = jp_scim_store_check(cfg))) {
        s->err = bad;
        return -1;
    }
    s->pg = !strcmp(d, "pgsql");
    if (!db->prepared)
        db->prepared = apr_hash_make(db->pool);
    cols = apr_array_make(p, NROLES, sizeof(const char *));
    for (i = 0; i < JP_COL__COUNT; i++)
        s->idx[i] = -1;
    for (i = 0; i < NROLES; i++) {
        if (!HAS(s, roles[i]))
            continue;
        s->idx[roles[i]] = cols->nelts;
        *(const char **)apr_array_push(cols) = COL(s, roles[i]);
    }
    s->list = apr_array_pstrcat(p, cols, ',');
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

static void fail_msg(sq *s, const char *msg)
{
    char *m;
    size_t i;
    if (s->err)
        return;
    m = apr_pstrdup(s->p, msg && *msg ? msg : "database error");
    for (i = 0; m[i]; i++)
        if (m[i] == '\n' || m[i] == '\r' || m[i] == '\t')
            m[i] = ' ';
    s->err = m;
    s->busy = contains_ci(m, "locked") || contains_ci(m, "busy") || contains_ci(m, "deadlock") ||
              contains_ci(m, "could not serialize") || contains_ci(m, "lock timeout");
}

static void fail_rv(sq *s, int rv)
{
    fail_msg(s, apr_dbd_error(s->db->driver, s->db->handle, rv));
}

static const char *label_for(apr_pool_t *p, const char *sql)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[APR_MD5_DIGESTSIZE];
    char *l = apr_palloc(p, 13 + 16 + 1);
    int i;
    /* A name for our own SQL text, not a security hash; lowercase because
     * PostgreSQL folds the unquoted PREPARE name. */
    apr_md5(d, sql, strlen(sql));
    memcpy(l, "jitprov_scim_", 13);
    for (i = 0; i < 8; i++) {
        l[13 + 2 * i] = hex[d[i] >> 4];
        l[14 + 2 * i] = hex[d[i] & 15];
    }
    l[29] = '\0';
    return l;
}

/* Forgets this file's statements on the connection: SQLite's legacy prepare
 * leaves them failing for good after a schema change (jitprov-admin init
 * adding a column while httpd runs). They are prepared again on next use. */
static void forget_statements(sq *s)
{
    apr_hash_index_t *hi;
    for (hi = apr_hash_first(s->p, s->db->prepared); hi; hi = apr_hash_next(hi)) {
        const void *key;
        apr_hash_this(hi, &key, NULL, NULL);
        if (!strncmp((const char *)key, "jitprov_scim_", 13))
            apr_hash_set(s->db->prepared, key, APR_HASH_KEY_STRING, NULL);
    }
}

static apr_dbd_prepared_t *prep(sq *s, const char *sql)
{
    const char *label = label_for(s->p, sql);
    apr_dbd_prepared_t *st = apr_hash_get(s->db->prepared, label, APR_HASH_KEY_STRING);
    int rv;
    if (st)
        return st;
    label = apr_pstrdup(s->db->pool, label);
    rv = apr_dbd_prepare(s->db->driver, s->db->pool, s->db->handle, sql, label, &st);
    if (rv || !st) {
        fail_rv(s, rv);
        return NULL;
    }
    apr_hash_set(s->db->prepared, label, APR_HASH_KEY_STRING, st);
    return st;
}

/* Rows as arrays of strings copied into s->p; the result is always read to
 * its end (the drivers release it there). */
static int q_select(sq *s, qb *q, apr_array_header_t **rows)
{
    apr_dbd_prepared_t *st;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    int rv, n, i;

    *rows = apr_array_make(s->p, 4, sizeof(const char **));
    if (s->err || !(st = prep(s, apr_array_pstrcat(s->p, q->parts, 0))))
        return -1;
    rv = apr_dbd_pbselect(s->db->driver, s->p, s->db->handle, &res, st, 1, q->arg);
    if (rv || !res) {
        fail_rv(s, rv);
        return -1;
    }
    n = apr_dbd_num_cols(s->db->driver, res);
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

static int q_exec(sq *s, qb *q, int *nrows)
{
    apr_dbd_prepared_t *st;
    int rv, n = 0;
    if (s->err || !(st = prep(s, apr_array_pstrcat(s->p, q->parts, 0))))
        return -1;
    rv = apr_dbd_pbquery(s->db->driver, s->p, s->db->handle, &n, st, q->arg);
    if (rv) {
        fail_rv(s, rv);
        return -1;
    }
    if (nrows)
        *nrows = n;
    return 0;
}

static int plain(sq *s, const char *sql)
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

/* Plain BEGIN/COMMIT, as store.c does (apr_dbd_transaction_* trip over a
 * failed BEGIN in apr-util 1.6). */
static void tx_rollback(sq *s)
{
    int n;
    apr_dbd_query(s->db->driver, s->db->handle, &n, "ROLLBACK");
}

static int tx_begin(sq *s)
{
    qb q;
    apr_array_header_t *rows;
    if (!s->pg)
        return plain(s, "BEGIN IMMEDIATE");
    if (plain(s, "BEGIN") || plain(s, "SET LOCAL lock_timeout = '" PG_LOCK_TIMEOUT "'")) {
        tx_rollback(s);
        return -1;
    }
    q_init(&q, s->p);
    q_sql(&q, "SELECT pg_advisory_xact_lock(" PG_SCIM_LOCK ")");
    if (q_select(s, &q, &rows)) {
        tx_rollback(s);
        return -1;
    }
    return 0;
}

static int tx_commit(sq *s)
{
    if (plain(s, "COMMIT")) {
        tx_rollback(s);
        return -1;
    }
    return 0;
}

static void jitter_sleep(void)
{
    unsigned char b[2] = {0, 0};
    apr_generate_random_bytes(b, sizeof(b));
    apr_sleep(apr_time_from_msec(50 + (((unsigned)b[0] << 8 | b[1]) % 201)));
}

/* One operation, with one more attempt after a lock (after a random pause) or,
 * on SQLite, after any error (stale statements). */
typedef int (*sq_op)(sq *s, void *arg);

static int run(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, sq_op op, void *arg,
               const char **err)
{
    sq s;
    int attempt, rc = JP_STORE_ERROR;
    if (err)
        *err = NULL;
    for (attempt = 0;; attempt++) {
        if (sq_init(&s, p, db, cfg)) {
            if (err)
                *err = s.err;
            return JP_STORE_ERROR;
        }
        rc = op(&s, arg);
        if (!s.err)
            return rc;
        if (attempt > 0 || (!s.busy && s.pg))
            break;
        forget_statements(&s);
        if (s.busy)
            jitter_sleep();
    }
    if (err)
        *err = s.err;
    return s.busy ? JP_STORE_BUSY : JP_STORE_ERROR;
}

/* ---- rows ---- */

static const char *val(sq *s, const char **row, int role)
{
    return s->idx[role] >= 0 ? row[s->idx[role]] : NULL;
}

static int64_t secs(const char *v)
{
    size_t i;
    if (!v || !*v || strlen(v) > 18)
        return 0;
    for (i = 0; v[i]; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0; /* a legacy table's own timestamp format: not shown */
    return (int64_t)apr_atoi64(v);
}

static void row_user(sq *s, const char **row, jp_scim_user *u)
{
    const char *st;
    memset(u, 0, sizeof(*u));
    u->id = val(s, row, JP_COL_ID);
    u->iss = val(s, row, JP_COL_ISS);
    u->sub = val(s, row, JP_COL_SUB);
    u->user_name = val(s, row, JP_COL_USERNAME);
    u->email = val(s, row, JP_COL_EMAIL);
    u->display_name = val(s, row, JP_COL_DISPLAY_NAME);
    u->groups = val(s, row, JP_COL_GROUPS);
    if (HAS(s, JP_COL_STATUS)) {
        /* As store.c: anything unknown (NULL included) counts as disabled. */
        st = val(s, row, JP_COL_STATUS);
        u->status = st && (!strcmp(st, "active") || !strcmp(st, "pending")) ? st : "disabled";
    }
    u->created = secs(val(s, row, JP_COL_CREATED_AT));
    u->modified = secs(val(s, row, JP_COL_UPDATED_AT));
}

/* A positive decimal id, or 0. */
static apr_int64_t parse_id(const char *id)
{
    size_t i;
    if (!id || !*id || strlen(id) > 18)
        return 0;
    for (i = 0; id[i]; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return apr_atoi64(id);
}

static int find_by_id(sq *s, apr_int64_t id, int lock, const char ***row)
{
    qb q;
    apr_array_header_t *rows;
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "SELECT ", s->list, " FROM ", s->cfg->table, " WHERE ",
                          COL(s, JP_COL_ID), " = ", NULL));
    q_int(&q, id);
    if (lock && s->pg)
        q_sql(&q, " FOR UPDATE");
    *row = NULL;
    if (q_select(s, &q, &rows))
        return -1;
    if (rows->nelts)
        *row = ((const char ***)rows->elts)[0];
    return 0;
}

/* 1 when another account (not `except`) has this userName, case-insensitively. */
static int user_name_taken(sq *s, const char *name, apr_int64_t except, int *taken)
{
    qb q;
    apr_array_header_t *rows;
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "SELECT ", COL(s, JP_COL_ID), " FROM ", s->cfg->table,
                          " WHERE lower(", COL(s, JP_COL_USERNAME), ") = lower(", NULL));
    q_str(&q, name);
    q_sql(&q, apr_pstrcat(s->p, ") AND ", COL(s, JP_COL_ID), " <> ", NULL));
    q_int(&q, except);
    q_sql(&q, " LIMIT 1");
    if (q_select(s, &q, &rows))
        return -1;
    *taken = rows->nelts > 0;
    return 0;
}

/* Another account still waiting for its first login with this email would make
 * linking by email ambiguous (store.c then refuses both logins). */
static int email_pending(sq *s, const char *email, apr_int64_t except, int *taken)
{
    qb q;
    apr_array_header_t *rows;
    *taken = 0;
    if (!email || !HAS(s, JP_COL_EMAIL))
        return 0;
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "SELECT ", COL(s, JP_COL_ID), " FROM ", s->cfg->table, " WHERE ",
                          COL(s, JP_COL_ISS), " IS NULL AND ", COL(s, JP_COL_SUB),
                          " IS NULL AND lower(", COL(s, JP_COL_EMAIL), ") = lower(", NULL));
    q_str(&q, email);
    q_sql(&q, apr_pstrcat(s->p, ") AND ", COL(s, JP_COL_ID), " <> ", NULL));
    q_int(&q, except);
    q_sql(&q, " LIMIT 1");
    if (q_select(s, &q, &rows))
        return -1;
    *taken = rows->nelts > 0;
    return 0;
}

/* ---- audit ---- */

static void json_free_text(char *t)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (f)
        f(t);
    else
        free(t);
}

/* A capped JSON string, never invalid UTF-8 (legacy tables may hold Latin-1). */
static json_t *dstr(apr_pool_t *p, const char *v)
{
    json_t *j;
    char *c;
    size_t n, i;
    if (!v)
        return json_null();
    n = strlen(v);
    if (n > DETAIL_MAX) {
        n = DETAIL_MAX;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    c = apr_pstrndup(p, v, n);
    if ((j = json_string(c)))
        return j;
    for (i = 0; c[i]; i++)
        if ((unsigned char)c[i] >= 0x80)
            c[i] = '?';
    return json_string(c);
}

static int audit(sq *s, const char *event, const jp_scim_user *row, apr_int64_t id,
                 const jp_actor *who, json_t *detail)
{
    jp_audit_entry e;
    char *d;
    const char *err = NULL;
    int rc;

    json_object_set_new(detail, "source", json_string(who && who->source ? who->source : "scim"));
    if (who && who->by)
        json_object_set_new(detail, "by", dstr(s->p, who->by));
    d = json_dumps(detail, JSON_COMPACT);
    json_decref(detail);
    memset(&e, 0, sizeof(e));
    e.event = event;
    e.iss = row ? row->iss : NULL;
    e.sub = row ? row->sub : NULL;
    e.account_id = id;
    e.client_ip = who ? who->client_ip : NULL;
    e.corr_id = who ? who->corr_id : NULL;
    e.detail = d ? apr_pstrdup(s->p, d) : NULL;
    if (d)
        json_free_text(d);
    if (!e.detail) {
        fail_msg(s, "out of memory writing the audit detail");
        return -1;
    }
    rc = jp_audit_ex(s->p, s->db, s->cfg, &e, &err);
    if (rc) {
        fail_msg(s, err ? err : "audit row not written");
        /* jp_audit_ex may already have retried a lock: report it as one. */
        if (err && (contains_ci(err, "locked") || contains_ci(err, "busy")))
            s->busy = 1;
    }
    return rc;
}

/* ---- public operations ---- */

const char *jp_scim_store_check(const jp_store_cfg *cfg)
{
    if (!cfg->col[JP_COL_USERNAME])
        return "SCIM needs a username column for userName (JITProvAccountColumn username)";
    return NULL;
}

typedef struct {
    const char *id;
    const jp_scim_filter *f;
    apr_int64_t start, count;
    jp_scim_user *out;
    jp_scim_user *users;
    int n;
    apr_int64_t total;
    const jp_scim_input *in;
    const jp_actor *who;
    jp_scim_edit_fn fn;
    void *ctx;
    int changed;
    const char *why; /* conflict reason */
} op_arg;

static int op_get(sq *s, void *varg)
{
    op_arg *a = varg;
    const char **row;
    apr_int64_t id = parse_id(a->id);
    if (id <= 0)
        return JP_STORE_NOT_FOUND;
    if (find_by_id(s, id, 0, &row))
        return JP_STORE_ERROR;
    if (!row)
        return JP_STORE_NOT_FOUND;
    row_user(s, row, a->out);
    return JP_STORE_OK;
}

int jp_scim_store_get(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                      jp_scim_user *out, const char **err)
{
    op_arg a;
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    a.id = id;
    a.out = out;
    return run(p, db, cfg, op_get, &a, err);
}

/* WHERE clause of a filter; 1 when nothing can match (no query needed). */
static int where(sq *s, qb *q, const jp_scim_filter *f)
{
    int role;
    if (!f)
        return 0;
    switch (f->attr) {
    case JP_SCIM_FA_ID: {
        apr_int64_t id = parse_id(f->value);
        if (id <= 0)
            return 1;
        q_sql(q, apr_pstrcat(s->p, " WHERE ", COL(s, JP_COL_ID), " = ", NULL));
        q_int(q, id);
        return 0;
    }
    case JP_SCIM_FA_ACTIVE:
        if (!HAS(s, JP_COL_STATUS))
            return !f->bval; /* every row is active */
        if (f->bval)
            q_sql(q, apr_pstrcat(s->p, " WHERE ", COL(s, JP_COL_STATUS), " = 'active'", NULL));
        else
            q_sql(q, apr_pstrcat(s->p, " WHERE (", COL(s, JP_COL_STATUS), " IS NULL OR ",
                                 COL(s, JP_COL_STATUS), " <> 'active')", NULL));
        return 0;
    case JP_SCIM_FA_USER_NAME:
        role = JP_COL_USERNAME;
        break;
    case JP_SCIM_FA_EMAIL:
        role = JP_COL_EMAIL;
        break;
    case JP_SCIM_FA_DISPLAY_NAME:
        role = JP_COL_DISPLAY_NAME;
        break;
    default:
        return 1;
    }
    if (!HAS(s, role) || !f->value)
        return 1;
    /* userName, emails and displayName are caseExact false (RFC 7643 4.1). */
    q_sql(q, apr_pstrcat(s->p, " WHERE lower(", COL(s, role), ") = lower(", NULL));
    q_str(q, f->value);
    q_sql(q, ")");
    return 0;
}

static int op_list(sq *s, void *varg)
{
    op_arg *a = varg;
    qb q;
    apr_array_header_t *rows;
    int i;

    a->n = 0;
    a->total = 0;
    a->users = NULL;
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "SELECT count(*) FROM ", s->cfg->table, NULL));
    if (where(s, &q, a->f))
        return JP_STORE_OK;
    if (q_select(s, &q, &rows))
        return JP_STORE_ERROR;
    if (rows->nelts && ((const char ***)rows->elts)[0][0])
        a->total = apr_atoi64(((const char ***)rows->elts)[0][0]);
    if (a->count <= 0 || a->total < a->start)
        return JP_STORE_OK;
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "SELECT ", s->list, " FROM ", s->cfg->table, NULL));
    where(s, &q, a->f);
    q_sql(&q, apr_pstrcat(s->p, " ORDER BY ", COL(s, JP_COL_ID), " LIMIT ", NULL));
    q_int(&q, a->count);
    q_sql(&q, " OFFSET ");
    q_int(&q, a->start - 1);
    if (q_select(s, &q, &rows))
        return JP_STORE_ERROR;
    a->users = apr_pcalloc(s->p, sizeof(jp_scim_user) * (rows->nelts ? rows->nelts : 1));
    for (i = 0; i < rows->nelts; i++)
        row_user(s, ((const char ***)rows->elts)[i], &a->users[i]);
    a->n = rows->nelts;
    return JP_STORE_OK;
}

int jp_scim_store_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_scim_filter *f,
                       int64_t start, int64_t count, jp_scim_user **users, int *n, int64_t *total,
                       const char **err)
{
    op_arg a;
    int rc;
    memset(&a, 0, sizeof(a));
    a.f = f;
    a.start = start < 1 ? 1 : start;
    a.count = count < 0 ? 0 : count;
    rc = run(p, db, cfg, op_list, &a, err);
    *users = a.users;
    *n = rc == JP_STORE_OK ? a.n : 0;
    *total = rc == JP_STORE_OK ? a.total : 0;
    return rc;
}

static int op_create(sq *s, void *varg)
{
    op_arg *a = varg;
    const jp_scim_input *in = a->in;
    const char *status = (in->fields & JP_SCIM_F_ACTIVE) && !in->active ? "disabled" : "active";
    apr_int64_t now = now_sec(), id;
    apr_array_header_t *rows;
    json_t *detail, *set;
    const char **row;
    qb q, v;
    int taken, i;
    static const int stamps[] = {JP_COL_CREATED_AT, JP_COL_UPDATED_AT};

    if (!strcmp(status, "disabled") && !HAS(s, JP_COL_STATUS)) {
        a->why = "the account table has no status column (JITProvAccountColumn status): an "
                 "inactive account cannot be created";
        return JP_STORE_UNSUPPORTED;
    }
    if (tx_begin(s))
        return JP_STORE_ERROR;
    if (user_name_taken(s, in->user_name, 0, &taken))
        goto fail;
    if (taken) {
        tx_rollback(s);
        a->why = "userName is already in use";
        return JP_STORE_CONFLICT;
    }
    if (email_pending(s, in->email, 0, &taken))
        goto fail;
    if (taken) {
        tx_rollback(s);
        a->why = "another account that has not logged in yet has this email address, so the "
                 "first login could not tell them apart";
        return JP_STORE_CONFLICT;
    }

    set = json_object();
    q_init(&q, s->p);
    q_init(&v, s->p);
    q_sql(&q,
          apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (", COL(s, JP_COL_USERNAME), NULL));
    q_sql(&v, ") VALUES (");
    q_str(&v, in->user_name);
    json_object_set_new(set, COL(s, JP_COL_USERNAME), dstr(s->p, in->user_name));
    if (HAS(s, JP_COL_EMAIL)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_EMAIL), NULL));
        q_sql(&v, ", ");
        q_str(&v, in->email);
        if (in->email)
            json_object_set_new(set, COL(s, JP_COL_EMAIL), dstr(s->p, in->email));
    }
    if (HAS(s, JP_COL_DISPLAY_NAME)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_DISPLAY_NAME), NULL));
        q_sql(&v, ", ");
        q_str(&v, in->display_name);
        if (in->display_name)
            json_object_set_new(set, COL(s, JP_COL_DISPLAY_NAME), dstr(s->p, in->display_name));
    }
    if (HAS(s, JP_COL_STATUS)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_STATUS), NULL));
        q_sql(&v, ", ");
        q_str(&v, status);
    }
    for (i = 0; i < 2; i++)
        if (HAS(s, stamps[i])) {
            q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, stamps[i]), NULL));
            q_sql(&v, ", ");
            q_int(&v, now);
        }
    if (HAS(s, JP_COL_LOGIN_COUNT)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_LOGIN_COUNT), NULL));
        q_sql(&v, ", ");
        q_int(&v, 0);
    }
    if (HAS(s, JP_COL_SOURCE)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_SOURCE), NULL));
        q_sql(&v, ", ");
        q_str(&v, "scim");
    }
    q_sql(&v, apr_pstrcat(s->p, ") RETURNING ", COL(s, JP_COL_ID), NULL));
    q_sql(&q, apr_array_pstrcat(s->p, v.parts, 0));
    memcpy(q.arg, v.arg, sizeof(v.arg[0]) * v.nargs);
    q.nargs = v.nargs;
    if (q_select(s, &q, &rows) || rows->nelts != 1 || !((const char ***)rows->elts)[0][0]) {
        json_decref(set);
        fail_msg(s, "insert returned no id");
        goto fail;
    }
    id = apr_atoi64(((const char ***)rows->elts)[0][0]);

    detail = json_object();
    if (HAS(s, JP_COL_STATUS))
        json_object_set_new(detail, "status", json_string(status));
    json_object_set_new(detail, "set", set);
    if (in->external_id)
        json_object_set_new(detail, "externalId", dstr(s->p, in->external_id));
    if (audit(s, "scim_create", NULL, id, a->who, detail))
        goto fail;
    if (find_by_id(s, id, 0, &row) || !row) {
        fail_msg(s, "new account row not found");
        goto fail;
    }
    row_user(s, row, a->out);
    if (tx_commit(s))
        goto fail;
    return JP_STORE_OK;
fail:
    tx_rollback(s);
    return JP_STORE_ERROR;
}

int jp_scim_store_create(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_scim_input *in,
                         const jp_actor *who, jp_scim_user *out, const char **err)
{
    op_arg a;
    int rc;
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    if (!in || !in->user_name || !*in->user_name) {
        if (err)
            *err = "userName is required";
        return JP_STORE_ERROR;
    }
    a.in = in;
    a.who = who;
    a.out = out;
    rc = run(p, db, cfg, op_create, &a, err);
    if (err && a.why && (rc == JP_STORE_CONFLICT || rc == JP_STORE_UNSUPPORTED))
        *err = a.why;
    return rc;
}

static int differs(const char *a, const char *b)
{
    return (!a != !b) || (a && strcmp(a, b));
}

static void note_change(sq *s, json_t *changed, const char *col, const char *old, const char *nw)
{
    json_t *ch = json_object();
    json_object_set_new(ch, "old", dstr(s->p, old));
    json_object_set_new(ch, "new", dstr(s->p, nw));
    json_object_set_new(changed, col, ch);
}

static int op_modify(sq *s, void *varg)
{
    op_arg *a = varg;
    apr_int64_t id = parse_id(a->id), now = now_sec();
    const char **row;
    jp_scim_user cur, next;
    json_t *changed, *detail;
    qb q;
    int taken, nset = 0, i;
    const char *event = "scim_update";
    static const struct {
        int role;
        size_t off;
    } cols[] = {{JP_COL_USERNAME, offsetof(jp_scim_user, user_name)},
                {JP_COL_EMAIL, offsetof(jp_scim_user, email)},
                {JP_COL_DISPLAY_NAME, offsetof(jp_scim_user, display_name)},
                {JP_COL_STATUS, offsetof(jp_scim_user, status)}};

    a->changed = 0;
    if (id <= 0)
        return JP_STORE_NOT_FOUND;
    if (tx_begin(s))
        return JP_STORE_ERROR;
    if (find_by_id(s, id, 1, &row))
        goto fail;
    if (!row) {
        tx_rollback(s);
        return JP_STORE_NOT_FOUND;
    }
    row_user(s, row, &cur);
    next = cur;
    if (a->fn(a->ctx, s->p, &cur, &next)) {
        tx_rollback(s);
        return JP_SCIM_REJECTED;
    }

    changed = json_object();
    q_init(&q, s->p);
    q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", NULL));
    for (i = 0; i < 4; i++) {
        const char *o = *(const char *const *)((const char *)&cur + cols[i].off);
        const char *nw = *(const char *const *)((const char *)&next + cols[i].off);
        if (!differs(o, nw))
            continue;
        if (!HAS(s, cols[i].role)) {
            if (cols[i].role == JP_COL_STATUS) {
                json_decref(changed);
                tx_rollback(s);
                a->why = "the account table has no status column (JITProvAccountColumn status)";
                return JP_STORE_UNSUPPORTED;
            }
            continue; /* no column: nothing to keep */
        }
        if (cols[i].role == JP_COL_USERNAME) {
            if (!nw || !*nw) {
                json_decref(changed);
                tx_rollback(s);
                a->why = "userName is required";
                return JP_STORE_BAD_STATE;
            }
            if (user_name_taken(s, nw, id, &taken)) {
                json_decref(changed);
                goto fail;
            }
            if (taken) {
                json_decref(changed);
                tx_rollback(s);
                a->why = "userName is already in use";
                return JP_STORE_CONFLICT;
            }
        }
        if (cols[i].role == JP_COL_EMAIL && !cur.iss && !cur.sub) {
            if (email_pending(s, nw, id, &taken)) {
                json_decref(changed);
                goto fail;
            }
            if (taken) {
                json_decref(changed);
                tx_rollback(s);
                a->why = "another account that has not logged in yet has this email address";
                return JP_STORE_CONFLICT;
            }
        }
        if (cols[i].role == JP_COL_STATUS && nw && !strcmp(nw, "disabled"))
            event = "scim_deactivate";
        q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", COL(s, cols[i].role), " = ", NULL));
        q_str(&q, nw);
        note_change(s, changed, COL(s, cols[i].role), o, nw);
    }
    if (!nset) {
        json_decref(changed);
        tx_rollback(s);
        *a->out = cur;
        return JP_STORE_OK;
    }
    if (HAS(s, JP_COL_UPDATED_AT)) {
        q_sql(&q, apr_pstrcat(s->p, ", ", COL(s, JP_COL_UPDATED_AT), " = ", NULL));
        q_int(&q, now);
    }
    q_sql(&q, apr_pstrcat(s->p, " WHERE ", COL(s, JP_COL_ID), " = ", NULL));
    q_int(&q, id);
    if (q_exec(s, &q, NULL)) {
        json_decref(changed);
        goto fail;
    }
    detail = json_object();
    json_object_set_new(detail, "changed", changed);
    if (audit(s, event, &cur, id, a->who, detail))
        goto fail;
    if (find_by_id(s, id, 0, &row) || !row) {
        fail_msg(s, "account row vanished during the update");
        goto fail;
    }
    row_user(s, row, a->out);
    if (tx_commit(s))
        goto fail;
    a->changed = 1;
    return JP_STORE_OK;
fail:
    tx_rollback(s);
    return JP_STORE_ERROR;
}

int jp_scim_store_modify(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                         jp_scim_edit_fn fn, void *ctx, const jp_actor *who, jp_scim_user *out,
                         int *changed, const char **err)
{
    op_arg a;
    int rc;
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    a.id = id;
    a.fn = fn;
    a.ctx = ctx;
    a.who = who;
    a.out = out;
    rc = run(p, db, cfg, op_modify, &a, err);
    if (changed)
        *changed = rc == JP_STORE_OK && a.changed;
    if (err && a.why &&
        (rc == JP_STORE_CONFLICT || rc == JP_STORE_UNSUPPORTED || rc == JP_STORE_BAD_STATE))
        *err = a.why;
    return rc;
}

static int edit_disable(void *ctx, apr_pool_t *p, const jp_scim_user *cur, jp_scim_user *next)
{
    next->status = "disabled";
    return 0;
}

int jp_scim_store_deactivate(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                             const jp_actor *who, jp_scim_user *out, int *changed, const char **err)
{
    if (!cfg->col[JP_COL_STATUS]) {
        memset(out, 0, sizeof(*out));
        if (changed)
            *changed = 0;
        if (err)
            *err = "the account table has no status column (JITProvAccountColumn status), so an "
                   "account cannot be deactivated here";
        return JP_STORE_UNSUPPORTED;
    }
    return jp_scim_store_modify(p, db, cfg, id, edit_disable, NULL, who, out, changed, err);
}
