/* Claims as the per-request path needs them. Flattening happens once, at login;
 * the per-request path only sees the resulting strings (through the session
 * record) and never parses JSON again. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "claims.h"
#include "headers.h"

/* A string claim as a C string, or NULL when it holds a NUL byte: C code
 * downstream would silently truncate it ("admin@corp\0@evil"), so such a value
 * counts as absent. A JP_MULTI_SEP byte would forge element boundaries (a group
 * "staff\x1f" "admin" must not satisfy Require jitprov-group admin): it becomes
 * a space. */
static const char *string_value(apr_pool_t *p, json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    char *out, *c;

    if (!s || memchr(s, '\0', n))
        return NULL;
    out = apr_pstrmemdup(p, s, n);
    for (c = out; (c = memchr(c, JP_MULTI_SEP, n - (size_t)(c - out))) != NULL; c++)
        *c = ' ';
    return out;
}

/* Fewest significant digits (15..17) that read back as the same double:
 * jansson's default of 17 turns 48.85 into 48.850000000000001. */
static int real_digits(double d)
{
    char buf[40];
    int prec;

    for (prec = 15; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return prec;
}

/* The digits every real inside v needs, so one json_dumps precision suits all. */
static int tree_digits(json_t *v, int depth)
{
    int need = 0, d;

    if (json_is_real(v))
        return real_digits(json_real_value(v));
    if (depth > 64)
        return 17;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if ((d = tree_digits(e, depth + 1)) > need)
                need = d;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if ((d = tree_digits(e, depth + 1)) > need)
                need = d;
        }
    }
    return need;
}

/* JSON text of v, reals with the digits they need. */
static const char *json_text(apr_pool_t *p, json_t *v, size_t flags)
{
    int digits = tree_digits(v, 0);

    return jp_json_text(p, v, flags | JSON_ENCODE_ANY | (digits ? JSON_REAL_PRECISION(digits) : 0));
}

static const char *scalar_value(apr_pool_t *p, json_t *v)
{
    char num[32];

    switch (json_typeof(v)) {
    case JSON_STRING:
        return string_value(p, v);
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return apr_pstrdup(p, num);
    case JSON_REAL:
        return json_text(p, v, JSON_COMPACT);
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return NULL;
    }
}

static int is_scalar(json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* The flattened form of one claim value; NULL for null and for values that
 * cannot be carried as a C string. */
static const char *flatten_value(apr_pool_t *p, json_t *v)
{
    if (json_is_null(v))
        return NULL;
    if (json_is_array(v)) {
        size_t i, n = json_array_size(v);
        apr_array_header_t *parts;
        json_t *e;

        json_array_foreach(v, i, e)
        {
            if (!is_scalar(e))
                return json_text(p, v, JSON_COMPACT | JSON_SORT_KEYS);
        }
        parts = apr_array_make(p, n ? (int)n : 1, sizeof(const char *));
        json_array_foreach(v, i, e)
        {
            const char *s = scalar_value(p, e);
            if (s)
                *(const char **)apr_array_push(parts) = s;
        }
        return apr_array_pstrcat(p, parts, JP_MULTI_SEP);
    }
    if (json_is_object(v))
        return json_text(p, v, JSON_COMPACT | JSON_SORT_KEYS);
    return scalar_value(p, v);
}

int jp_claims_flatten(apr_pool_t *p, json_t *claims, const char *key_prefix,
                      apr_array_header_t *out)
{
    const char *key;
    json_t *v;
    int count = 0;

    if (!json_is_object(claims) || !out || out->elt_size != sizeof(jp_kv))
        return 0;
    json_object_foreach(claims, key, v)
    {
        const char *s = flatten_value(p, v);
        jp_kv *kv;

        if (!s)
            continue;
        kv = apr_array_push(out);
        kv->key = key_prefix ? apr_pstrcat(p, key_prefix, key, NULL) : apr_pstrdup(p, key);
        kv->val = s;
        count++;
    }
    return count;
}

/* The whole remaining path is tried as a literal key before splitting at its
 * first dot, so a claim named "https://example.com/roles" or "a.b" is found as
 * it is, and an IdP's nested "address.country" still resolves. One lookup per
 * dot: the cost stays linear whatever the path. */
const char *jp_claim_get(apr_pool_t *p, json_t *claims, const char *path)
{
    char *rest, *dot;
    json_t *obj = claims, *v;

    if (!path || !json_is_object(claims))
        return NULL;
    v = json_object_get(obj, path);
    if (v)
        return flatten_value(p, v);
    if (!strchr(path, '.'))
        return NULL;

    rest = apr_pstrdup(p, path);
    while ((dot = strchr(rest, '.')) != NULL) {
        *dot = '\0';
        obj = json_object_get(obj, rest);
        if (!json_is_object(obj))
            return NULL;
        rest = dot + 1;
        v = json_object_get(obj, rest);
        if (v)
            return flatten_value(p, v);
    }
    return NULL;
}

const char *jp_kv_get(const apr_array_header_t *kv, const char *key)
{
    const jp_kv *e;
    int i;

    if (!kv || !key || kv->elt_size != sizeof(jp_kv))
        return NULL;
    e = (const jp_kv *)kv->elts;
    for (i = 0; i < kv->nelts; i++) {
        if (e[i].key && strcmp(e[i].key, key) == 0)
            return e[i].val;
    }
    return NULL;
}

/* An empty item never matches: an absent or empty claim must not satisfy a
 * requirement written with an empty value. */
int jp_multi_contains(const char *value, const char *item)
{
    size_t ilen;
    const char *s, *e;

    if (!value || !item || !*item)
        return 0;
    ilen = strlen(item);
    for (s = value;; s = e + 1) {
        e = strchr(s, JP_MULTI_SEP);
        if (!e)
            e = s + strlen(s);
        if ((size_t)(e - s) == ilen && memcmp(s, item, ilen) == 0)
            return 1;
        if (!*e)
            return 0;
    }
}

int jp_claims_overage(json_t *claims, const char *claim)
{
    json_t *names;

    if (!json_is_object(claims) || !claim || json_object_get(claims, claim))
        return 0;
    names = json_object_get(claims, "_claim_names");
    return json_is_object(names) && json_object_get(names, claim) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void jp_multi_canonical(apr_array_header_t *parts)
{
    const char **e;
    int i, n = 0;

    if (!parts || parts->nelts < 2)
        return;
    e = (const char **)parts->elts;
    qsort(e, (size_t)parts->nelts, sizeof(*e), cmp_str);
    for (i = 0; i < parts->nelts; i++)
        if (!n || strcmp(e[n - 1], e[i]))
            e[n++] = e[i];
    parts->nelts = n;
}

/* The delim-separated list s as a canonical array; "" is no element. */
static apr_array_header_t *split_set(apr_pool_t *p, const char *s, const char *delim)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(const char *));
    size_t dl = strlen(delim);
    const char *e;

    if (!*s)
        return a;
    for (;;) {
        e = dl ? strstr(s, delim) : NULL;
        if (!e) {
            *(const char **)apr_array_push(a) = s;
            break;
        }
        *(const char **)apr_array_push(a) = apr_pstrmemdup(p, s, (apr_size_t)(e - s));
        s = e + dl;
    }
    jp_multi_canonical(a);
    return a;
}

int jp_multi_set_equal(apr_pool_t *p, const char *a, const char *b, const char *delim)
{
    apr_array_header_t *x, *y;
    int i;

    if (!a || !b)
        return a == b;
    if (!strcmp(a, b))
        return 1;
    if (!delim || !*delim)
        return 0;
    x = split_set(p, a, delim);
    y = split_set(p, b, delim);
    if (x->nelts != y->nelts)
        return 0;
    for (i = 0; i < x->nelts; i++)
        if (strcmp(((const char **)x->elts)[i], ((const char **)y->elts)[i]))
            return 0;
    return 1;
}

int jp_multi_has_ctl(const char *value)
{
    const unsigned char *s;

    if (!value)
        return 0;
    for (s = (const unsigned char *)value; *s; s++) {
        if ((*s < 0x20 && *s != (unsigned char)JP_MULTI_SEP) || *s == 0x7f)
            return 1;
    }
    return 0;
}
