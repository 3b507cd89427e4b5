/* Per-column sync policy and typed comparison (see sync.h). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "sync.h"

static const char *const names[] = {"default", "always", "create", "present", "never"};

int jp_sync_from_name(const char *name)
{
    int i;
    for (i = 1; name && i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

const char *jp_sync_name(jp_sync s)
{
    return (int)s >= 0 && (int)s < (int)(sizeof(names) / sizeof(names[0])) ? names[s] : "?";
}

jp_sync jp_sync_effective(jp_sync s, int update, int is_groups)
{
    if (s != JP_SYNC_DEFAULT)
        return s;
    if (!update)
        return JP_SYNC_CREATE;
    /* An IdP leaves the groups claim out for a user in no group: a kept list
     * would keep privileges the user no longer has. */
    return is_groups ? JP_SYNC_ALWAYS : JP_SYNC_PRESENT;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Elements of s split on delim, sorted, repeats dropped. */
static apr_array_header_t *elements(apr_pool_t *p, const char *s, const char *delim)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(const char *));
    apr_array_header_t *o;
    size_t dl = strlen(delim);
    const char *at = s;
    int i;

    if (*s) {
        for (;;) {
            const char *e = dl ? strstr(at, delim) : NULL;
            if (!e) {
                *(const char **)apr_array_push(a) = at;
                break;
            }
            *(const char **)apr_array_push(a) = apr_pstrndup(p, at, e - at);
            at = e + dl;
        }
    }
    qsort(a->elts, a->nelts, sizeof(const char *), cmp_str);
    o = apr_array_make(p, a->nelts + 1, sizeof(const char *));
    for (i = 0; i < a->nelts; i++) {
        const char *x = ((const char **)a->elts)[i];
        if (o->nelts && !strcmp(((const char **)o->elts)[o->nelts - 1], x))
            continue;
        *(const char **)apr_array_push(o) = x;
    }
    return o;
}

int jp_set_equal(apr_pool_t *p, const char *a, const char *b, const char *delim)
{
    apr_array_header_t *x, *y;
    int i;
    if (!a || !b)
        return a == b;
    if (!strcmp(a, b))
        return 1;
    x = elements(p, a, delim && *delim ? delim : ",");
    y = elements(p, b, delim && *delim ? delim : ",");
    if (x->nelts != y->nelts)
        return 0;
    for (i = 0; i < x->nelts; i++)
        if (strcmp(((const char **)x->elts)[i], ((const char **)y->elts)[i]))
            return 0;
    return 1;
}

const char *jp_sync_update_value(apr_pool_t *p, jp_sync effective, const char *ov, const char *nv,
                                 int is_set, const char *delim)
{
    switch (effective) {
    case JP_SYNC_ALWAYS:
        if (!nv)
            return ov && *ov ? "" : NULL; /* absent claim: the column is emptied */
        break;
    case JP_SYNC_PRESENT:
        if (!nv)
            return NULL;
        break;
    case JP_SYNC_CREATE:
    case JP_SYNC_NEVER:
    default:
        return NULL;
    }
    if (ov && (is_set ? jp_set_equal(p, ov, nv, delim) : !strcmp(ov, nv)))
        return NULL;
    return nv;
}
