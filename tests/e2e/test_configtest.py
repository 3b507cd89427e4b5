"""Misconfiguration is caught at configtest, with a message naming the directive."""
import re

import pytest


def test_standard_config_is_valid(env):
    r = env.httpd.configtest(env.standard_config())
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("directive,snippet", [
    ("JITProvHeaderEncoding", "<Location /bad>\n JITProvHeaderEncoding rot13\n</Location>"),
    ("JITProvUnauthAction", "<Location /bad>\n JITProvUnauthAction maybe\n</Location>"),
    ("JITProvHeader", "<Location /bad>\n JITProvHeader \"X Bad\" claim:email\n</Location>"),
    ("JITProvHeader", "<Location /bad>\n JITProvHeader X-Ok nosuchsource:email\n</Location>"),
    ("JITProvHTTPTimeout", "JITProvHTTPTimeout -1"),
    ("JITProvSCIMBearerToken", "JITProvSCIMBearerToken too-short"),
    ("JITProvSCIMBearerToken", "JITProvSCIMBearerToken env:JITPROV_NO_SUCH_VARIABLE"),
    ("JITProvClientSecret", "JITProvClientSecret file:/nonexistent/secret"),
    ("JITProvCAFile", "JITProvCAFile /nonexistent/ca.pem"),
    ("JITProvCAFile", "JITProvCAFile /etc/passwd"),
    ("JITProvSessionCache", "JITProvSessionCache nosuchcache:foo"),
    ("JITProvRevocationFile", "JITProvRevocationFile /tmp/jitprov-rev 10"),
    ("JITProvRevocationFile", "JITProvRevocationFile /tmp/jitprov-rev lots"),
    ("JITProvRevocationFile",
     "<VirtualHost 127.0.0.1:1>\n JITProvRevocationFile /tmp/jitprov-rev\n</VirtualHost>"),
    ("JITProvAccountTable", "JITProvAccountTable \"users; DROP TABLE x\""),
    ("JITProvLoginSync", "JITProvLoginSync off"),
    ("JITProvAccountColumn", "JITProvAccountColumn nosuchrole login"),
    ("JITProvAccountColumn", "JITProvAccountColumn username \"login name\""),
    ("JITProvMapClaim", "JITProvMapClaim email \"e-mail\""),
    ("JITProvNewAccountStatus", "JITProvNewAccountStatus disabled"),
    ("JITProvRequireClaim", "JITProvRequireClaim email ([unclosed"),
    ("JITProvCryptoPassphrase", "JITProvCryptoPassphrase short"),
    ("JITProvRedirectURI", "JITProvRedirectURI https://app.example/cb?x=1"),
    ("JITProvLogoutURI", "JITProvLogoutURI //evil.example/"),
    ("JITProvFrontChannelLogoutURI", "JITProvFrontChannelLogoutURI frontchannel"),
    ("JITProvFrontChannelLogoutURI", "JITProvFrontChannelLogoutURI /callback"),
    ("JITProvCookie", "JITProvCookie \"bad;name\""),
    ("JITProvTokenEndpointAuth", "JITProvTokenEndpointAuth client_secret_jwt"),
    ("JITProvRemoteUser", "<Location /bad>\n JITProvRemoteUser account:\"a b\"\n</Location>"),
    ("JITProvScope", "JITProvScope \"email profile\""),
    ("JITProvScope", "JITProvScope \"openidx email\""),
    ("JITProvScope", "JITProvScope OpenID"),
    ("Require jitprov-group", "<Location /bad>\n AuthType jitprov\n Require jitprov-group\n</Location>"),
    ("Require jitprov-group", "<Location /bad>\n AuthType jitprov\n Require jitprov-group \"\"\n</Location>"),
    ("Require jitprov-claim", "<Location /bad>\n AuthType jitprov\n Require jitprov-claim\n</Location>"),
    ("Require jitprov-claim", "<Location /bad>\n AuthType jitprov\n Require jitprov-claim :x\n</Location>"),
    ("JITProvSessionInactivityTimeout", "JITProvSessionInactivityTimeout 59"),
    ("JITProvSessionInactivityTimeout", "JITProvSessionInactivityTimeout 1h"),
    ("JITProvSessionMaxDuration", "JITProvSessionMaxDuration 59"),
    ("JITProvSessionMaxDuration", "<Location /bad>\n JITProvSessionMaxDuration 600\n</Location>"),
    ("JITProvLogoutURI", "JITProvLogoutURI logout"),
    ("JITProvLogoutURI", "JITProvLogoutURI /logout?x=1"),
    ("JITProvLogoutURI", "JITProvLogoutURI /callback"),
    ("JITProvLogoutURI", "<Location /bad>\n JITProvLogoutURI /lo\n</Location>"),
    ("JITProvCryptoPassphrase", "JITProvCryptoPassphrase env:JITPROV_NO_SUCH_VARIABLE"),
])
def test_bad_directive_named(env, directive, snippet):
    text = env.standard_config(locations_extra=snippet)
    r = env.httpd.configtest(text)
    assert r.returncode != 0, f"configtest accepted: {snippet}"
    assert directive in r.stderr + r.stdout, r.stderr


def test_bad_argument_is_a_syntax_error_a_conflict_is_jitprov0002(env):
    """docs/operations.md (step 6): a bad argument is httpd's syntax error naming
    the file, line and directive, with no module message id; a missing or
    conflicting directive is logged as JITPROV0002 naming it."""
    r = env.httpd.configtest(env.standard_config(locations_extra="JITProvCryptoPassphrase short"))
    out = r.stderr + r.stdout
    assert r.returncode != 0
    assert re.search(r"Syntax error on line \d+ of \S+configtest\.conf:", out), out
    assert "JITProvCryptoPassphrase" in out and "JITPROV" not in out, out
    r = env.httpd.configtest(env.standard_config(locations_extra="JITProvLogoutURI /callback"))
    out = r.stderr + r.stdout
    assert r.returncode != 0
    assert "JITPROV0002" in out and "JITProvLogoutURI" in out and "Syntax error" not in out, out


def test_bad_regex_in_require(env):
    text = env.standard_config(locations_extra=(
        "<Location /bad>\n AuthType jitprov\n Require jitprov-claim email~([unclosed\n"
        "</Location>"))
    r = env.httpd.configtest(text)
    assert r.returncode != 0


@pytest.mark.parametrize("max_duration,ok", [(2591000, True), (2592000, False),
                                             (90 * 86400, False)])
def test_memcache_refuses_lifetimes_it_would_drop(env, max_duration, ok):
    """memcached reads a lifetime over 30 days as a date and drops the item at
    once: the markers that end sessions (JITProvSessionMaxDuration +
    JITProvClockSkew) would vanish, a logout would hold on one node only."""
    text = env.standard_config(server_extra=(
        "JITProvSessionCache memcache:127.0.0.1:11211\n"
        f"JITProvSessionMaxDuration {max_duration}"))
    r = env.httpd.configtest(text)
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0, "configtest accepted a lifetime memcached drops"
        assert "memcached keeps an item at most 30 days" in r.stderr + r.stdout, r.stderr
        assert "JITProvSessionMaxDuration" in r.stderr + r.stdout


def test_a_list_of_cache_servers_is_warned_about(env):
    """A server of the list that restarts empty loses its share of the markers
    unnoticed (docs/operations.md): configtest passes with a warning naming it."""
    text = env.standard_config(server_extra=(
        "JITProvSessionCache redis:127.0.0.1:6379,127.0.0.1:6380"))
    r = env.httpd.configtest(text)
    assert r.returncode == 0, r.stderr
    assert "JITPROV0082" in r.stderr + r.stdout and "give one address" in r.stderr + r.stdout
    r = env.httpd.configtest(env.standard_config(server_extra=(
        "JITProvSessionCache redis:127.0.0.1:6379")))
    assert r.returncode == 0 and "JITPROV0082" not in r.stderr + r.stdout


def test_scope_without_openid_is_named_with_the_reason(env):
    r = env.httpd.configtest(env.standard_config(locations_extra='JITProvScope "email profile"'))
    assert r.returncode != 0
    assert "lacks the openid scope" in r.stderr + r.stdout, r.stderr


@pytest.mark.parametrize("scope", ["openid", "email  openid profile", "profile openid"])
def test_scope_with_openid_anywhere_is_valid(env, scope):
    r = env.httpd.configtest(env.standard_config(locations_extra=f'JITProvScope "{scope}"'))
    assert r.returncode == 0, r.stderr


def test_trusted_audience_is_a_server_directive(env):
    ok = env.httpd.configtest(env.standard_config(
        locations_extra="JITProvTrustedAudience https://api.example urn:x"))
    assert ok.returncode == 0, ok.stderr
    bad = env.httpd.configtest(env.standard_config(
        locations_extra="<Location /x>\n JITProvTrustedAudience https://api.example\n</Location>"))
    assert bad.returncode != 0 and "JITProvTrustedAudience" in bad.stderr + bad.stdout


@pytest.mark.parametrize("require", ["Require jitprov-group admins",
                                     "Require jitprov-claim email_verified:true",
                                     "Require jitprov-claim email~@example\\.com$"])
def test_require_first_in_a_virtual_host_that_inherits_everything(env, require):
    """httpd makes a virtual host's config of a module at that module's first
    directive there; a Require line is mod_authz_core's. A virtual host whose
    only mod_jitprov lines are in a <Location> starting with Require crashed
    configtest (and every start) with a segfault."""
    vhost = (f"<VirtualHost 127.0.0.1:{env.httpd.port}>\n ServerName other.test\n"
             f" <Location /admin>\n  {require}\n  AuthType jitprov\n </Location>\n"
             "</VirtualHost>")
    r = env.httpd.configtest(env.standard_config(locations_extra=vhost))
    assert r.returncode == 0, f"rc={r.returncode} {r.stderr}"
