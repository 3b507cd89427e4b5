/* The IdP's discovery document and JWKS, cached per process. Fetches happen
 * outside the lock. An unknown kid triggers a JWKS refetch, rate-limited per
 * process: ID tokens come from the token endpoint itself, so a new kid there is
 * a rotation and is fetched at once (the same kid at most once a second);
 * logout tokens can be POSTed by anyone, so a stream of forged ones refetches
 * at most once per JP_JWKS_MIN_REFETCH. */
#include "jitprov.h"
#include "apr_strings.h"

#define JP_META_TTL 86400
#define JP_JWKS_TTL 3600
#define JP_JWKS_MIN_REFETCH 30
#define JP_JWKS_MIN_REFETCH_ID 1

struct jp_provider {
    apr_thread_mutex_t *mu;
    apr_pool_t *pool; /* process lifetime parent of the pools below */
    apr_pool_t *meta_pool;
    jp_meta meta;
    apr_time_t meta_at;
    apr_pool_t *jwks_pool;
    jp_jwks *jwks;
    apr_time_t jwks_at;
    apr_time_t forced_at;    /* last refetch caused by an unknown kid */
    char forced_kid[65];     /* ... and that kid (ID tokens) */
    apr_time_t forced_lt_at; /* ... in a logout token */
};

apr_status_t jp_provider_create(apr_pool_t *p, jp_srv_cfg *c)
{
    jp_provider *pv = apr_pcalloc(p, sizeof(*pv));
    apr_status_t rv = apr_pool_create(&pv->pool, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_thread_mutex_create(&pv->mu, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return rv;
    c->provider = pv;
    return APR_SUCCESS;
}

static int http_fail_status(apr_status_t st)
{
    return st == APR_TIMEUP ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A JSON array of strings as one space-separated string ("" when absent). */
static const char *jwords(apr_pool_t *p, json_t *o, const char *k)
{
    json_t *a = json_object_get(o, k), *v;
    const char *out = "";
    size_t i;
    if (!json_is_array(a))
        return "";
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && !strchr(json_string_value(v), ' '))
            out = apr_pstrcat(p, out, *out ? " " : "", json_string_value(v), NULL);
    }
    return out;
}

static int url_ok(const char *u)
{
    return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7));
}

/* Fetches and parses the discovery document into a fresh pool. */
static int fetch_meta(request_rec *r, jp_srv_cfg *c, apr_pool_t **mp, jp_meta *m, const char **err)
{
    jp_http_resp resp;
    json_t *doc;
    json_error_t je;
    apr_pool_t *np;
    apr_status_t st =
        jp_http(r->pool, c, "GET", c->metadata_url, NULL, NULL, NULL, NULL, &resp, err);
    if (st != APR_SUCCESS)
        return http_fail_status(st);
    if (resp.status != 200) {
        *err = apr_psprintf(r->pool, "discovery document answered HTTP %ld", resp.status);
        return HTTP_BAD_GATEWAY;
    }
    doc = json_loadb(resp.body, resp.len, 0, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *err = "discovery document is not a JSON object";
        return HTTP_BAD_GATEWAY;
    }
    apr_pool_create(&np, c->provider->pool);
    m->issuer = apr_pstrdup(np, jstr(doc, "issuer"));
    m->authorization_endpoint = apr_pstrdup(np, jstr(doc, "authorization_endpoint"));
    m->token_endpoint = apr_pstrdup(np, jstr(doc, "token_endpoint"));
    m->userinfo_endpoint = apr_pstrdup(np, jstr(doc, "userinfo_endpoint"));
    m->end_session_endpoint = apr_pstrdup(np, jstr(doc, "end_session_endpoint"));
    m->jwks_uri = apr_pstrdup(np, jstr(doc, "jwks_uri"));
    m->id_token_algs = jwords(np, doc, "id_token_signing_alg_values_supported");
    m->userinfo_algs = jwords(np, doc, "userinfo_signing_alg_values_supported");
    json_decref(doc);
    if (!m->issuer || !*m->issuer || !url_ok(m->authorization_endpoint) ||
        !url_ok(m->token_endpoint) || !url_ok(m->jwks_uri)) {
        apr_pool_destroy(np);
        *err = "discovery document lacks issuer, authorization_endpoint, token_endpoint or "
               "jwks_uri";
        return HTTP_BAD_GATEWAY;
    }
    if (m->userinfo_endpoint && !url_ok(m->userinfo_endpoint))
        m->userinfo_endpoint = NULL;
    if (m->end_session_endpoint && !url_ok(m->end_session_endpoint))
        m->end_session_endpoint = NULL;
    *mp = np;
    return OK;
}

/* The cached strings live in a pool a refresh may destroy: callers get copies. */
static void copy_meta(apr_pool_t *p, jp_meta *out, const jp_meta *in)
{
    out->issuer = apr_pstrdup(p, in->issuer);
    out->authorization_endpoint = apr_pstrdup(p, in->authorization_endpoint);
    out->token_endpoint = apr_pstrdup(p, in->token_endpoint);
    out->userinfo_endpoint = apr_pstrdup(p, in->userinfo_endpoint);
    out->end_session_endpoint = apr_pstrdup(p, in->end_session_endpoint);
    out->jwks_uri = apr_pstrdup(p, in->jwks_uri);
    out->id_token_algs = apr_pstrdup(p, in->id_token_algs);
    out->userinfo_algs = apr_pstrdup(p, in->userinfo_algs);
}

int jp_provider_meta(request_rec *r, jp_srv_cfg *c, jp_meta *out, const char **err)
{
    jp_provider *pv = c->provider;
    apr_time_t now = apr_time_now();
    apr_pool_t *np = NULL;
    jp_meta m;
    int rc;

    apr_thread_mutex_lock(pv->mu);
    if (pv->meta_pool && now - pv->meta_at < apr_time_from_sec(JP_META_TTL)) {
        copy_meta(r->pool, out, &pv->meta);
        apr_thread_mutex_unlock(pv->mu);
        return OK;
    }
    apr_thread_mutex_unlock(pv->mu);

    rc = fetch_meta(r, c, &np, &m, err);
    apr_thread_mutex_lock(pv->mu);
    if (rc == OK) {
        if (pv->meta_pool)
            apr_pool_destroy(pv->meta_pool);
        pv->meta_pool = np;
        pv->meta = m;
        pv->meta_at = now;
    } else if (pv->meta_pool) {
        /* A stale document beats none while the IdP is briefly unreachable;
         * try again in a minute rather than make every login wait. */
        pv->meta_at = now - apr_time_from_sec(JP_META_TTL - 60);
        rc = OK;
    }
    if (rc == OK)
        copy_meta(r->pool, out, &pv->meta);
    apr_thread_mutex_unlock(pv->mu);
    return rc;
}

/* Fetches the JWKS into a new pool and swaps it in. */
static int refresh_jwks(request_rec *r, jp_srv_cfg *c, const char *jwks_uri, int force,
                        const char *kid, const char **err)
{
    jp_provider *pv = c->provider;
    apr_time_t now = apr_time_now();
    jp_http_resp resp;
    apr_pool_t *np;
    jp_jwks *ks;
    apr_status_t st;

    apr_thread_mutex_lock(pv->mu);
    /* A new kid from the token endpoint is a rotation: fetch at once. The same
     * unknown kid again within the second, or any logout token within
     * JP_JWKS_MIN_REFETCH, waits. */
    if (force && pv->jwks &&
        ((force == 1 && pv->forced_at && kid && !strcmp(kid, pv->forced_kid) &&
          now - pv->forced_at < apr_time_from_sec(JP_JWKS_MIN_REFETCH_ID)) ||
         (force == 2 && pv->forced_lt_at &&
          now - pv->forced_lt_at < apr_time_from_sec(JP_JWKS_MIN_REFETCH)))) {
        apr_thread_mutex_unlock(pv->mu);
        *err = "JWKS refetch rate-limited";
        return DECLINED;
    }
    if (force == 1) {
        pv->forced_at = now;
        apr_cpystrn(pv->forced_kid, kid ? kid : "", sizeof(pv->forced_kid));
    }
    if (force == 2)
        pv->forced_lt_at = now;
    apr_thread_mutex_unlock(pv->mu);

    st = jp_http(r->pool, c, "GET", jwks_uri, NULL, NULL, NULL, NULL, &resp, err);
    if (st != APR_SUCCESS)
        return http_fail_status(st);
    if (resp.status != 200) {
        *err = apr_psprintf(r->pool, "jwks_uri answered HTTP %ld", resp.status);
        return HTTP_BAD_GATEWAY;
    }
    apr_pool_create(&np, pv->pool);
    ks = jp_jwks_parse(np, resp.body, resp.len, err);
    if (!ks) {
        apr_pool_destroy(np);
        return HTTP_BAD_GATEWAY;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JPLOG(0101) "fetched JWKS from %s: %d usable keys",
                  jwks_uri, jp_jwks_count(ks));
    apr_thread_mutex_lock(pv->mu);
    /* Every user of the old set holds the lock while using it. */
    if (pv->jwks_pool)
        apr_pool_destroy(pv->jwks_pool);
    pv->jwks_pool = np;
    pv->jwks = ks;
    pv->jwks_at = now;
    apr_thread_mutex_unlock(pv->mu);
    return OK;
}

static jp_tok_rc run_validate(request_rec *r, const jp_jwks *ks, const char *jwt,
                              const jp_tok_expect *e, int mode, json_t **claims, const char **err)
{
    switch (mode) {
    case JP_VAL_LOGOUT:
        return jp_logout_token_validate(r->pool, jwt, ks, e, claims, err);
    case JP_VAL_USERINFO:
        return jp_userinfo_jwt_validate(r->pool, jwt, ks, e, claims, err);
    default:
        return jp_idtoken_validate(r->pool, jwt, ks, e, claims, err);
    }
}

jp_tok_rc jp_provider_validate(request_rec *r, jp_srv_cfg *c, const char *jwt,
                               const jp_tok_expect *e, int logout, json_t **claims,
                               const char **err)
{
    jp_provider *pv = c->provider;
    jp_meta m;
    jp_tok_rc rc = JP_TOK_BAD;
    int attempt, have;
    const char *ferr = NULL;

    int mrc = jp_provider_meta(r, c, &m, err);
    if (mrc != OK)
        return mrc == HTTP_GATEWAY_TIME_OUT ? JP_TOK_IDP_TIMEOUT : JP_TOK_IDP_DOWN;
    for (attempt = 0; attempt < 2; attempt++) {
        apr_thread_mutex_lock(pv->mu);
        have = pv->jwks && apr_time_now() - pv->jwks_at < apr_time_from_sec(JP_JWKS_TTL);
        if (have) {
            /* Validation runs under the lock: a concurrent refresh must not free the
             * key set in use. It is CPU-only and rare next to ordinary requests. */
            rc = run_validate(r, pv->jwks, jwt, e, logout, claims, err);
        }
        apr_thread_mutex_unlock(pv->mu);
        if (have && rc != JP_TOK_UNKNOWN_KID)
            return rc;
        if (attempt == 1)
            break;
        int frc = refresh_jwks(r, c, m.jwks_uri, have ? (logout == JP_VAL_LOGOUT ? 2 : 1) : 0,
                               jp_jwt_peek_kid(r->pool, jwt), &ferr);
        if (frc != OK) {
            if (!have) {
                /* Expired cache and the IdP unreachable: the old set is still the
                 * best evidence we have. */
                apr_thread_mutex_lock(pv->mu);
                if (pv->jwks) {
                    rc = run_validate(r, pv->jwks, jwt, e, logout, claims, err);
                    apr_thread_mutex_unlock(pv->mu);
                    return rc;
                }
                apr_thread_mutex_unlock(pv->mu);
                *err = apr_psprintf(r->pool, "cannot fetch JWKS: %s", ferr);
                return frc == HTTP_GATEWAY_TIME_OUT ? JP_TOK_IDP_TIMEOUT : JP_TOK_IDP_DOWN;
            }
            *err = apr_psprintf(
                r->pool, "unknown signing key (kid %s); %s",
                jp_jwt_peek_kid(r->pool, jwt) ? jp_jwt_peek_kid(r->pool, jwt) : "none", ferr);
            return JP_TOK_BAD;
        }
    }
    if (rc == JP_TOK_UNKNOWN_KID)
        *err = "token signed with a key the IdP does not publish";
    return rc == JP_TOK_OK ? rc : JP_TOK_BAD;
}
