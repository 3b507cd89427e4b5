/* The OAuth tokens a session keeps for the backend (access token, refresh
 * token, expiry), sealed as one blob in the session record. Pure, no httpd
 * headers. */
#ifndef JP_TOKENSET_H
#define JP_TOKENSET_H

#include <stdint.h>
#include <apr_pools.h>
#include <jansson.h>

#include "crypto.h"

#define JP_HKDF_INFO_TOKENS "mod_jitprov session tokens v1"
/* Largest token accepted from the IdP (each of access and refresh). */
#define JP_TOKEN_MAX 16384

typedef struct {
    const char *access_token;  /* never NULL once filled */
    const char *refresh_token; /* "" when the IdP gave none */
    int64_t expires;           /* unix seconds; 0 = the IdP did not say */
} jp_tokenset;

/* From a token endpoint answer (RFC 6749 5.1): access_token (required, a
 * string of 1..JP_TOKEN_MAX printable ASCII bytes), token_type as
 * jp_token_type_check wants it, expires_in (a non-negative integer; absent: 0),
 * refresh_token (optional; when absent, old's is kept, as RFC 6749 6 allows).
 * 0 on success, -1 with *err otherwise. */
int jp_tokenset_from_response(apr_pool_t *p, json_t *resp, int64_t now, const jp_tokenset *old,
                              jp_tokenset *out, const char **err);

/* 0 when a token endpoint answer's token_type is Bearer (any case: RFC 6749
 * 5.1 makes it REQUIRED and case-insensitive, OIDC Core 3.1.3.3 makes it
 * Bearer); -1 with *err when it is missing or another type, which RFC 6749
 * 7.1 forbids using. */
int jp_token_type_check(json_t *resp, const char **err);

/* The login's token answer: jp_token_type_check, and an access_token, which
 * RFC 6749 5.1 makes REQUIRED, of 1*VSCHAR (its appendix A.12). No length cap
 * here beyond the answer's own: a long token is still a token. 0, or -1 with
 * *err. */
int jp_token_response_check(json_t *resp, const char **err);

/* AAD binds the blob to its session's user: "jitprov-tokens-v1:" iss "\n" sub. */
const char *jp_tokenset_aad(apr_pool_t *p, const char *iss, const char *sub);
char *jp_tokenset_seal(apr_pool_t *p, const jp_key *key, const char *aad, const jp_tokenset *t);
/* 0 on success; -1 when no key opens it or the content is malformed. */
int jp_tokenset_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *aad,
                     const char *blob, jp_tokenset *out);

/* 1 when the access token must be refreshed now: it expires within margin
 * seconds (never when expires is 0). */
int jp_tokenset_due(const jp_tokenset *t, int64_t now, int margin);

#endif
