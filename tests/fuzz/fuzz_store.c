/* libFuzzer target: arbitrary bytes as the claims of a login, provisioned into a
 * real in-memory SQLite database through apr_dbd (claim conversion, column
 * mapping, audit detail JSON, the SQL itself). The first byte picks the
 * policy. Whatever the claims, a login either fails cleanly or leaves exactly
 * one account for its key, and a second identical login finds the same one. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "store.h"

static apr_pool_t *root;
static jp_db db;
static jp_store_cfg cfg;
static unsigned long runs;

static void teardown(void)
{
    /* apr pools may live in mmap'd memory LeakSanitizer does not scan: close
     * the connection so SQLite's own allocations are not reported. */
    if (db.handle)
        apr_dbd_close(db.driver, db.handle);
    db.handle = NULL;
}

static void setup(void)
{
    jp_claim_map *m;
    const char *err = NULL;
    apr_initialize();
    apr_pool_create(&root, NULL);
    apr_dbd_init(root);
    if (apr_dbd_get_driver(root, "sqlite3", &db.driver) ||
        apr_dbd_open_ex(db.driver, root, ":memory:", &db.handle, &err))
        abort();
    db.pool = root;
    db.prepared = apr_hash_make(root);
    jp_store_cfg_init(root, &cfg);
    m = apr_array_push(cfg.map);
    m->claim = "address.country";
    m->column = "country";
    m = apr_array_push(cfg.map);
    m->claim = "https://example.com/roles";
    m->column = "roles";
    m = apr_array_push(cfg.map);
    m->claim = "upn";
    m->column = "username";
    if (jp_store_init_schema(root, &db, &cfg, &err))
        abort();
    atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    jp_store_cfg c;
    jp_login in;
    jp_account a, b;
    jp_prov_rc r1, r2;
    const char *err = NULL, *status = NULL, *sub;
    json_t *claims, *s;
    int mode;

    if (!root)
        setup();
    if (size < 1)
        return 0;
    mode = data[0];
    claims = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (!claims)
        return 0;
    if (!json_is_object(claims)) {
        json_decref(claims);
        return 0;
    }
    apr_pool_create(&p, root);
    c = cfg;
    c.create = !(mode & 1);
    c.update = !(mode & 2);
    c.link_by_email = (mode & 4) != 0;
    c.new_status = (mode & 8) ? "pending" : "active";
    c.account_key = (mode & 16) ? "email" : "sub";
    c.delim = (mode & 32) ? "|" : ",";
    s = json_object_get(claims, "sub");
    sub = json_is_string(s) && *json_string_value(s) ? json_string_value(s) : "fuzz-sub";
    in.iss = "https://idp.example.com";
    in.sub = sub;
    in.claims = claims;
    in.client_ip = "192.0.2.1";
    in.corr_id = "fuzz";

    r1 = jp_provision(p, &db, &c, &in, &a, &err);
    if (r1 > JP_PROV_DB_ERROR || r1 == JP_PROV_DB_BUSY)
        abort();
    if (r1 == JP_PROV_OK && (a.id <= 0 || !a.status || strcmp(a.status, "active") || !a.cols))
        abort();
    r2 = jp_provision(p, &db, &c, &in, &b, &err);
    if (r1 == JP_PROV_OK && (r2 != JP_PROV_OK || b.id != a.id))
        abort();
    if (r1 == JP_PROV_OK) {
        if (jp_account_status(p, &db, &c, a.id, &status) || strcmp(status, "active"))
            abort();
    }
    json_decref(claims);
    apr_pool_destroy(p);

    /* Keep the database small so every run costs about the same. */
    if (++runs % 512 == 0) {
        int n;
        apr_dbd_query(db.driver, db.handle, &n, "DELETE FROM jitprov_accounts");
        apr_dbd_query(db.driver, db.handle, &n, "DELETE FROM jitprov_audit");
    }
    return 0;
}
