/* state.c: the login-attempt cookie. */
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "state.h"
#include "jtest.h"

#define NOW 1700000000
#define TTL 300

static jp_key k1, k2;

/* Seals an arbitrary JSON text the way state.c does, to test what open accepts. */
static char *seal_json(apr_pool_t *p, const char *name, const char *json)
{
    return jp_seal(p, &k1, apr_pstrcat(p, "jitprov-state-v1:", name, NULL),
                   (const unsigned char *)json, strlen(json));
}

static void test_new_and_name(apr_pool_t *p)
{
    jp_authstate st, st2;
    char *name;

    CHECK(jp_authstate_new(p, &st, "/app?x=1", NOW) == 0);
    CHECK(st.state && strlen(st.state) == 43);
    CHECK(st.nonce && strlen(st.nonce) == 43);
    CHECK(st.verifier && strlen(st.verifier) == 43);
    CHECK(strcmp(st.state, st.nonce) != 0 && strcmp(st.nonce, st.verifier) != 0);
    CHECK_STR(st.return_to, "/app?x=1");
    CHECK(st.created == NOW);
    CHECK(jp_authstate_new(p, &st2, NULL, NOW) == 0);
    CHECK(st2.return_to == NULL && strcmp(st.state, st2.state) != 0);

    name = jp_authstate_cookie_name(p, "jitprov_state", st.state);
    CHECK(name && strlen(name) == strlen("jitprov_state_") + 16);
    CHECK(name && strncmp(name, "jitprov_state_", 14) == 0 &&
          strncmp(name + 14, st.state, 16) == 0);
    CHECK_STR(jp_authstate_cookie_name(p, "c", "ABCDEFGHIJKLMNOP-_xyz"), "c_ABCDEFGHIJKLMNOP");
    CHECK_STR(jp_authstate_cookie_name(p, "c", "ABCDEFGHIJKLMNOP"), "c_ABCDEFGHIJKLMNOP");
    /* The state comes from the callback URL: nothing cookie-unsafe gets through. */
    CHECK(jp_authstate_cookie_name(p, "c", "ABCDEFGHIJKLMNO") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", "ABCDEFGH;JKLMNOPQ") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", "ABCDEFGHIJKLMNOPQ=x") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", "ABCDEFGHIJKLMNOP\r\n") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", "ABCDEFGH JKLMNOPQ") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", "") == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", NULL) == NULL);
    CHECK(jp_authstate_cookie_name(p, "", st.state) == NULL);
    CHECK(jp_authstate_cookie_name(p, NULL, st.state) == NULL);
    CHECK(jp_authstate_cookie_name(p, "c", apr_pstrcat(p, st.state, st.state, st.state, NULL)) ==
          NULL);
}

static void test_round_trip(apr_pool_t *p)
{
    jp_authstate st, out;
    jp_key keys[2];
    const char *err = NULL;
    char *name, *v;

    CHECK(jp_authstate_new(p, &st, "/app/page?q=%C3%A9&b=2#frag", NOW) == 0);
    name = jp_authstate_cookie_name(p, "jp", st.state);
    v = jp_authstate_seal(p, &k1, name, &st);
    CHECK(v != NULL);

    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + 10, TTL, &out, &err) == 0);
    CHECK(err == NULL);
    CHECK_STR(out.state, st.state);
    CHECK_STR(out.nonce, st.nonce);
    CHECK_STR(out.verifier, st.verifier);
    CHECK_STR(out.return_to, st.return_to);
    CHECK(out.created == NOW);

    /* Rotation: a cookie sealed under the old key opens after the new key is added. */
    keys[0] = k2;
    keys[1] = k1;
    CHECK(jp_authstate_open(p, keys, 2, name, v, NOW, TTL, &out, &err) == 0);
    CHECK(jp_authstate_open(p, &k2, 1, name, v, NOW, TTL, &out, &err) < 0);
    CHECK(err != NULL);
    CHECK(out.state == NULL);

    /* Another cookie name (another attempt, or another prefix): AAD mismatch. */
    CHECK(jp_authstate_open(p, &k1, 1, apr_pstrcat(p, "jq", name + 2, NULL), v, NOW, TTL, &out,
                            &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, "jp_AAAAAAAAAAAAAAAA", v, NOW, TTL, &out, &err) < 0);

    /* Tampering, truncation, garbage. */
    v[20] = v[20] == 'A' ? 'B' : 'A';
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, TTL, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, "", NOW, TTL, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, NULL, NOW, TTL, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, "not base64!", NOW, TTL, &out, NULL) < 0);

    /* NULL return_to survives. */
    CHECK(jp_authstate_new(p, &st, NULL, NOW) == 0);
    name = jp_authstate_cookie_name(p, "jp", st.state);
    v = jp_authstate_seal(p, &k1, name, &st);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, TTL, &out, &err) == 0);
    CHECK(out.return_to == NULL && out.state != NULL);

    /* Raw non-ASCII bytes are percent-encoded so the JSON stays valid. */
    CHECK(jp_authstate_new(p, &st, "/caf\xc3\xa9?\xff", NOW) == 0);
    name = jp_authstate_cookie_name(p, "jp", st.state);
    v = jp_authstate_seal(p, &k1, name, &st);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, TTL, &out, &err) == 0);
    CHECK_STR(out.return_to, "/caf%C3%A9?%FF");

    /* Characters JSON must escape (the state's text is written directly):
     * quotes, backslashes, control characters come back as they were. */
    CHECK(jp_authstate_new(p, &st, "/a?q=\"x\"&b=\\y\\\"&c=\x01\t\n\x7f", NOW) == 0);
    name = jp_authstate_cookie_name(p, "jp", st.state);
    v = jp_authstate_seal(p, &k1, name, &st);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, TTL, &out, &err) == 0);
    CHECK_STR(out.return_to, "/a?q=\"x\"&b=\\y\\\"&c=\x01\t\n\x7f");

    /* Oversized return_to is refused at seal time (open would refuse it too). */
    {
        char *longurl = apr_palloc(p, 5000);
        memset(longurl, 'a', 4999);
        longurl[0] = '/';
        longurl[4999] = '\0';
        CHECK(jp_authstate_new(p, &st, longurl, NOW) == 0);
        CHECK(jp_authstate_seal(p, &k1, name, &st) == NULL);
    }
    CHECK(jp_authstate_seal(p, NULL, name, &st) == NULL);
    CHECK(jp_authstate_seal(p, &k1, NULL, &st) == NULL);
}

static void test_expiry(apr_pool_t *p)
{
    jp_authstate st, out;
    const char *err;
    char *name, *v;

    CHECK(jp_authstate_new(p, &st, "/", NOW) == 0);
    name = jp_authstate_cookie_name(p, "jp", st.state);
    v = jp_authstate_seal(p, &k1, name, &st);

    /* Window: [created - skew, created + ttl + skew] with skew = 60. */
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, TTL, &out, &err) == 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + TTL + 60, TTL, &out, &err) == 0);
    err = NULL;
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + TTL + 61, TTL, &out, &err) < 0);
    CHECK_STR(err, "state cookie expired");
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + 86400, TTL, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW - 60, TTL, &out, &err) == 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW - 61, TTL, &out, &err) < 0);
    CHECK_STR(err, "state cookie from the future");
    CHECK(jp_authstate_open(p, &k1, 1, name, v, 0, TTL, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW, -1, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + 60, 0, &out, &err) == 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, NOW + 61, 0, &out, &err) < 0);
    CHECK(jp_authstate_open(p, &k1, 1, name, v, INT64_MAX, 2147483647, &out, &err) < 0);
}

/* Authentic blobs with bad contents: what a bug or an old format could produce. */
static void test_contents(apr_pool_t *p)
{
    static const char *S = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq";
    const char *name = "jp_ABCDEFGHIJKLMNOP", *err;
    jp_authstate out;
    char *good;
    static const char *bad[] = {
        "",
        "[]",
        "null",
        "{}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\"}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":\"1700000000\"}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000.0}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":-5}",
        "{\"s\":\"%s\",\"n\":\"\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":5,\"r\":\"/\",\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":5,\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"t\":1700000000,\"x\":1}",
        "{\"s\":\"%s\",\"n\":\"n\\u0000n\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"n n\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000,\"x\":1}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000}",
        "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000} x",
        "{\"s\":\"ABCDEFGHIJKLMNOQrst\",\"n\":\"nn\",\"v\":\"vv\",\"r\":\"/\",\"t\":1700000000}",
    };
    size_t i;
    int all = 1;

    good = apr_psprintf(p, "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"vv\",\"r\":null,\"t\":%d}", S, NOW);
    CHECK(jp_authstate_open(p, &k1, 1, name, seal_json(p, name, good), NOW, TTL, &out, &err) == 0);
    CHECK(out.return_to == NULL && strcmp(out.nonce, "nn") == 0);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *json = apr_psprintf(p, bad[i], S);
        if (jp_authstate_open(p, &k1, 1, name, seal_json(p, name, json), NOW, TTL, &out, &err) ==
            0) {
            fprintf(stderr, "accepted: %s\n", json);
            all = 0;
        }
    }
    CHECK(all);

    /* Length limit on tokens: 128 is fine, 129 is not. */
    {
        char *t128 = apr_palloc(p, 130);
        memset(t128, 'a', 129);
        t128[128] = '\0';
        good = apr_psprintf(p, "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"%s\",\"r\":null,\"t\":%d}", S,
                            t128, NOW);
        CHECK(jp_authstate_open(p, &k1, 1, name, seal_json(p, name, good), NOW, TTL, &out, &err) ==
              0);
        t128[128] = 'a';
        t128[129] = '\0';
        good = apr_psprintf(p, "{\"s\":\"%s\",\"n\":\"nn\",\"v\":\"%s\",\"r\":null,\"t\":%d}", S,
                            t128, NOW);
        CHECK(jp_authstate_open(p, &k1, 1, name, seal_json(p, name, good), NOW, TTL, &out, &err) <
              0);
    }
}

int main(void)
{
    static const unsigned char s1[] = "new passphrase", s2[] = "old passphrase";
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    CHECK(jp_hkdf(s1, sizeof(s1) - 1, JP_HKDF_INFO_STATE, &k2) == 0);
    CHECK(jp_hkdf(s2, sizeof(s2) - 1, JP_HKDF_INFO_STATE, &k1) == 0);
    test_new_and_name(p);
    test_round_trip(p);
    test_expiry(p);
    test_contents(p);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
