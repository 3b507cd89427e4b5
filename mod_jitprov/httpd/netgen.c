/* What each process remembers of the sessions it checked against a networked
 * JITProvSessionCache: the cache's generation at the time. Every revocation
 * written there is followed by a new generation (a random value, never an
 * increment: socache has no compare-and-set, and a lost update must still
 * change the value). While the generation a request reads is the one a
 * session was checked at, no marker of it can have been written since, and
 * the request reads one key instead of the epoch and four markers.
 * session.c says in which order the reads and writes go. */
#include "jitprov.h"

#include <string.h>

#include "apr_thread_mutex.h"

/* Entries per process: a session not found is checked in full, so the table
 * only has to hold the sessions active on one process at a time. */
#define GEN_SLOTS 4096
#define GEN_LOCKS 64

typedef struct {
    const void *owner; /* the server config the generation is of */
    unsigned char key[JP_NETGEN_KEYLEN];
    int64_t gen;
} gen_slot;

static gen_slot *slots;
static apr_thread_mutex_t *locks[GEN_LOCKS];

static apr_status_t gen_cleanup(void *data)
{
    (void)data;
    slots = NULL;
    return APR_SUCCESS;
}

void jp_netgen_child_init(apr_pool_t *pchild)
{
    int i;
    for (i = 0; i < GEN_LOCKS; i++) {
        if (apr_thread_mutex_create(&locks[i], APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
            return; /* nothing remembered: every request checks in full */
    }
    slots = apr_pcalloc(pchild, GEN_SLOTS * sizeof(*slots));
    apr_pool_cleanup_register(pchild, NULL, gen_cleanup, apr_pool_cleanup_null);
}

/* The key is a SHA-256 prefix (a session's marker key): its bytes are
 * already uniform. */
static unsigned slot_of(const unsigned char *key)
{
    unsigned v;
    memcpy(&v, key, sizeof(v));
    return v & (GEN_SLOTS - 1);
}

int jp_netgen_seen(const void *owner, const unsigned char key[JP_NETGEN_KEYLEN], int64_t gen)
{
    unsigned i;
    int seen;
    if (!slots)
        return 0;
    i = slot_of(key);
    if (apr_thread_mutex_lock(locks[i % GEN_LOCKS]) != APR_SUCCESS)
        return 0;
    seen = slots[i].owner == owner && slots[i].gen == gen &&
           !memcmp(slots[i].key, key, JP_NETGEN_KEYLEN);
    apr_thread_mutex_unlock(locks[i % GEN_LOCKS]);
    return seen;
}

void jp_netgen_remember(const void *owner, const unsigned char key[JP_NETGEN_KEYLEN], int64_t gen)
{
    unsigned i;
    if (!slots)
        return;
    i = slot_of(key);
    if (apr_thread_mutex_lock(locks[i % GEN_LOCKS]) != APR_SUCCESS)
        return;
    slots[i].owner = owner;
    memcpy(slots[i].key, key, JP_NETGEN_KEYLEN);
    slots[i].gen = gen;
    apr_thread_mutex_unlock(locks[i % GEN_LOCKS]);
}
