/* SetHandler jitprov-status: counters in Prometheus text format. The counters
 * live in one anonymous shared memory segment made before the children fork,
 * updated with atomic adds, so every child reports the same totals. */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_shm.h"
#include "apr_atomic.h"
#include "apr_strings.h"
#include <unistd.h>

static const char *const names[JP_M__COUNT] = {
    [JP_M_LOGIN_START] = "jitprov_login_redirects_total",
    [JP_M_LOGIN_OK] = "jitprov_logins_total",
    [JP_M_LOGIN_FAIL] = "jitprov_login_failures_total",
    [JP_M_SESSION_HIT] = "jitprov_authenticated_requests_total",
    [JP_M_SESSION_MISS] = "jitprov_unauthenticated_requests_total",
    [JP_M_ACCOUNT_CREATE] = "jitprov_accounts_created_total",
    [JP_M_ACCOUNT_REFUSED] = "jitprov_logins_refused_total",
    [JP_M_SESSION_ENDED] = "jitprov_sessions_ended_by_recheck_total",
    [JP_M_LOGOUT] = "jitprov_logouts_total",
    [JP_M_BCL] = "jitprov_backchannel_logouts_total",
    [JP_M_IDP_ERROR] = "jitprov_idp_errors_total",
    [JP_M_DB_ERROR] = "jitprov_db_errors_total",
    [JP_M_FCL] = "jitprov_frontchannel_logouts_total",
};

static const char *const help[JP_M__COUNT] = {
    [JP_M_LOGIN_START] = "Browsers sent to the IdP to log in.",
    [JP_M_LOGIN_OK] = "Completed logins (session created).",
    [JP_M_LOGIN_FAIL] = "Callbacks that ended in an error page.",
    [JP_M_SESSION_HIT] = "Requests served with a valid session.",
    [JP_M_SESSION_MISS] = "Requests to protected paths without a valid session.",
    [JP_M_ACCOUNT_CREATE] = "Accounts created just in time.",
    [JP_M_ACCOUNT_REFUSED] = "Logins refused by policy (pending, disabled, gates).",
    [JP_M_SESSION_ENDED] = "Sessions ended because the account is no longer active.",
    [JP_M_LOGOUT] = "Local logouts.",
    [JP_M_BCL] = "Back-channel logout tokens accepted.",
    [JP_M_IDP_ERROR] = "Failed calls to the IdP.",
    [JP_M_DB_ERROR] = "Database failures during login or re-check.",
    [JP_M_FCL] = "Front-channel logout requests accepted.",
};

/* Every authenticated request adds to a counter: one shared word would be a
 * cache line that all cores take in turn at every request. Each thread adds
 * to its own stripe (a row of counters on cache lines of its own, chosen
 * when the thread first counts); the status page sums the stripes. 64-bit:
 * a 32-bit request counter wraps after days at production rates. */
#define JP_STRIPES 64
#define JP_ROW ((sizeof(apr_uint64_t) * JP_M__COUNT + 127) / 128 * 128)

static char *counters;
static __thread unsigned my_stripe; /* stripe + 1; 0: not chosen yet */
static apr_uint32_t next_stripe;

static apr_uint64_t *row(unsigned stripe)
{
    return (apr_uint64_t *)(counters + (apr_size_t)stripe * JP_ROW);
}

/* Made once in the parent's life, in its process pool, so the totals go on
 * through graceful restarts like mod_status's. httpd unloads and loads the
 * module again at a restart, so the address is kept in the pool, under a
 * key that names the layout (a new build with other counters gets its own). */
apr_status_t jp_metrics_init(apr_pool_t *pconf, apr_pool_t *pproc)
{
    const char *key =
        apr_psprintf(pconf, "jitprov-metrics:%u:%u", (unsigned)JP_M__COUNT, (unsigned)JP_STRIPES);
    void *base = NULL;
    apr_shm_t *shm;
    apr_status_t rv;

    apr_pool_userdata_get(&base, key, pproc);
    if (!base) {
        /* apr_shm_create's segment is page-aligned: the rows are on their own lines. */
        rv = apr_shm_create(&shm, JP_ROW * JP_STRIPES, NULL, pproc);
        if (rv != APR_SUCCESS)
            return rv;
        base = apr_shm_baseaddr_get(shm);
        memset(base, 0, JP_ROW * JP_STRIPES);
        apr_pool_userdata_set(base, key, apr_pool_cleanup_null, pproc);
    }
    counters = base;
    return APR_SUCCESS;
}

void jp_metric(jp_metric_id m)
{
    if (!counters)
        return;
    if (!my_stripe) {
        /* Children fork with the same next_stripe: the pid spreads their
         * threads over the stripes. */
        apr_uint32_t n = apr_atomic_inc32(&next_stripe);
        my_stripe = (unsigned)(((apr_uint32_t)getpid() * 2654435761u + n) % JP_STRIPES) + 1;
    }
    apr_atomic_inc64(&row(my_stripe - 1)[m]);
}

static apr_uint64_t metric_total(int m)
{
    apr_uint64_t t = 0;
    unsigned i;
    for (i = 0; counters && i < JP_STRIPES; i++)
        t += apr_atomic_read64(&row(i)[m]);
    return t;
}

static apr_status_t metrics_reset(void *unused)
{
    counters = NULL;
    return APR_SUCCESS;
}

void jp_metrics_cleanup(apr_pool_t *pconf)
{
    apr_pool_cleanup_register(pconf, NULL, metrics_reset, apr_pool_cleanup_null);
}

int jp_status_handler(request_rec *r)
{
    int i;
    if (!r->handler || strcmp(r->handler, "jitprov-status"))
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (r->args && !strcmp(r->args, "claims"))
        return jp_diag_claims_view(r);
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    jp_no_store(r);
    if (r->header_only)
        return OK;
    for (i = 0; i < JP_M__COUNT; i++)
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s counter\n%s %" APR_UINT64_T_FMT "\n", names[i],
                   help[i], names[i], names[i], metric_total(i));
    return OK;
}
