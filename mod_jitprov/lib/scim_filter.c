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
        /* Kept for emails[...].type and the like too (P_IGNORED): a filter
         * that selects nothing is noTarget whatever the sub-attribute. */
        out->filtered = has_filter;
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

/* A recursive descent over RFC 7644's grammar: or binds looser than and,
 * not needs parentheses. Depth and size are bounded, so neither the stack
 * nor the SQL built from the tree grows with the input. */
typedef struct {
    apr_pool_t *p;
    const char *s;
    size_t n, i;
    int terms;
    jp_scim_err *e;
} fparser;

static void fskip(fparser *f)
{
    while (f->i < f->n && is_space(f->s[f->i]))
        f->i++;
}

/* The keyword kw (any case) is next, as a word of its own. */
static int fword(fparser *f, const char *kw)
{
    size_t k = strlen(kw);
    char c;
    if (f->n - f->i < k || strncasecmp(f->s + f->i, kw, k))
        return 0;
    if (f->i + k == f->n)
        return 1;
    c = f->s[f->i + k];
    return is_space(c) || c == '(' || c == ')';
}

static jp_scim_filter *fnode(fparser *f, jp_scim_fnode kind, const jp_scim_filter *a,
                             const jp_scim_filter *b)
{
    jp_scim_filter *x = apr_pcalloc(f->p, sizeof(*x));
    x->node = kind;
    x->a = a;
    x->b = b;
    return x;
}

static jp_scim_filter *ffail(fparser *f, const char *detail)
{
    jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "%s", detail);
    return NULL;
}

/* The attribute of a comparison and the operators it takes. */
static int fattr(fparser *f, const char *name, jp_scim_filter *x)
{
    const char *a = name, *rest;
    if ((rest = jp_scim_strip_core_urn(a)) && *rest == ':')
        a = rest + 1;
    if (!strcasecmp(a, "active"))
        x->attr = JP_SCIM_FA_ACTIVE;
    else if (!strcasecmp(a, "id"))
        x->attr = JP_SCIM_FA_ID;
    else if (!strcasecmp(a, "userName"))
        x->attr = JP_SCIM_FA_USER_NAME;
    else if (!strcasecmp(a, "emails") || !strcasecmp(a, "emails.value"))
        x->attr = JP_SCIM_FA_EMAIL;
    else if (!strcasecmp(a, "displayName") || !strcasecmp(a, "name.formatted"))
        x->attr = JP_SCIM_FA_DISPLAY_NAME;
    else if (!strcasecmp(a, "externalId"))
        x->attr = JP_SCIM_FA_EXTERNAL_ID;
    else if (!strcasecmp(a, "name.givenName"))
        x->attr = JP_SCIM_FA_GIVEN_NAME;
    else if (!strcasecmp(a, "name.familyName"))
        x->attr = JP_SCIM_FA_FAMILY_NAME;
    else
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "filtering on '%s' is not supported",
                            jp_scim_excerpt(f->p, a));
    return 0;
}

/* attrPath SP compareOp SP compValue, or attrPath SP "pr". */
static jp_scim_filter *compare_expr(fparser *f)
{
    static const struct {
        const char *name;
        jp_scim_fop op;
    } ops[] = {{"eq", JP_SCIM_OP_EQ}, {"ne", JP_SCIM_OP_NE}, {"co", JP_SCIM_OP_CO},
               {"sw", JP_SCIM_OP_SW}, {"ew", JP_SCIM_OP_EW}, {"pr", JP_SCIM_OP_PR}};
    jp_scim_filter *x = fnode(f, JP_SCIM_FN_CMP, NULL, NULL);
    size_t a0 = f->i, o0, v0, k;
    const char *attr, *op;
    json_t *v;
    json_error_t jerr;
    int found = 0;

    while (f->i < f->n && !is_space(f->s[f->i]) && f->s[f->i] != '(' && f->s[f->i] != ')') {
        char c = f->s[f->i];
        if (c == '[' || c == ']' || c == '"')
            return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER,
                                "unsupported attribute path in filter near '%s'",
                                jp_scim_excerpt(f->p, f->s + a0)),
                   NULL;
        f->i++;
    }
    if (f->i == a0)
        return ffail(f, f->i < f->n ? "a comparison `attribute op value` is missing"
                                    : "the filter is empty or ends too early");
    attr = apr_pstrndup(f->p, f->s + a0, f->i - a0);
    if (++f->terms > JP_SCIM_FILTER_TERMS_MAX)
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "at most %d comparisons per filter",
                            JP_SCIM_FILTER_TERMS_MAX),
               NULL;
    fskip(f);
    o0 = f->i;
    while (f->i < f->n && !is_space(f->s[f->i]) && f->s[f->i] != ')')
        f->i++;
    if (f->i == o0)
        return ffail(f, "the filter has no operator");
    op = apr_pstrndup(f->p, f->s + o0, f->i - o0);
    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        if (!strcasecmp(op, ops[k].name)) {
            x->op = ops[k].op;
            found = 1;
        }
    if (!found) {
        if (!strcasecmp(op, "gt") || !strcasecmp(op, "ge") || !strcasecmp(op, "lt") ||
            !strcasecmp(op, "le"))
            return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER,
                                "the operator '%s' is not supported (ordering comparisons)",
                                jp_scim_excerpt(f->p, op)),
                   NULL;
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "'%s' is not a filter operator",
                            jp_scim_excerpt(f->p, op)),
               NULL;
    }
    if (fattr(f, attr, x))
        return NULL;
    if (x->op == JP_SCIM_OP_PR)
        return x;
    if ((x->attr == JP_SCIM_FA_ACTIVE || x->attr == JP_SCIM_FA_ID) && x->op != JP_SCIM_OP_EQ &&
        x->op != JP_SCIM_OP_NE)
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "'%s' takes eq, ne or pr, not '%s'",
                            jp_scim_excerpt(f->p, attr), jp_scim_excerpt(f->p, op)),
               NULL;
    if (f->i >= f->n || !is_space(f->s[f->i]))
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "%s needs a value",
                            jp_scim_excerpt(f->p, op)),
               NULL;
    fskip(f);
    v0 = f->i;
    if (f->i < f->n && f->s[f->i] == '"') {
        long q = quoted_end(f->s + f->i, f->n - f->i);
        if (q < 0)
            return ffail(f, "unterminated string in filter");
        f->i += (size_t)q + 1;
    } else {
        while (f->i < f->n && !is_space(f->s[f->i]) && f->s[f->i] != ')')
            f->i++;
    }
    if (f->i == v0)
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "%s needs a value",
                            jp_scim_excerpt(f->p, op)),
               NULL;
    /* The value is JSON: a string with JSON escapes, true, false, null or a number. */
    v = jp_json_loadb(f->s + v0, f->i - v0, JSON_DECODE_ANY, &jerr);
    if (!v || json_is_object(v) || json_is_array(v)) {
        if (v)
            json_decref(v);
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "'%s' is not a valid filter value",
                            jp_scim_excerpt(f->p, apr_pstrndup(f->p, f->s + v0, f->i - v0))),
               NULL;
    }
    if (json_is_null(v)) {
        json_decref(v);
        return ffail(f, "comparing with null is not supported (use pr or not (... pr))");
    }
    if (x->attr == JP_SCIM_FA_ACTIVE) {
        int bad = jp_scim_bool(v, &x->bval);
        json_decref(v);
        return bad ? ffail(f, "active compares with true or false") : x;
    }
    if (json_is_string(v)) {
        x->value = apr_pstrdup(f->p, json_string_value(v));
    } else if (json_is_integer(v) && x->attr == JP_SCIM_FA_ID) {
        x->value = apr_psprintf(f->p, "%" APR_INT64_T_FMT, (apr_int64_t)json_integer_value(v));
    } else {
        json_decref(v);
        return jp_scim_fail(f->e, f->p, 400, JP_SCIM_E_FILTER, "'%s' compares with a string",
                            jp_scim_excerpt(f->p, attr)),
               NULL;
    }
    json_decref(v);
    if (strlen(x->value) > JP_SCIM_VALUE_MAX)
        return ffail(f, "the filter value is too long");
    return x;
}

static jp_scim_filter *or_expr(fparser *f, int depth);

/* "(" filter ")", at f->s[f->i] == '('. */
static jp_scim_filter *group_expr(fparser *f, int depth)
{
    jp_scim_filter *x;
    if (depth > JP_SCIM_FILTER_DEPTH_MAX)
        return ffail(f, "the filter is nested too deeply");
    f->i++;
    if (!(x = or_expr(f, depth)))
        return NULL;
    fskip(f);
    if (f->i >= f->n || f->s[f->i] != ')')
        return ffail(f, "a '(' in the filter is not closed");
    f->i++;
    return x;
}

static jp_scim_filter *unary_expr(fparser *f, int depth)
{
    jp_scim_filter *x;
    fskip(f);
    if (fword(f, "not")) {
        f->i += 3;
        fskip(f);
        if (f->i >= f->n || f->s[f->i] != '(')
            return ffail(f, "not needs a filter in parentheses: not (...)");
        if (!(x = group_expr(f, depth + 1)))
            return NULL;
        return fnode(f, JP_SCIM_FN_NOT, x, NULL);
    }
    if (f->i < f->n && f->s[f->i] == '(')
        return group_expr(f, depth + 1);
    return compare_expr(f);
}

static jp_scim_filter *and_expr(fparser *f, int depth)
{
    jp_scim_filter *x = unary_expr(f, depth), *y;
    while (x) {
        fskip(f);
        if (!fword(f, "and"))
            break;
        f->i += 3;
        if (!(y = unary_expr(f, depth)))
            return NULL;
        x = fnode(f, JP_SCIM_FN_AND, x, y);
    }
    return x;
}

static jp_scim_filter *or_expr(fparser *f, int depth)
{
    jp_scim_filter *x = and_expr(f, depth), *y;
    while (x) {
        fskip(f);
        if (!fword(f, "or"))
            break;
        f->i += 2;
        if (!(y = and_expr(f, depth)))
            return NULL;
        x = fnode(f, JP_SCIM_FN_OR, x, y);
    }
    return x;
}

int jp_scim_parse_filter(apr_pool_t *p, const char *text, jp_scim_filter *out, jp_scim_err *e)
{
    fparser f;
    jp_scim_filter *x;

    memset(out, 0, sizeof(*out));
    if (!text || strlen(text) > JP_SCIM_FILTER_MAX)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "the filter is longer than %d bytes",
                            JP_SCIM_FILTER_MAX);
    memset(&f, 0, sizeof(f));
    f.p = p;
    f.s = text;
    f.n = strlen(text);
    f.e = e;
    if (!(x = or_expr(&f, 0)))
        return -1;
    fskip(&f);
    if (f.i < f.n)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_FILTER, "unexpected text in filter: '%s'",
                            jp_scim_excerpt(p, text + f.i));
    *out = *x;
    return 0;
}
