/* The session record as sealed into the cookie. Every authenticated request
 * decodes one, so the format is made to be read in a single forward pass and
 * decoded in place (the strings are NUL-terminated where they lie):
 *
 *   "JPS5"
 *   created, last_seen, expires, checked_at, account_id   int64, big-endian
 *   iss, sub, sid, id_token, id                           string
 *   kv count                                              varint
 *   count x (key, val)                                    string
 *   [tokens]                                              string, only when
 *                                                         not empty
 *
 * A string is a varint v: even, a literal of v / 2 bytes, which follow;
 * odd, a reference to string number v >> 1, numbered from 0 in the order
 * above (iss 0, sub 1, sid 2, id_token 3, id 4, the first key 5, its value
 * 6, ...; tokens last). A record repeats many strings (iss and sub as claims
 * and as account columns, claims copied into account columns): each is
 * written once. The encoder writes a string that equals an earlier non-empty
 * one as a reference to the first of them, which is always a literal, and
 * every other string as a literal. The decoder accepts nothing else: a
 * reference must name an earlier non-empty literal (never itself, a later
 * string, a reference or an empty string: no chains), and a non-empty
 * literal must not equal an earlier literal. Decoded in place, a reference
 * points at the string it names.
 *
 * The four revocation marker keys are not in the record: session.c derives
 * them from iss, sub, sid, id and account_id (jp_session.marks is left zero).
 * The unused user field of JPS4 is gone.
 *
 * Varints are unsigned LEB128 (one byte below 128, at most three). The
 * encoding is canonical (one record, one byte string: no overlong varint, no
 * choice between a literal and a reference), which lets the fuzzer check
 * decode/encode as an exact round trip. Strings carry no NUL byte:
 * everything downstream treats them as C strings.
 *
 * JPS4, written by earlier builds, is still decoded (sessions outlive an
 * upgrade), never written: "JPS4", the same five integers, the four marker
 * keys (4 x 24 bytes), iss, sub, sid, user (read and dropped), id_token, id,
 * the kv count and pairs, [tokens]; every string a literal whose varint is
 * its length. */

#include <string.h>

#include "sessrec.h"
#include "claims.h"

#define MAGIC "JPS5"
#define MAGIC4 "JPS4"
#define MAGIC_LEN 4
#define NINTS 5
#define NSTRS 5 /* iss, sub, sid, id_token, id */
#define MARKS_LEN (JP_SESSREC_NMARKS * JP_SESSREC_MARKLEN)
#define FIXED_LEN (MAGIC_LEN + NINTS * 8)
/* The smallest record: fixed part, the empty strings, a zero kv count. */
#define MIN_LEN (FIXED_LEN + NSTRS + 1)
/* JPS4: the marker keys after the integers, and user among the strings. */
#define FIXED4_LEN (FIXED_LEN + MARKS_LEN)
#define NSTRS4 (NSTRS + 1)
#define MIN4_LEN (FIXED4_LEN + NSTRS4 + 1)
#define VARINT_MAX 3 /* 21 bits: more than 2 * JP_SESSREC_MAX + 1 */
/* Literals are chained by length (mod NBUCKETS): a string is compared only
 * with the earlier literals of its bucket, not with all of them. */
#define NBUCKETS 64

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static void put64(unsigned char *b, int64_t v)
{
    put32(b, (uint32_t)((uint64_t)v >> 32));
    put32(b + 4, (uint32_t)v);
}

static int64_t get64(const unsigned char *b)
{
    return (int64_t)((uint64_t)get32(b) << 32 | get32(b + 4));
}

static size_t varint_len(size_t v)
{
    return v < 0x80 ? 1 : v < 0x4000 ? 2 : 3;
}

static unsigned char *put_varint(unsigned char *b, size_t v)
{
    while (v >= 0x80) {
        *b++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *b++ = (unsigned char)v;
    return b;
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* The record's strings in their order in the encoding, JPS4's user among
 * them when user is not NULL; tokens, optional, last. How many come before
 * tokens. */
static int str_fields(jp_session *s, const char **f[NSTRS4 + 1], const char **user)
{
    int n = 0;

    f[n++] = &s->iss;
    f[n++] = &s->sub;
    f[n++] = &s->sid;
    if (user)
        f[n++] = user;
    f[n++] = &s->id_token;
    f[n++] = &s->id;
    f[n] = &s->tokens;
    return n;
}

/* A string to encode: a literal, or a reference to the string it repeats. */
typedef struct {
    const char *s;
    size_t len;
    int ref;  /* the number of the first earlier equal string, or -1 */
    int next; /* the earlier literal in the same bucket, or -1 */
} out_str;

static unsigned char *put_str(unsigned char *b, const out_str *o)
{
    if (o->ref >= 0)
        return put_varint(b, 2 * (size_t)o->ref + 1);
    b = put_varint(b, 2 * o->len);
    memcpy(b, o->s, o->len);
    return b + o->len;
}

unsigned char *jp_sessrec_encode(apr_pool_t *p, const jp_session *s, size_t *len)
{
    const char **f[NSTRS4 + 1];
    const jp_kv *kv = NULL;
    int nkv = 0, n, i, j, head[NBUCKETS];
    size_t total;
    out_str *o;
    unsigned char *buf, *b;

    if (len)
        *len = 0;
    if (!s || !len)
        return NULL;
    if (s->kv) {
        if (s->kv->elt_size != sizeof(jp_kv) || s->kv->nelts > JP_SESSREC_MAX_KV)
            return NULL;
        kv = (const jp_kv *)s->kv->elts;
        nkv = s->kv->nelts;
    }
    n = NSTRS + 2 * nkv + (s->tokens && *s->tokens ? 1 : 0);
    o = apr_palloc(p, (size_t)n * sizeof(*o));
    str_fields((jp_session *)s, f, NULL); /* read only */
    for (i = 0; i < NSTRS; i++)
        o[i].s = str_or_empty(*f[i]);
    for (i = 0; i < nkv; i++) {
        o[NSTRS + 2 * i].s = str_or_empty(kv[i].key);
        o[NSTRS + 2 * i + 1].s = str_or_empty(kv[i].val);
    }
    if (n > NSTRS + 2 * nkv)
        o[n - 1].s = s->tokens;

    /* Sizes checked step by step, so that the sum cannot wrap. Only literals
     * are compared with (chained by length): the first string equal to
     * another is one, and no two literals are equal. */
    for (i = 0; i < NBUCKETS; i++)
        head[i] = -1;
    total = FIXED_LEN + varint_len((size_t)nkv);
    for (j = 0; j < n; j++) {
        size_t need;
        int *h;
        o[j].len = strlen(o[j].s);
        o[j].ref = -1;
        if (o[j].len > JP_SESSREC_MAX)
            return NULL;
        h = &head[o[j].len % NBUCKETS];
        for (i = *h; o[j].len && i >= 0; i = o[i].next) {
            if (o[i].len == o[j].len && !memcmp(o[i].s, o[j].s, o[j].len)) {
                o[j].ref = i;
                break;
            }
        }
        if (o[j].len && o[j].ref < 0) {
            o[j].next = *h;
            *h = j;
        }
        need = o[j].ref >= 0 ? varint_len(2 * (size_t)o[j].ref + 1)
                             : varint_len(2 * o[j].len) + o[j].len;
        if (total + need > JP_SESSREC_MAX)
            return NULL;
        total += need;
    }

    b = buf = apr_palloc(p, total);
    memcpy(b, MAGIC, MAGIC_LEN);
    b += MAGIC_LEN;
    put64(b, s->created);
    put64(b + 8, s->last_seen);
    put64(b + 16, s->expires);
    put64(b + 24, s->checked_at);
    put64(b + 32, s->account_id);
    b += NINTS * 8;
    for (j = 0; j < NSTRS; j++)
        b = put_str(b, &o[j]);
    b = put_varint(b, (size_t)nkv);
    for (; j < n; j++)
        b = put_str(b, &o[j]);
    *len = (size_t)(b - buf);
    return buf;
}

/* A JPS5 string read so far, for the references after it: where it lies
 * and its length; 0 for a reference or an empty string, which no reference
 * may name. */
typedef struct {
    uint32_t off, len;
    int32_t next; /* the earlier literal in the same bucket, or -1 */
} in_str;

typedef struct {
    unsigned char *base, *pos, *end;
    unsigned char *nul; /* where the string read last ends: its NUL goes there */
    int trusted;
    in_str *tab; /* JPS5: the strings read so far (n), room for all; JPS4: NULL */
    uint32_t n;
    int32_t head[NBUCKETS]; /* JPS5: the last literal of each length bucket */
} reader;

/* A canonical varint at pos. Reading it frees its first byte: the previous
 * string's NUL is written there only now. */
static int get_varint(reader *r, uint32_t *v)
{
    uint32_t x = 0;
    int i;

    for (i = 0; i < VARINT_MAX; i++) {
        unsigned char b;
        if (r->pos >= r->end)
            return JP_SESSREC_ETRUNC;
        b = *r->pos++;
        x |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i && !b)
                return JP_SESSREC_EBAD; /* overlong: not canonical */
            if (r->nul)
                *r->nul = '\0';
            r->nul = NULL;
            *v = x;
            return 0;
        }
    }
    return JP_SESSREC_EBAD;
}

/* The next string into *out, its length into *outlen. */
static int get_str(reader *r, const char **out, uint32_t *outlen)
{
    uint32_t v, n;
    int rv = get_varint(r, &v);

    if (rv)
        return rv;
    n = v;
    if (r->tab) {
        in_str *t = &r->tab[r->n];
        if (v & 1) {
            uint32_t to = v >> 1;
            /* Earlier, a non-empty literal: never forward, itself or a chain. */
            if (to >= r->n || !r->tab[to].len)
                return JP_SESSREC_EBAD;
            *out = (const char *)r->base + r->tab[to].off;
            *outlen = r->tab[to].len;
            t->off = t->len = 0;
            t->next = -1;
            r->n++;
            return 0;
        }
        n = v >> 1;
    }
    if (n > (size_t)(r->end - r->pos))
        return JP_SESSREC_ETRUNC;
    if (!r->trusted && memchr(r->pos, '\0', n))
        return JP_SESSREC_EBAD;
    if (r->tab) {
        int32_t *h = &r->head[n % NBUCKETS], k;
        /* A repeated string must be a reference to its first occurrence:
         * one record, one encoding. */
        for (k = *h; !r->trusted && n && k >= 0; k = r->tab[k].next) {
            if (r->tab[k].len == n && !memcmp(r->base + r->tab[k].off, r->pos, n))
                return JP_SESSREC_EBAD;
        }
        r->tab[r->n].off = (uint32_t)(r->pos - r->base);
        r->tab[r->n].len = n;
        r->tab[r->n].next = -1;
        if (n) {
            r->tab[r->n].next = *h;
            *h = (int32_t)r->n;
        }
        r->n++;
    }
    *out = (const char *)r->pos;
    *outlen = n;
    r->pos += n;
    r->nul = r->pos;
    return 0;
}

/* The integers: they lie before every string, so decoding in place leaves
 * them as they were. The same place in JPS4 and JPS5. */
static void get_fixed(const unsigned char *buf, jp_session *s)
{
    memset(s, 0, sizeof(*s));
    s->created = get64(buf + MAGIC_LEN);
    s->last_seen = get64(buf + MAGIC_LEN + 8);
    s->expires = get64(buf + MAGIC_LEN + 16);
    s->checked_at = get64(buf + MAGIC_LEN + 24);
    s->account_id = get64(buf + MAGIC_LEN + 32);
}

int jp_sessrec_decode_inplace(apr_pool_t *p, unsigned char *buf, size_t len, int trusted,
                              jp_session *out)
{
    jp_session s;
    reader r;
    const char **strs[NSTRS4 + 1], *user;
    in_str first[NSTRS];
    uint32_t nkv, i, slen;
    int rv, v5, nf;
    jp_kv *kv;

    if (!buf || !out)
        return JP_SESSREC_EBAD;
    if (len > JP_SESSREC_MAX)
        return JP_SESSREC_ETOOBIG;
    if (len < MIN_LEN)
        return JP_SESSREC_ETRUNC;
    if (memcmp(buf, MAGIC, MAGIC_LEN) == 0)
        v5 = 1;
    else if (memcmp(buf, MAGIC4, MAGIC_LEN) == 0)
        v5 = 0;
    else
        return JP_SESSREC_EBAD;
    if (!v5 && len < MIN4_LEN)
        return JP_SESSREC_ETRUNC;

    get_fixed(buf, &s);
    if (!v5)
        memcpy(s.marks, buf + FIXED_LEN, MARKS_LEN);

    r.base = buf;
    r.pos = buf + (v5 ? FIXED_LEN : FIXED4_LEN);
    r.end = buf + len;
    r.nul = NULL;
    r.trusted = trusted;
    r.tab = v5 ? first : NULL;
    r.n = 0;
    for (i = 0; i < NBUCKETS; i++)
        r.head[i] = -1;

    nf = str_fields(&s, strs, v5 ? NULL : &user);
    for (i = 0; i < (uint32_t)nf; i++) {
        if ((rv = get_str(&r, strs[i], &slen)) != 0)
            return rv;
    }

    if ((rv = get_varint(&r, &nkv)) != 0)
        return rv;
    if (nkv > JP_SESSREC_MAX_KV)
        return JP_SESSREC_EBAD;
    /* Each pair needs at least two length bytes: refuse a count the rest of
     * the buffer cannot hold before allocating for it. */
    if ((size_t)nkv * 2 > (size_t)(r.end - r.pos))
        return JP_SESSREC_ETRUNC;

    if (v5) {
        r.tab = apr_palloc(p, (NSTRS + 2 * (size_t)nkv + 1) * sizeof(in_str));
        memcpy(r.tab, first, sizeof(first));
    }
    s.kv = apr_array_make(p, nkv ? (int)nkv : 1, sizeof(jp_kv));
    kv = (jp_kv *)s.kv->elts;
    for (i = 0; i < nkv; i++) {
        if ((rv = get_str(&r, &kv[i].key, &slen)) != 0 ||
            (rv = get_str(&r, &kv[i].val, &slen)) != 0)
            return rv;
    }
    s.kv->nelts = (int)nkv;

    s.tokens = "";
    if (r.pos != r.end) {
        if ((rv = get_str(&r, &s.tokens, &slen)) != 0)
            return rv;
        /* Written only when not empty: an empty one is not canonical. */
        if (!slen)
            return JP_SESSREC_EBAD;
    }
    if (r.pos != r.end)
        return JP_SESSREC_EBAD;
    /* The last string ends at len: the caller's extra byte takes its NUL. */
    if (r.nul)
        *r.nul = '\0';
    *out = s;
    return 0;
}

int jp_sessrec_decode(apr_pool_t *p, const unsigned char *buf, size_t len, jp_session *out)
{
    unsigned char *copy;

    if (!buf || !out)
        return JP_SESSREC_EBAD;
    if (len > JP_SESSREC_MAX)
        return JP_SESSREC_ETOOBIG;
    copy = apr_palloc(p, len + 1);
    memcpy(copy, buf, len);
    return jp_sessrec_decode_inplace(p, copy, len, 0, out);
}

/* The shape: the kv count; the offsets of iss, sub, sid, id_token, id and
 * tokens; the marker keys (no hashing on a rebuild); the offsets of each key
 * and value. A reference's offset is its string's. NO_STR: an empty string
 * that is not in the bytes (tokens, when the record has none). */
#define SHAPE_MARKS (1 + NSTRS + 1)
#define SHAPE_HEAD (SHAPE_MARKS + MARKS_LEN / sizeof(uint32_t))
#define NO_STR UINT32_MAX
_Static_assert(MARKS_LEN % sizeof(uint32_t) == 0, "a shape is made of 32-bit words");

size_t jp_sessrec_shape_len(const jp_session *s)
{
    return (SHAPE_HEAD + 2 * (size_t)(s->kv ? s->kv->nelts : 0)) * sizeof(uint32_t);
}

static int offset_of(const char *str, const unsigned char *buf, size_t len, uint32_t *off)
{
    const unsigned char *u = (const unsigned char *)str;

    if (u >= buf && u <= buf + len) {
        *off = (uint32_t)(u - buf);
        return 0;
    }
    if (str && !*str) {
        *off = NO_STR;
        return 0;
    }
    return -1;
}

int jp_sessrec_shape(const jp_session *s, const unsigned char *buf, size_t len, void *out)
{
    uint32_t *o = out;
    const char **f[NSTRS4 + 1];
    const jp_kv *kv = s->kv ? (const jp_kv *)s->kv->elts : NULL;
    int i, nkv = s->kv ? s->kv->nelts : 0;

    if (len > JP_SESSREC_MAX)
        return -1;
    str_fields((jp_session *)s, f, NULL); /* read only */
    o[0] = (uint32_t)nkv;
    for (i = 0; i < NSTRS + 1; i++) {
        if (offset_of(*f[i], buf, len, &o[1 + i]) != 0)
            return -1;
    }
    memcpy(o + SHAPE_MARKS, s->marks, MARKS_LEN);
    for (i = 0; i < nkv; i++) {
        if (offset_of(kv[i].key, buf, len, &o[SHAPE_HEAD + 2 * i]) != 0 ||
            offset_of(kv[i].val, buf, len, &o[SHAPE_HEAD + 2 * i + 1]) != 0)
            return -1;
    }
    return 0;
}

/* The string at off; NULL when off is outside the len + 1 bytes. */
static const char *at(unsigned char *buf, size_t len, uint32_t off)
{
    if (off == NO_STR)
        return "";
    return off <= len ? (const char *)buf + off : NULL;
}

int jp_sessrec_rebuild(apr_pool_t *p, unsigned char *buf, size_t len, const void *shape,
                       size_t shapelen, jp_session *out)
{
    const uint32_t *o = shape;
    const char **strs[NSTRS4 + 1];
    jp_session s;
    jp_kv *kv;
    uint32_t nkv, i;

    /* A JPS4 record remembered from an old cookie rebuilds the same way:
     * its integers lie where JPS5's do, the shape says the rest. */
    if (!buf || !o || !out || shapelen < SHAPE_HEAD * sizeof(uint32_t) || len < MIN_LEN ||
        len > JP_SESSREC_MAX ||
        (memcmp(buf, MAGIC, MAGIC_LEN) != 0 && memcmp(buf, MAGIC4, MAGIC_LEN) != 0))
        return JP_SESSREC_EBAD;
    nkv = o[0];
    if (nkv > JP_SESSREC_MAX_KV || shapelen != (SHAPE_HEAD + 2 * (size_t)nkv) * sizeof(uint32_t))
        return JP_SESSREC_EBAD;
    /* Decoding leaves the byte after the record as it was when no string
     * ends there (a record without kv or tokens): every offset up to len then
     * reads a string that ends inside the len + 1 bytes, whatever the shape. */
    buf[len] = '\0';
    get_fixed(buf, &s);
    memcpy(s.marks, o + SHAPE_MARKS, MARKS_LEN);
    str_fields(&s, strs, NULL);
    for (i = 0; i < NSTRS + 1; i++) {
        if (!(*strs[i] = at(buf, len, o[1 + i])))
            return JP_SESSREC_EBAD;
    }
    s.kv = apr_array_make(p, nkv ? (int)nkv : 1, sizeof(jp_kv));
    kv = (jp_kv *)s.kv->elts;
    o += SHAPE_HEAD;
    for (i = 0; i < nkv; i++) {
        if (!(kv[i].key = at(buf, len, o[2 * i])) || !(kv[i].val = at(buf, len, o[2 * i + 1])))
            return JP_SESSREC_EBAD;
    }
    s.kv->nelts = (int)nkv;
    *out = s;
    return 0;
}
