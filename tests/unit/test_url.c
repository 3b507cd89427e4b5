/* url.c: open-redirect checks and query parsing. */
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "url.h"
#include "jtest.h"

static apr_pool_t *p;

static const char *ret(const char *url)
{
    return jp_safe_return_to(p, url, "http", "127.0.0.1", 8080);
}

static void test_return_to(void)
{
    static const char *ok[] = {
        "/",
        "/x",
        "/app/page?q=1&r=2#frag",
        "/%09/evil",
        "/%2F%2Fevil.com",
        "/a/../b",
        "/x?next=//evil.com",
        "/x?back=\\\\evil",
        "/x#\\",
        "/@evil.com",
        "/x:y",
        "http://127.0.0.1:8080/x",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080?a=1",
        "HTTP://127.0.0.1:8080/x",
        "http://127.0.0.1:08080/x",
    };
    static const char *bad[] = {
        "",
        " /x",
        "/x ",
        "//evil.com",
        "//evil.com/x",
        "/\\evil.com",
        "\\\\evil",
        "\\/evil.com",
        "/x\\y",
        "/\t/evil.com",
        "/ok\r\nSet-Cookie: x",
        "/ok\nx",
        "/\x7f",
        "/caf\xc3\xa9",
        "/\"><script>",
        "/<x>",
        "http://evil.com",
        "http://evil.com/",
        "https://127.0.0.1:8443@evil.com/",
        "http://127.0.0.1:8080@evil.com/",
        "http://user@127.0.0.1:8080/",
        "http://127.0.0.1:8080\\@evil.com/",
        "http://127.0.0.1:8081/x",
        "http://127.0.0.1/x",
        "https://127.0.0.1:8080/x",
        "http://127.0.0.1:/x",
        "http://127.0.0.1:80a/x",
        "http://127.0.0.1:000008080/x",
        "http://127.0.0.1:-1/x",
        "http://127.0.0.1:8080.evil.com/x",
        "http://127.0.0.1.evil.com:8080/x",
        "http://127.0.0.1%2eevil.com:8080/x",
        "http:///127.0.0.1:8080/x",
        "http:/127.0.0.1:8080/x",
        "http:127.0.0.1:8080/x",
        "http:\\\\127.0.0.1:8080/x",
        "http://",
        "http:",
        "ftp://127.0.0.1:8080/x",
        "javascript:alert(1)",
        "JavaScript://127.0.0.1:8080/%0aalert(1)",
        "data:text/html,<x>",
        "evil.com",
        "x/y",
        "?x=1",
        "#x",
        ".",
        "://127.0.0.1:8080/",
    };
    char *longurl;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *r = ret(ok[i]);
        if (!r || strcmp(r, ok[i]) != 0)
            fprintf(stderr, "refused: %s\n", ok[i]);
        CHECK(r && strcmp(r, ok[i]) == 0);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *r = ret(bad[i]);
        if (r)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(r == NULL);
    }
    CHECK(ret(NULL) == NULL);

    /* Default ports fold; host case does not matter; IPv6 with or without brackets. */
    CHECK(jp_safe_return_to(p, "http://example.org/x", "http", "example.org", 0) != NULL);
    CHECK(jp_safe_return_to(p, "http://example.org:80/x", "http", "example.org", 0) != NULL);
    CHECK(jp_safe_return_to(p, "http://example.org/x", "http", "example.org", 80) != NULL);
    CHECK(jp_safe_return_to(p, "https://Example.ORG/x", "https", "example.org", 443) != NULL);
    CHECK(jp_safe_return_to(p, "https://example.org:443/x", "HTTPS", "EXAMPLE.org", 0) != NULL);
    CHECK(jp_safe_return_to(p, "https://example.org/x", "https", "example.org", 8443) == NULL);
    CHECK(jp_safe_return_to(p, "https://example.org:80/x", "https", "example.org", 0) == NULL);
    CHECK(jp_safe_return_to(p, "http://example.org:443/x", "https", "example.org", 0) == NULL);
    CHECK(jp_safe_return_to(p, "http://example.org/x", "https", "example.org", 0) == NULL);
    CHECK(jp_safe_return_to(p, "http://example.org./x", "http", "example.org", 0) == NULL);
    CHECK(jp_safe_return_to(p, "http://[::1]:8080/x", "http", "[::1]", 8080) != NULL);
    CHECK(jp_safe_return_to(p, "http://[::1]:8080/x", "http", "::1", 8080) != NULL);
    CHECK(jp_safe_return_to(p, "http://[::1]/x", "http", "::1", 80) != NULL);
    CHECK(jp_safe_return_to(p, "http://[::1]x/x", "http", "::1", 80) == NULL);
    CHECK(jp_safe_return_to(p, "http://[::1/x", "http", "::1", 80) == NULL);
    CHECK(jp_safe_return_to(p, "http://[]/x", "http", "[]", 80) == NULL);
    /* Brackets only around an IPv6 literal: browsers refuse "[127.0.0.1]". */
    CHECK(jp_safe_return_to(p, "http://[127.0.0.1]", "http", "127.0.0.1", 80) == NULL);
    CHECK(jp_safe_return_to(p, "http://[127.0.0.1]:8080/x", "http", "127.0.0.1", 8080) == NULL);
    CHECK(jp_safe_return_to(p, "http://[localhost]/x", "http", "[localhost]", 80) == NULL);
    CHECK(jp_safe_return_to(p, "http://::1/x", "http", "::1", 80) == NULL);
    CHECK(jp_safe_return_to(p, "/x", "ftp", "example.org", 0) != NULL);
    CHECK(jp_safe_return_to(p, "ftp://example.org/x", "ftp", "example.org", 0) == NULL);
    CHECK(jp_safe_return_to(p, "/x", "http", NULL, 0) == NULL);

    /* Length cap. */
    longurl = apr_palloc(p, 4098);
    memset(longurl, 'a', 4097);
    longurl[0] = '/';
    longurl[4096] = '\0';
    CHECK(ret(longurl) != NULL);
    longurl[4096] = 'a';
    longurl[4097] = '\0';
    CHECK(ret(longurl) == NULL);
}

static void test_encode_decode(void)
{
    CHECK_STR(jp_url_encode(p, "abcXYZ019-._~"), "abcXYZ019-._~");
    CHECK_STR(jp_url_encode(p, "a b&c=d/e?f#g+h%"), "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25");
    CHECK_STR(jp_url_encode(p, "\xc3\xa9\x01\x7f"), "%C3%A9%01%7F");
    CHECK_STR(jp_url_encode(p, "https://rp.example/cb?x=1"),
              "https%3A%2F%2Frp.example%2Fcb%3Fx%3D1");
    CHECK_STR(jp_url_encode(p, ""), "");
    CHECK(jp_url_encode(p, NULL) == NULL);

    CHECK_STR(jp_url_decode(p, "a+b%20c%2B%2b"), "a b c++");
    CHECK_STR(jp_url_decode(p, "%C3%a9"), "\xc3\xa9");
    CHECK_STR(jp_url_decode(p, "%0d%0A"), "\r\n");
    CHECK_STR(jp_url_decode(p, ""), "");
    CHECK_STR(jp_url_decode(p, "100%25"), "100%");
    CHECK(jp_url_decode(p, "%") == NULL);
    CHECK(jp_url_decode(p, "%4") == NULL);
    CHECK(jp_url_decode(p, "a%4") == NULL);
    CHECK(jp_url_decode(p, "%zz") == NULL);
    CHECK(jp_url_decode(p, "%4g") == NULL);
    CHECK(jp_url_decode(p, "% 41") == NULL);
    CHECK(jp_url_decode(p, "a%00b") == NULL);
    CHECK(jp_url_decode(p, NULL) == NULL);
    CHECK_STR(jp_url_decode(p, jp_url_encode(p, "x=\"1\" & y=<2>; z=\xff")),
              "x=\"1\" & y=<2>; z=\xff");
}

static void test_query_has(void)
{
    /* Names match whole and decoded; the value's validity does not matter. */
    CHECK(jp_query_has(p, "return_to=/x", "return_to") == 1);
    CHECK(jp_query_has(p, "a=1&return_to=%zz", "return_to") == 1);
    CHECK(jp_query_has(p, "return_to", "return_to") == 1);
    CHECK(jp_query_has(p, "return%5Fto=/x", "return_to") == 1);
    CHECK(jp_query_has(p, "return_to=a&return_to=b", "return_to") == 1);
    CHECK(jp_query_has(p, "xreturn_to=/x", "return_to") == 0);
    CHECK(jp_query_has(p, "sid=1&xiss=a", "iss") == 0);
    CHECK(jp_query_has(p, "sid=1&a=iss=b", "iss") == 0);
    CHECK(jp_query_has(p, "iss2=a", "iss") == 0);
    CHECK(jp_query_has(p, "i%zzss=a", "iss") == 0);
    CHECK(jp_query_has(p, "", "iss") == 0);
    CHECK(jp_query_has(p, NULL, "iss") == 0);
    CHECK(jp_query_has(p, "iss=a", "") == 0);
}

static void test_query_param(void)
{
    const char *q = "code=abc%2Fdef&state=ST_1-x&empty=&flag&sp=a+b";

    CHECK_STR(jp_query_param(p, q, "code"), "abc/def");
    CHECK_STR(jp_query_param(p, q, "state"), "ST_1-x");
    CHECK_STR(jp_query_param(p, q, "empty"), "");
    CHECK_STR(jp_query_param(p, q, "flag"), "");
    CHECK_STR(jp_query_param(p, q, "sp"), "a b");
    CHECK(jp_query_param(p, q, "missing") == NULL);
    CHECK(jp_query_param(p, q, "cod") == NULL);
    CHECK(jp_query_param(p, q, "codex") == NULL);
    CHECK(jp_query_param(p, q, "") == NULL);
    CHECK(jp_query_param(p, NULL, "code") == NULL);
    CHECK(jp_query_param(p, "", "code") == NULL);
    CHECK(jp_query_param(p, q, NULL) == NULL);

    /* Value with '=' inside, empty segments, first and last position. */
    CHECK_STR(jp_query_param(p, "a=b=c", "a"), "b=c");
    CHECK_STR(jp_query_param(p, "&&a=1&&", "a"), "1");
    CHECK_STR(jp_query_param(p, "x=1&a=2", "a"), "2");
    CHECK_STR(jp_query_param(p, "=1&a=2", "a"), "2");

    /* Duplicates, including ones hidden by encoding, are malformed. */
    CHECK(jp_query_param(p, "state=a&state=b", "state") == NULL);
    CHECK(jp_query_param(p, "state=a&state=a", "state") == NULL);
    CHECK(jp_query_param(p, "state=a&st%61te=b", "state") == NULL);
    CHECK(jp_query_param(p, "state=a&state", "state") == NULL);
    CHECK_STR(jp_query_param(p, "state=a&State=b", "state"), "a");

    /* Bad escapes in the wanted value fail; in other parameters they do not matter. */
    CHECK(jp_query_param(p, "code=%zz", "code") == NULL);
    CHECK(jp_query_param(p, "code=a%00b", "code") == NULL);
    CHECK_STR(jp_query_param(p, "x=%zz&code=1", "code"), "1");
    CHECK_STR(jp_query_param(p, "%zz=1&code=1", "code"), "1");
    CHECK_STR(jp_query_param(p, "c%6fde=1", "code"), "1");
    CHECK_STR(jp_query_param(p, "a+b=1", "a b"), "1");
    CHECK(jp_query_param(p, "?code=1", "code") == NULL);
    CHECK_STR(jp_query_param(p, "logout_token=eyJ.eyJ.sig", "logout_token"), "eyJ.eyJ.sig");
}

/* JITProvAuthRequestParams values. */
static void test_auth_params_check(void)
{
    apr_pool_t *p;
    int sent;
    long age;
    apr_pool_create(&p, NULL);
    CHECK(jp_auth_params_check(p, "prompt=login", &sent, &age) == NULL && !sent);
    CHECK(jp_auth_params_check(p, "domain_hint=example.com&acr_values=urn%3Amfa", &sent, &age) ==
          NULL);
    CHECK(jp_auth_params_check(p, "kc_idp_hint=corp&max_age=3600", &sent, &age) == NULL && sent &&
          age == 3600);
    CHECK(jp_auth_params_check(p, "max_age=0", &sent, &age) == NULL && sent && age == 0);
    CHECK(jp_auth_params_check(p, "claims=%7B%22id_token%22%3A%7B%7D%7D", &sent, &age) == NULL);
    CHECK(jp_auth_params_check(p, "", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "=login", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=login&", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=login&&x=1", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=select account", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=a=b", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=x#y", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=%zz", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=%4", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=x\r\nSet-Cookie:a", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "prompt=login&prompt=none", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "redirect_uri=https%3A%2F%2Fevil", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "state=x", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "nonce=x", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "scope=openid", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "code_challenge_method=plain", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "response_mode=form_post", &sent, &age) != NULL);
    /* A third party's login_hint replaces the configured one. */
    CHECK_STR(jp_params_without(p, "prompt=login&login_hint=a%40b&ui_locales=de", "login_hint"),
              "prompt=login&ui_locales=de");
    CHECK_STR(jp_params_without(p, "login_hint=x&login_hint_token=y", "login_hint"),
              "login_hint_token=y");
    CHECK(jp_params_without(p, "login_hint=x", "login_hint") == NULL);
    CHECK_STR(jp_params_without(p, "a=1&b=2", "login_hint"), "a=1&b=2");
    CHECK(jp_auth_params_check(p, "request_uri=https%3A%2F%2Fx", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "max_age=-1", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "max_age=1h", &sent, &age) != NULL);
    CHECK(jp_auth_params_check(p, "max_age=1234567890", &sent, &age) != NULL);
    apr_pool_destroy(p);
}

/* JITProvOutgoingProxy values. */
static void test_proxy_url_check(void)
{
    CHECK(jp_proxy_url_check("none") == NULL);
    CHECK(jp_proxy_url_check("None") == NULL);
    CHECK(jp_proxy_url_check("http://proxy.example:3128") == NULL);
    CHECK(jp_proxy_url_check("https://proxy.example") == NULL);
    CHECK(jp_proxy_url_check("socks5h://127.0.0.1:1080") == NULL);
    CHECK(jp_proxy_url_check("http://user:p%40ss@proxy.example:3128") == NULL);
    CHECK(jp_proxy_url_check("proxy.example:3128") != NULL); /* no scheme */
    CHECK(jp_proxy_url_check("ftp://proxy.example") != NULL);
    CHECK(jp_proxy_url_check("http://") != NULL);
    CHECK(jp_proxy_url_check("http://user:pw@") != NULL);
    CHECK(jp_proxy_url_check("http://:3128") != NULL);
    CHECK(jp_proxy_url_check("http://proxy example") != NULL);
    CHECK(jp_proxy_url_check("http://proxy\r\n.example") != NULL);
    CHECK(jp_proxy_url_check("") != NULL);
}

/* Scopes and discovery lists: whole words only. */
static void test_word_listed(void)
{
    CHECK(jp_word_listed("openid email profile", "openid"));
    CHECK(jp_word_listed("  email   openid ", "openid"));
    CHECK(jp_word_listed("RS256 HS256", "HS256"));
    CHECK(!jp_word_listed("openidx email", "openid"));
    CHECK(!jp_word_listed("xopenid", "openid"));
    CHECK(!jp_word_listed("HS2560 HS25", "HS256"));
    CHECK(!jp_word_listed("", "openid"));
    CHECK(!jp_word_listed(NULL, "openid"));
    CHECK(!jp_word_listed("openid", ""));
}

/* A repeated or malformed parameter is there, unlike an absent one. */
static void test_query_count(void)
{
    CHECK(jp_query_count(p, "a=1&iss=x&b=2", "iss") == 1);
    CHECK(jp_query_count(p, "iss=x&iss=x", "iss") == 2);
    CHECK(jp_query_count(p, "iss=%ZZ", "iss") == 1);
    CHECK(jp_query_count(p, "i%73s=x", "iss") == 1);
    CHECK(jp_query_count(p, "iss", "iss") == 1);
    CHECK(jp_query_count(p, "issuer=x&&xiss=y", "iss") == 0);
    CHECK(jp_query_count(p, "", "iss") == 0);
    CHECK(jp_query_count(p, NULL, "iss") == 0);
}

static void test_error_code_shown(void)
{
    char big[200];
    CHECK_STR(jp_error_code_shown(p, "access_denied"), "access_denied");
    CHECK_STR(jp_error_code_shown(p, "a\r\nb\"c\\d\x7f\xc3\xa9"), "a??b?c?d???");
    CHECK_STR(jp_error_code_shown(p, "<b> x"), "<b> x"); /* HTML escaping is the page's */
    CHECK_STR(jp_error_code_shown(p, ""), "");
    CHECK_STR(jp_error_code_shown(p, NULL), "");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(strlen(jp_error_code_shown(p, big)) == JP_ERROR_CODE_MAX + 3);
    CHECK(!strcmp(jp_error_code_shown(p, big) + JP_ERROR_CODE_MAX, "..."));
    big[JP_ERROR_CODE_MAX] = '\0';
    CHECK(strlen(jp_error_code_shown(p, big)) == JP_ERROR_CODE_MAX);
}

/* Plain http to anything but loopback draws a configtest warning (issue 9). */
static void test_plain_remote(void)
{
    CHECK(jp_url_plain_remote("http://idp.example.com/.well-known/openid-configuration"));
    CHECK(jp_url_plain_remote("HTTP://idp.example.com"));
    CHECK(jp_url_plain_remote("http://10.0.0.1:8080/x"));
    CHECK(jp_url_plain_remote("http://127.0.0.1.evil.com/"));
    CHECK(jp_url_plain_remote("http://127.example.com/"));
    CHECK(jp_url_plain_remote("http://localhost.evil.com/"));
    CHECK(jp_url_plain_remote("http://127.0.0.1@evil.com/"));
    CHECK(jp_url_plain_remote("http://[::2]/"));
    CHECK(jp_url_plain_remote("http://[::1x]/"));
    CHECK(!jp_url_plain_remote("http://127.0.0.1:9090/.well-known/openid-configuration"));
    CHECK(!jp_url_plain_remote("http://127.1.2.3/"));
    CHECK(!jp_url_plain_remote("http://localhost:8080/x"));
    CHECK(!jp_url_plain_remote("http://LOCALHOST/x"));
    CHECK(!jp_url_plain_remote("http://[::1]:8080/x"));
    CHECK(!jp_url_plain_remote("http://user@127.0.0.1/x"));
    CHECK(!jp_url_plain_remote("https://idp.example.com/"));
    CHECK(!jp_url_plain_remote("ftp://idp.example.com/"));
    CHECK(!jp_url_plain_remote(NULL));
}

static void test_issuer_fits(void)
{
    const char *wk = "https://idp.example.com/.well-known/openid-configuration";
    const char *kc = "https://kc.example.com/realms/a/.well-known/openid-configuration";
    const char *oa = "https://as.example.com/.well-known/oauth-authorization-server/t1";
    /* OIDC Discovery 4.3: the issuer is the prefix, a terminating "/" aside */
    CHECK(jp_issuer_fits_metadata_url("https://idp.example.com", wk) == 1);
    CHECK(jp_issuer_fits_metadata_url("https://idp.example.com/", wk) == 1);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms/a", kc) == 1);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms/a/", kc) == 1);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms/b", kc) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms/a//", kc) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms", kc) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://kc.example.com/realms/ab", kc) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://evil.example.com", wk) == 0);
    CHECK(jp_issuer_fits_metadata_url("http://idp.example.com", wk) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://IDP.example.com", wk) == 0);
    CHECK(jp_issuer_fits_metadata_url("", wk) == 0);
    /* RFC 8414 3: the well-known part sits between the authority and the path */
    CHECK(jp_issuer_fits_metadata_url("https://as.example.com/t1", oa) == 1);
    CHECK(jp_issuer_fits_metadata_url("https://as.example.com/t2", oa) == 0);
    CHECK(jp_issuer_fits_metadata_url("https://as.example.com", oa) == 0);
    CHECK(jp_issuer_fits_metadata_url(
              "https://as.example.com",
              "https://as.example.com/.well-known/oauth-authorization-server") == 1);
    CHECK(jp_issuer_fits_metadata_url(
              "https://as.example.com",
              "https://as.example.com/.well-known/oauth-authorization-serverX") == -1);
    /* other shapes: nothing to compare with */
    CHECK(jp_issuer_fits_metadata_url("https://a", "https://a/metadata.json") == -1);
    CHECK(jp_issuer_fits_metadata_url("https://a",
                                      "https://a/.well-known/openid-configuration?x=1") == -1);
    CHECK(jp_issuer_fits_metadata_url("https://a", "ftp://a/.well-known/openid-configuration") ==
          -1);
    CHECK(jp_issuer_fits_metadata_url(NULL, wk) == -1);
}

/* The flags a metadata fetch or refresh leaves: a shared issuer marks both
 * providers, and a refresh that ends the sharing clears both. */
static void test_issuer_clashes(void)
{
    const char *iss[4] = {"https://a", NULL, "https://b", NULL};
    int clash[4];
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == -1 && clash[1] == -1 && clash[2] == -1 && clash[3] == -1);
    iss[1] = "https://b"; /* provider 1's first fetch names 2's issuer */
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == -1 && clash[1] == 2 && clash[2] == 1 && clash[3] == -1);
    iss[3] = "https://b"; /* a third one: each points at another */
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == -1 && clash[1] == 2 && clash[2] == 1 && clash[3] == 1);
    iss[1] = "https://c"; /* 1 refreshed to its own issuer: 2 and 3 still share */
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == -1 && clash[1] == -1 && clash[2] == 3 && clash[3] == 2);
    iss[3] = "https://b/"; /* another string is another issuer */
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == -1 && clash[1] == -1 && clash[2] == -1 && clash[3] == -1);
    iss[0] = "https://c"; /* the default provider counts like the others */
    jp_issuer_clashes(iss, 4, clash);
    CHECK(clash[0] == 1 && clash[1] == 0 && clash[2] == -1 && clash[3] == -1);
    jp_issuer_clashes(iss, 1, clash);
    CHECK(clash[0] == -1);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_return_to();
    test_encode_decode();
    test_query_param();
    test_query_has();
    test_plain_remote();
    test_query_count();
    test_auth_params_check();
    test_proxy_url_check();
    test_word_listed();
    test_error_code_shown();
    test_issuer_fits();
    test_issuer_clashes();
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
