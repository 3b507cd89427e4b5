/* jp_jwks_parse on arbitrary bytes: a JWKS comes from the network. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <apr_general.h>

#include "token.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    atexit(apr_terminate);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *err = NULL;
    jp_jwks *ks;

    apr_pool_create(&p, NULL);
    ks = jp_jwks_parse(p, (const char *)data, size, &err);
    if (ks)
        (void)jp_jwks_count(ks);
    apr_pool_destroy(p);
    return 0;
}
