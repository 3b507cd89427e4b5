/* libFuzzer target for formpost.c: a preserved POST body comes from the
 * network, and its fields end up in an HTML page.
 * Sources: tests/fuzz/fuzz_formpost.c mod_jitprov/lib/formpost.c mod_jitprov/lib/url.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "formpost.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    json_t *pairs;
    char *page, *body;
    const char *q;

    apr_pool_create(&p, root);
    pairs = jp_form_parse(p, (const char *)data, size);
    if (pairs) {
        page = jp_form_page(p, "/target", pairs, "nonce");
        if (!page)
            abort();
        /* Nothing from the body may open a tag or end an attribute: between
         * the form's start and the script, every '<' starts one of ours. */
        body = strstr(page, "<form ");
        for (q = strchr(body + 1, '<'); q && strncmp(q, "<script nonce", 13);
             q = strchr(q + 1, '<'))
            if (strncmp(q, "<input type=\"hidden\" name=\"", 27) && strncmp(q, "<noscript>", 10) &&
                strncmp(q, "<p>", 3) && strncmp(q, "</p>", 4) && strncmp(q, "<button", 7) &&
                strncmp(q, "</button>", 9) && strncmp(q, "</noscript>", 11) &&
                strncmp(q, "</form>", 7))
                abort();
        json_decref(pairs);
    }
    apr_pool_destroy(p);
    return 0;
}
