/* Directive table and config structures. A misconfiguration is reported at
 * `apachectl configtest` naming the directive (jp_check_srv_cfg). */
#include "jitprov.h"
#include "url.h"
#include "clientauth.h"
#include "cookie.h"
#include "http_core.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_env.h"

#include <stdlib.h>
#include <string.h>

/* Bits of set_flags for fields whose zero value is meaningful. */
#define F_TOKEN_AUTH (1 << 0)
#define F_SKEW (1 << 1)
#define F_TIMEOUT (1 << 2)
#define F_USERINFO (1 << 3)
#define F_INACT (1 << 4)
#define F_MAXDUR (1 << 5)
#define F_PROV (1 << 6)
#define F_CREATE (1 << 7)
#define F_UPDATE (1 << 8)
#define F_LINK (1 << 9)
#define F_RECHECK (1 << 10)
#define F_FAILOPEN (1 << 11)
#define F_STATE_TTL (1 << 12)
#define F_STORE (1 << 13)
#define F_REFRESH_MARGIN (1 << 14)

void *jp_create_srv_cfg(apr_pool_t *p, server_rec *s)
{
    jp_srv_cfg *c = apr_pcalloc(p, sizeof(*c));
    c->s = s;
    c->token_auth = JP_AUTH_BASIC;
    c->scope = "openid email profile";
    c->skew = 60;
    c->http_timeout = 10;
    c->inactivity = 3600;
    c->max_duration = 8 * 3600;
    c->state_ttl = 600;
    c->cookie_name = "jitprov_session";
    c->cookie_host_prefix = JP_UNSET;
    c->preserve_post_max = JP_UNSET;
    c->refresh_margin = 60;
    c->refresh_fail = JP_UNSET;
    c->state_prefix = "jitprov_state";
    c->provisioning = 1;
    c->recheck_interval = 60;
    c->groups_claim = "groups";
    c->passphrases = apr_array_make(p, 2, sizeof(const char *));
    c->gates = apr_array_make(p, 2, sizeof(jp_gate));
    c->strip_names = apr_array_make(p, 4, sizeof(const char *));
    c->claim_uses = apr_array_make(p, 4, sizeof(jp_claim_use));
    jp_store_cfg_init(p, &c->store);
    return c;
}

#define PICK(f) n->f = a->f ? a->f : b->f
#define PICKF(f, flag) n->f = (a->set_flags & (flag)) ? a->f : b->f

void *jp_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv)
{
    jp_srv_cfg *b = basev, *a = addv;
    jp_srv_cfg *n = apr_pmemdup(p, a, sizeof(*n));
    PICK(metadata_url);
    PICK(client_id);
    PICK(client_secret);
    if (!a->pkey_pem) {
        n->pkey_file = b->pkey_file;
        n->pkey_pem = b->pkey_pem;
        n->pkey_len = b->pkey_len;
        n->pkey_alg = b->pkey_alg;
    }
    PICK(pkey_kid);
    PICK(redirect_uri);
    PICK(redirect_path);
    PICK(logout_path);
    PICK(bcl_path);
    PICK(fcl_path);
    PICK(ca_file);
    PICK(proxy);
    if (!a->auth_params) {
        n->auth_params = b->auth_params;
        n->max_age_sent = b->max_age_sent;
        n->max_age = b->max_age;
    }
    if (!a->cache) {
        n->cache = b->cache;
        n->cache_prov = b->cache_prov;
        n->cache_encrypt = b->cache_encrypt;
        n->cache_spec = b->cache_spec;
    }
    PICK(cookie_attrs);
    PICK(sess_samesite);
    PICK(state_samesite);
    PICK(response_mode);
    n->cookie_host_prefix =
        a->cookie_host_prefix != JP_UNSET ? a->cookie_host_prefix : b->cookie_host_prefix;
    PICK(trusted_proxies);
    PICK(trusted_aud);
    PICK(extra_providers);
    PICK(provider_rules);
    PICK(discovery_path);
    PICK(provider_label);
    n->preserve_post_max =
        a->preserve_post_max != JP_UNSET ? a->preserve_post_max : b->preserve_post_max;
    PICK(keep_tokens);
    PICKF(refresh_margin, F_REFRESH_MARGIN);
    n->refresh_fail = a->refresh_fail != JP_UNSET ? a->refresh_fail : b->refresh_fail;
    PICK(strip_prefix);
    PICK(scim_token);
    n->scope = strcmp(a->scope, "openid email profile") ? a->scope : b->scope;
    n->cookie_name = strcmp(a->cookie_name, "jitprov_session") ? a->cookie_name : b->cookie_name;
    n->groups_claim = strcmp(a->groups_claim, "groups") ? a->groups_claim : b->groups_claim;
    PICKF(token_auth, F_TOKEN_AUTH);
    PICKF(skew, F_SKEW);
    PICKF(http_timeout, F_TIMEOUT);
    PICKF(userinfo, F_USERINFO);
    PICKF(inactivity, F_INACT);
    PICKF(max_duration, F_MAXDUR);
    PICKF(state_ttl, F_STATE_TTL);
    PICKF(provisioning, F_PROV);
    PICKF(recheck_interval, F_RECHECK);
    PICKF(recheck_fail_open, F_FAILOPEN);
    n->set_flags = a->set_flags | b->set_flags;
    n->passphrases = a->passphrases->nelts ? a->passphrases : b->passphrases;
    n->gates = a->gates->nelts ? a->gates : b->gates;
    n->strip_names = apr_array_append(p, b->strip_names, a->strip_names);
    n->claim_uses = apr_array_append(p, b->claim_uses, a->claim_uses);
    /* The account store is configured as a whole per vhost: a vhost that sets
     * any of its directives owns the whole set. */
    if (!(a->set_flags & F_STORE))
        n->store = b->store;
    PICKF(store.create, F_CREATE);
    PICKF(store.update, F_UPDATE);
    PICKF(store.link_by_email, F_LINK);
    return n;
}

void *jp_create_dir_cfg(apr_pool_t *p, char *dir)
{
    jp_dir_cfg *d = apr_pcalloc(p, sizeof(*d));
    d->encoding = JP_UNSET;
    d->unauth = JP_UNSET;
    d->claims_env = JP_UNSET;
    d->pass_token = JP_UNSET;
    return d;
}

void *jp_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv)
{
    jp_dir_cfg *b = basev, *a = addv, *n = apr_pcalloc(p, sizeof(*n));
    n->headers = a->headers ? a->headers : b->headers;
    n->remote_user = a->remote_user ? a->remote_user : b->remote_user;
    n->encoding = a->encoding != JP_UNSET ? a->encoding : b->encoding;
    n->delim = a->delim ? a->delim : b->delim;
    n->unauth = a->unauth != JP_UNSET ? a->unauth : b->unauth;
    n->claims_env = a->claims_env != JP_UNSET ? a->claims_env : b->claims_env;
    n->env_prefix = a->env_prefix ? a->env_prefix : b->env_prefix;
    n->info_claims = a->info_claims ? a->info_claims : b->info_claims;
    n->pass_token = a->pass_token != JP_UNSET ? a->pass_token : b->pass_token;
    n->token_header = a->token_header ? a->token_header : b->token_header;
    return n;
}

static jp_srv_cfg *SC(cmd_parms *cmd)
{
    return JP_SRV(cmd->server);
}

static const char *need_server(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
}

static const char *set_str(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    jp_srv_cfg *c = SC(cmd);
    if (err)
        return err;
    if (!*arg)
        return apr_psprintf(cmd->pool, "%s must not be empty", cmd->cmd->name);
    *(const char **)((char *)c + (apr_size_t)cmd->info) = arg;
    return NULL;
}

static const char *set_url(cmd_parms *cmd, void *dummy, const char *arg)
{
    if (strncasecmp(arg, "https://", 8) && strncasecmp(arg, "http://", 7))
        return apr_psprintf(cmd->pool, "%s: '%s' is not an http(s) URL", cmd->cmd->name, arg);
    return set_str(cmd, dummy, arg);
}

static const char *set_path(cmd_parms *cmd, void *dummy, const char *arg)
{
    if (arg[0] != '/' || arg[1] == '/' || strpbrk(arg, "?# \t\r\n\\"))
        return apr_psprintf(cmd->pool, "%s: '%s' must be a local path starting with '/'",
                            cmd->cmd->name, arg);
    return set_str(cmd, dummy, arg);
}

/* "value", "file:/path" or "env:NAME" -> the secret itself. */
static const char *read_secret(cmd_parms *cmd, const char *arg, const char **out)
{
    const char *name = cmd->cmd->name;
    if (!strncmp(arg, "file:", 5)) {
        char *buf;
        apr_size_t n;
        apr_file_t *f;
        apr_finfo_t fi;
        const char *path = ap_server_root_relative(cmd->pool, arg + 5);
        if (!path || apr_file_open(&f, path, APR_READ, 0, cmd->temp_pool) != APR_SUCCESS ||
            apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS)
            return apr_psprintf(cmd->pool, "%s: cannot read %s", name, arg + 5);
        if (fi.size <= 0 || fi.size > 4096)
            return apr_psprintf(cmd->pool, "%s: the secret file must hold 1 to 4096 bytes", name);
        n = (apr_size_t)fi.size;
        buf = apr_pcalloc(cmd->pool, n + 1);
        if (apr_file_read_full(f, buf, n, &n) != APR_SUCCESS)
            return apr_psprintf(cmd->pool, "%s: cannot read %s", name, arg + 5);
        apr_file_close(f);
        /* The secret is used as a C string: a NUL would cut it short
         * silently, and show only as invalid_client at the first login. */
        if (memchr(buf, '\0', n))
            return apr_psprintf(cmd->pool, "%s: %s holds a NUL byte", name, arg + 5);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        arg = buf;
    } else if (!strncmp(arg, "env:", 4)) {
        char *v;
        if (apr_env_get(&v, arg + 4, cmd->pool) != APR_SUCCESS || !*v)
            return apr_psprintf(cmd->pool, "%s: environment variable %s is not set", name, arg + 4);
        arg = v;
    }
    if (!*arg)
        return apr_psprintf(cmd->pool, "%s must not be empty", name);
    *out = arg;
    return NULL;
}

static const char *set_secret(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    if (err)
        return err;
    return read_secret(cmd, arg, &SC(cmd)->client_secret);
}

static const char *set_scim_token(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    const char **t = &SC(cmd)->scim_token;
    if (err)
        return err;
    err = read_secret(cmd, arg, t);
    if (!err && strlen(*t) < 32)
        return "JITProvSCIMBearerToken must be at least 32 characters";
    return err;
}

static const char *set_int(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    jp_srv_cfg *c = SC(cmd);
    char *end;
    long v;
    if (err)
        return err;
    v = strtol(arg, &end, 10);
    if (*end || end == arg || v < 0 || v > 31536000)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number of seconds", cmd->cmd->name, arg);
    *(int *)((char *)c + (apr_size_t)cmd->info) = (int)v;
    if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, skew))
        c->set_flags |= F_SKEW;
    else if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, http_timeout)) {
        if (v < 1 || v > 300)
            return "JITProvHTTPTimeout must be between 1 and 300 seconds";
        c->set_flags |= F_TIMEOUT;
    } else if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, inactivity)) {
        if (v < 60)
            return "JITProvSessionInactivityTimeout must be at least 60 seconds";
        c->set_flags |= F_INACT;
    } else if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, max_duration)) {
        if (v < 60)
            return "JITProvSessionMaxDuration must be at least 60 seconds";
        c->set_flags |= F_MAXDUR;
    } else if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, recheck_interval))
        c->set_flags |= F_RECHECK;
    else if ((apr_size_t)cmd->info == APR_OFFSETOF(jp_srv_cfg, state_ttl)) {
        if (v < 30)
            return "JITProvStateTimeout must be at least 30 seconds";
        c->set_flags |= F_STATE_TTL;
    }
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = need_server(cmd);
    jp_srv_cfg *c = SC(cmd);
    if (err)
        return err;
    *(int *)((char *)c + (apr_size_t)cmd->info) = on;
    switch ((apr_size_t)cmd->info) {
    case APR_OFFSETOF(jp_srv_cfg, userinfo):
        c->set_flags |= F_USERINFO;
        break;
    case APR_OFFSETOF(jp_srv_cfg, provisioning):
        c->set_flags |= F_PROV;
        break;
    case APR_OFFSETOF(jp_srv_cfg, store.create):
        c->set_flags |= F_CREATE;
        break;
    case APR_OFFSETOF(jp_srv_cfg, store.update):
        c->set_flags |= F_UPDATE;
        break;
    case APR_OFFSETOF(jp_srv_cfg, store.link_by_email):
        c->set_flags |= F_LINK;
        break;
    case APR_OFFSETOF(jp_srv_cfg, recheck_fail_open):
        c->set_flags |= F_FAILOPEN;
        break;
    }
    return NULL;
}

static const char *set_token_auth(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!strcmp(arg, "client_secret_basic"))
        c->token_auth = JP_AUTH_BASIC;
    else if (!strcmp(arg, "client_secret_post"))
        c->token_auth = JP_AUTH_POST;
    else if (!strcmp(arg, "private_key_jwt"))
        c->token_auth = JP_AUTH_PRIVATE_KEY_JWT;
    else
        return "JITProvTokenEndpointAuth must be client_secret_basic, client_secret_post or "
               "private_key_jwt";
    c->set_flags |= F_TOKEN_AUTH;
    return NULL;
}

/* The key is read and checked here, so configtest names the file and the
 * problem; requests parse the PEM again each time (nothing shared). */
static const char *set_private_key(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd), *path, *why = NULL;
    apr_finfo_t fi;
    apr_file_t *f;
    apr_size_t n;
    char *buf;
    apr_status_t rv;
    if (err)
        return err;
    path = ap_server_root_relative(cmd->pool, arg);
    if (!path)
        return apr_psprintf(cmd->pool, "JITProvPrivateKeyFile: bad path '%s'", arg);
    rv = apr_file_open(&f, path, APR_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS) {
        char eb[128];
        return apr_psprintf(cmd->pool, "JITProvPrivateKeyFile: cannot read %s: %s", path,
                            apr_strerror(rv, eb, sizeof(eb)));
    }
    if (fi.size <= 0 || fi.size > JP_PKEY_MAX_PEM)
        return apr_psprintf(cmd->pool, "JITProvPrivateKeyFile: %s must hold 1 to %d bytes", path,
                            JP_PKEY_MAX_PEM);
    n = (apr_size_t)fi.size;
    buf = apr_pcalloc(cmd->pool, n + 1);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "JITProvPrivateKeyFile: cannot read %s", path);
    if (jp_pkey_check(cmd->temp_pool, buf, n, &c->pkey_alg, &why) != 0)
        return apr_psprintf(cmd->pool, "JITProvPrivateKeyFile: %s: %s", path, why);
    c->pkey_file = path;
    c->pkey_pem = buf;
    c->pkey_len = n;
    return NULL;
}

/* A system bundle is about 200 KB. */
#define JP_CA_FILE_MAX (16 * 1024 * 1024)

/* Read now, as httpd starts: a missing or empty bundle would otherwise show
 * only as a 502 at the first login. libcurl reads the file itself at each
 * new connection to the IdP. */
static const char *set_ca_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;
    apr_file_t *f;
    apr_size_t n;
    apr_status_t rv;
    char *buf, eb[128];
    (void)dummy;
    if (!path)
        return apr_psprintf(cmd->pool, "JITProvCAFile: bad path '%s'", arg);
    rv = apr_file_open(&f, path, APR_READ, 0, cmd->temp_pool);
    if (rv == APR_SUCCESS)
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "JITProvCAFile: cannot read %s: %s", path,
                            apr_strerror(rv, eb, sizeof(eb)));
    if (fi.size <= 0 || fi.size > JP_CA_FILE_MAX)
        return apr_psprintf(cmd->pool, "JITProvCAFile: %s must hold 1 byte to %d MB of PEM", path,
                            JP_CA_FILE_MAX / (1024 * 1024));
    n = (apr_size_t)fi.size;
    buf = apr_palloc(cmd->temp_pool, n);
    rv = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "JITProvCAFile: cannot read %s", path);
    if (jp_pem_cert_count(buf, n) < 1)
        return apr_psprintf(cmd->pool,
                            "JITProvCAFile: %s holds no PEM certificate (-----BEGIN "
                            "CERTIFICATE-----)",
                            path);
    c->ca_file = path;
    return NULL;
}

static const char *set_proxy(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *why = jp_proxy_url_check(arg);
    (void)dummy;
    /* The value may hold the proxy's password: never repeated in a message. */
    if (why)
        return apr_pstrcat(cmd->pool, "JITProvOutgoingProxy: the value is ", why, NULL);
    SC(cmd)->proxy = strcasecmp(arg, "none") ? arg : "";
    return NULL;
}

static const char *set_response_mode(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    (void)dummy;
    if (err)
        return err;
    if (!strcasecmp(arg, "query"))
        SC(cmd)->response_mode = JP_RM_QUERY;
    else if (!strcasecmp(arg, "form_post"))
        SC(cmd)->response_mode = JP_RM_FORM_POST;
    else
        return apr_psprintf(cmd->pool, "JITProvResponseMode: '%s' is not query or form_post", arg);
    return NULL;
}

static const char *set_auth_params(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *why = jp_auth_params_check(cmd->temp_pool, arg, &c->max_age_sent, &c->max_age);
    (void)dummy;
    if (why)
        return apr_psprintf(cmd->pool, "JITProvAuthRequestParams: %s", why);
    c->auth_params = arg;
    return NULL;
}

static const char *set_private_key_id(cmd_parms *cmd, void *dummy, const char *arg)
{
    const unsigned char *q;
    for (q = (const unsigned char *)arg; *q; q++)
        if (*q < 0x21 || *q > 0x7e || *q == '"' || *q == '\\')
            return "JITProvPrivateKeyID must be printable ASCII without spaces, quotes or "
                   "backslashes";
    return set_str(cmd, dummy, arg);
}

static const char *add_trusted_proxy(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd), *slash = strchr(arg, '/');
    const char *ip = slash ? apr_pstrmemdup(cmd->temp_pool, arg, slash - arg) : arg;
    apr_ipsubnet_t *sub;
    char eb[128];
    apr_status_t rv;
    if (err)
        return err;
    /* Addresses only: a name would be resolved once, and wrongly trusted later. */
    if (!*ip || strspn(ip, "0123456789abcdefABCDEF.:") != strlen(ip) ||
        (slash && (!slash[1] || strspn(slash + 1, "0123456789") != strlen(slash + 1))))
        return apr_psprintf(cmd->pool,
                            "JITProvTrustedProxy: '%s' is not an IP address or address/bits", arg);
    rv = apr_ipsubnet_create(&sub, ip, slash ? slash + 1 : NULL, cmd->pool);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "JITProvTrustedProxy: '%s': %s", arg,
                            apr_strerror(rv, eb, sizeof(eb)));
    if (!c->trusted_proxies)
        c->trusted_proxies = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    *(apr_ipsubnet_t **)apr_array_push(c->trusted_proxies) = sub;
    return NULL;
}

/* Kept NULL-terminated, the shape jp_tok_expect.trusted_aud wants. */
static const char *add_trusted_aud(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!*arg)
        return "JITProvTrustedAudience: an audience cannot be empty";
    if (!c->trusted_aud)
        c->trusted_aud = apr_array_make(cmd->pool, 4, sizeof(const char *));
    else
        apr_array_pop(c->trusted_aud);
    *(const char **)apr_array_push(c->trusted_aud) = arg;
    *(const char **)apr_array_push(c->trusted_aud) = NULL;
    return NULL;
}

static const char *set_redirect_uri(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    apr_uri_t u;
    if (err)
        return err;
    if (arg[0] == '/') {
        err = set_path(cmd, dummy, arg);
        if (err)
            return err;
        c->redirect_path = arg;
    } else {
        if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname ||
            (strcasecmp(u.scheme, "https") && strcasecmp(u.scheme, "http")) || !u.path ||
            u.path[0] != '/' || u.query || u.fragment)
            return apr_psprintf(cmd->pool,
                                "JITProvRedirectURI: '%s' must be a path or an absolute "
                                "http(s) URL without query",
                                arg);
        c->redirect_path = u.path;
    }
    c->redirect_uri = arg;
    return NULL;
}

static const char *set_passphrase(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!strncmp(arg, "env:", 4)) {
        char *v;
        if (apr_env_get(&v, arg + 4, cmd->pool) != APR_SUCCESS || !*v)
            return apr_psprintf(
                cmd->pool, "JITProvCryptoPassphrase: environment variable %s is not set", arg + 4);
        arg = v;
    }
    if (strlen(arg) < 16)
        return "JITProvCryptoPassphrase: each passphrase must be at least 16 characters";
    *(const char **)apr_array_push(c->passphrases) = arg;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd), *sep, *name;
    if (err)
        return err;
    sep = ap_strchr_c(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, sep - arg) : arg;
    c->cache_prov =
        ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (!c->cache_prov)
        return apr_psprintf(cmd->pool,
                            "JITProvSessionCache: unknown socache provider '%s' (is "
                            "mod_socache_%s loaded?)",
                            name, name);
    /* shmcb's own default (512 KB) holds only a few hundred sessions. */
    if (!strcmp(name, "shmcb") && (!sep || !sep[1]))
        sep = ":jitprov_sessions(16777216)";
    err = c->cache_prov->create(&c->cache, sep ? sep + 1 : NULL, cmd->temp_pool, cmd->pool);
    if (err)
        return apr_psprintf(cmd->pool, "JITProvSessionCache: %s", err);
    /* Records leave the box on networked caches: seal them there. */
    c->cache_encrypt = strcmp(name, "shmcb") && strcmp(name, "dbm");
    c->cache_spec = arg;
    return NULL;
}

static const char *set_rev_file(cmd_parms *cmd, void *dummy, const char *path, const char *n)
{
    jp_srv_cfg *c = SC(cmd);
    char *end;
    long v = 0;
    if (cmd->server->is_virtual)
        return "JITProvRevocationFile belongs in the main server configuration (one file serves "
               "every virtual host)";
    if (!*path || path[0] == '|')
        return "JITProvRevocationFile: a file path is required";
    if (n) {
        v = strtol(n, &end, 10);
        if (*end || v < 1024 || v > 16 * 1024 * 1024)
            return "JITProvRevocationFile: entries must be a number from 1024 to 16777216";
    }
    c->rev_file = ap_server_root_relative(cmd->pool, path);
    c->rev_slots = (int)v;
    return NULL;
}

static const char *set_cookie(cmd_parms *cmd, void *dummy, const char *name, const char *attrs)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!jp_hdr_name_valid(name) || strpbrk(name, "=;,"))
        return apr_psprintf(cmd->pool, "JITProvCookie: '%s' is not a valid cookie name", name);
    if (attrs && strpbrk(attrs, "\r\n"))
        return "JITProvCookie: attributes must not contain line breaks";
    c->cookie_name = name;
    c->cookie_attrs = attrs;
    return NULL;
}

static const char *set_cookie_samesite(cmd_parms *cmd, void *dummy, const char *which,
                                       const char *val)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    int v = jp_samesite_parse(val);
    if (err)
        return err;
    if (!v)
        return apr_psprintf(cmd->pool, "JITProvCookieSameSite: '%s' is not Lax, Strict or None",
                            val);
    if (!strcasecmp(which, "session"))
        c->sess_samesite = v;
    else if (!strcasecmp(which, "state")) {
        /* The IdP sends the browser back with a cross-site navigation: a
         * Strict state cookie would never come with it. */
        if (v == JP_SAMESITE_STRICT)
            return "JITProvCookieSameSite state Strict: the state cookie must come back with the "
                   "IdP's cross-site redirect; use Lax (or None for form_post)";
        c->state_samesite = v;
    } else
        return apr_psprintf(cmd->pool, "JITProvCookieSameSite: '%s' is not session or state",
                            which);
    return NULL;
}

static const char *set_cookie_host_prefix(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = need_server(cmd);
    if (err)
        return err;
    SC(cmd)->cookie_host_prefix = on;
    return NULL;
}

static const char *set_account_table(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!jp_store_ident_ok(arg))
        return apr_psprintf(cmd->pool, "JITProvAccountTable: '%s' is not a valid SQL identifier",
                            arg);
    c->store.table = arg;
    /* An application's own table has no jitprov audit columns unless named. */
    return NULL;
}

static const char *set_audit_table(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!strcasecmp(arg, "none"))
        arg = "";
    else if (!jp_store_ident_ok(arg))
        return apr_psprintf(cmd->pool, "JITProvAuditTable: '%s' is not a valid SQL identifier",
                            arg);
    c->store.audit_table = arg;
    return NULL;
}

static const char *set_account_column(cmd_parms *cmd, void *dummy, const char *role,
                                      const char *col)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    int i;
    if (err)
        return err;
    c->set_flags |= F_STORE;
    i = jp_store_role_from_name(role);
    if (i < 0)
        return apr_psprintf(cmd->pool, "JITProvAccountColumn: unknown role '%s'", role);
    if (!strcasecmp(col, "none"))
        col = NULL;
    else if (!jp_store_ident_ok(col))
        return apr_psprintf(cmd->pool, "JITProvAccountColumn: '%s' is not a valid SQL identifier",
                            col);
    c->store.col[i] = col;
    c->store.col_set |= 1u << i;
    return NULL;
}

static const char *set_link_by(cmd_parms *cmd, void *dummy, const char *attr, const char *claim,
                               const char *iss)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    int role;
    if (err)
        return err;
    c->set_flags |= F_STORE;
    role = jp_store_link_role(attr);
    if (role < 0)
        return apr_psprintf(cmd->pool,
                            "JITProvLinkBy: '%s' is not externalId or userName (the SCIM "
                            "attribute of the row to link)",
                            attr);
    if (!claim || !*claim || strlen(claim) > 255)
        return "JITProvLinkBy: needs the SCIM attribute and a claim name, e.g. "
               "JITProvLinkBy externalId oid";
    /* The issuer as the ID token's iss says it: an absolute http(s) URL. */
    if (iss && strncmp(iss, "https://", 8) && strncmp(iss, "http://", 7))
        return apr_psprintf(cmd->pool, "JITProvLinkBy: issuer '%s' is not an http(s) URL", iss);
    c->store.link_by = role;
    c->store.link_claim = claim;
    c->store.link_iss = iss;
    return NULL;
}

static const char *set_map_claim(cmd_parms *cmd, void *dummy, const char *claim, const char *col,
                                 const char *policy)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    jp_claim_map *m;
    int sync = JP_SYNC_DEFAULT;
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!jp_store_ident_ok(col))
        return apr_psprintf(cmd->pool, "JITProvMapClaim: '%s' is not a valid SQL identifier", col);
    if (!*claim || strlen(claim) > 255)
        return "JITProvMapClaim: bad claim name";
    if (policy && (sync = jp_sync_from_name(policy)) < 0)
        return apr_psprintf(cmd->pool,
                            "JITProvMapClaim %s %s: policy must be always, create, present or "
                            "never, not '%s'",
                            claim, col, policy);
    m = apr_array_push(c->store.map);
    m->claim = claim;
    m->column = col;
    m->sync = sync;
    return NULL;
}

/* The roles group belongs to the store group: a vhost that sets any store
 * directive owns the whole set. */
static jp_roles_cfg *roles_of(cmd_parms *cmd, jp_srv_cfg *c)
{
    c->set_flags |= F_STORE;
    if (!c->store.roles)
        c->store.roles = jp_roles_cfg_make(cmd->pool);
    return c->store.roles;
}

static const char *set_role_table(cmd_parms *cmd, void *dummy, const char *args)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    const char *w[7];
    jp_roles_cfg *rc;
    int n = 0, i;
    if (err)
        return err;
    while (*args && n < 7)
        w[n++] = ap_getword_conf(cmd->pool, &args);
    if ((n != 3 && n != 6) || *args)
        return "JITProvRoleTable: table account-column role-column [lookup-table id-column "
               "name-column]";
    for (i = 0; i < n; i++)
        if (!jp_store_ident_ok(w[i]) || ((i != 0 && i != 3) && strchr(w[i], '.')))
            return apr_psprintf(cmd->pool, "JITProvRoleTable: '%s' is not a valid SQL identifier",
                                w[i]);
    rc = roles_of(cmd, c);
    rc->table = w[0];
    rc->account_col = w[1];
    rc->role_col = w[2];
    if (n == 6) {
        rc->lookup_table = w[3];
        rc->lookup_id_col = w[4];
        rc->lookup_name_col = w[5];
    }
    return NULL;
}

static const char *set_role_claim(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!*arg || strlen(arg) > 255)
        return "JITProvRoleClaim: bad claim name";
    roles_of(cmd, c)->claim = arg;
    return NULL;
}

static const char *add_role_map(cmd_parms *cmd, void *dummy, const char *match, const char *role)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    return jp_roles_add_rule(cmd->pool, roles_of(cmd, c), match, role);
}

static const char *add_role_allow(cmd_parms *cmd, void *dummy, const char *role)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    size_t i;
    if (err)
        return err;
    if (!*role || strlen(role) > JP_ROLE_LEN)
        return "JITProvRoleAllow: a role must be 1-255 characters";
    for (i = 0; role[i]; i++)
        if ((unsigned char)role[i] < 0x20 || role[i] == 0x7f)
            return "JITProvRoleAllow: control characters in a role";
    *(const char **)apr_array_push(roles_of(cmd, c)->allow) = role;
    return NULL;
}

static const char *set_role_missing(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (strcasecmp(arg, "keep") && strcasecmp(arg, "clear"))
        return "JITProvRoleMissing must be keep or clear";
    roles_of(cmd, c)->missing_keep = !strcasecmp(arg, "keep");
    return NULL;
}

static const char *set_collision(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!strcasecmp(arg, "refuse"))
        c->store.collision = JP_COLLISION_REFUSE;
    else if (!strcasecmp(arg, "suffix"))
        c->store.collision = JP_COLLISION_SUFFIX;
    else
        return "JITProvCollision must be refuse or suffix";
    return NULL;
}

static const char *set_new_status(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (strcmp(arg, "active") && strcmp(arg, "pending"))
        return "JITProvNewAccountStatus must be active or pending";
    c->store.new_status = arg;
    return NULL;
}

static const char *set_account_key(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!*arg || strlen(arg) > 255)
        return "JITProvAccountKey: bad claim name";
    c->store.account_key = arg;
    return NULL;
}

static const char *set_login_sync(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    if (err)
        return err;
    c->set_flags |= F_STORE;
    if (!strcasecmp(arg, "normal"))
        c->store.login_sync_full = 0;
    else if (!strcasecmp(arg, "full"))
        c->store.login_sync_full = 1;
    else
        return "JITProvLoginSync: normal or full";
    return NULL;
}

static const char *set_require_claim(cmd_parms *cmd, void *dummy, const char *claim, const char *re)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    jp_gate *g;
    if (err)
        return err;
    g = apr_array_push(c->gates);
    g->claim = claim;
    g->pattern = re;
    g->re = ap_pregcomp(cmd->pool, re, JP_ACCESS_REGEX_FLAGS);
    if (!g->re)
        return apr_psprintf(cmd->pool, "JITProvRequireClaim: bad regular expression '%s'", re);
    return NULL;
}

/* ---- per-directory ---- */

static const char *parse_source(cmd_parms *cmd, const char *src, const char **key)
{
    if (!strncmp(src, "claim:", 6) && src[6]) {
        *key = apr_pstrcat(cmd->pool, "c:", src + 6, NULL);
        return NULL;
    }
    if (!strncmp(src, "account:", 8) && src[8]) {
        if (strcmp(src + 8, "id") && !jp_store_ident_ok(src + 8))
            return apr_psprintf(cmd->pool, "%s: '%s' is not a valid column name", cmd->cmd->name,
                                src + 8);
        *key = apr_pstrcat(cmd->pool, "a:", src + 8, NULL);
        return NULL;
    }
    return apr_psprintf(cmd->pool,
                        "%s: source '%s' must be claim:NAME, account:COLUMN or account:id",
                        cmd->cmd->name, src);
}

static const char *add_header(cmd_parms *cmd, void *dv, const char *name, const char *src)
{
    jp_dir_cfg *d = dv;
    jp_srv_cfg *c = SC(cmd);
    jp_hdr_map *m;
    const char *key, *err;
    if (!jp_hdr_name_valid(name))
        return apr_psprintf(cmd->pool, "JITProvHeader: '%s' is not a valid header name", name);
    if (!strcasecmp(name, "Cookie") || !strcasecmp(name, "Host") ||
        !strcasecmp(name, "Authorization") || !strcasecmp(name, "Content-Length") ||
        !strcasecmp(name, "Transfer-Encoding"))
        return apr_psprintf(cmd->pool, "JITProvHeader: refusing to overwrite %s", name);
    err = parse_source(cmd, src, &key);
    if (err)
        return err;
    if (!d->headers)
        d->headers = apr_array_make(cmd->pool, 4, sizeof(jp_hdr_map));
    m = apr_array_push(d->headers);
    m->name = name;
    m->key = key;
    if (key[0] == 'c')
        jp_note_claim_use(cmd, key + 2, apr_pstrcat(cmd->temp_pool, "JITProvHeader ", name, NULL));
    /* Strip this name from client requests everywhere in the vhost. */
    *(const char **)apr_array_push(c->strip_names) = name;
    return NULL;
}

static const char *set_remote_user(cmd_parms *cmd, void *dv, const char *src)
{
    jp_dir_cfg *d = dv;
    const char *err = parse_source(cmd, src, &d->remote_user);
    if (!err && d->remote_user[0] == 'c')
        jp_note_claim_use(cmd, d->remote_user + 2,
                          "JITProvRemoteUser (REMOTE_USER falls back to sub)");
    return err;
}

static const char *set_encoding(cmd_parms *cmd, void *dv, const char *arg)
{
    jp_dir_cfg *d = dv;
    if (!strcmp(arg, "none"))
        d->encoding = JP_ENC_NONE;
    else if (!strcmp(arg, "percent"))
        d->encoding = JP_ENC_PERCENT;
    else if (!strcmp(arg, "base64url"))
        d->encoding = JP_ENC_BASE64URL;
    else
        return "JITProvHeaderEncoding must be none, percent or base64url";
    return NULL;
}

static const char *set_delim(cmd_parms *cmd, void *dv, const char *arg)
{
    jp_dir_cfg *d = dv;
    const unsigned char *q;
    for (q = (const unsigned char *)arg; *q; q++)
        if (*q < 0x20 || *q == 0x7f)
            return "JITProvClaimDelimiter must not contain control characters";
    d->delim = arg;
    return NULL;
}

static const char *set_unauth(cmd_parms *cmd, void *dv, const char *arg)
{
    jp_dir_cfg *d = dv;
    if (!strcmp(arg, "auth"))
        d->unauth = JP_UNAUTH_AUTH;
    else if (!strcmp(arg, "401"))
        d->unauth = JP_UNAUTH_401;
    else if (!strcmp(arg, "403"))
        d->unauth = JP_UNAUTH_403;
    else if (!strcmp(arg, "pass"))
        d->unauth = JP_UNAUTH_PASS;
    else
        return "JITProvUnauthAction must be auth, 401, 403 or pass";
    return NULL;
}

static const char *set_claims_env(cmd_parms *cmd, void *dv, int on)
{
    ((jp_dir_cfg *)dv)->claims_env = on;
    return NULL;
}

static const char *set_env_prefix(cmd_parms *cmd, void *dv, const char *arg)
{
    if (!*arg || strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                     strlen(arg))
        return "JITProvEnvPrefix must be letters, digits and '_'";
    ((jp_dir_cfg *)dv)->env_prefix = arg;
    return NULL;
}

static const char *add_info_claim(cmd_parms *cmd, void *dv, const char *arg)
{
    jp_dir_cfg *d = dv;
    const unsigned char *q;
    if (!*arg || strlen(arg) > 255)
        return "JITProvSessionInfoClaims: bad claim name";
    for (q = (const unsigned char *)arg; *q; q++)
        if (*q < 0x20 || *q == 0x7f)
            return "JITProvSessionInfoClaims: claim names must not contain control characters";
    if (!d->info_claims)
        d->info_claims = apr_array_make(cmd->pool, 4, sizeof(const char *));
    *(const char **)apr_array_push(d->info_claims) = arg;
    return NULL;
}

static const char *set_preserve_post(cmd_parms *cmd, void *dummy, const char *arg)
{
    char *end;
    long v;
    const char *err = need_server(cmd);
    if (err)
        return err;
    v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 0 || v > 1048576)
        return "JITProvPreservePostMax must be 0 (off) to 1048576 bytes";
    SC(cmd)->preserve_post_max = (int)v;
    return NULL;
}

/* The header's name is stripped from client requests on every path of the
 * vhost, like JITProvHeader's; Authorization is only ever overwritten. */
static const char *token_header_ok(cmd_parms *cmd, const char *name)
{
    if (!jp_hdr_name_valid(name))
        return apr_psprintf(cmd->pool, "JITProvAccessTokenHeader: '%s' is not a valid header name",
                            name);
    if (!strcasecmp(name, "Cookie") || !strcasecmp(name, "Host") ||
        !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding"))
        return apr_psprintf(cmd->pool, "JITProvAccessTokenHeader: refusing to overwrite %s", name);
    if (strcasecmp(name, "Authorization"))
        *(const char **)apr_array_push(SC(cmd)->strip_names) = name;
    return NULL;
}

static const char *set_pass_token(cmd_parms *cmd, void *dv, const char *arg)
{
    jp_dir_cfg *d = dv;
    if (!strcasecmp(arg, "off"))
        d->pass_token = 0;
    else if (!strcasecmp(arg, "header"))
        d->pass_token = JP_PASS_HEADER;
    else if (!strcasecmp(arg, "env"))
        d->pass_token = JP_PASS_ENV;
    else if (!strcasecmp(arg, "both"))
        d->pass_token = JP_PASS_HEADER | JP_PASS_ENV;
    else
        return "JITProvPassAccessToken must be header, env, both or off";
    if (d->pass_token)
        SC(cmd)->keep_tokens = 1;
    if (d->pass_token & JP_PASS_HEADER)
        return token_header_ok(cmd, JP_DEFAULT_TOKEN_HEADER);
    return NULL;
}

static const char *set_token_header(cmd_parms *cmd, void *dv, const char *arg)
{
    ((jp_dir_cfg *)dv)->token_header = arg;
    return token_header_ok(cmd, arg);
}

static const char *set_refresh_margin(cmd_parms *cmd, void *dummy, const char *arg)
{
    jp_srv_cfg *c = SC(cmd);
    char *end;
    long v;
    const char *err = need_server(cmd);
    if (err)
        return err;
    v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 0 || v > 86400)
        return "JITProvRefreshMargin must be 0 to 86400 seconds";
    c->refresh_margin = (int)v;
    c->set_flags |= F_REFRESH_MARGIN;
    return NULL;
}

static int provider_name_ok(const char *n)
{
    size_t len = strlen(n);
    return len && len <= 64 &&
           strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == len;
}

/* JITProvProvider name metadata-url client-id secret [label] */
static const char *add_provider(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    jp_provider_def *d;
    int i;
    if (err)
        return err;
    if (argc < 4 || argc > 5)
        return "JITProvProvider takes a name, the metadata URL, the client id, the client "
               "secret and optionally a label";
    if (!provider_name_ok(argv[0]) || !strcmp(argv[0], "default"))
        return apr_psprintf(cmd->pool,
                            "JITProvProvider: name '%s' must be 1 to 64 letters and digits, not "
                            "'default'",
                            argv[0]);
    if (strncasecmp(argv[1], "https://", 8) && strncasecmp(argv[1], "http://", 7))
        return apr_psprintf(cmd->pool, "JITProvProvider %s: '%s' is not an http(s) URL", argv[0],
                            argv[1]);
    if (!*argv[2])
        return apr_psprintf(cmd->pool, "JITProvProvider %s: empty client id", argv[0]);
    if (!c->extra_providers)
        c->extra_providers = apr_array_make(cmd->pool, 2, sizeof(jp_provider_def));
    for (i = 0; i < c->extra_providers->nelts; i++)
        if (!strcmp(((jp_provider_def *)c->extra_providers->elts)[i].name, argv[0]))
            return apr_psprintf(cmd->pool, "JITProvProvider: '%s' is defined twice", argv[0]);
    d = apr_array_push(c->extra_providers);
    memset(d, 0, sizeof(*d));
    d->name = argv[0];
    d->metadata_url = argv[1];
    d->client_id = argv[2];
    d->label = argc == 5 ? argv[4] : argv[0];
    err = read_secret(cmd, argv[3], &d->client_secret);
    if (err)
        return apr_psprintf(cmd->pool, "JITProvProvider %s: %s", argv[0], err);
    return NULL;
}

/* JITProvProviderSelect path|host match name */
static const char *add_provider_rule(cmd_parms *cmd, void *dummy, const char *kind,
                                     const char *match, const char *name)
{
    jp_srv_cfg *c = SC(cmd);
    const char *err = need_server(cmd);
    jp_provider_rule *rule;
    if (err)
        return err;
    if (strcasecmp(kind, "path") && strcasecmp(kind, "host"))
        return "JITProvProviderSelect: the first argument must be path or host";
    if (!strcasecmp(kind, "path") && (match[0] != '/' || strpbrk(match, "?# \t")))
        return apr_psprintf(cmd->pool, "JITProvProviderSelect: '%s' is not a path prefix", match);
    if (!strcasecmp(kind, "host") && (!*match || strpbrk(match, "/:@ \t")))
        return apr_psprintf(cmd->pool, "JITProvProviderSelect: '%s' is not a host name", match);
    if (!provider_name_ok(name))
        return apr_psprintf(cmd->pool, "JITProvProviderSelect: '%s' is not a provider name", name);
    if (!c->provider_rules)
        c->provider_rules = apr_array_make(cmd->pool, 2, sizeof(jp_provider_rule));
    rule = apr_array_push(c->provider_rules);
    rule->by_host = !strcasecmp(kind, "host");
    rule->match = match;
    rule->provider = strcmp(name, "default") ? name : NULL;
    return NULL;
}

static const char *set_refresh_fail(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = need_server(cmd);
    if (err)
        return err;
    if (!strcasecmp(arg, "end"))
        SC(cmd)->refresh_fail = 0;
    else if (!strcasecmp(arg, "auth"))
        SC(cmd)->refresh_fail = 1;
    else
        return "JITProvRefreshFailure must be end or auth";
    return NULL;
}

#define SRV_STR(name, field, help)                                                                 \
    AP_INIT_TAKE1(name, set_str, (void *)APR_OFFSETOF(jp_srv_cfg, field), RSRC_CONF, help)
#define SRV_INT(name, field, help)                                                                 \
    AP_INIT_TAKE1(name, set_int, (void *)APR_OFFSETOF(jp_srv_cfg, field), RSRC_CONF, help)
#define SRV_FLAG(name, field, help)                                                                \
    AP_INIT_FLAG(name, set_flag, (void *)APR_OFFSETOF(jp_srv_cfg, field), RSRC_CONF, help)

const command_rec jp_cmds[] = {
    AP_INIT_TAKE1("JITProvProviderMetadataURL", set_url,
                  (void *)APR_OFFSETOF(jp_srv_cfg, metadata_url), RSRC_CONF,
                  "the IdP's discovery document URL"),
    SRV_STR("JITProvClientID", client_id, "the OAuth client_id"),
    AP_INIT_TAKE1("JITProvClientSecret", set_secret, NULL, RSRC_CONF,
                  "the client secret, or file:/path or env:NAME"),
    AP_INIT_TAKE1("JITProvSCIMBearerToken", set_scim_token, NULL, RSRC_CONF,
                  "bearer token the SCIM client must present (value, file:/path or env:NAME)"),
    AP_INIT_TAKE1("JITProvTokenEndpointAuth", set_token_auth, NULL, RSRC_CONF,
                  "client_secret_basic, client_secret_post or private_key_jwt"),
    AP_INIT_TAKE1("JITProvPrivateKeyFile", set_private_key, NULL, RSRC_CONF,
                  "PEM private key (RSA or EC) signing private_key_jwt client assertions"),
    AP_INIT_TAKE1("JITProvPrivateKeyID", set_private_key_id,
                  (void *)APR_OFFSETOF(jp_srv_cfg, pkey_kid), RSRC_CONF,
                  "kid of that key as registered at the IdP"),
    AP_INIT_TAKE1("JITProvRedirectURI", set_redirect_uri, NULL, RSRC_CONF,
                  "the callback path or absolute URL"),
    AP_INIT_TAKE1("JITProvLogoutURI", set_path, (void *)APR_OFFSETOF(jp_srv_cfg, logout_path),
                  RSRC_CONF, "local path that logs the user out"),
    AP_INIT_TAKE1("JITProvBackChannelLogoutURI", set_path,
                  (void *)APR_OFFSETOF(jp_srv_cfg, bcl_path), RSRC_CONF,
                  "local path receiving back-channel logout tokens"),
    AP_INIT_TAKE1("JITProvFrontChannelLogoutURI", set_path,
                  (void *)APR_OFFSETOF(jp_srv_cfg, fcl_path), RSRC_CONF,
                  "local path the IdP loads in an iframe to end sessions by iss and sid"),
    SRV_STR("JITProvScope", scope, "scopes to request, space separated"),
    AP_INIT_ITERATE("JITProvCryptoPassphrase", set_passphrase, NULL, RSRC_CONF,
                    "passphrase(s): the first encrypts, all decrypt"),
    AP_INIT_TAKE1("JITProvSessionCache", set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] for sessions"),
    AP_INIT_TAKE12("JITProvRevocationFile", set_rev_file, NULL, RSRC_CONF,
                   "file that keeps session revocations across restarts [, entries]"),
    SRV_INT("JITProvSessionInactivityTimeout", inactivity, "seconds of inactivity"),
    SRV_INT("JITProvSessionMaxDuration", max_duration, "seconds a session lives at most"),
    SRV_INT("JITProvStateTimeout", state_ttl, "seconds a login attempt may take"),
    AP_INIT_TAKE12("JITProvCookie", set_cookie, NULL, RSRC_CONF,
                   "session cookie name and optional attributes"),
    AP_INIT_TAKE2("JITProvCookieSameSite", set_cookie_samesite, NULL, RSRC_CONF,
                  "session|state and Lax|Strict|None"),
    AP_INIT_FLAG("JITProvCookieHostPrefix", set_cookie_host_prefix, NULL, RSRC_CONF,
                 "name the session and state cookies __Host-… (Secure, Path=/, no Domain)"),
    AP_INIT_ITERATE("JITProvTrustedProxy", add_trusted_proxy, NULL, RSRC_CONF,
                    "addresses (ip or ip/bits) of reverse proxies whose Forwarded and "
                    "X-Forwarded-* headers are believed"),
    AP_INIT_ITERATE("JITProvTrustedAudience", add_trusted_aud, NULL, RSRC_CONF,
                    "audiences besides the client id that an ID token's aud may name"),
    SRV_INT("JITProvClockSkew", skew, "seconds of clock skew allowed"),
    SRV_INT("JITProvHTTPTimeout", http_timeout, "seconds to wait for the IdP"),
    AP_INIT_TAKE1("JITProvCAFile", set_ca_file, NULL, RSRC_CONF, "CA bundle to verify the IdP"),
    AP_INIT_TAKE1("JITProvResponseMode", set_response_mode, NULL, RSRC_CONF,
                  "how the IdP sends its answer back: query (default) or form_post"),
    AP_INIT_TAKE1("JITProvAuthRequestParams", set_auth_params, NULL, RSRC_CONF,
                  "extra authorization request parameters, name=value&..."),
    AP_INIT_TAKE1("JITProvOutgoingProxy", set_proxy, NULL, RSRC_CONF,
                  "proxy for the calls to the IdP, or none (default: the environment's)"),
    SRV_FLAG("JITProvUserInfo", userinfo, "merge userinfo claims"),
    SRV_FLAG("JITProvProvisioning", provisioning, "create/update accounts through mod_dbd"),
    SRV_FLAG("JITProvAccountCreate", store.create, "create accounts at first login"),
    SRV_FLAG("JITProvAccountUpdate", store.update, "update mapped columns at every login"),
    SRV_FLAG("JITProvLinkByEmail", store.link_by_email,
             "attach a pre-provisioned row by verified email"),
    AP_INIT_TAKE23("JITProvLinkBy", set_link_by, NULL, RSRC_CONF,
                   "externalId|userName, claim and optional issuer: attach a SCIM-created row "
                   "at the first login"),
    AP_INIT_TAKE1("JITProvNewAccountStatus", set_new_status, NULL, RSRC_CONF, "active or pending"),
    AP_INIT_TAKE1("JITProvLoginSync", set_login_sync, NULL, RSRC_CONF,
                  "normal (default) or full: how SQLite commits a login's writes"),
    AP_INIT_TAKE1("JITProvAccountKey", set_account_key, NULL, RSRC_CONF,
                  "claim identifying the account (default sub)"),
    AP_INIT_TAKE2("JITProvRequireClaim", set_require_claim, NULL, RSRC_CONF,
                  "claim and regex that must match before an account is used"),
    AP_INIT_TAKE23("JITProvMapClaim", set_map_claim, NULL, RSRC_CONF,
                   "claim, account column and optional sync policy (always, create, present, "
                   "never)"),
    AP_INIT_TAKE1("JITProvAccountTable", set_account_table, NULL, RSRC_CONF, "account table"),
    AP_INIT_TAKE1("JITProvAuditTable", set_audit_table, NULL, RSRC_CONF, "audit table, or none"),
    AP_INIT_TAKE2("JITProvAccountColumn", set_account_column, NULL, RSRC_CONF,
                  "role and column of the account table"),
    AP_INIT_RAW_ARGS("JITProvRoleTable", set_role_table, NULL, RSRC_CONF,
                     "membership table, its account and role columns [, role lookup table, id "
                     "and name columns]"),
    AP_INIT_TAKE1("JITProvRoleClaim", set_role_claim, NULL, RSRC_CONF,
                  "claim whose values map to roles (default groups)"),
    AP_INIT_TAKE2("JITProvRoleMap", add_role_map, NULL, RSRC_CONF,
                  "claim value (or ~regex) and the application role it grants"),
    AP_INIT_ITERATE("JITProvRoleAllow", add_role_allow, NULL, RSRC_CONF,
                    "roles the identity provider may grant"),
    AP_INIT_TAKE1("JITProvRoleMissing", set_role_missing, NULL, RSRC_CONF,
                  "keep or clear granted roles when the claim is missing"),
    AP_INIT_TAKE1("JITProvCollision", set_collision, NULL, RSRC_CONF,
                  "refuse or suffix when a new account's user name is taken"),
    SRV_INT("JITProvAccountRecheckInterval", recheck_interval,
            "seconds between account status re-checks of a session"),
    SRV_FLAG("JITProvAccountRecheckFailOpen", recheck_fail_open,
             "keep sessions working when the database cannot be reached"),
    SRV_STR("JITProvGroupsClaim", groups_claim, "claim used by Require jitprov-group"),
    SRV_STR("JITProvHeaderPrefix", strip_prefix,
            "incoming headers starting with this are always removed"),
    /* Not in .htaccess: every name must be known at startup to be stripped on
     * every path of the vhost. */
    AP_INIT_TAKE2("JITProvHeader", add_header, NULL, ACCESS_CONF | RSRC_CONF,
                  "header name and source (claim:NAME, account:COLUMN)"),
    AP_INIT_TAKE1("JITProvRemoteUser", set_remote_user, NULL, OR_AUTHCFG | RSRC_CONF,
                  "source of REMOTE_USER"),
    AP_INIT_TAKE1("JITProvHeaderEncoding", set_encoding, NULL, OR_AUTHCFG | RSRC_CONF,
                  "none, percent or base64url"),
    AP_INIT_TAKE1("JITProvClaimDelimiter", set_delim, NULL, OR_AUTHCFG | RSRC_CONF,
                  "separator for multi-valued claims"),
    AP_INIT_TAKE1("JITProvUnauthAction", set_unauth, NULL, OR_AUTHCFG | RSRC_CONF,
                  "auth, 401, 403 or pass"),
    AP_INIT_FLAG("JITProvClaimsEnv", set_claims_env, NULL, OR_AUTHCFG | RSRC_CONF,
                 "export every claim as an environment variable"),
    AP_INIT_ITERATE("JITProvSessionInfoClaims", add_info_claim, NULL, OR_AUTHCFG | RSRC_CONF,
                    "claims the jitprov-session-info handler may show"),
    AP_INIT_TAKE1("JITProvPreservePostMax", set_preserve_post, NULL, RSRC_CONF,
                  "largest form POST kept across a login, in bytes (0: off)"),
    /* Not in .htaccess: they change server-wide state (tokens kept, names stripped). */
    AP_INIT_TAKE1("JITProvPassAccessToken", set_pass_token, NULL, ACCESS_CONF | RSRC_CONF,
                  "hand the access token to the backend: header, env, both or off"),
    AP_INIT_TAKE1("JITProvAccessTokenHeader", set_token_header, NULL, ACCESS_CONF | RSRC_CONF,
                  "header carrying the access token (default X-Access-Token)"),
    AP_INIT_TAKE1("JITProvRefreshMargin", set_refresh_margin, NULL, RSRC_CONF,
                  "seconds before expiry at which the access token is refreshed"),
    AP_INIT_TAKE_ARGV("JITProvProvider", add_provider, NULL, RSRC_CONF,
                      "another identity provider: name, metadata URL, client id, secret, "
                      "[label]"),
    AP_INIT_TAKE3("JITProvProviderSelect", add_provider_rule, NULL, RSRC_CONF,
                  "path|host, a path prefix or host name, and the provider it logs in with"),
    AP_INIT_TAKE1("JITProvDiscoveryURI", set_path, (void *)APR_OFFSETOF(jp_srv_cfg, discovery_path),
                  RSRC_CONF, "local path of the page listing the identity providers"),
    AP_INIT_TAKE1("JITProvProviderLabel", set_str, (void *)APR_OFFSETOF(jp_srv_cfg, provider_label),
                  RSRC_CONF, "the default provider's name on the discovery page"),
    AP_INIT_TAKE1("JITProvRefreshFailure", set_refresh_fail, NULL, RSRC_CONF,
                  "end (401) or auth (log in again) when the access token cannot be renewed"),
    AP_INIT_TAKE1("JITProvEnvPrefix", set_env_prefix, NULL, OR_AUTHCFG | RSRC_CONF,
                  "prefix of claim environment variables (default JITPROV_CLAIM_)"),
    {NULL}};

/* Settles the cookie names (__Host- prefix) and checks their attributes. */
static const char *check_cookies(apr_pool_t *p, server_rec *s, jp_srv_cfg *c)
{
    const char *v = NULL, *why;
    if (c->cookie_host_prefix == 1) {
        /* Outlives this check: the configuration pool, not p (a temp pool). */
        if (strncmp(c->cookie_name, "__Host-", 7))
            c->cookie_name = apr_pstrcat(s->process->pconf, "__Host-", c->cookie_name, NULL);
        c->state_prefix = "__Host-jitprov_state";
    } else {
        c->state_prefix = "jitprov_state";
    }
    why = jp_cookie_attrs_check(p, c->cookie_name, c->cookie_attrs);
    if (why)
        return apr_psprintf(p, "JITProvCookie %s: %s%s", c->cookie_name, why,
                            c->cookie_host_prefix == 1 ? " (JITProvCookieHostPrefix On)" : "");
    /* The logout finds the session by its cookie: one the browser does not
     * send there leaves every logout with nothing to end. */
    if (c->logout_path && jp_cookie_attr(p, c->cookie_attrs, "Path", &v) &&
        !jp_cookie_path_match(v, c->logout_path))
        return apr_psprintf(p,
                            "JITProvCookie %s: Path=%s does not cover JITProvLogoutURI %s, so "
                            "the browser would not send the session cookie there and no logout "
                            "could end the session",
                            c->cookie_name, v, c->logout_path);
    v = NULL;
    if (c->sess_samesite && jp_cookie_attr(p, c->cookie_attrs, "SameSite", &v) &&
        (int)jp_samesite_parse(v) != c->sess_samesite)
        return apr_psprintf(p,
                            "JITProvCookieSameSite session %s contradicts SameSite=%s in "
                            "JITProvCookie",
                            jp_samesite_name(c->sess_samesite), v);
    return NULL;
}

/* memcached reads an item lifetime over 30 days as a Unix date, so an item
 * stored for longer is gone at once, and mod_socache_memcache passes the
 * lifetime as it is. A marker that ends sessions must outlive every session
 * it may end: with a longer JITProvSessionMaxDuration a logout would hold on
 * the node that took it and nowhere else. */
#define JP_MEMCACHE_TTL_MAX (30 * 86400)

static const char *check_cache_lifetimes(apr_pool_t *p, jp_srv_cfg *c)
{
    apr_int64_t longest = c->max_duration > c->state_ttl ? c->max_duration : c->state_ttl;
    const char *spec = c->cache_spec;
    if (!spec || strncmp(spec, "memcache", 8) || (spec[8] && spec[8] != ':'))
        return NULL;
    longest += c->skew + 1;
    if (longest < JP_MEMCACHE_TTL_MAX)
        return NULL;
    return apr_psprintf(p,
                        "JITProvSessionCache %s: memcached keeps an item at most 30 days (it "
                        "reads a longer lifetime as a date and drops the item at once), and the "
                        "markers that end sessions must last JITProvSessionMaxDuration + "
                        "JITProvClockSkew (%" APR_INT64_T_FMT " s here): set "
                        "JITProvSessionMaxDuration below 30 days, or use Redis",
                        spec, longest);
}

/* Checked for every vhost that uses the module, at configtest. */
const char *jp_check_srv_cfg(apr_pool_t *p, server_rec *s, jp_srv_cfg *c)
{
    const char *err;
    /* OIDC Core 3.1.2.1: without openid the request is plain OAuth 2.0 and
     * no ID token comes back: every login would fail at the callback. */
    if (!jp_word_listed(c->scope, "openid"))
        return apr_psprintf(p,
                            "JITProvScope \"%s\" lacks the openid scope, without which the IdP "
                            "answers with no ID token (OIDC Core 3.1.2.1)",
                            c->scope ? c->scope : "");
    if (!c->metadata_url)
        return "JITProvProviderMetadataURL is required";
    if (!c->client_id)
        return "JITProvClientID is required";
    if (c->token_auth == JP_AUTH_PRIVATE_KEY_JWT && !c->pkey_pem)
        return "JITProvTokenEndpointAuth private_key_jwt needs JITProvPrivateKeyFile";
    if (!c->client_secret && c->token_auth != JP_AUTH_PRIVATE_KEY_JWT)
        return "JITProvClientSecret is required";
    if (!c->redirect_uri)
        return "JITProvRedirectURI is required";
    if (!c->passphrases->nelts)
        return "JITProvCryptoPassphrase is required";
    if (c->logout_path && !strcmp(c->logout_path, c->redirect_path))
        return "JITProvLogoutURI must differ from JITProvRedirectURI";
    if (c->fcl_path && ((c->redirect_path && !strcmp(c->fcl_path, c->redirect_path)) ||
                        (c->logout_path && !strcmp(c->fcl_path, c->logout_path)) ||
                        (c->bcl_path && !strcmp(c->fcl_path, c->bcl_path))))
        return "JITProvFrontChannelLogoutURI must differ from JITProvRedirectURI, "
               "JITProvLogoutURI and JITProvBackChannelLogoutURI";
    if (c->max_duration < c->inactivity)
        c->inactivity = c->max_duration;
    if ((err = check_cache_lifetimes(p, c)) != NULL)
        return err;
    if (c->cache_encrypt && c->cache_spec && ap_strchr_c(c->cache_spec, ','))
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, s,
                     JPLOG(0082) "JITProvSessionCache %s: a list of servers shards the "
                                 "revocation markers: one that restarts empty or is down loses "
                                 "or hides those it held, which the module cannot notice; give "
                                 "one address (with the cache's own replication behind it)",
                     c->cache_spec);
    if (jp_url_plain_remote(c->metadata_url))
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, s,
                     JPLOG(0081) "JITProvProviderMetadataURL %s is plain http to a host that is "
                                 "not loopback: discovery, keys and tokens can be read or "
                                 "changed on the way; use https",
                     c->metadata_url);
    jp_store_cfg_finish(&c->store);
    if (c->provider_rules) {
        int i, j;
        for (i = 0; i < c->provider_rules->nelts; i++) {
            const char *n = ((jp_provider_rule *)c->provider_rules->elts)[i].provider;
            int found = !n;
            for (j = 0; n && c->extra_providers && j < c->extra_providers->nelts; j++)
                found |= !strcmp(((jp_provider_def *)c->extra_providers->elts)[j].name, n);
            if (!found)
                return apr_psprintf(p, "JITProvProviderSelect: no JITProvProvider named %s", n);
        }
    }
    if (c->discovery_path && !c->extra_providers)
        return "JITProvDiscoveryURI needs at least one JITProvProvider";
    if (c->discovery_path && (!strcmp(c->discovery_path, c->redirect_path) ||
                              (c->logout_path && !strcmp(c->discovery_path, c->logout_path))))
        return "JITProvDiscoveryURI must differ from JITProvRedirectURI and JITProvLogoutURI";
    if (c->preserve_post_max == JP_UNSET)
        c->preserve_post_max = 65536;
    err = check_cookies(p, s, c);
    if (err)
        return err;
    if (c->provisioning) {
        if (!jp_dbd_available())
            return "JITProvProvisioning is On but mod_dbd is not loaded (LoadModule dbd_module, "
                   "DBDriver, DBDParams), or set JITProvProvisioning Off";
        /* p is ptemp; the shape must live as long as the configuration. */
        err = jp_store_cfg_seal(s->process->pconf, &c->store);
        if (err)
            return err;
    }
    return NULL;
}
