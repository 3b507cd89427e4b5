/* SetHandler jitprov-status: counters in Prometheus text format. The counters
 * live in one anonymous shared memory segment made before the children fork,
 * updated with atomic adds, so every child reports the same totals. */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_shm.h"
#include "apr_atomic.h"
#include "apr_strings.h"

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

static apr_uint32_t *counters;

apr_status_t jp_metrics_init(apr_pool_t *pconf)
{
    apr_shm_t *shm;
    apr_status_t rv;
    if (counters)
        return APR_SUCCESS;
    rv = apr_shm_create(&shm, sizeof(apr_uint32_t) * JP_M__COUNT, NULL, pconf);
    if (rv != APR_SUCCESS)
        return rv;
    counters = apr_shm_baseaddr_get(shm);
    memset(counters, 0, sizeof(apr_uint32_t) * JP_M__COUNT);
    return APR_SUCCESS;
}

void jp_metric(jp_metric_id m)
{
    if (counters)
        apr_atomic_inc32(&counters[m]);
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
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;
    for (i = 0; i < JP_M__COUNT; i++)
        ap_rprintf(r, "# HELP %s %s\n# TYPE %s counter\n%s %u\n", names[i], help[i], names[i],
                   names[i], counters ? apr_atomic_read32(&counters[i]) : 0);
    return OK;
}
