/* jitprov-admin's output: account tables for a terminal, CSV and JSON for
 * scripts and spreadsheets. Values come from outside (claims): control
 * characters never reach a terminal, formulas never reach a spreadsheet. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <jansson.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "store.h"
#include "admin.h"

int is_time_col(const char *name)
{
    return (cfg.col[JP_COL_CREATED_AT] && !strcmp(name, cfg.col[JP_COL_CREATED_AT])) ||
           (cfg.col[JP_COL_UPDATED_AT] && !strcmp(name, cfg.col[JP_COL_UPDATED_AT])) ||
           (cfg.col[JP_COL_LAST_LOGIN_AT] && !strcmp(name, cfg.col[JP_COL_LAST_LOGIN_AT]));
}

int is_number(const char *v)
{
    if (!v || !*v)
        return 0;
    if (*v == '-')
        v++;
    for (; *v; v++)
        if (!isdigit((unsigned char)*v))
            return 0;
    return 1;
}

/* Unix seconds as UTC: "2024-05-01T12:00:00Z" (iso) or "2024-05-01 12:00" (short). */
const char *fmt_time(const char *v, int iso)
{
    apr_time_exp_t t;
    if (!is_number(v))
        return v;
    apr_time_exp_gmt(&t, apr_time_from_sec(apr_atoi64(v)));
    if (iso)
        return apr_psprintf(pool, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1,
                            t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    return apr_psprintf(pool, "%04d-%02d-%02d %02d:%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                        t.tm_hour, t.tm_min);
}

/* For a terminal: control characters (claim values come from outside) become '?'. */
const char *safe(const char *v)
{
    char *c;
    size_t i;
    if (!v)
        return "";
    c = apr_pstrdup(pool, v);
    for (i = 0; c[i]; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            c[i] = '?';
    return c;
}

static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++; /* UTF-8 characters, not bytes */
    return n;
}

static const char *clip(const char *s, size_t max)
{
    size_t n = 0, i;
    for (i = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && n++ == max - 3)
            return apr_pstrcat(pool, apr_pstrndup(pool, s, i), "...", NULL);
    return s;
}

static void print_table(const jp_rowset *rs, const char *const *want)
{
    int idx[32], ncol = 0, i, r;
    size_t w[32];
    const char ***rows = (const char ***)rs->rows->elts;
    const char *heads[32];

    for (i = 0; want[i] && ncol < 32; i++) {
        int k;
        for (k = 0; k < rs->ncols; k++)
            if (!strcmp(rs->names[k], want[i])) {
                idx[ncol] = k;
                heads[ncol] = rs->names[k];
                w[ncol] = width(heads[ncol]);
                ncol++;
            }
    }
    for (r = 0; r < rs->rows->nelts; r++)
        for (i = 0; i < ncol; i++) {
            const char *v = rows[r][idx[i]];
            v = is_time_col(heads[i]) ? fmt_time(v, 0) : v;
            v = clip(safe(v), 40);
            if (width(v) > w[i])
                w[i] = width(v);
        }
    for (i = 0; i < ncol; i++)
        printf("%s%-*s", i ? "  " : "", i + 1 < ncol ? (int)w[i] : 0, heads[i]);
    printf("\n");
    for (r = 0; r < rs->rows->nelts; r++) {
        for (i = 0; i < ncol; i++) {
            const char *v = rows[r][idx[i]];
            v = is_time_col(heads[i]) ? fmt_time(v, 0) : v;
            v = clip(safe(v), 40);
            /* pad by characters, not bytes; the last column needs none */
            printf("%s%s%*s", i ? "  " : "", v, i + 1 < ncol ? (int)(w[i] - width(v)) : 0, "");
        }
        printf("\n");
    }
}

/* RFC 4180 field. A leading = + - @ gets a ' so a spreadsheet opening the
 * export never runs a claim value as a formula. */
static void csv_field(const char *v)
{
    const char *s;
    if (!v)
        return;
    if (*v && strchr("=+-@", *v) && !is_number(v))
        v = apr_pstrcat(pool, "'", v, NULL);
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(safe(v), stdout);
        return;
    }
    putchar('"');
    for (s = v; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r') || *s == 0x7f ? '?' : *s);
    }
    putchar('"');
}

void print_csv(const jp_rowset *rs, int times_col_at)
{
    const char ***rows = (const char ***)rs->rows->elts;
    int r, i;
    for (i = 0; i < rs->ncols; i++) {
        if (i)
            putchar(',');
        csv_field(rs->names[i]);
    }
    putchar('\n');
    for (r = 0; r < rs->rows->nelts; r++) {
        for (i = 0; i < rs->ncols; i++) {
            const char *v = rows[r][i];
            if (i)
                putchar(',');
            if (is_time_col(rs->names[i]) || (times_col_at && !strcmp(rs->names[i], "at")))
                v = v ? fmt_time(v, 1) : NULL;
            csv_field(v);
        }
        putchar('\n');
    }
}

static json_t *row_json(const jp_rowset *rs, int r, int audit)
{
    const char ***rows = (const char ***)rs->rows->elts;
    json_t *o = json_object();
    int i;
    for (i = 0; i < rs->ncols; i++) {
        const char *n = rs->names[i], *v = rows[r][i];
        json_t *j = NULL;
        if (!v)
            j = json_null();
        else if (is_time_col(n) || (audit && !strcmp(n, "at")))
            j = json_string(fmt_time(v, 1));
        else if (audit && !strcmp(n, "detail"))
            j = json_loads(v, 0, NULL);
        else if ((!strcmp(n, cfg.col[JP_COL_ID]) || !strcmp(n, "account_id") ||
                  (cfg.col[JP_COL_LOGIN_COUNT] && !strcmp(n, cfg.col[JP_COL_LOGIN_COUNT]))) &&
                 is_number(v))
            j = json_integer(apr_atoi64(v));
        if (!j)
            j = json_string(v);
        if (!j) /* not UTF-8 (a legacy table's Latin-1): keep it readable */
            j = json_string(safe(apr_pstrdup(pool, v)));
        json_object_set_new(o, n, j ? j : json_null());
    }
    return o;
}

static void put_json(json_t *j, size_t flags)
{
    char *out = json_dumps(j, flags);
    if (out) {
        json_malloc_t m;
        json_free_t f;
        puts(out);
        json_get_alloc_funcs(&m, &f);
        (f ? f : free)(out);
    }
}

void print_jsonl(const jp_rowset *rs)
{
    int r;
    for (r = 0; r < rs->rows->nelts; r++) {
        json_t *o = row_json(rs, r, 1);
        put_json(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
    }
}

/* A syslog value: "..." with \ and " escaped and control bytes as \xNN, so
 * one event is always one line whatever a claim held. */
static void syslog_value(const char *v)
{
    const unsigned char *c;
    if (!v) {
        fputs("-", stdout);
        return;
    }
    putchar('"');
    for (c = (const unsigned char *)v; *c; c++) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            printf("\\x%02x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

void print_syslog(const jp_rowset *rs)
{
    static const char *const keys[] = {"event",   "account_id", "iss",    "sub",
                                       "corr_id", "client_ip",  "detail", NULL};
    const char ***rows = (const char ***)rs->rows->elts;
    int r, i, k;
    for (r = 0; r < rs->rows->nelts; r++) {
        const char *at = NULL;
        for (i = 0; i < rs->ncols; i++)
            if (!strcmp(rs->names[i], "at"))
                at = rows[r][i];
        printf("%s jitprov-audit:", at ? fmt_time(at, 1) : "-");
        for (k = 0; keys[k]; k++)
            for (i = 0; i < rs->ncols; i++)
                if (!strcmp(rs->names[i], keys[k])) {
                    printf(" %s=", keys[k]);
                    syslog_value(rows[r][i]);
                }
        putchar('\n');
    }
}

void print_json(const jp_rowset *rs, int audit)
{
    json_t *arr = json_array();
    int r;
    for (r = 0; r < rs->rows->nelts; r++)
        json_array_append_new(arr, row_json(rs, r, audit));
    put_json(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
}

const char *format_opt(const char *dflt, const char *allowed)
{
    const char *f = o("format") ? o("format") : dflt;
    const char *hit = strstr(allowed, f);
    size_t n = strlen(f);
    if (!*f || !hit || (hit != allowed && hit[-1] != ' ') || (hit[n] && hit[n] != ' '))
        die(EX_USAGE, "--format must be one of: %s", allowed);
    return f;
}

void print_rows(const jp_rowset *rs, const char *fmt)
{
    static const char *const roles[] = {
        "id",  "status",        "username",    "email", "display_name",
        "sub", "last_login_at", "login_count", NULL};
    const char *want[16];
    int i, n = 0;
    if (!strcmp(fmt, "csv")) {
        print_csv(rs, 0);
        return;
    }
    if (!strcmp(fmt, "json")) {
        print_json(rs, 0);
        return;
    }
    if (rs->rows->nelts == 0) {
        printf("(no accounts)\n");
        return;
    }
    for (i = 0; roles[i]; i++) {
        int r = jp_store_role_from_name(roles[i]);
        if (cfg.col[r])
            want[n++] = cfg.col[r];
    }
    want[n] = NULL;
    print_table(rs, want);
}
