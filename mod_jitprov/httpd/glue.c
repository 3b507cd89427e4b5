/* Glue helpers the request handlers share (flow.c, session.c, logout.c,
 * scim_handler.c): the database handle from mod_dbd, a capped request body,
 * the signing algorithms taken for tokens.
 * They live here, not in mod_jitprov.c, so that the hooks file stays on top
 * and nothing calls up into it. */
#include "jitprov.h"
#include "url.h"
#include "http_protocol.h"
#include "apr_optional.h"

#include "apr_dbd.h"
#include "mod_dbd.h"

/* Written once per process by the optional_fn_retrieve hook, before any
 * request; read-only afterwards, so no lock. */
static APR_OPTIONAL_FN_TYPE(ap_dbd_acquire) * dbd_acquire;

int jp_dbd_available(void)
{
    if (!dbd_acquire)
        dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
    return dbd_acquire != NULL;
}

int jp_db_acquire(request_rec *r, jp_db *db)
{
    ap_dbd_t *d = dbd_acquire ? dbd_acquire(r) : NULL;
    if (!d)
        return HTTP_SERVICE_UNAVAILABLE;
    db->driver = d->driver;
    db->handle = d->handle;
    db->prepared = d->prepared;
    db->pool = d->pool;
    return OK;
}

int jp_read_body(request_rec *r, apr_size_t max, char **body)
{
    apr_size_t len = 0;
    char *buf;
    long n;
    int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (rc != OK)
        return rc;
    buf = apr_palloc(r->pool, max + 1);
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, buf + len, max - len)) > 0) {
            len += (apr_size_t)n;
            if (len >= max) {
                char junk[1];
                if (ap_get_client_block(r, junk, 1) > 0)
                    return jp_fail(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "The request is too large.",
                                   "body over %lu bytes", (unsigned long)max);
                break;
            }
        }
        if (n < 0)
            return jp_fail(r, HTTP_BAD_REQUEST, "The request body could not be read.",
                           "body read error");
    }
    buf[len] = '\0';
    *body = buf;
    return OK;
}

void jp_glue_optional_fn_retrieve(void)
{
    dbd_acquire = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_acquire);
}

/* Asymmetric algorithms are taken whatever the discovery document lists
 * (OIDC Core 3.1.3.7 step 7 is a SHOULD): the key from the JWKS must fit the
 * algorithm, which is what stops a confusion, while the cached document
 * would refuse every login for hours after an IdP moves to a new algorithm
 * (oidc-provider lists only the algorithms of its current keys).
 * OIDC Core 10.1: HS* tokens are MACed with the client secret; taken only when
 * the IdP lists them for that kind of token (and, in token.c, when the secret
 * is as long as the hash). "none" never is. ID and logout tokens share the
 * list (Back-Channel Logout 1.0 2.6: validated as ID tokens are). */
static const char *const asym_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                        "PS512", "ES256", "ES384", "ES512", "EdDSA"};
static const char *const hs_algs[] = {"HS256", "HS384", "HS512"};

const char *const *jp_token_algs(apr_pool_t *p, const char *listed)
{
    const size_t na = sizeof(asym_algs) / sizeof(*asym_algs),
                 nh = sizeof(hs_algs) / sizeof(*hs_algs);
    const char **out = apr_palloc(p, sizeof(*out) * (na + nh + 1));
    size_t i, n = 0;
    for (i = 0; i < na; i++)
        out[n++] = asym_algs[i];
    for (i = 0; i < nh; i++)
        if (jp_word_listed(listed, hs_algs[i]))
            out[n++] = hs_algs[i];
    out[n] = NULL;
    return out;
}
