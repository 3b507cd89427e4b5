/* The plaintexts of session cookies this process opened recently.
 *
 * A browser sends the same sealed cookie with every request until its
 * activity write-back (at most once a minute), so most requests would decode
 * and decrypt bytes this process has already opened. A hit here costs a hash
 * of the cookie's last bytes, one comparison of the whole cookie and a copy of
 * the record as it was decoded (with the places of its strings, so that it is
 * not decoded again) and of the environment made from it: one look-up per
 * request. A miss costs what it did before.
 *
 * Safety: an entry is made only from a cookie that opened (tag verified) under
 * one vhost's keys and AAD, and is found only by that same vhost with a
 * byte-identical cookie, so it answers exactly what jp_open would have. A
 * replacement cookie this process issued is also found by its slot and that
 * slot's generation, recorded after comparing it when it was issued: any
 * later entry in the slot has another generation. What comes after the
 * opening (expiry, inactivity, revocation markers, the account re-check) runs
 * on every request as before.
 *
 * Locking: one mutex per slot, held for a comparison and a copy of about a
 * kilobyte; requests with different cookies almost never share a slot, so no
 * request waits on another user's. Never two slots at once. Nothing is shared
 * between processes. */

#include "jitprov.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto.h"

#define HOT_SLOTS 512 /* a power of two */
/* Only the tail of a cookie is hashed: it ends in the GCM tag, which is
 * uniformly random for every cookie ever sealed. */
#define HOT_TAIL 16

typedef struct {
    apr_thread_mutex_t *m;
    const void *owner; /* the vhost (its keys and AAD) that opened it */
    char *cookie;
    size_t clen;
    /* The record as decoded in place (plen + 1 bytes), after its shape
     * (shapelen bytes), in one block: a hit rebuilds it without decoding. */
    unsigned char *rec;
    size_t plen, shapelen;
    /* The environment apply_identity made from this record under the
     * settings sig (prefix, delimiter, encoding), in mod_jitprov.c's form. */
    char *sig;
    size_t siglen;
    char *env;
    size_t envlen;
    /* The cookie last issued to replace this one (activity write-back),
     * while the client may still send this one, and when. */
    char *next;
    size_t nextlen;
    apr_time_t next_at;
    /* Which entry is the replacement's own: its slot, and that slot's gen
     * when it was seen to hold the replacement (0: not known). */
    unsigned next_slot;
    apr_uint64_t next_gen;
    /* Counts the entries this slot has held: an entry is known by its slot
     * and gen without comparing its cookie again. */
    apr_uint64_t gen;
} hot_slot;

static hot_slot *slots;

/* Wiped before they are freed: cookies are bearer credentials, the
 * plaintext and the environment hold personal data. */
static void wipe(void *b, size_t n)
{
    if (b) {
        OPENSSL_cleanse(b, n);
        free(b);
    }
}

static void clear(hot_slot *h)
{
    wipe(h->rec, h->shapelen + h->plen + 1);
    wipe(h->cookie, h->clen);
    free(h->sig);
    wipe(h->env, h->envlen);
    wipe(h->next, h->nextlen);
    h->rec = NULL;
    h->cookie = NULL;
    h->sig = h->env = h->next = NULL;
    h->next_at = 0;
    h->next_gen = 0;
    h->owner = NULL;
    h->clen = h->plen = h->shapelen = h->siglen = h->envlen = h->nextlen = 0;
}

static apr_status_t hot_cleanup(void *data)
{
    int i;
    (void)data;
    for (i = 0; slots && i < HOT_SLOTS; i++)
        clear(&slots[i]);
    slots = NULL;
    return APR_SUCCESS;
}

void jp_hot_child_init(apr_pool_t *pchild)
{
    hot_slot *t = apr_pcalloc(pchild, HOT_SLOTS * sizeof(*t));
    int i;

    for (i = 0; i < HOT_SLOTS; i++) {
        if (apr_thread_mutex_create(&t[i].m, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
            return; /* no cache in this process: every request opens its cookie */
    }
    slots = t;
    apr_pool_cleanup_register(pchild, NULL, hot_cleanup, apr_pool_cleanup_null);
}

/* Copies of a and b in malloc'd memory, both or neither; the copy of b has
 * room for bsize bytes. */
static int copy_two(const void *a, size_t alen, const void *b, size_t blen, size_t bsize, void **ca,
                    void **cb)
{
    *ca = malloc(alen ? alen : 1);
    *cb = malloc(bsize ? bsize : 1);
    if (!*ca || !*cb) {
        free(*ca);
        free(*cb);
        return -1;
    }
    memcpy(*ca, a, alen);
    memcpy(*cb, b, blen);
    return 0;
}

static hot_slot *slot_of(const char *cookie, size_t clen)
{
    const unsigned char *end = (const unsigned char *)cookie + clen,
                        *s = end - (clen > HOT_TAIL ? HOT_TAIL : clen);
    uint32_t h = 2166136261u;

    for (; s < end; s++)
        h = (h ^ *s) * 16777619u;
    return &slots[h & (HOT_SLOTS - 1)];
}

/* The slot of cookie, locked; NULL when there is no cache or no lock. */
static hot_slot *lock_slot(const char *cookie, size_t clen)
{
    hot_slot *h;

    if (!slots)
        return NULL;
    h = slot_of(cookie, clen);
    return apr_thread_mutex_lock(h->m) == APR_SUCCESS ? h : NULL;
}

/* The stored cookie is another client's bearer credential: compared in
 * constant time (its length is public, as on the wire). */
static int same_cookie(const hot_slot *h, const void *owner, const char *cookie, size_t clen)
{
    return h->owner == owner && h->clen == clen && jp_ct_eq_words(h->cookie, cookie, clen);
}

/* Copies h's record and, when it was made under sig, its environment. */
static void copy_out(apr_pool_t *p, const hot_slot *h, const char *sig, size_t siglen,
                     jp_hot_view *out)
{
    /* apr_palloc aligns the block as malloc did: the shape comes first. */
    unsigned char *rec = apr_palloc(p, h->shapelen + h->plen + 1);

    memcpy(rec, h->rec, h->shapelen + h->plen + 1);
    out->shape = rec;
    out->shapelen = h->shapelen;
    out->pt = rec + h->shapelen;
    out->plen = h->plen;
    if (sig && h->env && h->siglen == siglen && !memcmp(h->sig, sig, siglen)) {
        char *env = apr_palloc(p, h->envlen);
        memcpy(env, h->env, h->envlen);
        out->env = env;
        out->envlen = h->envlen;
    }
}

int jp_hot_lookup(apr_pool_t *p, const void *owner, const char *cookie, size_t clen,
                  apr_time_t since, const char *sig, size_t siglen, jp_hot_view *out)
{
    hot_slot *h = lock_slot(cookie, clen);
    int found = 0;

    memset(out, 0, sizeof(*out));
    if (!h)
        return 0;
    if (same_cookie(h, owner, cookie, clen)) {
        found = 1;
        /* The caller opens the replacement: nothing else of this one is
         * needed. */
        if (since > 0 && h->next && h->next_at >= since) {
            out->next = apr_pstrmemdup(p, h->next, h->nextlen);
            out->nextlen = h->nextlen;
            out->next_slot = h->next_slot;
            out->next_gen = h->next_gen;
        } else {
            copy_out(p, h, sig, siglen, out);
        }
    }
    apr_thread_mutex_unlock(h->m);
    return found;
}

int jp_hot_lookup_next(apr_pool_t *p, const void *owner, const jp_hot_view *from, const char *sig,
                       size_t siglen, jp_hot_view *out)
{
    hot_slot *h;
    int found = 0;

    memset(out, 0, sizeof(*out));
    if (!slots || !from->next)
        return 0;
    /* The replacement's entry as it was when it was seen to hold it: this
     * process issued the cookie and compared it then. */
    if (from->next_gen && from->next_slot < HOT_SLOTS) {
        h = &slots[from->next_slot];
        if (apr_thread_mutex_lock(h->m) == APR_SUCCESS) {
            if (h->gen == from->next_gen && h->owner == owner && h->rec) {
                found = 1;
                copy_out(p, h, sig, siglen, out);
            }
            apr_thread_mutex_unlock(h->m);
        }
        if (found)
            return 1;
    }
    return jp_hot_lookup(p, owner, from->next, from->nextlen, 0, sig, siglen, out);
}

void jp_hot_put(const void *owner, const char *cookie, size_t clen, const unsigned char *pt,
                size_t plen, const void *shape, size_t shapelen)
{
    hot_slot *h, old;
    void *c, *t;

    /* A shape is made of 32-bit offsets: the record after it stays aligned. */
    if (!slots || shapelen % sizeof(uint32_t) ||
        copy_two(cookie, clen, shape, shapelen, shapelen + plen + 1, &c, &t) != 0)
        return;
    memcpy((unsigned char *)t + shapelen, pt, plen + 1);
    if (!(h = lock_slot(cookie, clen))) {
        wipe(c, clen);
        wipe(t, shapelen + plen + 1);
        return;
    }
    old = *h;
    h->owner = owner;
    h->cookie = c;
    h->clen = clen;
    h->rec = t;
    h->plen = plen;
    h->shapelen = shapelen;
    h->sig = h->env = h->next = NULL;
    h->siglen = h->envlen = h->nextlen = 0;
    h->next_at = 0;
    h->next_gen = 0;
    h->gen++;
    apr_thread_mutex_unlock(h->m);
    /* The replaced entry is freed outside the lock. */
    clear(&old);
}

void jp_hot_env_put(const void *owner, const char *cookie, size_t clen, const char *sig,
                    size_t siglen, const char *env, size_t envlen)
{
    hot_slot *h;
    void *g, *e;
    char *og = NULL, *oe = NULL;
    size_t oelen = 0;

    if (!slots || !envlen || copy_two(sig, siglen, env, envlen, envlen, &g, &e) != 0)
        return;
    if (!(h = lock_slot(cookie, clen))) {
        free(g);
        wipe(e, envlen);
        return;
    }
    /* Only beside the record it was made from: the slot may hold another
     * cookie by now. */
    if (same_cookie(h, owner, cookie, clen)) {
        og = h->sig;
        oe = h->env;
        oelen = h->envlen;
        h->sig = g;
        h->siglen = siglen;
        h->env = e;
        h->envlen = envlen;
        g = e = NULL;
    }
    apr_thread_mutex_unlock(h->m);
    free(og);
    wipe(oe, oelen);
    free(g);
    wipe(e, envlen);
}

void jp_hot_next_put(const void *owner, const char *cookie, size_t clen, const char *next,
                     size_t nextlen, int renew)
{
    hot_slot *h;
    char *n = malloc(nextlen + 1), *old = NULL;
    size_t oldlen = 0;
    unsigned nslot = 0;
    apr_uint64_t ngen = 0;

    if (!slots || !n) {
        free(n);
        return;
    }
    memcpy(n, next, nextlen);
    n[nextlen] = '\0';
    /* Where the replacement itself is remembered (it was put when it was
     * sealed), so that a request served by it finds it without comparing
     * it again. One slot lock at a time. */
    if ((h = lock_slot(next, nextlen))) {
        if (same_cookie(h, owner, next, nextlen)) {
            nslot = (unsigned)(h - slots);
            ngen = h->gen;
        }
        apr_thread_mutex_unlock(h->m);
    }
    if (!(h = lock_slot(cookie, clen))) {
        wipe(n, nextlen);
        return;
    }
    if (same_cookie(h, owner, cookie, clen) && (renew || h->next)) {
        old = h->next;
        oldlen = h->nextlen;
        h->next = n;
        h->nextlen = nextlen;
        h->next_slot = nslot;
        h->next_gen = ngen;
        if (renew)
            h->next_at = apr_time_now();
        n = NULL;
    }
    apr_thread_mutex_unlock(h->m);
    wipe(old, oldlen);
    wipe(n, nextlen);
}
