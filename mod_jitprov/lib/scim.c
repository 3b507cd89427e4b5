/* SCIM 2.0 User resources: what Entra ID, Okta and RFC 7644 clients send,
 * read into the few columns the account table has.
 *
 * The account table keeps one email address, one display name and a status,
 * so the model is deliberately small: emails[primary, else type "work", else
 * the first].value is the address; displayName and name.formatted are the same
 * column; active is status. Core attributes without a column (title, phone
 * numbers, name.givenName alone, ...) and every extension schema are accepted
 * and dropped, so provisioning clients configured with the usual attribute
 * mappings work unchanged. Unknown attribute names are refused: a typo such
 * as "activ" must not silently leave a leaver active. */

#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <stdarg.h>

#include <jansson.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <apr_tables.h>

#include "scim.h"
#include "claims.h"

#define URN_CORE_LEN (sizeof(JP_SCIM_SCHEMA_USER) - 1)

/* ------------------------------------------------------------------------ */
/* Small helpers                                                              */

static int fail(jp_scim_err *e, apr_pool_t *p, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(jp_scim_err *e, apr_pool_t *p, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    if (e) {
        e->status = status;
        e->type = type;
        va_start(ap, fmt);
        e->detail = apr_pvsprintf(p, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A short, printable excerpt of outside input for an error detail. */
static const char *excerpt(apr_pool_t *p, const char *s)
{
    size_t i, n = s ? strlen(s) : 0;
    char *o;
    if (!s)
        return "";
    if (n > 64)
        n = 64;
    o = apr_pstrndup(p, s, n);
    for (i = 0; i < n; i++)
        if ((unsigned char)o[i] < 0x20 || (unsigned char)o[i] >= 0x7f || o[i] == '"' ||
            o[i] == '\\')
            o[i] = '?';
    return n < strlen(s) ? apr_pstrcat(p, o, "...", NULL) : o;
}

/* Dumps and releases v. */
static const char *dump(apr_pool_t *p, json_t *v)
{
    const char *r;
    if (!v)
        return NULL;
    r = jp_json_text(p, v, JSON_COMPACT);
    json_decref(v);
    return r;
}

/* A JSON string from database text that may not be UTF-8 (legacy tables). */
static json_t *jstr(const char *s)
{
    json_t *j;
    char *c;
    size_t i, n;
    if (!s)
        return json_null();
    n = strlen(s);
    if ((j = json_stringn(s, n)))
        return j;
    if (!(c = malloc(n + 1)))
        return NULL;
    for (i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    c[n] = '\0';
    j = json_stringn(c, n);
    free(c);
    return j;
}

/* Text that may reach a header, a log line or a column: no control characters,
 * not empty, not longer than max bytes. (jansson already refused invalid UTF-8
 * and NUL.) */
static int text_ok(const char *s, size_t max)
{
    size_t n = 0;
    if (!s || !*s)
        return 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return 0;
    return n <= max;
}

/* An address that email linking can compare: local@domain, no spaces. */
static int email_ok(const char *s)
{
    const char *at;
    size_t i;
    if (!text_ok(s, JP_SCIM_EMAIL_MAX))
        return 0;
    for (i = 0; s[i]; i++)
        if (s[i] == ' ')
            return 0;
    at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@');
}

/* active: a boolean, or the strings "True"/"False" Entra ID sends in PATCH. */
static int bool_value(json_t *v, int *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) {
        if (!strcasecmp(json_string_value(v), "true")) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(json_string_value(v), "false")) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static json_t *load(apr_pool_t *p, const char *body, size_t len, jp_scim_err *e)
{
    json_error_t jerr;
    json_t *j;
    if (!body || len == 0)
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "the request has no body"), NULL;
    if (len > JP_SCIM_BODY_MAX)
        return fail(e, p, 413, NULL, "the request body is larger than %d bytes", JP_SCIM_BODY_MAX),
               NULL;
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "the body is not valid JSON (line %d: %s)",
                    jerr.line, excerpt(p, jerr.text)),
               NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "the body must be a JSON object"), NULL;
    }
    return j;
}

/* Member of o by case-insensitive name (SCIM attribute names are). */
static json_t *get_ci(json_t *o, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!strcasecmp(k, name))
            return v;
    }
    return NULL;
}

/* 1 when the "schemas" member lists urn (case-insensitive). */
static int lists_schema(json_t *o, const char *urn)
{
    json_t *s = get_ci(o, "schemas"), *v;
    size_t i;
    if (!json_is_array(s))
        return 0;
    json_array_foreach(s, i, v)
    {
        if (json_is_string(v) && !strcasecmp(json_string_value(v), urn))
            return 1;
    }
    return 0;
}

static int ci_cmp(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two members whose names differ only in case would make every lookup above
 * ambiguous. Sorted, so a body with thousands of members stays cheap. */
static int ci_duplicates(apr_pool_t *p, json_t *o, const char **which)
{
    size_t n = json_object_size(o), i = 0;
    const char **keys, *k;
    json_t *v;
    if (n < 2)
        return 0;
    keys = apr_palloc(p, n * sizeof(*keys));
    json_object_foreach(o, k, v)
    {
        if (i < n)
            keys[i++] = k;
    }
    qsort(keys, i, sizeof(*keys), ci_cmp);
    for (n = i, i = 1; i < n; i++)
        if (!strcasecmp(keys[i - 1], keys[i])) {
            *which = keys[i];
            return 1;
        }
    return 0;
}

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

/* Kinds of attribute paths. */
typedef enum {
    P_ROOT = 0, /* no path (or the core schema URN): value is an object */
    P_USER_NAME,
    P_DISPLAY_NAME,
    P_ACTIVE,
    P_EXTERNAL_ID,
    P_NAME,           /* name: object */
    P_NAME_FORMATTED, /* name.formatted */
    P_EMAILS,         /* emails: array or one object */
    P_EMAIL_VALUE,    /* emails.value, emails[f].value: a string */
    P_EMAIL_ENTRY,    /* emails[f]: one object */
    P_IGNORED,        /* no column, or an extension schema */
    P_ID,
    P_META, /* meta, schemas */
    P_GROUPS
} path_kind;

/* Which stored address an emails[...] filter selects. */
typedef enum { EF_NONE = 0, EF_OURS, EF_OTHER, EF_VALUE } email_sel;

typedef struct {
    path_kind kind;
    email_sel sel;
    const char *sel_value; /* EF_VALUE */
    const char *text;      /* as given, for error details */
} jp_path;

/* ---- comparisons: `attr op value`, shared by filters and value paths ---- */

typedef struct {
    const char *attr; /* as written */
    json_t *value;    /* owned by the caller after success */
} jp_cmp;

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

static int parse_cmp(apr_pool_t *p, const char *s, size_t n, jp_cmp *out, jp_scim_err *e)
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
            return fail(e, p, 400, JP_SCIM_E_FILTER,
                        "only one comparison `attribute eq value` is supported (no not, no "
                        "parentheses)");
        if (c == '[' || c == ']' || c == '"')
            return fail(e, p, 400, JP_SCIM_E_FILTER,
                        "unsupported attribute path in filter near '%s'", excerpt(p, s + a0));
        i++;
    }
    a1 = i;
    if (a1 == a0)
        return fail(e, p, 400, JP_SCIM_E_FILTER, "the filter is empty");
    if (a1 - a0 == 3 && !strncasecmp(s + a0, "not", 3))
        return fail(e, p, 400, JP_SCIM_E_FILTER,
                    "only one comparison `attribute eq value` is supported (no not)");
    while (i < n && is_space(s[i]))
        i++;
    o0 = i;
    while (i < n && !is_space(s[i]))
        i++;
    o1 = i;
    op = apr_pstrndup(p, s + o0, o1 - o0);
    if (o1 == o0)
        return fail(e, p, 400, JP_SCIM_E_FILTER, "the filter has no operator");
    if (strcasecmp(op, "eq")) {
        static const char *const known[] = {"ne", "co", "sw", "ew", "gt",
                                            "ge", "lt", "le", "pr", NULL};
        int k;
        for (k = 0; known[k]; k++)
            if (!strcasecmp(op, known[k]))
                return fail(e, p, 400, JP_SCIM_E_FILTER,
                            "the operator '%s' is not supported: only eq is", known[k]);
        return fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' is not a filter operator", excerpt(p, op));
    }
    if (i >= n || !is_space(s[i]))
        return fail(e, p, 400, JP_SCIM_E_FILTER, "eq needs a value");
    while (i < n && is_space(s[i]))
        i++;
    v0 = i;
    if (i < n && s[i] == '"') {
        long q = quoted_end(s + i, n - i);
        if (q < 0)
            return fail(e, p, 400, JP_SCIM_E_FILTER, "unterminated string in filter");
        i += (size_t)q + 1;
    } else {
        while (i < n && !is_space(s[i]))
            i++;
    }
    v1 = i;
    if (v1 == v0)
        return fail(e, p, 400, JP_SCIM_E_FILTER, "eq needs a value");
    while (i < n && is_space(s[i]))
        i++;
    if (i < n) {
        if ((n - i >= 3 && !strncasecmp(s + i, "and", 3)) ||
            (n - i >= 2 && !strncasecmp(s + i, "or", 2)))
            return fail(e, p, 400, JP_SCIM_E_FILTER,
                        "only one comparison is supported (no and/or)");
        return fail(e, p, 400, JP_SCIM_E_FILTER, "unexpected text in filter: '%s'",
                    excerpt(p, s + i));
    }
    /* The value is JSON: a string with JSON escapes, true, false, null or a number. */
    out->value = json_loadb(s + v0, v1 - v0, JSON_DECODE_ANY, &jerr);
    if (!out->value || json_is_object(out->value) || json_is_array(out->value)) {
        if (out->value)
            json_decref(out->value);
        out->value = NULL;
        return fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' is not a valid filter value",
                    excerpt(p, apr_pstrndup(p, s + v0, v1 - v0)));
    }
    out->attr = apr_pstrndup(p, s + a0, a1 - a0);
    return 0;
}

/* After the core schema URN, or NULL when s does not start with it. */
static const char *strip_core_urn(const char *s)
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

static size_t attr_len(const char *s)
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
    if (parse_cmp(p, s, n, &c, e))
        return -1;
    a = c.attr;
    if (!strncasecmp(a, "emails.", 7))
        a += 7;
    if (!strcasecmp(a, "type") && json_is_string(c.value)) {
        out->sel = strcasecmp(json_string_value(c.value), "work") ? EF_OTHER : EF_OURS;
    } else if (!strcasecmp(a, "primary") && !bool_value(c.value, &b)) {
        out->sel = b ? EF_OURS : EF_OTHER;
    } else if (!strcasecmp(a, "value") && json_is_string(c.value)) {
        out->sel = EF_VALUE;
        out->sel_value = apr_pstrdup(p, json_string_value(c.value));
    } else if (!strcasecmp(a, "display") || !strcasecmp(a, "type") || !strcasecmp(a, "primary")) {
        out->sel = EF_OTHER;
    } else {
        json_decref(c.value);
        return fail(e, p, 400, JP_SCIM_E_FILTER, "unsupported emails filter on '%s'",
                    excerpt(p, c.attr));
    }
    json_decref(c.value);
    return 0;
}

/* PATH = [core URN ":"] attr ["[" filter "]"] ["." subAttr], or an extension
 * URN (ignored). RFC 7644 section 3.5.2 / 3.10. */
static int parse_path(apr_pool_t *p, const char *text, jp_path *out, jp_scim_err *e)
{
    const char *s = text, *rest, *name, *sub = NULL;
    size_t n, subn = 0, i;
    int has_filter = 0;

    memset(out, 0, sizeof(*out));
    out->text = text;
    if (!text_ok(text, JP_SCIM_FILTER_MAX))
        return fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'", excerpt(p, text));
    if (!strncasecmp(s, "urn:", 4)) {
        rest = strip_core_urn(s);
        if (!rest || (*rest && *rest != ':')) {
            out->kind = P_IGNORED; /* an extension schema, or an attribute in one */
            return 0;
        }
        if (!*rest || !rest[1]) {
            out->kind = P_ROOT;
            return 0;
        }
        s = rest + 1;
    }
    name = s;
    n = attr_len(s);
    if (!n)
        return fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'", excerpt(p, text));
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
            return fail(e, p, 400, JP_SCIM_E_PATH, "unterminated filter in path '%s'",
                        excerpt(p, text));
        has_filter = 1;
        if (name_is(name, n, "emails")) {
            if (email_filter(p, s + 1, (size_t)close - 1, out, e))
                return -1;
        } else {
            jp_cmp c; /* checked, then dropped with the attribute */
            if (parse_cmp(p, s + 1, (size_t)close - 1, &c, e))
                return -1;
            json_decref(c.value);
        }
        s += close + 1;
    }
    if (*s == '.') {
        sub = s + 1;
        subn = attr_len(sub);
        if (!subn)
            return fail(e, p, 400, JP_SCIM_E_PATH, "invalid sub-attribute in path '%s'",
                        excerpt(p, text));
        s = sub + subn;
    }
    if (*s)
        return fail(e, p, 400, JP_SCIM_E_PATH, "invalid path '%s'", excerpt(p, text));

    if (name_is(name, n, "emails")) {
        if (!sub)
            out->kind = has_filter ? P_EMAIL_ENTRY : P_EMAILS;
        else if (name_is(sub, subn, "value"))
            out->kind = P_EMAIL_VALUE;
        else if (name_is(sub, subn, "type") || name_is(sub, subn, "primary") ||
                 name_is(sub, subn, "display"))
            out->kind = P_IGNORED; /* rendered as type work, primary */
        else
            return fail(e, p, 400, JP_SCIM_E_PATH, "emails has no sub-attribute '%s'",
                        excerpt(p, apr_pstrndup(p, sub, subn)));
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
            return fail(e, p, 400, JP_SCIM_E_PATH, "'%s' is not a multi-valued attribute",
                        excerpt(p, apr_pstrndup(p, name, n)));
        return 0;
    }
    if (name_is(name, n, "name")) {
        if (!sub)
            out->kind = P_NAME;
        else if (name_is(sub, subn, "formatted"))
            out->kind = P_NAME_FORMATTED;
        else if (name_is(sub, subn, "givenName") || name_is(sub, subn, "familyName") ||
                 name_is(sub, subn, "middleName") || name_is(sub, subn, "honorificPrefix") ||
                 name_is(sub, subn, "honorificSuffix"))
            out->kind = P_IGNORED;
        else
            return fail(e, p, 400, JP_SCIM_E_PATH, "name has no sub-attribute '%s'",
                        excerpt(p, apr_pstrndup(p, sub, subn)));
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
        return fail(e, p, 400, JP_SCIM_E_PATH, "'%s' has no sub-attributes",
                    excerpt(p, apr_pstrndup(p, name, n)));
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
        return fail(e, p, 400, JP_SCIM_E_PATH, "unknown attribute '%s'", excerpt(p, text));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                     */

static int string_attr(apr_pool_t *p, json_t *v, const char *what, size_t max, int nullable,
                       const char **out, jp_scim_err *e)
{
    if (nullable && json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return fail(e, p, 400, JP_SCIM_E_VALUE, "%s must be a string", what);
    if (nullable && json_string_length(v) == 0) {
        *out = NULL; /* "" clears, as Entra ID sends for an emptied attribute */
        return 0;
    }
    if (!text_ok(json_string_value(v), max))
        return fail(e, p, 400, JP_SCIM_E_VALUE,
                    "%s must be 1 to %lu bytes without control characters", what,
                    (unsigned long)max);
    *out = apr_pstrdup(p, json_string_value(v));
    return 0;
}

static int email_string(apr_pool_t *p, json_t *v, const char **out, jp_scim_err *e)
{
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v) || !email_ok(json_string_value(v)))
        return fail(e, p, 400, JP_SCIM_E_VALUE, "'%s' is not a valid email address",
                    json_is_string(v) ? excerpt(p, json_string_value(v)) : "(not a string)");
    *out = apr_pstrdup(p, json_string_value(v));
    return 0;
}

/* The address of a multi-valued emails value (array, or one object): the
 * primary entry, else type "work", else the first. *found 0 when the value has
 * no entry with an address. */
static int pick_email(apr_pool_t *p, json_t *v, const char **out, int *found, jp_scim_err *e)
{
    json_t *ent, *best = NULL, *work = NULL, *first = NULL, *one[1];
    size_t i, n;
    *found = 0;
    *out = NULL;
    if (json_is_null(v))
        return 0;
    if (json_is_object(v)) {
        one[0] = v;
        n = 1;
    } else if (json_is_array(v)) {
        n = json_array_size(v);
    } else {
        return fail(e, p, 400, JP_SCIM_E_VALUE, "emails must be an array of objects");
    }
    for (i = 0; i < n; i++) {
        json_t *pv, *tv, *vv;
        int prim = 0;
        ent = json_is_object(v) ? one[0] : json_array_get(v, i);
        if (!json_is_object(ent))
            return fail(e, p, 400, JP_SCIM_E_VALUE, "emails must be an array of objects");
        vv = get_ci(ent, "value");
        if (!vv || json_is_null(vv))
            continue;
        if (!json_is_string(vv) || !email_ok(json_string_value(vv)))
            return fail(e, p, 400, JP_SCIM_E_VALUE, "'%s' is not a valid email address",
                        json_is_string(vv) ? excerpt(p, json_string_value(vv)) : "(not a string)");
        pv = get_ci(ent, "primary");
        tv = get_ci(ent, "type");
        if (pv && bool_value(pv, &prim))
            return fail(e, p, 400, JP_SCIM_E_VALUE, "emails.primary must be a boolean");
        if (tv && !json_is_string(tv) && !json_is_null(tv))
            return fail(e, p, 400, JP_SCIM_E_VALUE, "emails.type must be a string");
        if (prim && !best)
            best = vv;
        if (!work && json_is_string(tv) && !strcasecmp(json_string_value(tv), "work"))
            work = vv;
        if (!first)
            first = vv;
    }
    if (!best)
        best = work ? work : first;
    if (best) {
        *out = apr_pstrdup(p, json_string_value(best));
        *found = 1;
    }
    return 0;
}

/* name.formatted, else "givenName familyName" (Okta sends only those). */
static int name_display(apr_pool_t *p, json_t *name, const char **out, int *has_formatted,
                        jp_scim_err *e)
{
    json_t *f, *g, *fam;
    const char *gs = NULL, *fs = NULL;
    *out = NULL;
    *has_formatted = 0;
    if (json_is_null(name))
        return 0;
    if (!json_is_object(name))
        return fail(e, p, 400, JP_SCIM_E_VALUE, "name must be an object");
    if ((f = get_ci(name, "formatted"))) {
        *has_formatted = 1;
        return string_attr(p, f, "name.formatted", JP_SCIM_VALUE_MAX, 1, out, e);
    }
    g = get_ci(name, "givenName");
    fam = get_ci(name, "familyName");
    if ((g && string_attr(p, g, "name.givenName", JP_SCIM_VALUE_MAX, 1, &gs, e)) ||
        (fam && string_attr(p, fam, "name.familyName", JP_SCIM_VALUE_MAX, 1, &fs, e)))
        return -1;
    if (gs && fs)
        *out = apr_pstrcat(p, gs, " ", fs, NULL);
    else
        *out = gs ? gs : fs;
    if (*out && strlen(*out) > JP_SCIM_VALUE_MAX)
        return fail(e, p, 400, JP_SCIM_E_VALUE, "name is longer than %d bytes", JP_SCIM_VALUE_MAX);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* POST / PUT                                                                 */

int jp_scim_parse_user(apr_pool_t *p, const char *body, size_t len, jp_scim_input *in,
                       jp_scim_err *e)
{
    json_t *j = load(p, body, len, e), *v;
    const char *k, *dup, *display = NULL, *from_name = NULL;
    int rc = -1, has_display = 0, has_name = 0, has_formatted, found;

    memset(in, 0, sizeof(*in));
    if (!j)
        return -1;
    if (ci_duplicates(p, j, &dup)) {
        fail(e, p, 400, JP_SCIM_E_SYNTAX, "attribute '%s' is given twice", excerpt(p, dup));
        goto out;
    }
    if (!lists_schema(j, JP_SCIM_SCHEMA_USER)) {
        fail(e, p, 400, JP_SCIM_E_SYNTAX, "schemas must list " JP_SCIM_SCHEMA_USER);
        goto out;
    }
    json_object_foreach(j, k, v)
    {
        jp_path path;
        const char *bare = k;
        if (!strncasecmp(k, "urn:", 4) && (bare = strip_core_urn(k)) && *bare == ':')
            bare++; /* a core attribute written with its schema URN */
        if (parse_path(p, k, &path, NULL) ||
            (path.kind != P_IGNORED && (!bare || attr_len(bare) != strlen(bare)))) {
            fail(e, p, 400, JP_SCIM_E_SYNTAX, "unknown attribute '%s'", excerpt(p, k));
            goto out;
        }
        switch (path.kind) {
        case P_USER_NAME:
            if (!json_is_string(v) || json_string_length(v) == 0) {
                fail(e, p, 400, JP_SCIM_E_VALUE, "userName must be a non-empty string");
                goto out;
            }
            if (string_attr(p, v, "userName", JP_SCIM_VALUE_MAX, 0, &in->user_name, e))
                goto out;
            in->fields |= JP_SCIM_F_USER_NAME;
            break;
        case P_DISPLAY_NAME:
            if (string_attr(p, v, "displayName", JP_SCIM_VALUE_MAX, 1, &display, e))
                goto out;
            has_display = 1;
            break;
        case P_NAME:
            if (name_display(p, v, &from_name, &has_formatted, e))
                goto out;
            has_name = 1;
            break;
        case P_EMAILS:
            if (pick_email(p, v, &in->email, &found, e))
                goto out;
            in->fields |= JP_SCIM_F_EMAIL;
            break;
        case P_ACTIVE:
            if (bool_value(v, &in->active)) {
                fail(e, p, 400, JP_SCIM_E_VALUE, "active must be true or false");
                goto out;
            }
            in->fields |= JP_SCIM_F_ACTIVE;
            break;
        case P_EXTERNAL_ID:
            if (string_attr(p, v, "externalId", JP_SCIM_VALUE_MAX, 1, &in->external_id, e))
                goto out;
            in->fields |= JP_SCIM_F_EXTERNAL_ID;
            break;
        case P_ID:
        case P_META:
        case P_GROUPS:
        case P_IGNORED:
            break; /* readOnly values are ignored (RFC 7644 3.5.1); the rest has no column */
        default:
            fail(e, p, 400, JP_SCIM_E_SYNTAX, "unknown attribute '%s'", excerpt(p, k));
            goto out;
        }
    }
    if (!(in->fields & JP_SCIM_F_USER_NAME)) {
        fail(e, p, 400, JP_SCIM_E_VALUE, "userName is required");
        goto out;
    }
    if (has_display || has_name) {
        in->fields |= JP_SCIM_F_DISPLAY_NAME;
        in->display_name = display ? display : from_name;
    }
    rc = 0;
out:
    json_decref(j);
    return rc;
}

static int set_active(apr_pool_t *p, jp_scim_user *next, int active, jp_scim_err *e)
{
    if (!next->status) {
        if (active)
            return 0; /* every row of a table without a status column is active */
        return fail(e, p, 501, NULL,
                    "the account table has no status column (JITProvAccountColumn status), so "
                    "an account cannot be deactivated here");
    }
    next->status = active ? "active" : "disabled";
    return 0;
}

int jp_scim_apply_put(apr_pool_t *p, const jp_scim_user *cur, const jp_scim_input *in,
                      jp_scim_user *next, jp_scim_err *e)
{
    *next = *cur;
    next->user_name = in->user_name;
    next->email = in->email;
    next->display_name = in->display_name;
    if (in->fields & JP_SCIM_F_ACTIVE)
        return set_active(p, next, in->active, e);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* PATCH                                                                      */

typedef enum { OP_ADD = 0, OP_REPLACE, OP_REMOVE } op_kind;

typedef struct {
    op_kind op;
    jp_path path; /* P_ROOT when no path */
    json_t *value;
} jp_op;

struct jp_scim_patch {
    json_t *doc; /* holds every value; released with the pool */
    int nops;
    jp_op *ops;
};

static apr_status_t release_json(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

int jp_scim_patch_count(const jp_scim_patch *patch)
{
    return patch ? patch->nops : 0;
}

int jp_scim_parse_patch(apr_pool_t *p, const char *body, size_t len, jp_scim_patch **out,
                        jp_scim_err *e)
{
    json_t *j = load(p, body, len, e), *ops, *o;
    jp_scim_patch *pt;
    const char *dup;
    size_t i;

    *out = NULL;
    if (!j)
        return -1;
    apr_pool_cleanup_register(p, j, release_json, apr_pool_cleanup_null);
    if (ci_duplicates(p, j, &dup))
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "member '%s' is given twice", excerpt(p, dup));
    if (!lists_schema(j, JP_SCIM_MSG_PATCH))
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "schemas must list " JP_SCIM_MSG_PATCH);
    ops = get_ci(j, "Operations");
    if (!json_is_array(ops) || json_array_size(ops) == 0)
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "Operations must be a non-empty array");
    if (json_array_size(ops) > JP_SCIM_OPS_MAX)
        return fail(e, p, 400, JP_SCIM_E_SYNTAX, "at most %d operations per request",
                    JP_SCIM_OPS_MAX);
    pt = apr_pcalloc(p, sizeof(*pt));
    pt->doc = j;
    pt->ops = apr_pcalloc(p, sizeof(jp_op) * json_array_size(ops));
    json_array_foreach(ops, i, o)
    {
        jp_op *x = &pt->ops[pt->nops];
        json_t *opv, *pathv;
        const char *opname;
        if (!json_is_object(o) || ci_duplicates(p, o, &dup))
            return fail(e, p, 400, JP_SCIM_E_SYNTAX, "operation %lu is not a valid object",
                        (unsigned long)i + 1);
        opv = get_ci(o, "op");
        if (!json_is_string(opv))
            return fail(e, p, 400, JP_SCIM_E_SYNTAX, "operation %lu has no op",
                        (unsigned long)i + 1);
        opname = json_string_value(opv);
        if (!strcasecmp(opname, "add"))
            x->op = OP_ADD;
        else if (!strcasecmp(opname, "replace"))
            x->op = OP_REPLACE;
        else if (!strcasecmp(opname, "remove"))
            x->op = OP_REMOVE;
        else
            return fail(e, p, 400, JP_SCIM_E_SYNTAX,
                        "operation %lu: op '%s' is not add, replace or remove",
                        (unsigned long)i + 1, excerpt(p, opname));
        pathv = get_ci(o, "path");
        if (pathv && !json_is_null(pathv) &&
            !(json_is_string(pathv) && json_string_length(pathv) == 0)) {
            if (!json_is_string(pathv))
                return fail(e, p, 400, JP_SCIM_E_PATH, "operation %lu: path must be a string",
                            (unsigned long)i + 1);
            if (parse_path(p, json_string_value(pathv), &x->path, e))
                return -1;
        } else {
            x->path.kind = P_ROOT;
        }
        if (x->op == OP_REMOVE && x->path.kind == P_ROOT)
            return fail(e, p, 400, JP_SCIM_E_TARGET, "operation %lu: remove needs a path",
                        (unsigned long)i + 1);
        x->value = get_ci(o, "value");
        if (x->op != OP_REMOVE && !x->value)
            return fail(e, p, 400, JP_SCIM_E_VALUE, "operation %lu: %s needs a value",
                        (unsigned long)i + 1, x->op == OP_ADD ? "add" : "replace");
        if (x->op != OP_REMOVE && x->path.kind == P_ROOT && !json_is_object(x->value))
            return fail(e, p, 400, JP_SCIM_E_VALUE,
                        "operation %lu: without a path the value must be an object",
                        (unsigned long)i + 1);
        pt->nops++;
    }
    *out = pt;
    return 0;
}

static int email_selected(const jp_path *path, const char *email)
{
    if (!email)
        return 0;
    if (path->sel == EF_VALUE)
        return !strcasecmp(path->sel_value, email);
    return path->sel == EF_OURS;
}

typedef struct {
    apr_pool_t *p;
    jp_scim_user *u;
    int *touched_active;
    jp_scim_err *e;
} jp_apply;

static int apply_one(jp_apply *a, op_kind op, const jp_path *path, json_t *v, int depth);

/* add/replace without a path: every member is applied as if it were a path.
 * readOnly members are ignored there, as in a PUT body. */
static int apply_object(jp_apply *a, op_kind op, json_t *v, int depth)
{
    const char *k, *dup;
    json_t *mv;
    if (ci_duplicates(a->p, v, &dup))
        return fail(a->e, a->p, 400, JP_SCIM_E_SYNTAX, "attribute '%s' is given twice",
                    excerpt(a->p, dup));
    json_object_foreach(v, k, mv)
    {
        jp_path path;
        if (parse_path(a->p, k, &path, a->e))
            return -1;
        if (path.kind == P_ID || path.kind == P_META || path.kind == P_GROUPS)
            continue;
        if (path.kind == P_ROOT && (depth > 0 || !json_is_object(mv)))
            return fail(a->e, a->p, 400, JP_SCIM_E_VALUE, "'%s' must be an object of attributes",
                        excerpt(a->p, k));
        if (apply_one(a, op, &path, mv, depth + 1))
            return -1;
    }
    return 0;
}

static int apply_one(jp_apply *a, op_kind op, const jp_path *path, json_t *v, int depth)
{
    apr_pool_t *p = a->p;
    jp_scim_user *u = a->u;
    const char *s;
    int b, found, has_formatted;

    if (op == OP_REMOVE) {
        switch (path->kind) {
        case P_USER_NAME:
            return fail(a->e, p, 400, JP_SCIM_E_VALUE,
                        "userName is required: it cannot be removed");
        case P_ACTIVE:
            return fail(a->e, p, 400, JP_SCIM_E_VALUE,
                        "active cannot be removed: replace it with false");
        case P_DISPLAY_NAME:
        case P_NAME:
        case P_NAME_FORMATTED:
            u->display_name = NULL;
            return 0;
        case P_EMAILS:
            u->email = NULL;
            return 0;
        case P_EMAIL_VALUE:
        case P_EMAIL_ENTRY:
            if (email_selected(path, u->email))
                u->email = NULL;
            return 0;
        case P_ID:
        case P_META:
        case P_GROUPS:
            break;
        default:
            return 0; /* externalId and attributes without a column */
        }
        return fail(a->e, p, 400, JP_SCIM_E_MUTABILITY, "'%s' is read-only",
                    excerpt(p, path->text));
    }

    switch (path->kind) {
    case P_ROOT:
        return apply_object(a, op, v, depth);
    case P_USER_NAME:
        if (!json_is_string(v) || json_string_length(v) == 0)
            return fail(a->e, p, 400, JP_SCIM_E_VALUE, "userName must be a non-empty string");
        if (string_attr(p, v, "userName", JP_SCIM_VALUE_MAX, 0, &s, a->e))
            return -1;
        u->user_name = s;
        return 0;
    case P_DISPLAY_NAME:
    case P_NAME_FORMATTED:
        if (string_attr(p, v, path->kind == P_DISPLAY_NAME ? "displayName" : "name.formatted",
                        JP_SCIM_VALUE_MAX, 1, &s, a->e))
            return -1;
        u->display_name = s;
        return 0;
    case P_NAME:
        if (name_display(p, v, &s, &has_formatted, a->e))
            return -1;
        /* givenName/familyName alone would overwrite a display name built
         * from more than they say: only a formatted name replaces it. */
        if (has_formatted || json_is_null(v))
            u->display_name = s;
        return 0;
    case P_ACTIVE:
        if (bool_value(v, &b))
            return fail(a->e, p, 400, JP_SCIM_E_VALUE, "active must be true or false");
        *a->touched_active = 1;
        return set_active(p, u, b, a->e);
    case P_EXTERNAL_ID:
        return string_attr(p, v, "externalId", JP_SCIM_VALUE_MAX, 1, &s, a->e);
    case P_EMAILS:
        if (pick_email(p, v, &s, &found, a->e))
            return -1;
        if (found || op == OP_REPLACE)
            u->email = s;
        return 0;
    case P_EMAIL_VALUE:
        if (email_string(p, v, &s, a->e))
            return -1;
        if (path->sel != EF_VALUE || email_selected(path, u->email) || op == OP_ADD)
            u->email = s;
        else
            return fail(a->e, p, 400, JP_SCIM_E_TARGET, "no email matches '%s'",
                        excerpt(p, path->text));
        return 0;
    case P_EMAIL_ENTRY:
        if (pick_email(p, v, &s, &found, a->e))
            return -1;
        if (!found)
            return fail(a->e, p, 400, JP_SCIM_E_VALUE, "the emails entry has no value");
        if (path->sel != EF_VALUE || email_selected(path, u->email) || op == OP_ADD)
            u->email = s;
        else
            return fail(a->e, p, 400, JP_SCIM_E_TARGET, "no email matches '%s'",
                        excerpt(p, path->text));
        return 0;
    case P_IGNORED:
        return 0;
    case P_GROUPS:
        return fail(a->e, p, 400, JP_SCIM_E_MUTABILITY,
                    "groups are read-only here: they come from the ID token's groups claim");
    case P_ID:
    case P_META:
    default:
        return fail(a->e, p, 400, JP_SCIM_E_MUTABILITY, "'%s' is read-only",
                    excerpt(p, path->text));
    }
}

int jp_scim_apply_patch(apr_pool_t *p, const jp_scim_patch *patch, const jp_scim_user *cur,
                        jp_scim_user *next, int *touched_active, jp_scim_err *e)
{
    jp_apply a;
    int i, dummy = 0;
    *next = *cur;
    a.p = p;
    a.u = next;
    a.touched_active = touched_active ? touched_active : &dummy;
    a.e = e;
    *a.touched_active = 0;
    for (i = 0; patch && i < patch->nops; i++)
        if (apply_one(&a, patch->ops[i].op, &patch->ops[i].path, patch->ops[i].value, 0))
            return -1;
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
        return fail(e, p, 400, JP_SCIM_E_FILTER, "the filter is longer than %d bytes",
                    JP_SCIM_FILTER_MAX);
    if (parse_cmp(p, text, strlen(text), &c, e))
        return -1;
    a = c.attr;
    if ((rest = strip_core_urn(a)) && *rest == ':')
        a = rest + 1;
    if (json_is_null(c.value)) {
        fail(e, p, 400, JP_SCIM_E_FILTER, "comparing with null is not supported");
        goto out;
    }
    if (!strcasecmp(a, "active")) {
        f->attr = JP_SCIM_FA_ACTIVE;
        if (bool_value(c.value, &f->bval)) {
            fail(e, p, 400, JP_SCIM_E_FILTER, "active compares with true or false");
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
    else if (!strcasecmp(a, "externalId")) {
        fail(e, p, 400, JP_SCIM_E_FILTER,
             "externalId is not stored by this service provider: match users on userName");
        goto out;
    } else {
        fail(e, p, 400, JP_SCIM_E_FILTER, "filtering on '%s' is not supported", excerpt(p, a));
        goto out;
    }
    if (json_is_string(c.value)) {
        f->value = apr_pstrdup(p, json_string_value(c.value));
    } else if (json_is_integer(c.value) && f->attr == JP_SCIM_FA_ID) {
        f->value = apr_psprintf(p, "%" APR_INT64_T_FMT, (apr_int64_t)json_integer_value(c.value));
    } else {
        fail(e, p, 400, JP_SCIM_E_FILTER, "'%s' compares with a string", excerpt(p, a));
        goto out;
    }
    if (strlen(f->value) > JP_SCIM_VALUE_MAX) {
        fail(e, p, 400, JP_SCIM_E_FILTER, "the filter value is too long");
        goto out;
    }
    rc = 0;
out:
    json_decref(c.value);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                  */

const char *jp_scim_time(apr_pool_t *p, int64_t t)
{
    apr_time_exp_t x;
    /* Up to the year 9999: RFC 3339 has four digits. */
    if (t <= 0 || t >= 253402300800LL)
        return NULL;
    if (apr_time_exp_gmt(&x, apr_time_from_sec(t)) != APR_SUCCESS)
        return NULL;
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", x.tm_year + 1900, x.tm_mon + 1,
                        x.tm_mday, x.tm_hour, x.tm_min, x.tm_sec);
}

static void add_group(json_t *arr, const char *g, size_t n)
{
    json_t *o, *s;
    char *c;
    while (n && (*g == ' ' || *g == '\t')) {
        g++;
        n--;
    }
    while (n && (g[n - 1] == ' ' || g[n - 1] == '\t'))
        n--;
    if (!n || json_array_size(arr) >= JP_SCIM_GROUPS_MAX)
        return;
    if (!(c = malloc(n + 1)))
        return;
    memcpy(c, g, n);
    c[n] = '\0';
    s = jstr(c);
    free(c);
    if (!s)
        return;
    o = json_object();
    json_object_set(o, "value", s);
    json_object_set_new(o, "display", s);
    json_array_append_new(arr, o);
}

/* The groups column: JSON array text, or values joined with delim. */
static json_t *groups_json(const char *text, const char *delim)
{
    json_t *arr, *parsed, *v;
    size_t i, dl;
    const char *s, *d;
    if (!text || !*text)
        return NULL;
    arr = json_array();
    if (text[0] == '[' && (parsed = json_loads(text, 0, NULL))) {
        if (json_is_array(parsed)) {
            json_array_foreach(parsed, i, v)
            {
                if (json_is_string(v))
                    add_group(arr, json_string_value(v), json_string_length(v));
            }
            json_decref(parsed);
            return arr;
        }
        json_decref(parsed);
    }
    dl = delim ? strlen(delim) : 0;
    for (s = text;;) {
        d = dl ? strstr(s, delim) : NULL;
        if (!d) {
            add_group(arr, s, strlen(s));
            break;
        }
        add_group(arr, s, (size_t)(d - s));
        s = d + dl;
    }
    return arr;
}

static json_t *user_json(apr_pool_t *p, const jp_scim_user *u, const char *users_url,
                         const char *delim)
{
    json_t *o = json_object(), *meta, *g;
    const char *un = u->user_name, *t;

    json_object_set_new(o, "schemas", json_pack("[s]", JP_SCIM_SCHEMA_USER));
    json_object_set_new(o, "id", jstr(u->id ? u->id : ""));
    /* userName is required in a resource: rows made by JIT login without a
     * preferred_username claim show their email or subject instead. */
    if (!un || !*un)
        un = u->email && *u->email ? u->email : u->sub && *u->sub ? u->sub : u->id;
    json_object_set_new(o, "userName", jstr(un ? un : ""));
    if (u->display_name) {
        json_object_set_new(o, "displayName", jstr(u->display_name));
        json_object_set_new(o, "name", json_pack("{s:o}", "formatted", jstr(u->display_name)));
    }
    if (u->email && *u->email)
        json_object_set_new(
            o, "emails",
            json_pack("[{s:o,s:s,s:b}]", "value", jstr(u->email), "type", "work", "primary", 1));
    json_object_set_new(o, "active", json_boolean(!u->status || !strcmp(u->status, "active")));
    if ((g = groups_json(u->groups, delim))) {
        if (json_array_size(g))
            json_object_set_new(o, "groups", g);
        else
            json_decref(g);
    }
    meta = json_object();
    json_object_set_new(meta, "resourceType", json_string("User"));
    if ((t = jp_scim_time(p, u->created)))
        json_object_set_new(meta, "created", json_string(t));
    if ((t = jp_scim_time(p, u->modified ? u->modified : u->created)))
        json_object_set_new(meta, "lastModified", json_string(t));
    if (users_url && u->id)
        json_object_set_new(meta, "location", jstr(apr_pstrcat(p, users_url, "/", u->id, NULL)));
    json_object_set_new(o, "meta", meta);
    return o;
}

const char *jp_scim_render_user(apr_pool_t *p, const jp_scim_user *u, const char *users_url,
                                const char *delim)
{
    return dump(p, user_json(p, u, users_url, delim));
}

static json_t *list_json(json_t *resources, int64_t total, int64_t start)
{
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", JP_SCIM_MSG_LIST));
    json_object_set_new(o, "totalResults", json_integer(total));
    json_object_set_new(o, "startIndex", json_integer(start));
    json_object_set_new(o, "itemsPerPage", json_integer((json_int_t)json_array_size(resources)));
    json_object_set_new(o, "Resources", resources);
    return o;
}

const char *jp_scim_render_list(apr_pool_t *p, const jp_scim_user *users, int n, int64_t total,
                                int64_t start, const char *users_url, const char *delim)
{
    json_t *res = json_array();
    int i;
    for (i = 0; i < n; i++)
        json_array_append_new(res, user_json(p, &users[i], users_url, delim));
    return dump(p, list_json(res, total, start < 1 ? 1 : start));
}

const char *jp_scim_render_error(apr_pool_t *p, const jp_scim_err *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "schemas", json_pack("[s]", JP_SCIM_MSG_ERROR));
    /* RFC 7644 3.12: the status is a string. */
    json_object_set_new(o, "status", json_string(apr_itoa(p, e->status)));
    if (e->type)
        json_object_set_new(o, "scimType", json_string(e->type));
    if (e->detail)
        json_object_set_new(o, "detail", jstr(e->detail));
    return dump(p, o);
}

/* ---- discovery documents ---- */

const char *jp_scim_render_spc(apr_pool_t *p, const char *base)
{
    return dump(p,
                json_pack("{s:[s],s:{s:b},s:{s:b,s:i,s:i},s:{s:b,s:i},s:{s:b},s:{s:b},s:{s:b},"
                          "s:[{s:s,s:s,s:s,s:b}],s:{s:s,s:o}}",
                          "schemas", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
                          "patch", "supported", 1, "bulk", "supported", 0, "maxOperations", 0,
                          "maxPayloadSize", 0, "filter", "supported", 1, "maxResults",
                          JP_SCIM_PAGE_MAX, "changePassword", "supported", 0, "sort", "supported",
                          0, "etag", "supported", 0, "authenticationSchemes", "type",
                          "oauthbearertoken", "name", "OAuth Bearer Token", "description",
                          "The bearer token set with JITProvSCIMBearerToken", "primary", 1, "meta",
                          "resourceType", "ServiceProviderConfig", "location",
                          jstr(apr_pstrcat(p, base, "/ServiceProviderConfig", NULL))));
}

static json_t *resource_type_user(apr_pool_t *p, const char *base)
{
    return json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:{s:s,s:o}}", "schemas",
                     "urn:ietf:params:scim:schemas:core:2.0:ResourceType", "id", "User", "name",
                     "User", "endpoint", "/Users", "description",
                     "Accounts of the application behind mod_jitprov", "schema",
                     JP_SCIM_SCHEMA_USER, "meta", "resourceType", "ResourceType", "location",
                     jstr(apr_pstrcat(p, base, "/ResourceTypes/User", NULL)));
}

const char *jp_scim_render_resource_types(apr_pool_t *p, const char *base, const char *name)
{
    if (name)
        return strcmp(name, "User") ? NULL : dump(p, resource_type_user(p, base));
    return dump(p, list_json(json_pack("[o]", resource_type_user(p, base)), 1, 1));
}

static json_t *attr_def(const char *name, const char *type, int multi, int required,
                        const char *mutability, const char *uniqueness, const char *desc,
                        json_t *subs)
{
    json_t *a =
        json_pack("{s:s,s:s,s:b,s:s,s:b,s:b,s:s,s:s,s:s}", "name", name, "type", type,
                  "multiValued", multi, "description", desc, "required", required, "caseExact", 0,
                  "mutability", mutability, "returned", "default", "uniqueness", uniqueness);
    if (subs)
        json_object_set_new(a, "subAttributes", subs);
    return a;
}

static json_t *schema_user(apr_pool_t *p, const char *base)
{
    json_t *attrs = json_array();
    json_array_append_new(attrs, attr_def("userName", "string", 0, 1, "readWrite", "server",
                                          "Unique login name (username column)", NULL));
    json_array_append_new(attrs, attr_def("displayName", "string", 0, 0, "readWrite", "none",
                                          "Display name (display_name column)", NULL));
    json_array_append_new(
        attrs, attr_def("name", "complex", 0, 0, "readWrite", "none",
                        "formatted is the display name; other parts are not stored",
                        json_pack("[o]", attr_def("formatted", "string", 0, 0, "readWrite", "none",
                                                  "Display name", NULL))));
    json_array_append_new(
        attrs,
        attr_def(
            "emails", "complex", 1, 0, "readWrite", "none",
            "One address is kept: the primary, else type work, else the first",
            json_pack(
                "[o,o,o]", attr_def("value", "string", 0, 0, "readWrite", "none", "Address", NULL),
                attr_def("type", "string", 0, 0, "readWrite", "none", "Always work", NULL),
                attr_def("primary", "boolean", 0, 0, "readWrite", "none", "Always true", NULL))));
    json_array_append_new(attrs, attr_def("active", "boolean", 0, 0, "readWrite", "none",
                                          "false = status disabled: logins are refused", NULL));
    json_array_append_new(
        attrs,
        attr_def(
            "groups", "complex", 1, 0, "readOnly", "none", "Groups from the last login's ID token",
            json_pack("[o,o]", attr_def("value", "string", 0, 0, "readOnly", "none", "Group", NULL),
                      attr_def("display", "string", 0, 0, "readOnly", "none", "Group", NULL))));
    return json_pack("{s:[s],s:s,s:s,s:s,s:o,s:{s:s,s:o}}", "schemas",
                     "urn:ietf:params:scim:schemas:core:2.0:Schema", "id", JP_SCIM_SCHEMA_USER,
                     "name", "User", "description", "User account", "attributes", attrs, "meta",
                     "resourceType", "Schema", "location",
                     jstr(apr_pstrcat(p, base, "/Schemas/" JP_SCIM_SCHEMA_USER, NULL)));
}

const char *jp_scim_render_schemas(apr_pool_t *p, const char *base, const char *name)
{
    if (name)
        return strcasecmp(name, JP_SCIM_SCHEMA_USER) ? NULL : dump(p, schema_user(p, base));
    return dump(p, list_json(json_pack("[o]", schema_user(p, base)), 1, 1));
}
