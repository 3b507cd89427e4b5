/* Sessions that outlive reloads. The session record itself travels sealed
 * (AES-256-GCM, key from JITProvCryptoPassphrase) in the session cookie, so a
 * graceful restart, a full restart or another node behind the same load
 * balancer reads it without any server-side state. What must be server-side is
 * what ends sessions early: revocation markers ("sessions of this user issued
 * before T", "this sid", "this session id", "this account before T") and
 * one-use markers (a callback's state, a logout token's jti). Those live in a
 * file-backed table (revstore.c) mapped by every process, read without a lock,
 * and, on networked caches (redis, memcache), in JITProvSessionCache as well so
 * that every node sees them. A record too large for a cookie (huge groups
 * claims) keeps its claims server-side, sealed: in a file beside the
 * revocation file with a local cache, in JITProvSessionCache with a networked
 * one; its cookie holds the rest. */
#include "jitprov.h"
#include "http_protocol.h"
#include "util_mutex.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_atomic.h"
#include "unixd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "revstore.h"

#include "cookie.h"

#define JP_MUTEX_TYPE "jitprov-cache"
#define JP_COOKIE_AAD "jitprov-session-v2:"
#define JP_SESS_AAD "jitprov-session-v1"
#define JP_HINT_AAD "jitprov-hint-v1:"
#define JP_MARK_AAD "jitprov-marker-v1:"
/* Browsers keep cookies up to 4096 bytes (name, value and attributes). */
#define JP_COOKIE_MAX 3800
/* The hint cookie goes to the logout path beside the session cookie: the two
 * together stay under 6.8 KB, leaving room for the site's own cookies in
 * httpd's 8190-byte limit (LimitRequestFieldSize) for the Cookie header. */
#define JP_HINT_COOKIE_MAX 3000
#define JP_COOKIE_IN_MAX 4096
#define JP_RETRIEVE_BUF 16384
/* A sealed record is base64url of the record plus 29 bytes. */
#define JP_RETRIEVE_MAX (JP_SESSREC_MAX / 3 * 4 + 1024)
/* The kv key that marks a cookie whose claims are kept server-side. */
#define JP_REF_KEY "x:ref"
#define JP_REV_DEFAULT_SLOTS 65536

static apr_global_mutex_t *cache_mutex;
static const char *cache_mutex_file;

/* The revocation table: mapped in post_config by the parent (as root) before
 * the children fork, so they inherit the mapping and the descriptor. */
static jp_rev *rev;
static int rev_fd = -1;
static apr_thread_mutex_t *rev_tmutex;
/* Claims too large for a cookie, with a local cache: one sealed file per
 * session beside the revocation file, so that they survive reloads too. */
static const char *big_dir;

apr_status_t jp_cache_preconfig(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, JP_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t cache_cleanup(void *data)
{
    jp_srv_cfg *c = data;
    c->cache_prov->destroy(c->cache, c->s);
    return APR_SUCCESS;
}

typedef struct {
    void *map;
    size_t size;
} rev_mapping;

static apr_status_t rev_cleanup(void *data)
{
    rev_mapping *m = data;
    munmap(m->map, m->size);
    if (rev_fd >= 0)
        close(rev_fd);
    rev_fd = -1;
    rev = NULL;
    return APR_SUCCESS;
}

/* Opens (or creates) the revocation file and maps it shared. A file made for
 * another table size keeps its own size: its markers matter more than the
 * directive's new value (remove the file while httpd is stopped to resize). */
static apr_status_t rev_open(apr_pool_t *pconf, server_rec *s, const char *path, uint32_t slots)
{
    struct {
        char magic[8];
        uint32_t nslots;
    } head;
    rev_mapping *m;
    struct stat st;
    int kept = 0;
    size_t size;
    void *map;
    char *dir = apr_pstrdup(pconf, path), *slash = strrchr(dir, '/');
    int fd;

    if (slash && slash != dir) {
        *slash = '\0';
        apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, pconf);
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     JPLOG(0220) "JITProvRevocationFile %s cannot be opened", path);
        if (fd >= 0)
            close(fd);
        return APR_EGENERAL;
    }
    if (st.st_size >= (off_t)sizeof(head) && pread(fd, &head, sizeof(head), 0) == sizeof(head) &&
        !memcmp(head.magic, "JPREV01\n", 8) && head.nslots >= JP_REV_MIN_SLOTS &&
        head.nslots <= JP_REV_MAX_SLOTS && head.nslots != slots) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     JPLOG(0221) "JITProvRevocationFile %s holds %u entries, not %u: kept as it "
                                 "is (stop httpd and remove it to resize)",
                     path, head.nslots, slots);
        slots = head.nslots;
    }
    size = jp_rev_size(slots);
    /* Blocks reserved now, not at a child's first write into a page of the
     * mapping: a full disk then stops startup with this message rather than
     * killing a child with SIGBUS, and no request allocates disk blocks. */
    if ((size_t)st.st_size < size && (errno = posix_fallocate(fd, 0, (off_t)size)) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     JPLOG(0222) "JITProvRevocationFile %s cannot grow to %lu bytes", path,
                     (unsigned long)size);
        close(fd);
        return APR_EGENERAL;
    }
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     JPLOG(0223) "JITProvRevocationFile %s cannot be mapped", path);
        close(fd);
        return APR_EGENERAL;
    }
    rev = jp_rev_attach(map, size, slots, apr_time_now(), &kept);
    rev_fd = fd;
    m = apr_palloc(pconf, sizeof(*m));
    m->map = map;
    m->size = size;
    apr_pool_cleanup_register(pconf, m, rev_cleanup, apr_pool_cleanup_null);
    if (!kept)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     JPLOG(0224) "JITProvRevocationFile %s created (%u entries): sessions "
                                 "issued before now are no longer accepted on this node",
                     path, slots);
    big_dir = apr_pstrcat(pconf, path, ".d", NULL);
    if (mkdir(big_dir, 0700) != 0 && errno != EEXIST) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s,
                     JPLOG(0234) "cannot create the directory %s for large session records",
                     big_dir);
        return APR_EGENERAL;
    }
    /* The children write there as httpd's User. */
    if (geteuid() == 0 && chown(big_dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                     JPLOG(0234) "cannot hand %s to httpd's User", big_dir);
    return apr_thread_mutex_create(&rev_tmutex, APR_THREAD_MUTEX_DEFAULT, pconf);
}

apr_status_t jp_cache_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *done = apr_hash_make(pconf);
    jp_srv_cfg *base = JP_SRV(s);
    int need_mutex = 0;
    apr_status_t rv;
    server_rec *v;

    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        if (c->cache_prov && (c->cache_prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE))
            need_mutex = 1;
    }
    rv = rev_open(pconf, s,
                  base->rev_file ? base->rev_file
                                 : ap_runtime_dir_relative(pconf, "jitprov-revocations"),
                  base->rev_slots > 0 ? (uint32_t)base->rev_slots : JP_REV_DEFAULT_SLOTS);
    if (rv != APR_SUCCESS)
        return rv;
    if (need_mutex && !cache_mutex) {
        rv = ap_global_mutex_create(&cache_mutex, &cache_mutex_file, JP_MUTEX_TYPE, NULL, s, pconf,
                                    0);
        if (rv != APR_SUCCESS)
            return rv;
    }
    for (v = s; v; v = v->next) {
        jp_srv_cfg *c = JP_SRV(v);
        struct ap_socache_hints hints = {64, 4096, apr_time_from_sec(3600)};
        if (!c->cache || apr_hash_get(done, &c->cache, sizeof(c->cache)))
            continue;
        apr_hash_set(done, apr_pmemdup(pconf, &c->cache, sizeof(c->cache)), sizeof(c->cache), c);
        rv = c->cache_prov->init(c->cache, "jitprov", &hints, v, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, v,
                         JPLOG(0201) "cannot initialise JITProvSessionCache %s",
                         c->cache_spec ? c->cache_spec : "(default shmcb)");
            return rv;
        }
        apr_pool_cleanup_register(pconf, c, cache_cleanup, apr_pool_cleanup_null);
    }
    return APR_SUCCESS;
}

void jp_cache_child_init(apr_pool_t *p, server_rec *s)
{
    if (cache_mutex)
        apr_global_mutex_child_init(&cache_mutex, cache_mutex_file, p);
}

/* ---- the socache (networked markers, oversized records) ---- */

/* 1 locked, 0 no lock needed, -1 the lock failed (the caller fails closed). */
static int lock(request_rec *r, jp_srv_cfg *c)
{
    apr_status_t rv;
    if (!cache_mutex || !(c->cache_prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE))
        return 0;
    rv = apr_global_mutex_lock(cache_mutex);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      JPLOG(0225) "cannot lock the JITProvSessionCache mutex");
        return -1;
    }
    return 1;
}

static void unlock(int locked)
{
    if (locked > 0)
        apr_global_mutex_unlock(cache_mutex);
}

static apr_status_t cache_put(request_rec *r, jp_srv_cfg *c, const char *key,
                              const unsigned char *data, size_t len, apr_time_t expiry)
{
    apr_status_t rv;
    int l = lock(r, c);
    if (l < 0)
        return APR_EGENERAL;
    rv = c->cache_prov->store(c->cache, r->server, (const unsigned char *)key,
                              (unsigned int)strlen(key), expiry, (unsigned char *)data,
                              (unsigned int)len, r->pool);
    unlock(l);
    return rv;
}

/* shmcb answers APR_NOTFOUND, not ENOMEM, when the buffer is too small: a miss
 * with the small buffer is retried once with room for the largest record. Any
 * other failure is final: asked again, apr_redis answers APR_NOTFOUND for the
 * server it has just marked dead, which would read as "no such entry". */
static apr_status_t cache_get(request_rec *r, jp_srv_cfg *c, const char *key, unsigned char **data,
                              unsigned int *len, unsigned int cap)
{
    apr_status_t rv;
    for (;;) {
        unsigned char *buf = apr_palloc(r->pool, cap);
        unsigned int n = cap - 1;
        int l = lock(r, c);
        if (l < 0)
            return APR_EGENERAL;
        rv = c->cache_prov->retrieve(c->cache, r->server, (const unsigned char *)key,
                                     (unsigned int)strlen(key), buf, &n, r->pool);
        unlock(l);
        if (rv == APR_SUCCESS) {
            buf[n] = '\0';
            *data = buf;
            *len = n;
            return rv;
        }
        if (rv != APR_NOTFOUND || cap >= JP_RETRIEVE_MAX)
            return rv;
        cap = JP_RETRIEVE_MAX;
    }
}

static void cache_del(request_rec *r, jp_srv_cfg *c, const char *key)
{
    int l = lock(r, c);
    if (l < 0)
        return;
    c->cache_prov->remove(c->cache, r->server, (const unsigned char *)key,
                          (unsigned int)strlen(key), r->pool);
    unlock(l);
}

/* ---- markers ---- */

#define NETWORKED(c) ((c)->cache && (c)->cache_encrypt)

/* Every marker is scoped by the client id: vhosts sharing one cache and one
 * IdP never end each other's sessions. */
/* The vhost's session namespace: its client id, also in the configuration
 * copies of extra providers (multi.c), so that every provider's sessions,
 * records and markers are the vhost's. */
#define NS(c) ((c)->session_ns ? (c)->session_ns : (c)->client_id)

static void key_of(apr_pool_t *p, const jp_srv_cfg *c, const char *kind, const char *a,
                   const char *b, unsigned char out[JP_REV_KEYLEN])
{
    unsigned char h[32];
    const char *in = apr_pstrcat(p, NS(c), "\n", kind, "\n", a ? a : "", "\n", b ? b : "", NULL);
    jp_sha256(in, strlen(in), h);
    memcpy(out, h, JP_REV_KEYLEN);
}

static void marker_key(request_rec *r, jp_srv_cfg *c, const char *kind, const char *a,
                       const char *b, unsigned char out[JP_REV_KEYLEN])
{
    key_of(r->pool, c, kind, a, b, out);
}

_Static_assert(JP_NET_KEYLEN == JP_REV_KEYLEN, "the configuration holds revocation-table keys");

/* Before the configuration is copied for extra providers (multi.c), which
 * share the vhost's namespace and so these keys. */
void jp_session_net_keys(apr_pool_t *p, jp_srv_cfg *c)
{
    key_of(p, c, "e", NULL, NULL, c->net_epoch_key);
    key_of(p, c, "g", NULL, NULL, c->net_gen_key);
}

/* The slots of a record's marker keys (jp_session.marks). */
enum { MK_SESSION, MK_SUB, MK_SID, MK_ACCOUNT };
_Static_assert(JP_SESSREC_MARKLEN == JP_REV_KEYLEN && JP_SESSREC_NMARKS == 4,
               "a record holds the revocation table's keys");

/* The keys of every marker that can end s: at login, and for every record
 * decoded from bytes (decode_record), which carry none. A rebuilt record
 * gets them from its shape. */
static void mark_keys(request_rec *r, jp_srv_cfg *c, jp_session *s)
{
    memset(s->marks, 0, sizeof(s->marks));
    marker_key(r, c, "s", s->id, NULL, s->marks[MK_SESSION]);
    marker_key(r, c, "u", s->iss, s->sub, s->marks[MK_SUB]);
    if (s->sid && *s->sid)
        marker_key(r, c, "i", s->iss, s->sid, s->marks[MK_SID]);
    if (s->account_id)
        marker_key(r, c, "a", apr_psprintf(r->pool, "%" APR_INT64_T_FMT, s->account_id), NULL,
                   s->marks[MK_ACCOUNT]);
}

static int rev_lock(request_rec *r)
{
    struct flock fl;
    apr_status_t rv = apr_thread_mutex_lock(rev_tmutex);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      JPLOG(0226) "cannot lock the revocation table (thread mutex)");
        return -1;
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    /* A process-level lock on the file: it also holds between the children of
     * two generations during a graceful restart, and dies with its holder. */
    while (fcntl(rev_fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r,
                          JPLOG(0226) "cannot lock the revocation table (fcntl)");
            apr_thread_mutex_unlock(rev_tmutex);
            return -1;
        }
    }
    return 0;
}

static void rev_unlock(void)
{
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    fcntl(rev_fd, F_SETLK, &fl);
    apr_thread_mutex_unlock(rev_tmutex);
}

static const char *net_key(request_rec *r, const unsigned char k[JP_REV_KEYLEN])
{
    return apr_pstrcat(r->pool, jp_b64url_encode(r->pool, k, JP_REV_KEYLEN), ".m", NULL);
}

/* A marker in the networked cache: 1 and *value, 0 none, -1 the cache failed. */
static int net_get(request_rec *r, jp_srv_cfg *c, const unsigned char k[JP_REV_KEYLEN],
                   int64_t *value)
{
    const char *key = net_key(r, k);
    unsigned char *data, *pt;
    unsigned int len;
    size_t plen;
    apr_status_t rv = cache_get(r, c, key, &data, &len, 256);
    int i;
    if (rv == APR_NOTFOUND)
        return 0;
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      JPLOG(0227) "JITProvSessionCache %s: marker lookup failed", c->cache_spec);
        return -1;
    }
    pt = jp_open(r->pool, c->sess_keys, c->nkeys, apr_pstrcat(r->pool, JP_MARK_AAD, key, NULL),
                 (const char *)data, &plen);
    if (!pt || plen != 8) {
        /* Not ours (or altered): it revokes nothing, and cannot be trusted. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0228) "JITProvSessionCache: marker %s does not open: ignored", key);
        return 0;
    }
    *value = 0;
    for (i = 0; i < 8; i++)
        *value = (*value << 8) | pt[i];
    return 1;
}

static int net_put(request_rec *r, jp_srv_cfg *c, const unsigned char k[JP_REV_KEYLEN],
                   int64_t expires, int64_t value)
{
    const char *key = net_key(r, k), *sealed;
    unsigned char pt[8];
    int i;
    for (i = 0; i < 8; i++)
        pt[i] = (unsigned char)((uint64_t)value >> (56 - 8 * i));
    sealed = jp_seal(r->pool, &c->sess_keys[0], apr_pstrcat(r->pool, JP_MARK_AAD, key, NULL), pt,
                     sizeof(pt));
    if (!sealed || cache_put(r, c, key, (const unsigned char *)sealed, strlen(sealed),
                             apr_time_from_sec(expires)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      JPLOG(0229) "JITProvSessionCache %s: marker store failed", c->cache_spec);
        return -1;
    }
    return 0;
}

/* Neither networked socache tells a miss from an outage:
 * mod_socache_memcache answers APR_NOTFOUND for every failure, and apr_redis,
 * once it has marked its server dead, answers APR_NOTFOUND without asking it.
 * A marker lookup alone would then read "not revoked" while the cache is down,
 * or after a restart that lost what it held. So every check first reads an
 * epoch of ours from the cache, sealed like a marker. Found: the cache
 * answers and holds what was written since then. Not found: if writing a new
 * one works, the cache is up but lost its contents (or is new), and its
 * epoch is now: sessions made before it are refused, as the revocation file
 * does after a reboot (everyone logs in once more). If the write fails too,
 * the cache is down. Each process rewrites the epoch now and then, so it
 * expires only after a whole session lifetime in which no process of any
 * node served a session. 0 with *epoch (unix microseconds), or -1. */
#define JP_EPOCH_REFRESH 600

static int net_epoch(request_rec *r, jp_srv_cfg *c, int64_t now, int64_t *epoch)
{
    const unsigned char *k = c->net_epoch_key;
    int64_t until = now + c->max_duration + c->skew + 1;
    switch (net_get(r, c, k, epoch)) {
    case 1:
        if (now - (int64_t)apr_atomic_read64(&c->epoch_written) >= JP_EPOCH_REFRESH &&
            net_put(r, c, k, until, *epoch) == 0)
            apr_atomic_set64(&c->epoch_written, (apr_uint64_t)now);
        return 0;
    case -1:
        return -1;
    }
    *epoch = apr_time_now();
    if (net_put(r, c, k, until, *epoch) != 0)
        return -1;
    apr_atomic_set64(&c->epoch_written, (apr_uint64_t)now);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  JPLOG(0236) "JITProvSessionCache %s held no epoch of this client (first use, "
                              "or the cache lost its contents): sessions issued before now are "
                              "refused",
                  c->cache_spec);
    return 0;
}

/* The generation of the networked cache's revocations (netgen.c): a random
 * value rewritten after every revocation marker, and whenever it is missing
 * (the cache is new or lost its contents, or it expired). It expires in
 * half the time after which a process rewrites the epoch, so that every
 * process keeps checking its sessions in full, and the epoch alive, that
 * often. */
#define JP_GEN_TTL (JP_EPOCH_REFRESH / 2)

static int net_gen_get(request_rec *r, jp_srv_cfg *c, int64_t *gen)
{
    return net_get(r, c, c->net_gen_key, gen);
}

static int net_gen_new(request_rec *r, jp_srv_cfg *c, int64_t *gen)
{
    unsigned char rnd[8];
    int64_t v = 0;
    int i;
    if (jp_random(rnd, sizeof(rnd)) != 0)
        return -1;
    for (i = 0; i < 8; i++)
        v = (v << 8) | rnd[i];
    if (net_put(r, c, c->net_gen_key, apr_time_sec(apr_time_now()) + JP_GEN_TTL, v) != 0)
        return -1;
    if (gen)
        *gen = v;
    return 0;
}

/* 1 and *value when a live marker exists, 0 none, -1 the store failed. */
static int marker_get(request_rec *r, jp_srv_cfg *c, const unsigned char k[JP_REV_KEYLEN],
                      int64_t now, int64_t *value)
{
    int found = jp_rev_get(rev, k, now, value);
    if (found < 0) {
        if (rev_lock(r) != 0)
            return -1;
        found = jp_rev_get_locked(rev, k, now, value);
        rev_unlock();
    }
    if (found || !NETWORKED(c))
        return found;
    return net_get(r, c, k, value);
}

/* JP_REV_MAX: 0 written, -1 failed. JP_REV_ONCE: 0 first, 1 already there,
 * -1 failed. Written here and, on networked caches, there: socache has no
 * compare-and-set, so two nodes racing on one ONCE marker within a cache round
 * trip can both win (docs/operations.md). On one node the table decides. */
static int marker_put(request_rec *r, jp_srv_cfg *c, const unsigned char k[JP_REV_KEYLEN],
                      int64_t now, int64_t expires, int64_t value, jp_rev_mode mode)
{
    int rc;
    int64_t old = 0;
    if (rev_lock(r) != 0)
        return -1;
    rc = jp_rev_put(rev, k, expires, value, mode, now);
    rev_unlock();
    if (rc < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      JPLOG(0230) "revocation table full (%u entries): raise "
                                  "JITProvRevocationFile's size",
                      jp_rev_slots(rev));
        return -1;
    }
    if (rc == 1 || !NETWORKED(c))
        return rc;
    switch (net_get(r, c, k, &old)) {
    case -1:
        return -1;
    case 1:
        if (mode == JP_REV_ONCE)
            return 1;
        if (old > value)
            value = old;
        break;
    }
    if (net_put(r, c, k, expires, value) != 0)
        return -1;
    /* After the marker, never before: a process that then reads the new
     * generation finds the marker (netgen.c). One-use markers (states,
     * logout token ids) end no session and leave the generation alone. */
    return mode == JP_REV_MAX ? net_gen_new(r, c, NULL) : 0;
}

int jp_session_once(request_rec *r, jp_srv_cfg *c, const char *kind, const char *iss,
                    const char *value, int64_t until)
{
    unsigned char k[JP_REV_KEYLEN];
    int64_t now = apr_time_sec(apr_time_now());
    marker_key(r, c, kind, iss, value, k);
    return marker_put(r, c, k, now, until > now ? until : now + 1, 1, JP_REV_ONCE);
}

/* A one-use marker whose purpose failed (a back-channel logout whose
 * revocation was not recorded) is taken back: the sender's retry of the same
 * token must not be refused as a replay while the sessions live on. Best
 * effort on the networked cache: if it fails here too, a marker written there
 * a moment before stays until it expires. */
void jp_session_once_undo(request_rec *r, jp_srv_cfg *c, const char *kind, const char *iss,
                          const char *value)
{
    unsigned char k[JP_REV_KEYLEN];
    marker_key(r, c, kind, iss, value, k);
    if (rev_lock(r) == 0) {
        jp_rev_del(rev, k, apr_time_sec(apr_time_now()));
        rev_unlock();
    }
    if (NETWORKED(c))
        cache_del(r, c, net_key(r, k));
}

/* ---- cookies ---- */

/* The value of cookie name, and its length. */
static const char *cookie_value(request_rec *r, const char *name, size_t *len)
{
    const char *h = apr_table_get(r->headers_in, "Cookie");
    size_t nl = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';' || *h == '\t')
            h++;
        if (!strncmp(h, name, nl) && h[nl] == '=') {
            const char *v = h + nl + 1, *e = strchrnul(v, ';');
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return apr_pstrmemdup(r->pool, v, *len);
        }
        h = strchr(h, ';');
    }
    return NULL;
}

const char *jp_cookie_get(request_rec *r, const char *name)
{
    size_t len;
    return cookie_value(r, name, &len);
}

void jp_cookie_set(request_rec *r, jp_srv_cfg *c, const char *name, const char *value,
                   const char *path, int max_age)
{
    /* JITProvCookie's attributes are the session cookie's; state cookies get
     * the defaults and their own SameSite. */
    int sess = !strcmp(name, c->cookie_name), https = jp_origin_https(r, c);
    jp_cookie_policy pol;
    pol.attrs = sess ? c->cookie_attrs : NULL;
    pol.samesite = sess ? c->sess_samesite : c->state_samesite;
    /* A form_post answer is a cross-site POST, which carries only a None
     * cookie; browsers take None only with Secure, so over http the state
     * cookie stays Lax (it then works only with an IdP on the same site). */
    if (!sess && !pol.samesite && c->response_mode == JP_RM_FORM_POST && https)
        pol.samesite = JP_SAMESITE_NONE;
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   jp_cookie_header(r->pool, name, value, &pol, path, max_age, https));
    /* Also on the backend's own pages (the session cookie's refresh, its
     * clearing when a token refresh gives up): a shared cache that stored
     * the answer would hand this user's cookie to the next client. In
     * err_headers_out the backend cannot drop it; a Cache-Control of its
     * own is sent beside it, and no-store wins (RFC 9111 5.2.2.5). */
    jp_no_store(r);
}

/* ---- records ---- */

/* The cookie is bound to this client and cookie name: a cookie of another
 * vhost (sharing the passphrase) does not open here. */
static const char *cookie_aad(request_rec *r, jp_srv_cfg *c)
{
    return apr_pstrcat(r->pool, JP_COOKIE_AAD, NS(c), "\n", c->cookie_name, NULL);
}

/* The server-side part of an oversized record. The hash comes first: shmcb
 * picks the sub-cache by the key's first byte. */
static const char *aside_key(request_rec *r, jp_srv_cfg *c, const char *id, const char *suffix)
{
    return apr_pstrcat(r->pool,
                       jp_sha256_b64url(r->pool, apr_pstrcat(r->pool, NS(c), "\n", id, NULL)),
                       suffix, NULL);
}

static const char *cache_key(request_rec *r, jp_srv_cfg *c, const char *id)
{
    return aside_key(r, c, id, ".s");
}

/* The ID token (id_token_hint at logout, read nowhere else) is often more
 * than half a record: it is kept aside under its own key, so that the cookie
 * every request carries, decodes and decrypts stays small. */
static const char *hint_key(request_rec *r, jp_srv_cfg *c, const char *id)
{
    return aside_key(r, c, id, ".h");
}

static const char *record_aad(request_rec *r, const char *key)
{
    return apr_pstrcat(r->pool, JP_SESS_AAD ":", key, NULL);
}

/* Decodes the record in buf (len bytes and one of room) in place into s and
 * derives its marker keys: every session read from a cookie comes from
 * here, or from a rebuild of a remembered one (its shape holds the keys);
 * a record just sealed takes the keys of its session (remember_sealed). */
static int decode_record(request_rec *r, jp_srv_cfg *c, unsigned char *buf, size_t len,
                         jp_session *s)
{
    int rc = jp_sessrec_decode_inplace(r->pool, buf, len, 0, s);
    if (rc == 0)
        mark_keys(r, c, s);
    return rc;
}

/* hot.c keeps the record rec (len bytes and one of room) as decoded in place
 * into s (decode_record), and s's shape with its marker keys: a request
 * sending v again rebuilds s without decoding or hashing. */
static void remember(request_rec *r, jp_srv_cfg *c, const char *v, size_t vlen,
                     const unsigned char *rec, size_t len, const jp_session *s)
{
    size_t slen = jp_sessrec_shape_len(s);
    void *shape = apr_palloc(r->pool, slen);
    if (jp_sessrec_shape(s, rec, len, shape) == 0)
        jp_hot_put(c, v, vlen, rec, len, shape, slen);
}

/* remember() for a record just encoded from s (rec, len) and sealed into v.
 * The marker keys are s's: they depend only on fields the record carries
 * from s, so they are copied rather than hashed again. */
static void remember_sealed(request_rec *r, jp_srv_cfg *c, const jp_session *s, const char *v,
                            const unsigned char *rec, size_t len)
{
    unsigned char *buf = apr_palloc(r->pool, len + 1);
    jp_session d;
    memcpy(buf, rec, len);
    buf[len] = '\0'; /* hot.c copies len + 1 bytes */
    if (jp_sessrec_decode_inplace(r->pool, buf, len, 0, &d) == 0) {
        memcpy(d.marks, s->marks, sizeof(d.marks));
        remember(r, c, v, strlen(v), buf, len, &d);
    }
}

static const char *seal_record(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    size_t len;
    unsigned char *rec = jp_sessrec_encode(r->pool, s, &len);
    const char *v;
    if (!rec)
        return NULL;
    v = jp_seal(r->pool, &c->sess_keys[0], cookie_aad(r, c), rec, len);
    /* The browser sends it back next: it opens from memory then. */
    if (v && strlen(v) <= JP_COOKIE_MAX)
        remember_sealed(r, c, s, v, rec, len);
    return v;
}

static int is_stub(const jp_session *s)
{
    return s->kv && s->kv->nelts == 1 && !strcmp(((jp_kv *)s->kv->elts)[0].key, JP_REF_KEY);
}

/* Sets the session cookie for s (the stub form when s is one); the value,
 * or NULL. */
static const char *issue_cookie(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    const char *v = seal_record(r, c, s);
    if (!v || strlen(v) > JP_COOKIE_MAX)
        return NULL;
    jp_cookie_set(r, c, c->cookie_name, v, "/", -1);
    return v;
}

/* Opens v into *s: from what hot.c remembered of v (hv, looked up by the
 * caller; its pt NULL when nothing), else by decrypting it. */
static int open_cookie(request_rec *r, jp_srv_cfg *c, const char *v, size_t vlen,
                       const jp_hot_view *hv, jp_session *s)
{
    size_t len;
    unsigned char *rec;
    int hit = 0, rc;
    if (vlen > JP_COOKIE_IN_MAX)
        return -1;
    /* A remembered record decoded without error before: only where its
     * strings lie in this request's copy is needed. */
    if (hv->pt && jp_sessrec_rebuild(r->pool, hv->pt, hv->plen, hv->shape, hv->shapelen, s) == 0) {
        hit = 1;
        rc = 0;
    } else {
        rec = jp_open(r->pool, c->sess_keys, c->nkeys, cookie_aad(r, c), v, &len);
        if (!rec)
            return -1;
        /* rec is this request's own copy with room for a NUL (jp_open):
         * decoded where it lies. */
        rc = decode_record(r, c, rec, len, s);
    }
    if (rc != 0 || !*s->id || !*s->iss || !*s->sub) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0205) "sealed session cookie holds an unreadable record");
        return -1;
    }
    if (!hit)
        remember(r, c, v, vlen, rec, len, s);
    return 0;
}

static const char *big_path(request_rec *r, const char *key)
{
    return apr_pstrcat(r->pool, big_dir, "/", key, NULL);
}

/* Written to a temporary name and renamed: a reader sees all or nothing. */
static apr_status_t big_put(request_rec *r, const char *key, const char *sealed)
{
    char *tmp = apr_pstrcat(r->pool, big_dir, "/.tmpXXXXXX", NULL);
    apr_file_t *f;
    apr_size_t n = strlen(sealed);
    apr_status_t rv =
        apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL, r->pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_write_full(f, sealed, n, NULL);
    apr_file_close(f);
    if (rv == APR_SUCCESS)
        rv = apr_file_rename(tmp, big_path(r, key), r->pool);
    if (rv != APR_SUCCESS)
        apr_file_remove(tmp, r->pool);
    return rv;
}

static apr_status_t big_get(request_rec *r, const char *key, unsigned char **data,
                            unsigned int *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t got;
    apr_status_t rv = apr_file_open(&f, big_path(r, key), APR_FOPEN_READ, 0, r->pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv == APR_SUCCESS && (fi.size <= 0 || fi.size > JP_RETRIEVE_MAX))
        rv = APR_EGENERAL;
    if (rv == APR_SUCCESS) {
        *data = apr_palloc(r->pool, (apr_size_t)fi.size + 1);
        rv = apr_file_read_full(f, *data, (apr_size_t)fi.size, &got);
        (*data)[got] = '\0';
        *len = (unsigned int)got;
    }
    apr_file_close(f);
    return rv;
}

/* Every ten minutes at most, a login in each process removes the files of
 * sessions that have ended anyway. By time, not by count: every session has
 * a file (its ID token), and a sweep reads the whole directory. */
#define SWEEP_EVERY 600
static apr_uint32_t last_sweep;

static void big_sweep(request_rec *r, jp_srv_cfg *c)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_time_t cutoff = apr_time_now() - apr_time_from_sec(c->max_duration + 60);
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now()),
                 last = apr_atomic_read32(&last_sweep);
    /* One thread of the process wins the compare-and-swap and sweeps. */
    if ((last && now - last < SWEEP_EVERY) || apr_atomic_cas32(&last_sweep, now, last) != last)
        return;
    if (apr_dir_open(&d, big_dir, r->pool) != APR_SUCCESS)
        return;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_MTIME, d) == APR_SUCCESS)
        if (fi.name[0] != '.' || strlen(fi.name) > 2)
            if (fi.mtime < cutoff)
                apr_file_remove(apr_pstrcat(r->pool, big_dir, "/", fi.name, NULL), r->pool);
    apr_dir_close(d);
}

/* What put_aside stored under key, opened; NULL when it is gone or does not
 * open. */
static unsigned char *get_aside(request_rec *r, jp_srv_cfg *c, const char *key, size_t *plen)
{
    unsigned char *data;
    unsigned int len;
    if ((NETWORKED(c) ? cache_get(r, c, key, &data, &len, JP_RETRIEVE_BUF)
                      : big_get(r, key, &data, &len)) != APR_SUCCESS)
        return NULL;
    return jp_open(r->pool, c->sess_keys, c->nkeys, record_aad(r, key), (const char *)data, plen);
}

/* The claims of an oversized record: from its file with a local cache, from
 * JITProvSessionCache with a networked one. */
static int fetch_full(request_rec *r, jp_srv_cfg *c, jp_session *s)
{
    const char *key = cache_key(r, c, s->id);
    unsigned char *pt;
    size_t plen;
    jp_session full;
    if (!(pt = get_aside(r, c, key, &plen))) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0204) "claims of session %s are no longer in %s", key, c->cache_spec);
        return -1;
    }
    /* Only the claims and tokens are taken: s keeps the cookie's fields and
     * marker keys, so full's need not be derived. */
    if (jp_sessrec_decode(r->pool, pt, plen, &full) != 0 || strcmp(full.id, s->id))
        return -1;
    s->kv = full.kv;
    s->id_token = full.id_token;
    s->tokens = full.tokens;
    return 0;
}

/* Whether this node's revocation table ends s (1), not (0), or cannot tell
 * (-1). */
static int revoked_here(request_rec *r, const jp_session *s, int64_t now)
{
    int64_t v = 0;
    int found, i;
    for (i = 0; i < JP_SESSREC_NMARKS; i++) {
        if ((i == MK_SID && (!s->sid || !*s->sid)) || (i == MK_ACCOUNT && !s->account_id))
            continue;
        found = jp_rev_get(rev, s->marks[i], now, &v);
        if (found < 0) {
            if (rev_lock(r) != 0)
                return -1;
            found = jp_rev_get_locked(rev, s->marks[i], now, &v);
            rev_unlock();
        }
        /* A session or sid marker ends whatever it names; a sub or
         * account marker the sessions made before it. */
        if (found && (i == MK_SESSION || i == MK_SID || v >= s->created))
            return 1;
    }
    return 0;
}

static int revoked_full(request_rec *r, jp_srv_cfg *c, const jp_session *s, int64_t now);

/* 1 when a marker ends s, 0 when none does, -1 when the store cannot tell.
 * With a networked cache, one read instead of five when nothing was revoked
 * anywhere since this process last checked s in full: the generation (read
 * or written) before the full check, remembered only after it passed, and
 * every revocation writes its marker before a new generation. So a
 * remembered generation that is still current means no marker was written
 * after that check began. This node's own table is read every time. */
static int revoked(request_rec *r, jp_srv_cfg *c, const jp_session *s, int64_t now)
{
    int64_t gen = 0;
    int rc;
    if (!NETWORKED(c))
        return revoked_full(r, c, s, now);
    if ((rc = revoked_here(r, s, now)) != 0)
        return rc;
    switch (net_gen_get(r, c, &gen)) {
    case -1:
        return -1;
    case 0:
        if (net_gen_new(r, c, &gen) != 0)
            return -1;
        break;
    default:
        if (jp_netgen_seen(c, s->marks[MK_SESSION], gen))
            return 0;
    }
    rc = revoked_full(r, c, s, now);
    if (rc == 0)
        jp_netgen_remember(c, s->marks[MK_SESSION], gen);
    return rc;
}

static int revoked_full(request_rec *r, jp_srv_cfg *c, const jp_session *s, int64_t now)
{
    int64_t v = 0;
    int rc;

    /* A table made after the session (first start, or /run emptied by a reboot)
     * cannot know its revocations: refuse it rather than guess. Networked
     * caches keep their markers across a node's reboot. */
    if (!NETWORKED(c)) {
        if (s->created < jp_rev_epoch(rev))
            return 1;
    } else {
        /* The cache's epoch (its key hashed once, at startup). */
        int64_t epoch;
        if (net_epoch(r, c, now, &epoch) != 0)
            return -1;
        if (s->created < epoch)
            return 1;
    }
    /* The markers' keys were derived when the record was decoded
     * (decode_record), or come with a remembered one: not hashed again. */
    if ((rc = marker_get(r, c, s->marks[MK_SESSION], now, &v)) != 0)
        return rc;
    if ((rc = marker_get(r, c, s->marks[MK_SUB], now, &v)) < 0)
        return rc;
    if (rc && v >= s->created)
        return 1;
    if (s->sid && *s->sid) {
        if ((rc = marker_get(r, c, s->marks[MK_SID], now, &v)) != 0)
            return rc;
    }
    if (s->account_id) {
        if ((rc = marker_get(r, c, s->marks[MK_ACCOUNT], now, &v)) < 0)
            return rc;
        if (rc && v >= s->created)
            return 1;
    }
    return 0;
}

static int store_fail(request_rec *r)
{
    return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The session store is unavailable.",
                   "revocation markers could not be read");
}

/* A key column's value as the login read it from the row, or NULL (not
 * checked). A column named "id" is not in the session under its name: "a:id"
 * is the account id (flow.c). */
static const char *key_col(request_rec *r, const jp_session *s, const char *col)
{
    if (!col || !strcmp(col, "id"))
        return NULL;
    return jp_kv_get(s->kv, apr_pstrcat(r->pool, "a:", col, NULL));
}

static int recheck(request_rec *r, jp_srv_cfg *c, jp_session *s, int64_t now, int *alive)
{
    jp_db db;
    const char *status = NULL, *iss, *key;
    *alive = 1;
    if (!c->provisioning || !s->account_id || now - s->checked_at < c->recheck_interval)
        return OK;
    /* The row's key as the login saw it: the id must still name that row. */
    iss = key_col(r, s, c->store.col[JP_COL_ISS]);
    key = key_col(r, s, c->store.col[JP_COL_SUB]);
    if (jp_db_acquire(r, &db) != OK ||
        jp_account_status_of(r->pool, &db, &c->store, s->account_id, iss, key, &status) != 0) {
        jp_metric(JP_M_DB_ERROR);
        if (c->recheck_fail_open) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          JPLOG(0202) "account status re-check failed; session kept "
                                      "(JITProvAccountRecheckFailOpen On)");
            return OK;
        }
        return jp_fail(r, HTTP_SERVICE_UNAVAILABLE, "The account database is unavailable.",
                       "account %" APR_INT64_T_FMT " status re-check failed", s->account_id);
    }
    if (strcmp(status, "active")) {
        jp_metric(JP_M_SESSION_ENDED);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      JPLOG(0203) "session of account %" APR_INT64_T_FMT " ended: account is %s",
                      s->account_id, status);
        /* Every other session of the account ends now, not at its own re-check;
         * not when the id names another account now: its sessions are its own. */
        if (strcmp(status, JP_STATUS_OTHER))
            jp_session_revoke_account(r, c, s->account_id);
        *alive = 0;
        return OK;
    }
    s->checked_at = now;
    return OK;
}

/* When s ends however active: JITProvSessionMaxDuration after the login, by
 * the limit in force now. The record's own end was fixed at the login under
 * the limit of then: after the limit is lowered, that end would outlive the
 * revocation markers (they last the present limit) and a session ended by a
 * logout would open again once its marker expired. */
int64_t jp_session_hard_end(const jp_srv_cfg *c, const jp_session *s)
{
    int64_t end = apr_time_sec(s->created) + c->max_duration;
    return end < s->expires ? end : s->expires;
}

/* Activity is written back at most this often (seconds). */
static int64_t writeback(const jp_srv_cfg *c)
{
    return c->inactivity / 10 < 60 ? c->inactivity / 10 : 60;
}

static int load(request_rec *r, jp_srv_cfg *c, const char *sig, size_t siglen, jp_req **out,
                int peek)
{
    size_t sentlen = 0, vlen;
    const char *sent = cookie_value(r, c->cookie_name, &sentlen), *v;
    jp_session *s, cookie;
    jp_hot_view hv, nhv;
    jp_req *rq;
    int64_t now, before_seen, before_checked;
    int alive, rc, stub;

    if (!sent || !sentlen || sentlen > JP_COOKIE_IN_MAX)
        return DECLINED;
    s = apr_palloc(r->pool, sizeof(*s));
    /* A client still sending a cookie this process has just replaced
     * (requests in flight during a write-back; a client that keeps no
     * cookies) is served by the replacement: the same session with newer
     * activity and re-check times, which it was sent. Only within one
     * write-back interval: past it the old cookie is judged on its own times
     * again, so a copy of it cannot outlive its inactivity timeout by riding
     * on its replacement. */
    now = apr_time_sec(apr_time_now());
    /* One look-up gives what this process remembers of the cookie: the
     * replacement, or the plaintext and the environment. */
    jp_hot_lookup(r->pool, c, sent, sentlen, apr_time_from_sec(now - writeback(c)), sig, siglen,
                  &hv);
    v = sent;
    vlen = sentlen;
    if (hv.next) {
        jp_hot_lookup_next(r->pool, c, &hv, sig, siglen, &nhv);
        if (open_cookie(r, c, hv.next, hv.nextlen, &nhv, s) == 0) {
            v = hv.next;
            vlen = hv.nextlen;
            hv = nhv;
        } else {
            jp_hot_lookup(r->pool, c, sent, sentlen, 0, sig, siglen, &hv);
        }
    }
    if (v == sent && open_cookie(r, c, sent, sentlen, &hv, s) != 0)
        return DECLINED;
    if (now >= jp_session_hard_end(c, s) || now - s->last_seen >= c->inactivity)
        return DECLINED;
    rc = revoked(r, c, s, now);
    /* A logout still tries to record its marker when the store cannot be
     * read (it then fails with 503 if it cannot be written either). */
    if (rc < 0 && !peek)
        return store_fail(r);
    if (rc > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, JPLOG(0231) "session of sub=%s was revoked",
                      ap_escape_logitem(r->pool, s->sub));
        return DECLINED;
    }
    cookie = *s;
    stub = is_stub(s);
    if (stub && fetch_full(r, c, s) != 0)
        return DECLINED;
    rq = apr_palloc(r->pool, sizeof(*rq));
    rq->sess = s;
    rq->hint = NULL;
    rq->cache_key = stub ? cache_key(r, c, s->id) : NULL;
    rq->cookie = stub ? NULL : v;
    rq->cookie_len = stub ? 0 : vlen;
    rq->owner = c;
    rq->env = stub ? NULL : hv.env;
    rq->envlen = stub ? 0 : hv.envlen;
    rq->env_sig = sig;
    rq->env_siglen = siglen;
    if (peek) {
        *out = rq;
        return OK;
    }
    before_seen = s->last_seen;
    before_checked = s->checked_at;
    rc = recheck(r, c, s, now, &alive);
    if (rc != OK)
        return rc;
    if (!alive)
        return DECLINED;
    *out = rq;
    /* Activity is written back at most once a minute (or a tenth of the
     * timeout), as a fresh cookie: nothing server-side is rewritten, so a
     * write-back can never revive a session a concurrent logout ended.
     * jitprov-session-info reads without counting (PASSIVE: a polling page
     * must not keep an idle session alive) or extends on demand (EXTEND). The
     * hard end (expires) never moves. */
    if (apr_table_get(r->notes, JP_NOTE_EXTEND) ||
        (!apr_table_get(r->notes, JP_NOTE_PASSIVE) && now - before_seen >= writeback(c)))
        s->last_seen = now;
    if (s->last_seen != before_seen || s->checked_at != before_checked) {
        cookie.last_seen = s->last_seen;
        cookie.checked_at = s->checked_at;
        const char *nv = issue_cookie(r, c, stub ? &cookie : s);
        if (!nv) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          JPLOG(0232) "session cookie could not be refreshed");
            apr_table_setn(r->notes, JP_NOTE_EXTEND_FAILED, "1");
        } else {
            /* The window starts only when the old cookie was judged on its
             * own times: a replacement of a replacement takes its place
             * without moving the window, or the old cookie would ride on
             * from window to window. */
            jp_hot_next_put(c, sent, sentlen, nv, strlen(nv), v == sent);
        }
    }
    return OK;
}

int jp_session_load(request_rec *r, jp_srv_cfg *c, jp_req **out)
{
    return load(r, c, NULL, 0, out, 0);
}

int jp_session_load_env(request_rec *r, jp_srv_cfg *c, const char *sig, size_t siglen, jp_req **out)
{
    return load(r, c, sig, siglen, out, 0);
}

int jp_session_peek(request_rec *r, jp_srv_cfg *c, jp_req **out)
{
    return load(r, c, NULL, 0, out, 1);
}

/* Seals pt under key and stores it server-side: a file with a local cache,
 * JITProvSessionCache with a networked one. 0 or -1. */
static int put_aside(request_rec *r, jp_srv_cfg *c, const char *key, const unsigned char *pt,
                     size_t len, int64_t expires)
{
    const char *sealed = jp_seal(r->pool, &c->sess_keys[0], record_aad(r, key), pt, len);
    if (!sealed)
        return -1;
    if (NETWORKED(c) ? cache_put(r, c, key, (const unsigned char *)sealed, strlen(sealed),
                                 apr_time_from_sec(expires)) != APR_SUCCESS
                     : big_put(r, key, sealed) != APR_SUCCESS)
        return -1;
    return 0;
}

/* Writes the whole record server-side under key. */
static int put_full(request_rec *r, jp_srv_cfg *c, const char *key, const jp_session *s)
{
    size_t len;
    unsigned char *rec = jp_sessrec_encode(r->pool, s, &len);
    return rec ? put_aside(r, c, key, rec, len, s->expires) : -1;
}

/* 0 when s's ID token is stored aside (sealed, bound to its key), -1 when it
 * could not be: the caller then keeps it in the record. */
static int put_hint(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    return put_aside(r, c, hint_key(r, c, s->id), (const unsigned char *)s->id_token,
                     strlen(s->id_token), s->expires);
}

/* The hint cookie: the ID token sealed and bound to its session, sent by the
 * browser only to JITProvLogoutURI (its Path), the one place that reads it.
 * No request carries it otherwise, and no login writes a file for it. A
 * __Host- session cookie gets a __Secure- hint: __Host- requires Path=/. */
static const char *hint_cookie_name(request_rec *r, const jp_srv_cfg *c)
{
    if (!strncmp(c->cookie_name, "__Host-", 7))
        return apr_pstrcat(r->pool, "__Secure-", c->cookie_name + 7, "_hint", NULL);
    return apr_pstrcat(r->pool, c->cookie_name, "_hint", NULL);
}

static const char *hint_aad(request_rec *r, const jp_srv_cfg *c, const char *id)
{
    return apr_pstrcat(r->pool, JP_HINT_AAD, NS(c), "\n", c->cookie_name, "\n", id, NULL);
}

static void hint_cookie_set(request_rec *r, jp_srv_cfg *c, const char *value, int max_age)
{
    jp_cookie_policy pol;
    const char *ss;
    /* The session cookie's SameSite, none of its other attributes: the path
     * is the logout path, and the logout path is on this host. */
    pol.attrs = jp_cookie_attr(r->pool, c->cookie_attrs, "SameSite", &ss)
                    ? apr_pstrcat(r->pool, "SameSite=", ss, NULL)
                    : NULL;
    pol.samesite = c->sess_samesite;
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   jp_cookie_header(r->pool, hint_cookie_name(r, c), value, &pol, c->logout_path,
                                    max_age, jp_origin_https(r, c)));
}

void jp_session_clear_hint(request_rec *r, jp_srv_cfg *c)
{
    if (c->logout_path)
        hint_cookie_set(r, c, "", 0);
}

/* 0 when s's ID token went into the hint cookie. */
static int put_hint_cookie(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    const char *v = jp_seal(r->pool, &c->sess_keys[0], hint_aad(r, c, s->id),
                            (const unsigned char *)s->id_token, strlen(s->id_token));
    if (!v || strlen(v) > JP_HINT_COOKIE_MAX)
        return -1;
    hint_cookie_set(r, c, v, -1);
    return 0;
}

/* The ID token from the hint cookie sent with this request, if it opens for
 * this very session; NULL otherwise. */
static const char *get_hint_cookie(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    const char *v = jp_cookie_get(r, hint_cookie_name(r, c));
    unsigned char *pt;
    size_t plen;
    if (!v || !*v || strlen(v) > JP_COOKIE_IN_MAX)
        return NULL;
    pt = jp_open(r->pool, c->sess_keys, c->nkeys, hint_aad(r, c, s->id), v, &plen);
    return pt && plen && !memchr(pt, '\0', plen) ? (const char *)pt : NULL;
}

const char *jp_session_id_token(request_rec *r, jp_srv_cfg *c, jp_req *rq)
{
    size_t plen;
    unsigned char *pt;

    if (rq->sess->id_token && *rq->sess->id_token)
        return rq->sess->id_token;
    if ((rq->hint = get_hint_cookie(r, c, rq->sess)))
        return rq->hint;
    pt = get_aside(r, c, hint_key(r, c, rq->sess->id), &plen);
    return pt && plen && !memchr(pt, '\0', plen) ? (const char *)pt : NULL;
}

static void del_hint(request_rec *r, jp_srv_cfg *c, const jp_session *s)
{
    const char *key = hint_key(r, c, s->id);
    if (NETWORKED(c))
        cache_del(r, c, key);
    else
        apr_file_remove(big_path(r, key), r->pool);
}

int jp_session_save_tokens(request_rec *r, jp_srv_cfg *c, jp_req *rq, const char *tokens)
{
    jp_session s;
    if (!rq->cache_key)
        return -1;
    s = *rq->sess;
    s.tokens = tokens;
    if (put_full(r, c, rq->cache_key, &s) != 0)
        return -1;
    rq->sess->tokens = tokens;
    return 0;
}

const char *jp_session_stored_tokens(request_rec *r, jp_srv_cfg *c, jp_req *rq)
{
    jp_session s;
    if (!rq->cache_key)
        return NULL;
    s = *rq->sess;
    return fetch_full(r, c, &s) == 0 ? s.tokens : NULL;
}

int jp_session_create(request_rec *r, jp_srv_cfg *c, jp_session *s)
{
    const char *id = jp_random_token(r->pool, 16), *key;
    jp_session stub;
    jp_kv *ref;

    if (!id)
        return -1;
    /* A session is never older than the cache's epoch, which may be made
     * right here (a cache that lost its contents since the last request). */
    if (NETWORKED(c)) {
        int64_t epoch;
        if (net_epoch(r, c, apr_time_sec(apr_time_now()), &epoch) != 0)
            return -1;
    }
    s->id = id;
    s->created = apr_time_now();
    mark_keys(r, c, s);
    /* Nothing but the logout path reads the ID token. */
    if (!c->logout_path)
        s->id_token = "";
    if (s->id_token && *s->id_token) {
        if (put_hint_cookie(r, c, s) == 0) {
            s->id_token = "";
        } else if (put_hint(r, c, s) == 0) {
            s->id_token = "";
            if (!NETWORKED(c))
                big_sweep(r, c);
        } else {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          JPLOG(0235) "ID token could not be kept aside in %s: it stays in the "
                                      "session record",
                          NETWORKED(c) ? c->cache_spec : big_dir);
        }
    }
    /* The backend's tokens never go to the browser, not even sealed: a session
     * holding them takes the oversized-record path below. */
    if ((!s->tokens || !*s->tokens) && issue_cookie(r, c, s))
        return 0;
    /* Too large for a cookie, or holding tokens: the claims go server-side
     * (sealed, bound to their key), the cookie keeps the rest. */
    key = cache_key(r, c, id);
    if (put_full(r, c, key, s) != 0)
        return -1;
    if (!NETWORKED(c))
        big_sweep(r, c);
    stub = *s;
    stub.id_token = "";
    stub.tokens = "";
    stub.kv = apr_array_make(r->pool, 1, sizeof(jp_kv));
    ref = apr_array_push(stub.kv);
    ref->key = JP_REF_KEY;
    ref->val = "";
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  JPLOG(0233) "session record too large for a cookie, or holding tokens: kept "
                              "server-side (%s)",
                  NETWORKED(c) ? c->cache_spec : big_dir);
    return issue_cookie(r, c, &stub) ? 0 : -1;
}

int jp_session_destroy(request_rec *r, jp_srv_cfg *c, jp_req *rq)
{
    int64_t now = apr_time_sec(apr_time_now());
    /* A hint that came in its cookie was never stored server-side. */
    if ((!rq->sess->id_token || !*rq->sess->id_token) && !rq->hint)
        del_hint(r, c, rq->sess);
    /* Browsers send the hint only to the logout path; the session may end
     * elsewhere (front-channel logout, a failed token refresh). */
    jp_session_clear_hint(r, c);
    if (rq->cache_key && NETWORKED(c))
        cache_del(r, c, rq->cache_key);
    else if (rq->cache_key)
        apr_file_remove(big_path(r, rq->cache_key), r->pool);
    return marker_put(r, c, rq->sess->marks[MK_SESSION], now, rq->sess->expires + 1, 1, JP_REV_MAX);
}

apr_status_t jp_cache_put_str(request_rec *r, jp_srv_cfg *c, const char *key, const char *val,
                              int64_t expires_at)
{
    return cache_put(r, c, key, (const unsigned char *)val, strlen(val),
                     apr_time_from_sec(expires_at));
}

apr_status_t jp_cache_take_str(request_rec *r, jp_srv_cfg *c, const char *key, char **val,
                               apr_size_t max)
{
    unsigned char *data;
    unsigned int len;
    apr_status_t rv = cache_get(r, c, key, &data, &len, (unsigned int)max + 1);
    if (rv != APR_SUCCESS)
        return rv;
    cache_del(r, c, key);
    *val = (char *)data;
    return APR_SUCCESS;
}

/* Ends every session issued before now whose (kind, a, b) matches. Lives as
 * long as the longest session could. */
static int revoke_before_now(request_rec *r, jp_srv_cfg *c, const char *kind, const char *a,
                             const char *b)
{
    unsigned char k[JP_REV_KEYLEN];
    int64_t now = apr_time_sec(apr_time_now());
    marker_key(r, c, kind, a, b, k);
    return marker_put(r, c, k, now, now + c->max_duration + c->skew + 1, apr_time_now(),
                      JP_REV_MAX);
}

int jp_session_revoke_sid(request_rec *r, jp_srv_cfg *c, const char *iss, const char *sid,
                          const char *sub)
{
    if (sid && *sid)
        return revoke_before_now(r, c, "i", iss, sid);
    if (sub && *sub)
        return jp_session_revoke_sub(r, c, iss, sub);
    return -1;
}

int jp_session_revoke_sub(request_rec *r, jp_srv_cfg *c, const char *iss, const char *sub)
{
    return revoke_before_now(r, c, "u", iss, sub);
}

int jp_session_revoke_account(request_rec *r, jp_srv_cfg *c, int64_t account_id)
{
    return revoke_before_now(r, c, "a", apr_psprintf(r->pool, "%" APR_INT64_T_FMT, account_id),
                             NULL);
}
