/* Error pages: a short reason and a correlation id for the browser, the detail
 * under the same id in the error log. An ErrorDocument for the status wins. */
#include "jitprov.h"
#include "http_core.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include <stdarg.h>

const char *jp_ref(request_rec *r)
{
    const char *ref = apr_table_get(r->notes, "jitprov-ref");
    if (!ref) {
        ref = jp_random_token(r->pool, 9);
        if (!ref)
            ref = apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_now());
        apr_table_setn(r->notes, "jitprov-ref", ref);
        apr_table_setn(r->subprocess_env, "JITPROV_ERROR_REF", ref);
    }
    return ref;
}

static int has_error_document(request_rec *r, int status)
{
    core_dir_config *conf = ap_get_core_module_config(r->per_dir_config);
    int idx = ap_index_of_response(status);
    if (conf->response_code_exprs && apr_hash_get(conf->response_code_exprs, &idx, sizeof(idx)))
        return 1;
    return 0;
}

void jp_error_page(request_rec *r, int status, int shown, const char *reason)
{
    const char *ref = jp_ref(r);
    const char *title = ap_escape_html(r->pool, ap_get_status_line(shown) + 4);
    if (has_error_document(r, status))
        return;
    ap_custom_response(r, status,
                       apr_psprintf(r->pool,
                                    "<!DOCTYPE html>\n<html><head><title>%d %s</title>"
                                    "<meta name=\"robots\" content=\"noindex\"></head><body>\n"
                                    "<h1>%s</h1>\n<p>%s</p>\n"
                                    "<p>If you need help, quote this reference: "
                                    "<code class=\"jitprov-ref\">%s</code></p>\n</body></html>\n",
                                    shown, title, title, ap_escape_html(r->pool, reason), ref));
}

/* RFC 9110 11.6.1 / 15.5.2: a 401 must carry a challenge. The scheme is the
 * module's own, so no browser opens a password prompt, while clients and
 * proxies that rely on the header get one. Kept when set already (the SCIM
 * endpoint's Bearer). */
void jp_challenge(request_rec *r)
{
    if (!apr_table_get(r->err_headers_out, "WWW-Authenticate"))
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", "jitprov");
}

void jp_no_store(request_rec *r)
{
    /* A stricter value set by a handler (front-channel logout's) stays. */
    const char *cc = apr_table_get(r->err_headers_out, "Cache-Control");
    if (!cc || !ap_strstr_c(cc, "no-store"))
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
}

int jp_fail(request_rec *r, int status, const char *reason, const char *fmt, ...)
{
    const char *ref = jp_ref(r);
    char *detail;
    va_list ap;

    va_start(ap, fmt);
    detail = apr_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    ap_log_rerror(APLOG_MARK, status >= 500 ? APLOG_ERR : APLOG_WARNING, 0, r,
                  JPLOG(0001) "%s [ref %s] (shown: %s)", detail, ref, reason);
    apr_table_setn(r->notes, "jitprov-reason", reason);
    apr_table_setn(r->subprocess_env, "JITPROV_ERROR", reason);
    jp_no_store(r);
    if (status == HTTP_UNAUTHORIZED)
        jp_challenge(r);
    jp_error_page(r, status, status, reason);
    return status;
}
