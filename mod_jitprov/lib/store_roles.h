/* Roles into the application's membership table, inside a login's
 * transaction (the store's internal API: store_sql.h users only). */
#ifndef JP_STORE_ROLES_H
#define JP_STORE_ROLES_H

#include "store_sql.h"
#include "roles.h"

/* Grants the roles the claims ask for and revokes those the module granted
 * before and the claims no longer ask for; never touches a membership the
 * module did not grant (its ledger: the grants table). One audit row "grant"
 * or "revoke" per change, on s's transaction. With dry set nothing is
 * written. plan (may be NULL) gets {"wanted":[..],"granted":[..],
 * "revoked":[..],"kept":[..]} ("kept": roles set in the application, left
 * alone). 0, or -1 with s->err set. No-op when roles are not configured. */
int jp_roles_sync(jp_sql *s, apr_int64_t account_id, json_t *claims, const char *iss,
                  const char *sub, const jp_actor *who, apr_int64_t now, int dry, json_t *plan);

/* CREATE TABLE for the grants ledger (dialect of s). */
const char *jp_roles_ledger_ddl(jp_sql *s);

#endif
