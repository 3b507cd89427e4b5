/* Revocation store: markers survive a re-attach, expire, resolve collisions,
 * keep the larger value, refuse a second one-use marker, and fail (not evict)
 * when a probe sequence is full. */
#include <stdlib.h>
#include <string.h>

#include "revstore.h"
#include "jtest.h"

static void key_of(unsigned char *k, uint32_t home, unsigned char tag)
{
    memset(k, tag, JP_REV_KEYLEN);
    memcpy(k, &home, sizeof(home));
}

int main(void)
{
    uint32_t n = JP_REV_MIN_SLOTS;
    size_t size = jp_rev_size(n);
    void *mem = calloc(1, size);
    unsigned char k1[JP_REV_KEYLEN], k2[JP_REV_KEYLEN], k[JP_REV_KEYLEN];
    int64_t v = 0, now = 1000;
    int kept = -1, i;
    jp_rev *t;

    CHECK(jp_rev_attach(mem, size - 1, n, 5, &kept) == NULL);
    CHECK(jp_rev_attach(mem, size, 10, 5, &kept) == NULL);
    t = jp_rev_attach(mem, size, n, 5000000, &kept);
    CHECK(t != NULL && kept == 0 && jp_rev_epoch(t) == 5000000);

    key_of(k1, 7, 1);
    key_of(k2, 7, 2); /* same home slot: a collision */
    CHECK(jp_rev_get(t, k1, now, &v) == 0);
    CHECK(jp_rev_put(t, k1, now + 10, 100, JP_REV_MAX, now) == 0);
    CHECK(jp_rev_put(t, k2, now + 10, 200, JP_REV_MAX, now) == 0);
    CHECK(jp_rev_get(t, k1, now, &v) == 1 && v == 100);
    CHECK(jp_rev_get(t, k2, now, &v) == 1 && v == 200);
    /* The larger value wins, whichever comes last. */
    CHECK(jp_rev_put(t, k1, now + 5, 50, JP_REV_MAX, now) == 0);
    CHECK(jp_rev_get(t, k1, now, &v) == 1 && v == 100);
    CHECK(jp_rev_put(t, k1, now + 5, 150, JP_REV_MAX, now) == 0);
    CHECK(jp_rev_get(t, k1, now, &v) == 1 && v == 150);
    /* One use: the second put is refused until the first expires. */
    key_of(k, 99, 3);
    CHECK(jp_rev_put(t, k, now + 2, 1, JP_REV_ONCE, now) == 0);
    CHECK(jp_rev_put(t, k, now + 2, 1, JP_REV_ONCE, now) == 1);
    CHECK(jp_rev_put(t, k, now + 4, 1, JP_REV_ONCE, now + 2) == 0);
    /* Expiry: gone for lookups, and the slot behind it still reachable. */
    CHECK(jp_rev_get(t, k1, now + 10, &v) == 0);
    CHECK(jp_rev_put(t, k2, now + 30, 201, JP_REV_MAX, now) == 0);
    CHECK(jp_rev_get(t, k2, now + 20, &v) == 1 && v == 201);
    CHECK(jp_rev_get_locked(t, k2, now + 20, &v) == 1 && v == 201);
    /* Delete. */
    CHECK(jp_rev_del(t, k2, now) == 0);
    CHECK(jp_rev_get(t, k2, now, &v) == 0);
    CHECK(jp_rev_del(t, k2, now) == 1);

    /* Re-attach (a reload): everything is still there, the epoch unchanged. */
    t = jp_rev_attach(mem, size, n, 9000000, &kept);
    CHECK(t != NULL && kept == 1 && jp_rev_epoch(t) == 5000000);
    CHECK(jp_rev_get(t, k1, now, &v) == 1 && v == 150);

    /* A full probe sequence fails instead of evicting a live marker. */
    for (i = 0; i < JP_REV_PROBES; i++) {
        key_of(k, 500, (unsigned char)(10 + i));
        CHECK(jp_rev_put(t, k, now + 100, i, JP_REV_MAX, now) == 0);
    }
    key_of(k, 500, 200);
    CHECK(jp_rev_put(t, k, now + 100, 1, JP_REV_MAX, now) == -1);
    CHECK(jp_rev_count(t, now) >= JP_REV_PROBES);
    /* ... and succeeds once they expired. */
    CHECK(jp_rev_put(t, k, now + 300, 1, JP_REV_MAX, now + 150) == 0);
    CHECK(jp_rev_get(t, k, now + 150, &v) == 1 && v == 1);

    /* A writer that died mid-change leaves an odd counter: readers give up
     * (the caller then locks) rather than spin forever; re-attach repairs. */
    ((uint32_t *)mem)[3] |= 1;
    CHECK(jp_rev_get(t, k2, now, &v) == -1);
    t = jp_rev_attach(mem, size, n, 1, &kept);
    CHECK(kept == 1 && jp_rev_get(t, k2, now, &v) == 0);

    free(mem);
    JT_DONE();
}
