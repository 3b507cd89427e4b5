/* Local and RP-initiated logout (OIDC RP-Initiated Logout 1.0) and the
 * Back-Channel Logout 1.0 receiver. */
#include "jitprov.h"
#include "http_protocol.h"
#include "http_core.h"
#include "apr_strings.h"

#include "url.h"

/* 1 when the request comes from another site: the browser says so
 * (Sec-Fetch-Site: cross-site), or, from browsers that do not send that, an
 * Origin or Referer of another origin. No header at all (typed URL, old client,
 * no-referrer policy) counts as same-site. */
static int cross_site(request_rec *r, jp_srv_cfg *c)
{
    const char *sfs = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *from;
    jp_origin o;

    if (sfs)
        return strcasecmp(sfs, "same-origin") && strcasecmp(sfs, "same-site") &&
               strcasecmp(sfs, "none");
    from = apr_table_get(r->headers_in, "Origin");
    if (!from)
        from = apr_table_get(r->headers_in, "Referer");
    if (!from)
        return 0;
    /* "null" (sandboxed, privacy-redirected) and anything not absolute is foreign. */
    /* Our origin as the browser sees it: behind a JITProvTrustedProxy that is
     * the proxy's scheme and host, not this server's. */
    jp_origin_get(r, c, &o);
    return !ap_strstr_c(from, "://") || !jp_safe_return_to(r->pool, from, o.scheme, o.host, o.port);
}

/* The page that asks before logging out, its link to this same URL. */
static int confirm_page(request_rec *r)
{
    const char *href =
        apr_pstrcat(r->pool, r->uri, r->args ? "?" : "", r->args ? r->args : "", NULL);
    jp_no_store(r);
    apr_table_setn(r->headers_out, "Referrer-Policy", "same-origin");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy", "frame-ancestors 'none'");
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r,
               "<!DOCTYPE html>\n<html><head><title>Log out?</title>"
               "<meta name=\"robots\" content=\"noindex\"></head><body>\n"
               "<h1>Log out?</h1>\n<p>Another site sent you here to log out.</p>\n"
               "<p><a id=\"jitprov-logout\" href=\"%s\">Log out</a> &middot; "
               "<a id=\"jitprov-stay\" href=\"/\">Stay logged in</a></p>\n</body></html>\n",
               ap_escape_html(r->pool, href));
    return OK;
}

/* Logout is a plain link, which any site can make a browser follow with the
 * SameSite=Lax session cookie, and it also ends the IdP session. From another
 * site it only shows a page whose link, followed from our own origin, logs
 * out: nothing ends without the user's click here. DECLINED = go ahead. */
static int cross_site_guard(request_rec *r, jp_srv_cfg *c)
{
    const char *from;
    if (!cross_site(r, c))
        return DECLINED;
    from = apr_table_get(r->headers_in, "Origin");
    if (!from)
        from = apr_table_get(r->headers_in, "Referer");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0480) "cross-site logout request (from %s): asking for confirmation",
                  from ? ap_escape_logitem(r->pool, from) : "Sec-Fetch-Site");
    return confirm_page(r);
}

int jp_logout(request_rec *r, jp_srv_cfg *c)
{
    int guard;
    /* A link (GET) or a form's button (POST). */
    if (r->method_number != M_GET && r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "Log out with a link or a form.",
                       "logout with method %s: nothing ended",
                       ap_escape_logitem(r->pool, r->method));
    }
    /* HEAD, which link checkers and previews send to see what a URL is,
     * gets the confirmation page's headers and ends nothing. */
    if (r->header_only)
        return confirm_page(r);
    guard = cross_site_guard(r, c);
    if (guard != DECLINED)
        return guard;
    const char *ret = r->args ? jp_query_param(r->pool, r->args, "return_to") : NULL;
    const char *dest, *abs, *err = NULL;
    jp_req *rq = NULL;
    const char *hint = NULL;
    jp_meta m;
    jp_origin o;

    jp_no_store(r);
    jp_origin_get(r, c, &o);
    if (!ret && jp_query_has(r->pool, r->args, "return_to"))
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout return address is malformed.",
                       "bad return_to encoding");
    dest = jp_safe_return_to(r->pool, ret ? ret : "/", o.scheme, o.host, o.port);
    if (!dest)
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout return address must be on this site.",
                       "return_to %s refused", ap_escape_logitem(r->pool, ret));
    /* No account re-check here: a logout works while the database is down. */
    if (jp_session_peek(r, c, &rq) == OK && rq) {
        hint = jp_session_id_token(r, c, rq);
        if (jp_session_destroy(r, c, rq) != 0) {
            jp_cookie_set(r, c, c->cookie_name, "", "/", 0);
            return jp_fail(r, HTTP_SERVICE_UNAVAILABLE,
                           "Your session could not be ended on the server. Please try again.",
                           "logout of sub=%s: revocation not recorded",
                           ap_escape_logitem(r->pool, rq->sess->sub));
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JPLOG(0401) "logout of sub=%s",
                      ap_escape_logitem(r->pool, rq->sess->sub));
    }
    /* Clear the cookies even when the session was already gone. */
    jp_cookie_set(r, c, c->cookie_name, "", "/", 0);
    if (!rq)
        jp_session_clear_hint(r, c);
    abs = dest[0] == '/' ? jp_origin_url(r, c, dest) : dest;
    if (rq)
        c = jp_provider_for_iss(r, c, rq->sess->iss);
    if (rq && jp_provider_meta(r, c, &m, &err) == OK && m.end_session_endpoint) {
        const char *url = apr_pstrcat(
            r->pool, m.end_session_endpoint, strchr(m.end_session_endpoint, '?') ? "&" : "?",
            "client_id=", jp_url_encode(r->pool, c->client_id),
            "&post_logout_redirect_uri=", jp_url_encode(r->pool, abs), NULL);
        if (hint)
            url = apr_pstrcat(r->pool, url, "&id_token_hint=", hint, NULL);
        apr_table_setn(r->headers_out, "Location", url);
    } else {
        apr_table_setn(r->headers_out, "Location", abs);
    }
    return HTTP_MOVED_TEMPORARILY;
}

int jp_backchannel_logout(request_rec *r, jp_srv_cfg *c)
{
    char *body = NULL;
    const char *tok, *err = NULL, *iss, *sid, *sub, *jti;
    int64_t until;
    jp_tok_expect e;
    json_t *claims = NULL;
    jp_meta m;
    int rc, n;

    /* Back-Channel Logout 1.0 2.8's recommended pair. */
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-cache, no-store");
    apr_table_setn(r->err_headers_out, "Pragma", "no-cache");
    if (r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "POST", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "Back-channel logout accepts POST only.",
                       "back-channel logout with method %s", ap_escape_logitem(r->pool, r->method));
    }
    rc = jp_read_body(r, 32 * 1024, &body);
    if (rc != OK)
        return rc;
    tok = jp_query_param(r->pool, body, "logout_token");
    if (!tok || !*tok)
        return jp_fail(r, HTTP_BAD_REQUEST, "logout_token is missing.",
                       "back-channel logout without logout_token");
    c = jp_provider_for_token(r, c, tok);
    /* Back-Channel Logout 1.0 2.8: a logout that failed, for whatever
     * reason, is answered 400 like an invalid one; the log line says why. */
    rc = jp_provider_meta(r, c, &m, &err);
    if (rc != OK)
        return jp_fail(r, HTTP_BAD_REQUEST, "The identity provider cannot be reached.",
                       "back-channel logout: metadata: %s", err);
    memset(&e, 0, sizeof(e));
    e.issuer = m.issuer;
    e.client_id = c->client_id;
    e.client_secret = c->client_secret;
    e.algs = jp_token_algs(r->pool, m.id_token_algs);
    e.now = apr_time_sec(apr_time_now());
    e.skew = c->skew;
    e.max_iat_age = 600;
    e.trusted_aud = c->trusted_aud ? (const char *const *)c->trusted_aud->elts : NULL;
    rc = jp_provider_validate(r, c, tok, &e, JP_VAL_LOGOUT, &claims, &err);
    if (rc == JP_TOK_IDP_DOWN || rc == JP_TOK_IDP_TIMEOUT)
        return jp_fail(r, HTTP_BAD_REQUEST, "The identity provider cannot be reached.",
                       "logout token: %s", err);
    if (rc != JP_TOK_OK)
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout token is invalid.",
                       "logout token rejected: %s", err ? err : "invalid");
    iss = json_string_value(json_object_get(claims, "iss"));
    sid = json_string_value(json_object_get(claims, "sid"));
    sub = json_string_value(json_object_get(claims, "sub"));
    jti = json_string_value(json_object_get(claims, "jti"));
    /* A replayed token ends nothing: remembered while its iat and exp can
     * still pass validation (token.c requires both). Marked before the
     * revocation so that two deliveries at once end the sessions once, and
     * taken back when the revocation fails: the token counts as used only
     * once its sessions are ended (revocation is idempotent). */
    until = (int64_t)json_number_value(json_object_get(claims, "exp")) + c->skew + 1;
    if (until > e.now + e.max_iat_age + 2 * c->skew + 1)
        until = e.now + e.max_iat_age + 2 * c->skew + 1;
    n = jp_session_once(r, c, "j", iss, jti, until);
    if (n == 1)
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout token was already used.",
                       "logout token jti %s replayed", ap_escape_logitem(r->pool, jti));
    if (n == 0)
        n = jp_session_revoke_sid(r, c, iss, sid, sub);
    if (n != 0) {
        jp_session_once_undo(r, c, "j", iss, jti);
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout could not be recorded.",
                       "back-channel logout (sid=%s sub=%s): revocation not recorded",
                       sid ? ap_escape_logitem(r->pool, sid) : "-",
                       sub ? ap_escape_logitem(r->pool, sub) : "-");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0402) "back-channel logout: every session of %s=%s ended",
                  sid && *sid ? "sid" : "sub", ap_escape_logitem(r->pool, sid && *sid ? sid : sub));
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/plain");
    ap_rputs("", r);
    return OK;
}

/* A query parameter the IdP wrote: printable ASCII, bounded; NULL otherwise. */
static const char *fcl_param(request_rec *r, const char *name)
{
    const char *v = r->args ? jp_query_param(r->pool, r->args, name) : NULL;
    const unsigned char *q;
    if (!v || !*v || strlen(v) > 1024)
        return NULL;
    for (q = (const unsigned char *)v; *q; q++)
        if (*q < 0x21 || *q > 0x7e)
            return NULL;
    return v;
}

/* OIDC Front-Channel Logout 1.0: the IdP's logout page loads this in a hidden
 * iframe. The browser sends no SameSite=Lax session cookie into a cross-site
 * iframe, so the session cookie cannot say whom to log out: sid must
 * (frontchannel_logout_session_required), and without it nothing can be done
 * safely, hence 400 rather than a silent 200. Entra ID sends sid without iss
 * (the spec wants both): a vhost trusts one issuer and sessions are indexed
 * by (issuer, sid), so a missing iss means ours; a present one must be ours. */
int jp_frontchannel_logout(request_rec *r, jp_srv_cfg *c)
{
    const char *iss, *sid, *err = NULL;
    jp_req *rq = NULL;
    jp_meta m;
    int rc, own = 0;

    /* Front-Channel Logout 1.0 2: a cached answer would end no session. */
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-cache, no-store");
    apr_table_setn(r->err_headers_out, "Pragma", "no-cache");
    if (r->method_number != M_GET) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "Front-channel logout accepts GET only.",
                       "front-channel logout with method %s",
                       ap_escape_logitem(r->pool, r->method));
    }
    iss = fcl_param(r, "iss");
    sid = fcl_param(r, "sid");
    if (!sid || (!iss && jp_query_has(r->pool, r->args, "iss")))
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout request does not name a session.",
                       "front-channel logout without a usable sid (and iss) parameter: register "
                       "frontchannel_logout_session_required=true at the IdP");
    /* With several providers the iss names whose logout this is. */
    if (iss)
        c = jp_provider_for_iss(r, c, iss);
    rc = jp_provider_meta(r, c, &m, &err);
    if (rc != OK)
        return jp_fail(r, rc, "The identity provider cannot be reached.", "metadata: %s", err);
    if (!iss)
        iss = m.issuer;
    else if (strcmp(iss, m.issuer))
        return jp_fail(r, HTTP_BAD_REQUEST, "The logout request came from another issuer.",
                       "front-channel logout iss %s is not %s", ap_escape_logitem(r->pool, iss),
                       m.issuer);
    /* Negative: the revocation could not be recorded (shared cache down):
     * the IdP must not believe the sessions ended. */
    if (jp_session_revoke_sid(r, c, iss, sid, NULL) < 0)
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The logout could not be completed.",
                       "front-channel logout (sid=%s): the session store refused the revocation",
                       sid);
    /* Same-site embeddings do send the cookie: that session ends as well. */
    if (jp_session_load(r, c, &rq) == OK && rq) {
        jp_session_destroy(r, c, rq);
        jp_cookie_set(r, c, c->cookie_name, "", "/", 0);
        own = 1;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0440) "front-channel logout (sid=%s): the sessions of that sid ended%s",
                  sid, own ? ", and the session of the cookie sent with it" : "");
    r->status = HTTP_OK;
    /* Loaded in an iframe of the IdP's page: no framing restriction here, and
     * nothing for the page to run or fetch. */
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Security-Policy", "default-src 'none'");
    if (!r->header_only)
        ap_rputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Signed out</title>"
                 "</head><body><p id=\"jitprov-signed-out\">Signed out.</p></body></html>\n",
                 r);
    return OK;
}
