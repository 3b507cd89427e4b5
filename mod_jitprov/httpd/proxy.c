/* The origin the browser sees (scheme, host, port) when httpd sits behind a
 * reverse proxy or TLS terminator: taken from Forwarded (RFC 7239) or
 * X-Forwarded-Proto/Host/Port, but only when the TCP peer is one of
 * JITProvTrustedProxy. Anyone else's such headers are ignored: otherwise a
 * client could pick the redirect_uri sent to the IdP or drop the cookies'
 * Secure flag. Used for the redirect URI, cookie Secure flags and the
 * same-origin checks of post-login and post-logout URLs. */
#include "jitprov.h"
#include "http_core.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include "forwarded.h"

#define JP_ORIGIN_KEY "jitprov-origin"

static int peer_trusted(request_rec *r, jp_srv_cfg *c)
{
    int i;
    if (!c->trusted_proxies || !r->connection->client_addr)
        return 0;
    for (i = 0; i < c->trusted_proxies->nelts; i++)
        if (apr_ipsubnet_test(((apr_ipsubnet_t **)c->trusted_proxies->elts)[i],
                              r->connection->client_addr))
            return 1;
    return 0;
}

static void ignored(request_rec *r, const char *name, const char *value)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  JPLOG(0670) "ignored an invalid %s from trusted proxy %s: %s", name,
                  r->connection->client_ip, ap_escape_logitem(r->pool, value));
}

static int default_port(const char *scheme)
{
    return strcmp(scheme, "https") ? 80 : 443;
}

/* What the trusted proxy said; fields it did not say stay NULL/0. */
static void from_headers(request_rec *r, jp_fwd *f)
{
    const char *fw = apr_table_get(r->headers_in, "Forwarded");
    const char *v;
    memset(f, 0, sizeof(*f));
    if (fw) {
        if (jp_fwd_parse_forwarded(r->pool, fw, f) == 0)
            return;
        ignored(r, "Forwarded", fw);
    }
    v = apr_table_get(r->headers_in, "X-Forwarded-Proto");
    if (v && !(f->proto = jp_fwd_proto(jp_fwd_last(r->pool, v))))
        ignored(r, "X-Forwarded-Proto", v);
    v = apr_table_get(r->headers_in, "X-Forwarded-Host");
    if (v && jp_fwd_host(r->pool, jp_fwd_last(r->pool, v), &f->host, &f->port) != 0)
        ignored(r, "X-Forwarded-Host", v);
    v = apr_table_get(r->headers_in, "X-Forwarded-Port");
    if (v) {
        int port = jp_fwd_port(jp_fwd_last(r->pool, v));
        if (port < 0)
            ignored(r, "X-Forwarded-Port", v);
        else if (!f->port)
            f->port = port;
    }
}

void jp_origin_get(request_rec *r, jp_srv_cfg *c, jp_origin *out)
{
    jp_origin *o = NULL;
    jp_fwd f;
    apr_pool_userdata_get((void **)&o, JP_ORIGIN_KEY, r->pool);
    if (o) {
        *out = *o;
        return;
    }
    o = apr_palloc(r->pool, sizeof(*o));
    o->scheme = ap_http_scheme(r);
    o->host = r->hostname ? r->hostname : r->server->server_hostname;
    o->port = ap_get_server_port(r);
    if (peer_trusted(r, c)) {
        from_headers(r, &f);
        if (f.proto)
            o->scheme = f.proto;
        if (f.host) {
            o->host = f.host;
            o->port = f.port ? f.port : default_port(o->scheme);
        } else if (f.proto || f.port) {
            /* The Host header came through the proxy: its port (if any) is
             * the browser's, the backend's own port is not. */
            const char *hh, *host = NULL;
            int hport = 0;
            hh = apr_table_get(r->headers_in, "Host");
            if (hh)
                jp_fwd_host(r->pool, hh, &host, &hport);
            o->port = f.port ? f.port : hport ? hport : default_port(o->scheme);
        }
    } else if (apr_table_get(r->headers_in, "Forwarded") ||
               apr_table_get(r->headers_in, "X-Forwarded-Proto") ||
               apr_table_get(r->headers_in, "X-Forwarded-Host") ||
               apr_table_get(r->headers_in, "X-Forwarded-Port")) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      JPLOG(0671) "Forwarded/X-Forwarded-* from %s ignored: not a "
                                  "JITProvTrustedProxy",
                      r->connection->client_ip);
    }
    apr_pool_userdata_setn(o, JP_ORIGIN_KEY, NULL, r->pool);
    *out = *o;
}

const char *jp_origin_url(request_rec *r, jp_srv_cfg *c, const char *path)
{
    jp_origin o;
    const char *host;
    jp_origin_get(r, c, &o);
    host = strchr(o.host, ':') && o.host[0] != '[' ? apr_pstrcat(r->pool, "[", o.host, "]", NULL)
                                                   : o.host;
    if (o.port == default_port(o.scheme))
        return apr_pstrcat(r->pool, o.scheme, "://", host, path, NULL);
    return apr_psprintf(r->pool, "%s://%s:%d%s", o.scheme, host, o.port, path);
}

int jp_origin_https(request_rec *r, jp_srv_cfg *c)
{
    jp_origin o;
    jp_origin_get(r, c, &o);
    return !strcmp(o.scheme, "https");
}
