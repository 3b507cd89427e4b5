/* private_key_jwt: keys accepted and refused, and the assertion's header,
 * claims and signature (verified with cjose against the public half). */

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "clientauth.h"
#include "crypto.h"
#include "jtest.h"

/* A fresh key as PEM (PKCS#8, or the traditional form when trad is set). */
static char *gen_pem(apr_pool_t *p, const char *type, const char *param, int trad)
{
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    if (!strcmp(type, "RSA"))
        k = EVP_RSA_gen((unsigned)atoi(param));
    else
        k = EVP_EC_gen(param);
    if (!k)
        return NULL;
    if (trad)
        PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

static char *gen_public_pem(apr_pool_t *p)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    PEM_write_bio_PUBKEY(b, k);
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

static char *gen_encrypted_pem(apr_pool_t *p)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), "secret", 6, NULL, NULL);
    n = BIO_get_mem_data(b, &data);
    out = apr_pstrmemdup(p, data, (apr_size_t)n);
    BIO_free(b);
    EVP_PKEY_free(k);
    return out;
}

/* The public half as a JWK, built from OpenSSL's view of the key, so the
 * signature is checked independently of the module's own conversion. */
static cjose_jwk_t *public_jwk(apr_pool_t *p, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, (int)strlen(pem));
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIGNUM *x = NULL, *y = NULL;
    unsigned char xb[66], yb[66];
    char group[32] = "";
    const char *json;
    cjose_err ce;
    cjose_jwk_t *jwk;
    int size;
    BIO_free(b);
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        unsigned char nb[1024], eb[8];
        int nl, el;
        EVP_PKEY_get_bn_param(k, "n", &x);
        EVP_PKEY_get_bn_param(k, "e", &y);
        nl = BN_bn2bin(x, nb);
        el = BN_bn2bin(y, eb);
        json =
            apr_psprintf(p, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}",
                         jp_b64url_encode(p, nb, (size_t)nl), jp_b64url_encode(p, eb, (size_t)el));
    } else {
        EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), NULL);
        size = !strcmp(group, "prime256v1") ? 32 : !strcmp(group, "secp384r1") ? 48 : 66;
        EVP_PKEY_get_bn_param(k, "qx", &x);
        EVP_PKEY_get_bn_param(k, "qy", &y);
        BN_bn2binpad(x, xb, size);
        BN_bn2binpad(y, yb, size);
        json = apr_psprintf(p, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
                            size == 32   ? "P-256"
                            : size == 48 ? "P-384"
                                         : "P-521",
                            jp_b64url_encode(p, xb, (size_t)size),
                            jp_b64url_encode(p, yb, (size_t)size));
    }
    BN_free(x);
    BN_free(y);
    EVP_PKEY_free(k);
    jwk = cjose_jwk_import(json, strlen(json), &ce);
    return jwk;
}

static void check_assertion(apr_pool_t *p, const char *pem, const char *want_alg, const char *kid)
{
    const char *alg = NULL, *err = NULL;
    char *jwt;
    cjose_err ce;
    cjose_jws_t *jws;
    cjose_jwk_t *pub;
    cjose_header_t *hdr;
    uint8_t *plain = NULL;
    size_t plen = 0;
    json_t *c;

    CHECK(jp_pkey_check(p, pem, strlen(pem), &alg, &err) == 0);
    CHECK_STR(alg, want_alg);
    jwt = jp_client_assertion(p, pem, strlen(pem), kid, "my-client", "https://idp/token",
                              1700000000, 60, &err);
    CHECK(jwt != NULL);
    if (!jwt)
        return;
    jws = cjose_jws_import(jwt, strlen(jwt), &ce);
    CHECK(jws != NULL);
    pub = public_jwk(p, pem);
    CHECK(pub != NULL);
    CHECK(cjose_jws_verify(jws, pub, &ce));
    hdr = cjose_jws_get_protected(jws);
    CHECK_STR(cjose_header_get(hdr, CJOSE_HDR_ALG, &ce), want_alg);
    CHECK_STR(cjose_header_get(hdr, "typ", &ce), "JWT");
    if (kid)
        CHECK_STR(cjose_header_get(hdr, CJOSE_HDR_KID, &ce), kid);
    else
        CHECK(cjose_header_get(hdr, CJOSE_HDR_KID, &ce) == NULL);
    CHECK(cjose_jws_get_plaintext(jws, &plain, &plen, &ce));
    c = json_loadb((const char *)plain, plen, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(c, "iss")), "my-client");
    CHECK_STR(json_string_value(json_object_get(c, "sub")), "my-client");
    CHECK_STR(json_string_value(json_object_get(c, "aud")), "https://idp/token");
    CHECK(json_integer_value(json_object_get(c, "iat")) == 1700000000);
    CHECK(json_integer_value(json_object_get(c, "exp")) == 1700000060);
    CHECK(strlen(json_string_value(json_object_get(c, "jti"))) == 43);
    json_decref(c);
    /* Two assertions never share a jti. */
    {
        char *again = jp_client_assertion(p, pem, strlen(pem), kid, "my-client",
                                          "https://idp/token", 1700000000, 60, &err);
        CHECK(again && strcmp(again, jwt));
    }
    cjose_jwk_release(pub);
    cjose_jws_release(jws);
}

int main(void)
{
    apr_pool_t *p;
    const char *alg = NULL, *err = NULL;
    char *pem;
    apr_initialize();
    apr_pool_create(&p, NULL);

    check_assertion(p, gen_pem(p, "RSA", "2048", 0), "RS256", "rp-key-1");
    check_assertion(p, gen_pem(p, "RSA", "3072", 1), "RS256", NULL);
    check_assertion(p, gen_pem(p, "EC", "P-256", 0), "ES256", "ec");
    check_assertion(p, gen_pem(p, "EC", "P-256", 1), "ES256", NULL);
    check_assertion(p, gen_pem(p, "EC", "P-384", 0), "ES384", NULL);
    check_assertion(p, gen_pem(p, "EC", "P-521", 0), "ES512", NULL);

    /* Refused keys, each with a reason. */
    pem = gen_pem(p, "RSA", "1024", 0);
    err = NULL;
    CHECK(jp_pkey_check(p, pem, strlen(pem), &alg, &err) < 0);
    CHECK(err && strstr(err, "2048"));
    pem = gen_pem(p, "EC", "secp256k1", 0);
    err = NULL;
    CHECK(jp_pkey_check(p, pem, strlen(pem), &alg, &err) < 0);
    CHECK(err && strstr(err, "P-256"));
    pem = gen_encrypted_pem(p);
    err = NULL;
    CHECK(jp_pkey_check(p, pem, strlen(pem), &alg, &err) < 0);
    CHECK(err && strstr(err, "encrypted"));
    pem = gen_public_pem(p);
    err = NULL;
    CHECK(jp_pkey_check(p, pem, strlen(pem), &alg, &err) < 0);
    CHECK(err && strstr(err, "no PEM private key"));
    err = NULL;
    CHECK(jp_pkey_check(p, "", 0, &alg, &err) < 0 && err);
    err = NULL;
    CHECK(jp_pkey_check(p, "garbage\n", 8, &alg, &err) < 0 && err);
    /* A truncated key. */
    pem = gen_pem(p, "EC", "P-256", 0);
    err = NULL;
    CHECK(jp_pkey_check(p, pem, strlen(pem) / 2, &alg, &err) < 0 && err);
    /* Assertions need a client id and an audience. */
    pem = gen_pem(p, "EC", "P-256", 0);
    CHECK(jp_client_assertion(p, pem, strlen(pem), NULL, "", "aud", 1, 60, &err) == NULL);
    CHECK(jp_client_assertion(p, pem, strlen(pem), NULL, "c", NULL, 1, 60, &err) == NULL);
    CHECK(jp_client_assertion(p, "x", 1, NULL, "c", "aud", 1, 60, &err) == NULL && err);

    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
