/* private_key_jwt client authentication (RFC 7523 2.2, OIDC Core 9): the
 * client_assertion JWT signed with the relying party's own private key.
 * Pure, no httpd headers. */
#ifndef JP_CLIENTAUTH_H
#define JP_CLIENTAUTH_H

#include <stdint.h>
#include <apr_pools.h>

#define JP_CLIENT_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Largest PEM file accepted (an RSA 8192 key is ~6.5 KB). */
#define JP_PKEY_MAX_PEM 16384

/* Checks that pem (len bytes) holds one unencrypted private key usable for
 * signing: RSA of at least 2048 bits (RS256) or EC on P-256/P-384/P-521
 * (ES256/ES384/ES512). 0 and *alg set on success; negative with *err (a short
 * reason) otherwise. */
int jp_pkey_check(apr_pool_t *p, const char *pem, size_t len, const char **alg, const char **err);

/* The signed client_assertion: header {alg, typ "JWT", kid when kid is not
 * NULL}, payload {iss = sub = client_id, aud, jti (random 256 bits), iat = now,
 * exp = now + lifetime}. The key is parsed from pem on every call, so nothing
 * is shared between threads. NULL with *err on failure. */
char *jp_client_assertion(apr_pool_t *p, const char *pem, size_t len, const char *kid,
                          const char *client_id, const char *aud, int64_t now, int lifetime,
                          const char **err);

#endif
