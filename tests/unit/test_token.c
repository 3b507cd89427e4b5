/* token.c against tokens signed here with OpenSSL alone, so a bug shared by
 * cjose's signer and verifier cannot hide: every supported alg, then a table
 * of forgeries and claim violations that must all fail closed. */

#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jtest.h"
#include "token.h"

#define NOW 1700000000
#define ISS "https://idp.example.com"
#define CLIENT "client-1"
#define SECRET "a client secret that is long enough for HS512 keys, 64+ bytes...."
#define NONCE "n-0S6_WzA2Mj"

static apr_pool_t *pool;

static char *b64u(const unsigned char *d, size_t n)
{
    char *o = apr_palloc(pool, 4 * ((n + 2) / 3) + 1), *s;
    int len = EVP_EncodeBlock((unsigned char *)o, d, (int)n);

    o[len] = '\0';
    for (s = o; *s; s++) {
        if (*s == '+')
            *s = '-';
        else if (*s == '/')
            *s = '_';
        else if (*s == '=')
            *s = '\0';
    }
    return o;
}

static char *b64u_str(const char *s)
{
    return b64u((const unsigned char *)s, strlen(s));
}

static char *bn_b64u(const BIGNUM *bn, int pad)
{
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char *buf = apr_palloc(pool, n);

    BN_bn2binpad(bn, buf, n);
    return b64u(buf, n);
}

/* ---- keys and their public JWKs --------------------------------------- */

static EVP_PKEY *rsa2048, *rsa1024, *rsa_other, *p256, *p384, *p521, *ed, *ed_other;

static int ec_bytes(EVP_PKEY *k)
{
    return (EVP_PKEY_get_bits(k) + 7) / 8;
}

static char *jwk(EVP_PKEY *k, const char *kid, const char *extra)
{
    const char *kidm = kid ? apr_psprintf(pool, ",\"kid\":\"%s\"", kid) : "";
    const char *ext = extra ? extra : "";

    if (EVP_PKEY_is_a(k, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;
        char *s;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
        s = apr_psprintf(pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"%s%s}", bn_b64u(n, 0),
                         bn_b64u(e, 0), kidm, ext);
        BN_free(n);
        BN_free(e);
        return s;
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        BIGNUM *x = NULL, *y = NULL;
        int sz = ec_bytes(k);
        const char *crv = sz == 32 ? "P-256" : sz == 48 ? "P-384" : "P-521";
        char *s;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        s = apr_psprintf(pool, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s%s}", crv,
                         bn_b64u(x, sz), bn_b64u(y, sz), kidm, ext);
        BN_free(x);
        BN_free(y);
        return s;
    }
    {
        unsigned char raw[32];
        size_t n = sizeof(raw);
        EVP_PKEY_get_raw_public_key(k, raw, &n);
        return apr_psprintf(pool, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"%s%s}",
                            b64u(raw, n), kidm, ext);
    }
}

static char *pem_pub(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *s;
    long n;

    PEM_write_bio_PUBKEY(b, k);
    n = BIO_get_mem_data(b, &data);
    s = apr_pstrmemdup(pool, data, n);
    BIO_free(b);
    return s;
}

/* ---- signing ----------------------------------------------------------- */

static const EVP_MD *md_for(const char *alg)
{
    const char *bits = alg + 2;

    if (strcmp(alg, "EdDSA") == 0)
        return NULL;
    return strcmp(bits, "256") == 0   ? EVP_sha256()
           : strcmp(bits, "384") == 0 ? EVP_sha384()
                                      : EVP_sha512();
}

/* Signs header.payload with alg; key is an EVP_PKEY or, for HS*, a secret string. */
static char *sign_raw(const char *alg, const void *key, const char *hdr, const char *payload)
{
    char *input = apr_pstrcat(pool, b64u_str(hdr), ".", b64u_str(payload), NULL);
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);

    if (alg[0] == 'H') {
        unsigned int l = 0;
        HMAC(md_for(alg), key, (int)strlen(key), (unsigned char *)input, strlen(input), sig, &l);
        siglen = l;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        EVP_DigestSignInit(ctx, &pctx, md_for(alg), NULL, (EVP_PKEY *)key);
        if (alg[0] == 'P') {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)input, strlen(input));
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'E' && alg[1] == 'S') { /* DER -> r || s */
            const unsigned char *q = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
            int sz = ec_bytes((EVP_PKEY *)key);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, sz);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + sz, sz);
            siglen = 2 * sz;
            ECDSA_SIG_free(es);
        }
    }
    return apr_pstrcat(pool, input, ".", b64u(sig, siglen), NULL);
}

static char *header(const char *alg, const char *kid)
{
    return kid ? apr_psprintf(pool, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid)
               : apr_psprintf(pool, "{\"alg\":\"%s\"}", alg);
}

static char *dump(json_t *c)
{
    char *s = json_dumps(c, JSON_COMPACT);
    char *r = apr_pstrdup(pool, s);

    free(s);
    json_decref(c);
    return r;
}

/* A fresh set of good ID token claims; callers edit it, sign() consumes it. */
static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", ISS, "sub", "user-42", "aud",
                     CLIENT, "exp", (json_int_t)NOW + 300, "iat", (json_int_t)NOW - 10, "nonce",
                     NONCE, "email", "u@example.com");
}

static json_t *logout_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:{}}}", "iss", ISS, "sub", "user-42",
                     "aud", CLIENT, "iat", (json_int_t)NOW - 5, "exp", (json_int_t)NOW + 120, "jti",
                     "bcl-1", "sid", "sess-9", "events",
                     "http://schemas.openid.net/event/backchannel-logout");
}

static char *sign(const char *alg, const void *key, const char *kid, json_t *c)
{
    return sign_raw(alg, key, header(alg, kid), dump(c));
}

/* ---- validation shortcuts --------------------------------------------- */

static const char *const all_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                       "PS512", "ES256", "ES384", "ES512", "EdDSA",
                                       "HS256", "HS384", "HS512", NULL};
static jp_tok_expect ex;
static jp_jwks *ks;
static const char *last_err;

static void reset_expect(void)
{
    memset(&ex, 0, sizeof(ex));
    ex.issuer = ISS;
    ex.client_id = CLIENT;
    ex.client_secret = SECRET;
    ex.nonce = NONCE;
    ex.algs = all_algs;
    ex.now = NOW;
    ex.skew = 60;
}

static jp_tok_rc idt(const char *jwt)
{
    json_t *c = (json_t *)1;
    jp_tok_rc rc;

    last_err = NULL;
    rc = jp_idtoken_validate(pool, jwt, ks, &ex, &c, &last_err);
    if (rc != JP_TOK_OK && (c != NULL || !last_err))
        return 99; /* failures must clear claims and say why */
    if (rc == JP_TOK_OK && !json_is_object(c))
        return 98;
    return rc;
}

static jp_tok_rc lot(const char *jwt)
{
    json_t *c = NULL;
    jp_tok_rc rc;

    last_err = NULL;
    rc = jp_logout_token_validate(pool, jwt, ks, &ex, &c, &last_err);
    if (rc != JP_TOK_OK && (c != NULL || !last_err))
        return 99;
    return rc;
}

#define BAD(expr) CHECK((expr) == JP_TOK_BAD)
#define GOOD(expr) CHECK((expr) == JP_TOK_OK)

static void gen_keys(void)
{
    rsa2048 = EVP_RSA_gen(2048);
    rsa1024 = EVP_RSA_gen(1024);
    rsa_other = EVP_RSA_gen(2048);
    p256 = EVP_EC_gen("P-256");
    p384 = EVP_EC_gen("P-384");
    p521 = EVP_EC_gen("P-521");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ed_other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static jp_jwks *jwks_of(const char *doc, const char **err)
{
    return jp_jwks_parse(pool, doc, strlen(doc), err);
}

static void test_jwks(void)
{
    const char *err = NULL;
    char *big;
    jp_jwks *s;

    /* Unusable keys are skipped, the usable ones around them kept. */
    s = jwks_of(apr_psprintf(pool,
                             "{\"keys\":[%s,%s,%s,%s,%s,"
                             "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"x\","
                             "\"x\":\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"},"
                             "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"kid\":\"k1\","
                             "\"x\":\"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis\","
                             "\"y\":\"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE\"},"
                             "%s,%s,%s,"
                             "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"o\"},"
                             "{\"kty\":\"RSA\",\"kid\":\"junk\",\"n\":\"!!\",\"e\":\"AQAB\"},"
                             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"offcurve\","
                             "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                             "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"},"
                             "42,\"str\",null,{\"kid\":\"nokty\"}]}",
                             jwk(rsa2048, "rsa", NULL), jwk(p256, "p256", NULL),
                             jwk(p384, "p384", NULL), jwk(p521, "p521", NULL), jwk(ed, "ed", NULL),
                             jwk(rsa1024, "rsa1024", NULL),
                             jwk(rsa_other, "enc", ",\"use\":\"enc\""),
                             jwk(rsa_other, "verify-op", ",\"key_ops\":[\"encrypt\"]")),
                &err);
    CHECK(s != NULL);
    CHECK(jp_jwks_count(s) == 5);
    ks = s;
    GOOD(idt(sign("ES256", p256, "p256", claims())));
    GOOD(idt(sign("EdDSA", ed, "ed", claims())));
    /* a key of the set that is not used says why, not "no such kid" */
    CHECK(idt(sign("RS256", rsa_other, "enc", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "kid \"enc\" is not used: its use is not sig") != NULL);
    CHECK(idt(sign("RS256", rsa_other, "verify-op", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "its key_ops lack verify") != NULL);
    CHECK(idt(sign("RS256", rsa1024, "rsa1024", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "an RSA key of 1024 bits (2048 to 16384 are used)") != NULL);
    CHECK(idt(sign("ES256", p256, "k1", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "on a curve other than P-256") != NULL);
    CHECK(idt(sign("EdDSA", ed, "x", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "not on Ed25519") != NULL);
    CHECK(idt(sign("RS256", rsa2048, "o", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "neither RSA, EC nor OKP") != NULL);
    CHECK(idt(sign("RS256", rsa2048, "nokty", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "kty missing") != NULL);
    CHECK(idt(sign("RS256", rsa2048, "absent", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "no key with kid \"absent\" in the JWKS") != NULL);

    /* a JWK that pins its alg serves no other; private keys are not trusted */
    ks = jwks_of(apr_psprintf(pool, "{\"keys\":[%s,%s]}",
                              jwk(rsa2048, "pinned", ",\"alg\":\"RS256\""),
                              jwk(p256, "priv", ",\"d\":\"AAAA\"")),
                 &err);
    CHECK(jp_jwks_count(ks) == 1);
    CHECK(idt(sign("ES256", p256, "priv", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "private key material") != NULL);
    GOOD(idt(sign("RS256", rsa2048, "pinned", claims())));
    BAD(idt(sign("RS384", rsa2048, "pinned", claims())));
    /* no kid, no key fits: the caller may refetch (a rotation it cannot see) */
    CHECK(idt(sign("PS256", rsa2048, NULL, claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(strstr(last_err, "names no kid") != NULL);

    /* duplicate kids (RFC 7517 4.5 wants them distinct; IdPs reuse one for an
     * RSA and an EC key): every key of that kid whose type fits is tried */
    ks = jwks_of(apr_psprintf(pool, "{\"keys\":[%s,%s,%s]}", jwk(rsa_other, "dup", NULL),
                              jwk(p256, "dup", NULL), jwk(rsa2048, "dup", NULL)),
                 &err);
    CHECK(jp_jwks_count(ks) == 3);
    GOOD(idt(sign("RS256", rsa2048, "dup", claims())));
    GOOD(idt(sign("ES256", p256, "dup", claims())));
    GOOD(idt(sign("RS256", rsa_other, "dup", claims())));
    /* a known kid whose keys do not verify is a forgery, not a rotation */
    CHECK(idt(sign("RS256", rsa1024, "dup", claims())) == JP_TOK_BAD);
    {
        EVP_PKEY *stranger = EVP_EC_gen("P-256");
        CHECK(idt(sign("ES256", stranger, "dup", claims())) == JP_TOK_BAD);
        EVP_PKEY_free(stranger);
    }
    ks = NULL;

    CHECK(jwks_of("not json", &err) == NULL && err);
    CHECK(jwks_of("[]", &err) == NULL);
    CHECK(jwks_of("{\"keys\":{}}", &err) == NULL);
    CHECK(jwks_of("{}", &err) == NULL);
    CHECK(jwks_of("{\"keys\":[],\"keys\":[]}", &err) == NULL);
    CHECK(jp_jwks_parse(pool, NULL, 0, &err) == NULL);
    s = jwks_of("{\"keys\":[]}", &err);
    CHECK(s && jp_jwks_count(s) == 0);
    CHECK(jp_jwks_first_skip(pool, s) == NULL && jp_jwks_first_skip(pool, NULL) == NULL);
    s = jwks_of("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\\u0001mac\",\"k\":\"AAAA\"},"
                "{\"kty\":\"RSA\",\"kid\":\"e2\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
                &err);
    CHECK(s && jp_jwks_count(s) == 0);
    /* the kid is the publisher's: escaped before it reaches a log line */
    CHECK(jp_jwks_first_skip(pool, s) && !strncmp(jp_jwks_first_skip(pool, s), "kid h?mac: ", 11));
    big = apr_palloc(pool, 300 * 1024);
    memset(big, ' ', 300 * 1024);
    memcpy(big, "{\"keys\":[]}", 11);
    CHECK(jp_jwks_parse(pool, big, 300 * 1024, &err) == NULL && strstr(err, "256"));
    /* the length given, not the NUL, bounds the parse */
    CHECK(jp_jwks_parse(pool, "{\"keys\":[]} trailing", 11, &err) != NULL);
    CHECK(jp_jwks_count(NULL) == 0);
    /* cjose 0.6.2's base64 decoder asserts on these: they must never reach it */
    s = jwks_of("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"mRJfnwY9Ik0P3aBJJZK6-dp6UB0Zg=t8b3Rc\","
                "\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"A===\",\"y\":\"A\"},"
                "{\"kty\":\"RSA\",\"n\":\"AAAAA\",\"e\":\"AQAB\",\"p\":\"A=\"}]}",
                &err);
    CHECK(s && jp_jwks_count(s) == 0);
}

static void load_main_jwks(void)
{
    const char *err = NULL;

    ks = jwks_of(apr_psprintf(pool, "{\"keys\":[%s,%s,%s,%s,%s,%s]}", jwk(rsa2048, "rsa", NULL),
                              jwk(p256, "p256", NULL), jwk(p384, "p384", NULL),
                              jwk(p521, "p521", NULL), jwk(ed, "ed", NULL),
                              jwk(rsa1024, "rsa1024", NULL)),
                 &err);
    CHECK(ks && jp_jwks_count(ks) == 5);
}

static void test_good_algs(void)
{
    static const struct {
        const char *alg, *kid;
        EVP_PKEY **key;
    } g[] = {
        {"RS256", "rsa", &rsa2048}, {"RS384", "rsa", &rsa2048}, {"RS512", "rsa", &rsa2048},
        {"PS256", "rsa", &rsa2048}, {"PS384", "rsa", &rsa2048}, {"PS512", "rsa", &rsa2048},
        {"ES256", "p256", &p256},   {"ES384", "p384", &p384},   {"ES512", "p521", &p521},
        {"EdDSA", "ed", &ed},
    };
    size_t i;
    json_t *c = NULL;
    const char *err = NULL;

    for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        jp_tok_rc rc = idt(sign(g[i].alg, *g[i].key, g[i].kid, claims()));
        if (rc != JP_TOK_OK)
            fprintf(stderr, "%s: %s\n", g[i].alg, last_err);
        GOOD(rc);
    }
    GOOD(idt(sign("HS256", SECRET, NULL, claims())));
    GOOD(idt(sign("HS384", SECRET, NULL, claims())));
    GOOD(idt(sign("HS512", SECRET, "ignored-kid", claims())));

    /* claims come back, tied to the pool */
    CHECK(jp_idtoken_validate(pool, sign("ES256", p256, "p256", claims()), ks, &ex, &c, &err) ==
          JP_TOK_OK);
    CHECK_STR(json_string_value(json_object_get(c, "sub")), "user-42");
    CHECK_STR(json_string_value(json_object_get(c, "email")), "u@example.com");
    CHECK_STR(jp_jwt_peek_kid(pool, sign("ES256", p256, "p256", claims())), "p256");
    CHECK(jp_jwt_peek_kid(pool, sign("ES256", p256, NULL, claims())) == NULL);
    CHECK(jp_jwt_peek_kid(pool, "garbage") == NULL);
    CHECK(jp_jwt_peek_kid(pool, NULL) == NULL);

    /* algs == NULL: every asymmetric alg, no HS */
    ex.algs = NULL;
    GOOD(idt(sign("PS256", rsa2048, "rsa", claims())));
    GOOD(idt(sign("EdDSA", ed, "ed", claims())));
    BAD(idt(sign("HS256", SECRET, NULL, claims())));
    reset_expect();
}

static void test_forgeries(void)
{
    const char *pl = dump(claims()), *t;
    const char *hs_algs[] = {"RS256", "HS256", NULL};
    char *s;
    size_t n;

    /* alg none, with and without a signature segment */
    BAD(idt(apr_pstrcat(pool, b64u_str("{\"alg\":\"none\"}"), ".", b64u_str(pl), ".", NULL)));
    BAD(idt(apr_pstrcat(pool, b64u_str("{\"alg\":\"none\"}"), ".", b64u_str(pl), ".AAAA", NULL)));
    BAD(idt(apr_pstrcat(pool, b64u_str("{\"alg\":\"NONE\",\"kid\":\"rsa\"}"), ".", b64u_str(pl),
                        ".AAAA", NULL)));
    BAD(idt(apr_pstrcat(pool, b64u_str("{}"), ".", b64u_str(pl), ".AAAA", NULL)));
    BAD(idt(apr_pstrcat(pool, b64u_str("{\"alg\":7}"), ".", b64u_str(pl), ".AAAA", NULL)));

    /* alg confusion: HMAC keyed with the RSA public key (PEM and JWK) */
    ex.client_secret = NULL;
    BAD(idt(sign("HS256", pem_pub(rsa2048), "rsa", claims())));
    ex.client_secret = SECRET;
    ex.algs = hs_algs;
    BAD(idt(sign("HS256", pem_pub(rsa2048), "rsa", claims())));
    BAD(idt(sign("HS256", jwk(rsa2048, "rsa", NULL), "rsa", claims())));
    ex.algs = NULL; /* default list refuses HS even with a secret configured */
    BAD(idt(sign("HS256", SECRET, NULL, claims())));
    reset_expect();
    ex.algs = hs_algs; /* alg not on the allow-list */
    BAD(idt(sign("ES256", p256, "p256", claims())));
    reset_expect();

    /* curve / key type mismatches */
    BAD(idt(sign("ES256", p384, "p384", claims())));    /* ES256 header, P-384 key */
    BAD(idt(sign("ES384", p256, "p256", claims())));    /* ES384 header, P-256 key */
    BAD(idt(sign("RS256", rsa2048, "p256", claims()))); /* kid names an EC key */
    BAD(idt(sign("EdDSA", ed, "rsa", claims())));
    /* RSA 1024 was dropped from the set: its kid is unknown */
    CHECK(idt(sign("RS256", rsa1024, "rsa1024", claims())) == JP_TOK_UNKNOWN_KID);

    /* kid handling */
    CHECK(idt(sign("RS256", rsa2048, "nope", claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(idt(sign("RS256", rsa_other, "rsa", claims())) == JP_TOK_BAD);
    GOOD(idt(sign("RS256", rsa2048, NULL, claims()))); /* no kid: every RSA key is tried */
    GOOD(idt(sign("ES384", p384, NULL, claims())));
    GOOD(idt(sign("EdDSA", ed, NULL, claims())));
    /* no kid, no key fits: refused, the caller may refetch once */
    CHECK(idt(sign("RS256", rsa_other, NULL, claims())) == JP_TOK_UNKNOWN_KID);
    CHECK(idt(sign("EdDSA", ed_other, NULL, claims())) == JP_TOK_UNKNOWN_KID);
    BAD(idt(sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":5}", pl)));

    /* crit, typ, duplicate header members */
    BAD(idt(sign_raw("RS256", rsa2048,
                     "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[\"exp\"],"
                     "\"exp\":1}",
                     pl)));
    BAD(idt(sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"crit\":[]}", pl)));
    BAD(idt(
        sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"at+jwt\"}", pl)));
    BAD(idt(sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"logout+jwt\"}",
                     pl)));
    GOOD(
        idt(sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"JWS\"}", pl)));
    BAD(idt(
        sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"rsa\"}", pl)));
    BAD(idt(sign_raw("RS256", rsa2048, "[\"alg\",\"RS256\"]", pl)));

    /* tampering */
    t = sign("RS256", rsa2048, "rsa", claims());
    s = apr_pstrdup(pool, t);
    {
        json_t *c = claims();
        json_object_set_new(c, "sub", json_string("admin"));
        char *dot2 = strrchr(s, '.');
        s = apr_pstrcat(pool, b64u_str(header("RS256", "rsa")), ".", b64u_str(dump(c)), dot2, NULL);
    }
    BAD(idt(s));
    s = apr_pstrdup(pool, t);
    n = strlen(s);
    s[n - 5] = s[n - 5] == 'A' ? 'B' : 'A';
    BAD(idt(s));
    s = apr_pstrdup(pool, sign("EdDSA", ed, "ed", claims()));
    n = strlen(s);
    s[n - 3] = s[n - 3] == 'A' ? 'B' : 'A';
    BAD(idt(s));
    s = apr_pstrdup(pool, sign("ES256", p256, "p256", claims()));
    s[strlen(s) - 4] = '\0'; /* truncated ECDSA signature */
    BAD(idt(s));
    s = apr_pstrdup(pool, sign("HS256", SECRET, NULL, claims()));
    s[strlen(s) - 3] = '\0'; /* truncated HMAC: cjose would read past it */
    BAD(idt(s));
    s = apr_pstrdup(pool, sign("HS256", SECRET, NULL, claims()));
    BAD(idt(apr_pstrcat(pool, s, "AAAA", NULL))); /* overlong HMAC */
    BAD(idt(apr_pstrcat(pool, t, "=", NULL)));    /* padding */
    /* RS256/2048: 342 chars, the last holding 2 bits and 4 zero bits. Setting a
     * zero bit decodes to the same signature, but a token has one spelling. */
    s = apr_pstrdup(pool, t);
    n = strlen(s);
    CHECK(strlen(strrchr(s, '.') + 1) == 342);
    s[n - 1] = s[n - 1] == 'A' ? 'B' : s[n - 1] == 'Q' ? 'R' : s[n - 1] == 'g' ? 'h' : 'x';
    BAD(idt(s));
    BAD(idt(apr_pstrcat(pool, " ", t, NULL)));

    /* shape */
    BAD(idt("a.b.c.d.e"));
    CHECK(strstr(last_err, "JWE") != NULL);
    BAD(idt(apr_pstrcat(pool, t, ".x.y", NULL)));
    BAD(idt(apr_pstrndup(pool, t, strrchr(t, '.') - t))); /* 2 segments */
    BAD(idt(apr_pstrcat(pool, t, ".", NULL)));
    BAD(idt(""));
    BAD(idt(NULL));
    BAD(idt(".."));
    {
        json_t *c = claims();
        char *pad = apr_palloc(pool, 65 * 1024);
        memset(pad, 'x', 65 * 1024 - 1);
        pad[65 * 1024 - 1] = '\0';
        json_object_set_new(c, "pad", json_string(pad));
        BAD(idt(sign("RS256", rsa2048, "rsa", c)));
        CHECK(strstr(last_err, "64 KiB") != NULL);
    }
    /* payload must be an object, and is only looked at after the signature */
    BAD(idt(sign_raw("RS256", rsa2048, header("RS256", "rsa"), "[1,2]")));
    BAD(idt(sign_raw("RS256", rsa2048, header("RS256", "rsa"), "not json")));
    BAD(idt(sign_raw("RS256", rsa2048, header("RS256", "rsa"),
                     "{\"sub\":\"a\",\"sub\":\"b\",\"iss\":\"" ISS "\"}")));
}

static void test_claims(void)
{
    json_t *c;

#define WITH(edit) (c = claims(), (edit), idt(sign("ES256", p256, "p256", c)))

    BAD(WITH(json_object_set_new(c, "exp", json_integer(NOW - 61))));
    GOOD(WITH(json_object_set_new(c, "exp", json_integer(NOW - 30)))); /* within skew */
    BAD(WITH(json_object_del(c, "exp")));
    BAD(WITH(json_object_set_new(c, "exp", json_string("9999999999"))));
    GOOD(WITH(json_object_set_new(c, "exp", json_real(NOW + 0.5))));
    BAD(WITH(json_object_set_new(c, "iat", json_integer(NOW + 120))));
    BAD(WITH(json_object_del(c, "iat")));
    BAD(WITH(json_object_set_new(c, "iat", json_true())));
    BAD(WITH(json_object_set_new(c, "nbf", json_integer(NOW + 120))));
    GOOD(WITH(json_object_set_new(c, "nbf", json_integer(NOW + 30))));
    BAD(WITH(json_object_set_new(c, "nbf", json_null())));
    ex.max_iat_age = 600;
    BAD(WITH(json_object_set_new(c, "iat", json_integer(NOW - 3600))));
    GOOD(WITH(json_object_set_new(c, "iat", json_integer(NOW - 300))));
    ex.max_iat_age = 0;
    GOOD(WITH(json_object_set_new(c, "iat", json_integer(NOW - 3600))));

    BAD(WITH(json_object_set_new(c, "iss", json_string(ISS "/"))));
    BAD(WITH(json_object_set_new(c, "iss", json_string("https://IDP.example.com"))));
    BAD(WITH(json_object_del(c, "iss")));
    BAD(WITH(json_object_set_new(c, "aud", json_string("client-2"))));
    BAD(WITH(json_object_del(c, "aud")));
    BAD(WITH(json_object_set_new(c, "aud", json_pack("[s,s]", "a", "b"))));
    GOOD(WITH(json_object_set_new(c, "aud", json_pack("[s]", CLIENT))));
    BAD(WITH(json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other"))));
    /* OIDC Core 3.1.3.7 step 3: an audience not trusted refuses the token,
     * azp or not; JITProvTrustedAudience names the ones that are */
    BAD(WITH(
        (json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "https://untrusted.example")),
         json_object_set_new(c, "azp", json_string(CLIENT)))));
    CHECK(last_err && strstr(last_err, "not trusted"));
    {
        static const char *const trusted[] = {"https://api.example", "other", NULL};
        ex.trusted_aud = trusted;
        GOOD(WITH((json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other")),
                   json_object_set_new(c, "azp", json_string(CLIENT)))));
        GOOD(WITH((json_object_set_new(
                       c, "aud", json_pack("[s,s,s]", "https://api.example", CLIENT, "other")),
                   json_object_set_new(c, "azp", json_string(CLIENT)))));
        BAD(WITH((json_object_set_new(c, "aud", json_pack("[s,s,s]", CLIENT, "other", "third")),
                  json_object_set_new(c, "azp", json_string(CLIENT)))));
        /* trusting other audiences does not make them enough on their own */
        BAD(WITH(json_object_set_new(c, "aud", json_pack("[s]", "other"))));
        BAD(WITH(json_object_set_new(c, "aud", json_string("https://api.example"))));
        ex.trusted_aud = NULL;
    }
    BAD(WITH((json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other")),
              json_object_set_new(c, "azp", json_string("other")))));
    BAD(WITH(json_object_set_new(c, "azp", json_string("other"))));
    BAD(WITH(json_object_set_new(c, "aud", json_pack("[s,i]", CLIENT, 1))));

    BAD(WITH(json_object_set_new(c, "nonce", json_string("n-0S6_WzA2Mk"))));
    BAD(WITH(json_object_del(c, "nonce")));
    BAD(WITH(json_object_set_new(c, "nonce", json_string(NONCE "x"))));
    ex.nonce = NULL;
    GOOD(WITH(json_object_del(c, "nonce")));
    ex.nonce = NONCE;

    /* max_age sent: auth_time required and fresh enough (OIDC Core 2,
     * 3.1.3.7 step 13); without max_age, auth_time is not looked at. */
    GOOD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW - 86400))));
    ex.max_age_sent = 1;
    ex.max_age = 600;
    BAD(WITH((void)0));
    CHECK(last_err && strstr(last_err, "auth_time missing"));
    GOOD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW - 600))));
    GOOD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW - 600 - ex.skew))));
    BAD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW - 601 - ex.skew))));
    CHECK(last_err && strstr(last_err, "older than the requested max_age"));
    BAD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW + 10 + ex.skew))));
    BAD(WITH(json_object_set_new(c, "auth_time", json_string("1700000000"))));
    ex.max_age = 0; /* max_age=0: a sign-in now */
    GOOD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW))));
    BAD(WITH(json_object_set_new(c, "auth_time", json_integer(NOW - 1 - ex.skew))));
    ex.max_age_sent = 0;

    /* at_hash (OIDC Core 3.1.3.8): the left half of the access token's hash
     * by the alg's hash, base64url; checked only when both are there */
    {
        static const char at[] = "jHkWEdUXMU1BwAsC4vtUsZwnNVm9-JHgSgG0IaHnK_8";
        GOOD(WITH(json_object_set_new(c, "at_hash", json_string("-UAjoMsLUH-iAbckgiRfmQ"))));
        ex.access_token = at;
        GOOD(WITH((void)0));
        GOOD(WITH(json_object_set_new(c, "at_hash", json_string("-UAjoMsLUH-iAbckgiRfmQ"))));
        BAD(WITH(json_object_set_new(c, "at_hash", json_string("-UAjoMsLUH-iAbckgiRfmA"))));
        CHECK(last_err && strstr(last_err, "at_hash does not match"));
        BAD(WITH(json_object_set_new(c, "at_hash", json_string("-UAjoMsLUH-iAbckgiRfmQ=="))));
        BAD(WITH(json_object_set_new(c, "at_hash", json_integer(1))));
        {
            char longer[200];
            memset(longer, 'A', sizeof(longer) - 1);
            longer[sizeof(longer) - 1] = '\0';
            BAD(WITH(json_object_set_new(c, "at_hash", json_string(longer))));
            CHECK(last_err && strstr(last_err, "longer than any hash"));
        }
        c = claims();
        json_object_set_new(c, "at_hash", json_string("m9AfRmKQAjvSio_WqB47xtj1KGlpe4X1"));
        GOOD(idt(sign("ES384", p384, "p384", c)));
        c = claims();
        json_object_set_new(c, "at_hash",
                            json_string("JgDFveGpYX-klS4AV3CRb9p65f-MdbrGfoEBwn5bFW4"));
        GOOD(idt(sign("ES512", p521, "p521", c)));
        c = claims(); /* Ed25519 hashes with SHA-512 */
        json_object_set_new(c, "at_hash",
                            json_string("JgDFveGpYX-klS4AV3CRb9p65f-MdbrGfoEBwn5bFW4"));
        GOOD(idt(sign("EdDSA", ed, "ed", c)));
        c = claims();
        json_object_set_new(c, "at_hash", json_string("-UAjoMsLUH-iAbckgiRfmQ"));
        BAD(idt(sign("ES512", p521, "p521", c)));
        ex.access_token = NULL;
    }

    BAD(WITH(json_object_del(c, "sub")));
    BAD(WITH(json_object_set_new(c, "sub", json_string(""))));
    BAD(WITH(json_object_set_new(c, "sub", json_integer(42))));
    {
        char longsub[257];
        memset(longsub, 's', 256);
        longsub[256] = '\0';
        BAD(WITH(json_object_set_new(c, "sub", json_string(longsub))));
        longsub[255] = '\0';
        GOOD(WITH(json_object_set_new(c, "sub", json_string(longsub))));
    }
    /* a logout token is not a login, even without a nonce check */
    ex.nonce = NULL;
    BAD(idt(sign("ES256", p256, "p256", logout_claims())));
    ex.nonce = NONCE;
#undef WITH
}

static void test_logout(void)
{
    json_t *c;
    const char *lpl;

#define LWITH(edit) (c = logout_claims(), (edit), lot(sign("RS256", rsa2048, "rsa", c)))

    ex.nonce = "ignored";
    GOOD(lot(sign("RS256", rsa2048, "rsa", logout_claims())));
    /* Back-Channel Logout 1.0 errata: exp is REQUIRED. */
    BAD(LWITH(json_object_del(c, "exp")));
    BAD(LWITH(json_object_set_new(c, "exp", json_string("soon"))));
    GOOD(LWITH(json_object_del(c, "sid")));
    GOOD(LWITH(json_object_del(c, "sub")));
    BAD(LWITH((json_object_del(c, "sub"), json_object_del(c, "sid"))));
    BAD(LWITH(json_object_set_new(c, "nonce", json_string(NONCE))));
    BAD(LWITH(json_object_del(c, "events")));
    BAD(LWITH(json_object_set_new(c, "events", json_pack("{s:{}}", "http://example.com/other"))));
    BAD(LWITH(json_object_set_new(
        c, "events",
        json_pack("{s:s}", "http://schemas.openid.net/event/backchannel-logout", "x"))));
    BAD(LWITH(json_object_set_new(c, "events", json_string("backchannel-logout"))));
    BAD(LWITH(json_object_del(c, "jti")));
    BAD(LWITH(json_object_del(c, "iat")));
    BAD(LWITH(json_object_set_new(c, "exp", json_integer(NOW - 3600))));
    BAD(LWITH(json_object_set_new(c, "iss", json_string("https://evil.example"))));
    BAD(LWITH(json_object_set_new(c, "aud", json_string("other"))));
    /* BCL 2.6: aud as for an ID token, so an audience not trusted refuses it;
     * one that is trusted does not need an azp (BCL defines none) */
    BAD(LWITH(json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other"))));
    CHECK(last_err && strstr(last_err, "not trusted"));
    {
        static const char *const trusted[] = {"other", NULL};
        ex.trusted_aud = trusted;
        GOOD(LWITH(json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other"))));
        BAD(LWITH(json_object_set_new(c, "aud", json_pack("[s]", "other"))));
        ex.trusted_aud = NULL;
    }
    BAD(LWITH(json_object_set_new(c, "sid", json_string(""))));
    lpl = dump(logout_claims());
    GOOD(lot(sign_raw("RS256", rsa2048,
                      "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"logout+jwt\"}", lpl)));
    BAD(lot(
        sign_raw("RS256", rsa2048, "{\"alg\":\"RS256\",\"kid\":\"rsa\",\"typ\":\"JWS\"}", lpl)));
    BAD(lot(sign_raw("RS256", rsa_other, header("RS256", "rsa"), lpl)));
    CHECK(lot(sign_raw("RS256", rsa2048, header("RS256", "gone"), lpl)) == JP_TOK_UNKNOWN_KID);
    /* an ID token is not a logout token */
    BAD(lot(sign("RS256", rsa2048, "rsa", claims())));
    reset_expect();
#undef LWITH
}

/* RFC 7518 3.2: an HMAC key at least as long as the hash; HS* only when listed. */
static void test_hs_key_length(void)
{
    const char *s31 = "0123456789abcdef0123456789abcde"; /* 31 bytes */
    const char *s32 = "0123456789abcdef0123456789abcdef";
    const char *s48 = "0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *asym_only[] = {"RS256", "ES256", NULL};

    ex.client_secret = s32;
    GOOD(idt(sign("HS256", s32, NULL, claims())));
    BAD(idt(sign("HS384", s32, NULL, claims())));
    CHECK(last_err && strstr(last_err, "32 bytes") && strstr(last_err, "at least 48"));
    BAD(idt(sign("HS512", s32, NULL, claims())));
    CHECK(last_err && strstr(last_err, "at least 64"));
    ex.client_secret = s48;
    GOOD(idt(sign("HS384", s48, NULL, claims())));
    ex.client_secret = s31;
    BAD(idt(sign("HS256", s31, NULL, claims())));
    CHECK(last_err && strstr(last_err, "RFC 7518") && strstr(last_err, "31 bytes"));
    ex.client_secret = "";
    BAD(idt(sign("HS256", "", NULL, claims())));
    CHECK(last_err && strstr(last_err, "needs the client secret"));
    /* long enough, but the discovery document does not list HS256 */
    ex.client_secret = SECRET;
    ex.algs = asym_only;
    BAD(idt(sign("HS256", SECRET, NULL, claims())));
    CHECK(last_err && strstr(last_err, "discovery"));
    GOOD(idt(sign("ES256", p256, "p256", claims())));
    reset_expect();
}

static json_t *userinfo_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[s,s]}", "iss", ISS, "aud", CLIENT, "sub", "user-42",
                     "email", "u@example.com", "groups", "staff", "admins");
}

static jp_tok_rc uij(const char *jwt)
{
    json_t *c = (json_t *)1;
    jp_tok_rc rc;

    last_err = NULL;
    rc = jp_userinfo_jwt_validate(pool, jwt, ks, &ex, &c, &last_err);
    if (rc != JP_TOK_OK && (c != NULL || !last_err))
        return 99;
    if (rc == JP_TOK_OK && !json_is_object(c))
        return 98;
    return rc;
}

/* Signed userinfo (application/jwt): the ID token's signature rules, iss and
 * aud required, sub equal to the ID token's, JWE refused by name. */
static void test_userinfo_jwt(void)
{
    json_t *c, *out = NULL;
    const char *err = NULL;

#define UWITH(edit) (c = userinfo_claims(), (edit), uij(sign("RS256", rsa2048, "rsa", c)))

    ex.nonce = NULL;
    ex.sub = "user-42";
    GOOD(uij(sign("RS256", rsa2048, "rsa", userinfo_claims())));
    GOOD(uij(sign("ES256", p256, "p256", userinfo_claims())));
    GOOD(uij(sign("HS256", SECRET, NULL, userinfo_claims())));
    CHECK(jp_userinfo_jwt_validate(pool, sign("EdDSA", ed, "ed", userinfo_claims()), ks, &ex, &out,
                                   &err) == JP_TOK_OK);
    CHECK_STR(json_string_value(json_object_get(out, "email")), "u@example.com");
    /* no iat, no exp needed; present ones are honoured */
    GOOD(UWITH(json_object_set_new(c, "exp", json_integer(NOW + 60))));
    BAD(UWITH(json_object_set_new(c, "exp", json_integer(NOW - 3600))));
    BAD(UWITH(json_object_set_new(c, "nbf", json_integer(NOW + 3600))));
    BAD(UWITH(json_object_set_new(c, "exp", json_string("soon"))));
    /* sub */
    BAD(UWITH(json_object_set_new(c, "sub", json_string("user-43"))));
    CHECK(last_err && strstr(last_err, "sub"));
    BAD(UWITH(json_object_del(c, "sub")));
    BAD(UWITH(json_object_set_new(c, "sub", json_integer(42))));
    /* iss and aud */
    /* OIDC Core 5.3.2: iss and aud SHOULD be there; absent ones are taken
     * as ours (the provider's key signed it), present ones must be right */
    GOOD(UWITH(json_object_del(c, "iss")));
    GOOD(UWITH(json_object_del(c, "aud")));
    GOOD(UWITH((json_object_del(c, "iss"), json_object_del(c, "aud"))));
    BAD(UWITH((json_object_del(c, "iss"), json_object_set_new(c, "aud", json_string("other")))));
    BAD(UWITH(
        (json_object_del(c, "aud"), json_object_set_new(c, "iss", json_string("https://x")))));
    BAD(UWITH(json_object_set_new(c, "iss", json_integer(1))));
    BAD(UWITH(json_object_set_new(c, "iss", json_string("https://evil.example"))));
    CHECK(last_err && strstr(last_err, "iss"));
    BAD(UWITH(json_object_set_new(c, "aud", json_string("other-client"))));
    CHECK(last_err && strstr(last_err, "aud"));
    BAD(UWITH(json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other"))));
    BAD(UWITH((json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "other")),
               json_object_set_new(c, "azp", json_string(CLIENT)))));
    CHECK(last_err && strstr(last_err, "not trusted"));
    BAD(UWITH(json_object_set_new(c, "azp", json_string("other"))));
    /* signature rules */
    BAD(uij(sign("RS256", rsa_other, "rsa", userinfo_claims())));
    BAD(uij(apr_pstrcat(pool, b64u_str("{\"alg\":\"none\"}"), ".",
                        b64u_str(dump(userinfo_claims())), ".", NULL)));
    CHECK(uij(sign("RS256", rsa2048, "gone", userinfo_claims())) == JP_TOK_UNKNOWN_KID);
    ex.client_secret = "short-secret";
    BAD(uij(sign("HS256", "short-secret", NULL, userinfo_claims())));
    CHECK(last_err && strstr(last_err, "RFC 7518"));
    ex.client_secret = SECRET;
    /* a logout token is not userinfo */
    BAD(uij(sign("RS256", rsa2048, "rsa", logout_claims())));
    /* encrypted: five segments, named as such */
    BAD(uij("eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"));
    CHECK(last_err && strstr(last_err, "encrypted (JWE)"));
    BAD(uij("not a jwt"));
    BAD(uij(NULL));
    ex.sub = NULL;
    BAD(uij(sign("RS256", rsa2048, "rsa", userinfo_claims())));
    reset_expect();
#undef UWITH
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    gen_keys();
    reset_expect();

    test_jwks();
    load_main_jwks();
    test_good_algs();
    test_forgeries();
    test_claims();
    test_logout();
    test_hs_key_length();
    test_userinfo_jwt();

    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(rsa_other);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(ed_other);
    apr_pool_destroy(pool);
    apr_terminate();
    JT_DONE();
}
