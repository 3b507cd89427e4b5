/* What a trusted reverse proxy says about the browser's side of the
 * connection: the Forwarded header (RFC 7239) and X-Forwarded-Proto/Host/Port.
 * Parsing and validation only; whether the sender is trusted is the caller's
 * business. Pure, no httpd headers. */
#ifndef JP_FORWARDED_H
#define JP_FORWARDED_H

#include <apr_pools.h>

/* Longest header value looked at; anything longer is refused whole. */
#define JP_FWD_MAX 4096

typedef struct {
    const char *proto; /* "http" or "https" (lower case), or NULL */
    const char *host;  /* host without port: reg-name (lower case), IPv4 or [IPv6], or NULL */
    int port;          /* 1..65535, or 0 when not given */
} jp_fwd;

/* The last element of a Forwarded header (the one the nearest proxy added):
 * its proto= and host= parameters (token or quoted-string), validated.
 * 0 and *out filled (fields absent stay NULL/0); -1 when the header is
 * malformed, too long, or proto/host is invalid (then *out is all empty). */
int jp_fwd_parse_forwarded(apr_pool_t *p, const char *value, jp_fwd *out);

/* The last comma-separated element of an X-Forwarded-* value, without
 * surrounding blanks; NULL when empty or longer than JP_FWD_MAX. */
const char *jp_fwd_last(apr_pool_t *p, const char *value);

/* "http" or "https" (any case) -> lower-case constant; NULL otherwise. */
const char *jp_fwd_proto(const char *s);

/* "host", "host:port", "[v6]" or "[v6]:port" -> host (lower case) and port
 * (0 when absent). 0 on success, -1 on anything else (userinfo, path, blanks,
 * control bytes, bad port, empty host). */
int jp_fwd_host(apr_pool_t *p, const char *s, const char **host, int *port);

/* Decimal 1..65535 without sign or blanks -> the port; -1 otherwise. */
int jp_fwd_port(const char *s);

#endif
