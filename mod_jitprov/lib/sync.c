/* Per-column sync policy and typed comparison (see sync.h). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "sync.h"
#include "claims.h"

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
    if (ov &&
        (is_set ? jp_multi_set_equal(p, ov, nv, delim && *delim ? delim : ",") : !strcmp(ov, nv)))
        return NULL;
    return nv;
}
