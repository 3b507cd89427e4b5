/* mod_jitprov: OpenID Connect login with just-in-time account provisioning.
 * This file holds the module record and the hooks; each stage of the flow
 * lives in its own file (flow.c, session.c, logout.c, authz.c, provider.c).
 * Nothing calls up into this file: helpers the stages share live in glue.c. */
#define JP_MODULE_FILE
#include "jitprov.h"
#include "http_core.h"
#include "http_protocol.h"
#include "mod_auth.h"
#include "apr_strings.h"

#include <unistd.h>

#include "tokenset.h"

/* ---- configuration life cycle ---- */

static int jp_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    return jp_cache_preconfig(pconf) == APR_SUCCESS && jp_diag_preconfig(pconf) == APR_SUCCESS
               ? OK
               : HTTP_INTERNAL_SERVER_ERROR;
}

static int jp_used(jp_srv_cfg *c)
{
    return c->metadata_url || c->client_id || c->redirect_uri || c->passphrases->nelts;
}

/* Runs under `apachectl configtest` too: every misconfiguration surfaces here. */
static int jp_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;
    int bad = 0;
    jp_dbd_available();
    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        const char *err;
        if (!jp_used(c))
            continue;
        err = jp_check_srv_cfg(ptemp, v, c);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         JPLOG(0002) "%s (server %s:%d)", err,
                         v->server_hostname ? v->server_hostname : "?", v->port);
            bad = 1;
        } else if (c->client_secret && strlen(c->client_secret) < 32) {
            /* Not an error: RS/ES/PS-signed tokens do not use the secret. */
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, v,
                         JPLOG(0040) "JITProvClientSecret has %lu bytes: HS256/384/512 ID tokens "
                                     "will be refused (RFC 7518 3.2 wants at least 32/48/64); "
                                     "use a longer secret if the IdP MACs tokens with it "
                                     "(server %s:%d)",
                         (unsigned long)strlen(c->client_secret),
                         v->server_hostname ? v->server_hostname : "?", v->port);
        }
    }
    return bad ? !OK : OK;
}

/* A failed derivation would leave an all-zero key anyone can use: refuse to start. */
static int derive_keys(apr_pool_t *p, server_rec *v, jp_srv_cfg *c)
{
    int i;
    c->nkeys = c->passphrases->nelts;
    c->state_keys = apr_pcalloc(p, sizeof(jp_key) * c->nkeys);
    c->sess_keys = apr_pcalloc(p, sizeof(jp_key) * c->nkeys);
    c->token_keys = apr_pcalloc(p, sizeof(jp_key) * c->nkeys);
    for (i = 0; i < c->nkeys; i++) {
        const char *pw = ((const char **)c->passphrases->elts)[i];
        if (jp_hkdf((const unsigned char *)pw, strlen(pw), JP_HKDF_INFO_STATE, &c->state_keys[i]) !=
                0 ||
            jp_hkdf((const unsigned char *)pw, strlen(pw), JP_HKDF_INFO_SESSION,
                    &c->sess_keys[i]) != 0 ||
            jp_hkdf((const unsigned char *)pw, strlen(pw), JP_HKDF_INFO_TOKENS,
                    &c->token_keys[i]) != 0) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                         JPLOG(0080) "JITProvCryptoPassphrase: key derivation (HKDF) failed for "
                                     "passphrase %d (server %s:%d)",
                         i + 1, v->server_hostname ? v->server_hostname : "?", v->port);
            return -1;
        }
    }
    return 0;
}

/* The parent's configuration pool goes at every restart, before the module
 * is unloaded: there the crypto state is undone (crypto.h says why). A
 * child may run the same cleanup at exit while a worker still seals a
 * cookie: it leaves the state alone. */
static pid_t crypto_pid;

static apr_status_t crypto_cleanup(void *unused)
{
    (void)unused;
    if (getpid() == crypto_pid)
        jp_crypto_done();
    return APR_SUCCESS;
}

static int jp_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    jp_srv_cfg *base = JP_SRV(s);
    server_rec *v;
    const char *err;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    if (!base->cache) {
        /* Sized so that a record with a large groups claim fits one sub-cache. */
        base->cache_prov =
            ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "shmcb", AP_SOCACHE_PROVIDER_VERSION);
        if (!base->cache_prov) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         JPLOG(0003) "mod_socache_shmcb is not loaded: load it or set "
                                     "JITProvSessionCache");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        err = base->cache_prov->create(&base->cache, "jitprov_sessions(16777216)", ptemp, pconf);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, JPLOG(0004) "default session cache: %s",
                         err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        base->cache_spec = "shmcb:jitprov_sessions(16777216)";
    }
    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        if (!c->cache) {
            c->cache = base->cache;
            c->cache_prov = base->cache_prov;
            c->cache_encrypt = base->cache_encrypt;
            c->cache_spec = base->cache_spec;
        }
        if (!jp_used(c))
            continue;
        if (derive_keys(pconf, v, c) != 0)
            return HTTP_INTERNAL_SERVER_ERROR;
        jp_session_net_keys(ptemp, c);
        if (jp_provider_create(pconf, c) != APR_SUCCESS ||
            jp_providers_create(pconf, c) != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
    }
    jp_crypto_init();
    crypto_pid = getpid();
    apr_pool_cleanup_register(pconf, NULL, crypto_cleanup, apr_pool_cleanup_null);
    if (jp_http_global_init() != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, JPLOG(0005) "curl_global_init failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (jp_cache_post_config(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (jp_metrics_init(pconf, s->process->pool) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     JPLOG(0006) "no shared memory for counters: jitprov-status shows zeros");
    jp_metrics_cleanup(pconf);
    if (jp_diag_post_config(pconf, s) != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     JPLOG(0041) "no shared memory or mutex for the claim names of recent "
                                 "logins: jitprov-status?claims shows none");
    ap_add_version_component(pconf, "mod_jitprov/" JITPROV_VERSION);
    return OK;
}

static void jp_child_init(apr_pool_t *p, server_rec *s)
{
    jp_cache_child_init(p, s);
    jp_hot_child_init(p);
    jp_netgen_child_init(p);
    jp_diag_child_init(p, s);
    jp_http_child_init(p);
}

/* ---- per request ---- */

typedef struct {
    request_rec *r;
    jp_srv_cfg *c;
    apr_array_header_t *drop;
} strip_ctx;

static int strip_one(void *data, const char *key, const char *val)
{
    strip_ctx *x = data;
    const char **names = (const char **)x->c->strip_names->elts;
    int i;
    if (x->c->strip_prefix && jp_hdr_name_has_prefix(key, x->c->strip_prefix)) {
        *(const char **)apr_array_push(x->drop) = key;
        return 1;
    }
    for (i = 0; i < x->c->strip_names->nelts; i++) {
        if (jp_hdr_name_eq(key, names[i])) {
            *(const char **)apr_array_push(x->drop) = key;
            break;
        }
    }
    return 1;
}

/* A client must never be able to send what the backend takes for our output,
 * on any path of the vhost, protected or not. post_read_request runs before
 * httpd unescapes the URL or walks the config: a request that fails there (an
 * encoded slash, a %00) and goes on to an ErrorDocument is cleaned already.
 * An internal redirect shares headers_in with the first request of its chain,
 * which may carry the module's own headers by then: strip once per chain. A
 * chain whose first request failed before this hook (a bad Host) is stripped
 * at its redirect. Subrequests copy the main request's stripped table. */
#define JP_STRIPPED_NOTE "jitprov-headers-stripped"

static int jp_post_read_request(request_rec *r)
{
    jp_srv_cfg *c = JP_SRV(r->server);
    request_rec *first = r;
    strip_ctx x;
    int i;
    while (first->prev)
        first = first->prev;
    if (r->main || apr_table_get(first->notes, JP_STRIPPED_NOTE))
        return DECLINED;
    apr_table_setn(first->notes, JP_STRIPPED_NOTE, "1");
    if (!c->strip_names->nelts && !c->strip_prefix)
        return DECLINED;
    x.r = r;
    x.c = c;
    x.drop = apr_array_make(r->pool, 2, sizeof(const char *));
    apr_table_do(strip_one, &x, r->headers_in, NULL);
    for (i = 0; i < x.drop->nelts; i++) {
        const char *k = ((const char **)x.drop->elts)[i];
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JPLOG(0601) "removed client-supplied header %s",
                      ap_escape_logitem(r->pool, k));
        apr_table_unset(r->headers_in, k);
    }
    return DECLINED;
}

/* The module's own endpoints need no <Location> and run before authn so a
 * protected "/" cannot shadow them. */
static int jp_quick_handler(request_rec *r, int lookup)
{
    jp_srv_cfg *c = JP_SRV(r->server);
    const char *path = r->parsed_uri.path;
    if (lookup || r->main || !path || !c->redirect_path || !c->provider)
        return DECLINED;
    if (!strcmp(path, c->redirect_path)) {
        const char *params = NULL;
        jp_srv_cfg *pc = NULL;
        int initiation, rc = jp_callback_params(r, c, &params, &initiation);
        if (rc == OK && initiation)
            return jp_flow_initiated(r, c, params);
        if (rc == OK) {
            pc = jp_provider_for_callback(r, c, params);
            rc = pc ? jp_flow_callback(r, pc, params)
                    : jp_fail(r, HTTP_BAD_REQUEST, "The login response has a malformed state.",
                              "callback state names no configured provider");
        }
        /* OK: the page re-posting a kept form was sent. */
        jp_metric(rc == HTTP_MOVED_TEMPORARILY || rc == HTTP_SEE_OTHER || rc == OK
                      ? JP_M_LOGIN_OK
                      : JP_M_LOGIN_FAIL);
        return rc;
    }
    if (c->discovery_path && !strcmp(path, c->discovery_path))
        return jp_discovery_page(r, c);
    if (c->logout_path && !strcmp(path, c->logout_path)) {
        /* Not the confirmation page of a cross-site request, nor a refusal. */
        int rc = jp_logout(r, c);
        if (rc == HTTP_MOVED_TEMPORARILY)
            jp_metric(JP_M_LOGOUT);
        return rc;
    }
    if (c->bcl_path && !strcmp(path, c->bcl_path)) {
        int rc = jp_backchannel_logout(r, c);
        if (rc == OK)
            jp_metric(JP_M_BCL);
        return rc;
    }
    if (c->fcl_path && !strcmp(path, c->fcl_path)) {
        int rc = jp_frontchannel_logout(r, c);
        if (rc == OK)
            jp_metric(JP_M_FCL);
        return rc;
    }
    return DECLINED;
}

static void env_add(request_rec *r, const char *name, const char *val)
{
    /* addn: the names are distinct by construction, and setn's duplicate
     * search is quadratic over names that all start with the same prefix. A
     * subrequest starts from a copy of its parent's table: set there. */
    if (r->main)
        apr_table_setn(r->subprocess_env, name, val);
    else
        apr_table_addn(r->subprocess_env, name, val);
}

/* What the environment depends on besides the record: "prefix\0delim\0enc".
 * apply_identity's defaults. */
static const char *env_sig(request_rec *r, const jp_dir_cfg *d, size_t *siglen)
{
    const char *prefix = d->env_prefix ? d->env_prefix : "JITPROV_CLAIM_";
    const char *delim = d->delim ? d->delim : ",";
    jp_encoding enc = d->encoding == JP_UNSET ? JP_ENC_NONE : (jp_encoding)d->encoding;
    size_t pfxlen = strlen(prefix), dlen = strlen(delim);
    char *sig;

    *siglen = pfxlen + dlen + 3;
    sig = apr_palloc(r->pool, *siglen);
    memcpy(sig, prefix, pfxlen + 1);
    memcpy(sig + pfxlen + 1, delim, dlen + 1);
    sig[*siglen - 1] = (char)('0' + (int)enc);
    return sig;
}

/* The environment kept in hot.c: for each variable, the lengths of its name
 * and value (native 32-bit), then both NUL-terminated, so that it is replayed
 * without measuring a string. */
#define ENV_HEAD (2 * sizeof(uint32_t))

static void env_replay(request_rec *r, const char *env, size_t envlen)
{
    const char *c = env, *end = env + envlen;
    uint32_t n[2];

    while ((size_t)(end - c) >= ENV_HEAD) {
        memcpy(n, c, ENV_HEAD);
        if ((size_t)(end - c) - ENV_HEAD < (size_t)n[0] + n[1] + 2)
            return;
        env_add(r, c + ENV_HEAD, c + ENV_HEAD + n[0] + 1);
        c += ENV_HEAD + n[0] + n[1] + 2;
    }
}

/* The claims and account columns as environment variables. The result
 * depends only on the record and on the prefix, delimiter and encoding (sig),
 * so for a cookie this process has seen it comes from hot.c as one copy,
 * found when the session was loaded. */
static void apply_env(request_rec *r, jp_dir_cfg *d, const jp_req *rq, const char *delim,
                      jp_encoding enc, const char *sig, size_t siglen)
{
    const jp_session *s = rq->sess;
    const jp_kv *kv = (const jp_kv *)s->kv->elts;
    const char *prefix = d->env_prefix ? d->env_prefix : "JITPROV_CLAIM_";
    size_t envlen = 0, plen, *lens;
    const char **pairs;
    const char *cpre;
    char *env, *e;
    int i, n = 0;

    /* A subrequest shares its parent's rq: its settings may differ. */
    if (rq->env && rq->env_siglen == siglen && !memcmp(rq->env_sig, sig, siglen)) {
        env_replay(r, rq->env, rq->envlen);
        return;
    }
    cpre = jp_env_prefix(r->pool, prefix);
    plen = strlen(cpre);
    pairs = apr_palloc(r->pool, sizeof(*pairs) * 2 * (size_t)(s->kv->nelts + 1));
    lens = apr_palloc(r->pool, sizeof(*lens) * 2 * (size_t)(s->kv->nelts + 1));
    for (i = 0; i < s->kv->nelts; i++) {
        const char *name, *val;
        if (kv[i].key[0] == 'c')
            name = jp_env_join(r->pool, cpre, plen, kv[i].key + 2);
        else
            name = jp_env_join(r->pool, "JITPROV_ACCOUNT_", sizeof("JITPROV_ACCOUNT_") - 1,
                               kv[i].key + 2);
        val = jp_hdr_mapped_value(r->pool, kv[i].key, kv[i].val, delim, enc);
        if (!val)
            continue;
        env_add(r, name, val);
        /* Both from a record of at most JP_SESSREC_MAX bytes: far below
         * what 32 bits hold, even encoded. */
        lens[n] = strlen(name);
        pairs[n++] = name;
        lens[n] = strlen(val);
        pairs[n++] = val;
        envlen += ENV_HEAD + lens[n - 2] + lens[n - 1] + 2;
    }
    if (!rq->cookie || !envlen)
        return;
    env = e = apr_palloc(r->pool, envlen);
    for (i = 0; i < n; i += 2) {
        uint32_t h[2] = {(uint32_t)lens[i], (uint32_t)lens[i + 1]};
        memcpy(e, h, ENV_HEAD);
        memcpy(e + ENV_HEAD, pairs[i], lens[i] + 1);
        memcpy(e + ENV_HEAD + lens[i] + 1, pairs[i + 1], lens[i + 1] + 1);
        e += ENV_HEAD + lens[i] + lens[i + 1] + 2;
    }
    jp_hot_env_put(rq->owner, rq->cookie, rq->cookie_len, sig, siglen, env, envlen);
}

static void apply_identity(request_rec *r, jp_dir_cfg *d, const jp_req *rq, const char *sig,
                           size_t siglen)
{
    const jp_session *s = rq->sess;
    const char *delim = d->delim ? d->delim : ",";
    jp_encoding enc = d->encoding == JP_UNSET ? JP_ENC_NONE : (jp_encoding)d->encoding;
    const char *u = jp_kv_get(s->kv, d->remote_user ? d->remote_user : "c:sub");
    int i;

    u = jp_hdr_remote_user(r->pool, u, s->sub, delim);
    r->user = apr_pstrdup(r->pool, u);
    r->ap_auth_type = "jitprov";
    if (d->headers) {
        const jp_hdr_map *m = (const jp_hdr_map *)d->headers->elts;
        for (i = 0; i < d->headers->nelts; i++) {
            const char *v = jp_kv_get(s->kv, m[i].key);
            /* Claims may be multi-valued: rendered so the backend splits them
             * back exactly, or not at all. Account columns are single strings. */
            if (v && !(v = jp_hdr_mapped_value(r->pool, m[i].key, v, delim, enc)))
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                              JPLOG(0680) "header %s not sent: an element of claim %s "
                                          "contains the delimiter \"%s\" or the "
                                          "delimiter does not suit the encoding",
                              m[i].name, m[i].key + 2, ap_escape_logitem(r->pool, delim));
            if (v)
                apr_table_setn(r->headers_in, m[i].name, v);
            else
                apr_table_unset(r->headers_in, m[i].name);
        }
    }
    if (d->claims_env != 0)
        apply_env(r, d, rq, delim, enc, sig, siglen);
}

/* A request a redirect to the IdP cannot serve: a script's (XMLHttpRequest,
 * or fetch() and sub-resources, which browsers mark with a Sec-Fetch-Mode
 * other than "navigate"). It would follow the redirect invisibly, fail on
 * the IdP's origin, and its state cookie could push the browser's real login
 * attempt out of the jar; a 401 lets the page decide. */
static int wants_status(request_rec *r)
{
    const char *xrw = apr_table_get(r->headers_in, "X-Requested-With");
    const char *mode = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    return (xrw && !strcasecmp(xrw, "XMLHttpRequest")) || (mode && strcasecmp(mode, "navigate"));
}

static int jp_check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    jp_srv_cfg *c;
    jp_dir_cfg *d;
    jp_req *rq = NULL;
    const char *sig = NULL;
    size_t siglen = 0;
    int rc;

    if (!type || strcasecmp(type, "jitprov"))
        return DECLINED;
    c = JP_SRV(r->server);
    d = JP_DIR(r);
    if (!c->provider)
        return jp_fail(r, HTTP_INTERNAL_SERVER_ERROR, "Login is not configured on this server.",
                       "AuthType jitprov used in a server without JITProvProviderMetadataURL, "
                       "JITProvClientID, JITProvRedirectURI and JITProvCryptoPassphrase");
    if (d->claims_env != 0)
        sig = env_sig(r, d, &siglen);
    if (r->main)
        rq = ap_get_module_config(r->main->request_config, &jitprov_module);
    if (!rq) {
        rc = jp_session_load_env(r, c, sig, siglen, &rq);
        if (rc != OK && rc != DECLINED)
            return rc;
    }
    if (rq && d->pass_token > 0) {
        rc = jp_backend_token(r, c, d, rq);
        if (rc == DECLINED)
            rq = NULL;
        else if (rc != OK)
            return rc;
    }
    if (rq) {
        if (!r->main)
            jp_metric(JP_M_SESSION_HIT);
        ap_set_module_config(r->request_config, &jitprov_module, rq);
        apply_identity(r, d, rq, sig, siglen);
        return OK;
    }
    if (!r->main)
        jp_metric(JP_M_SESSION_MISS);
    switch (d->unauth == JP_UNSET ? JP_UNAUTH_AUTH : d->unauth) {
    case JP_UNAUTH_PASS:
        r->user = "";
        r->ap_auth_type = "jitprov";
        return OK;
    case JP_UNAUTH_403:
        return jp_fail(r, HTTP_FORBIDDEN, "You need to log in to see this page.", "no session");
    case JP_UNAUTH_401:
        return jp_fail(r, HTTP_UNAUTHORIZED, "You need to log in to see this page.", "no session");
    default:
        if (r->main || wants_status(r))
            return jp_fail(r, HTTP_UNAUTHORIZED, "You need to log in to see this page.",
                           "no session (subrequest, script or sub-resource request)");
        return jp_login_start(r, c);
    }
}

static void jp_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(jp_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(jp_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(jp_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(jp_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(jp_glue_optional_fn_retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(jp_post_read_request, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_quick_handler(jp_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(jp_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(jp_scim_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(jp_sessinfo_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(jp_check_authn, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    jp_register_authz(p);
    jp_authz_register_hooks();
}

AP_DECLARE_MODULE(jitprov) = {STANDARD20_MODULE_STUFF,    jp_create_dir_cfg, jp_merge_dir_cfg,
                              jp_create_srv_cfg,          jp_merge_srv_cfg,  jp_cmds,
                              jp_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
                              AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
