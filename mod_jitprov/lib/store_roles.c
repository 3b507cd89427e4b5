/* Roles into the application's membership table (see store_roles.h). The
 * application's table is the truth of what a user has; the ledger
 * (jitprov_grants) is the truth of what the module gave, so that a login takes
 * back only its own grants and never a role an administrator set. */
#include <string.h>
#include <apr_strings.h>

#include "store_roles.h"

static int in(const apr_array_header_t *a, const char *s)
{
    int i;
    for (i = 0; i < a->nelts; i++)
        if (!strcmp(((const char **)a->elts)[i], s))
            return 1;
    return 0;
}

static void push(apr_array_header_t *a, const char *s)
{
    *(const char **)apr_array_push(a) = s;
}

static json_t *json_list(const apr_array_header_t *a)
{
    json_t *j = json_array();
    int i;
    for (i = 0; i < a->nelts; i++)
        json_array_append_new(j, json_string(((const char **)a->elts)[i]));
    return j;
}

/* First column of every row of q, as strings (NULLs skipped). */
static int strings(jp_sql *s, jp_q *q, apr_array_header_t **out)
{
    apr_array_header_t *rows;
    int i;
    *out = apr_array_make(s->p, 4, sizeof(const char *));
    if (jp_sql_select(s, q, &rows, NULL))
        return -1;
    for (i = 0; i < rows->nelts; i++) {
        const char **row = ((const char ***)rows->elts)[i];
        if (row[0])
            push(*out, row[0]);
    }
    return 0;
}

/* The roles the account has in the application's table. */
static int current(jp_sql *s, const jp_roles_cfg *c, apr_int64_t id, apr_array_header_t **out)
{
    jp_q q;
    jp_q_init(&q, s->p);
    if (c->lookup_table)
        jp_q_sql(&q, apr_pstrcat(s->p, "SELECT l.", c->lookup_name_col, " FROM ", c->table,
                                 " m JOIN ", c->lookup_table, " l ON l.", c->lookup_id_col, " = m.",
                                 c->role_col, " WHERE m.", c->account_col, " = ", NULL));
    else
        jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", c->role_col, " FROM ", c->table, " WHERE ",
                                 c->account_col, " = ", NULL));
    jp_q_int(&q, id);
    return strings(s, &q, out);
}

static int ledger(jp_sql *s, const jp_roles_cfg *c, apr_int64_t id, apr_array_header_t **out)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_q_sql(&q,
             apr_pstrcat(s->p, "SELECT role FROM ", c->grants_table, " WHERE account_id = ", NULL));
    jp_q_int(&q, id);
    return strings(s, &q, out);
}

static int ledger_del(jp_sql *s, const jp_roles_cfg *c, apr_int64_t id, const char *role)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "DELETE FROM ", c->grants_table, " WHERE account_id = ", NULL));
    jp_q_int(&q, id);
    jp_q_sql(&q, " AND role = ");
    jp_q_str(&q, role);
    return jp_sql_exec(s, &q, NULL);
}

/* Membership row plus ledger row. *made 0 when a lookup table has no such
 * role (nothing granted). */
static int grant_role(jp_sql *s, const jp_roles_cfg *c, apr_int64_t id, const char *role,
                      apr_int64_t now, int *made)
{
    jp_q q;
    int n = 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", c->table, " (", c->account_col, ", ",
                             c->role_col, ") ", NULL));
    if (c->lookup_table) {
        jp_q_sql(&q, "SELECT ");
        jp_q_int(&q, id);
        jp_q_sql(&q, apr_pstrcat(s->p, ", ", c->lookup_id_col, " FROM ", c->lookup_table, " WHERE ",
                                 c->lookup_name_col, " = ", NULL));
        jp_q_str(&q, role);
    } else {
        jp_q_sql(&q, "VALUES (");
        jp_q_int(&q, id);
        jp_q_sql(&q, ", ");
        jp_q_str(&q, role);
        jp_q_sql(&q, ")");
    }
    if (jp_sql_exec(s, &q, &n))
        return -1;
    *made = n > 0;
    if (!*made)
        return 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "INSERT INTO ", c->grants_table,
                             " (account_id, role, granted_at) VALUES (", NULL));
    jp_q_int(&q, id);
    jp_q_sql(&q, ", ");
    jp_q_str(&q, role);
    jp_q_sql(&q, ", ");
    jp_q_int(&q, now);
    jp_q_sql(&q, ")");
    return jp_sql_exec(s, &q, NULL);
}

static int revoke_role(jp_sql *s, const jp_roles_cfg *c, apr_int64_t id, const char *role)
{
    jp_q q;
    jp_q_init(&q, s->p);
    jp_q_sql(&q,
             apr_pstrcat(s->p, "DELETE FROM ", c->table, " WHERE ", c->account_col, " = ", NULL));
    jp_q_int(&q, id);
    jp_q_sql(&q, apr_pstrcat(s->p, " AND ", c->role_col, NULL));
    if (c->lookup_table) {
        jp_q_sql(&q, apr_pstrcat(s->p, " IN (SELECT ", c->lookup_id_col, " FROM ", c->lookup_table,
                                 " WHERE ", c->lookup_name_col, " = ", NULL));
        jp_q_str(&q, role);
        jp_q_sql(&q, ")");
    } else {
        jp_q_sql(&q, " = ");
        jp_q_str(&q, role);
    }
    if (jp_sql_exec(s, &q, NULL))
        return -1;
    return ledger_del(s, c, id, role);
}

static int audit(jp_sql *s, const char *event, const jp_roles_cfg *c, const char *role,
                 const char *iss, const char *sub, apr_int64_t id, const jp_actor *who,
                 apr_int64_t now)
{
    json_t *d = json_object();
    json_object_set_new(d, "role", jp_detail_str(s->p, role));
    json_object_set_new(d, "table", json_string(c->table));
    json_object_set_new(d, "claim", jp_detail_str(s->p, c->claim));
    return jp_sql_audit_change(s, now, event, iss, sub, id, who, d);
}

int jp_roles_sync(jp_sql *s, apr_int64_t id, json_t *claims, const char *iss, const char *sub,
                  const jp_actor *who, apr_int64_t now, int dry, json_t *plan)
{
    const jp_roles_cfg *c = s->cfg->roles;
    apr_array_header_t *want, *refused, *cur, *led, *granted, *revoked, *kept, *unknown;
    int present, i;

    if (!c || !c->table)
        return 0;
    want = jp_roles_wanted(s->p, c, claims, &present, &refused);
    if (current(s, c, id, &cur) || ledger(s, c, id, &led))
        return -1;
    granted = apr_array_make(s->p, 2, sizeof(const char *));
    revoked = apr_array_make(s->p, 2, sizeof(const char *));
    kept = apr_array_make(s->p, 2, sizeof(const char *));
    unknown = apr_array_make(s->p, 1, sizeof(const char *));

    if (!present && c->missing_keep) {
        want = NULL; /* JITProvRoleMissing keep: no change at all */
    } else {
        /* A grant an administrator took away in the application: the ledger
         * forgets it (granted again below if the claims still ask for it). */
        for (i = 0; i < led->nelts; i++) {
            const char *r = ((const char **)led->elts)[i];
            if (!in(cur, r) && !dry && ledger_del(s, c, id, r))
                return -1;
        }
        for (i = 0; i < want->nelts; i++) {
            const char *r = ((const char **)want->elts)[i];
            int made = 1;
            if (in(cur, r)) {
                if (!in(led, r))
                    push(kept, r); /* set in the application: not ours */
                continue;
            }
            if (!dry && grant_role(s, c, id, r, now, &made))
                return -1;
            if (!made) {
                push(unknown, r);
                continue;
            }
            push(granted, r);
            if (!dry && audit(s, "grant", c, r, iss, sub, id, who, now))
                return -1;
        }
        for (i = 0; i < led->nelts; i++) {
            const char *r = ((const char **)led->elts)[i];
            if (!in(cur, r) || in(want, r))
                continue;
            if (!dry && revoke_role(s, c, id, r))
                return -1;
            push(revoked, r);
            if (!dry && audit(s, "revoke", c, r, iss, sub, id, who, now))
                return -1;
        }
    }
    if (plan) {
        json_object_set_new(plan, "claim_present", json_boolean(present));
        json_object_set_new(plan, "wanted", want ? json_list(want) : json_null());
        json_object_set_new(plan, "granted", json_list(granted));
        json_object_set_new(plan, "revoked", json_list(revoked));
        json_object_set_new(plan, "kept", json_list(kept));
        if (refused->nelts)
            json_object_set_new(plan, "not_allowed", json_list(refused));
        if (unknown->nelts)
            json_object_set_new(plan, "unknown", json_list(unknown));
    }
    return 0;
}

const char *jp_roles_ledger_ddl(jp_sql *s)
{
    const char *t = s->cfg->roles && s->cfg->roles->grants_table ? s->cfg->roles->grants_table
                                                                 : "jitprov_grants";
    return apr_pstrcat(s->p, "CREATE TABLE IF NOT EXISTS ", t, " (account_id ",
                       s->pg ? "BIGINT" : "INTEGER", " NOT NULL, role TEXT NOT NULL, granted_at ",
                       s->pg ? "BIGINT" : "INTEGER", " NOT NULL, PRIMARY KEY (account_id, role))",
                       NULL);
}
