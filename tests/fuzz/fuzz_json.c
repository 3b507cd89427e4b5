/* libFuzzer target: differential test of jp_json_loadb (json.c) against
 * jansson's json_loadb. The whole input is the JSON text, parsed under each
 * flag set the module uses (0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY, and
 * both). Both parsers must refuse it, or both accept it with json_equal()
 * trees whose compact dumps (key order included) are the same bytes. A
 * refusal must come with an error text and a position inside the input.
 * jp_json_dump must write every accepted tree as json_dumps does. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <jansson.h>

#include "json.h"

static apr_pool_t *pool;

static void same_dump(const json_t *v, size_t flags)
{
    char *theirs = json_dumps(v, flags);
    const char *ours;
    if (!pool) {
        apr_initialize();
        apr_pool_create(&pool, NULL);
    }
    ours = jp_json_dump(pool, v, flags);
    if (!ours != !theirs || (ours && strcmp(ours, theirs))) {
        fprintf(stderr, "dump flags %zu: jp_json_dump %s, json_dumps %s\n", flags,
                ours ? ours : "(null)", theirs ? theirs : "(null)");
        abort();
    }
    free(theirs);
    apr_pool_clear(pool);
}

static void check(const uint8_t *data, size_t size, size_t flags)
{
    json_error_t e1, e2;
    json_t *ours = jp_json_loadb((const char *)data, size, flags, &e1);
    json_t *theirs = json_loadb((const char *)data, size, flags, &e2);

    if (!ours != !theirs) {
        fprintf(stderr, "flags %zu: jp_json_loadb %s (%s), json_loadb %s (%s)\n", flags,
                ours ? "accepted" : "refused", ours ? "" : e1.text, theirs ? "accepted" : "refused",
                theirs ? "" : e2.text);
        abort();
    }
    if (!ours) {
        if (!e1.text[0] || e1.position < 0 || (size_t)e1.position > size || e1.line < 1 ||
            e1.column < 1) {
            fprintf(stderr, "flags %zu: refused without a usable error\n", flags);
            abort();
        }
        return;
    }
    if (!json_equal(ours, theirs)) {
        fprintf(stderr, "flags %zu: trees differ\n", flags);
        abort();
    }
    {
        char *d1 = json_dumps(ours, JSON_COMPACT | JSON_ENCODE_ANY);
        char *d2 = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!d1 || !d2 || strcmp(d1, d2)) {
            fprintf(stderr, "flags %zu: dumps differ:\n%s\n%s\n", flags, d1 ? d1 : "(null)",
                    d2 ? d2 : "(null)");
            abort();
        }
        free(d1);
        free(d2);
    }
    same_dump(ours, JSON_COMPACT | JSON_ENCODE_ANY);
    same_dump(ours, JSON_COMPACT);
    json_decref(ours);
    json_decref(theirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 0);
    check(data, size, JSON_REJECT_DUPLICATES);
    check(data, size, JSON_DECODE_ANY);
    check(data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES);
    return 0;
}
