/* Forwarded / X-Forwarded-* parsing: what a trusted proxy may say, and
 * everything that must be refused. */

#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "forwarded.h"
#include "jtest.h"

static apr_pool_t *p;

static int fwd_ok(const char *v, const char *proto, const char *host, int port)
{
    jp_fwd f;
    if (jp_fwd_parse_forwarded(p, v, &f) != 0)
        return 0;
    if ((proto == NULL) != (f.proto == NULL) || (proto && strcmp(proto, f.proto)))
        return 0;
    if ((host == NULL) != (f.host == NULL) || (host && strcmp(host, f.host)))
        return 0;
    return f.port == port;
}

static int fwd_bad(const char *v)
{
    jp_fwd f;
    return jp_fwd_parse_forwarded(p, v, &f) < 0 && !f.proto && !f.host && !f.port;
}

static int host_ok(const char *s, const char *want, int wport)
{
    const char *h;
    int port;
    return jp_fwd_host(p, s, &h, &port) == 0 && !strcmp(h, want) && port == wport;
}

static int host_bad(const char *s)
{
    const char *h;
    int port;
    return jp_fwd_host(p, s, &h, &port) < 0 && h == NULL && port == 0;
}

int main(void)
{
    char big[JP_FWD_MAX + 10];
    apr_initialize();
    apr_pool_create(&p, NULL);

    /* Ports */
    CHECK(jp_fwd_port("443") == 443);
    CHECK(jp_fwd_port("1") == 1);
    CHECK(jp_fwd_port("65535") == 65535);
    CHECK(jp_fwd_port("0") < 0);
    CHECK(jp_fwd_port("65536") < 0);
    CHECK(jp_fwd_port("99999") < 0);
    CHECK(jp_fwd_port("000443") < 0);
    CHECK(jp_fwd_port("+443") < 0);
    CHECK(jp_fwd_port(" 443") < 0);
    CHECK(jp_fwd_port("44 3") < 0);
    CHECK(jp_fwd_port("") < 0);
    CHECK(jp_fwd_port(NULL) < 0);

    /* Protocols */
    CHECK_STR(jp_fwd_proto("https"), "https");
    CHECK_STR(jp_fwd_proto("HTTPS"), "https");
    CHECK_STR(jp_fwd_proto("http"), "http");
    CHECK(jp_fwd_proto("ftp") == NULL);
    CHECK(jp_fwd_proto("javascript") == NULL);
    CHECK(jp_fwd_proto("https ") == NULL);
    CHECK(jp_fwd_proto("") == NULL);

    /* Hosts */
    CHECK(host_ok("app.example.com", "app.example.com", 0));
    CHECK(host_ok("App.Example.COM:8443", "app.example.com", 8443));
    CHECK(host_ok("192.0.2.1:80", "192.0.2.1", 80));
    CHECK(host_ok("[2001:db8::1]", "[2001:db8::1]", 0));
    CHECK(host_ok("[2001:DB8::1]:443", "[2001:db8::1]", 443));
    CHECK(host_ok("my_host", "my_host", 0));
    CHECK(host_bad(""));
    CHECK(host_bad(":443"));
    CHECK(host_bad("evil.example/path"));
    CHECK(host_bad("user@evil.example"));
    CHECK(host_bad("a b"));
    CHECK(host_bad("evil.example\r\nSet-Cookie: x=1"));
    CHECK(host_bad("evil.example:99999"));
    CHECK(host_bad("evil.example:"));
    CHECK(host_bad("evil.example:80:80"));
    CHECK(host_bad("evil.example\\x"));
    CHECK(host_bad(".evil"));
    CHECK(host_bad("[::1"));
    CHECK(host_bad("[]"));
    CHECK(host_bad("[zz::1]"));
    CHECK(host_bad("[::1]x"));
    CHECK(host_bad("[127.0.0.1]"));
    CHECK(host_bad("%65vil"));

    /* X-Forwarded-*: the last element counts. */
    CHECK_STR(jp_fwd_last(p, "https"), "https");
    CHECK_STR(jp_fwd_last(p, "evil.example, app.example.com"), "app.example.com");
    CHECK_STR(jp_fwd_last(p, " http ,\thttps\t"), "https");
    CHECK(jp_fwd_last(p, "a, ") == NULL);
    CHECK(jp_fwd_last(p, "") == NULL);
    CHECK(jp_fwd_last(p, NULL) == NULL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(jp_fwd_last(p, big) == NULL);

    /* Forwarded */
    CHECK(fwd_ok("proto=https;host=app.example.com", "https", "app.example.com", 0));
    CHECK(fwd_ok("for=192.0.2.60;proto=http;by=203.0.113.43", "http", NULL, 0));
    CHECK(fwd_ok("Proto=HTTPS; Host=\"app.example.com:8443\"", "https", "app.example.com", 8443));
    CHECK(fwd_ok("host=\"[2001:db8::1]:443\"", NULL, "[2001:db8::1]", 443));
    CHECK(fwd_ok("for=\"[2001:db8:cafe::17]:4711\"", NULL, NULL, 0));
    CHECK(fwd_ok("", NULL, NULL, 0));
    /* The nearest proxy's element (last) wins; earlier ones are the client's. */
    CHECK(fwd_ok("proto=http;host=evil.example, proto=https;host=app.example.com", "https",
                 "app.example.com", 0));
    CHECK(fwd_ok("proto=https;host=evil.example, for=192.0.2.1", NULL, NULL, 0));
    /* A quoted comma does not start an element. */
    CHECK(fwd_ok("for=\"a,b\";proto=https", "https", NULL, 0));
    CHECK(fwd_ok("proto=http, host=\"x\\\"y\";proto=https", NULL, NULL, 0) == 0);
    CHECK(fwd_ok("proto=http,,proto=https", "https", NULL, 0));
    CHECK(fwd_bad("proto=https;proto=http"));
    CHECK(fwd_bad("host=a;host=b"));
    CHECK(fwd_bad("proto=ftp"));
    CHECK(fwd_bad("proto=https;host=\"evil.example/x\""));
    CHECK(fwd_bad("proto=https;host=\"a b\""));
    CHECK(fwd_bad("proto=\"https"));
    CHECK(fwd_bad("proto"));
    CHECK(fwd_bad("proto="));
    CHECK(fwd_bad("=https"));
    CHECK(fwd_bad("proto=https x"));
    CHECK(fwd_bad("host=\"a\r\nb\""));
    CHECK(fwd_bad("host=\"a\\"));
    CHECK(fwd_bad("proto=https;host=evil.example:0"));
    CHECK(fwd_bad(NULL));
    CHECK(fwd_bad(big));

    apr_pool_destroy(p);
    apr_terminate();
    JT_DONE();
}
