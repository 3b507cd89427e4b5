/* A fast JSON parser that builds the same jansson trees as json_loadb.
 * jansson's lexer pulls every byte through a stream callback and a string
 * buffer (~120 instructions a byte); the token response, the ID token
 * payload and the state cookie are parsed on every login. Pure, no httpd
 * headers. */
#ifndef JP_JSON_H
#define JP_JSON_H

#include <stddef.h>

#include <apr_pools.h>
#include <jansson.h>

/* A drop-in for json_loadb(buf, len, flags, err): the same tree (objects in
 * insertion order, a repeated key keeps its first place and takes the last
 * value), the same inputs accepted and refused, allocated through jansson's
 * constructors (json_decref frees it). flags: 0, JSON_REJECT_DUPLICATES,
 * JSON_DECODE_ANY or both; any other flag is handed to json_loadb itself.
 * On failure err (may be NULL) gets text, line, column, position and code;
 * the wording is not jansson's. */
json_t *jp_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

/* The text json_dumps(v, flags) writes, in p, the same bytes, for flags
 * JSON_COMPACT with or without JSON_ENCODE_ANY, written in one pass without
 * jansson's callbacks. Any other flag, or a real number in v: json_dumps
 * writes it (copied into p). NULL where json_dumps gives NULL (a bare scalar
 * without JSON_ENCODE_ANY, invalid UTF-8 in a string) and for a key that is
 * not valid UTF-8 (json_dumps writes broken text there). */
const char *jp_json_dump(apr_pool_t *p, const json_t *v, size_t flags);

/* s (len bytes, NULs allowed) as a JSON string literal, quotes included,
 * escaped as jp_json_dump escapes; NULL when s is not valid UTF-8. */
const char *jp_json_quote(apr_pool_t *p, const char *s, size_t len);

#endif
