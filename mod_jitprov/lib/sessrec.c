/* The session record as stored in the socache. Every authenticated request
 * decodes one, so the format is made to be read in a single forward pass:
 *
 *   "JPS2"
 *   created, last_seen, expires, checked_at, account_id   int64, big-endian
 *   iss, sub, sid, user, id_token, id                     uint32 length + bytes
 *   kv count                                              uint32
 *   count x (key, val)                                    uint32 length + bytes
 *   [tokens]                                              uint32 length + bytes,
 *                                                         only when not empty
 *
 * The encoding is canonical (one record, one byte string), which lets the
 * fuzzer check decode/encode as an exact round trip. Strings carry no NUL
 * byte: everything downstream treats them as C strings. */

#include <string.h>

#include "sessrec.h"
#include "claims.h"

#define MAGIC "JPS3"
#define MAGIC_LEN 4
#define NINTS 5
#define NSTRS 6
#define MARKS_LEN (JP_SESSREC_NMARKS * JP_SESSREC_MARKLEN)
#define FIXED_LEN (MAGIC_LEN + NINTS * 8 + MARKS_LEN)
/* The smallest record: fixed part, six empty strings, a zero kv count. */
#define MIN_LEN (FIXED_LEN + NSTRS * 4 + 4)

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

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* Adds a length-prefixed string's size to *total; 0 once past the limit (checked
 * step by step so the sum cannot wrap). */
static int add_len(size_t *total, const char *s)
{
    size_t n = strlen(s);

    if (n > JP_SESSREC_MAX || *total + 4 + n > JP_SESSREC_MAX)
        return 0;
    *total += 4 + n;
    return 1;
}

static unsigned char *put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s);

    put32(b, (uint32_t)n);
    memcpy(b + 4, s, n);
    return b + 4 + n;
}

unsigned char *jp_sessrec_encode(apr_pool_t *p, const jp_session *s, size_t *len)
{
    const char *strs[NSTRS];
    const jp_kv *kv = NULL;
    int nkv = 0, i;
    size_t total = FIXED_LEN + 4;
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
    strs[0] = str_or_empty(s->iss);
    strs[1] = str_or_empty(s->sub);
    strs[2] = str_or_empty(s->sid);
    strs[3] = str_or_empty(s->user);
    strs[4] = str_or_empty(s->id_token);
    strs[5] = str_or_empty(s->id);

    for (i = 0; i < NSTRS; i++) {
        if (!add_len(&total, strs[i]))
            return NULL;
    }
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
    put32(b, (uint32_t)nkv);
    b += 4;
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
    const unsigned char *pos, *end;
    char *heap; /* where the next decoded string goes */
} reader;

static int get_str(reader *r, const char **out)
{
    uint32_t n;

    if (r->end - r->pos < 4)
        return JP_SESSREC_ETRUNC;
    n = get32(r->pos);
    r->pos += 4;
    if (n > (size_t)(r->end - r->pos))
        return JP_SESSREC_ETRUNC;
    if (memchr(r->pos, '\0', n))
        return JP_SESSREC_EBAD;
    memcpy(r->heap, r->pos, n);
    r->heap[n] = '\0';
    *out = r->heap;
    r->heap += n + 1;
    r->pos += n;
    return 0;
}

int jp_sessrec_decode(apr_pool_t *p, const unsigned char *buf, size_t len, jp_session *out)
{
    jp_session s;
    reader r;
    const char **strs[NSTRS];
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

    memset(&s, 0, sizeof(s));
    s.created = get64(buf + MAGIC_LEN);
    s.last_seen = get64(buf + MAGIC_LEN + 8);
    s.expires = get64(buf + MAGIC_LEN + 16);
    s.checked_at = get64(buf + MAGIC_LEN + 24);
    s.account_id = get64(buf + MAGIC_LEN + 32);
    memcpy(s.marks, buf + MAGIC_LEN + NINTS * 8, MARKS_LEN);

    /* One allocation holds every string: each costs its bytes plus a NUL, and
     * each took its bytes plus a 4-byte length in the input, so the input's
     * length bounds the total. */
    r.pos = buf + FIXED_LEN;
    r.end = buf + len;
    r.heap = apr_palloc(p, len - FIXED_LEN);

    strs[0] = &s.iss;
    strs[1] = &s.sub;
    strs[2] = &s.sid;
    strs[3] = &s.user;
    strs[4] = &s.id_token;
    strs[5] = &s.id;
    for (i = 0; i < NSTRS; i++) {
        if ((rv = get_str(&r, strs[i])) != 0)
            return rv;
    }

    if (r.end - r.pos < 4)
        return JP_SESSREC_ETRUNC;
    nkv = get32(r.pos);
    r.pos += 4;
    if (nkv > JP_SESSREC_MAX_KV)
        return JP_SESSREC_EBAD;
    /* Each pair needs at least two length words: refuse a count the rest of the
     * buffer cannot hold before allocating for it. */
    if ((size_t)nkv * 8 > (size_t)(r.end - r.pos))
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
        /* Fewer bytes than a length word: trailing garbage, not a field. */
        if (r.end - r.pos < 4)
            return JP_SESSREC_EBAD;
        if ((rv = get_str(&r, &s.tokens)) != 0)
            return rv;
        /* Written only when not empty: an empty one is not canonical. */
        if (!*s.tokens)
            return JP_SESSREC_EBAD;
    }
    if (r.pos != r.end)
        return JP_SESSREC_EBAD;
    *out = s;
    return 0;
}
