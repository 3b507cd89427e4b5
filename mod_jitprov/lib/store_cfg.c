/* The account table as configured: defaults, the checks that make every
 * table and column name safe to become SQL text, and the shape that the
 * statements of store_*.c are built from (which columns exist, which claims
 * feed them). */

#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "store.h"
#include "store_sql.h"

static const char *const role_name[JP_COL__COUNT] = {
    "id",     "iss",         "sub",        "username",   "email",         "display_name",
    "groups", "status",      "created_at", "updated_at", "last_login_at", "login_count",
    "source", "external_id", "given_name", "family_name"};

/* The roles added after 0.1: an application's own table has them only when
 * JITProvAccountColumn names them (jp_store_cfg_finish). */
static int role_is_new(int r)
{
    return r == JP_COL_EXTERNAL_ID || r == JP_COL_GIVEN_NAME || r == JP_COL_FAMILY_NAME;
}

/* Roles the module writes itself: never a JITProvMapClaim target, or a claim
 * could set its own status or identity. */
static int role_is_managed(int r)
{
    return r == JP_COL_ID || r == JP_COL_ISS || r == JP_COL_SUB || r == JP_COL_STATUS ||
           r == JP_COL_CREATED_AT || r == JP_COL_UPDATED_AT || r == JP_COL_LAST_LOGIN_AT ||
           r == JP_COL_LOGIN_COUNT || r == JP_COL_SOURCE ||
           /* the IdP's id for the user comes from SCIM only: JITProvLinkBy trusts it */
           r == JP_COL_EXTERNAL_ID;
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

void jp_store_cfg_init(apr_pool_t *p, jp_store_cfg *c)
{
    int i;
    memset(c, 0, sizeof(*c));
    c->table = "jitprov_accounts";
    c->audit_table = "jitprov_audit";
    for (i = 0; i < JP_COL__COUNT; i++)
        c->col[i] = role_name[i];
    c->map = apr_array_make(p, 4, sizeof(jp_claim_map));
    c->create = 1;
    c->update = 1;
    c->link_by_email = 0;
    c->new_status = "active";
    c->account_key = "sub";
    c->delim = ",";
    c->link_by = -1;
}

void jp_store_cfg_finish(jp_store_cfg *c)
{
    int r;
    if (!c->table || !strcasecmp(c->table, "jitprov_accounts"))
        return;
    for (r = 0; r < JP_COL__COUNT; r++)
        if (role_is_new(r) && !(c->col_set & (1u << r)))
            c->col[r] = NULL;
}

int jp_store_link_role(const char *scim_attr)
{
    if (scim_attr && !strcasecmp(scim_attr, "externalId"))
        return JP_COL_EXTERNAL_ID;
    if (scim_attr && !strcasecmp(scim_attr, "userName"))
        return JP_COL_USERNAME;
    return -1;
}

int jp_store_role_from_name(const char *name)
{
    int i;
    if (!name)
        return -1;
    for (i = 0; i < JP_COL__COUNT; i++)
        if (!strcmp(name, role_name[i]))
            return i;
    return -1;
}

/* Words reserved in SQLite or PostgreSQL that a sysadmin might plausibly pick as
 * a table or column name; unquoted they would only fail at the first login. */
static const char *const reserved[] = {
    "all",        "alter",        "and",       "as",      "asc",          "between",
    "by",         "case",         "check",     "column",  "constraint",   "create",
    "cross",      "current_user", "default",   "delete",  "desc",         "distinct",
    "drop",       "else",         "end",       "except",  "exists",       "foreign",
    "from",       "full",         "group",     "having",  "in",           "index",
    "inner",      "insert",       "intersect", "into",    "is",           "join",
    "left",       "like",         "limit",     "natural", "not",          "null",
    "offset",     "on",           "or",        "order",   "outer",        "primary",
    "references", "returning",    "right",     "select",  "session_user", "set",
    "table",      "then",         "to",        "union",   "unique",       "update",
    "user",       "using",        "values",    "when",    "where",        "with",
    NULL};

static int ident_part_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || n > 63)
        return 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return 0;
    }
    for (i = 0; reserved[i]; i++)
        if (strlen(reserved[i]) == n && !strncasecmp(reserved[i], s, n))
            return 0;
    return 1;
}

int jp_store_ident_ok(const char *s)
{
    const char *dot;
    if (!s)
        return 0;
    dot = strchr(s, '.');
    if (!dot)
        return ident_part_ok(s, strlen(s));
    return ident_part_ok(s, (size_t)(dot - s)) && ident_part_ok(dot + 1, strlen(dot + 1));
}

/* A column name may not carry a schema prefix. */
static int col_ok(const char *s)
{
    return s && !strchr(s, '.') && jp_store_ident_ok(s);
}

const char *jp_store_cfg_check(apr_pool_t *p, const jp_store_cfg *c)
{
    int i, j;
    const jp_claim_map *m = c->map ? (const jp_claim_map *)c->map->elts : NULL;
    int nmap = c->map ? c->map->nelts : 0;

    if (!jp_store_ident_ok(c->table))
        return apr_psprintf(p, "JITProvAccountTable: '%s' is not a valid SQL identifier",
                            c->table ? c->table : "");
    if (!c->audit_table)
        return "JITProvAuditTable: not set";
    if (*c->audit_table) {
        if (!jp_store_ident_ok(c->audit_table))
            return apr_psprintf(p, "JITProvAuditTable: '%s' is not a valid SQL identifier",
                                c->audit_table);
        if (!strcasecmp(c->audit_table, c->table))
            return "JITProvAuditTable: must differ from JITProvAccountTable";
    }
    for (i = 0; i < JP_COL__COUNT; i++) {
        if (!c->col[i])
            continue;
        if (!col_ok(c->col[i]))
            return apr_psprintf(p, "JITProvAccountColumn %s: '%s' is not a valid column name",
                                role_name[i], c->col[i]);
        for (j = 0; j < i; j++)
            if (c->col[j] && !strcasecmp(c->col[i], c->col[j]))
                return apr_psprintf(p, "JITProvAccountColumn: roles %s and %s both use column '%s'",
                                    role_name[j], role_name[i], c->col[i]);
    }
    if (!c->col[JP_COL_ID] || !c->col[JP_COL_SUB])
        return "JITProvAccountColumn: the id and sub roles need a column";
    if (nmap > JP_MAP_MAX)
        return apr_psprintf(p, "JITProvMapClaim: at most %d mappings", JP_MAP_MAX);
    for (i = 0; i < nmap; i++) {
        if (!m[i].claim || !*m[i].claim || strlen(m[i].claim) > 255)
            return "JITProvMapClaim: bad claim name";
        if (!col_ok(m[i].column))
            return apr_psprintf(p, "JITProvMapClaim: '%s' is not a valid column name",
                                m[i].column ? m[i].column : "");
        for (j = 0; j < JP_COL__COUNT; j++)
            if (c->col[j] && role_is_managed(j) && !strcasecmp(c->col[j], m[i].column))
                return apr_psprintf(p,
                                    "JITProvMapClaim %s %s: column '%s' holds the %s role, "
                                    "which mod_jitprov manages itself",
                                    m[i].claim, m[i].column, m[i].column, role_name[j]);
    }
    if (!c->new_status || (strcmp(c->new_status, "active") && strcmp(c->new_status, "pending")))
        return "JITProvNewAccountStatus must be active or pending";
    if (!strcmp(c->new_status, "pending") && !c->col[JP_COL_STATUS])
        return "JITProvNewAccountStatus pending needs a status column (JITProvAccountColumn "
               "status)";
    if (c->link_by_email && !c->col[JP_COL_EMAIL])
        return "JITProvLinkByEmail On needs an email column (JITProvAccountColumn email)";
    if (!c->account_key || !*c->account_key || strlen(c->account_key) > 255)
        return "JITProvAccountKey: bad claim name";
    if (c->link_by >= 0) {
        if (c->link_by != JP_COL_EXTERNAL_ID && c->link_by != JP_COL_USERNAME)
            return "JITProvLinkBy: the attribute must be externalId or userName";
        if (!c->col[c->link_by])
            return apr_psprintf(p, "JITProvLinkBy %s needs a %s column (JITProvAccountColumn %s)",
                                c->link_by == JP_COL_USERNAME ? "userName" : "externalId",
                                role_name[c->link_by], role_name[c->link_by]);
        if (!c->link_claim || !*c->link_claim || strlen(c->link_claim) > 255)
            return "JITProvLinkBy: bad claim name";
    }
    if (c->collision == JP_COLLISION_SUFFIX && !c->col[JP_COL_USERNAME])
        return "JITProvCollision suffix needs a username column (JITProvAccountColumn username)";
    return jp_roles_cfg_check(p, c->roles);
}

/* ------------------------------------------------------------------------ */
/* The shape of the account table: which columns exist, which claims feed them */

static int shape_find(const jp_shape *sh, const char *name)
{
    int i;
    for (i = 0; i < sh->ncols; i++)
        if (!strcasecmp(sh->col[i], name))
            return i;
    return -1;
}

static void shape_map(jp_shape *sh, const char *claim, int ci, int sync)
{
    int i;
    for (i = 0; i < sh->nmap; i++)
        if (sh->map_col[i] == ci) {
            sh->map_claim[i] = claim; /* the last mapping of a column wins */
            sh->map_sync[i] = sync;
            return;
        }
    sh->map_claim[sh->nmap] = claim;
    sh->map_sync[sh->nmap] = sync;
    sh->map_col[sh->nmap++] = ci;
}

void jp_shape_build(apr_pool_t *p, const jp_store_cfg *c, jp_shape *sh)
{
    static const struct {
        int role;
        const char *claim;
    } defaults[] = {{JP_COL_USERNAME, "preferred_username"}, {JP_COL_EMAIL, "email"},
                    {JP_COL_DISPLAY_NAME, "name"},           {JP_COL_GROUPS, "groups"},
                    {JP_COL_GIVEN_NAME, "given_name"},       {JP_COL_FAMILY_NAME, "family_name"}};
    const jp_claim_map *m = c->map ? (const jp_claim_map *)c->map->elts : NULL;
    int nmap = c->map ? c->map->nelts : 0;
    apr_array_header_t *parts;
    int i, ci;

    memset(sh, 0, sizeof(*sh));
    for (i = 0; i < JP_COL__COUNT; i++) {
        sh->role[i] = -1;
        if (!c->col[i])
            continue;
        ci = shape_find(sh, c->col[i]);
        if (ci < 0) {
            ci = sh->ncols;
            sh->col[sh->ncols++] = c->col[i];
        }
        sh->role[i] = ci;
    }
    for (i = 0; i < (int)(sizeof(defaults) / sizeof(defaults[0])); i++)
        if (sh->role[defaults[i].role] >= 0)
            shape_map(sh, defaults[i].claim, sh->role[defaults[i].role], JP_SYNC_DEFAULT);
    for (i = 0; i < nmap && i < JP_MAP_MAX; i++) {
        int r, managed = 0;
        if (!m[i].claim || !col_ok(m[i].column))
            continue;
        for (r = 0; r < JP_COL__COUNT; r++)
            if (c->col[r] && role_is_managed(r) && !strcasecmp(c->col[r], m[i].column))
                managed = 1;
        if (managed)
            continue; /* refused by jp_store_cfg_check; never written */
        ci = shape_find(sh, m[i].column);
        if (ci < 0) {
            ci = sh->ncols;
            sh->col[sh->ncols++] = m[i].column;
        }
        shape_map(sh, m[i].claim, ci, m[i].sync);
    }
    parts = apr_array_make(p, sh->ncols, sizeof(const char *));
    for (i = 0; i < sh->ncols; i++)
        *(const char **)apr_array_push(parts) = sh->col[i];
    sh->list = apr_array_pstrcat(p, parts, ',');
}

const char *jp_store_cfg_seal(apr_pool_t *p, jp_store_cfg *c)
{
    jp_shape *sh;
    const char *bad = jp_store_cfg_check(p, c);
    c->shape = NULL;
    if (bad)
        return bad;
    sh = apr_palloc(p, sizeof(*sh));
    jp_shape_build(p, c, sh);
    c->shape = sh;
    return NULL;
}
