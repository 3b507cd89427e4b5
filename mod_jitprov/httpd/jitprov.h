/* Internal declarations shared by the httpd glue of mod_jitprov. The pure
 * logic (crypto, token, headers, claims, sessrec, store) has its own headers
 * and never includes this one. */
#ifndef JP_JITPROV_H
#define JP_JITPROV_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_socache.h"
#include "apr_global_mutex.h"
#include "apr_thread_mutex.h"
#include "ap_regex.h"

/* Regexes that guard access (JITProvRequireClaim, Require jitprov-claim) do
 * not take httpd's RegexDefaultOptions: its DOTALL lets '.' cross a line break.
 * '$' matches only at the very end; no multiline, case-sensitive. */
#define JP_ACCESS_REGEX_FLAGS (AP_REG_NO_DEFAULT | AP_REG_DOLLAR_ENDONLY)

#include "crypto.h"
#include "claims.h"
#include "headers.h"
#include "sessrec.h"
#include "store.h"
#include "token.h"

/* Module-specific message ids: httpd's own APLOGNO numbers are not ours. */
#define JPLOG(n) "JITPROV" #n ": "

extern module AP_MODULE_DECLARE_DATA jitprov_module;
#ifndef JP_MODULE_FILE
/* Log lines carry the module's name, so "LogLevel jitprov:debug" works.
 * mod_jitprov.c gets this from AP_DECLARE_MODULE. */
APLOG_USE_MODULE(jitprov);
#endif

#define JP_UNSET -1

/* How the IdP hands the browser back (JITProvResponseMode). */
#define JP_RM_QUERY 1
#define JP_RM_FORM_POST 2
/* A revocation-table key (JP_REV_KEYLEN; session.c asserts they agree). */
#define JP_NET_KEYLEN JP_SESSREC_MARKLEN

typedef enum { JP_AUTH_BASIC = 0, JP_AUTH_POST, JP_AUTH_PRIVATE_KEY_JWT } jp_token_auth;

typedef enum { JP_UNAUTH_AUTH = 0, JP_UNAUTH_401, JP_UNAUTH_403, JP_UNAUTH_PASS } jp_unauth;

typedef struct {
    const char *claim;
    ap_regex_t *re;
    const char *pattern;
} jp_gate;

typedef struct jp_provider jp_provider;

typedef struct jp_srv_cfg {
    server_rec *s;
    /* provider and client */
    const char *metadata_url;
    const char *client_id;
    const char *client_secret;
    int token_auth;
    /* private_key_jwt: the PEM text, checked at startup, parsed per use */
    const char *pkey_file;
    const char *pkey_pem;
    apr_size_t pkey_len;
    const char *pkey_alg;
    const char *pkey_kid;
    const char *redirect_uri; /* as configured: path or absolute URL */
    const char *redirect_path;
    const char *logout_path;
    const char *bcl_path;
    const char *fcl_path; /* JITProvFrontChannelLogoutURI */
    const char *scope;
    int skew;
    int http_timeout;
    const char *ca_file;
    const char *proxy;       /* JITProvOutgoingProxy: NULL the environment's, "" none */
    const char *auth_params; /* JITProvAuthRequestParams, checked and encoded */
    int max_age_sent;        /* ... they carry max_age (auth_time checked) */
    long max_age;
    int response_mode; /* JITProvResponseMode: JP_RM_* (0: not set, query) */
    int userinfo;
    /* keys */
    apr_array_header_t *passphrases; /* const char *, first seals */
    jp_key *state_keys;
    jp_key *sess_keys;
    jp_key *token_keys; /* seal the backend's tokens inside session records */
    int nkeys;
    /* sessions */
    const char *cache_spec;
    const ap_socache_provider_t *cache_prov;
    ap_socache_instance_t *cache;
    int cache_encrypt; /* shared provider: encrypt records */
    /* when this process last rewrote the networked cache's epoch (session.c) */
    volatile apr_uint64_t epoch_written;
    /* The networked cache's epoch and generation keys: fixed by the session
     * namespace, so hashed once at startup (jp_session_net_keys), not per
     * request. */
    unsigned char net_epoch_key[JP_NET_KEYLEN];
    unsigned char net_gen_key[JP_NET_KEYLEN];
    int inactivity;
    int max_duration;
    int state_ttl;
    const char *cookie_name;
    const char *cookie_attrs; /* NULL = defaults */
    int sess_samesite;        /* jp_samesite (cookie.h); 0 = Lax */
    int state_samesite;
    int cookie_host_prefix;   /* JITProvCookieHostPrefix: JP_UNSET, 0, 1 */
    const char *state_prefix; /* state cookie names: prefix + "_" + 16 chars */
    int preserve_post_max;    /* JITProvPreservePostMax: bytes, 0 = off, JP_UNSET */
    /* provisioning */
    int provisioning; /* JITProvProvisioning On|Off */
    jp_store_cfg store;
    apr_array_header_t *gates; /* jp_gate */
    int recheck_interval;
    int recheck_fail_open;
    const char *groups_claim;
    /* SCIM 2.0 endpoint (SetHandler jitprov-scim) */
    const char *scim_token;
    /* tokens for the backend: kept when any JITProvPassAccessToken wants them */
    int keep_tokens;
    int refresh_margin;
    int refresh_fail; /* JITProvRefreshFailure: JP_UNSET, 0 end, 1 auth */
    /* JITProvTrustedProxy: apr_ipsubnet_t *; NULL = none trusted */
    apr_array_header_t *trusted_proxies;
    /* JITProvTrustedAudience: const char *, NULL-terminated; NULL = none */
    apr_array_header_t *trusted_aud;
    /* spoof stripping: every JITProvHeader name of this vhost */
    apr_array_header_t *strip_names;
    const char *strip_prefix;
    /* more than one IdP (multi.c) */
    apr_array_header_t *extra_providers; /* jp_provider_def; NULL = only the default */
    apr_array_header_t *provider_rules;  /* jp_provider_rule */
    const char *discovery_path;          /* JITProvDiscoveryURI */
    const char *provider_label;          /* JITProvProviderLabel: the default's */
    const char *provider_name;           /* in an extra provider's copy: its name */
    const char *session_ns;              /* in a copy: the vhost's client id */
    /* runtime */
    jp_provider *provider;
    int set_flags;
    /* jp_claim_use: claims that JITProvHeader, JITProvRemoteUser and Require
     * lines of this server read (diag.c warns when a login lacks one) */
    apr_array_header_t *claim_uses;
    /* JITProvRevocationFile (main server only) */
    const char *rev_file;
    int rev_slots;
} jp_srv_cfg;

typedef struct {
    const char *claim; /* NULL: JITProvGroupsClaim, resolved at login */
    const char *what;  /* the directive, as the warning names it */
} jp_claim_use;

typedef struct {
    const char *name, *label, *metadata_url, *client_id, *client_secret;
    jp_srv_cfg *cfg; /* the vhost's configuration with these replaced (post_config) */
} jp_provider_def;

typedef struct {
    int by_host;
    const char *match;    /* path prefix or host name */
    const char *provider; /* NULL = the default */
} jp_provider_rule;

typedef enum { JP_SRC_CLAIM = 0, JP_SRC_ACCOUNT } jp_src_type;

typedef struct {
    const char *name; /* header name, or NULL for REMOTE_USER */
    const char *key;  /* kv key in the session record: "c:<claim>" / "a:<col>" */
} jp_hdr_map;

typedef struct {
    apr_array_header_t *headers; /* jp_hdr_map; NULL = unset */
    const char *remote_user;     /* kv key; NULL = unset (default "c:sub") */
    int encoding;
    const char *delim;
    int unauth;
    int claims_env;
    const char *env_prefix;
    apr_array_header_t *info_claims; /* JITProvSessionInfoClaims; NULL = none */
    int pass_token;                  /* JITProvPassAccessToken: JP_PASS_* bits, JP_UNSET */
    const char *token_header;        /* JITProvAccessTokenHeader */
} jp_dir_cfg;

#define JP_PASS_HEADER 1
#define JP_PASS_ENV 2
#define JP_DEFAULT_TOKEN_HEADER "X-Access-Token"

/* Per-request state, in r->request_config. */
typedef struct {
    jp_session *sess;
    const char *cache_key;
    /* The session cookie whose record sess is (NULL for a stub record, whose
     * claims came from elsewhere): hot.c keeps what is derived from it. */
    const char *cookie;
    size_t cookie_len;
    const void *owner;
    const char *hint; /* the ID token from the hint cookie, once read (logout) */
    /* The environment hot.c kept for that cookie under the settings env_sig,
     * found when the session was loaded; NULL when none. */
    const char *env;
    size_t envlen;
    const char *env_sig;
    size_t env_siglen;
} jp_req;

/* config.c */
extern const command_rec jp_cmds[];
void *jp_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *jp_merge_srv_cfg(apr_pool_t *p, void *base, void *add);
void *jp_create_dir_cfg(apr_pool_t *p, char *dir);
void *jp_merge_dir_cfg(apr_pool_t *p, void *base, void *add);
const char *jp_check_srv_cfg(apr_pool_t *p, server_rec *s, jp_srv_cfg *c);
#define JP_SRV(s) ((jp_srv_cfg *)ap_get_module_config((s)->module_config, &jitprov_module))
#define JP_DIR(r) ((jp_dir_cfg *)ap_get_module_config((r)->per_dir_config, &jitprov_module))

/* http.c: outgoing HTTP to the IdP. Returns APR_SUCCESS, APR_TIMEUP (504) or
 * another error (502). */
typedef struct {
    long status;
    char *body;
    size_t len;
    const char *content_type;
    const char *www_authenticate; /* of the final answer, at most 512 bytes; NULL: none */
} jp_http_resp;
apr_status_t jp_http(apr_pool_t *p, jp_srv_cfg *c, const char *method, const char *url,
                     const char *form_body, const char *basic_user, const char *basic_pass,
                     const char *bearer, jp_http_resp *out, const char **err);
int jp_http_global_init(void);
/* The per-process pool of reusable easy handles (child_init). */
void jp_http_child_init(apr_pool_t *p);

/* provider.c: discovery document and JWKS, per process, behind a mutex. */
typedef struct {
    const char *issuer;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *userinfo_endpoint;
    const char *end_session_endpoint;
    const char *jwks_uri;
    /* *_signing_alg_values_supported, space-separated ("" when absent):
     * HS* tokens are accepted only when listed there. */
    const char *id_token_algs;
    const char *userinfo_algs;
    int iss_param; /* authorization_response_iss_parameter_supported (RFC 9207) */
} jp_meta;
apr_status_t jp_provider_create(apr_pool_t *p, jp_srv_cfg *c);
/* After the extra providers of home (JITProvProvider) got theirs: the group
 * in which no two may share an issuer. */
apr_status_t jp_provider_group_create(apr_pool_t *p, jp_srv_cfg *home);
/* Copies the provider metadata into r->pool, fetching it when needed; 502
 * when another provider of the vhost names the same issuer (JITPROV0901). */
int jp_provider_meta(request_rec *r, jp_srv_cfg *c, jp_meta *m, const char **err);
/* The provider of home's group whose metadata names iss, fetching what is
 * missing or expired when none does yet; NULL when none. */
jp_srv_cfg *jp_provider_by_issuer(request_rec *r, jp_srv_cfg *home, const char *iss);
/* Besides jp_tok_rc values, jp_provider_validate returns these when the JWKS
 * cannot be had at all (502/504 rather than a token verdict). */
#define JP_TOK_IDP_DOWN ((jp_tok_rc)-10)
#define JP_TOK_IDP_TIMEOUT ((jp_tok_rc)-11)
/* What jp_provider_validate checks (its `logout` argument). */
#define JP_VAL_IDTOKEN 0
#define JP_VAL_LOGOUT 1
#define JP_VAL_USERINFO 2
jp_tok_rc jp_provider_validate(request_rec *r, jp_srv_cfg *c, const char *jwt,
                               const jp_tok_expect *e, int logout, json_t **claims,
                               const char **err);

/* token_client.c: POST to the token endpoint with the configured client
 * authentication; the same return values as jp_http. */
apr_status_t jp_token_post(request_rec *r, jp_srv_cfg *c, const jp_meta *m, const char *body,
                           jp_http_resp *resp, const char **err);

/* proxy.c: the browser's origin, from a JITProvTrustedProxy's Forwarded /
 * X-Forwarded-* headers or else from the request itself. */
typedef struct {
    const char *scheme; /* "http" or "https" */
    const char *host;
    int port;
} jp_origin;
void jp_origin_get(request_rec *r, jp_srv_cfg *c, jp_origin *o);
/* scheme://host[:port] + path (path starts with '/') */
const char *jp_origin_url(request_rec *r, jp_srv_cfg *c, const char *path);
int jp_origin_https(request_rec *r, jp_srv_cfg *c);

/* errors.c */
const char *jp_ref(request_rec *r);
void jp_error_page(request_rec *r, int status, int shown, const char *reason);
void jp_challenge(request_rec *r);
/* Cache-Control: no-store on r's answer, whatever it turns out to be (an
 * error, a redirect, the backend's page), keeping a stricter value already
 * set by the module. */
void jp_no_store(request_rec *r);
int jp_fail(request_rec *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* session.c */
apr_status_t jp_cache_post_config(apr_pool_t *pconf, server_rec *s);
void jp_session_net_keys(apr_pool_t *p, jp_srv_cfg *c);
void jp_cache_child_init(apr_pool_t *p, server_rec *s);
/* netgen.c: the networked cache's generation each session was last checked
 * at, per process (keyed by the session's marker key). */
#define JP_NETGEN_KEYLEN 16
void jp_netgen_child_init(apr_pool_t *pchild);
int jp_netgen_seen(const void *owner, const unsigned char key[JP_NETGEN_KEYLEN], int64_t gen);
void jp_netgen_remember(const void *owner, const unsigned char key[JP_NETGEN_KEYLEN], int64_t gen);
/* hot.c: plaintexts of recently opened session cookies, per process. */
void jp_hot_child_init(apr_pool_t *pchild);
/* What this process remembers of a cookie, copied into the request pool by
 * one look-up (one lock, one comparison of the whole cookie). */
typedef struct {
    /* The record the cookie opened to as jp_sessrec_decode_inplace left it
     * (plen + 1 bytes), or NULL; its shape, for jp_sessrec_rebuild. */
    unsigned char *pt;
    size_t plen;
    const void *shape;
    size_t shapelen;
    /* The cookie issued at or after since to replace this one (activity
     * write-back), which a client still sending this one is served by; NULL
     * when none. When set, pt and env are not: the caller opens next. */
    const char *next;
    size_t nextlen;
    unsigned next_slot; /* where next's own entry was seen (jp_hot_lookup_next) */
    apr_uint64_t next_gen;
    /* The environment made from the record under the settings sig (in
     * mod_jitprov.c's form); NULL when none was kept for sig. */
    const char *env;
    size_t envlen;
} jp_hot_view;
/* 1 and *out when the byte-identical cookie opened under owner is
 * remembered, else 0. since 0: no replacement wanted; sig NULL: no
 * environment. */
int jp_hot_lookup(apr_pool_t *p, const void *owner, const char *cookie, size_t clen,
                  apr_time_t since, const char *sig, size_t siglen, jp_hot_view *out);
/* The same for the replacement from->next that jp_hot_lookup returned: from
 * the entry where it was seen, without comparing it again, while that entry
 * is unchanged; else by jp_hot_lookup. */
int jp_hot_lookup_next(apr_pool_t *p, const void *owner, const jp_hot_view *from, const char *sig,
                       size_t siglen, jp_hot_view *out);
/* Remember what the cookie opened to, as decoded in place (plen + 1 bytes),
 * and its shape (jp_sessrec_shape). */
void jp_hot_put(const void *owner, const char *cookie, size_t clen, const unsigned char *pt,
                size_t plen, const void *shape, size_t shapelen);
/* Keeps the environment under sig beside the record while the slot still
 * holds that cookie. */
void jp_hot_env_put(const void *owner, const char *cookie, size_t clen, const char *sig,
                    size_t siglen, const char *env, size_t envlen);
/* renew: the replacement's window starts now; else it takes the place of
 * the one remembered (if any) within that one's window. */
void jp_hot_next_put(const void *owner, const char *cookie, size_t clen, const char *next,
                     size_t nextlen, int renew);
apr_status_t jp_cache_preconfig(apr_pool_t *pconf);
const char *jp_cookie_get(request_rec *r, const char *name);
void jp_cookie_set(request_rec *r, jp_srv_cfg *c, const char *name, const char *value,
                   const char *path, int max_age);
/* Loads the caller's session: OK and *out set, DECLINED (no valid session), or an
 * HTTP error status (database down during the status re-check). */
int jp_session_load(request_rec *r, jp_srv_cfg *c, jp_req **out);
/* The same, looking up in the same step the environment kept for the
 * session's cookie under the settings sig (mod_jitprov.c): rq->env. */
int jp_session_load_env(request_rec *r, jp_srv_cfg *c, const char *sig, size_t siglen,
                        jp_req **out);
/* The caller's session without the account re-check or any write-back (logout:
 * works while the database is down). OK or DECLINED. */
int jp_session_peek(request_rec *r, jp_srv_cfg *c, jp_req **out);
int jp_session_create(request_rec *r, jp_srv_cfg *c, jp_session *s);
/* Ends one session on every node sharing the cache: 0, or -1 when the
 * revocation could not be recorded (the caller answers 503). */
int jp_session_destroy(request_rec *r, jp_srv_cfg *c, jp_req *rq);
int64_t jp_session_hard_end(const jp_srv_cfg *c, const jp_session *s);
/* Expires the cookie that carries the ID token to the logout path. */
void jp_session_clear_hint(request_rec *r, jp_srv_cfg *c);
/* The session's ID token for id_token_hint (kept beside the record, not in the
 * cookie); NULL when it is gone. Call before jp_session_destroy. */
const char *jp_session_id_token(request_rec *r, jp_srv_cfg *c, jp_req *rq);
/* Notes jitprov-session-info sets before jp_session_load: PASSIVE = the
 * request is not activity; EXTEND = it is, whatever the write-back interval
 * (the cookie is re-issued). EXTEND_FAILED is set when that re-issue failed. */
#define JP_NOTE_PASSIVE "jitprov-passive"
#define JP_NOTE_EXTEND "jitprov-extend"
#define JP_NOTE_EXTEND_FAILED "jitprov-extend-failed"
/* The backend's tokens of a session (JITProvPassAccessToken) live only in its
 * server-side record: save rewrites that record with new tokens (0 or -1);
 * stored reads them back as another request may have written them (NULL when
 * unreadable). */
int jp_session_save_tokens(request_rec *r, jp_srv_cfg *c, jp_req *rq, const char *tokens);
const char *jp_session_stored_tokens(request_rec *r, jp_srv_cfg *c, jp_req *rq);
/* Short-lived items in JITProvSessionCache (kept POSTs): stored until
 * expires_at (unix seconds); take = fetch (at most max bytes) and remove. */
apr_status_t jp_cache_put_str(request_rec *r, jp_srv_cfg *c, const char *key, const char *val,
                              int64_t expires_at);
apr_status_t jp_cache_take_str(request_rec *r, jp_srv_cfg *c, const char *key, char **val,
                               apr_size_t max);
/* Revocation markers, any number of sessions, every node sharing the cache,
 * scoped by this vhost's client id; 0 or -1 as above. By sid when sid is set
 * (sub is then ignored), otherwise every session of (iss, sub) issued so far. */
int jp_session_revoke_sid(request_rec *r, jp_srv_cfg *c, const char *iss, const char *sid,
                          const char *sub);
int jp_session_revoke_sub(request_rec *r, jp_srv_cfg *c, const char *iss, const char *sub);
/* Every session of the account issued so far (SCIM, re-check). */
int jp_session_revoke_account(request_rec *r, jp_srv_cfg *c, int64_t account_id);
/* One-use marker (kind, iss, value) until `until` (unix seconds): 0 on first
 * use, 1 when already used, -1 when it could not be recorded. */
int jp_session_once(request_rec *r, jp_srv_cfg *c, const char *kind, const char *iss,
                    const char *value, int64_t until);
/* Removes that marker again (here and in the networked cache). */
void jp_session_once_undo(request_rec *r, jp_srv_cfg *c, const char *kind, const char *iss,
                          const char *value);

/* flow.c */
int jp_flow_start(request_rec *r, jp_srv_cfg *c);
/* The same, returning to return_to (a checked same-origin URL) afterwards. */
int jp_flow_start_to(request_rec *r, jp_srv_cfg *c, const char *return_to);
/* What came to JITProvRedirectURI: its parameters in *params (the query, or
 * a POST's form), and *initiation 1 when they start a login for a third
 * party (OpenID Connect Core 4: iss without an answer's state, code or
 * error) rather than answer one. OK, or the status of the refusal already
 * answered. */
int jp_callback_params(request_rec *r, jp_srv_cfg *c, const char **params, int *initiation);
int jp_flow_callback(request_rec *r, jp_srv_cfg *c, const char *params);
int jp_flow_initiated(request_rec *r, jp_srv_cfg *c, const char *params);
const char *jp_redirect_uri(request_rec *r, jp_srv_cfg *c);

/* logout.c */
int jp_logout(request_rec *r, jp_srv_cfg *c);
int jp_backchannel_logout(request_rec *r, jp_srv_cfg *c);
int jp_frontchannel_logout(request_rec *r, jp_srv_cfg *c);

/* authz.c */
void jp_register_authz(apr_pool_t *p);
void jp_authz_register_hooks(void);

/* status.c */
typedef enum {
    JP_M_LOGIN_START = 0,
    JP_M_LOGIN_OK,
    JP_M_LOGIN_FAIL,
    JP_M_SESSION_HIT,
    JP_M_SESSION_MISS,
    JP_M_ACCOUNT_CREATE,
    JP_M_ACCOUNT_REFUSED,
    JP_M_SESSION_ENDED,
    JP_M_LOGOUT,
    JP_M_BCL,
    JP_M_IDP_ERROR,
    JP_M_DB_ERROR,
    JP_M_FCL,
    JP_M__COUNT
} jp_metric_id;
apr_status_t jp_metrics_init(apr_pool_t *pconf, apr_pool_t *pproc);
void jp_metrics_cleanup(apr_pool_t *pconf);
void jp_metric(jp_metric_id m);
int jp_status_handler(request_rec *r);

/* diag.c: missing-claim warnings and the claim names of the last logins */
void jp_note_claim_use(cmd_parms *cmd, const char *claim, const char *what);
apr_status_t jp_diag_preconfig(apr_pool_t *pconf);
apr_status_t jp_diag_post_config(apr_pool_t *pconf, server_rec *s);
void jp_diag_child_init(apr_pool_t *p, server_rec *s);
apr_array_header_t *jp_diag_names(apr_pool_t *p, json_t *claims);
void jp_diag_login(request_rec *r, jp_srv_cfg *c, const char *iss,
                   const apr_array_header_t *id_names, json_t *claims, int userinfo_used);
int jp_diag_claims_view(request_rec *r);

/* preserve.c: a form POST kept across the login it starts. jp_post_resume
 * sends the re-post page (OK) or finds nothing (DECLINED). */
void jp_post_preserve(request_rec *r, jp_srv_cfg *c, const char *state, int64_t now);
int jp_post_resume(request_rec *r, jp_srv_cfg *c, const char *state, const char *return_to,
                   const char *dest, int64_t now);

/* backend_token.c: JITProvPassAccessToken. The sealed token blob for a new
 * session ("" when not kept); and, per request, refresh + hand over: OK,
 * DECLINED (session ended, treat as none) or an error status already sent. */
const char *jp_backend_tokens_keep(request_rec *r, jp_srv_cfg *c, json_t *tok, const char *iss,
                                   const char *sub);
int jp_backend_token(request_rec *r, jp_srv_cfg *c, jp_dir_cfg *d, jp_req *rq);

/* multi.c: several IdPs in one vhost. */
apr_status_t jp_providers_create(apr_pool_t *pconf, jp_srv_cfg *c);
/* Starts a login with the provider the rules pick (or the discovery page). */
int jp_login_start(request_rec *r, jp_srv_cfg *c);
/* The provider whose login this callback ends; NULL when the state names none
 * configured. */
jp_srv_cfg *jp_provider_for_callback(request_rec *r, jp_srv_cfg *c, const char *params);
/* The provider with this issuer (c when none or only one). */
jp_srv_cfg *jp_provider_for_iss(request_rec *r, jp_srv_cfg *c, const char *iss);
/* The provider named by a JWT's (unverified) iss. */
jp_srv_cfg *jp_provider_for_token(request_rec *r, jp_srv_cfg *c, const char *jwt);
int jp_discovery_page(request_rec *r, jp_srv_cfg *c);

/* sessinfo.c: SetHandler jitprov-session-info */
int jp_sessinfo_handler(request_rec *r);

/* scim_handler.c: SetHandler jitprov-scim */
int jp_scim_handler(request_rec *r);

/* glue.c: helpers the handlers share */
int jp_dbd_available(void);
int jp_db_acquire(request_rec *r, jp_db *db);
int jp_read_body(request_rec *r, apr_size_t max, char **body);
void jp_glue_optional_fn_retrieve(void);
/* The algorithms a token may be signed with, given the discovery document's
 * list for that kind of token (space-separated, NULL-terminated result). */
const char *const *jp_token_algs(apr_pool_t *p, const char *listed);

#endif
