/* libFuzzer target for the state cookie (state.c, crypto.c).
 * First byte picks the path:
 *   even: the rest is a cookie value opened under a fixed key (base64url decoding,
 *         length checks, GCM rejection);
 *   odd:  the rest is sealed as plaintext under that key and opened, so the JSON
 *         checks behind the authentication see arbitrary input too.
 * Sources: tests/fuzz/fuzz_state.c mod_jitprov/lib/state.c mod_jitprov/lib/crypto.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "state.h"

#define NAME "jp_ABCDEFGHIJKLMNOP"
#define AAD "jitprov-state-v1:" NAME

static apr_pool_t *root;
static jp_key key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const unsigned char secret[] = "fuzz passphrase";

    apr_initialize();
    apr_pool_create(&root, NULL);
    if (jp_hkdf(secret, sizeof(secret) - 1, JP_HKDF_INFO_STATE, &key) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jp_authstate st;
    const char *err = NULL, *value;
    char *s;

    if (size < 1)
        return 0;
    apr_pool_create(&p, root);
    s = apr_palloc(p, size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';

    if (data[0] & 1) {
        value = jp_seal(p, &key, AAD, data + 1, size - 1);
        if (!value && size - 1 < 40000)
            abort();
    } else {
        value = s;
        jp_authstate_cookie_name(p, "jp", s);
    }
    if (value && jp_authstate_open(p, &key, 1, NAME, value, 1700000000, 300, &st, &err) == 0) {
        /* Anything accepted must satisfy what callers rely on. */
        if (!st.state || !*st.state || strlen(st.state) > 128 || !st.nonce || !*st.nonce ||
            !st.verifier || !*st.verifier || strncmp(st.state, &NAME[3], 16) != 0 ||
            st.created < 1700000000 - 360 || st.created > 1700000000 + 60 || err)
            abort();
    } else if (value && !err) {
        abort();
    }
    apr_pool_destroy(p);
    return 0;
}
