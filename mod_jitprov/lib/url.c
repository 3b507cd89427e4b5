/* Redirect targets and query strings. jp_safe_return_to decides where a browser
 * is sent after login or logout, so it accepts a narrow, browser-proof subset of
 * URLs rather than trying to parse every URL the way a browser would. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "url.h"

#define JP_URL_MAX 4096
/* Query strings and form bodies handed to jp_query_param; callers cap their reads
 * lower, this is the backstop. */
#define JP_QUERY_MAX (1024 * 1024)

static int default_port(const char *scheme)
{
    if (!strcasecmp(scheme, "http"))
        return 80;
    if (!strcasecmp(scheme, "https"))
        return 443;
    return -1;
}

/* Printable ASCII only. Browsers strip TAB/CR/LF inside URLs (so "/\t/evil" becomes
 * "//evil"), a raw space or non-ASCII byte never comes from a browser's request line,
 * and quotes and angle brackets are refused so the URL is harmless if echoed in HTML. */
static int url_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '>';
}

/* Host names compared without IPv6 brackets, ASCII case-insensitively. A URL's
 * host may be bracketed only when ours is an IPv6 literal: browsers refuse
 * "http://[127.0.0.1]/", so accepting it would hand back a URL they never follow
 * the way we checked it. httpd gives IPv6 server names without brackets. */
static int host_eq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int a_bracketed = 0;

    if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
        a++;
        alen -= 2;
        a_bracketed = 1;
    }
    if (blen >= 2 && b[0] == '[' && b[blen - 1] == ']') {
        b++;
        blen -= 2;
    }
    if (a_bracketed != (memchr(b, ':', blen) != NULL))
        return 0;
    return alen > 0 && alen == blen && strncasecmp(a, b, alen) == 0;
}

static int authority_ok(const char *auth, size_t len, const char *scheme, const char *our_host,
                        int our_port)
{
    const char *host = auth, *colon = NULL;
    size_t hlen, i;
    int port = default_port(scheme);

    if (len == 0 || memchr(auth, '@', len) || memchr(auth, '%', len))
        return 0;
    if (auth[0] == '[') {
        const char *rb = memchr(auth, ']', len);
        if (!rb)
            return 0;
        hlen = (size_t)(rb - auth) + 1;
        if (hlen < len) {
            if (auth[hlen] != ':')
                return 0;
            colon = auth + hlen;
        }
    } else {
        colon = memchr(auth, ':', len);
        hlen = colon ? (size_t)(colon - auth) : len;
    }
    if (colon) {
        size_t plen = len - (size_t)(colon + 1 - auth);
        if (plen == 0 || plen > 5)
            return 0;
        port = 0;
        for (i = 0; i < plen; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return 0;
            port = port * 10 + (colon[1 + i] - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
    }
    return port == our_port && host_eq(host, hlen, our_host);
}

const char *jp_safe_return_to(apr_pool_t *p, const char *url, const char *our_scheme,
                              const char *our_host, int our_port)
{
    size_t len, i, before_query;
    const char *colon, *auth, *end;
    int our_default;

    if (!url || !our_scheme || !our_host)
        return NULL;
    len = strnlen(url, JP_URL_MAX + 1);
    if (len == 0 || len > JP_URL_MAX)
        return NULL;
    for (i = 0; i < len; i++)
        if (!url_char_ok((unsigned char)url[i]))
            return NULL;
    /* Browsers read "\" as "/" in http(s) URLs, except in the query and fragment. */
    before_query = strcspn(url, "?#");
    if (memchr(url, '\\', before_query))
        return NULL;

    if (url[0] == '/')
        return url[1] == '/' ? NULL : apr_pstrmemdup(p, url, len);

    /* Absolute: "http" / "https" then "://" then an authority equal to ours. */
    colon = memchr(url, ':', before_query);
    if (!colon || colon == url)
        return NULL;
    {
        char *scheme = apr_pstrmemdup(p, url, (size_t)(colon - url));
        our_default = default_port(our_scheme);
        if (default_port(scheme) < 0 || our_default < 0 || strcasecmp(scheme, our_scheme) != 0)
            return NULL;
        if (our_port == 0)
            our_port = our_default;
        if (colon[1] != '/' || colon[2] != '/')
            return NULL;
        auth = colon + 3;
        end = auth + strcspn(auth, "/?#");
        if (!authority_ok(auth, (size_t)(end - auth), scheme, our_host, our_port))
            return NULL;
    }
    return apr_pstrmemdup(p, url, len);
}

/* RFC 3986 2.3 */
static int unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

char *jp_url_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len;
    char *out, *o;

    if (!s)
        return NULL;
    len = strlen(s);
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    out = o = apr_palloc(p, len * 3 + 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..len) into a new string; NULL on a bad escape or a decoded NUL. */
static char *decode_n(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            *o++ = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - i < 3)
                return NULL;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

char *jp_url_decode(apr_pool_t *p, const char *s)
{
    if (!s)
        return NULL;
    return decode_n(p, s, strlen(s));
}

/* Names are compared after decoding, so "st%61te=" counts as a second "state" and
 * makes the whole lookup fail rather than let two parsers disagree. */
char *jp_query_param(apr_pool_t *p, const char *query, const char *name)
{
    const char *seg, *amp, *eq;
    char *found = NULL;
    int seen = 0;

    if (!query || !name || !*name || strnlen(query, JP_QUERY_MAX + 1) > JP_QUERY_MAX)
        return NULL;
    for (seg = query; *seg; seg = *amp ? amp + 1 : amp) {
        size_t seglen, nlen;
        char *n;

        amp = seg + strcspn(seg, "&");
        seglen = (size_t)(amp - seg);
        if (seglen == 0)
            continue;
        eq = memchr(seg, '=', seglen);
        nlen = eq ? (size_t)(eq - seg) : seglen;
        n = decode_n(p, seg, nlen);
        if (!n || strcmp(n, name) != 0)
            continue;
        if (seen++)
            return NULL;
        found = eq ? decode_n(p, eq + 1, seglen - nlen - 1) : apr_pstrdup(p, "");
        if (!found)
            return NULL;
    }
    return found;
}

int jp_query_count(apr_pool_t *p, const char *query, const char *name)
{
    const char *seg, *amp;
    int seen = 0;

    if (!query || !name)
        return 0;
    for (seg = query; *seg; seg = *amp ? amp + 1 : amp) {
        size_t seglen;
        const char *eq;
        char *n;
        amp = seg + strcspn(seg, "&");
        seglen = (size_t)(amp - seg);
        eq = memchr(seg, '=', seglen);
        n = seglen ? decode_n(p, seg, eq ? (size_t)(eq - seg) : seglen) : NULL;
        if (n && !strcmp(n, name))
            seen++;
    }
    return seen;
}

int jp_query_has(apr_pool_t *p, const char *query, const char *name)
{
    return name && *name && jp_query_count(p, query, name) > 0;
}

char *jp_error_code_shown(apr_pool_t *p, const char *code)
{
    size_t n = code ? strlen(code) : 0, i, keep = n > JP_ERROR_CODE_MAX ? JP_ERROR_CODE_MAX : n;
    char *out = apr_palloc(p, keep + 4);
    for (i = 0; i < keep; i++) {
        unsigned char ch = (unsigned char)code[i];
        out[i] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
    }
    strcpy(out + keep, n > keep ? "..." : "");
    return out;
}

int jp_word_listed(const char *list, const char *word)
{
    size_t n = word ? strlen(word) : 0, k;
    if (!list || !n)
        return 0;
    while (*list) {
        list += strspn(list, " ");
        k = strcspn(list, " ");
        if (k == n && !strncmp(list, word, n))
            return 1;
        list += k;
    }
    return 0;
}

const char *jp_proxy_url_check(const char *v)
{
    static const char *const schemes[] = {"http://",    "https://",  "socks4://",
                                          "socks4a://", "socks5://", "socks5h://"};
    const unsigned char *q;
    size_t i, n = 0;
    if (!strcasecmp(v, "none"))
        return NULL;
    if (strlen(v) > 2048)
        return "longer than 2048 bytes";
    for (q = (const unsigned char *)v; *q; q++)
        if (*q <= 0x20 || *q == 0x7f)
            return "contains a space or a control character";
    for (i = 0; i < sizeof(schemes) / sizeof(*schemes) && !n; i++)
        if (!strncasecmp(v, schemes[i], strlen(schemes[i])))
            n = strlen(schemes[i]);
    if (!n)
        return "not none, nor an http://, https://, socks4://, socks4a://, socks5:// or "
               "socks5h:// URL";
    /* the host: after any user:password@, before a port or path */
    v += n;
    if (strchr(v, '@'))
        v = strrchr(v, '@') + 1;
    if (!*v || *v == ':' || *v == '/')
        return "names no host";
    return NULL;
}

const char *jp_params_without(apr_pool_t *p, const char *params, const char *name)
{
    size_t n = strlen(name);
    char *out = apr_palloc(p, strlen(params) + 1), *o = out;
    const char *s = params;
    while (*s) {
        const char *e = strchr(s, '&');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (!(len > n && !strncmp(s, name, n) && s[n] == '=')) {
            if (o != out)
                *o++ = '&';
            memcpy(o, s, len);
            o += len;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    *o = '\0';
    return *out ? out : NULL;
}

const char *jp_auth_params_check(apr_pool_t *p, const char *v, int *max_age_sent, long *max_age)
{
    static const char *const ours[] = {
        "response_type", "client_id",   "redirect_uri",          "scope",
        "state",         "nonce",       "code_challenge",        "response_mode",
        "request",       "request_uri", "code_challenge_method", NULL};
    apr_array_header_t *seen = apr_array_make(p, 4, sizeof(const char *));
    const char *s = v;
    int i;
    *max_age_sent = 0;
    *max_age = 0;
    if (!*v)
        return "empty";
    if (strlen(v) > 2048)
        return "longer than 2048 bytes";
    while (*s) {
        const char *name = s, *val, *e;
        char *n;
        while (unreserved((unsigned char)*s))
            s++;
        if (s == name || *s != '=')
            return apr_psprintf(p, "'%.40s' is not name=value", name);
        n = apr_pstrmemdup(p, name, (apr_size_t)(s - name));
        val = ++s;
        for (; *s && *s != '&'; s++) {
            unsigned char ch = (unsigned char)*s;
            if (ch == '%') {
                if (hexval((unsigned char)s[1]) < 0 || hexval((unsigned char)s[2]) < 0)
                    return apr_psprintf(p, "%s: a %% not followed by two hex digits", n);
                s += 2;
            } else if (!unreserved(ch) && !strchr("!$'()*+,;:@/?", ch)) {
                return apr_psprintf(p,
                                    "%s: the value holds a character to percent-encode "
                                    "(space, #, =, control or non-ASCII)",
                                    n);
            }
        }
        e = s;
        if (e == val)
            return apr_psprintf(p, "%s has an empty value", n);
        for (i = 0; ours[i]; i++)
            if (!strcmp(n, ours[i]))
                return !strcmp(n, "response_mode")
                           ? "response_mode is set by JITProvResponseMode"
                           : apr_psprintf(p, "%s is sent by the module itself", n);
        for (i = 0; i < seen->nelts; i++)
            if (!strcmp(n, APR_ARRAY_IDX(seen, i, const char *)))
                return apr_psprintf(p, "%s is given twice", n);
        APR_ARRAY_PUSH(seen, const char *) = n;
        if (!strcmp(n, "max_age")) {
            const char *d;
            if (e - val > 9)
                return "max_age has more than 9 digits";
            for (d = val; d < e; d++)
                if (*d < '0' || *d > '9')
                    return "max_age is not a number of seconds";
            *max_age_sent = 1;
            *max_age = strtol(val, NULL, 10);
        }
        if (*s == '&' && !*++s)
            return "ends with &";
    }
    return NULL;
}

int jp_url_plain_remote(const char *url)
{
    const char *h, *e;
    size_t n;
    int dots = 0, i;

    if (!url || strncasecmp(url, "http://", 7) != 0)
        return 0;
    h = url + 7;
    e = h + strcspn(h, "/?#");
    /* userinfo: the host is after the last '@' of the authority */
    for (i = (int)(e - h) - 1; i >= 0; i--) {
        if (h[i] == '@') {
            h += i + 1;
            break;
        }
    }
    if (*h == '[') {
        const char *c = memchr(h, ']', (size_t)(e - h));
        if (!c)
            return 1;
        return !((size_t)(c - h) == 4 && !memcmp(h, "[::1", 4));
    }
    n = strcspn(h, ":/?#");
    if (n > (size_t)(e - h))
        n = (size_t)(e - h);
    if (n == 9 && !strncasecmp(h, "localhost", 9))
        return 0;
    if (n == 10 && !strncasecmp(h, "localhost.", 10))
        return 0;
    /* 127.0.0.0/8: "127." then digits and dots only, four parts */
    if (n < 7 || strncmp(h, "127.", 4) != 0)
        return 1;
    for (i = 4; i < (int)n; i++) {
        if (h[i] == '.')
            dots++;
        else if (h[i] < '0' || h[i] > '9')
            return 1;
    }
    return dots != 2;
}

#define JP_WK_OIDC "/.well-known/openid-configuration"
#define JP_WK_OAUTH "/.well-known/oauth-authorization-server"

/* The issuer with one terminating "/" removed equals prefix + rest. */
static int issuer_is(const char *issuer, const char *prefix, size_t np, const char *rest)
{
    size_t ni = strlen(issuer), nr = strlen(rest);
    if (ni && issuer[ni - 1] == '/')
        ni--;
    return ni == np + nr && !strncmp(issuer, prefix, np) && !strncmp(issuer + np, rest, nr);
}

int jp_issuer_fits_metadata_url(const char *issuer, const char *url)
{
    size_t n, no = sizeof(JP_WK_OIDC) - 1, na = sizeof(JP_WK_OAUTH) - 1;
    const char *auth, *path;
    if (!url || !issuer || strpbrk(url, "?#"))
        return -1;
    if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
        return -1;
    n = strlen(url);
    if (n > no && !strcmp(url + n - no, JP_WK_OIDC))
        return issuer_is(issuer, url, n - no, "");
    auth = strstr(url, "://") + 3;
    path = auth + strcspn(auth, "/");
    if (!strncmp(path, JP_WK_OAUTH, na) && (path[na] == '\0' || path[na] == '/'))
        return issuer_is(issuer, url, (size_t)(path - url), path + na);
    return -1;
}

void jp_issuer_clashes(const char *const *issuer, int n, int *clash)
{
    int i, j;
    for (i = 0; i < n; i++)
        clash[i] = -1;
    for (i = 0; i < n; i++)
        for (j = i + 1; issuer[i] && j < n; j++)
            if (issuer[j] && !strcmp(issuer[i], issuer[j])) {
                if (clash[i] < 0)
                    clash[i] = j;
                if (clash[j] < 0)
                    clash[j] = i;
            }
}
