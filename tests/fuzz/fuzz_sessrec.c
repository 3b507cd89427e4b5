/* libFuzzer target: jp_sessrec_decode on arbitrary bytes. The encoding is
 * canonical, so whatever decodes must re-encode to the very same bytes, and
 * decode again to the same record. A record decoded in place and rebuilt from
 * its shape over a copy of the decoded bytes must be that record too. */

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

/* Decodes data in place, rebuilds it from its shape over a copy and checks
 * the rebuilt record against t (a full decode of the same bytes). */
static void check_rebuild(apr_pool_t *p, const uint8_t *data, size_t size, const jp_session *t)
{
    jp_session s, u;
    unsigned char *buf = apr_palloc(p, size + 1), *copy;
    void *shape;
    size_t slen;
    int i;

    memcpy(buf, data, size);
    if (jp_sessrec_decode_inplace(p, buf, size, 0, &s) != 0)
        abort();
    slen = jp_sessrec_shape_len(&s);
    shape = apr_palloc(p, slen);
    if (jp_sessrec_shape(&s, buf, size, shape) != 0)
        abort();
    copy = apr_pmemdup(p, buf, size + 1);
    memset(buf, 0xa5, size + 1);
    if (jp_sessrec_rebuild(p, copy, size, shape, slen, &u) != 0)
        abort();
    if (u.created != t->created || u.last_seen != t->last_seen || u.expires != t->expires ||
        u.checked_at != t->checked_at || u.account_id != t->account_id ||
        memcmp(u.marks, t->marks, sizeof(u.marks)))
        abort();
    if (!same_str(u.iss, t->iss) || !same_str(u.sub, t->sub) || !same_str(u.sid, t->sid) ||
        !same_str(u.user, t->user) || !same_str(u.id_token, t->id_token) ||
        !same_str(u.id, t->id) || !same_str(u.tokens, t->tokens) || u.kv->nelts != t->kv->nelts)
        abort();
    for (i = 0; i < u.kv->nelts; i++) {
        const jp_kv *a = &((jp_kv *)u.kv->elts)[i], *b = &((jp_kv *)t->kv->elts)[i];
        if (!same_str(a->key, b->key) || !same_str(a->val, b->val))
            abort();
    }
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
        check_rebuild(p, data, size, &s);
    }
    apr_pool_destroy(p);
    return 0;
}
