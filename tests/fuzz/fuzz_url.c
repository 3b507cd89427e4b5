/* libFuzzer target for url.c: redirect checks, query parsing, percent coding.
 * Sources: tests/fuzz/fuzz_url.c mod_jitprov/lib/url.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "url.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

/* What every accepted redirect target must look like, checked independently:
 * a printable path not starting with "//" or "/\\", or our exact origin. */
static void check_target(const char *in, const char *out, int port)
{
    static const char origin[] = "http://127.0.0.1";
    size_t i, n = strlen(out);
    const char *rest;

    if (strcmp(in, out) != 0 || n == 0 || n > 4096)
        abort();
    for (i = 0; i < n; i++)
        if ((unsigned char)out[i] <= 0x20 || (unsigned char)out[i] >= 0x7f)
            abort();
    if (out[0] == '/') {
        if (out[1] == '/' || out[1] == '\\')
            abort();
        return;
    }
    if (strncasecmp(out, origin, sizeof(origin) - 1) != 0)
        abort();
    rest = out + sizeof(origin) - 1;
    if (*rest == ':') {
        long v = strtol(rest + 1, (char **)&rest, 10);
        if (v != port)
            abort();
    } else if (port != 80) {
        abort();
    }
    if (*rest && *rest != '/' && *rest != '?' && *rest != '#')
        abort();
    if (memchr(out, '\\', strcspn(out, "?#")))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *r;
    char *s, *name, *v, *e, *d;
    size_t split;

    apr_pool_create(&p, root);
    s = apr_pstrmemdup(p, (const char *)data, size);

    r = jp_safe_return_to(p, s, "http", "127.0.0.1", 8080);
    if (r)
        check_target(s, r, 8080);
    r = jp_safe_return_to(p, s, "http", "127.0.0.1", 0);
    if (r)
        check_target(s, r, 80);

    jp_query_param(p, s, "state");
    jp_query_param(p, s, "code");

    /* A name taken from the input: an 0x01 byte separates name and query. */
    split = strcspn(s, "\x01");
    if (split < strlen(s)) {
        name = apr_pstrndup(p, s, split);
        v = jp_query_param(p, s + split + 1, name);
        if (v && *name) {
            /* The value must also come back when the pair is rebuilt canonically. */
            char *q = apr_pstrcat(p, jp_url_encode(p, name), "=", jp_url_encode(p, v), NULL);
            char *v2 = jp_query_param(p, q, name);
            if (!v2 || strcmp(v, v2) != 0)
                abort();
        }
    }

    d = jp_url_decode(p, s);
    if (d && strlen(d) > strlen(s))
        abort();
    e = jp_url_encode(p, s);
    d = jp_url_decode(p, e);
    if (!d || strcmp(d, s) != 0)
        abort();

    apr_pool_destroy(p);
    return 0;
}
