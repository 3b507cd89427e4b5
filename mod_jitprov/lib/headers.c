/* What the backend receives: header name matching for spoof stripping, value
 * encoding and environment variable names.
 *
 * jp_hdr_value runs for every mapped header of every authenticated request, so
 * it measures the output once and writes it once: no intermediate join for the
 * NONE and PERCENT encodings, no formatted printing per byte. */

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

static char *render_none(apr_pool_t *p, const char *value, const char *delim)
{
    size_t n, nsep, dlen = 0;
    const unsigned char *s;
    const char *d = delim;
    char *out, *o;

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

static char *render_percent(apr_pool_t *p, const char *value, const char *delim)
{
    const unsigned char *s;
    size_t dlen, elen, total = 0;
    const char *ed = delim;
    char *out, *o;

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

static char *render_b64url(apr_pool_t *p, const char *value, const char *delim)
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

char *jp_hdr_value(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc)
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

static char *claim_none(apr_pool_t *p, const char *value, const char *delim)
{
    const char *s, *e;
    size_t dlen;

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

static char *claim_percent(apr_pool_t *p, const char *value, const char *delim)
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

static char *claim_b64url(apr_pool_t *p, const char *value, const char *delim)
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
        char *enc;
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

char *jp_hdr_claim_value(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc)
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

static char env_char(unsigned char c, int upper)
{
    if (c >= 'a' && c <= 'z')
        return upper ? (char)(c - ('a' - 'A')) : (char)c;
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
        return (char)c;
    return '_';
}

char *jp_env_name(apr_pool_t *p, const char *prefix, const char *name)
{
    size_t plen, nlen, i;
    char *out;

    if (!prefix)
        prefix = "";
    if (!name)
        name = "";
    plen = strlen(prefix);
    nlen = strlen(name);
    out = apr_palloc(p, plen + nlen + 1);
    /* The prefix keeps its case (the admin chose it) but is still made a valid
     * variable name, so a stray '-' cannot produce a name CGI would mangle. */
    for (i = 0; i < plen; i++)
        out[i] = env_char((unsigned char)prefix[i], 0);
    for (i = 0; i < nlen; i++)
        out[plen + i] = env_char((unsigned char)name[i], 1);
    out[plen + nlen] = '\0';
    return out;
}
