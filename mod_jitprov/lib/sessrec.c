/* The session record as sealed into the cookie. Every authenticated request
 * decodes one, so the format is made to be read in a single forward pass and
 * decoded in place (the strings are NUL-terminated where they lie):
 *
 *   "JPS4"
 *   created, last_seen, expires, checked_at, account_id   int64, big-endian
 *   four revocation marker keys                           4 x 24 bytes
 *   iss, sub, sid, user, id_token, id                     length + bytes
 *   kv count                                              varint
 *   count x (key, val)                                    length + bytes
 *   [tokens]                                              length + bytes,
 *                                                         only when not empty
 *
 * Lengths and the count are unsigned LEB128 varints (one byte below 128, at
 * most three). The encoding is canonical (one record, one byte string: no
 * overlong varint), which lets the fuzzer check decode/encode as an exact
 * round trip. Strings carry no NUL byte: everything downstream treats them
 * as C strings. */

#include <string.h>

#include "sessrec.h"
#include "claims.h"

#define MAGIC "JPS4"
#define MAGIC_LEN 4
#define NINTS 5
#define NSTRS 6
#define MARKS_LEN (JP_SESSREC_NMARKS * JP_SESSREC_MARKLEN)
#define FIXED_LEN (MAGIC_LEN + NINTS * 8 + MARKS_LEN)
/* The smallest record: fixed part, six empty strings, a zero kv count. */
#define MIN_LEN (FIXED_LEN + NSTRS + 1)
#define VARINT_MAX 3 /* 21 bits: more than JP_SESSREC_MAX */

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

/* Adds a length-prefixed string's size to *total; 0 once past the limit (checked
 * step by step so the sum cannot wrap). */
static int add_len(size_t *total, const char *s)
{
    size_t n = strlen(s);

    if (n > JP_SESSREC_MAX || *total + varint_len(n) + n > JP_SESSREC_MAX)
        return 0;
    *total += varint_len(n) + n;
    return 1;
}

static unsigned char *put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);

    b = put_varint(b, n);
    memcpy(b, s, n);
    return b + n;
}

/* The record's strings in their order in the encoding; tokens, optional,
 * last. The addresses, so that decoders can fill them. */
static void str_fields(jp_session *s, const char **f[NSTRS + 1])
{
    f[0] = &s->iss;
    f[1] = &s->sub;
    f[2] = &s->sid;
    f[3] = &s->user;
    f[4] = &s->id_token;
    f[5] = &s->id;
    f[6] = &s->tokens;
}

unsigned char *jp_sessrec_encode(apr_pool_t *p, const jp_session *s, size_t *len)
{
    const char *strs[NSTRS], **f[NSTRS + 1];
    const jp_kv *kv = NULL;
    int nkv = 0, i;
    size_t total = FIXED_LEN;
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
    str_fields((jp_session *)s, f); /* read only */
    for (i = 0; i < NSTRS; i++)
        strs[i] = str_or_empty(*f[i]);

    for (i = 0; i < NSTRS; i++) {
        if (!add_len(&total, strs[i]))
            return NULL;
    }
    total += varint_len((size_t)nkv);
    for (i = 0; i < nkv; i++) {
        if (!add_len(&total, str_or_empty(kv[i].key)) || !add_len(&total, str_or_empty(kv[i].val)))
            return NULL;
    }
    if (s->tokens && *s->tokens && !add_len(&total, s->tokens))
        return NULL;

    b = buf = apr_palloc(p, total);
    memcpy(b, MAGIC, MAGIC_LEN);
    b += MAGIC_LEN;
    put64(b, s->created);
    put64(b + 8, s->last_seen);
    put64(b + 16, s->expires);
    put64(b + 24, s->checked_at);
    put64(b + 32, s->account_id);
    b += NINTS * 8;
    memcpy(b, s->marks, MARKS_LEN);
    b += MARKS_LEN;
    for (i = 0; i < NSTRS; i++)
        b = put_str(b, strs[i]);
    b = put_varint(b, (size_t)nkv);
    for (i = 0; i < nkv; i++) {
        b = put_str(b, str_or_empty(kv[i].key));
        b = put_str(b, str_or_empty(kv[i].val));
    }
    if (s->tokens && *s->tokens)
        b = put_str(b, s->tokens);
    *len = (size_t)(b - buf);
    return buf;
}

typedef struct {
    unsigned char *pos, *end;
    unsigned char *nul; /* where the string read last ends: its NUL goes there */
    int trusted;
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

static int get_str(reader *r, const char **out)
{
    uint32_t n;
    int rv = get_varint(r, &n);

    if (rv)
        return rv;
    if (n > (size_t)(r->end - r->pos))
        return JP_SESSREC_ETRUNC;
    if (!r->trusted && memchr(r->pos, '\0', n))
        return JP_SESSREC_EBAD;
    *out = (const char *)r->pos;
    r->pos += n;
    r->nul = r->pos;
    return 0;
}

/* The fixed part (times, account id, marker keys): it lies before every
 * string, so decoding in place leaves it as it was. */
static void get_fixed(const unsigned char *buf, jp_session *s)
{
    memset(s, 0, sizeof(*s));
    s->created = get64(buf + MAGIC_LEN);
    s->last_seen = get64(buf + MAGIC_LEN + 8);
    s->expires = get64(buf + MAGIC_LEN + 16);
    s->checked_at = get64(buf + MAGIC_LEN + 24);
    s->account_id = get64(buf + MAGIC_LEN + 32);
    memcpy(s->marks, buf + MAGIC_LEN + NINTS * 8, MARKS_LEN);
}

int jp_sessrec_decode_inplace(apr_pool_t *p, unsigned char *buf, size_t len, int trusted,
                              jp_session *out)
{
    jp_session s;
    reader r;
    const char **strs[NSTRS + 1];
    uint32_t nkv, i;
    jp_kv *kv;
    int rv;

    if (!buf || !out)
        return JP_SESSREC_EBAD;
    if (len > JP_SESSREC_MAX)
        return JP_SESSREC_ETOOBIG;
    if (len < MIN_LEN)
        return JP_SESSREC_ETRUNC;
    if (memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return JP_SESSREC_EBAD;

    get_fixed(buf, &s);

    r.pos = buf + FIXED_LEN;
    r.end = buf + len;
    r.nul = NULL;
    r.trusted = trusted;

    str_fields(&s, strs);
    for (i = 0; i < NSTRS; i++) {
        if ((rv = get_str(&r, strs[i])) != 0)
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

    s.kv = apr_array_make(p, nkv ? (int)nkv : 1, sizeof(jp_kv));
    kv = (jp_kv *)s.kv->elts;
    for (i = 0; i < nkv; i++) {
        if ((rv = get_str(&r, &kv[i].key)) != 0 || (rv = get_str(&r, &kv[i].val)) != 0)
            return rv;
    }
    s.kv->nelts = (int)nkv;

    s.tokens = "";
    if (r.pos != r.end) {
        if ((rv = get_str(&r, &s.tokens)) != 0)
            return rv;
        /* Written only when not empty: an empty one is not canonical. */
        if (r.pos == (unsigned char *)s.tokens)
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

/* The shape: the kv count, then the offsets of iss, sub, sid, user,
 * id_token, id and tokens, then of each key and value. NO_STR: an empty
 * string that is not in the bytes (tokens, when the record has none). */
#define SHAPE_HEAD (1 + NSTRS + 1)
#define NO_STR UINT32_MAX

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
    const char *strs[NSTRS + 1], **f[NSTRS + 1];
    const jp_kv *kv = s->kv ? (const jp_kv *)s->kv->elts : NULL;
    int i, nkv = s->kv ? s->kv->nelts : 0;

    if (len > JP_SESSREC_MAX)
        return -1;
    str_fields((jp_session *)s, f); /* read only */
    for (i = 0; i < NSTRS + 1; i++)
        strs[i] = *f[i];
    o[0] = (uint32_t)nkv;
    for (i = 0; i < NSTRS + 1; i++) {
        if (offset_of(strs[i], buf, len, &o[1 + i]) != 0)
            return -1;
    }
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
    const char **strs[NSTRS + 1];
    jp_session s;
    jp_kv *kv;
    uint32_t nkv, i;

    if (!buf || !o || !out || shapelen < SHAPE_HEAD * sizeof(uint32_t) || len < MIN_LEN ||
        len > JP_SESSREC_MAX || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return JP_SESSREC_EBAD;
    nkv = o[0];
    if (nkv > JP_SESSREC_MAX_KV || shapelen != (SHAPE_HEAD + 2 * (size_t)nkv) * sizeof(uint32_t))
        return JP_SESSREC_EBAD;
    /* Decoding leaves the byte after the record as it was when no string
     * ends there (a record without kv or tokens): every offset up to len then
     * reads a string that ends inside the len + 1 bytes, whatever the shape. */
    buf[len] = '\0';
    get_fixed(buf, &s);
    str_fields(&s, strs);
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
