/* Tokens for the backend: parsed from the IdP's answers, kept sealed. */
#include <string.h>

#include <apr_strings.h>

#include "tokenset.h"
#include "json.h"

#define AAD_PREFIX "jitprov-tokens-v1:"

/* Tokens go into headers and environment variables: RFC 6750 b64token
 * characters and a few more, nothing that could split a header. */
static int token_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const unsigned char *q;
    if (!n || n > JP_TOKEN_MAX)
        return 0;
    for (q = (const unsigned char *)s; *q; q++)
        if (*q <= 0x20 || *q >= 0x7f)
            return 0;
    return 1;
}

int jp_token_type_check(json_t *resp, const char **err)
{
    json_t *tt = json_object_get(resp, "token_type");
    if (!tt) {
        *err = "token_type is missing";
        return -1;
    }
    if (!json_is_string(tt) || strcasecmp(json_string_value(tt), "Bearer")) {
        *err = "token_type is not Bearer";
        return -1;
    }
    return 0;
}

int jp_token_response_check(json_t *resp, const char **err)
{
    json_t *at = json_object_get(resp, "access_token");
    const unsigned char *q;
    size_t i, n;

    if (!json_is_string(at) || !(n = json_string_length(at))) {
        *err = "access_token is missing or not a string";
        return -1;
    }
    /* By its length, not strlen: an embedded NUL is refused too. */
    q = (const unsigned char *)json_string_value(at);
    for (i = 0; i < n; i++)
        if (q[i] < 0x20 || q[i] > 0x7e) {
            *err = "access_token has characters RFC 6749 A.12 does not allow";
            return -1;
        }
    return jp_token_type_check(resp, err);
}

int jp_tokenset_from_response(apr_pool_t *p, json_t *resp, int64_t now, const jp_tokenset *old,
                              jp_tokenset *out, const char **err)
{
    json_t *at = json_object_get(resp, "access_token");
    json_t *ei = json_object_get(resp, "expires_in");
    json_t *rt = json_object_get(resp, "refresh_token");
    memset(out, 0, sizeof(*out));
    if (!json_is_object(resp) || !json_is_string(at) || !token_ok(json_string_value(at))) {
        *err = "no usable access_token";
        return -1;
    }
    if (jp_token_type_check(resp, err))
        return -1;
    if (ei && (!json_is_integer(ei) || json_integer_value(ei) < 0 ||
               json_integer_value(ei) > 10 * 365 * 86400)) {
        *err = "expires_in is not a sensible number of seconds";
        return -1;
    }
    if (rt && !json_is_null(rt) && (!json_is_string(rt) || !token_ok(json_string_value(rt)))) {
        *err = "refresh_token is not usable";
        return -1;
    }
    out->access_token = apr_pstrdup(p, json_string_value(at));
    out->expires = ei ? now + (int64_t)json_integer_value(ei) : 0;
    if (json_is_string(rt))
        out->refresh_token = apr_pstrdup(p, json_string_value(rt));
    else
        out->refresh_token = old && old->refresh_token ? old->refresh_token : "";
    return 0;
}

const char *jp_tokenset_aad(apr_pool_t *p, const char *iss, const char *sub)
{
    return apr_pstrcat(p, AAD_PREFIX, iss ? iss : "", "\n", sub ? sub : "", NULL);
}

char *jp_tokenset_seal(apr_pool_t *p, const jp_key *key, const char *aad, const jp_tokenset *t)
{
    json_t *j = json_pack("{s:s, s:s, s:I}", "at", t->access_token, "rt",
                          t->refresh_token ? t->refresh_token : "", "exp", (json_int_t)t->expires);
    char *text, *out;
    if (!j)
        return NULL;
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return NULL;
    out = jp_seal(p, key, aad, (const unsigned char *)text, strlen(text));
    /* The plaintext held the tokens: wipe before handing the buffer back. */
    memset(text, 0, strlen(text));
    free(text);
    return out;
}

int jp_tokenset_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *aad,
                     const char *blob, jp_tokenset *out)
{
    size_t n;
    unsigned char *pt;
    json_t *j, *at, *rt, *exp;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!blob || !*blob)
        return -1;
    pt = jp_open(p, keys, nkeys, aad, blob, &n);
    if (!pt)
        return -1;
    j = jp_json_loadb((const char *)pt, n, 0, NULL);
    memset(pt, 0, n);
    at = json_object_get(j, "at");
    rt = json_object_get(j, "rt");
    exp = json_object_get(j, "exp");
    if (json_is_string(at) && token_ok(json_string_value(at)) && json_is_string(rt) &&
        json_is_integer(exp)) {
        out->access_token = apr_pstrdup(p, json_string_value(at));
        out->refresh_token = apr_pstrdup(p, json_string_value(rt));
        out->expires = (int64_t)json_integer_value(exp);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

int jp_tokenset_due(const jp_tokenset *t, int64_t now, int margin)
{
    return t->expires && now + margin >= t->expires;
}
