/* Pure crypto helpers: random ids, base64url, SHA-256, HKDF, AES-256-GCM.
 * No httpd headers: linked by unit tests, fuzzers and jitprov-admin. */
#ifndef JP_CRYPTO_H
#define JP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#define JP_KEY_LEN 32

/* Largest sealed blob jp_open accepts (base64url chars); jp_seal refuses to make
 * anything larger. */
#define JP_SEAL_MAX 65536

/* HKDF info labels, one per purpose, so a key never serves two jobs. */
#define JP_HKDF_INFO_STATE "mod_jitprov state cookie v1"
#define JP_HKDF_INFO_SESSION "mod_jitprov session record v1"

typedef struct {
    unsigned char k[JP_KEY_LEN];
} jp_key;

/* 0 on success. Fork-safe (getrandom). */
int jp_random(unsigned char *buf, size_t n);

/* nbytes random bytes as base64url without padding (32 -> 43 chars). NULL on failure. */
char *jp_random_token(apr_pool_t *p, size_t nbytes);

char *jp_b64url_encode(apr_pool_t *p, const unsigned char *d, size_t n);
/* Length of jp_b64url_encode's output for n bytes (no padding, no NUL). */
size_t jp_b64url_encoded_len(size_t n);
/* Accepts base64url without padding (also tolerates '=' padding). NULL on any invalid char.
 * Also NULL on non-zero trailing bits (non-canonical encodings). The result is followed
 * by a NUL byte not counted in *outlen. */
unsigned char *jp_b64url_decode(apr_pool_t *p, const char *s, size_t *outlen);

/* Optional: call once before threads start (httpd post_config) so that
 * jp_sha256 and jp_seal/jp_open skip OpenSSL's per-call algorithm lookup,
 * and each thread keeps its cipher contexts with their keys expanded. */
void jp_crypto_init(void);
/* Frees the calling thread's cipher contexts now rather than at its exit
 * (a program's main thread, which never runs the exit destructor). */
void jp_crypto_thread_done(void);
/* Undoes jp_crypto_init (when no other thread uses this module's crypto any
 * more): the thread key is deleted, the fetched algorithms freed. httpd's
 * parent calls it when its configuration pool goes, at every restart,
 * before the module is unloaded and loaded again: a process has about a
 * thousand thread keys, and one per reload would run out. */
void jp_crypto_done(void);
void jp_sha256(const void *d, size_t n, unsigned char out[32]);
/* base64url(SHA-256(s)): PKCE S256 challenge, cache keys. */
char *jp_sha256_b64url(apr_pool_t *p, const char *s);

/* HKDF-SHA256(secret, salt = "mod_jitprov", info) -> 32 bytes. 0 on success. */
int jp_hkdf(const unsigned char *secret, size_t slen, const char *info, jp_key *out);

/* How many X.509 certificates a PEM text holds, read in order up to the
 * first that does not parse (0: none; JITProvCAFile is checked with it). */
int jp_pem_cert_count(const char *pem, size_t len);

/* Constant-time comparisons; return 1 when equal. */
int jp_ct_eq(const void *a, const void *b, size_t n);
int jp_ct_eq_words(const void *a, const void *b, size_t n); /* the same, for long inputs */
int jp_ct_streq(const char *a, const char *b);              /* NULLs never equal */

/* AES-256-GCM. Output: base64url( 0x01 || iv[12] || ciphertext || tag[16] ).
 * aad binds the blob to its purpose (cookie name + version). NULL on failure. */
char *jp_seal(apr_pool_t *p, const jp_key *key, const char *aad, const unsigned char *pt,
              size_t ptlen);
/* Tries keys[0..nkeys-1] in order (key rotation). Returns a NUL-terminated
 * plaintext (length in *ptlen) or NULL when no key authenticates the blob,
 * or when the input is malformed or longer than 64 KiB. */
unsigned char *jp_open(apr_pool_t *p, const jp_key *keys, int nkeys, const char *aad,
                       const char *blob, size_t *ptlen);

#endif
