/* Requests to the token endpoint (code exchange, refresh) with the configured
 * client authentication: client_secret_basic, client_secret_post or
 * private_key_jwt (RFC 7523 2.2, OIDC Core 9). */
#include "jitprov.h"
#include "apr_strings.h"

#include "clientauth.h"
#include "url.h"

/* Short: the assertion is made for this one request (oidc-provider, Keycloak
 * and Entra ID also refuse a jti they have seen). */
#define JP_ASSERTION_LIFETIME 60

apr_status_t jp_token_post(request_rec *r, jp_srv_cfg *c, const jp_meta *m, const char *body,
                           jp_http_resp *resp, const char **err)
{
    const char *user = NULL, *pass = NULL;
    switch (c->token_auth) {
    case JP_AUTH_POST:
        body = apr_pstrcat(r->pool, body, "&client_id=", jp_url_encode(r->pool, c->client_id),
                           "&client_secret=", jp_url_encode(r->pool, c->client_secret), NULL);
        break;
    case JP_AUTH_PRIVATE_KEY_JWT: {
        /* OIDC Core 9: aud SHOULD be the token endpoint URL; RFC 7523 allows it
         * as the authorization server's identity, and IdPs accept it. */
        const char *why = NULL;
        const char *jwt = jp_client_assertion(
            r->pool, c->pkey_pem, c->pkey_len, c->pkey_kid, c->client_id, m->token_endpoint,
            apr_time_sec(apr_time_now()), JP_ASSERTION_LIFETIME, &why);
        if (!jwt) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          JPLOG(0370) "cannot sign the client assertion with %s: %s", c->pkey_file,
                          why ? why : "unknown error");
            *err = "client assertion could not be signed";
            return APR_EGENERAL;
        }
        body =
            apr_pstrcat(r->pool, body, "&client_id=", jp_url_encode(r->pool, c->client_id),
                        "&client_assertion_type=", jp_url_encode(r->pool, JP_CLIENT_ASSERTION_TYPE),
                        "&client_assertion=", jwt, NULL);
        break;
    }
    case JP_AUTH_BASIC:
    default:
        /* RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding. */
        user = jp_url_encode(r->pool, c->client_id);
        pass = jp_url_encode(r->pool, c->client_secret);
        break;
    }
    return jp_http(r->pool, c, "POST", m->token_endpoint, body, user, pass, NULL, resp, err);
}
