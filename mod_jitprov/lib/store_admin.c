/* The queries of jitprov-admin: list, show, add, status changes (approve,
 * disable, enable), stale accounts and the audit export. Same SQL layer and
 * audit rules as a login. */

#include <stddef.h>
#include <string.h>

#include <apr_strings.h>

#include "store.h"
#include "store_sql.h"

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
    int flags;
    jp_rowset *out;
} jp_query_arg;

static int op_get(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
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
        if (a->iss && HAS_ROLE(s, JP_COL_ISS)) {
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
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_get, &a, err);
}

static int op_list(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
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
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_list, &a, err);
}

static int op_stale(jp_sql *s, void *varg)
{
    jp_query_arg *a = varg;
    jp_q q;
    if (!HAS_ROLE(s, JP_COL_LAST_LOGIN_AT))
        return JP_STORE_UNSUPPORTED;
    jp_q_init(&q, s->p);
    jp_sql_q_accounts(s, &q);
    jp_q_sql(&q, " WHERE ");
    if (HAS_ROLE(s, JP_COL_STATUS))
        jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_STATUS), " = 'active' AND ", NULL));
    jp_q_sql(&q, apr_pstrcat(s->p, "(", ROLE_COL(s, JP_COL_LAST_LOGIN_AT), " < ", NULL));
    jp_q_int(&q, a->cutoff);
    if (HAS_ROLE(s, JP_COL_CREATED_AT) && (a->flags & JP_STALE_NEVER_LOGGED_IN)) {
        jp_q_sql(&q, apr_pstrcat(s->p, " OR (", ROLE_COL(s, JP_COL_LAST_LOGIN_AT), " IS NULL AND ",
                                 ROLE_COL(s, JP_COL_CREATED_AT), " < ", NULL));
        jp_q_int(&q, a->cutoff);
        jp_q_sql(&q, ")");
    }
    jp_q_sql(&q, ")");
    return rowset_select(s, &q, a->out);
}

int jp_store_stale(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t cutoff, int flags,
                   jp_rowset *out, const char **err)
{
    jp_query_arg a = {.cutoff = cutoff, .flags = flags, .out = out};
    memset(out, 0, sizeof(*out));
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_stale, &a, err);
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
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_audit_list, &a, err);
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
    apr_int64_t now = jp_sql_now();
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
        if (jp_sql_find_key(s, a->iss, a->sub, &row))
            goto fail;
    } else {
        if (jp_sql_find_unlinked(s, a->email, &rows))
            goto fail;
        if (rows->nelts)
            row = ((const char ***)rows->elts)[0];
    }
    if (row) {
        x->id = jp_sql_row_id(s, row);
        jp_sql_rollback(s);
        return JP_STORE_CONFLICT;
    }

    set = json_object();
    jp_q_init(&q, s->p);
    jp_q_init(&vals, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (", jp_sql_key_cols(s), NULL));
    jp_q_sql(&vals, ") VALUES (");
    if (HAS_ROLE(s, JP_COL_ISS)) {
        jp_q_str(&vals, a->iss && a->sub ? a->iss : NULL);
        jp_q_sql(&vals, ", ");
    }
    jp_q_str(&vals, a->iss && a->sub ? a->sub : NULL);
    for (i = 0; i < 3; i++) {
        const char *v = *(const char *const *)((const char *)a + attrs[i].off);
        if (!HAS_ROLE(s, attrs[i].role))
            continue;
        jp_q_col_str(s, &q, &vals, ROLE_COL(s, attrs[i].role), v);
        if (v)
            json_object_set_new(set, ROLE_COL(s, attrs[i].role), jp_detail_str(s->p, v));
    }
    jp_q_managed_cols(s, &q, &vals, status, now, 0,
                      x->who && x->who->source ? x->who->source : "admin");
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
    rc = jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_add, &x, err);
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
    apr_int64_t now = jp_sql_now();
    jp_q q;
    json_t *detail;
    int ok, i;

    if (!HAS_ROLE(s, JP_COL_STATUS))
        return JP_STORE_UNSUPPORTED;
    if (jp_sql_begin(s))
        return JP_STORE_ERROR;
    if (jp_sql_find_id(s, a->id, &row))
        goto fail;
    if (!row) {
        jp_sql_rollback(s);
        return JP_STORE_NOT_FOUND;
    }
    cur = jp_sql_row_status(s, row);
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
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_set_status, &a, err);
}
