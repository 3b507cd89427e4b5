#!/usr/bin/env node
// A local OpenID Provider for mod_jitprov's end-to-end tests and demo.
// NOT for production: fixed test users, passwords derived from user names,
// consent granted automatically, everything in memory.
//
//   node idp.js CONFIG.json          serve; prints one "ready <issuer>" line
//   node idp.js genkey ALG KID       print a private JWK (RS256 PS256 ES256
//                                    ES384 ES512 EdDSA) for the config's JWKS
//
// CONFIG.json (written by tests/e2e/jitprov_harness.py or scripts/demo.sh):
//   { "port": 9090, "host": "127.0.0.1", "issuer": "http://127.0.0.1:9090",
//     "jwks_file": "/path/jwks.json",          // {"keys": [private JWKs with kid]}
//     "clients": [ { "client_id": ..., "client_secret": ..., "redirect_uris": [...],
//                    "post_logout_redirect_uris": [...], "backchannel_logout_uri": ...,
//                    "token_endpoint_auth_method": ..., "id_token_signed_response_alg": ...,
//                    "frontchannel_logout_uri": ..., "frontchannel_logout_session_required": true,
//                    "userinfo_signed_response_alg": ..., "test_userinfo_only_claims": [...],
//                    "test_shuffle_groups": true } ],
//     "users": { "name": { claims... } },       // optional: added to / replacing the defaults
//     "id_token_ttl": 3600, "session_ttl": 86400, "pkce_required": true,
//     "refresh_token_clients": [client ids], "access_token_ttl_by_client": {id: seconds},
//     "discovery_overrides": { "token_endpoint": ... },
//     "tls": { "key_file": ..., "cert_file": ... } }   // serve https (issuer https://...)
// Only issuer, port and jwks_file/clients matter for most uses. /_test/stats
// also counts the connections opened to the IdP ("_connections") and, for
// the endpoints a relying party calls itself, the distinct connections their
// requests came on ("_conns /token").

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';

const SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'];
const CLAIMS = {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    // A namespaced custom claim (a URL, as Auth0 requires of custom claims).
    profile: ['name', 'preferred_username', 'given_name', 'family_name', 'department',
        'https://example.com/roles'],
    groups: ['groups'],
};

// Test users. The password of user NAME is "pass-NAME". sub values are opaque and
// stable across IdP restarts so that accounts keyed on (iss, sub) survive them.
export const DEFAULT_USERS = {
    alice: {
        sub: 'u-3f9c2a71-0b4e-4d8a-9b1e-a11ce0000001',
        email: 'alice@example.com',
        email_verified: true,
        name: 'Alice Anderson',
        given_name: 'Alice',
        family_name: 'Anderson',
        preferred_username: 'alice',
        groups: ['staff', 'admins'],
        department: 'engineering',
    },
    bob: {
        sub: 'u-5d2e8b40-7c1f-4a3b-8e2d-b0b000000002',
        email: 'bob@example.com',
        email_verified: true,
        name: 'Bob Brown',
        given_name: 'Bob',
        family_name: 'Brown',
        preferred_username: 'bob',
        groups: ['staff'],
        department: 'sales',
    },
    carol: {
        sub: 'u-9a7b6c5d-4e3f-4a1b-9c8d-ca401000003',
        email: 'carol@example.com',
        email_verified: false,
        name: 'Carol Clark',
        given_name: 'Carol',
        family_name: 'Clark',
        preferred_username: 'carol',
        groups: ['staff', 'finance'],
        department: 'finance',
    },
    dave: {
        sub: 'u-1c2d3e4f-5a6b-4c7d-8e9f-da4e00000004',
        email: 'dave@partner.example.org',
        email_verified: true,
        name: 'Zoë Ünïcode',
        given_name: 'Zoë',
        family_name: 'Ünïcode',
        preferred_username: 'dave',
        groups: ['contractors'],
        department: 'r&d',
    },
    // erin has no email and no groups at all: for gates and missing-claim paths.
    erin: {
        sub: 'u-e7e1e2e3-e4e5-4e6e-8e7e-e41000000005',
        name: 'Erin Empty',
        preferred_username: 'erin',
    },
};

function die(msg) {
    process.stderr.write(`idp: ${msg}\n`);
    process.exit(2);
}

function genkey(alg, kid) {
    let pair;
    switch (alg) {
    case 'RS256':
    case 'RS384':
    case 'RS512':
    case 'PS256':
    case 'PS384':
    case 'PS512':
        pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
        break;
    case 'ES256':
        pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
        break;
    case 'ES384':
        pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
        break;
    case 'ES512':
        pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' });
        break;
    case 'EdDSA':
        pair = crypto.generateKeyPairSync('ed25519');
        break;
    default:
        die(`genkey: unsupported alg ${alg}`);
    }
    const jwk = pair.privateKey.export({ format: 'jwk' });
    return { ...jwk, kid, alg, use: 'sig' };
}

function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({
        '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    }[c]));
}

function page(title, body) {
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label{display:block;margin:.5em 0}
input{width:100%}.error{color:#b00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function readBody(req, limit = 16384) {
    return new Promise((resolve, reject) => {
        let size = 0;
        const chunks = [];
        req.on('data', (c) => {
            size += c.length;
            if (size > limit) {
                reject(new Error('body too large'));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

async function serve(configPath) {
    // The in-memory adapter is the point here: keep its warning out of test logs.
    const warn = console.warn.bind(console);
    console.warn = (...a) => {
        if (!String(a[0]).includes('in-memory adapter')) warn(...a);
    };
    const { default: Provider } = await import('oidc-provider');
    const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    const host = cfg.host || '127.0.0.1';
    const port = Number(cfg.port);
    if (!port) die('config: port missing');
    const issuer = cfg.issuer || `http://${host}:${port}`;
    const jwks = cfg.jwks || JSON.parse(fs.readFileSync(cfg.jwks_file, 'utf8'));
    if (!jwks.keys || !jwks.keys.length) die('config: no signing keys');

    const users = { ...DEFAULT_USERS, ...(cfg.users || {}) };
    const bySub = new Map(Object.entries(users).map(([login, u]) => [u.sub, { login, ...u }]));

    // OIDC Front-Channel Logout 1.0, which oidc-provider 8 does not implement:
    // a client's frontchannel_logout_uri is kept here (not handed to
    // oidc-provider) and loaded in an iframe of the logout page with iss and
    // sid; frontchannel_logout_session_required puts sid into its ID tokens.
    const frontchannel = new Map();
    const sidRequired = new Set();
    // Test-only client fields, also kept out of oidc-provider's hands:
    // test_userinfo_only_claims leaves those claims out of ID tokens (as
    // LemonLDAP::NG does for a new RP: they come from userinfo only);
    // test_shuffle_groups returns groups in a random order every time.
    const userinfoOnly = new Map();
    const shuffleGroups = new Set();
    const clients = (cfg.clients || []).map((c) => {
        const out = {
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
            ...c,
        };
        for (const k of Object.keys(out)) if (out[k] === null) delete out[k];
        if (out.frontchannel_logout_uri) frontchannel.set(out.client_id, out.frontchannel_logout_uri);
        if (out.frontchannel_logout_session_required) sidRequired.add(out.client_id);
        if (out.test_userinfo_only_claims) userinfoOnly.set(out.client_id, out.test_userinfo_only_claims);
        if (out.test_shuffle_groups) shuffleGroups.add(out.client_id);
        for (const k of ['frontchannel_logout_uri', 'frontchannel_logout_session_required',
            'test_userinfo_only_claims', 'test_shuffle_groups']) delete out[k];
        return out;
    });

    // Clients listed here get a refresh token without asking for
    // offline_access (which oidc-provider only grants with prompt=consent),
    // and may have short-lived access tokens: for the token refresh tests.
    const refreshClients = new Set(cfg.refresh_token_clients || []);
    const atTtlByClient = cfg.access_token_ttl_by_client || {};

    const algs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
    const stats = {};
    const pkceRequired = cfg.pkce_required !== false;

    const provider = new Provider(issuer, {
        clients,
        jwks,
        scopes: SCOPES,
        issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token')
            && (code.scopes.has('offline_access') || refreshClients.has(client.clientId)),
        claims: CLAIMS,
        // Put the scope-requested claims into the ID token itself, not only into
        // userinfo: the module may run with JITProvUserInfo Off.
        conformIdTokenClaims: false,
        cookies: {
            keys: cfg.cookie_keys || [crypto.randomBytes(32).toString('hex')],
        },
        pkce: { methods: ['S256'], required: () => pkceRequired },
        ttl: {
            IdToken: cfg.id_token_ttl || 3600,
            AccessToken: (ctx, token, client) => (client && atTtlByClient[client.clientId])
                || cfg.access_token_ttl || 3600,
            AuthorizationCode: 120,
            Interaction: 3600,
            Session: cfg.session_ttl || 86400,
            Grant: 86400,
            RefreshToken: 86400,
        },
        enabledJWA: {
            // HS256: ID tokens MACed with the client secret (OIDC Core 10.1).
            idTokenSigningAlgValues: [...algs, 'HS256'],
            userinfoSigningAlgValues: algs,
            clientAuthSigningAlgValues: ['HS256', 'RS256', 'PS256', 'ES256', 'EdDSA'],
        },
        features: {
            devInteractions: { enabled: false },
            introspection: { enabled: false },
            revocation: { enabled: false },
            userinfo: { enabled: true },
            // Signed userinfo (application/jwt) for clients registered with
            // userinfo_signed_response_alg; the others keep plain JSON.
            jwtUserinfo: { enabled: true },
            backchannelLogout: { enabled: true },
            rpInitiatedLogout: {
                enabled: true,
                // The confirmation page submits itself ("logout=yes") so a browser
                // needs no click; a script posts the same fields (see
                // tests/e2e/jitprov_harness.py follow_idp_logout).
                // With front-channel clients in the session, the form is
                // submitted once their iframes have loaded (or after 5 s).
                logoutSource: async (ctx, form) => {
                    const withYes = form.replace('</form>',
                        '<input type="hidden" name="logout" value="yes"/></form>');
                    const { session } = ctx.oidc;
                    const frames = Object.keys(session.authorizations || {})
                        .filter((id) => frontchannel.has(id)).map((id) => {
                            const u = new URL(frontchannel.get(id));
                            u.searchParams.set('iss', issuer);
                            const sid = session.sidFor(id);
                            if (sid) u.searchParams.set('sid', sid);
                            return `<iframe class="fcl" src="${escapeHtml(u.href)}" onload="loaded()"></iframe>`;
                        });
                    ctx.type = 'html';
                    ctx.body = page('Signing out', `${withYes}
<p>Signing you out&hellip;</p><noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>
<script>let left = ${frames.length}; function loaded() { if (--left === 0) document.forms[0].submit(); }</script>
${frames.join('\n')}
<script>if (!left) document.forms[0].submit(); else setTimeout(() => document.forms[0].submit(), 5000);</script>`);
                },
                postLogoutSuccessSource: async (ctx) => {
                    ctx.type = 'html';
                    ctx.body = page('Signed out', '<p id="signed-out">You are signed out.</p>');
                },
            },
        },
        findAccount: async (ctx, sub) => {
            const u = bySub.get(sub);
            if (!u) return undefined;
            const clientId = ctx.oidc?.client?.clientId;
            return {
                accountId: sub,
                claims: async (use) => {
                    const { login, ...claims } = u;
                    if (use === 'id_token') {
                        for (const k of userinfoOnly.get(clientId) || []) delete claims[k];
                    }
                    if (shuffleGroups.has(clientId) && Array.isArray(claims.groups)) {
                        const g = [...claims.groups];
                        for (let i = g.length - 1; i > 0; i -= 1) {
                            const j = crypto.randomInt(i + 1);
                            [g[i], g[j]] = [g[j], g[i]];
                        }
                        claims.groups = g;
                    }
                    return claims;
                },
            };
        },
        // Consent is automatic: every requested scope and claim is granted.
        loadExistingGrant: async (ctx) => {
            const { Grant } = ctx.oidc.provider;
            const accountId = ctx.oidc.account.accountId;
            const clientId = ctx.oidc.client.clientId;
            const grantId = ctx.oidc.result?.consent?.grantId
                || ctx.oidc.session.grantIdFor(clientId);
            let grant = grantId ? await Grant.find(grantId) : undefined;
            if (!grant || grant.accountId !== accountId) grant = new Grant({ accountId, clientId });
            const scopes = [...ctx.oidc.requestParamScopes].filter((s) => SCOPES.includes(s));
            if (scopes.length) grant.addOIDCScope(scopes.join(' '));
            const claims = [...ctx.oidc.requestParamClaims];
            if (claims.length) grant.addOIDCClaims(claims);
            await grant.save();
            return grant;
        },
        renderError: async (ctx, out) => {
            ctx.type = 'html';
            ctx.body = page('IdP error', Object.entries(out)
                .map(([k, v]) => `<p><b>${escapeHtml(k)}</b>: ${escapeHtml(v)}</p>`).join(''));
        },
    });
    const includeSid = provider.Client.prototype.includeSid;
    provider.Client.prototype.includeSid = function fclIncludeSid() {
        return sidRequired.has(this.clientId) || includeSid.call(this);
    };
    provider.on('server_error', (ctx, err) => process.stderr.write(`idp: server_error ${err.stack}\n`));
    // Why a token request failed (invalid_client alone says little).
    provider.on('grant.error', (ctx, err) => {
        process.stderr.write(`idp: grant.error ${err.message}: ${err.error_description || ''} ${err.error_detail || ''}\n`);
    });
    provider.on('backchannel.error', (ctx, err, client) => {
        process.stderr.write(`idp: backchannel logout to ${client.clientId} failed: ${err.message}\n`);
    });
    provider.on('backchannel.success', (ctx, client) => {
        stats['backchannel.success'] = (stats['backchannel.success'] || 0) + 1;
        process.stdout.write(`idp: backchannel logout to ${client.clientId} ok\n`);
    });

    const loginForm = (uid, client, error, login) => page('Sign in', `
<p>to <b>${escapeHtml(client)}</b></p>
${error ? `<p class="error" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label>User <input name="login" id="login" value="${escapeHtml(login || '')}" autofocus></label>
<label>Password <input name="password" id="password" type="password"></label>
<button type="submit" id="submit">Sign in</button>
</form>`);

    const send = (res, status, type, body) => {
        res.statusCode = status;
        res.setHeader('Content-Type', type);
        res.setHeader('Cache-Control', 'no-store');
        res.end(body);
    };

    async function interaction(req, res, url) {
        const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
        if (!m) return send(res, 404, 'text/plain', 'not found\n');
        const details = await provider.interactionDetails(req, res);
        if (details.uid !== m[1]) return send(res, 400, 'text/plain', 'interaction mismatch\n');
        const clientId = details.params.client_id;
        if (details.prompt.name !== 'login') {
            // Any other prompt (consent) is answered "yes" on the spot.
            const result = {};
            if (details.prompt.name === 'consent') {
                const grant = details.grantId
                    ? await provider.Grant.find(details.grantId)
                    : new provider.Grant({ accountId: details.session.accountId, clientId });
                if (details.prompt.details.missingOIDCScope) {
                    grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
                }
                if (details.prompt.details.missingOIDCClaims) {
                    grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
                }
                result.consent = { grantId: await grant.save() };
            }
            return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
        }
        if (req.method === 'GET' && !m[2]) {
            return send(res, 200, 'text/html; charset=utf-8', loginForm(details.uid, clientId));
        }
        if (req.method !== 'POST' || !m[2]) return send(res, 405, 'text/plain', 'method not allowed\n');
        const form = new URLSearchParams(await readBody(req));
        const login = form.get('login') || '';
        const user = Object.prototype.hasOwnProperty.call(users, login) ? users[login] : undefined;
        if (!user || form.get('password') !== `pass-${login}`) {
            return send(res, 200, 'text/html; charset=utf-8',
                loginForm(details.uid, clientId, 'Unknown user or wrong password', login));
        }
        stats.logins = (stats.logins || 0) + 1;
        return provider.interactionFinished(req, res, {
            login: { accountId: user.sub, amr: ['pwd'], acr: 'urn:jitprov:test:pwd' },
        }, { mergeWithLastSubmission: false });
    }

    // Test-only: fields replaced in the discovery document at run time (PUT
    // /_test/discovery with a JSON object; {} clears), so a test can point, say,
    // token_endpoint at a misbehaving server while the issuer stays right.
    let discoveryOverrides = cfg.discovery_overrides || {};
    const overrideDiscovery = (res) => {
        const chunks = [];
        const write = res.write.bind(res);
        const end = res.end.bind(res);
        res.write = (chunk) => {
            chunks.push(Buffer.from(chunk));
            return true;
        };
        res.end = (chunk, ...rest) => {
            if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
            let body = Buffer.concat(chunks);
            try {
                body = Buffer.from(JSON.stringify({ ...JSON.parse(body), ...discoveryOverrides }));
                if (!res.headersSent) res.setHeader('Content-Length', body.length);
            } catch (e) { /* not JSON (an error page): pass through */ }
            res.write = write;
            return end(body, ...rest.filter((a) => typeof a === 'function'));
        };
    };

    const handler = provider.callback();
    // The endpoints a relying party calls itself (not through the browser).
    const connsByPath = new Map(['/token', '/me', '/jwks', '/.well-known/openid-configuration']
        .map((path) => [path, new Set()]));
    const onRequest = async (req, res) => {
        const url = new URL(req.url, issuer);
        stats[url.pathname] = (stats[url.pathname] || 0) + 1;
        if (connsByPath.has(url.pathname)) {
            connsByPath.get(url.pathname).add(req.socket.jpConn);
            stats[`_conns ${url.pathname}`] = connsByPath.get(url.pathname).size;
        }
        try {
            if (url.pathname === '/_test/stats') {
                return send(res, 200, 'application/json', JSON.stringify(stats));
            }
            if (url.pathname === '/_test/discovery' && req.method === 'PUT') {
                discoveryOverrides = JSON.parse(await readBody(req));
                return send(res, 200, 'application/json', JSON.stringify(discoveryOverrides));
            }
            if (url.pathname === '/.well-known/openid-configuration'
                && Object.keys(discoveryOverrides).length) {
                overrideDiscovery(res);
            }
            if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
            return handler(req, res);
        } catch (err) {
            process.stderr.write(`idp: ${req.method} ${url.pathname}: ${err.stack}\n`);
            if (!res.headersSent) send(res, 400, 'text/plain', `error: ${err.message}\n`);
            else res.end();
        }
    };
    const server = cfg.tls
        ? https.createServer({ key: fs.readFileSync(cfg.tls.key_file),
                               cert: fs.readFileSync(cfg.tls.cert_file) }, onRequest)
        : http.createServer(onRequest);
    // How many connections clients opened: a client that reuses its
    // connections (and TLS sessions) opens few.
    server.on(cfg.tls ? 'secureConnection' : 'connection', (socket) => {
        stats._connections = (stats._connections || 0) + 1;
        socket.jpConn = stats._connections;
    });
    server.listen(port, host, () => {
        process.stdout.write(`ready ${issuer}\n`);
    });
    // Exit at once: open keep-alive connections would hold server.close() up.
    const stop = () => process.exit(0);
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

const args = process.argv.slice(2);
if (args[0] === 'genkey') {
    if (args.length !== 3) die('usage: idp.js genkey ALG KID');
    process.stdout.write(`${JSON.stringify(genkey(args[1], args[2]))}\n`);
} else if (args.length === 1) {
    serve(args[0]).catch((err) => die(err.stack));
} else {
    die(`usage: ${fileURLToPath(import.meta.url)} CONFIG.json | genkey ALG KID`);
}
