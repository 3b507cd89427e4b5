/* Access tokens for the backend (JITProvPassAccessToken): kept sealed in the
 * session's server-side record (never in the cookie), refreshed with the refresh token shortly
 * before they expire (JITProvRefreshMargin), handed to the application as a header or an
 * environment variable. A token that cannot be renewed ends the session
 * (JITProvRefreshFailure). Tokens never reach the log. */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include "tokenset.h"
#include "url.h"
#include "json.h"

#define JP_MAX_REFRESH_RESP (128 * 1024)

const char *jp_backend_tokens_keep(request_rec *r, jp_srv_cfg *c, json_t *tok, const char *iss,
                                   const char *sub)
{
    jp_tokenset t;
    const char *err = NULL, *blob;
    if (!c->keep_tokens)
        return "";
    if (jp_tokenset_from_response(r->pool, tok, apr_time_sec(apr_time_now()), NULL, &t, &err)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0373) "token response unusable for the backend (%s): the session "
                                  "keeps no access token",
                      err);
        return "";
    }
    blob = jp_tokenset_seal(r->pool, &c->token_keys[0], jp_tokenset_aad(r->pool, iss, sub), &t);
    return blob ? blob : "";
}

static int refresh(request_rec *r, jp_srv_cfg *c, const jp_tokenset *old, jp_tokenset *out)
{
    const char *err = NULL, *body, *e;
    jp_http_resp resp;
    jp_meta m;
    json_t *j;
    int rc;
    rc = jp_provider_meta(r, c, &m, &err);
    if (rc != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0372) "access token refresh failed: provider metadata: %s", err);
        return -1;
    }
    body = apr_pstrcat(r->pool, "grant_type=refresh_token&refresh_token=",
                       jp_url_encode(r->pool, old->refresh_token), NULL);
    if (jp_token_post(r, c, &m, body, &resp, &err) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0372) "access token refresh failed: token endpoint: %s", err);
        return -1;
    }
    j = resp.len <= JP_MAX_REFRESH_RESP ? jp_json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    if (resp.status != 200 || !json_is_object(j) ||
        jp_tokenset_from_response(r->pool, j, apr_time_sec(apr_time_now()), old, out, &err)) {
        e = json_is_string(json_object_get(j, "error"))
                ? apr_pstrdup(r->pool, json_string_value(json_object_get(j, "error")))
                : (resp.status == 200 ? err : "(no error code)");
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0372) "access token refresh failed: HTTP %ld, %s", resp.status,
                      ap_escape_logitem(r->pool, e));
        json_decref(j);
        return -1;
    }
    json_decref(j);
    return 0;
}

/* Ends the session: refresh failed, or no token to give the backend. */
static int give_up(request_rec *r, jp_srv_cfg *c, jp_req *rq, const char *why)
{
    if (jp_session_destroy(r, c, rq) != 0)
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The session store is unavailable.",
                       "access token for the backend: %s; the session end could not be "
                       "recorded",
                       why);
    jp_cookie_set(r, c, c->cookie_name, "", "/", 0);
    jp_metric(JP_M_SESSION_ENDED);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, JPLOG(0374) "session of sub=%s ended: %s",
                  ap_escape_logitem(r->pool, rq->sess->sub), why);
    if (c->refresh_fail == 1)
        return DECLINED;
    return jp_fail(r, HTTP_UNAUTHORIZED, "Your session has ended. Please log in again.",
                   "access token for the backend: %s", why);
}

static void pass(request_rec *r, jp_dir_cfg *d, const jp_tokenset *t)
{
    int how = d->pass_token;
    if (how & JP_PASS_HEADER) {
        const char *name = d->token_header ? d->token_header : JP_DEFAULT_TOKEN_HEADER;
        apr_table_setn(r->headers_in, name,
                       strcasecmp(name, "Authorization")
                           ? t->access_token
                           : apr_pstrcat(r->pool, "Bearer ", t->access_token, NULL));
    }
    if (how & JP_PASS_ENV) {
        apr_table_setn(r->subprocess_env, "JITPROV_ACCESS_TOKEN", t->access_token);
        if (t->expires)
            apr_table_setn(r->subprocess_env, "JITPROV_ACCESS_TOKEN_EXPIRES",
                           apr_psprintf(r->pool, "%" APR_INT64_T_FMT, t->expires));
    }
}

int jp_backend_token(request_rec *r, jp_srv_cfg *c, jp_dir_cfg *d, jp_req *rq)
{
    jp_session *s = rq->sess;
    const char *aad = jp_tokenset_aad(r->pool, s->iss, s->sub);
    int64_t now = apr_time_sec(apr_time_now());
    jp_tokenset t, fresh;
    char *blob;

    if (!s->tokens || !*s->tokens ||
        jp_tokenset_open(r->pool, c->token_keys, c->nkeys, aad, s->tokens, &t) != 0)
        return give_up(r, c, rq, "the session holds no access token");
    /* A subrequest uses what its main request settled. */
    if (r->main || !jp_tokenset_due(&t, now, c->refresh_margin)) {
        pass(r, d, &t);
        return OK;
    }
    if (!*t.refresh_token)
        return give_up(r, c, rq, "the access token expires and there is no refresh token");
    if (refresh(r, jp_provider_for_iss(r, c, s->iss), &t, &fresh) != 0) {
        /* A parallel request of the same session may have refreshed first (a
         * rotated refresh token then fails here): take its result. */
        const char *stored = jp_session_stored_tokens(r, c, rq);
        if (stored && *stored && strcmp(stored, s->tokens) &&
            jp_tokenset_open(r->pool, c->token_keys, c->nkeys, aad, stored, &t) == 0 &&
            (!t.expires || t.expires > now)) {
            pass(r, d, &t);
            return OK;
        }
        return give_up(r, c, rq, "the access token could not be refreshed");
    }
    blob = jp_tokenset_seal(r->pool, &c->token_keys[0], aad, &fresh);
    if (!blob || jp_session_save_tokens(r, c, rq, blob) != 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0375) "refreshed tokens could not be stored in the session");
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  JPLOG(0371) "access token of sub=%s refreshed, valid until %" APR_INT64_T_FMT,
                  ap_escape_logitem(r->pool, s->sub), fresh.expires);
    pass(r, d, &fresh);
    return OK;
}
