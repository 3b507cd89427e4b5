/* jitprov-admin check: what a login with these claims would do, without doing
 * it. The account decision is the module's own (jp_provision_dry: the same
 * statements in a transaction that is rolled back); the gates and headers use
 * the same library code as the module (claims.c, headers.c) on the
 * directives read from the same httpd configuration. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <jansson.h>

#include "claims.h"
#include "headers.h"
#include "store.h"
#include "admin.h"

/* The module compiles JITProvRequireClaim with AP_REG_NO_DEFAULT |
 * AP_REG_DOLLAR_ENDONLY (JP_ACCESS_REGEX_FLAGS): no DOTALL, no multiline,
 * unanchored; the same options here keep the prediction exact. */
static int gate_match(const char *pattern, const char *v, int *bad)
{
    int ec, rc;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY,
                                   &ec, &off, NULL);
    pcre2_match_data *md;
    if (!re) {
        *bad = 1;
        return 0;
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    rc = pcre2_match(re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

/* Every gate must match one element of its claim (flow.c's check_gates). */
static const char *check_gates(json_t *claims, json_t *out)
{
    const char *why = NULL;
    int i;
    for (i = 0; i < login_cfg.gates->nelts; i++) {
        const chk_gate *g = &((chk_gate *)login_cfg.gates->elts)[i];
        const char *v = jp_claim_get(pool, claims, g->claim);
        int ok = 0, bad = 0;
        json_t *j = json_object();
        /* As flow.c's check_gates: a control character never passes. */
        if (v && jp_multi_has_ctl(v))
            v = NULL;
        if (v) {
            char sep[2] = {JP_MULTI_SEP, 0};
            char *last, *el, *copy = apr_pstrdup(pool, v);
            if (!*copy)
                ok = gate_match(g->pattern, "", &bad);
            for (el = apr_strtok(copy, sep, &last); el && !ok; el = apr_strtok(NULL, sep, &last))
                ok = gate_match(g->pattern, el, &bad);
        }
        if (bad)
            die(EX_FAIL, "JITProvRequireClaim %s: bad regular expression '%s'", g->claim,
                g->pattern);
        json_object_set_new(j, "claim", json_string(g->claim));
        json_object_set_new(j, "regex", json_string(g->pattern));
        json_object_set_new(j, "pass", json_boolean(ok));
        json_array_append_new(out, j);
        if (!ok && !why)
            why = g->claim;
    }
    return why;
}

/* <Location PATH> covers path when equal, or a prefix ending at a '/'. */
static int covers(const char *loc, const char *path)
{
    size_t n = strlen(loc);
    if (strncmp(loc, path, n))
        return 0;
    return !path[n] || path[n] == '/' || (n && loc[n - 1] == '/');
}

/* The identity directives in force at path, merged as httpd merges them. */
static chk_dir effective(const char *path)
{
    chk_dir e, **d = (chk_dir **)login_cfg.dirs->elts;
    int i;
    memset(&e, 0, sizeof(e));
    e.encoding = -1;
    for (i = 0; i < login_cfg.dirs->nelts; i++) {
        if (d[i]->path && (!path || !covers(d[i]->path, path)))
            continue;
        if (d[i]->headers)
            e.headers = d[i]->headers;
        if (d[i]->remote_user)
            e.remote_user = d[i]->remote_user;
        if (d[i]->encoding >= 0)
            e.encoding = d[i]->encoding;
        if (d[i]->delim)
            e.delim = d[i]->delim;
    }
    return e;
}

/* What the backend would receive (mod_jitprov.c's apply_identity, through the
 * same headers.c calls). A header the module would not send is null in out;
 * unsent says why, for the text report. */
static void headers(json_t *claims, const char *sub, const jp_account *a, const char *path,
                    json_t *out, apr_table_t *unsent)
{
    apr_array_header_t *kv = apr_array_make(pool, 24, sizeof(jp_kv));
    chk_dir d = effective(path);
    const char *delim = d.delim ? d.delim : ",", *u;
    jp_encoding enc = d.encoding < 0 ? JP_ENC_NONE : (jp_encoding)d.encoding;
    json_t *h = json_object();
    int i;

    jp_claims_flatten(pool, claims, "c:", kv);
    if (a) {
        const apr_array_header_t *arr = apr_table_elts(a->cols);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
        jp_kv *k = apr_array_push(kv);
        k->key = "a:id";
        k->val = apr_psprintf(pool, "%" APR_INT64_T_FMT, a->id);
        for (i = 0; i < arr->nelts; i++) {
            if (!e[i].key || !e[i].val)
                continue;
            k = apr_array_push(kv);
            k->key = apr_pstrcat(pool, "a:", e[i].key, NULL);
            k->val = e[i].val;
        }
    }
    for (i = 0; d.headers && i < d.headers->nelts; i++) {
        const chk_header *m = &((chk_header *)d.headers->elts)[i];
        const char *v = jp_kv_get(kv, m->key), *sent = NULL;
        if (!v)
            apr_table_set(unsent, m->name,
                          m->key[0] == 'c' ? "no such claim" : "no such account value");
        else if (!(sent = jp_hdr_mapped_value(pool, m->key, v, delim, enc)))
            apr_table_set(unsent, m->name,
                          "an element contains the delimiter, or the delimiter does not suit "
                          "the encoding; the module logs JITPROV0680");
        json_object_set_new(h, m->name, sent ? json_string(sent) : json_null());
    }
    json_object_set_new(out, "headers", h);
    u = jp_kv_get(kv, d.remote_user ? d.remote_user : "c:sub");
    json_object_set_new(out, "remote_user", json_string(jp_hdr_remote_user(pool, u, sub, delim)));
}

static const char *outcome(jp_prov_rc rc, int *status)
{
    switch (rc) {
    case JP_PROV_OK:
        *status = 302;
        return "login";
    case JP_PROV_PENDING:
        *status = 403;
        return "refused: pending";
    case JP_PROV_DISABLED:
        *status = 403;
        return "refused: disabled";
    case JP_PROV_NOT_PROVISIONED:
        *status = 403;
        return "refused: not provisioned";
    case JP_PROV_EMAIL_UNVERIFIED:
        *status = 403;
        return "refused: email not verified";
    case JP_PROV_COLLISION:
        *status = 409;
        return "refused: user name taken";
    default:
        *status = 503;
        return "database error";
    }
}

static const char *jtext(json_t *v)
{
    char *t;
    const char *out;
    if (json_is_string(v))
        return safe(json_string_value(v));
    if (!v || json_is_null(v))
        return "(null)";
    t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    out = safe(apr_pstrdup(pool, t ? t : "?"));
    free(t);
    return out;
}

/* The same report for a terminal; unsent: why a null header is not sent. */
static void print_text(json_t *out, apr_table_t *unsent)
{
    json_t *v, *e;
    const char *k;
    size_t i;

    printf("outcome:  %s (HTTP %" JSON_INTEGER_FORMAT ")\n", jtext(json_object_get(out, "outcome")),
           json_integer_value(json_object_get(out, "status")));
    if ((v = json_object_get(out, "reason")))
        printf("reason:   %s\n", jtext(v));
    v = json_object_get(out, "gates");
    if (json_array_size(v))
        printf("gates:\n");
    json_array_foreach(v, i, e)
    {
        printf("  %-5s %s ~ %s\n", json_is_true(json_object_get(e, "pass")) ? "pass" : "FAIL",
               jtext(json_object_get(e, "claim")), jtext(json_object_get(e, "regex")));
    }
    v = json_object_get(out, "events");
    printf("audit rows the login would write:%s\n", json_array_size(v) ? "" : " none");
    json_array_foreach(v, i, e)
    {
        printf("  %-8s %s\n", jtext(json_object_get(e, "event")),
               jtext(json_object_get(e, "detail")));
    }
    v = json_object_get(out, "account");
    if (json_is_object(v)) {
        printf("account row after the login:\n");
        json_object_foreach(v, k, e)
        {
            printf("  %-16s %s\n", safe(k), jtext(e));
        }
    }
    v = json_object_get(out, "headers");
    if (json_is_object(v)) {
        printf("the application receives (%s):\n", jtext(json_object_get(out, "location")));
        json_object_foreach(v, k, e)
        {
            const char *why = apr_table_get(unsent, k);
            if (json_is_null(e))
                printf("  %s: (not sent: %s)\n", safe(k), why ? why : "no value");
            else
                printf("  %s: %s\n", safe(k), jtext(e));
        }
        printf("  REMOTE_USER: %s\n", jtext(json_object_get(out, "remote_user")));
    }
}

int cmd_check(void)
{
    const char *file = o("claims"), *path = o("location"), *err = NULL, *iss, *sub, *why;
    const char *fmt = format_opt("text", "text json");
    json_error_t je;
    json_t *claims, *out = json_object(), *gates = json_array(), *events = json_array();
    apr_table_t *unsent = apr_table_make(pool, 4);
    jp_account acct;
    jp_prov_rc rc = JP_PROV_OK;
    int status = 302;
    char *text;

    if (args->nelts)
        die(EX_USAGE, "'check' takes no argument '%s'", ((const char **)args->elts)[0]);
    if (!file)
        die(EX_USAGE, "check needs --claims FILE.json (the ID token's claims)");
    claims = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!claims || !json_is_object(claims))
        die(EX_USAGE, "--claims %s: not a JSON object (%s, line %d)", file, je.text, je.line);
    iss = json_string_value(json_object_get(claims, "iss"));
    sub = json_string_value(json_object_get(claims, "sub"));
    if (!iss || !sub)
        die(EX_USAGE, "--claims %s: needs the string claims iss and sub", file);
    open_db(0);
    memset(&acct, 0, sizeof(acct));

    json_object_set_new(out, "location", path ? json_string(path) : json_null());
    why = check_gates(claims, gates);
    json_object_set_new(out, "gates", gates);
    if (why) {
        json_t *e = json_object();
        status = 403;
        json_object_set_new(out, "outcome", json_string("refused: gate"));
        json_object_set_new(e, "event", json_string("refuse"));
        json_object_set_new(e, "detail", json_pack("{s:s}", "reason", "gate"));
        if (login_cfg.provisioning && cfg.audit_table && *cfg.audit_table)
            json_array_append_new(events, e);
        else
            json_decref(e);
    } else if (login_cfg.provisioning) {
        jp_login in;
        in.iss = iss;
        in.sub = sub;
        in.claims = claims;
        in.client_ip = NULL;
        in.corr_id = apr_psprintf(pool, "jitprov-check-%" APR_TIME_T_FMT, apr_time_now());
        rc = jp_provision_dry(pool, &db, &cfg, &in, &acct, events, &err);
        json_object_set_new(out, "outcome", json_string(outcome(rc, &status)));
        if (err)
            json_object_set_new(out, "reason", json_string(err));
    } else {
        json_object_set_new(out, "outcome", json_string("login"));
    }
    json_object_set_new(out, "status", json_integer(status));
    json_object_set_new(out, "events", events);
    if (acct.cols) {
        json_t *row = json_object();
        const apr_array_header_t *arr = apr_table_elts(acct.cols);
        const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
        int i;
        for (i = 0; i < arr->nelts; i++)
            json_object_set_new(row, e[i].key, json_string(e[i].val));
        json_object_set_new(out, "account", row);
    } else {
        json_object_set_new(out, "account", json_null());
    }
    if (status == 302)
        headers(claims, sub, login_cfg.provisioning ? &acct : NULL, path, out, unsent);
    if (!strcmp(fmt, "text")) {
        print_text(out, unsent);
    } else if ((text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        puts(text);
        free(text);
    }
    json_decref(out);
    json_decref(claims);
    close_db();
    return EX_OK;
}
