/* SCIM's SQL over the account table (apr_dbd, prepared statements only, each
 * prepared lazily on the connection it runs on). Pure apr-util + jansson, no
 * httpd headers. Every change is one transaction with its audit row:
 * scim_create, scim_update, scim_deactivate or scim_delete. */
#ifndef JP_SCIM_STORE_H
#define JP_SCIM_STORE_H

#include "store.h"
#include "scim.h"

/* Besides the JP_STORE_* codes of store.h: the edit callback refused the
 * change (its own jp_scim_err says why); nothing was written. */
#define JP_SCIM_REJECTED 10

/* What SCIM needs of the table: NULL when fine, else a message naming the
 * directive (a username column, since userName is required). */
const char *jp_scim_store_check(const jp_store_cfg *cfg);

/* One account by its id (decimal text). JP_STORE_OK, JP_STORE_NOT_FOUND (also
 * for an id that is not a number), JP_STORE_ERROR or JP_STORE_BUSY. */
int jp_scim_store_get(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                      jp_scim_user *out, const char **err);

/* A page of accounts by id: f NULL for all, start 1-based, at most count rows
 * (0 = only the total). *total counts every match. JP_STORE_LIMIT, with
 * nothing run, when f is of a form the connection has not prepared and it
 * holds JP_SCIM_FILTER_FORMS_MAX others. */
int jp_scim_store_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_scim_filter *f,
                       int64_t start, int64_t count, jp_scim_user **users, int *n, int64_t *total,
                       const char **err);

/* A new account with iss/sub NULL (source "scim"): the first OIDC login with a
 * verified matching email links it (JITProvLinkByEmail On). JP_STORE_CONFLICT
 * when the userName is taken (case-insensitive) or an account that has not
 * logged in yet has the same email (*err says which); JP_STORE_UNSUPPORTED for
 * active=false without a status column. Attributes without a column are
 * dropped; externalId is also written to the audit row. */
int jp_scim_store_create(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const jp_scim_input *in,
                         const jp_actor *who, jp_scim_user *out, const char **err);

/* Read-modify-write of one account in one transaction: fn gets the row as it
 * is (locked) and fills next; 0 to go on, anything else to refuse
 * (JP_SCIM_REJECTED). Only the username, email, display_name, external_id,
 * given_name, family_name and status columns change. fn may run twice (one retry on a busy
 * database), so it must only depend on its arguments. *changed is 0 when next equals the row: then
 * nothing is written and no audit row is added. */
typedef int (*jp_scim_edit_fn)(void *ctx, apr_pool_t *p, const jp_scim_user *cur,
                               jp_scim_user *next);
int jp_scim_store_modify(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                         jp_scim_edit_fn fn, void *ctx, const jp_actor *who, jp_scim_user *out,
                         int *changed, const char **err);

/* userName prefix of deleted users' rows (tombstones); refused as a userName. */
#define JP_SCIM_TOMBSTONE "~deleted~"

/* DELETE (RFC 7644 3.6): afterwards the resource answers 404, is in no query
 * result, and its userName is free. The row stays as a tombstone for the
 * audit trail: userName JP_SCIM_TOMBSTONE + id, sub prefixed alike (iss
 * JP_SCIM_TOMBSTONE when it was NULL) so no login or email link finds it,
 * status disabled when there is a status column. *out is the row as it was.
 * JP_STORE_NOT_FOUND for an unknown or already deleted id. */
int jp_scim_store_delete(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *id,
                         const jp_actor *who, jp_scim_user *out, const char **err);

#endif
