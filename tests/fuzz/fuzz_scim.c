/* libFuzzer target for the SCIM request parsers (scim.c). The first byte picks
 * what the rest is:
 *   0: a POST/PUT body: parsed, applied to a sample account, rendered;
 *   1: a PATCH body: parsed, applied to an account with and without a status
 *      column, rendered;
 *   2: a filter expression (the ?filter= value);
 *   3: database text: NUL-separated user name, email, display name and groups
 *      column rendered as a resource (legacy tables hold any bytes).
 * Every JSON answer must parse back.
 * Sources: tests/fuzz/fuzz_scim.c mod_jitprov/lib/scim.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "scim.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

/* A parsed filter is a well-formed tree within the documented bounds, and
 * every comparison that needs a value has one. Returns its comparisons. */
static int check_filter(const jp_scim_filter *f, int depth)
{
    if (depth > 3 * (JP_SCIM_FILTER_DEPTH_MAX + JP_SCIM_FILTER_TERMS_MAX))
        abort();
    switch (f->node) {
    case JP_SCIM_FN_AND:
    case JP_SCIM_FN_OR:
        if (!f->a || !f->b)
            abort();
        return check_filter(f->a, depth + 1) + check_filter(f->b, depth + 1);
    case JP_SCIM_FN_NOT:
        if (!f->a)
            abort();
        return check_filter(f->a, depth + 1);
    case JP_SCIM_FN_CMP:
        if (f->op != JP_SCIM_OP_PR && f->attr != JP_SCIM_FA_ACTIVE && !f->value)
            abort();
        return 1;
    default:
        abort();
    }
}

static jp_scim_user sample(int with_status)
{
    jp_scim_user u;
    memset(&u, 0, sizeof(u));
    u.id = "7";
    u.user_name = "alice";
    u.email = "alice@example.com";
    u.display_name = "Alice";
    u.groups = "a,b";
    u.status = with_status ? "active" : NULL;
    u.iss = "https://idp";
    u.sub = "s";
    u.created = 1700000000;
    return u;
}

static void must_parse(const char *json)
{
    json_t *j;
    if (!json)
        abort();
    j = json_loads(json, 0, NULL);
    if (!j)
        abort();
    json_decref(j);
}

static void check_user(apr_pool_t *p, const jp_scim_user *u)
{
    /* Whatever the parsers let through must satisfy what the store and the
     * session headers rely on. */
    if (!u->user_name || !*u->user_name || strlen(u->user_name) > JP_SCIM_VALUE_MAX)
        abort();
    if (u->email && (strlen(u->email) > JP_SCIM_EMAIL_MAX || !strchr(u->email, '@')))
        abort();
    if (u->status && strcmp(u->status, "active") && strcmp(u->status, "disabled") &&
        strcmp(u->status, "pending"))
        abort();
    must_parse(jp_scim_render_user(p, u, "https://h/scim/v2/Users", ",", NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *body;
    jp_scim_err e;
    size_t n;

    if (size < 1)
        return 0;
    apr_pool_create(&p, root);
    body = (const char *)data + 1;
    n = size - 1;
    memset(&e, 0, sizeof(e));
    switch (data[0] & 3) {
    case 0: {
        jp_scim_input in;
        jp_scim_user cur = sample(data[0] & 4), next;
        if (jp_scim_parse_user(p, body, n, &in, &e) == 0) {
            if (!in.user_name)
                abort();
            if (jp_scim_apply_put(p, &cur, &in, &next, &e) == 0)
                check_user(p, &next);
        }
        break;
    }
    case 1: {
        jp_scim_patch *pt = NULL;
        jp_scim_user cur = sample(1), next;
        int touched = 0;
        if (jp_scim_parse_patch(p, body, n, &pt, &e) == 0) {
            if (!pt || jp_scim_patch_count(pt) < 1 || jp_scim_patch_count(pt) > JP_SCIM_OPS_MAX)
                abort();
            if (jp_scim_apply_patch(p, pt, &cur, &next, &touched, &e) == 0)
                check_user(p, &next);
            cur = sample(0);
            if (jp_scim_apply_patch(p, pt, &cur, &next, &touched, &e) == 0)
                check_user(p, &next);
        }
        break;
    }
    case 2: {
        jp_scim_filter f;
        char *text = apr_pstrmemdup(p, body, n);
        const jp_scim_attrs *sel = NULL;
        jp_scim_err ae;
        jp_scim_user u = sample(data[0] & 4);
        if (jp_scim_parse_filter(p, text, &f, &e) == 0)
            if (check_filter(&f, 0) > JP_SCIM_FILTER_TERMS_MAX)
                abort();
        /* The same text as attributes and as excludedAttributes. */
        memset(&ae, 0, sizeof(ae));
        if (jp_scim_parse_attrs(p, text, data[0] & 8 ? text : NULL, &sel, &ae) == 0) {
            must_parse(jp_scim_render_user(p, &u, "https://h/Users", ",", sel));
            must_parse(jp_scim_render_list(p, &u, 1, 1, 1, NULL, ",", sel));
        } else if (ae.status != 400 || !ae.detail) {
            abort();
        }
        break;
    }
    default: {
        jp_scim_user u = sample(data[0] & 4);
        const char *parts[4] = {NULL, NULL, NULL, NULL};
        char *copy = apr_pstrmemdup(p, body, n), *s = copy;
        int i;
        for (i = 0; i < 4 && s <= copy + n; i++) {
            parts[i] = s;
            s += strlen(s) + 1;
        }
        u.user_name = parts[0];
        u.email = parts[1];
        u.display_name = parts[2];
        u.groups = parts[3];
        must_parse(jp_scim_render_user(p, &u, "https://h/Users", data[0] & 8 ? "" : ",", NULL));
        must_parse(jp_scim_render_list(p, &u, 1, 1, 1, NULL, "|", NULL));
        break;
    }
    }
    if (e.status) {
        if (e.status < 400 || e.status > 599 || !e.detail)
            abort();
        must_parse(jp_scim_render_error(p, &e));
    }
    apr_pool_destroy(p);
    return 0;
}
