/* Pure crypto helpers on top of OpenSSL. Everything OpenSSL allocates is freed
 * before return; results live in the caller's pool. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <apr_strings.h>

#include "crypto.h"

#define JP_SEAL_VERSION 0x01
#define JP_IV_LEN 12
#define JP_TAG_LEN 16
#define JP_SEAL_OVERHEAD (1 + JP_IV_LEN + JP_TAG_LEN)

/* Longest random token we hand out; ids are 32 bytes, this is slack. */
#define JP_TOKEN_MAX 1024

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The kernel's generator first: one system call, safe across fork() by
 * construction. OpenSSL 3's per-thread generator costs three times as much
 * per call, and a thread's first call instantiates two of them (a login
 * draws eight values, and httpd runs many threads). OpenSSL stays the
 * fallback for a kernel without getrandom(). */
int jp_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    if (n == 0)
        return 0;
    if (!buf || n > INT_MAX)
        return -1;
#ifdef __linux__
    while (got < n) {
        ssize_t k = getrandom(buf + got, n - got, 0);
        if (k > 0)
            got += (size_t)k;
        else if (k < 0 && errno == EINTR)
            continue;
        else if (k < 0 && errno == ENOSYS && got == 0)
            break;
        else
            return -1;
    }
    if (got == n)
        return 0;
#endif
    (void)got;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

char *jp_random_token(apr_pool_t *p, size_t nbytes)
{
    unsigned char buf[JP_TOKEN_MAX];
    char *out;

    if (nbytes == 0 || nbytes > sizeof(buf))
        return NULL;
    if (jp_random(buf, nbytes) != 0)
        return NULL;
    out = jp_b64url_encode(p, buf, nbytes);
    OPENSSL_cleanse(buf, nbytes);
    return out;
}

size_t jp_b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

char *jp_b64url_encode(apr_pool_t *p, const unsigned char *d, size_t n)
{
    char *out, *o;
    size_t i;

    if (!d && n)
        return NULL;
    if (n > SIZE_MAX / 2)
        return NULL;
    out = o = apr_palloc(p, jp_b64url_encoded_len(n) + 1);
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = b64url_alphabet[v >> 18 & 63];
        *o++ = b64url_alphabet[v >> 12 & 63];
        *o++ = b64url_alphabet[v >> 6 & 63];
        *o++ = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)d[i] << 16;
        *o++ = b64url_alphabet[v >> 18 & 63];
        *o++ = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
        *o++ = b64url_alphabet[v >> 18 & 63];
        *o++ = b64url_alphabet[v >> 12 & 63];
        *o++ = b64url_alphabet[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

/* base64url digit values; -1 for every other byte. */
/* clang-format off */
static const signed char b64url_tab[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

unsigned char *jp_b64url_decode(apr_pool_t *p, const char *s, size_t *outlen)
{
    size_t len, pad = 0, i, o = 0;
    unsigned char *out;
    uint32_t acc = 0;
    int bits = 0;

    if (outlen)
        *outlen = 0;
    if (!s)
        return NULL;
    len = strlen(s);
    while (pad < 2 && len > 0 && s[len - 1] == '=') {
        len--;
        pad++;
    }
    if (len % 4 == 1)
        return NULL;
    if (pad && (len + pad) % 4 != 0)
        return NULL;

    out = apr_palloc(p, len / 4 * 3 + 3);
    /* Four digits at a time: every authenticated request decodes a session
     * cookie of a few kilobytes. */
    for (i = 0; i + 4 <= len; i += 4) {
        int a = b64url_tab[(unsigned char)s[i]], b = b64url_tab[(unsigned char)s[i + 1]],
            c = b64url_tab[(unsigned char)s[i + 2]], d = b64url_tab[(unsigned char)s[i + 3]];
        uint32_t v;
        if ((a | b | c | d) < 0)
            return NULL;
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
    }
    for (; i < len; i++) {
        int v = b64url_tab[(unsigned char)s[i]];
        if (v < 0)
            return NULL;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return NULL;
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* OpenSSL 3 looks EVP_sha256() up in its provider on every digest; a fetched
 * EVP_MD skips that on the per-request path. Set once before threads start. */
static EVP_MD *sha256_md;
/* The same holds for the cipher, which every request's session cookie uses. */
static EVP_CIPHER *gcm_cipher;

/* A cipher context initialised with a key has expanded it (AES key schedule,
 * GCM's hash key): about a third of a small seal or open. Each thread keeps
 * its contexts for the last few keys it used (a server uses one or two: the
 * session and state keys, plus the previous passphrase's while a rotation
 * lasts; each virtual host its own), so a seal or open only sets a fresh
 * IV. Likewise one digest context: making and freeing one was most of a
 * SHA-256 of a few dozen bytes (six per login). Freed, and cleansed by
 * OpenSSL, when the thread ends or the key is pushed out. */
#define JP_GCM_SLOTS 8

typedef struct {
    int used;
    unsigned char key[sizeof(((jp_key *)0)->k)];
    EVP_CIPHER_CTX *ctx[2]; /* decrypt, encrypt */
} gcm_slot;

typedef struct {
    gcm_slot slot[JP_GCM_SLOTS];
    unsigned next;  /* the slot the next new key takes */
    EVP_MD_CTX *md; /* SHA-256 */
} gcm_cache;

static pthread_key_t gcm_tls;
static int gcm_tls_ok;

static void slot_clear(gcm_slot *sl)
{
    EVP_CIPHER_CTX_free(sl->ctx[0]);
    EVP_CIPHER_CTX_free(sl->ctx[1]);
    OPENSSL_cleanse(sl, sizeof(*sl));
}

static void gcm_cache_free(void *v)
{
    gcm_cache *gc = v;
    int i;
    for (i = 0; i < JP_GCM_SLOTS; i++)
        slot_clear(&gc->slot[i]);
    EVP_MD_CTX_free(gc->md);
    free(gc);
}

void jp_crypto_thread_done(void)
{
    gcm_cache *gc;
    if (gcm_tls_ok && (gc = pthread_getspecific(gcm_tls))) {
        pthread_setspecific(gcm_tls, NULL);
        gcm_cache_free(gc);
    }
}

void jp_crypto_done(void)
{
    if (gcm_tls_ok) {
        jp_crypto_thread_done();
        pthread_key_delete(gcm_tls);
        gcm_tls_ok = 0;
    }
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
    EVP_CIPHER_free(gcm_cipher);
    gcm_cipher = NULL;
}

void jp_crypto_init(void)
{
    if (!sha256_md)
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!gcm_cipher)
        gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (!gcm_tls_ok)
        gcm_tls_ok = pthread_key_create(&gcm_tls, gcm_cache_free) == 0;
}

static const EVP_CIPHER *gcm(void)
{
    return gcm_cipher ? gcm_cipher : EVP_aes_256_gcm();
}

/* This thread's cache, made at its first use; NULL without jp_crypto_init. */
static gcm_cache *thread_cache(void)
{
    gcm_cache *gc;
    if (!gcm_tls_ok)
        return NULL;
    if (!(gc = pthread_getspecific(gcm_tls))) {
        if (!(gc = calloc(1, sizeof(*gc))))
            return NULL;
        if (pthread_setspecific(gcm_tls, gc) != 0) {
            free(gc);
            return NULL;
        }
    }
    return gc;
}

/* This thread's context for key and direction, the key already set; NULL
 * when there is no cache (jp_crypto_init not called) or no memory: the
 * caller then makes a context of its own. */
static EVP_CIPHER_CTX *cached_ctx(const jp_key *key, int enc)
{
    gcm_cache *gc = thread_cache();
    gcm_slot *sl = NULL;
    int i;

    if (!gc)
        return NULL;
    for (i = 0; i < JP_GCM_SLOTS && !sl; i++)
        if (gc->slot[i].used && CRYPTO_memcmp(gc->slot[i].key, key->k, sizeof(key->k)) == 0)
            sl = &gc->slot[i];
    if (!sl) {
        sl = &gc->slot[gc->next];
        gc->next = (gc->next + 1) % JP_GCM_SLOTS;
        slot_clear(sl);
        memcpy(sl->key, key->k, sizeof(sl->key));
        sl->used = 1;
    }
    if (!sl->ctx[enc]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (!ctx || EVP_CipherInit_ex(ctx, gcm(), NULL, key->k, NULL, enc) != 1) {
            EVP_CIPHER_CTX_free(ctx);
            return NULL;
        }
        sl->ctx[enc] = ctx;
    }
    return sl->ctx[enc];
}

/* A context for one seal or open with iv: the thread's (*own 0) or a new
 * one the caller frees (*own 1). */
static EVP_CIPHER_CTX *gcm_begin(const jp_key *key, const unsigned char *iv, int enc, int *own)
{
    EVP_CIPHER_CTX *ctx = cached_ctx(key, enc);
    *own = ctx == NULL;
    if (ctx) {
        /* No key: the expanded one stays; the IV resets the GCM state. */
        if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1)
            return ctx;
        return NULL;
    }
    if (!(ctx = EVP_CIPHER_CTX_new()))
        return NULL;
    /* JP_IV_LEN is GCM's default IV length: one init call sets it all. */
    if (EVP_CipherInit_ex(ctx, gcm(), NULL, key->k, iv, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void gcm_end(EVP_CIPHER_CTX *ctx, int own)
{
    if (own)
        EVP_CIPHER_CTX_free(ctx);
}

void jp_sha256(const void *d, size_t n, unsigned char out[32])
{
    unsigned int olen = 0;
    gcm_cache *gc = sha256_md ? thread_cache() : NULL;
    EVP_MD_CTX *ctx = gc ? (gc->md ? gc->md : (gc->md = EVP_MD_CTX_new())) : NULL;
    int ok;

    /* On the thread's context the same digest again: OpenSSL reinitialises
     * the context it has. */
    if (ctx)
        ok = EVP_DigestInit_ex2(ctx, sha256_md, NULL) == 1 && EVP_DigestUpdate(ctx, d, n) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &olen) == 1;
    else
        ok = EVP_Digest(d, n, out, &olen, sha256_md ? sha256_md : EVP_sha256(), NULL) == 1;
    /* Cannot report failure through this signature: make the result useless
     * rather than leave stack garbage that might match something. */
    if (!ok || olen != 32)
        memset(out, 0, 32);
}

char *jp_sha256_b64url(apr_pool_t *p, const char *s)
{
    unsigned char md[32];

    if (!s)
        return NULL;
    jp_sha256(s, strlen(s), md);
    return jp_b64url_encode(p, md, sizeof(md));
}

int jp_hkdf(const unsigned char *secret, size_t slen, const char *info, jp_key *out)
{
    static const unsigned char salt[] = "mod_jitprov";
    EVP_PKEY_CTX *ctx;
    size_t outlen = sizeof(out->k);
    int ok;

    /* An empty secret would derive a key anyone can compute. */
    if (!secret || slen == 0 || slen > INT_MAX || !info || !*info || !out)
        return -1;
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (!ctx)
        return -1;
    ok = EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int)(sizeof(salt) - 1)) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_key(ctx, secret, (int)slen) == 1 &&
         EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)info, (int)strlen(info)) == 1 &&
         EVP_PKEY_derive(ctx, out->k, &outlen) == 1 && outlen == sizeof(out->k);
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out->k, sizeof(out->k));
        return -1;
    }
    return 0;
}

int jp_ct_eq(const void *a, const void *b, size_t n)
{
    if (!a || !b)
        return 0;
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* CRYPTO_memcmp goes a byte at a time; the request path compares whole
 * session cookies (1-4 KB), so this one goes 32 bytes at a time (two 16-byte
 * vectors: SSE2 on x86-64, generic code elsewhere), then eight. Still no
 * early exit: the differences are OR-ed together and looked at once. */
typedef uint64_t ct_vec __attribute__((vector_size(16)));

int jp_ct_eq_words(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    uint64_t acc = 0, u, v;
    ct_vec vacc = {0, 0}, p, q, r, t;
    size_t i;

    if (!a || !b)
        return 0;
    for (i = 0; i + 32 <= n; i += 32) {
        memcpy(&p, x + i, 16);
        memcpy(&q, y + i, 16);
        memcpy(&r, x + i + 16, 16);
        memcpy(&t, y + i + 16, 16);
        vacc |= (p ^ q) | (r ^ t);
    }
    acc = vacc[0] | vacc[1];
    for (; i + 8 <= n; i += 8) {
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        acc |= u ^ v;
    }
    for (; i < n; i++)
        acc |= (uint64_t)(x[i] ^ y[i]);
    return acc == 0;
}

/* The length of a secret is not secret here (tokens have fixed lengths); only
 * the contents are compared in constant time. */
int jp_ct_streq(const char *a, const char *b)
{
    size_t la, lb;

    if (!a || !b)
        return 0;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* The version byte is authenticated along with the caller's AAD, so a future
 * format cannot be confused with this one. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, int enc, const unsigned char *hdr, const char *aad)
{
    int len;
    size_t alen = aad ? strlen(aad) : 0;

    if (alen > INT_MAX)
        return 0;
    if (enc) {
        if (EVP_EncryptUpdate(ctx, NULL, &len, hdr, 1) != 1)
            return 0;
        return alen == 0 ||
               EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)alen) == 1;
    }
    if (EVP_DecryptUpdate(ctx, NULL, &len, hdr, 1) != 1)
        return 0;
    return alen == 0 ||
           EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)alen) == 1;
}

char *jp_seal(apr_pool_t *p, const jp_key *key, const char *aad, const unsigned char *pt,
              size_t ptlen)
{
    EVP_CIPHER_CTX *ctx;
    unsigned char *raw;
    size_t rawlen;
    int len, ok, own;
    char *out;

    if (!key || (!pt && ptlen))
        return NULL;
    /* Refuse what jp_open would refuse: every sealed blob must be openable. */
    if (ptlen > JP_SEAL_MAX || jp_b64url_encoded_len(ptlen + JP_SEAL_OVERHEAD) > JP_SEAL_MAX)
        return NULL;

    rawlen = ptlen + JP_SEAL_OVERHEAD;
    raw = apr_palloc(p, rawlen);
    raw[0] = JP_SEAL_VERSION;
    if (jp_random(raw + 1, JP_IV_LEN) != 0)
        return NULL;

    if (!(ctx = gcm_begin(key, raw + 1, 1, &own)))
        return NULL;
    ok = gcm_aad(ctx, 1, raw, aad);
    if (ok && ptlen)
        ok = EVP_EncryptUpdate(ctx, raw + 1 + JP_IV_LEN, &len, pt, (int)ptlen) == 1 &&
             (size_t)len == ptlen;
    ok = ok && EVP_EncryptFinal_ex(ctx, raw + 1 + JP_IV_LEN + ptlen, &len) == 1 && len == 0 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, JP_TAG_LEN, raw + 1 + JP_IV_LEN + ptlen) ==
             1;
    gcm_end(ctx, own);
    if (!ok)
        return NULL;
    out = jp_b64url_encode(p, raw, rawlen);
    OPENSSL_cleanse(raw, rawlen);
    return out;
}

/* One attempt with one key; 1 when the tag verifies. */
static int gcm_open_one(const jp_key *key, const char *aad, const unsigned char *raw, size_t rawlen,
                        unsigned char *pt)
{
    const unsigned char *iv = raw + 1, *ct = raw + 1 + JP_IV_LEN;
    size_t ctlen = rawlen - JP_SEAL_OVERHEAD;
    unsigned char tag[JP_TAG_LEN];
    EVP_CIPHER_CTX *ctx;
    int len, ok, own;

    /* EVP_CTRL_GCM_SET_TAG takes a non-const pointer. */
    memcpy(tag, ct + ctlen, JP_TAG_LEN);
    if (!(ctx = gcm_begin(key, iv, 0, &own)))
        return 0;
    ok = gcm_aad(ctx, 0, raw, aad);
    if (ok && ctlen)
        ok = EVP_DecryptUpdate(ctx, pt, &len, ct, (int)ctlen) == 1 && (size_t)len == ctlen;
    ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, JP_TAG_LEN, tag) == 1 &&
         EVP_DecryptFinal_ex(ctx, pt + ctlen, &len) == 1;
    gcm_end(ctx, own);
    return ok;
}

unsigned char *jp_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *aad,
                       const char *blob, size_t *ptlen)
{
    unsigned char *raw, *pt;
    size_t rawlen, ctlen;
    int i;

    if (ptlen)
        *ptlen = 0;
    if (!keys || nkeys <= 0 || !blob)
        return NULL;
    if (strnlen(blob, JP_SEAL_MAX + 1) > JP_SEAL_MAX)
        return NULL;
    raw = jp_b64url_decode(p, blob, &rawlen);
    if (!raw || rawlen < JP_SEAL_OVERHEAD || raw[0] != JP_SEAL_VERSION)
        return NULL;

    ctlen = rawlen - JP_SEAL_OVERHEAD;
    pt = apr_palloc(p, ctlen + 1);
    for (i = 0; i < nkeys; i++) {
        if (gcm_open_one(&keys[i], aad, raw, rawlen, pt)) {
            pt[ctlen] = '\0';
            if (ptlen)
                *ptlen = ctlen;
            return pt;
        }
        /* Never leave unauthenticated plaintext behind in the pool. */
        OPENSSL_cleanse(pt, ctlen + 1);
    }
    return NULL;
}

int jp_pem_cert_count(const char *pem, size_t len)
{
    BIO *b;
    X509 *x;
    int n = 0;
    if (!pem || !len || len > INT_MAX || !(b = BIO_new_mem_buf(pem, (int)len)))
        return 0;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        X509_free(x);
        n++;
    }
    BIO_free(b);
    /* The failed read that ends the loop leaves its error queued. */
    ERR_clear_error();
    return n;
}
