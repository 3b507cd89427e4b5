/* Diagnostics a sysadmin can act on, both fed once per login:
 * - a warning, once per process and claim, when a directive reads a claim
 *   the login did not carry (the IdP may send it only in userinfo);
 * - the claim names (never values) of the last logins, per issuer, shown by
 *   the status handler at ?claims. They live in one shared memory segment made
 *   before the children fork, behind a global mutex: written once per login
 *   and read by the status view only, never on the per-request path. */
#include "jitprov.h"
#include "http_protocol.h"
#include "util_mutex.h"
#include "http_core.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_hash.h"

#include <stdlib.h>

#define JP_DIAG_MUTEX "jitprov-diag"
#define SEEN_LOGINS 32
#define SEEN_NAMES 64
#define NAME_LEN 64
#define ISS_LEN 256
#define WARNED_MAX 256

typedef struct {
    apr_uint32_t seq; /* 0: empty slot */
    char iss[ISS_LEN];
    unsigned int n;
    unsigned char from_id[SEEN_NAMES]; /* 1: in the ID token, 0: userinfo only */
    char names[SEEN_NAMES][NAME_LEN];
} seen_login;

typedef struct {
    apr_uint32_t next;
    seen_login ring[SEEN_LOGINS];
} seen_shm;

static seen_shm *seen;
static apr_global_mutex_t *seen_mutex;
static const char *seen_mutex_file;
/* Per process: which (server, directive, claim) warnings were already given. */
static apr_hash_t *warned;
static apr_thread_mutex_t *warned_mu;

void jp_note_claim_use(cmd_parms *cmd, const char *claim, const char *what)
{
    jp_srv_cfg *c;
    jp_claim_use *u;
    /* .htaccess is parsed per request: the server config is not ours to change then. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_RUN_MPM)
        return;
    c = JP_SRV(cmd->server);
    /* httpd makes a virtual host's config of a module when the first directive
     * of that module is read there. A Require line is mod_authz_core's: in a
     * virtual host that inherits every JITProv directive it comes first. */
    if (!c) {
        c = jp_create_srv_cfg(cmd->pool, cmd->server);
        ap_set_module_config(cmd->server->module_config, &jitprov_module, c);
    }
    u = apr_array_push(c->claim_uses);
    u->claim = claim ? apr_pstrdup(cmd->pool, claim) : NULL;
    u->what = apr_pstrdup(cmd->pool, what);
}

apr_status_t jp_diag_preconfig(apr_pool_t *pconf)
{
    return ap_mutex_register(pconf, JP_DIAG_MUTEX, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t seen_reset(void *unused)
{
    seen = NULL;
    seen_mutex = NULL;
    return APR_SUCCESS;
}

apr_status_t jp_diag_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_shm_t *shm;
    apr_status_t rv;
    if (seen)
        return APR_SUCCESS;
    rv = ap_global_mutex_create(&seen_mutex, &seen_mutex_file, JP_DIAG_MUTEX, NULL, s, pconf, 0);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_shm_create(&shm, sizeof(seen_shm), NULL, pconf);
    if (rv != APR_SUCCESS)
        return rv;
    seen = apr_shm_baseaddr_get(shm);
    memset(seen, 0, sizeof(*seen));
    apr_pool_cleanup_register(pconf, NULL, seen_reset, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

void jp_diag_child_init(apr_pool_t *p, server_rec *s)
{
    if (seen_mutex)
        apr_global_mutex_child_init(&seen_mutex, seen_mutex_file, p);
    warned = apr_hash_make(p);
    apr_thread_mutex_create(&warned_mu, APR_THREAD_MUTEX_DEFAULT, p);
}

apr_array_header_t *jp_diag_names(apr_pool_t *p, json_t *claims)
{
    apr_array_header_t *a = apr_array_make(p, 24, sizeof(const char *));
    const char *k;
    json_t *v;
    json_object_foreach(claims, k, v)
    {
        *(const char **)apr_array_push(a) = apr_pstrdup(p, k);
    }
    return a;
}

static int in_names(const apr_array_header_t *a, const char *name)
{
    int i;
    for (i = 0; a && i < a->nelts; i++)
        if (!strcmp(((const char **)a->elts)[i], name))
            return 1;
    return 0;
}

/* A name as the status view prints it: printable, bounded. */
static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t i;
    for (i = 0; src[i] && i < cap - 1; i++)
        dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
    if (src[i] && cap > 4)
        memcpy(dst + cap - 4, "...", 4);
}

static void record(jp_srv_cfg *c, const char *iss, const apr_array_header_t *id_names,
                   json_t *claims)
{
    seen_login *l;
    const char *k;
    json_t *v;
    if (!seen || !seen_mutex || apr_global_mutex_lock(seen_mutex) != APR_SUCCESS)
        return;
    l = &seen->ring[seen->next++ % SEEN_LOGINS];
    memset(l, 0, sizeof(*l));
    l->seq = seen->next;
    copy_name(l->iss, sizeof(l->iss), iss);
    json_object_foreach(claims, k, v)
    {
        if (l->n == SEEN_NAMES)
            break;
        copy_name(l->names[l->n], NAME_LEN, k);
        l->from_id[l->n] = in_names(id_names, k);
        l->n++;
    }
    apr_global_mutex_unlock(seen_mutex);
}

/* 1 the first time this process sees (server, use); the set stays small. */
static int first_time(jp_srv_cfg *c, const jp_claim_use *u, const char *claim)
{
    const char *key;
    int first = 0;
    if (!warned_mu)
        return 0;
    apr_thread_mutex_lock(warned_mu);
    key = apr_psprintf(apr_hash_pool_get(warned), "%pp\n%s\n%s", (void *)c, u->what, claim);
    if (!apr_hash_get(warned, key, APR_HASH_KEY_STRING) && apr_hash_count(warned) < WARNED_MAX) {
        apr_hash_set(warned, key, APR_HASH_KEY_STRING, "");
        first = 1;
    }
    apr_thread_mutex_unlock(warned_mu);
    return first;
}

static void warn_missing(request_rec *r, jp_srv_cfg *c, const char *claim, const char *what,
                         int userinfo_used)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  JPLOG(0341) "claim '%s' used by %s is missing from the ID token%s (warned once "
                              "per process)",
                  claim, what,
                  userinfo_used ? " and from userinfo"
                  : c->userinfo
                      ? " and the IdP publishes no userinfo_endpoint"
                      : "; JITProvUserInfo is Off - the IdP may send it only in userinfo");
}

void jp_diag_login(request_rec *r, jp_srv_cfg *c, const char *iss,
                   const apr_array_header_t *id_names, json_t *claims, int userinfo_used)
{
    int i;
    record(c, iss, id_names, claims);
    for (i = 0; c->claim_uses && i < c->claim_uses->nelts; i++) {
        const jp_claim_use *u = &((const jp_claim_use *)c->claim_uses->elts)[i];
        const char *claim = u->claim ? u->claim : c->groups_claim;
        if (jp_claim_get(r->pool, claims, claim))
            continue;
        if (first_time(c, u, claim))
            warn_missing(r, c, claim, u->what, userinfo_used);
    }
    if (c->provisioning && c->store.map) {
        for (i = 0; i < c->store.map->nelts; i++) {
            const jp_claim_map *m = &((const jp_claim_map *)c->store.map->elts)[i];
            jp_claim_use u;
            if (jp_claim_get(r->pool, claims, m->claim))
                continue;
            u.claim = m->claim;
            u.what = apr_pstrcat(r->pool, "JITProvMapClaim (", m->claim, " -> column ", m->column,
                                 ")", NULL);
            if (first_time(c, &u, m->claim))
                warn_missing(r, c, m->claim, u.what, userinfo_used);
        }
    }
}

typedef struct {
    int logins, in_id;
} name_count;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* SetHandler jitprov-status, ?claims: which claim names the last logins
 * carried, per issuer, and from where. */
int jp_diag_claims_view(request_rec *r)
{
    seen_shm *copy;
    apr_hash_t *by_iss = apr_hash_make(r->pool);
    apr_hash_index_t *hi;
    int i, total = 0;

    ap_set_content_type(r, "text/plain; charset=utf-8");
    jp_no_store(r);
    if (r->header_only)
        return OK;
    copy = apr_pcalloc(r->pool, sizeof(*copy));
    if (seen && seen_mutex && apr_global_mutex_lock(seen_mutex) == APR_SUCCESS) {
        memcpy(copy, seen, sizeof(*copy));
        apr_global_mutex_unlock(seen_mutex);
    }
    for (i = 0; i < SEEN_LOGINS; i++) {
        const seen_login *l = &copy->ring[i];
        apr_hash_t *names;
        unsigned int j;
        int *count;
        if (!l->seq)
            continue;
        total++;
        names = apr_hash_get(by_iss, l->iss, APR_HASH_KEY_STRING);
        if (!names) {
            names = apr_hash_make(r->pool);
            apr_hash_set(by_iss, l->iss, APR_HASH_KEY_STRING, names);
            count = apr_pcalloc(r->pool, sizeof(int));
            apr_hash_set(names, "", 0, count);
        }
        count = apr_hash_get(names, "", 0);
        (*count)++;
        for (j = 0; j < l->n && j < SEEN_NAMES; j++) {
            name_count *nc = apr_hash_get(names, l->names[j], APR_HASH_KEY_STRING);
            if (!nc) {
                nc = apr_pcalloc(r->pool, sizeof(*nc));
                apr_hash_set(names, l->names[j], APR_HASH_KEY_STRING, nc);
            }
            nc->logins++;
            nc->in_id += l->from_id[j];
        }
    }
    ap_rprintf(r,
               "# Claim names (not values) of the last %d logins, kept in shared memory for "
               "the last %d logins of all processes; emptied by a restart.\n"
               "# name: logins that carried it (in the ID token / from userinfo only)\n",
               total, SEEN_LOGINS);
    for (hi = apr_hash_first(r->pool, by_iss); hi; hi = apr_hash_next(hi)) {
        const char *iss;
        apr_hash_t *names;
        apr_hash_index_t *ni;
        apr_array_header_t *sorted = apr_array_make(r->pool, 32, sizeof(const char *));
        apr_hash_this(hi, (const void **)&iss, NULL, (void **)&names);
        ap_rprintf(r, "issuer %s: %d logins\n", iss, *(int *)apr_hash_get(names, "", 0));
        for (ni = apr_hash_first(r->pool, names); ni; ni = apr_hash_next(ni)) {
            const char *n;
            apr_hash_this(ni, (const void **)&n, NULL, NULL);
            if (*n)
                *(const char **)apr_array_push(sorted) = n;
        }
        qsort(sorted->elts, sorted->nelts, sizeof(const char *), cmp_str);
        for (i = 0; i < sorted->nelts; i++) {
            const char *n = ((const char **)sorted->elts)[i];
            const name_count *nc = apr_hash_get(names, n, APR_HASH_KEY_STRING);
            ap_rprintf(r, "  %s: %d (%d / %d)\n", n, nc->logins, nc->in_id, nc->logins - nc->in_id);
        }
    }
    return OK;
}
