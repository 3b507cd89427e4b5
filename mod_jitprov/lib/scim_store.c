/* SCIM's SQL over the account table.
 *
 * Same rules and same plumbing as store_*.c (store_sql.h): statement text is
 * built only from identifiers that jp_store_cfg_check() accepted, values are
 * always bound, and statements are prepared lazily on the connection they run
 * on (labels jitprov_scim_<hash of the text>), so two vhosts with different
 * tables never share one and a missing table fails only the requests that
 * need it. Writes are one transaction with their audit row, so a change is
 * never without its trace. userName uniqueness is checked inside that
 * transaction: SQLite's BEGIN IMMEDIATE serializes writers, and on PostgreSQL
 * a transaction-scoped advisory lock serializes SCIM writers. */

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "scim_store.h"
#include "store_sql.h"

#define LABEL "jitprov_scim_"
#define PG_SCIM_LOCK "7650899751277867373" /* advisory lock key of SCIM writes */

/* ---- connection ---- */

/* store_sql.c's transaction, plus the advisory lock of SCIM writers on pgsql. */
static int tx_begin(jp_sql *s)
{
    jp_q q;
    apr_array_header_t *rows;
    if (jp_sql_begin(s))
        return -1;
    if (!s->pg)
        return 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, "SELECT pg_advisory_xact_lock(" PG_SCIM_LOCK ")");
    if (jp_sql_select(s, &q, &rows, NULL)) {
        jp_sql_rollback(s);
        return -1;
    }
    return 0;
}

/* One operation on a table SCIM can serve, with store_sql.c's one more attempt
 * when that may help. */
static int run(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, jp_sql_op op, void *arg,
               const char **err)
{
    const char *bad;
    if ((bad = jp_store_cfg_check(p, cfg)) || (bad = jp_scim_store_check(cfg))) {
        if (err)
            *err = bad;
        return JP_STORE_ERROR;
    }
    return jp_sql_run(p, db, cfg, LABEL, op, arg, err);
}

/* ---- rows ---- */

/* The columns SCIM reads: every role column, in role order. The shape lists
 * the role columns first and in that order, so ROW_VAL reads these rows too. */
static const char *user_cols(jp_sql *s)
{
    apr_array_header_t *cols = apr_array_make(s->p, JP_COL__COUNT, sizeof(const char *));
    int r;
    for (r = 0; r < JP_COL__COUNT; r++)
        if (HAS_ROLE(s, r))
            *(const char **)apr_array_push(cols) = ROLE_COL(s, r);
    return apr_array_pstrcat(s->p, cols, ',');
}

/* Plain decimal digits (at most 18) as a number, else 0: ids from URLs and
 * filters, and timestamps (a legacy table's own format is not shown). */
static apr_int64_t decimal(const char *v)
{
    size_t i;
    if (!v || !*v || strlen(v) > 18)
        return 0;
    for (i = 0; v[i]; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return apr_atoi64(v);
}

static void row_user(jp_sql *s, const char **row, jp_scim_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = ROW_VAL(s, row, JP_COL_ID);
    u->iss = ROW_VAL(s, row, JP_COL_ISS);
    u->sub = ROW_VAL(s, row, JP_COL_SUB);
    u->user_name = ROW_VAL(s, row, JP_COL_USERNAME);
    u->email = ROW_VAL(s, row, JP_COL_EMAIL);
    u->display_name = ROW_VAL(s, row, JP_COL_DISPLAY_NAME);
    u->groups = ROW_VAL(s, row, JP_COL_GROUPS);
    u->external_id = ROW_VAL(s, row, JP_COL_EXTERNAL_ID);
    u->given_name = ROW_VAL(s, row, JP_COL_GIVEN_NAME);
    u->family_name = ROW_VAL(s, row, JP_COL_FAMILY_NAME);
    if (HAS_ROLE(s, JP_COL_STATUS))
        u->status = jp_sql_status(ROW_VAL(s, row, JP_COL_STATUS));
    u->created = decimal(ROW_VAL(s, row, JP_COL_CREATED_AT));
    u->modified = decimal(ROW_VAL(s, row, JP_COL_UPDATED_AT));
}

/* RFC 7644 3.6: a deleted resource answers 404 and is in no query result. The
 * row stays for the audit trail as a tombstone whose userName is
 * JP_SCIM_TOMBSTONE + id (so the name is free again); this condition keeps
 * tombstones out of every SCIM read. */
static const char *live(jp_sql *s)
{
    const char *u = ROLE_COL(s, JP_COL_USERNAME);
    return apr_pstrcat(s->p, "(", u, " IS NULL OR substr(", u, ", 1, ",
                       apr_itoa(s->p, (int)strlen(JP_SCIM_TOMBSTONE)), ") <> '", JP_SCIM_TOMBSTONE,
                       "')", NULL);
}

static int is_tombstone_name(const char *name)
{
    return name && !strncmp(name, JP_SCIM_TOMBSTONE, strlen(JP_SCIM_TOMBSTONE));
}

static int find_by_id(jp_sql *s, apr_int64_t id, int lock, const char ***row)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", user_cols(s), " FROM ", s->cfg->table, " WHERE ",
                             live(s), " AND ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    if (lock && s->pg)
        jp_q_sql(&q, " FOR UPDATE");
    return jp_sql_first(s, &q, row);
}

/* The userName a resource shows (scim_resource.c): the username column, or
 * for JIT rows made without preferred_username the email, else the subject,
 * else the id. Filters and the uniqueness check compare this, not the bare
 * column, so that `userName eq` finds the resource GET showed and a POST of
 * that name is a conflict rather than a second row the IdP would then manage
 * while the person keeps logging in to the first. */
static const char *shown_user_name(jp_sql *s)
{
    const char *e =
        apr_pstrcat(s->p, "COALESCE(NULLIF(", ROLE_COL(s, JP_COL_USERNAME), ", ''), ", NULL);
    if (HAS_ROLE(s, JP_COL_EMAIL))
        e = apr_pstrcat(s->p, e, "NULLIF(", ROLE_COL(s, JP_COL_EMAIL), ", ''), ", NULL);
    if (HAS_ROLE(s, JP_COL_SUB))
        e = apr_pstrcat(s->p, e, "NULLIF(", ROLE_COL(s, JP_COL_SUB), ", ''), ", NULL);
    return apr_pstrcat(s->p, e, "CAST(", ROLE_COL(s, JP_COL_ID), " AS TEXT))", NULL);
}

/* Ends q, "SELECT id ... WHERE ... lower(column) = lower(value": *taken when
 * an account other than `except` matches. */
static int other_match(jp_sql *s, jp_q *q, apr_int64_t except, int *taken)
{
    const char **row;
    jp_q_sql(q, apr_pstrcat(s->p, ") AND ", ROLE_COL(s, JP_COL_ID), " <> ", NULL));
    jp_q_int(q, except);
    jp_q_sql(q, " LIMIT 1");
    if (jp_sql_first(s, q, &row))
        return -1;
    *taken = row != NULL;
    return 0;
}

/* 1 when another account (not `except`) shows this userName, case-insensitively. */
static int user_name_taken(jp_sql *s, const char *name, apr_int64_t except, int *taken)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", ROLE_COL(s, JP_COL_ID), " FROM ", s->cfg->table,
                             " WHERE lower(", shown_user_name(s), ") = lower(", NULL));
    jp_q_str(&q, name);
    return other_match(s, &q, except, taken);
}

/* Another account still waiting for its first login with this email would make
 * linking by email ambiguous (store_prov.c then refuses both logins). */
static int email_pending(jp_sql *s, const char *email, apr_int64_t except, int *taken)
{
    jp_q q;
    *taken = 0;
    if (!email || !HAS_ROLE(s, JP_COL_EMAIL))
        return 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", ROLE_COL(s, JP_COL_ID), " FROM ", s->cfg->table,
                             " WHERE ", jp_sql_unlinked_cond(s), " AND lower(",
                             ROLE_COL(s, JP_COL_EMAIL), ") = lower(", NULL));
    jp_q_str(&q, email);
    return other_match(s, &q, except, taken);
}

/* ---- audit ---- */

static int audit(jp_sql *s, const char *event, const jp_scim_user *row, apr_int64_t id,
                 const jp_actor *who, json_t *detail)
{
    jp_detail_actor(s->p, who, "scim", detail);
    return jp_sql_audit_change(s, 0, event, row ? row->iss : NULL, row ? row->sub : NULL, id, who,
                               detail);
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

static int op_get(jp_sql *s, void *varg)
{
    op_arg *a = varg;
    const char **row;
    apr_int64_t id = decimal(a->id);
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

/* A comparison on a string column, NULL-safe (a missing value is false, not
 * NULL), so `not (...)` matches rows without the attribute as RFC 7644 3.4.2.2
 * expects. ci: caseExact false, both sides lower()ed. No LIKE: SQLite's is
 * case-insensitive and would not do for externalId, and instr/strpos with
 * substr need no escaping of the value. */
static void str_cond(jp_sql *s, jp_q *q, const char *col, int ci, jp_scim_fop op, const char *v)
{
    apr_pool_t *p = s->p;
    const char *c = ci ? apr_pstrcat(p, "lower(", col, ")", NULL) : col;
    const char *val = ci ? "lower(" : "(";
    switch (op) {
    case JP_SCIM_OP_PR:
        jp_q_sql(q, apr_pstrcat(p, "(", col, " IS NOT NULL AND ", col, " <> '')", NULL));
        return;
    case JP_SCIM_OP_NE:
        jp_q_sql(q, apr_pstrcat(p, "(", col, " IS NULL OR ", c, " <> ", val, NULL));
        jp_q_str(q, v);
        jp_q_sql(q, "))");
        return;
    case JP_SCIM_OP_CO:
        jp_q_sql(q, apr_pstrcat(p, "(", col, " IS NOT NULL AND ", s->pg ? "strpos(" : "instr(", c,
                                ", ", val, NULL));
        jp_q_str(q, v);
        jp_q_sql(q, ")) > 0)");
        return;
    case JP_SCIM_OP_SW:
        jp_q_sql(q, apr_pstrcat(p, "(", col, " IS NOT NULL AND substr(", c, ", 1, length(", NULL));
        jp_q_str(q, v);
        jp_q_sql(q, apr_pstrcat(p, ")) = ", val, NULL));
        jp_q_str(q, v);
        jp_q_sql(q, "))");
        return;
    case JP_SCIM_OP_EW:
        jp_q_sql(q,
                 apr_pstrcat(p, "(", col, " IS NOT NULL AND length(", col, ") >= length(", NULL));
        jp_q_str(q, v);
        jp_q_sql(q, apr_pstrcat(p, ") AND substr(", c, ", length(", col, ") - length(", NULL));
        jp_q_str(q, v);
        jp_q_sql(q, apr_pstrcat(p, ") + 1) = ", val, NULL));
        jp_q_str(q, v);
        jp_q_sql(q, "))");
        return;
    case JP_SCIM_OP_EQ:
    default:
        jp_q_sql(q, apr_pstrcat(p, "(", col, " IS NOT NULL AND ", c, " = ", val, NULL));
        jp_q_str(q, v);
        jp_q_sql(q, "))");
        return;
    }
}

/* One comparison. Attributes the table has no column for are absent from
 * every row: only ne matches. */
static void cmp_cond(jp_sql *s, jp_q *q, const jp_scim_filter *f)
{
    int role, want;
    switch (f->attr) {
    case JP_SCIM_FA_ID: {
        apr_int64_t id = decimal(f->value);
        if (f->op == JP_SCIM_OP_PR) {
            jp_q_sql(q, "1 = 1");
        } else if (id <= 0) {
            jp_q_sql(q, f->op == JP_SCIM_OP_NE ? "1 = 1" : "1 = 0");
        } else {
            jp_q_sql(q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ID),
                                    f->op == JP_SCIM_OP_NE ? " <> " : " = ", NULL));
            jp_q_int(q, id);
        }
        return;
    }
    case JP_SCIM_FA_ACTIVE:
        if (f->op == JP_SCIM_OP_PR) {
            jp_q_sql(q, "1 = 1"); /* always returned */
            return;
        }
        want = f->op == JP_SCIM_OP_NE ? !f->bval : f->bval;
        if (!HAS_ROLE(s, JP_COL_STATUS))
            jp_q_sql(q, want ? "1 = 1" : "1 = 0"); /* every row is active */
        else if (want)
            jp_q_sql(q, apr_pstrcat(s->p, "(", ROLE_COL(s, JP_COL_STATUS), " = 'active')", NULL));
        else
            jp_q_sql(q, apr_pstrcat(s->p, "(", ROLE_COL(s, JP_COL_STATUS), " IS NULL OR ",
                                    ROLE_COL(s, JP_COL_STATUS), " <> 'active')", NULL));
        return;
    case JP_SCIM_FA_USER_NAME:
        /* caseExact false (RFC 7643 4.1), on what GET shows. */
        str_cond(s, q, shown_user_name(s), 1, f->op, f->value);
        return;
    case JP_SCIM_FA_EMAIL:
        role = JP_COL_EMAIL;
        break;
    case JP_SCIM_FA_DISPLAY_NAME:
        role = JP_COL_DISPLAY_NAME;
        break;
    case JP_SCIM_FA_GIVEN_NAME:
        role = JP_COL_GIVEN_NAME;
        break;
    case JP_SCIM_FA_FAMILY_NAME:
        role = JP_COL_FAMILY_NAME;
        break;
    case JP_SCIM_FA_EXTERNAL_ID:
    default:
        role = JP_COL_EXTERNAL_ID;
        break;
    }
    if (!HAS_ROLE(s, role)) {
        jp_q_sql(q, f->op == JP_SCIM_OP_NE ? "1 = 1" : "1 = 0");
        return;
    }
    /* userName, emails, displayName and the name parts are caseExact false
     * (RFC 7643 4.1), externalId true. */
    str_cond(s, q, ROLE_COL(s, role), f->attr != JP_SCIM_FA_EXTERNAL_ID, f->op, f->value);
}

/* The filter tree as SQL; its depth and size are bounded by the parser. */
static void cond(jp_sql *s, jp_q *q, const jp_scim_filter *f)
{
    switch (f->node) {
    case JP_SCIM_FN_AND:
    case JP_SCIM_FN_OR:
        jp_q_sql(q, "(");
        cond(s, q, f->a);
        jp_q_sql(q, f->node == JP_SCIM_FN_AND ? " AND " : " OR ");
        cond(s, q, f->b);
        jp_q_sql(q, ")");
        return;
    case JP_SCIM_FN_NOT:
        jp_q_sql(q, "NOT (");
        cond(s, q, f->a);
        jp_q_sql(q, ")");
        return;
    default:
        cmp_cond(s, q, f);
        return;
    }
}

/* Each comparison binds at most 3 values, the list 2 more (LIMIT, OFFSET). */
_Static_assert(3 * JP_SCIM_FILTER_TERMS_MAX + 2 <= JP_MAX_ARGS,
               "a filter's values must fit in one jp_q");

static void where(jp_sql *s, jp_q *q, const jp_scim_filter *f)
{
    if (!f)
        return;
    jp_q_sql(q, " AND ");
    cond(s, q, f);
}

static int op_list(jp_sql *s, void *varg)
{
    op_arg *a = varg;
    jp_q q;
    apr_array_header_t *rows;
    const char **row;
    int i;

    a->n = 0;
    a->total = 0;
    a->users = NULL;
    jp_q_init(&q, s->p);
    jp_q_sql(&q,
             apr_pstrcat(s->p, "SELECT count(*) FROM ", s->cfg->table, " WHERE ", live(s), NULL));
    where(s, &q, a->f);
    /* The count's text names the form (the page's follows from it). */
    if (a->f && jp_sql_admit_form(s, jp_q_text(&q), JP_SCIM_FILTER_FORMS_MAX))
        return JP_STORE_LIMIT;
    if (jp_sql_first(s, &q, &row))
        return JP_STORE_ERROR;
    if (row && row[0])
        a->total = apr_atoi64(row[0]);
    if (a->count <= 0 || a->total < a->start)
        return JP_STORE_OK;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", user_cols(s), " FROM ", s->cfg->table, " WHERE ",
                             live(s), NULL));
    where(s, &q, a->f);
    jp_q_sql(&q, apr_pstrcat(s->p, " ORDER BY ", ROLE_COL(s, JP_COL_ID), " LIMIT ", NULL));
    jp_q_int(&q, a->count);
    jp_q_sql(&q, " OFFSET ");
    jp_q_int(&q, a->start - 1);
    if (jp_sql_select(s, &q, &rows, NULL))
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

static int op_create(jp_sql *s, void *varg)
{
    op_arg *a = varg;
    const jp_scim_input *in = a->in;
    const char *status = (in->fields & JP_SCIM_F_ACTIVE) && !in->active ? "disabled" : "active";
    apr_int64_t now = jp_sql_now(), id;
    json_t *detail, *set;
    const char **row;
    jp_q q, v;
    int taken;

    if (!strcmp(status, "disabled") && !HAS_ROLE(s, JP_COL_STATUS)) {
        a->why = "the account table has no status column (JITProvAccountColumn status): an "
                 "inactive account cannot be created";
        return JP_STORE_UNSUPPORTED;
    }
    if (is_tombstone_name(in->user_name)) {
        a->why = "userName may not start with " JP_SCIM_TOMBSTONE " (deleted users)";
        return JP_STORE_BAD_STATE;
    }
    if (tx_begin(s))
        return JP_STORE_ERROR;
    if (user_name_taken(s, in->user_name, 0, &taken))
        goto fail;
    if (taken) {
        jp_sql_rollback(s);
        a->why = "userName is already in use";
        return JP_STORE_CONFLICT;
    }
    if (email_pending(s, in->email, 0, &taken))
        goto fail;
    if (taken) {
        jp_sql_rollback(s);
        a->why = "another account that has not logged in yet has this email address, so the "
                 "first login could not tell them apart";
        return JP_STORE_CONFLICT;
    }

    set = json_object();
    jp_q_init(&q, s->p);
    jp_q_init(&v, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (",
                             ROLE_COL(s, JP_COL_USERNAME), NULL));
    jp_q_sql(&v, ") VALUES (");
    jp_q_str(&v, in->user_name);
    json_object_set_new(set, ROLE_COL(s, JP_COL_USERNAME), jp_detail_str(s->p, in->user_name));
    if (HAS_ROLE(s, JP_COL_EMAIL)) {
        jp_q_col_str(s, &q, &v, ROLE_COL(s, JP_COL_EMAIL), in->email);
        if (in->email)
            json_object_set_new(set, ROLE_COL(s, JP_COL_EMAIL), jp_detail_str(s->p, in->email));
    }
    {
        static const struct {
            int role;
            size_t off;
        } more[] = {{JP_COL_DISPLAY_NAME, offsetof(jp_scim_input, display_name)},
                    {JP_COL_EXTERNAL_ID, offsetof(jp_scim_input, external_id)},
                    {JP_COL_GIVEN_NAME, offsetof(jp_scim_input, given_name)},
                    {JP_COL_FAMILY_NAME, offsetof(jp_scim_input, family_name)}};
        size_t i;
        for (i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
            const char *val = *(const char *const *)((const char *)in + more[i].off);
            if (!HAS_ROLE(s, more[i].role))
                continue;
            jp_q_col_str(s, &q, &v, ROLE_COL(s, more[i].role), val);
            if (val)
                json_object_set_new(set, ROLE_COL(s, more[i].role), jp_detail_str(s->p, val));
        }
    }
    jp_q_managed_cols(s, &q, &v, status, now, 0, "scim");
    jp_q_sql(&v, apr_pstrcat(s->p, ") RETURNING ", ROLE_COL(s, JP_COL_ID), NULL));
    jp_q_append(&q, &v);
    if (jp_sql_first(s, &q, &row) || !row || !row[0]) {
        json_decref(set);
        jp_sql_fail(s, "insert returned no id");
        goto fail;
    }
    id = apr_atoi64(row[0]);

    detail = json_object();
    if (HAS_ROLE(s, JP_COL_STATUS))
        json_object_set_new(detail, "status", json_string(status));
    json_object_set_new(detail, "set", set);
    if (in->external_id)
        json_object_set_new(detail, "externalId", jp_detail_str(s->p, in->external_id));
    if (audit(s, "scim_create", NULL, id, a->who, detail))
        goto fail;
    if (find_by_id(s, id, 0, &row) || !row) {
        jp_sql_fail(s, "new account row not found");
        goto fail;
    }
    row_user(s, row, a->out);
    if (jp_sql_commit(s))
        goto fail;
    return JP_STORE_OK;
fail:
    jp_sql_rollback(s);
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
    if (err && a.why &&
        (rc == JP_STORE_CONFLICT || rc == JP_STORE_UNSUPPORTED || rc == JP_STORE_BAD_STATE))
        *err = a.why;
    return rc;
}

static int differs(const char *a, const char *b)
{
    return (!a != !b) || (a && strcmp(a, b));
}

static void note_change(jp_sql *s, json_t *changed, const char *col, const char *old,
                        const char *nw)
{
    json_t *ch = json_object();
    json_object_set_new(ch, "old", jp_detail_str(s->p, old));
    json_object_set_new(ch, "new", jp_detail_str(s->p, nw));
    json_object_set_new(changed, col, ch);
}

static int op_modify(jp_sql *s, void *varg)
{
    op_arg *a = varg;
    apr_int64_t id = decimal(a->id), now = jp_sql_now();
    const char **row;
    jp_scim_user cur, next;
    json_t *changed, *detail;
    jp_q q;
    int taken, nset = 0, i, rc = JP_STORE_ERROR;
    const char *event = "scim_update";
    static const struct {
        int role;
        size_t off;
    } cols[] = {{JP_COL_USERNAME, offsetof(jp_scim_user, user_name)},
                {JP_COL_EMAIL, offsetof(jp_scim_user, email)},
                {JP_COL_DISPLAY_NAME, offsetof(jp_scim_user, display_name)},
                {JP_COL_EXTERNAL_ID, offsetof(jp_scim_user, external_id)},
                {JP_COL_GIVEN_NAME, offsetof(jp_scim_user, given_name)},
                {JP_COL_FAMILY_NAME, offsetof(jp_scim_user, family_name)},
                {JP_COL_STATUS, offsetof(jp_scim_user, status)}};

    a->changed = 0;
    if (id <= 0)
        return JP_STORE_NOT_FOUND;
    if (tx_begin(s))
        return JP_STORE_ERROR;
    if (find_by_id(s, id, 1, &row))
        goto fail;
    if (!row) {
        jp_sql_rollback(s);
        return JP_STORE_NOT_FOUND;
    }
    row_user(s, row, &cur);
    next = cur;
    if (a->fn(a->ctx, s->p, &cur, &next)) {
        jp_sql_rollback(s);
        return JP_SCIM_REJECTED;
    }
    /* A row without a username shows its email as userName (else sub, id):
     * a new email renames it, so that name must be free as well. */
    if (!next.user_name || !*next.user_name) {
        const char *was = jp_scim_shown_user_name(&cur), *will = jp_scim_shown_user_name(&next);
        if (strcasecmp(was, will)) {
            if (user_name_taken(s, will, id, &taken))
                goto fail;
            if (taken) {
                jp_sql_rollback(s);
                a->why = "userName is already in use (this account shows its email as userName)";
                return JP_STORE_CONFLICT;
            }
        }
    }

    changed = json_object();
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", NULL));
    for (i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++) {
        const char *o = *(const char *const *)((const char *)&cur + cols[i].off);
        const char *nw = *(const char *const *)((const char *)&next + cols[i].off);
        if (!differs(o, nw))
            continue;
        if (!HAS_ROLE(s, cols[i].role)) {
            if (cols[i].role == JP_COL_STATUS) {
                a->why = "the account table has no status column (JITProvAccountColumn status)";
                rc = JP_STORE_UNSUPPORTED;
                goto undo;
            }
            continue; /* no column: nothing to keep */
        }
        if (cols[i].role == JP_COL_USERNAME) {
            if (!nw || !*nw || is_tombstone_name(nw)) {
                a->why = !nw || !*nw ? "userName is required"
                                     : "userName may not start with " JP_SCIM_TOMBSTONE;
                rc = JP_STORE_BAD_STATE;
                goto undo;
            }
            if (user_name_taken(s, nw, id, &taken))
                goto undo;
            if (taken) {
                a->why = "userName is already in use";
                rc = JP_STORE_CONFLICT;
                goto undo;
            }
        }
        if (cols[i].role == JP_COL_EMAIL && !cur.iss && !cur.sub) {
            if (email_pending(s, nw, id, &taken))
                goto undo;
            if (taken) {
                a->why = "another account that has not logged in yet has this email address";
                rc = JP_STORE_CONFLICT;
                goto undo;
            }
        }
        if (cols[i].role == JP_COL_STATUS && nw && !strcmp(nw, "disabled"))
            event = "scim_deactivate";
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", ROLE_COL(s, cols[i].role), " = ", NULL));
        jp_q_str(&q, nw);
        note_change(s, changed, ROLE_COL(s, cols[i].role), o, nw);
    }
    if (!nset) {
        json_decref(changed);
        jp_sql_rollback(s);
        *a->out = cur;
        return JP_STORE_OK;
    }
    if (HAS_ROLE(s, JP_COL_UPDATED_AT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_UPDATED_AT), " = ", NULL));
        jp_q_int(&q, now);
    }
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    if (jp_sql_exec(s, &q, NULL))
        goto undo;
    detail = json_object();
    json_object_set_new(detail, "changed", changed);
    if (audit(s, event, &cur, id, a->who, detail))
        goto fail;
    if (find_by_id(s, id, 0, &row) || !row) {
        jp_sql_fail(s, "account row vanished during the update");
        goto fail;
    }
    row_user(s, row, a->out);
    if (jp_sql_commit(s))
        goto fail;
    a->changed = 1;
    return JP_STORE_OK;
undo: /* refused, or failed before the audit detail took changed over */
    json_decref(changed);
fail:
    jp_sql_rollback(s);
    return rc;
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

/* DELETE (RFC 7644 3.6): the row becomes a tombstone in one transaction with
 * its audit row (scim_delete): userName JP_SCIM_TOMBSTONE + id frees the name;
 * sub gets the same prefix (iss is set when it was NULL), so neither a login
 * (iss, sub) nor a link by email finds the row again; status disabled. */
static int op_delete(jp_sql *s, void *varg)
{
    op_arg *a = varg;
    apr_int64_t id = decimal(a->id), now = jp_sql_now();
    const char **row, *tomb, *v;
    jp_scim_user cur;
    json_t *changed, *detail;
    jp_q q;

    if (id <= 0)
        return JP_STORE_NOT_FOUND;
    if (tx_begin(s))
        return JP_STORE_ERROR;
    if (find_by_id(s, id, 1, &row))
        goto fail;
    if (!row) {
        jp_sql_rollback(s);
        return JP_STORE_NOT_FOUND;
    }
    row_user(s, row, &cur);
    tomb = apr_psprintf(s->p, JP_SCIM_TOMBSTONE "%" APR_INT64_T_FMT, id);
    changed = json_object();
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", ROLE_COL(s, JP_COL_USERNAME),
                             " = ", NULL));
    jp_q_str(&q, tomb);
    note_change(s, changed, ROLE_COL(s, JP_COL_USERNAME), cur.user_name, tomb);
    if (HAS_ROLE(s, JP_COL_SUB)) {
        v = apr_pstrcat(s->p, tomb, ":", cur.sub ? cur.sub : "", NULL);
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_SUB), " = ", NULL));
        jp_q_str(&q, v);
        note_change(s, changed, ROLE_COL(s, JP_COL_SUB), cur.sub, v);
    }
    if (HAS_ROLE(s, JP_COL_ISS) && !cur.iss) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_ISS), " = ", NULL));
        jp_q_str(&q, JP_SCIM_TOMBSTONE);
        note_change(s, changed, ROLE_COL(s, JP_COL_ISS), NULL, JP_SCIM_TOMBSTONE);
    }
    if (HAS_ROLE(s, JP_COL_STATUS) && differs(cur.status, "disabled")) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_STATUS), " = ", NULL));
        jp_q_str(&q, "disabled");
        note_change(s, changed, ROLE_COL(s, JP_COL_STATUS), cur.status, "disabled");
    }
    if (HAS_ROLE(s, JP_COL_UPDATED_AT)) {
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", ROLE_COL(s, JP_COL_UPDATED_AT), " = ", NULL));
        jp_q_int(&q, now);
    }
    jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, id);
    if (jp_sql_exec(s, &q, NULL)) {
        json_decref(changed);
        goto fail;
    }
    detail = json_object();
    json_object_set_new(detail, "changed", changed);
    if (audit(s, "scim_delete", &cur, id, a->who, detail))
        goto fail;
    if (jp_sql_commit(s))
        goto fail;
    *a->out = cur; /* as it was: its iss and sub find the live sessions */
    a->changed = 1;
    return JP_STORE_OK;
fail:
    jp_sql_rollback(s);
    return JP_STORE_ERROR;
}

int jp_scim_store_delete(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                         const jp_actor *who, jp_scim_user *out, const char **err)
{
    op_arg a;
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    a.id = id;
    a.who = who;
    a.out = out;
    return run(p, db, cfg, op_delete, &a, err);
}
