/* Application roles from a claim (JITProvRoleTable, JITProvRoleClaim,
 * JITProvRoleMap, JITProvRoleAllow, JITProvRoleMissing): which role values of
 * the application a login's claims ask for. Pure logic: the SQL that grants and
 * revokes lives in the store. Regexes are PCRE2 (the syntax of httpd's own
 * regexes) without DOTALL, anchored at both ends. */
#ifndef JP_ROLES_H
#define JP_ROLES_H

#include <jansson.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define JP_ROLE_VALUES_MAX 1024 /* claim values looked at per login */
#define JP_ROLE_VALUE_LEN 1024  /* longer claim values never match */
#define JP_ROLE_LEN 255         /* longest role value */

typedef struct jp_role_rule jp_role_rule;

typedef struct jp_roles_cfg {
    /* The application's membership table: one row per (account, role). */
    const char *table, *account_col, *role_col;
    /* Optional: role_col holds the id of a row of lookup_table, whose
     * lookup_name_col is the role value the map speaks of. */
    const char *lookup_table, *lookup_id_col, *lookup_name_col;
    const char *claim;         /* JITProvRoleClaim, default "groups" */
    apr_array_header_t *rules; /* of jp_role_rule *, in directive order */
    apr_array_header_t *allow; /* of const char *: JITProvRoleAllow */
    int missing_keep;          /* JITProvRoleMissing keep (default clear) */
    const char *grants_table;  /* the module's ledger, "jitprov_grants" */
} jp_roles_cfg;

/* A fresh configuration (no table: roles off). */
jp_roles_cfg *jp_roles_cfg_make(apr_pool_t *p);

/* JITProvRoleMap MATCH ROLE: MATCH is a claim value, or ~REGEX matched against
 * the whole value; ROLE may use $1..$9 for the regex's groups. The compiled
 * regex is released with p. NULL or an error naming the directive. */
const char *jp_roles_add_rule(apr_pool_t *p, jp_roles_cfg *c, const char *match, const char *role);

/* Final check (configtest): map and allow-list present when a table is named,
 * every fixed role of the map on the allow-list, names are identifiers. */
const char *jp_roles_cfg_check(apr_pool_t *p, const jp_roles_cfg *c);

/* 1 when role is on the allow-list. */
int jp_roles_allowed(const jp_roles_cfg *c, const char *role);

/* The role values the claims ask for: every value of the claim (a string or
 * an array of strings) through every rule, on the allow-list, deduplicated and
 * sorted (an array of const char *). *present: whether the claim is in the
 * token. *refused (may be NULL) gets the roles a rule produced that are not on
 * the allow-list. Values with control characters never match. */
apr_array_header_t *jp_roles_wanted(apr_pool_t *p, const jp_roles_cfg *c, json_t *claims,
                                    int *present, apr_array_header_t **refused);

#endif
