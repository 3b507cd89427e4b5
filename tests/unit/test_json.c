/* jp_json_loadb: the trees it builds (compared through a compact dump) and
 * what it refuses, with jansson's json_loadb as a cross-check on each case.
 * jp_json_dump: the same bytes as json_dumps, on every tree parsed here and
 * on trees parsing cannot make (NUL bytes, invalid UTF-8, reals). */

#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <jansson.h>

#include "json.h"
#include "jtest.h"

static char *dumped; /* the last dump, freed by the next parse() */
static apr_pool_t *pool;

/* jp_json_dump and json_dumps agree on v under flags (both NULL, or the
 * same text). */
static void same_dump(const json_t *v, size_t flags)
{
    char *theirs = json_dumps(v, flags);
    const char *ours = jp_json_dump(pool, v, flags);
    CHECK(!ours == !theirs);
    if (ours && theirs)
        CHECK_STR(ours, theirs);
    free(theirs);
}

/* The compact dump of the parse (key order included), or NULL when refused.
 * json_loadb must agree on accept/refuse and on the dump. */
static const char *parse(const char *buf, size_t len, size_t flags)
{
    json_error_t e;
    json_t *ours = jp_json_loadb(buf, len, flags, &e), *theirs = json_loadb(buf, len, flags, NULL);
    char *d;

    free(dumped);
    dumped = NULL;
    CHECK(!ours == !theirs);
    if (!ours) {
        json_decref(theirs);
        CHECK(e.text[0] != '\0' && e.line >= 1 && e.column >= 1 && e.position >= 0 &&
              (size_t)e.position <= len);
        return NULL;
    }
    dumped = json_dumps(ours, JSON_COMPACT | JSON_ENCODE_ANY);
    same_dump(ours, JSON_COMPACT | JSON_ENCODE_ANY);
    same_dump(ours, JSON_COMPACT);
    if (theirs) {
        d = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK(d && dumped && !strcmp(d, dumped));
        CHECK(json_equal(ours, theirs));
        free(d);
    }
    json_decref(ours);
    json_decref(theirs);
    return dumped;
}

#define OK(text, flags, want) CHECK_STR(parse(text, sizeof(text) - 1, flags), want)
#define BAD(text, flags) CHECK(parse(text, sizeof(text) - 1, flags) == NULL)

/* n arrays inside each other, with "1" in the innermost when scalar. */
static char *nested(int n, int scalar)
{
    char *s = malloc((size_t)n * 2 + 2), *o = s;
    int i;
    for (i = 0; i < n; i++)
        *o++ = '[';
    if (scalar)
        *o++ = '1';
    for (i = 0; i < n; i++)
        *o++ = ']';
    *o = '\0';
    return s;
}

/* Trees the parser never makes: strings with NUL bytes and every control
 * character, invalid UTF-8 (refused by both), reals and other flags (handed
 * to json_dumps), bare scalars without JSON_ENCODE_ANY (NULL). */
static void test_dump(void)
{
    const size_t C = JSON_COMPACT, ANYE = JSON_COMPACT | JSON_ENCODE_ANY;
    char all[128];
    json_t *o, *a;
    int i;

    for (i = 0; i < 128; i++)
        all[i] = (char)i; /* NUL, controls, '"', '\\', '/', DEL */
    o = json_object();
    json_object_set_new(o, "all", json_stringn(all, sizeof(all)));
    json_object_set_new(o, "utf8", json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    json_object_set_new(o, "k\"e\\y\n", json_integer(-9223372036854775807LL - 1));
    json_object_set_new(o, "max", json_integer(9223372036854775807LL));
    a = json_array();
    json_array_append_new(a, json_true());
    json_array_append_new(a, json_false());
    json_array_append_new(a, json_null());
    json_array_append_new(a, json_object());
    json_array_append_new(a, json_array());
    json_array_append_new(a, json_string(""));
    json_object_set_new(o, "a", a);
    same_dump(o, C);
    same_dump(o, ANYE);
    same_dump(o, JSON_COMPACT | JSON_SORT_KEYS); /* jansson's */
    same_dump(o, JSON_INDENT(2));
    same_dump(o, 0);
    same_dump(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    same_dump(o, JSON_COMPACT | JSON_ESCAPE_SLASH);
    /* a real anywhere: jansson's text */
    json_array_append_new(a, json_real(0.1));
    json_array_append_new(a, json_real(1e300));
    same_dump(o, C);
    same_dump(o, C | JSON_REAL_PRECISION(5));
    json_decref(o);

    /* invalid UTF-8 in a value or a key: NULL from both */
    o = json_object();
    json_object_set_new_nocheck(o, "x", json_stringn_nocheck("a\xff", 2));
    same_dump(o, C);
    CHECK(jp_json_dump(pool, o, C) == NULL);
    json_decref(o);
    /* A key: jansson ignores the failure and writes broken text ('{":true}');
     * ours refuses. The parser never makes such a key. */
    o = json_object();
    json_object_set_new_nocheck(o, "\xed\xa0\x80", json_true()); /* a surrogate */
    CHECK(jp_json_dump(pool, o, C) == NULL);
    json_decref(o);

    /* bare scalars */
    o = json_string("s");
    same_dump(o, C);
    CHECK(jp_json_dump(pool, o, C) == NULL);
    CHECK_STR(jp_json_dump(pool, o, ANYE), "\"s\"");
    json_decref(o);
    o = json_integer(7);
    same_dump(o, ANYE);
    json_decref(o);
    CHECK(jp_json_dump(pool, NULL, ANYE) == NULL);

    CHECK_STR(jp_json_quote(pool, "a\"b\x01\x7f/", 6), "\"a\\\"b\\u0001\x7f/\"");
    CHECK_STR(jp_json_quote(pool, "n\0ul", 4), "\"n\\u0000ul\"");
    CHECK(jp_json_quote(pool, "\xc0\x80", 2) == NULL); /* overlong */
}

int main(void)
{
    const size_t RD = JSON_REJECT_DUPLICATES, ANY = JSON_DECODE_ANY;
    json_error_t e;
    json_t *j;
    char *s;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_dump();

    /* Shapes and key order. */
    OK("{}", 0, "{}");
    OK("[]", 0, "[]");
    OK(" \t\r\n{ \"b\" : 1 , \"a\" : [ true , false , null ] } \n", 0,
       "{\"b\":1,\"a\":[true,false,null]}");
    OK("{\"z\":1,\"y\":2,\"x\":3}", RD, "{\"z\":1,\"y\":2,\"x\":3}");
    OK("[{\"a\":{\"b\":[[],{}]}}]", 0, "[{\"a\":{\"b\":[[],{}]}}]");

    /* A repeated key: refused with JSON_REJECT_DUPLICATES, else the last
     * value in the first key's place (jansson's behaviour). */
    OK("{\"a\":1,\"b\":2,\"a\":3}", 0, "{\"a\":3,\"b\":2}");
    BAD("{\"a\":1,\"b\":2,\"a\":3}", RD);
    BAD("{\"a\":1,\"\\u0061\":2}", RD);
    OK("{\"a\":{\"a\":1}}", RD, "{\"a\":{\"a\":1}}");

    /* Top level: object or array unless JSON_DECODE_ANY. */
    BAD("\"x\"", 0);
    BAD("1", RD);
    OK("\"x\"", ANY, "\"x\"");
    OK(" 42 ", ANY, "42");
    OK("true", ANY, "true");
    OK("null", ANY | RD, "null");
    BAD("", 0);
    BAD("", ANY);
    BAD("   ", ANY);
    CHECK(jp_json_loadb(NULL, 0, 0, &e) == NULL && e.text[0]);

    /* Trailing garbage and broken syntax. */
    BAD("{} x", 0);
    BAD("{}{}", 0);
    BAD("[1,]", 0);
    BAD("{\"a\":1,}", 0);
    BAD("[1 2]", 0);
    BAD("{\"a\" 1}", 0);
    BAD("{1:2}", 0);
    BAD("[", 0);
    BAD("{\"a\":", 0);
    BAD("[tru]", 0);
    BAD("[truex]", 0);
    BAD("[True]", 0);
    BAD("[nul]", 0);
    BAD("\xef\xbb\xbf{}", 0); /* no BOM */
    BAD("[\f1]", 0);          /* form feed is not whitespace */
    BAD("[\v1]", 0);
    BAD("{}\x00", 0);
    BAD("[1,\x00 2]", 0);
    /* jansson loses a NUL byte right after a number or a literal (its stream
     * buffer takes it for "empty"); mirrored. */
    OK("[1\x00]", 0, "[1]");
    OK("[true\x00,2.5\x00]", 0, "[true,2.5]");
    OK("7\x00", ANY, "7");
    BAD("[1\x00\x00]", 0);

    /* Numbers: integers when they fit json_int_t, too big is an error;
     * reals through strtod, overflow is an error, underflow is not. */
    OK("[0,-0,12,-12]", 0, "[0,0,12,-12]");
    OK("[9223372036854775807,-9223372036854775808]", 0,
       "[9223372036854775807,-9223372036854775808]");
    BAD("[9223372036854775808]", 0);
    BAD("[-9223372036854775809]", 0);
    BAD("[123456789012345678901234567890]", 0);
    OK("[1.5,-0.0,1e2,1E+2,1e-2,0.1e1]", 0, "[1.5,-0.0,100.0,100.0,0.01,1.0]");
    OK("[9223372036854775808.0]", 0, "[9.2233720368547758e18]");
    OK("[1e-400]", 0, "[0.0]");
    BAD("[1e400]", 0);
    BAD("[-1e400]", 0);
    OK("[1.7976931348623157e308]", 0, "[1.7976931348623157e308]");
    BAD("[01]", 0);
    BAD("[-01]", 0);
    BAD("[1.]", 0);
    BAD("[.5]", 0);
    BAD("[1e]", 0);
    BAD("[1e+]", 0);
    BAD("[-]", 0);
    BAD("[+1]", 0);
    BAD("[0x10]", 0);
    BAD("[NaN]", 0);
    BAD("[Infinity]", 0);
    BAD("[1.5x]", 0);
    {
        /* a real longer than the parser's stack buffer */
        static const char longreal[] = "[0.000000000000000000000000000000000000000000000000000"
                                       "0000000000000000000000000000000000000000001]";
        OK(longreal, 0, "[9.9999999999999996e-95]");
    }

    /* Strings: escapes, surrogate pairs, UTF-8. */
    OK("[\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"]", 0, "[\"a\\\"b\\\\c/d\\be\\ff\\ng\\rh\\ti\"]");
    OK("[\"\\u0041\\u00e9\\u20AC\"]", 0, "[\"A\xc3\xa9\xe2\x82\xac\"]");
    OK("[\"\\ud83d\\ude00\"]", 0, "[\"\xf0\x9f\x98\x80\"]");
    OK("[\"\\uDBFF\\uDFFF\"]", 0, "[\"\xf4\x8f\xbf\xbf\"]");
    OK("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"]", 0,
       "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"]");
    OK("{\"k\\u0065y\":\"v\"}", 0, "{\"key\":\"v\"}");
    BAD("[\"\\ud83d\"]", 0);        /* lone high surrogate */
    BAD("[\"\\ude00\"]", 0);        /* lone low surrogate */
    BAD("[\"\\ud83d\\u0041\"]", 0); /* high, then not a low one */
    BAD("[\"\\ud83dx\"]", 0);
    BAD("[\"\\u0000\"]", 0);
    BAD("{\"a\\u0000\":1}", 0);
    BAD("[\"\\u12\"]", 0);
    BAD("[\"\\u12G4\"]", 0);
    BAD("[\"\\x41\"]", 0);
    BAD("[\"\\'\"]", 0);
    BAD("[\"a\nb\"]", 0);
    BAD("[\"a\tb\"]", 0);
    BAD("[\"a\x00 b\"]", 0);
    BAD("[\"abc", 0);
    BAD("[\"abc\\", 0);
    BAD("[\"\xc3\"]", 0);             /* truncated */
    BAD("[\"\xc0\xaf\"]", 0);         /* overlong */
    BAD("[\"\xe0\x80\xaf\"]", 0);     /* overlong */
    BAD("[\"\xed\xa0\x80\"]", 0);     /* encoded surrogate */
    BAD("[\"\xf4\x90\x80\x80\"]", 0); /* above U+10FFFF */
    BAD("[\"\xf5\x80\x80\x80\"]", 0);
    BAD("[\"\xff\"]", 0);
    BAD("[\"\x80\"]", 0);
    BAD("[\xc3\xa9]", 0);
    /* Long strings cross the eight-byte scan and the scratch buffer. */
    {
        char big[3000], want[3000];
        size_t i, n = 0, w = 0;
        big[n++] = '[';
        big[n++] = '"';
        want[w++] = '[';
        want[w++] = '"';
        for (i = 0; i < 700; i++) {
            big[n++] = (char)('a' + i % 26);
            want[w++] = (char)('a' + i % 26);
            if (i % 97 == 0) {
                memcpy(big + n, "\\u00e9", 6);
                n += 6;
                memcpy(want + w, "\xc3\xa9", 2);
                w += 2;
            }
        }
        memcpy(big + n, "\"]", 3);
        memcpy(want + w, "\"]", 3);
        CHECK_STR(parse(big, n + 2, 0), want);
        big[300] = '\x01';
        CHECK(parse(big, n + 2, 0) == NULL);
    }

    /* Escaped keys wait on the scratch stack while their value is parsed;
     * a long escaped value grows (moves) the stack under them. */
    {
        char big[4000], want[4000];
        size_t n = 0, w = 0, i;
        n += (size_t)sprintf(big + n, "{\"");
        w += (size_t)sprintf(want + w, "{\"");
        for (i = 0; i < 600; i++) {
            big[n++] = 'k';
            want[w++] = 'k';
        }
        n += (size_t)sprintf(big + n, "\\n\":{\"in\\u006eer\":\"");
        w += (size_t)sprintf(want + w, "\\n\":{\"inner\":\"");
        for (i = 0; i < 2000; i++) {
            big[n++] = 'v';
            want[w++] = 'v';
        }
        n += (size_t)sprintf(big + n, "\\t\"}}");
        w += (size_t)sprintf(want + w, "\\t\"}}");
        CHECK_STR(parse(big, n, RD), want);
    }

    /* Depth: jansson's JSON_PARSER_MAX_DEPTH, scalars counted. */
    s = nested(JSON_PARSER_MAX_DEPTH, 0);
    CHECK(parse(s, strlen(s), 0) != NULL);
    free(s);
    s = nested(JSON_PARSER_MAX_DEPTH - 1, 1);
    CHECK(parse(s, strlen(s), 0) != NULL);
    free(s);
    s = nested(JSON_PARSER_MAX_DEPTH, 1);
    CHECK(parse(s, strlen(s), 0) == NULL);
    free(s);
    s = nested(JSON_PARSER_MAX_DEPTH + 1, 0);
    CHECK(parse(s, strlen(s), 0) == NULL);
    free(s);
    s = nested(100000, 0);
    CHECK(parse(s, strlen(s), 0) == NULL);
    free(s);

    /* Errors: a message, line and column of the offending byte, the code. */
    j = jp_json_loadb("{\n  \"a\": 1,\n  \"a\": 2}", 21, RD, &e);
    CHECK(j == NULL);
    CHECK(e.line == 3);
    CHECK(strstr(e.text, "duplicate") != NULL);
    CHECK(json_error_code(&e) == json_error_duplicate_key);
    j = jp_json_loadb("[1, 2, x]", 9, 0, &e);
    CHECK(j == NULL && e.line == 1 && e.column == 8 && e.position == 7);
    CHECK(json_error_code(&e) == json_error_invalid_syntax);
    j = jp_json_loadb("[99999999999999999999]", 22, 0, &e);
    CHECK(j == NULL && json_error_code(&e) == json_error_numeric_overflow);
    j = jp_json_loadb("[1]", 3, 0, NULL); /* err may be NULL */
    CHECK(j != NULL);
    json_decref(j);
    CHECK(jp_json_loadb("[1", 2, 0, NULL) == NULL);
    j = jp_json_loadb("{\"a\":[1,\"x\"]}", 13, 0, &e);
    CHECK(j && e.text[0] == '\0' &&
          json_integer_value(json_array_get(json_object_get(j, "a"), 0)) == 1);
    json_decref(j);

    /* Other flags go to json_loadb itself. */
    j = jp_json_loadb("[1] x", 5, JSON_DISABLE_EOF_CHECK, &e);
    CHECK(j && json_array_size(j) == 1);
    json_decref(j);
    j = jp_json_loadb("[\"a\\u0000b\"]", 12, JSON_ALLOW_NUL, &e);
    CHECK(j && json_string_length(json_array_get(j, 0)) == 3);
    json_decref(j);

    free(dumped);
    apr_pool_destroy(pool);
    apr_terminate();
    JT_DONE();
}
