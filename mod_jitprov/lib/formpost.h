/* A form POST kept across a login: parsing the application/x-www-form-
 * urlencoded body, and the page that sends it again afterwards. Pure, no
 * httpd headers. */
#ifndef JP_FORMPOST_H
#define JP_FORMPOST_H

#include <apr_pools.h>
#include <jansson.h>

#define JP_FORM_MAX_FIELDS 1000

/* 1 when a Content-Type value is application/x-www-form-urlencoded (any case,
 * parameters such as charset allowed). */
int jp_form_content_type_ok(const char *ct);

/* The body's fields in order, as a JSON array of [name, value] string pairs
 * (a new reference). NULL when the body is malformed: a bad %-escape, a
 * decoded NUL, bytes that are not UTF-8, more than JP_FORM_MAX_FIELDS
 * fields. Empty segments ("a=1&&b=2") are skipped; "name" alone has value "". */
json_t *jp_form_parse(apr_pool_t *p, const char *body, size_t len);

/* HTML text/attribute escaping: & < > " ' and control characters as
 * character references. */
char *jp_html_escape(apr_pool_t *p, const char *s);

/* The page that posts the fields to action at once: a form of hidden inputs,
 * submitted by a script carrying nonce (for a CSP script-src 'nonce-…'),
 * with a button for browsers without scripts. NULL when pairs is not an
 * array of string pairs. */
char *jp_form_page(apr_pool_t *p, const char *action, json_t *pairs, const char *nonce);

#endif
