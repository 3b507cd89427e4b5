/* A form POST that arrives without a session is kept for the login it starts
 * and sent again afterwards (JITProvPreservePostMax): the fields go, sealed,
 * into the session cache under a key derived from that login's state, for
 * as long as the state lives; the callback of that login (and only it: the
 * state cookie and the one-use code guard it) takes them out once and serves
 * a page that re-posts them to the original URL from the browser. Only
 * same-origin posts are kept: a cross-site form must not be replayed with the
 * session the victim is about to get. */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include "formpost.h"
#include "json.h"

#define JP_POST_AAD "jitprov-post-v1:"

static const char *post_key(request_rec *r, jp_srv_cfg *c, const char *state)
{
    return apr_pstrcat(
        r->pool,
        jp_sha256_b64url(r->pool, apr_pstrcat(r->pool, c->client_id, "\npost\n", state, NULL)),
        ".p", NULL);
}

static int same_origin(request_rec *r, jp_srv_cfg *c)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    if (origin)
        return !strcasecmp(origin, jp_origin_url(r, c, ""));
    return site && !strcmp(site, "same-origin");
}

static void not_kept(request_rec *r, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0377) "POST to %s not kept across the login: %s",
                  ap_escape_logitem(r->pool, r->uri), why);
}

/* Up to max bytes; -1 when there is more, or on a read error. */
static int read_body(request_rec *r, apr_size_t max, char **out, apr_size_t *outlen)
{
    apr_size_t len = 0;
    char *buf;
    long n;
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK)
        return -1;
    buf = apr_palloc(r->pool, max + 1);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf + len, max + 1 - len)) > 0) {
            len += (apr_size_t)n;
            if (len > max)
                return -1;
        }
        if (n < 0)
            return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

void jp_post_preserve(request_rec *r, jp_srv_cfg *c, const char *state, int64_t now)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length"), *text, *sealed;
    apr_size_t len, nfields;
    char *body;
    json_t *pairs, *rec;

    if (c->preserve_post_max <= 0 || r->method_number != M_POST || r->main)
        return;
    if (!jp_form_content_type_ok(apr_table_get(r->headers_in, "Content-Type"))) {
        not_kept(r, "not application/x-www-form-urlencoded");
        return;
    }
    if (!same_origin(r, c)) {
        not_kept(r, "not sent from this site's own pages (Origin / Sec-Fetch-Site)");
        return;
    }
    if (cl && apr_atoi64(cl) > c->preserve_post_max) {
        not_kept(r, "larger than JITProvPreservePostMax");
        return;
    }
    if (read_body(r, (apr_size_t)c->preserve_post_max, &body, &len) != 0) {
        not_kept(r, "larger than JITProvPreservePostMax, or unreadable");
        return;
    }
    pairs = jp_form_parse(r->pool, body, len);
    if (!pairs) {
        not_kept(r, "malformed form body (bad escapes, NUL, not UTF-8, too many fields)");
        return;
    }
    /* Counted now: the record takes pairs over and frees it with itself. */
    nfields = json_array_size(pairs);
    rec = json_pack("{s:s, s:o, s:I}", "u", r->unparsed_uri, "f", pairs, "t", (json_int_t)now);
    text = rec ? jp_json_text(r->pool, rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    sealed =
        text ? jp_seal(r->pool, &c->state_keys[0], apr_pstrcat(r->pool, JP_POST_AAD, state, NULL),
                       (const unsigned char *)text, strlen(text))
             : NULL;
    if (!sealed ||
        jp_cache_put_str(r, c, post_key(r, c, state), sealed, now + c->state_ttl) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0379) "POST to %s could not be kept (%lu bytes): session cache store "
                                  "failed (too small for it?)",
                      ap_escape_logitem(r->pool, r->uri), (unsigned long)len);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0376) "POST to %s (%lu bytes, %lu fields) kept for the login",
                  ap_escape_logitem(r->pool, r->uri), (unsigned long)len, (unsigned long)nfields);
}

int jp_post_resume(request_rec *r, jp_srv_cfg *c, const char *state, const char *return_to,
                   const char *dest, int64_t now)
{
    char *sealed = NULL;
    unsigned char *text;
    size_t n;
    json_t *rec, *u, *t, *f;
    const char *nonce, *page = NULL;

    if (c->preserve_post_max <= 0 || !return_to)
        return DECLINED;
    /* Room for the largest sealed record: JSON escapes and base64 grow it. */
    if (jp_cache_take_str(r, c, post_key(r, c, state), &sealed,
                          (apr_size_t)c->preserve_post_max * 8 + 4096) != APR_SUCCESS)
        return DECLINED;
    text = jp_open(r->pool, c->state_keys, c->nkeys, apr_pstrcat(r->pool, JP_POST_AAD, state, NULL),
                   sealed, &n);
    rec = text ? jp_json_loadb((const char *)text, n, 0, NULL) : NULL;
    u = json_object_get(rec, "u");
    t = json_object_get(rec, "t");
    f = json_object_get(rec, "f");
    nonce = jp_random_token(r->pool, 18);
    /* Bound to this login's URL and lifetime as well as its state. */
    if (json_is_string(u) && !strcmp(json_string_value(u), return_to) && json_is_integer(t) &&
        now - json_integer_value(t) <= c->state_ttl + 60 && nonce)
        page = jp_form_page(r->pool, dest, f, nonce);
    json_decref(rec);
    if (!page) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0379) "a kept POST for %s was unreadable or expired: dropped",
                      ap_escape_logitem(r->pool, return_to));
        return DECLINED;
    }
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   apr_pstrcat(r->pool, "default-src 'none'; script-src 'nonce-", nonce,
                               "'; base-uri 'none'; frame-ancestors 'none'", NULL));
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    jp_no_store(r);
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, JPLOG(0378) "re-posting the kept form to %s",
                  ap_escape_logitem(r->pool, dest));
    ap_rputs(page, r);
    return OK;
}
