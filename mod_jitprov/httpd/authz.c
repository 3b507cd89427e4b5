/* Authorization providers: Require jitprov-claim and Require jitprov-group.
 * Names are ours alone: httpd silently overwrites a provider registered twice
 * (mod_auth_openidc owns "claim"). */
#include "jitprov.h"
#include "mod_auth.h"
#include "ap_provider.h"
#include "apr_strings.h"
#include "http_request.h"
#include "http_protocol.h"
#include "util_filter.h"

typedef struct {
    const char *claim;
    const char *value; /* exact form */
    ap_regex_t *re;    /* regex form */
} jp_claim_req;

static const jp_req *req_state(request_rec *r)
{
    const jp_req *rq = ap_get_module_config(r->request_config, &jitprov_module);
    if (!rq && r->main)
        rq = ap_get_module_config(r->main->request_config, &jitprov_module);
    return rq;
}

/* Where the separator is looked for. A claim named by a URL (Auth0 and
 * others require custom claims to be namespaced so) has colons of its own:
 * its scheme's, and a port's before the path. */
static const char *name_rest(const char *line)
{
    const char *t, *slash;
    if (!strncasecmp(line, "https://", 8))
        t = line + 8;
    else if (!strncasecmp(line, "http://", 7))
        t = line + 7;
    else
        return line;
    slash = ap_strchr_c(t, '/');
    return slash ? slash : t;
}

/* "name:value" exact element match, "name~regex" regex on any element. */
static const char *claim_parse(cmd_parms *cmd, const char *line, const void **parsed)
{
    jp_claim_req *cr = apr_pcalloc(cmd->pool, sizeof(*cr));
    const char *rest = name_rest(line);
    const char *colon = ap_strchr_c(rest, ':'), *tilde = ap_strchr_c(rest, '~');
    if (tilde && (!colon || tilde < colon)) {
        cr->claim = apr_pstrmemdup(cmd->pool, line, tilde - line);
        cr->re = ap_pregcomp(cmd->pool, tilde + 1, JP_ACCESS_REGEX_FLAGS);
        if (!cr->re)
            return apr_psprintf(cmd->pool, "Require jitprov-claim: bad regular expression '%s'",
                                tilde + 1);
    } else if (colon) {
        cr->claim = apr_pstrmemdup(cmd->pool, line, colon - line);
        cr->value = colon + 1;
    } else {
        return "Require jitprov-claim needs name:value or name~regex";
    }
    if (!*cr->claim)
        return "Require jitprov-claim: empty claim name";
    jp_note_claim_use(cmd, cr->claim,
                      apr_pstrcat(cmd->temp_pool, "Require jitprov-claim ", line, NULL));
    cr->claim = apr_pstrcat(cmd->pool, "c:", cr->claim, NULL);
    *parsed = cr;
    return NULL;
}

static int element_match(apr_pool_t *p, const char *v, const jp_claim_req *cr)
{
    char sep[2] = {JP_MULTI_SEP, 0}, *last, *el, *copy;
    if (cr->value)
        return jp_multi_contains(v, cr->value);
    if (!*v)
        return !ap_regexec(cr->re, "", 0, NULL, 0);
    copy = apr_pstrdup(p, v);
    for (el = apr_strtok(copy, sep, &last); el; el = apr_strtok(NULL, sep, &last))
        if (!ap_regexec(cr->re, el, 0, NULL, 0))
            return 1;
    return 0;
}

static authz_status claim_check(request_rec *r, const char *line, const void *parsed)
{
    const jp_req *rq = req_state(r);
    const char *v;
    if (!r->user || !rq)
        return AUTHZ_DENIED_NO_USER;
    v = jp_kv_get(rq->sess->kv, ((const jp_claim_req *)parsed)->claim);
    if (v && jp_multi_has_ctl(v)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0580) "Require jitprov-claim %s: denied to %s, the claim carries a "
                                  "control character",
                      line, r->user);
        return AUTHZ_DENIED;
    }
    if (v && element_match(r->pool, v, parsed))
        return AUTHZ_GRANTED;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0501) "Require jitprov-claim %s: denied to %s", line, r->user);
    return AUTHZ_DENIED;
}

/* The session's claims named `claim` in _claim_names (kept as JSON text). */
static int overage(request_rec *r, const jp_req *rq, const char *claim)
{
    const char *t = jp_kv_get(rq->sess->kv, "c:_claim_names");
    json_error_t je;
    json_t *j;
    int yes;
    if (!t)
        return 0;
    j = json_loads(t, 0, &je);
    yes = json_is_object(j) && json_object_get(j, claim);
    json_decref(j);
    return yes;
}

static authz_status group_check(request_rec *r, const char *line, const void *parsed)
{
    const jp_req *rq = req_state(r);
    jp_srv_cfg *c = JP_SRV(r->server);
    const char *v, *t, *w;
    if (!r->user || !rq)
        return AUTHZ_DENIED_NO_USER;
    v = jp_kv_get(rq->sess->kv, apr_pstrcat(r->pool, "c:", c->groups_claim, NULL));
    if (v) {
        t = line;
        while (*(w = ap_getword_conf(r->pool, &t)))
            if (jp_multi_contains(v, w))
                return AUTHZ_GRANTED;
    } else if (overage(r, rq, c->groups_claim)) {
        /* Unknown is not empty, but it grants nothing either: fail closed,
         * and say why in a way the sysadmin can fix. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      JPLOG(0540) "Require jitprov-group %s: denied to %s, whose groups are "
                                  "unknown: the login carried an overage pointer (_claim_names) "
                                  "instead of '%s'. In Entra ID emit only \"Groups assigned to the "
                                  "application\" (or use app roles), or filter the groups claim",
                      line, r->user, c->groups_claim);
        return AUTHZ_DENIED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  JPLOG(0502) "Require jitprov-group %s: denied to %s", line, r->user);
    return AUTHZ_DENIED;
}

/* Notes the use: the claim is JITProvGroupsClaim's, known at login. */
static const char *group_parse(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *t = line;
    /* A line without names would deny everyone, silently. */
    if (!*ap_getword_conf(cmd->temp_pool, &t))
        return "Require jitprov-group needs at least one group name";
    jp_note_claim_use(cmd, NULL, "Require jitprov-group (JITProvGroupsClaim)");
    *parsed = NULL;
    return NULL;
}

static const authz_provider claim_provider = {claim_check, claim_parse};
static const authz_provider group_provider = {group_check, group_parse};

void jp_register_authz(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "jitprov-claim", AUTHZ_PROVIDER_VERSION,
                              &claim_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "jitprov-group", AUTHZ_PROVIDER_VERSION,
                              &group_provider, AP_AUTH_INTERNAL_PER_CONF);
}

/* An authenticated user whom a Require line refuses gets 403, not httpd's 401:
 * a 401 without a WWW-Authenticate challenge means nothing to a browser, and
 * logging in again would not help. mod_authz_core calls note_auth_failure just
 * before answering 401; the error filter then turns the status into 403. */
static int jp_note_auth_failure(request_rec *r, const char *type)
{
    if (strcasecmp(type, "jitprov"))
        return DECLINED;
    if (r->user && *r->user) {
        apr_table_setn(r->notes, "jitprov-forbid", "1");
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      JPLOG(0503) "access to %s denied to %s by Require [ref %s]", r->uri, r->user,
                      jp_ref(r));
        jp_error_page(r, HTTP_UNAUTHORIZED, HTTP_FORBIDDEN,
                      "You are logged in, but not allowed to see this page.");
    } else {
        /* No session (JITProvUnauthAction pass): httpd's 401 stays a 401. */
        jp_challenge(r);
    }
    return OK;
}

static apr_status_t forbid_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    f->r->status = HTTP_FORBIDDEN;
    f->r->status_line = NULL;
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void jp_insert_error_filter(request_rec *r)
{
    if (r->status == HTTP_UNAUTHORIZED && apr_table_get(r->notes, "jitprov-forbid"))
        ap_add_output_filter("JITPROV_FORBID", NULL, r, r->connection);
}

void jp_authz_register_hooks(void)
{
    ap_hook_note_auth_failure(jp_note_auth_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(jp_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter("JITPROV_FORBID", forbid_filter, NULL, AP_FTYPE_CONTENT_SET);
}
