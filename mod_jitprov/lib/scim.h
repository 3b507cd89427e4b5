/* SCIM 2.0 (RFC 7643/7644) User resources over the account table: request
 * parsing and validation, PATCH operations, filters, and the JSON the endpoint
 * answers with. Pure jansson + apr, no httpd headers: the unit tests and the
 * fuzzer link it alone. The SQL is in scim_store.c, the HTTP in scim_handler.c. */
#ifndef JP_SCIM_H
#define JP_SCIM_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

#define JP_SCIM_SCHEMA_USER "urn:ietf:params:scim:schemas:core:2.0:User"
#define JP_SCIM_SCHEMA_ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define JP_SCIM_MSG_PATCH "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#define JP_SCIM_MSG_LIST "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define JP_SCIM_MSG_ERROR "urn:ietf:params:scim:api:messages:2.0:Error"

#define JP_SCIM_BODY_MAX 65536  /* largest request body accepted (413 above) */
#define JP_SCIM_VALUE_MAX 1024  /* longest userName, displayName, externalId (bytes) */
#define JP_SCIM_EMAIL_MAX 320   /* longest email address */
#define JP_SCIM_OPS_MAX 100     /* PATCH operations per request */
#define JP_SCIM_FILTER_MAX 1024 /* longest filter expression */
#define JP_SCIM_PAGE_MAX 200    /* largest page of a list (count above is cut) */
#define JP_SCIM_GROUPS_MAX 1000 /* group values rendered per user */
/* Distinct filter forms (the filter with its values taken out) one database
 * connection prepares statements for; another form is refused with 400
 * invalidFilter (docs/scim.md). */
#define JP_SCIM_FILTER_FORMS_MAX 32

/* scimType values of RFC 7644 section 3.12. */
#define JP_SCIM_E_FILTER "invalidFilter"
#define JP_SCIM_E_VALUE "invalidValue"
#define JP_SCIM_E_SYNTAX "invalidSyntax"
#define JP_SCIM_E_PATH "invalidPath"
#define JP_SCIM_E_UNIQUE "uniqueness"
#define JP_SCIM_E_TARGET "noTarget"
#define JP_SCIM_E_MUTABILITY "mutability"

/* An error answer: HTTP status, scimType (NULL for none) and a detail for
 * humans. The detail never echoes more than a short excerpt of the input. */
typedef struct {
    int status;
    const char *type;
    const char *detail;
} jp_scim_err;

/* An account as SCIM sees it. Strings are NULL when absent (SQL NULL). */
typedef struct {
    const char *id;            /* decimal account id */
    const char *user_name;     /* username column */
    const char *email;         /* email column: emails[primary or work or first].value */
    const char *display_name;  /* display_name column: displayName / name.formatted */
    const char *groups;        /* groups column text, read-only */
    const char *external_id;   /* external_id column: externalId (case-exact) */
    const char *given_name;    /* given_name column: name.givenName */
    const char *family_name;   /* family_name column: name.familyName */
    const char *status;        /* "active", "pending", "disabled"; NULL: no status column */
    const char *iss, *sub;     /* set once the first OIDC login linked the row */
    int64_t created, modified; /* unix seconds; 0 = unknown */
} jp_scim_user;

/* What a POST or PUT body asserts. */
#define JP_SCIM_F_USER_NAME (1u << 0)
#define JP_SCIM_F_EMAIL (1u << 1)
#define JP_SCIM_F_DISPLAY_NAME (1u << 2)
#define JP_SCIM_F_ACTIVE (1u << 3)
#define JP_SCIM_F_EXTERNAL_ID (1u << 4)
#define JP_SCIM_F_GIVEN_NAME (1u << 5)
#define JP_SCIM_F_FAMILY_NAME (1u << 6)

typedef struct {
    unsigned fields;          /* JP_SCIM_F_* present in the body */
    const char *user_name;    /* always set after a successful parse */
    const char *email;        /* NULL: no usable address given */
    const char *display_name; /* displayName, else name.formatted, else given + family */
    int active;               /* when JP_SCIM_F_ACTIVE */
    const char *external_id;  /* NULL when absent, null or "" */
    const char *given_name;   /* name.givenName; NULL when absent, null or "" */
    const char *family_name;  /* name.familyName; likewise */
} jp_scim_input;

/* A POST or PUT body: a JSON object whose "schemas" lists the core User
 * schema, with a userName. Attribute names are case-insensitive; readOnly
 * attributes (id, meta, groups) are ignored as RFC 7644 3.5.1 says, and so are
 * extension schemas and core attributes the table has no column for. 0, or -1
 * with *e set (400). */
int jp_scim_parse_user(apr_pool_t *p, const char *body, size_t len, jp_scim_input *in,
                       jp_scim_err *e);

/* PUT: next = cur with userName, emails, displayName, externalId and the name
 * parts replaced (omitted ones cleared), and the status changed only when "active" was given. 0 or
 * -1 (*e: 501 when active=false is asked of a table without a status column). */
int jp_scim_apply_put(apr_pool_t *p, const jp_scim_user *cur, const jp_scim_input *in,
                      jp_scim_user *next, jp_scim_err *e);

/* A parsed PATCH request (opaque). */
typedef struct jp_scim_patch jp_scim_patch;

/* A PatchOp body: the PatchOp schema, 1..JP_SCIM_OPS_MAX "Operations", each
 * with "op" add/replace/remove in any case, an optional "path" (required for
 * remove) and a "value". Paths are checked here; values when applied. */
int jp_scim_parse_patch(apr_pool_t *p, const char *body, size_t len, jp_scim_patch **out,
                        jp_scim_err *e);

/* Applies the operations in order to a copy of cur. *touched_active is set
 * when an operation set "active" (the caller then ends live sessions of an
 * inactive result). 0 or -1 with *e. */
int jp_scim_apply_patch(apr_pool_t *p, const jp_scim_patch *patch, const jp_scim_user *cur,
                        jp_scim_user *next, int *touched_active, jp_scim_err *e);

/* Number of operations (for logs). */
int jp_scim_patch_count(const jp_scim_patch *patch);

/* Filters (RFC 7644 3.4.2.2): comparisons joined with and, or, not (...) and
 * parentheses. Attribute names are case-insensitive, optionally with the core
 * User schema URN in front. */
typedef enum {
    JP_SCIM_FA_ID = 0,
    JP_SCIM_FA_USER_NAME,
    JP_SCIM_FA_EMAIL,        /* emails, emails.value */
    JP_SCIM_FA_DISPLAY_NAME, /* displayName, name.formatted */
    JP_SCIM_FA_ACTIVE,
    JP_SCIM_FA_EXTERNAL_ID, /* case-exact (RFC 7643 section 3.1) */
    JP_SCIM_FA_GIVEN_NAME,  /* name.givenName */
    JP_SCIM_FA_FAMILY_NAME  /* name.familyName */
} jp_scim_fattr;

/* Operators: eq, ne, pr on every attribute; co, sw, ew on the string ones.
 * gt/ge/lt/le are refused: SQLite and PostgreSQL order text differently. */
typedef enum {
    JP_SCIM_OP_EQ = 0,
    JP_SCIM_OP_NE,
    JP_SCIM_OP_CO,
    JP_SCIM_OP_SW,
    JP_SCIM_OP_EW,
    JP_SCIM_OP_PR
} jp_scim_fop;

typedef enum { JP_SCIM_FN_CMP = 0, JP_SCIM_FN_AND, JP_SCIM_FN_OR, JP_SCIM_FN_NOT } jp_scim_fnode;

/* Comparisons per filter: each binds at most 3 values in the SQL. */
#define JP_SCIM_FILTER_TERMS_MAX 16
/* Nesting of parentheses and not. */
#define JP_SCIM_FILTER_DEPTH_MAX 16

typedef struct jp_scim_filter jp_scim_filter;
struct jp_scim_filter {
    jp_scim_fnode node;
    const jp_scim_filter *a, *b; /* AND, OR: both; NOT: a */
    jp_scim_fattr attr;          /* JP_SCIM_FN_CMP: */
    jp_scim_fop op;
    const char *value; /* string attributes (not for pr) */
    int bval;          /* JP_SCIM_FA_ACTIVE */
};

/* 0, or -1 with *e (400 invalidFilter, the detail says what) for anything
 * else: gt/ge/lt/le, value paths (emails[...]), attributes that are not
 * stored, more than JP_SCIM_FILTER_TERMS_MAX comparisons. */
int jp_scim_parse_filter(apr_pool_t *p, const char *text, jp_scim_filter *f, jp_scim_err *e);

/* The userName a User shows: the username column, else (JIT rows made
 * without preferred_username) the email, else sub, else id. Never NULL. */
const char *jp_scim_shown_user_name(const jp_scim_user *u);

/* Unix seconds as RFC 3339 UTC ("2024-05-01T12:00:00Z"). */
const char *jp_scim_time(apr_pool_t *p, int64_t t);

/* Which attributes a User in an answer keeps (RFC 7644 3.4.2.5 and 3.9). */
typedef struct jp_scim_attrs jp_scim_attrs;

/* The `attributes` and `excludedAttributes` query parameters (either may be
 * NULL): comma-separated names, case-insensitive, `attr` or `attr.subAttr`,
 * optionally after the core User schema URN and ":". Names in an extension
 * schema match nothing (none is returned). With attributes, only those are
 * returned; excludedAttributes are left out; id and schemas always stay.
 * *out NULL when neither narrows anything. 0, or -1 with *e (400
 * invalidValue) for a name that is not one. */
int jp_scim_parse_attrs(apr_pool_t *p, const char *attributes, const char *excluded,
                        const jp_scim_attrs **out, jp_scim_err *e);

/* Rendering. users_url is the absolute URL of the /Users collection (for
 * meta.location), delim the separator of the groups column (JSON array text
 * is read too), sel the attributes to return (NULL: all). Each returns
 * compact JSON text in p, or NULL on allocation failure. */
const char *jp_scim_render_user(apr_pool_t *p, const jp_scim_user *u, const char *users_url,
                                const char *delim, const jp_scim_attrs *sel);
const char *jp_scim_render_list(apr_pool_t *p, const jp_scim_user *users, int n, int64_t total,
                                int64_t start, const char *users_url, const char *delim,
                                const jp_scim_attrs *sel);
const char *jp_scim_render_error(apr_pool_t *p, const jp_scim_err *e);

/* Discovery documents (RFC 7644 section 4), base = the endpoint's absolute URL
 * ("https://app.example.com/scim/v2"). name selects one resource type ("User")
 * or schema (its URN); NULL lists all. NULL when name is unknown. */
const char *jp_scim_render_spc(apr_pool_t *p, const char *base);
const char *jp_scim_render_resource_types(apr_pool_t *p, const char *base, const char *name);
const char *jp_scim_render_schemas(apr_pool_t *p, const char *base, const char *name);

#endif
