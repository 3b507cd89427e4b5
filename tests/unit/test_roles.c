/* Role mapping (roles.c) and per-column sync policy (sync.c). */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

#include "roles.h"
#include "sync.h"
#include "claims.h"
#include "jtest.h"

static const char *joined(apr_pool_t *p, apr_array_header_t *a)
{
    return apr_array_pstrcat(p, a, ',');
}

static jp_roles_cfg *cfg(apr_pool_t *p)
{
    jp_roles_cfg *c = jp_roles_cfg_make(p);
    c->table = "user_roles";
    c->account_col = "user_id";
    c->role_col = "role";
    *(const char **)apr_array_push(c->allow) = "admin";
    *(const char **)apr_array_push(c->allow) = "member";
    *(const char **)apr_array_push(c->allow) = "team-blue";
    CHECK(jp_roles_add_rule(p, c, "admins", "admin") == NULL);
    CHECK(jp_roles_add_rule(p, c, "~staff|contractors", "member") == NULL);
    CHECK(jp_roles_add_rule(p, c, "~team-(.+)", "team-$1") == NULL);
    return c;
}

static apr_array_header_t *wanted(apr_pool_t *p, jp_roles_cfg *c, const char *json, int *present,
                                  apr_array_header_t **refused)
{
    json_t *claims = json_loads(json, 0, NULL);
    apr_array_header_t *w = jp_roles_wanted(p, c, claims, present, refused);
    json_decref(claims);
    return w;
}

static void test_map(apr_pool_t *p)
{
    jp_roles_cfg *c = cfg(p);
    apr_array_header_t *ref;
    int present;

    CHECK(jp_roles_cfg_check(p, c) == NULL);
    CHECK_STR(joined(p, wanted(p, c, "{\"groups\":[\"staff\",\"admins\"]}", &present, &ref)),
              "admin,member");
    CHECK(present);
    /* Order and repeats in the claim do not matter. */
    CHECK_STR(
        joined(p, wanted(p, c, "{\"groups\":[\"admins\",\"staff\",\"staff\"]}", &present, NULL)),
        "admin,member");
    /* A single string claim. */
    CHECK_STR(joined(p, wanted(p, c, "{\"groups\":\"contractors\"}", &present, NULL)), "member");
    /* Anchored at both ends: no partial matches. */
    CHECK_STR(joined(p, wanted(p, c, "{\"groups\":[\"not-staff\",\"staffing\",\"xadmins\"]}",
                               &present, NULL)),
              "");
    /* No DOTALL, no multiline: a line break never sneaks a value through. */
    CHECK_STR(
        joined(p, wanted(p, c, "{\"groups\":[\"evil\\nstaff\",\"staff\\n\"]}", &present, NULL)),
        "");
    /* Substitution, and the allow-list: team-red is produced but not allowed. */
    CHECK_STR(joined(p, wanted(p, c, "{\"groups\":[\"team-blue\",\"team-red\"]}", &present, &ref)),
              "team-blue");
    CHECK_STR(joined(p, ref), "team-red");
    /* Absent claim, null claim, non-strings. */
    CHECK(wanted(p, c, "{\"email\":\"x\"}", &present, NULL)->nelts == 0);
    CHECK(!present);
    CHECK(wanted(p, c, "{\"groups\":null}", &present, NULL)->nelts == 0);
    CHECK(!present);
    CHECK(wanted(p, c, "{\"groups\":[1,true,{\"a\":\"admins\"}]}", &present, NULL)->nelts == 0);
    CHECK(present);
    /* Dotted claim path. */
    c->claim = "realm_access.roles";
    CHECK_STR(
        joined(p, wanted(p, c, "{\"realm_access\":{\"roles\":[\"admins\"]}}", &present, NULL)),
        "admin");
}

static void test_check(apr_pool_t *p)
{
    jp_roles_cfg *c = jp_roles_cfg_make(p);
    CHECK(jp_roles_cfg_check(p, c) == NULL); /* roles off */
    CHECK(jp_roles_add_rule(p, c, "~(unclosed", "x") != NULL);
    CHECK(jp_roles_add_rule(p, c, "admins", "$1") != NULL);
    CHECK(jp_roles_add_rule(p, c, "admins", "") != NULL);
    CHECK(jp_roles_add_rule(p, c, "admins", "a\nb") != NULL);
    CHECK(jp_roles_add_rule(p, c, "admins", "admin") == NULL);
    CHECK(jp_roles_cfg_check(p, c) != NULL); /* a map without a table */
    c->table = "user_roles";
    c->account_col = "user_id";
    c->role_col = "role";
    CHECK(strstr(jp_roles_cfg_check(p, c), "JITProvRoleAllow") != NULL);
    *(const char **)apr_array_push(c->allow) = "member";
    CHECK(strstr(jp_roles_cfg_check(p, c), "'admin' is not on JITProvRoleAllow") != NULL);
    *(const char **)apr_array_push(c->allow) = "admin";
    CHECK(jp_roles_cfg_check(p, c) == NULL);
    c->role_col = "role; drop";
    CHECK(jp_roles_cfg_check(p, c) != NULL);
}

static void test_redos(apr_pool_t *p)
{
    jp_roles_cfg *c = jp_roles_cfg_make(p);
    char big[200], json[300];
    int present;
    c->table = "t";
    c->account_col = "a";
    c->role_col = "r";
    *(const char **)apr_array_push(c->allow) = "x";
    CHECK(jp_roles_add_rule(p, c, "~(a+)+b", "x") == NULL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(json, sizeof(json), "{\"groups\":[\"%s\"]}", big);
    /* The match limit ends it: no role, and quickly. */
    CHECK(wanted(p, c, json, &present, NULL)->nelts == 0);
}

static void test_sync(apr_pool_t *p)
{
    CHECK(jp_sync_from_name("always") == JP_SYNC_ALWAYS);
    CHECK(jp_sync_from_name("create") == JP_SYNC_CREATE);
    CHECK(jp_sync_from_name("present") == JP_SYNC_PRESENT);
    CHECK(jp_sync_from_name("never") == JP_SYNC_NEVER);
    CHECK(jp_sync_from_name("sometimes") == -1);
    CHECK(jp_sync_effective(JP_SYNC_DEFAULT, 1, 0) == JP_SYNC_PRESENT);
    CHECK(jp_sync_effective(JP_SYNC_DEFAULT, 1, 1) == JP_SYNC_ALWAYS);
    CHECK(jp_sync_effective(JP_SYNC_DEFAULT, 0, 1) == JP_SYNC_CREATE);
    CHECK(jp_sync_effective(JP_SYNC_NEVER, 1, 0) == JP_SYNC_NEVER);

    CHECK(jp_multi_set_equal(p, "a,b,c", "c,a,b", ","));
    CHECK(jp_multi_set_equal(p, "a,b,b", "b,a", ","));
    CHECK(!jp_multi_set_equal(p, "a,b", "a,b,c", ","));
    CHECK(jp_multi_set_equal(p, "", "", ","));
    CHECK(!jp_multi_set_equal(p, "", "a", ","));
    CHECK(jp_multi_set_equal(p, "x|y", "y|x", "|"));

    CHECK_STR(jp_sync_update_value(p, JP_SYNC_ALWAYS, "old", "new", 0, ","), "new");
    CHECK(jp_sync_update_value(p, JP_SYNC_ALWAYS, "same", "same", 0, ",") == NULL);
    CHECK_STR(jp_sync_update_value(p, JP_SYNC_ALWAYS, "old", NULL, 0, ","), "");
    CHECK(jp_sync_update_value(p, JP_SYNC_ALWAYS, "", NULL, 0, ",") == NULL);
    CHECK(jp_sync_update_value(p, JP_SYNC_PRESENT, "old", NULL, 0, ",") == NULL);
    CHECK_STR(jp_sync_update_value(p, JP_SYNC_PRESENT, "old", "new", 0, ","), "new");
    CHECK(jp_sync_update_value(p, JP_SYNC_CREATE, "old", "new", 0, ",") == NULL);
    CHECK(jp_sync_update_value(p, JP_SYNC_NEVER, "old", "new", 0, ",") == NULL);
    /* A reordered multi-valued claim is no change; a text value is compared as text. */
    CHECK(jp_sync_update_value(p, JP_SYNC_ALWAYS, "staff,admins", "admins,staff", 1, ",") == NULL);
    CHECK_STR(jp_sync_update_value(p, JP_SYNC_ALWAYS, "staff,admins", "admins,staff", 0, ","),
              "admins,staff");
    CHECK_STR(jp_sync_update_value(p, JP_SYNC_PRESENT, NULL, "v", 0, ","), "v");
}

int main(void)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_map(p);
    test_check(p);
    test_redos(p);
    test_sync(p);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
