/* crypto.c: base64url, SHA-256/PKCE, HKDF, AES-GCM seal/open with tampering. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "crypto.h"
#include "jtest.h"

static void test_random(apr_pool_t *p)
{
    unsigned char a[32], b[32];
    char *t1, *t2;

    CHECK(jp_random(a, sizeof(a)) == 0);
    CHECK(jp_random(b, sizeof(b)) == 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK(jp_random(a, 0) == 0);

    t1 = jp_random_token(p, 32);
    t2 = jp_random_token(p, 32);
    CHECK(t1 && strlen(t1) == 43);
    CHECK(t1 && t2 && strcmp(t1, t2) != 0);
    CHECK(t1 &&
          strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
    CHECK(jp_random_token(p, 0) == NULL);
    CHECK(jp_random_token(p, 1 << 20) == NULL);
}

static void test_b64url(apr_pool_t *p)
{
    /* RFC 4648 section 10 vectors, unpadded. */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    static const unsigned char urlsafe[] = {0xfb, 0xff, 0xbf};
    unsigned char all[256];
    unsigned char *d;
    size_t n, i;
    char *e;

    for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        CHECK_STR(jp_b64url_encode(p, (const unsigned char *)plain[i], strlen(plain[i])), enc[i]);
        d = jp_b64url_decode(p, enc[i], &n);
        CHECK(d && n == strlen(plain[i]) && memcmp(d, plain[i], n) == 0 && d[n] == '\0');
        CHECK(jp_b64url_encoded_len(strlen(plain[i])) == strlen(enc[i]));
    }
    CHECK_STR(jp_b64url_encode(p, urlsafe, 3), "-_-_");
    d = jp_b64url_decode(p, "-_-_", &n);
    CHECK(d && n == 3 && memcmp(d, urlsafe, 3) == 0);

    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (i = 0; i <= 256; i++) {
        e = jp_b64url_encode(p, all, i);
        d = jp_b64url_decode(p, e, &n);
        if (!d || n != i || memcmp(d, all, i) != 0)
            break;
    }
    CHECK(i == 257);

    /* Padding tolerated only where it belongs. */
    d = jp_b64url_decode(p, "Zg==", &n);
    CHECK(d && n == 1 && d[0] == 'f');
    d = jp_b64url_decode(p, "Zm8=", &n);
    CHECK(d && n == 2);
    CHECK(jp_b64url_decode(p, "Zg=", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm8==", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9v=", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Z=g", &n) == NULL);
    CHECK(jp_b64url_decode(p, "===", &n) == NULL);

    /* Standard base64 characters, whitespace, junk, impossible lengths. */
    CHECK(jp_b64url_decode(p, "+/+/", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9v Yg", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9v\nYg", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9v.Yg", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9\xc3\xa9", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Z", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9vY", &n) == NULL);
    /* Non-zero trailing bits: "Zh" would also decode to "f". */
    CHECK(jp_b64url_decode(p, "Zh", &n) == NULL);
    CHECK(jp_b64url_decode(p, "Zm9", &n) == NULL);
    CHECK(jp_b64url_decode(p, NULL, &n) == NULL);
    d = jp_b64url_decode(p, "", &n);
    CHECK(d && n == 0);
}

static void test_sha256(apr_pool_t *p)
{
    unsigned char md[32];
    char *hex;
    int i;

    jp_sha256("abc", 3, md);
    hex = apr_palloc(p, 65);
    for (i = 0; i < 32; i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* RFC 7636 Appendix B. */
    CHECK_STR(jp_sha256_b64url(p, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    CHECK(jp_sha256_b64url(p, NULL) == NULL);
}

static void test_hkdf(void)
{
    static const unsigned char secret[] = "correct horse battery staple";
    jp_key a, b, c, d;

    CHECK(jp_hkdf(secret, sizeof(secret) - 1, JP_HKDF_INFO_STATE, &a) == 0);
    CHECK(jp_hkdf(secret, sizeof(secret) - 1, JP_HKDF_INFO_STATE, &b) == 0);
    CHECK(memcmp(a.k, b.k, JP_KEY_LEN) == 0);
    CHECK(jp_hkdf(secret, sizeof(secret) - 1, JP_HKDF_INFO_SESSION, &c) == 0);
    CHECK(memcmp(a.k, c.k, JP_KEY_LEN) != 0);
    CHECK(jp_hkdf(secret, sizeof(secret) - 2, JP_HKDF_INFO_STATE, &d) == 0);
    CHECK(memcmp(a.k, d.k, JP_KEY_LEN) != 0);
    CHECK(jp_hkdf(secret, 0, JP_HKDF_INFO_STATE, &d) != 0);
    CHECK(jp_hkdf(NULL, 5, JP_HKDF_INFO_STATE, &d) != 0);
    CHECK(jp_hkdf(secret, 5, "", &d) != 0);
    CHECK(jp_hkdf(secret, 5, NULL, &d) != 0);
}

static void test_ct(void)
{
    CHECK(jp_ct_eq("abc", "abc", 3));
    CHECK(!jp_ct_eq("abc", "abd", 3));
    CHECK(jp_ct_eq("abc", "abd", 2));
    {
        /* the word-wise one: a difference at any offset of any length (the
         * 32-byte blocks, the 8-byte words and the bytes after them) */
        unsigned char a[100], b[100];
        size_t n, i;
        int ok = 1;
        for (n = 0; n <= sizeof(a); n++) {
            memset(a, 'x', sizeof(a));
            memset(b, 'x', sizeof(b));
            ok &= jp_ct_eq_words(a, b, n);
            for (i = 0; i < n; i++) {
                b[i] = 'y';
                ok &= !jp_ct_eq_words(a, b, n);
                b[i] = (unsigned char)('x' ^ 0x80);
                ok &= !jp_ct_eq_words(a, b, n);
                b[i] = 'x';
            }
        }
        CHECK(ok);
        CHECK(!jp_ct_eq_words(NULL, b, 1));
    }
    CHECK(jp_ct_streq("state", "state"));
    CHECK(!jp_ct_streq("state", "stat"));
    CHECK(!jp_ct_streq("stat", "state"));
    CHECK(!jp_ct_streq("", "x"));
    CHECK(jp_ct_streq("", ""));
    CHECK(!jp_ct_streq(NULL, NULL));
    CHECK(!jp_ct_streq("a", NULL));
    CHECK(!jp_ct_streq(NULL, "a"));
}

static char *flip(apr_pool_t *p, const char *blob, size_t at)
{
    size_t n;
    unsigned char *raw = jp_b64url_decode(p, blob, &n);

    if (!raw || at >= n)
        return NULL;
    raw[at] ^= 0x01;
    return jp_b64url_encode(p, raw, n);
}

static void test_seal(apr_pool_t *p)
{
    static const unsigned char s1[] = "first secret", s2[] = "second secret";
    const char *msg = "{\"hello\":\"world\"}";
    jp_key k1, k2, keys[2], rot[2];
    unsigned char *pt, *raw;
    char *blob, *blob2, *big, *bad;
    size_t n, rawn, i;
    int all_fail;

    CHECK(jp_hkdf(s1, sizeof(s1) - 1, JP_HKDF_INFO_STATE, &k1) == 0);
    CHECK(jp_hkdf(s2, sizeof(s2) - 1, JP_HKDF_INFO_STATE, &k2) == 0);

    blob = jp_seal(p, &k1, "aad", (const unsigned char *)msg, strlen(msg));
    CHECK(blob != NULL);
    raw = jp_b64url_decode(p, blob, &rawn);
    CHECK(raw && rawn == 1 + 12 + strlen(msg) + 16 && raw[0] == 0x01);

    pt = jp_open(p, &k1, 1, "aad", blob, &n);
    CHECK(pt && n == strlen(msg) && strcmp((char *)pt, msg) == 0);

    /* A fresh IV every time. */
    blob2 = jp_seal(p, &k1, "aad", (const unsigned char *)msg, strlen(msg));
    CHECK(blob2 && strcmp(blob, blob2) != 0);

    /* Wrong AAD, wrong key, NULL vs empty AAD. */
    CHECK(jp_open(p, &k1, 1, "aae", blob, &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "", blob, &n) == NULL);
    CHECK(jp_open(p, &k1, 1, NULL, blob, &n) == NULL);
    CHECK(jp_open(p, &k2, 1, "aad", blob, &n) == NULL);
    CHECK(n == 0);

    /* Rotation: the old key, listed second, still opens; order does not matter. */
    keys[0] = k2;
    keys[1] = k1;
    pt = jp_open(p, keys, 2, "aad", blob, &n);
    CHECK(pt && strcmp((char *)pt, msg) == 0);
    rot[0] = k1;
    rot[1] = k2;
    pt = jp_open(p, rot, 2, "aad", blob, &n);
    CHECK(pt && strcmp((char *)pt, msg) == 0);
    CHECK(jp_open(p, keys, 1, "aad", blob, &n) == NULL);
    CHECK(jp_open(p, keys, 0, "aad", blob, &n) == NULL);
    CHECK(jp_open(p, NULL, 1, "aad", blob, &n) == NULL);

    /* Flipping any single byte (version, IV, ciphertext, tag) breaks it. */
    all_fail = 1;
    for (i = 0; i < rawn; i++) {
        bad = flip(p, blob, i);
        if (!bad || jp_open(p, keys, 2, "aad", bad, &n) != NULL)
            all_fail = 0;
    }
    CHECK(all_fail);

    /* Truncated, extended, empty, non-base64. */
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrndup(p, blob, strlen(blob) - 1), &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrndup(p, blob, strlen(blob) - 4), &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrcat(p, blob, "AAAA", NULL), &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrndup(p, blob, 38), &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", "", &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", NULL, &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", "AQ", &n) == NULL);
    bad = apr_pstrdup(p, blob);
    bad[10] = '+';
    CHECK(jp_open(p, &k1, 1, "aad", bad, &n) == NULL);
    bad[10] = '.';
    CHECK(jp_open(p, &k1, 1, "aad", bad, &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrcat(p, " ", blob, NULL), &n) == NULL);
    CHECK(jp_open(p, &k1, 1, "aad", apr_pstrcat(p, blob, "\n", NULL), &n) == NULL);

    /* Empty plaintext round-trips to an empty NUL-terminated string. */
    blob = jp_seal(p, &k1, "aad", NULL, 0);
    CHECK(blob != NULL);
    pt = jp_open(p, &k1, 1, "aad", blob, &n);
    CHECK(pt && n == 0 && pt[0] == '\0');
    /* Exactly the minimum length with a broken tag. */
    CHECK(blob && jp_open(p, &k1, 1, "aad", flip(p, blob, 28), &n) == NULL);

    /* Binary plaintext with an embedded NUL keeps its length. */
    blob = jp_seal(p, &k1, "x", (const unsigned char *)"a\0b", 3);
    pt = jp_open(p, &k1, 1, "x", blob, &n);
    CHECK(pt && n == 3 && pt[1] == '\0' && pt[2] == 'b' && pt[3] == '\0');

    /* Size caps: the largest sealable plaintext opens; one byte more is refused;
     * a blob longer than 64 KiB is refused before decoding. */
    n = JP_SEAL_MAX / 4 * 3 - 29;
    big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    blob = jp_seal(p, &k1, "aad", (unsigned char *)big, n);
    CHECK(blob && strlen(blob) <= JP_SEAL_MAX);
    pt = jp_open(p, &k1, 1, "aad", blob, &rawn);
    CHECK(pt && rawn == n);
    CHECK(jp_seal(p, &k1, "aad", (unsigned char *)big, n + 1) == NULL);
    free(big);
    big = apr_palloc(p, JP_SEAL_MAX + 2);
    memset(big, 'A', JP_SEAL_MAX + 1);
    big[JP_SEAL_MAX + 1] = '\0';
    CHECK(jp_open(p, &k1, 1, "aad", big, &n) == NULL);
    CHECK(jp_seal(p, NULL, "aad", (const unsigned char *)"x", 1) == NULL);
}

/* jp_crypto_init swaps the by-name digest and cipher for fetched ones: the
 * same bytes either way, and cookies sealed before it still open after. */
static void test_fetched(apr_pool_t *p)
{
    static const char msg[] = "sealed before jp_crypto_init";
    unsigned char d1[32], d2[32];
    jp_key k;
    char *blob, *blob2;
    unsigned char *pt;
    size_t n;

    memset(k.k, 0x5a, sizeof(k.k));
    jp_sha256("abc", 3, d1);
    blob = jp_seal(p, &k, "aad", (const unsigned char *)msg, strlen(msg));
    CHECK(blob != NULL);
    jp_crypto_init();
    jp_crypto_init(); /* idempotent */
    jp_sha256("abc", 3, d2);
    CHECK(memcmp(d1, d2, 32) == 0);
    pt = jp_open(p, &k, 1, "aad", blob, &n);
    CHECK(pt && n == strlen(msg) && !memcmp(pt, msg, n));
    blob2 = jp_seal(p, &k, "aad", (const unsigned char *)msg, strlen(msg));
    CHECK(blob2 && strcmp(blob, blob2)); /* a fresh IV */
    pt = jp_open(p, &k, 1, "aad", blob2, &n);
    CHECK(pt && n == strlen(msg) && !memcmp(pt, msg, n));
    CHECK(jp_open(p, &k, 1, "aae", blob2, &n) == NULL);
}

/* After jp_crypto_init, each thread keeps contexts for the keys it used:
 * more keys than it keeps (contexts pushed out and made again), a wrong key
 * tried before the right one, a failed open between good ones, all on the
 * same thread; then threads at once, each with its own contexts. */
static void test_ctx_cache(apr_pool_t *p)
{
    jp_key k[12], pair[2];
    char *blob[12];
    unsigned char *pt;
    size_t n;
    int i, round;

    for (i = 0; i < 12; i++) {
        memset(k[i].k, 0x10 + i, sizeof(k[i].k));
        blob[i] = jp_seal(p, &k[i], "aad", (const unsigned char *)"payload", 7);
        CHECK(blob[i] != NULL);
    }
    for (round = 0; round < 3; round++)
        for (i = 0; i < 12; i++) {
            int j = (i * 5 + round) % 12;
            pt = jp_open(p, &k[j], 1, "aad", blob[j], &n);
            CHECK(pt && n == 7 && !memcmp(pt, "payload", 7));
            /* the neighbour's key refuses it */
            CHECK(jp_open(p, &k[(j + 1) % 12], 1, "aad", blob[j], &n) == NULL);
        }
    /* rotation: the old key second in the list */
    pair[0] = k[3];
    pair[1] = k[7];
    pt = jp_open(p, pair, 2, "aad", blob[7], &n);
    CHECK(pt && n == 7);
    CHECK(jp_open(p, pair, 2, "aad", blob[8], &n) == NULL);
    pt = jp_open(p, pair, 2, "aad", blob[3], &n);
    CHECK(pt && n == 7);
    /* a tampered blob, then the intact one, with the same contexts */
    {
        char *bad = apr_pstrdup(p, blob[3]);
        bad[strlen(bad) / 2] = bad[strlen(bad) / 2] == 'A' ? 'B' : 'A';
        CHECK(jp_open(p, &k[3], 1, "aad", bad, &n) == NULL);
        pt = jp_open(p, &k[3], 1, "aad", blob[3], &n);
        CHECK(pt && n == 7);
    }
    /* an empty plaintext, sealed and opened on a cached context */
    {
        char *e = jp_seal(p, &k[0], NULL, (const unsigned char *)"", 0);
        CHECK(e && jp_open(p, &k[0], 1, NULL, e, &n) && n == 0);
    }
    jp_crypto_thread_done();
    jp_crypto_thread_done(); /* nothing left: a no-op */
    pt = jp_open(p, &k[5], 1, "aad", blob[5], &n);
    CHECK(pt && n == 7);
    jp_crypto_thread_done();
}

#define JP_TEST_THREADS 4

static int thread_failures;

static void *seal_open_loop(void *arg)
{
    apr_pool_t *p;
    jp_key k[2];
    int t = (int)(intptr_t)arg, i, bad = 0;
    apr_pool_create(&p, NULL);
    memset(k[0].k, 0x40 + t, sizeof(k[0].k));
    memset(k[1].k, 0x70, sizeof(k[1].k)); /* shared by every thread */
    for (i = 0; i < 2000; i++) {
        char msg[32];
        size_t n;
        const jp_key *key = &k[i % 2];
        char *b;
        unsigned char *pt;
        snprintf(msg, sizeof(msg), "thread %d message %d", t, i);
        b = jp_seal(p, key, "aad", (const unsigned char *)msg, strlen(msg));
        pt = b ? jp_open(p, key, 1, "aad", b, &n) : NULL;
        if (!pt || n != strlen(msg) || memcmp(pt, msg, n))
            bad++;
        if (b && jp_open(p, &k[1 - i % 2], 1, "aad", b, &n))
            bad++;
        {
            static const unsigned char abc[32] = {
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
            unsigned char md[32];
            jp_sha256(msg, strlen(msg), md); /* a different input first */
            jp_sha256("abc", 3, md);
            if (memcmp(md, abc, 32))
                bad++;
        }
        if (i % 100 == 99)
            apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    __atomic_add_fetch(&thread_failures, bad, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A self-signed EC certificate made for this test (openssl req -x509). */
static const char TEST_CERT[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBjjCCATWgAwIBAgIUH8ZpimKnc0TQlFAUi9Svq0rRaukwCgYIKoZIzj0EAwIw\n"
                                "HDEaMBgGA1UEAwwRaml0cHJvdiB1bml0IHRlc3QwIBcNMjYxMjAzMDYwNTU2WhgP\n"
                                "MjEyNjExMDkwNjA1NTZaMBwxGjAYBgNVBAMMEWppdHByb3YgdW5pdCB0ZXN0MFkw\n"
                                "EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+OiJ+ctVkR81WKCLJwwQBxN9O46HwEa0\n"
                                "8DuC4eKJiYMCXwGIklONc7GqGWRS1bpHEVEEvWEUJMpyeeCKkXJq26NTMFEwHQYD\n"
                                "VR0OBBYEFAiSzKEL8uuBnOkTZpKADNTH4y2jMB8GA1UdIwQYMBaAFAiSzKEL8uuB\n"
                                "nOkTZpKADNTH4y2jMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg\n"
                                "W+eC8+Cp18WRP61UeGDF4omeSCnsh5txt9SsaGfaJx4CIHwdjZi3GjDDaPax+Tde\n"
                                "INpobU/EQZ72nyaoi9GYJD73\n"
                                "-----END CERTIFICATE-----\n";

static void test_pem_cert_count(apr_pool_t *p)
{
    const char *two = apr_pstrcat(p, TEST_CERT, TEST_CERT, NULL);
    const char *tail = apr_pstrcat(p, TEST_CERT, "-----BEGIN CERTIFICATE-----\nnot base64\n", NULL);
    const char *key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE "
                      "KEY-----\n";
    char *cut = apr_pstrndup(p, TEST_CERT, sizeof(TEST_CERT) / 2);
    CHECK(jp_pem_cert_count(TEST_CERT, strlen(TEST_CERT)) == 1);
    CHECK(jp_pem_cert_count(two, strlen(two)) == 2);
    /* Counted up to the first that does not parse. */
    CHECK(jp_pem_cert_count(tail, strlen(tail)) == 1);
    CHECK(jp_pem_cert_count(key, strlen(key)) == 0);
    CHECK(jp_pem_cert_count(cut, strlen(cut)) == 0);
    CHECK(jp_pem_cert_count("", 0) == 0);
    CHECK(jp_pem_cert_count(NULL, 10) == 0);
    CHECK(jp_pem_cert_count("plain text", 10) == 0);
}

static void test_ctx_threads(void)
{
    pthread_t th[JP_TEST_THREADS];
    int i;
    for (i = 0; i < JP_TEST_THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, seal_open_loop, (void *)(intptr_t)i) == 0);
    for (i = 0; i < JP_TEST_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(thread_failures == 0);
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_random(p);
    test_b64url(p);
    test_sha256(p);
    test_hkdf();
    test_ct();
    test_seal(p);
    test_fetched(p);
    test_seal(p); /* again, on the fetched cipher and cached contexts */
    test_sha256(p); /* again, on the thread's digest context */
    test_sha256(p);
    test_ctx_cache(p);
    test_ctx_threads();
    test_pem_cert_count(p);
    jp_crypto_thread_done();
    /* As httpd's parent at each restart: undone, then made again. Between
     * the two, seal, open and digests work without the cache. */
    jp_crypto_done();
    jp_crypto_done(); /* twice: a no-op */
    test_seal(p);
    test_sha256(p);
    jp_crypto_init();
    test_seal(p);
    test_ctx_cache(p);
    jp_crypto_done();
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
