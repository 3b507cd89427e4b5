/* Outgoing HTTP to the IdP (discovery, JWKS, token, userinfo) with libcurl.
 * Each call takes an easy handle from a small per-process pool and gives it
 * back: a handle keeps its connections (and TLS sessions, DNS answers) open,
 * so a login's token, JWKS and userinfo calls reuse one connection to the IdP
 * instead of a TCP and TLS handshake each. A handle is used by one thread at a
 * time; only the pool itself is behind a mutex, never a transfer. */
#include "jitprov.h"
#include "apr_strings.h"

#include <strings.h>

#include <curl/curl.h>

#define JP_HTTP_MAX_BODY (1024 * 1024)
/* Idle handles kept per process; more concurrent calls get fresh ones. */
#define JP_HTTP_POOL 8

static apr_thread_mutex_t *pool_mutex;
static CURL *idle[JP_HTTP_POOL];
static int nidle;

static apr_status_t pool_cleanup(void *unused)
{
    while (nidle > 0)
        curl_easy_cleanup(idle[--nidle]);
    pool_mutex = NULL;
    return APR_SUCCESS;
}

void jp_http_child_init(apr_pool_t *p)
{
    if (apr_thread_mutex_create(&pool_mutex, APR_THREAD_MUTEX_DEFAULT, p) == APR_SUCCESS)
        apr_pool_cleanup_register(p, NULL, pool_cleanup, apr_pool_cleanup_null);
    else
        pool_mutex = NULL; /* a fresh handle per call, as before */
}

static CURL *handle_get(void)
{
    CURL *h = NULL;
    if (pool_mutex && apr_thread_mutex_lock(pool_mutex) == APR_SUCCESS) {
        if (nidle > 0)
            h = idle[--nidle];
        apr_thread_mutex_unlock(pool_mutex);
    }
    return h ? h : curl_easy_init();
}

/* Options point into this call's pool and stack: reset them before anyone
 * else can use the handle (the connection cache survives a reset). */
static void handle_put(CURL *h)
{
    curl_easy_reset(h);
    if (pool_mutex && apr_thread_mutex_lock(pool_mutex) == APR_SUCCESS) {
        if (nidle < JP_HTTP_POOL) {
            idle[nidle++] = h;
            h = NULL;
        }
        apr_thread_mutex_unlock(pool_mutex);
    }
    if (h)
        curl_easy_cleanup(h);
}

typedef struct {
    apr_pool_t *p;
    char *buf;
    size_t len, cap;
    int overflow;
    const char *www_auth;
} sink;

#define JP_HTTP_MAX_WWW_AUTH 512

/* RFC 6750 3: a refused bearer token is explained in WWW-Authenticate only.
 * Kept for the log; a redirect's own headers do not count. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    static const char name[] = "WWW-Authenticate:";
    sink *k = ud;
    size_t n = size * nmemb, v;
    if (n >= 5 && !strncmp(ptr, "HTTP/", 5))
        k->www_auth = NULL;
    else if (n > sizeof(name) - 1 && !strncasecmp(ptr, name, sizeof(name) - 1)) {
        v = sizeof(name) - 1;
        while (v < n && (ptr[v] == ' ' || ptr[v] == '\t'))
            v++;
        while (n > v && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n' || ptr[n - 1] == ' '))
            n--;
        k->www_auth = apr_pstrmemdup(k->p, ptr + v,
                                     n - v > JP_HTTP_MAX_WWW_AUTH ? JP_HTTP_MAX_WWW_AUTH : n - v);
    }
    return size * nmemb;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *k = ud;
    size_t n = size * nmemb;
    if (k->len + n > JP_HTTP_MAX_BODY) {
        k->overflow = 1;
        return 0; /* aborts the transfer */
    }
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        char *nb;
        while (cap < k->len + n + 1)
            cap *= 2;
        nb = apr_palloc(k->p, cap);
        if (k->len)
            memcpy(nb, k->buf, k->len);
        k->buf = nb;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, ptr, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return n;
}

int jp_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

apr_status_t jp_http(apr_pool_t *p, jp_srv_cfg *c, const char *method, const char *url,
                     const char *form_body, const char *basic_user, const char *basic_pass,
                     const char *bearer, jp_http_resp *out, const char **err)
{
    CURL *h = handle_get();
    struct curl_slist *hdrs = NULL;
    sink k = {p, NULL, 0, 0, 0, NULL};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode rc;
    char *ct = NULL;
    apr_status_t st = APR_SUCCESS;

    memset(out, 0, sizeof(*out));
    if (!h) {
        *err = "curl_easy_init failed";
        return APR_EGENERAL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->http_timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->http_timeout);
    /* A redirect never downgrades: from an https URL only https is followed. */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
                     strncasecmp(url, "https://", 8) ? "http,https" : "https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS,
                     strncasecmp(url, "https://", 8) ? (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)
                                                     : (long)CURLPROTO_HTTPS);
#endif
    /* Token and userinfo answers (a form body or a bearer token) must come from
     * the endpoint itself: a redirect would carry the code or token elsewhere. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, (form_body || bearer) ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file) {
        /* The file is the whole trust: libcurl's built-in CA directory
         * (/etc/ssl/certs on Debian) would otherwise still vouch as well. */
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, (char *)NULL);
    }
    /* Unset, libcurl takes http_proxy, https_proxy and no_proxy from
     * httpd's environment. Set, the proxy carries every call (no_proxy
     * does not apply); none ("") turns the environment's off. */
    if (c->proxy) {
        curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
        curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)JP_HTTP_MAX_BODY);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &k);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &k);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mod_jitprov/" JITPROV_VERSION);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (bearer)
        hdrs = curl_slist_append(hdrs, apr_pstrcat(p, "Authorization: Bearer ", bearer, NULL));
    if (form_body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(form_body));
        hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
    }
    if (basic_user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, basic_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, basic_pass);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    (void)method;

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            out->content_type = apr_pstrdup(p, ct);
        out->body = k.buf ? k.buf : apr_pstrdup(p, "");
        out->len = k.len;
        out->www_authenticate = k.www_auth;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        *err = apr_psprintf(p, "timeout after %d s: %s", c->http_timeout, errbuf);
        st = APR_TIMEUP;
    } else if (k.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        /* Content-Length over the cap stops curl before any byte is read. */
        *err = apr_psprintf(p, "response larger than %d MiB from %s: refused",
                            JP_HTTP_MAX_BODY / (1024 * 1024), url);
        st = APR_EGENERAL;
    } else {
        *err = apr_psprintf(p, "%s: %s", curl_easy_strerror(rc), errbuf);
        st = APR_EGENERAL;
    }
    if (st != APR_SUCCESS || out->status >= 500)
        jp_metric(JP_M_IDP_ERROR);
    curl_slist_free_all(hdrs);
    handle_put(h);
    return st;
}
