/* Forwarded (RFC 7239) and X-Forwarded-* parsing. The whole Forwarded value
 * is tokenized (quoted commas are not element separators), so a proxy
 * appending its element after a client's forged one is always read last. */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "forwarded.h"

/* RFC 9110 tchar */
static int tchar(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

int jp_fwd_port(const char *s)
{
    long v = 0;
    const char *q;
    if (!s || !*s || strlen(s) > 5)
        return -1;
    for (q = s; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        v = v * 10 + (*q - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

const char *jp_fwd_proto(const char *s)
{
    if (!s)
        return NULL;
    if (!strcasecmp(s, "https"))
        return "https";
    if (!strcasecmp(s, "http"))
        return "http";
    return NULL;
}

int jp_fwd_host(apr_pool_t *p, const char *s, const char **host, int *port)
{
    const char *end, *colon = NULL, *q;
    char *h;
    size_t n;
    *host = NULL;
    *port = 0;
    if (!s || !*s || strlen(s) > 300)
        return -1;
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (!end || end - s < 3)
            return -1;
        for (q = s + 1; q < end; q++)
            if (!apr_isxdigit(*q) && *q != ':' && *q != '.')
                return -1;
        if (!memchr(s, ':', (size_t)(end - s)))
            return -1;
        if (end[1] == ':')
            colon = end + 1;
        else if (end[1])
            return -1;
        end++;
    } else {
        for (q = s; *q && *q != ':'; q++)
            if (!apr_isalnum(*q) && *q != '-' && *q != '.' && *q != '_')
                return -1;
        end = q;
        if (*q == ':')
            colon = q;
        if (end == s || s[0] == '.' || s[0] == '-' || end - s > 253)
            return -1;
    }
    if (colon && (*port = jp_fwd_port(colon + 1)) < 0) {
        *port = 0;
        return -1;
    }
    n = (size_t)(end - s);
    h = apr_pstrmemdup(p, s, n);
    for (q = h; *q; q++)
        *(char *)q = (char)apr_tolower(*q);
    *host = h;
    return 0;
}

const char *jp_fwd_last(apr_pool_t *p, const char *value)
{
    const char *start, *end;
    if (!value || strlen(value) > JP_FWD_MAX)
        return NULL;
    start = strrchr(value, ',');
    start = start ? start + 1 : value;
    while (blank(*start))
        start++;
    end = start + strlen(start);
    while (end > start && blank(end[-1]))
        end--;
    return end > start ? apr_pstrmemdup(p, start, (size_t)(end - start)) : NULL;
}

/* One value: a token or a quoted-string (quoted-pairs unescaped). Advances *s. */
static const char *read_value(apr_pool_t *p, const char **s)
{
    const char *q = *s;
    if (*q == '"') {
        char *out = apr_palloc(p, strlen(q) + 1), *o = out;
        for (q++; *q && *q != '"'; q++) {
            if (*q == '\\') {
                q++;
                if (!*q)
                    return NULL;
            }
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return NULL;
            if (*q == 0x7f)
                return NULL;
            *o++ = *q;
        }
        if (*q != '"')
            return NULL;
        *o = '\0';
        *s = q + 1;
        return out;
    }
    while (tchar((unsigned char)*q))
        q++;
    if (q == *s)
        return NULL;
    {
        const char *v = apr_pstrmemdup(p, *s, (size_t)(q - *s));
        *s = q;
        return v;
    }
}

int jp_fwd_parse_forwarded(apr_pool_t *p, const char *value, jp_fwd *out)
{
    const char *s = value, *proto = NULL, *host = NULL;
    memset(out, 0, sizeof(*out));
    if (!value || strlen(value) > JP_FWD_MAX)
        return -1;
    for (;;) {
        /* A new element: what the earlier ones said no longer counts. */
        proto = host = NULL;
        for (;;) {
            const char *name = s, *v;
            size_t nl;
            while (blank(*s))
                s++;
            name = s;
            while (tchar((unsigned char)*s))
                s++;
            nl = (size_t)(s - name);
            if (nl) {
                if (*s != '=')
                    return -1;
                s++;
                v = read_value(p, &s);
                if (!v)
                    return -1;
                if (nl == 5 && !strncasecmp(name, "proto", 5)) {
                    if (proto)
                        return -1;
                    proto = v;
                } else if (nl == 4 && !strncasecmp(name, "host", 4)) {
                    if (host)
                        return -1;
                    host = v;
                }
            }
            while (blank(*s))
                s++;
            if (*s != ';')
                break;
            s++;
        }
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s)
            return -1;
        break;
    }
    if (proto && !(out->proto = jp_fwd_proto(proto)))
        return -1;
    if (host && jp_fwd_host(p, host, &out->host, &out->port) != 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}
