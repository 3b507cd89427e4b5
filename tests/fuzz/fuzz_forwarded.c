/* libFuzzer target for forwarded.c: Forwarded / X-Forwarded-* values come from
 * the network (a trusted proxy passes on what clients sent).
 * Sources: tests/fuzz/fuzz_forwarded.c mod_jitprov/lib/forwarded.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "forwarded.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

/* Whatever is accepted must be safe to put into a URL's authority. */
static void check_host(const char *h, int port)
{
    const unsigned char *q;
    if (!h || !*h || port < 0 || port > 65535)
        abort();
    for (q = (const unsigned char *)h; *q; q++)
        if (*q <= 0x20 || *q >= 0x7f || strchr("/\\?#@%\"", *q))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;
    jp_fwd f;
    const char *h, *v;
    int port;

    apr_pool_create(&p, root);
    s = apr_pstrmemdup(p, (const char *)data, size);
    if (jp_fwd_parse_forwarded(p, s, &f) == 0) {
        if (f.proto && strcmp(f.proto, "http") && strcmp(f.proto, "https"))
            abort();
        if (f.host)
            check_host(f.host, f.port);
        else if (f.port)
            abort();
    } else if (f.proto || f.host || f.port) {
        abort();
    }
    if (jp_fwd_host(p, s, &h, &port) == 0)
        check_host(h, port);
    v = jp_fwd_last(p, s);
    if (v && (strchr(v, ',') || !*v))
        abort();
    port = jp_fwd_port(s);
    if (port != -1 && (port < 1 || port > 65535))
        abort();
    apr_pool_destroy(p);
    return 0;
}
