/* scim.c: SCIM request parsing, PATCH operations, filters and rendering, with
 * the bodies Entra ID and Okta actually send. */
#include <string.h>
#include <jansson.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "scim.h"
#include "jtest.h"

static apr_pool_t *p;

static int parse_user(const char *body, jp_scim_input *in, jp_scim_err *e)
{
    memset(e, 0, sizeof(*e));
    return jp_scim_parse_user(p, body, strlen(body), in, e);
}

/* Applies a PATCH body to cur; 0 or -1 (with *e). */
static int patch(const char *body, const jp_scim_user *cur, jp_scim_user *next, int *touched,
                 jp_scim_err *e)
{
    jp_scim_patch *pt = NULL;
    memset(e, 0, sizeof(*e));
    if (jp_scim_parse_patch(p, body, strlen(body), &pt, e))
        return -1;
    return jp_scim_apply_patch(p, pt, cur, next, touched, e);
}

#define PATCH1(ops) "{\"schemas\":[\"" JP_SCIM_MSG_PATCH "\"],\"Operations\":[" ops "]}"

static int is_err(int rc, const jp_scim_err *e, int status, const char *type)
{
    if (rc != -1 || e->status != status)
        return 0;
    if (!type)
        return e->type == NULL && e->detail != NULL;
    return e->type && !strcmp(e->type, type) && e->detail && *e->detail;
}

static json_t *parse_json(const char *s)
{
    return s ? json_loads(s, 0, NULL) : NULL;
}

static void test_parse_user(void)
{
    jp_scim_input in;
    jp_scim_err e;
    char *big;

    /* What Entra ID sends on create (extension schemas, meta, roles...). */
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\",\"" JP_SCIM_SCHEMA_ENTERPRISE
                     "\"],\"externalId\":\"0a1b\",\"userName\":\"Test.User@contoso.com\","
                     "\"active\":true,\"displayName\":\"Test User\",\"emails\":[{\"primary\":"
                     "true,\"type\":\"work\",\"value\":\"test.user@contoso.com\"}],\"meta\":{"
                     "\"resourceType\":\"User\"},\"name\":{\"formatted\":\"Ignored\","
                     "\"familyName\":\"User\",\"givenName\":\"Test\"},\"title\":\"Boss\","
                     "\"roles\":[],\"" JP_SCIM_SCHEMA_ENTERPRISE "\":{\"employeeNumber\":\"7\"},"
                     "\"urn:ietf:params:scim:schemas:extension:custom:2.0:User\":{\"x\":1}}",
                     &in, &e) == 0);
    CHECK_STR(in.user_name, "Test.User@contoso.com");
    CHECK_STR(in.email, "test.user@contoso.com");
    CHECK_STR(in.display_name, "Test User"); /* displayName wins over name.formatted */
    CHECK_STR(in.external_id, "0a1b");
    CHECK(in.active == 1);
    CHECK(in.fields ==
          (JP_SCIM_F_USER_NAME | JP_SCIM_F_EMAIL | JP_SCIM_F_DISPLAY_NAME | JP_SCIM_F_ACTIVE |
           JP_SCIM_F_EXTERNAL_ID | JP_SCIM_F_GIVEN_NAME | JP_SCIM_F_FAMILY_NAME));
    CHECK_STR(in.given_name, "Test");
    CHECK_STR(in.family_name, "User");

    /* Okta: name parts only, password and groups ignored, active as a string. */
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"ann\","
                     "\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},\"password\":"
                     "\"x\",\"groups\":[],\"id\":\"99\",\"active\":\"False\",\"emails\":[{"
                     "\"value\":\"home@x.org\",\"type\":\"home\"},{\"value\":\"ann@x.org\","
                     "\"type\":\"work\"}]}",
                     &in, &e) == 0);
    CHECK_STR(in.display_name, "Ann Lee");
    CHECK_STR(in.email, "ann@x.org"); /* type work beats the first */
    CHECK(in.active == 0);
    CHECK(in.fields & JP_SCIM_F_ACTIVE);

    /* Attribute names are case-insensitive; the core URN may qualify them. */
    CHECK(parse_user("{\"SCHEMAS\":[\"urn:ietf:params:scim:schemas:core:2.0:user\"],"
                     "\"USERNAME\":\"bob\",\"" JP_SCIM_SCHEMA_USER ":displayName\":\"Bob\"}",
                     &in, &e) == 0);
    CHECK_STR(in.user_name, "bob");
    CHECK_STR(in.display_name, "Bob");
    CHECK(in.email == NULL && !(in.fields & JP_SCIM_F_EMAIL));
    CHECK(!(in.fields & JP_SCIM_F_ACTIVE));

    /* First entry when nothing is primary or work; primary beats work. */
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"c\",\"emails\":"
                     "[{\"value\":\"a@x\"},{\"value\":\"b@x\"}]}",
                     &in, &e) == 0);
    CHECK_STR(in.email, "a@x");
    CHECK(
        parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"c\",\"emails\":"
                   "[{\"value\":\"w@x\",\"type\":\"work\"},{\"value\":\"p@x\",\"primary\":true}]}",
                   &in, &e) == 0);
    CHECK_STR(in.email, "p@x");

    /* Errors. */
    CHECK(is_err(parse_user("", &in, &e), &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"schemas\":", &in, &e), &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("[1,2]", &in, &e), &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"userName\":\"x\"}", &in, &e), &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                            "\"userName\":\"x\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"]}", &in, &e), &e, 400,
                 JP_SCIM_E_VALUE));
    CHECK(strstr(e.detail, "userName") != NULL);
    CHECK(
        is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"\"}", &in, &e),
               &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":7}", &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(
        parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"a\\nb\"}", &in, &e),
        &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"activ\":false}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(strstr(e.detail, "activ") != NULL);
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"active\":\"maybe\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"emails\":[{\"value\":\"not-an-email\"}]}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"emails\":\"a@b\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"UserName\":\"b\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"userName\":\"b\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                            "\"],\"userName\":\"a\",\"name\":\"A\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(
        is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                          "\"],\"userName\":\"a\",\"emails[type eq \\\"work\\\"].value\":\"x@y\"}",
                          &in, &e),
               &e, 400, JP_SCIM_E_SYNTAX));
    big = apr_pcalloc(p, JP_SCIM_VALUE_MAX + 200);
    memset(big, 'u', JP_SCIM_VALUE_MAX + 1);
    CHECK(is_err(
        parse_user(apr_pstrcat(p, "{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"", big,
                               "\"}", NULL),
                   &in, &e),
        &e, 400, JP_SCIM_E_VALUE));
    big = apr_pcalloc(p, JP_SCIM_BODY_MAX + 2);
    memset(big, ' ', JP_SCIM_BODY_MAX + 1);
    CHECK(is_err(parse_user(big, &in, &e), &e, 413, NULL));
}

static jp_scim_user sample(void)
{
    jp_scim_user u;
    memset(&u, 0, sizeof(u));
    u.id = "42";
    u.user_name = "alice";
    u.email = "alice@example.com";
    u.display_name = "Alice Anderson";
    u.status = "active";
    u.groups = "staff,admins";
    u.iss = "https://idp";
    u.sub = "s-1";
    u.created = 1700000000;
    u.modified = 1700000100;
    return u;
}

static void test_put(void)
{
    jp_scim_user cur = sample(), next;
    jp_scim_input in;
    jp_scim_err e;

    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"alice2\"}", &in,
                     &e) == 0);
    CHECK(jp_scim_apply_put(p, &cur, &in, &next, &e) == 0);
    CHECK_STR(next.user_name, "alice2");
    CHECK(next.email == NULL && next.display_name == NULL); /* PUT replaces: omitted = cleared */
    CHECK_STR(next.status, "active");
    CHECK_STR(next.id, "42");
    CHECK_STR(next.groups, "staff,admins"); /* read-only */

    cur.status = "pending";
    CHECK(jp_scim_apply_put(p, &cur, &in, &next, &e) == 0);
    CHECK_STR(next.status, "pending"); /* untouched without an explicit active */
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                     "\"],\"userName\":\"a\",\"active\":false}",
                     &in, &e) == 0);
    CHECK(jp_scim_apply_put(p, &cur, &in, &next, &e) == 0);
    CHECK_STR(next.status, "disabled");

    cur.status = NULL; /* legacy table without a status column */
    CHECK(is_err(jp_scim_apply_put(p, &cur, &in, &next, &e), &e, 501, NULL));
    CHECK(strstr(e.detail, "status column") != NULL);
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER
                     "\"],\"userName\":\"a\",\"active\":true}",
                     &in, &e) == 0);
    CHECK(jp_scim_apply_put(p, &cur, &in, &next, &e) == 0);
    CHECK(next.status == NULL);
}

static void test_patch(void)
{
    jp_scim_user cur = sample(), next;
    jp_scim_input in;
    jp_scim_err e;
    int touched = -1;
    char *ops;
    int i;

    /* Entra ID: capitalised op, active as the string "False". */
    CHECK(patch(PATCH1("{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}"), &cur, &next,
                &touched, &e) == 0);
    CHECK_STR(next.status, "disabled");
    CHECK(touched == 1);
    CHECK_STR(cur.status, "active"); /* cur untouched */

    /* Okta: no path, a value object. */
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"value\":{\"active\":false}}"), &cur, &next, &touched,
                &e) == 0);
    CHECK_STR(next.status, "disabled");
    CHECK(touched == 1);
    CHECK(
        patch(PATCH1("{\"op\":\"REPLACE\",\"value\":{\"id\":\"42\",\"userName\":\"al\","
                     "\"name\":{\"givenName\":\"A\"},\"meta\":{},\"groups\":[],\"active\":true}}"),
              &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.user_name, "al");
    CHECK_STR(next.display_name, "Alice Anderson"); /* givenName alone does not replace it */
    CHECK_STR(next.status, "active");

    /* Reactivating a pending account needs active explicitly. */
    cur.status = "pending";
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"A\"}"), &cur,
                &next, &touched, &e) == 0);
    CHECK_STR(next.status, "pending");
    CHECK(touched == 0);
    CHECK_STR(next.display_name, "A");
    CHECK(patch(PATCH1("{\"op\":\"add\",\"path\":\"active\",\"value\":true}"), &cur, &next,
                &touched, &e) == 0);
    CHECK_STR(next.status, "active");
    cur.status = "active";

    /* Entra ID's email update, name parts, extension attributes, externalId. */
    CHECK(patch(PATCH1("{\"op\":\"Add\",\"path\":\"emails[type eq \\\"work\\\"].value\","
                       "\"value\":\"new@example.com\"},"
                       "{\"op\":\"Replace\",\"path\":\"name.givenName\",\"value\":\"Al\"},"
                       "{\"op\":\"Replace\",\"path\":\"name.familyName\",\"value\":\"A\"},"
                       "{\"op\":\"Add\",\"path\":\"" JP_SCIM_SCHEMA_ENTERPRISE
                       ":employeeNumber\",\"value\":\"7\"},"
                       "{\"op\":\"Add\",\"path\":\"externalId\",\"value\":\"ext-1\"},"
                       "{\"op\":\"Replace\",\"path\":\"title\",\"value\":\"x\"},"
                       "{\"op\":\"Add\",\"path\":\"roles\",\"value\":[{\"value\":\"r\"}]},"
                       "{\"op\":\"Replace\",\"path\":\"phoneNumbers[type eq \\\"work\\\"].value\","
                       "\"value\":\"1\"}"),
                &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.email, "new@example.com");
    CHECK_STR(next.display_name, "Alice Anderson");
    CHECK_STR(next.status, "active");
    CHECK(touched == 0);

    /* Core URN-qualified paths, name.formatted, emails as an array. */
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"path\":\"" JP_SCIM_SCHEMA_USER
                       ":name.formatted\",\"value\":\"Dr A\"},"
                       "{\"op\":\"replace\",\"path\":\"emails\",\"value\":[{\"value\":\"h@x\","
                       "\"type\":\"home\"},{\"value\":\"p@x\",\"primary\":true}]}"),
                &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.display_name, "Dr A");
    CHECK_STR(next.email, "p@x");

    /* Other email types are not the one address kept here. */
    CHECK(patch(PATCH1("{\"op\":\"add\",\"path\":\"emails[type eq \\\"home\\\"].value\","
                       "\"value\":\"home@x\"}"),
                &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.email, "alice@example.com");

    /* Removes. */
    CHECK(patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails[type eq \\\"work\\\"]\"}"), &cur,
                &next, &touched, &e) == 0);
    CHECK(next.email == NULL);
    CHECK(patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails[value eq \\\"ALICE@example.com\\\"]"
                       "\"}"),
                &cur, &next, &touched, &e) == 0);
    CHECK(next.email == NULL);
    /* A value filter that matches nothing is noTarget (RFC 7644 3.12). */
    CHECK(is_err(patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails[value eq \\\"other@x\\\"]\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_TARGET));
    CHECK(is_err(patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails[value eq \\\"other@x\\\"]"
                              ".value\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_TARGET));
    CHECK(patch(PATCH1("{\"op\":\"remove\",\"path\":\"displayName\"}"), &cur, &next, &touched,
                &e) == 0);
    CHECK(next.display_name == NULL);
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\"}"), &cur, &next,
                &touched, &e) == 0);
    CHECK(next.display_name == NULL);
    CHECK(patch(PATCH1("{\"op\":\"remove\",\"path\":\"externalId\"}"), &cur, &next, &touched, &e) ==
          0);
    /* A ']' inside the filter's string does not end it (parsed, then no match). */
    CHECK(is_err(
        patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails[value eq \\\"a]b@x\\\"].value\"}"), &cur,
              &next, &touched, &e),
        &e, 400, JP_SCIM_E_TARGET));

    /* A misspelt core URN is no extension: ignoring it would skip a deactivation. */
    {
        static const char *const typos[] = {JP_SCIM_SCHEMA_USER ".active",
                                            JP_SCIM_SCHEMA_USER "s:active",
                                            JP_SCIM_SCHEMA_USER "active",
                                            "urn:ietf:params:scim:schemas:core:2.0:Usr:active",
                                            "urn:ietf:params:scim:schemas:core:2.0:Group:active",
                                            NULL};
        for (i = 0; typos[i]; i++) {
            ops = apr_psprintf(p, PATCH1("{\"op\":\"replace\",\"path\":\"%s\",\"value\":false}"),
                               typos[i]);
            CHECK(is_err(patch(ops, &cur, &next, &touched, &e), &e, 400, JP_SCIM_E_PATH));
            ops =
                apr_psprintf(p, PATCH1("{\"op\":\"replace\",\"value\":{\"%s\":false}}"), typos[i]);
            CHECK(is_err(patch(ops, &cur, &next, &touched, &e), &e, 400, JP_SCIM_E_PATH));
            ops = apr_psprintf(p,
                               "{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":"
                               "\"a\",\"%s\":false}",
                               typos[i]);
            CHECK(is_err(parse_user(ops, &in, &e), &e, 400, JP_SCIM_E_SYNTAX));
        }
    }
    /* Errors. */
    CHECK(is_err(patch(PATCH1("{\"op\":\"remove\"}"), &cur, &next, &touched, &e), &e, 400,
                 JP_SCIM_E_TARGET));
    CHECK(
        is_err(patch(PATCH1("{\"op\":\"Delete\",\"path\":\"active\"}"), &cur, &next, &touched, &e),
               &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(patch(PATCH1("{\"path\":\"active\",\"value\":false}"), &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(
        is_err(patch("{\"Operations\":[{\"op\":\"replace\",\"path\":\"active\",\"value\":false}]}",
                     &cur, &next, &touched, &e),
               &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(patch(PATCH1(""), &cur, &next, &touched, &e), &e, 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(patch("{\"schemas\":[\"" JP_SCIM_MSG_PATCH "\"]}", &cur, &next, &touched, &e), &e,
                 400, JP_SCIM_E_SYNTAX));
    CHECK(is_err(patch(PATCH1("{\"op\":\"add\",\"path\":\"groups\",\"value\":[{\"value\":\"g\"}]}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_MUTABILITY));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"id\",\"value\":\"1\"}"), &cur, &next,
                       &touched, &e),
                 &e, 400, JP_SCIM_E_MUTABILITY));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"activ\",\"value\":false}"), &cur,
                       &next, &touched, &e),
                 &e, 400, JP_SCIM_E_PATH));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"active\",\"value\":\"nope\"}"), &cur,
                       &next, &touched, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(
        is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"active\"}"), &cur, &next, &touched, &e),
               &e, 400, JP_SCIM_E_VALUE));
    CHECK(
        is_err(patch(PATCH1("{\"op\":\"remove\",\"path\":\"active\"}"), &cur, &next, &touched, &e),
               &e, 400, JP_SCIM_E_MUTABILITY));
    CHECK(is_err(
        patch(PATCH1("{\"op\":\"remove\",\"path\":\"userName\"}"), &cur, &next, &touched, &e), &e,
        400, JP_SCIM_E_MUTABILITY));
    CHECK(is_err(patch(PATCH1("{\"op\":\"remove\",\"path\":\"" JP_SCIM_SCHEMA_USER ":userName\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_MUTABILITY));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"userName\",\"value\":null}"), &cur,
                       &next, &touched, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"value\":\"x\"}"), &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(
        is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"emails[value eq \\\"no@x\\\"].value\","
                            "\"value\":\"n@x\"}"),
                     &cur, &next, &touched, &e),
               &e, 400, JP_SCIM_E_TARGET));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"emails[type co \\\"w\\\"].value\","
                              "\"value\":\"n@x\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"emails[type eq \\\"work\\\".value\","
                              "\"value\":\"n@x\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_PATH));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"emails.value\",\"value\":\"bad\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"value\":{\"activ\":false}}"), &cur, &next,
                       &touched, &e),
                 &e, 400, JP_SCIM_E_PATH));
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"name.nick\",\"value\":\"x\"}"), &cur,
                       &next, &touched, &e),
                 &e, 400, JP_SCIM_E_PATH));
    cur.status = NULL;
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"active\",\"value\":false}"), &cur,
                       &next, &touched, &e),
                 &e, 501, NULL));
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"path\":\"active\",\"value\":true}"), &cur, &next,
                &touched, &e) == 0);
    cur.status = "active";

    /* At most JP_SCIM_OPS_MAX operations. */
    ops = "";
    for (i = 0; i <= JP_SCIM_OPS_MAX; i++)
        ops = apr_pstrcat(p, ops, i ? "," : "",
                          "{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"x\"}", NULL);
    CHECK(is_err(patch(apr_pstrcat(p, "{\"schemas\":[\"" JP_SCIM_MSG_PATCH "\"],\"Operations\":[",
                                   ops, "]}", NULL),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_SYNTAX));
}

/* One PATCH operation on u: 0, or -1 with *e. */
static int patch1(const char *op, const char *path, const char *value, const jp_scim_user *u,
                  jp_scim_user *next, jp_scim_err *e)
{
    int touched;
    const char *o = apr_psprintf(p, "{\"op\":\"%s\",\"path\":\"%s\"%s%s}", op, path,
                                 value ? ",\"value\":" : "", value ? value : "");
    return patch(
        apr_pstrcat(p, "{\"schemas\":[\"" JP_SCIM_MSG_PATCH "\"],\"Operations\":[", o, "]}", NULL),
        u, next, &touched, e);
}

/* RFC 7644 3.5.2.3 and 3.12: replace and remove with an emails[...] value
 * selection filter that matches no stored value are noTarget; add sets the
 * address (Entra ID sends Add the first time, Replace afterwards). */
static void test_patch_no_target(void)
{
    jp_scim_user cur = sample(), none = sample(), next;
    jp_scim_err e;
    int touched;
    static const char *const misses[] = {"emails[type eq \\\"home\\\"].value",
                                         "emails[type eq \\\"home\\\"]",
                                         "emails[primary eq false].value",
                                         "emails[display eq \\\"x\\\"].value",
                                         "emails[type eq \\\"home\\\"].type",
                                         "emails[value eq \\\"other@x\\\"].value",
                                         NULL};
    int i;

    none.email = NULL;
    /* A user with an address: the work / primary filters select it. */
    CHECK(patch1("Replace", "emails[type eq \\\"work\\\"].value", "\"w@x\"", &cur, &next, &e) == 0);
    CHECK_STR(next.email, "w@x");
    CHECK(patch1("replace", "emails[primary eq true].value", "\"p@x\"", &cur, &next, &e) == 0);
    CHECK_STR(next.email, "p@x");
    CHECK(patch1("replace", "emails[type eq \\\"WORK\\\"]", "{\"value\":\"o@x\"}", &cur, &next,
                 &e) == 0);
    CHECK_STR(next.email, "o@x");
    CHECK(patch1("replace", "emails[value eq \\\"ALICE@example.com\\\"].value", "\"v@x\"", &cur,
                 &next, &e) == 0);
    CHECK_STR(next.email, "v@x");
    /* matched, and the sub-attribute is not stored: dropped */
    CHECK(patch1("replace", "emails[type eq \\\"work\\\"].type", "\"home\"", &cur, &next, &e) == 0);
    CHECK_STR(next.email, "alice@example.com");
    /* Other types, not primary, display: never stored, so never a match. */
    for (i = 0; misses[i]; i++) {
        const char *v = strstr(misses[i], "].value") ? "\"n@x\"" : "{\"value\":\"n@x\"}";
        CHECK(is_err(patch1("replace", misses[i], v, &cur, &next, &e), &e, 400, JP_SCIM_E_TARGET));
        CHECK(strstr(e.detail, "no email matches") != NULL);
        CHECK(
            is_err(patch1("remove", misses[i], NULL, &cur, &next, &e), &e, 400, JP_SCIM_E_TARGET));
    }
    CHECK(
        is_err(patch1("replace", "emails[type eq \\\"home\\\"].value", "\"n@x\"", &cur, &next, &e),
               &e, 400, JP_SCIM_E_TARGET));
    CHECK(strstr(e.detail, "type work and primary") != NULL);
    /* add of another type is dropped, as before */
    CHECK(patch1("Add", "emails[type eq \\\"home\\\"].value", "\"h@x\"", &cur, &next, &e) == 0);
    CHECK_STR(next.email, "alice@example.com");

    /* A user without an address: the work filter selects nothing. */
    CHECK(
        is_err(patch1("Replace", "emails[type eq \\\"work\\\"].value", "\"w@x\"", &none, &next, &e),
               &e, 400, JP_SCIM_E_TARGET));
    CHECK(strstr(e.detail, "has no email") != NULL && strstr(e.detail, "add") != NULL);
    CHECK(is_err(
        patch1("replace", "emails[primary eq true]", "{\"value\":\"w@x\"}", &none, &next, &e), &e,
        400, JP_SCIM_E_TARGET));
    CHECK(is_err(patch1("replace", "emails[type eq \\\"work\\\"].value", "null", &none, &next, &e),
                 &e, 400, JP_SCIM_E_TARGET));
    CHECK(is_err(patch1("remove", "emails[type eq \\\"work\\\"]", NULL, &none, &next, &e), &e, 400,
                 JP_SCIM_E_TARGET));
    CHECK(is_err(patch1("remove", "emails[type eq \\\"work\\\"].value", NULL, &none, &next, &e), &e,
                 400, JP_SCIM_E_TARGET));
    CHECK(
        is_err(patch1("replace", "emails[type eq \\\"work\\\"].primary", "true", &none, &next, &e),
               &e, 400, JP_SCIM_E_TARGET));
    /* The same as a member of a path-less value. */
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"value\":{\"emails[type eq \\\"work\\\"]"
                              ".value\":\"w@x\"}}"),
                       &none, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_TARGET));
    /* add sets it; without a filter, replace and remove need no target. */
    CHECK(patch1("Add", "emails[type eq \\\"work\\\"].value", "\"w@x\"", &none, &next, &e) == 0);
    CHECK_STR(next.email, "w@x");
    CHECK(patch1("add", "emails[value eq \\\"w@x\\\"].value", "\"w@x\"", &none, &next, &e) == 0);
    CHECK_STR(next.email, "w@x");
    CHECK(patch1("replace", "emails.value", "\"w@x\"", &none, &next, &e) == 0);
    CHECK_STR(next.email, "w@x");
    CHECK(patch1("replace", "emails", "[{\"value\":\"w@x\"}]", &none, &next, &e) == 0);
    CHECK_STR(next.email, "w@x");
    CHECK(patch1("remove", "emails.value", NULL, &none, &next, &e) == 0);
    CHECK(patch1("remove", "emails", NULL, &none, &next, &e) == 0);
    CHECK(next.email == NULL);
    /* Attributes without a column are dropped, filter or not (Entra ID's
     * default mappings send Replace phoneNumbers[type eq "work"].value). */
    CHECK(patch1("Replace", "phoneNumbers[type eq \\\"work\\\"].value", "\"1\"", &none, &next,
                 &e) == 0);
    /* Operations apply in order: what an earlier one added is a target. */
    CHECK(patch(PATCH1("{\"op\":\"Add\",\"path\":\"emails[type eq \\\"work\\\"].value\","
                       "\"value\":\"a@x\"},{\"op\":\"Replace\",\"path\":\"emails[type eq "
                       "\\\"work\\\"].value\",\"value\":\"b@x\"}"),
                &none, &next, &touched, &e) == 0);
    CHECK_STR(next.email, "b@x");
    CHECK(is_err(patch(PATCH1("{\"op\":\"remove\",\"path\":\"emails\"},{\"op\":\"replace\","
                              "\"path\":\"emails[type eq \\\"work\\\"].value\",\"value\":\"b@x\"}"),
                       &cur, &next, &touched, &e),
                 &e, 400, JP_SCIM_E_TARGET));
}

static void test_filter(void)
{
    jp_scim_filter f;
    jp_scim_err e;

    CHECK(jp_scim_parse_filter(p, "userName eq \"bjensen\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_USER_NAME);
    CHECK_STR(f.value, "bjensen");
    CHECK(jp_scim_parse_filter(p, "  USERNAME   EQ \"a \\\"b\\\" \\u00e9\"  ", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_USER_NAME);
    CHECK_STR(f.value, "a \"b\" \xc3\xa9");
    CHECK(jp_scim_parse_filter(p, JP_SCIM_SCHEMA_USER ":userName eq \"x\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_USER_NAME);
    CHECK(jp_scim_parse_filter(p, "emails.value eq \"a@b\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_EMAIL);
    CHECK(jp_scim_parse_filter(p, "emails eq \"a@b\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_EMAIL);
    CHECK(jp_scim_parse_filter(p, "displayName eq \"A B\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_DISPLAY_NAME);
    CHECK(jp_scim_parse_filter(p, "id eq \"12\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_ID);
    CHECK_STR(f.value, "12");
    CHECK(jp_scim_parse_filter(p, "id eq 12", &f, &e) == 0);
    CHECK_STR(f.value, "12");
    CHECK(jp_scim_parse_filter(p, "active eq false", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_ACTIVE && f.bval == 0);
    CHECK(jp_scim_parse_filter(p, "active eq true", &f, &e) == 0);
    CHECK(f.bval == 1);

    CHECK(jp_scim_parse_filter(p, "externalId eq \"00uA1\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_EXTERNAL_ID);
    CHECK_STR(f.value, "00uA1"); /* case kept: externalId is case-exact */
    CHECK(jp_scim_parse_filter(p, JP_SCIM_SCHEMA_USER ":EXTERNALID eq \"x\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_EXTERNAL_ID);
    CHECK(is_err(jp_scim_parse_filter(p, "externalId eq 7", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "title eq \"x\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(strstr(e.detail, "title") != NULL);
    /* Operators, and/or/not and parentheses (RFC 7644 3.4.2.2). */
    CHECK(jp_scim_parse_filter(p, "userName CO \"x\"", &f, &e) == 0);
    CHECK(f.node == JP_SCIM_FN_CMP && f.op == JP_SCIM_OP_CO && !strcmp(f.value, "x"));
    CHECK(jp_scim_parse_filter(p, "emails pr", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_EMAIL && f.op == JP_SCIM_OP_PR && f.value == NULL);
    CHECK(jp_scim_parse_filter(p, "externalId sw \"00u\"", &f, &e) == 0 && f.op == JP_SCIM_OP_SW);
    CHECK(jp_scim_parse_filter(p, "displayName ew \"son\"", &f, &e) == 0 && f.op == JP_SCIM_OP_EW);
    CHECK(jp_scim_parse_filter(p, "active ne false", &f, &e) == 0);
    CHECK(f.op == JP_SCIM_OP_NE && f.bval == 0);
    /* and binds tighter than or. */
    CHECK(jp_scim_parse_filter(p, "userName eq \"a\" or userName eq \"b\" and active eq true", &f,
                               &e) == 0);
    CHECK(f.node == JP_SCIM_FN_OR && f.a->node == JP_SCIM_FN_CMP && f.b->node == JP_SCIM_FN_AND);
    CHECK(f.b->b->attr == JP_SCIM_FA_ACTIVE);
    CHECK(jp_scim_parse_filter(p, "(userName eq \"a\" OR userName eq \"b\")AND active eq true", &f,
                               &e) == 0);
    CHECK(f.node == JP_SCIM_FN_AND && f.a->node == JP_SCIM_FN_OR);
    CHECK(jp_scim_parse_filter(p, "not(emails pr) and NOT (userName sw \"x\" or id eq 3)", &f,
                               &e) == 0);
    CHECK(f.node == JP_SCIM_FN_AND && f.a->node == JP_SCIM_FN_NOT && f.b->node == JP_SCIM_FN_NOT);
    CHECK(f.b->a->node == JP_SCIM_FN_OR && f.b->a->b->attr == JP_SCIM_FA_ID);
    CHECK(jp_scim_parse_filter(p, "((((userName eq \"a\"))))", &f, &e) == 0);
    CHECK(f.node == JP_SCIM_FN_CMP && !strcmp(f.value, "a"));
    /* A string value may hold the grammar's own words and parentheses. */
    CHECK(jp_scim_parse_filter(p, "userName eq \"x) or (id pr\"", &f, &e) == 0);
    CHECK(f.node == JP_SCIM_FN_CMP && !strcmp(f.value, "x) or (id pr"));

    /* Still refused, by name. */
    CHECK(is_err(jp_scim_parse_filter(p, "userName gt \"x\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(strstr(e.detail, "gt") != NULL);
    CHECK(
        is_err(jp_scim_parse_filter(p, "userName like \"x\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "active co \"t\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "id sw \"1\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "not userName eq \"a\"", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "(userName eq \"a\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq \"a\")", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq \"a\" and", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(
        is_err(jp_scim_parse_filter(p, "or userName eq \"a\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "()", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName pr \"x\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    {
        /* Bounded: the nesting, and the comparisons (each binds SQL values). */
        const char *deep = "userName eq \"a\"", *many = "id pr";
        int i;
        for (i = 0; i < JP_SCIM_FILTER_DEPTH_MAX + 1; i++)
            deep = apr_pstrcat(p, "not (", deep, ")", NULL);
        CHECK(is_err(jp_scim_parse_filter(p, deep, &f, &e), &e, 400, JP_SCIM_E_FILTER));
        for (i = 1; i < JP_SCIM_FILTER_TERMS_MAX; i++)
            many = apr_pstrcat(p, many, " or id pr", NULL);
        CHECK(jp_scim_parse_filter(p, many, &f, &e) == 0);
        CHECK(is_err(jp_scim_parse_filter(p, apr_pstrcat(p, many, " or id pr", NULL), &f, &e), &e,
                     400, JP_SCIM_E_FILTER));
    }
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq \"a", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(
        is_err(jp_scim_parse_filter(p, "userName eq \"a\\\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(
        is_err(jp_scim_parse_filter(p, "userName eq \"a\\q\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq bob", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq null", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq 5", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "title eq \"x\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "emails[type eq \"work\"] eq \"x\"", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "active eq \"yes\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq \"x\" junk", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "userName eq {\"a\":1}", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));

    /* The name parts (RFC 7644 3.4.2.2's own example), like displayName. */
    CHECK(jp_scim_parse_filter(p, "name.familyName co \"O'Malley\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_FAMILY_NAME && f.op == JP_SCIM_OP_CO);
    CHECK_STR(f.value, "O'Malley");
    CHECK(jp_scim_parse_filter(p, "NAME.GIVENNAME Eq \"Barbara\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_GIVEN_NAME && f.op == JP_SCIM_OP_EQ);
    CHECK(jp_scim_parse_filter(p, JP_SCIM_SCHEMA_USER ":name.givenName sw \"B\"", &f, &e) == 0);
    CHECK(f.attr == JP_SCIM_FA_GIVEN_NAME && f.op == JP_SCIM_OP_SW);
    CHECK(jp_scim_parse_filter(p, "name.familyName ew \"sen\"", &f, &e) == 0 &&
          f.op == JP_SCIM_OP_EW);
    CHECK(jp_scim_parse_filter(p, "name.familyName ne \"x\"", &f, &e) == 0 &&
          f.op == JP_SCIM_OP_NE);
    CHECK(jp_scim_parse_filter(p, "name.givenName pr", &f, &e) == 0 && f.op == JP_SCIM_OP_PR &&
          f.value == NULL);
    CHECK(jp_scim_parse_filter(p, "name.givenName eq \"B\" and not (name.familyName pr)", &f, &e) ==
          0);
    CHECK(f.node == JP_SCIM_FN_AND && f.a->attr == JP_SCIM_FA_GIVEN_NAME &&
          f.b->a->attr == JP_SCIM_FA_FAMILY_NAME);
    CHECK(
        is_err(jp_scim_parse_filter(p, "name.givenName eq 5", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "name.givenName gt \"a\"", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "name.middleName eq \"a\"", &f, &e), &e, 400,
                 JP_SCIM_E_FILTER));
    CHECK(strstr(e.detail, "name.middleName") != NULL);
    CHECK(is_err(jp_scim_parse_filter(p, "name eq \"a\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
    CHECK(is_err(jp_scim_parse_filter(p, "givenName eq \"a\"", &f, &e), &e, 400, JP_SCIM_E_FILTER));
}

static void test_render(void)
{
    jp_scim_user u = sample(), list[2];
    jp_scim_err e;
    json_t *j, *g;
    const char *s;

    CHECK_STR(jp_scim_time(p, 1700000000), "2023-11-14T22:13:20Z");
    CHECK(jp_scim_time(p, 0) == NULL);
    CHECK(jp_scim_time(p, 253402300800LL) == NULL);

    j = parse_json(jp_scim_render_user(p, &u, "https://h/scim/v2/Users", ",", NULL));
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "schemas"), 0)),
              JP_SCIM_SCHEMA_USER);
    CHECK_STR(json_string_value(json_object_get(j, "id")), "42");
    CHECK_STR(json_string_value(json_object_get(j, "userName")), "alice");
    CHECK_STR(json_string_value(json_object_get(j, "displayName")), "Alice Anderson");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "name"), "formatted")),
              "Alice Anderson");
    CHECK(json_is_true(json_object_get(j, "active")));
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "emails"), 0), "value")),
              "alice@example.com");
    CHECK(
        json_is_true(json_object_get(json_array_get(json_object_get(j, "emails"), 0), "primary")));
    g = json_object_get(j, "groups");
    CHECK(json_array_size(g) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(g, 1), "value")), "admins");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "meta"), "location")),
              "https://h/scim/v2/Users/42");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "meta"), "created")),
              "2023-11-14T22:13:20Z");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "meta"), "resourceType")),
              "User");
    json_decref(j);

    /* Disabled, pending; groups as JSON text; a NULL username; Latin-1 bytes. */
    u.status = "pending";
    u.groups = "[\"a,b\",\"c\",7]";
    u.user_name = NULL;
    u.display_name = "Zo\xeb";
    u.email = NULL;
    j = parse_json(jp_scim_render_user(p, &u, NULL, ",", NULL));
    CHECK(j != NULL);
    CHECK(json_is_false(json_object_get(j, "active")));
    CHECK(json_array_size(json_object_get(j, "groups")) == 2);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "groups"), 0), "display")),
              "a,b");
    CHECK_STR(json_string_value(json_object_get(j, "userName")), "s-1");
    CHECK_STR(json_string_value(json_object_get(j, "displayName")), "Zo?");
    CHECK(json_object_get(j, "emails") == NULL);
    CHECK(json_object_get(json_object_get(j, "meta"), "location") == NULL);
    json_decref(j);

    /* No status column: every row is active. */
    u.status = NULL;
    u.groups = " x | y ||";
    j = parse_json(jp_scim_render_user(p, &u, NULL, "|", NULL));
    CHECK(json_is_true(json_object_get(j, "active")));
    CHECK(json_array_size(json_object_get(j, "groups")) == 2);
    json_decref(j);

    list[0] = sample();
    list[1] = sample();
    list[1].id = "43";
    j = parse_json(jp_scim_render_list(p, list, 2, 7, 3, "https://h/Users", ",", NULL));
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "schemas"), 0)),
              JP_SCIM_MSG_LIST);
    CHECK(json_integer_value(json_object_get(j, "totalResults")) == 7);
    CHECK(json_integer_value(json_object_get(j, "startIndex")) == 3);
    CHECK(json_integer_value(json_object_get(j, "itemsPerPage")) == 2);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(j, "Resources"), 1), "id")),
              "43");
    json_decref(j);
    j = parse_json(jp_scim_render_list(p, NULL, 0, 0, 1, NULL, ",", NULL));
    CHECK(j && json_array_size(json_object_get(j, "Resources")) == 0);
    json_decref(j);

    e.status = 409;
    e.type = JP_SCIM_E_UNIQUE;
    e.detail = "userName is already in use";
    j = parse_json(jp_scim_render_error(p, &e));
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "schemas"), 0)),
              JP_SCIM_MSG_ERROR);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "409");
    CHECK_STR(json_string_value(json_object_get(j, "scimType")), "uniqueness");
    CHECK_STR(json_string_value(json_object_get(j, "detail")), "userName is already in use");
    json_decref(j);
    e.type = NULL;
    j = parse_json(jp_scim_render_error(p, &e));
    CHECK(j && json_object_get(j, "scimType") == NULL);
    json_decref(j);

    j = parse_json(jp_scim_render_spc(p, "https://h/scim/v2"));
    CHECK(j && json_is_true(json_object_get(json_object_get(j, "patch"), "supported")));
    CHECK(json_is_false(json_object_get(json_object_get(j, "bulk"), "supported")));
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(j, "authenticationSchemes"), 0), "type")),
              "oauthbearertoken");
    json_decref(j);
    j = parse_json(jp_scim_render_resource_types(p, "https://h/scim/v2", NULL));
    CHECK(j && json_integer_value(json_object_get(j, "totalResults")) == 1);
    json_decref(j);
    j = parse_json(jp_scim_render_resource_types(p, "https://h/scim/v2", "User"));
    CHECK_STR(json_string_value(json_object_get(j, "endpoint")), "/Users");
    json_decref(j);
    CHECK(jp_scim_render_resource_types(p, "https://h", "Group") == NULL);
    s = jp_scim_render_schemas(p, "https://h/scim/v2", JP_SCIM_SCHEMA_USER);
    j = parse_json(s);
    CHECK(j && json_array_size(json_object_get(j, "attributes")) == 7);
    json_decref(j);
    j = parse_json(jp_scim_render_schemas(p, "https://h/scim/v2", NULL));
    CHECK(j && json_array_size(json_object_get(j, "Resources")) == 1);
    json_decref(j);
    CHECK(jp_scim_render_schemas(p, "https://h", "urn:x") == NULL);
}

/* externalId and the name parts: parsed, replaced by PUT, patched, rendered. */
/* The member names of object o, sorted and joined with ",". */
static const char *keys_of(json_t *o)
{
    const char *k, *names[32];
    json_t *v;
    size_t n = 0, i, j;
    char *out = "";
    json_object_foreach(o, k, v)
    {
        if (n < 32)
            names[n++] = k;
    }
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            k = names[j];
            names[j] = names[j - 1];
            names[j - 1] = k;
        }
    for (i = 0; i < n; i++)
        out = apr_pstrcat(p, out, i ? "," : "", names[i], NULL);
    return out;
}

/* The user rendered with attributes a and excludedAttributes x. */
static json_t *projected(const jp_scim_user *u, const char *a, const char *x)
{
    const jp_scim_attrs *sel = NULL;
    jp_scim_err e;
    memset(&e, 0, sizeof(e));
    if (jp_scim_parse_attrs(p, a, x, &sel, &e))
        return NULL;
    return parse_json(jp_scim_render_user(p, u, "https://h/Users", ",", sel));
}

/* What GET shows as userName; scim_store.c's SQL follows the same chain. */
static void test_shown_user_name(void)
{
    jp_scim_user u = sample();
    CHECK_STR(jp_scim_shown_user_name(&u), "alice");
    u.user_name = "";
    CHECK_STR(jp_scim_shown_user_name(&u), "alice@example.com");
    u.email = NULL;
    CHECK_STR(jp_scim_shown_user_name(&u), "s-1");
    u.sub = "";
    CHECK_STR(jp_scim_shown_user_name(&u), "42");
    u.id = NULL;
    CHECK_STR(jp_scim_shown_user_name(&u), "");
}

static void test_attributes(void)
{
    jp_scim_user u = sample(), list[2];
    const jp_scim_attrs *sel;
    jp_scim_err e;
    json_t *j, *em;

    u.given_name = "Alice";
    u.family_name = "Anderson";
    /* Nothing asked: everything, and no selection at all. */
    CHECK(jp_scim_parse_attrs(p, NULL, NULL, &sel, &e) == 0 && sel == NULL);
    CHECK(jp_scim_parse_attrs(p, "", " , ", &sel, &e) == 0 && sel == NULL);
    j = projected(&u, NULL, NULL);
    CHECK_STR(keys_of(j), "active,displayName,emails,groups,id,meta,name,schemas,userName");
    json_decref(j);

    /* attributes: only those, plus id and schemas (returned always). */
    j = projected(&u, "userName", NULL);
    CHECK_STR(keys_of(j), "id,schemas,userName");
    json_decref(j);
    j = projected(&u, "USERNAME, " JP_SCIM_SCHEMA_USER ":Active", NULL);
    CHECK_STR(keys_of(j), "active,id,schemas,userName");
    json_decref(j);
    /* Sub-attributes of a single- and a multi-valued complex attribute. */
    j = projected(&u, "name.givenName,emails.value,meta.location", NULL);
    CHECK_STR(keys_of(j), "emails,id,meta,name,schemas");
    CHECK_STR(keys_of(json_object_get(j, "name")), "givenName");
    em = json_object_get(j, "emails");
    CHECK(json_array_size(em) == 1);
    CHECK_STR(keys_of(json_array_get(em, 0)), "value");
    CHECK_STR(keys_of(json_object_get(j, "meta")), "location");
    json_decref(j);
    /* A whole attribute wins over its sub-attribute; a sub-attribute nothing
     * has, or one of a simple attribute, leaves nothing of it. */
    j = projected(&u, "name,name.givenName,emails.nope,userName.x", NULL);
    CHECK_STR(keys_of(j), "id,name,schemas");
    CHECK_STR(keys_of(json_object_get(j, "name")), "familyName,formatted,givenName");
    json_decref(j);
    /* Attributes of an extension schema: none is returned. */
    j = projected(&u, JP_SCIM_SCHEMA_ENTERPRISE ":employeeNumber", NULL);
    CHECK_STR(keys_of(j), "id,schemas");
    json_decref(j);

    /* excludedAttributes: those go, never id or schemas. */
    j = projected(&u, NULL, "emails,Groups,name.familyName,meta.created,id,schemas");
    CHECK_STR(keys_of(j), "active,displayName,id,meta,name,schemas,userName");
    CHECK_STR(keys_of(json_object_get(j, "name")), "formatted,givenName");
    CHECK_STR(keys_of(json_object_get(j, "meta")), "lastModified,location,resourceType");
    json_decref(j);
    j = projected(&u, NULL, "emails.value,emails.type,emails.primary");
    CHECK(json_object_get(j, "emails") == NULL);
    json_decref(j);
    /* Both: the list first, then the exclusions. */
    j = projected(&u, "userName,name", "name.formatted");
    CHECK_STR(keys_of(j), "id,name,schemas,userName");
    CHECK_STR(keys_of(json_object_get(j, "name")), "familyName,givenName");
    json_decref(j);

    /* Every resource of a list. */
    list[0] = u;
    list[1] = sample();
    list[1].id = "43";
    CHECK(jp_scim_parse_attrs(p, "emails.value", NULL, &sel, &e) == 0 && sel);
    j = parse_json(jp_scim_render_list(p, list, 2, 2, 1, NULL, ",", sel));
    CHECK(json_integer_value(json_object_get(j, "totalResults")) == 2);
    CHECK_STR(keys_of(json_array_get(json_object_get(j, "Resources"), 0)), "emails,id,schemas");
    CHECK_STR(keys_of(json_array_get(json_object_get(j, "Resources"), 1)), "emails,id,schemas");
    json_decref(j);

    /* Names that are none. */
    CHECK(is_err(jp_scim_parse_attrs(p, "emails[type eq \"work\"]", NULL, &sel, &e), &e, 400,
                 JP_SCIM_E_VALUE));
    CHECK(is_err(jp_scim_parse_attrs(p, NULL, "name..givenName", &sel, &e), &e, 400,
                 JP_SCIM_E_VALUE));
    CHECK(is_err(jp_scim_parse_attrs(p, "name.givenName.x", NULL, &sel, &e), &e, 400,
                 JP_SCIM_E_VALUE));
    CHECK(is_err(jp_scim_parse_attrs(p, JP_SCIM_SCHEMA_USER ".userName", NULL, &sel, &e), &e, 400,
                 JP_SCIM_E_VALUE));
    CHECK(is_err(jp_scim_parse_attrs(p, JP_SCIM_SCHEMA_USER, NULL, &sel, &e), &e, 400,
                 JP_SCIM_E_VALUE));
}

static void test_external_id_and_name(void)
{
    jp_scim_input in;
    jp_scim_user cur, next;
    jp_scim_err e;
    json_t *j, *name;
    int touched = 0;

    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"kim\","
                     "\"externalId\":\"00uAbC\",\"name\":{\"givenName\":\"Kim\","
                     "\"familyName\":\"Ko\",\"middleName\":\"dropped\"}}",
                     &in, &e) == 0);
    CHECK_STR(in.external_id, "00uAbC");
    CHECK_STR(in.given_name, "Kim");
    CHECK_STR(in.family_name, "Ko");
    CHECK_STR(in.display_name, "Kim Ko");
    CHECK((in.fields & (JP_SCIM_F_EXTERNAL_ID | JP_SCIM_F_GIVEN_NAME | JP_SCIM_F_FAMILY_NAME)) ==
          (JP_SCIM_F_EXTERNAL_ID | JP_SCIM_F_GIVEN_NAME | JP_SCIM_F_FAMILY_NAME));
    /* null and "" mean absent. */
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"k\","
                     "\"externalId\":null,\"name\":{\"givenName\":\"\"}}",
                     &in, &e) == 0);
    CHECK(in.external_id == NULL && in.given_name == NULL && in.family_name == NULL);
    /* Wrong types, control characters, oversized values. */
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"k\","
                            "\"externalId\":7}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"k\","
                            "\"name\":{\"familyName\":[\"a\"]}}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    CHECK(is_err(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"k\","
                            "\"externalId\":\"a\\nb\"}",
                            &in, &e),
                 &e, 400, JP_SCIM_E_VALUE));
    {
        char *big = apr_pstrcat(
            p, "{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"k\",\"externalId\":\"",
            NULL);
        int i;
        for (i = 0; i < JP_SCIM_VALUE_MAX + 1; i++)
            big = apr_pstrcat(p, big, "x", NULL);
        big = apr_pstrcat(p, big, "\"}", NULL);
        CHECK(is_err(parse_user(big, &in, &e), &e, 400, JP_SCIM_E_VALUE));
    }

    /* PUT replaces them; what it omits is cleared. */
    memset(&cur, 0, sizeof(cur));
    cur.id = "5";
    cur.user_name = "kim";
    cur.status = "active";
    cur.external_id = "old";
    cur.given_name = "Old";
    cur.family_name = "Name";
    CHECK(parse_user("{\"schemas\":[\"" JP_SCIM_SCHEMA_USER "\"],\"userName\":\"kim\","
                     "\"externalId\":\"new\",\"name\":{\"givenName\":\"Kim\"}}",
                     &in, &e) == 0);
    memset(&e, 0, sizeof(e));
    CHECK(jp_scim_apply_put(p, &cur, &in, &next, &e) == 0);
    CHECK_STR(next.external_id, "new");
    CHECK_STR(next.given_name, "Kim");
    CHECK(next.family_name == NULL);

    /* PATCH: paths with and without the URN, the name object, removes. */
    CHECK(patch(PATCH1("{\"op\":\"Replace\",\"path\":\"externalId\",\"value\":\"e-2\"},"
                       "{\"op\":\"Replace\",\"path\":\"" JP_SCIM_SCHEMA_USER
                       ":name.givenName\",\"value\":\"Kimberly\"}"),
                &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.external_id, "e-2");
    CHECK_STR(next.given_name, "Kimberly");
    CHECK_STR(next.family_name, "Name");
    CHECK(patch(PATCH1("{\"op\":\"replace\",\"value\":{\"externalId\":\"e-3\",\"name\":{"
                       "\"familyName\":\"Ko\"}}}"),
                &cur, &next, &touched, &e) == 0);
    CHECK_STR(next.external_id, "e-3");
    CHECK_STR(next.family_name, "Ko");
    CHECK_STR(next.given_name, "Old");
    CHECK(patch(PATCH1("{\"op\":\"remove\",\"path\":\"externalId\"},"
                       "{\"op\":\"remove\",\"path\":\"name.familyName\"},"
                       "{\"op\":\"replace\",\"path\":\"name.givenName\",\"value\":null}"),
                &cur, &next, &touched, &e) == 0);
    CHECK(next.external_id == NULL && next.family_name == NULL && next.given_name == NULL);
    CHECK(is_err(patch(PATCH1("{\"op\":\"replace\",\"path\":\"externalId\",\"value\":1}"), &cur,
                       &next, &touched, &e),
                 &e, 400, JP_SCIM_E_VALUE));

    /* Rendered back. */
    j = parse_json(jp_scim_render_user(p, &cur, "https://h/scim/v2/Users", ",", NULL));
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "externalId")), "old");
    name = json_object_get(j, "name");
    CHECK_STR(json_string_value(json_object_get(name, "givenName")), "Old");
    CHECK_STR(json_string_value(json_object_get(name, "familyName")), "Name");
    json_decref(j);
    cur.external_id = cur.given_name = cur.family_name = NULL;
    j = parse_json(jp_scim_render_user(p, &cur, "https://h/scim/v2/Users", ",", NULL));
    CHECK(j && !json_object_get(j, "externalId") && !json_object_get(j, "name"));
    json_decref(j);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_parse_user();
    test_put();
    test_patch();
    test_patch_no_target();
    test_filter();
    test_render();
    test_external_id_and_name();
    test_attributes();
    test_shown_user_name();
    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
