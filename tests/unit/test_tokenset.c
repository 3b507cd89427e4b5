/* Tokens for the backend: token endpoint answers accepted and refused, the
 * sealed blob bound to its user, the refresh decision. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "tokenset.h"
#include "jtest.h"

static int parse(apr_pool_t *p, const char *json, const jp_tokenset *old, jp_tokenset *out)
{
    json_t *j = json_loads(json, 0, NULL);
    const char *err = NULL;
    int rc = jp_tokenset_from_response(p, j, 1000, old, out, &err);
    json_decref(j);
    if (rc != 0 && !err)
        return -2;
    return rc;
}

int main(void)
{
    apr_pool_t *p;
    jp_tokenset t, old, o;
    jp_key k[2];
    const char *aad, *blob;
    apr_initialize();
    apr_pool_create(&p, NULL);

    CHECK(parse(p,
                "{\"access_token\":\"AT1\",\"token_type\":\"Bearer\",\"expires_in\":300,"
                "\"refresh_token\":\"RT1\"}",
                NULL, &t) == 0);
    CHECK_STR(t.access_token, "AT1");
    CHECK_STR(t.refresh_token, "RT1");
    CHECK(t.expires == 1300);
    CHECK(parse(p, "{\"access_token\":\"AT2\",\"token_type\":\"bearer\"}", NULL, &t) == 0);
    CHECK(t.expires == 0 && !strcmp(t.refresh_token, ""));
    /* A refresh answer without a refresh token keeps the old one. */
    old.access_token = "AT1";
    old.refresh_token = "RT1";
    old.expires = 1;
    CHECK(parse(p, "{\"access_token\":\"AT3\",\"token_type\":\"Bearer\",\"expires_in\":60}", &old,
                &t) == 0);
    CHECK_STR(t.refresh_token, "RT1");
    CHECK(parse(p, "{\"access_token\":\"AT3\",\"token_type\":\"BEARER\",\"refresh_token\":\"RT2\"}",
                &old, &t) == 0);
    CHECK_STR(t.refresh_token, "RT2");

    CHECK(parse(p, "{}", NULL, &t) == -1);
    CHECK(parse(p, "[]", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":7}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a b\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\\r\\nX-Evil: 1\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"token_type\":\"DPoP\"}", NULL, &t) == -1);
    /* RFC 6749 5.1: token_type is REQUIRED; 7.1: an unknown type is not used */
    CHECK(parse(p, "{\"access_token\":\"a\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"token_type\":null}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"token_type\":\"mac\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"token_type\":\"Bearer \"}", NULL, &t) == -1);
    {
        const char *e = NULL;
        json_t *j = json_loads("{\"token_type\":\"bEaReR\"}", 0, NULL);
        CHECK(jp_token_type_check(j, &e) == 0);
        json_object_del(j, "token_type");
        CHECK(jp_token_type_check(j, &e) == -1 && !strcmp(e, "token_type is missing"));
        json_object_set_new(j, "token_type", json_string("N_A"));
        CHECK(jp_token_type_check(j, &e) == -1 && !strcmp(e, "token_type is not Bearer"));
        json_decref(j);
    }
    {
        /* the login's answer: RFC 6749 5.1 access_token REQUIRED, A.12 VSCHAR */
        static const char *const good[] = {
            "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"a b~\",\"token_type\":\"bearer\"}",
        };
        static const char *const bad[] = {
            "{\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
            "{\"access_token\":null,\"token_type\":\"Bearer\"}",
            "{\"access_token\":[\"a\"],\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"a\\r\\nX: 1\",\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"a\\u0000b\",\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"caf\\u00e9\",\"token_type\":\"Bearer\"}",
            "{\"access_token\":\"a\"}",
        };
        size_t i;
        for (i = 0; i < sizeof(good) / sizeof(*good); i++) {
            const char *e = NULL;
            json_t *j = json_loads(good[i], JSON_ALLOW_NUL, NULL);
            CHECK(j && jp_token_response_check(j, &e) == 0);
            json_decref(j);
        }
        for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
            const char *e = NULL;
            json_t *j = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
            CHECK(j && jp_token_response_check(j, &e) == -1 && e);
            json_decref(j);
        }
    }
    CHECK(parse(p, "{\"access_token\":\"a\",\"expires_in\":\"300\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"expires_in\":-1}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"refresh_token\":\"x\\u0000y\"}", NULL, &t) == -1);
    CHECK(parse(p, "{\"access_token\":\"a\",\"refresh_token\":5}", NULL, &t) == -1);
    {
        char *big = apr_palloc(p, JP_TOKEN_MAX + 40);
        strcpy(big, "{\"access_token\":\"");
        memset(big + 17, 'a', JP_TOKEN_MAX + 1);
        strcpy(big + 17 + JP_TOKEN_MAX + 1, "\"}");
        CHECK(parse(p, big, NULL, &t) == -1);
    }

    /* Sealing: opens under the same user and a rotated key list, not another user's. */
    memset(k, 1, sizeof(k[0]));
    memset(&k[1], 2, sizeof(k[1]));
    t.access_token = "AT";
    t.refresh_token = "RT";
    t.expires = 4242;
    aad = jp_tokenset_aad(p, "https://idp", "alice");
    blob = jp_tokenset_seal(p, &k[0], aad, &t);
    CHECK(blob != NULL);
    CHECK(jp_tokenset_open(p, k, 2, aad, blob, &o) == 0);
    CHECK_STR(o.access_token, "AT");
    CHECK_STR(o.refresh_token, "RT");
    CHECK(o.expires == 4242);
    CHECK(jp_tokenset_open(p, &k[1], 1, aad, blob, &o) == -1);
    CHECK(jp_tokenset_open(p, k, 2, jp_tokenset_aad(p, "https://idp", "bob"), blob, &o) == -1);
    CHECK(jp_tokenset_open(p, k, 2, aad, "", &o) == -1);
    CHECK(jp_tokenset_open(p, k, 2, aad, NULL, &o) == -1);
    CHECK(jp_tokenset_open(p, k, 2, aad, "AAAA", &o) == -1);

    /* Refresh decision. */
    t.expires = 1000;
    CHECK(jp_tokenset_due(&t, 939, 60) == 0);
    CHECK(jp_tokenset_due(&t, 940, 60) == 1);
    CHECK(jp_tokenset_due(&t, 2000, 0) == 1);
    t.expires = 0;
    CHECK(jp_tokenset_due(&t, 2000000000, 60) == 0);

    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
