/* SetHandler jitprov-scim: the SCIM 2.0 endpoint (RFC 7644) for Users over the
 * account table, for Entra ID, Okta and other provisioning clients.
 *
 *   <Location /scim/v2>
 *       SetHandler jitprov-scim
 *   </Location>
 *   JITProvSCIMBearerToken file:/etc/apache2/scim.token
 *
 * Every answer, errors included, is application/scim+json; the parsing and
 * rendering live in scim*.c, the SQL in scim_store.c. A deactivation (PATCH or
 * PUT active=false, DELETE) also ends the user's live sessions at once through
 * the session cache; other nodes see the status at their next re-check. */
#include "jitprov.h"
#include "http_core.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include <errno.h>

#include "scim.h"
#include "scim_store.h"

#define SCIM_CONTENT_TYPE "application/scim+json"
#define SCIM_PAGE_DEFAULT 100

typedef struct {
    request_rec *r;
    jp_srv_cfg *c;
    const char *base;      /* absolute URL of the endpoint root (…/scim/v2) */
    const char *users_url; /* base + "/Users" */
    jp_actor who;
    const jp_scim_attrs *sel; /* attributes / excludedAttributes of the answer */
} scim_req;

/* ---- answers ---- */

static int send_json(request_rec *r, int status, const char *json)
{
    apr_size_t n;
    if (!json)
        json = "{\"schemas\":[\"" JP_SCIM_MSG_ERROR "\"],\"status\":\"500\"}";
    n = strlen(json);
    r->status = status;
    ap_set_content_type(r, SCIM_CONTENT_TYPE);
    ap_set_content_length(r, n);
    if (!r->header_only)
        ap_rwrite(json, (int)n, r);
    return OK;
}

/* A SCIM error body (RFC 7644 3.12) with the handler's status, rather than
 * httpd's HTML error page. log_detail goes to the error log only. */
static int scim_fail(scim_req *x, int status, const char *type, const char *detail,
                     const char *log_detail)
{
    request_rec *r = x->r;
    jp_scim_err e;
    int level = status >= 500 ? APLOG_ERR : status == 401 ? APLOG_WARNING : APLOG_INFO;
    e.status = status;
    e.type = type;
    e.detail = detail;
    ap_log_rerror(APLOG_MARK, level, 0, r, JPLOG(0701) "SCIM %s %s: %d%s%s: %s%s%s [ref %s]",
                  r->method, ap_escape_logitem(r->pool, r->uri), status, type ? " " : "",
                  type ? type : "", detail ? detail : "", log_detail ? " - " : "",
                  log_detail ? ap_escape_logitem(r->pool, log_detail) : "", jp_ref(r));
    return send_json(r, status, jp_scim_render_error(r->pool, &e));
}

static int scim_err(scim_req *x, const jp_scim_err *e)
{
    return scim_fail(x, e->status, e->type, e->detail, NULL);
}

/* Database trouble: the client retries later (DESIGN: database down is 503). */
static int db_fail(scim_req *x, int rc, const char *err)
{
    jp_db db;
    const char *ierr = NULL;
    /* The default tables of an older version lack columns this one reads:
     * add them (as a login would), and let the client retry. */
    if (rc == JP_STORE_ERROR && jp_store_err_missing_schema(err) &&
        !strcmp(x->c->store.table, "jitprov_accounts") && jp_db_acquire(x->r, &db) == OK) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, x->r,
                      JPLOG(0760) "SCIM: account tables or columns missing (%s): creating them",
                      err);
        if (jp_store_init_schema(x->r->pool, &db, &x->c->store, &ierr) != 0)
            err = apr_psprintf(x->r->pool, "cannot create the account tables: %s", ierr);
        else
            apr_table_setn(x->r->headers_out, "Retry-After", "1");
    }
    if (rc == JP_STORE_BUSY)
        apr_table_setn(x->r->headers_out, "Retry-After", "2");
    return scim_fail(x, HTTP_SERVICE_UNAVAILABLE, NULL,
                     "the account database is unavailable; try again later",
                     err ? err : "database error");
}

static int store_fail(scim_req *x, int rc, const char *err)
{
    switch (rc) {
    case JP_STORE_NOT_FOUND:
        return scim_fail(x, HTTP_NOT_FOUND, NULL, "no such user", NULL);
    case JP_STORE_CONFLICT:
        return scim_fail(x, HTTP_CONFLICT, JP_SCIM_E_UNIQUE, err ? err : "the user exists", NULL);
    case JP_STORE_UNSUPPORTED:
        return scim_fail(x, HTTP_NOT_IMPLEMENTED, NULL, err ? err : "not supported here", NULL);
    case JP_STORE_BAD_STATE:
        return scim_fail(x, HTTP_BAD_REQUEST, JP_SCIM_E_VALUE, err ? err : "invalid value", NULL);
    case JP_STORE_LIMIT:
        /* invalidFilter, not tooMany: the form is refused, not the number of
         * results, and a narrower filter would be one more new form. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, x->r,
                      JPLOG(0903) "SCIM: a database connection holds statements for %d "
                                  "filter forms, its limit: a filter of another form refused",
                      JP_SCIM_FILTER_FORMS_MAX);
        return scim_fail(
            x, HTTP_BAD_REQUEST, JP_SCIM_E_FILTER,
            apr_psprintf(x->r->pool,
                         "this server prepares at most %d distinct filter forms (which "
                         "attributes, operators, and, or, not) per database connection and "
                         "has that many: use a form it has answered before, such as "
                         "userName eq \"...\"",
                         JP_SCIM_FILTER_FORMS_MAX),
            NULL);
    default:
        return db_fail(x, rc, err);
    }
}

/* ---- request pieces ---- */

/* "Authorization: Bearer <token>", compared in constant time. Both sides are
 * hashed first so that not even the token's length shows in the timing. */
static int authorized(request_rec *r, const char *token)
{
    const char *h = apr_table_get(r->headers_in, "Authorization");
    char *t;
    apr_size_t n;
    if (!h || strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t'))
        return 0;
    h += 7;
    while (*h == ' ' || *h == '\t')
        h++;
    t = apr_pstrdup(r->pool, h);
    n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    return jp_ct_streq(jp_sha256_b64url(r->pool, t), jp_sha256_b64url(r->pool, token));
}

/* The body, at most JP_SCIM_BODY_MAX bytes. 0, or an HTTP status. */
static int read_body(request_rec *r, char **body, apr_size_t *len)
{
    apr_size_t max = JP_SCIM_BODY_MAX, got = 0;
    char *buf;
    long n;
    int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    *body = NULL;
    *len = 0;
    if (rc != OK)
        return rc;
    /* Refused before "100 Continue" is sent, and before reading a byte. */
    if (r->remaining > (apr_off_t)max) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    buf = apr_palloc(r->pool, max + 1);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf + got, max - got)) > 0) {
            got += (apr_size_t)n;
            if (got >= max) {
                char extra[1];
                if (ap_get_client_block(r, extra, 1) > 0) {
                    r->connection->keepalive = AP_CONN_CLOSE;
                    return HTTP_REQUEST_ENTITY_TOO_LARGE;
                }
                break;
            }
        }
        if (n < 0)
            return HTTP_BAD_REQUEST;
    }
    buf[got] = '\0';
    *body = buf;
    *len = got;
    return 0;
}

/* application/scim+json or application/json (parameters allowed); a missing
 * Content-Type is taken as JSON. */
static int json_content_type(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t n;
    if (!ct)
        return 1;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; \t");
    return (n == 21 && !strncasecmp(ct, SCIM_CONTENT_TYPE, n)) ||
           (n == 16 && !strncasecmp(ct, "application/json", n));
}

/* Body of a POST, PUT or PATCH: OK with *body set, or an answer already sent
 * (*sent set). */
static int take_body(scim_req *x, char **body, apr_size_t *len, int *sent)
{
    int rc;
    *sent = 1;
    if (!json_content_type(x->r))
        return scim_fail(x, HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
                         "send the body as " SCIM_CONTENT_TYPE, NULL);
    rc = read_body(x->r, body, len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE)
        return scim_fail(
            x, rc, NULL,
            apr_psprintf(x->r->pool, "the request body is larger than %d bytes", JP_SCIM_BODY_MAX),
            NULL);
    if (rc)
        return scim_fail(x, rc, JP_SCIM_E_SYNTAX, "the request body could not be read", NULL);
    *sent = 0;
    return OK;
}

/* Query parameters (case-insensitive names, each at most once). */
typedef struct {
    const char *filter, *start, *count, *attributes, *excluded;
} scim_query;

static int parse_query(scim_req *x, scim_query *q, jp_scim_err *e)
{
    char *args, *tok, *last;
    memset(q, 0, sizeof(*q));
    if (!x->r->args)
        return 0;
    args = apr_pstrdup(x->r->pool, x->r->args);
    for (tok = apr_strtok(args, "&", &last); tok; tok = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(tok, '=');
        const char **slot = NULL;
        if (!eq)
            continue;
        *eq++ = '\0';
        if (ap_unescape_urlencoded(tok) || ap_unescape_urlencoded(eq)) {
            e->status = 400;
            e->type = JP_SCIM_E_VALUE;
            e->detail = "the query string is not correctly encoded";
            return -1;
        }
        if (!strcasecmp(tok, "filter"))
            slot = &q->filter;
        else if (!strcasecmp(tok, "startIndex"))
            slot = &q->start;
        else if (!strcasecmp(tok, "count"))
            slot = &q->count;
        else if (!strcasecmp(tok, "attributes"))
            slot = &q->attributes;
        else if (!strcasecmp(tok, "excludedAttributes"))
            slot = &q->excluded;
        else
            continue; /* sortBy, sortOrder: sorting is not supported, ignored */
        if (*slot) {
            e->status = 400;
            e->type = slot == &q->filter ? JP_SCIM_E_FILTER : JP_SCIM_E_VALUE;
            e->detail = apr_psprintf(x->r->pool, "%s is given twice", tok);
            return -1;
        }
        *slot = eq;
    }
    return 0;
}

static int parse_int(const char *s, apr_int64_t *out)
{
    char *end = NULL;
    apr_int64_t v;
    if (!s || !*s || strlen(s) > 18)
        return -1;
    errno = 0;
    v = apr_strtoi64(s, &end, 10);
    if (errno || !end || *end)
        return -1;
    *out = v;
    return 0;
}

/* ---- operations ---- */

static int users_list(scim_req *x)
{
    scim_query q;
    jp_scim_filter f;
    jp_scim_err e;
    jp_scim_user *users;
    apr_int64_t start = 1, count = SCIM_PAGE_DEFAULT, total;
    const char *err = NULL;
    jp_db db;
    int n, rc;

    if (parse_query(x, &q, &e) ||
        jp_scim_parse_attrs(x->r->pool, q.attributes, q.excluded, &x->sel, &e))
        return scim_err(x, &e);
    if (q.filter && jp_scim_parse_filter(x->r->pool, q.filter, &f, &e))
        return scim_err(x, &e);
    if (q.start && parse_int(q.start, &start))
        return scim_fail(x, 400, JP_SCIM_E_VALUE, "startIndex must be an integer", NULL);
    if (q.count && parse_int(q.count, &count))
        return scim_fail(x, 400, JP_SCIM_E_VALUE, "count must be an integer", NULL);
    /* RFC 7644 3.4.2.4: below 1 means 1; a negative count means 0. */
    if (start < 1)
        start = 1;
    if (count < 0)
        count = 0;
    if (count > JP_SCIM_PAGE_MAX)
        count = JP_SCIM_PAGE_MAX;
    if (jp_db_acquire(x->r, &db) != OK)
        return db_fail(x, JP_STORE_ERROR, "no database connection (mod_dbd)");
    rc = jp_scim_store_list(x->r->pool, &db, &x->c->store, q.filter ? &f : NULL, start, count,
                            &users, &n, &total, &err);
    if (rc != JP_STORE_OK)
        return store_fail(x, rc, err);
    return send_json(x->r, HTTP_OK,
                     jp_scim_render_list(x->r->pool, users, n, total, start, x->users_url,
                                         x->c->store.delim, x->sel));
}

static int user_answer(scim_req *x, int status, const jp_scim_user *u)
{
    if (u->id)
        apr_table_setn(x->r->headers_out, "Location",
                       apr_pstrcat(x->r->pool, x->users_url, "/", u->id, NULL));
    return send_json(x->r, status,
                     jp_scim_render_user(x->r->pool, u, x->users_url, x->c->store.delim, x->sel));
}

/* Ends the live sessions of an account that is no longer active: at once on
 * this node (shared caches: every node), however many there are and whatever
 * JITProvAccountKey is. Other vhosts end theirs at their status re-check. */
static void end_sessions(scim_req *x, const jp_scim_user *u)
{
    if (!u->id || !u->status || !strcmp(u->status, "active"))
        return;
    if (jp_session_revoke_account(x->r, x->c, apr_atoi64(u->id)) != 0)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r,
                      JPLOG(0704) "SCIM: account %s is %s, but its sessions could not be "
                                  "revoked now: they end at their next status re-check",
                      u->id, u->status);
    else
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, x->r,
                      JPLOG(0704) "SCIM: account %s is %s: its sessions are ended", u->id,
                      u->status);
}

static int users_create(scim_req *x)
{
    char *body;
    apr_size_t len;
    jp_scim_input in;
    jp_scim_err e;
    jp_scim_user out;
    const char *err = NULL;
    jp_db db;
    int rc, sent;

    rc = take_body(x, &body, &len, &sent);
    if (sent)
        return rc;
    if (jp_scim_parse_user(x->r->pool, body, len, &in, &e))
        return scim_err(x, &e);
    if (jp_db_acquire(x->r, &db) != OK)
        return db_fail(x, JP_STORE_ERROR, "no database connection (mod_dbd)");
    rc = jp_scim_store_create(x->r->pool, &db, &x->c->store, &in, &x->who, &out, &err);
    if (rc != JP_STORE_OK)
        return store_fail(x, rc, err);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, x->r, JPLOG(0702) "SCIM: created account %s (%s)",
                  out.id, ap_escape_logitem(x->r->pool, out.user_name));
    return user_answer(x, HTTP_CREATED, &out);
}

static int users_get(scim_req *x, const char *id)
{
    jp_scim_user u;
    const char *err = NULL;
    jp_db db;
    int rc;
    if (jp_db_acquire(x->r, &db) != OK)
        return db_fail(x, JP_STORE_ERROR, "no database connection (mod_dbd)");
    rc = jp_scim_store_get(x->r->pool, &db, &x->c->store, id, &u, &err);
    if (rc != JP_STORE_OK)
        return store_fail(x, rc, err);
    return send_json(x->r, HTTP_OK,
                     jp_scim_render_user(x->r->pool, &u, x->users_url, x->c->store.delim, x->sel));
}

/* PUT and PATCH run their pure edit inside the store's transaction. */
typedef struct {
    const jp_scim_input *in;    /* PUT */
    const jp_scim_patch *patch; /* PATCH */
    int touched_active;
    jp_scim_err e;
} edit_ctx;

static int edit_put(void *ctx, apr_pool_t *p, const jp_scim_user *cur, jp_scim_user *next)
{
    edit_ctx *c = ctx;
    c->touched_active = (c->in->fields & JP_SCIM_F_ACTIVE) != 0;
    return jp_scim_apply_put(p, cur, c->in, next, &c->e);
}

static int edit_patch(void *ctx, apr_pool_t *p, const jp_scim_user *cur, jp_scim_user *next)
{
    edit_ctx *c = ctx;
    return jp_scim_apply_patch(p, c->patch, cur, next, &c->touched_active, &c->e);
}

static int users_modify(scim_req *x, const char *id, int patch)
{
    char *body;
    apr_size_t len;
    jp_scim_input in;
    jp_scim_patch *pt = NULL;
    jp_scim_user out;
    edit_ctx ctx;
    const char *err = NULL;
    jp_db db;
    int rc, sent, changed;

    rc = take_body(x, &body, &len, &sent);
    if (sent)
        return rc;
    memset(&ctx, 0, sizeof(ctx));
    if (patch ? jp_scim_parse_patch(x->r->pool, body, len, &pt, &ctx.e)
              : jp_scim_parse_user(x->r->pool, body, len, &in, &ctx.e))
        return scim_err(x, &ctx.e);
    ctx.in = &in;
    ctx.patch = pt;
    if (jp_db_acquire(x->r, &db) != OK)
        return db_fail(x, JP_STORE_ERROR, "no database connection (mod_dbd)");
    rc = jp_scim_store_modify(x->r->pool, &db, &x->c->store, id, patch ? edit_patch : edit_put,
                              &ctx, &x->who, &out, &changed, &err);
    if (rc == JP_SCIM_REJECTED)
        return scim_err(x, &ctx.e);
    if (rc != JP_STORE_OK)
        return store_fail(x, rc, err);
    if (changed)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, x->r, JPLOG(0703) "SCIM: %s changed account %s",
                      patch ? "PATCH" : "PUT", out.id);
    if (ctx.touched_active)
        end_sessions(x, &out);
    return user_answer(x, HTTP_OK, &out);
}

static int users_delete(scim_req *x, const char *id)
{
    jp_scim_user out;
    const char *err = NULL;
    jp_db db;
    int rc;
    if (jp_db_acquire(x->r, &db) != OK)
        return db_fail(x, JP_STORE_ERROR, "no database connection (mod_dbd)");
    rc = jp_scim_store_delete(x->r->pool, &db, &x->c->store, id, &x->who, &out, &err);
    if (rc != JP_STORE_OK)
        return store_fail(x, rc, err);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, x->r,
                  JPLOG(0705) "SCIM: DELETE removed user %s (kept as a tombstone row)", out.id);
    out.status = "deleted"; /* whatever its status was, its sessions end */
    end_sessions(x, &out);
    x->r->status = HTTP_NO_CONTENT;
    return OK;
}

/* ---- routing ---- */

typedef enum {
    R_NONE = 0,
    R_USERS,
    R_SPC,
    R_RESOURCE_TYPES,
    R_SCHEMAS,
    R_UNSUPPORTED /* Groups, Me, Bulk, .search */
} route_kind;

static route_kind route_of(const char *seg, apr_size_t n)
{
    static const struct {
        const char *name;
        route_kind k;
    } names[] = {{"Users", R_USERS},
                 {"ServiceProviderConfig", R_SPC},
                 {"ResourceTypes", R_RESOURCE_TYPES},
                 {"Schemas", R_SCHEMAS},
                 {"Groups", R_UNSUPPORTED},
                 {"Me", R_UNSUPPORTED},
                 {"Bulk", R_UNSUPPORTED},
                 {".search", R_UNSUPPORTED}};
    apr_size_t i;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == n && !strncasecmp(seg, names[i].name, n))
            return names[i].k;
    return R_NONE;
}

/* The last one or two path segments name the resource: …/Users, …/Users/{id},
 * …/ServiceProviderConfig, … The handler does not know its <Location>, so the
 * endpoint root is whatever comes before. */
static route_kind route(request_rec *r, const char **id, const char **root)
{
    const char *uri = r->uri, *last, *prev = NULL;
    apr_size_t n = strlen(uri);
    route_kind k;

    *id = NULL;
    while (n > 1 && uri[n - 1] == '/')
        n--;
    for (last = uri + n; last > uri && last[-1] != '/'; last--)
        ;
    if (last > uri + 1)
        for (prev = last - 1; prev > uri && prev[-1] != '/'; prev--)
            ;
    if ((k = route_of(last, (apr_size_t)(uri + n - last))) != R_NONE) {
        *root = apr_pstrmemdup(r->pool, uri, last > uri ? (apr_size_t)(last - uri - 1) : 0);
        return k;
    }
    if (prev && (k = route_of(prev, (apr_size_t)(last - 1 - prev))) != R_NONE) {
        *id = apr_pstrmemdup(r->pool, last, (apr_size_t)(uri + n - last));
        *root = apr_pstrmemdup(r->pool, uri, prev > uri ? (apr_size_t)(prev - uri - 1) : 0);
        return k;
    }
    return R_NONE;
}

static int not_allowed(scim_req *x, const char *allow)
{
    apr_table_setn(x->r->headers_out, "Allow", allow);
    return scim_fail(
        x, HTTP_METHOD_NOT_ALLOWED, NULL,
        apr_psprintf(x->r->pool, "%s is not allowed here (allowed: %s)", x->r->method, allow),
        NULL);
}

static int discovery(scim_req *x, route_kind k, const char *id)
{
    const char *doc;
    if (x->r->method_number != M_GET)
        return not_allowed(x, "GET");
    if (k == R_SPC)
        doc = id ? NULL : jp_scim_render_spc(x->r->pool, x->base);
    else if (k == R_RESOURCE_TYPES)
        doc = jp_scim_render_resource_types(x->r->pool, x->base, id);
    else
        doc = jp_scim_render_schemas(x->r->pool, x->base, id);
    if (!doc)
        return scim_fail(x, HTTP_NOT_FOUND, NULL, "no such resource", NULL);
    return send_json(x->r, HTTP_OK, doc);
}

int jp_scim_handler(request_rec *r)
{
    jp_srv_cfg *c;
    scim_req x;
    const char *id = NULL, *root = NULL, *bad;
    route_kind k;

    if (!r->handler || strcmp(r->handler, "jitprov-scim"))
        return DECLINED;
    c = JP_SRV(r->server);
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.c = c;
    jp_no_store(r);
    if (!c->scim_token)
        return scim_fail(&x, HTTP_INTERNAL_SERVER_ERROR, NULL,
                         "the SCIM endpoint is not configured",
                         "SetHandler jitprov-scim without JITProvSCIMBearerToken in this server");
    if (!authorized(r, c->scim_token)) {
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "Bearer realm=\"SCIM\"");
        return scim_fail(&x, HTTP_UNAUTHORIZED, NULL, "a valid bearer token is required",
                         apr_table_get(r->headers_in, "Authorization") ? "wrong bearer token"
                                                                       : "no Authorization");
    }
    if ((bad = jp_scim_store_check(&c->store)))
        return scim_fail(&x, HTTP_INTERNAL_SERVER_ERROR, NULL, "the SCIM endpoint is misconfigured",
                         bad);

    k = route(r, &id, &root);
    if (k == R_NONE)
        return scim_fail(&x, HTTP_NOT_FOUND, NULL, "no such endpoint", NULL);
    x.base = ap_construct_url(r->pool, ap_escape_uri(r->pool, root), r);
    x.users_url = apr_pstrcat(r->pool, x.base, "/Users", NULL);
    x.who.source = "scim";
    x.who.client_ip = r->useragent_ip;
    x.who.corr_id = jp_ref(r);

    switch (k) {
    case R_USERS:
        /* RFC 7644 3.9: every answer with a User honours the parameters, so a
         * bad one is refused before anything is written. The list reads them
         * with its other parameters. */
        if ((id || r->method_number == M_POST) && r->method_number != M_DELETE) {
            scim_query q;
            jp_scim_err e;
            if (parse_query(&x, &q, &e) ||
                jp_scim_parse_attrs(r->pool, q.attributes, q.excluded, &x.sel, &e))
                return scim_err(&x, &e);
        }
        if (!id) {
            if (r->method_number == M_GET)
                return users_list(&x);
            if (r->method_number == M_POST)
                return users_create(&x);
            return not_allowed(&x, "GET, POST");
        }
        switch (r->method_number) {
        case M_GET:
            return users_get(&x, id);
        case M_PUT:
            return users_modify(&x, id, 0);
        case M_PATCH:
            return users_modify(&x, id, 1);
        case M_DELETE:
            return users_delete(&x, id);
        default:
            return not_allowed(&x, "GET, PUT, PATCH, DELETE");
        }
    case R_SPC:
    case R_RESOURCE_TYPES:
    case R_SCHEMAS:
        return discovery(&x, k, id);
    default:
        return scim_fail(&x, HTTP_NOT_IMPLEMENTED, NULL,
                         "only /Users is provided (no Groups, Me, Bulk or .search)", NULL);
    }
}
