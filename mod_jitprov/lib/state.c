/* The state cookie of one login attempt: a compact JSON object
 * {"s":state,"n":nonce,"v":verifier,"r":return_to,"t":created} sealed with
 * AES-256-GCM. Everything read back is checked again: the key may be shared with
 * an older or newer build, and a bug elsewhere must not become trust here. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <apr_strings.h>

#include "state.h"
#include "json.h"

/* Slack for clocks of several nodes: a cookie may claim to be this much from the future. */
#define JP_STATE_SKEW 60
/* state, nonce and verifier are 43 chars; RFC 7636 allows verifiers up to 128. */
#define JP_STATE_FIELD_MAX 128
#define JP_STATE_NAME_CHARS 16
/* Same bound as jp_safe_return_to. */
#define JP_RETURN_TO_MAX 4096
/* Format version, part of the AAD. */
#define JP_STATE_AAD_PREFIX "jitprov-state-v1:"

static int is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int is_token(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > JP_STATE_FIELD_MAX)
        return 0;
    for (i = 0; i < len; i++)
        if (!is_b64url_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int jp_authstate_new(apr_pool_t *p, jp_authstate *st, const char *return_to, int64_t now)
{
    if (!st)
        return -1;
    memset(st, 0, sizeof(*st));
    st->state = jp_random_token(p, 32);
    st->nonce = jp_random_token(p, 32);
    st->verifier = jp_random_token(p, 32);
    if (!st->state || !st->nonce || !st->verifier)
        return -1;
    st->return_to = return_to ? apr_pstrdup(p, return_to) : NULL;
    st->created = now;
    return 0;
}

/* The state arrives on the callback from the outside: only a value that looks
 * like one of ours may name a cookie. */
char *jp_authstate_cookie_name(apr_pool_t *p, const char *prefix, const char *state)
{
    size_t len;

    if (!prefix || !*prefix || !state)
        return NULL;
    len = strnlen(state, JP_STATE_FIELD_MAX + 1);
    if (len < JP_STATE_NAME_CHARS || !is_token(state, len))
        return NULL;
    return apr_pstrcat(p, prefix, "_", apr_pstrndup(p, state, JP_STATE_NAME_CHARS), NULL);
}

static const char *state_aad(apr_pool_t *p, const char *cookie_name)
{
    return apr_pstrcat(p, JP_STATE_AAD_PREFIX, cookie_name, NULL);
}

/* JSON strings must be UTF-8; a raw request line need not be. Browsers
 * percent-encode such bytes themselves, so doing it here keeps the URL's meaning. */
static const char *utf8_safe_url(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, n = 0, len = strlen(s);
    char *out, *o;

    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            n++;
    if (n == 0)
        return s;
    out = o = apr_palloc(p, len + 2 * n + 1);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

char *jp_authstate_seal(apr_pool_t *p, const jp_key *key, const char *cookie_name,
                        const jp_authstate *st)
{
    char *json, *out;
    const char *rt = "null";

    if (!key || !cookie_name || !st || !st->state || !st->nonce || !st->verifier)
        return NULL;
    if (!is_token(st->state, strlen(st->state)) || !is_token(st->nonce, strlen(st->nonce)) ||
        !is_token(st->verifier, strlen(st->verifier)))
        return NULL;
    if (st->return_to) {
        const char *u = utf8_safe_url(p, st->return_to);
        if (strlen(u) > JP_RETURN_TO_MAX || !(rt = jp_json_quote(p, u, strlen(u))))
            return NULL;
    }
    /* Written directly, as a JSON encoder would: the three tokens need no
     * escaping (is_token), the return URL is quoted. */
    json = apr_psprintf(
        p, "{\"s\":\"%s\",\"n\":\"%s\",\"v\":\"%s\",\"r\":%s,\"t\":%" APR_INT64_T_FMT "}",
        st->state, st->nonce, st->verifier, rt, (apr_int64_t)st->created);
    out = jp_seal(p, key, state_aad(p, cookie_name), (const unsigned char *)json, strlen(json));
    /* The nonce and the PKCE verifier stay secret: not left in the pool. */
    OPENSSL_cleanse(json, strlen(json));
    return out;
}

/* A copy in the pool of a string member, or NULL when it is missing, not a
 * string, longer than max, or holds a NUL. */
static const char *get_string(apr_pool_t *p, json_t *obj, const char *key, size_t max)
{
    json_t *v = json_object_get(obj, key);
    const char *s;
    size_t len;

    if (!json_is_string(v))
        return NULL;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len > max || strlen(s) != len)
        return NULL;
    return apr_pstrmemdup(p, s, len);
}

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return -1;
}

int jp_authstate_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *cookie_name,
                      const char *value, int64_t now, int ttl, jp_authstate *out, const char **err)
{
    jp_authstate st;
    unsigned char *pt;
    size_t ptlen, nlen;
    json_t *obj, *t, *r;
    json_error_t jerr;
    int64_t created;

    if (err)
        *err = NULL;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!out || !cookie_name || !value || !*value)
        return fail(err, "missing state cookie");
    if (ttl < 0 || now < 0)
        return fail(err, "bad state lifetime");

    pt = jp_open(p, keys, nkeys, state_aad(p, cookie_name), value, &ptlen);
    if (!pt)
        return fail(err, "state cookie does not authenticate");

    obj = jp_json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj) || json_object_size(obj) != 5) {
        json_decref(obj);
        return fail(err, "state cookie malformed");
    }
    memset(&st, 0, sizeof(st));
    st.state = get_string(p, obj, "s", JP_STATE_FIELD_MAX);
    st.nonce = get_string(p, obj, "n", JP_STATE_FIELD_MAX);
    st.verifier = get_string(p, obj, "v", JP_STATE_FIELD_MAX);
    r = json_object_get(obj, "r");
    if (json_is_string(r))
        st.return_to = get_string(p, obj, "r", JP_RETURN_TO_MAX);
    t = json_object_get(obj, "t");
    created = json_is_integer(t) ? (int64_t)json_integer_value(t) : -1;
    if (!st.state || !st.nonce || !st.verifier || !(json_is_null(r) || st.return_to) ||
        !is_token(st.state, strlen(st.state)) || !is_token(st.nonce, strlen(st.nonce)) ||
        !is_token(st.verifier, strlen(st.verifier)) || created < 0) {
        json_decref(obj);
        return fail(err, "state cookie malformed");
    }
    json_decref(obj);

    /* The AAD already binds the blob to its cookie name; checking the name against
     * the state inside as well catches a caller that named the cookie differently. */
    nlen = strlen(cookie_name);
    if (strlen(st.state) < JP_STATE_NAME_CHARS || nlen < JP_STATE_NAME_CHARS + 1 ||
        cookie_name[nlen - JP_STATE_NAME_CHARS - 1] != '_' ||
        memcmp(cookie_name + nlen - JP_STATE_NAME_CHARS, st.state, JP_STATE_NAME_CHARS) != 0)
        return fail(err, "state cookie name mismatch");

    /* Written to avoid signed overflow: both values are known non-negative. */
    if (created > now && created - now > JP_STATE_SKEW)
        return fail(err, "state cookie from the future");
    if (now > created && now - created > (int64_t)ttl + JP_STATE_SKEW)
        return fail(err, "state cookie expired");

    st.created = created;
    *out = st;
    return 0;
}
