/* SetHandler jitprov-session-info: the session as JSON for single-page
 * applications (GET), and an explicit extend (POST, same origin only). A GET
 * does not count as activity, so a page polling it does not keep an idle
 * session alive; the extend never goes past JITProvSessionMaxDuration. Only
 * the claims JITProvSessionInfoClaims names are shown. */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_strings.h"

#define JP_SESSINFO_HANDLER "jitprov-session-info"

static int send_json(request_rec *r, int status, json_t *j)
{
    const char *text = jp_json_text(r->pool, j, JSON_COMPACT);
    json_decref(j);
    jp_no_store(r);
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    ap_set_content_type(r, "application/json");
    r->status = status;
    if (!text)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (!r->header_only) {
        ap_rputs(text, r);
        ap_rputs("\n", r);
    }
    return OK;
}

static int send_error(request_rec *r, int status, const char *code, const char *msg)
{
    return send_json(r, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

/* A claim value as kept in the session: a multi-valued claim becomes an array
 * of strings, anything else a string (numbers and booleans as their JSON text). */
static json_t *claim_json(apr_pool_t *p, const char *v)
{
    json_t *a;
    char sep[2] = {JP_MULTI_SEP, 0}, *copy, *el, *last;
    if (!strchr(v, JP_MULTI_SEP))
        return json_string(v);
    a = json_array();
    copy = apr_pstrdup(p, v);
    for (el = apr_strtok(copy, sep, &last); el; el = apr_strtok(NULL, sep, &last))
        json_array_append_new(a, json_string(el));
    return a;
}

static int send_info(request_rec *r, jp_srv_cfg *c, jp_dir_cfg *d, const jp_session *s)
{
    int64_t idle = s->last_seen + c->inactivity, end = jp_session_hard_end(c, s);
    json_t *claims = json_object(), *j;
    int i;
    if (d->info_claims) {
        for (i = 0; i < d->info_claims->nelts; i++) {
            const char *name = ((const char **)d->info_claims->elts)[i];
            const char *v = jp_kv_get(s->kv, apr_pstrcat(r->pool, "c:", name, NULL));
            /* json_string refuses bytes that are not UTF-8: such a claim is left out. */
            json_t *jv = v ? claim_json(r->pool, v) : NULL;
            if (jv)
                json_object_set_new(claims, name, jv);
        }
    }
    j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:i, s:o}", "sub", s->sub, "created",
                  (json_int_t)apr_time_sec(s->created), "last_activity", (json_int_t)s->last_seen,
                  "expires", (json_int_t)end, "idle_expires", (json_int_t)(idle < end ? idle : end),
                  "inactivity_timeout", c->inactivity, "claims", claims);
    if (!j)
        return send_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                          "The session could not be shown.");
    json_object_set_new(j, "account_id",
                        s->account_id ? json_integer((json_int_t)s->account_id) : json_null());
    return send_json(r, HTTP_OK, j);
}

/* The extend changes server state: only pages of this origin may ask. Browsers
 * send Origin with every POST; Sec-Fetch-Site covers the rest. Nothing to go
 * on means no. */
static int same_origin(request_rec *r, jp_srv_cfg *c)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    if (origin)
        return !strcasecmp(origin, jp_origin_url(r, c, ""));
    return site && !strcmp(site, "same-origin");
}

int jp_sessinfo_handler(request_rec *r)
{
    jp_srv_cfg *c;
    jp_req *rq = NULL;
    int rc, extend;

    if (!r->handler || strcmp(r->handler, JP_SESSINFO_HANDLER))
        return DECLINED;
    c = JP_SRV(r->server);
    if (!c->provider)
        return send_error(r, HTTP_INTERNAL_SERVER_ERROR, "not_configured",
                          "Login is not configured on this server.");
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", "POST", NULL);
        apr_table_setn(r->err_headers_out, "Allow", "GET, HEAD, POST");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                          "Use GET to read the session, POST to extend it.");
    }
    extend = r->method_number == M_POST;
    rc = ap_discard_request_body(r);
    if (rc != OK)
        return rc;
    if (extend && !same_origin(r, c)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0270) "session extend refused: Origin %s is not this site",
                      ap_escape_logitem(r->pool, apr_table_get(r->headers_in, "Origin")
                                                     ? apr_table_get(r->headers_in, "Origin")
                                                     : "(none)"));
        return send_error(r, HTTP_FORBIDDEN, "cross_origin",
                          "The session can only be extended from this site's own pages.");
    }
    /* With cookie sessions the extend is a fresh cookie, issued by the load. */
    apr_table_setn(r->notes, extend ? JP_NOTE_EXTEND : JP_NOTE_PASSIVE, "1");
    rc = jp_session_load(r, c, &rq);
    if (rc == DECLINED || (rc == OK && !rq)) {
        jp_challenge(r);
        return send_error(r, HTTP_UNAUTHORIZED, "no_session", "There is no valid session.");
    }
    if (rc != OK)
        return send_error(r, rc, "unavailable", "The session cannot be checked right now.");
    if (extend && apr_table_get(r->notes, JP_NOTE_EXTEND_FAILED))
        return send_error(r, HTTP_INTERNAL_SERVER_ERROR, "server_error",
                          "The session could not be extended.");
    return send_info(r, c, JP_DIR(r), rq->sess);
}
