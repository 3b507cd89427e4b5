/* Revocation store (see revstore.h). Open addressing with linear probing over
 * slots of {key, expires, value}. A slot whose expires is 0 was never used and
 * ends a probe sequence; an expired slot is reused by puts but does not end a
 * lookup, so chains stay intact without deletions ever moving entries. */
#include <string.h>

#include "revstore.h"

#define MAGIC "JPREV01\n"

struct jp_rev {
    char magic[8];
    uint32_t nslots;
    uint32_t seq; /* odd while a writer is in the middle of a change */
    int64_t epoch;
    unsigned char pad[40]; /* header: one 64-byte cache line */
};

typedef struct {
    unsigned char key[JP_REV_KEYLEN];
    int64_t expires; /* unix seconds; 0 = never used */
    int64_t value;
} slot;

#define SLOTS(t) ((slot *)((char *)(t) + sizeof(jp_rev)))
/* Readers spin this many times on a busy table before asking for the lock. */
#define READ_TRIES 256

size_t jp_rev_size(uint32_t nslots)
{
    return sizeof(jp_rev) + (size_t)nslots * sizeof(slot);
}

jp_rev *jp_rev_attach(void *mem, size_t size, uint32_t nslots, int64_t now_us, int *kept)
{
    jp_rev *t = mem;
    if (kept)
        *kept = 0;
    if (!mem || nslots < JP_REV_MIN_SLOTS || nslots > JP_REV_MAX_SLOTS ||
        size < jp_rev_size(nslots))
        return NULL;
    if (!memcmp(t->magic, MAGIC, 8) && t->nslots == nslots) {
        /* A writer that died mid-change left the counter odd: nobody writes
         * while we attach (httpd's parent, before any child runs). */
        if (t->seq & 1)
            t->seq++;
        if (kept)
            *kept = 1;
        return t;
    }
    memset(mem, 0, jp_rev_size(nslots));
    t->nslots = nslots;
    t->epoch = now_us;
    memcpy(t->magic, MAGIC, 8);
    return t;
}

int64_t jp_rev_epoch(const jp_rev *t)
{
    return t->epoch;
}

uint32_t jp_rev_slots(const jp_rev *t)
{
    return t->nslots;
}

static uint32_t home(const jp_rev *t, const unsigned char *key)
{
    uint32_t h;
    /* Keys are SHA-256 output: any four bytes are uniform. */
    memcpy(&h, key, sizeof(h));
    return h % t->nslots;
}

static int find(const jp_rev *t, const unsigned char *key, int64_t now, int64_t *value)
{
    const slot *s = SLOTS(t);
    uint32_t i = home(t, key), n;
    for (n = 0; n < JP_REV_PROBES; n++, i = (i + 1) % t->nslots) {
        int64_t exp = s[i].expires;
        if (exp == 0)
            return 0;
        if (exp > now && !memcmp(s[i].key, key, JP_REV_KEYLEN)) {
            *value = s[i].value;
            return 1;
        }
    }
    return 0;
}

int jp_rev_get(const jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now, int64_t *value)
{
    int tries;
    for (tries = 0; tries < READ_TRIES; tries++) {
        uint32_t s1 = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE), s2;
        int64_t v = 0;
        int found;
        if (s1 & 1)
            continue;
        found = find(t, key, now, &v);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        s2 = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
        if (s1 == s2) {
            if (found && value)
                *value = v;
            return found;
        }
    }
    return -1;
}

int jp_rev_get_locked(const jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now,
                      int64_t *value)
{
    int64_t v = 0;
    int found = find(t, key, now, &v);
    if (found && value)
        *value = v;
    return found;
}

static void write_begin(jp_rev *t)
{
    uint32_t s = t->seq;
    if (s & 1) /* a writer died mid-change: its lock is gone, so is it */
        s++;
    __atomic_store_n(&t->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(jp_rev *t)
{
    __atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
}

int jp_rev_put(jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t expires, int64_t value,
               jp_rev_mode mode, int64_t now)
{
    slot *s = SLOTS(t);
    uint32_t i = home(t, key), n, freeslot = UINT32_MAX;
    for (n = 0; n < JP_REV_PROBES; n++, i = (i + 1) % t->nslots) {
        if (s[i].expires != 0 && !memcmp(s[i].key, key, JP_REV_KEYLEN)) {
            if (s[i].expires > now) {
                if (mode == JP_REV_ONCE)
                    return 1;
                write_begin(t);
                if (value > s[i].value)
                    s[i].value = value;
                if (expires > s[i].expires)
                    s[i].expires = expires;
                write_end(t);
                return 0;
            }
            /* The same key, expired: reuse its slot (no duplicate can follow). */
            freeslot = i;
            break;
        }
        if (s[i].expires <= now && freeslot == UINT32_MAX)
            freeslot = i;
        if (s[i].expires == 0)
            break;
    }
    if (freeslot == UINT32_MAX)
        return -1;
    write_begin(t);
    memcpy(s[freeslot].key, key, JP_REV_KEYLEN);
    s[freeslot].value = value;
    s[freeslot].expires = expires > 1 ? expires : 1;
    write_end(t);
    return 0;
}

int jp_rev_del(jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now)
{
    slot *s = SLOTS(t);
    uint32_t i = home(t, key), n;
    for (n = 0; n < JP_REV_PROBES; n++, i = (i + 1) % t->nslots) {
        if (s[i].expires == 0)
            return 1;
        if (s[i].expires > now && !memcmp(s[i].key, key, JP_REV_KEYLEN)) {
            write_begin(t);
            s[i].expires = 1; /* expired, but still part of the chain */
            write_end(t);
            return 0;
        }
    }
    return 1;
}

uint32_t jp_rev_count(const jp_rev *t, int64_t now)
{
    const slot *s = SLOTS(t);
    uint32_t i, n = 0;
    for (i = 0; i < t->nslots; i++)
        if (s[i].expires > now)
            n++;
    return n;
}
