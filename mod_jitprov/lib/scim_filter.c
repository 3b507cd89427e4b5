/* SCIM attribute paths and filters (RFC 7644 sections 3.4.2.2 and 3.10):
 * `attr eq value` comparisons, the path of a PATCH operation or of a body
 * member (with an emails[...] value filter), and the one-comparison filters
 * of a list request. Anything this service provider does not store or
 * support is refused with invalidFilter / invalidPath, never guessed. */

#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <apr_strings.h>

#include "scim.h"
#include "scim_int.h"
#include "json.h"

#define URN_CORE_LEN (sizeof(JP_SCIM_SCHEMA_USER) - 1)

/* ------------------------------------------------------------------------ */
/* Attribute names                                                            */

/* Core User attributes (RFC 7643 section 4.1) that have no column here. */
static const char *const unstored[] = {
    "nickName", "profileUrl", "title",        "userType",     "preferredLanguage",
    "locale",   "timezone",   "password",     "phoneNumbers", "ims",
    "photos",   "addresses",  "entitlements", "roles",        "x509Certificates",
    NULL};

static int is_unstored(const char *name, size_t n)
{
    int i;
    for (i = 0; unstored[i]; i++)
        if (strlen(unstored[i]) == n && !strncasecmp(unstored[i], name, n))
            return 1;
    return 0;
}

static int name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(name, want, n);
}

/* ---- comparisons: `attr op value`, shared by filters and value paths ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* End of a quoted string starting at s[0] == '"' (index of the closing
 * quote), or -1. Backslash escapes skip one character. */
static long quoted_end(const char *s, size_t n)
{
    size_t i;
    for (i = 1; i < n; i++) {
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] == '"')
            return (long)i;
    }
    return -1;
}

int jp_scim_parse_cmp(apr_pool_t *p, const char *s, size_t n, jp_cmp *out, jp_scim_err *e)
{
    size_t i = 0, a0, a1, o0, o1, v0, v1;
    const char *op;
    json_error_t jerr;

    out->attr = NULL;
    out->value = NULL;
    while (i < n && is_space(s[i]))
        i++;
    a0 = i;
    while (i < n && !is_space(s[i])) {
        char c = s[i];
        if (c == '(' || c == ')')
            return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER,
                                "only one comparison `attribute eq value` is supported (no not, no "
                                "parentheses)");
        if (c == '[' || c == ']' || c == '"')
            return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER,
                                "unsupported attribute path in filter near '%s'",
                                jp_scim_excerpt(p, s + a0));
        i++;
    }
    a1 = i;
    if (a1 == a0)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "the filter is empty");
    if (a1 - a0 == 3 && !strncasecmp(s + a0, "not", 3))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER,
                            "only one comparison `attribute eq value` is supported (no not)");
    while (i < n && is_space(s[i]))
        i++;
    o0 = i;
    while (i < n && !is_space(s[i]))
        i++;
    o1 = i;
    op = apr_pstrndup(p, s + o0, o1 - o0);
    if (o1 == o0)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "the filter has no operator");
    if (strcasecmp(op, "eq")) {
        static const char *const known[] = {"ne", "co", "sw", "ew", "gt",
                                            "ge", "lt", "le", "pr", NULL};
        int k;
        for (k = 0; known[k]; k++)
            if (!strcasecmp(op, known[k]))
                return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER,
                                    "the operator '%s' is not supported: only eq is", known[k]);
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' is not a filter operator",
                            jp_scim_excerpt(p, op));
    }
    if (i >= n || !is_space(s[i]))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "eq needs a value");
    while (i < n && is_space(s[i]))
        i++;
    v0 = i;
    if (i < n && s[i] == '"') {
        long q = quoted_end(s + i, n - i);
        if (q < 0)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "unterminated string in filter");
        i += (size_t)q + 1;
    } else {
        while (i < n && !is_space(s[i]))
            i++;
    }
    v1 = i;
    if (v1 == v0)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "eq needs a value");
    while (i < n && is_space(s[i]))
        i++;
    if (i < n) {
        if ((n - i >= 3 && !strncasecmp(s + i, "and", 3)) ||
            (n - i >= 2 && !strncasecmp(s + i, "or", 2)))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER,
                                "only one comparison is supported (no and/or)");
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "unexpected text in filter: '%s'",
                            jp_scim_excerpt(p, s + i));
    }
    /* The value is JSON: a string with JSON escapes, true, false, null or a number. */
    out->value = jp_json_loadb(s + v0, v1 - v0, JSON_DECODE_ANY, &jerr);
    if (!out->value || json_is_object(out->value) || json_is_array(out->value)) {
        if (out->value)
            json_decref(out->value);
        out->value = NULL;
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' is not a valid filter value",
                            jp_scim_excerpt(p, apr_pstrndup(p, s + v0, v1 - v0)));
    }
    out->attr = apr_pstrndup(p, s + a0, a1 - a0);
    return 0;
}

/* After the core schema URN, or NULL when s does not start with it. */
const char *jp_scim_strip_core_urn(const char *s)
{
    if (strncasecmp(s, JP_SCIM_SCHEMA_USER, URN_CORE_LEN))
        return NULL;
    return s + URN_CORE_LEN;
}

static int attr_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && ((c >= '0' && c <= '9') || c == '_' || c == '-'));
}

size_t jp_scim_attr_len(const char *s)
{
    size_t n = 0;
    if (!attr_char(s[0], 1))
        return 0;
    while (attr_char(s[n], n == 0))
        n++;
    return n;
}

/* emails[FILTER]: which stored address it names. */
static int email_filter(apr_pool_t *p, const char *s, size_t n, jp_path *out, jp_scim_err *e)
{
    jp_cmp c;
    const char *a;
    int b;
    if (jp_scim_parse_cmp(p, s, n, &c, e))
        return -1;
    a = c.attr;
    if (!strncasecmp(a, "emails.", 7))
        a += 7;
    if (!strcasecmp(a, "type") && json_is_string(c.value)) {
        out->sel = strcasecmp(json_string_value(c.value), "work") ? EF_OTHER : EF_OURS;
    } else if (!strcasecmp(a, "primary") && !jp_scim_bool(c.value, &b)) {
        out->sel = b ? EF_OURS : EF_OTHER;
    } else if (!strcasecmp(a, "value") && json_is_string(c.value)) {
        out->sel = EF_VALUE;
        out->sel_value = apr_pstrdup(p, json_string_value(c.value));
    } else if (!strcasecmp(a, "display") || !strcasecmp(a, "type") || !strcasecmp(a, "primary")) {
        out->sel = EF_OTHER;
    } else {
        json_decref(c.value);
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "unsupported emails filter on '%s'",
                            jp_scim_excerpt(p, c.attr));
    }
    json_decref(c.value);
    return 0;
}

/* PATH = [core URN ":"] attr ["[" filter "]"] ["." subAttr], or an extension
 * URN (ignored). RFC 7644 section 3.5.2 / 3.10. */
int jp_scim_parse_path(apr_pool_t *p, const char *text, jp_path *out, jp_scim_err *e)
{
    const char *s = text, *rest, *name, *sub = NULL;
    size_t n, subn = 0, i;
    int has_filter = 0;

    memset(out, 0, sizeof(*out));
    out->text = text;
    if (!jp_scim_text_ok(text, JP_SCIM_FILTER_MAX))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'",
                            jp_scim_excerpt(p, text));
    if (!strncasecmp(s, "urn:", 4)) {
        rest = jp_scim_strip_core_urn(s);
        if (!rest && strncasecmp(s, JP_SCIM_CORE_PREFIX, sizeof(JP_SCIM_CORE_PREFIX) - 1)) {
            out->kind = P_IGNORED; /* an extension schema, or an attribute in one */
            return 0;
        }
        /* Anything else that looks like the core schema is a typo (User.active,
         * Users:active, core:2.0:Usr:active): ignoring it would silently skip a
         * deactivation, so it is refused like any unknown attribute. */
        if (!rest || (*rest && *rest != ':'))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH,
                                "invalid path '%s': core attributes are written "
                                "" JP_SCIM_SCHEMA_USER ":attribute",
                                jp_scim_excerpt(p, text));
        if (!*rest || !rest[1]) {
            out->kind = P_ROOT;
            return 0;
        }
        s = rest + 1;
    }
    name = s;
    n = jp_scim_attr_len(s);
    if (!n)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'",
                            jp_scim_excerpt(p, text));
    s += n;
    if (*s == '[') {
        size_t len = strlen(s);
        long close = -1;
        for (i = 1; i < len; i++) {
            if (s[i] == '"') {
                long q = quoted_end(s + i, len - i);
                if (q < 0)
                    break;
                i += (size_t)q;
                continue;
            }
            if (s[i] == ']') {
                close = (long)i;
                break;
            }
        }
        if (close < 0)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "unterminated filter in path '%s'",
                                jp_scim_excerpt(p, text));
        has_filter = 1;
        if (name_is(name, n, "emails")) {
            if (email_filter(p, s + 1, (size_t)close - 1, out, e))
                return -1;
        } else {
            jp_cmp c; /* checked, then dropped with the attribute */
            if (jp_scim_parse_cmp(p, s + 1, (size_t)close - 1, &c, e))
                return -1;
            json_decref(c.value);
        }
        s += close + 1;
    }
    if (*s == '.') {
        sub = s + 1;
        subn = jp_scim_attr_len(sub);
        if (!subn)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "invalid sub-attribute in path '%s'",
                                jp_scim_excerpt(p, text));
        s = sub + subn;
    }
    if (*s)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'",
                            jp_scim_excerpt(p, text));

    if (name_is(name, n, "emails")) {
        if (!sub)
            out->kind = has_filter ? P_EMAIL_ENTRY : P_EMAILS;
        else if (name_is(sub, subn, "value"))
            out->kind = P_EMAIL_VALUE;
        else if (name_is(sub, subn, "type") || name_is(sub, subn, "primary") ||
                 name_is(sub, subn, "display"))
            out->kind = P_IGNORED; /* rendered as type work, primary */
        else
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "emails has no sub-attribute '%s'",
                                jp_scim_excerpt(p, apr_pstrndup(p, sub, subn)));
        if (!has_filter && out->kind != P_IGNORED)
            out->sel = EF_OURS;
        if (out->sel == EF_OTHER)
            out->kind = P_IGNORED; /* an address this table does not keep */
        return 0;
    }
    if (has_filter) {
        if (name_is(name, n, "groups"))
            out->kind = P_GROUPS;
        else if (is_unstored(name, n))
            out->kind = P_IGNORED;
        else
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "'%s' is not a multi-valued attribute",
                                jp_scim_excerpt(p, apr_pstrndup(p, name, n)));
        return 0;
    }
    if (name_is(name, n, "name")) {
        if (!sub)
            out->kind = P_NAME;
        else if (name_is(sub, subn, "formatted"))
            out->kind = P_NAME_FORMATTED;
        else if (name_is(sub, subn, "givenName"))
            out->kind = P_GIVEN_NAME;
        else if (name_is(sub, subn, "familyName"))
            out->kind = P_FAMILY_NAME;
        else if (name_is(sub, subn, "middleName") || name_is(sub, subn, "honorificPrefix") ||
                 name_is(sub, subn, "honorificSuffix"))
            out->kind = P_IGNORED;
        else
            return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "name has no sub-attribute '%s'",
                                jp_scim_excerpt(p, apr_pstrndup(p, sub, subn)));
        return 0;
    }
    if (name_is(name, n, "groups")) {
        out->kind = P_GROUPS;
        return 0;
    }
    if (name_is(name, n, "meta")) {
        out->kind = P_META;
        return 0;
    }
    if (is_unstored(name, n)) {
        out->kind = P_IGNORED;
        return 0;
    }
    if (sub)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "'%s' has no sub-attributes",
                            jp_scim_excerpt(p, apr_pstrndup(p, name, n)));
    if (name_is(name, n, "userName"))
        out->kind = P_USER_NAME;
    else if (name_is(name, n, "displayName"))
        out->kind = P_DISPLAY_NAME;
    else if (name_is(name, n, "active"))
        out->kind = P_ACTIVE;
    else if (name_is(name, n, "externalId"))
        out->kind = P_EXTERNAL_ID;
    else if (name_is(name, n, "id"))
        out->kind = P_ID;
    else if (name_is(name, n, "schemas"))
        out->kind = P_META;
    else
        return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH, "unknown attribute '%s'",
                            jp_scim_excerpt(p, text));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                    */

int jp_scim_parse_filter(apr_pool_t *p, const char *text, jp_scim_filter *f, jp_scim_err *e)
{
    jp_cmp c;
    const char *a, *rest;
    int rc = -1;

    memset(f, 0, sizeof(*f));
    if (!text || strlen(text) > JP_SCIM_FILTER_MAX)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "the filter is longer than %d bytes",
                            JP_SCIM_FILTER_MAX);
    if (jp_scim_parse_cmp(p, text, strlen(text), &c, e))
        return -1;
    a = c.attr;
    if ((rest = jp_scim_strip_core_urn(a)) && *rest == ':')
        a = rest + 1;
    if (json_is_null(c.value)) {
        jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "comparing with null is not supported");
        goto out;
    }
    if (!strcasecmp(a, "active")) {
        f->attr = JP_SCIM_FA_ACTIVE;
        if (jp_scim_bool(c.value, &f->bval)) {
            jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "active compares with true or false");
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (!strcasecmp(a, "id"))
        f->attr = JP_SCIM_FA_ID;
    else if (!strcasecmp(a, "userName"))
        f->attr = JP_SCIM_FA_USER_NAME;
    else if (!strcasecmp(a, "emails") || !strcasecmp(a, "emails.value"))
        f->attr = JP_SCIM_FA_EMAIL;
    else if (!strcasecmp(a, "displayName") || !strcasecmp(a, "name.formatted"))
        f->attr = JP_SCIM_FA_DISPLAY_NAME;
    else if (!strcasecmp(a, "externalId"))
        f->attr = JP_SCIM_FA_EXTERNAL_ID;
    else {
        jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "filtering on '%s' is not supported",
                     jp_scim_excerpt(p, a));
        goto out;
    }
    if (json_is_string(c.value)) {
        f->value = apr_pstrdup(p, json_string_value(c.value));
    } else if (json_is_integer(c.value) && f->attr == JP_SCIM_FA_ID) {
        f->value = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)json_integer_value(c.value));
    } else {
        jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' compares with a string",
                     jp_scim_excerpt(p, a));
        goto out;
    }
    if (strlen(f->value) > JP_SCIM_VALUE_MAX) {
        jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "the filter value is too long");
        goto out;
    }
    rc = 0;
out:
    json_decref(c.value);
    return rc;
}
