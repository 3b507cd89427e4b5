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
        strcmp(a->id_token, b->id_token) || strcmp(a->id, b->id) || na != nb)
        return 0;
    for (i = 0; i < na; i++) {
        const jp_kv *x = &((const jp_kv *)a->kv->elts)[i], *y = &((const jp_kv *)b->kv->elts)[i];
        if (strcmp(x->key, y->key) || strcmp(x->val, y->val))
            return 0;
    }
    return 1;
}

/* Words in a shape before the pairs: the kv count, six string offsets, the
 * four marker keys. */
#define SHAPE_HEAD (1 + 6 + JP_SESSREC_NMARKS * JP_SESSREC_MARKLEN / 4)

static void fill_marks(jp_session *s, int seed)
{
    int i;
    for (i = 0; i < (int)sizeof(s->marks); i++)
        s->marks[i / JP_SESSREC_MARKLEN][i % JP_SESSREC_MARKLEN] = (unsigned char)(i * 7 + seed);
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
    s.iss = "https://idp.example.com/realms/corp";
    s.sub = "248289761001";
    s.sid = "";
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
    CHECK(buf && memcmp(buf, "JPS5", 4) == 0);
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
    CHECK(buf && len == 4 + 40 + 5 + 1);
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
        v[0] = (char)('A' + i); /* all different: not references */
        add_kv(s.kv, apr_psprintf(p, "k%d", i), v);
    }
    CHECK(jp_sessrec_encode(p, &s, &len) == NULL);
    CHECK(jp_sessrec_encode(p, NULL, &len) == NULL);
}

/* 1 when every proper prefix of the record fails to decode; each copy sits at
 * the end of a malloc block so ASan catches a single byte read too far. */
static int truncations_fail(apr_pool_t *p, const unsigned char *rec, size_t len)
{
    jp_session d;
    unsigned char *copy;
    size_t i;
    int ok = 1;

    for (i = 0; i < len; i++) {
        copy = malloc(i ? i : 1);
        memcpy(copy, rec, i);
        if (jp_sessrec_decode(p, copy, i, &d) >= 0)
            ok = 0;
        free(copy);
    }
    return ok;
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

    CHECK(truncations_fail(p, buf, len));

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
            /* (A flip of the magic to JPS4 reads another format.) */
            if (rv == 0 && !memcmp(copy, "JPS5", 4)) {
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
#define F (4 + 40)
static void test_lengths(apr_pool_t *p)
{
    unsigned char rec[F + 212];
    jp_session d;
    size_t n;
    int i;

    /* fixed part (magic, five integers) + five empty strings + count: the
     * smallest valid record */
    memset(rec, 0, sizeof(rec));
    memcpy(rec, "JPS5", 4);
    n = F + 5 + 1;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == 0);

    /* First string length: a varint running off the end, one past the end,
     * longer than three bytes, and overlong (not canonical). */
    rec[F + 0] = rec[F + 1] = rec[F + 2] = rec[F + 3] = 0xff;
    CHECK(jp_sessrec_decode(p, rec, F + 2, &d) == JP_SESSREC_ETRUNC);
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_EBAD);
    rec[F + 0] = 2 * 6; /* a literal of 6 bytes: 5 follow it */
    rec[F + 1] = rec[F + 2] = rec[F + 3] = 0;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_ETRUNC);
    rec[F + 0] = 0x80;
    rec[F + 1] = 0x00; /* zero in two bytes */
    CHECK(jp_sessrec_decode(p, rec, n + 1, &d) == JP_SESSREC_EBAD);
    rec[F + 0] = 0;

    /* kv count beyond the cap, and beyond what the buffer can hold. */
    rec[F + 5] = 0xff;
    rec[F + 6] = 0x7f;
    CHECK(jp_sessrec_decode(p, rec, n + 1, &d) == JP_SESSREC_EBAD);
    rec[F + 6] = 0;
    rec[F + 5] = 1;
    CHECK(jp_sessrec_decode(p, rec, n, &d) == JP_SESSREC_ETRUNC);
    /* one pair of empty strings: valid */
    CHECK(jp_sessrec_decode(p, rec, n + 2, &d) == 0 && d.kv->nelts == 1);
    CHECK_STR(jp_kv_get(d.kv, ""), "");
    rec[F + 5] = 0;

    /* A NUL byte inside a string. */
    memset(rec + F, 0, 40);
    rec[F + 0] = 2 * 3;
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
        memcpy(big, "JPS5", 4);
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
    const char *strs[] = {r->iss, r->sub, r->sid, r->id_token, r->id};
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
    /* A decode leaves the marker keys zero; the caller derives them (here
     * a pattern), and the shape keeps them. */
    CHECK(!memcmp(once.marks, full.marks, sizeof(full.marks)));
    fill_marks(&once, 3);
    fill_marks(&full, 3);
    slen = jp_sessrec_shape_len(&once);
    CHECK(slen == (SHAPE_HEAD + 2 * (size_t)once.kv->nelts) * sizeof(uint32_t));
    CHECK(slen % 4 == 0);
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
    shape[1 + 4] = (uint32_t)len + 1; /* id past the end */
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == JP_SESSREC_EBAD);
    shape[1 + 4] = (uint32_t)len; /* the last byte: its NUL */
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
        uint32_t shape[SHAPE_HEAD + 2 * 3];
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
        uint32_t shape[SHAPE_HEAD];
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
        shape[1 + 4] = (uint32_t)len; /* id at the byte after the record */
        CHECK(jp_sessrec_rebuild(p, copy, len, shape, sizeof(shape), &again) == 0);
        CHECK(again.id && !*again.id);
    }
}

/* A small JPS5 record by hand: fields i1, s, "", "", x; pairs (c:iss, i1),
 * (c:e, s): the values are references to strings 0 and 1 (strings are
 * numbered iss 0, sub 1, sid 2, id_token 3, id 4, then keys and values). */
/* clang-format off */
static const unsigned char REFS[] = {
    'J', 'P', 'S', '5', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
    0,   0,   0,   0,   0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5, /* the five integers */
    4,   'i', '1', 2,   's', 0, 0, 2, 'x', /* iss, sub, sid, id_token, id */
    2,                                     /* two pairs */
    10,  'c', ':', 'i', 's', 's', 1,       /* string 5, then a reference to 0 */
    6,   'c', ':', 'e', 3};                /* string 7, then a reference to 1 */
/* clang-format on */

static int dec(apr_pool_t *p, const unsigned char *b, size_t len, jp_session *d)
{
    return jp_sessrec_decode(p, b, len, d);
}

/* Repeated strings are written once, as references to where they first
 * appear; decoded in place, they point there. */
static void test_refs(apr_pool_t *p)
{
    jp_session s, d;
    unsigned char *buf, *copy, *b;
    size_t len;
    const jp_kv *kv;

    CHECK(dec(p, REFS, sizeof(REFS), &d) == 0);
    CHECK_STR(d.iss, "i1");
    CHECK_STR(jp_kv_get(d.kv, "c:iss"), "i1");
    CHECK_STR(jp_kv_get(d.kv, "c:e"), "s");
    CHECK(d.created == 1 && d.account_id == 5);

    /* What the encoder writes: the same bytes from equal strings held
     * elsewhere; empty strings are never references. */
    memset(&s, 0, sizeof(s));
    s.created = 1;
    s.last_seen = 2;
    s.expires = 3;
    s.checked_at = 4;
    s.account_id = 5;
    s.iss = "i1";
    s.sub = "s";
    s.sid = s.id_token = "";
    s.id = "x";
    s.kv = apr_array_make(p, 4, sizeof(jp_kv));
    add_kv(s.kv, "c:iss", apr_pstrdup(p, "i1"));
    add_kv(s.kv, "c:e", apr_pstrdup(p, "s"));
    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf && len == sizeof(REFS) && !memcmp(buf, REFS, len));
    add_kv(s.kv, "c:v", "");
    add_kv(s.kv, "c:w", "");
    s.tokens = "c:e"; /* a key repeated: string 7 */
    buf = jp_sessrec_encode(p, &s, &len);
    CHECK(buf && len == sizeof(REFS) + 4 + 1 + 4 + 1 + 1);
    if (buf) {
        b = buf + sizeof(REFS);
        CHECK(buf[sizeof(REFS) - 13] == 2 + 2); /* (the kv count) */
        CHECK(b[0] == 6 && !memcmp(b + 1, "c:v", 3) && b[4] == 0);
        CHECK(b[5] == 6 && !memcmp(b + 6, "c:w", 3) && b[9] == 0);
        CHECK(b[10] == 2 * 7 + 1);
        copy = apr_palloc(p, len + 1);
        memcpy(copy, buf, len);
        CHECK(jp_sessrec_decode_inplace(p, copy, len, 0, &d) == 0);
        kv = (const jp_kv *)d.kv->elts;
        CHECK(d.kv->nelts == 4 && kv[0].val == d.iss && kv[1].val == d.sub &&
              d.tokens == kv[1].key);
        CHECK(kv[2].val != kv[3].val && !*kv[2].val && !*kv[3].val);
        CHECK_STR(d.tokens, "c:e");
        CHECK(same(&s, &d));
        check_rebuild(p, &s);
    }

    /* A bench-like record: iss and sub as claims and account columns, claims
     * copied into columns. Every repeat costs one byte. */
    s = make(p, 3, 0);
    CHECK(jp_sessrec_encode(p, &s, &len) != NULL);
    add_kv(s.kv, "c:iss", s.iss);
    add_kv(s.kv, "c:sub", s.sub);
    add_kv(s.kv, "c:email", "alice@example.com");
    add_kv(s.kv, "a:iss", apr_pstrdup(p, s.iss));
    add_kv(s.kv, "a:sub", apr_pstrdup(p, s.sub));
    add_kv(s.kv, "a:email", apr_pstrdup(p, "alice@example.com"));
    {
        size_t before = len;
        buf = jp_sessrec_encode(p, &s, &len);
        /* six keys, one literal value, five one-byte references */
        CHECK(buf && len == before + (6 + 6 + 8 + 6 + 6 + 8) + (1 + 17) + 5);
    }
    CHECK(buf && dec(p, buf, len, &d) == 0 && same(&s, &d));
    check_rebuild(p, &s);
}

/* References the encoder never writes, and literals that should have been
 * references: all refused. */
static void test_bad_refs(apr_pool_t *p)
{
    unsigned char b[sizeof(REFS) + 8];
    jp_session d;
    size_t n = sizeof(REFS), last = n - 1;

    memcpy(b, REFS, n);
    b[last] = 2 * 8 + 1; /* itself */
    CHECK(dec(p, b, n, &d) == JP_SESSREC_EBAD);
    b[last] = 2 * 9 + 1; /* forward */
    CHECK(dec(p, b, n, &d) == JP_SESSREC_EBAD);
    b[last] = 2 * 2 + 1; /* an empty string */
    CHECK(dec(p, b, n, &d) == JP_SESSREC_EBAD);
    b[last] = 2 * 6 + 1; /* a reference (no chains) */
    CHECK(dec(p, b, n, &d) == JP_SESSREC_EBAD);
    b[last] = 2 * 0 + 1; /* another earlier literal: fine */
    CHECK(dec(p, b, n, &d) == 0 && !strcmp(jp_kv_get(d.kv, "c:e"), "i1"));
    b[last] = 0xff; /* the largest index a varint holds */
    b[last + 1] = 0xff;
    b[last + 2] = 0x7f;
    CHECK(dec(p, b, n + 2, &d) == JP_SESSREC_EBAD);
    b[last] = 0x83; /* reference 1 in two bytes: overlong */
    b[last + 1] = 0x00;
    CHECK(dec(p, b, n + 1, &d) == JP_SESSREC_EBAD);
    /* A literal equal to an earlier string: must have been a reference. */
    b[last] = 2;
    b[last + 1] = 's';
    CHECK(dec(p, b, n + 1, &d) == JP_SESSREC_EBAD);
    b[last + 1] = 't';
    CHECK(dec(p, b, n + 1, &d) == 0 && !strcmp(jp_kv_get(d.kv, "c:e"), "t"));
    /* ... also where a key repeats a value. */
    memcpy(b, REFS, n);
    memcpy(b + n - 5, "\x04i1\x03", 4); /* key "i1" instead of "c:e" */
    CHECK(dec(p, b, n - 1, &d) == JP_SESSREC_EBAD);
    b[n - 4] = 'j';
    CHECK(dec(p, b, n - 1, &d) == 0 && !strcmp(jp_kv_get(d.kv, "j1"), "s"));
    /* Tokens as a reference; an empty one is not canonical, trailing bytes. */
    memcpy(b, REFS, n);
    b[n] = 2 * 5 + 1;
    CHECK(dec(p, b, n + 1, &d) == 0 && !strcmp(d.tokens, "c:iss"));
    b[n] = 2 * 3 + 1;
    CHECK(dec(p, b, n + 1, &d) == JP_SESSREC_EBAD);
    b[n] = 0;
    CHECK(dec(p, b, n + 1, &d) == JP_SESSREC_EBAD);
    b[n] = 2 * 5 + 1;
    b[n + 1] = 0;
    CHECK(dec(p, b, n + 2, &d) == JP_SESSREC_EBAD);
    /* Every truncation fails. */
    {
        size_t i;
        int ok = 1;
        for (i = 0; i < n; i++) {
            unsigned char *c = malloc(i ? i : 1);
            memcpy(c, REFS, i);
            if (dec(p, c, i, &d) >= 0)
                ok = 0;
            free(c);
        }
        CHECK(ok);
    }
}

/* A JPS4 record as earlier builds wrote it (one-byte lengths here: every
 * string under 128 bytes): marker keys after the integers, user among the
 * strings, no references. */
static unsigned char *jps4(apr_pool_t *p, const char *const strs[6], const char *const *kv, int nkv,
                           const char *tokens, size_t *len)
{
    unsigned char *b = apr_palloc(p, 4096), *w = b;
    int i;

    memcpy(w, "JPS4", 4);
    w += 4;
    for (i = 0; i < 40; i++)
        *w++ = (unsigned char)(i % 8 == 7 ? i / 8 + 1 : 0); /* 1, 2, 3, 4, 5 */
    for (i = 0; i < 96; i++)
        *w++ = (unsigned char)(i * 7 + 1);
    for (i = 0; i < 6 + 1 + 2 * nkv + (tokens ? 1 : 0); i++) {
        const char *str = i < 6 ? strs[i] : i == 6 ? NULL : i - 7 < 2 * nkv ? kv[i - 7] : tokens;
        size_t l;
        if (!str) {
            *w++ = (unsigned char)nkv;
            continue;
        }
        l = strlen(str);
        *w++ = (unsigned char)l;
        memcpy(w, str, l);
        w += l;
    }
    *len = (size_t)(w - b);
    return b;
}

/* Cookies sealed before the upgrade still open: JPS4 decodes (with its
 * marker keys), re-encodes as JPS5 to the same record, and rebuilds. */
static void test_jps4(apr_pool_t *p)
{
    static const char *const strs[6] = {"https://idp", "u1", "sid-9", "", "t.o.k", "sess-1"};
    static const char *const kv[] = {"c:iss", "https://idp", "a:id", "7", "c:sub", "u1"};
    jp_session d, e, once, again, marks;
    unsigned char *b, *re, *copy, *buf;
    size_t len, rlen, slen;
    void *shape;

    fill_marks(&marks, 1);
    b = jps4(p, strs, kv, 3, "tok", &len);
    CHECK(dec(p, b, len, &d) == 0);
    CHECK(d.created == 1 && d.last_seen == 2 && d.expires == 3 && d.checked_at == 4 &&
          d.account_id == 5);
    CHECK(!memcmp(d.marks, marks.marks, sizeof(marks.marks)));
    CHECK_STR(d.iss, "https://idp");
    CHECK_STR(d.sid, "sid-9");
    CHECK_STR(d.id_token, "t.o.k");
    CHECK_STR(d.id, "sess-1");
    CHECK_STR(d.tokens, "tok");
    CHECK_STR(jp_kv_get(d.kv, "c:iss"), "https://idp");
    CHECK_STR(jp_kv_get(d.kv, "a:id"), "7");
    /* Repeats are plain literals in JPS4: no canonical-form check there. */
    CHECK_STR(jp_kv_get(d.kv, "c:sub"), "u1");

    /* Written again, it is JPS5: 96 bytes of keys, user and the repeats
     * shorter, the same record once the keys are derived again. */
    re = jp_sessrec_encode(p, &d, &rlen);
    CHECK(re && !memcmp(re, "JPS5", 4) && rlen == len - 96 - 1 - 11 - 2);
    CHECK(re && dec(p, re, rlen, &e) == 0);
    memcpy(e.marks, d.marks, sizeof(d.marks));
    CHECK(e.kv && same(&d, &e));

    /* Decoded in place and remembered (hot.c), an old cookie rebuilds with
     * the marker keys from the shape. */
    buf = apr_palloc(p, len + 1);
    memcpy(buf, b, len);
    CHECK(jp_sessrec_decode_inplace(p, buf, len, 0, &once) == 0);
    slen = jp_sessrec_shape_len(&once);
    shape = apr_palloc(p, slen);
    CHECK(jp_sessrec_shape(&once, buf, len, shape) == 0);
    copy = apr_pmemdup(p, buf, len + 1);
    CHECK(jp_sessrec_rebuild(p, copy, len, shape, slen, &again) == 0);
    CHECK(again.kv && same(&d, &again));
    CHECK_STR(again.tokens, "tok");

    /* A user (always empty) is read and dropped. */
    {
        const char *const u[6] = {"i", "s", "", "someone", "", "x"};
        unsigned char *bu = jps4(p, u, NULL, 0, NULL, &len);
        CHECK(dec(p, bu, len, &d) == 0);
        CHECK_STR(d.id_token, "");
        CHECK_STR(d.id, "x");
    }

    /* Every truncation and every byte of trailing garbage fails. */
    b = jps4(p, strs, kv, 3, NULL, &len);
    CHECK(dec(p, b, len, &d) == 0 && !*d.tokens);
    CHECK(truncations_fail(p, b, len));
    b[len] = 0; /* an empty tokens field: not canonical in JPS4 either */
    CHECK(dec(p, b, len + 1, &d) == JP_SESSREC_EBAD);
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
    test_refs(p);
    test_bad_refs(p);
    test_jps4(p);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
