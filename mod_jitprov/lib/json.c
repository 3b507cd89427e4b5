/* A single-pass JSON parser that builds jansson trees. It accepts and refuses
 * exactly what json_loadb does for the flags the module uses (the
 * differential fuzzer tests/fuzz/fuzz_json.c holds it to that): RFC 8259
 * syntax, whitespace only from " \t\r\n", valid UTF-8 only, no lone
 * surrogates, no \u0000, integers that fit json_int_t (a bigger one is an
 * error, as in jansson), reals that do not overflow to infinity (underflow
 * is fine), at most JSON_PARSER_MAX_DEPTH nested values, nothing after the
 * value but whitespace.
 *
 * Speed comes from reading the buffer directly: strings are scanned eight
 * bytes at a time for the few bytes that need a look ('"', '\\', control,
 * non-ASCII), and a string without escapes goes to json_stringn_nocheck
 * straight from the input. Escaped strings and keys are decoded into one
 * scratch buffer used as a stack (a key stays there while its value is
 * parsed), so nothing is allocated per string beyond jansson's own copy. */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "json.h"

#ifndef JSON_PARSER_MAX_DEPTH
#define JSON_PARSER_MAX_DEPTH 2048
#endif

#if JSON_INTEGER_IS_LONG_LONG
#define JP_JSON_INT_MAX LLONG_MAX
#else
#define JP_JSON_INT_MAX LONG_MAX
#endif

#define JP_SCRATCH_INLINE 512

#if defined(__GNUC__)
#define JP_NOINLINE __attribute__((noinline))
#else
#define JP_NOINLINE
#endif

typedef struct {
    const unsigned char *start, *p, *end;
    size_t flags;
    json_error_t *err;
    int depth;
    /* Decoded strings: a stack, so a key survives the parse of its value. */
    char *scratch;
    size_t scratch_len, scratch_cap;
    char inline_scratch[JP_SCRATCH_INLINE];
} parser;

static void set_error(parser *ps, const unsigned char *at, enum json_error_code code,
                      const char *fmt, ...)
{
    json_error_t *e = ps->err;
    const unsigned char *q, *line_start = ps->start;
    int line = 1;
    va_list ap;

    if (!e)
        return;
    if (at > ps->end)
        at = ps->end;
    for (q = ps->start; q < at; q++) {
        if (*q == '\n') {
            line++;
            line_start = q + 1;
        }
    }
    e->line = line;
    e->column = (int)(at - line_start) + 1;
    e->position = (int)(at - ps->start);
    va_start(ap, fmt);
    vsnprintf(e->text, JSON_ERROR_TEXT_LENGTH - 1, fmt, ap);
    va_end(ap);
    /* jansson keeps the code in the last byte (json_error_code()). */
    e->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)code;
}

static void init_error(json_error_t *e)
{
    if (!e)
        return;
    e->line = -1;
    e->column = -1;
    e->position = 0;
    e->text[0] = '\0';
    e->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_unknown;
    snprintf(e->source, JSON_ERROR_SOURCE_LENGTH, "%s", "<buffer>");
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Room for n more bytes on the scratch stack; -1 when out of memory. */
static int scratch_reserve(parser *ps, size_t n)
{
    size_t cap;
    char *nb;

    if (ps->scratch_cap - ps->scratch_len >= n)
        return 0;
    cap = ps->scratch_cap * 2;
    while (cap - ps->scratch_len < n)
        cap *= 2;
    if (ps->scratch == ps->inline_scratch) {
        nb = malloc(cap);
        if (nb)
            memcpy(nb, ps->scratch, ps->scratch_len);
    } else {
        nb = realloc(ps->scratch, cap);
    }
    if (!nb)
        return -1;
    ps->scratch = nb;
    ps->scratch_cap = cap;
    return 0;
}

/* 1 for the bytes a string scan must stop at. */
static const unsigned char stop[256] = {
    /* control characters */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* ' '..'/': '"' */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* '0'..'?' and '@'..'O' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 'P'..'_': '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    /* '`'..DEL */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* non-ASCII */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when one of the eight bytes is a control character, '"', '\\'
 * or non-ASCII (exact as a yes/no, which is all the scan needs). */
static inline uint64_t word_has_stop(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | x) & HIGHS;
}

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The value of the four hex digits at p, or -1. */
static inline long hex4(const unsigned char *p)
{
    int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);
    if ((a | b | c | d) < 0)
        return -1;
    return ((long)a << 12) | (b << 8) | (c << 4) | d;
}

/* Length of the valid UTF-8 sequence at p (non-ASCII lead byte), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t avail = (size_t)(end - p);

    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && p[1] >= 0xA0) /* U+D800..U+DFFF */
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && p[1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

static inline size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the validated body [s, e) (escapes checked by scan_string) to o;
 * returns the decoded length, never more than e - s. */
static size_t decode_escapes(const unsigned char *s, const unsigned char *e, char *o)
{
    char *o0 = o;
    while (s < e) {
        const unsigned char *bs = memchr(s, '\\', (size_t)(e - s));
        unsigned long cp;
        if (!bs)
            bs = e;
        memcpy(o, s, (size_t)(bs - s));
        o += bs - s;
        s = bs;
        if (s >= e)
            break;
        switch (s[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            cp = (unsigned long)hex4(s + 2);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(s + 8) - 0xDC00);
                s += 6;
            }
            o += utf8_put(o, cp);
            s += 6;
            continue;
        default: /* '"', '\\', '/' */
            *o++ = (char)s[1];
            break;
        }
        s += 2;
    }
    return (size_t)(o - o0);
}

/* The string whose opening quote ps->p is on. *out, *outlen: the text, in
 * the input when it has no escapes, else decoded on the scratch stack at
 * offset *pushed (the caller pops it: ps->scratch_len = *pushed). *pushed is
 * (size_t)-1 when nothing was pushed. 0 when fine, -1 after set_error. */
static int scan_string(parser *ps, const char **out, size_t *outlen, size_t *pushed)
{
    const unsigned char *s = ps->p + 1, *p = s, *end = ps->end;
    int escaped = 0;
    long u, lo;
    size_t n;

    *pushed = (size_t)-1;
    for (;;) {
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (word_has_stop(x))
                break;
            p += 8;
        }
        while (p < end && !stop[*p])
            p++;
        if (p >= end) {
            set_error(ps, p, json_error_premature_end_of_input,
                      "premature end of input in a string");
            return -1;
        }
        if (*p == '"')
            break;
        if (*p == '\\') {
            escaped = 1;
            if (end - p < 2) {
                set_error(ps, end, json_error_premature_end_of_input,
                          "premature end of input in a string");
                return -1;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u':
                break;
            default:
                set_error(ps, p, json_error_invalid_syntax, "invalid escape in a string");
                return -1;
            }
            if (end - p < 6 || (u = hex4(p + 2)) < 0) {
                set_error(ps, p, json_error_invalid_syntax, "invalid \\u escape in a string");
                return -1;
            }
            if (u == 0) {
                set_error(ps, p, json_error_null_character, "\\u0000 is not allowed");
                return -1;
            }
            if (u >= 0xDC00 && u <= 0xDFFF) {
                set_error(ps, p, json_error_invalid_syntax, "lone low surrogate \\u%04lX", u);
                return -1;
            }
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = hex4(p + 8)) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    set_error(ps, p, json_error_invalid_syntax,
                              "high surrogate \\u%04lX not followed by a low one", u);
                    return -1;
                }
                p += 6;
            }
            p += 6;
            continue;
        }
        if (*p < 0x20) {
            set_error(ps, p, json_error_invalid_syntax, "control character 0x%02x in a string", *p);
            return -1;
        }
        n = utf8_seq(p, end);
        if (!n) {
            set_error(ps, p, json_error_invalid_utf8, "invalid UTF-8 in a string");
            return -1;
        }
        p += n;
    }
    ps->p = p + 1;
    if (!escaped) {
        *out = (const char *)s;
        *outlen = (size_t)(p - s);
        return 0;
    }
    if (scratch_reserve(ps, (size_t)(p - s))) {
        set_error(ps, s, json_error_out_of_memory, "out of memory");
        return -1;
    }
    *pushed = ps->scratch_len;
    *outlen = decode_escapes(s, p, ps->scratch + ps->scratch_len);
    *out = ps->scratch + ps->scratch_len;
    ps->scratch_len += *outlen;
    return 0;
}

/* jansson's stream takes a NUL byte in its one-character buffer for "empty":
 * a NUL pushed back after a number or a literal (read to see where the
 * token ends) is lost, so "[1\0]" and "true\0" parse. Harmless (the byte
 * is outside any string) and mirrored so both parsers take the same inputs. */
static inline const unsigned char *skip_lost_nul(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p == '\0' ? p + 1 : p;
}

static JP_NOINLINE json_t *parse_number(parser *ps)
{
    const unsigned char *s = ps->p, *p = s, *end = ps->end, *int_end;
    int neg = 0, real = 0;

    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        goto invalid;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            goto invalid; /* no leading zeros */
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    int_end = p;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            goto invalid;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            goto invalid;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        real = 1;
    }
    ps->p = skip_lost_nul(p, end);

    if (!real) {
        /* jansson reads integers with strtoll: out of range is an error,
         * not a real. */
        unsigned long long v = 0;
        unsigned long long limit = (unsigned long long)JP_JSON_INT_MAX + (neg ? 1 : 0);
        const unsigned char *q;
        json_int_t iv;
        json_t *j;
        for (q = s + neg; q < int_end; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (v > (limit - d) / 10) {
                set_error(ps, s, json_error_numeric_overflow, "too big %sinteger",
                          neg ? "negative " : "");
                return NULL;
            }
            v = v * 10 + d;
        }
        if (neg)
            iv = v ? -(json_int_t)(v - 1) - 1 : 0;
        else
            iv = (json_int_t)v;
        j = json_integer(iv);
        if (!j)
            set_error(ps, s, json_error_out_of_memory, "out of memory");
        return j;
    } else {
        char small[64], *buf = small, *dot;
        size_t n = (size_t)(p - s);
        const char *point;
        double d;
        json_t *j;
        if (n >= sizeof(small) && !(buf = malloc(n + 1))) {
            set_error(ps, s, json_error_out_of_memory, "out of memory");
            return NULL;
        }
        memcpy(buf, s, n);
        buf[n] = '\0';
        /* strtod follows LC_NUMERIC; jansson swaps the point the same way. */
        point = localeconv()->decimal_point;
        if (point && *point && *point != '.' && (dot = strchr(buf, '.')))
            *dot = *point;
        errno = 0;
        d = strtod(buf, NULL);
        if (buf != small)
            free(buf);
        if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) {
            set_error(ps, s, json_error_numeric_overflow, "real number overflow");
            return NULL;
        }
        j = json_real(d);
        if (!j)
            set_error(ps, s, json_error_out_of_memory, "out of memory");
        return j;
    }

invalid:
    set_error(ps, s, json_error_invalid_syntax, "invalid number");
    return NULL;
}

static json_t *parse_value(parser *ps);

/* After an object member or array element: 1 at a ',' (skipped, with the
 * space after it), 0 at the closing bracket (consumed), -1 on anything else. */
static int after_element(parser *ps, char close, const char *expected)
{
    ps->p = skip_ws(ps->p, ps->end);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p = skip_ws(ps->p + 1, ps->end);
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    set_error(ps, ps->p, json_error_invalid_syntax, expected);
    return -1;
}

static json_t *parse_object(parser *ps)
{
    json_t *obj = json_object(), *v;
    const char *key;
    size_t klen, pushed;
    int bad;

    if (!obj) {
        set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
        return NULL;
    }
    ps->p = skip_ws(ps->p + 1, ps->end);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        if (ps->p >= ps->end || *ps->p != '"') {
            set_error(ps, ps->p, json_error_invalid_syntax, "string or '}' expected");
            goto fail;
        }
        if (scan_string(ps, &key, &klen, &pushed))
            goto fail;
        bad = 0;
        if ((ps->flags & JSON_REJECT_DUPLICATES) && json_object_getn(obj, key, klen)) {
            set_error(ps, ps->p, json_error_duplicate_key, "duplicate object key");
            bad = 1;
        } else {
            ps->p = skip_ws(ps->p, ps->end);
            if (ps->p >= ps->end || *ps->p != ':') {
                set_error(ps, ps->p, json_error_invalid_syntax, "':' expected");
                bad = 1;
            } else {
                ps->p = skip_ws(ps->p + 1, ps->end);
                v = parse_value(ps);
                /* the value's own strings may have moved the scratch stack */
                if (pushed != (size_t)-1)
                    key = ps->scratch + pushed;
                if (!v) {
                    bad = 1;
                } else if (json_object_setn_new_nocheck(obj, key, klen, v)) {
                    /* v is released by jansson */
                    set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
                    bad = 1;
                }
            }
        }
        if (pushed != (size_t)-1)
            ps->scratch_len = pushed;
        if (bad)
            goto fail;
        switch (after_element(ps, '}', "',' or '}' expected")) {
        case 1:
            continue;
        case 0:
            return obj;
        default:
            goto fail;
        }
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(parser *ps)
{
    json_t *arr = json_array(), *v;

    if (!arr) {
        set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
        return NULL;
    }
    ps->p = skip_ws(ps->p + 1, ps->end);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        v = parse_value(ps);
        if (!v)
            goto fail;
        if (json_array_append_new(arr, v)) { /* v is released by jansson */
            set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
            goto fail;
        }
        switch (after_element(ps, ']', "',' or ']' expected")) {
        case 1:
            continue;
        case 0:
            return arr;
        default:
            goto fail;
        }
    }
fail:
    json_decref(arr);
    return NULL;
}

static JP_NOINLINE json_t *literal(parser *ps, const char *word, size_t n, json_t *(*make)(void))
{
    json_t *j;
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) {
        set_error(ps, ps->p, json_error_invalid_syntax, "invalid token");
        return NULL;
    }
    ps->p = skip_lost_nul(ps->p + n, ps->end);
    j = make();
    if (!j)
        set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
    return j;
}

static json_t *make_true(void)
{
    return json_true();
}

static json_t *make_false(void)
{
    return json_false();
}

static json_t *make_null(void)
{
    return json_null();
}

/* Out of line, like parse_number: parse_value's frame is paid once per
 * nesting level, so it keeps only what the containers need. */
static JP_NOINLINE json_t *parse_string(parser *ps)
{
    const char *s;
    size_t n, pushed;
    json_t *j;

    if (scan_string(ps, &s, &n, &pushed))
        return NULL;
    j = json_stringn_nocheck(s, n);
    if (pushed != (size_t)-1)
        ps->scratch_len = pushed;
    if (!j)
        set_error(ps, ps->p, json_error_out_of_memory, "out of memory");
    return j;
}

/* The value ps->p is on (whitespace already skipped). Like jansson, every
 * value counts towards the depth, scalars included. */
static json_t *parse_value(parser *ps)
{
    json_t *j;

    if (ps->p >= ps->end) {
        set_error(ps, ps->p, json_error_premature_end_of_input, "premature end of input");
        return NULL;
    }
    if (++ps->depth > JSON_PARSER_MAX_DEPTH) {
        set_error(ps, ps->p, json_error_stack_overflow, "maximum parsing depth reached");
        return NULL;
    }
    switch (*ps->p) {
    case '{':
        j = parse_object(ps);
        break;
    case '[':
        j = parse_array(ps);
        break;
    case '"':
        j = parse_string(ps);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        j = parse_number(ps);
        break;
    case 't':
        j = literal(ps, "true", 4, make_true);
        break;
    case 'f':
        j = literal(ps, "false", 5, make_false);
        break;
    case 'n':
        j = literal(ps, "null", 4, make_null);
        break;
    default:
        set_error(ps, ps->p, json_error_invalid_syntax, "invalid token");
        return NULL;
    }
    ps->depth--;
    return j;
}

json_t *jp_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    parser ps;
    json_t *j;

    if (flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY))
        return json_loadb(buf, len, flags, err);
    init_error(err);
    ps.start = ps.p = (const unsigned char *)buf;
    ps.end = ps.start + len;
    ps.flags = flags;
    ps.err = err;
    ps.depth = 0;
    ps.scratch = ps.inline_scratch;
    ps.scratch_len = 0;
    ps.scratch_cap = sizeof(ps.inline_scratch);
    if (!buf) {
        ps.start = ps.p = ps.end = (const unsigned char *)"";
        set_error(&ps, ps.p, json_error_invalid_argument, "wrong arguments");
        return NULL;
    }

    ps.p = skip_ws(ps.p, ps.end);
    if (!(flags & JSON_DECODE_ANY) && (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))) {
        set_error(&ps, ps.p, json_error_invalid_syntax, "'[' or '{' expected");
        return NULL;
    }
    j = parse_value(&ps);
    if (j) {
        ps.p = skip_ws(ps.p, ps.end);
        if (ps.p != ps.end) {
            set_error(&ps, ps.p, json_error_end_of_input_expected, "end of input expected");
            json_decref(j);
            j = NULL;
        }
    }
    if (ps.scratch != ps.inline_scratch)
        free(ps.scratch);
    return j;
}

/* ---- Writing ------------------------------------------------------------
 *
 * jansson's json_dumps goes through a callback per fragment, a string buffer
 * that grows, a hash table of the containers on the path (for cycles) and a
 * copy at the end: most of what an audit row's detail or the state cookie
 * costs to write. Here a tree is measured, then written once into the pool,
 * with json_dumps's compact output byte for byte: members in insertion
 * order, '"' '\\' and \b \f \n \r \t escaped by letter, other control
 * characters as \u00XX (upper-case hex), everything else as it is, and
 * invalid UTF-8 refused. Reals, whose text jansson derives with its own
 * rules, and every other flag go to json_dumps itself. */

#define JP_DUMP_FALLBACK ((size_t)-1) /* json_dumps decides */
#define JP_DUMP_FAIL ((size_t)-2)     /* json_dumps would give NULL */

/* The letter of c's two-character escape, or 0 (another control character
 * takes \u00XX, everything else stands as it is). */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

/* The quoted length of s, or JP_DUMP_FAIL for invalid UTF-8. */
static size_t quoted_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 2, k;
    while (p < end) {
        if (*p >= 0x80) {
            if (!(k = utf8_seq(p, end)))
                return JP_DUMP_FAIL;
            n += k;
            p += k;
            continue;
        }
        n += short_escape(*p) ? 2 : *p < 0x20 ? 6 : 1;
        p++;
    }
    return n;
}

/* Writes s quoted (quoted_len said it is valid); returns the end. */
static char *quote_put(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    *o++ = '"';
    for (; p < end; p++) {
        char e = short_escape(*p);
        if (e) {
            *o++ = '\\';
            *o++ = e;
        } else if (*p < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    return o;
}

static size_t int_text(char buf[32], json_int_t v)
{
    int n = snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, v);
    return n > 0 && n < 32 ? (size_t)n : 0;
}

static size_t add_len(size_t a, size_t b)
{
    if (a >= JP_DUMP_FAIL || b >= JP_DUMP_FAIL)
        return a == JP_DUMP_FALLBACK || b == JP_DUMP_FALLBACK ? JP_DUMP_FALLBACK : JP_DUMP_FAIL;
    return a + b;
}

static size_t dump_len(const json_t *v, int depth)
{
    char num[32];
    size_t n, i;
    void *it;
    json_t *e;

    if (depth > JSON_PARSER_MAX_DEPTH)
        return JP_DUMP_FALLBACK; /* a cycle, or deeper than we ever parse */
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_TRUE:
        return 4;
    case JSON_FALSE:
        return 5;
    case JSON_INTEGER:
        return (n = int_text(num, json_integer_value(v))) ? n : JP_DUMP_FAIL;
    case JSON_REAL:
        return JP_DUMP_FALLBACK;
    case JSON_STRING:
        return quoted_len(json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        n = 2;
        json_array_foreach(v, i, e)
        {
            n = add_len(n, dump_len(e, depth + 1));
            if (n >= JP_DUMP_FAIL)
                return n;
            n += i ? 1 : 0; /* ',' */
        }
        return n;
    case JSON_OBJECT:
        n = 2;
        i = 0;
        for (it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            n = add_len(n, quoted_len(json_object_iter_key(it), json_object_iter_key_len(it)));
            n = add_len(n, dump_len(json_object_iter_value(it), depth + 1));
            if (n >= JP_DUMP_FAIL)
                return n;
            n += 1 + (i++ ? 1 : 0); /* ':' and ',' */
        }
        return n;
    default:
        return JP_DUMP_FAIL;
    }
}

static char *dump_put(char *o, const json_t *v)
{
    char num[32];
    size_t n, i;
    void *it;
    json_t *e;

    switch (json_typeof(v)) {
    case JSON_NULL:
        memcpy(o, "null", 4);
        return o + 4;
    case JSON_TRUE:
        memcpy(o, "true", 4);
        return o + 4;
    case JSON_FALSE:
        memcpy(o, "false", 5);
        return o + 5;
    case JSON_INTEGER:
        n = int_text(num, json_integer_value(v));
        memcpy(o, num, n);
        return o + n;
    case JSON_STRING:
        return quote_put(o, json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        *o++ = '[';
        json_array_foreach(v, i, e)
        {
            if (i)
                *o++ = ',';
            o = dump_put(o, e);
        }
        *o++ = ']';
        return o;
    case JSON_OBJECT:
        *o++ = '{';
        i = 0;
        for (it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            if (i++)
                *o++ = ',';
            o = quote_put(o, json_object_iter_key(it), json_object_iter_key_len(it));
            *o++ = ':';
            o = dump_put(o, json_object_iter_value(it));
        }
        *o++ = '}';
        return o;
    default:
        return o; /* dump_len refused it */
    }
}

static const char *dumps_copy(apr_pool_t *p, const json_t *v, size_t flags)
{
    char *t = json_dumps(v, flags);
    const char *out;
    json_malloc_t m;
    json_free_t f;
    if (!t)
        return NULL;
    out = apr_pstrdup(p, t);
    json_get_alloc_funcs(&m, &f);
    if (f)
        f(t);
    else
        free(t);
    return out;
}

const char *jp_json_dump(apr_pool_t *p, const json_t *v, size_t flags)
{
    size_t n;
    char *out, *end;

    if (!v)
        return NULL;
    if ((flags & ~(size_t)JSON_ENCODE_ANY) != JSON_COMPACT)
        return dumps_copy(p, v, flags);
    if (!(flags & JSON_ENCODE_ANY) && !json_is_object(v) && !json_is_array(v))
        return NULL;
    n = dump_len(v, 0);
    if (n == JP_DUMP_FAIL)
        return NULL;
    if (n == JP_DUMP_FALLBACK)
        return dumps_copy(p, v, flags);
    out = apr_palloc(p, n + 1);
    end = dump_put(out, v);
    *end = '\0';
    return out;
}

const char *jp_json_quote(apr_pool_t *p, const char *s, size_t len)
{
    size_t n = quoted_len(s, len);
    char *out, *end;
    if (n == JP_DUMP_FAIL)
        return NULL;
    out = apr_palloc(p, n + 1);
    end = quote_put(out, s, len);
    *end = '\0';
    return out;
}
