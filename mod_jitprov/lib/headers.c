/* What the backend receives: header name matching for spoof stripping, value
 * encoding and environment variable names.
 *
 * jp_hdr_value runs for every mapped header of every authenticated request, so
 * it measures the output once and writes it once: no intermediate join for the
 * NONE and PERCENT encodings, no formatted printing per byte. */

#include <stdint.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_base64.h>
#include <apr_tables.h>

#include "headers.h"

/* Header names compare as the backends see them: CGI turns '-' into '_' and
 * mod_proxy forwards either, so "X-User_Email" must strip "x-user-email". */
static unsigned char fold(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c + ('a' - 'A');
    if (c == '_')
        return '-';
    return c;
}

int jp_hdr_name_eq(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

    if (!x || !y)
        return 0;
    for (; *x && *y; x++, y++) {
        if (fold(*x) != fold(*y))
            return 0;
    }
    return *x == *y;
}

int jp_hdr_name_has_prefix(const char *name, const char *prefix)
{
    const unsigned char *n = (const unsigned char *)name, *q = (const unsigned char *)prefix;

    if (!n || !q || !*q)
        return 0;
    for (; *q; n++, q++) {
        if (!*n || fold(*n) != fold(*q))
            return 0;
    }
    return 1;
}

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
 * "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int jp_hdr_name_valid(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;

    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        if (!is_tchar(*s))
            return 0;
    }
    return 1;
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Eight bytes at a time (every claim of every request passes here): bit 7 of
 * each byte of the result is set where x's byte is below n (n <= 128) or
 * equal to b; a word with no such byte gives 0, which is all callers ask. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static uint64_t below(uint64_t x, unsigned n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

static uint64_t equal(uint64_t x, unsigned char b)
{
    uint64_t y = x ^ (ONES * b);
    return (y - ONES) & ~y & HIGHS;
}

/* 1 when value holds no control byte (so no separator either) and not the
 * byte stop (0: none): the common single-valued plain claim, which every
 * encoding but base64url passes through unchanged and uncopied. */
static int plain(const char *value, unsigned char stop)
{
    size_t n = strlen(value), i;
    uint64_t x;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&x, value + i, 8);
        if (below(x, 0x20) | equal(x, 0x7f) | (stop ? equal(x, stop) : 0))
            return 0;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f || c == stop)
            return 0;
    }
    return 1;
}

/* 1 when PERCENT leaves every byte of value as it is: printable ASCII or
 * space, no '%' and not the byte stop. */
static int pct_plain(const char *value, unsigned char stop)
{
    size_t n = strlen(value), i;
    uint64_t x;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&x, value + i, 8);
        if ((x & HIGHS) | below(x, 0x20) | equal(x, 0x7f) | equal(x, '%') |
            (stop ? equal(x, stop) : 0))
            return 0;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c > 0x7e || c == '%' || c == stop)
            return 0;
    }
    return 1;
}

/* PERCENT keeps visible ASCII and space; '%' itself is escaped so the result
 * decodes unambiguously. */
static int pct_keep(unsigned char c)
{
    return (c >= 0x20 && c <= 0x7e) && c != '%';
}

static const char hex[] = "0123456789ABCDEF";

/* Length of value and the number of separators in it. */
static size_t scan(const char *value, size_t *nsep)
{
    const char *s = value;
    size_t k = 0;

    for (; *s; s++)
        k += (*s == JP_MULTI_SEP);
    *nsep = k;
    return (size_t)(s - value);
}

static const char *render_none(apr_pool_t *p, const char *value, const char *delim)
{
    size_t n, nsep, dlen = 0;
    const unsigned char *s;
    const char *d = delim;
    char *out, *o;

    if (plain(value, 0))
        return value;

    /* The delimiter is vetted at config time; dropping its control bytes here
     * keeps the no-control-byte guarantee independent of that. */
    for (s = (const unsigned char *)delim; *s && !is_ctl(*s); s++)
        ;
    if (!*s) {
        dlen = (size_t)(s - (const unsigned char *)delim);
    } else {
        char *c = apr_pstrdup(p, delim);
        for (s = (const unsigned char *)delim; *s; s++) {
            if (!is_ctl(*s))
                c[dlen++] = (char)*s;
        }
        d = c;
    }

    n = scan(value, &nsep);
    out = o = apr_palloc(p, n - nsep + nsep * dlen + 1);
    for (s = (const unsigned char *)value; *s; s++) {
        if (*s == JP_MULTI_SEP) {
            memcpy(o, d, dlen);
            o += dlen;
        } else if (!is_ctl(*s)) {
            *o++ = (char)*s;
        }
    }
    *o = '\0';
    return out;
}

static char *pct_write(char *o, const unsigned char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (pct_keep(s[i])) {
            *o++ = (char)s[i];
        } else {
            *o++ = '%';
            *o++ = hex[s[i] >> 4];
            *o++ = hex[s[i] & 0x0f];
        }
    }
    return o;
}

static const char *render_percent(apr_pool_t *p, const char *value, const char *delim)
{
    const unsigned char *s;
    size_t dlen, elen, total = 0;
    const char *ed = delim;
    char *out, *o;

    if (pct_plain(value, 0))
        return value;

    /* Encode the delimiter once (usually a no-op); every separator then costs
     * a memcpy. */
    for (s = (const unsigned char *)delim; *s && pct_keep(*s); s++)
        ;
    dlen = strlen(delim);
    elen = dlen;
    if (*s) {
        char *e = apr_palloc(p, dlen * 3 + 1);
        elen = (size_t)(pct_write(e, (const unsigned char *)delim, dlen) - e);
        ed = e;
    }

    for (s = (const unsigned char *)value; *s; s++) {
        if (*s == JP_MULTI_SEP)
            total += elen;
        else
            total += pct_keep(*s) ? 1 : 3;
    }
    out = o = apr_palloc(p, total + 1);
    for (s = (const unsigned char *)value; *s; s++) {
        if (*s == JP_MULTI_SEP) {
            memcpy(o, ed, elen);
            o += elen;
        } else {
            o = pct_write(o, s, 1);
        }
    }
    *o = '\0';
    return out;
}

static const char *render_b64url(apr_pool_t *p, const char *value, const char *delim)
{
    size_t n, nsep, dlen = strlen(delim), blen, i;
    const unsigned char *src = (const unsigned char *)value;
    char *out;

    n = scan(value, &nsep);
    if (nsep) {
        const char *s;
        char *j, *o;

        n = n - nsep + nsep * dlen;
        j = o = apr_palloc(p, n + 1);
        for (s = value; *s; s++) {
            if (*s == JP_MULTI_SEP) {
                memcpy(o, delim, dlen);
                o += dlen;
            } else {
                *o++ = *s;
            }
        }
        src = (const unsigned char *)j;
    }
    /* apr_base64 counts in int; nothing near this size ever reaches a header. */
    if (n > (size_t)(1 << 28))
        return NULL;

    out = apr_palloc(p, (size_t)apr_base64_encode_len((int)n));
    apr_base64_encode_binary(out, src, (int)n);

    /* Standard alphabet to URL-safe, then cut the padding. */
    blen = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    for (i = 0; i < blen; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    out[blen] = '\0';
    return out;
}

const char *jp_hdr_value(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc)
{
    if (!value)
        value = "";
    if (!delim)
        delim = "";
    switch (enc) {
    case JP_ENC_NONE:
        return render_none(p, value, delim);
    case JP_ENC_PERCENT:
        return render_percent(p, value, delim);
    case JP_ENC_BASE64URL:
        return render_b64url(p, value, delim);
    }
    return NULL;
}

/* ---- claim values: unambiguous per element ---- */

static int has_sep(const char *value)
{
    return strchr(value, JP_MULTI_SEP) != NULL;
}

/* With a self-overlapping delimiter ("||"), an element ending in part of it
 * ("a|") would move the split point: "a|" "||" "b" reads as "a", "|b". */
static int ends_in_overlap(const char *el, size_t n, const char *delim, size_t dlen)
{
    size_t k;

    for (k = 1; k < dlen && k <= n; k++) {
        if (!memcmp(delim + k, delim, dlen - k) && !memcmp(el + n - k, delim, k))
            return 1;
    }
    return 0;
}

static const char *claim_none(apr_pool_t *p, const char *value, const char *delim)
{
    const char *s, *e;
    const unsigned char d0 = (unsigned char)delim[0];
    size_t dlen;

    /* The usual one-byte delimiter needs no scan of its own. */
    if ((d0 && !delim[1] ? d0 >= 0x20 && d0 != 0x7f : plain(delim, 0)) && plain(value, d0))
        return value;

    /* The delimiter as it will appear: its control bytes dropped (render_none). */
    for (s = delim; *s && !is_ctl((unsigned char)*s); s++)
        ;
    if (*s) {
        char *c = apr_palloc(p, strlen(delim) + 1), *o = c;
        for (s = delim; *s; s++) {
            if (!is_ctl((unsigned char)*s))
                *o++ = *s;
        }
        *o = '\0';
        delim = c;
    }
    dlen = strlen(delim);

    if (!dlen)
        return has_sep(value) ? NULL : render_none(p, value, delim);
    /* Dropping control bytes adds none, so without the delimiter's first byte
     * no element can hold the delimiter. */
    if (!strchr(value, delim[0]))
        return render_none(p, value, delim);
    for (s = value;; s = e + 1) {
        char *el, *o;
        e = strchr(s, JP_MULTI_SEP);
        if (!e)
            e = s + strlen(s);
        el = o = apr_palloc(p, (size_t)(e - s) + 1);
        for (; s < e; s++) {
            if (!is_ctl((unsigned char)*s))
                *o++ = *s;
        }
        *o = '\0';
        if (strstr(el, delim) || (*e && ends_in_overlap(el, (size_t)(o - el), delim, dlen)))
            return NULL;
        if (!*e)
            break;
    }
    return render_none(p, value, delim);
}

static const char *claim_percent(apr_pool_t *p, const char *value, const char *delim)
{
    const unsigned char *s, *d;
    size_t dlen = strlen(delim), total = 0;
    char *out, *o;
    unsigned char in_delim[256] = {0};

    /* A hex digit in the delimiter would also match inside a %XX escape. */
    for (d = (const unsigned char *)delim; *d; d++) {
        if (!pct_keep(*d) || (*d >= '0' && *d <= '9') || (*d >= 'A' && *d <= 'F') ||
            (*d >= 'a' && *d <= 'f'))
            return NULL;
        in_delim[*d] = 1;
    }
    if (!dlen && has_sep(value))
        return NULL;
    if ((!dlen && pct_plain(value, 0)) || (dlen == 1 && pct_plain(value, (unsigned char)*delim)))
        return value;
    for (s = (const unsigned char *)value; *s; s++) {
        if (*s == JP_MULTI_SEP)
            total += dlen;
        else
            total += (pct_keep(*s) && !in_delim[*s]) ? 1 : 3;
    }
    out = o = apr_palloc(p, total + 1);
    for (s = (const unsigned char *)value; *s; s++) {
        if (*s == JP_MULTI_SEP) {
            memcpy(o, delim, dlen);
            o += dlen;
        } else if (pct_keep(*s) && !in_delim[*s]) {
            *o++ = (char)*s;
        } else {
            *o++ = '%';
            *o++ = hex[*s >> 4];
            *o++ = hex[*s & 0x0f];
        }
    }
    *o = '\0';
    return out;
}

static int b64url_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static const char *claim_b64url(apr_pool_t *p, const char *value, const char *delim)
{
    const unsigned char *d;
    const char *s, *e;
    size_t dlen = strlen(delim);
    apr_array_header_t *parts;

    for (d = (const unsigned char *)delim; *d; d++) {
        if (b64url_char(*d) || is_ctl(*d))
            return NULL;
    }
    if (!has_sep(value))
        return render_b64url(p, value, delim);
    if (!dlen)
        return NULL;
    parts = apr_array_make(p, 4, sizeof(const char *));
    for (s = value;; s = e + 1) {
        const char *enc;
        e = strchr(s, JP_MULTI_SEP);
        if (!e)
            e = s + strlen(s);
        enc = render_b64url(p, apr_pstrmemdup(p, s, (size_t)(e - s)), "");
        if (!enc)
            return NULL;
        if (parts->nelts)
            *(const char **)apr_array_push(parts) = delim;
        *(const char **)apr_array_push(parts) = enc;
        if (!*e)
            break;
    }
    return apr_array_pstrcat(p, parts, 0);
}

const char *jp_hdr_claim_value(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc)
{
    if (!value)
        value = "";
    if (!delim)
        delim = "";
    switch (enc) {
    case JP_ENC_NONE:
        return claim_none(p, value, delim);
    case JP_ENC_PERCENT:
        return claim_percent(p, value, delim);
    case JP_ENC_BASE64URL:
        return claim_b64url(p, value, delim);
    }
    return NULL;
}

const char *jp_hdr_mapped_value(apr_pool_t *p, const char *key, const char *value,
                                const char *delim, jp_encoding enc)
{
    /* Only a claim can hold several elements that must split back apart. */
    if (key && key[0] == 'c')
        return jp_hdr_claim_value(p, value, delim, enc);
    return jp_hdr_value(p, value, delim, enc);
}

const char *jp_hdr_remote_user(apr_pool_t *p, const char *value, const char *sub, const char *delim)
{
    const char *u = value ? jp_hdr_value(p, value, delim, JP_ENC_NONE) : NULL;
    /* Empty also when nothing but control characters was left of it. */
    if (!u || !*u)
        u = jp_hdr_value(p, sub, delim, JP_ENC_NONE);
    return u;
}

/* Environment names: letters, digits and '_' only (anything else becomes
 * '_'); claim names upper-cased. Tables, since every claim of every request
 * gets a name. */
#define E(c)                                                                                       \
    (((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')        \
         ? (char)(c)                                                                               \
         : '_')
#define U(c) ((c) >= 'a' && (c) <= 'z' ? (char)((c) - ('a' - 'A')) : E(c))
#define R16(m, b)                                                                                  \
    m(b), m(b + 1), m(b + 2), m(b + 3), m(b + 4), m(b + 5), m(b + 6), m(b + 7), m(b + 8),          \
        m(b + 9), m(b + 10), m(b + 11), m(b + 12), m(b + 13), m(b + 14), m(b + 15)
#define R256(m)                                                                                    \
    R16(m, 0), R16(m, 16), R16(m, 32), R16(m, 48), R16(m, 64), R16(m, 80), R16(m, 96),             \
        R16(m, 112), R16(m, 128), R16(m, 144), R16(m, 160), R16(m, 176), R16(m, 192), R16(m, 208), \
        R16(m, 224), R16(m, 240)
static const char env_keep[256] = {R256(E)};
static const char env_upper[256] = {R256(U)};

char *jp_env_prefix(apr_pool_t *p, const char *prefix)
{
    size_t i, n = prefix ? strlen(prefix) : 0;
    char *out = apr_palloc(p, n + 1);

    /* The prefix keeps its case (the admin chose it) but is still made a valid
     * variable name, so a stray '-' cannot produce a name CGI would mangle. */
    for (i = 0; i < n; i++)
        out[i] = env_keep[(unsigned char)prefix[i]];
    out[n] = '\0';
    return out;
}

char *jp_env_join(apr_pool_t *p, const char *vprefix, size_t plen, const char *name)
{
    size_t nlen = name ? strlen(name) : 0, i;
    char *out = apr_palloc(p, plen + nlen + 1);

    memcpy(out, vprefix, plen);
    for (i = 0; i < nlen; i++)
        out[plen + i] = env_upper[(unsigned char)name[i]];
    out[plen + nlen] = '\0';
    return out;
}

char *jp_env_name(apr_pool_t *p, const char *prefix, const char *name)
{
    const char *v = jp_env_prefix(p, prefix);
    return jp_env_join(p, v, strlen(v), name);
}
