/* Set-Cookie construction: defaults, the sysadmin's attributes kept as
 * written, SameSite per cookie, Secure rules, __Host- checks. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "cookie.h"
#include "jtest.h"

int main(void)
{
    apr_pool_t *p;
    jp_cookie_policy pol = {NULL, JP_SAMESITE_UNSET};
    const char *v;
    apr_initialize();
    apr_pool_create(&p, NULL);

    CHECK(jp_samesite_parse("lax") == JP_SAMESITE_LAX);
    CHECK(jp_samesite_parse("STRICT") == JP_SAMESITE_STRICT);
    CHECK(jp_samesite_parse("None") == JP_SAMESITE_NONE);
    CHECK(jp_samesite_parse("none ") == JP_SAMESITE_UNSET);
    CHECK(jp_samesite_parse(NULL) == JP_SAMESITE_UNSET);
    CHECK_STR(jp_samesite_name(JP_SAMESITE_UNSET), "Lax");

    /* Attribute lookup is by name, not substring. */
    CHECK(jp_cookie_attr(p, "Domain=secure.example", "Secure", NULL) == 0);
    CHECK(jp_cookie_attr(p, " secure ; x", "Secure", &v) == 1 && !strcmp(v, ""));
    CHECK(jp_cookie_attr(p, "SameSite = Strict", "samesite", &v) == 1 && !strcmp(v, "Strict"));
    CHECK(jp_cookie_attr(p, "SameSite=Lax; SameSite=None", "SameSite", &v) && !strcmp(v, "None"));
    CHECK(jp_cookie_attr(p, NULL, "Path", NULL) == 0);
    CHECK(jp_cookie_attr(p, "", "Path", NULL) == 0);
    CHECK(jp_cookie_attr(p, ";;", "Path", NULL) == 0);

    /* Defaults, unchanged from earlier releases. */
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 0),
              "s=v; Path=/; HttpOnly; SameSite=Lax");
    CHECK_STR(jp_cookie_header(p, "s", "v", NULL, "/", -1, 1),
              "s=v; Path=/; HttpOnly; SameSite=Lax; Secure");
    CHECK_STR(jp_cookie_header(p, "s", "", &pol, "/cb", 0, 0),
              "s=; Path=/cb; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 "
              "00:00:00 GMT");
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", 600, 0),
              "s=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=600");
    /* The sysadmin's attributes as written, defaults only where missing. */
    pol.attrs = "Secure; SameSite=Lax; Domain=app.example.com";
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 1),
              "s=v; Secure; SameSite=Lax; Domain=app.example.com; Path=/; HttpOnly");
    pol.attrs = "Domain=secure.example.com";
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 1),
              "s=v; Domain=secure.example.com; Path=/; HttpOnly; SameSite=Lax; Secure");
    /* SameSite per policy. */
    pol.attrs = NULL;
    pol.samesite = JP_SAMESITE_STRICT;
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 0),
              "s=v; Path=/; HttpOnly; SameSite=Strict");
    /* None always with Secure, even over http. */
    pol.samesite = JP_SAMESITE_NONE;
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 0),
              "s=v; Path=/; HttpOnly; SameSite=None; Secure");
    pol.samesite = JP_SAMESITE_UNSET;
    pol.attrs = "SameSite=None";
    CHECK_STR(jp_cookie_header(p, "s", "v", &pol, "/", -1, 0),
              "s=v; SameSite=None; Path=/; HttpOnly; Secure");
    /* Prefixed names always Secure. */
    pol.attrs = NULL;
    CHECK_STR(jp_cookie_header(p, "__Host-s", "v", &pol, "/", -1, 0),
              "__Host-s=v; Path=/; HttpOnly; SameSite=Lax; Secure");
    CHECK_STR(jp_cookie_header(p, "__Secure-s", "v", &pol, "/", -1, 0),
              "__Secure-s=v; Path=/; HttpOnly; SameSite=Lax; Secure");

    /* Configuration checks. */
    CHECK(jp_cookie_attrs_check(p, "s", NULL) == NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "Domain=x; Path=/app; SameSite=strict") == NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "SameSite=Sometimes") != NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "Secure\t; x\x01") != NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "Secure;\tHttpOnly") == NULL);
    CHECK(jp_cookie_attrs_check(p, "__Host-s", "Secure; Path=/") == NULL);
    CHECK(jp_cookie_attrs_check(p, "__Host-s", "Domain=app.example.com") != NULL);
    CHECK(jp_cookie_attrs_check(p, "__Host-s", "Path=/app") != NULL);
    CHECK(jp_cookie_attrs_check(p, "__host-s", "Domain=x") != NULL);
    /* The session cookie never gets a lifetime (docs/directives.md). */
    CHECK(jp_cookie_attrs_check(p, "s", "Secure; Max-Age=86400") != NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "expires=Wed, 01 Jan 2031 00:00:00 GMT") != NULL);
    CHECK(jp_cookie_attrs_check(p, "s", "Domain=max-age.example.com") == NULL);

    /* RFC 6265 5.1.4 path-match */
    CHECK(jp_cookie_path_match("/", "/logout"));
    CHECK(jp_cookie_path_match("/app", "/app"));
    CHECK(jp_cookie_path_match("/app", "/app/logout"));
    CHECK(jp_cookie_path_match("/app/", "/app/logout"));
    CHECK(!jp_cookie_path_match("/app", "/application/logout"));
    CHECK(!jp_cookie_path_match("/app", "/logout"));
    CHECK(!jp_cookie_path_match("/app/", "/app"));

    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
