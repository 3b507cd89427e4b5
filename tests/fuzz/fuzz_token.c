/* ID and logout token validation on arbitrary input against a fixed JWKS.
 *
 * The first byte picks a mode. Modes 0-1 feed the bytes as a compact token.
 * Forged signatures never get past verification, so modes 2-3 take
 * "header-json\npayload-json" and sign it here with the HS256 client secret:
 * that reaches the claim checks with fuzzer-chosen headers and claims. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"

#define SECRET "fuzz-client-secret-fuzz-client-secret-fuzz-client-secret-64bytes"

static const char jwks_doc[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"kid\":\"rsa\",\"e\":\"AQAB\",\"n\":\"mRJfnwY9Ik0P3aBJJZK6-dp6UB0ZgFt8b3Rc-"
    "i29YKn_imLvsVZLhrwUYYsH6IMl3_GDHu3xeelxvP-"
    "s5jb84QSx0KP5Abu12jfA8oRhDl3x5ZgWXbJTAOaHOJfhzBkEC5i6u2"
    "rK6JBHZvCX18AwvxWqarCkF1QrZuBnlDTJ3NBX9_kM2Q_CBDDOYRXefecgRaObCafarwCTwwfT5ouu1wry_MXi6_"
    "cQXNl7eF0RfQisYvNVmk4_zPz1DBr5VUxvEsgNfASsmKUcDkt12YzKR7Op1OKdOwJW2P1xKy0qUm9ZP6Aew2_qZ_"
    "E4wi14AdA-UxjkVUazkHNLfSruvXV6QQ\"},"
    "{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\","
    "\"x\":\"X1pRDjNYQkb1fspehvQuO35v702xWKLlR8vLnbpVbzY\","
    "\"y\":\"EHHHddyUklyRDbO5NZ3Riv-QhhJnSq-1g97yr11pLuA\"},"
    "{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\","
    "\"x\":\"kSWLFkKo2ghfuLMZPF4867sX29vH1UPMdiU2ngcLn_M\"}]}";

static const char *const algs[] = {"RS256", "PS256", "ES256", "EdDSA", "HS256", "HS512", NULL};

static apr_pool_t *root;
static jp_jwks *ks;

static char *b64u(apr_pool_t *p, const unsigned char *d, size_t n)
{
    char *o = apr_palloc(p, 4 * ((n + 2) / 3) + 1), *s;
    int len = EVP_EncodeBlock((unsigned char *)o, d, (int)n);

    o[len] = '\0';
    for (s = o; *s; s++)
        *s = *s == '+' ? '-' : *s == '/' ? '_' : *s == '=' ? '\0' : *s;
    return o;
}

static char *sign_hs256(apr_pool_t *p, const char *hdr, size_t hlen, const char *pl, size_t plen)
{
    char *input = apr_pstrcat(p, b64u(p, (const unsigned char *)hdr, hlen), ".",
                              b64u(p, (const unsigned char *)pl, plen), NULL);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)input, strlen(input), mac,
         &maclen);
    return apr_pstrcat(p, input, ".", b64u(p, mac, maclen), NULL);
}

/* The key set lives across inputs; pointers to what cjose and OpenSSL hold
 * sit in pool memory LeakSanitizer may not scan, so release it at exit. */
static void teardown(void)
{
    apr_pool_destroy(root);
    apr_terminate();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *err = NULL;

    apr_initialize();
    apr_pool_create(&root, NULL);
    ks = jp_jwks_parse(root, jwks_doc, strlen(jwks_doc), &err);
    if (!ks || jp_jwks_count(ks) != 3)
        abort();
    atexit(teardown);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jp_tok_expect e = {0};
    json_t *claims = NULL;
    const char *err = NULL, *jwt;
    int mode, userinfo;

    if (size < 1)
        return 0;
    mode = data[0] & 3;
    userinfo = data[0] & 4; /* the same bytes as a signed userinfo response too */
    data++;
    size--;

    apr_pool_create(&p, NULL);
    if (mode < 2) {
        jwt = apr_pstrmemdup(p, (const char *)data, size);
    } else {
        const char *nl = memchr(data, '\n', size);
        size_t hlen = nl ? (size_t)(nl - (const char *)data) : size;
        jwt = sign_hs256(p, (const char *)data, hlen, nl ? nl + 1 : "", nl ? size - hlen - 1 : 0);
    }
    e.issuer = "https://idp.example";
    e.client_id = "client";
    e.client_secret = SECRET;
    e.nonce = (mode & 1) ? NULL : "nonce";
    e.algs = algs;
    e.now = 1700000000;
    e.skew = 60;
    e.max_iat_age = 3600;

    (void)jp_jwt_peek_kid(p, jwt);
    if (mode & 1)
        jp_logout_token_validate(p, jwt, ks, &e, &claims, &err);
    else
        jp_idtoken_validate(p, jwt, ks, &e, &claims, &err);
    if (claims)
        (void)json_object_size(claims);
    if (userinfo) {
        claims = NULL;
        e.sub = "user-1";
        jp_userinfo_jwt_validate(p, jwt, ks, &e, &claims, &err);
        if (claims)
            (void)json_object_size(claims);
    }
    apr_pool_destroy(p);
    return 0;
}
