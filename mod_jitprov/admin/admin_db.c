/* Where jitprov-admin finds the database: -d/-p, or the DBDriver, DBDParams
 * and JITProv store directives of an httpd config file (read the way httpd
 * reads it: Include, IncludeOptional, Define, continuation lines); and the
 * connection itself. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_dbd.h>

#include "store.h"
#include "headers.h"
#include "admin.h"

/* ------------------------------------------------------------------------ */
/* The httpd config file                                                      */

typedef struct {
    const char *driver, *params, *where_driver, *where_params;
    jp_store_cfg cfg;
    const char *server_root;
    apr_table_t *defines;
    int depth;
    int store_set;        /* a JITProv store directive was seen */
    const char *store_at; /* where the first one was */
    chk_dir *dir;         /* the <Location> being read, or the server's */
} conf;

chk_cfg login_cfg;

static void store_directive(conf *c, const char *where);

static chk_dir *new_dir(const char *path)
{
    chk_dir *d = apr_pcalloc(pool, sizeof(*d));
    *(chk_dir **)apr_array_push(login_cfg.dirs) = d;
    d->path = path;
    d->encoding = -1;
    return d;
}

/* The login and identity directives check needs; mistakes here are caught by
 * httpd's configtest, so they are read as they come. */
static int login_directive(conf *c, const char *where, const char *name, char *a1, char *a2)
{
    chk_dir *d = c->dir;
    if (!strncasecmp(name, "<Location", 9) && strncasecmp(name, "<LocationMatch", 14) && a1) {
        size_t n = strlen(a1);
        if (n && a1[n - 1] == '>')
            a1[n - 1] = '\0';
        c->dir = new_dir(a1);
    } else if (!strcasecmp(name, "</Location>")) {
        c->dir = ((chk_dir **)login_cfg.dirs->elts)[0];
    } else if (!strcasecmp(name, "JITProvRequireClaim") && a1 && a2) {
        chk_gate *g = apr_array_push(login_cfg.gates);
        g->claim = a1;
        g->pattern = a2;
    } else if (!strcasecmp(name, "JITProvProvisioning") && a1) {
        login_cfg.provisioning = strcasecmp(a1, "off") != 0;
    } else if ((!strcasecmp(name, "JITProvHeader") && a1 && a2) ||
               (!strcasecmp(name, "JITProvRemoteUser") && a1)) {
        const char *src = a2 ? a2 : a1, *key;
        if (!strncmp(src, "claim:", 6))
            key = apr_pstrcat(pool, "c:", src + 6, NULL);
        else if (!strncmp(src, "account:", 8))
            key = apr_pstrcat(pool, "a:", src + 8, NULL);
        else
            die(EX_FAIL, "%s: %s: bad source '%s'", where, name, src);
        if (a2) {
            chk_header *h;
            if (!d->headers)
                d->headers = apr_array_make(pool, 4, sizeof(chk_header));
            h = apr_array_push(d->headers);
            h->name = a1;
            h->key = key;
        } else {
            d->remote_user = key;
        }
    } else if (!strcasecmp(name, "JITProvHeaderEncoding") && a1) {
        d->encoding = !strcasecmp(a1, "percent")     ? JP_ENC_PERCENT
                      : !strcasecmp(a1, "base64url") ? JP_ENC_BASE64URL
                                                     : JP_ENC_NONE;
    } else if (!strcasecmp(name, "JITProvClaimDelimiter") && a1) {
        d->delim = a1;
    } else if (!strcasecmp(name, "JITProvAccountCreate") && a1) {
        c->cfg.create = !strcasecmp(a1, "on");
    } else if (!strcasecmp(name, "JITProvAccountUpdate") && a1) {
        c->cfg.update = !strcasecmp(a1, "on");
    } else if (!strcasecmp(name, "JITProvLinkByEmail") && a1) {
        c->cfg.link_by_email = !strcasecmp(a1, "on");
    } else if (!strcasecmp(name, "JITProvNewAccountStatus") && a1) {
        store_directive(c, where);
        c->cfg.new_status = a1;
    } else if (!strcasecmp(name, "JITProvAccountKey") && a1) {
        store_directive(c, where);
        c->cfg.account_key = a1;
    } else {
        return 0;
    }
    return 1;
}

/* One httpd-style word: quotes group, backslash escapes a quote inside them. */
static char *next_word(char **s)
{
    char *p = *s, *out, *w;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (!*p)
        return NULL;
    w = out = p;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q) {
            if (*p == '\\' && (p[1] == q || p[1] == '\\'))
                p++;
            *out++ = *p++;
        }
        if (*p)
            p++;
    } else {
        while (*p && !isspace((unsigned char)*p))
            *out++ = *p++;
    }
    if (*p)
        p++;
    *out = '\0';
    *s = p;
    return w;
}

/* ${NAME} from Define lines or the environment; unknown names stay as they are. */
static const char *expand(conf *c, const char *s)
{
    const char *d, *e;
    char *out = apr_pstrdup(pool, "");
    while ((d = strstr(s, "${")) && (e = strchr(d + 2, '}'))) {
        const char *name = apr_pstrndup(pool, d + 2, e - d - 2);
        const char *v = apr_table_get(c->defines, name);
        if (!v)
            v = getenv(name);
        out = apr_pstrcat(pool, out, apr_pstrndup(pool, s, d - s),
                          v ? v : apr_pstrndup(pool, d, e - d + 1), NULL);
        s = e + 1;
    }
    return apr_pstrcat(pool, out, s, NULL);
}

static void read_conf(conf *c, const char *path, int optional);

static void include(conf *c, const char *pattern, int optional, const char *where)
{
    glob_t g;
    size_t i;
    int rc;
    if (pattern[0] != '/')
        pattern = apr_pstrcat(pool, c->server_root, "/", pattern, NULL);
    rc = glob(pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        if (!optional && !strpbrk(pattern, "*?["))
            die(EX_FAIL, "%s: Include %s: no such file", where, pattern);
        return;
    }
    if (rc != 0)
        die(EX_FAIL, "%s: Include %s: cannot read", where, pattern);
    for (i = 0; i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            include(c, apr_pstrcat(pool, g.gl_pathv[i], "/*", NULL), 1, where);
            continue;
        }
        read_conf(c, apr_pstrdup(pool, g.gl_pathv[i]), optional);
    }
    globfree(&g);
}

static void set_once(const char **slot, const char **where_slot, const char *val, const char *where,
                     const char *name)
{
    if (!*slot) {
        *slot = val;
        *where_slot = where;
    } else if (strcmp(*slot, val)) {
        warn("%s: another %s (first one at %s is used; pass -d/-p to choose)", where, name,
             *where_slot);
    }
}

static void store_directive(conf *c, const char *where)
{
    if (!c->store_set) {
        c->store_set = 1;
        c->store_at = where;
    }
}

/* The roles and collision directives, with what the module checks of them
 * (the whole set is checked again by jp_store_cfg_check). */
static void role_directive(conf *c, const char *where, const char *name, char *a1, char *a2,
                           char *rest)
{
    jp_roles_cfg *rc;
    const char *err = NULL;
    store_directive(c, where);
    if (!c->cfg.roles)
        c->cfg.roles = jp_roles_cfg_make(pool);
    rc = c->cfg.roles;
    if (!strcasecmp(name, "JITProvCollision") && a1) {
        if (!strcasecmp(a1, "refuse") || !strcasecmp(a1, "suffix"))
            c->cfg.collision = strcasecmp(a1, "suffix") ? JP_COLLISION_REFUSE : JP_COLLISION_SUFFIX;
        else
            err = "must be refuse or suffix";
    } else if (!strcasecmp(name, "JITProvRoleTable") && a1 && a2) {
        char *w[4];
        int n = 0;
        while (n < 4 && (w[n] = next_word(&rest)))
            n++;
        if (n != 1 && n != 4)
            err = "table account-column role-column [lookup-table id-column name-column]";
        else if (!jp_store_ident_ok(a1))
            err = "not a valid SQL identifier";
        else {
            rc->table = a1;
            rc->account_col = a2;
            rc->role_col = w[0];
            if (n == 4) {
                rc->lookup_table = w[1];
                rc->lookup_id_col = w[2];
                rc->lookup_name_col = w[3];
            }
        }
    } else if (!strcasecmp(name, "JITProvRoleClaim") && a1) {
        rc->claim = a1;
    } else if (!strcasecmp(name, "JITProvRoleMap") && a1 && a2) {
        err = jp_roles_add_rule(pool, rc, a1, a2);
    } else if (!strcasecmp(name, "JITProvRoleAllow") && a1) {
        char *w;
        *(const char **)apr_array_push(rc->allow) = a1;
        if (a2)
            *(const char **)apr_array_push(rc->allow) = a2;
        while ((w = next_word(&rest)))
            *(const char **)apr_array_push(rc->allow) = w;
    } else if (!strcasecmp(name, "JITProvRoleMissing") && a1) {
        if (strcasecmp(a1, "keep") && strcasecmp(a1, "clear"))
            err = "must be keep or clear";
        rc->missing_keep = !strcasecmp(a1, "keep");
    }
    if (err)
        die(EX_FAIL, "%s: %s: %s", where, name, err);
}

static void directive(conf *c, const char *where, char *line)
{
    char *name = next_word(&line), *a1, *a2;
    if (!name || name[0] == '#')
        return;
    a1 = next_word(&line);
    a2 = a1 ? next_word(&line) : NULL;
    if (a1)
        a1 = (char *)expand(c, a1);
    if (a2)
        a2 = (char *)expand(c, a2);
    if (login_directive(c, where, name, a1, a2) || name[0] == '<')
        return;

    if (!strcasecmp(name, "Define") && a1) {
        apr_table_set(c->defines, a1, a2 ? a2 : "");
    } else if (!strcasecmp(name, "ServerRoot") && a1) {
        c->server_root = a1;
    } else if ((!strcasecmp(name, "Include") || !strcasecmp(name, "IncludeOptional")) && a1) {
        include(c, a1, !strcasecmp(name, "IncludeOptional"), where);
    } else if (!strcasecmp(name, "DBDriver") && a1) {
        set_once(&c->driver, &c->where_driver, a1, where, "DBDriver");
    } else if (!strcasecmp(name, "DBDParams") && a1) {
        set_once(&c->params, &c->where_params, a1, where, "DBDParams");
    } else if (!strcasecmp(name, "JITProvAccountTable") && a1) {
        store_directive(c, where);
        if (!jp_store_ident_ok(a1))
            die(EX_FAIL, "%s: JITProvAccountTable: '%s' is not a valid SQL identifier", where, a1);
        c->cfg.table = a1;
    } else if (!strcasecmp(name, "JITProvAuditTable") && a1) {
        store_directive(c, where);
        if (!strcasecmp(a1, "none"))
            a1 = "";
        else if (!jp_store_ident_ok(a1))
            die(EX_FAIL, "%s: JITProvAuditTable: '%s' is not a valid SQL identifier", where, a1);
        c->cfg.audit_table = a1;
    } else if (!strcasecmp(name, "JITProvAccountColumn") && a1 && a2) {
        int r = jp_store_role_from_name(a1);
        store_directive(c, where);
        if (r < 0)
            die(EX_FAIL, "%s: JITProvAccountColumn: unknown role '%s'", where, a1);
        if (!strcasecmp(a2, "none"))
            a2 = NULL;
        else if (!jp_store_ident_ok(a2))
            die(EX_FAIL, "%s: JITProvAccountColumn: '%s' is not a valid SQL identifier", where, a2);
        c->cfg.col[r] = a2;
        c->cfg.col_set |= 1u << r;
    } else if (!strcasecmp(name, "JITProvMapClaim") && a1 && a2) {
        jp_claim_map *m = apr_array_push(c->cfg.map);
        char *a3 = next_word(&line);
        store_directive(c, where);
        m->claim = a1;
        m->column = a2;
        m->sync = JP_SYNC_DEFAULT;
        if (a3 && (m->sync = jp_sync_from_name(a3)) < 0)
            die(EX_FAIL, "%s: JITProvMapClaim: unknown policy '%s'", where, a3);
    } else if (!strncasecmp(name, "JITProvRole", 11) || !strcasecmp(name, "JITProvCollision")) {
        role_directive(c, where, name, a1, a2, line);
    }
}

static void read_conf(conf *c, const char *path, int optional)
{
    apr_file_t *f;
    char buf[8192];
    char *line = NULL;
    int lineno = 0, start = 0;
    if (++c->depth > 16)
        die(EX_FAIL, "%s: Include nesting too deep", path);
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, pool) != APR_SUCCESS) {
        if (optional)
            return;
        die(EX_FAIL, "cannot read %s: %s", path, strerror(errno));
    }
    while (apr_file_gets(buf, sizeof(buf), f) == APR_SUCCESS) {
        size_t n = strlen(buf);
        lineno++;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (!line)
            start = lineno;
        /* A trailing backslash continues the directive on the next line. */
        if (n && buf[n - 1] == '\\') {
            buf[n - 1] = ' ';
            line = apr_pstrcat(pool, line ? line : "", buf, NULL);
            continue;
        }
        line = apr_pstrcat(pool, line ? line : "", buf, NULL);
        directive(c, apr_psprintf(pool, "%s:%d", path, start), line);
        line = NULL;
    }
    if (line)
        directive(c, apr_psprintf(pool, "%s:%d", path, start), line);
    apr_file_close(f);
    c->depth--;
}

/* ------------------------------------------------------------------------ */
/* Database                                                                   */

jp_db db;
jp_store_cfg cfg;
const char *db_driver, *db_params, *db_name;

/* Run as the owner of a SQLite file rather than root: files SQLite creates
 * beside it (-wal, -shm) must stay writable for httpd. */
static void become_owner(const char *path)
{
    struct stat st;
    if (geteuid() != 0 || stat(path, &st) != 0 || st.st_uid == 0)
        return;
    if (setgroups(0, NULL) != 0 || setgid(st.st_gid) != 0 || setuid(st.st_uid) != 0)
        die(EX_FAIL, "cannot switch to the owner (uid %ld) of %s: %s", (long)st.st_uid, path,
            strerror(errno));
}

/* creating: 1 init may create the file; 2 dry run: a missing file is planned
 * against an empty in-memory database. */
void open_db(int creating)
{
    const char *conf_path = o("config"), *err = NULL, *bad;
    conf c;
    apr_status_t rv;

    memset(&c, 0, sizeof(c));
    jp_store_cfg_init(pool, &c.cfg);
    c.defines = apr_table_make(pool, 4);
    login_cfg.provisioning = 1;
    login_cfg.gates = apr_array_make(pool, 2, sizeof(chk_gate));
    login_cfg.dirs = apr_array_make(pool, 4, sizeof(chk_dir *));
    c.dir = new_dir(NULL);
    if (!conf_path && !(o("driver") && o("params"))) {
        apr_finfo_t fi;
        if (apr_stat(&fi, DEFAULT_CONFIG, APR_FINFO_TYPE, pool) == APR_SUCCESS)
            conf_path = DEFAULT_CONFIG;
    }
    if (conf_path) {
        char *dir = apr_pstrdup(pool, conf_path), *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        c.server_root = slash ? (*dir ? dir : "/") : ".";
        read_conf(&c, conf_path, 0);
    }
    db_driver = o("driver") ? o("driver") : c.driver;
    db_params = o("params") ? o("params") : c.params;
    db_name = db_params;
    if (!db_driver || !db_params)
        die(EX_USAGE, "no database: give -d DRIVER -p PARAMS, or -f an httpd config with "
                      "DBDriver and DBDParams");
    if (strcmp(db_driver, "sqlite3") && strcmp(db_driver, "pgsql"))
        die(EX_USAGE, "DBDriver '%s' is not supported: use sqlite3 or pgsql", db_driver);
    cfg = c.cfg;
    jp_store_cfg_finish(&cfg);
    if ((bad = jp_store_cfg_check(pool, &cfg)))
        die(EX_FAIL, "%s%s%s", c.store_at ? c.store_at : "", c.store_at ? ": " : "", bad);

    if (!strcmp(db_driver, "sqlite3")) {
        apr_finfo_t fi;
        /* init --owner must not chown through a symlink (its target, any file
         * root can reach, would go to the user): refuse before SQLite creates
         * or touches anything. */
        if (creating == 1 && o("owner") &&
            apr_stat(&fi, db_params, APR_FINFO_LINK | APR_FINFO_TYPE, pool) == APR_SUCCESS &&
            fi.filetype != APR_REG)
            die(EX_FAIL, "init --owner: %s is %s, not a regular file; refusing to change its owner",
                db_params, fi.filetype == APR_LNK ? "a symbolic link" : "not a regular file");
        if (apr_stat(&fi, db_params, APR_FINFO_TYPE, pool) != APR_SUCCESS) {
            if (creating == 2)
                db_params = ":memory:";
            else if (!creating)
                die(EX_FAIL, "database file %s does not exist (run '%s init' first)", db_params,
                    prog);
        } else {
            become_owner(db_params);
        }
    }
    rv = apr_dbd_get_driver(pool, db_driver, &db.driver);
    if (rv != APR_SUCCESS)
        die(EX_FAIL,
            "apr_dbd driver '%s' is not available (Debian: apt-get install "
            "libaprutil1-dbd-%s)",
            db_driver, db_driver);
    rv = apr_dbd_open_ex(db.driver, pool, db_params, &db.handle, &err);
    if (rv != APR_SUCCESS || !db.handle)
        die(EX_FAIL, "cannot open the %s database: %s", db_driver, err ? err : "connection failed");
    db.pool = pool;
    db.prepared = apr_hash_make(pool);
}

void close_db(void)
{
    if (db.handle)
        apr_dbd_close(db.driver, db.handle);
    db.handle = NULL;
}

/* Maps a store result to a message and exit code; returns only on success. */
void check_rc(int rc, const char *err, const char *what)
{
    switch (rc) {
    case JP_STORE_OK:
        return;
    case JP_STORE_NOT_FOUND:
        die(EX_NOTFOUND, "%s: no such account", what);
    case JP_STORE_BUSY:
        die(EX_FAIL, "%s: the database is busy (locked); try again: %s", what, err ? err : "");
    case JP_STORE_UNSUPPORTED:
        die(EX_REFUSED,
            "%s: the configured table has no column for this (see "
            "JITProvAccountColumn)",
            what);
    case JP_STORE_CONFLICT:
        die(EX_REFUSED, "%s: already exists", what);
    case JP_STORE_BAD_STATE:
        die(EX_REFUSED, "%s: not allowed from the account's current status", what);
    default:
        die(EX_FAIL, "%s: %s", what, err ? err : "database error");
    }
}
