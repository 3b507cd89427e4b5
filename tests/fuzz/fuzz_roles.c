/* libFuzzer target: role mapping (roles.c) and the set comparison of sync.c on
 * arbitrary claims. The input is the claims JSON; the rules are fixed, with a
 * regex that backtracks badly. Every role produced must be on the allow-list,
 * printable and at most JP_ROLE_LEN bytes; a set is equal to itself. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "roles.h"
#include "sync.h"
#include "claims.h"

static apr_pool_t *root;
static jp_roles_cfg *cfg;

/* The compiled regexes are released with the pool (pcre2 mallocs them). */
static void done(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    atexit(done);
    apr_pool_create(&root, NULL);
    cfg = jp_roles_cfg_make(root);
    cfg->table = "user_roles";
    cfg->account_col = "user_id";
    cfg->role_col = "role";
    *(const char **)apr_array_push(cfg->allow) = "admin";
    *(const char **)apr_array_push(cfg->allow) = "member";
    *(const char **)apr_array_push(cfg->allow) = "team-a";
    if (jp_roles_add_rule(root, cfg, "admins", "admin") ||
        jp_roles_add_rule(root, cfg, "~(staff|s.*f)+", "member") ||
        jp_roles_add_rule(root, cfg, "~team-(.)", "team-$1") ||
        jp_roles_add_rule(root, cfg, "~(a|aa)+$", "member"))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    json_t *claims = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    apr_array_header_t *want, *refused;
    const char *text;
    int present, i;

    apr_pool_create(&p, root);
    if (claims && !json_is_object(claims)) {
        json_t *o = json_object();
        json_object_set_new(o, "groups", claims);
        claims = o;
    }
    want = jp_roles_wanted(p, cfg, claims, &present, &refused);
    for (i = 0; i < want->nelts; i++) {
        const char *r = ((const char **)want->elts)[i];
        size_t j, n = strlen(r);
        if (!n || n > JP_ROLE_LEN || !jp_roles_allowed(cfg, r))
            abort();
        for (j = 0; j < n; j++)
            if ((unsigned char)r[j] < 0x20 || r[j] == 0x7f)
                abort();
    }
    text = apr_pstrndup(p, (const char *)data, size);
    if (!jp_multi_set_equal(p, text, text, ",") || !jp_multi_set_equal(p, text, text, "|"))
        abort();
    json_decref(claims);
    apr_pool_destroy(p);
    return 0;
}
