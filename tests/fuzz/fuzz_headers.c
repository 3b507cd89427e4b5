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

/* Decodes one part of a claim value in the given encoding into out; returns
 * its length. */
static size_t decode_part(const char *s, size_t n, jp_encoding enc, unsigned char *out)
{
    size_t i, k = 0;
    char t[4096 + 4];

    if (enc == JP_ENC_NONE) {
        memcpy(out, s, n);
        return n;
    }
    if (enc == JP_ENC_PERCENT) {
        for (i = 0; i < n; i++) {
            if (s[i] == '%') {
                if (i + 2 >= n)
                    abort();
                out[k++] = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
                i += 2;
            } else {
                out[k++] = (unsigned char)s[i];
            }
        }
        return k;
    }
    if (n > 4096)
        return (size_t)-1;
    for (i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (i % 4)
        t[i++] = '=';
    t[i] = '\0';
    return (size_t)apr_base64_decode_binary(out, t);
}

/* jp_hdr_claim_value: whatever it renders splits on the delimiter back into
 * exactly the value's elements (control bytes dropped for NONE). */
static void check_claim(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc)
{
    const char *v = jp_hdr_claim_value(p, value, delim, enc), *el, *ee, *part;
    size_t dlen;
    unsigned char *dec;

    if (enc == JP_ENC_NONE) { /* the delimiter loses its control bytes too */
        char *d = apr_pstrdup(p, delim), *o = d;
        for (el = delim; *el; el++) {
            if (!((unsigned char)*el < 0x20 || (unsigned char)*el == 0x7f))
                *o++ = *el;
        }
        *o = '\0';
        delim = d;
    }
    dlen = strlen(delim);

    if (!v)
        return;
    no_ctl(v);
    dec = apr_palloc(p, strlen(v) + 8);
    part = v;
    for (el = value;; el = ee + 1) {
        const char *pe, *c;
        size_t want = 0, got;
        char *clean;
        ee = strchr(el, JP_MULTI_SEP);
        if (!ee)
            ee = el + strlen(el);
        clean = apr_palloc(p, (size_t)(ee - el) + 1);
        for (c = el; c < ee; c++) {
            if (enc != JP_ENC_NONE || !((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f))
                clean[want++] = *c;
        }
        if (*ee) {
            pe = dlen ? strstr(part, delim) : NULL;
            if (!pe)
                abort(); /* fewer parts than elements */
        } else {
            if (dlen && strstr(part, delim))
                abort(); /* more parts than elements */
            pe = part + strlen(part);
        }
        got = decode_part(part, (size_t)(pe - part), enc, dec);
        if (got != (size_t)-1 && (got != want || memcmp(dec, clean, want) != 0))
            abort();
        if (!*ee)
            break;
        part = pe + dlen;
    }
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

    check_claim(p, value, delim, JP_ENC_NONE);
    check_claim(p, value, delim, JP_ENC_PERCENT);
    check_claim(p, value, delim, JP_ENC_BASE64URL);

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
