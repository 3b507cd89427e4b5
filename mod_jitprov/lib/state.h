/* The per-login-attempt state cookie: state, nonce, PKCE verifier, original URL.
 * Sealed with AES-256-GCM (crypto.h), AAD = cookie name + format version. */
#ifndef JP_STATE_H
#define JP_STATE_H

#include <stdint.h>
#include <apr_pools.h>
#include "crypto.h"

typedef struct {
    const char *state;     /* 43-char base64url random */
    const char *nonce;     /* 43-char base64url random */
    const char *verifier;  /* PKCE code_verifier, 43-char base64url random */
    const char *return_to; /* original URL (path+query, or absolute same-origin) */
    int64_t created;       /* unix seconds */
} jp_authstate;

/* Fills state, nonce, verifier with fresh random values. 0 on success. */
int jp_authstate_new(apr_pool_t *p, jp_authstate *st, const char *return_to, int64_t now);

/* Name of the cookie carrying this attempt: prefix + "_" + first 16 chars of state.
 * The state parameter on the callback selects the cookie. NULL when state is not
 * 16..128 base64url chars (it comes from the callback URL) or prefix is empty. */
char *jp_authstate_cookie_name(apr_pool_t *p, const char *prefix, const char *state);

/* Sealed cookie value (base64url). NULL on failure, also when return_to is longer
 * than 4096 bytes (after bytes >= 0x80 are percent-encoded) or a token is not
 * base64url. return_to may be NULL (opens as NULL). */
char *jp_authstate_seal(apr_pool_t *p, const jp_key *key, const char *cookie_name,
                        const jp_authstate *st);

/* 0 and *out filled when the value authenticates under one of keys, parses, and
 * created is within [now - ttl - skew, now + skew]. Negative on failure, *err
 * (if not NULL) gets a short reason. skew is fixed at 60 s. The caller still
 * compares the callback's state parameter with out->state (jp_ct_streq). */
int jp_authstate_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *cookie_name,
                      const char *value, int64_t now, int ttl, jp_authstate *out, const char **err);

#endif
