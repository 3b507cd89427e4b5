/* JWKS parsing and JWT validation (ID tokens, logout tokens) with cjose and
 * OpenSSL. Pure, no httpd headers. */
#ifndef JP_TOKEN_H
#define JP_TOKEN_H

#include <stdint.h>
#include <jansson.h>
#include <apr_pools.h>

typedef struct jp_jwks jp_jwks;

/* Parses a JWK Set. Keys are kept when usable for signature verification:
 * "use" absent or "sig"; kty RSA (>= 2048 bits), EC (P-256/P-384/P-521),
 * OKP Ed25519 (kept as raw public key for OpenSSL). Unusable or unsupported keys
 * are skipped, not fatal. NULL (with *err) when the document is not a JWK Set or
 * is larger than 256 KiB. Memory owned by pool p (cleanups release cjose keys). */
jp_jwks *jp_jwks_parse(apr_pool_t *p, const char *json, size_t len, const char **err);
int jp_jwks_count(const jp_jwks *ks);
/* Why the set's first skipped key cannot be used, as "kid K: reason", or NULL
 * when no key with a kid was skipped. For the warning about a set with no
 * usable key. */
const char *jp_jwks_first_skip(apr_pool_t *p, const jp_jwks *ks);

typedef enum {
    JP_TOK_OK = 0,
    JP_TOK_BAD = -1,        /* malformed, forged, expired, wrong claims... */
    JP_TOK_UNKNOWN_KID = -2 /* no key of the set fits (kid not in it, or no kid and no key
                               verifies): caller may refetch JWKS once */
} jp_tok_rc;

typedef struct {
    const char *issuer;             /* exact match with "iss" */
    const char *client_id;          /* must be in "aud"; "azp" checked when several audiences */
    const char *client_secret;      /* key for HS256/384/512; NULL disables HS* */
    const char *nonce;              /* ID token: must equal "nonce"; NULL skips (logout tokens) */
    const char *const *algs;        /* NULL-terminated allow-list; NULL = all asymmetric algs
                                       RS256..512 PS256..512 ES256..512 EdDSA */
    int64_t now;                    /* unix seconds */
    int skew;                       /* seconds of slack for exp/iat/nbf */
    int max_iat_age;                /* seconds: iat older than now - max_iat_age - skew refused;
                                       0 = no limit */
    const char *sub;                /* signed userinfo: must equal "sub" (the ID token's) */
    const char *const *trusted_aud; /* NULL-terminated audiences accepted in "aud" besides
                                       client_id (ID tokens, userinfo); NULL = none */
    int max_age_sent;               /* ID token: the authorization request carried max_age */
    int64_t max_age;                /* its seconds: auth_time required (OIDC Core 2), and
                                       now - auth_time <= max_age + skew (3.1.3.7 step 13) */
    const char *access_token;       /* ID token: the one the token endpoint returned with it;
                                       its "at_hash", when present, must match (Core 3.1.3.8) */
} jp_tok_expect;

/* Validates an ID token (OIDC Core 3.1.3.7): JWS compact form only (no JWE),
 * alg on the allow-list and never "none", "crit" header refused, key type/curve
 * matching alg (ES256<->P-256, ES384<->P-384, ES512<->P-521, RS/PS<->RSA,
 * EdDSA<->Ed25519, HS<->client secret), signature verified BEFORE the payload
 * is parsed; then iss, aud (client_id in it, and no audience that is neither
 * client_id nor in e->trusted_aud: OIDC Core 3.1.3.7 step 3), azp, exp (required), iat (required),
 * nbf, nonce, sub (required, non-empty string). When the header has no kid, every key of a matching
 * type is tried. On JP_TOK_OK *claims is the payload object (its reference is released with pool
 * p). *err gets a short reason on failure. */
jp_tok_rc jp_idtoken_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                              const jp_tok_expect *e, json_t **claims, const char **err);

/* Validates a Back-Channel Logout token (OIDC BCL 1.0 section 2.6): same signature
 * and iss/aud/iat/exp checks; "events" must contain
 * "http://schemas.openid.net/event/backchannel-logout"; "nonce" must be absent;
 * "sub" or "sid" present. e->nonce is ignored. */
jp_tok_rc jp_logout_token_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                                   const jp_tok_expect *e, json_t **claims, const char **err);

/* Validates a signed UserInfo response (OIDC Core 5.3.2, Content-Type
 * application/jwt) with the ID token's signature rules (alg allow-list, key
 * pairing, HS* keyed with the client secret, no crit, signature before
 * payload); then "iss" equal to e->issuer and "aud" containing e->client_id
 * when present (an absent one is taken as ours: some IdPs sign userinfo
 * without them, and the answer comes from the userinfo endpoint itself), "azp" as for ID
 * tokens, "exp"/"nbf" when present, and "sub" equal to e->sub. An encrypted
 * response (JWE, five segments) is refused with its own reason. */
jp_tok_rc jp_userinfo_jwt_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                                   const jp_tok_expect *e, json_t **claims, const char **err);

/* Reads the unverified "kid" of a compact JWS header (for JWKS refetch decisions
 * and logs only). NULL when absent or malformed. */
const char *jp_jwt_peek_kid(apr_pool_t *p, const char *jwt);

#endif
