/* JWKS parsing and JWT validation: the relying party's trust decision.
 *
 * cjose 0.6.2 checks signatures but almost nothing around them (no alg/key
 * pairing, no crit, no JWK use/alg, an HMAC compare that trusts the signature
 * length), so every one of those checks is made here, before cjose is asked.
 * EdDSA goes to OpenSSL directly because cjose cannot import OKP keys.
 * The payload is parsed only after a signature has verified. */

#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <cjose/cjose.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "token.h"
#include "crypto.h"
#include "json.h"

#define JWKS_MAX_BYTES (256 * 1024)
#define JWKS_MAX_KEYS 64     /* usable keys kept */
#define JWKS_MAX_ENTRIES 256 /* entries looked at */
#define JWKS_MAX_SKIPPED 16  /* unusable keys whose kid and reason are kept */
#define JWT_MAX_BYTES (64 * 1024)
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define RSA_MAX_E_CHARS 11 /* base64url of 8 bytes */
#define SUB_MAX_LEN 255
#define BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"

typedef enum { KT_RSA, KT_P256, KT_P384, KT_P521, KT_ED25519, KT_SECRET } keytype;

typedef struct {
    const char *name;
    keytype type;
    size_t siglen; /* 0: the RSA modulus length */
} alg_info;

static const alg_info alg_table[] = {
    {"RS256", KT_RSA, 0},      {"RS384", KT_RSA, 0},     {"RS512", KT_RSA, 0},
    {"PS256", KT_RSA, 0},      {"PS384", KT_RSA, 0},     {"PS512", KT_RSA, 0},
    {"ES256", KT_P256, 64},    {"ES384", KT_P384, 96},   {"ES512", KT_P521, 132},
    {"EdDSA", KT_ED25519, 64}, {"HS256", KT_SECRET, 32}, {"HS384", KT_SECRET, 48},
    {"HS512", KT_SECRET, 64},
};

typedef struct {
    const char *kid; /* NULL when the JWK has none */
    const char *alg; /* NULL when the JWK does not pin one */
    keytype type;
    size_t siglen; /* RSA: modulus bytes */
    cjose_jwk_t *jwk;
    EVP_PKEY *ed;
} jwk_entry;

/* A key of the set that cannot verify anything, kept so that a token naming
 * its kid is refused with the reason, not as if the IdP had no such key. */
typedef struct {
    const char *kid;
    const char *why;
} jwk_skipped;

struct jp_jwks {
    jwk_entry *keys;
    int n;
    jwk_skipped skipped[JWKS_MAX_SKIPPED];
    int nskipped;
};

/* A compact JWS split in place (offsets into jwt), its segments decoded. */
typedef struct {
    const char *jwt;
    size_t len, hlen, poff, plen, soff, slen;
    const unsigned char *payload, *sig; /* not read before a signature verified */
    size_t payload_len, sig_len;
    json_t *hdr;
    const alg_info *alg;
    const char *kid;
} jws_parts;

static apr_status_t cleanup_jwk(void *d)
{
    cjose_jwk_release(d);
    return APR_SUCCESS;
}

static apr_status_t cleanup_jws(void *d)
{
    cjose_jws_release(d);
    return APR_SUCCESS;
}

static apr_status_t cleanup_pkey(void *d)
{
    EVP_PKEY_free(d);
    return APR_SUCCESS;
}

static apr_status_t cleanup_json(void *d)
{
    json_decref(d);
    return APR_SUCCESS;
}

static void set_err(const char **err, const char *msg)
{
    if (err)
        *err = msg;
}

/* Attacker-chosen strings go into the error log: keep them short and printable. */
static const char *loggable(apr_pool_t *p, const char *s)
{
    size_t i, n = strnlen(s, 40);
    char *o = apr_palloc(p, n + 4);

    for (i = 0; i < n; i++)
        o[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
    if (s[n])
        memcpy(o + n, "...", 4);
    else
        o[n] = '\0';
    return o;
}

/* crypto.c's strict decoder, with '=' refused: unpadded (RFC 7515 2) and
 * canonical base64url only, unused trailing bits zero, so a token has one
 * spelling, and cjose's decoder, which asserts on some invalid input, only
 * ever sees input that passed here. s[0..n) into pool memory, NUL-terminated;
 * NULL when invalid. */
static unsigned char *b64url_decode(apr_pool_t *p, const char *s, size_t n, size_t *outlen)
{
    size_t len;

    if (memchr(s, '=', n) || memchr(s, '\0', n))
        return NULL;
    return jp_b64url_decode(p, apr_pstrmemdup(p, s, n), outlen ? outlen : &len);
}

/* Parses a JSON object strictly (no duplicate members) and ties it to pool p. */
static json_t *parse_object(apr_pool_t *p, const unsigned char *buf, size_t n)
{
    json_error_t jerr;
    json_t *j = jp_json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);

    if (!j)
        return NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    apr_pool_cleanup_register(p, j, cleanup_json, apr_pool_cleanup_null);
    return j;
}

static const char *opt_string(json_t *obj, const char *name, int *bad)
{
    json_t *v = json_object_get(obj, name);

    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* ---- JWK Set ---------------------------------------------------------- */

/* Hands cjose a copy holding only the public members, each checked first:
 * cjose's base64 decoder aborts the process on some malformed input, and
 * private or extra members are none of its business. */
static cjose_jwk_t *cjose_import_public(apr_pool_t *p, json_t *k, const char *kty)
{
    static const char *const rsa_members[] = {"n", "e", NULL};
    static const char *const ec_members[] = {"crv", "x", "y", NULL};
    const char *const *m = strcmp(kty, "RSA") == 0 ? rsa_members : ec_members;
    json_t *clean = json_pack("{s:s}", "kty", kty);
    cjose_jwk_t *jwk = NULL;
    cjose_err cerr;
    size_t n;
    char *js;

    if (!clean)
        return NULL;
    for (; *m; m++) {
        int bad = 0;
        const char *v = opt_string(k, *m, &bad);
        if (bad || !v || (strcmp(*m, "crv") != 0 && (!*v || !b64url_decode(p, v, strlen(v), NULL))))
            goto done;
        /* a larger public exponent only makes verification slow */
        if (strcmp(*m, "e") == 0 && strlen(v) > RSA_MAX_E_CHARS)
            goto done;
        json_object_set_new(clean, *m, json_string(v));
    }
    n = json_dumpb(clean, NULL, 0, JSON_COMPACT);
    js = apr_palloc(p, n);
    if (n && json_dumpb(clean, js, n, JSON_COMPACT) == n)
        jwk = cjose_jwk_import(js, n, &cerr);
done:
    json_decref(clean);
    return jwk;
}

/* Imports one RSA or EC JWK through cjose; 0 with *why when unusable. */
static int import_cjose_key(apr_pool_t *p, json_t *k, const char *kty, jwk_entry *ent,
                            const char **why)
{
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_import_public(p, k, kty);

    *why = "malformed, or on a curve other than P-256, P-384, P-521";
    if (!jwk) /* secp256k1, malformed or off-curve points */
        return 0;
    switch (cjose_jwk_get_kty(jwk, &cerr)) {
    case CJOSE_JWK_KTY_RSA: {
        size_t bits = cjose_jwk_get_keysize(jwk, &cerr);
        *why = apr_psprintf(p, "an RSA key of %lu bits (%d to %d are used)", (unsigned long)bits,
                            RSA_MIN_BITS, RSA_MAX_BITS);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
            goto unusable;
        ent->type = KT_RSA;
        ent->siglen = (bits + 7) / 8;
        break;
    }
    case CJOSE_JWK_KTY_EC:
        switch (cjose_jwk_EC_get_curve(jwk, &cerr)) {
        case CJOSE_JWK_EC_P_256:
            ent->type = KT_P256;
            break;
        case CJOSE_JWK_EC_P_384:
            ent->type = KT_P384;
            break;
        case CJOSE_JWK_EC_P_521:
            ent->type = KT_P521;
            break;
        default:
            goto unusable;
        }
        break;
    default:
        goto unusable;
    }
    apr_pool_cleanup_register(p, jwk, cleanup_jwk, apr_pool_cleanup_null);
    ent->jwk = jwk;
    return 1;
unusable:
    cjose_jwk_release(jwk);
    return 0;
}

static int import_ed25519(apr_pool_t *p, json_t *k, jwk_entry *ent, const char **why)
{
    int bad = 0;
    const char *crv = opt_string(k, "crv", &bad);
    const char *x = opt_string(k, "x", &bad);
    unsigned char *raw;
    size_t rawlen;
    EVP_PKEY *pk;

    *why = "an OKP key that is malformed or not on Ed25519";
    if (bad || !crv || !x || strcmp(crv, "Ed25519") != 0) /* X25519, Ed448 */
        return 0;
    raw = b64url_decode(p, x, strlen(x), &rawlen);
    if (!raw || rawlen != 32)
        return 0;
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
    if (!pk)
        return 0;
    apr_pool_cleanup_register(p, pk, cleanup_pkey, apr_pool_cleanup_null);
    ent->type = KT_ED25519;
    ent->ed = pk;
    return 1;
}

static int usable_for_sig(json_t *k, const char **why)
{
    json_t *ops = json_object_get(k, "key_ops");
    int bad = 0;
    const char *use = opt_string(k, "use", &bad);

    if (bad || (use && strcmp(use, "sig") != 0)) {
        *why = "its use is not sig";
        return 0;
    }
    if (ops) {
        size_t i;
        json_t *op;
        if (json_is_array(ops))
            json_array_foreach(ops, i, op)
            {
                if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                    return 1;
            }
        *why = "its key_ops lack verify";
        return 0;
    }
    return 1;
}

static void note_skipped(apr_pool_t *p, jp_jwks *ks, const char *kid, const char *why)
{
    if (kid && ks->nskipped < JWKS_MAX_SKIPPED) {
        ks->skipped[ks->nskipped].kid = apr_pstrdup(p, kid);
        ks->skipped[ks->nskipped++].why = why;
    }
}

jp_jwks *jp_jwks_parse(apr_pool_t *p, const char *json, size_t len, const char **err)
{
    jp_jwks *ks;
    json_t *doc, *keys, *k;
    json_error_t jerr;
    size_t i;

    if (!json) {
        set_err(err, "no JWKS document");
        return NULL;
    }
    if (len > JWKS_MAX_BYTES) {
        set_err(err, "JWKS document larger than 256 KiB");
        return NULL;
    }
    /* Not tied to the pool: the set may live long, the parsed document need not. */
    doc = jp_json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        set_err(err, "JWKS is not a JSON object");
        return NULL;
    }
    keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        set_err(err, "JWKS has no \"keys\" array");
        return NULL;
    }

    ks = apr_pcalloc(p, sizeof(*ks));
    ks->keys = apr_pcalloc(p, sizeof(jwk_entry) * JWKS_MAX_KEYS);
    json_array_foreach(keys, i, k)
    {
        jwk_entry ent = {0};
        const char *kty, *why = NULL;
        int bad = 0, ok;

        if (ks->n == JWKS_MAX_KEYS || i == JWKS_MAX_ENTRIES)
            break;
        if (!json_is_object(k))
            continue;
        kty = opt_string(k, "kty", &bad);
        ent.kid = opt_string(k, "kid", &bad);
        ent.alg = opt_string(k, "alg", &bad);
        if (bad || !kty) {
            note_skipped(p, ks, ent.kid, "kty missing, or kty, kid or alg not a string");
            continue;
        }
        if (!usable_for_sig(k, &why)) {
            note_skipped(p, ks, ent.kid, why);
            continue;
        }
        /* Private material has no business in a published set. */
        if (json_object_get(k, "d")) {
            note_skipped(p, ks, ent.kid, "it holds private key material (d)");
            continue;
        }
        if (strcmp(kty, "RSA") == 0 || strcmp(kty, "EC") == 0)
            ok = import_cjose_key(p, k, kty, &ent, &why);
        else if (strcmp(kty, "OKP") == 0)
            ok = import_ed25519(p, k, &ent, &why);
        else {
            ok = 0; /* "oct" never comes from a JWKS: HS* uses the client secret */
            why = "its kty is neither RSA, EC nor OKP";
        }
        if (!ok) {
            note_skipped(p, ks, ent.kid, why);
            continue;
        }
        if (ent.kid)
            ent.kid = apr_pstrdup(p, ent.kid);
        if (ent.alg)
            ent.alg = apr_pstrdup(p, ent.alg);
        ks->keys[ks->n++] = ent;
    }
    json_decref(doc);
    return ks;
}

int jp_jwks_count(const jp_jwks *ks)
{
    return ks ? ks->n : 0;
}

const char *jp_jwks_first_skip(apr_pool_t *p, const jp_jwks *ks)
{
    if (!ks || !ks->nskipped)
        return NULL;
    return apr_psprintf(p, "kid %s: %s", loggable(p, ks->skipped[0].kid), ks->skipped[0].why);
}

/* ---- JWS -------------------------------------------------------------- */

/* Splits and checks the compact form and decodes the header; nothing of the
 * payload is looked at. */
static int split_jws(apr_pool_t *p, const char *jwt, jws_parts *j, const char **err)
{
    const char *d1, *d2;
    size_t dots = 0, i;
    unsigned char *hbuf;
    size_t hlen;

    if (!jwt || !*jwt) {
        set_err(err, "no token");
        return 0;
    }
    j->jwt = jwt;
    j->len = strnlen(jwt, JWT_MAX_BYTES + 1);
    if (j->len > JWT_MAX_BYTES) {
        set_err(err, "token larger than 64 KiB");
        return 0;
    }
    for (i = 0; i < j->len; i++)
        dots += jwt[i] == '.';
    if (dots == 4) {
        set_err(err, "encrypted tokens (JWE) are not supported");
        return 0;
    }
    if (dots != 2) {
        set_err(err, "malformed token: not three segments");
        return 0;
    }
    d1 = strchr(jwt, '.');
    d2 = strchr(d1 + 1, '.');
    j->hlen = d1 - jwt;
    j->poff = j->hlen + 1;
    j->plen = d2 - (d1 + 1);
    j->soff = d2 + 1 - jwt;
    j->slen = j->len - j->soff;
    if (!j->hlen || !j->plen || !j->slen || !(hbuf = b64url_decode(p, jwt, j->hlen, &hlen)) ||
        !(j->payload = b64url_decode(p, jwt + j->poff, j->plen, &j->payload_len)) ||
        !(j->sig = b64url_decode(p, jwt + j->soff, j->slen, &j->sig_len))) {
        set_err(err, "malformed token: bad base64url segment");
        return 0;
    }
    if (!(j->hdr = parse_object(p, hbuf, hlen))) {
        set_err(err, "malformed token: header is not a JSON object");
        return 0;
    }
    return 1;
}

static const alg_info *find_alg(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++)
        if (strcmp(alg_table[i].name, name) == 0)
            return &alg_table[i];
    return NULL;
}

static int alg_listed(const alg_info *a, const jp_tok_expect *e)
{
    const char *const *l;

    if (!e->algs)
        return a->type != KT_SECRET;
    for (l = e->algs; *l; l++)
        if (strcmp(*l, a->name) == 0)
            return 1;
    return 0;
}

/* NULL when alg a may be used under e, else why not. An HMAC key shorter
 * than the hash output is refused (RFC 7518 3.2): a short client secret is
 * guessable offline from any token MACed with it. */
static const char *alg_refusal(apr_pool_t *p, const alg_info *a, const jp_tok_expect *e)
{
    if (a->type == KT_SECRET) {
        size_t n = e->client_secret ? strlen(e->client_secret) : 0;
        if (!n)
            return apr_psprintf(p,
                                "token alg \"%s\" needs the client secret as key, and there is "
                                "none",
                                a->name);
        if (n < a->siglen)
            return apr_psprintf(p,
                                "token alg \"%s\" refused: the client secret has %lu bytes, "
                                "RFC 7518 3.2 wants at least %lu for it",
                                a->name, (unsigned long)n, (unsigned long)a->siglen);
        if (!alg_listed(a, e))
            return apr_psprintf(p,
                                "token alg \"%s\" refused: HS* only when the IdP's discovery "
                                "document lists it for this token",
                                a->name);
        return NULL;
    }
    return alg_listed(a, e) ? NULL : apr_psprintf(p, "token alg \"%s\" not allowed", a->name);
}

static int typ_ok(const char *typ, int logout)
{
    if (!typ || strcasecmp(typ, "JWT") == 0)
        return 1;
    if (logout)
        return strcasecmp(typ, "logout+jwt") == 0 || strcasecmp(typ, "application/logout+jwt") == 0;
    return strcasecmp(typ, "JWS") == 0;
}

/* Checks the header: alg allowed, no crit, acceptable typ, kid a string. */
static int check_header(apr_pool_t *p, jws_parts *j, const jp_tok_expect *e, int logout,
                        const char **err)
{
    int bad = 0;
    const char *alg = opt_string(j->hdr, "alg", &bad);
    const char *typ = opt_string(j->hdr, "typ", &bad);
    const char *why;

    j->kid = opt_string(j->hdr, "kid", &bad);
    if (bad || !alg) {
        set_err(err, "token header: alg missing or alg/typ/kid not a string");
        return 0;
    }
    j->alg = find_alg(alg);
    if (!j->alg) {
        set_err(err, apr_psprintf(p, "token alg \"%s\" not allowed", loggable(p, alg)));
        return 0;
    }
    if ((why = alg_refusal(p, j->alg, e)) != NULL) {
        set_err(err, why);
        return 0;
    }
    if (json_object_get(j->hdr, "crit")) {
        set_err(err, "token header has crit: no extensions are supported");
        return 0;
    }
    if (!typ_ok(typ, logout)) {
        set_err(err, apr_psprintf(p, "token typ \"%s\" not acceptable", loggable(p, typ)));
        return 0;
    }
    return 1;
}

static int verify_ed25519(const jws_parts *j, EVP_PKEY *pk)
{
    EVP_MD_CTX *ctx;
    int ok = 0;

    if (j->sig_len != 64)
        return 0;
    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return 0;
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
        EVP_DigestVerify(ctx, j->sig, j->sig_len, (const unsigned char *)j->jwt, j->soff - 1) == 1)
        ok = 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* cjose parses the token again; done once, lazily, for RS/PS/ES/HS. */
static cjose_jws_t *cjose_parsed(apr_pool_t *p, const jws_parts *j, cjose_jws_t **cache)
{
    cjose_err cerr;

    if (!*cache) {
        *cache = cjose_jws_import(j->jwt, j->len, &cerr);
        if (*cache)
            apr_pool_cleanup_register(p, *cache, cleanup_jws, apr_pool_cleanup_null);
    }
    return *cache;
}

static jp_tok_rc verify_secret(apr_pool_t *p, const jws_parts *j, const jp_tok_expect *e,
                               const char **err)
{
    cjose_err cerr;
    cjose_jwk_t *jwk;
    cjose_jws_t *jws = NULL;
    int ok;

    /* cjose's HMAC compare reads dig_len bytes of the signature unchecked. */
    if (j->sig_len != j->alg->siglen) {
        set_err(err, "token signature has the wrong length");
        return JP_TOK_BAD;
    }
    if (!cjose_parsed(p, j, &jws)) {
        set_err(err, "malformed token: rejected by the JWS parser");
        return JP_TOK_BAD;
    }
    jwk = cjose_jwk_create_oct_spec((const uint8_t *)e->client_secret, strlen(e->client_secret),
                                    &cerr);
    if (!jwk) {
        set_err(err, "cannot build the HMAC key");
        return JP_TOK_BAD;
    }
    ok = cjose_jws_verify(jws, jwk, &cerr);
    cjose_jwk_release(jwk);
    if (!ok) {
        set_err(err, "token signature does not verify");
        return JP_TOK_BAD;
    }
    return JP_TOK_OK;
}

static jp_tok_rc verify_signature(apr_pool_t *p, const jws_parts *j, const jp_jwks *ks,
                                  const jp_tok_expect *e, const char **err)
{
    cjose_jws_t *jws = NULL;
    size_t siglen = j->sig_len;
    int i, kid_seen = 0, candidates = 0;

    if (j->alg->type == KT_SECRET)
        return verify_secret(p, j, e, err);
    if (j->alg->siglen && siglen != j->alg->siglen) {
        set_err(err, "token signature has the wrong length");
        return JP_TOK_BAD;
    }
    for (i = 0; ks && i < ks->n; i++) {
        const jwk_entry *k = &ks->keys[i];
        cjose_err cerr;

        if (j->kid && (!k->kid || strcmp(k->kid, j->kid) != 0))
            continue;
        kid_seen = 1;
        if (k->type != j->alg->type || (k->alg && strcmp(k->alg, j->alg->name) != 0))
            continue;
        candidates++;
        if (k->type == KT_ED25519) {
            if (verify_ed25519(j, k->ed))
                return JP_TOK_OK;
            continue;
        }
        if (k->type == KT_RSA && siglen != k->siglen)
            continue;
        if (!cjose_parsed(p, j, &jws)) {
            set_err(err, "malformed token: rejected by the JWS parser");
            return JP_TOK_BAD;
        }
        if (cjose_jws_verify(jws, k->jwk, &cerr))
            return JP_TOK_OK;
    }
    if (j->kid && !kid_seen) {
        for (i = 0; ks && i < ks->nskipped; i++)
            if (strcmp(ks->skipped[i].kid, j->kid) == 0) {
                set_err(err, apr_psprintf(p, "the JWKS key with kid \"%s\" is not used: %s",
                                          loggable(p, j->kid), ks->skipped[i].why));
                return JP_TOK_UNKNOWN_KID;
            }
        set_err(err, apr_psprintf(p, "no key with kid \"%s\" in the JWKS", loggable(p, j->kid)));
        return JP_TOK_UNKNOWN_KID;
    }
    /* OIDC Core 10.1: an IdP with one key may leave kid out; when it rotates
     * that key nothing but a failed check tells, so the caller may refetch
     * the set as for an unknown kid. A token naming a known kid does not. */
    if (!j->kid) {
        set_err(err, candidates ? "token signature does not verify with any key in the JWKS "
                                  "(the token names no kid)"
                                : "no key in the JWKS matches the token alg (the token names "
                                  "no kid)");
        return JP_TOK_UNKNOWN_KID;
    }
    set_err(err, candidates ? "token signature does not verify"
                            : "no key in the JWKS matches the token alg");
    return JP_TOK_BAD;
}

/* Header checks, signature, and only then the payload as a JSON object. */
static jp_tok_rc verified_payload(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                                  const jp_tok_expect *e, int logout, json_t **out,
                                  const alg_info **alg, const char **err)
{
    jws_parts j = {0};
    jp_tok_rc rc;

    if (!e || !e->issuer || !e->client_id) {
        set_err(err, "validation expectations incomplete");
        return JP_TOK_BAD;
    }
    if (!split_jws(p, jwt, &j, err) || !check_header(p, &j, e, logout, err))
        return JP_TOK_BAD;
    rc = verify_signature(p, &j, ks, e, err);
    if (rc != JP_TOK_OK)
        return rc;
    if (!(*out = parse_object(p, j.payload, j.payload_len))) {
        set_err(err, "token payload is not a JSON object");
        return JP_TOK_BAD;
    }
    if (alg)
        *alg = j.alg;
    return JP_TOK_OK;
}

/* OIDC Core 3.1.3.8 and 3.2.2.9: at_hash is the left half of the access
 * token's hash, by the hash of the ID token's alg (Ed25519: SHA-512, as the
 * OpenID Foundation's errata say), in base64url. The code flow makes the
 * check a MAY; an access token that is not the ID token's is the IdP's
 * answer tampered with or mixed up, and it would go to userinfo and the
 * backend as this user's. */
static int at_hash_ok(apr_pool_t *p, json_t *c, const alg_info *a, const char *at, const char **err)
{
    json_t *v = json_object_get(c, "at_hash");
    const char *n;
    const EVP_MD *md;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;

    if (!v || !at)
        return 1;
    /* The digits of RS256, ES384, HS512...; EdDSA (Ed25519) is SHA-512. */
    n = a->name + strlen(a->name) - 3;
    md = !strcmp(n, "256") ? EVP_sha256() : !strcmp(n, "384") ? EVP_sha384() : EVP_sha512();
    if (!json_is_string(v) || json_string_length(v) > 2 * EVP_MAX_MD_SIZE) {
        set_err(err, "token at_hash is not a string, or longer than any hash");
        return 0;
    }
    if (!EVP_Digest(at, strlen(at), h, &hl, md, NULL)) {
        set_err(err, "cannot hash the access token for at_hash");
        return 0;
    }
    if (strcmp(jp_b64url_encode(p, h, hl / 2), json_string_value(v))) {
        set_err(err, "token at_hash does not match the access token the token endpoint "
                     "returned with it");
        return 0;
    }
    return 1;
}

/* ---- claims ----------------------------------------------------------- */

/* 1 with *v set when present as a number, 0 when absent, -1 when not a number. */
static int time_claim(json_t *c, const char *name, double *v)
{
    json_t *t = json_object_get(c, name);

    if (!t)
        return 0;
    if (!json_is_number(t))
        return -1;
    *v = json_number_value(t);
    return 1;
}

static int nonempty_string(json_t *c, const char *name, size_t max)
{
    json_t *v = json_object_get(c, name);
    size_t n;

    if (!json_is_string(v))
        return 0;
    n = json_string_length(v);
    return n > 0 && n <= max;
}

/* OIDC Core 3.1.3.7 step 3: an audience the client does not trust makes the
 * token someone else's too; only JITProvTrustedAudience's list is. */
static int aud_trusted(const char *a, const jp_tok_expect *e)
{
    const char *const *t;
    if (!strcmp(a, e->client_id))
        return 1;
    for (t = e->trusted_aud; t && *t; t++)
        if (!strcmp(a, *t))
            return 1;
    return 0;
}

/* iss, aud, azp: the token was issued by our provider, to us. */
static int check_audience(json_t *c, const jp_tok_expect *e, int logout, const char **err)
{
    json_t *iss = json_object_get(c, "iss");
    json_t *aud = json_object_get(c, "aud");
    json_t *azp = json_object_get(c, "azp");
    int found = 0, naud = 0;

    if (!json_is_string(iss) || strcmp(json_string_value(iss), e->issuer) != 0) {
        set_err(err, "token iss does not match the issuer");
        return 0;
    }
    if (json_is_string(aud)) {
        naud = 1;
        found = strcmp(json_string_value(aud), e->client_id) == 0;
    } else if (json_is_array(aud)) {
        size_t i;
        json_t *a;
        json_array_foreach(aud, i, a)
        {
            if (!json_is_string(a)) {
                set_err(err, "token aud has a non-string member");
                return 0;
            }
            naud++;
            found |= strcmp(json_string_value(a), e->client_id) == 0;
            /* Logout tokens too: BCL 2.6 has aud checked "in the same way" as
             * an ID token's. */
            if (!aud_trusted(json_string_value(a), e)) {
                set_err(err, "token aud names an audience that is not trusted "
                             "(JITProvTrustedAudience)");
                return 0;
            }
        }
    }
    if (!found) {
        set_err(err, "token aud does not contain the client_id");
        return 0;
    }
    if (azp && (!json_is_string(azp) || strcmp(json_string_value(azp), e->client_id) != 0)) {
        set_err(err, "token azp is not the client_id");
        return 0;
    }
    /* BCL defines no azp: a logout token may name several audiences without one. */
    if (naud > 1 && !azp && !logout) {
        set_err(err, "token has several audiences and no azp");
        return 0;
    }
    return 1;
}

/* exp (required: ID tokens, and logout tokens since the Back-Channel Logout 1.0
 * errata), iat (required), nbf, all with e->skew of slack. */
static int check_times(json_t *c, const jp_tok_expect *e, int logout, const char **err)
{
    double now = (double)e->now, skew = e->skew > 0 ? e->skew : 0, exp = 0, iat = 0, nbf = 0;
    int has;

    (void)logout;
    has = time_claim(c, "exp", &exp);
    if (has != 1) {
        set_err(err, "token exp missing or not a number");
        return 0;
    }
    if (has && !(now < exp + skew)) {
        set_err(err, "token expired");
        return 0;
    }
    if (time_claim(c, "iat", &iat) != 1) {
        set_err(err, "token iat missing or not a number");
        return 0;
    }
    if (iat > now + skew) {
        set_err(err, "token iat is in the future");
        return 0;
    }
    if (e->max_iat_age > 0 && iat < now - e->max_iat_age - skew) {
        set_err(err, "token iat is too old");
        return 0;
    }
    has = time_claim(c, "nbf", &nbf);
    if (has < 0) {
        set_err(err, "token nbf not a number");
        return 0;
    }
    if (has && now < nbf - skew) {
        set_err(err, "token not valid yet (nbf)");
        return 0;
    }
    return 1;
}

/* max_age asks the IdP for a sign-in at most that old: auth_time is then
 * REQUIRED (OIDC Core 2) and the client checks it (3.1.3.7 step 13), since an
 * IdP may ignore the parameter and hand back an old session. */
static int auth_time_fresh(json_t *c, const jp_tok_expect *e, const char **err)
{
    double at, now = (double)e->now, skew = e->skew > 0 ? (double)e->skew : 0.0;
    if (time_claim(c, "auth_time", &at) != 1) {
        set_err(err, "token auth_time missing or not a number (max_age was requested)");
        return 0;
    }
    if (at > now + skew) {
        set_err(err, "token auth_time is in the future");
        return 0;
    }
    if (now - at > (double)e->max_age + skew) {
        set_err(err, "the sign-in (auth_time) is older than the requested max_age");
        return 0;
    }
    return 1;
}

static int nonce_matches(json_t *c, const char *want)
{
    json_t *v = json_object_get(c, "nonce");
    size_t n = strlen(want);

    if (!json_is_string(v) || json_string_length(v) != n || n == 0)
        return 0;
    return CRYPTO_memcmp(json_string_value(v), want, n) == 0;
}

static json_t *bcl_event(json_t *c)
{
    json_t *ev = json_object_get(c, "events");

    return json_is_object(ev) ? json_object_get(ev, BCL_EVENT) : NULL;
}

jp_tok_rc jp_idtoken_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                              const jp_tok_expect *e, json_t **claims, const char **err)
{
    json_t *c = NULL;
    const alg_info *alg = NULL;
    jp_tok_rc rc;

    if (claims)
        *claims = NULL;
    rc = verified_payload(p, jwt, ks, e, 0, &c, &alg, err);
    if (rc != JP_TOK_OK)
        return rc;
    if (!check_audience(c, e, 0, err) || !check_times(c, e, 0, err) ||
        !at_hash_ok(p, c, alg, e->access_token, err))
        return JP_TOK_BAD;
    if (e->nonce && !nonce_matches(c, e->nonce)) {
        set_err(err, "token nonce missing or does not match");
        return JP_TOK_BAD;
    }
    if (e->max_age_sent && !auth_time_fresh(c, e, err))
        return JP_TOK_BAD;
    if (!nonempty_string(c, "sub", SUB_MAX_LEN)) {
        set_err(err, "token sub missing, empty or too long");
        return JP_TOK_BAD;
    }
    /* A logout token must never pass as a login. */
    if (bcl_event(c)) {
        set_err(err, "a logout token is not an ID token");
        return JP_TOK_BAD;
    }
    if (claims)
        *claims = c;
    return JP_TOK_OK;
}

jp_tok_rc jp_logout_token_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                                   const jp_tok_expect *e, json_t **claims, const char **err)
{
    json_t *c = NULL;
    jp_tok_rc rc;
    int has_sub, has_sid;

    if (claims)
        *claims = NULL;
    rc = verified_payload(p, jwt, ks, e, 1, &c, NULL, err);
    if (rc != JP_TOK_OK)
        return rc;
    if (!check_audience(c, e, 1, err) || !check_times(c, e, 1, err))
        return JP_TOK_BAD;
    if (!json_is_object(bcl_event(c))) {
        set_err(err, "logout token lacks the back-channel logout event");
        return JP_TOK_BAD;
    }
    if (json_object_get(c, "nonce")) {
        set_err(err, "logout token must not carry a nonce");
        return JP_TOK_BAD;
    }
    has_sub = json_object_get(c, "sub") != NULL;
    has_sid = json_object_get(c, "sid") != NULL;
    if ((!has_sub && !has_sid) || (has_sub && !nonempty_string(c, "sub", SUB_MAX_LEN)) ||
        (has_sid && !nonempty_string(c, "sid", JWT_MAX_BYTES))) {
        set_err(err, "logout token needs a non-empty sub or sid");
        return JP_TOK_BAD;
    }
    if (!nonempty_string(c, "jti", JWT_MAX_BYTES)) {
        set_err(err, "logout token jti missing");
        return JP_TOK_BAD;
    }
    if (claims)
        *claims = c;
    return JP_TOK_OK;
}

/* Userinfo carries no iat/exp obligation (OIDC Core 5.3.2); those present are
 * still honoured. */
static int check_optional_times(json_t *c, const jp_tok_expect *e, const char **err)
{
    double now = (double)e->now, skew = e->skew > 0 ? e->skew : 0, v = 0;
    int has = time_claim(c, "exp", &v);

    if (has < 0 || (has && !(now < v + skew))) {
        set_err(err, has < 0 ? "token exp not a number" : "token expired");
        return 0;
    }
    has = time_claim(c, "nbf", &v);
    if (has < 0 || (has && now < v - skew)) {
        set_err(err, has < 0 ? "token nbf not a number" : "token not valid yet (nbf)");
        return 0;
    }
    return 1;
}

static size_t count_dots(const char *s)
{
    size_t n = 0;

    for (; s && *s; s++)
        n += *s == '.';
    return n;
}

/* OIDC Core 5.3.2: signed userinfo SHOULD carry iss and aud; some IdPs
 * (LemonLDAP::NG) leave both out. The provider's key already vouches for the
 * issuer, so an absent one is taken as ours, but one that is present must be
 * right, with the ID token's rules. */
static int userinfo_audience(json_t *c, const jp_tok_expect *e, const char **err)
{
    json_t *iss = json_object_get(c, "iss"), *aud = json_object_get(c, "aud");
    json_t *t = json_object();
    int ok;

    if (!t) {
        set_err(err, "out of memory");
        return 0;
    }
    json_object_set_new(t, "iss", iss ? json_incref(iss) : json_string(e->issuer));
    json_object_set_new(t, "aud", aud ? json_incref(aud) : json_string(e->client_id));
    if (json_object_get(c, "azp"))
        json_object_set(t, "azp", json_object_get(c, "azp"));
    ok = check_audience(t, e, 0, err);
    json_decref(t);
    return ok;
}

jp_tok_rc jp_userinfo_jwt_validate(apr_pool_t *p, const char *jwt, const jp_jwks *ks,
                                   const jp_tok_expect *e, json_t **claims, const char **err)
{
    json_t *c = NULL, *sub;
    jp_tok_rc rc;

    if (claims)
        *claims = NULL;
    if (jwt && strnlen(jwt, JWT_MAX_BYTES + 1) <= JWT_MAX_BYTES && count_dots(jwt) == 4) {
        set_err(err, "userinfo is encrypted (JWE), which is not supported: register the client "
                     "without userinfo_encrypted_response_alg");
        return JP_TOK_BAD;
    }
    if (!e || !e->sub) {
        set_err(err, "validation expectations incomplete");
        return JP_TOK_BAD;
    }
    rc = verified_payload(p, jwt, ks, e, 0, &c, NULL, err);
    if (rc != JP_TOK_OK)
        return rc;
    if (!userinfo_audience(c, e, err) || !check_optional_times(c, e, err))
        return JP_TOK_BAD;
    sub = json_object_get(c, "sub");
    if (!json_is_string(sub) || strcmp(json_string_value(sub), e->sub) != 0) {
        set_err(err, "signed userinfo sub is missing or not the ID token's sub");
        return JP_TOK_BAD;
    }
    if (bcl_event(c)) {
        set_err(err, "a logout token is not a userinfo response");
        return JP_TOK_BAD;
    }
    if (claims)
        *claims = c;
    return JP_TOK_OK;
}

const char *jp_jwt_peek_kid(apr_pool_t *p, const char *jwt)
{
    jws_parts j = {0};
    int bad = 0;
    const char *kid;

    if (!split_jws(p, jwt, &j, NULL))
        return NULL;
    kid = opt_string(j.hdr, "kid", &bad);
    return kid && !bad ? apr_pstrdup(p, kid) : NULL;
}
