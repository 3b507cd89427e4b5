/* What the backend receives: header name matching for spoof stripping, value
 * encoding, environment variable names. Pure, no httpd headers. */
#ifndef JP_HEADERS_H
#define JP_HEADERS_H

#include <apr_pools.h>

typedef enum { JP_ENC_NONE = 0, JP_ENC_PERCENT, JP_ENC_BASE64URL } jp_encoding;

/* Multi-valued claims are carried internally as elements separated by this byte. */
#define JP_MULTI_SEP '\x1f'

/* 1 when equal ignoring ASCII case, with '-' and '_' treated as the same char. */
int jp_hdr_name_eq(const char *a, const char *b);
/* Same folding; 1 when name starts with prefix (empty/NULL prefix never matches). */
int jp_hdr_name_has_prefix(const char *name, const char *prefix);
/* 1 when name is a valid RFC 9110 field-name token (config-time check). */
int jp_hdr_name_valid(const char *name);

/* Render a value for a header or env var: JP_MULTI_SEP-separated elements joined
 * with delim, then encoded.
 *  NONE:      control bytes (0x00-0x1f, 0x7f) dropped, other bytes kept;
 *  PERCENT:   bytes outside 0x21-0x7e except space, and '%', as %XX (UTF-8 stays
 *             readable to apps that decode);
 *  BASE64URL: base64url (no padding) of the joined bytes.
 * The result never contains a control byte. The delimiter must itself be free of
 * control bytes (checked at config time; any that slip through are dropped or
 * encoded like the value's). value/delim NULL count as "". NULL only for an
 * encoding outside the enum. The result is value itself when the encoding
 * leaves it unchanged, else a copy in p. */
const char *jp_hdr_value(apr_pool_t *p, const char *value, const char *delim, jp_encoding enc);

/* Render a claim value (JP_MULTI_SEP-separated elements) so that a backend
 * can always split it back into the same elements: a group named "staff,admins"
 * never reads as the two groups "staff" and "admins".
 *  NONE:      as jp_hdr_value; NULL (send nothing) when an element, control
 *             bytes dropped, contains the delimiter (control bytes dropped too),
 *             or ends in a part of a self-overlapping delimiter ("a|" before
 *             "||");
 *  PERCENT:   each element percent-encoded as jp_hdr_value does, and every
 *             byte that occurs in the delimiter encoded too; elements joined
 *             with the raw delimiter. NULL when the delimiter holds '%', a hex
 *             digit or a byte outside printable ASCII;
 *  BASE64URL: each element base64url-encoded (no padding) on its own, joined
 *             with the raw delimiter. NULL when the delimiter holds a character
 *             of the base64url alphabet or a control byte.
 * Every encoding: NULL when the delimiter is empty and there are several
 * elements. A single element without the delimiter renders as jp_hdr_value
 * does (PERCENT and BASE64URL: identical for any single element whose bytes
 * are not in the delimiter). */
const char *jp_hdr_claim_value(apr_pool_t *p, const char *value, const char *delim,
                               jp_encoding enc);

/* What a JITProvHeader (or a claims environment variable) carries for a
 * session key: a claim ("c:NAME") as jp_hdr_claim_value renders it, an account
 * column ("a:COLUMN", a single string) as jp_hdr_value does. NULL: send
 * nothing. The module and jitprov-admin check both call this, so that check
 * predicts the module exactly. */
const char *jp_hdr_mapped_value(apr_pool_t *p, const char *key, const char *value,
                                const char *delim, jp_encoding enc);

/* REMOTE_USER from the JITProvRemoteUser source's value (NULL when absent):
 * control bytes dropped, multi-valued elements joined with delim; sub (also
 * rendered so) when that leaves nothing. The module and check share it. */
const char *jp_hdr_remote_user(apr_pool_t *p, const char *value, const char *sub,
                               const char *delim);

/* Environment variable name: prefix + name with ASCII letters uppercased and every
 * char outside [A-Za-z0-9_] turned into '_'. The prefix keeps its case, but its
 * chars outside [A-Za-z0-9_] also become '_'. */
char *jp_env_name(apr_pool_t *p, const char *prefix, const char *name);
/* The same in two steps, for many names under one prefix: the prefix made
 * valid once (jp_env_prefix), then joined with each name. */
char *jp_env_prefix(apr_pool_t *p, const char *prefix);
char *jp_env_join(apr_pool_t *p, const char *vprefix, size_t plen, const char *name);

#endif
