/* SCIM PATCH (RFC 7644 section 3.5.2): the PatchOp body parsed into
 * operations, then applied in order to a copy of the account. */

#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <apr_strings.h>

#include "scim.h"
#include "scim_int.h"

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
    json_t *j = jp_scim_load(p, body, len, e), *ops, *o;
    jp_scim_patch *pt;
    const char *dup;
    size_t i;

    *out = NULL;
    if (!j)
        return -1;
    apr_pool_cleanup_register(p, j, release_json, apr_pool_cleanup_null);
    if (jp_scim_ci_duplicates(p, j, &dup))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "member '%s' is given twice",
                            jp_scim_excerpt(p, dup));
    if (!jp_scim_lists_schema(j, JP_SCIM_MSG_PATCH))
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "schemas must list " JP_SCIM_MSG_PATCH);
    ops = jp_scim_get(j, "Operations");
    if (!json_is_array(ops) || json_array_size(ops) == 0)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "Operations must be a non-empty array");
    if (json_array_size(ops) > JP_SCIM_OPS_MAX)
        return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "at most %d operations per request",
                            JP_SCIM_OPS_MAX);
    pt = apr_pcalloc(p, sizeof(*pt));
    pt->doc = j;
    pt->ops = apr_pcalloc(p, sizeof(jp_op) * json_array_size(ops));
    json_array_foreach(ops, i, o)
    {
        jp_op *x = &pt->ops[pt->nops];
        json_t *opv, *pathv;
        const char *opname;
        if (!json_is_object(o) || jp_scim_ci_duplicates(p, o, &dup))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "operation %lu is not a valid object",
                                (unsigned long)i + 1);
        opv = jp_scim_get(o, "op");
        if (!json_is_string(opv))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX, "operation %lu has no op",
                                (unsigned long)i + 1);
        opname = json_string_value(opv);
        if (!strcasecmp(opname, "add"))
            x->op = OP_ADD;
        else if (!strcasecmp(opname, "replace"))
            x->op = OP_REPLACE;
        else if (!strcasecmp(opname, "remove"))
            x->op = OP_REMOVE;
        else
            return jp_scim_fail(e, p, 400, JP_SCIM_E_SYNTAX,
                                "operation %lu: op '%s' is not add, replace or remove",
                                (unsigned long)i + 1, jp_scim_excerpt(p, opname));
        pathv = jp_scim_get(o, "path");
        if (pathv && !json_is_null(pathv) &&
            !(json_is_string(pathv) && json_string_length(pathv) == 0)) {
            if (!json_is_string(pathv))
                return jp_scim_fail(e, p, 400, JP_SCIM_E_PATH,
                                    "operation %lu: path must be a string", (unsigned long)i + 1);
            if (jp_scim_parse_path(p, json_string_value(pathv), &x->path, e))
                return -1;
        } else {
            x->path.kind = P_ROOT;
        }
        if (x->op == OP_REMOVE && x->path.kind == P_ROOT)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_TARGET, "operation %lu: remove needs a path",
                                (unsigned long)i + 1);
        x->value = jp_scim_get(o, "value");
        if (x->op != OP_REMOVE && !x->value)
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE, "operation %lu: %s needs a value",
                                (unsigned long)i + 1, x->op == OP_ADD ? "add" : "replace");
        if (x->op != OP_REMOVE && x->path.kind == P_ROOT && !json_is_object(x->value))
            return jp_scim_fail(e, p, 400, JP_SCIM_E_VALUE,
                                "operation %lu: without a path the value must be an object",
                                (unsigned long)i + 1);
        pt->nops++;
    }
    *out = pt;
    return 0;
}

/* Whether an emails[...] filter selects the stored address. The table keeps
 * one, rendered type work and primary: EF_OURS selects it when there is one,
 * EF_OTHER never does. */
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

/* RFC 7644 3.5.2.3: a replace whose value selection filter matches no value
 * SHALL fail with noTarget; 3.12 defines noTarget for any PATCH path whose
 * filter yields no match, so remove fails alike. add is left out: it creates
 * the value, and Entra ID sends Add emails[type eq "work"].value to set an
 * address for the first time. */
static int no_target(jp_apply *a, const jp_path *path)
{
    const char *t = jp_scim_excerpt(a->p, path->text);
    if (path->sel == EF_OTHER)
        return jp_scim_fail(a->e, a->p, 400, JP_SCIM_E_TARGET,
                            "no email matches '%s': the one address kept here is of type work "
                            "and primary",
                            t);
    if (!a->u->email && path->sel == EF_OURS)
        return jp_scim_fail(a->e, a->p, 400, JP_SCIM_E_TARGET,
                            "no email matches '%s': the user has no email (add sets one)", t);
    return jp_scim_fail(a->e, a->p, 400, JP_SCIM_E_TARGET, "no email matches '%s'", t);
}

/* add/replace without a path: every member is applied as if it were a path.
 * readOnly members are ignored there, as in a PUT body. */
static int apply_object(jp_apply *a, op_kind op, json_t *v, int depth)
{
    const char *k, *dup;
    json_t *mv;
    if (jp_scim_ci_duplicates(a->p, v, &dup))
        return jp_scim_fail(a->e, a->p, 400, JP_SCIM_E_SYNTAX, "attribute '%s' is given twice",
                            jp_scim_excerpt(a->p, dup));
    json_object_foreach(v, k, mv)
    {
        jp_path path;
        if (jp_scim_parse_path(a->p, k, &path, a->e))
            return -1;
        if (path.kind == P_ID || path.kind == P_META || path.kind == P_GROUPS)
            continue;
        if (path.kind == P_ROOT && (depth > 0 || !json_is_object(mv)))
            return jp_scim_fail(a->e, a->p, 400, JP_SCIM_E_VALUE,
                                "'%s' must be an object of attributes", jp_scim_excerpt(a->p, k));
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

    if (path->filtered && op != OP_ADD && !email_selected(path, u->email))
        return no_target(a, path);
    if (op == OP_REMOVE) {
        switch (path->kind) {
        /* RFC 7644 3.5.2.2: removing a required attribute is mutability. */
        case P_USER_NAME:
            return jp_scim_fail(a->e, p, 400, JP_SCIM_E_MUTABILITY,
                                "userName is required: it cannot be removed");
        /* Not required, but every row has a status and "unassigned" is none
         * of them; guessing false (or true) would change who may log in on
         * a request that did not say so. */
        case P_ACTIVE:
            return jp_scim_fail(a->e, p, 400, JP_SCIM_E_MUTABILITY,
                                "active cannot be removed: replace it with false");
        case P_NAME:
            u->given_name = u->family_name = NULL;
            u->display_name = NULL;
            return 0;
        case P_DISPLAY_NAME:
        case P_NAME_FORMATTED:
            u->display_name = NULL;
            return 0;
        case P_GIVEN_NAME:
            u->given_name = NULL;
            return 0;
        case P_FAMILY_NAME:
            u->family_name = NULL;
            return 0;
        case P_EXTERNAL_ID:
            u->external_id = NULL;
            return 0;
        case P_EMAILS:
            u->email = NULL;
            return 0;
        case P_EMAIL_VALUE: /* emails.value, or a filter that matched above */
        case P_EMAIL_ENTRY:
            u->email = NULL;
            return 0;
        case P_ID:
        case P_META:
        case P_GROUPS:
            break;
        default:
            return 0; /* attributes without a column */
        }
        return jp_scim_fail(a->e, p, 400, JP_SCIM_E_MUTABILITY, "'%s' is read-only",
                            jp_scim_excerpt(p, path->text));
    }

    switch (path->kind) {
    case P_ROOT:
        return apply_object(a, op, v, depth);
    case P_USER_NAME:
        if (jp_scim_string_value(p, path->kind, v, &s, a->e))
            return -1;
        u->user_name = s;
        return 0;
    case P_DISPLAY_NAME:
    case P_NAME_FORMATTED:
        if (jp_scim_string_value(p, path->kind, v, &s, a->e))
            return -1;
        u->display_name = s;
        return 0;
    case P_NAME: {
        const char *g, *f;
        int hg, hf;
        if (jp_scim_name_display(p, v, &s, &has_formatted, a->e) ||
            jp_scim_name_parts(p, v, &g, &hg, &f, &hf, a->e))
            return -1;
        /* givenName/familyName alone would overwrite a display name built
         * from more than they say: only a formatted name replaces it. */
        if (has_formatted || json_is_null(v))
            u->display_name = s;
        if (hg)
            u->given_name = g;
        if (hf)
            u->family_name = f;
        return 0;
    }
    case P_GIVEN_NAME:
        if (jp_scim_string_value(p, path->kind, v, &s, a->e))
            return -1;
        u->given_name = s;
        return 0;
    case P_FAMILY_NAME:
        if (jp_scim_string_value(p, path->kind, v, &s, a->e))
            return -1;
        u->family_name = s;
        return 0;
    case P_ACTIVE:
        if (jp_scim_active_value(p, v, &b, a->e))
            return -1;
        *a->touched_active = 1;
        return jp_scim_set_active(p, u, b, a->e);
    case P_EXTERNAL_ID:
        if (jp_scim_string_value(p, path->kind, v, &s, a->e))
            return -1;
        u->external_id = s;
        return 0;
    case P_EMAILS:
        if (jp_scim_pick_email(p, v, &s, &found, a->e))
            return -1;
        if (found || op == OP_REPLACE)
            u->email = s;
        return 0;
    case P_EMAIL_VALUE:
        if (jp_scim_email_string(p, v, &s, a->e))
            return -1;
        u->email = s; /* the address selected, or (add) the one kept */
        return 0;
    case P_EMAIL_ENTRY:
        if (jp_scim_pick_email(p, v, &s, &found, a->e))
            return -1;
        if (!found)
            return jp_scim_fail(a->e, p, 400, JP_SCIM_E_VALUE, "the emails entry has no value");
        u->email = s;
        return 0;
    case P_IGNORED:
        return 0;
    case P_GROUPS:
        return jp_scim_fail(
            a->e, p, 400, JP_SCIM_E_MUTABILITY,
            "groups are read-only here: they come from the ID token's groups claim");
    case P_ID:
    case P_META:
    default:
        return jp_scim_fail(a->e, p, 400, JP_SCIM_E_MUTABILITY, "'%s' is read-only",
                            jp_scim_excerpt(p, path->text));
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
