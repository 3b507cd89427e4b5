/* SCIM User resources both ways: a POST or PUT body read into the few
 * columns the account table has, and an account (or a page of them, an
 * error, the discovery documents) rendered as SCIM JSON. */

#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include <jansson.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "scim.h"
#include "scim_int.h"

/* ------------------------------------------------------------------------ */
/* POST / PUT                                                                 */

int jp_scim_parse_user(apr_pool_t *p, const char *body, size_t len, jp_scim_input *in,
                       jp_scim_err *e)
{
    json_t *j = jp_scim_load(p, body, len, e), *v;
    const char *k, *dup, *display = NULL, *from_name = NULL;
    int rc = -1, has_display = 0, has_name = 0, has_formatted, found;

    memset(in, 0, sizeof(*in));
    if (!j)
        return -1;
    if (jp_scim_ci_duplicates(p, j, &dup)) {
        jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "attribute '%s' is given twice",
                     jp_scim_excerpt(p, dup));
        goto out;
    }
    if (!jp_scim_lists_schema(j, JP_SCIM_SCHEMA_USER)) {
        jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "schemas must list " JP_SCIM_SCHEMA_USER);
        goto out;
    }
    json_object_foreach(j, k, v)
    {
        jp_path path;
        const char *bare = k;
        if (!strncasecmp(k, "urn:", 4) && (bare = jp_scim_strip_core_urn(k)) && *bare == ':')
            bare++; /* a core attribute written with its schema URN */
        if (jp_scim_parse_path(p, k, &path, NULL) ||
            (path.kind != P_IGNORED && (!bare || jp_scim_attr_len(bare) != strlen(bare)))) {
            jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "unknown attribute '%s'",
                         jp_scim_excerpt(p, k));
            goto out;
        }
        switch (path.kind) {
        case P_USER_NAME:
            if (jp_scim_string_value(p, path.kind, v, &in->user_name, e))
                goto out;
            in->fields |= JP_SCIM_F_USER_NAME;
            break;
        case P_DISPLAY_NAME:
            if (jp_scim_string_value(p, path.kind, v, &display, e))
                goto out;
            has_display = 1;
            break;
        case P_NAME: {
            int hg, hf;
            if (jp_scim_name_display(p, v, &from_name, &has_formatted, e) ||
                jp_scim_name_parts(p, v, &in->given_name, &hg, &in->family_name, &hf, e))
                goto out;
            if (hg)
                in->fields |= JP_SCIM_F_GIVEN_NAME;
            if (hf)
                in->fields |= JP_SCIM_F_FAMILY_NAME;
            has_name = 1;
            break;
        }
        case P_EMAILS:
            if (jp_scim_pick_email(p, v, &in->email, &found, e))
                goto out;
            in->fields |= JP_SCIM_F_EMAIL;
            break;
        case P_ACTIVE:
            if (jp_scim_active_value(p, v, &in->active, e))
                goto out;
            in->fields |= JP_SCIM_F_ACTIVE;
            break;
        case P_EXTERNAL_ID:
            if (jp_scim_string_value(p, path.kind, v, &in->external_id, e))
                goto out;
            in->fields |= JP_SCIM_F_EXTERNAL_ID;
            break;
        case P_ID:
        case P_META:
        case P_GROUPS:
        case P_IGNORED:
            break; /* readOnly values are ignored (RFC 7644 3.5.1); the rest has no column */
        default:
            jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "unknown attribute '%s'",
                         jp_scim_excerpt(p, k));
            goto out;
        }
    }
    if (!(in->fields & JP_SCIM_F_USER_NAME)) {
        jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "userName is required");
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

int jp_scim_apply_put(apr_pool_t *p, const jp_scim_user *cur, const jp_scim_input *in,
                      jp_scim_user *next, jp_scim_err *e)
{
    *next = *cur;
    next->user_name = in->user_name;
    next->email = in->email;
    next->display_name = in->display_name;
    next->external_id = in->external_id;
    next->given_name = in->given_name;
    next->family_name = in->family_name;
    if (in->fields & JP_SCIM_F_ACTIVE)
        return jp_scim_set_active(p, next, in->active, e);
    return 0;
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
    s = jp_scim_jstr(c);
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

/* userName is required in a resource: rows made by JIT login without a
 * preferred_username claim show their email or subject instead. scim_store.c
 * filters and checks uniqueness on the same chain in SQL. */
const char *jp_scim_shown_user_name(const jp_scim_user *u)
{
    if (u->user_name && *u->user_name)
        return u->user_name;
    if (u->email && *u->email)
        return u->email;
    if (u->sub && *u->sub)
        return u->sub;
    return u->id ? u->id : "";
}

static json_t *user_json(apr_pool_t *p, const jp_scim_user *u, const char *users_url,
                         const char *delim)
{
    json_t *o = json_object(), *meta, *g;
    const char *un, *t;

    json_object_set_new(o, "schemas", json_pack("[s]", JP_SCIM_SCHEMA_USER));
    json_object_set_new(o, "id", jp_scim_jstr(u->id ? u->id : ""));
    un = jp_scim_shown_user_name(u);
    json_object_set_new(o, "userName", jp_scim_jstr(un));
    if (u->external_id && *u->external_id)
        json_object_set_new(o, "externalId", jp_scim_jstr(u->external_id));
    if (u->display_name)
        json_object_set_new(o, "displayName", jp_scim_jstr(u->display_name));
    if (u->display_name || u->given_name || u->family_name) {
        json_t *name = json_object();
        if (u->display_name)
            json_object_set_new(name, "formatted", jp_scim_jstr(u->display_name));
        if (u->given_name && *u->given_name)
            json_object_set_new(name, "givenName", jp_scim_jstr(u->given_name));
        if (u->family_name && *u->family_name)
            json_object_set_new(name, "familyName", jp_scim_jstr(u->family_name));
        json_object_set_new(o, "name", name);
    }
    if (u->email && *u->email)
        json_object_set_new(o, "emails",
                            json_pack("[{s:o,s:s,s:b}]", "value", jp_scim_jstr(u->email), "type",
                                      "work", "primary", 1));
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
        json_object_set_new(meta, "location",
                            jp_scim_jstr(apr_pstrcat(p, users_url, "/", u->id, NULL)));
    json_object_set_new(o, "meta", meta);
    return o;
}

/* ---- attributes and excludedAttributes ---- */

typedef struct {
    const char *name; /* top-level attribute */
    const char *sub;  /* sub-attribute, NULL for the whole attribute */
} attr_ref;

struct jp_scim_attrs {
    apr_array_header_t *incl; /* attr_ref; NULL: every attribute */
    apr_array_header_t *excl; /* attr_ref; NULL: none */
};

static int parse_attr_list(apr_pool_t *p, const char *param, const char *text,
                           apr_array_header_t **out, jp_scim_err *e)
{
    char *copy, *tok, *last;
    *out = NULL;
    if (!text)
        return 0;
    if (strlen(text) > JP_SCIM_FILTER_MAX)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "%s is longer than %d bytes", param,
                            JP_SCIM_FILTER_MAX);
    copy = apr_pstrdup(p, text);
    for (tok = apr_strtok(copy, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
        const char *s, *rest;
        attr_ref *ref;
        size_t n;
        char *end;
        while (*tok == ' ')
            tok++;
        for (end = tok + strlen(tok); end > tok && end[-1] == ' '; end--)
            end[-1] = '\0';
        if (!*tok)
            continue;
        if (!*out)
            *out = apr_array_make(p, 8, sizeof(attr_ref));
        s = tok;
        if (!strncasecmp(s, "urn:", 4)) {
            rest = jp_scim_strip_core_urn(s);
            if (!rest && strncasecmp(s, JP_SCIM_CORE_PREFIX, sizeof(JP_SCIM_CORE_PREFIX) - 1))
                continue; /* an extension: this service provider returns none */
            if (!rest || *rest != ':')
                goto bad;
            s = rest + 1;
        }
        if (!(n = jp_scim_attr_len(s)))
            goto bad;
        ref = apr_array_push(*out);
        ref->name = apr_pstrndup(p, s, n);
        ref->sub = NULL;
        s += n;
        if (*s == '.') {
            if (!(n = jp_scim_attr_len(s + 1)))
                goto bad;
            ref->sub = apr_pstrndup(p, s + 1, n);
            s += 1 + n;
        }
        if (*s)
            goto bad;
        continue;
    bad:
        return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "%s: '%s' is not an attribute name", param,
                            jp_scim_excerpt(p, tok));
    }
    return 0;
}

int jp_scim_parse_attrs(apr_pool_t *p, const char *attributes, const char *excluded,
                        const jp_scim_attrs **out, jp_scim_err *e)
{
    jp_scim_attrs *a = apr_pcalloc(p, sizeof(*a));
    *out = NULL;
    if (parse_attr_list(p, "attributes", attributes, &a->incl, e) ||
        parse_attr_list(p, "excludedAttributes", excluded, &a->excl, e))
        return -1;
    if (a->incl || a->excl)
        *out = a;
    return 0;
}

/* returned "always" (RFC 7643 7): no parameter removes them. */
static int always_returned(const char *k)
{
    return !strcasecmp(k, "id") || !strcasecmp(k, "schemas");
}

/* What refs say of attribute k: *whole when k itself is named, *subs when a
 * sub-attribute of k is. */
static void refs_of(const apr_array_header_t *refs, const char *k, int *whole, int *subs)
{
    int i;
    *whole = *subs = 0;
    for (i = 0; i < refs->nelts; i++) {
        const attr_ref *r = &((const attr_ref *)refs->elts)[i];
        if (strcasecmp(r->name, k))
            continue;
        if (r->sub)
            *subs = 1;
        else
            *whole = 1;
    }
}

static int sub_named(const apr_array_header_t *refs, const char *k, const char *sub)
{
    int i;
    for (i = 0; i < refs->nelts; i++) {
        const attr_ref *r = &((const attr_ref *)refs->elts)[i];
        if (r->sub && !strcasecmp(r->name, k) && !strcasecmp(r->sub, sub))
            return 1;
    }
    return 0;
}

/* Keeps (keep) or drops (!keep) the named sub-attributes of one complex
 * value; 1 when something is left. */
static int project_members(json_t *o, const apr_array_header_t *refs, const char *k, int keep)
{
    const char *m;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, m, v)
    {
        if (sub_named(refs, k, m) != keep)
            json_object_del(o, m);
    }
    return json_object_size(o) > 0;
}

/* The same over a complex attribute, single- or multi-valued; values left
 * empty go. 1 when something is left. A simple value has no sub-attributes:
 * naming one keeps nothing of it, excluding one leaves it. */
static int project_complex(json_t *v, const apr_array_header_t *refs, const char *k, int keep)
{
    size_t i;
    if (json_is_object(v))
        return project_members(v, refs, k, keep);
    if (json_is_array(v)) {
        for (i = json_array_size(v); i-- > 0;) {
            json_t *el = json_array_get(v, i);
            if (json_is_object(el) && !project_members(el, refs, k, keep))
                json_array_remove(v, i);
        }
        return json_array_size(v) > 0;
    }
    return !keep;
}

static json_t *project(json_t *o, const jp_scim_attrs *sel)
{
    const char *k;
    json_t *v;
    void *tmp;
    int whole, subs;
    if (!o || !sel)
        return o;
    json_object_foreach_safe(o, tmp, k, v)
    {
        if (always_returned(k))
            continue;
        if (sel->incl) {
            refs_of(sel->incl, k, &whole, &subs);
            if (!whole && (!subs || !project_complex(v, sel->incl, k, 1))) {
                json_object_del(o, k);
                continue;
            }
        }
        if (sel->excl) {
            refs_of(sel->excl, k, &whole, &subs);
            if (whole || (subs && !project_complex(v, sel->excl, k, 0)))
                json_object_del(o, k);
        }
    }
    return o;
}

const char *jp_scim_render_user(apr_pool_t *p, const jp_scim_user *u, const char *users_url,
                                const char *delim, const jp_scim_attrs *sel)
{
    return jp_scim_dump(p, project(user_json(p, u, users_url, delim), sel));
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
                                int64_t start, const char *users_url, const char *delim,
                                const jp_scim_attrs *sel)
{
    json_t *res = json_array();
    int i;
    for (i = 0; i < n; i++)
        json_array_append_new(res, project(user_json(p, &users[i], users_url, delim), sel));
    return jp_scim_dump(p, list_json(res, total, start < 1 ? 1 : start));
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
        json_object_set_new(o, "detail", jp_scim_jstr(e->detail));
    return jp_scim_dump(p, o);
}

/* ---- discovery documents ---- */

const char *jp_scim_render_spc(apr_pool_t *p, const char *base)
{
    return jp_scim_dump(
        p,
        json_pack("{s:[s],s:{s:b},s:{s:b,s:i,s:i},s:{s:b,s:i},s:{s:b},s:{s:b},s:{s:b},"
                  "s:[{s:s,s:s,s:s,s:b}],s:{s:s,s:o}}",
                  "schemas", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig", "patch",
                  "supported", 1, "bulk", "supported", 0, "maxOperations", 0, "maxPayloadSize", 0,
                  "filter", "supported", 1, "maxResults", JP_SCIM_PAGE_MAX, "changePassword",
                  "supported", 0, "sort", "supported", 0, "etag", "supported", 0,
                  "authenticationSchemes", "type", "oauthbearertoken", "name", "OAuth Bearer Token",
                  "description", "The bearer token set with JITProvSCIMBearerToken", "primary", 1,
                  "meta", "resourceType", "ServiceProviderConfig", "location",
                  jp_scim_jstr(apr_pstrcat(p, base, "/ServiceProviderConfig", NULL))));
}

static json_t *resource_type_user(apr_pool_t *p, const char *base)
{
    return json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:{s:s,s:o}}", "schemas",
                     "urn:ietf:params:scim:schemas:core:2.0:ResourceType", "id", "User", "name",
                     "User", "endpoint", "/Users", "description",
                     "Accounts of the application behind mod_jitprov", "schema",
                     JP_SCIM_SCHEMA_USER, "meta", "resourceType", "ResourceType", "location",
                     jp_scim_jstr(apr_pstrcat(p, base, "/ResourceTypes/User", NULL)));
}

const char *jp_scim_render_resource_types(apr_pool_t *p, const char *base, const char *name)
{
    if (name)
        return strcmp(name, "User") ? NULL : jp_scim_dump(p, resource_type_user(p, base));
    return jp_scim_dump(p, list_json(json_pack("[o]", resource_type_user(p, base)), 1, 1));
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
                        "formatted is the display name; givenName and familyName are stored; other "
                        "parts are not",
                        json_pack("[o,o,o]",
                                  attr_def("formatted", "string", 0, 0, "readWrite", "none",
                                           "Display name", NULL),
                                  attr_def("givenName", "string", 0, 0, "readWrite", "none",
                                           "Given name (given_name column)", NULL),
                                  attr_def("familyName", "string", 0, 0, "readWrite", "none",
                                           "Family name (family_name column)", NULL))));
    {
        json_t *ext = attr_def("externalId", "string", 0, 0, "readWrite", "none",
                               "The provisioning client's id for the user (external_id column); "
                               "JITProvLinkBy can link the first login by it",
                               NULL);
        json_object_set_new(ext, "caseExact", json_true());
        json_array_append_new(attrs, ext);
    }
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
                     jp_scim_jstr(apr_pstrcat(p, base, "/Schemas/" JP_SCIM_SCHEMA_USER, NULL)));
}

const char *jp_scim_render_schemas(apr_pool_t *p, const char *base, const char *name)
{
    if (name)
        return strcasecmp(name, JP_SCIM_SCHEMA_USER) ? NULL : jp_scim_dump(p, schema_user(p, base));
    return jp_scim_dump(p, list_json(json_pack("[o]", schema_user(p, base)), 1, 1));
}
