/* What scim.c, scim_filter.c, scim_patch.c and scim_resource.c share; not
 * part of the SCIM API (scim.h), and no other file should need it.
 * Every helper that can fail returns -1 with *e set (an HTTP status, a
 * scimType and a detail that quotes at most a short excerpt of the input). */
#ifndef JP_SCIM_INT_H
#define JP_SCIM_INT_H

#include <jansson.h>
#include <apr_pools.h>

#include "scim.h"

/* ---- attribute paths and comparisons (scim_filter.c) ---- */

/* Core schemas (User, Group, ...) start so; they are never extensions. */
#define JP_SCIM_CORE_PREFIX "urn:ietf:params:scim:schemas:core:"

/* Kinds of attribute paths. */
typedef enum {
    P_ROOT = 0, /* no path (or the core schema URN): value is an object */
    P_USER_NAME,
    P_DISPLAY_NAME,
    P_ACTIVE,
    P_EXTERNAL_ID,
    P_NAME,           /* name: object */
    P_NAME_FORMATTED, /* name.formatted */
    P_GIVEN_NAME,     /* name.givenName */
    P_FAMILY_NAME,    /* name.familyName */
    P_EMAILS,         /* emails: array or one object */
    P_EMAIL_VALUE,    /* emails.value, emails[f].value: a string */
    P_EMAIL_ENTRY,    /* emails[f]: one object */
    P_IGNORED,        /* no column, or an extension schema */
    P_ID,
    P_META, /* meta, schemas */
    P_GROUPS
} path_kind;

/* Which stored address an emails[...] filter selects: the one address kept
 * (rendered type work, primary), one of another type or not primary (never
 * stored), or the one equal to sel_value. */
typedef enum { EF_NONE = 0, EF_OURS, EF_OTHER, EF_VALUE } email_sel;

typedef struct {
    path_kind kind;
    email_sel sel;
    int filtered;          /* emails[...]: a value selection filter (valuePath) */
    const char *sel_value; /* EF_VALUE */
    const char *text;      /* as given, for error details */
} jp_path;

typedef struct {
    const char *attr; /* as written */
    json_t *value;    /* owned by the caller after success */
} jp_cmp;

/* `attr op value`; only eq is supported, anything else is refused by name.
 * The attribute as written, the value as JSON (a scalar). */
int jp_scim_parse_cmp(apr_pool_t *p, const char *s, size_t n, jp_cmp *out, jp_scim_err *e);
/* PATH = [core URN ":"] attr ["[" filter "]"] ["." subAttr], or an extension
 * URN (P_IGNORED). */
int jp_scim_parse_path(apr_pool_t *p, const char *text, jp_path *out, jp_scim_err *e);
/* s after the core User schema URN, or NULL when it does not start with it. */
const char *jp_scim_strip_core_urn(const char *s);
/* Length of the attribute name s starts with (0: none). */
size_t jp_scim_attr_len(const char *s);

/* ---- JSON and text (scim.c) ---- */

/* Fills *e (when not NULL) and returns -1. */
int jp_scim_fail(jp_scim_err *e, apr_pool_t *p, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A short, printable excerpt of outside input for an error detail. */
const char *jp_scim_excerpt(apr_pool_t *p, const char *s);
/* Compact text of v, which is released. NULL for NULL. */
const char *jp_scim_dump(apr_pool_t *p, json_t *v);
/* A JSON string from database text that may not be UTF-8 (legacy tables). */
json_t *jp_scim_jstr(const char *s);
/* Text that may reach a header, a log line or a column: no control
 * characters, 1 to max bytes. */
int jp_scim_text_ok(const char *s, size_t max);
/* An address that email linking can compare: local@domain, no spaces. */
int jp_scim_email_ok(const char *s);
/* A boolean, or the strings "True"/"False" Entra ID sends. 0 or -1. */
int jp_scim_bool(json_t *v, int *out);
/* A request body: a JSON object of at most JP_SCIM_BODY_MAX bytes, without
 * duplicate members. NULL with *e set. */
json_t *jp_scim_load(apr_pool_t *p, const char *body, size_t len, jp_scim_err *e);
/* Member of o by case-insensitive name (SCIM attribute names are). */
json_t *jp_scim_get(json_t *o, const char *name);
/* 1 when the "schemas" member of o lists urn. */
int jp_scim_lists_schema(json_t *o, const char *urn);
/* 1 (and *which) when two members of o differ only in case. */
int jp_scim_ci_duplicates(apr_pool_t *p, json_t *o, const char **which);

/* ---- attribute values (scim.c) ---- */

/* The value of a single-valued string attribute: kind P_USER_NAME (a
 * non-empty string), P_DISPLAY_NAME, P_NAME_FORMATTED, P_GIVEN_NAME,
 * P_FAMILY_NAME or P_EXTERNAL_ID (a string, or null or "" to clear it). */
int jp_scim_string_value(apr_pool_t *p, path_kind kind, json_t *v, const char **out,
                         jp_scim_err *e);
/* active: true or false (or Entra ID's strings). */
int jp_scim_active_value(apr_pool_t *p, json_t *v, int *out, jp_scim_err *e);
/* One address (emails.value); null and "" clear it. */
int jp_scim_email_string(apr_pool_t *p, json_t *v, const char **out, jp_scim_err *e);
/* The address of a multi-valued emails value: the primary entry, else type
 * work, else the first; *found 0 when no entry has an address. */
int jp_scim_pick_email(apr_pool_t *p, json_t *v, const char **out, int *found, jp_scim_err *e);
/* name.formatted, else "givenName familyName"; *has_formatted when formatted
 * was given. */
int jp_scim_name_display(apr_pool_t *p, json_t *name, const char **out, int *has_formatted,
                         jp_scim_err *e);
/* givenName and familyName of a name value; has_* say which were members
 * (null or "" clear). A null name gives both, cleared. */
int jp_scim_name_parts(apr_pool_t *p, json_t *name, const char **given, int *has_given,
                       const char **family, int *has_family, jp_scim_err *e);
/* active as a status: 501 when false is asked of a table without a status
 * column. */
int jp_scim_set_active(apr_pool_t *p, jp_scim_user *next, int active, jp_scim_err *e);

#endif
