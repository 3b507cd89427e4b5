/* A minimal unit-test harness: CHECK records a failure and goes on; main()
 * ends with JT_DONE(), which prints "N passed, N failed" and sets the exit code. */
#ifndef JTEST_H
#define JTEST_H

#include <stdio.h>
#include <string.h>

static int jt_pass, jt_fail;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (cond) {                                                                    \
            jt_pass++;                                                                 \
        } else {                                                                       \
            jt_fail++;                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *jt_a = (a), *jt_b = (b);                                           \
        if (jt_a && jt_b && strcmp(jt_a, jt_b) == 0) {                                 \
            jt_pass++;                                                                 \
        } else {                                                                       \
            jt_fail++;                                                                 \
            fprintf(stderr, "%s:%d: \"%s\" != \"%s\" (%s)\n", __FILE__, __LINE__,       \
                    jt_a ? jt_a : "(null)", jt_b ? jt_b : "(null)", #a);               \
        }                                                                              \
    } while (0)

#define JT_DONE()                                                                      \
    do {                                                                               \
        printf("%s: %d passed, %d failed\n", __FILE__, jt_pass, jt_fail);              \
        return jt_fail ? 1 : 0;                                                        \
    } while (0)

#endif
