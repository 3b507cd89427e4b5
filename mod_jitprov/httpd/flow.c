/* The authorization code flow: the redirect to the IdP (state, nonce, PKCE
 * S256 in a sealed per-attempt cookie) and the callback (state check, code
 * exchange, ID token validation, gates, provisioning, session). */
#include "jitprov.h"
#include "http_protocol.h"
#include "http_core.h"
#include "apr_strings.h"

#include "state.h"
#include "url.h"
#include "json.h"
#include "tokenset.h"
#include "formpost.h"

/* Parallel tabs each get a state cookie (Path=/, so that a new attempt sees the
 * others); beyond this the oldest are dropped so
 * the Cookie header never grows into "request header too large". */
#define JP_MAX_STATES 5
#define JP_MAX_TOKEN_RESP (128 * 1024)
#define JP_MAX_HINT (8 * 1024)

const char *jp_redirect_uri(request_rec *r, jp_srv_cfg *c)
{
    if (c->redirect_uri[0] != '/')
        return c->redirect_uri;
    return jp_origin_url(r, c, c->redirect_path);
}

/* Expires the oldest state cookies when too many login attempts are open. */
static void prune_states(request_rec *r, jp_srv_cfg *c)
{
    const char *h = apr_table_get(r->headers_in, "Cookie");
    apr_array_header_t *names;
    apr_array_header_t *ages;
    int i, n, drop;
    int64_t now = apr_time_sec(apr_time_now());
    const char *prefix = apr_pstrcat(r->pool, c->state_prefix, "_", NULL);
    size_t plen = strlen(prefix);

    if (!h || !strstr(h, prefix))
        return;
    names = apr_array_make(r->pool, 8, sizeof(const char *));
    ages = apr_array_make(r->pool, 8, sizeof(int64_t));
    while (*h) {
        const char *eq, *end;
        while (*h == ' ' || *h == ';')
            h++;
        end = strchr(h, ';');
        if (!end)
            end = h + strlen(h);
        eq = memchr(h, '=', end - h);
        if (eq && (size_t)(eq - h) > plen && !strncmp(h, prefix, plen)) {
            const char *name = apr_pstrmemdup(r->pool, h, eq - h);
            const char *val = apr_pstrmemdup(r->pool, eq + 1, end - eq - 1);
            jp_authstate st;
            int64_t created = 0; /* unreadable ones go first */
            if (jp_authstate_open(r->pool, c->state_keys, c->nkeys, name, val, now, c->state_ttl,
                                  &st, NULL) == 0)
                created = st.created;
            *(const char **)apr_array_push(names) = name;
            *(int64_t *)apr_array_push(ages) = created;
        }
        h = end;
    }
    n = names->nelts;
    for (drop = n - (JP_MAX_STATES - 1); drop > 0; drop--) {
        int oldest = -1;
        for (i = 0; i < n; i++) {
            int64_t a = ((int64_t *)ages->elts)[i];
            if (a >= 0 && (oldest < 0 || a < ((int64_t *)ages->elts)[oldest]))
                oldest = i;
        }
        if (oldest < 0)
            break;
        jp_cookie_set(r, c, ((const char **)names->elts)[oldest], "", "/", 0);
        ((int64_t *)ages->elts)[oldest] = -1;
    }
}

static int meta_fail(request_rec *r, int rc, const char *err)
{
    return jp_fail(r, rc,
                   rc == HTTP_GATEWAY_TIME_OUT ? "The identity provider did not answer in time."
                                               : "The identity provider cannot be reached.",
                   "provider metadata: %s", err);
}

int jp_flow_start(request_rec *r, jp_srv_cfg *c)
{
    return jp_flow_start_to(r, c, r->unparsed_uri);
}

static int start_login(request_rec *r, jp_srv_cfg *c, const char *return_to, const char *login_hint,
                       int third_party);

int jp_flow_start_to(request_rec *r, jp_srv_cfg *c, const char *return_to)
{
    return start_login(r, c, return_to, NULL, 0);
}

/* third_party: a login an IdP started (jp_flow_initiated), with the
 * login_hint it gave (or NULL), which replaces one of
 * JITProvAuthRequestParams (OIDC Core 4: the RP MUST send it on). */
static int start_login(request_rec *r, jp_srv_cfg *c, const char *return_to, const char *login_hint,
                       int third_party)
{
    jp_meta m;
    jp_authstate st;
    const char *err = NULL, *name, *sealed, *url;
    const char *extra = login_hint && c->auth_params
                            ? jp_params_without(r->pool, c->auth_params, "login_hint")
                            : c->auth_params;
    int rc;

    rc = jp_provider_meta(r, c, &m, &err);
    if (rc != OK)
        return meta_fail(r, rc, err);
    if (jp_authstate_new(r->pool, &st, return_to, apr_time_sec(apr_time_now())) != 0)
        return jp_fail(r, HTTP_INTERNAL_SERVER_ERROR, "Login could not be started.",
                       "no randomness");
    /* Another provider than the default: its name rides in the state (multi.c). */
    if (c->provider_name)
        st.state = apr_pstrcat(r->pool, st.state, c->provider_name, NULL);
    prune_states(r, c);
    name = jp_authstate_cookie_name(r->pool, c->state_prefix, st.state);
    sealed = jp_authstate_seal(r->pool, &c->state_keys[0], name, &st);
    if (!sealed)
        return jp_fail(r, HTTP_INTERNAL_SERVER_ERROR, "Login could not be started.",
                       "cannot seal the state cookie");
    jp_cookie_set(r, c, name, sealed, "/", c->state_ttl);
    /* A third party's POST is the login's start, not a form to keep. */
    if (!third_party)
        jp_post_preserve(r, c, st.state, st.created);
    url = apr_pstrcat(
        r->pool, m.authorization_endpoint, strchr(m.authorization_endpoint, '?') ? "&" : "?",
        "response_type=code&client_id=", jp_url_encode(r->pool, c->client_id),
        "&redirect_uri=", jp_url_encode(r->pool, jp_redirect_uri(r, c)),
        "&scope=", jp_url_encode(r->pool, c->scope), "&state=", st.state, "&nonce=", st.nonce,
        "&code_challenge=", jp_sha256_b64url(r->pool, st.verifier), "&code_challenge_method=S256",
        c->response_mode == JP_RM_FORM_POST ? "&response_mode=form_post" : "",
        login_hint ? "&login_hint=" : "", login_hint ? jp_url_encode(r->pool, login_hint) : "",
        extra ? "&" : "", extra ? extra : "", NULL);
    apr_table_setn(r->headers_out, "Location", url);
    jp_no_store(r);
    jp_metric(JP_M_LOGIN_START);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, JPLOG(0301) "login started for %s",
                  ap_escape_logitem(r->pool, return_to));
    return HTTP_MOVED_TEMPORARILY;
}

static int exchange_code(request_rec *r, jp_srv_cfg *c, const jp_meta *m, const char *code,
                         const jp_authstate *st, json_t **tok)
{
    const char *body, *err = NULL;
    jp_http_resp resp;
    json_error_t je;
    apr_status_t rv;
    json_t *j;

    body = apr_pstrcat(r->pool, "grant_type=authorization_code&code=", jp_url_encode(r->pool, code),
                       "&redirect_uri=", jp_url_encode(r->pool, jp_redirect_uri(r, c)),
                       "&code_verifier=", st->verifier, NULL);
    rv = jp_token_post(r, c, m, body, &resp, &err);
    if (rv != APR_SUCCESS)
        return jp_fail(r, rv == APR_TIMEUP ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                       rv == APR_TIMEUP ? "The identity provider did not answer in time."
                                        : "The identity provider cannot be reached.",
                       "token endpoint: %s", err);
    j = resp.len <= JP_MAX_TOKEN_RESP ? jp_json_loadb(resp.body, resp.len, 0, &je) : NULL;
    if (resp.status != 200 || !json_is_object(j)) {
        const char *e = json_is_object(j) && json_is_string(json_object_get(j, "error"))
                            ? json_string_value(json_object_get(j, "error"))
                            : "(no error code)";
        /* RFC 6749 5.2: what the IdP says about a refused client (a wrong
         * secret, an unknown assertion key) is often only here. */
        const char *d = json_is_object(j) && json_is_string(json_object_get(j, "error_description"))
                            ? json_string_value(json_object_get(j, "error_description"))
                            : NULL;
        int grant = !strcmp(e, "invalid_grant");
        e = ap_escape_logitem(r->pool, e);
        d = d ? ap_escape_logitem(r->pool, apr_pstrndup(r->pool, d, 300)) : NULL;
        json_decref(j);
        return jp_fail(r, grant ? HTTP_BAD_REQUEST : HTTP_BAD_GATEWAY,
                       grant ? "The login code was rejected: it expired or was already used."
                             : "The identity provider refused to complete the login.",
                       "token endpoint answered HTTP %ld, error %s%s%s%s", resp.status, e,
                       d ? " (" : "", d ? d : "", d ? ")" : "");
    }
    /* RFC 6749 7.1: a token of a type we do not know is not sent anywhere
     * (the access token goes to userinfo as Bearer); 5.1: without one the
     * answer is not a token response. */
    if (jp_token_response_check(j, &err)) {
        const char *tt =
            json_is_string(json_object_get(j, "token_type"))
                ? ap_escape_logitem(r->pool, json_string_value(json_object_get(j, "token_type")))
                : "(none)";
        json_decref(j);
        return jp_fail(r, HTTP_BAD_GATEWAY, "The identity provider returned an unusable token.",
                       "token response refused: %s (token_type %s; RFC 6749 5.1 and OIDC Core "
                       "3.1.3.3 require an access_token of type Bearer)",
                       err, tt);
    }
    *tok = j;
    return OK;
}

/* 1 when the Content-Type's media type (parameters ignored) is `want`. */
static int media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    return !strncasecmp(ct, want, n) && (!ct[n] || ct[n] == ';' || ct[n] == ' ');
}

/* The userinfo response as a JSON object: plain JSON, or a signed JWT
 * (application/jwt, OIDC Core 5.3.2) checked like the ID token. NULL after
 * jp_fail has answered (*rc set). */
static json_t *userinfo_claims(request_rec *r, jp_srv_cfg *c, const jp_meta *m, json_t *claims,
                               const jp_http_resp *resp, int *rc)
{
    static const char bad[] = "The identity provider returned an invalid profile.";
    const char *sub = json_string_value(json_object_get(claims, "sub")), *err = NULL;
    json_error_t je;
    json_t *ui;

    if (resp->status != 200) {
        *rc = jp_fail(r, HTTP_BAD_GATEWAY, bad, "userinfo endpoint answered HTTP %ld%s%s%s",
                      resp->status, resp->www_authenticate ? " (WWW-Authenticate: " : "",
                      resp->www_authenticate ? ap_escape_logitem(r->pool, resp->www_authenticate)
                                             : "",
                      resp->www_authenticate ? ")" : "");
        return NULL;
    }
    if (resp->len > JP_MAX_TOKEN_RESP) {
        *rc = jp_fail(r, HTTP_BAD_GATEWAY, bad, "userinfo response of %lu bytes is over %d",
                      (unsigned long)resp->len, JP_MAX_TOKEN_RESP);
        return NULL;
    }
    if (media_type_is(resp->content_type, "application/jwt")) {
        char *jwt = apr_pstrmemdup(r->pool, resp->body, resp->len);
        jp_tok_expect e;
        jp_tok_rc trc;
        apr_collapse_spaces(jwt, jwt);
        memset(&e, 0, sizeof(e));
        e.issuer = m->issuer;
        e.client_id = c->client_id;
        e.trusted_aud = c->trusted_aud ? (const char *const *)c->trusted_aud->elts : NULL;
        e.client_secret = c->client_secret;
        e.algs = jp_token_algs(r->pool, m->userinfo_algs);
        e.now = apr_time_sec(apr_time_now());
        e.skew = c->skew;
        e.sub = sub;
        trc = jp_provider_validate(r, c, jwt, &e, JP_VAL_USERINFO, &ui, &err);
        if (trc == JP_TOK_IDP_DOWN || trc == JP_TOK_IDP_TIMEOUT) {
            *rc = meta_fail(r, trc == JP_TOK_IDP_TIMEOUT ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                            err);
            return NULL;
        }
        if (trc != JP_TOK_OK) {
            *rc = jp_fail(r, HTTP_BAD_GATEWAY, bad,
                          "signed userinfo (application/jwt) rejected: %s", err ? err : "invalid");
            return NULL;
        }
        /* The token's reference belongs to r->pool: the caller releases its own. */
        return json_incref(ui);
    }
    ui = jp_json_loadb(resp->body, resp->len, 0, &je);
    if (!json_is_object(ui)) {
        json_decref(ui);
        *rc = jp_fail(r, HTTP_BAD_GATEWAY, bad,
                      "userinfo response (Content-Type %s) is neither a JSON object nor "
                      "application/jwt",
                      resp->content_type ? ap_escape_logitem(r->pool, resp->content_type) : "none");
        return NULL;
    }
    /* OIDC Core 5.3.4: a userinfo sub that differs from the ID token's is not this user. */
    if (!json_is_string(json_object_get(ui, "sub")) ||
        strcmp(json_string_value(json_object_get(ui, "sub")), sub)) {
        const char *got =
            json_is_string(json_object_get(ui, "sub"))
                ? ap_escape_logitem(r->pool, json_string_value(json_object_get(ui, "sub")))
                : NULL;
        json_decref(ui);
        *rc = jp_fail(r, HTTP_BAD_GATEWAY, bad,
                      got ? "userinfo sub %s is not the ID token's sub %s"
                          : "userinfo response has no sub%s (ID token sub %s)",
                      got ? got : "", ap_escape_logitem(r->pool, sub));
        return NULL;
    }
    return ui;
}

static int fetch_userinfo(request_rec *r, jp_srv_cfg *c, const jp_meta *m, const char *at,
                          json_t *claims)
{
    const char *err = NULL, *k;
    jp_http_resp resp;
    json_t *ui, *v;
    apr_status_t rv;
    int rc = OK;

    rv = jp_http(r->pool, c, "GET", m->userinfo_endpoint, NULL, NULL, NULL, at, &resp, &err);
    if (rv != APR_SUCCESS)
        return jp_fail(r, rv == APR_TIMEUP ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                       "The identity provider did not return the user's profile.", "userinfo: %s",
                       err);
    ui = userinfo_claims(r, c, m, claims, &resp, &rc);
    if (!ui)
        return rc;
    json_object_foreach(ui, k, v)
    {
        /* Token-bound claims come only from the signed ID token. */
        if (!strcmp(k, "iss") || !strcmp(k, "sub") || !strcmp(k, "aud") || !strcmp(k, "exp") ||
            !strcmp(k, "iat") || !strcmp(k, "nbf") || !strcmp(k, "nonce") || !strcmp(k, "azp") ||
            !strcmp(k, "sid") || !strcmp(k, "auth_time") || !strcmp(k, "acr") || !strcmp(k, "amr"))
            continue;
        json_object_set(claims, k, v);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, JPLOG(0340) "userinfo (%s) merged: %lu claims",
                  media_type_is(resp.content_type, "application/jwt")
                      ? "application/jwt, signature verified"
                      : "JSON",
                  (unsigned long)json_object_size(ui));
    json_decref(ui);
    return OK;
}

/* JITProvRequireClaim: every gate must match one element of its claim. */
static const char *check_gates(request_rec *r, jp_srv_cfg *c, json_t *claims)
{
    int i;
    for (i = 0; i < c->gates->nelts; i++) {
        jp_gate *g = &((jp_gate *)c->gates->elts)[i];
        const char *v = jp_claim_get(r->pool, claims, g->claim);
        int ok = 0;
        if (v && jp_multi_has_ctl(v))
            return apr_psprintf(r->pool, "claim %s carries a control character", g->claim);
        if (v) {
            char sep[2] = {JP_MULTI_SEP, 0};
            char *last, *el, *copy = apr_pstrdup(r->pool, v);
            if (!*copy)
                ok = !ap_regexec(g->re, "", 0, NULL, 0);
            for (el = apr_strtok(copy, sep, &last); el && !ok; el = apr_strtok(NULL, sep, &last))
                ok = !ap_regexec(g->re, el, 0, NULL, 0);
        }
        if (!ok)
            return apr_psprintf(r->pool, "claim %s does not match %s", g->claim, g->pattern);
    }
    return NULL;
}

static int provision(request_rec *r, jp_srv_cfg *c, json_t *claims, const char *iss,
                     const char *sub, jp_account *acct)
{
    jp_db db;
    jp_login in;
    const char *err = NULL;
    jp_prov_rc rc;

    if (jp_db_acquire(r, &db) != OK)
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE,
                       "The account database is unavailable. Please try again shortly.",
                       "mod_dbd gave no connection");
    in.iss = iss;
    in.sub = sub;
    in.claims = claims;
    in.client_ip = r->useragent_ip;
    in.corr_id = jp_ref(r);
    rc = jp_provision(r->pool, &db, &c->store, &in, acct, &err);
    /* The default tables are created on first use when jitprov-admin init was
     * not run (statements are prepared lazily, so until then nothing else that
     * uses mod_dbd is disturbed), and the columns a newer version added are
     * added to them. Only on a missing table or column: DDL on every first
     * login would queue behind any lock on the table. An application's own
     * table is never changed. */
    if (rc == JP_PROV_DB_ERROR && err && jp_store_err_missing_schema(err) &&
        !strcmp(c->store.table, "jitprov_accounts")) {
        const char *ierr = NULL;
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      JPLOG(0312) "account tables or columns missing (%s): creating them", err);
        if (jp_store_init_schema(r->pool, &db, &c->store, &ierr) != 0)
            err = apr_psprintf(r->pool, "cannot create the account tables: %s", ierr);
        else
            rc = jp_provision(r->pool, &db, &c->store, &in, acct, &err);
    }
    switch (rc) {
    case JP_PROV_OK:
        if (acct->event && !strcmp(acct->event, "create"))
            jp_metric(JP_M_ACCOUNT_CREATE);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0310) "account %" APR_INT64_T_FMT " %s for iss=%s sub=%s [ref %s]",
                      acct->id, acct->event ? acct->event : "used", iss,
                      ap_escape_logitem(r->pool, sub), jp_ref(r));
        return OK;
    case JP_PROV_PENDING:
        jp_metric(JP_M_ACCOUNT_REFUSED);
        return jp_fail(r, HTTP_FORBIDDEN, "Your account is awaiting approval by an administrator.",
                       "account %" APR_INT64_T_FMT " is pending (sub=%s)", acct->id,
                       ap_escape_logitem(r->pool, sub));
    case JP_PROV_DISABLED:
        jp_metric(JP_M_ACCOUNT_REFUSED);
        return jp_fail(r, HTTP_FORBIDDEN, "Your account is disabled.",
                       "account %" APR_INT64_T_FMT " is disabled (sub=%s)", acct->id,
                       ap_escape_logitem(r->pool, sub));
    case JP_PROV_NOT_PROVISIONED:
        jp_metric(JP_M_ACCOUNT_REFUSED);
        return jp_fail(r, HTTP_FORBIDDEN, "You do not have an account on this site.",
                       "no account for sub=%s and JITProvAccountCreate is Off: %s",
                       ap_escape_logitem(r->pool, sub), err ? err : "");
    case JP_PROV_EMAIL_UNVERIFIED:
        jp_metric(JP_M_ACCOUNT_REFUSED);
        return jp_fail(r, HTTP_FORBIDDEN,
                       "Your e-mail address is not verified by the identity provider.",
                       "email linking refused for sub=%s: %s", ap_escape_logitem(r->pool, sub),
                       err ? err : "email_verified is not true");
    case JP_PROV_COLLISION:
        jp_metric(JP_M_ACCOUNT_REFUSED);
        return jp_fail(r, HTTP_CONFLICT,
                       "Your user name or e-mail address is already used by another account "
                       "on this site. Please ask an administrator.",
                       "new account for sub=%s not created: %s (JITProvCollision refuse)",
                       ap_escape_logitem(r->pool, sub), err ? err : "user name taken");
    case JP_PROV_DB_BUSY:
    case JP_PROV_DB_ERROR:
    default:
        jp_metric(JP_M_DB_ERROR);
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE,
                       "The account database is unavailable. Please try again shortly.",
                       "provisioning failed: %s", err ? err : "database error");
    }
}

static void add_account_cols(request_rec *r, jp_session *s, const jp_account *acct)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    int i;
    jp_kv *kv = apr_array_push(s->kv);
    kv->key = "a:id";
    kv->val = apr_psprintf(r->pool, "%" APR_INT64_T_FMT, acct->id);
    if (!acct->cols)
        return;
    arr = apr_table_elts(acct->cols);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        /* An id column named "id" is a:id already: one env var, not two. */
        if (!e[i].key || !e[i].val || !strcmp(e[i].key, "id"))
            continue;
        kv = apr_array_push(s->kv);
        kv->key = apr_pstrcat(r->pool, "a:", e[i].key, NULL);
        kv->val = e[i].val;
    }
}

static double ms(apr_time_t t)
{
    return (double)t / 1000.0;
}

static apr_status_t json_release(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

/* The answer's size cap, whichever way it comes. */
#define JP_CALLBACK_MAX 8192
#define JP_LOGIN_HINT_MAX 256

static int is_initiation(request_rec *r, const char *params)
{
    return params && jp_query_count(r->pool, params, "iss") &&
           !jp_query_count(r->pool, params, "state") && !jp_query_count(r->pool, params, "code") &&
           !jp_query_count(r->pool, params, "error");
}

/* 1 when the path of url (a checked same-origin target) is one of the
 * module's own endpoints: a login landing on the callback would start the
 * next one, in a loop as long as the IdP signs in silently. */
static int own_endpoint(request_rec *r, jp_srv_cfg *c, const char *url)
{
    apr_uri_t u;
    char *path;
    if (apr_uri_parse(r->pool, url, &u) != APR_SUCCESS)
        return 1;
    /* Browsers resolve "." and ".." segments before they send a URL. */
    path = apr_pstrdup(r->pool, u.path ? u.path : "/");
    ap_getparents(path);
    return (c->redirect_path && !strcmp(path, c->redirect_path)) ||
           (c->logout_path && !strcmp(path, c->logout_path));
}

/* A login a third party started (OpenID Connect Core 4): an IdP's portal or
 * app launcher sends the browser here with iss, and maybe login_hint and
 * target_link_uri, but no state, by GET or by a form's POST. It starts a
 * login at that issuer, which must be a provider of this site, back to
 * target_link_uri when that is on this site (Core 4: the RP MUST check it,
 * or this is an open redirector). A link to any protected page starts a
 * login the same way; this one only picks the provider and the page. */
int jp_flow_initiated(request_rec *r, jp_srv_cfg *c, const char *q)
{
    const char *iss, *target, *hint, *dest, *err = NULL;
    jp_srv_cfg *pc = c;
    jp_origin o;
    jp_meta m;
    int rc;

    jp_no_store(r);
    iss = jp_query_param(r->pool, q, "iss");
    if (strlen(q) > JP_CALLBACK_MAX || jp_query_count(r->pool, q, "iss") != 1 || !iss || !*iss)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login request is malformed.",
                       "third-party login: iss missing, repeated or malformed");
    if (c->extra_providers)
        pc = jp_provider_by_issuer(r, c, iss);
    else {
        rc = jp_provider_meta(r, c, &m, &err);
        if (rc != OK)
            return meta_fail(r, rc, err);
        if (strcmp(m.issuer, iss))
            pc = NULL;
    }
    if (!pc)
        return jp_fail(r, HTTP_BAD_REQUEST,
                       "The login was started by an identity provider this site does not use.",
                       "third-party login from issuer %s, not a provider of this site",
                       ap_escape_logitem(r->pool, iss));
    target = jp_query_param(r->pool, q, "target_link_uri");
    hint = jp_query_param(r->pool, q, "login_hint");
    if ((!target && jp_query_count(r->pool, q, "target_link_uri")) ||
        jp_query_count(r->pool, q, "target_link_uri") > 1 ||
        (!hint && jp_query_count(r->pool, q, "login_hint")) ||
        jp_query_count(r->pool, q, "login_hint") > 1 || (hint && strlen(hint) > JP_LOGIN_HINT_MAX))
        return jp_fail(r, HTTP_BAD_REQUEST, "The login request is malformed.",
                       "third-party login: target_link_uri or login_hint repeated, malformed "
                       "or over %d bytes",
                       JP_LOGIN_HINT_MAX);
    jp_origin_get(r, c, &o);
    dest = jp_safe_return_to(r->pool, target ? target : "/", o.scheme, o.host, o.port);
    if (!dest || own_endpoint(r, c, dest))
        return jp_fail(r, HTTP_BAD_REQUEST, "The login target must be a page of this site.",
                       "third-party login: target_link_uri %s refused",
                       ap_escape_logitem(r->pool, target));
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0302) "login started by a third party for issuer %s, target %s",
                  ap_escape_logitem(r->pool, iss), ap_escape_logitem(r->pool, dest));
    return start_login(r, pc, dest, hint && *hint ? hint : NULL, 1);
}

static const char *content_type(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    return ap_escape_logitem(r->pool, ct ? ct : "(none)");
}

int jp_callback_params(request_rec *r, jp_srv_cfg *c, const char **params, int *initiation)
{
    int form = c->response_mode == JP_RM_FORM_POST, query, ct_ok;
    char *body;
    int rc;

    *initiation = 0;
    jp_no_store(r);
    /* A HEAD (link checkers, previews) must neither spend a state nor start
     * a login. */
    if (r->header_only)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login callback is not for HEAD requests.",
                       "HEAD of the callback: nothing done");
    if (r->method_number == M_GET) {
        *params = r->args ? r->args : "";
        *initiation = is_initiation(r, *params);
        if (!form || *initiation)
            return OK;
        /* OAuth 2.0 Form Post Response Mode: the answer is the body of a
         * POST. One the IdP put in the address instead is not taken: the
         * mode asked for is the only one accepted (its code travelled in a
         * URL, into histories and logs); an error it carries is logged. */
        {
            const char *e = jp_query_param(r->pool, *params, "error");
            return jp_fail(r, HTTP_BAD_REQUEST,
                           "The login response came in the address, not as the form this site "
                           "asked the identity provider for.",
                           "callback by GET while JITProvResponseMode is form_post%s%s",
                           e ? "; it carries IdP error " : "",
                           e ? ap_escape_logitem(r->pool, e) : "");
        }
    }
    /* A POST: the IdP's answer in form_post mode, or a login a third party
     * starts by a form (OIDC Dynamic Client Registration 2: initiate_login_uri
     * takes GET and POST). */
    if (r->method_number != M_POST) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "The login callback accepts GET and POST.",
                       "callback with method %s", ap_escape_logitem(r->pool, r->method));
    }
    /* In the query mode a POST can only start a login (a form, nothing in
     * the address); the IdP's answers come by GET. */
    query = r->args && *r->args;
    ct_ok = jp_form_content_type_ok(apr_table_get(r->headers_in, "Content-Type"));
    if (!form && (query || !ct_ok)) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "The login callback takes its answer by GET.",
                       "callback POST while JITProvResponseMode is query");
    }
    if (query)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response is malformed.",
                       "callback POST with a query string as well");
    if (!ct_ok)
        return jp_fail(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "The login response is malformed.",
                       "callback POST of type %s, not application/x-www-form-urlencoded",
                       content_type(r));
    rc = jp_read_body(r, JP_CALLBACK_MAX, &body);
    if (rc != OK)
        return rc;
    *params = body;
    *initiation = is_initiation(r, body);
    if (!form && !*initiation) {
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "POST", NULL);
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "The login callback takes its answer by GET.",
                       "callback POST that starts no login while JITProvResponseMode is query");
    }
    return OK;
}

int jp_flow_callback(request_rec *r, jp_srv_cfg *c, const char *params)
{
    const char *q = params, *state, *code, *error, *name, *val, *err = NULL;
    const char *iss, *sub, *idt, *dest, *why;
    int64_t now = apr_time_sec(apr_time_now());
    jp_authstate st;
    jp_tok_expect e;
    jp_meta m;
    json_t *tok = NULL, *claims = NULL, *at;
    jp_session *s;
    jp_account acct;
    apr_array_header_t *id_names;
    jp_origin o;
    int rc, userinfo_used = 0, groups_unknown;
    /* Where the login's time went, for the log: the IdP and the database are
     * what a slow login waits on. */
    apr_time_t t0 = apr_time_now(), t, t_token, t_check, t_ui = 0, t_db = 0;

    if (strlen(q) > JP_CALLBACK_MAX)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response is malformed.",
                       "callback query of %lu bytes", (unsigned long)strlen(q));
    state = jp_query_param(r->pool, q, "state");
    if (!state || !*state || strlen(state) > 128)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response is missing its state.",
                       "callback without a usable state parameter");
    name = jp_authstate_cookie_name(r->pool, c->state_prefix, state);
    if (!name)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response has a malformed state.",
                       "callback state parameter is not one of ours");
    val = jp_cookie_get(r, name);
    if (!val)
        return jp_fail(r, HTTP_BAD_REQUEST,
                       "This login attempt is unknown, expired or already used. Please start "
                       "again.",
                       "no state cookie %s (replayed, expired or forged callback)", name);
    /* One use only, whatever the outcome. */
    jp_cookie_set(r, c, name, "", "/", 0);
    if (jp_authstate_open(r->pool, c->state_keys, c->nkeys, name, val, now, c->state_ttl, &st,
                          &err) != 0)
        return jp_fail(r, HTTP_BAD_REQUEST,
                       "This login attempt expired or was tampered with. Please start again.",
                       "state cookie rejected: %s", err ? err : "invalid");
    if (!jp_ct_streq(st.state, state))
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response does not match this browser.",
                       "state mismatch");
    /* The cookie clearing above does not stop a copy of the cookie: the state
     * is recorded as used on the server, for as long as it could be used. */
    switch (jp_session_once(r, c, "t", NULL, st.state, st.created + c->state_ttl + c->skew + 1)) {
    case 0:
        break;
    case 1:
        return jp_fail(r, HTTP_BAD_REQUEST,
                       "This login attempt is unknown, expired or already used. Please start "
                       "again.",
                       "state already used (copied state cookie replayed)");
    default:
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The session store is unavailable.",
                       "cannot record the state as used");
    }
    rc = jp_provider_meta(r, c, &m, &err);
    if (rc != OK)
        return meta_fail(r, rc, err);
    /* RFC 9207: the IdP that answered, error responses included, must be
     * the one we asked; an iss that cannot be read is no answer to that. */
    iss = jp_query_param(r->pool, q, "iss");
    switch (jp_query_count(r->pool, q, "iss")) {
    case 0:
        if (m.iss_param)
            return jp_fail(r, HTTP_BAD_REQUEST, "The login response does not name its issuer.",
                           "callback without the iss parameter, which the discovery document "
                           "of %s promises (authorization_response_iss_parameter_supported)",
                           m.issuer);
        break;
    case 1:
        if (iss && !strcmp(iss, m.issuer))
            break;
        /* fall through */
    default:
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response came from the wrong issuer.",
                       "callback iss parameter %s is not %s",
                       iss ? ap_escape_logitem(r->pool, iss) : "(repeated or malformed)", m.issuer);
    }
    error = jp_query_param(r->pool, q, "error");
    if (error || jp_query_count(r->pool, q, "error")) {
        /* The code tells the user whether to retry (RFC 6749 4.1.2.1); the
         * description is the IdP's free text and stays in the log. */
        const char *desc = jp_query_param(r->pool, q, "error_description");
        int status = !error                                      ? HTTP_BAD_REQUEST
                     : !strcmp(error, "access_denied")           ? HTTP_FORBIDDEN
                     : !strcmp(error, "temporarily_unavailable") ? HTTP_SERVICE_UNAVAILABLE
                     : !strcmp(error, "server_error")            ? HTTP_BAD_GATEWAY
                                                                 : HTTP_BAD_REQUEST;
        return jp_fail(
            r, status,
            apr_pstrcat(r->pool, "The identity provider did not complete the login (error: ",
                        error ? jp_error_code_shown(r->pool, error) : "repeated or malformed", ").",
                        NULL),
            "IdP error %s: %s", error ? ap_escape_logitem(r->pool, error) : "(unreadable)",
            desc ? ap_escape_logitem(r->pool, desc) : "");
    }
    code = jp_query_param(r->pool, q, "code");
    if (!code || !*code || strlen(code) > 2048)
        return jp_fail(r, HTTP_BAD_REQUEST, "The login response has no code.",
                       "callback without code");
    t = apr_time_now();
    rc = exchange_code(r, c, &m, code, &st, &tok);
    if (rc != OK)
        return rc;
    t_token = apr_time_now() - t;
    apr_pool_cleanup_register(r->pool, tok, json_release, apr_pool_cleanup_null);
    idt = json_is_string(json_object_get(tok, "id_token"))
              ? json_string_value(json_object_get(tok, "id_token"))
              : NULL;
    if (!idt)
        return jp_fail(r, HTTP_BAD_GATEWAY, "The identity provider returned no ID token.",
                       "token response without id_token");
    memset(&e, 0, sizeof(e));
    e.issuer = m.issuer;
    e.client_id = c->client_id;
    e.trusted_aud = c->trusted_aud ? (const char *const *)c->trusted_aud->elts : NULL;
    e.client_secret = c->client_secret;
    e.nonce = st.nonce;
    e.algs = jp_token_algs(r->pool, m.id_token_algs);
    e.now = now;
    e.skew = c->skew;
    e.max_iat_age = c->state_ttl + c->skew;
    e.max_age_sent = c->max_age_sent;
    e.max_age = c->max_age;
    e.access_token = json_string_value(json_object_get(tok, "access_token"));
    t = apr_time_now();
    switch ((int)jp_provider_validate(r, c, idt, &e, JP_VAL_IDTOKEN, &claims, &err)) {
    case JP_TOK_OK:
        break;
    case (int)JP_TOK_IDP_DOWN:
    case (int)JP_TOK_IDP_TIMEOUT:
        return meta_fail(
            r, err && strstr(err, "timeout") ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY, err);
    default:
        return jp_fail(r, HTTP_UNAUTHORIZED, "The identity token could not be verified.",
                       "ID token rejected: %s", err ? err : "invalid");
    }
    t_check = apr_time_now() - t;
    iss = json_string_value(json_object_get(claims, "iss"));
    sub = json_string_value(json_object_get(claims, "sub"));
    at = json_object_get(tok, "access_token");
    id_names = jp_diag_names(r->pool, claims);
    if (c->userinfo && m.userinfo_endpoint && json_is_string(at)) {
        t = apr_time_now();
        rc = fetch_userinfo(r, c, &m, json_string_value(at), claims);
        if (rc != OK)
            return rc;
        t_ui = apr_time_now() - t;
        userinfo_used = 1;
    }
    jp_diag_login(r, c, iss, id_names, claims, userinfo_used);
    groups_unknown = jp_claims_overage(claims, c->groups_claim);
    if (groups_unknown)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0342) "groups of sub=%s are unknown: the token names '%s' in "
                                  "_claim_names instead of carrying it (Entra ID group overage, "
                                  "over 200 groups); Require jitprov-group refuses this session "
                                  "and the account's groups column keeps its value. Remedy: in "
                                  "Entra emit only \"Groups assigned to the application\" (or "
                                  "app roles), or filter the groups claim so it stays small "
                                  "[ref %s]",
                      ap_escape_logitem(r->pool, sub), c->groups_claim, jp_ref(r));
    why = check_gates(r, c, claims);
    if (why) {
        jp_db db;
        jp_metric(JP_M_ACCOUNT_REFUSED);
        if (c->provisioning && jp_db_acquire(r, &db) == OK) {
            jp_login in;
            const char *aerr = NULL;
            memset(&in, 0, sizeof(in));
            in.iss = iss;
            in.sub = sub;
            in.claims = claims;
            in.client_ip = r->useragent_ip;
            in.corr_id = jp_ref(r);
            /* The refusal stands whatever the database says: it only loses
             * its audit row, which the log line below names. */
            if (jp_refuse_login(r->pool, &db, &c->store, &in, "gate", &aerr))
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                              JPLOG(0902) "audit row of a gate refusal not written: %s [ref %s]",
                              aerr ? aerr : "database error", jp_ref(r));
        }
        return jp_fail(r, HTTP_FORBIDDEN, "Your account does not meet this site's access policy.",
                       "JITProvRequireClaim: %s (sub=%s)", why, ap_escape_logitem(r->pool, sub));
    }
    memset(&acct, 0, sizeof(acct));
    if (c->provisioning) {
        t = apr_time_now();
        rc = provision(r, c, claims, iss, sub, &acct);
        if (rc != OK)
            return rc;
        t_db = apr_time_now() - t;
    }
    s = apr_pcalloc(r->pool, sizeof(*s));
    s->created = s->last_seen = s->checked_at = now;
    s->expires = now + c->max_duration;
    s->account_id = acct.id;
    s->iss = iss;
    s->sub = sub;
    s->sid = json_is_string(json_object_get(claims, "sid"))
                 ? json_string_value(json_object_get(claims, "sid"))
                 : "";
    /* Kept for id_token_hint at logout, unless it would crowd the record. */
    s->id_token = strlen(idt) <= JP_MAX_HINT ? idt : "";
    s->kv = apr_array_make(r->pool, 24, sizeof(jp_kv));
    /* Distributed claims (OIDC Core 5.6.2) may carry an access token for the
     * claims provider: it goes neither into the session nor to the backend. */
    json_object_del(claims, "_claim_sources");
    jp_claims_flatten(r->pool, claims, "c:", s->kv);
    if (c->provisioning)
        add_account_cols(r, s, &acct);
    s->tokens = jp_backend_tokens_keep(r, c, tok, iss, sub);
    if (jp_session_create(r, c, s) != 0)
        return jp_fail(r, HTTP_INTERNAL_SERVER_ERROR, "Your session could not be created.",
                       "session cache store failed (record too large for %s?)",
                       c->cache_spec ? c->cache_spec : "the default shmcb cache");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0311) "login of sub=%s complete in %.1f ms: token endpoint %.1f ms, ID "
                              "token check %.1f ms, userinfo %.1f ms, account database %.1f ms "
                              "[ref %s]",
                  ap_escape_logitem(r->pool, sub), ms(apr_time_now() - t0), ms(t_token),
                  ms(t_check), ms(t_ui), ms(t_db), jp_ref(r));
    jp_origin_get(r, c, &o);
    dest = jp_safe_return_to(r->pool, st.return_to, o.scheme, o.host, o.port);
    if (dest && jp_post_resume(r, c, st.state, st.return_to, dest, now) == OK)
        return OK;
    apr_table_setn(r->headers_out, "Location", dest ? dest : "/");
    /* After a form_post answer: the page is fetched with GET (RFC 9110
     * 15.4.4), not posted again. */
    return r->method_number == M_POST ? HTTP_SEE_OTHER : HTTP_MOVED_TEMPORARILY;
}
