/* The server-side session record stored in the socache: everything the
 * per-request path needs, precomputed at login, in a compact binary form that
 * decodes without JSON parsing. Pure, no httpd headers. */
#ifndef JP_SESSREC_H
#define JP_SESSREC_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define JP_SESSREC_MAX (64 * 1024)
/* Most kv pairs a record may hold; encode refuses more, decode rejects more. */
#define JP_SESSREC_MAX_KV 512
/* Revocation marker keys: not in the record (JPS5), derived by session.c
 * from its fields (the JPS4 records of earlier builds carried them); kept
 * beside a remembered record in its shape, so that a request looks markers
 * up without hashing anything. */
#define JP_SESSREC_NMARKS 4
#define JP_SESSREC_MARKLEN 24

/* jp_sessrec_decode results (all negative). */
#define JP_SESSREC_ETRUNC (-1) /* ends early, or a length runs past the end */
/* bad magic, NUL in a string, too many pairs, trailing bytes, a bad
 * reference, not canonical */
#define JP_SESSREC_EBAD (-2)
#define JP_SESSREC_ETOOBIG (-3) /* longer than JP_SESSREC_MAX */

typedef struct {
    int64_t created;    /* unix MICROseconds: login time (revocation markers compare it) */
    int64_t last_seen;  /* unix seconds: last write-back of activity */
    int64_t expires;    /* unix seconds: hard end (max duration) */
    int64_t checked_at; /* unix seconds: last account status re-check */
    int64_t account_id; /* 0 when no account row */
    /* Opaque to this file: a decode leaves them zero (JPS5) or as a JPS4
     * record had them, the shape keeps them, the encoder ignores them. */
    unsigned char marks[JP_SESSREC_NMARKS][JP_SESSREC_MARKLEN];
    const char *iss, *sub, *sid; /* sid may be "" */
    const char *id_token;        /* raw ID token for id_token_hint; may be "" */
    const char *id;              /* random session id: ends this one session at logout */
    /* jp_kv entries (claims.h): claim values under "c:<name>", account columns
     * under "a:<column>" (and "a:id"). */
    apr_array_header_t *kv;
    /* Optional, at the end of the record (older records have none): the
     * OAuth tokens for the backend, sealed by the caller; "" or NULL = none. */
    const char *tokens;
} jp_session;

/* Binary encoding, always JPS5 (sessrec.c); *len set. NULL when the record
 * would exceed JP_SESSREC_MAX or hold more than JP_SESSREC_MAX_KV pairs. NULL
 * strings are encoded as "". */
unsigned char *jp_sessrec_encode(apr_pool_t *p, const jp_session *s, size_t *len);
/* 0 on success; negative on truncated, oversized or malformed input (never reads
 * past len). Reads JPS5 and JPS4 records. Strings are copied into p and
 * NUL-terminated. */
int jp_sessrec_decode(apr_pool_t *p, const unsigned char *buf, size_t len, jp_session *out);
/* The same without copying: buf must hold len + 1 writable bytes, and the
 * decoded strings point into it (NUL-terminated there, so buf is changed).
 * trusted: buf decoded before without error (skips the NUL-in-string and
 * canonical-form checks). */
int jp_sessrec_decode_inplace(apr_pool_t *p, unsigned char *buf, size_t len, int trusted,
                              jp_session *out);

/* A record decoded in place once is rebuilt over another copy of the bytes
 * jp_sessrec_decode_inplace left (len + 1) without decoding it again, from
 * its shape: where each string starts, relative to those bytes (a process
 * keeps the shape beside the bytes of a cookie it opened). */
size_t jp_sessrec_shape_len(const jp_session *s);
/* Writes the shape of s and its marks, decoded in place from buf (len), into
 * out, which holds jp_sessrec_shape_len(s) bytes aligned for uint32_t. 0, or -1 when a
 * non-empty string of s lies outside buf. */
int jp_sessrec_shape(const jp_session *s, const unsigned char *buf, size_t len, void *out);
/* *out over buf, a copy of the decoded bytes the shape was taken from (len +
 * 1 of them); shape aligned for uint32_t. 0, or JP_SESSREC_EBAD when the shape
 * does not fit buf. */
int jp_sessrec_rebuild(apr_pool_t *p, unsigned char *buf, size_t len, const void *shape,
                       size_t shapelen, jp_session *out);

#endif
