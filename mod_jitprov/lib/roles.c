/* Application roles from a claim: the mapping half (see roles.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

#include "roles.h"

struct jp_role_rule {
    const char *match; /* exact value, or the regex text without its "~" */
    const char *role;
    pcre2_code *re; /* NULL for an exact match */
    int subst;      /* role uses $1..$9 */
};

/* Backtracking cap per match: a pathological pattern fails (no role) instead
 * of holding a worker. */
#define JP_ROLE_MATCH_LIMIT 100000

static apr_status_t free_code(void *re)
{
    pcre2_code_free((pcre2_code *)re);
    return APR_SUCCESS;
}

jp_roles_cfg *jp_roles_cfg_make(apr_pool_t *p)
{
    jp_roles_cfg *c = apr_pcalloc(p, sizeof(*c));
    c->claim = "groups";
    c->rules = apr_array_make(p, 4, sizeof(jp_role_rule *));
    c->allow = apr_array_make(p, 4, sizeof(const char *));
    c->grants_table = "jitprov_grants";
    return c;
}

static int has_ctl(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* A role value: printable, at most JP_ROLE_LEN bytes. */
static int role_ok(const char *r)
{
    return r && *r && strlen(r) <= JP_ROLE_LEN && !has_ctl(r, strlen(r));
}

const char *jp_roles_add_rule(apr_pool_t *p, jp_roles_cfg *c, const char *match, const char *role)
{
    jp_role_rule *rule = apr_pcalloc(p, sizeof(*rule));
    const char *d;

    if (!match || !*match || strlen(match) > JP_ROLE_VALUE_LEN)
        return "JITProvRoleMap: empty or too long claim value";
    if (!role_ok(role))
        return "JITProvRoleMap: the role must be 1-255 printable characters";
    rule->role = role;
    for (d = strchr(role, '$'); d; d = strchr(d + 1, '$'))
        if (d[1] >= '1' && d[1] <= '9')
            rule->subst = 1;
    if (match[0] == '~') {
        int ec;
        PCRE2_SIZE off;
        /* No DOTALL, no multiline: "." never matches a line break and the
         * whole value must match, so "~admin" does not admit "not-admin". */
        rule->re = pcre2_compile((PCRE2_SPTR)(match + 1), PCRE2_ZERO_TERMINATED,
                                 PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &off, NULL);
        if (!rule->re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            return apr_psprintf(p, "JITProvRoleMap: bad regex '%s' at offset %d: %s", match + 1,
                                (int)off, (const char *)msg);
        }
        apr_pool_cleanup_register(p, rule->re, free_code, apr_pool_cleanup_null);
        rule->match = match + 1;
    } else {
        if (rule->subst)
            return "JITProvRoleMap: $1..$9 in the role need a ~regex";
        rule->match = match;
    }
    *(jp_role_rule **)apr_array_push(c->rules) = rule;
    return NULL;
}

int jp_roles_allowed(const jp_roles_cfg *c, const char *role)
{
    int i;
    for (i = 0; c->allow && i < c->allow->nelts; i++)
        if (!strcmp(((const char **)c->allow->elts)[i], role))
            return 1;
    return 0;
}

static int ident_ok(const char *s)
{
    size_t i, n = s ? strlen(s) : 0;
    if (!n || n > 63 ||
        !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

const char *jp_roles_cfg_check(apr_pool_t *p, const jp_roles_cfg *c)
{
    int i;
    if (!c || !c->table) {
        if (c && (c->rules->nelts || c->allow->nelts))
            return "JITProvRoleMap/JITProvRoleAllow need JITProvRoleTable";
        return NULL;
    }
    if (!ident_ok(c->account_col) || !ident_ok(c->role_col) ||
        (c->lookup_table && (!ident_ok(c->lookup_id_col) || !ident_ok(c->lookup_name_col))))
        return "JITProvRoleTable: column names must be plain SQL identifiers";
    if (!c->rules->nelts)
        return "JITProvRoleTable needs at least one JITProvRoleMap";
    if (!c->allow->nelts)
        return "JITProvRoleTable needs JITProvRoleAllow: the roles the identity provider may "
               "grant";
    for (i = 0; i < c->rules->nelts; i++) {
        const jp_role_rule *r = ((jp_role_rule **)c->rules->elts)[i];
        if (!r->subst && !jp_roles_allowed(c, r->role))
            return apr_psprintf(p, "JITProvRoleMap %s%s %s: role '%s' is not on JITProvRoleAllow",
                                r->re ? "~" : "", r->match, r->role, r->role);
    }
    if (!c->claim || !*c->claim || strlen(c->claim) > 255)
        return "JITProvRoleClaim: bad claim name";
    return NULL;
}

/* The role of rule for a regex match: $1..$9 replaced by the groups. NULL when
 * a group is unset or the result is not a valid role. */
static const char *expand(apr_pool_t *p, const jp_role_rule *r, const char *v, pcre2_match_data *md,
                          int rc)
{
    PCRE2_SIZE *ov;
    const char *s;
    char *out;
    size_t n = 0, cap;

    if (!r->subst)
        return r->role;
    ov = pcre2_get_ovector_pointer(md);
    cap = JP_ROLE_LEN + 1;
    out = apr_palloc(p, cap + 1);
    for (s = r->role; *s; s++) {
        if (s[0] == '$' && s[1] >= '1' && s[1] <= '9') {
            int g = s[1] - '0';
            size_t a, b;
            if (g >= rc || ov[2 * g] == PCRE2_UNSET)
                return NULL;
            a = ov[2 * g];
            b = ov[2 * g + 1];
            if (n + (b - a) > cap)
                return NULL;
            memcpy(out + n, v + a, b - a);
            n += b - a;
            s++;
            continue;
        }
        if (n + 1 > cap)
            return NULL;
        out[n++] = *s;
    }
    out[n] = '\0';
    return role_ok(out) ? out : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, deduplicated copy of a string array. */
static apr_array_header_t *uniq(apr_pool_t *p, apr_array_header_t *a)
{
    apr_array_header_t *o = apr_array_make(p, a->nelts ? a->nelts : 1, sizeof(const char *));
    int i;
    qsort(a->elts, a->nelts, sizeof(const char *), cmp_str);
    for (i = 0; i < a->nelts; i++) {
        const char *s = ((const char **)a->elts)[i];
        if (o->nelts && !strcmp(((const char **)o->elts)[o->nelts - 1], s))
            continue;
        *(const char **)apr_array_push(o) = s;
    }
    return o;
}

/* The claim by name, or by dotted path when no top-level claim has the name. */
static json_t *lookup(apr_pool_t *p, json_t *claims, const char *path)
{
    json_t *v;
    char *copy, *seg, *last;
    if (!json_is_object(claims))
        return NULL;
    if ((v = json_object_get(claims, path)) || !strchr(path, '.'))
        return v;
    copy = apr_pstrdup(p, path);
    v = claims;
    for (seg = apr_strtok(copy, ".", &last); seg && v; seg = apr_strtok(NULL, ".", &last))
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
    return v == claims ? NULL : v;
}

static void map_value(apr_pool_t *p, const jp_roles_cfg *c, const char *v, size_t n,
                      pcre2_match_data *md, pcre2_match_context *mc, apr_array_header_t *want,
                      apr_array_header_t *refused)
{
    int i;
    if (!n || n > JP_ROLE_VALUE_LEN || has_ctl(v, n))
        return;
    for (i = 0; i < c->rules->nelts; i++) {
        const jp_role_rule *r = ((jp_role_rule **)c->rules->elts)[i];
        const char *role = NULL;
        if (!r->re) {
            if (strlen(r->match) == n && !memcmp(r->match, v, n))
                role = r->role;
        } else {
            int rc = pcre2_match(r->re, (PCRE2_SPTR)v, n, 0, 0, md, mc);
            if (rc > 0)
                role = expand(p, r, v, md, rc);
        }
        if (!role)
            continue;
        if (jp_roles_allowed(c, role))
            *(const char **)apr_array_push(want) = role;
        else if (refused)
            *(const char **)apr_array_push(refused) = role;
    }
}

apr_array_header_t *jp_roles_wanted(apr_pool_t *p, const jp_roles_cfg *c, json_t *claims,
                                    int *present, apr_array_header_t **refused)
{
    apr_array_header_t *want = apr_array_make(p, 4, sizeof(const char *));
    apr_array_header_t *ref = apr_array_make(p, 1, sizeof(const char *));
    json_t *v = lookup(p, claims, c->claim);
    pcre2_match_data *md;
    pcre2_match_context *mc;

    *present = v != NULL && !json_is_null(v);
    if (refused)
        *refused = ref;
    if (!*present)
        return want;
    md = pcre2_match_data_create(10, NULL);
    mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        /* Out of memory: no role rather than a guess. */
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return want;
    }
    pcre2_set_match_limit(mc, JP_ROLE_MATCH_LIMIT);
    if (json_is_string(v)) {
        map_value(p, c, json_string_value(v), json_string_length(v), md, mc, want, ref);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (i >= JP_ROLE_VALUES_MAX)
                break;
            if (json_is_string(e))
                map_value(p, c, json_string_value(e), json_string_length(e), md, mc, want, ref);
        }
    }
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    if (refused)
        *refused = uniq(p, ref);
    return uniq(p, want);
}
