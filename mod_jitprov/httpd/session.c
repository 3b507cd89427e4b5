/* Server-side sessions in an Apache socache. The browser holds only a random
 * 256-bit id; the cache key is its SHA-256, so a cache dump reveals no usable
 * cookie. Networked caches get AES-GCM sealed records. */
#include "jitprov.h"
#include "http_protocol.h"
#include "util_mutex.h"
#include "apr_strings.h"

#define JP_MUTEX_TYPE "jitprov-cache"
#define JP_SESS_AAD "jitprov-session-v1"
#define JP_RETRIEVE_BUF 16384
/* A sealed record is base64url of the record plus 29 bytes. */
#define JP_RETRIEVE_MAX (JP_SESSREC_MAX / 3 * 4 + 1024)
#define JP_SUB_INDEX_MAX 16

static apr_global_mutex_t *cache_mutex;
static const char *cache_mutex_file;

apr_status_t jp_cache_preconfig(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, JP_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t cache_cleanup(void *data)
{
    jp_srv_cfg *c = data;
    c->cache_prov->destroy(c->cache, c->s);
    return APR_SUCCESS;
}

apr_status_t jp_cache_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(pconf);
    int need_mutex = 0;
    apr_status_t rv;
    server_rec *v;

    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        if (c->cache_prov && (c->cache_prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE))
            need_mutex = 1;
    }
    if (need_mutex && !cache_mutex) {
        rv = ap_global_mutex_create(&cache_mutex, &cache_mutex_file, JP_MUTEX_TYPE, NULL, s, pconf,
                                    0);
        if (rv != APR_SUCCESS)
            return rv;
    }
    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        struct ap_socache_hints hints = {64, 4096, apr_time_from_sec(3600)};
        if (!c->cache || apr_hash_get(done, &c->cache, sizeof(c->cache)))
            continue;
        apr_hash_set(done, apr_pmemdup(pconf, &c->cache, sizeof(c->cache)), sizeof(c->cache), c);
        rv = c->cache_prov->init(c->cache, "jitprov", &hints, v, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v,
                         JPLOG(0201) "cannot initialise JITProvSessionCache %s",
                         c->cache_spec ? c->cache_spec : "(default shmcb)");
            return rv;
        }
        apr_pool_cleanup_register(pconf, c, cache_cleanup, apr_pool_cleanup_null);
    }
    return APR_SUCCESS;
}

void jp_cache_child_init(apr_pool_t *p, server_rec *s)
{
    if (cache_mutex)
        apr_global_mutex_child_init(&cache_mutex, cache_mutex_file, p);
}

/* -1 when the lock cannot be taken: the caller must not touch the cache. */
static int lock(request_rec *r, jp_srv_cfg *c)
{
    if (cache_mutex && (c->cache_prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE)) {
        apr_status_t rv = apr_global_mutex_lock(cache_mutex);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                          JPLOG(0280) "cannot lock the session cache mutex: cache not used");
            return -1;
        }
        return 1;
    }
    return 0;
}

static void unlock(int locked)
{
    if (locked > 0)
        apr_global_mutex_unlock(cache_mutex);
}

static apr_status_t cache_put(request_rec *r, jp_srv_cfg *c, const char *key,
                              const unsigned char *data, size_t len, apr_time_t expiry)
{
    apr_status_t rv;
    int l = lock(r, c);
    if (l < 0)
        return APR_EGENERAL;
    rv = c->cache_prov->store(c->cache, r->server, (const unsigned char *)key,
                              (unsigned int)strlen(key), expiry, (unsigned char *)data,
                              (unsigned int)len, r->pool);
    unlock(l);
    return rv;
}

/* shmcb answers APR_NOTFOUND, not ENOMEM, when the buffer is too small: a miss
 * with the small buffer is retried once with room for the largest record. */
static apr_status_t cache_get(request_rec *r, jp_srv_cfg *c, const char *key, unsigned char **data,
                              unsigned int *len)
{
    unsigned int cap = JP_RETRIEVE_BUF;
    apr_status_t rv;
    for (;;) {
        unsigned char *buf = apr_palloc(r->pool, cap);
        unsigned int n = cap - 1;
        int l = lock(r, c);
        if (l < 0)
            return APR_EGENERAL;
        rv = c->cache_prov->retrieve(c->cache, r->server, (const unsigned char *)key,
                                     (unsigned int)strlen(key), buf, &n, r->pool);
        unlock(l);
        if (rv == APR_SUCCESS) {
            buf[n] = '\0';
            *data = buf;
            *len = n;
            return rv;
        }
        if (cap > JP_RETRIEVE_BUF)
            return rv;
        cap = JP_RETRIEVE_MAX;
    }
}

static void cache_del(request_rec *r, jp_srv_cfg *c, const char *key)
{
    int l = lock(r, c);
    if (l < 0)
        return;
    c->cache_prov->remove(c->cache, r->server, (const unsigned char *)key,
                          (unsigned int)strlen(key), r->pool);
    unlock(l);
}

/* ---- cookies ---- */

const char *jp_cookie_get(request_rec *r, const char *name)
{
    const char *h = apr_table_get(r->headers_in, "Cookie");
    size_t nl = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';' || *h == '\t')
            h++;
        if (!strncmp(h, name, nl) && h[nl] == '=') {
            const char *v = h + nl + 1, *e = v;
            while (*e && *e != ';')
                e++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            return apr_pstrmemdup(r->pool, v, e - v);
        }
        h = strchr(h, ';');
    }
    return NULL;
}

void jp_cookie_set(request_rec *r, jp_srv_cfg *c, const char *name, const char *value,
                   const char *path, int max_age)
{
    int https = !strcasecmp(ap_http_scheme(r), "https");
    const char *attrs;
    if (c->cookie_attrs && !strcmp(name, c->cookie_name))
        /* The sysadmin's attributes, with the safe defaults they do not override. */
        attrs = apr_pstrcat(
            r->pool, c->cookie_attrs,
            ap_strcasestr(c->cookie_attrs, "path=") ? ""
                                                    : apr_pstrcat(r->pool, "; Path=", path, NULL),
            ap_strcasestr(c->cookie_attrs, "httponly") ? "" : "; HttpOnly",
            ap_strcasestr(c->cookie_attrs, "samesite") ? "" : "; SameSite=Lax",
            https && !ap_strcasestr(c->cookie_attrs, "secure") ? "; Secure" : "", NULL);
    else
        attrs = apr_pstrcat(r->pool, "Path=", path, "; HttpOnly; SameSite=Lax",
                            https ? "; Secure" : "", NULL);
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; %s%s", name, value, attrs,
                                max_age < 0 ? ""
                                : max_age == 0
                                    ? "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
                                    : apr_psprintf(r->pool, "; Max-Age=%d", max_age)));
}

/* ---- records ---- */

/* The client id is hashed in so that vhosts sharing one cache (and a cookie
 * sent with a Domain attribute) never see each other's sessions. The hash
 * comes first: shmcb picks the sub-cache by the key's first byte, and a fixed
 * prefix would crowd every session into one 256th of the cache. */
static const char *cache_key(request_rec *r, jp_srv_cfg *c, const char *id)
{
    return apr_pstrcat(
        r->pool, jp_sha256_b64url(r->pool, apr_pstrcat(r->pool, c->client_id, "\n", id, NULL)),
        ".s", NULL);
}

/* Sealed records are bound to their cache key: a record copied under another
 * key by someone with write access to a shared cache does not open. */
static const char *record_aad(request_rec *r, const char *key)
{
    return apr_pstrcat(r->pool, JP_SESS_AAD ":", key, NULL);
}

static int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n == 43 &&
           strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int save(request_rec *r, jp_srv_cfg *c, const char *key, jp_session *s)
{
    size_t len;
    unsigned char *rec = jp_sessrec_encode(r->pool, s, &len);
    apr_time_t expiry;
    int64_t end = s->last_seen + c->inactivity;
    if (!rec)
        return -1;
    if (end > s->expires)
        end = s->expires;
    expiry = apr_time_from_sec(end);
    if (c->cache_encrypt) {
        char *sealed = jp_seal(r->pool, &c->sess_keys[0], record_aad(r, key), rec, len);
        if (!sealed)
            return -1;
        rec = (unsigned char *)sealed;
        len = strlen(sealed);
    }
    return cache_put(r, c, key, rec, len, expiry) == APR_SUCCESS ? 0 : -1;
}

static int fetch(request_rec *r, jp_srv_cfg *c, const char *key, jp_session *s)
{
    unsigned char *data;
    unsigned int len;
    size_t plen;
    apr_status_t rv = cache_get(r, c, key, &data, &len);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, JPLOG(0204) "session %s not in cache", key);
        return -1;
    }
    if (c->cache_encrypt) {
        data =
            jp_open(r->pool, c->sess_keys, c->nkeys, record_aad(r, key), (const char *)data, &plen);
        if (!data)
            return -1;
        len = (unsigned int)plen;
    }
    if (jp_sessrec_decode(r->pool, data, len, s) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0205) "session record %s is unreadable (%u bytes)", key, len);
        return -1;
    }
    return 0;
}

static int recheck(request_rec *r, jp_srv_cfg *c, jp_session *s, int64_t now, int *alive)
{
    jp_db db;
    const char *status = NULL;
    *alive = 1;
    if (!c->provisioning || !s->account_id || now - s->checked_at < c->recheck_interval)
        return OK;
    if (jp_db_acquire(r, &db) != OK ||
        jp_account_status(r->pool, &db, &c->store, s->account_id, &status) != 0) {
        jp_metric(JP_M_DB_ERROR);
        if (c->recheck_fail_open) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          JPLOG(0202) "account status re-check failed; session kept "
                                      "(JITProvAccountRecheckFailOpen On)");
            return OK;
        }
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The account database is unavailable.",
                       "account %" APR_INT64_T_FMT " status re-check failed", s->account_id);
    }
    if (strcmp(status, "active")) {
        jp_metric(JP_M_SESSION_ENDED);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      JPLOG(0203) "session of account %" APR_INT64_T_FMT " ended: account is %s",
                      s->account_id, status);
        *alive = 0;
        return OK;
    }
    s->checked_at = now;
    return OK;
}

int jp_session_load(request_rec *r, jp_srv_cfg *c, jp_req **out)
{
    const char *id = jp_cookie_get(r, c->cookie_name), *key;
    jp_session *s;
    int64_t now, before_seen, before_checked;
    int alive, rc;

    if (!id || !id_ok(id))
        return DECLINED;
    key = cache_key(r, c, id);
    s = apr_palloc(r->pool, sizeof(*s));
    if (fetch(r, c, key, s) != 0)
        return DECLINED;
    now = apr_time_sec(apr_time_now());
    if (now >= s->expires || now - s->last_seen >= c->inactivity) {
        cache_del(r, c, key);
        return DECLINED;
    }
    before_seen = s->last_seen;
    before_checked = s->checked_at;
    rc = recheck(r, c, s, now, &alive);
    if (rc != OK)
        return rc;
    if (!alive) {
        cache_del(r, c, key);
        return DECLINED;
    }
    /* Write activity back at most once a minute (or a tenth of the timeout). */
    if (now - before_seen >= (c->inactivity / 10 < 60 ? c->inactivity / 10 : 60))
        s->last_seen = now;
    if (s->last_seen != before_seen || s->checked_at != before_checked)
        save(r, c, key, s);
    *out = apr_palloc(r->pool, sizeof(**out));
    (*out)->sess = s;
    (*out)->cache_key = key;
    return OK;
}

static void index_add(request_rec *r, jp_srv_cfg *c, const char *ikey, const char *skey,
                      int64_t expires)
{
    unsigned char *old = NULL;
    unsigned int olen = 0;
    const char *list = skey;
    if (cache_get(r, c, ikey, &old, &olen) == APR_SUCCESS && olen) {
        /* Keep the newest few: a user rarely has more live sessions than that. */
        char *o = apr_pstrmemdup(r->pool, (const char *)old, olen), *tok, *last;
        int n = 1;
        for (tok = apr_strtok(o, " ", &last); tok && n < JP_SUB_INDEX_MAX;
             tok = apr_strtok(NULL, " ", &last), n++)
            list = apr_pstrcat(r->pool, list, " ", tok, NULL);
    }
    cache_put(r, c, ikey, (const unsigned char *)list, strlen(list), apr_time_from_sec(expires));
}

static const char *index_key(request_rec *r, const char *kind, const char *iss, const char *v)
{
    return apr_pstrcat(r->pool, jp_sha256_b64url(r->pool, apr_pstrcat(r->pool, iss, "\n", v, NULL)),
                       kind, NULL);
}

int jp_session_create(request_rec *r, jp_srv_cfg *c, jp_session *s)
{
    const char *id = jp_random_token(r->pool, 32), *key;
    if (!id)
        return -1;
    key = cache_key(r, c, id);
    if (save(r, c, key, s) != 0)
        return -1;
    if (s->sid && *s->sid)
        index_add(r, c, index_key(r, ".i", s->iss, s->sid), key, s->expires);
    index_add(r, c, index_key(r, ".u", s->iss, s->sub), key, s->expires);
    jp_cookie_set(r, c, c->cookie_name, id, "/", -1);
    return 0;
}

void jp_session_destroy(request_rec *r, jp_srv_cfg *c, jp_req *rq)
{
    cache_del(r, c, rq->cache_key);
}

/* Back-channel logout: ends the sessions named by sid, or all of sub's. */
int jp_session_revoke_sid(request_rec *r, jp_srv_cfg *c, const char *iss, const char *sid,
                          const char *sub)
{
    const char *ikey = sid ? index_key(r, ".i", iss, sid) : index_key(r, ".u", iss, sub);
    unsigned char *list;
    unsigned int len;
    char *tok, *last;
    int n = 0;
    if (cache_get(r, c, ikey, &list, &len) != APR_SUCCESS)
        return 0;
    for (tok = apr_strtok(apr_pstrmemdup(r->pool, (const char *)list, len), " ", &last); tok;
         tok = apr_strtok(NULL, " ", &last)) {
        jp_session s;
        /* A sid index entry must not end another user's session. */
        if (sub && fetch(r, c, tok, &s) == 0 && strcmp(s.sub, sub))
            continue;
        cache_del(r, c, tok);
        n++;
    }
    cache_del(r, c, ikey);
    return n;
}
