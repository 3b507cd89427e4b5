/* Header name folding, token checks, value encodings and env names. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_base64.h>

#include "headers.h"
#include "jtest.h"

static int has_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return 1;
    }
    return 0;
}

static int all_b64url(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* Reverses PERCENT: every byte survives the round trip. */
static size_t pct_decode(const char *s, unsigned char *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '%') {
            unsigned int v;
            sscanf(s + 1, "%2X", &v);
            out[n++] = (unsigned char)v;
            s += 2;
        } else {
            out[n++] = (unsigned char)*s;
        }
    }
    return n;
}

/* Reverses BASE64URL through apr's standard decoder. */
static size_t b64url_decode(apr_pool_t *p, const char *s, unsigned char *out)
{
    size_t n = strlen(s), i;
    char *t = apr_palloc(p, n + 4);
    for (i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (i % 4)
        t[i++] = '=';
    t[i] = '\0';
    return (size_t)apr_base64_decode_binary(out, t);
}

static void test_names(void)
{
    CHECK(jp_hdr_name_eq("X-User_Email", "x-user-email"));
    CHECK(jp_hdr_name_eq("x_user_email", "X-USER-EMAIL"));
    CHECK(!jp_hdr_name_eq("X-User-Email", "X-User-Emai"));
    CHECK(!jp_hdr_name_eq("X-User-Emai", "X-User-Email"));
    CHECK(!jp_hdr_name_eq("X-User.Email", "X-User-Email"));
    CHECK(!jp_hdr_name_eq(NULL, "x"));
    CHECK(!jp_hdr_name_eq("x", NULL));
    CHECK(jp_hdr_name_eq("", ""));
    /* Non-ASCII bytes are compared exactly, never case-folded. */
    CHECK(!jp_hdr_name_eq("X-\xc3\xa9", "X-\xc3\x89"));

    CHECK(jp_hdr_name_has_prefix("OIDC_CLAIM_email", "OIDC-Claim-"));
    CHECK(jp_hdr_name_has_prefix("oidc-claim-", "OIDC_CLAIM_"));
    CHECK(jp_hdr_name_has_prefix("X-Remote-User", "x_remote_user"));
    CHECK(!jp_hdr_name_has_prefix("OIDC", "OIDC-Claim-"));
    CHECK(!jp_hdr_name_has_prefix("X-Other", "OIDC-"));
    CHECK(!jp_hdr_name_has_prefix("anything", ""));
    CHECK(!jp_hdr_name_has_prefix("anything", NULL));
    CHECK(!jp_hdr_name_has_prefix(NULL, "x"));

    CHECK(jp_hdr_name_valid("X-User-Email"));
    CHECK(jp_hdr_name_valid("x_user!#$%&'*+.^`|~09"));
    CHECK(!jp_hdr_name_valid(""));
    CHECK(!jp_hdr_name_valid(NULL));
    CHECK(!jp_hdr_name_valid("X User"));
    CHECK(!jp_hdr_name_valid("X-User:"));
    CHECK(!jp_hdr_name_valid("X-User\r\nX-Admin"));
    CHECK(!jp_hdr_name_valid("X-\xc3\xa9"));
    CHECK(!jp_hdr_name_valid("X(User)"));
    CHECK(!jp_hdr_name_valid("X\"User"));
    CHECK(!jp_hdr_name_valid("X\x7f"));
}

/* Every byte 1..255 (a C string cannot hold 0) through each encoding. */
static void test_every_byte(apr_pool_t *p)
{
    char all[256];
    unsigned char dec[1024];
    const char *v;
    size_t n;
    int i, ok;

    for (i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';

    /* NONE: controls dropped, every other byte kept in order. JP_MULTI_SEP is
     * a control byte and, with an empty delimiter, joins to nothing. */
    v = jp_hdr_value(p, all, "", JP_ENC_NONE);
    CHECK(v && !has_ctl(v));
    CHECK(v && strlen(v) == 255 - 31 - 1);
    ok = v != NULL;
    for (i = 0x20; v && i < 256; i++) {
        if (i == 0x7f)
            continue;
        if ((unsigned char)*v++ != i)
            ok = 0;
    }
    CHECK(ok);

    /* PERCENT: no control byte, only visible ASCII and space, and decoding
     * gives back the joined bytes exactly. */
    v = jp_hdr_value(p, all, "", JP_ENC_PERCENT);
    CHECK(v && !has_ctl(v));
    ok = v != NULL;
    for (i = 0; v && v[i]; i++) {
        if ((unsigned char)v[i] > 0x7e)
            ok = 0;
    }
    CHECK(ok);
    n = v ? pct_decode(v, dec) : 0;
    CHECK(n == 254); /* 255 bytes minus the separator */
    CHECK(n == 254 && memcmp(dec, all, 0x1e) == 0 &&
          memcmp(dec + 0x1e, all + 0x1f, 254 - 0x1e) == 0);

    /* BASE64URL: alphabet only, no padding, decodes to the joined bytes. */
    v = jp_hdr_value(p, all, "", JP_ENC_BASE64URL);
    CHECK(v && !has_ctl(v) && all_b64url(v));
    CHECK(v && strchr(v, '=') == NULL);
    n = v ? b64url_decode(p, v, dec) : 0;
    CHECK(n == 254 && memcmp(dec, all, 0x1e) == 0 &&
          memcmp(dec + 0x1e, all + 0x1f, 254 - 0x1e) == 0);

    /* Each byte alone, with a separator and a delimiter around it. */
    ok = 1;
    for (i = 1; i < 256; i++) {
        char one[4] = {(char)i, JP_MULTI_SEP, 'x', 0};
        const char *a = jp_hdr_value(p, one, ", ", JP_ENC_NONE);
        const char *b = jp_hdr_value(p, one, ", ", JP_ENC_PERCENT);
        const char *c = jp_hdr_value(p, one, ", ", JP_ENC_BASE64URL);
        if (!a || !b || !c || has_ctl(a) || has_ctl(b) || has_ctl(c) || !all_b64url(c))
            ok = 0;
        if (b && i != '%' && i >= 0x20 && i <= 0x7e && i != JP_MULTI_SEP && b[0] != i)
            ok = 0;
    }
    CHECK(ok);

    /* A delimiter with control bytes (config should refuse it) still cannot
     * put one into the output. */
    v = jp_hdr_value(p,
                     "a\x1f"
                     "b",
                     "\r\n", JP_ENC_NONE);
    CHECK_STR(v, "ab");
    v = jp_hdr_value(p,
                     "a\x1f"
                     "b",
                     ";\r\n", JP_ENC_PERCENT);
    CHECK_STR(v, "a;%0D%0Ab");
    v = jp_hdr_value(p,
                     "a\x1f"
                     "b",
                     "%", JP_ENC_PERCENT);
    CHECK_STR(v, "a%25b");
}

static void test_values(apr_pool_t *p)
{
    const char *zoe = "Zo\xc3\xab";

    CHECK_STR(jp_hdr_value(p, zoe, ", ", JP_ENC_NONE), "Zo\xc3\xab");
    CHECK_STR(jp_hdr_value(p, zoe, ", ", JP_ENC_PERCENT), "Zo%C3%AB");
    CHECK_STR(jp_hdr_value(p, zoe, ", ", JP_ENC_BASE64URL), "Wm_Dqw");

    CHECK_STR(jp_hdr_value(p,
                           "admins\x1f"
                           "staff\x1f"
                           "r&d",
                           ", ", JP_ENC_NONE),
              "admins, staff, r&d");
    CHECK_STR(jp_hdr_value(p,
                           "admins\x1f"
                           "staff",
                           ", ", JP_ENC_PERCENT),
              "admins, staff");
    /* base64url of "admins, staff" */
    CHECK_STR(jp_hdr_value(p,
                           "admins\x1f"
                           "staff",
                           ", ", JP_ENC_BASE64URL),
              "YWRtaW5zLCBzdGFmZg");
    CHECK_STR(jp_hdr_value(p,
                           "a\x1f\x1f"
                           "b",
                           "|", JP_ENC_NONE),
              "a||b");
    CHECK_STR(jp_hdr_value(p, "\x1f", ",", JP_ENC_NONE), ",");
    CHECK_STR(jp_hdr_value(p,
                           "a\x1f"
                           "b",
                           NULL, JP_ENC_NONE),
              "ab");

    CHECK_STR(jp_hdr_value(p, "100% sure", ", ", JP_ENC_PERCENT), "100%25 sure");
    CHECK_STR(jp_hdr_value(p, "evil\r\nX-Admin: 1", ", ", JP_ENC_NONE), "evilX-Admin: 1");
    CHECK_STR(jp_hdr_value(p, "evil\r\nX-Admin: 1", ", ", JP_ENC_PERCENT), "evil%0D%0AX-Admin: 1");
    CHECK_STR(jp_hdr_value(p, "tab\there\x7f", ", ", JP_ENC_NONE), "tabhere");

    CHECK_STR(jp_hdr_value(p, "", ", ", JP_ENC_NONE), "");
    CHECK_STR(jp_hdr_value(p, "", ", ", JP_ENC_PERCENT), "");
    CHECK_STR(jp_hdr_value(p, "", ", ", JP_ENC_BASE64URL), "");
    CHECK_STR(jp_hdr_value(p, NULL, ", ", JP_ENC_NONE), "");
    /* The three base64 tail lengths, none padded. */
    CHECK_STR(jp_hdr_value(p, "f", "", JP_ENC_BASE64URL), "Zg");
    CHECK_STR(jp_hdr_value(p, "fo", "", JP_ENC_BASE64URL), "Zm8");
    CHECK_STR(jp_hdr_value(p, "foo", "", JP_ENC_BASE64URL), "Zm9v");
    CHECK_STR(jp_hdr_value(p, "\xfb\xff", "", JP_ENC_BASE64URL), "-_8");
    CHECK(jp_hdr_value(p, "x", ", ", (jp_encoding)42) == NULL);
}

static void test_env(apr_pool_t *p)
{
    CHECK_STR(jp_env_name(p, "OIDC_CLAIM_", "email"), "OIDC_CLAIM_EMAIL");
    CHECK_STR(jp_env_name(p, "JP_", "address.country"), "JP_ADDRESS_COUNTRY");
    CHECK_STR(jp_env_name(p, "JP_", "https://ex.com/roles"), "JP_HTTPS___EX_COM_ROLES");
    CHECK_STR(jp_env_name(p, "JP_", "Zo\xc3\xab-x_1"), "JP_ZO___X_1");
    CHECK_STR(jp_env_name(p, "my-", "a\nb"), "my_A_B");
    CHECK_STR(jp_env_name(p, NULL, "sub"), "SUB");
    CHECK_STR(jp_env_name(p, "P_", ""), "P_");
}

/* Issue 9: one group "staff,admins" and the two groups "staff", "admins"
 * must never render the same, whatever the encoding. */
static void test_claim_unambiguous(apr_pool_t *p)
{
    const char *one = "staff,admins", *two = "staff\x1f"
                                             "admins";
    int e;

    for (e = JP_ENC_NONE; e <= JP_ENC_BASE64URL; e++) {
        const char *a = jp_hdr_claim_value(p, one, ",", (jp_encoding)e);
        const char *b = jp_hdr_claim_value(p, two, ",", (jp_encoding)e);
        CHECK(b != NULL);
        CHECK(!a || !b || strcmp(a, b) != 0);
    }
    /* none: the ambiguous value is refused, plain ones pass as before */
    CHECK(jp_hdr_claim_value(p, one, ",", JP_ENC_NONE) == NULL);
    CHECK_STR(jp_hdr_claim_value(p, two, ",", JP_ENC_NONE), "staff,admins");
    CHECK_STR(jp_hdr_claim_value(p, "Doe, John", "|", JP_ENC_NONE), "Doe, John");
    CHECK(jp_hdr_claim_value(p, "Doe, John", ",", JP_ENC_NONE) == NULL);
    CHECK(jp_hdr_claim_value(p,
                             "a\x1f"
                             "b|\x01|c",
                             "||", JP_ENC_NONE) == NULL);
    CHECK_STR(jp_hdr_claim_value(p,
                                 "a\x1f"
                                 "b",
                                 "", JP_ENC_NONE) == NULL
                  ? "null"
                  : "x",
              "null");
    CHECK_STR(jp_hdr_claim_value(p, "solo", "", JP_ENC_NONE), "solo");
    /* "a|" "||" "b" would read as "a", "|b" */
    CHECK(jp_hdr_claim_value(p,
                             "a|\x1f"
                             "b",
                             "||", JP_ENC_NONE) == NULL);
    CHECK_STR(jp_hdr_claim_value(p, "a\x1f|b", "||", JP_ENC_NONE), "a|||b");
    CHECK_STR(jp_hdr_claim_value(p,
                                 "a,\x1f"
                                 "b",
                                 ", ", JP_ENC_NONE),
              "a,, b");
    /* percent: the delimiter is escaped inside elements only */
    CHECK_STR(jp_hdr_claim_value(p, one, ",", JP_ENC_PERCENT), "staff%2Cadmins");
    CHECK_STR(jp_hdr_claim_value(p, two, ",", JP_ENC_PERCENT), "staff,admins");
    CHECK_STR(jp_hdr_claim_value(p,
                                 "a|b\x1f"
                                 "c",
                                 " | ", JP_ENC_PERCENT),
              "a%7Cb | c");
    CHECK_STR(jp_hdr_claim_value(p, "Zo\xc3\xab", ",", JP_ENC_PERCENT), "Zo%C3%AB");
    CHECK_STR(jp_hdr_claim_value(p, "100%", ",", JP_ENC_PERCENT), "100%25");
    CHECK(jp_hdr_claim_value(p, two, "%", JP_ENC_PERCENT) == NULL);
    CHECK(jp_hdr_claim_value(p, two, "\xe2\x80\xa2", JP_ENC_PERCENT) == NULL);
    /* base64url: every element on its own; a single value as before */
    CHECK_STR(jp_hdr_claim_value(p, one, ",", JP_ENC_BASE64URL), "c3RhZmYsYWRtaW5z");
    CHECK_STR(jp_hdr_claim_value(p, one, ",", JP_ENC_BASE64URL),
              jp_hdr_value(p, one, ",", JP_ENC_BASE64URL));
    CHECK_STR(jp_hdr_claim_value(p, two, ",", JP_ENC_BASE64URL), "c3RhZmY,YWRtaW5z");
    CHECK_STR(jp_hdr_claim_value(p,
                                 "a\x1f\x1f"
                                 "b",
                                 ",", JP_ENC_BASE64URL),
              "YQ,,Yg");
    CHECK(jp_hdr_claim_value(p, two, "-", JP_ENC_BASE64URL) == NULL);
    CHECK(jp_hdr_claim_value(p, two, "", JP_ENC_BASE64URL) == NULL);
    CHECK_STR(jp_hdr_claim_value(p, NULL, ",", JP_ENC_BASE64URL), "");
    CHECK(jp_hdr_claim_value(p, "x", ",", (jp_encoding)7) == NULL);
}

/* The word-at-a-time scans: an unsafe byte or the delimiter at any position
 * of a long value (every offset within and across 8-byte words) is seen. */
static void test_every_position(apr_pool_t *p)
{
    static const char bad[] = {'\x01', '\x1f', '\x7f', ','};
    char v[40];
    size_t pos, b;
    int ok = 1;

    for (b = 0; b < sizeof(bad); b++) {
        for (pos = 0; pos < 39; pos++) {
            const char *none, *pct, *cn;
            memset(v, 'a', 39);
            v[39] = '\0';
            v[pos] = bad[b];
            none = jp_hdr_value(p, v, ",", JP_ENC_NONE);
            pct = jp_hdr_value(p, v, ",", JP_ENC_PERCENT);
            cn = jp_hdr_claim_value(p, v, ",", JP_ENC_NONE);
            if (bad[b] == ',') {
                /* a plain comma: kept by NONE, withheld as ambiguous by claims */
                ok &= none == v && cn == NULL && pct == v;
            } else if (bad[b] == JP_MULTI_SEP) {
                /* two elements: joined with the delimiter */
                ok &= none != v && none[pos] == ',' && pct != v && pct[pos] == ',';
            } else {
                ok &= none != v && strlen(none) == 38 && pct != v && strchr(pct, '%') != NULL &&
                      cn != NULL && strlen(cn) == 38;
            }
        }
    }
    /* bytes above 0x7e at every position: NONE keeps them, PERCENT escapes */
    for (pos = 0; pos < 39; pos++) {
        memset(v, 'a', 39);
        v[39] = '\0';
        v[pos] = '\xc3';
        ok &= jp_hdr_value(p, v, ",", JP_ENC_NONE) == v &&
              !strncmp(jp_hdr_value(p, v, ",", JP_ENC_PERCENT) + pos, "%C3", 3);
    }
    CHECK(ok);
    /* a clean value is passed through uncopied */
    CHECK(jp_hdr_claim_value(p, "alice@example.com", ",", JP_ENC_NONE) != NULL);
    CHECK_STR(jp_env_join(p, "P_", 2, "a-b.c"), "P_A_B_C");
    CHECK_STR(jp_env_prefix(p, "my-x_"), "my_x_");
}

/* The module and jitprov-admin check render mapped headers and REMOTE_USER
 * through these two, so check cannot drift from what the backend gets. */
static void test_mapped_and_remote_user(apr_pool_t *p)
{
    /* A claim is split-safe (jp_hdr_claim_value); an account column is one
     * string (jp_hdr_value). */
    CHECK(jp_hdr_mapped_value(p, "c:name", "Doe, John", ",", JP_ENC_NONE) == NULL);
    CHECK_STR(jp_hdr_mapped_value(p, "a:display_name", "Doe, John", ",", JP_ENC_NONE), "Doe, John");
    CHECK_STR(jp_hdr_mapped_value(p, "c:groups",
                                  "staff\x1f"
                                  "a,b",
                                  ",", JP_ENC_PERCENT),
              "staff,a%2Cb");
    CHECK_STR(jp_hdr_mapped_value(p, "c:groups",
                                  "staff\x1f"
                                  "admins",
                                  ",", JP_ENC_BASE64URL),
              "c3RhZmY,YWRtaW5z");
    CHECK_STR(jp_hdr_mapped_value(p, "a:groups",
                                  "staff\x1f"
                                  "admins",
                                  ",", JP_ENC_BASE64URL),
              jp_hdr_value(p,
                           "staff\x1f"
                           "admins",
                           ",", JP_ENC_BASE64URL));
    /* REMOTE_USER: the source, or sub when it is absent or only control bytes. */
    CHECK_STR(jp_hdr_remote_user(p, "jdoe", "s-1", ","), "jdoe");
    CHECK_STR(jp_hdr_remote_user(p, NULL, "s-1", ","), "s-1");
    CHECK_STR(jp_hdr_remote_user(p, "", "s-1", ","), "s-1");
    CHECK_STR(jp_hdr_remote_user(p, "\x01\x7f", "s-1", ","), "s-1");
    CHECK_STR(jp_hdr_remote_user(p, "j\ndoe", "s-1", ","), "jdoe");
    CHECK_STR(jp_hdr_remote_user(p,
                                 "a\x1f"
                                 "b",
                                 "s-1", "|"),
              "a|b");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_names();
    test_every_byte(p);
    test_values(p);
    test_env(p);
    test_claim_unambiguous(p);
    test_every_position(p);
    test_mapped_and_remote_user(p);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
