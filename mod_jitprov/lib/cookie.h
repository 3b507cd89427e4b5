/* Set-Cookie values for the session and state cookies: the sysadmin's
 * attributes (JITProvCookie) plus the defaults they leave out, SameSite per
 * cookie, the __Host- / __Secure- prefix rules. Pure, no httpd headers. */
#ifndef JP_COOKIE_H
#define JP_COOKIE_H

#include <apr_pools.h>

typedef enum {
    JP_SAMESITE_UNSET = 0, /* Lax */
    JP_SAMESITE_LAX,
    JP_SAMESITE_STRICT,
    JP_SAMESITE_NONE
} jp_samesite;

typedef struct {
    const char *attrs; /* "a; b=c" as the sysadmin wrote them, or NULL */
    jp_samesite samesite;
} jp_cookie_policy;

/* "Lax", "Strict", "None" (any case) -> the value; JP_SAMESITE_UNSET otherwise. */
jp_samesite jp_samesite_parse(const char *s);
const char *jp_samesite_name(jp_samesite s);

/* 1 when the ';'-separated attribute list has an attribute of this name
 * (case-insensitive; "Secure" in "Domain=secure.example" does not count).
 * *value (when not NULL) gets its value ("" when it has none). */
int jp_cookie_attr(apr_pool_t *p, const char *attrs, const char *name, const char **value);

/* Checks attributes given in the configuration: no control bytes, a known
 * SameSite value, and for a name starting with "__Host-" no Domain and no
 * Path other than "/". NULL when fine, else a reason. */
const char *jp_cookie_attrs_check(apr_pool_t *p, const char *name, const char *attrs);

/* 1 when a cookie with Path=cookie_path is sent with a request for path
 * (RFC 6265 5.1.4 path-match). */
int jp_cookie_path_match(const char *cookie_path, const char *path);

/* The whole Set-Cookie value: "name=value; " + the policy's attributes (as
 * written) + Path, HttpOnly and SameSite where they do not set them +
 * Secure when https, SameSite=None or a "__Host-" / "__Secure-" name asks
 * for it + Max-Age (max_age < 0: none, 0: delete, with an Expires in 1970). */
char *jp_cookie_header(apr_pool_t *p, const char *name, const char *value,
                       const jp_cookie_policy *pol, const char *path, int max_age, int https);

#endif
