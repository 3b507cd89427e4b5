/* Set-Cookie construction. Attributes the sysadmin wrote are kept as written;
 * the module only adds what they leave out, so an existing JITProvCookie line
 * means what it meant before. */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "cookie.h"

jp_samesite jp_samesite_parse(const char *s)
{
    if (!s)
        return JP_SAMESITE_UNSET;
    if (!strcasecmp(s, "Lax"))
        return JP_SAMESITE_LAX;
    if (!strcasecmp(s, "Strict"))
        return JP_SAMESITE_STRICT;
    if (!strcasecmp(s, "None"))
        return JP_SAMESITE_NONE;
    return JP_SAMESITE_UNSET;
}

const char *jp_samesite_name(jp_samesite s)
{
    switch (s) {
    case JP_SAMESITE_STRICT:
        return "Strict";
    case JP_SAMESITE_NONE:
        return "None";
    default:
        return "Lax";
    }
}

static const char *trim(apr_pool_t *p, const char *b, const char *e)
{
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return apr_pstrmemdup(p, b, (apr_size_t)(e - b));
}

int jp_cookie_attr(apr_pool_t *p, const char *attrs, const char *name, const char **value)
{
    const char *s = attrs;
    int found = 0;
    while (s && *s) {
        const char *end = strchr(s, ';'), *eq;
        const char *n;
        if (!end)
            end = s + strlen(s);
        eq = memchr(s, '=', (apr_size_t)(end - s));
        n = trim(p, s, eq ? eq : end);
        if (!strcasecmp(n, name)) {
            /* The last one counts, as in browsers. */
            found = 1;
            if (value)
                *value = eq ? trim(p, eq + 1, end) : "";
        }
        s = *end ? end + 1 : end;
    }
    return found;
}

static int has_prefix(const char *name, const char *prefix)
{
    return !strncasecmp(name, prefix, strlen(prefix));
}

const char *jp_cookie_attrs_check(apr_pool_t *p, const char *name, const char *attrs)
{
    const char *v = NULL;
    const unsigned char *q;
    for (q = (const unsigned char *)(attrs ? attrs : ""); *q; q++)
        if ((*q < 0x20 && *q != '\t') || *q == 0x7f)
            return "attributes must not contain control characters";
    if (jp_cookie_attr(p, attrs, "SameSite", &v) && !jp_samesite_parse(v))
        return apr_psprintf(p, "SameSite=%s is not Lax, Strict or None", v);
    /* A lifetime would keep the cookie on disk past the browser session (a
     * shared computer), and the logout's Max-Age=0 would then depend on
     * browsers taking the last of two. The server ends sessions. */
    if (jp_cookie_attr(p, attrs, "Max-Age", NULL) || jp_cookie_attr(p, attrs, "Expires", NULL))
        return "no Max-Age or Expires: the session cookie lasts the browser session, and "
               "JITProvSessionInactivityTimeout and JITProvSessionMaxDuration end the session";
    if (has_prefix(name, "__Host-")) {
        if (jp_cookie_attr(p, attrs, "Domain", NULL))
            return "a __Host- cookie must not have a Domain attribute";
        if (jp_cookie_attr(p, attrs, "Path", &v) && strcmp(v, "/"))
            return "a __Host- cookie must have Path=/";
    }
    return NULL;
}

int jp_cookie_path_match(const char *cookie_path, const char *path)
{
    size_t n = strlen(cookie_path);
    if (strncmp(cookie_path, path, n))
        return 0;
    return path[n] == '\0' || (n && cookie_path[n - 1] == '/') || path[n] == '/';
}

char *jp_cookie_header(apr_pool_t *p, const char *name, const char *value,
                       const jp_cookie_policy *pol, const char *path, int max_age, int https)
{
    const char *attrs = pol && pol->attrs && *pol->attrs ? pol->attrs : NULL;
    const char *ss = NULL, *out;
    jp_samesite same;
    int secure;

    if (!jp_cookie_attr(p, attrs, "SameSite", &ss))
        ss = jp_samesite_name(pol ? pol->samesite : JP_SAMESITE_UNSET);
    same = jp_samesite_parse(ss);
    /* Browsers drop SameSite=None without Secure, and prefixed names without
     * it: those get Secure even over http (where the cookie then fails loudly
     * rather than being sent in the clear). */
    secure = https || same == JP_SAMESITE_NONE || has_prefix(name, "__Host-") ||
             has_prefix(name, "__Secure-");
    out = apr_pstrcat(
        p, name, "=", value, attrs ? "; " : "", attrs ? attrs : "",
        jp_cookie_attr(p, attrs, "Path", NULL) ? "" : apr_pstrcat(p, "; Path=", path, NULL),
        jp_cookie_attr(p, attrs, "HttpOnly", NULL) ? "" : "; HttpOnly",
        jp_cookie_attr(p, attrs, "SameSite", NULL) ? "" : apr_pstrcat(p, "; SameSite=", ss, NULL),
        secure && !jp_cookie_attr(p, attrs, "Secure", NULL) ? "; Secure" : "", NULL);
    if (max_age == 0)
        return apr_pstrcat(p, out, "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NULL);
    if (max_age > 0)
        return apr_psprintf(p, "%s; Max-Age=%d", out, max_age);
    return (char *)out;
}
