/* The revocation store: a fixed-size hash table of markers ("sessions of this
 * user issued before T are invalid", "this state was used", "this logout token
 * was seen") in a memory region the caller maps from a file, so that it
 * outlives every reload and restart of httpd.
 *
 * Readers take no lock: the table carries a sequence counter (a seqlock) that
 * writers make odd while they write, and a reader retries when it saw it odd or
 * changed. Writers must be serialised by the caller (one at a time across every
 * process using the file). Pure: no httpd headers. */
#ifndef JP_REVSTORE_H
#define JP_REVSTORE_H

#include <stddef.h>
#include <stdint.h>

#define JP_REV_KEYLEN 24
/* Longest probe sequence: a put that finds no free slot within it fails. */
#define JP_REV_PROBES 64
#define JP_REV_MIN_SLOTS 1024
#define JP_REV_MAX_SLOTS (16u * 1024 * 1024)

typedef struct jp_rev jp_rev;

/* Bytes a table of nslots needs. */
size_t jp_rev_size(uint32_t nslots);
/* Attaches to mem (size bytes). A region that already holds a table of the same
 * size is kept (*kept = 1); anything else is formatted empty with epoch `now_us`.
 * NULL when size is too small for nslots or nslots is out of range. */
jp_rev *jp_rev_attach(void *mem, size_t size, uint32_t nslots, int64_t now_us, int *kept);
/* When the table was formatted (unix microseconds): nothing issued before it can
 * have been revoked in it. */
int64_t jp_rev_epoch(const jp_rev *t);
uint32_t jp_rev_slots(const jp_rev *t);

/* Lock-free lookup: 1 and *value when a live marker (expires > now) exists, 0
 * when none, -1 when writers kept the table busy (the caller then takes the
 * writer lock and calls jp_rev_get_locked). */
int jp_rev_get(const jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now,
               int64_t *value);
int jp_rev_get_locked(const jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now,
                      int64_t *value);

typedef enum {
    JP_REV_MAX = 0, /* keep the larger value (and the later expiry) */
    JP_REV_ONCE     /* only when no live marker exists: the first writer wins */
} jp_rev_mode;

/* Under the caller's writer lock. 0 written; 1 (JP_REV_ONCE) a live marker
 * was already there, nothing written; -1 no free slot within JP_REV_PROBES. */
int jp_rev_put(jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t expires, int64_t value,
               jp_rev_mode mode, int64_t now);
/* Under the writer lock: the marker expires at once. 0 removed, 1 absent. */
int jp_rev_del(jp_rev *t, const unsigned char key[JP_REV_KEYLEN], int64_t now);
/* Live markers (a scan: for status and tests). */
uint32_t jp_rev_count(const jp_rev *t, int64_t now);

#endif
