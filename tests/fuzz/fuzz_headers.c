/* libFuzzer target: jp_hdr_value on arbitrary bytes, for each encoding. The
 * first byte picks the delimiter's length (delimiters are vetted at config
 * time, but the guarantee must not depend on it); the rest is the value, cut at
 * its first NUL as a C string would be. No output may hold a control byte, and
 * PERCENT and BASE64URL must be reversible. Name folding and env names ride
 * along. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_base64.h>
#include <apr_strings.h>

#include "headers.h"

static apr_pool_t *root;

static void no_ctl(const char *s)
{
    if (!s)
        abort();
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            abort();
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *delim, *value, *joined, *o, *t;
    const char *s, *v;
    size_t dlen, jlen, i, n;
    unsigned char *dec;

    if (size < 1)
        return 0;
    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);

    dlen = data[0] % 4;
    if (dlen > size - 1)
        dlen = size - 1;
    delim = apr_pstrmemdup(p, (const char *)data + 1, dlen);
    value = apr_pstrmemdup(p, (const char *)data + 1 + dlen, size - 1 - dlen);

    /* The joined bytes every encoding starts from. */
    joined = o = apr_palloc(p, strlen(value) * (strlen(delim) + 1) + 1);
    for (s = value; *s; s++) {
        if (*s == JP_MULTI_SEP) {
            memcpy(o, delim, strlen(delim));
            o += strlen(delim);
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    jlen = (size_t)(o - joined);

    v = jp_hdr_value(p, value, delim, JP_ENC_NONE);
    no_ctl(v);
    if (strlen(v) > jlen)
        abort();

    v = jp_hdr_value(p, value, delim, JP_ENC_PERCENT);
    no_ctl(v);
    dec = apr_palloc(p, strlen(v) + 1);
    for (n = 0, s = v; *s; s++) {
        if ((unsigned char)*s > 0x7e)
            abort();
        if (*s == '%') {
            if (!s[1] || !s[2])
                abort();
            dec[n++] = (unsigned char)(hexval(s[1]) << 4 | hexval(s[2]));
            s += 2;
        } else {
            dec[n++] = (unsigned char)*s;
        }
    }
    if (n != jlen || memcmp(dec, joined, n) != 0)
        abort();

    v = jp_hdr_value(p, value, delim, JP_ENC_BASE64URL);
    no_ctl(v);
    n = strlen(v);
    t = apr_palloc(p, n + 4);
    for (i = 0; i < n; i++) {
        if (v[i] == '+' || v[i] == '/' || v[i] == '=')
            abort();
        t[i] = v[i] == '-' ? '+' : v[i] == '_' ? '/' : v[i];
    }
    while (i % 4)
        t[i++] = '=';
    t[i] = '\0';
    dec = apr_palloc(p, (size_t)apr_base64_decode_len(t) + 1);
    n = (size_t)apr_base64_decode_binary(dec, t);
    if (n != jlen || memcmp(dec, joined, n) != 0)
        abort();

    /* Folding is symmetric and a name always matches itself and its prefixes. */
    if (jp_hdr_name_eq(value, delim) != jp_hdr_name_eq(delim, value))
        abort();
    if (!jp_hdr_name_eq(value, value))
        abort();
    if (jp_hdr_name_has_prefix(value, delim) !=
        (*delim && strlen(value) >= strlen(delim) &&
         jp_hdr_name_eq(apr_pstrmemdup(p, value, strlen(delim)), delim)))
        abort();
    jp_hdr_name_valid(value);

    v = jp_env_name(p, delim, value);
    for (s = v; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            abort();
    }
    if (strlen(v) != strlen(delim) + strlen(value))
        abort();

    apr_pool_destroy(p);
    return 0;
}
