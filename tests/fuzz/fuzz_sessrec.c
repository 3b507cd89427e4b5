/* libFuzzer target: jp_sessrec_decode on arbitrary bytes. The encoding is
 * canonical, so whatever decodes must re-encode to the very same bytes, and
 * decode again to the same record. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "sessrec.h"
#include "claims.h"

static apr_pool_t *root;

static int same_str(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jp_session s, t;
    unsigned char *buf;
    size_t len;
    int i;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);

    if (jp_sessrec_decode(p, data, size, &s) == 0) {
        buf = jp_sessrec_encode(p, &s, &len);
        if (!buf || len != size || memcmp(buf, data, size) != 0)
            abort();
        if (jp_sessrec_decode(p, buf, len, &t) != 0)
            abort();
        if (s.created != t.created || s.last_seen != t.last_seen || s.expires != t.expires ||
            s.checked_at != t.checked_at || s.account_id != t.account_id)
            abort();
        if (!same_str(s.iss, t.iss) || !same_str(s.sub, t.sub) || !same_str(s.sid, t.sid) ||
            !same_str(s.user, t.user) || !same_str(s.id_token, t.id_token) || !same_str(s.id, t.id) ||
            !same_str(s.tokens, t.tokens))
            abort();
        if (s.kv->nelts != t.kv->nelts || s.kv->nelts > JP_SESSREC_MAX_KV)
            abort();
        for (i = 0; i < s.kv->nelts; i++) {
            const jp_kv *a = &((jp_kv *)s.kv->elts)[i], *b = &((jp_kv *)t.kv->elts)[i];
            if (!same_str(a->key, b->key) || !same_str(a->val, b->val))
                abort();
        }
    }
    apr_pool_destroy(p);
    return 0;
}
