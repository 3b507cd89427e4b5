/* bench-initdb DRIVER PARAMS: creates the default account and audit tables
 * through the module's own store code, so the benchmark does not depend on
 * jitprov-admin being built. Also prints row counts with "count". */
#include <stdio.h>
#include <string.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_dbd.h>
#include "store.h"

static int count(apr_pool_t *p, jp_db *db, const char *table)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row;
    const char *sql = apr_pstrcat(p, "SELECT COUNT(*) FROM ", table, NULL);
    const char *n = "?";
    int rv = apr_dbd_select(db->driver, p, db->handle, &res, sql, 1);
    if (rv) {
        fprintf(stderr, "%s: %s\n", sql, apr_dbd_error(db->driver, db->handle, rv));
        return -1;
    }
    /* row stays set between calls: the pgsql driver counts rows in it. */
    for (row = NULL; apr_dbd_get_row(db->driver, p, res, &row, -1) != -1;) {
        const char *v = apr_dbd_get_entry(db->driver, row, 0);
        if (v)
            n = apr_pstrdup(p, v);
    }
    printf("%s %s\n", table, n);
    return 0;
}

int main(int argc, char **argv)
{
    apr_pool_t *p;
    jp_db db;
    jp_store_cfg cfg;
    const char *err = NULL;
    int rc = 0;

    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "count"))) {
        fprintf(stderr, "usage: %s sqlite3|pgsql PARAMS [count]\n", argv[0]);
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    apr_dbd_init(p);
    memset(&db, 0, sizeof(db));
    if (apr_dbd_get_driver(p, argv[1], &db.driver) != APR_SUCCESS) {
        fprintf(stderr, "no apr_dbd driver %s\n", argv[1]);
        return 1;
    }
    if (apr_dbd_open_ex(db.driver, p, argv[2], &db.handle, &err) != APR_SUCCESS) {
        fprintf(stderr, "cannot open %s: %s\n", argv[2], err ? err : "?");
        return 1;
    }
    db.prepared = apr_hash_make(p);
    db.pool = p;
    jp_store_cfg_init(p, &cfg);
    if (argc == 4) {
        rc = count(p, &db, cfg.table) || count(p, &db, cfg.audit_table);
    } else if (jp_store_init_schema(p, &db, &cfg, &err) != 0) {
        fprintf(stderr, "schema: %s\n", err ? err : "failed");
        rc = 1;
    }
    apr_dbd_close(db.driver, db.handle);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
