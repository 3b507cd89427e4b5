/* Claim flattening, dotted paths, kv lookup and multi-value membership. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "claims.h"
#include "headers.h"
#include "jtest.h"

/* The kind of payload a real IdP signs (Keycloak / Entra ID shapes). */
static const char *id_token_payload =
    "{"
    "\"iss\":\"https://idp.example.com/realms/corp\","
    "\"sub\":\"248289761001\","
    "\"aud\":\"jitprov-client\","
    "\"exp\":1735689600,"
    "\"iat\":1735686000,"
    "\"auth_time\":1735685990,"
    "\"nonce\":\"n-0S6_WzA2Mj\","
    "\"acr\":\"1\","
    "\"amr\":[\"pwd\",\"otp\"],"
    "\"name\":\"Zo\\u00eb Dupont\","
    "\"email\":\"zoe@example.com\","
    "\"email_verified\":true,"
    "\"phone_number_verified\":false,"
    "\"groups\":[\"admins\",\"staff\",\"r&d\"],"
    "\"roles\":[],"
    "\"weird\":[\"a\\u001fb\",1,2.5,true],"
    "\"mixed\":[\"x\",{\"k\":1},[2]],"
    "\"address\":{\"street_address\":\"1 Main St\",\"locality\":\"Paris\","
    "\"country\":\"FR\",\"geo\":{\"lat\":48.85}},"
    "\"score\":0.75,"
    "\"age\":-42,"
    "\"big\":9007199254740993,"
    "\"middle_name\":null,"
    "\"nul\":\"admin\\u0000@evil\","
    "\"sep\":\"staff\\u001fadmin\","
    "\"https://example.com/roles\":[\"editor\"],"
    "\"a.b\":\"literal\","
    "\"a\":{\"b\":\"nested\",\"c\":{\"d\":\"deep\"},\"x.y\":\"dotted-inner\"}"
    "}";

static void test_flatten(apr_pool_t *p, json_t *claims)
{
    apr_array_header_t *kv = apr_array_make(p, 8, sizeof(jp_kv));
    int n = jp_claims_flatten(p, claims, "c:", kv);

    /* Every claim except the null one and the one holding a NUL byte. */
    CHECK(n == (int)json_object_size(claims) - 2);
    CHECK(kv->nelts == n);

    CHECK_STR(jp_kv_get(kv, "c:sub"), "248289761001");
    CHECK_STR(jp_kv_get(kv, "c:email"), "zoe@example.com");
    CHECK_STR(jp_kv_get(kv, "c:name"), "Zo\xc3\xab Dupont");
    CHECK_STR(jp_kv_get(kv, "c:email_verified"), "true");
    CHECK_STR(jp_kv_get(kv, "c:phone_number_verified"), "false");
    CHECK_STR(jp_kv_get(kv, "c:exp"), "1735689600");
    CHECK_STR(jp_kv_get(kv, "c:age"), "-42");
    CHECK_STR(jp_kv_get(kv, "c:big"), "9007199254740993");
    CHECK_STR(jp_kv_get(kv, "c:score"), "0.75");
    CHECK_STR(jp_kv_get(kv, "c:groups"), "admins\x1fstaff\x1fr&d");
    CHECK_STR(jp_kv_get(kv, "c:amr"), "pwd\x1fotp");
    CHECK_STR(jp_kv_get(kv, "c:roles"), "");
    CHECK_STR(jp_kv_get(kv, "c:weird"), "a b\x1f"
                                        "1\x1f"
                                        "2.5\x1ftrue");
    CHECK_STR(jp_kv_get(kv, "c:mixed"), "[\"x\",{\"k\":1},[2]]");
    CHECK_STR(jp_kv_get(kv, "c:address"),
              "{\"country\":\"FR\",\"geo\":{\"lat\":48.85},"
              "\"locality\":\"Paris\",\"street_address\":\"1 Main St\"}");
    CHECK_STR(jp_kv_get(kv, "c:https://example.com/roles"), "editor");
    CHECK_STR(jp_kv_get(kv, "c:sep"), "staff admin");
    CHECK(jp_kv_get(kv, "c:middle_name") == NULL);
    CHECK(jp_kv_get(kv, "c:nul") == NULL);
    CHECK(jp_kv_get(kv, "email") == NULL);

    /* The flattened groups render as a header the way the design says. */
    CHECK_STR(jp_hdr_value(p, jp_kv_get(kv, "c:groups"), ", ", JP_ENC_NONE), "admins, staff, r&d");

    /* No prefix; appends after what is already there. */
    n = jp_claims_flatten(p, claims, NULL, kv);
    CHECK(n == (int)json_object_size(claims) - 2);
    CHECK(kv->nelts == 2 * n);
    CHECK_STR(jp_kv_get(kv, "iss"), "https://idp.example.com/realms/corp");

    /* Not an object, or not a jp_kv array: nothing appended. */
    CHECK(jp_claims_flatten(p, json_object_get(claims, "groups"), NULL, kv) == 0);
    CHECK(jp_claims_flatten(p, NULL, NULL, kv) == 0);
    CHECK(jp_claims_flatten(p, claims, NULL, apr_array_make(p, 1, sizeof(char *))) == 0);
}

static void test_get(apr_pool_t *p, json_t *claims)
{
    CHECK_STR(jp_claim_get(p, claims, "email"), "zoe@example.com");
    CHECK_STR(jp_claim_get(p, claims, "address.country"), "FR");
    CHECK_STR(jp_claim_get(p, claims, "address.geo.lat"), "48.85");
    CHECK_STR(jp_claim_get(p, claims, "address.geo"), "{\"lat\":48.85}");
    CHECK_STR(jp_claim_get(p, claims, "groups"), "admins\x1fstaff\x1fr&d");
    /* A literal top-level key wins over the nested path. */
    CHECK_STR(jp_claim_get(p, claims, "a.b"), "literal");
    CHECK_STR(jp_claim_get(p, claims, "a.c.d"), "deep");
    CHECK_STR(jp_claim_get(p, claims, "a.x.y"), "dotted-inner");
    CHECK_STR(jp_claim_get(p, claims, "https://example.com/roles"), "editor");
    CHECK_STR(jp_claim_get(p, claims, "email_verified"), "true");
    CHECK(jp_claim_get(p, claims, "address.zip") == NULL);
    CHECK(jp_claim_get(p, claims, "email.domain") == NULL);
    CHECK(jp_claim_get(p, claims, "groups.0") == NULL);
    CHECK(jp_claim_get(p, claims, "middle_name") == NULL);
    CHECK(jp_claim_get(p, claims, "nul") == NULL);
    CHECK(jp_claim_get(p, claims, "missing") == NULL);
    CHECK(jp_claim_get(p, claims, "") == NULL);
    CHECK(jp_claim_get(p, claims, ".") == NULL);
    CHECK(jp_claim_get(p, claims, "address.") == NULL);
    CHECK(jp_claim_get(p, claims, NULL) == NULL);
    CHECK(jp_claim_get(p, NULL, "email") == NULL);
}

/* Reals read back as the same double, in as few digits as that takes. */
static void test_reals(apr_pool_t *p)
{
    json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:{s:[f, f]}}", "a", 0.1 + 0.2, "b", 1.0, "c",
                          1e300, "d", -0.5, "e", "f", 0.1, 0.1 + 0.2);

    CHECK_STR(jp_claim_get(p, o, "a"), "0.30000000000000004");
    CHECK_STR(jp_claim_get(p, o, "b"), "1.0");
    CHECK_STR(jp_claim_get(p, o, "c"), "1e300");
    CHECK_STR(jp_claim_get(p, o, "d"), "-0.5");
    CHECK_STR(jp_claim_get(p, o, "e"), "{\"f\":[0.10000000000000001,0.30000000000000004]}");
    CHECK_STR(jp_claim_get(p, o, "e.f"), "0.1\x1f"
                                         "0.30000000000000004");
    json_decref(o);
}

static void test_multi(apr_pool_t *p)
{
    apr_array_header_t *kv = apr_array_make(p, 2, sizeof(jp_kv));
    jp_kv *e = apr_array_push(kv);

    e->key = "a:id";
    e->val = "17";
    CHECK_STR(jp_kv_get(kv, "a:id"), "17");
    CHECK(jp_kv_get(kv, "a:i") == NULL);
    CHECK(jp_kv_get(kv, NULL) == NULL);
    CHECK(jp_kv_get(NULL, "a:id") == NULL);

    CHECK(jp_multi_contains("admins\x1fstaff\x1fr&d", "admins"));
    CHECK(jp_multi_contains("admins\x1fstaff\x1fr&d", "staff"));
    CHECK(jp_multi_contains("admins\x1fstaff\x1fr&d", "r&d"));
    CHECK(!jp_multi_contains("admins\x1fstaff\x1fr&d", "admin"));
    CHECK(!jp_multi_contains("admins\x1fstaff\x1fr&d", "staff\x1fr&d"));
    CHECK(!jp_multi_contains("admins\x1fstaff", "Staff"));
    CHECK(jp_multi_contains("solo", "solo"));
    CHECK(!jp_multi_contains("solo", "sol"));
    CHECK(!jp_multi_contains("", ""));
    CHECK(!jp_multi_contains("a\x1f\x1f"
                             "b",
                             ""));
    CHECK(jp_multi_contains("a\x1f\x1f"
                            "b",
                            "b"));
    CHECK(!jp_multi_contains(NULL, "a"));
    CHECK(!jp_multi_contains("a", NULL));
    /* A separator smuggled inside one string element does not split it. */
    CHECK(!jp_multi_contains("staff admin", "admin"));
}

/* Entra ID's overage and claims as sets. */
static void test_sets(apr_pool_t *p)
{
    json_error_t err;
    json_t *over = json_loads("{\"sub\":\"x\",\"_claim_names\":{\"groups\":\"src1\"},"
                              "\"_claim_sources\":{\"src1\":{\"endpoint\":"
                              "\"https://graph.microsoft.com/v1.0/users/x/getMemberObjects\"}}}",
                              0, &err);
    json_t *both = json_loads("{\"groups\":[],\"_claim_names\":{\"groups\":\"src1\"}}", 0, &err);
    json_t *plain = json_loads("{\"groups\":[\"a\"]}", 0, &err);
    json_t *odd = json_loads("{\"_claim_names\":[\"groups\"]}", 0, &err);
    apr_array_header_t *parts = apr_array_make(p, 4, sizeof(const char *));

    CHECK(jp_claims_overage(over, "groups") == 1);
    CHECK(jp_claims_overage(over, "roles") == 0);
    CHECK(jp_claims_overage(both, "groups") == 0); /* the claim itself wins */
    CHECK(jp_claims_overage(plain, "groups") == 0);
    CHECK(jp_claims_overage(odd, "groups") == 0);
    CHECK(jp_claims_overage(NULL, "groups") == 0);
    json_decref(over);
    json_decref(both);
    json_decref(plain);
    json_decref(odd);

    CHECK(jp_multi_set_equal(p, "staff,admins", "admins,staff", ","));
    CHECK(jp_multi_set_equal(p, "a,b,c", "c,a,b", ","));
    CHECK(jp_multi_set_equal(p, "a,b,b", "b,a", ","));
    CHECK(!jp_multi_set_equal(p, "a,b", "a,b,c", ","));
    CHECK(!jp_multi_set_equal(p, "a,b", "a,c", ","));
    CHECK(jp_multi_set_equal(p, "", "", ","));
    CHECK(!jp_multi_set_equal(p, "", "a", ","));
    CHECK(!jp_multi_set_equal(p, NULL, "", ","));
    CHECK(jp_multi_set_equal(p, NULL, NULL, ","));
    CHECK(jp_multi_set_equal(p, "x|y", "y|x", "|"));
    CHECK(!jp_multi_set_equal(p, "x|y", "y|x", ""));
    CHECK(jp_multi_set_equal(p, "a, b", "b,a", ", ") == 0);

    *(const char **)apr_array_push(parts) = "staff";
    *(const char **)apr_array_push(parts) = "admins";
    *(const char **)apr_array_push(parts) = "staff";
    *(const char **)apr_array_push(parts) = "Zed";
    jp_multi_canonical(parts);
    CHECK(parts->nelts == 3);
    CHECK_STR(((const char **)parts->elts)[0], "Zed");
    CHECK_STR(((const char **)parts->elts)[1], "admins");
    CHECK_STR(((const char **)parts->elts)[2], "staff");
}

/* Access rules refuse values with control bytes (issue 9: a line break let
 * "^.*@example\.com$" match "x@evil.org\n@example.com" under DOTALL). */
static void test_has_ctl(apr_pool_t *p)
{
    json_t *c = json_pack("{s:s, s:[s,s], s:[s,s], s:s}", "email", "x@evil.org\n@example.com",
                          "groups", "staff", "admins", "bad", "staff", "a\rb", "tab", "a\tb");
    CHECK(!jp_multi_has_ctl(NULL));
    CHECK(!jp_multi_has_ctl(""));
    CHECK(!jp_multi_has_ctl("alice@example.com"));
    CHECK(!jp_multi_has_ctl("Zo\xc3\xab"));
    CHECK(jp_multi_has_ctl("x@evil.org\n@example.com"));
    CHECK(jp_multi_has_ctl("a\rb"));
    CHECK(jp_multi_has_ctl("a\x7f"));
    CHECK(jp_multi_has_ctl("\x01"));
    CHECK(jp_multi_has_ctl("a\tb"));
    /* Separators between elements are not control bytes of a value. */
    CHECK(!jp_multi_has_ctl("staff\x1f"
                            "admins"));
    CHECK(jp_multi_has_ctl(jp_claim_get(p, c, "email")));
    CHECK(!jp_multi_has_ctl(jp_claim_get(p, c, "groups")));
    CHECK(jp_multi_has_ctl(jp_claim_get(p, c, "bad")));
    CHECK(jp_multi_has_ctl(jp_claim_get(p, c, "tab")));
    json_decref(c);
}

int main(void)
{
    apr_pool_t *p;
    json_error_t err;
    json_t *claims;

    apr_initialize();
    apr_pool_create(&p, NULL);
    claims = json_loads(id_token_payload, JSON_ALLOW_NUL, &err);
    CHECK(claims != NULL);
    if (!claims) {
        fprintf(stderr, "payload: %s\n", err.text);
        JT_DONE();
    }
    test_flatten(p, claims);
    test_get(p, claims);
    test_reals(p);
    test_multi(p);
    test_sets(p);
    test_has_ctl(p);
    json_decref(claims);
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
