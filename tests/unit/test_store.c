/* store.c against real databases through apr_dbd: a SQLite file always, and
 * PostgreSQL too when JITPROV_PG_PARAMS is set (tests/store/run-pg.sh starts a
 * throwaway server and sets it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_time.h>

#include "store.h"
#include "scim.h"
#include "scim_store.h"
#include "jtest.h"

static apr_pool_t *gp;
static const char *drv_name, *drv_params;
static int is_pg;

static int db_open(apr_pool_t *p, jp_db *db)
{
    const char *err = NULL;
    memset(db, 0, sizeof(*db));
    if (apr_dbd_get_driver(p, drv_name, &db->driver) != APR_SUCCESS)
        return -1;
    if (apr_dbd_open_ex(db->driver, p, drv_params, &db->handle, &err) != APR_SUCCESS) {
        fprintf(stderr, "open %s: %s\n", drv_name, err ? err : "?");
        return -1;
    }
    db->pool = p;
    db->prepared = apr_hash_make(p);
    if (!is_pg && !getenv("JITPROV_TEST_SYNC_FULL")) {
        int n;
        /* What a DBDInitSQL line would do; speeds up the bulk cases. */
        apr_dbd_query(db->driver, db->handle, &n, "PRAGMA synchronous=NORMAL");
    }
    return 0;
}

/* Test-only SQL (not through store.c): one text value, or NULL. */
static const char *sql1(jp_db *db, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = NULL, *e;
    int got = 0;
    if (apr_dbd_select(db->driver, gp, db->handle, &res, sql, 1) != 0) {
        fprintf(stderr, "sql1 failed: %s: %s\n", sql, apr_dbd_error(db->driver, db->handle, 1));
        return NULL;
    }
    while (apr_dbd_get_row(db->driver, gp, res, &row, -1) != -1) {
        if (!got++ && apr_dbd_datum_get(db->driver, row, 0, APR_DBD_TYPE_STRING, &e) == 0 && e)
            v = apr_pstrdup(gp, e);
    }
    return v;
}

/* Column col of the first row, or "" (a plan's text, say). */
static const char *sql_col(jp_db *db, const char *sql, int col)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *v = "", *e;
    int got = 0;
    if (apr_dbd_select(db->driver, gp, db->handle, &res, sql, 1) != 0)
        return v;
    while (apr_dbd_get_row(db->driver, gp, res, &row, -1) != -1)
        if (!got++ && (e = apr_dbd_get_entry(db->driver, row, col)))
            v = apr_pstrdup(gp, e);
    return v;
}

static long count(jp_db *db, const char *sql)
{
    const char *v = sql1(db, sql);
    return v ? atol(v) : -1;
}

static int exec(jp_db *db, const char *sql)
{
    int n = 0;
    int rv = apr_dbd_query(db->driver, db->handle, &n, sql);
    if (rv)
        fprintf(stderr, "exec failed: %s: %s\n", sql, apr_dbd_error(db->driver, db->handle, rv));
    return rv;
}

static jp_prov_rc login(apr_pool_t *p, jp_db *db, const jp_store_cfg *cfg, const char *sub,
                        json_t *claims, jp_account *out)
{
    jp_login in;
    const char *err = NULL;
    jp_prov_rc rc;
    in.iss = "https://idp.example.com";
    in.sub = sub;
    in.claims = claims;
    in.client_ip = "192.0.2.7";
    in.corr_id = "corr-1";
    rc = jp_provision(p, db, cfg, &in, out, &err);
    if (rc == JP_PROV_DB_ERROR || rc == JP_PROV_DB_BUSY)
        fprintf(stderr, "  provision(%s) rc=%d: %s\n", sub, rc, err ? err : "");
    return rc;
}

static const char *col(const jp_account *a, const char *name)
{
    return a->cols ? apr_table_get(a->cols, name) : NULL;
}

static void drop_all(jp_db *db)
{
    static const char *const t[] = {"jitprov_accounts", "jitprov_audit", "legacy_users",
                                    "legacy2",          "other_audit",   NULL};
    int i, n;
    for (i = 0; t[i]; i++)
        apr_dbd_query(db->driver, db->handle, &n,
                      apr_psprintf(gp, "DROP TABLE IF EXISTS %s", t[i]));
}

/* ---- configuration checks (no database) ---- */

static void test_config(void)
{
    jp_store_cfg c;
    jp_claim_map *m;
    CHECK(jp_store_ident_ok("jitprov_accounts"));
    CHECK(jp_store_ident_ok("app.users"));
    CHECK(jp_store_ident_ok("_x9"));
    CHECK(jp_store_ident_ok("groups"));
    CHECK(!jp_store_ident_ok(""));
    CHECK(!jp_store_ident_ok("9abc"));
    CHECK(!jp_store_ident_ok("a b"));
    CHECK(!jp_store_ident_ok("a;drop"));
    CHECK(!jp_store_ident_ok("a.b.c"));
    CHECK(!jp_store_ident_ok(".a"));
    CHECK(!jp_store_ident_ok("a."));
    CHECK(!jp_store_ident_ok("users\""));
    CHECK(!jp_store_ident_ok("select"));
    CHECK(!jp_store_ident_ok("User"));
    CHECK(!jp_store_ident_ok(NULL));
    CHECK(jp_store_ident_ok("a23456789012345678901234567890123456789012345678901234567890123"));
    CHECK(!jp_store_ident_ok("a234567890123456789012345678901234567890123456789012345678901234"));
    CHECK(jp_store_role_from_name("last_login_at") == JP_COL_LAST_LOGIN_AT);
    CHECK(jp_store_role_from_name("id") == JP_COL_ID);
    CHECK(jp_store_role_from_name("nope") == -1);

    jp_store_cfg_init(gp, &c);
    CHECK(jp_store_cfg_check(gp, &c) == NULL);
    CHECK_STR(c.table, "jitprov_accounts");
    CHECK_STR(c.col[JP_COL_DISPLAY_NAME], "display_name");

    /* sealing checks first: a refused configuration gets no shape */
    CHECK(c.shape == NULL);
    CHECK(jp_store_cfg_seal(gp, &c) == NULL && c.shape != NULL);
    c.col[JP_COL_ID] = "bad name";
    CHECK(jp_store_cfg_seal(gp, &c) != NULL && c.shape == NULL);
    jp_store_cfg_init(gp, &c);

    c.new_status = "pending";
    c.col[JP_COL_STATUS] = NULL;
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    c.col[JP_COL_SUB] = NULL;
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    c.col[JP_COL_EMAIL] = NULL;
    c.link_by_email = 1;
    CHECK(jp_store_cfg_check(gp, &c) != NULL);

    /* JITProvLinkBy and the roles added after 0.1 */
    CHECK(jp_store_link_role("externalId") == JP_COL_EXTERNAL_ID);
    CHECK(jp_store_link_role("USERNAME") == JP_COL_USERNAME);
    CHECK(jp_store_link_role("email") == -1 && jp_store_link_role(NULL) == -1);
    CHECK(jp_store_role_from_name("external_id") == JP_COL_EXTERNAL_ID);
    jp_store_cfg_init(gp, &c);
    CHECK(c.link_by == -1);
    jp_store_cfg_finish(&c); /* the default table keeps them */
    CHECK_STR(c.col[JP_COL_FAMILY_NAME], "family_name");
    c.link_by = JP_COL_EXTERNAL_ID;
    c.link_claim = "oid";
    CHECK(jp_store_cfg_check(gp, &c) == NULL);
    c.link_claim = "";
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    c.link_claim = "oid";
    c.table = "app_users";
    c.col_set = 1u << JP_COL_GIVEN_NAME;
    c.col[JP_COL_GIVEN_NAME] = "first_name";
    jp_store_cfg_finish(&c);
    CHECK(c.col[JP_COL_EXTERNAL_ID] == NULL && c.col[JP_COL_FAMILY_NAME] == NULL);
    CHECK_STR(c.col[JP_COL_GIVEN_NAME], "first_name");
    CHECK(strstr(jp_store_cfg_check(gp, &c), "JITProvLinkBy externalId") != NULL);
    c.link_by = JP_COL_DISPLAY_NAME;
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    m = apr_array_push(c.map); /* only SCIM writes the externalId JITProvLinkBy trusts */
    m->claim = "oid";
    m->column = "external_id";
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    CHECK(jp_store_err_missing_schema("no such column: external_id"));
    CHECK(jp_store_err_missing_schema("ERROR:  column \"given_name\" does not exist"));
    CHECK(jp_store_err_missing_schema("relation \"jitprov_accounts\" does not exist"));
    CHECK(!jp_store_err_missing_schema("database is locked") && !jp_store_err_missing_schema(NULL));
    jp_store_cfg_init(gp, &c);
    c.col[JP_COL_USERNAME] = "email";
    CHECK(jp_store_cfg_check(gp, &c) != NULL); /* two roles, one column */
    jp_store_cfg_init(gp, &c);
    m = apr_array_push(c.map);
    m->claim = "role";
    m->column = "status"; /* a claim must never set the status */
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    m = apr_array_push(c.map);
    m->claim = "x";
    m->column = "app.col";
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    c.audit_table = "jitprov_accounts";
    CHECK(jp_store_cfg_check(gp, &c) != NULL);
    jp_store_cfg_init(gp, &c);
    c.audit_table = "";
    CHECK(jp_store_cfg_check(gp, &c) == NULL);
}

/* ---- the default schema ---- */

static json_t *claims_alice(const char *name)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:[s,s]}", "preferred_username", "alice", "email",
                     "alice@example.com", "email_verified", 1, "name", name, "groups", "staff",
                     "admins");
}

static void test_default(jp_db *db)
{
    jp_store_cfg c;
    jp_account a, b;
    const char *status, *err = NULL;
    json_t *cl;
    int64_t id;
    static const char *const from_disabled[] = {"disabled", NULL};

    jp_store_cfg_init(gp, &c);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    if (err)
        fprintf(stderr, "init: %s\n", err);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0); /* idempotent */
    if (!is_pg)
        CHECK_STR(sql1(db, "PRAGMA journal_mode"), "wal");
    /* externalId: a partial index (rows made by logins have none), which the
     * lookups by equality (SCIM filters, JITProvLinkBy) still use. */
    if (is_pg) {
        CHECK(count(db, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                        "'jitprov_accounts_jitprov_external_id' AND indexdef LIKE "
                        "'%WHERE (external_id IS NOT NULL)'") == 1);
    } else {
        CHECK(count(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                        "'jitprov_accounts_jitprov_external_id' AND sql LIKE "
                        "'%WHERE external_id IS NOT NULL'") == 1);
        CHECK(strstr(sql_col(db, "EXPLAIN QUERY PLAN SELECT id FROM jitprov_accounts WHERE "
                                 "external_id = 'x'",
                             3),
                     "jitprov_accounts_jitprov_external_id") != NULL);
    }
    /* The status CHECK refuses anything but the three states, in both
     * dialects; in SQLite without a temporary b-tree per insert (an IN list
     * of three constants would build one). */
    CHECK(exec(db, "INSERT INTO jitprov_accounts (iss, sub, status, created_at, updated_at) "
                   "VALUES ('https://x', 'chk', 'weird', 1, 1)") != 0);
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'chk'") == 0);
    if (!is_pg)
        CHECK(count(db,
                    "SELECT count(*) FROM sqlite_master WHERE name = 'jitprov_accounts' "
                    "AND sql LIKE '%status = ''active'' OR %' AND sql NOT LIKE '% IN (%'") == 1);

    /* first login creates */
    cl = claims_alice("Alice A");
    CHECK(login(gp, db, &c, "alice", cl, &a) == JP_PROV_OK);
    CHECK(a.id > 0);
    CHECK_STR(a.event, "create");
    CHECK_STR(a.status, "active");
    CHECK_STR(col(&a, "username"), "alice");
    CHECK_STR(col(&a, "groups"), "admins,staff"); /* a set, stored sorted */
    CHECK_STR(col(&a, "display_name"), "Alice A");
    CHECK_STR(col(&a, "login_count"), "1");
    CHECK_STR(col(&a, "source"), "jit");
    CHECK_STR(col(&a, "iss"), "https://idp.example.com");
    CHECK(col(&a, "created_at") && atol(col(&a, "created_at")) > 1600000000);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'create' AND sub = "
                    "'alice' AND client_ip = '192.0.2.7' AND corr_id = 'corr-1'") == 1);
    json_decref(cl);

    /* second login updates the mapped columns and the counters */
    cl = claims_alice("Alice B");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK(b.id == a.id);
    CHECK_STR(b.event, "update");
    CHECK_STR(col(&b, "display_name"), "Alice B");
    CHECK_STR(col(&b, "login_count"), "2");
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts") == 1);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'update' AND detail LIKE "
                    "'%\"display_name\":{\"old\":\"Alice A\",\"new\":\"Alice B\"}%'") == 1);
    json_decref(cl);

    /* update off: attributes stay, counters move, no audit row */
    c.update = 0;
    cl = claims_alice("Alice C");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK(b.event == NULL);
    CHECK_STR(col(&b, "display_name"), "Alice B");
    CHECK_STR(col(&b, "login_count"), "3");
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE sub = 'alice'") == 2);
    json_decref(cl);
    c.update = 1;

    /* groups in another order: no change, so no audit row; the counters move */
    cl = claims_alice("Alice B");
    json_object_set_new(cl, "groups", json_pack("[s,s,s]", "admins", "staff", "staff"));
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK(b.event == NULL);
    CHECK_STR(col(&b, "groups"), "admins,staff");
    CHECK_STR(col(&b, "login_count"), "4");
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE sub = 'alice'") == 2);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE detail = '{\"changed\":{}}'") == 0);
    json_decref(cl);
    /* An unchanged column is not written at all: a trigger on the mapped
     * columns (what a sysadmin may hang on them) sees only real changes,
     * and their indexes are not rewritten at every login. */
    if (!is_pg) {
        exec(db, "CREATE TABLE t_touch (n INTEGER)");
        exec(db, "CREATE TRIGGER t_touch AFTER UPDATE OF email, display_name, groups, username "
                 "ON jitprov_accounts BEGIN INSERT INTO t_touch VALUES (1); END");
        cl = claims_alice("Alice B");
        CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
        CHECK(b.event == NULL);
        CHECK_STR(col(&b, "login_count"), "5");
        CHECK(count(db, "SELECT count(*) FROM t_touch") == 0);
        json_decref(cl);
        exec(db, "DROP TRIGGER t_touch");
        exec(db, "DROP TABLE t_touch");
        exec(db, "UPDATE jitprov_accounts SET login_count = 4 WHERE sub = 'alice'");
    }
    /* a string that merely looks reordered is text, not a set */
    cl = claims_alice("Alice B");
    json_object_set_new(cl, "name", json_string("B Alice"));
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK_STR(col(&b, "display_name"), "B Alice");
    json_decref(cl);
    cl = claims_alice("Alice B");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    json_decref(cl);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'update' AND detail LIKE "
                    "'%\"display_name\"%'") == 3);

    /* Entra's overage: groups unknown, the column keeps its value */
    cl = json_pack("{s:s, s:{s:s}, s:{s:{s:s}}}", "email", "alice@example.com", "_claim_names",
                   "groups", "src1", "_claim_sources", "src1", "endpoint",
                   "https://graph.microsoft.com/v1.0/users/x/getMemberObjects");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK_STR(col(&b, "groups"), "admins,staff");
    json_decref(cl);

    /* an absent claim keeps its column; absent groups empty the list */
    cl = json_pack("{s:s}", "email", "alice@example.com");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    CHECK_STR(col(&b, "display_name"), "Alice B");
    CHECK_STR(col(&b, "groups"), "");
    json_decref(cl);

    /* status re-check */
    CHECK(jp_account_status(gp, db, &c, a.id, &status) == 0);
    CHECK_STR(status, "active");
    CHECK(jp_account_status(gp, db, &c, 987654, &status) == 0);
    CHECK_STR(status, "gone");
    /* ... and the id still names the account the session was made for */
    CHECK(jp_account_status_of(gp, db, &c, a.id, "https://idp.example.com", "alice", &status) == 0);
    CHECK_STR(status, "active");
    CHECK(jp_account_status_of(gp, db, &c, a.id, "https://idp.example.com", "bob", &status) == 0);
    CHECK_STR(status, JP_STATUS_OTHER);
    CHECK(jp_account_status_of(gp, db, &c, a.id, "https://other.example.com", "alice", &status) ==
          0);
    CHECK_STR(status, JP_STATUS_OTHER);
    CHECK(jp_account_status_of(gp, db, &c, a.id, NULL, "alice", &status) == 0);
    CHECK_STR(status, "active");
    CHECK(jp_account_status_of(gp, db, &c, 987654, "https://idp.example.com", "alice", &status) ==
          0);
    CHECK_STR(status, "gone");

    /* disabled: refused, never reactivated by a login */
    CHECK(jp_store_set_status(gp, db, &c, a.id, NULL, "disabled", "disable", NULL, "test", &err) ==
          JP_STORE_OK);
    CHECK(jp_account_status(gp, db, &c, a.id, &status) == 0);
    CHECK_STR(status, "disabled");
    cl = claims_alice("Alice D");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_DISABLED);
    CHECK_STR(b.event, "refuse");
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_DISABLED);
    CHECK(jp_account_status(gp, db, &c, a.id, &status) == 0);
    CHECK_STR(status, "disabled");
    CHECK(count(db, apr_psprintf(
                        gp, "SELECT login_count FROM jitprov_accounts WHERE id = %" APR_INT64_T_FMT,
                        a.id)) == 8);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'refuse' AND detail = "
                    "'{\"reason\":\"disabled\",\"status\":\"disabled\"}'") == 2);
    CHECK(jp_store_set_status(gp, db, &c, a.id, from_disabled, "active", "enable", NULL, NULL,
                              &err) == JP_STORE_OK);
    CHECK(jp_store_set_status(gp, db, &c, a.id, from_disabled, "active", "enable", NULL, NULL,
                              &err) == JP_STORE_BAD_STATE);
    CHECK(jp_store_set_status(gp, db, &c, 987654, NULL, "active", "enable", NULL, NULL, &err) ==
          JP_STORE_NOT_FOUND);
    CHECK(login(gp, db, &c, "alice", cl, &b) == JP_PROV_OK);
    json_decref(cl);

    /* pending: created, refused until approved */
    c.new_status = "pending";
    cl = json_pack("{s:s}", "preferred_username", "bob");
    CHECK(login(gp, db, &c, "bob", cl, &b) == JP_PROV_PENDING);
    CHECK_STR(b.event, "create");
    CHECK_STR(b.status, "pending");
    CHECK(b.id > 0);
    CHECK(login(gp, db, &c, "bob", cl, &a) == JP_PROV_PENDING);
    CHECK_STR(a.event, "refuse");
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'bob'") == 1);
    CHECK(jp_account_status(gp, db, &c, b.id, &status) == 0);
    CHECK_STR(status, "pending");
    CHECK(jp_store_set_status(gp, db, &c, b.id, NULL, "active", "approve", NULL, NULL, &err) ==
          JP_STORE_OK);
    CHECK(login(gp, db, &c, "bob", cl, &a) == JP_PROV_OK);
    CHECK(a.event == NULL); /* approved by the admin, the login changes nothing */
    json_decref(cl);
    c.new_status = "active";

    /* create off: no row unless pre-provisioned */
    c.create = 0;
    cl = json_pack("{s:s}", "preferred_username", "carol");
    CHECK(login(gp, db, &c, "carol", cl, &a) == JP_PROV_NOT_PROVISIONED);
    CHECK_STR(a.event, "refuse");
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'carol'") == 0);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'refuse' AND sub = 'carol' "
                    "AND account_id IS NULL") == 1);
    {
        jp_new_account na;
        jp_actor who = {"admin", "tester", NULL, NULL};
        memset(&na, 0, sizeof(na));
        na.iss = "https://idp.example.com";
        na.sub = "carol";
        na.username = "carol-pre";
        CHECK(jp_store_add(gp, db, &c, &na, &who, &id, &err) == JP_STORE_OK);
        CHECK(id > 0);
        CHECK(jp_store_add(gp, db, &c, &na, &who, &id, &err) == JP_STORE_CONFLICT);
        CHECK(login(gp, db, &c, "carol", cl, &a) == JP_PROV_OK);
        CHECK(a.id == id);
        CHECK_STR(col(&a, "username"), "carol");
        CHECK_STR(col(&a, "source"), "admin");
        CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'create' AND detail "
                        "LIKE '{\"source\":\"admin\",\"by\":\"tester\"%'") == 1);
    }
    json_decref(cl);

    /* link by verified email */
    c.link_by_email = 1;
    {
        jp_new_account na;
        int64_t pre;
        memset(&na, 0, sizeof(na));
        na.email = "Dave@Example.com";
        na.display_name = "Dave (pre)";
        CHECK(jp_store_add(gp, db, &c, &na, NULL, &pre, &err) == JP_STORE_OK);
        CHECK(jp_store_add(gp, db, &c, &na, NULL, &id, &err) == JP_STORE_CONFLICT);
        cl = json_pack("{s:s, s:b}", "email", "dave@example.com", "email_verified", 0);
        CHECK(login(gp, db, &c, "dave", cl, &a) == JP_PROV_EMAIL_UNVERIFIED);
        json_decref(cl);
        cl = json_pack("{s:s, s:s}", "email", "dave@example.com", "email_verified", "true");
        CHECK(login(gp, db, &c, "dave", cl, &a) == JP_PROV_EMAIL_UNVERIFIED);
        json_decref(cl);
        cl = json_pack("{s:s}", "email", "dave@example.com");
        CHECK(login(gp, db, &c, "dave", cl, &a) == JP_PROV_EMAIL_UNVERIFIED);
        json_decref(cl);
        CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub IS NULL AND "
                        "email = 'Dave@Example.com'") == 1);
        CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'refuse' AND sub = "
                        "'dave' AND detail LIKE '%email_unverified%'") == 3);
        cl = json_pack("{s:s, s:b, s:s}", "email", "dave@example.com", "email_verified", 1,
                       "preferred_username", "dave");
        CHECK(login(gp, db, &c, "dave", cl, &a) == JP_PROV_OK);
        CHECK_STR(a.event, "link");
        CHECK(a.id == pre);
        CHECK_STR(col(&a, "sub"), "dave");
        CHECK_STR(col(&a, "display_name"), "Dave (pre)"); /* absent claim keeps it */
        CHECK_STR(col(&a, "username"), "dave");
        CHECK(login(gp, db, &c, "dave", cl, &a) == JP_PROV_OK);
        CHECK(a.event == NULL); /* linked already, same claims: no audit row */
        CHECK(a.id == pre);
        json_decref(cl);

        /* two unlinked rows with one email: ambiguous, refused */
        exec(db, "INSERT INTO jitprov_accounts (email, status, created_at, updated_at, "
                 "login_count, source) VALUES ('eve@example.com', 'active', 1, 1, 0, 'admin')");
        exec(db, "INSERT INTO jitprov_accounts (email, status, created_at, updated_at, "
                 "login_count, source) VALUES ('EVE@example.com', 'active', 1, 1, 0, 'admin')");
        cl = json_pack("{s:s, s:b}", "email", "eve@example.com", "email_verified", 1);
        CHECK(login(gp, db, &c, "eve", cl, &a) == JP_PROV_NOT_PROVISIONED);
        json_decref(cl);

        /* a pending pre-provisioned row is linked but refused */
        memset(&na, 0, sizeof(na));
        na.email = "frank@example.com";
        na.status = "pending";
        CHECK(jp_store_add(gp, db, &c, &na, NULL, &pre, &err) == JP_STORE_OK);
        cl = json_pack("{s:s, s:b}", "email", "frank@example.com", "email_verified", 1);
        CHECK(login(gp, db, &c, "frank", cl, &a) == JP_PROV_PENDING);
        CHECK_STR(a.event, "link");
        CHECK(a.id == pre);
        CHECK(login(gp, db, &c, "frank", cl, &a) == JP_PROV_PENDING);
        CHECK_STR(a.event, "refuse");
        json_decref(cl);

        /* link on, create on, no candidate: created */
        c.create = 1;
        cl = json_pack("{s:s, s:b}", "email", "gina@example.com", "email_verified", 0);
        CHECK(login(gp, db, &c, "gina", cl, &a) == JP_PROV_OK);
        CHECK_STR(a.event, "create");
        json_decref(cl);
    }
    c.link_by_email = 0;

    /* hostile claim values are data, stored verbatim */
    {
        const char *evil = "x'); DROP TABLE jitprov_accounts; --";
        const char *evil_sub = "o'hara\"; DELETE FROM jitprov_audit; --";
        cl = json_pack("{s:s, s:s, s:s}", "preferred_username", evil, "name", "%s %d %% $1 ?",
                       "email", "robert'--@example.com");
        CHECK(login(gp, db, &c, evil_sub, cl, &a) == JP_PROV_OK);
        CHECK_STR(col(&a, "username"), evil);
        CHECK_STR(col(&a, "display_name"), "%s %d %% $1 ?");
        CHECK_STR(col(&a, "sub"), evil_sub);
        CHECK(login(gp, db, &c, evil_sub, cl, &b) == JP_PROV_OK);
        CHECK(b.id == a.id);
        CHECK(count(db, "SELECT count(*) FROM jitprov_audit") > 10);
        json_decref(cl);
    }

    /* non-string claims */
    {
        jp_claim_map *m = apr_array_push(c.map);
        m->claim = "address.country";
        m->column = "country";
        m = apr_array_push(c.map);
        m->claim = "https://example.com/roles";
        m->column = "roles";
        CHECK(jp_store_init_schema(gp, db, &c, &err) == 0); /* adds the two columns */
        cl = json_pack("{s:i, s:{s:s}, s:[s,i,b], s:{s:i}}", "preferred_username", 42, "address",
                       "country", "DE", "https://example.com/roles", "r1", 2, 1, "groups", "x", 1);
        CHECK(login(gp, db, &c, "hank", cl, &a) == JP_PROV_OK);
        CHECK_STR(col(&a, "username"), "42");
        CHECK_STR(col(&a, "country"), "DE");
        CHECK_STR(col(&a, "roles"), "2,r1,true"); /* a multi-valued claim is a set */
        CHECK_STR(col(&a, "groups"), "{\"x\":1}");
        json_decref(cl);
    }

    /* JITProvAccountKey other than sub: its value is the key */
    jp_store_cfg_init(gp, &c);
    c.account_key = "oid";
    cl = json_pack("{s:s}", "oid", "0000-aaaa");
    CHECK(login(gp, db, &c, "rotating-sub-1", cl, &a) == JP_PROV_OK);
    CHECK_STR(col(&a, "sub"), "0000-aaaa");
    CHECK(login(gp, db, &c, "rotating-sub-2", cl, &b) == JP_PROV_OK);
    CHECK(a.id == b.id);
    json_decref(cl);
    cl = json_pack("{s:s}", "email", "x@example.com");
    CHECK(login(gp, db, &c, "no-oid", cl, &a) == JP_PROV_NOT_PROVISIONED);
    json_decref(cl);

    /* A gate refusal (jp_refuse_login) names the account its key finds, under
     * that key, and changes nothing else; without the key claim, no account. */
    {
        jp_login in;
        long before = count(db, "SELECT count(*) FROM jitprov_accounts");
        const char *cnt = sql1(db, "SELECT login_count FROM jitprov_accounts WHERE sub = "
                                   "'0000-aaaa'");
        cl = json_pack("{s:s}", "oid", "0000-aaaa");
        in.iss = "https://idp.example.com";
        in.sub = "rotating-sub-3";
        in.claims = cl;
        in.client_ip = "192.0.2.9";
        in.corr_id = "corr-gate";
        CHECK(jp_refuse_login(gp, db, &c, &in, "gate", &err) == 0);
        CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE corr_id = 'corr-gate'") == 1);
        CHECK_STR(sql1(db, "SELECT CASE WHEN a.account_id = b.id THEN 1 ELSE 0 END FROM "
                           "jitprov_audit a, jitprov_accounts b WHERE a.corr_id = 'corr-gate' "
                           "AND b.sub = '0000-aaaa'"),
                  "1");
        CHECK_STR(sql1(db, "SELECT sub || ' ' || event || ' ' || detail || ' ' || client_ip FROM "
                           "jitprov_audit WHERE corr_id = 'corr-gate'"),
                  "0000-aaaa refuse {\"reason\":\"gate\"} 192.0.2.9");
        CHECK_STR(sql1(db, "SELECT login_count FROM jitprov_accounts WHERE sub = '0000-aaaa'"),
                  cnt);
        json_decref(cl);
        cl = json_pack("{s:s}", "email", "x@example.com");
        in.claims = cl;
        in.sub = "no-oid-2";
        in.corr_id = "corr-gate-2";
        CHECK(jp_refuse_login(gp, db, &c, &in, "gate", &err) == 0);
        CHECK_STR(sql1(db, "SELECT coalesce(account_id, 0) || ' ' || sub FROM jitprov_audit "
                           "WHERE corr_id = 'corr-gate-2'"),
                  "0 no-oid-2");
        CHECK(count(db, "SELECT count(*) FROM jitprov_accounts") == before);
        json_decref(cl);
    }

    /* admin queries */
    {
        jp_rowset rs;
        jp_store_cfg_init(gp, &c);
        CHECK(jp_store_list(gp, db, &c, NULL, &rs, &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts >= 8);
        CHECK(rs.ncols == 16);
        CHECK(jp_store_list(gp, db, &c, "pending", &rs, &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts == 1);
        CHECK(jp_store_get(gp, db, &c, "email", "ALICE@example.com", NULL, &rs, &err) ==
              JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts == 1);
        CHECK(jp_store_get(gp, db, &c, "sub", "alice", "https://idp.example.com", &rs, &err) ==
              JP_STORE_OK);
        CHECK(jp_store_get(gp, db, &c, "id", "abc", NULL, &rs, &err) == JP_STORE_NOT_FOUND);
        CHECK(jp_store_get(gp, db, &c, "sub", "nobody", NULL, &rs, &err) == JP_STORE_NOT_FOUND);
        /* the two "eve" rows made with created_at 1 never logged in: exempt by
         * default, stale when asked for */
        CHECK(jp_store_stale(gp, db, &c, (int64_t)apr_time_sec(apr_time_now()) - 86400, 0, &rs,
                             &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts == 0);
        CHECK(jp_store_stale(gp, db, &c, (int64_t)apr_time_sec(apr_time_now()) - 86400,
                             JP_STALE_NEVER_LOGGED_IN, &rs, &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts == 2);
        CHECK(jp_store_stale(gp, db, &c, (int64_t)apr_time_sec(apr_time_now()) + 10,
                             JP_STALE_NEVER_LOGGED_IN, &rs, &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts >= 5);
        CHECK(jp_store_audit_list(gp, db, &c, 0, 0, &rs, &err) == JP_STORE_OK);
        CHECK(rs.ncols == 9 && rs.rows && rs.rows->nelts > 10);
        CHECK(jp_store_audit_list(gp, db, &c, (int64_t)apr_time_sec(apr_time_now()) + 100, 0, &rs,
                                  &err) == JP_STORE_OK);
        CHECK(rs.rows && rs.rows->nelts == 0);
    }
}

/* ---- an application's own table: other names, no status, no audit ---- */

static void legacy_cfg(jp_store_cfg *c)
{
    jp_claim_map *m;
    int i;
    jp_store_cfg_init(gp, c);
    c->table = "legacy_users";
    c->audit_table = "";
    for (i = 0; i < JP_COL__COUNT; i++)
        c->col[i] = NULL;
    c->col[JP_COL_ID] = "user_id";
    c->col[JP_COL_ISS] = "oidc_iss";
    c->col[JP_COL_SUB] = "oidc_sub";
    c->col[JP_COL_USERNAME] = "login";
    c->col[JP_COL_EMAIL] = "mail";
    c->col[JP_COL_DISPLAY_NAME] = "full_name";
    m = apr_array_push(c->map);
    m->claim = "department";
    m->column = "dept";
    m = apr_array_push(c->map);
    m->claim = "upn";
    m->column = "login"; /* overrides the default preferred_username */
}

static void test_legacy(jp_db *db)
{
    jp_store_cfg c;
    jp_account a, b;
    const char *status, *err = NULL;
    json_t *cl;

    CHECK(exec(db, is_pg ? "CREATE TABLE legacy_users (user_id SERIAL PRIMARY KEY, login TEXT "
                           "NOT NULL, mail TEXT, full_name TEXT, password_hash TEXT DEFAULT '!', "
                           "oidc_iss TEXT, oidc_sub TEXT)"
                         : "CREATE TABLE legacy_users (user_id INTEGER PRIMARY KEY, login TEXT "
                           "NOT NULL, mail TEXT, full_name TEXT, password_hash TEXT DEFAULT '!', "
                           "oidc_iss TEXT, oidc_sub TEXT)") == 0);
    exec(db, "INSERT INTO legacy_users (login, mail) VALUES ('old-user', 'old@example.com')");
    legacy_cfg(&c);
    /* as the module runs it: checked and shaped once at configuration time */
    CHECK(jp_store_cfg_seal(gp, &c) == NULL && c.shape != NULL);

    /* without the unique index on (oidc_iss, oidc_sub), provisioning fails
     * closed with a database error: never a duplicate row */
    cl = json_pack("{s:s, s:s, s:s, s:s}", "upn", "jdoe@corp", "email", "jdoe@corp.example", "name",
                   "J. Doe", "department", "R&D");
    CHECK(login(gp, db, &c, "jdoe", cl, &a) == JP_PROV_DB_ERROR);
    CHECK(count(db, "SELECT count(*) FROM legacy_users") == 1);

    /* plain init leaves the application's table alone and says why it fails */
    CHECK(jp_store_init_schema(gp, db, &c, &err) != 0);
    CHECK(err && strstr(err, "--alter"));
    CHECK(count(db, "SELECT count(*) FROM legacy_users") == 1);
    /* init --alter adds the missing dept column and the unique index, nothing else */
    err = NULL;
    CHECK(jp_store_init_schema_ex(gp, db, &c, JP_SCHEMA_ALTER, NULL, NULL, &err) == 0);
    if (err)
        fprintf(stderr, "legacy init: %s\n", err);
    CHECK(count(db, "SELECT count(*) FROM legacy_users WHERE dept IS NULL") == 1);

    CHECK(login(gp, db, &c, "jdoe", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    CHECK_STR(a.status, "active");
    CHECK_STR(col(&a, "login"), "jdoe@corp");
    CHECK_STR(col(&a, "dept"), "R&D");
    CHECK_STR(col(&a, "mail"), "jdoe@corp.example");
    CHECK_STR(col(&a, "oidc_sub"), "jdoe");
    CHECK(col(&a, "user_id") && atol(col(&a, "user_id")) == a.id);
    CHECK(col(&a, "password_hash") == NULL); /* only configured columns are read */
    json_decref(cl);
    cl = json_pack("{s:s, s:s}", "upn", "jdoe@corp", "department", "Ops");
    CHECK(login(gp, db, &c, "jdoe", cl, &b) == JP_PROV_OK);
    CHECK_STR(b.event, "update");
    CHECK(b.id == a.id);
    CHECK_STR(col(&b, "dept"), "Ops");
    CHECK_STR(col(&b, "full_name"), "J. Doe");
    json_decref(cl);
    CHECK(count(db, "SELECT count(*) FROM legacy_users") == 2);

    CHECK(jp_account_status(gp, db, &c, a.id, &status) == 0);
    CHECK_STR(status, "active");
    CHECK(jp_store_set_status(gp, db, &c, a.id, NULL, "disabled", "disable", NULL, NULL, &err) ==
          JP_STORE_UNSUPPORTED);
    exec(db, apr_psprintf(gp, "DELETE FROM legacy_users WHERE user_id = %" APR_INT64_T_FMT, a.id));
    CHECK(jp_account_status(gp, db, &c, a.id, &status) == 0);
    CHECK_STR(status, "gone");

    /* a missing claim for a NOT NULL column: a clean database error */
    cl = json_pack("{s:s}", "email", "nologin@example.com");
    CHECK(login(gp, db, &c, "nologin", cl, &a) == JP_PROV_DB_ERROR);
    json_decref(cl);

    /* a brand-new table with custom names is created by init */
    {
        jp_store_cfg c2;
        legacy_cfg(&c2);
        c2.table = "legacy2";
        c2.audit_table = "other_audit";
        c2.col[JP_COL_STATUS] = "state";
        c2.col[JP_COL_LAST_LOGIN_AT] = "seen";
        CHECK(jp_store_init_schema(gp, db, &c2, &err) == 0);
        cl = json_pack("{s:s}", "upn", "kim");
        CHECK(login(gp, db, &c2, "kim", cl, &a) == JP_PROV_OK);
        CHECK_STR(col(&a, "state"), "active");
        CHECK(col(&a, "seen") != NULL);
        CHECK(count(db, "SELECT count(*) FROM other_audit WHERE event = 'create'") == 1);
        json_decref(cl);
    }
}

/* ---- schema-qualified names: pgsql schema, SQLite database name ---- */

static void test_qualified(jp_db *db)
{
    jp_store_cfg c;
    jp_account a;
    const char *err = NULL;
    json_t *cl = json_pack("{s:s, s:s}", "preferred_username", "quinn", "email", "q@example.com");
    if (is_pg) {
        exec(db, "DROP SCHEMA IF EXISTS app CASCADE");
        exec(db, "CREATE SCHEMA app");
    }
    jp_store_cfg_init(gp, &c);
    c.table = is_pg ? "app.users" : "main.qual_users";
    c.audit_table = is_pg ? "app.audit" : "main.qual_audit";
    jp_store_cfg_finish(&c); /* an own table: no SCIM name/externalId columns */
    CHECK(c.col[JP_COL_EXTERNAL_ID] == NULL && c.col[JP_COL_GIVEN_NAME] == NULL);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    if (err)
        fprintf(stderr, "qualified init: %s\n", err);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    CHECK(login(gp, db, &c, "quinn", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    CHECK(login(gp, db, &c, "quinn", cl, &a) == JP_PROV_OK);
    CHECK(a.event == NULL);
    if (is_pg) {
        CHECK(count(db, "SELECT count(*) FROM app.users") == 1);
        CHECK(count(db, "SELECT count(*) FROM app.audit") == 1);
        CHECK(count(db, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'app'") == 7);
        exec(db, "DROP SCHEMA app CASCADE");
    } else {
        CHECK(count(db, "SELECT count(*) FROM qual_users") == 1);
        CHECK(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name "
                        "IN ('qual_users', 'qual_audit') AND name LIKE 'qual%'") == 4);
        exec(db, "DROP TABLE qual_users");
        exec(db, "DROP TABLE qual_audit");
    }
    json_decref(cl);
}

/* ---- concurrency ---- */

/* n processes log in at once (released together through a pipe); each runs
 * `per` logins of users named prefix or prefix-i-j. Returns how many failed. */
static int storm(const jp_store_cfg *c, int n, int per, const char *prefix, int distinct)
{
    int fds[2], i, failed = 0, st;
    pid_t *pids = apr_pcalloc(gp, sizeof(pid_t) * n);
    if (pipe(fds))
        return n;
    for (i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            apr_pool_t *p;
            jp_db db;
            jp_account a;
            char ch;
            int j, bad = 0;
            close(fds[1]);
            if (read(fds[0], &ch, 1) < 0)
                _exit(2);
            apr_pool_create(&p, NULL);
            gp = p;
            if (db_open(p, &db))
                _exit(3);
            for (j = 0; j < per; j++) {
                const char *sub = distinct ? apr_psprintf(p, "%s-%d-%d", prefix, i, j) : prefix;
                json_t *cl = json_pack("{s:s, s:s}", "preferred_username", sub, "email",
                                       "storm@example.com");
                if (login(p, &db, c, sub, cl, &a) != JP_PROV_OK)
                    bad++;
                json_decref(cl);
            }
            _exit(bad ? 1 : 0); /* no cleanups: the parent's handles are not ours */
        }
    }
    close(fds[0]);
    close(fds[1]); /* go */
    for (i = 0; i < n; i++) {
        if (pids[i] <= 0 || waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    return failed;
}

static void test_concurrency(jp_db *db)
{
    jp_store_cfg c;
    apr_time_t t0;
    jp_store_cfg_init(gp, &c);

    t0 = apr_time_now();
    CHECK(storm(&c, 50, 1, "same-user", 0) == 0);
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'same-user'") == 1);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE sub = 'same-user' AND event = "
                    "'create'") == 1);
    /* the 49 that lost the race changed nothing: the create is the only row */
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE sub = 'same-user'") == 1);
    CHECK(count(db, "SELECT login_count FROM jitprov_accounts WHERE sub = 'same-user'") == 50);
    fprintf(stderr, "  [%s] 50 concurrent first logins of one user: %.2f s\n", drv_name,
            (apr_time_now() - t0) / 1e6);

    /* httpd serializes the sqlite calls of one process, so the writers that
     * contend for the file are its child processes: a handful, not dozens.
     * Twenty writers starve each other under the sanitizers' slowdown. */
    t0 = apr_time_now();
    CHECK(storm(&c, 5, 200, "many", 1) == 0);
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub LIKE 'many-%'") == 1000);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE sub LIKE 'many-%' AND event = "
                    "'create'") == 1000);
    fprintf(stderr, "  [%s] 1000 distinct users from 5 processes: %.2f s\n", drv_name,
            (apr_time_now() - t0) / 1e6);
}

/* ---- faults ---- */

/* A connection as DBDInitSQL "PRAGMA synchronous=OFF" would hand it over,
 * in a pool of its own (returned). */
static apr_pool_t *open_at_off(jp_db *other)
{
    apr_pool_t *p;
    apr_pool_create(&p, gp);
    CHECK(db_open(p, other) == 0);
    exec(other, "PRAGMA synchronous=OFF");
    return p;
}

/* A write that is not a login (an audit row on its own) sets FULL; then the
 * connection and its pool go. */
static void audit_sets_full(jp_db *other, const jp_store_cfg *c, apr_pool_t *p)
{
    CHECK(jp_audit(gp, other, c, "test", "iss", "sync-wal", 0, NULL, "{}") == 0);
    CHECK_STR(sql1(other, "PRAGMA synchronous"), "2");
    apr_dbd_close(other->driver, other->handle);
    apr_pool_destroy(p);
}

/* JITProvLoginSync normal: a login commits with synchronous=NORMAL only in
 * WAL mode, where that never corrupts the file; in a rollback journal it
 * could, so there a login commits with FULL like every other write. Watched
 * through the setting the connection is left with (OFF, what a DBDInitSQL
 * could set, never survives a write): NORMAL stays after a login, so that the
 * next login needs no PRAGMA, and the next other write sets FULL again. A
 * connection remembers that its file is in WAL: no other connection can take
 * the file out of WAL while it is open, checked here too. */
static void test_login_sync_journal(jp_db *db)
{
    jp_store_cfg c;
    jp_account a;
    json_t *cl;
    jp_db other;
    apr_pool_t *p;

    jp_store_cfg_init(gp, &c);
    p = open_at_off(&other);
    cl = json_pack("{s:s, s:s}", "preferred_username", "sync-wal", "email", "sync-wal@example.com");
    CHECK(login(gp, &other, &c, "sync-wal", cl, &a) == JP_PROV_OK);
    CHECK_STR(sql1(&other, "PRAGMA synchronous"), "1");
    CHECK(login(gp, &other, &c, "sync-wal", cl, &a) == JP_PROV_OK);
    CHECK_STR(sql1(&other, "PRAGMA synchronous"), "1");
    json_decref(cl);
    audit_sets_full(&other, &c, p);
    /* The same for a first write that is not a login. */
    audit_sets_full(&other, &c, open_at_off(&other));

    apr_pool_create(&p, gp);
    CHECK(db_open(p, &other) == 0);
    CHECK_STR(sql1(&other, "PRAGMA busy_timeout=50"), "50");
    CHECK(!sql1(&other, "PRAGMA journal_mode=DELETE")); /* "database is locked" */
    CHECK_STR(sql1(db, "PRAGMA journal_mode"), "wal");
    apr_dbd_close(other.driver, other.handle);
    apr_pool_destroy(p);

    /* Only the connection itself can switch (ours never does): a connection
     * opened afterwards sees the rollback journal. */
    CHECK_STR(sql1(db, "PRAGMA journal_mode=DELETE"), "delete");
    apr_pool_create(&p, gp);
    CHECK(db_open(p, &other) == 0);
    exec(&other, "PRAGMA synchronous=OFF");
    cl = json_pack("{s:s, s:s}", "preferred_username", "sync-delete", "email",
                   "sync-delete@example.com");
    CHECK(login(gp, &other, &c, "sync-delete", cl, &a) == JP_PROV_OK);
    json_decref(cl);
    CHECK_STR(sql1(&other, "PRAGMA synchronous"), "2");
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'sync-delete'") == 1);
    apr_dbd_close(other.driver, other.handle);
    apr_pool_destroy(p);
    CHECK_STR(sql1(db, "PRAGMA journal_mode=WAL"), "wal");
    if (!getenv("JITPROV_TEST_SYNC_FULL"))
        exec(db, "PRAGMA synchronous=NORMAL");
}

static void test_busy(jp_db *db)
{
    jp_store_cfg c;
    jp_db other;
    jp_account a;
    apr_pool_t *p;
    apr_time_t t0;
    json_t *cl = json_pack("{s:s}", "preferred_username", "locked");
    const char *status;
    jp_store_cfg_init(gp, &c);
    apr_pool_create(&p, gp);
    if (db_open(p, &other)) {
        CHECK(0);
        return;
    }
    /* Another connection holds the write lock (or the row lock) for good. */
    CHECK(login(gp, db, &c, "locked", cl, &a) == JP_PROV_OK);
    if (is_pg) {
        CHECK(exec(&other, "BEGIN") == 0);
        CHECK(exec(&other, "UPDATE jitprov_accounts SET email = 'x' WHERE sub = 'locked'") == 0);
    } else {
        CHECK(exec(&other, "BEGIN IMMEDIATE") == 0);
    }
    t0 = apr_time_now();
    CHECK(login(gp, db, &c, "locked", cl, &a) == JP_PROV_DB_BUSY);
    fprintf(stderr, "  [%s] busy answered after %.2f s\n", drv_name, (apr_time_now() - t0) / 1e6);
    /* readers are not blocked (WAL / MVCC) */
    CHECK(jp_account_status(gp, db, &c, 1, &status) == 0);
    exec(&other, "ROLLBACK");
    /* the connection is still usable */
    CHECK(login(gp, db, &c, "locked", cl, &a) == JP_PROV_OK);
    CHECK(a.event == NULL);
    CHECK_STR(col(&a, "login_count"), "2");
    apr_dbd_close(other.driver, other.handle);
    json_decref(cl);
}

/* jitprov-admin init adds a column while the module holds prepared statements. */
static void test_schema_change(jp_db *db)
{
    jp_store_cfg c, c2;
    jp_db other;
    jp_account a;
    apr_pool_t *p;
    const char *err = NULL;
    jp_claim_map *m;
    json_t *cl = json_pack("{s:s}", "preferred_username", "schema");
    jp_store_cfg_init(gp, &c);
    CHECK(login(gp, db, &c, "schema", cl, &a) == JP_PROV_OK);
    apr_pool_create(&p, gp);
    if (db_open(p, &other)) {
        CHECK(0);
        return;
    }
    jp_store_cfg_init(gp, &c2);
    m = apr_array_push(c2.map);
    m->claim = "locale";
    m->column = "locale_new";
    CHECK(jp_store_init_schema(p, &other, &c2, &err) == 0);
    apr_dbd_close(other.driver, other.handle);
    CHECK(login(gp, db, &c, "schema", cl, &a) == JP_PROV_OK);
    CHECK(a.event == NULL);
    CHECK_STR(col(&a, "login_count"), "2");
    json_decref(cl);
}

/* The server ends the session of a connection we have not used yet: no crash,
 * and the first operation reconnects and succeeds (a server that is down for
 * good gives a clean 503: tests/e2e/test_prov_faults.py). */
static void test_dead_connection(void)
{
    jp_store_cfg c;
    jp_db victim, killer;
    jp_account a;
    apr_pool_t *p;
    const char *pid, *status;
    json_t *cl = json_pack("{s:s}", "preferred_username", "dead");
    apr_pool_create(&p, gp);
    jp_store_cfg_init(gp, &c);
    if (db_open(p, &victim) || db_open(p, &killer)) {
        CHECK(0);
        return;
    }
    pid = sql1(&victim, "SELECT pg_backend_pid()");
    CHECK(pid != NULL);
    sql1(&killer, apr_psprintf(p, "SELECT pg_terminate_backend(%s)", pid ? pid : "0"));
    apr_sleep(apr_time_from_msec(200));
    CHECK(login(p, &victim, &c, "dead", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    pid = sql1(&victim, "SELECT pg_backend_pid()");
    sql1(&killer, apr_psprintf(p, "SELECT pg_terminate_backend(%s)", pid ? pid : "0"));
    apr_sleep(apr_time_from_msec(200));
    CHECK(jp_account_status(p, &victim, &c, a.id, &status) == 0);
    CHECK_STR(status, "active");
    CHECK(count(&killer, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'dead'") == 1);
    apr_dbd_close(killer.driver, killer.handle);
    apr_dbd_close(victim.driver, victim.handle);
    json_decref(cl);
}

/* The server session under a pooled connection ends after our statements were
 * prepared on it (PostgreSQL restarted, backend terminated). The next
 * operation reconnects, prepares them again and succeeds; so does one on a
 * connection that mod_dbd already reconnected (apr_dbd_check_conn: PQreset),
 * where our statements no longer exist (SQLSTATE 26000). */
static void test_reconnect(void)
{
    jp_store_cfg c;
    jp_db victim, killer;
    jp_account a;
    apr_pool_t *p;
    const char *pid, *pid2, *status = NULL;
    apr_int64_t id;
    json_t *cl = json_pack("{s:s}", "preferred_username", "phoenix");
    apr_pool_create(&p, gp);
    jp_store_cfg_init(gp, &c);
    if (db_open(p, &victim) || db_open(p, &killer)) {
        CHECK(0);
        return;
    }
    CHECK(login(p, &victim, &c, "phoenix", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    id = a.id;

    /* 1: we are the first to use the dead session */
    pid = sql1(&victim, "SELECT pg_backend_pid()");
    CHECK(pid != NULL);
    sql1(&killer, apr_psprintf(p, "SELECT pg_terminate_backend(%s)", pid ? pid : "0"));
    apr_sleep(apr_time_from_msec(200));
    CHECK(login(p, &victim, &c, "phoenix", cl, &a) == JP_PROV_OK);
    CHECK_STR(col(&a, "login_count"), "2");
    pid2 = sql1(&victim, "SELECT pg_backend_pid()");
    CHECK(pid && pid2 && strcmp(pid, pid2));
    CHECK(jp_account_status(p, &victim, &c, id, &status) == 0);
    CHECK_STR(status, "active");

    /* 2: someone else hit the dead session, and mod_dbd reconnected it */
    sql1(&killer, apr_psprintf(p, "SELECT pg_terminate_backend(%s)", pid2 ? pid2 : "0"));
    apr_sleep(apr_time_from_msec(200));
    CHECK(sql1(&victim, "SELECT 1") == NULL);
    CHECK(apr_dbd_check_conn(victim.driver, p, victim.handle) == APR_SUCCESS);
    status = NULL;
    CHECK(jp_account_status(p, &victim, &c, id, &status) == 0);
    CHECK_STR(status, "active");
    CHECK(login(p, &victim, &c, "phoenix", cl, &a) == JP_PROV_OK);
    CHECK_STR(col(&a, "login_count"), "3");
    CHECK(count(&killer, "SELECT count(*) FROM jitprov_accounts WHERE sub = 'phoenix'") == 1);
    CHECK(count(&killer, "SELECT count(*) FROM jitprov_audit WHERE sub = 'phoenix'") == 1);
    apr_dbd_close(killer.driver, killer.handle);
    apr_dbd_close(victim.driver, victim.handle);
    json_decref(cl);
}

/* JITProvLinkBy: a row made before the first login (as SCIM makes it: iss and
 * sub NULL, external_id set) is linked by a claim; rows that have a sub are
 * not candidates; two candidates refuse; another issuer does not link. */
static void test_link_by(jp_db *db)
{
    jp_store_cfg c;
    jp_account a;
    const char *err = NULL;
    json_t *cl;
    jp_login in;

    drop_all(db);
    jp_store_cfg_init(gp, &c);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    c.link_by = JP_COL_EXTERNAL_ID;
    c.link_claim = "oid";
    exec(db, "INSERT INTO jitprov_accounts (username, external_id, given_name, family_name, "
             "status, created_at, updated_at, login_count, source) VALUES ('kim', 'OID-1', 'Kim', "
             "'Ko', 'active', 1, 1, 0, 'scim')");
    /* externalId is case-exact: another case does not link */
    cl = json_pack("{s:s, s:s}", "oid", "oid-1", "given_name", "K");
    CHECK(login(gp, db, &c, "pairwise-1", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    json_decref(cl);
    cl = json_pack("{s:s, s:s}", "oid", "OID-1", "given_name", "Kimberly");
    CHECK(login(gp, db, &c, "pairwise-2", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "link");
    CHECK_STR(col(&a, "username"), "kim");
    CHECK_STR(col(&a, "sub"), "pairwise-2");
    CHECK_STR(col(&a, "external_id"), "OID-1");
    CHECK_STR(col(&a, "given_name"), "Kimberly"); /* the default mapping, update on */
    CHECK_STR(col(&a, "family_name"), "Ko");      /* absent claim keeps it */
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'link' AND detail LIKE "
                    "'{\"by\":\"externalId\",\"claim\":\"oid\",\"value\":\"OID-1\"%'") == 1);
    /* linked now: the same claim from another sub finds no candidate */
    CHECK(login(gp, db, &c, "pairwise-3", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "create");
    json_decref(cl);

    /* two candidates: refused, neither linked */
    exec(db, "INSERT INTO jitprov_accounts (username, external_id, status, created_at, "
             "updated_at, login_count, source) VALUES ('d1', 'dup', 'active', 1, 1, 0, 'scim')");
    exec(db, "INSERT INTO jitprov_accounts (username, external_id, status, created_at, "
             "updated_at, login_count, source) VALUES ('d2', 'dup', 'active', 1, 1, 0, 'scim')");
    cl = json_pack("{s:s}", "oid", "dup");
    CHECK(login(gp, db, &c, "dup-user", cl, &a) == JP_PROV_NOT_PROVISIONED);
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE external_id = 'dup' AND sub IS "
                    "NULL") == 2);
    CHECK(count(db, "SELECT count(*) FROM jitprov_audit WHERE event = 'refuse' AND detail LIKE "
                    "'%link_ambiguous%'") == 1);
    json_decref(cl);

    /* another issuer: not linked (create off: refused) */
    exec(db, "INSERT INTO jitprov_accounts (username, external_id, status, created_at, "
             "updated_at, login_count, source) VALUES ('w', 'W-1', 'active', 1, 1, 0, 'scim')");
    c.link_iss = "https://other.example.com";
    c.create = 0;
    cl = json_pack("{s:s}", "oid", "W-1");
    CHECK(login(gp, db, &c, "w-sub", cl, &a) == JP_PROV_NOT_PROVISIONED);
    CHECK(count(db, "SELECT count(*) FROM jitprov_accounts WHERE external_id = 'W-1' AND sub IS "
                    "NULL") == 1);
    memset(&in, 0, sizeof(in));
    in.iss = "https://other.example.com";
    in.sub = "w-sub";
    in.claims = cl;
    CHECK(jp_provision(gp, db, &c, &in, &a, &err) == JP_PROV_OK);
    CHECK_STR(a.event, "link");
    json_decref(cl);

    /* userName, case-insensitively */
    c.link_iss = NULL;
    c.link_by = JP_COL_USERNAME;
    c.link_claim = "preferred_username";
    exec(db, "INSERT INTO jitprov_accounts (username, status, created_at, updated_at, "
             "login_count, source) VALUES ('Erin@Example.com', 'active', 1, 1, 0, 'scim')");
    cl = json_pack("{s:s}", "preferred_username", "erin@example.com");
    CHECK(login(gp, db, &c, "erin-sub", cl, &a) == JP_PROV_OK);
    CHECK_STR(a.event, "link");
    json_decref(cl);
    /* no claim: nothing linked, and create is off */
    cl = json_pack("{s:s}", "email", "x@example.com");
    CHECK(login(gp, db, &c, "x-sub", cl, &a) == JP_PROV_NOT_PROVISIONED);
    json_decref(cl);
    drop_all(db);
}

/* A default table made by 0.1 (without external_id, given_name, family_name):
 * logins fail on the missing columns until init adds them. */
static void test_upgrade(jp_db *db)
{
    jp_store_cfg c;
    jp_account a;
    const char *err = NULL;
    json_t *cl = json_pack("{s:s}", "given_name", "Old");
    drop_all(db);
    jp_store_cfg_init(gp, &c);
    c.col[JP_COL_EXTERNAL_ID] = c.col[JP_COL_GIVEN_NAME] = c.col[JP_COL_FAMILY_NAME] = NULL;
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    CHECK(login(gp, db, &c, "old", cl, &a) == JP_PROV_OK);
    jp_store_cfg_init(gp, &c);
    err = NULL;
    {
        jp_login in = {"https://idp.example.com", "old", cl, NULL, NULL};
        CHECK(jp_provision(gp, db, &c, &in, &a, &err) == JP_PROV_DB_ERROR);
        CHECK(jp_store_err_missing_schema(err));
    }
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    CHECK(login(gp, db, &c, "old", cl, &a) == JP_PROV_OK);
    CHECK_STR(col(&a, "given_name"), "Old");
    json_decref(cl);
    drop_all(db);
}

/* Our prepared statements on a connection whose labels start with prefix. */
static int statements(jp_db *db, const char *prefix)
{
    apr_hash_index_t *hi;
    int n = 0;
    for (hi = apr_hash_first(gp, db->prepared); hi; hi = apr_hash_next(hi)) {
        const void *key;
        apr_hash_this(hi, &key, NULL, NULL);
        n += !strncmp((const char *)key, prefix, strlen(prefix));
    }
    return n;
}

static int scim_list(apr_pool_t *p, jp_db *db, const jp_store_cfg *c, const char *filter)
{
    jp_scim_filter f;
    jp_scim_err e;
    jp_scim_user *users;
    int n;
    int64_t total;
    const char *err = NULL;
    if (filter && jp_scim_parse_filter(p, filter, &f, &e))
        return -100;
    return jp_scim_store_list(p, db, c, filter ? &f : NULL, 1, 10, &users, &n, &total, &err);
}

/* SCIM filter form i: userName with one of six operators, then i / 6 more
 * "and userName pr": distinct SQL texts, 96 of them. */
static const char *form(apr_pool_t *p, int i)
{
    static const char *const ops[] = {"eq", "ne", "co", "sw", "ew", "pr"};
    const char *f = apr_psprintf(p, "userName %s%s", ops[i % 6], i % 6 == 5 ? "" : " \"v\"");
    int k;
    for (k = 0; k < i / 6; k++)
        f = apr_pstrcat(p, f, " and userName pr", NULL);
    return f;
}

/* Each SCIM filter form is prepared on the connection and kept until it
 * closes (apr_dbd frees statements only then): a connection takes
 * JP_SCIM_FILTER_FORMS_MAX forms, refuses another without preparing or
 * running anything, and keeps answering the ones it took. */
static void test_scim_filter_forms(void)
{
    jp_store_cfg c;
    jp_db fresh, other;
    apr_pool_t *p;
    const char *err = NULL;
    int i, ok = 1, held;
    jp_store_cfg_init(gp, &c);
    apr_pool_create(&p, gp);
    if (db_open(p, &fresh)) {
        CHECK(0);
        return;
    }
    CHECK(jp_store_init_schema(p, &fresh, &c, &err) == 0);
    for (i = 0; i < JP_SCIM_FILTER_FORMS_MAX; i++)
        ok &= scim_list(p, &fresh, &c, form(p, i)) == JP_STORE_OK;
    CHECK(ok);
    /* The same forms with other values and other spellings are no new ones. */
    CHECK(scim_list(p, &fresh, &c, "USERNAME EQ \"other\"") == JP_STORE_OK);
    CHECK(scim_list(p, &fresh, &c, "urn:ietf:params:scim:schemas:core:2.0:User:userName co "
                                   "\"x\" and userName pr") == JP_STORE_OK);
    held = statements(&fresh, "jitprov_scim_");
    CHECK(held <= 2 * JP_SCIM_FILTER_FORMS_MAX + 4);
    CHECK(scim_list(p, &fresh, &c, form(p, JP_SCIM_FILTER_FORMS_MAX)) == JP_STORE_LIMIT);
    CHECK(scim_list(p, &fresh, &c, "displayName pr") == JP_STORE_LIMIT);
    CHECK(statements(&fresh, "jitprov_scim_") == held);
    CHECK(scim_list(p, &fresh, &c, form(p, 0)) == JP_STORE_OK);
    CHECK(scim_list(p, &fresh, &c, form(p, JP_SCIM_FILTER_FORMS_MAX - 1)) == JP_STORE_OK);
    CHECK(scim_list(p, &fresh, &c, NULL) == JP_STORE_OK); /* no filter: no form */
    /* Another connection has its own. */
    if (db_open(p, &other) == 0) {
        CHECK(scim_list(p, &other, &c, form(p, JP_SCIM_FILTER_FORMS_MAX)) == JP_STORE_OK);
        apr_dbd_close(other.driver, other.handle);
    }
    apr_dbd_close(fresh.driver, fresh.handle);
    apr_pool_destroy(p);
}

/* totalResults of a SCIM filter, or -1. */
static long scim_total(apr_pool_t *p, jp_db *db, const jp_store_cfg *c, const char *filter)
{
    jp_scim_filter f;
    jp_scim_err e;
    jp_scim_user *users;
    int n;
    int64_t total = -1;
    const char *err = NULL;
    if (jp_scim_parse_filter(p, filter, &f, &e) ||
        jp_scim_store_list(p, db, c, &f, 1, 10, &users, &n, &total, &err) != JP_STORE_OK) {
        fprintf(stderr, "  scim filter %s: %s\n", filter, err ? err : e.detail);
        return -1;
    }
    return (long)total;
}

/* name.givenName and name.familyName filter like displayName: every
 * operator, case-insensitively, NULL-safe; without the column (an
 * application's table that names none) no row has them. */
static void test_scim_filter_names(jp_db *db)
{
    jp_store_cfg c, bare;
    jp_db fresh;
    apr_pool_t *p;
    const char *err = NULL;

    drop_all(db);
    jp_store_cfg_init(gp, &c);
    CHECK(jp_store_init_schema(gp, db, &c, &err) == 0);
    exec(db, "INSERT INTO jitprov_accounts (username, given_name, family_name, status, "
             "created_at, updated_at, login_count, source) VALUES "
             "('bj', 'Barbara', 'Jensen', 'active', 1, 1, 0, 'scim'), "
             "('om', 'Ann', 'O''Malley', 'active', 1, 1, 0, 'scim'), "
             "('nn', NULL, NULL, 'active', 1, 1, 0, 'scim')");
    apr_pool_create(&p, gp);
    if (db_open(p, &fresh)) {
        CHECK(0);
        return;
    }
    CHECK(scim_total(p, &fresh, &c, "name.familyName eq \"JENSEN\"") == 1);
    CHECK(scim_total(p, &fresh, &c, "name.familyName co \"o'mal\"") == 1);
    CHECK(scim_total(p, &fresh, &c, "NAME.GIVENNAME sw \"bar\"") == 1);
    CHECK(scim_total(p, &fresh, &c, "name.givenName ew \"NN\"") == 1);
    CHECK(scim_total(p, &fresh, &c, "name.familyName ne \"jensen\"") == 2);
    CHECK(scim_total(p, &fresh, &c, "name.givenName pr") == 2);
    CHECK(scim_total(p, &fresh, &c, "not (name.familyName pr)") == 1);
    CHECK(scim_total(p, &fresh, &c, "name.familyName co \"%\"") == 0);
    CHECK(scim_total(p, &fresh, &c,
                     "name.givenName eq \"barbara\" and name.familyName eq \"jensen\"") == 1);
    jp_store_cfg_init(gp, &bare);
    bare.col[JP_COL_GIVEN_NAME] = bare.col[JP_COL_FAMILY_NAME] = NULL;
    CHECK(scim_total(p, &fresh, &bare, "name.givenName eq \"Barbara\"") == 0);
    CHECK(scim_total(p, &fresh, &bare, "name.givenName co \"a\"") == 0);
    CHECK(scim_total(p, &fresh, &bare, "name.familyName ne \"Jensen\"") == 3);
    CHECK(scim_total(p, &fresh, &bare, "name.familyName pr") == 0);
    CHECK(scim_total(p, &fresh, &bare, "not (name.givenName pr)") == 3);
    apr_dbd_close(fresh.driver, fresh.handle);
    apr_pool_destroy(p);
    drop_all(db);
}

static void suite(const char *drv, const char *params)
{
    jp_db db;
    apr_pool_t *p;
    drv_name = drv;
    drv_params = params;
    is_pg = !strcmp(drv, "pgsql");
    fprintf(stderr, "== %s (%s)\n", drv, params);
    apr_pool_create(&p, gp);
    if (db_open(p, &db)) {
        CHECK(0);
        return;
    }
    CHECK_STR(jp_store_dialect(&db), drv);
    drop_all(&db);
    test_default(&db);
    if (!is_pg)
        test_login_sync_journal(&db);
    test_legacy(&db);
    test_qualified(&db);
    test_concurrency(&db);
    test_busy(&db);
    test_schema_change(&db);
    if (is_pg) {
        test_dead_connection();
        test_reconnect();
    }
    test_link_by(&db);
    test_upgrade(&db);
    test_scim_filter_forms();
    test_scim_filter_names(&db);
    drop_all(&db);
    apr_dbd_close(db.driver, db.handle);
}

int main(void)
{
    char dir[] = "/tmp/jitprov-test-store.XXXXXX";
    const char *pg = getenv("JITPROV_PG_PARAMS");
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&gp, NULL);
    apr_dbd_init(gp);
    test_config();
    if (!mkdtemp(dir)) {
        CHECK(0);
        JT_DONE();
    }
    suite("sqlite3", apr_pstrcat(gp, dir, "/accounts.db", NULL));
    if (pg && *pg)
        suite("pgsql", pg);
    else
        fprintf(stderr, "JITPROV_PG_PARAMS not set: PostgreSQL cases skipped\n");
    unlink(apr_pstrcat(gp, dir, "/accounts.db", NULL));
    unlink(apr_pstrcat(gp, dir, "/accounts.db-wal", NULL));
    unlink(apr_pstrcat(gp, dir, "/accounts.db-shm", NULL));
    rmdir(dir);
    JT_DONE();
}
