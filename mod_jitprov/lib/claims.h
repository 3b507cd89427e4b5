/* Claims as the per-request path needs them: a flat list of name -> string. */
#ifndef JP_CLAIMS_H
#define JP_CLAIMS_H

#include <stdlib.h>
#include <jansson.h>

#include "json.h"
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

typedef struct {
    const char *key;
    const char *val;
} jp_kv;

/* Appends one jp_kv per top-level claim of `claims` (a JSON object) to `out`
 * (an apr_array of jp_kv): strings as they are; integers, reals, booleans as
 * JSON text; arrays of scalars as elements joined with JP_MULTI_SEP; anything
 * else (objects, nested arrays) as compact JSON text. A JP_MULTI_SEP byte inside
 * a string element becomes a space. key_prefix (may be NULL) is prepended to each
 * key. Claims with null values are skipped. Returns the number appended. */
int jp_claims_flatten(apr_pool_t *p, json_t *claims, const char *key_prefix,
                      apr_array_header_t *out);

/* Value of a possibly dotted claim path ("address.country") as a flattened string,
 * or NULL when absent. */
const char *jp_claim_get(apr_pool_t *p, json_t *claims, const char *path);

/* json_dumps(v, flags) in p (jp_json_dump: the same text, written without
 * jansson's callbacks); NULL when v cannot be dumped. Inline, so that a file
 * (or a fuzzer) that links no claims.c can use it too. */
static inline const char *jp_json_text(apr_pool_t *p, const json_t *v, size_t flags)
{
    return jp_json_dump(p, v, flags);
}

/* Linear lookup in a jp_kv array; NULL when absent. */
const char *jp_kv_get(const apr_array_header_t *kv, const char *key);

/* 1 when the JP_MULTI_SEP-separated value has an element exactly equal to item. */
int jp_multi_contains(const char *value, const char *item);

/* 1 when `claim` is absent from claims but named in "_claim_names" (OIDC Core
 * 5.6.2 aggregated/distributed claims): Entra ID's group overage, where a user
 * in over 200 groups gets a pointer to Microsoft Graph instead of "groups".
 * The claim's value is then unknown, which is not the same as empty. */
int jp_claims_overage(json_t *claims, const char *claim);

/* Multi-valued claims are sets: 1 when the delim-separated lists a and b hold
 * the same elements, whatever their order (duplicates count once). NULL equals
 * only NULL; "" is the empty set. */
int jp_multi_set_equal(apr_pool_t *p, const char *a, const char *b, const char *delim);

/* The elements of `parts` (const char *) sorted bytewise and deduplicated, in
 * place: the canonical order a multi-valued claim is stored in. */
void jp_multi_canonical(apr_array_header_t *parts);

/* 1 when a flattened value carries a control byte (0x00-0x1f, 0x7f) other than
 * the JP_MULTI_SEP element separators. Such a value never satisfies an access
 * rule (JITProvRequireClaim, Require jitprov-claim): a line break would let a
 * pattern match one line of the value and ignore the rest. */
int jp_multi_has_ctl(const char *value);

#endif
