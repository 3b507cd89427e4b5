/* Form POST preservation: body parsing, escaping, the re-post page. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "formpost.h"
#include "jtest.h"

static apr_pool_t *p;

static const char *field(json_t *pairs, size_t i, int which)
{
    return json_string_value(json_array_get(json_array_get(pairs, i), (size_t)which));
}

static int bad(const char *body)
{
    json_t *j = jp_form_parse(p, body, strlen(body));
    json_decref(j);
    return j == NULL;
}

int main(void)
{
    json_t *j;
    char *page;
    apr_initialize();
    apr_pool_create(&p, NULL);

    CHECK(jp_form_content_type_ok("application/x-www-form-urlencoded"));
    CHECK(jp_form_content_type_ok("Application/X-WWW-Form-URLEncoded; charset=UTF-8"));
    CHECK(!jp_form_content_type_ok("application/x-www-form-urlencodedx"));
    CHECK(!jp_form_content_type_ok("application/x-www-form-urlencoded junk"));
    CHECK(jp_form_content_type_ok(" application/x-www-form-urlencoded \t; charset=utf-8"));
    CHECK(jp_form_content_type_ok("application/x-www-form-urlencoded  "));
    CHECK(!jp_form_content_type_ok("multipart/form-data; boundary=x"));
    CHECK(!jp_form_content_type_ok("application/json"));
    CHECK(!jp_form_content_type_ok(NULL));

    {
        const char *b = "a=1&b=two+words&c=%C3%A9t%C3%A9&&d&e=&a=again&x%26y=%3D";
        j = jp_form_parse(p, b, strlen(b));
    }
    CHECK(j && json_array_size(j) == 7);
    CHECK_STR(field(j, 0, 0), "a");
    CHECK_STR(field(j, 0, 1), "1");
    CHECK_STR(field(j, 1, 1), "two words");
    CHECK_STR(field(j, 2, 1), "\xc3\xa9t\xc3\xa9");
    CHECK_STR(field(j, 3, 0), "d");
    CHECK_STR(field(j, 3, 1), "");
    CHECK_STR(field(j, 4, 1), "");
    CHECK_STR(field(j, 5, 1), "again"); /* duplicates kept, in order */
    CHECK_STR(field(j, 6, 0), "x&y");
    CHECK_STR(field(j, 6, 1), "=");
    json_decref(j);
    j = jp_form_parse(p, "", 0);
    CHECK(j && json_array_size(j) == 0);
    json_decref(j);
    j = jp_form_parse(p, "t=line1%0D%0Aline2", 18);
    CHECK(j && !strcmp(field(j, 0, 1), "line1\r\nline2"));
    json_decref(j);

    CHECK(bad("a=%zz"));
    CHECK(bad("a=%4"));
    CHECK(bad("a=%00"));
    CHECK(bad("a=%FF%FE")); /* not UTF-8 */
    CHECK(bad("%C3=1"));
    {
        char with_nul[] = "a=1\0b=2";
        CHECK(jp_form_parse(p, with_nul, 7) == NULL);
    }
    {
        char *many = apr_palloc(p, 4 * (JP_FORM_MAX_FIELDS + 1) + 1), *o = many;
        int i;
        for (i = 0; i <= JP_FORM_MAX_FIELDS; i++)
            o += sprintf(o, "a=%d&", i % 10);
        CHECK(bad(many));
        many[strlen(many) - 5] = '\0'; /* exactly the limit */
        j = jp_form_parse(p, many, strlen(many));
        CHECK(j && json_array_size(j) == JP_FORM_MAX_FIELDS);
        json_decref(j);
    }

    CHECK_STR(jp_html_escape(p, "<a href=\"x\">&'\r\n\x7f"),
              "&#60;a href=&#34;x&#34;&#62;&#38;&#39;&#13;&#10;&#127;");
    CHECK_STR(jp_html_escape(p, "caf\xc3\xa9"), "caf\xc3\xa9");

    {
        const char *b = "submit=x&q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E";
        j = jp_form_parse(p, b, strlen(b));
    }
    page = jp_form_page(p, "/app/form?x=1&y=\"", j, "n0nce");
    CHECK(page != NULL);
    CHECK(page && strstr(page, "action=\"/app/form?x=1&#38;y=&#34;\""));
    CHECK(page && strstr(page, "name=\"submit\" value=\"x\""));
    CHECK(page && !strstr(page, "<script>alert"));
    CHECK(page && strstr(page, "value=\"&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;\""));
    CHECK(page && strstr(page, "<script nonce=\"n0nce\">"));
    CHECK(page && strstr(page, "HTMLFormElement.prototype.submit.call"));
    json_decref(j);
    j = json_pack("[[s,i]]", "a", 1);
    CHECK(jp_form_page(p, "/", j, "n") == NULL);
    json_decref(j);
    CHECK(jp_form_page(p, "/", NULL, "n") == NULL);

    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
