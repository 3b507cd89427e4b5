/* private_key_jwt: PEM private key -> cjose JWK -> signed client_assertion.
 * OpenSSL reads the PEM (cjose cannot); cjose builds and signs the JWS. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "clientauth.h"
#include "crypto.h"

/* Encrypted PEM files would need a passphrase we do not have: refuse them
 * rather than let OpenSSL prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *read_pem(apr_pool_t *p, const char *pem, size_t len, const char **err)
{
    BIO *b;
    EVP_PKEY *k;
    if (!pem || !len || len > JP_PKEY_MAX_PEM) {
        *err = "empty or larger than 16 KiB";
        return NULL;
    }
    b = BIO_new_mem_buf(pem, (int)len);
    if (!b) {
        *err = "out of memory";
        return NULL;
    }
    k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    BIO_free(b);
    if (!k)
        *err = strstr(apr_pstrmemdup(p, pem, len), "ENCRYPTED")
                   ? "the key is encrypted: store it without a passphrase (file mode 0400)"
                   : "no PEM private key found (expected BEGIN PRIVATE KEY, BEGIN RSA "
                     "PRIVATE KEY or BEGIN EC PRIVATE KEY)";
    return k;
}

/* A big number parameter of k as big-endian bytes, left-padded to pad (0: as is). */
static uint8_t *bn_param(apr_pool_t *p, EVP_PKEY *k, const char *name, int pad, size_t *n)
{
    BIGNUM *bn = NULL;
    uint8_t *out = NULL;
    int len;
    if (!EVP_PKEY_get_bn_param(k, name, &bn))
        return NULL;
    len = pad ? pad : BN_num_bytes(bn);
    if (len > 0 && BN_num_bytes(bn) <= len) {
        out = apr_palloc(p, (apr_size_t)len);
        if (BN_bn2binpad(bn, out, len) != len)
            out = NULL;
    }
    BN_clear_free(bn);
    *n = out ? (size_t)len : 0;
    return out;
}

static cjose_jwk_t *to_jwk(apr_pool_t *p, EVP_PKEY *k, const char **alg, const char **err)
{
    cjose_err ce;
    cjose_jwk_t *jwk = NULL;
    memset(&ce, 0, sizeof(ce));
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
        cjose_jwk_rsa_keyspec s;
        if (EVP_PKEY_get_bits(k) < 2048) {
            *err = "RSA keys must have at least 2048 bits";
            return NULL;
        }
        memset(&s, 0, sizeof(s));
        s.n = bn_param(p, k, OSSL_PKEY_PARAM_RSA_N, 0, &s.nlen);
        s.e = bn_param(p, k, OSSL_PKEY_PARAM_RSA_E, 0, &s.elen);
        s.d = bn_param(p, k, OSSL_PKEY_PARAM_RSA_D, 0, &s.dlen);
        s.p = bn_param(p, k, OSSL_PKEY_PARAM_RSA_FACTOR1, 0, &s.plen);
        s.q = bn_param(p, k, OSSL_PKEY_PARAM_RSA_FACTOR2, 0, &s.qlen);
        s.dp = bn_param(p, k, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0, &s.dplen);
        s.dq = bn_param(p, k, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0, &s.dqlen);
        s.qi = bn_param(p, k, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0, &s.qilen);
        if (!s.n || !s.e || !s.d) {
            *err = "the RSA key has no private part";
            return NULL;
        }
        jwk = cjose_jwk_create_RSA_spec(&s, &ce);
        *alg = "RS256";
        if (s.d)
            memset(s.d, 0, s.dlen);
    } else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
        cjose_jwk_ec_keyspec s;
        char group[64] = "";
        int size;
        memset(&s, 0, sizeof(s));
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
        if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256")) {
            s.crv = CJOSE_JWK_EC_P_256, size = 32, *alg = "ES256";
        } else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")) {
            s.crv = CJOSE_JWK_EC_P_384, size = 48, *alg = "ES384";
        } else if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521")) {
            s.crv = CJOSE_JWK_EC_P_521, size = 66, *alg = "ES512";
        } else {
            *err = "EC keys must be on P-256, P-384 or P-521";
            return NULL;
        }
        s.d = bn_param(p, k, OSSL_PKEY_PARAM_PRIV_KEY, size, &s.dlen);
        s.x = bn_param(p, k, OSSL_PKEY_PARAM_EC_PUB_X, size, &s.xlen);
        s.y = bn_param(p, k, OSSL_PKEY_PARAM_EC_PUB_Y, size, &s.ylen);
        if (!s.d || !s.x || !s.y) {
            *err = "the EC key has no private part";
            return NULL;
        }
        jwk = cjose_jwk_create_EC_spec(&s, &ce);
        memset(s.d, 0, s.dlen);
    } else {
        *err = "only RSA and EC keys are supported";
        return NULL;
    }
    if (!jwk)
        *err = apr_psprintf(p, "cjose: %s", ce.message ? ce.message : "key rejected");
    return jwk;
}

int jp_pkey_check(apr_pool_t *p, const char *pem, size_t len, const char **alg, const char **err)
{
    EVP_PKEY *k = read_pem(p, pem, len, err);
    cjose_jwk_t *jwk;
    if (!k)
        return -1;
    jwk = to_jwk(p, k, alg, err);
    EVP_PKEY_free(k);
    if (!jwk)
        return -1;
    cjose_jwk_release(jwk);
    return 0;
}

char *jp_client_assertion(apr_pool_t *p, const char *pem, size_t len, const char *kid,
                          const char *client_id, const char *aud, int64_t now, int lifetime,
                          const char **err)
{
    EVP_PKEY *k;
    cjose_jwk_t *jwk;
    cjose_header_t *hdr = NULL;
    cjose_jws_t *jws = NULL;
    cjose_err ce;
    const char *alg = NULL, *jti = jp_random_token(p, 32), *ser = NULL;
    char *payload = NULL, *out = NULL;
    json_t *claims;

    *err = NULL;
    memset(&ce, 0, sizeof(ce));
    if (!client_id || !*client_id || !aud || !*aud || !jti) {
        *err = "client_id, audience or randomness missing";
        return NULL;
    }
    k = read_pem(p, pem, len, err);
    if (!k)
        return NULL;
    jwk = to_jwk(p, k, &alg, err);
    EVP_PKEY_free(k);
    if (!jwk)
        return NULL;
    claims =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", client_id, "sub", client_id, "aud", aud,
                  "jti", jti, "iat", (json_int_t)now, "exp", (json_int_t)(now + lifetime));
    if (claims)
        payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    hdr = cjose_header_new(&ce);
    if (!payload || !hdr || !cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &ce) ||
        !cjose_header_set(hdr, "typ", "JWT", &ce) ||
        (kid && !cjose_header_set(hdr, CJOSE_HDR_KID, kid, &ce))) {
        *err = "cannot build the assertion";
        goto done;
    }
    jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payload, strlen(payload), &ce);
    if (!jws || !cjose_jws_export(jws, &ser, &ce) || !ser) {
        *err = apr_psprintf(p, "cannot sign the assertion: %s",
                            ce.message ? ce.message : "cjose error");
        goto done;
    }
    out = apr_pstrdup(p, ser);
done:
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    cjose_jwk_release(jwk);
    free(payload);
    return out;
}
