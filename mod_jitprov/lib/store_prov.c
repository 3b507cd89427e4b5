/* The JIT provisioning rules of DESIGN.md (jp_provision) and the status
 * re-check of live sessions (jp_account_status): find the account of a login
 * by its key, else link a pre-provisioned row by verified email, else create
 * it; refresh the mapped columns; one transaction with its audit row. */

#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "store.h"
#include "store_sql.h"
#include "claims.h"
#include "store_roles.h"

/* ------------------------------------------------------------------------ */
/* Claim values                                                               */

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
        return jp_sql_json_text(p, v);
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
 * JSON, arrays of scalars sorted and joined with delim (a set has one
 * spelling, whatever order the IdP sends), anything else as compact JSON.
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
        if (parts) {
            jp_multi_canonical(parts);
            return jp_sql_cap(p, join(p, parts, delim ? delim : ","), JP_VALUE_MAX);
        }
        return jp_sql_cap(p, jp_sql_json_text(p, v), JP_VALUE_MAX);
    }
    if (json_is_object(v))
        return jp_sql_cap(p, jp_sql_json_text(p, v), JP_VALUE_MAX);
    return jp_sql_cap(p, scalar_text(p, v), JP_VALUE_MAX);
}

static void fill_account(jp_sql *s, const char **row, jp_account *out)
{
    int i;
    out->id = jp_sql_row_id(s, row);
    out->status = jp_sql_row_status(s, row);
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
    jp_prov_rc rc;
    json_t *collision; /* JITProvCollision suffix: what the create audit row records */
    json_t *dry;       /* dry run: the audit rows the login would write go here */
    const char **made; /* the row the last insert created, as it returned it */
} jp_prov;

/* Runs the INSERT or UPDATE in q and gives the row it wrote in *row, NULL when
 * it wrote none. PostgreSQL returns it from the statement (RETURNING). SQLite
 * runs RETURNING through a temporary table of its own, a b-tree with its own
 * page cache opened and freed at every statement (20-35 us more per first
 * login's transaction than a lookup, in a microbenchmark): there an insert's
 * row is read back by its key (iss, sub), and an update's row is left NULL
 * for login_done to read by id. 0 or -1. */
static int write_returning(jp_sql *s, jp_q *q, const char ***row, const char *iss, const char *sub)
{
    int n = 0;
    *row = NULL;
    if (s->pg) {
        jp_q_sql(q, apr_pstrcat(s->p, " RETURNING ", s->sh.list, NULL));
        return jp_sql_first(s, q, row);
    }
    if (jp_sql_exec(s, q, &n))
        return -1;
    return n == 1 && sub ? jp_sql_find_key(s, iss, sub, row) : 0;
}

/* The audit row of a login, under its account key; detail is released. */
static int audit_login(jp_sql *s, jp_prov *v, const char *event, apr_int64_t id, json_t *detail)
{
    jp_actor who = {NULL, NULL, v->in->client_ip, v->in->corr_id};
    v->out->event = event;
    return jp_sql_audit_change(s, v->now, event, v->kiss, v->ksub, id, &who, detail);
}

/* The end of every login that gets an account (created, updated, linked or
 * used as it is): its audit row (none when event is NULL: a returning login
 * that changed nothing leaves no trace but its login counters), then the row
 * for the session: as the INSERT or UPDATE returned it, else read back.
 * missing: the error when the row is not there. */
static jp_prov_rc login_done(jp_sql *s, jp_prov *v, const char *event, apr_int64_t id,
                             json_t *detail, const char **row, const char *missing)
{
    if (event && audit_login(s, v, event, id, detail))
        return JP_PROV_DB_ERROR;
    if (!row && jp_sql_find_id(s, id, &row))
        return JP_PROV_DB_ERROR;
    if (!row) {
        jp_sql_fail(s, missing);
        return JP_PROV_DB_ERROR;
    }
    fill_account(s, row, v->out);
    /* Pending or disabled: a created row (JITProvNewAccountStatus pending) or
     * a linked one. A later login of such an account never gets here: it is
     * refused first, and the row is locked meanwhile. */
    if (strcmp(v->out->status, "active"))
        v->why = v->out->status;
    else if (s->cfg->roles && s->cfg->roles->table) {
        /* Roles only for a login that gets in: a pending account gets its
         * roles at its first login after approval. */
        jp_actor who = {NULL, NULL, v->in->client_ip, v->in->corr_id};
        if (jp_roles_sync(s, id, v->in->claims, v->kiss, v->ksub, &who, v->now, 0, NULL))
            return JP_PROV_DB_ERROR;
    }
    return status_rc(v->out->status);
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

/* Later login (or first login through a pre-provisioned row when link is
 * set: the audit detail saying by what it was found, released here): refuse
 * pending/disabled, else refresh the mapped columns and the login counters,
 * audit, and read the row back for the session. */
static jp_prov_rc login_existing(jp_sql *s, jp_prov *v, const char **row, json_t *link)
{
    const jp_shape *sh = &s->sh;
    apr_int64_t id = jp_sql_row_id(s, row);
    const char *status = jp_sql_row_status(s, row);
    const char *event = link ? "link" : "update";
    json_t *changed, *detail;
    jp_q q;
    int i, nset = 0, nrows = 0;
    int nchanged = link != NULL; /* linking sets iss/sub: updated_at moves */
    /* A row made by email alone gets the claims at its first login whatever
     * JITProvAccountUpdate says; a row that JITProvLinkBy finds was filled by
     * SCIM, which keeps it up to date when JITProvAccountUpdate is Off. */
    int update = s->cfg->update || (link && json_object_get(link, "email"));

    if (!link && strcmp(status, "active")) {
        fill_account(s, row, v->out);
        return refuse(s, v, status, id, status, status_rc(status));
    }
    if (link) {
        jp_q_init(&q, s->p);
        jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", NULL));
        if (HAS_ROLE(s, JP_COL_ISS)) {
            jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ISS), " = ", NULL));
            jp_q_str(&q, v->kiss);
            jp_q_sql(&q, ", ");
        }
        jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_SUB), " = ", NULL));
        jp_q_str(&q, v->ksub);
        jp_q_sql(&q, apr_pstrcat(s->p, " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
        jp_q_int(&q, id);
        jp_q_sql(&q, apr_pstrcat(s->p, " AND ", jp_sql_unlinked_cond(s), NULL));
        if (jp_sql_exec(s, &q, &nrows)) {
            json_decref(link);
            return JP_PROV_DB_ERROR;
        }
        if (nrows != 1) {
            /* Someone linked it between our read and write: start over. */
            json_decref(link);
            jp_sql_fail(s, "pre-provisioned account was linked concurrently");
            s->retry = 1;
            return JP_PROV_DB_ERROR;
        }
    }

    changed = json_object();
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "UPDATE ", s->cfg->table, " SET ", NULL));
    for (i = 0; i < sh->nmap; i++) {
        int ci = sh->map_col[i];
        jp_sync pol = jp_sync_effective(sh->map_sync[i], update, ci == sh->role[JP_COL_GROUPS]);
        json_t *cv = claim_lookup(s->p, v->in->claims, sh->map_claim[i]);
        const char *nv = claim_text(s->p, v->in->claims, sh->map_claim[i], s->cfg->delim);
        const char *ov = row[ci];
        if (pol == JP_SYNC_CREATE || pol == JP_SYNC_NEVER)
            continue; /* not in the statement at all: a local value stays */
        /* always: an absent claim empties the column, unless the token says
         * the values exist elsewhere (Entra's overage, _claim_names): unknown
         * is not empty. Multi-valued claims are sets: a reordering is no
         * change. */
        if (!nv && pol == JP_SYNC_ALWAYS && jp_claims_overage(v->in->claims, sh->map_claim[i]))
            pol = JP_SYNC_PRESENT;
        if (nv && ov && json_is_array(cv) && jp_multi_set_equal(s->p, ov, nv, s->cfg->delim))
            nv = NULL;
        else
            nv = jp_sync_update_value(s->p, pol, ov, nv, 0, s->cfg->delim);
        if (nv) {
            json_t *ch = json_object();
            json_object_set_new(ch, "old", jp_detail_str(s->p, ov));
            json_object_set_new(ch, "new", jp_detail_str(s->p, nv));
            json_object_set_new(changed, sh->col[ci], ch);
            nchanged++;
        } else {
            /* Unchanged: left out of the statement. Assigning a column its
             * own value still rewrites every index on it (SQLite deletes
             * and reinserts the entry), a page in the WAL per login. */
            continue;
        }
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", sh->col[ci], " = ", NULL));
        jp_q_str(&q, nv);
    }
    if (HAS_ROLE(s, JP_COL_UPDATED_AT) && nchanged) {
        const char *c = ROLE_COL(s, JP_COL_UPDATED_AT);
        jp_q_sql(&q, apr_pstrcat(s->p, nset++ ? ", " : "", c, " = ", NULL));
        jp_q_int(&q, v->now);
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
    row = NULL;
    if (nset && write_returning(s, &q, &row, NULL, NULL)) {
        json_decref(changed);
        json_decref(link);
        return JP_PROV_DB_ERROR;
    }

    if (!link && !nchanged) {
        /* Nothing created, linked or changed: no audit row. Thousands of
         * daily logins would otherwise bury the real changes in empty
         * "update" rows; last_login_at and login_count record the login. */
        json_decref(changed);
        return login_done(s, v, NULL, id, NULL, row, "account row vanished during login");
    }
    detail = link ? link : json_object();
    if (link)
        json_object_set_new(detail, "status", json_string(status));
    json_object_set_new(detail, "changed", changed);
    return login_done(s, v, event, id, detail, row, "account row vanished during login");
}

/* INSERT ... ON CONFLICT (iss, sub) DO NOTHING RETURNING the row: *id 0 when
 * a concurrent first login of the same user won the race. */
static int insert_account(jp_sql *s, jp_prov *v, apr_int64_t *id, json_t *set, const char *username)
{
    const jp_shape *sh = &s->sh;
    jp_q cols, vals;
    const char **row;
    int i;

    jp_q_init(&cols, s->p);
    jp_q_init(&vals, s->p);
    jp_q_sql(&vals, ") VALUES (");
    if (HAS_ROLE(s, JP_COL_ISS)) {
        jp_q_str(&vals, v->kiss);
        jp_q_sql(&vals, ", ");
    }
    jp_q_str(&vals, v->ksub);
    for (i = 0; i < sh->nmap; i++) {
        const char *nv = claim_text(s->p, v->in->claims, sh->map_claim[i], s->cfg->delim);
        if (sh->map_sync[i] == JP_SYNC_NEVER)
            continue;
        if (username && sh->map_col[i] == sh->role[JP_COL_USERNAME])
            nv = username;
        jp_q_col_str(s, &cols, &vals, sh->col[sh->map_col[i]], nv);
        if (nv)
            json_object_set_new(set, sh->col[sh->map_col[i]], jp_detail_str(s->p, nv));
    }
    jp_q_managed_cols(s, &cols, &vals, s->cfg->new_status, v->now, 1, "jit");
    jp_q_sql(&vals, apr_pstrcat(s->p, ") ON CONFLICT (", jp_sql_key_cols(s), ") DO NOTHING", NULL));
    /* Join the two halves: column list first, then values with their args. */
    {
        jp_q q;
        jp_q_init(&q, s->p);
        jp_q_sql(&q,
                 apr_pstrcat(s->p, "INSERT INTO ", s->cfg->table, " (", jp_sql_key_cols(s), NULL));
        jp_q_append(&q, &cols);
        jp_q_append(&q, &vals);
        if (write_returning(s, &q, &row, v->kiss, v->ksub))
            return -1;
    }
    v->made = row;
    *id = row ? jp_sql_row_id(s, row) : 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Collisions: a new row whose unique user name or email another row holds    */

#define JP_SUFFIX_MAX 100

static int unique_violation(const char *e)
{
    return e && (strstr(e, "UNIQUE constraint failed") || strstr(e, "duplicate key"));
}

/* The value a login's claims give a role's column at creation, or NULL. */
static const char *created_value(jp_sql *s, jp_prov *v, int role)
{
    const jp_shape *sh = &s->sh;
    int i;
    for (i = 0; HAS_ROLE(s, role) && i < sh->nmap; i++)
        if (sh->map_col[i] == sh->role[role] && sh->map_sync[i] != JP_SYNC_NEVER)
            return claim_text(s->p, v->in->claims, sh->map_claim[i], s->cfg->delim);
    return NULL;
}

/* 1 when another row holds value in role's column, 0 when none, -1 on error.
 * Asked only after a unique constraint refused an insert. An application's
 * index may ignore case (COLLATE NOCASE, lower()): when no row holds the
 * exact value, one holding it in another case counts too, or that refusal
 * would pass for an unknown column's (503) instead of a collision. That
 * second look scans the table; it runs only on this rare path. */
static int taken(jp_sql *s, int role, const char *value)
{
    jp_q q;
    const char **row;
    int nocase;
    if (!value || !HAS_ROLE(s, role))
        return 0;
    for (nocase = 0; nocase < 2; nocase++) {
        jp_q_init(&q, s->p);
        jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", ROLE_COL(s, JP_COL_ID), " FROM ", s->cfg->table,
                                 " WHERE ", nocase ? "lower(" : "", ROLE_COL(s, role),
                                 nocase ? ") = lower(" : " = ", NULL));
        jp_q_str(&q, value);
        if (nocase)
            jp_q_sql(&q, ")");
        if (jp_sql_first(s, &q, &row))
            return -1;
        if (row)
            return 1;
    }
    return 0;
}

/* One insert attempt: 1 when a unique constraint other than the key refused
 * it (the transaction is usable again), 0 done, -1 on any other error. An
 * error aborts a PostgreSQL transaction, so there the insert goes behind a
 * savepoint; SQLite backs out only the failed statement (its default ABORT
 * resolution) and the transaction goes on as it was. */
static int try_insert(jp_sql *s, jp_prov *v, apr_int64_t *id, json_t *set, const char *username)
{
    if (s->pg && jp_sql_tx(s, "SAVEPOINT jitprov_new_account"))
        return -1;
    if (insert_account(s, v, id, set, username) == 0)
        return s->pg && jp_sql_tx(s, "RELEASE SAVEPOINT jitprov_new_account") ? -1 : 0;
    if (!unique_violation(s->err))
        return -1;
    s->err = NULL;
    s->busy = s->retry = s->stale = 0;
    return s->pg && jp_sql_tx(s, "ROLLBACK TO SAVEPOINT jitprov_new_account") ? -1 : 1;
}

static int refuse_collision(jp_sql *s, jp_prov *v, const char *column, const char *value)
{
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string("collision"));
    json_object_set_new(d, "column", json_string(column));
    json_object_set_new(d, "value", jp_detail_str(s->p, value));
    v->why = apr_psprintf(s->p, "%s '%s' is taken by another account", column, value);
    if (audit_login(s, v, "refuse", 0, d))
        return -1;
    v->rc = JP_PROV_COLLISION;
    return -1;
}

/* The insert of a first login under JITProvCollision: never a takeover of the
 * row that holds the value; refuse, or the first free "-N" suffix of the user
 * name. 0 with *id (0: lost the key race), or -1: s->err set, or v->rc set
 * to JP_PROV_COLLISION with its audit row written. */
static int create_account(jp_sql *s, jp_prov *v, apr_int64_t *id, json_t *set)
{
    const char *uname = created_value(s, v, JP_COL_USERNAME), *email, *first_err;
    int rc = try_insert(s, v, id, set, NULL), n;

    if (rc <= 0)
        return rc;
    first_err = "unique constraint";
    if ((n = taken(s, JP_COL_USERNAME, uname)) < 0)
        return -1;
    if (n && s->cfg->collision == JP_COLLISION_SUFFIX) {
        int k;
        for (k = 2; k <= JP_SUFFIX_MAX; k++) {
            const char *cand = apr_psprintf(s->p, "%s-%d", uname, k);
            if ((n = taken(s, JP_COL_USERNAME, cand)) < 0)
                return -1;
            if (n)
                continue;
            json_object_clear(set);
            if ((rc = try_insert(s, v, id, set, cand)) < 0)
                return -1;
            if (rc == 0) {
                json_t *c = json_object();
                json_object_set_new(c, "column", json_string(ROLE_COL(s, JP_COL_USERNAME)));
                json_object_set_new(c, "taken", jp_detail_str(s->p, uname));
                json_object_set_new(c, "used", jp_detail_str(s->p, cand));
                v->collision = c;
                return 0;
            }
            break; /* something else is taken too: the email, below */
        }
        if (k > JP_SUFFIX_MAX)
            return refuse_collision(s, v, ROLE_COL(s, JP_COL_USERNAME), uname);
    } else if (n) {
        return refuse_collision(s, v, ROLE_COL(s, JP_COL_USERNAME), uname);
    }
    email = created_value(s, v, JP_COL_EMAIL);
    if ((n = taken(s, JP_COL_EMAIL, email)) < 0)
        return -1;
    if (n)
        return refuse_collision(s, v, ROLE_COL(s, JP_COL_EMAIL), email);
    /* Another unique column of the application's table, or a concurrent
     * login took the suffix just chosen: one more attempt from the start
     * (it sees that row), then 503. */
    jp_sql_fail(s, apr_psprintf(s->p,
                                "new account refused by a %s of table %s on a column "
                                "other than user name and email",
                                first_err, s->cfg->table));
    s->retry = 1;
    return -1;
}

/* JITProvLinkBy: the row SCIM made for this user, found by its externalId or
 * userName equal to a claim. Only rows without iss/sub are candidates, so a
 * row that belongs to someone is never taken over; with link_iss, only that
 * issuer's logins may claim rows. *done is set when the login was decided
 * here (linked or refused); otherwise it goes on as if nothing matched. */
static jp_prov_rc link_by_claim(jp_sql *s, jp_prov *v, int *done)
{
    const jp_store_cfg *c = s->cfg;
    const char *val;
    apr_array_header_t *cand;
    json_t *d;

    *done = 0;
    if (c->link_by < 0 || !HAS_ROLE(s, c->link_by) || !c->link_claim)
        return JP_PROV_OK;
    if (c->link_iss && (!v->in->iss || strcmp(c->link_iss, v->in->iss)))
        return JP_PROV_OK;
    val = claim_string(claim_lookup(s->p, v->in->claims, c->link_claim));
    /* SCIM refuses longer values, so a longer claim matches nothing. */
    if (!val || !*val || strlen(val) > 1024)
        return JP_PROV_OK;
    if (jp_sql_find_unlinked_by(s, c->link_by, val, c->link_by == JP_COL_USERNAME, &cand))
        return JP_PROV_DB_ERROR;
    if (cand->nelts == 0)
        return JP_PROV_OK;
    *done = 1;
    if (cand->nelts > 1)
        return refuse(s, v, "link_ambiguous", 0, NULL, JP_PROV_NOT_PROVISIONED);
    d = json_object();
    json_object_set_new(d, "by",
                        json_string(c->link_by == JP_COL_USERNAME ? "userName" : "externalId"));
    json_object_set_new(d, "claim", json_string(c->link_claim));
    json_object_set_new(d, "value", jp_detail_str(s->p, val));
    return login_existing(s, v, ((const char ***)cand->elts)[0], d);
}

static jp_prov_rc first_login(jp_sql *s, jp_prov *v)
{
    const char **row = NULL;
    apr_int64_t id = 0;
    json_t *set, *detail;
    jp_prov_rc rc;
    int done;

    rc = link_by_claim(s, v, &done);
    if (done || rc != JP_PROV_OK)
        return rc;
    if (s->cfg->link_by_email && HAS_ROLE(s, JP_COL_EMAIL)) {
        json_t *ej = claim_lookup(s->p, v->in->claims, "email");
        const char *email = claim_string(ej);
        apr_array_header_t *cand;
        if (email && *email && strlen(email) <= 320) {
            if (jp_sql_find_unlinked(s, email, &cand))
                return JP_PROV_DB_ERROR;
            if (cand->nelts > 0) {
                json_t *ev = json_object_get(v->in->claims, "email_verified");
                if (!json_is_true(ev))
                    return refuse(s, v, "email_unverified", 0, NULL, JP_PROV_EMAIL_UNVERIFIED);
                if (cand->nelts > 1)
                    return refuse(s, v, "email_ambiguous", 0, NULL, JP_PROV_NOT_PROVISIONED);
                detail = json_object();
                json_object_set_new(detail, "by", json_string("email"));
                json_object_set_new(detail, "email", jp_detail_str(s->p, email));
                return login_existing(s, v, ((const char ***)cand->elts)[0], detail);
            }
        }
    }
    if (!s->cfg->create)
        return refuse(s, v, "not_provisioned", 0, NULL, JP_PROV_NOT_PROVISIONED);

    set = json_object();
    if (create_account(s, v, &id, set)) {
        json_decref(set);
        return s->err ? JP_PROV_DB_ERROR : v->rc;
    }
    if (!id) {
        /* Lost the race to a concurrent first login: that one created the row
         * (and its "create" audit row); this login is a later login. */
        json_decref(set);
        if (jp_sql_find_key(s, v->kiss, v->ksub, &row))
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
    if (v->collision)
        json_object_set_new(detail, "collision", v->collision);
    v->collision = NULL;
    return login_done(s, v, "create", id, detail, v->made, "new account row not found");
}

/* The audit rows of this login (its correlation id), oldest first. */
static int dry_report(jp_sql *s, jp_prov *v)
{
    apr_array_header_t *rows;
    jp_q q;
    int i;
    json_array_clear(v->dry);
    if (!s->cfg->audit_table || !*s->cfg->audit_table)
        return 0;
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT event, account_id, detail FROM ", s->cfg->audit_table,
                             " WHERE corr_id = ", NULL));
    jp_q_str(&q, v->in->corr_id);
    jp_q_sql(&q, " ORDER BY id");
    if (jp_sql_select(s, &q, &rows, NULL))
        return -1;
    for (i = 0; i < rows->nelts; i++) {
        const char **row = ((const char ***)rows->elts)[i];
        json_t *e = json_object(), *d = row[2] ? json_loads(row[2], 0, NULL) : NULL;
        json_object_set_new(e, "event", json_string(row[0] ? row[0] : ""));
        json_object_set_new(e, "detail", d ? d : json_null());
        json_array_append_new(v->dry, e);
    }
    return 0;
}

/* A login's writes are bookkeeping the next login redoes: with SQLite's WAL
 * they commit without waiting for the disk (synchronous=NORMAL: atomic and
 * never corrupt, but the last commits before a power loss or an OS crash can
 * be lost; not on an httpd crash). Everything else, whose loss would undo a
 * decision (SCIM, jitprov-admin, deactivation), commits with FULL
 * (jp_sql_begin sets the level). */
static int relaxed(jp_sql *s, const jp_prov *v)
{
    return !s->pg && !v->dry && !s->cfg->login_sync_full;
}

static jp_prov_rc provision_tx(jp_sql *s, jp_prov *v)
{
    const char **row = NULL;
    jp_prov_rc rc;

    if (jp_sql_begin(s))
        return JP_PROV_DB_ERROR;
    if (jp_sql_find_key(s, v->kiss, v->ksub, &row))
        rc = JP_PROV_DB_ERROR;
    else if (row)
        rc = login_existing(s, v, row, NULL);
    else
        rc = first_login(s, v);
    if (v->dry && !s->err) {
        /* The same statements as a real login, then a rollback: what it
         * would write is read back from inside the transaction. */
        if (dry_report(s, v))
            rc = JP_PROV_DB_ERROR;
        jp_sql_rollback(s);
        return s->err ? JP_PROV_DB_ERROR : rc;
    }
    if (s->err || jp_sql_commit(s)) {
        jp_sql_rollback(s);
        return JP_PROV_DB_ERROR;
    }
    return rc;
}

/* NORMAL never corrupts the file only under WAL: a rollback journal (a file
 * jitprov-admin init could not switch, or never saw) keeps the connection's
 * own setting. A yes is remembered for the connection: a file leaves WAL
 * only under an exclusive lock, and a connection in WAL mode holds a shared
 * one as long as it is open. A no is asked again at the next login. */
#define JP_WAL_KEY "jitprov:wal" /* a mark, not a statement */

static int wal(jp_sql *s)
{
    const char *mode = NULL;
    if (apr_hash_get(s->db->prepared, JP_WAL_KEY, APR_HASH_KEY_STRING))
        return 1;
    if (jp_sql_value(s, "PRAGMA journal_mode", 0, &mode) != 0 || !mode || strcasecmp(mode, "wal"))
        return 0;
    apr_hash_set(s->db->prepared, JP_WAL_KEY, APR_HASH_KEY_STRING, "1");
    return 1;
}

static jp_prov_rc provision_once(jp_sql *s, jp_prov *v)
{
    s->relaxed = relaxed(s, v) && wal(s);
    return provision_tx(s, v);
}

/* One attempt (jp_sql_run may make a second): its own time, reason and
 * account. */
static int op_provision(jp_sql *s, void *arg)
{
    jp_prov *v = arg;
    v->now = jp_sql_now();
    v->why = NULL;
    v->rc = JP_PROV_DB_ERROR;
    if (v->collision)
        json_decref(v->collision);
    v->collision = NULL;
    v->made = NULL;
    memset(v->out, 0, sizeof(*v->out));
    v->rc = provision_once(s, v);
    return JP_STORE_OK;
}

static jp_prov_rc provision(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                            jp_account *out, const char **err, json_t *dry);

jp_prov_rc jp_provision(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                        jp_account *out, const char **err)
{
    return provision(p, db, cfg, in, out, err, NULL);
}

jp_prov_rc jp_provision_dry(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                            jp_account *out, json_t *events, const char **err)
{
    return provision(p, db, cfg, in, out, err, events);
}

static jp_prov_rc provision(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                            jp_account *out, const char **err, json_t *dry)
{
    jp_prov v;
    const char *dberr = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (err)
        *err = NULL;
    memset(&v, 0, sizeof(v));
    v.in = in;
    v.out = out;
    v.dry = dry;
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
        if (dry) {
            json_t *x = json_object();
            json_object_set_new(x, "event", json_string("refuse"));
            json_object_set_new(x, "detail", json_loads(e.detail, 0, NULL));
            json_array_append_new(dry, x);
            return JP_PROV_NOT_PROVISIONED;
        }
        if (jp_audit_ex(p, db, cfg, &e, NULL))
            return JP_PROV_DB_ERROR;
        return JP_PROV_NOT_PROVISIONED;
    }

    rc = jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_provision, &v, &dberr);
    if (v.collision)
        json_decref(v.collision);
    if (rc != JP_STORE_OK) {
        memset(out, 0, sizeof(*out));
        if (err)
            *err = dberr;
        return rc == JP_STORE_BUSY ? JP_PROV_DB_BUSY : JP_PROV_DB_ERROR;
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
    return v.rc;
}

/* ------------------------------------------------------------------------ */
/* Refusals before the account rules                                          */

typedef struct {
    jp_audit_entry e;
    const char *key; /* NULL: no usable key, no account to name */
} jp_early_refusal;

static int op_refuse(jp_sql *s, void *arg)
{
    jp_early_refusal *a = arg;
    const char **row = NULL;
    jp_q q;
    a->e.account_id = 0;
    if (!s->cfg->audit_table || !*s->cfg->audit_table)
        return JP_STORE_OK;
    if (a->key) {
        /* A plain read, no lock: the row only gets named, never changed. */
        jp_q_init(&q, s->p);
        jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ", ROLE_COL(s, JP_COL_ID), " FROM ", s->cfg->table,
                                 " WHERE ", NULL));
        if (HAS_ROLE(s, JP_COL_ISS)) {
            jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_ISS), " = ", NULL));
            jp_q_str(&q, a->e.iss);
            jp_q_sql(&q, " AND ");
        }
        jp_q_sql(&q, apr_pstrcat(s->p, ROLE_COL(s, JP_COL_SUB), " = ", NULL));
        jp_q_str(&q, a->key);
        if (jp_sql_first(s, &q, &row))
            return JP_STORE_ERROR;
        if (row && row[0])
            a->e.account_id = apr_atoi64(row[0]);
    }
    return jp_sql_audit_alone(s, &a->e) ? JP_STORE_ERROR : JP_STORE_OK;
}

int jp_refuse_login(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                    const char *reason, const char **err)
{
    jp_early_refusal a;
    json_t *d = json_object();
    const char *key = in->sub;
    memset(&a, 0, sizeof(a));
    if (cfg->account_key && strcmp(cfg->account_key, "sub"))
        key = claim_text(p, in->claims, cfg->account_key, cfg->delim);
    if (in->iss && *in->iss && key && *key && strlen(in->iss) <= JP_VALUE_MAX &&
        strlen(key) <= JP_VALUE_MAX)
        a.key = key;
    json_object_set_new(d, "reason", json_string(reason));
    a.e.event = "refuse";
    a.e.iss = in->iss;
    /* Under the account key, as every other audit row of a login; the
     * token's sub when the key claim is missing. */
    a.e.sub = a.key ? a.key : in->sub;
    a.e.client_ip = in->client_ip;
    a.e.corr_id = in->corr_id;
    a.e.detail = jp_detail_text(p, d); /* releases d */
    return jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_refuse, &a, err) == JP_STORE_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Status re-check                                                            */

typedef struct {
    apr_int64_t id;
    const char *iss, *key; /* what the row's key must be; NULL: not checked */
    const char *status;
} jp_status_check;

static int op_status(jp_sql *s, void *varg)
{
    jp_status_check *a = varg;
    jp_q q;
    const char **row;
    int has_iss = HAS_ROLE(s, JP_COL_ISS), has_sub = HAS_ROLE(s, JP_COL_SUB);
    jp_q_init(&q, s->p);
    jp_q_sql(&q, apr_pstrcat(s->p, "SELECT ",
                             ROLE_COL(s, HAS_ROLE(s, JP_COL_STATUS) ? JP_COL_STATUS : JP_COL_ID),
                             ", ", ROLE_COL(s, has_iss ? JP_COL_ISS : JP_COL_ID), ", ",
                             ROLE_COL(s, has_sub ? JP_COL_SUB : JP_COL_ID), " FROM ", s->cfg->table,
                             " WHERE ", ROLE_COL(s, JP_COL_ID), " = ", NULL));
    jp_q_int(&q, a->id);
    if (jp_sql_first(s, &q, &row))
        return JP_STORE_ERROR;
    if (!row)
        a->status = "gone";
    else if (!HAS_ROLE(s, JP_COL_STATUS))
        a->status = "active";
    else
        a->status = jp_sql_status(row[0]);
    /* An active row under this id that is not the one the session was made
     * for: ids can be handed out again (a row deleted by hand; SQLite commits
     * lost with the power). A row that is not active ends the session anyway,
     * under its own status (a SCIM-deleted row keeps its id but not its key). */
    if (row && !strcmp(a->status, "active") &&
        ((has_iss && a->iss && (!row[1] || strcmp(row[1], a->iss))) ||
         (has_sub && a->key && (!row[2] || strcmp(row[2], a->key)))))
        a->status = JP_STATUS_OTHER;
    return JP_STORE_OK;
}

int jp_account_status_of(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                         const char *iss, const char *key, const char **status)
{
    jp_status_check a = {id, iss, key, NULL};
    int rc = jp_sql_run(p, db, cfg, JP_SQL_LABEL, op_status, &a, NULL);
    *status = rc == JP_STORE_OK ? a.status : NULL;
    return rc == JP_STORE_OK ? 0 : -1;
}

int jp_account_status(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                      const char **status)
{
    return jp_account_status_of(p, db, cfg, id, NULL, NULL, status);
}
