/* Per-column sync policy (the optional third argument of JITProvMapClaim) and
 * value comparison by type: what a login writes to one mapped column. Pure
 * logic, used by the store at every login and by the dry run. */
#ifndef JP_SYNC_H
#define JP_SYNC_H

#include <apr_pools.h>

typedef enum {
    JP_SYNC_DEFAULT = 0, /* as JITProvAccountUpdate says: present (groups: always), or create */
    JP_SYNC_ALWAYS,      /* every login; a missing claim empties the column */
    JP_SYNC_CREATE,      /* only when the row is created */
    JP_SYNC_PRESENT,     /* every login where the claim is present */
    JP_SYNC_NEVER        /* never by a login (SCIM and administrators only) */
} jp_sync;

/* "always", "create", "present", "never"; -1 when unknown. */
int jp_sync_from_name(const char *name);
const char *jp_sync_name(jp_sync s);

/* The policy in force for a column: JP_SYNC_DEFAULT resolved with
 * JITProvAccountUpdate (update) and whether the column is the groups column. */
jp_sync jp_sync_effective(jp_sync s, int update, int is_groups);

/* 1 when a and b hold the same elements once split on delim, in any order and
 * with repeats ignored (a multi-valued claim that came back reordered). */

/* What a later login (not a creation) writes to a column: the new text, or
 * NULL to leave the column as it is. nv is the claim's text (NULL: claim
 * absent), ov the stored value, is_set whether the claim is multi-valued (an
 * array: compared as a set). */
const char *jp_sync_update_value(apr_pool_t *p, jp_sync effective, const char *ov, const char *nv,
                                 int is_set, const char *delim);

#endif
