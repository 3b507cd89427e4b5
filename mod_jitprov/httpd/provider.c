/* The IdP's discovery document and JWKS, cached per process. Fetches happen
 * outside the lock. An unknown kid triggers a JWKS refetch, rate-limited per
 * process: ID tokens come from the token endpoint itself, so a new kid there is
 * a rotation and is fetched at once (the same kid at most once a second);
 * logout tokens can be POSTed by anyone, so a stream of forged ones refetches
 * at most once per JP_JWKS_MIN_REFETCH.
 *
 * A failed fetch (discovery or JWKS) starts a back-off per process: no new
 * attempt for 1 s, doubling after each further failure up to JP_BACKOFF_MAX,
 * reset by a success. Inside it every request that would fetch answers at once
 * (a stale copy when there is one, else 503 with Retry-After), so an IdP outage
 * or a stream of unauthenticated logout POSTs never ties up workers waiting for
 * JITProvHTTPTimeout.
 *
 * The providers of a vhost with JITProvProvider entries form a group: no two
 * may name one issuer (RFC 9207 4). The check runs when a discovery document
 * is installed (first fetch or refresh), against the issuers the group holds
 * in this process, and leaves a mark on both providers of a clash; every
 * later use reads the mark. Locks: a provider's, then the group's, never the
 * other way round, and never two providers' at once. */
#include "jitprov.h"
#include "apr_strings.h"

#include "url.h"
#include "json.h"

#define JP_META_TTL 86400
#define JP_JWKS_TTL 3600
#define JP_JWKS_MIN_REFETCH 30
#define JP_JWKS_MIN_REFETCH_ID 1
#define JP_BACKOFF_MAX 60

typedef struct {
    apr_time_t until; /* no fetch before this time */
    int secs;         /* the current back-off; 0 after a success */
} jp_backoff;

/* Under mu. issuer[i] points into provider i's meta_pool, which is destroyed
 * only while this lock is held too; clash[i] as jp_issuer_clashes sets it. */
typedef struct {
    apr_thread_mutex_t *mu;
    int n, held;      /* providers; how many have an issuer here */
    jp_srv_cfg **cfg; /* slot 0: the vhost's own, then the JITProvProvider ones */
    const char **issuer;
    int *clash;
} jp_provider_group;

struct jp_provider {
    jp_provider_group *group; /* NULL: the vhost's only provider */
    int slot;
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
    jp_backoff meta_bo, jwks_bo;
};

/* A lock that cannot be taken means the cache cannot be used safely. */
static int plock(request_rec *r, jp_provider *pv)
{
    apr_status_t rv = apr_thread_mutex_lock(pv->mu);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      JPLOG(0183) "cannot lock the provider cache: metadata and keys not used");
        return -1;
    }
    return 0;
}

/* Seconds left in the back-off (under the lock), 0 when a fetch may go. */
static int backoff_left(const jp_backoff *b, apr_time_t now)
{
    return b->until > now ? (int)apr_time_sec(b->until - now + apr_time_from_sec(1) - 1) : 0;
}

/* Under the lock: record a fetch's outcome. */
static void backoff_note(request_rec *r, jp_backoff *b, apr_time_t now, int ok, const char *what,
                         const char *url)
{
    if (ok) {
        b->secs = 0;
        b->until = 0;
        return;
    }
    b->secs = b->secs ? (b->secs * 2 > JP_BACKOFF_MAX ? JP_BACKOFF_MAX : b->secs * 2) : 1;
    b->until = now + apr_time_from_sec(b->secs);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  JPLOG(0180) "fetching the %s from %s failed: no new attempt for %d s", what, url,
                  b->secs);
}

/* The answer while backing off: fast, and it says when to come back. */
static int backoff_refuse(request_rec *r, int left, const char *what, const char **err)
{
    apr_table_setn(r->err_headers_out, "Retry-After", apr_itoa(r->pool, left));
    *err = apr_psprintf(r->pool, "the last %s fetch failed; backing off, next attempt in %d s",
                        what, left);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0182) "back-off: %s not fetched, next attempt in %d s", what, left);
    return HTTP_SERVICE_UNAVAILABLE;
}

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

apr_status_t jp_provider_group_create(apr_pool_t *p, jp_srv_cfg *home)
{
    jp_provider_group *g;
    int i;
    apr_status_t rv;
    if (!home->extra_providers)
        return APR_SUCCESS;
    g = apr_pcalloc(p, sizeof(*g));
    rv = apr_thread_mutex_create(&g->mu, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return rv;
    g->n = 1 + home->extra_providers->nelts;
    g->cfg = apr_pcalloc(p, g->n * sizeof(*g->cfg));
    g->issuer = apr_pcalloc(p, g->n * sizeof(*g->issuer));
    g->clash = apr_pcalloc(p, g->n * sizeof(*g->clash));
    for (i = 0; i < g->n; i++) {
        jp_srv_cfg *c = i ? ((jp_provider_def *)home->extra_providers->elts)[i - 1].cfg : home;
        if (!c || !c->provider)
            return APR_EGENERAL;
        g->cfg[i] = c;
        g->clash[i] = -1;
        c->provider->group = g;
        c->provider->slot = i;
    }
    return APR_SUCCESS;
}

static int glock(request_rec *r, jp_provider_group *g)
{
    apr_status_t rv = apr_thread_mutex_lock(g->mu);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      JPLOG(0904) "cannot lock the providers' issuer table: metadata not used");
        return -1;
    }
    return 0;
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

/* Discovery 1.0 3: a list without form_post says the IdP will answer in the
 * address, which JITProvResponseMode form_post then refuses. No list means
 * query and fragment, but many IdPs that take form_post leave it out: only
 * noted. */
static void form_post_note(request_rec *r, jp_srv_cfg *c, json_t *doc)
{
    const char *modes;
    if (c->response_mode != JP_RM_FORM_POST)
        return;
    if (!json_is_array(json_object_get(doc, "response_modes_supported"))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0907) "JITProvResponseMode form_post: the discovery document of %s "
                                  "lists no response_modes_supported (by default query and "
                                  "fragment); form_post is assumed to work",
                      c->metadata_url);
        return;
    }
    modes = jwords(r->pool, doc, "response_modes_supported");
    if (!strstr(apr_pstrcat(r->pool, " ", modes, " ", NULL), " form_post "))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0906) "JITProvResponseMode form_post: the discovery document of %s "
                                  "lists response_modes_supported without form_post",
                      c->metadata_url);
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
    doc = jp_json_loadb(resp.body, resp.len, 0, &je);
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
    m->iss_param =
        json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
    form_post_note(r, c, doc);
    json_decref(doc);
    if (!m->issuer || !*m->issuer || !url_ok(m->authorization_endpoint) ||
        !url_ok(m->token_endpoint) || !url_ok(m->jwks_uri)) {
        apr_pool_destroy(np);
        *err = "discovery document lacks issuer, authorization_endpoint, token_endpoint or "
               "jwks_uri";
        return HTTP_BAD_GATEWAY;
    }
    /* OIDC Discovery 4.3, RFC 8414 3: a document that names another issuer
     * than its URL's is refused, or any IdP could speak for another. Other
     * URL shapes carry no issuer to compare with (docs/directives.md). */
    if (!jp_issuer_fits_metadata_url(m->issuer, c->metadata_url)) {
        *err = apr_psprintf(r->pool,
                            "the discovery document names issuer %s, which is not the issuer "
                            "its URL %s stands for; refused",
                            ap_escape_logitem(r->pool, m->issuer), c->metadata_url);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JPLOG(0900) "%s", *err);
        apr_pool_destroy(np);
        return HTTP_BAD_GATEWAY;
    }
    if (m->userinfo_endpoint && !url_ok(m->userinfo_endpoint))
        m->userinfo_endpoint = NULL;
    if (m->end_session_endpoint && !url_ok(m->end_session_endpoint))
        m->end_session_endpoint = NULL;
    {
        const char *ep[] = {m->authorization_endpoint, m->token_endpoint, m->jwks_uri,
                            m->userinfo_endpoint, m->end_session_endpoint};
        static const char *const names[] = {"authorization_endpoint", "token_endpoint", "jwks_uri",
                                            "userinfo_endpoint", "end_session_endpoint"};
        int i;
        /* OIDC Discovery 1.0, 3: these URLs MUST use https. From an https
         * issuer a plain http one is a downgrade (the code and the client
         * secret, or the signing keys, would travel in the clear), which a
         * warning would not stop: refused, loopback included. */
        for (i = 0; i < 5 && !strncmp(m->issuer, "https://", 8); i++)
            if (ep[i] && strncmp(ep[i], "https://", 8)) {
                *err = apr_psprintf(r->pool,
                                    "the discovery document of https issuer %s names %s %s, "
                                    "which is not https (OIDC Discovery 1.0, 3); refused",
                                    ap_escape_logitem(r->pool, m->issuer), names[i],
                                    ap_escape_logitem(r->pool, ep[i]));
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JPLOG(0905) "%s", *err);
                apr_pool_destroy(np);
                return HTTP_BAD_GATEWAY;
            }
        for (i = 0; i < 5; i++)
            if (jp_url_plain_remote(ep[i]))
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              JPLOG(0181) "the discovery document names a plain http endpoint "
                                          "that is not loopback: %s; use https",
                              ep[i]);
    }
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
    out->iss_param = in->iss_param;
}

/* Under the provider's lock: the new document replaces the old one, and the
 * group's issuer table follows in the same step, so nobody reads a document
 * whose clash has not been looked for yet. */
static int meta_install(request_rec *r, jp_provider *pv, apr_pool_t *np, const jp_meta *m,
                        apr_time_t now)
{
    jp_provider_group *g = pv->group;
    if (g && glock(r, g))
        return -1;
    if (pv->meta_pool)
        apr_pool_destroy(pv->meta_pool);
    pv->meta_pool = np;
    pv->meta = *m;
    pv->meta_at = now;
    if (g) {
        if (!g->issuer[pv->slot])
            g->held++;
        g->issuer[pv->slot] = pv->meta.issuer;
        jp_issuer_clashes(g->issuer, g->n, g->clash);
        apr_thread_mutex_unlock(g->mu);
    }
    return 0;
}

/* The cached document (fetched when missing or older than JP_META_TTL),
 * copied into out unless out is NULL (the caller only wants it cached). */
static int meta_get(request_rec *r, jp_srv_cfg *c, jp_meta *out, const char **err)
{
    jp_provider *pv = c->provider;
    apr_time_t now = apr_time_now();
    apr_pool_t *np = NULL;
    jp_meta m;
    int rc;

    int left;

    if (plock(r, pv))
        return HTTP_SERVICE_UNAVAILABLE;
    if (pv->meta_pool && now - pv->meta_at < apr_time_from_sec(JP_META_TTL)) {
        if (out)
            copy_meta(r->pool, out, &pv->meta);
        apr_thread_mutex_unlock(pv->mu);
        return OK;
    }
    left = backoff_left(&pv->meta_bo, now);
    if (left) {
        if (pv->meta_pool) {
            if (out)
                copy_meta(r->pool, out, &pv->meta);
            apr_thread_mutex_unlock(pv->mu);
            return OK;
        }
        apr_thread_mutex_unlock(pv->mu);
        return backoff_refuse(r, left, "discovery document", err);
    }
    apr_thread_mutex_unlock(pv->mu);

    rc = fetch_meta(r, c, &np, &m, err);
    if (plock(r, pv)) {
        if (np)
            apr_pool_destroy(np);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    backoff_note(r, &pv->meta_bo, now, rc == OK, "discovery document", c->metadata_url);
    if (rc == OK) {
        if (meta_install(r, pv, np, &m, now)) {
            apr_thread_mutex_unlock(pv->mu);
            apr_pool_destroy(np);
            *err = "provider cache lock failed";
            return HTTP_SERVICE_UNAVAILABLE;
        }
    } else if (pv->meta_pool) {
        /* A stale document beats none while the IdP is briefly unreachable;
         * try again in a minute rather than make every login wait. */
        pv->meta_at = now - apr_time_from_sec(JP_META_TTL - 60);
        rc = OK;
    }
    if (rc == OK && out)
        copy_meta(r->pool, out, &pv->meta);
    apr_thread_mutex_unlock(pv->mu);
    return rc;
}

/* Every provider of the group whose document this process does not hold yet
 * is fetched, so that the clash check covers them all (docs/directives.md).
 * A failed fetch is skipped, as before: that provider is checked when its
 * document arrives. */
static void group_fill(request_rec *r, jp_provider_group *g)
{
    int i, n = 0, *missing;
    const char *err = NULL;
    if (glock(r, g))
        return;
    missing = apr_palloc(r->pool, g->n * sizeof(*missing));
    for (i = 0; i < g->n; i++)
        if (!g->issuer[i])
            missing[n++] = i;
    apr_thread_mutex_unlock(g->mu);
    for (i = 0; i < n; i++)
        meta_get(r, g->cfg[missing[i]], NULL, &err);
}

/* *other: the slot of another provider naming pv's issuer, or -1. Read after
 * pv's document was copied, so a clash installed with it is seen. Once every
 * document of the group is held, one look at the table. */
static int group_clash(request_rec *r, jp_provider *pv, int *other)
{
    jp_provider_group *g = pv->group;
    int all;
    if (glock(r, g))
        return -1;
    all = g->held == g->n;
    *other = g->clash[pv->slot];
    apr_thread_mutex_unlock(g->mu);
    if (all)
        return 0;
    group_fill(r, g);
    if (glock(r, g))
        return -1;
    *other = g->clash[pv->slot];
    apr_thread_mutex_unlock(g->mu);
    return 0;
}

int jp_provider_meta(request_rec *r, jp_srv_cfg *c, jp_meta *out, const char **err)
{
    jp_provider *pv = c->provider;
    int other, rc = meta_get(r, c, out, err);

    if (rc != OK || !pv->group)
        return rc;
    if (group_clash(r, pv, &other)) {
        *err = "provider cache lock failed";
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (other < 0)
        return OK;
    /* RFC 9207 4: two providers of one vhost must not share an issuer, or a
     * token of one would be taken for the other's (accounts are keyed by iss).
     * Both are refused: which one is genuine is not ours to guess. */
    {
        jp_srv_cfg *o = pv->group->cfg[other];
        *err = apr_psprintf(r->pool,
                            "providers %s and %s of this virtual host both name issuer %s; "
                            "both refused",
                            c->provider_name ? c->provider_name : "default",
                            o->provider_name ? o->provider_name : "default",
                            ap_escape_logitem(r->pool, out->issuer));
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, JPLOG(0901) "%s", *err);
    return HTTP_BAD_GATEWAY;
}

jp_srv_cfg *jp_provider_by_issuer(request_rec *r, jp_srv_cfg *home, const char *iss)
{
    jp_provider_group *g = home->provider->group;
    jp_srv_cfg *found = NULL;
    int i, pass;
    const char *err = NULL;
    if (!g || !iss)
        return NULL;
    for (pass = 0; pass < 2 && !found; pass++) {
        /* Not held or not matched: fetch what is missing or expired, and look
         * once more (a provider whose IdP moved to a new issuer is found). */
        for (i = 0; pass && i < g->n; i++)
            meta_get(r, g->cfg[i], NULL, &err);
        if (glock(r, g))
            return NULL;
        /* The JITProvProvider ones first, the vhost's own last. */
        for (i = 1; i <= g->n && !found; i++)
            if (g->issuer[i % g->n] && !strcmp(g->issuer[i % g->n], iss))
                found = g->cfg[i % g->n];
        apr_thread_mutex_unlock(g->mu);
    }
    return found;
}

static int jwks_failed(request_rec *r, jp_provider *pv, apr_time_t now, const char *uri, int rc)
{
    if (plock(r, pv))
        return HTTP_SERVICE_UNAVAILABLE;
    backoff_note(r, &pv->jwks_bo, now, 0, "JWKS", uri);
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

    int left;

    if (plock(r, pv))
        return HTTP_SERVICE_UNAVAILABLE;
    left = backoff_left(&pv->jwks_bo, now);
    if (left) {
        apr_thread_mutex_unlock(pv->mu);
        return backoff_refuse(r, left, "JWKS", err);
    }
    /* A new kid from the token endpoint is a rotation: fetch at once. The same
     * unknown kid (or again none) within the second, or any logout token
     * within JP_JWKS_MIN_REFETCH, waits. */
    if (force && pv->jwks &&
        ((force == 1 && pv->forced_at && !strcmp(kid ? kid : "", pv->forced_kid) &&
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
        return jwks_failed(r, pv, now, jwks_uri, http_fail_status(st));
    if (resp.status != 200) {
        *err = apr_psprintf(r->pool, "jwks_uri answered HTTP %ld", resp.status);
        return jwks_failed(r, pv, now, jwks_uri, HTTP_BAD_GATEWAY);
    }
    apr_pool_create(&np, pv->pool);
    ks = jp_jwks_parse(np, resp.body, resp.len, err);
    if (!ks) {
        apr_pool_destroy(np);
        return jwks_failed(r, pv, now, jwks_uri, HTTP_BAD_GATEWAY);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JPLOG(0101) "fetched JWKS from %s: %d usable keys",
                  jwks_uri, jp_jwks_count(ks));
    /* The set still replaces the old one: keys the IdP withdrew are not kept
     * alive by a publication we cannot use. Every token now fails, so say
     * it where the default log level shows it, once per fetch. */
    if (!jp_jwks_count(ks)) {
        const char *why = jp_jwks_first_skip(r->pool, ks);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0908) "the JWKS from %s has no key usable for signatures%s%s: "
                                  "every token of this provider is refused until it has one",
                      jwks_uri, why ? "; the first skipped is " : "", why ? why : "");
    }
    if (plock(r, pv)) {
        apr_pool_destroy(np);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    backoff_note(r, &pv->jwks_bo, now, 1, "JWKS", jwks_uri);
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
        if (plock(r, pv)) {
            *err = "provider cache lock failed";
            return JP_TOK_IDP_DOWN;
        }
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
                if (plock(r, pv)) {
                    *err = "provider cache lock failed";
                    return JP_TOK_IDP_DOWN;
                }
                if (pv->jwks) {
                    rc = run_validate(r, pv->jwks, jwt, e, logout, claims, err);
                    apr_thread_mutex_unlock(pv->mu);
                    return rc;
                }
                apr_thread_mutex_unlock(pv->mu);
                *err = apr_psprintf(r->pool, "cannot fetch JWKS: %s", ferr);
                return frc == HTTP_GATEWAY_TIME_OUT ? JP_TOK_IDP_TIMEOUT : JP_TOK_IDP_DOWN;
            }
            /* The kid of a logout token is anyone's to choose: short and
             * escaped in the log, as token.c keeps its own. */
            const char *kid = jp_jwt_peek_kid(r->pool, jwt);
            *err = apr_psprintf(r->pool, "unknown signing key (kid %s%s); %s",
                                kid ? ap_escape_logitem(r->pool, apr_pstrndup(r->pool, kid, 40))
                                    : "none",
                                kid && strlen(kid) > 40 ? "..." : "", ferr);
            return JP_TOK_BAD;
        }
    }
    if (rc == JP_TOK_UNKNOWN_KID)
        *err = apr_psprintf(r->pool,
                            "no usable key for the token, also after refetching the "
                            "JWKS: %s",
                            *err ? *err : "no key fits");
    return rc == JP_TOK_OK ? rc : JP_TOK_BAD;
}
