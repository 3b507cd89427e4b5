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
 * as "activ" must not silently leave a leaver active.
 *
 * This file holds what the others share (scim_int.h): JSON and text checks,
 * and the attribute values a POST/PUT body (scim_resource.c) and a PATCH
 * (scim_patch.c) both read. Paths and filters are in scim_filter.c. */

#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <stdarg.h>

#include <jansson.h>
#include <apr_strings.h>

#include "scim.h"
#include "scim_int.h"
#include "claims.h"
#include "json.h"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                              */

int jp_scim_fail(jp_scim_err *e, apr_pool_t *p, int status, const char *type, const char *fmt, ...)
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
const char *jp_scim_excerpt(apr_pool_t *p, const char *s)
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
const char *jp_scim_dump(apr_pool_t *p, json_t *v)
{
    const char *r;
    if (!v)
        return NULL;
    r = jp_json_text(p, v, JSON_COMPACT);
    json_decref(v);
    return r;
}

/* A JSON string from database text that may not be UTF-8 (legacy tables). */
json_t *jp_scim_jstr(const char *s)
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
int jp_scim_text_ok(const char *s, size_t max)
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
int jp_scim_email_ok(const char *s)
{
    const char *at;
    size_t i;
    if (!jp_scim_text_ok(s, JP_SCIM_EMAIL_MAX))
        return 0;
    for (i = 0; s[i]; i++)
        if (s[i] == ' ')
            return 0;
    at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@');
}

/* active: a boolean, or the strings "True"/"False" Entra ID sends in PATCH. */
int jp_scim_bool(json_t *v, int *out)
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

json_t *jp_scim_load(apr_pool_t *p, const char *body, size_t len, jp_scim_err *e)
{
    json_error_t jerr;
    json_t *j;
    if (!body || len == 0)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "the request has no body"), NULL;
    if (len > JP_SCIM_BODY_MAX)
        return jp_scim_fail(e, p, 413, NULL, "the request body is larger than %d bytes",
                            JP_SCIM_BODY_MAX),
               NULL;
    j = jp_json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "the body is not valid JSON (line %d: %s)",
                            jerr.line, jp_scim_excerpt(p, jerr.text)),
               NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "the body must be a JSON object"), NULL;
    }
    return j;
}

/* Member of o by case-insensitive name (SCIM attribute names are). */
json_t *jp_scim_get(json_t *o, const char *name)
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
int jp_scim_lists_schema(json_t *o, const char *urn)
{
    json_t *s = jp_scim_get(o, "schemas"), *v;
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
int jp_scim_ci_duplicates(apr_pool_t *p, json_t *o, const char **which)
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
/* Values                                                                     */

/* A string attribute of 1 to max bytes; when nullable, null and "" clear it
 * (*out NULL). what names it in errors. */
static int string_attr(apr_pool_t *p, json_t *v, const char *what, size_t max, int nullable,
                       const char **out, jp_scim_err *e)
{
    if (nullable && json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "%s must be a string", what);
    if (nullable && json_string_length(v) == 0) {
        *out = NULL; /* "" clears, as Entra ID sends for an emptied attribute */
        return 0;
    }
    if (!jp_scim_text_ok(json_string_value(v), max))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE,
                            "%s must be 1 to %lu bytes without control characters", what,
                            (unsigned long)max);
    *out = apr_pstrdup(p, json_string_value(v));
    return 0;
}

int jp_scim_string_value(apr_pool_t *p, path_kind kind, json_t *v, const char **out, jp_scim_err *e)
{
    switch (kind) {
    case P_USER_NAME:
        if (!json_is_string(v) || json_string_length(v) == 0)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "userName must be a non-empty string");
        return string_attr(p, v, "userName", JP_SCIM_VALUE_MAX, 0, out, e);
    case P_DISPLAY_NAME:
        return string_attr(p, v, "displayName", JP_SCIM_VALUE_MAX, 1, out, e);
    case P_NAME_FORMATTED:
        return string_attr(p, v, "name.formatted", JP_SCIM_VALUE_MAX, 1, out, e);
    case P_GIVEN_NAME:
        return string_attr(p, v, "name.givenName", JP_SCIM_VALUE_MAX, 1, out, e);
    case P_FAMILY_NAME:
        return string_attr(p, v, "name.familyName", JP_SCIM_VALUE_MAX, 1, out, e);
    default:
        return string_attr(p, v, "externalId", JP_SCIM_VALUE_MAX, 1, out, e);
    }
}

int jp_scim_active_value(apr_pool_t *p, json_t *v, int *out, jp_scim_err *e)
{
    if (jp_scim_bool(v, out))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "active must be true or false");
    return 0;
}

/* An address given as a value (a string that email linking can compare). */
static int email_value(apr_pool_t *p, json_t *v, jp_scim_err *e)
{
    if (!json_is_string(v) || !jp_scim_email_ok(json_string_value(v)))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "'%s' is not a valid email address",
                            json_is_string(v) ? jp_scim_excerpt(p, json_string_value(v))
                                              : "(not a string)");
    return 0;
}

int jp_scim_email_string(apr_pool_t *p, json_t *v, const char **out, jp_scim_err *e)
{
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        *out = NULL;
        return 0;
    }
    if (email_value(p, v, e))
        return -1;
    *out = apr_pstrdup(p, json_string_value(v));
    return 0;
}

/* The address of a multi-valued emails value (array, or one object): the
 * primary entry, else type "work", else the first. *found 0 when the value has
 * no entry with an address. */
int jp_scim_pick_email(apr_pool_t *p, json_t *v, const char **out, int *found, jp_scim_err *e)
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
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "emails must be an array of objects");
    }
    for (i = 0; i < n; i++) {
        json_t *pv, *tv, *vv;
        int prim = 0;
        ent = json_is_object(v) ? one[0] : json_array_get(v, i);
        if (!json_is_object(ent))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "emails must be an array of objects");
        vv = jp_scim_get(ent, "value");
        if (!vv || json_is_null(vv))
            continue;
        if (email_value(p, vv, e))
            return -1;
        pv = jp_scim_get(ent, "primary");
        tv = jp_scim_get(ent, "type");
        if (pv && jp_scim_bool(pv, &prim))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "emails.primary must be a boolean");
        if (tv && !json_is_string(tv) && !json_is_null(tv))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "emails.type must be a string");
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
int jp_scim_name_display(apr_pool_t *p, json_t *name, const char **out, int *has_formatted,
                         jp_scim_err *e)
{
    json_t *f, *g, *fam;
    const char *gs = NULL, *fs = NULL;
    *out = NULL;
    *has_formatted = 0;
    if (json_is_null(name))
        return 0;
    if (!json_is_object(name))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "name must be an object");
    if ((f = jp_scim_get(name, "formatted"))) {
        *has_formatted = 1;
        return string_attr(p, f, "name.formatted", JP_SCIM_VALUE_MAX, 1, out, e);
    }
    g = jp_scim_get(name, "givenName");
    fam = jp_scim_get(name, "familyName");
    if ((g && string_attr(p, g, "name.givenName", JP_SCIM_VALUE_MAX, 1, &gs, e)) ||
        (fam && string_attr(p, fam, "name.familyName", JP_SCIM_VALUE_MAX, 1, &fs, e)))
        return -1;
    if (gs && fs)
        *out = apr_pstrcat(p, gs, " ", fs, NULL);
    else
        *out = gs ? gs : fs;
    if (*out && strlen(*out) > JP_SCIM_VALUE_MAX)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "name is longer than %d bytes",
                            JP_SCIM_VALUE_MAX);
    return 0;
}

int jp_scim_name_parts(apr_pool_t *p, json_t *name, const char **given, int *has_given,
                       const char **family, int *has_family, jp_scim_err *e)
{
    json_t *g, *f;
    *given = *family = NULL;
    *has_given = *has_family = json_is_null(name);
    if (json_is_null(name))
        return 0;
    if (!json_is_object(name))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "name must be an object");
    if ((g = jp_scim_get(name, "givenName"))) {
        *has_given = 1;
        if (jp_scim_string_value(p, P_GIVEN_NAME, g, given, e))
            return -1;
    }
    if ((f = jp_scim_get(name, "familyName"))) {
        *has_family = 1;
        if (jp_scim_string_value(p, P_FAMILY_NAME, f, family, e))
            return -1;
    }
    return 0;
}

int jp_scim_set_active(apr_pool_t *p, jp_scim_user *next, int active, jp_scim_err *e)
{
    if (!next->status) {
        if (active)
            return 0; /* every row of a table without a status column is active */
        return jp_scim_fail(
            e, p, 501, NULL,
            "the account table has no status column (JITProvAccountColumn status), so "
            "an account cannot be deactivated here");
    }
    next->status = active ? "active" : "disabled";
    return 0;
}
