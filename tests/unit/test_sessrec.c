/* Session record encoding: round trips, and every kind of damaged input. */

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "sessrec.h"
#include "claims.h"
#include "jtest.h"

static int same(const jp_session *a, const jp_session *b)
{
    int i, na = a->kv ? a->kv->nelts : 0, nb = b->kv ? b->kv->nelts : 0;

    if (a->created != b->created || a->last_seen != b->last_seen || a->expires != b->expires ||
        a->checked_at != b->checked_at || a->account_id != b->account_id ||
        memcmp(a->marks, b->marks, sizeof(a->marks)))
        return 0;
    if (strcmp(a->iss, b->iss) || strcmp(a->sub, b->sub) || strcmp(a->sid, b->sid) ||
        strcmp(a->user, b->user) || strcmp(a->id_token, b->id_token) || strcmp(a->id, b->id) ||
        na != nb)
        return 0;
    for (i = 0; i < na; i++) {
        const jp_kv *x = &((const jp_kv *)a->kv->elts)[i], *y = &((const jp_kv *)b->kv->elts)[i];
        if (strcmp(x->key, y->key) || strcmp(x->val, y->val))
            return 0;
    }
    return 1;
}

static void add_kv(apr_array_header_t *kv, const char *k, const char *v)
{
    jp_kv *e = apr_array_push(kv);
    e->key = k;
    e->val = v;
}

static jp_session make(apr_pool_t *p, int npairs, size_t bigval)
{
    jp_session s;
    int i;

    memset(&s, 0, sizeof(s));
    s.created = 1735686000;
    s.last_seen = 1735686123;
    s.expires = INT64_MAX;
    s.checked_at = INT64_MIN;
    s.account_id = -1;
    for (i = 0; i < (int)sizeof(s.marks); i++)
        s.marks[i / JP_SESSREC_MARKLEN][i % JP_SESSREC_MARKLEN] = (unsigned char)(i * 7);
    s.iss = "https://idp.example.com/realms/corp";
    s.sub = "248289761001";
    s.sid = "";
    s.user = "zo\xc3\xab@example.com";
    s.id_token = "";
    s.id = "sess-id";
    s.kv = apr_array_make(p, 4, sizeof(jp_kv));
    add_kv(s.kv, "c:groups", "admins\x1fstaff");
    add_kv(s.kv, "a:id", "17");
    add_kv(s.kv, "", "");
    for (i = 3; i < npairs; i++)
        add_kv(s.kv, apr_psprintf(p, "c:claim%d", i), apr_psprintf(p, "value-%d", i));
    if (bigval) {
        char *v = apr_palloc(p, bigval + 1);
        memset(v, 'v', bigval);
        v[bigval] = '\0';
        add_kv(s.kv, "c:big", v);
    }
    return s;
}

static void test_round_trip(apr_pool_t *p)
{
    jp_session s = make(p, 200, 3 * 1024), d;
    unsigned char *buf;
    size_t len;
    int i, ok;

    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf != NULL);
    CHECK(len > 3 * 1024 && len <= JP_SESSREC_MAX);
    CHECK(buf && memcmp(buf, "JPS4", 4) == 0);
    memset(&d, 0, sizeof(d));
    CHECK(buf && jp_sessrec_decode(p, buf, len, &d) == 0);
    CHECK(d.kv && d.kv->nelts == 201);
    CHECK(d.iss && same(&s, &d));
    CHECK_STR(jp_kv_get(d.kv, "c:groups"), "admins\x1fstaff");
    CHECK_STR(jp_kv_get(d.kv, "c:claim199"), "value-199");
    CHECK(d.sid && d.sid[0] == '\0');
    /* The decoded kv array is a normal one: callers may push to it. */
    if (d.kv) {
        add_kv(d.kv, "x", "y");
        CHECK_STR(jp_kv_get(d.kv, "x"), "y");
    }

    /* The decoded strings live in the pool, not in the input buffer. */
    if (buf) {
        memset(buf, 'Z', len);
        CHECK(d.kv && jp_kv_get(d.kv, "a:id") && strcmp(jp_kv_get(d.kv, "a:id"), "17") == 0);
    }

    /* Empty record: NULL strings become "", no kv array becomes zero pairs. */
    memset(&s, 0, sizeof(s));
    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf && len == 4 + 40 + 96 + 6 + 1);
    CHECK(buf && jp_sessrec_decode(p, buf, len, &d) == 0);
    CHECK_STR(d.iss, "");
    CHECK_STR(d.id_token, "");
    CHECK(d.kv && d.kv->nelts == 0 && d.account_id == 0);

    /* Encoding is canonical: decode + encode gives the same bytes. */
    s = make(p, 10, 0);
    buf = jp_sessrec_encode(p, &s, &len);
    ok = buf && jp_sessrec_decode(p, buf, len, &d) == 0;
    if (ok) {
        size_t len2;
        unsigned char *buf2 = jp_sessrec_encode(p, &d, &len2);
        ok = buf2 && len2 == len && memcmp(buf, buf2, len) == 0;
    }
    CHECK(ok);

    /* Exactly JP_SESSREC_MAX_KV pairs pass; one more is refused. */
    s = make(p, JP_SESSREC_MAX_KV, 0);
    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf && jp_sessrec_decode(p, buf, len, &d) == 0 && d.kv->nelts == JP_SESSREC_MAX_KV);
    add_kv(s.kv, "one", "more");
    CHECK(jp_sessrec_encode(p, &s, &len) == NULL && len == 0);

    /* Too big for a record: refused, never truncated. */
    s = make(p, 3, JP_SESSREC_MAX);
    CHECK(jp_sessrec_encode(p, &s, &len) == NULL);
    s = make(p, 3, 0);
    for (i = 0; i < 40; i++) {
        char *v = apr_palloc(p, 2001);
        memset(v, 'x', 2000);
        v[2000] = '\0';
        add_kv(s.kv, "k", v);
    }
    CHECK(jp_sessrec_encode(p, &s, &len) == NULL);
    CHECK(jp_sessrec_encode(p, NULL, &len) == NULL);
}

static void test_damage(apr_pool_t *p)
{
    jp_session s = make(p, 20, 300), d;
    apr_pool_t *sub;
    unsigned char *buf, *copy;
    size_t len, i;
    int bit, ok, rv;

    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf != NULL);
    if (!buf)
        return;

    /* Every truncation fails; each copy sits at the end of a malloc block so
     * ASan catches a single byte read too far. */
    ok = 1;
    for (i = 0; i < len; i++) {
        copy = malloc(i ? i : 1);
        memcpy(copy, buf, i);
        if (jp_sessrec_decode(p, copy, i, &d) >= 0)
            ok = 0;
        free(copy);
    }
    CHECK(ok);

    /* Trailing garbage. */
    copy = apr_palloc(p, len + 1);
    memcpy(copy, buf, len);
    copy[len] = 0;
    CHECK(jp_sessrec_decode(p, copy, len + 1, &d) == JP_SESSREC_EBAD);

    /* Every single bit flip: no crash, and a decode that still succeeds must
     * hand back NUL-terminated strings and the same number of bytes. */
    ok = 1;
    copy = malloc(len);
    apr_pool_create(&sub, p);
    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            apr_pool_clear(sub);
            memcpy(copy, buf, len);
            copy[i] ^= (unsigned char)(1u << bit);
            memset(&d, 0, sizeof(d));
            rv = jp_sessrec_decode(sub, copy, len, &d);
            if (rv == 0) {
                size_t l2;
                unsigned char *re = jp_sessrec_encode(sub, &d, &l2);
                if (!re || l2 != len || memcmp(re, copy, len) != 0)
                    ok = 0;
            } else if (rv > 0) {
                ok = 0;
            }
        }
    }
    free(copy);
    apr_pool_destroy(sub);
    CHECK(ok);

    /* Bad magic. */
    copy = apr_pmemdup(p, buf, len);
    copy[3] = '1';
    CHECK(jp_sessrec_decode(p, copy, len, &d) == JP_SESSREC_EBAD);
}

/* Hand-built records with lying lengths and counts. */
#define F (4 + 40 + 96)
static void test_lengths(apr_pool_t *p)
{
    unsigned char rec[F + 212];
    jp_session d;
    size_t n;
    int i;

    /* fixed part (magic, five integers, four marker keys) + six empty
     * strings + count: the smallest valid record */
    memset(rec, 0, sizeof(rec));
    memcpy(rec, "JPS4", 4);
    n = F + 6 + 1;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == 0);

    /* First string length: a varint running off the end, one past the end,
     * longer than three bytes, and overlong (not canonical). */
    rec[F + 0] = rec[F + 1] = rec[F + 2] = rec[F + 3] = 0xff;
    CHECK(jp_sessrec_decode(p, rec, F + 2, &d) == JP_SESSREC_ETRUNC);
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_EBAD);
    rec[F + 0] = 7; /* 6 bytes follow it */
    rec[F + 1] = rec[F + 2] = rec[F + 3] = 0;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_ETRUNC);
    rec[F + 0] = 0x80;
    rec[F + 1] = 0x00; /* zero in two bytes */
    CHECK(jp_sessrec_decode(p, rec, n + 1, &d) == JP_SESSREC_EBAD);
    rec[F + 0] = 0;

    /* kv count beyond the cap, and beyond what the buffer can hold. */
    rec[F + 6] = 0xff;
    rec[F + 7] = 0x7f;
    CHECK(jp_sessrec_decode(p, rec, n + 1, &d) == JP_SESSREC_EBAD);
    rec[F + 7] = 0;
    rec[F + 6] = 1;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_ETRUNC);
    /* one pair of empty strings: valid */
    CHECK(jp_sessrec_decode(p, rec, n + 2, &d) == 0 && d.kv->nelts == 1);
    CHECK_STR(jp_kv_get(d.kv, ""), "");
    rec[F + 6] = 0;

    /* A NUL byte inside a string. */
    memset(rec + F, 0, 40);
    rec[F + 0] = 3;
    memcpy(rec + F + 1, "a\0b", 3);
    CHECK(jp_sessrec_decode(p, rec, n + 3, &d) == JP_SESSREC_EBAD);
    rec[F + 2] = 'c';
    CHECK(jp_sessrec_decode(p, rec, n + 3, &d) == 0);
    CHECK_STR(d.iss, "acb");
    CHECK_STR(d.sub, "");

    /* In place: the strings lie in the buffer, NUL-terminated there; the
     * caller's extra byte takes the last one. */
    {
        jp_session s;
        unsigned char *buf, *copy;
        size_t k;
        memset(&s, 0, sizeof(s));
        s.iss = "https://idp";
        s.sub = "u1";
        s.id = "sess";
        s.kv = apr_array_make(p, 2, sizeof(jp_kv));
        add_kv(s.kv, "c:a", "x");
        s.tokens = "tok";
        buf = jp_sessrec_encode(p, &s, &k);
        copy = apr_palloc(p, k + 1);
        memcpy(copy, buf, k);
        copy[k] = 'Z';
        CHECK(jp_sessrec_decode_inplace(p, copy, k, 0, &d) == 0);
        CHECK(d.iss == (const char *)copy + F + 1 && !strcmp(d.iss, "https://idp"));
        CHECK_STR(d.tokens, "tok");
        CHECK(copy[k] == '\0');
        CHECK_STR(jp_kv_get(d.kv, "c:a"), "x");
    }

    /* Longer than the maximum, whatever it holds. */
    {
        unsigned char *big = calloc(1, JP_SESSREC_MAX + 1);
        memcpy(big, "JPS4", 4);
        CHECK(jp_sessrec_decode(p, big, JP_SESSREC_MAX + 1, &d) == JP_SESSREC_ETOOBIG);
        free(big);
    }
    CHECK(jp_sessrec_decode(p, NULL, 0, &d) < 0);
    CHECK(jp_sessrec_decode(p, rec, n, NULL) < 0);

    /* The integers keep their sign and every bit. */
    {
        jp_session s;
        unsigned char *buf;
        memset(&s, 0, sizeof(s));
        s.created = 0x0102030405060708LL;
        s.account_id = -2;
        buf = jp_sessrec_encode(p, &s, &n);
        CHECK(buf && buf[4] == 1 && buf[11] == 8);
        CHECK(buf && jp_sessrec_decode(p, buf, n, &d) == 0 && d.created == s.created &&
              d.account_id == -2);
        for (i = 0; buf && i < 8; i++)
            CHECK(buf[36 + i] == (i < 7 ? 0xff : 0xfe));
    }
}

/* The optional tokens field at the end: absent in older records, written only
 * when set, round-trips, and an empty one present is not canonical. */
static void test_tokens(apr_pool_t *p)
{
    jp_session s = make(p, 5, 0), d;
    unsigned char *plain, *with, *bad;
    size_t plen, wlen;

    s.tokens = NULL;
    plain = jp_sessrec_encode(p, &s, &plen);
    CHECK(plain && jp_sessrec_decode(p, plain, plen, &d) == 0);
    CHECK_STR(d.tokens, "");
    s.tokens = "";
    CHECK(plain && jp_sessrec_encode(p, &s, &wlen) && wlen == plen);
    s.tokens = "AQsealed-token-blob_-";
    with = jp_sessrec_encode(p, &s, &wlen);
    CHECK(with && wlen == plen + 1 + strlen(s.tokens));
    CHECK(with && memcmp(with, plain, plen) == 0); /* appended, nothing else moves */
    memset(&d, 0, sizeof(d));
    CHECK(with && jp_sessrec_decode(p, with, wlen, &d) == 0);
    CHECK_STR(d.tokens, "AQsealed-token-blob_-");
    CHECK(d.kv && same(&s, &d));
    /* Truncated inside the field, a trailing byte, an empty field present. */
    CHECK(with && jp_sessrec_decode(p, with, wlen - 1, &d) == JP_SESSREC_ETRUNC);
    CHECK(with && jp_sessrec_decode(p, with, plen + 2, &d) == JP_SESSREC_ETRUNC);
    CHECK(with && jp_sessrec_decode(p, with, plen + 5, &d) == JP_SESSREC_ETRUNC);
    bad = apr_palloc(p, wlen + 1);
    memcpy(bad, with, wlen);
    bad[wlen] = 'x';
    CHECK(jp_sessrec_decode(p, bad, wlen + 1, &d) == JP_SESSREC_EBAD);
    bad = apr_pcalloc(p, plen + 4);
    memcpy(bad, plain, plen);
    CHECK(jp_sessrec_decode(p, bad, plen + 4, &d) == JP_SESSREC_EBAD);
    /* A NUL inside the tokens field. */
    bad = apr_palloc(p, wlen);
    memcpy(bad, with, wlen);
    bad[plen + 2] = '\0';
    CHECK(jp_sessrec_decode(p, bad, wlen, &d) == JP_SESSREC_EBAD);
}

/* Every string of r lies in [b, b + len]. */
static int inside(const jp_session *r, const unsigned char *b, size_t len)
{
    const char *strs[] = {r->iss, r->sub, r->sid, r->user, r->id_token, r->id};
    const jp_kv *kv = (const jp_kv *)r->kv->elts;
    size_t i;

    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if ((const unsigned char *)strs[i] < b || (const unsigned char *)strs[i] > b + len)
            return 0;
    for (i = 0; i < (size_t)r->kv->nelts; i++)
        if ((const unsigned char *)kv[i].key < b || (const unsigned char *)kv[i].key > b + len ||
            (const unsigned char *)kv[i].val < b || (const unsigned char *)kv[i].val > b + len)
            return 0;
    return 1;
}

/* A record rebuilt from its shape over another copy of the decoded bytes is
 * the record a full decode gives, for records of every shape. */
static void check_rebuild(apr_pool_t *p, const jp_session *s)
{
    jp_session full, once, again;
    unsigned char *rec, *buf, *copy;
    uint32_t *shape;
    size_t len, slen;

    rec = jp_sessrec_encode(p, s, &len);
    CHECK(rec != NULL);
    if (!rec)
        return;
    CHECK(jp_sessrec_decode(p, rec, len, &full) == 0);
    buf = apr_palloc(p, len + 1);
    memcpy(buf, rec, len);
    CHECK(jp_sessrec_decode_inplace(p, buf, len, 0, &once) == 0);
    slen = jp_sessrec_shape_len(&once);
    CHECK(slen == (8 + 2 * (size_t)once.kv->nelts) * sizeof(uint32_t));
    shape = apr_palloc(p, slen);
    CHECK(jp_sessrec_shape(&once, buf, len, shape) == 0);
    copy = apr_pmemdup(p, buf, len + 1);
    memset(buf, 'x', len + 1); /* nothing may point into the first copy */
    memset(&again, 0, sizeof(again));
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == 0);
    CHECK(again.kv && same(&full, &again) && inside(&again, copy, len));
    CHECK(again.kv && again.kv->elt_size == sizeof(jp_kv));
    CHECK_STR(again.tokens, full.tokens);
    /* A shape that does not fit the bytes is refused. */
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen - 4, &again) == JP_SESSREC_EBAD);
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen + 8, &again) == JP_SESSREC_EBAD);
    shape[1 + 5] = (uint32_t)len + 1; /* id past the end */
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == JP_SESSREC_EBAD);
    shape[1 + 5] = (uint32_t)len; /* the last byte: its NUL */
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == 0 && !*again.id);
    shape[0] = JP_SESSREC_MAX_KV + 1;
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == JP_SESSREC_EBAD);
    copy[0] = 'X';
    shape[0] = (uint32_t)full.kv->nelts;
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == JP_SESSREC_EBAD);
}

static void test_rebuild(apr_pool_t *p)
{
    jp_session s = make(p, 3, 0), t;
    char *v;

    check_rebuild(p, &s); /* an empty key and value, empty sid and id_token */
    s = make(p, 40, 0);
    s.sid = "sid-1";
    s.id_token = "eyJ.eyJ.sig";
    s.tokens = "AQsealed-tokens";
    check_rebuild(p, &s); /* tokens at the end */
    s = make(p, 200, 3 * 1024);
    check_rebuild(p, &s); /* two-byte lengths */
    memset(&t, 0, sizeof(t));
    t.iss = "i";
    t.sub = "s";
    t.id = "x";
    check_rebuild(p, &t); /* no kv at all, NULL strings */
    t.kv = apr_array_make(p, 1, sizeof(jp_kv));
    check_rebuild(p, &t); /* an empty kv array */
    t = make(p, JP_SESSREC_MAX_KV, 0);
    check_rebuild(p, &t);
    t = make(p, 3, 0);
    v = apr_palloc(p, 20000);
    memset(v, 'g', 19999);
    v[19999] = '\0';
    t.tokens = v; /* three-byte lengths */
    check_rebuild(p, &t);
    /* A string outside the bytes has no shape. */
    {
        unsigned char *rec, *buf;
        size_t len;
        jp_session d;
        uint32_t shape[8 + 2 * 3];
        t = make(p, 3, 0);
        rec = jp_sessrec_encode(p, &t, &len);
        buf = apr_palloc(p, len + 1);
        memcpy(buf, rec, len);
        CHECK(jp_sessrec_decode_inplace(p, buf, len, 0, &d) == 0);
        d.sub = "elsewhere";
        CHECK(jp_sessrec_shape(&d, buf, len, shape) == -1);
    }
    /* A record without kv leaves the byte after it as it was: the rebuild
     * ends the bytes itself, so no offset reads past them. */
    {
        unsigned char *rec, *buf, *copy;
        size_t len;
        jp_session d, again;
        uint32_t shape[8];
        memset(&t, 0, sizeof(t));
        t.iss = "i";
        t.sub = "s";
        t.id = "x";
        rec = jp_sessrec_encode(p, &t, &len);
        buf = apr_palloc(p, len + 2);
        memcpy(buf, rec, len);
        buf[len] = 'Z';
        buf[len + 1] = 'Z';
        CHECK(jp_sessrec_decode_inplace(p, buf, len, 0, &d) == 0);
        CHECK(jp_sessrec_shape(&d, buf, len, shape) == 0);
        copy = apr_pmemdup(p, buf, len + 1);
        shape[1 + 5] = (uint32_t)len; /* id at the byte after the record */
        CHECK(jp_sessrec_rebuild(p, copy, len, shape, sizeof(shape), &again) == 0);
        CHECK(again.id && !*again.id);
    }
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_round_trip(p);
    test_damage(p);
    test_lengths(p);
    test_tokens(p);
    test_rebuild(p);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
