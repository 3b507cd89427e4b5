/* Redirect target checks (no open redirects). */
#ifndef JP_URL_H
#define JP_URL_H

#include <apr_pools.h>

/* Returns the URL to redirect to, or NULL when it is not safe.
 * Accepted: a path starting with a single "/" (not "//", not "/\"), or an absolute
 * http(s) URL whose scheme, host and port equal our_scheme/our_host/our_port
 * (default ports folded). Refused: control characters (CR, LF, NUL, TAB...),
 * backslashes anywhere before the query, userinfo ("@" in authority), other schemes,
 * scheme-relative "//host", empty strings, length > 4096.
 * our_port 0 means the scheme's default. */
const char *jp_safe_return_to(apr_pool_t *p, const char *url, const char *our_scheme,
                              const char *our_host, int our_port);

/* Percent-encode for use in a query component (RFC 3986 unreserved kept). */
char *jp_url_encode(apr_pool_t *p, const char *s);

/* Decode one query parameter value ('+' -> space, %XX). NULL on bad escape or on
 * a decoded NUL. */
char *jp_url_decode(apr_pool_t *p, const char *s);

/* Find parameter `name` in a query string or x-www-form-urlencoded body
 * ("a=1&b=2"); returns the decoded value, NULL when absent or malformed.
 * A parameter present twice is treated as malformed (NULL) to avoid confusion. */
char *jp_query_param(apr_pool_t *p, const char *query, const char *name);
/* 1 when a parameter named `name` (after decoding) is there at all, whatever its
 * value: tells a malformed parameter (jp_query_param NULL) from an absent one. */
int jp_query_has(apr_pool_t *p, const char *query, const char *name);

/* How many times parameter `name` occurs in a query string (its value
 * well-formed or not), so that a duplicated or malformed parameter can be
 * told from an absent one; jp_query_param returns NULL for all three. */
int jp_query_count(apr_pool_t *p, const char *query, const char *name);
/* params ("a=1&b=2", names as written, e.g. checked JITProvAuthRequestParams)
 * without its name=... parameters; NULL when nothing is left. */
const char *jp_params_without(apr_pool_t *p, const char *params, const char *name);

/* An OAuth 2.0 error code from a redirect (RFC 6749 4.1.2.1) fit to show:
 * bytes outside its character set (%x20-21 / %x23-5B / %x5D-7E) become "?",
 * and past JP_ERROR_CODE_MAX bytes it is cut and ends in "...". Still to be
 * HTML-escaped. */
#define JP_ERROR_CODE_MAX 64
char *jp_error_code_shown(apr_pool_t *p, const char *code);

/* 1 when the space-separated list (a scope, a discovery document's list of
 * algorithms) holds word exactly; NULL lists hold nothing. */
int jp_word_listed(const char *list, const char *word);

/* 1 when url is plain http:// to a host other than loopback (127.0.0.0/8, ::1,
 * localhost): tokens and keys would cross the network unprotected. 0 for
 * https, for loopback, and for anything that is not an http URL. */
int jp_url_plain_remote(const char *url);

/* JITProvOutgoingProxy's value: "none", or a proxy URL libcurl takes
 * (http, https, socks4, socks4a, socks5, socks5h; a host; no space or
 * control character). NULL when fine, else why not. */
const char *jp_proxy_url_check(const char *v);

/* JITProvAuthRequestParams' value: name=value pairs joined by '&', already
 * percent-encoded (names of RFC 3986 unreserved characters; values of those,
 * %XX and !$'()*+,;:@/?; neither empty); no parameter the module sends
 * itself (response_type, client_id, redirect_uri, scope, state, nonce,
 * code_challenge, code_challenge_method, response_mode, request,
 * request_uri), none twice, at most 2048 bytes. A max_age (digits, at most
 * 9) sets *max_age_sent and *max_age. NULL when fine, else why not. */
const char *jp_auth_params_check(apr_pool_t *p, const char *v, int *max_age_sent, long *max_age);

/* Whether a discovery document's issuer belongs at the URL it was fetched
 * from. 1: it does; 0: it does not; -1: the URL has no well-known shape, so
 * nothing can be checked. Shapes: OIDC Discovery 4.1/4.3 (issuer +
 * "/.well-known/openid-configuration") and RFC 8414 3 ("/.well-known/
 * oauth-authorization-server" between the authority and the issuer's path);
 * in both a terminating "/" of the issuer is removed first. */
int jp_issuer_fits_metadata_url(const char *issuer, const char *url);

/* RFC 9207 4 among the n providers of one virtual host: clash[i] becomes the
 * index of another provider whose issuer equals issuer[i] (exact string
 * comparison, as tokens are matched), or -1. A NULL issuer (metadata not
 * fetched yet) clashes with nothing. */
void jp_issuer_clashes(const char *const *issuer, int n, int *clash);

#endif
