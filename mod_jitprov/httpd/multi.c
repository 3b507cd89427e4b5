/* More than one identity provider in one virtual host. The single-provider
 * directives (JITProvProviderMetadataURL, JITProvClientID, ...) stay the
 * "default" provider; each JITProvProvider line adds one more, with its own
 * discovery document, client id and secret, sharing every other setting of
 * the vhost. At startup each extra provider becomes a copy of the vhost's
 * configuration with those three replaced, so the flow, token validation,
 * logout and refresh code run unchanged with the copy.
 *
 * Which provider a login uses: a JITProvProviderSelect rule (URL path prefix
 * or host name), else the discovery page (JITProvDiscoveryURI) when one is
 * set, else the default. The choice travels inside the state parameter
 * (43 random characters + the provider's name), which the sealed state
 * cookie authenticates, so the callback knows whose code it holds. Sessions
 * keep the vhost's cache namespace, so any provider's session is found by
 * the same lookup; logout, back-channel logout and refresh find the provider
 * by the session's or the token's issuer. Accounts stay keyed by (iss, sub). */
#include "jitprov.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include "url.h"
#include "json.h"

#define JP_STATE_RANDOM_LEN 43

apr_status_t jp_providers_create(apr_pool_t *pconf, jp_srv_cfg *c)
{
    int i;
    if (!c->extra_providers)
        return APR_SUCCESS;
    for (i = 0; i < c->extra_providers->nelts; i++) {
        jp_provider_def *d = &((jp_provider_def *)c->extra_providers->elts)[i];
        jp_srv_cfg *pc = apr_pmemdup(pconf, c, sizeof(*c));
        pc->metadata_url = d->metadata_url;
        pc->client_id = d->client_id;
        pc->client_secret = d->client_secret;
        pc->provider_name = d->name;
        pc->session_ns = c->client_id;
        pc->extra_providers = NULL;
        pc->provider = NULL;
        if (jp_provider_create(pconf, pc) != APR_SUCCESS)
            return APR_EGENERAL;
        d->cfg = pc;
    }
    return jp_provider_group_create(pconf, c);
}

static jp_srv_cfg *by_name(jp_srv_cfg *c, const char *name)
{
    int i;
    if (!c->extra_providers || !name)
        return NULL;
    for (i = 0; i < c->extra_providers->nelts; i++) {
        jp_provider_def *d = &((jp_provider_def *)c->extra_providers->elts)[i];
        if (!strcmp(d->name, name))
            return d->cfg;
    }
    return NULL;
}

/* NULL: the default provider (c itself). */
static const char *select_by_rule(request_rec *r, jp_srv_cfg *c, int *matched)
{
    int i;
    const char *host = r->hostname ? r->hostname : "";
    *matched = 0;
    if (!c->provider_rules)
        return NULL;
    for (i = 0; i < c->provider_rules->nelts; i++) {
        jp_provider_rule *rule = &((jp_provider_rule *)c->provider_rules->elts)[i];
        int hit;
        if (rule->by_host) {
            hit = !strcasecmp(host, rule->match);
        } else {
            size_t n = strlen(rule->match);
            hit = !strncmp(r->uri, rule->match, n) &&
                  (r->uri[n] == '\0' || r->uri[n] == '/' || rule->match[n - 1] == '/');
        }
        if (hit) {
            *matched = 1;
            return rule->provider;
        }
    }
    return NULL;
}

int jp_login_start(request_rec *r, jp_srv_cfg *c)
{
    int matched;
    const char *name = select_by_rule(r, c, &matched);
    jp_srv_cfg *pc = name ? by_name(c, name) : c;
    if (matched)
        return jp_flow_start(r, pc ? pc : c);
    if (c->extra_providers && c->discovery_path) {
        apr_table_setn(r->headers_out, "Location",
                       apr_pstrcat(r->pool, c->discovery_path,
                                   "?return_to=", jp_url_encode(r->pool, r->unparsed_uri), NULL));
        jp_no_store(r);
        return HTTP_MOVED_TEMPORARILY;
    }
    return jp_flow_start(r, c);
}

jp_srv_cfg *jp_provider_for_callback(request_rec *r, jp_srv_cfg *c, const char *params)
{
    const char *state = params ? jp_query_param(r->pool, params, "state") : NULL;
    if (!c->extra_providers || !state || strlen(state) <= JP_STATE_RANDOM_LEN)
        return c;
    return by_name(c, state + JP_STATE_RANDOM_LEN);
}

jp_srv_cfg *jp_provider_for_iss(request_rec *r, jp_srv_cfg *c, const char *iss)
{
    jp_srv_cfg *pc;
    if (!c->extra_providers || !iss)
        return c;
    pc = jp_provider_by_issuer(r, c, iss);
    return pc ? pc : c;
}

jp_srv_cfg *jp_provider_for_token(request_rec *r, jp_srv_cfg *c, const char *jwt)
{
    const char *dot1, *dot2;
    unsigned char *payload;
    size_t n;
    json_t *j;
    jp_srv_cfg *pc = c;
    if (!c->extra_providers || !jwt || !(dot1 = strchr(jwt, '.')) ||
        !(dot2 = strchr(dot1 + 1, '.')) || dot2 - dot1 > 16384)
        return c;
    /* Unverified, only to pick whose keys verify it next. */
    payload = jp_b64url_decode(r->pool, apr_pstrmemdup(r->pool, dot1 + 1, dot2 - dot1 - 1), &n);
    j = payload ? jp_json_loadb((const char *)payload, n, 0, NULL) : NULL;
    if (json_is_string(json_object_get(j, "iss")))
        pc = jp_provider_for_iss(r, c, json_string_value(json_object_get(j, "iss")));
    json_decref(j);
    return pc;
}

/* The discovery page: a list of the providers, each a link that starts the
 * login with it; ?provider=NAME starts it. */
int jp_discovery_page(request_rec *r, jp_srv_cfg *c)
{
    const char *q = r->args ? r->args : "", *ret, *name, *dest, *list;
    jp_origin o;
    int i;

    jp_no_store(r);
    if (r->method_number != M_GET)
        return jp_fail(r, HTTP_METHOD_NOT_ALLOWED, "The login page accepts GET only.",
                       "discovery page with method %s", ap_escape_logitem(r->pool, r->method));
    ret = jp_query_param(r->pool, q, "return_to");
    jp_origin_get(r, c, &o);
    dest = jp_safe_return_to(r->pool, ret ? ret : "/", o.scheme, o.host, o.port);
    if (!dest)
        return jp_fail(r, HTTP_BAD_REQUEST, "The return address must be on this site.",
                       "discovery page: return_to %s refused",
                       ap_escape_logitem(r->pool, ret ? ret : ""));
    name = jp_query_param(r->pool, q, "provider");
    if (name) {
        jp_srv_cfg *pc = strcmp(name, "default") ? by_name(c, name) : c;
        if (!pc)
            return jp_fail(r, HTTP_BAD_REQUEST, "That identity provider is not configured here.",
                           "discovery page: unknown provider %s", ap_escape_logitem(r->pool, name));
        return jp_flow_start_to(r, pc, dest);
    }
    list = apr_pstrcat(
        r->pool, "<li><a href=\"?provider=default&amp;return_to=", jp_url_encode(r->pool, dest),
        "\">", ap_escape_html(r->pool, c->provider_label ? c->provider_label : "default"),
        "</a></li>\n", NULL);
    for (i = 0; c->extra_providers && i < c->extra_providers->nelts; i++) {
        jp_provider_def *d = &((jp_provider_def *)c->extra_providers->elts)[i];
        list = apr_pstrcat(r->pool, list, "<li><a href=\"?provider=", d->name,
                           "&amp;return_to=", jp_url_encode(r->pool, dest), "\">",
                           ap_escape_html(r->pool, d->label), "</a></li>\n", NULL);
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    ap_rputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>Log in</title></head>\n<body><h1>Log in with</h1>\n<ul id=\"providers\">\n",
             r);
    ap_rputs(list, r);
    ap_rputs("</ul></body></html>\n", r);
    return OK;
}
