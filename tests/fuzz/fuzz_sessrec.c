/* libFuzzer target: jp_sessrec_decode on arbitrary bytes.
 *
 * JPS5 (what the encoder writes) is canonical, so whatever decodes must
 * re-encode to the very same bytes, and decode again to the same record.
 * JPS4 (earlier builds' records, still read) must re-encode as JPS5 to a
 * record that decodes to the same one (marker keys aside: JPS5 has none),
 * and that JPS5 record must round-trip exactly. Either way, a record decoded
 * in place lies in the input's bytes (references included), and rebuilt from
 * its shape over a copy of the decoded bytes it is that record again, with
 * the marker keys the shape kept. */

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

/* Same integers, strings and pairs; the marker keys too when marks is set. */
static int same(const jp_session *a, const jp_session *b, int marks)
{
    int i;

    if (a->created != b->created || a->last_seen != b->last_seen || a->expires != b->expires ||
        a->checked_at != b->checked_at || a->account_id != b->account_id)
        return 0;
    if (marks && memcmp(a->marks, b->marks, sizeof(a->marks)))
        return 0;
    if (!same_str(a->iss, b->iss) || !same_str(a->sub, b->sub) || !same_str(a->sid, b->sid) ||
        !same_str(a->id_token, b->id_token) || !same_str(a->id, b->id) ||
        !same_str(a->tokens, b->tokens) || a->kv->nelts != b->kv->nelts ||
        a->kv->nelts > JP_SESSREC_MAX_KV)
        return 0;
    for (i = 0; i < a->kv->nelts; i++) {
        const jp_kv *x = &((jp_kv *)a->kv->elts)[i], *y = &((jp_kv *)b->kv->elts)[i];
        if (!same_str(x->key, y->key) || !same_str(x->val, y->val))
            return 0;
    }
    return 1;
}

static int inside(const char *s, const unsigned char *b, size_t len)
{
    return (const unsigned char *)s >= b && (const unsigned char *)s <= b + len;
}

/* Decodes data in place, checks every string lies in the bytes, rebuilds it
 * from its shape over a copy and checks the rebuilt record against t (a full
 * decode of the same bytes, with marks as a caller would have set them). */
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
    if (!inside(s.iss, buf, size) || !inside(s.sub, buf, size) || !inside(s.sid, buf, size) ||
        !inside(s.id_token, buf, size) || !inside(s.id, buf, size))
        abort();
    for (i = 0; i < s.kv->nelts; i++) {
        const jp_kv *a = &((jp_kv *)s.kv->elts)[i];
        if (!inside(a->key, buf, size) || !inside(a->val, buf, size))
            abort();
    }
    memcpy(s.marks, t->marks, sizeof(s.marks));
    slen = jp_sessrec_shape_len(&s);
    if (slen % sizeof(uint32_t))
        abort();
    shape = apr_palloc(p, slen);
    if (jp_sessrec_shape(&s, buf, size, shape) != 0)
        abort();
    copy = apr_pmemdup(p, buf, size + 1);
    memset(buf, 0xa5, size + 1);
    if (jp_sessrec_rebuild(p, copy, size, shape, slen, &u) != 0 || !same(&u, t, 1))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jp_session s, t;
    unsigned char *buf, *again;
    size_t len, len2;
    int i;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);

    if (jp_sessrec_decode(p, data, size, &s) == 0) {
        int v5 = !memcmp(data, "JPS5", 4);
        if (!v5 && memcmp(data, "JPS4", 4))
            abort();
        buf = jp_sessrec_encode(p, &s, &len);
        if (!buf || memcmp(buf, "JPS5", 4))
            abort();
        if (v5 && (len != size || memcmp(buf, data, size) != 0))
            abort();
        if (jp_sessrec_decode(p, buf, len, &t) != 0)
            abort();
        /* JPS5 holds no marker keys: a decode leaves them zero. */
        for (i = 0; i < (int)sizeof(t.marks); i++)
            if (t.marks[i / JP_SESSREC_MARKLEN][i % JP_SESSREC_MARKLEN])
                abort();
        if (!same(&s, &t, v5))
            abort();
        /* What JPS4 became is canonical JPS5. */
        again = jp_sessrec_encode(p, &t, &len2);
        if (!again || len2 != len || memcmp(again, buf, len))
            abort();
        /* Keys set by the caller: the rebuild must bring them back. */
        for (i = 0; i < (int)sizeof(s.marks); i++)
            s.marks[i / JP_SESSREC_MARKLEN][i % JP_SESSREC_MARKLEN] ^= (unsigned char)(i + 1);
        check_rebuild(p, data, size, &s);
    }
    apr_pool_destroy(p);
    return 0;
}
