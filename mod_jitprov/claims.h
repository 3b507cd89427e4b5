/* Claims as the per-request path needs them: a flat list of name -> string. */
#ifndef JP_CLAIMS_H
#define JP_CLAIMS_H

#include <jansson.h>
#include <apr_pools.h>
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

/* Linear lookup in a jp_kv array; NULL when absent. */
const char *jp_kv_get(const apr_array_header_t *kv, const char *key);

/* 1 when the JP_MULTI_SEP-separated value has an element exactly equal to item. */
int jp_multi_contains(const char *value, const char *item);

#endif
