/* Account and audit SQL through apr_dbd (shared by the module, via mod_dbd's
 * pooled connections, and by jitprov-admin). Pure apr-util, no httpd headers.
 * Prepared statements only; statements are prepared lazily per connection and
 * cached in jp_db.prepared, so a missing table never breaks other mod_dbd users. */
#ifndef JP_STORE_H
#define JP_STORE_H

#include <stdint.h>
#include <jansson.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_dbd.h>

#include "roles.h"
#include "sync.h"

typedef struct {
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle;
    apr_hash_t *prepared; /* label -> apr_dbd_prepared_t *, owned by the connection */
    apr_pool_t *pool;     /* the connection's pool: prepared statements live here */
} jp_db;

/* Column roles of the account table. A role with a NULL column does not exist in
 * the table (legacy tables): the feature that needs it is off. */
typedef enum {
    JP_COL_ID = 0,
    JP_COL_ISS,
    JP_COL_SUB,
    JP_COL_USERNAME,
    JP_COL_EMAIL,
    JP_COL_DISPLAY_NAME,
    JP_COL_GROUPS,
    JP_COL_STATUS,
    JP_COL_CREATED_AT,
    JP_COL_UPDATED_AT,
    JP_COL_LAST_LOGIN_AT,
    JP_COL_LOGIN_COUNT,
    JP_COL_SOURCE,
    /* SCIM's externalId, name.givenName, name.familyName. Added after 0.1: by
     * default only the default table has them (jp_store_cfg_finish). */
    JP_COL_EXTERNAL_ID,
    JP_COL_GIVEN_NAME,
    JP_COL_FAMILY_NAME,
    JP_COL__COUNT
} jp_col_role;

typedef struct {
    const char *claim;  /* claim name (dotted paths allowed) */
    const char *column; /* account column */
    int sync;           /* jp_sync: when a login writes it (JITProvMapClaim's 3rd argument) */
} jp_claim_map;

/* JITProvCollision: a new account whose unique user name is taken. */
#define JP_COLLISION_REFUSE 0
#define JP_COLLISION_SUFFIX 1

typedef struct {
    const char *table;              /* default "jitprov_accounts" */
    const char *audit_table;        /* default "jitprov_audit"; "" = no audit table */
    const char *col[JP_COL__COUNT]; /* defaults = the default schema's names */
    apr_array_header_t *map;        /* of jp_claim_map: extra claim -> column mappings;
                                       defaults map preferred_username->username,
                                       email->email, name->display_name, groups->groups */
    int create;                     /* JITProvAccountCreate, default 1 */
    int update;                     /* JITProvAccountUpdate, default 1 */
    int link_by_email;              /* JITProvLinkByEmail, default 0 */
    const char *new_status;         /* "active" (default) or "pending" */
    const char *account_key;        /* JITProvAccountKey claim, default "sub" */
    int login_sync_full;            /* JITProvLoginSync full: SQLite logins commit with
                                       synchronous=FULL too (default NORMAL) */
    const char *delim;              /* array claims joined with this when stored, default "," */
    jp_roles_cfg *roles;            /* JITProvRole*: NULL or no table = roles off */
    int collision;                  /* JITProvCollision: JP_COLLISION_REFUSE (default) or _SUFFIX */
    unsigned col_set;               /* bit r: JITProvAccountColumn named role r (or none) */
    int link_by;            /* JITProvLinkBy: JP_COL_EXTERNAL_ID or JP_COL_USERNAME; -1 off */
    const char *link_claim; /* ... the token claim (dotted path) matched against it */
    const char *link_iss;   /* ... only for logins from this issuer; NULL: any */
    /* Set by jp_store_cfg_seal once the whole configuration is checked: the
     * table's shape, built once instead of at every login. NULL until then
     * (jitprov-admin, tests): each operation checks and builds it itself. */
    const struct jp_shape *shape;
} jp_store_cfg;

/* Fills defaults (pool p for arrays). */
void jp_store_cfg_init(apr_pool_t *p, jp_store_cfg *c);
/* Once every directive is read: an application's own table (JITProvAccountTable)
 * has the roles added after 0.1 (external_id, given_name, family_name) only
 * when JITProvAccountColumn names them, so that existing configurations keep
 * working unchanged. */
void jp_store_cfg_finish(jp_store_cfg *c);
/* "externalId" / "userName" (any case) for JITProvLinkBy: the role, else -1. */
int jp_store_link_role(const char *scim_attr);
/* Role names as used by JITProvAccountColumn: "id", "iss", "sub", "username",
 * "email", "display_name", "groups", "status", "created_at", "updated_at",
 * "last_login_at", "login_count", "source", "external_id", "given_name",
 * "family_name". -1 when unknown. */
int jp_store_role_from_name(const char *name);
/* 1 when s is a safe SQL identifier: [A-Za-z_][A-Za-z0-9_]{0,62}, optionally one
 * "schema." prefix of the same form. Used for every table/column at config time. */
int jp_store_ident_ok(const char *s);
/* Final config check (e.g. id/iss/sub columns required, pending needs a status
 * column). NULL when fine, else a message naming the directive. */
const char *jp_store_cfg_check(apr_pool_t *p, const jp_store_cfg *c);
/* jp_store_cfg_check, then, when it passes, builds the table's shape into
 * c->shape (pool p: the configuration's lifetime). After this c must not
 * change: operations trust the shape instead of checking c again. */
const char *jp_store_cfg_seal(apr_pool_t *p, jp_store_cfg *c);

typedef struct {
    const char *iss, *sub;
    json_t *claims; /* validated ID token (+ userinfo) claims */
    const char *client_ip;
    const char *corr_id; /* correlation id, written to the audit row */
} jp_login;

typedef struct {
    int64_t id;
    const char *status; /* "active", "pending", "disabled" */
    apr_table_t *cols;  /* column name -> text value of the row after login,
                           for JITProvHeader account:COLUMN */
    const char *event;  /* audit event written: "create", "update", "link", "refuse";
                           NULL when none (a returning login that changed nothing) */
} jp_account;

typedef enum {
    JP_PROV_OK = 0,           /* account active: session may be created */
    JP_PROV_PENDING,          /* 403 "awaiting approval" */
    JP_PROV_DISABLED,         /* 403 "account disabled" */
    JP_PROV_NOT_PROVISIONED,  /* create off and no row (or link refused): 403 */
    JP_PROV_EMAIL_UNVERIFIED, /* link by email wanted but email_verified not true: 403 */
    JP_PROV_COLLISION,        /* a new account's unique user name or email is taken: 409 */
    JP_PROV_DB_BUSY,          /* locked/busy after one jittered retry: 503 */
    JP_PROV_DB_ERROR          /* other database failure: 503 */
} jp_prov_rc;

/* The JIT rules of DESIGN.md, in one transaction with its audit row:
 * find by (iss, sub) -> else link by verified email -> else create (if allowed)
 * with new_status; update mapped columns, last_login_at, login_count when
 * allowed; refusals also write an audit row (outside the failed transaction).
 * A returning login that changes no column writes no audit row (role grants
 * and revokes still write theirs).
 * Concurrent first logins of one user create exactly one row (unique key +
 * upsert). *err gets a short reason for logs. */
jp_prov_rc jp_provision(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                        jp_account *out, const char **err);

/* jp_provision without a trace, for jitprov-admin check: the same decision
 * and the same statements in the same transaction, rolled back at the end.
 * events (a JSON array) gets the audit rows the login would write, oldest
 * first, as {"event":..., "detail":{...}}; out the account row as the login
 * would leave it (a new account's id is the one the rolled-back insert got:
 * the real login may get another). */
jp_prov_rc jp_provision_dry(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                            jp_account *out, json_t *events, const char **err);

/* A login refused before the account rules run (reason "gate": a
 * JITProvRequireClaim): one audit row "refuse" under the account key, as
 * jp_provision writes its refusals, that names the account when the user has
 * one, so the refusal is in that account's history. Nothing else is written.
 * 0 or -1 (*err set if err). */
int jp_refuse_login(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_login *in,
                    const char *reason, const char **err);

/* Status re-check for live sessions: "active"/"pending"/"disabled", or "gone" when
 * the row was deleted. Returns 0, or -1 on database error. Without a status column
 * an existing row is "active". */
int jp_account_status(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                      const char **status);
/* The same, and JP_STATUS_OTHER when the row's iss or key column (JITProvAccountKey's
 * value) is not iss or key: the id now names another account. NULL skips a check. */
#define JP_STATUS_OTHER "another account"
int jp_account_status_of(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                         const char *iss, const char *key, const char **status);

/* Schema for the default tables (CREATE TABLE IF NOT EXISTS ...), for the given
 * driver name ("sqlite3" or "pgsql"). Used by jitprov-admin init. */
int jp_store_init_schema(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char **err);

/* Appends one audit row (its own statement, no transaction). 0 or -1. */
int jp_audit(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *event, const char *iss,
             const char *sub, int64_t account_id, const char *client_ip, const char *detail);

/* ---- Additions for jitprov-admin (and SCIM): same SQL, same audit rules ---- */

/* Return codes of the helpers below. */
#define JP_STORE_OK 0
#define JP_STORE_ERROR (-1)    /* database error; *err says which */
#define JP_STORE_NOT_FOUND 1   /* no such account */
#define JP_STORE_CONFLICT 2    /* an account with that key (or pending email) exists */
#define JP_STORE_BAD_STATE 3   /* status change not allowed from the current status */
#define JP_STORE_BUSY 4        /* locked/busy after one jittered retry */
#define JP_STORE_UNSUPPORTED 5 /* the table lacks the column this needs */
#define JP_STORE_LIMIT 6       /* the connection holds its limit of client-chosen forms */

/* Rows as text: names[i] is the configured column name; each row is an array of
 * ncols strings, NULL for SQL NULL. */
typedef struct {
    int ncols;
    const char **names;
    apr_array_header_t *rows; /* of const char ** */
} jp_rowset;

/* Who made a change, for its audit row. source goes into the detail JSON. */
typedef struct {
    const char *source;    /* "admin", "scim", ... */
    const char *by;        /* operator (unix user, SCIM client); may be NULL */
    const char *client_ip; /* may be NULL */
    const char *corr_id;   /* may be NULL */
} jp_actor;

/* One audit row. account_id <= 0 is stored as NULL; at 0 means now. */
typedef struct {
    int64_t at;
    const char *event, *iss, *sub;
    int64_t account_id;
    const char *client_ip, *corr_id;
    const char *detail; /* compact JSON object text, or NULL */
} jp_audit_entry;

/* jp_audit with a correlation id and explicit time. 0 or -1 (*err set if err). */
int jp_audit_ex(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_audit_entry *e,
                const char **err);

/* An account made before its first login (JITProvAccountCreate Off, or email
 * linking): either email alone (iss/sub stay NULL until the first login links
 * it) or iss + sub. */
typedef struct {
    const char *iss, *sub, *email, *username, *display_name;
    const char *status; /* NULL = "active" */
} jp_new_account;

/* Inserts the row (source "admin" or who->source) and its audit row "create" in
 * one transaction. JP_STORE_CONFLICT when the key exists, or when an unlinked row
 * with the same email exists (email linking would become ambiguous). */
int jp_store_add(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_new_account *a,
                 const jp_actor *who, int64_t *id, const char **err);

/* Accounts by "id" (value = decimal id), "email" (case-insensitive) or "sub"
 * (with iss when iss is not NULL). Every configured column. */
int jp_store_get(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *by,
                 const char *value, const char *iss, jp_rowset *out, const char **err);

/* All accounts (status NULL) or those with that status, by id. */
int jp_store_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *status,
                  jp_rowset *out, const char **err);

/* Sets the status of account id to `to` when its current status is one of
 * `from` (NULL-terminated list; NULL = any), writing audit row `event` with
 * detail {"source":..,"by":..,"from":..,"to":..,"reason":..} in the same
 * transaction. JP_STORE_NOT_FOUND, JP_STORE_BAD_STATE (current status not in
 * from, or already `to`), JP_STORE_UNSUPPORTED (no status column). */
int jp_store_set_status(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t id,
                        const char *const *from, const char *to, const char *event,
                        const jp_actor *who, const char *reason, const char **err);

/* Active accounts whose last login is before `cutoff` (unix seconds); with
 * JP_STALE_NEVER_LOGGED_IN also those that never logged in and were created
 * before it (otherwise exempt: an approved or pre-provisioned account whose
 * user has not come yet is not dormant). Needs a last_login_at column. */
#define JP_STALE_NEVER_LOGGED_IN 1
int jp_store_stale(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t cutoff, int flags,
                   jp_rowset *out, const char **err);

/* Audit rows with at >= since (and of that account when account_id > 0), oldest
 * first: id, at, event, iss, sub, account_id, client_ip, corr_id, detail.
 * JP_STORE_UNSUPPORTED without an audit table. */
int jp_store_audit_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int64_t since,
                        int64_t account_id, jp_rowset *out, const char **err);

/* jp_store_init_schema that reports each change it makes through note(ctx, msg):
 * creates missing tables (with the configured names), adds missing configured
 * columns to an existing account table, the unique index on (iss, sub) and the
 * email/last-login indexes; on sqlite3 switches the file to WAL once. With
 * JP_SCHEMA_DRY_RUN nothing is changed: note() gets each SQL statement instead. */
#define JP_SCHEMA_DRY_RUN 1
/* An application's own table (any JITProvAccountTable but the default) is
 * changed (columns, indexes) only with this flag; without it a missing column
 * or key index fails with the statements that would fix it. */
#define JP_SCHEMA_ALTER 2
int jp_store_init_schema_ex(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, int flags,
                            void (*note)(void *ctx, const char *msg), void *ctx, const char **err);

/* 1 when a database error says a table or a column is missing (SQLite and
 * PostgreSQL wording): the default tables of an older version, which
 * jp_store_init_schema brings up to date. */
int jp_store_err_missing_schema(const char *err);

/* "sqlite3" or "pgsql" for the driver of db; NULL for any other (unsupported). */
const char *jp_store_dialect(const jp_db *db);

#endif
