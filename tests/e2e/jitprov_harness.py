"""The e2e harness: a real OpenID Provider (tests/idp, node), a real httpd with
the built module, a CGI backend and a raw-header proxy backend, all on loopback
ports below 32768 under one temporary directory.

Used by conftest.py (pytest fixtures) and by scripts/demo.sh (python3 -m style
entry point at the bottom).
"""
import base64
import hashlib
import http.server
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IDP_DIR = os.path.join(ROOT, "tests", "idp")
BACKEND_CGI = os.path.join(ROOT, "tests", "e2e", "backend", "echo.py")
# The demo's HTML pages (/demo/me, /demo/admin); the tests parse echo.py's JSON.
DEMO_CGI = os.path.join(ROOT, "tests", "e2e", "backend", "demo.py")
APACHE = os.environ.get("JITPROV_APACHE", "/usr/sbin/apache2")
APACHE_MODULES = os.environ.get("JITPROV_APACHE_MODULES", "/usr/lib/apache2/modules")
NODE = shutil.which("node") or "/usr/bin/node"
JITPROV_ADMIN = os.environ.get("JITPROV_ADMIN", os.path.join(ROOT, "build", "jitprov-admin"))

CLIENT_ID = "jitprov-e2e"
USERS = ("alice", "bob", "carol", "dave", "erin")

# Claims of the IdP's test users (tests/idp/idp.js DEFAULT_USERS), for assertions.
USER_CLAIMS = {
    "alice": {"sub": "u-3f9c2a71-0b4e-4d8a-9b1e-a11ce0000001", "email": "alice@example.com",
              "email_verified": True, "name": "Alice Anderson", "preferred_username": "alice",
              "groups": ["staff", "admins"], "department": "engineering"},
    "bob": {"sub": "u-5d2e8b40-7c1f-4a3b-8e2d-b0b000000002", "email": "bob@example.com",
            "email_verified": True, "name": "Bob Brown", "preferred_username": "bob",
            "groups": ["staff"], "department": "sales"},
    "carol": {"sub": "u-9a7b6c5d-4e3f-4a1b-9c8d-ca401000003", "email": "carol@example.com",
              "email_verified": False, "name": "Carol Clark", "preferred_username": "carol",
              "groups": ["staff", "finance"], "department": "finance"},
    "dave": {"sub": "u-1c2d3e4f-5a6b-4c7d-8e9f-da4e00000004",
             "email": "dave@partner.example.org", "email_verified": True,
             "name": "Zo\u00eb \u00dcn\u00efcode", "preferred_username": "dave",
             "groups": ["contractors"], "department": "r&d"},
    "erin": {"sub": "u-e7e1e2e3-e4e5-4e6e-8e7e-e41000000005", "name": "Erin Empty",
             "preferred_username": "erin"},
}
# Added by the harness (not one of the IdP's built-in users): a user whose groups
# claim is large (~6 KB: bigger than a small shmcb object, well below the 64 KiB token cap).
EXTRA_USERS = {
    "grace": {"sub": "u-96ace000-0000-4000-8000-000000000007", "email": "grace@example.com",
              "email_verified": True, "name": "Grace Groups", "preferred_username": "grace",
              "groups": [f"grp-{i:04d}-cn=team,ou=groups,dc=example" for i in range(150)],
              "department": "everything"},
    # An ID token too large for a cookie of its own (about 4 KB), small
    # enough to be kept for id_token_hint (8 KB).
    "gwen": {"sub": "u-96ace000-0000-4000-8000-000000000008", "email": "gwen@example.com",
             "email_verified": True, "name": "Gwen Groups", "preferred_username": "gwen",
             "groups": [f"grp-{i:04d}-cn=team,ou=groups,dc=example" for i in range(60)],
             "department": "many"},
    # A custom claim namespaced by a URL, as Auth0 requires them.
    "nora": {"sub": "u-0e0a0000-0000-4000-8000-0000000e0a01", "email": "nora@example.com",
             "email_verified": True, "name": "Nora Namespaced", "preferred_username": "nora",
             "groups": ["staff"], "department": "sales",
             "https://example.com/roles": ["editor", "viewer"]},
}

# Users for the provisioning tests (tests/e2e/test_prov_*.py). Each test uses its
# own so that tests sharing one database do not see each other's rows.
PROV_USERS = {
    # Concurrent first logins of one new user.
    "frank": {"sub": "u-f4a2c000-0000-4000-8000-00000000f001", "email": "frank@example.com",
              "email_verified": True, "name": "Frank Fifty", "preferred_username": "frank",
              "groups": ["staff"], "department": "ops"},
    # Claim values that try SQL injection: stored verbatim, nothing executed.
    "mallory": {"sub": "u-3a11-0000-4000-8000-'; DELETE FROM jitprov_audit;--",
                "email": "mallory@example.com'); DROP TABLE jitprov_accounts;--",
                "email_verified": True,
                "name": "x'); DROP TABLE jitprov_accounts;--",
                "preferred_username": "mallory' OR '1'='1",
                "groups": ["a'),('b", "\"; DROP TABLE jitprov_audit; --", "$1", "%s", "?"],
                "department": "Robert'); DROP TABLE Students;--"},
    # Claims the tests change at the IdP between two logins.
    "henry": {"sub": "u-4e2b1000-0000-4000-8000-0000000e0001", "email": "henry@example.com",
              "email_verified": True, "name": "Henry Before", "preferred_username": "henry",
              "groups": ["staff"], "department": "before"},
    "ivan": {"sub": "u-1a2b3c00-0000-4000-8000-0000000a0001", "email": "ivan@example.com",
             "email_verified": True, "name": "Ivan Idle", "preferred_username": "ivan",
             "groups": ["staff"], "department": "ops"},
    "judy": {"sub": "u-00d0d000-0000-4000-8000-0000000d0001", "email": "judy@example.com",
             "email_verified": True, "name": "Judy Judge", "preferred_username": "judy",
             "groups": ["staff"], "department": "legal"},
    "pat": {"sub": "u-9a7c0000-0000-4000-8000-0000000f0001", "email": "pat@example.com",
            "email_verified": True, "name": "Pat Pending", "preferred_username": "pat",
            "groups": ["staff"], "department": "sales"},
    # An email but no email_verified claim at all: no email linking.
    "una": {"sub": "u-0a0a0000-0000-4000-8000-0000000a0a01", "email": "una@example.com",
            "name": "Una Unsaid", "preferred_username": "una", "groups": ["staff"],
            "department": "sales"},
    # email_verified is the string "true", not the JSON boolean: no email linking.
    "trudy": {"sub": "u-7d0d0000-0000-4000-8000-0000000d0007", "email": "trudy@example.com",
              "email_verified": "true", "name": "Trudy Stringly", "preferred_username": "trudy",
              "groups": ["staff"], "department": "sales"},
}
EXTRA_USERS.update(PROV_USERS)

# Many distinct users, for "a thousand users log in at once".
BULK_COUNT = 1000


def bulk_user(i):
    return f"bulk{i:04d}"


EXTRA_USERS.update({
    bulk_user(i): {"sub": f"u-b0000000-0000-4000-8000-{i:012d}",
                   "email": f"bulk{i:04d}@example.com", "email_verified": True,
                   "name": f"Bulk User {i}", "preferred_username": bulk_user(i),
                   "groups": ["bulk"], "department": "load"}
    for i in range(BULK_COUNT)})
USER_CLAIMS.update(EXTRA_USERS)

_used_ports = set()


def free_port():
    """A free TCP port on 127.0.0.1 below 32768 (the kernel hands out the ones
    above to outgoing connections)."""
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rnd.randint(20000, 32000)
        if port in _used_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port below 32768")


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """Base of the tests' fake endpoints: HTTP/1.1 keep-alive, no log lines."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_body(self, status, body, ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer:
    """A threaded server for handler_cls on a free loopback port, serving
    until stop()."""

    def __init__(self, handler_cls):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler_cls)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_port(port, timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_port_free(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            return True
        time.sleep(0.05)
    return False


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def jwt_parts(token):
    """(header, payload) of a JWS, NOT verified: for looking at what the IdP issued."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()[-200000:]
    except OSError as e:
        return f"({path}: {e})"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# --------------------------------------------------------------------- the IdP

def make_tls(d, ip="127.0.0.1", ca_name="jitprov test CA"):
    """A CA of its own and a server certificate for ip signed by it, as a
    real IdP has (RSA 2048): {ca, key, cert} file paths under d."""
    os.makedirs(d, exist_ok=True)
    f = {k: os.path.join(d, n) for k, n in
         (("ca_key", "ca.key"), ("ca", "ca.pem"), ("key", "server.key"), ("csr", "server.csr"),
          ("cert", "server.pem"), ("ext", "server.ext"))}
    with open(f["ext"], "w") as x:
        x.write(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    for cmd in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f["ca_key"],
             "-out", f["ca"], "-days", "3", "-subj", f"/CN={ca_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f["key"], "-out", f["csr"],
             "-subj", f"/CN={ip}"],
            ["x509", "-req", "-in", f["csr"], "-CA", f["ca"], "-CAkey", f["ca_key"],
             "-CAcreateserial", "-out", f["cert"], "-days", "3", "-extfile", f["ext"]]):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True, timeout=60)
    # httpd's children (nobody) read the CA file.
    os.chmod(f["ca"], 0o644)
    return f


class IdP:
    """tests/idp/idp.js in a child process; restart() swaps keys or clients.
    With tls (make_tls's files) it serves https, as real IdPs do; verify is
    what a client of it passes to requests."""

    def __init__(self, workdir, port=None, tls=None):
        self.dir = os.path.join(workdir, "idp")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.verify = tls["ca"] if tls else True
        self.issuer = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.clients = []
        self.users = {}
        self.keys = []
        # More settings for idp.js's config (refresh_token_clients, ...).
        self.extra = {}
        self.proc = None
        self.log_path = os.path.join(self.dir, "idp.log")
        self._gen = 0

    def genkey(self, alg="RS256", kid=None):
        kid = kid or f"{alg.lower()}-{secrets.token_hex(4)}"
        out = subprocess.run([NODE, os.path.join(IDP_DIR, "idp.js"), "genkey", alg, kid],
                             check=True, capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout)

    def set_keys(self, keys):
        self.keys = list(keys)

    def write_config(self):
        self._gen += 1
        jwks_file = os.path.join(self.dir, f"jwks-{self._gen}.json")
        with open(jwks_file, "w") as f:
            json.dump({"keys": self.keys}, f)
        cfg = {"port": self.port, "host": "127.0.0.1", "issuer": self.issuer,
               "jwks_file": jwks_file, "clients": self.clients, "users": self.users,
               **self.extra}
        if self.tls:
            cfg["tls"] = {"key_file": self.tls["key"], "cert_file": self.tls["cert"]}
        path = os.path.join(self.dir, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def start(self):
        if not self.keys:
            self.keys = [self.genkey("RS256")]
        cfg = self.write_config()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([NODE, os.path.join(IDP_DIR, "idp.js"), cfg],
                                     cwd=IDP_DIR, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        if not wait_port(self.port, 30, self.proc):
            self.stop()
            raise RuntimeError("IdP did not start:\n" + tail(self.log_path))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                r = requests.get(self.discovery_url, timeout=2, verify=self.verify)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("IdP discovery not answering:\n" + tail(self.log_path))

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
            wait_port_free(self.port, 10)

    def restart(self, keys=None):
        self.stop()
        if keys is not None:
            self.set_keys(keys)
        self.start()

    def stats(self):
        return requests.get(self.issuer + "/_test/stats", timeout=5, verify=self.verify).json()

    def discovery(self):
        return requests.get(self.discovery_url, timeout=5, verify=self.verify).json()

    def override_discovery(self, **fields):
        """Replace fields of the served discovery document (none: back to normal)."""
        r = requests.put(self.issuer + "/_test/discovery", json=fields, timeout=5,
                         verify=self.verify)
        r.raise_for_status()


# ------------------------------------------------------- the second IdP

LLNG_PSGI = "/usr/share/lemonldap-ng/portal/htdocs/index.psgi"
PLACKUP = os.environ.get("JITPROV_PLACKUP", "/usr/bin/plackup")
LLNG_USERS = ("dwho", "rtyler", "msmith")  # its Demo user database; password = login


class LemonLDAP:
    """LemonLDAP::NG 2.16's portal (Debian package lemonldap-ng) as a second,
    independent OpenID Provider: the PSGI portal under plackup's single-process
    server on loopback, its File configuration, sessions and caches under
    workdir, the Demo user database (dwho, rtyler, msmith; password = login;
    groups timelords, earthlings, users).

    It behaves unlike tests/idp the way a deployed LemonLDAP::NG does: ID tokens
    MACed with HS512 (what its manager gives a new RP) that carry only
    sub/acr/at_hash, so email, name and groups come from userinfo only; groups
    in hash order (random per process); front-channel logout only; userinfo
    optionally signed (application/jwt)."""

    def __init__(self, workdir, port=None):
        self.dir = os.path.join(workdir, "lemonldap")
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.discovery_url = self.issuer + "/.well-known/openid-configuration"
        self.client_id = "jitprov-llng"
        # HS512 wants a key of at least 512 bits.
        self.client_secret = "llng-" + secrets.token_hex(40)
        self.log_path = os.path.join(self.dir, "llng.log")
        self.rp_options = {}
        self.proc = None
        self._cfg = 0

    @staticmethod
    def installed():
        return os.path.exists(LLNG_PSGI) and os.access(PLACKUP, os.X_OK)

    def _keypair(self):
        key = os.path.join(self.dir, "sig.key")
        if not os.path.exists(key):
            subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True,
                           capture_output=True, timeout=60)
        pub = subprocess.run(["openssl", "rsa", "-in", key, "-pubout"], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        with open(key) as f:
            return f.read(), pub

    def write_config(self, redirect_uris, logout_url=None, post_logout_uris=(), **options):
        """The portal's configuration (lmConf-N.json) with one RP, the module.
        options: oidcRPMetaDataOptions* without the prefix, e.g.
        UserInfoSignAlg="RS256"."""
        d = self.dir
        for sub in ("conf", "sessions/lock", "psessions/lock", "cache", "notifications"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "lemonldap-ng.ini"), "w") as f:
            f.write(f"""[all]
logLevel = notice
logger = Lemonldap::NG::Common::Logger::Std
userLogger = Lemonldap::NG::Common::Logger::Std
checkTime = 1
[configuration]
type = File
dirName = {d}/conf
[portal]
staticPrefix = /static
templateDir = /usr/share/lemonldap-ng/portal/templates
languages = en
""")
        private, public = self._keypair()
        rp = {"ClientID": self.client_id, "ClientSecret": self.client_secret,
              "RedirectUris": " ".join(redirect_uris), "IDTokenSignAlg": "HS512",
              "BypassConsent": 1, "ExtraClaims": {"groups": "groups"},
              "PostLogoutRedirectUris": " ".join(post_logout_uris)}
        if logout_url:
            rp.update({"LogoutUrl": logout_url, "LogoutType": "front",
                       "LogoutSessionRequired": 1})
        rp.update(options)
        extra = rp.pop("ExtraClaims")
        self._cfg += 1
        conf = {
            "cfgNum": self._cfg, "cfgVersion": "2.16.1", "cfgAuthor": "jitprov e2e",
            "cfgDate": str(int(time.time())),
            "authentication": "Demo", "userDB": "Same", "passwordDB": "Demo",
            "registerDB": "Null", "whatToTrace": "uid",
            "portal": self.issuer + "/", "domain": "127.0.0.1", "cookieName": "llng",
            "securedCookie": 0, "notification": 0, "loginHistoryEnabled": 0,
            "globalStorage": "Apache::Session::File",
            "globalStorageOptions": {"Directory": d + "/sessions",
                                     "LockDirectory": d + "/sessions/lock"},
            "persistentStorage": "Apache::Session::File",
            "persistentStorageOptions": {"Directory": d + "/psessions",
                                         "LockDirectory": d + "/psessions/lock"},
            "localSessionStorage": "Cache::FileCache",
            "localSessionStorageOptions": {"cache_root": d + "/cache",
                                           "namespace": "llng-sessions",
                                           "default_expires_in": 600},
            "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
            "exportedVars": {}, "groups": {}, "macros": {}, "locationRules": {},
            "exportedHeaders": {},
            "issuerDBOpenIDConnectActivation": 1,
            "oidcServiceMetaDataIssuer": self.issuer,
            "oidcServicePrivateKeySig": private, "oidcServicePublicKeySig": public,
            "oidcServiceKeyIdSig": "llng-rs256",
            "oidcRPMetaDataOptions": {"jitprov": {"oidcRPMetaDataOptions" + k: v
                                                  for k, v in rp.items()}},
            "oidcRPMetaDataOptionsExtraClaims": {"jitprov": extra},
            "oidcRPMetaDataExportedVars": {"jitprov": {
                "email": "mail", "name": "cn", "preferred_username": "uid",
                "groups": "groups;string;always"}},
        }
        confdir = os.path.join(d, "conf")
        for old in os.listdir(confdir):
            os.unlink(os.path.join(confdir, old))
        with open(os.path.join(confdir, f"lmConf-{self._cfg}.json"), "w") as f:
            json.dump(conf, f, indent=1)

    def start(self):
        env = dict(os.environ, LLNG_DEFAULTCONFFILE=os.path.join(self.dir, "lemonldap-ng.ini"))
        log = open(self.log_path, "ab")
        # plackup's own server handles one connection at a time: a short read
        # timeout stops an idle connection Chromium opened ahead of need from
        # holding up the module's token and userinfo calls.
        self.proc = subprocess.Popen(
            [PLACKUP, "-s", "HTTP::Server::PSGI", "--host", "127.0.0.1", "--port",
             str(self.port), "--timeout", "1", LLNG_PSGI], cwd=self.dir, env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.discovery_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("LemonLDAP::NG did not start:\n" + tail(self.log_path))

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
            wait_port_free(self.port, 10)

    def restart(self, redirect_uris, **kw):
        self.stop()
        self.write_config(redirect_uris, **kw)
        self.start()

    def discovery(self):
        return requests.get(self.discovery_url, timeout=5).json()


# ------------------------------------------------------------------ httpd

LOAD_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("dbd_module", "mod_dbd.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("socache_redis_module", "mod_socache_redis.so"),
    ("socache_memcache_module", "mod_socache_memcache.so"),
    ("cgid_module", "mod_cgid.so"),
    ("alias_module", "mod_alias.so"),
    ("mime_module", "mod_mime.so"),
    ("dir_module", "mod_dir.so"),
    ("env_module", "mod_env.so"),
    ("headers_module", "mod_headers.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
]

# Paths served by the CGI backend (everything else: DocumentRoot, or the module
# itself for the redirect and logout URIs).
CGI_PATHS = ("app", "enc", "api401", "api403", "maybe", "admins", "verified", "corp",
             "dept", "public", "x")


INDEX_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mod_jitprov test site</title></head>
<body><h1>mod_jitprov test site</h1><p id="root">site root</p>
<p>Each page below is a CGI that shows the headers, REMOTE_USER and JITPROV_* variables
it receives.</p>
<ul>
<li><a href="/app/">/app/</a> &mdash; login required (Require valid-user)</li>
<li><a href="/enc/percent/">/enc/percent/</a>, <a href="/enc/base64url/">/enc/base64url/</a>
 &mdash; the same headers, encoded (try user dave)</li>
<li><a href="/admins/">/admins/</a> &mdash; Require jitprov-group admins (alice only)</li>
<li><a href="/verified/">/verified/</a> &mdash; Require jitprov-claim email_verified:true
 (not carol)</li>
<li><a href="/maybe/">/maybe/</a> &mdash; JITProvUnauthAction pass: identity if logged in</li>
<li><a href="/api401/">/api401/</a> &mdash; JITProvUnauthAction 401</li>
<li><a href="/public/">/public/</a> &mdash; not protected</li>
<li><a href="/logout?return_to=/">/logout</a></li>
</ul></body></html>
"""


# Small enough for 2 cores running several suites at once.
TEST_MPM = """StartServers 1
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 48"""

# Debian's stock mods-available/mpm_event.conf (ServerLimit: httpd's default).
DEBIAN_MPM = """StartServers 2
ServerLimit 16
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0"""


class Httpd:
    """One httpd instance (own ServerRoot, PidFile, logs, port) under workdir."""

    def __init__(self, workdir, port=None, name="httpd", module=None):
        self.name = name
        self.dir = os.path.join(workdir, name)
        self.port = port or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.module = module or os.environ.get(
            "JITPROV_MODULE", os.path.join(ROOT, "build", ".libs", "mod_jitprov.so"))
        for sub in ("conf", "logs", "run", "htdocs", "cgi", "db"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(self.dir, 0o755)
        # The children run as nobody: the database directory must be theirs.
        os.chown(os.path.join(self.dir, "db"), 65534, 65534)
        os.chmod(os.path.join(self.dir, "db"), 0o770)
        # index.cgi under /idx and /pubidx: reached through mod_dir's internal
        # redirect, where headers_in is shared with the first request.
        for where in ("cgi/echo.py", "htdocs/idx/index.cgi", "htdocs/pubidx/index.cgi"):
            os.makedirs(os.path.dirname(os.path.join(self.dir, where)), exist_ok=True)
            shutil.copy(BACKEND_CGI, os.path.join(self.dir, where))
            os.chmod(os.path.join(self.dir, where), 0o755)
            os.chmod(os.path.dirname(os.path.join(self.dir, where)), 0o755)
        shutil.copy(DEMO_CGI, os.path.join(self.dir, "cgi", "demo.py"))
        os.chmod(os.path.join(self.dir, "cgi", "demo.py"), 0o755)
        with open(os.path.join(self.dir, "htdocs", "index.html"), "w") as f:
            f.write(INDEX_HTML)
        self.conf_path = os.path.join(self.dir, "conf", "httpd.conf")
        self.error_log = os.path.join(self.dir, "logs", "error.log")
        self.access_log = os.path.join(self.dir, "logs", "access.log")
        self.pid_file = os.path.join(self.dir, "run", "httpd.pid")
        self.db_path = os.path.join(self.dir, "db", "accounts.db")
        self.config_text = None
        # The tests on an application's own table let init change it; a test
        # that wants the table left as it is sets init_args = ().
        self.init_args = ("--alter",)
        # Worker sizing; tests/stress swaps in Debian's stock values.
        self.mpm = TEST_MPM

    def render(self, jitprov_server, locations="", extra="", db=None):
        """The whole httpd.conf. db: a SqliteDb/PgDb (default: SQLite in db/)."""
        d = self.dir
        dbd = db.dbd_config() if db is not None else \
            f'DBDriver sqlite3\nDBDParams "{d}/db/accounts.db"'
        loads = "\n".join(f"LoadModule {n} {APACHE_MODULES}/{f}" for n, f in LOAD_MODULES)
        cgi_re = "|".join(CGI_PATHS)
        return f"""# generated by tests/e2e/jitprov_harness.py
ServerRoot "{d}"
DefaultRuntimeDir "{d}/run"
PidFile "{d}/run/httpd.pid"
ErrorLog "{d}/logs/error.log"
LogLevel warn
Listen 127.0.0.1:{self.port}
ServerName 127.0.0.1:{self.port}
User nobody
Group nogroup
{loads}
LoadModule jitprov_module "{self.module}"
LogLevel warn jitprov:debug

{self.mpm}
Timeout 30
KeepAliveTimeout 2
TypesConfig /etc/mime.types
LogFormat "%h \\"%r\\" %>s %b %D \\"%{{Cookie}}i\\" -> \\"%{{Location}}o\\"" jp
CustomLog "{d}/logs/access.log" jp
ScriptSock "{d}/run/cgisock"
DocumentRoot "{d}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{d}/htdocs">
    Require all granted
</Directory>
<Directory "{d}/cgi">
    Options +ExecCGI
    SetHandler cgi-script
    Require all granted
</Directory>
ScriptAliasMatch "^/({cgi_re})(/.*)?$" "{d}/cgi/echo.py$2"
<Directory "{d}/htdocs/idx">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    DirectoryIndex index.cgi
</Directory>
<Directory "{d}/htdocs/pubidx">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    DirectoryIndex index.cgi
</Directory>
ErrorDocument 404 /public/not-found

{dbd}

{jitprov_server}

{locations}

{extra}
"""

    def init_database(self):
        """Creates the account tables before httpd starts (statements prepared
        against missing tables fail in every child), then hands the database files
        to the user the children run as."""
        custom = os.environ.get("JITPROV_DB_INIT_CMD")  # e.g. "mytool {db}"
        if custom:
            cmd = [a.format(db=self.db_path, conf=self.conf_path) for a in shlex.split(custom)]
        elif os.path.exists(JITPROV_ADMIN):
            cmd = [JITPROV_ADMIN, "-f", self.conf_path, "init"] + list(self.init_args)
        else:
            cmd = None
        text = self.config_text or ""
        if cmd and "DBDriver " in text and not re.search(r"(?mi)^\s*JITProvProvisioning\s+off",
                                                         text):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError(f"jitprov-admin init failed:\n{r.stdout}{r.stderr}")
        dbdir = os.path.join(self.dir, "db")
        for name in os.listdir(dbdir):
            os.chown(os.path.join(dbdir, name), 65534, 65534)

    def reset_database(self):
        dbdir = os.path.join(self.dir, "db")
        for name in os.listdir(dbdir):
            os.unlink(os.path.join(dbdir, name))

    def start(self, config_text, timeout=20, fresh_db=False, init_db=True, wrap=()):
        """wrap: a command line put before httpd's own (a namespace, say)."""
        self.stop()
        with open(self.conf_path, "w") as f:
            f.write(config_text)
        self.config_text = config_text
        if fresh_db:
            self.reset_database()
        if init_db:
            self.init_database()
        self._log_mark = os.path.getsize(self.error_log) if os.path.exists(self.error_log) else 0
        r = subprocess.run([*wrap, APACHE, "-f", self.conf_path, "-k", "start"],
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0 or not wait_port(self.port, timeout):
            msg = (f"httpd did not start (rc={r.returncode}):\n{r.stdout}{r.stderr}\n"
                   f"--- {self.error_log}:\n{tail(self.error_log)}")
            self.stop()
            raise RuntimeError(msg)

    def _notices(self):
        try:
            with open(self.error_log, "rb") as f:
                return f.read().count(b"resuming normal operations")
        except OSError:
            return 0

    def graceful(self, timeout=30, how="graceful"):
        """`apachectl graceful` (what Debian's logrotate runs): a new config
        generation in the same parent; returns once it serves. how="restart"
        is `apachectl restart` (SIGHUP): the children are killed at once, the
        parent stays."""
        before = self._notices()
        r = subprocess.run([APACHE, "-f", self.conf_path, "-k", how],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout + r.stderr
        deadline = time.monotonic() + timeout
        while self._notices() <= before:
            assert time.monotonic() < deadline, tail(self.error_log)
            time.sleep(0.1)
        assert wait_port(self.port, timeout)

    def restart_full(self):
        """Stop, then start again with the same configuration (a new parent)."""
        pid = self.pid()
        self.start(self.config_text, init_db=False)
        assert self.pid() != pid

    def configtest(self, config_text, name="configtest", extra_env=None):
        """`apache2 -t` on config_text. Several may run at once, each with its
        own name (the file it is written to); extra_env adds to the environment
        (for env: secrets)."""
        path = os.path.join(self.dir, "conf", name + ".conf")
        with open(path, "w") as f:
            f.write(config_text)
        run_env = dict(os.environ, **extra_env) if extra_env else None
        return subprocess.run([APACHE, "-f", path, "-t"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, env=run_env)

    def pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False

    def _orphans(self):
        """apache2 processes started from this instance's config file: what is
        left when a pid file was lost or a parent was killed before its children."""
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if self.conf_path.encode() in argv and any(a.endswith(b"apache2") for a in argv):
                found.append(int(d))
        return found

    def stop(self):
        pid = self.pid()
        if pid is None or not self.running():
            # A server this object no longer tracks must not keep the port: the
            # next start would "succeed" against the old one.
            for p in self._orphans():
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            wait_port_free(self.port, 10)
            return
        subprocess.run([APACHE, "-f", self.conf_path, "-k", "stop"], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.05)
        else:
            for p in [pid] + self._orphans():
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        wait_port_free(self.port, 10)
        try:
            os.unlink(self.pid_file)
        except OSError:
            pass

    def log_since_start(self):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(getattr(self, "_log_mark", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, path):
        return self.origin + path


# ------------------------------------------------------------ fault server

class FaultServer:
    """A misbehaving stand-in for IdP endpoints, in the test process.

    GET /discovery (discovery_url; a well-known URL here would stand for this
    server's own issuer, not the IdP's) answers per mode_discovery, GET /jwks
    per mode_jwks, POST /token per mode_token (point the real IdP's token_endpoint here with
    IdP.override_discovery(token_endpoint=fault.origin + "/token"), so the issuer
    stays the IdP's own). Modes: "proxy" (forward to the real IdP; for discovery,
    its document with token_endpoint pointed here), "blackhole" (accept, never
    answer until stop()), "reset" (close without answering), "slow:SECONDS",
    "500"; for the token endpoint also "edit": forwarded, with the JSON answer
    passed through edit_token(dict) -> dict before it is sent on.
    """

    def __init__(self, idp, port=None):
        self.idp = idp
        self.port = port or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.discovery_url = self.origin + "/discovery"
        self.mode_discovery = "proxy"
        self.mode_token = "proxy"
        self.mode_jwks = "proxy"
        self.edit_token = lambda answer: answer
        self.hits = {}
        self._release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _misbehave(self, mode):
                if mode == "blackhole":
                    outer._release.wait(60)
                    self.close_connection = True
                    return True
                if mode == "reset":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return True
                if mode.startswith("slow:"):
                    outer._release.wait(float(mode[5:]))
                    return False
                if mode == "500":
                    self._send(500, b"boom\n", "text/plain")
                    return True
                return False

            def _send(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.hits[path] = outer.hits.get(path, 0) + 1
                if path == "/discovery":
                    if self._misbehave(outer.mode_discovery):
                        return
                    doc = requests.get(outer.idp.discovery_url, timeout=5).json()
                    doc["token_endpoint"] = outer.origin + "/token"
                    self._send(200, json.dumps(doc).encode(), "application/json")
                    return
                if path == "/jwks":
                    if self._misbehave(outer.mode_jwks):
                        return
                    r = requests.get(outer.idp.issuer + "/jwks", timeout=5)
                    self._send(r.status_code, r.content, "application/json")
                    return
                self._send(404, b"not here\n", "text/plain")

            def do_POST(self):
                path = self.path.split("?")[0]
                outer.hits[path] = outer.hits.get(path, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536))
                if path != "/token":
                    self._send(404, b"not here\n", "text/plain")
                    return
                if self._misbehave(outer.mode_token):
                    return
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() in ("authorization", "content-type", "accept")}
                r = requests.post(outer.idp.issuer + "/token", data=body, headers=fwd,
                                  timeout=10)
                if outer.mode_token == "edit":
                    self._send(r.status_code, json.dumps(outer.edit_token(r.json())).encode(),
                               "application/json")
                    return
                self._send(r.status_code, r.content,
                           r.headers.get("Content-Type", "application/json"))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


class HeaderEchoServer:
    """A backend for mod_proxy that answers with the raw request header list, so
    tests see names CGI would drop (with "_") and duplicates."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.origin = f"http://127.0.0.1:{self.port}"

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                # http.server decodes header bytes as latin-1: the test re-encodes.
                body = json.dumps({"path": self.path,
                                   "headers": [[k, v] for k, v in self.headers.items()]})
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        # shutdown() waits for serve_forever(): never started (the IdP failed to
        # start first), it would hang the whole run.
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------ the flows

class FlowError(AssertionError):
    pass


_FORM_RE = re.compile(r'<form[^>]*\baction="([^"]+)"', re.I)
_INPUT_RE = re.compile(r"<input\b([^>]*)>", re.I)
_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_form(html, form_id=None):
    """(action, {name: value}) of the first form (or the one with form_id)."""
    if form_id:
        m = re.search(r'<form\b[^>]*\bid="%s"[^>]*>(.*?)</form>' % re.escape(form_id), html,
                      re.I | re.S)
        start = m.group(0) if m else ""
    else:
        m = re.search(r"<form\b.*?</form>", html, re.I | re.S)
        start = m.group(0) if m else ""
    if not start:
        raise FlowError("no form in page:\n" + html[:2000])
    action = _FORM_RE.search(start).group(1)
    fields = {}
    for attrs in _INPUT_RE.findall(start):
        a = dict(_ATTR_RE.findall(attrs))
        if "name" in a:
            fields[a["name"]] = a.get("value", "")
    import html as htmlmod
    return htmlmod.unescape(action), {k: htmlmod.unescape(v) for k, v in fields.items()}


def client():
    """A browser's cookie jar that takes nothing from the environment
    (proxies, CA bundles)."""
    s = requests.Session()
    s.trust_env = False
    return s


def chromium_login(driver, start, user, timeout=20):
    """Logs user in through the IdP's form in a Selenium-driven Chromium,
    from the page start until the browser is back on it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    wait = WebDriverWait(driver, timeout)
    driver.get(start)
    wait.until(EC.presence_of_element_located((By.ID, "submit")))
    driver.find_element(By.NAME, "login").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(f"pass-{user}")
    driver.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.current_url == start)


def form_post_to(html, action):
    """True when html is a page whose first form posts to action (an IdP's
    response_mode=form_post page)."""
    m = re.search(r"<form\b[^>]*>", html, re.I)
    if not m or not re.search(r'\bmethod="post"', m.group(0), re.I):
        return False
    a = _FORM_RE.search(m.group(0))
    import html as htmlmod
    return bool(a) and htmlmod.unescape(a.group(1)) == action


def is_redirect(r):
    return r.status_code in (301, 302, 303, 307, 308) and "Location" in r.headers


def login(session, url, user="alice", password=None, *, stop_at_callback=False,
          callback_path="/callback", max_hops=25, timeout=15):
    """Drive the whole authorization code flow with requests.

    GET url -> 302 to the IdP -> login form -> POST credentials -> 303s -> 302 to
    the module's callback -> 302 back to url -> final response (returned).
    With stop_at_callback, returns the callback URL (absolute) without visiting it;
    with response_mode=form_post, (callback URL, form fields) of the IdP's page.
    The returned response has .trace: [(status, url)] of every hop.
    """
    password = f"pass-{user}" if password is None else password
    trace, hops = [], []
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
    r = session.get(url, allow_redirects=False, timeout=timeout)
    trace.append((r.status_code, url))
    hops.append(r)
    posted = False
    for _ in range(max_hops):
        if is_redirect(r):
            nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
            parts = urllib.parse.urlsplit(nxt)
            at_callback = (parts.path == callback_path
                           and f"{parts.scheme}://{parts.netloc}" == origin)
            if stop_at_callback and at_callback:
                return nxt
            if at_callback and any(urllib.parse.urlsplit(u).path == callback_path
                                   for _, u in trace):
                raise FlowError("login loop: after a successful callback the module sent the "
                                "browser to the IdP again (session not stored or not found): "
                                + repr([(st, u.split("?")[0]) for st, u in trace]))
            r = session.get(nxt, allow_redirects=False, timeout=timeout)
            trace.append((r.status_code, nxt))
            hops.append(r)
            continue
        if (r.status_code == 200 and 'name="login"' in r.text and 'name="password"' in r.text
                and "/interaction/" in r.url):
            if posted:
                raise FlowError(f"IdP refused the credentials of {user}")
            action, fields = parse_form(r.text)
            fields.update({"login": user, "password": password})
            target = urllib.parse.urljoin(r.url, action)
            r = session.post(target, data=fields, allow_redirects=False, timeout=timeout)
            trace.append((r.status_code, target))
            hops.append(r)
            posted = True
            continue
        if r.status_code == 200 and form_post_to(r.text, origin + callback_path):
            # response_mode=form_post: the IdP's page posts the answer to the
            # callback (a script submits it in a browser).
            action, fields = parse_form(r.text)
            if stop_at_callback:
                return action, fields
            r = session.post(action, data=fields, allow_redirects=False, timeout=timeout)
            trace.append((r.status_code, action))
            hops.append(r)
            continue
        break
    else:
        raise FlowError("too many redirects: " + repr(trace))
    if stop_at_callback:
        raise FlowError(f"flow ended before the callback: {r.status_code} {trace!r}\n"
                        + r.text[:1500])
    r.trace = trace
    r.hops = hops
    r.logged_in_at_idp = posted
    return r


def follow(session, r, max_hops=15, timeout=15):
    """Follow redirects from response r (GETs), returning the last response."""
    trace = []
    for _ in range(max_hops):
        if not is_redirect(r):
            r.trace = trace
            return r
        nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
        r = session.get(nxt, allow_redirects=False, timeout=timeout)
        trace.append((r.status_code, nxt))
    raise FlowError("too many redirects: " + repr(trace))


def follow_idp_logout(session, end_session_url, timeout=15):
    """GET the IdP's end_session URL, post its (self-submitting) confirmation form
    as a browser would, and return the response that leaves the IdP (a redirect
    to post_logout_redirect_uri, not followed) or the final IdP page."""
    r = session.get(end_session_url, allow_redirects=False, timeout=timeout)
    if r.status_code == 200 and "op.logoutForm" in r.text:
        action, fields = parse_form(r.text, "op.logoutForm")
        fields["logout"] = "yes"
        r = session.post(urllib.parse.urljoin(r.url, action), data=fields,
                         allow_redirects=False, timeout=timeout)
    return r


def llng_login(session, url, user="dwho", password=None, *, stop_at_callback=False,
               callback_path="/callback", callback_origin=None, timeout=15):
    """login() against LemonLDAP (its portal form posts user/password back to the
    authorization URL; the Demo password is the login)."""
    password = user if password is None else password
    origin = callback_origin or "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(url))
    r = session.get(url, allow_redirects=False, timeout=timeout)
    trace, posted = [(r.status_code, url)], False
    for _ in range(25):
        if is_redirect(r):
            nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
            parts = urllib.parse.urlsplit(nxt)
            if (stop_at_callback and parts.path == callback_path
                    and f"{parts.scheme}://{parts.netloc}" == origin):
                return nxt
            r = session.get(nxt, allow_redirects=False, timeout=timeout)
            trace.append((r.status_code, nxt))
            continue
        if r.status_code == 200 and 'name="user"' in r.text and 'name="password"' in r.text:
            if posted:
                raise FlowError(f"LemonLDAP refused the credentials of {user}")
            action, fields = parse_form(r.text)
            fields.update({"user": user, "password": password})
            target = urllib.parse.urljoin(r.url, action).split("#")[0]
            r = session.post(target, data=fields, allow_redirects=False, timeout=timeout)
            trace.append((r.status_code, target))
            posted = True
            continue
        break
    else:
        raise FlowError("too many redirects: " + repr(trace))
    if stop_at_callback:
        raise FlowError(f"flow ended before the callback: {r.status_code} {trace!r}\n"
                        + r.text[:1500])
    r.trace = trace
    return r


def idp_login_until(s, url, prefix, user):
    """Follows the IdP's login from its authorization URL until it redirects to
    a URL starting with prefix (returned, not visited)."""
    r = s.get(url, allow_redirects=False)
    posted = False
    for _ in range(20):
        if is_redirect(r):
            nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
            if nxt.startswith(prefix):
                return nxt
            r = s.get(nxt, allow_redirects=False)
            continue
        assert r.status_code == 200 and 'name="login"' in r.text and not posted, r.text[:500]
        action, fields = parse_form(r.text)
        fields.update({"login": user, "password": f"pass-{user}"})
        r = s.post(urllib.parse.urljoin(r.url, action), data=fields, allow_redirects=False)
        posted = True
    raise FlowError("no redirect to " + prefix)


def idp_code_flow(session, idp, client_id, client_secret, redirect_uri, user="alice",
                  scope="openid email profile groups", timeout=15):
    """A minimal relying party in Python (for checking the IdP on its own):
    authorization request with PKCE S256, login, token exchange. Returns the
    token response JSON and the authorization response parameters."""
    disc = idp.discovery()
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state, nonce = b64url(secrets.token_bytes(16)), b64url(secrets.token_bytes(16))
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    url = disc["authorization_endpoint"] + "?" + q
    r = session.get(url, allow_redirects=False, timeout=timeout)
    posted = False
    for _ in range(20):
        if is_redirect(r):
            nxt = urllib.parse.urljoin(r.url, r.headers["Location"])
            if nxt.startswith(redirect_uri):
                params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(nxt).query))
                break
            r = session.get(nxt, allow_redirects=False, timeout=timeout)
            continue
        if r.status_code == 200 and 'name="login"' in r.text and not posted:
            action, fields = parse_form(r.text)
            fields.update({"login": user, "password": f"pass-{user}"})
            r = session.post(urllib.parse.urljoin(r.url, action), data=fields,
                             allow_redirects=False, timeout=timeout)
            posted = True
            continue
        raise FlowError(f"unexpected IdP answer {r.status_code}: {r.text[:1000]}")
    else:
        raise FlowError("too many redirects at the IdP")
    if params.get("state") != state:
        raise FlowError("state mismatch from the IdP")
    tok = requests.post(disc["token_endpoint"], timeout=timeout, auth=(client_id, client_secret),
                        data={"grant_type": "authorization_code", "code": params["code"],
                              "redirect_uri": redirect_uri, "code_verifier": verifier})
    tok.raise_for_status()
    out = tok.json()
    out["_nonce"] = nonce
    out["_params"] = params
    return out


# ------------------------------------------------------------ assertions

SESSION_COOKIE = "jitprov_session"
STATE_PREFIX = "jitprov_state_"
_REF_RE = re.compile(r'<code class="jitprov-ref">([^<]{4,128})</code>')


def set_cookie_lines(r):
    try:
        return list(r.raw.headers.getlist("Set-Cookie"))
    except AttributeError:
        v = r.headers.get("Set-Cookie")
        return [v] if v else []


def parse_set_cookie(line):
    """(name, value, {attribute-lowercased: value or True})"""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), value.strip(), attrs


def set_cookies(r, name_prefix=""):
    """{name: (value, attrs)} of the cookies a response sets (last one wins)."""
    out = {}
    for line in set_cookie_lines(r):
        n, v, a = parse_set_cookie(line)
        if n.startswith(name_prefix):
            out[n] = (v, a)
    return out


def is_clearing(value, attrs):
    """True when a Set-Cookie deletes the cookie (Max-Age<=0 or Expires in the past)."""
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        import email.utils
        try:
            return email.utils.parsedate_to_datetime(attrs["expires"]).timestamp() < time.time()
        except (TypeError, ValueError):
            return False
    return False


def error_ref(r):
    """The correlation id shown on a module error page, or None."""
    m = _REF_RE.search(r.text)
    return m.group(1) if m else None


def logged_line(httpd, r):
    """The error log line of the module error page r (by its correlation id)."""
    ref = error_ref(r)
    assert ref and wait_for_log(httpd, f"[ref {ref}]")
    return [l for l in httpd.log_since_start().splitlines() if f"[ref {ref}]" in l][0]


def stub_callback(site, s, path, sign, user="pat"):
    """Starts a login at path, then calls the callback with a made-up code, for
    tests whose fake token endpoint answers with the ID token sign(claims)
    returns (claims: the usual ones of user, with the login's nonce)."""
    r = s.get(site.httpd.url(path), allow_redirects=False)
    assert r.status_code == 302, r.status_code
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)
    now = int(time.time())
    sign({"iss": site.idp.issuer, "aud": site.client_id, "sub": USER_CLAIMS[user]["sub"],
          "iat": now, "exp": now + 300, "nonce": q["nonce"][0]})
    return s.get(site.httpd.url("/callback?" + urllib.parse.urlencode(
        {"state": q["state"][0], "code": "stub-code", "iss": site.idp.issuer})),
        allow_redirects=False)


def state_cookies(session):
    return sorted(c.name for c in session.cookies if c.name.startswith(STATE_PREFIX))


def same_origin(location, origin):
    """True when a Location value resolves to origin and is not written in a form
    that some browser would read as another host (//x, /\\x, control chars)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in location):
        return False
    if location.startswith("//") or location.startswith("/\\") or "\\" in location.split("?")[0]:
        return False
    absolute = urllib.parse.urljoin(origin + "/", location)
    a, o = urllib.parse.urlsplit(absolute), urllib.parse.urlsplit(origin)
    return (a.scheme, a.netloc) == (o.scheme, o.netloc) and "@" not in a.netloc


def wait_for_log(httpd, needle, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        text = httpd.log_since_start()
        if needle in text:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def raw_headers(r):
    """[(name, value bytes)] from the HeaderEchoServer backend's answer."""
    return [(k, v.encode("latin-1")) for k, v in r.json()["headers"]]


def header_values(r, name):
    return [v for k, v in raw_headers(r) if k.lower() == name.lower()]


def env_bytes(value):
    """The exact bytes of a value the CGI backend reported."""
    return None if value is None else value.encode("utf-8", "surrogateescape")


# ------------------------------------------------------------ the site config

def jitprov_server_config(env, metadata_url=None, extra="", session_cache="shmcb"):
    """Server-scope directives of the standard test site."""
    return f"""JITProvProviderMetadataURL {metadata_url or env.idp.discovery_url}
JITProvClientID {env.client_id}
JITProvClientSecret {env.client_secret}
JITProvScope "openid email profile groups"
JITProvRedirectURI /callback
JITProvLogoutURI /logout
JITProvCryptoPassphrase {env.passphrase}
{"JITProvSessionCache " + session_cache if session_cache else ""}
JITProvHTTPTimeout 3
{extra}"""


IDENTITY = """    JITProvHeader X-User-Email claim:email
    JITProvHeader X-User-Groups claim:groups
    JITProvHeader X-User-Name claim:name
    JITProvRemoteUser claim:preferred_username"""


def protected(path, *lines, require="Require valid-user", identity=True):
    body = "\n".join("    " + l for l in lines)
    return f"""<Location {path}>
    AuthType jitprov
{IDENTITY if identity else ""}
{body}
    {require}
</Location>"""


def standard_locations():
    """Every protected area the tests use, in one config (one httpd start)."""
    return "\n".join([
        protected("/app", "JITProvHeaderEncoding none", 'JITProvClaimDelimiter ","'),
        protected("/enc/none", "JITProvHeaderEncoding none"),
        protected("/enc/percent", "JITProvHeaderEncoding percent"),
        protected("/enc/base64url", "JITProvHeaderEncoding base64url"),
        protected("/enc/pipe", 'JITProvClaimDelimiter "|"'),
        protected("/api401", "JITProvUnauthAction 401"),
        protected("/api403", "JITProvUnauthAction 403"),
        protected("/maybe", "JITProvUnauthAction pass"),
        protected("/admins", require="Require jitprov-group admins"),
        protected("/verified", require="Require jitprov-claim email_verified:true"),
        protected("/corp", require=r"Require jitprov-claim email~^.*@example\.com$"),
        protected("/dept", require="Require jitprov-claim department:engineering"),
        protected("/proxied"),
        protected("/idx"),
        # Unprotected areas: spoofed identity headers are stripped here too.
        "<Location /proxied>\n    ProxyPass {proxy}/proxied\n</Location>",
        "<Location /public-proxied>\n    ProxyPass {proxy}/public-proxied\n</Location>",
    ])


# ------------------------------------------------------------ databases, Redis

def _pg_bin():
    """Debian's versioned PostgreSQL server binaries (initdb, pg_ctl): newest."""
    import glob
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else "/usr/lib/postgresql/15/bin"


PG_BIN = os.environ.get("JITPROV_PG_BIN") or _pg_bin()
PG_DB = "jitprov"
NOBODY = 65534


def lit(value):
    """A SQL literal for test statements (the tests' own SQL, not the module's)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def written_rows(httpd):
    """Every account and audit row in httpd's default SQLite database (none
    when the tables were never made): what a refused login must not leave."""
    db = SqliteDb(httpd)
    out = []
    for table in ("jitprov_accounts", "jitprov_audit"):
        if db.rows(f"SELECT name FROM sqlite_master WHERE name = '{table}'"):
            out += db.rows(f"SELECT * FROM {table}")
    return out


class SqliteDb:
    """The SQLite file of one Httpd (db/accounts.db), read and written by the
    test with the sqlite3 module. The children run as nobody: every file the test
    process creates in db/ is handed back to nobody afterwards."""

    name = "sqlite"
    driver = "sqlite3"

    def __init__(self, httpd):
        self.httpd = httpd
        self.dir = os.path.join(httpd.dir, "db")
        self.path = httpd.db_path

    @property
    def params(self):
        return self.path

    def dbd_config(self):
        return f'DBDriver sqlite3\nDBDParams "{self.path}"'

    def admin_args(self):
        return ["-d", "sqlite3", "-p", self.path]

    def _fix_owner(self):
        for n in os.listdir(self.dir):
            try:
                os.chown(os.path.join(self.dir, n), NOBODY, NOBODY)
            except OSError:
                pass

    def _connect(self):
        import sqlite3
        con = sqlite3.connect(self.path, timeout=20, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def rows(self, sql):
        """[dict] of a SELECT."""
        con = self._connect()
        try:
            return [dict(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()
            self._fix_owner()

    def execute(self, sql):
        con = self._connect()
        try:
            con.executescript(sql)
        finally:
            con.close()
            self._fix_owner()

    def tables(self):
        return {r["name"] for r in self.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def reset(self):
        """An empty database (httpd must be stopped)."""
        os.makedirs(self.dir, exist_ok=True)
        for n in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, n))
        os.chown(self.dir, NOBODY, NOBODY)
        os.chmod(self.dir, 0o770)

    def hold_write_lock(self):
        """A connection holding the write lock (BEGIN EXCLUSIVE) until closed."""
        con = self._connect()
        con.execute("BEGIN EXCLUSIVE")
        return con

    # Fault injection: the children (nobody) can no longer open the file.
    def make_unavailable(self):
        os.chmod(self.dir, 0)

    def make_available(self):
        os.chmod(self.dir, 0o770)
        self._fix_owner()


class Postgres:
    """A PostgreSQL 15 server of our own: initdb into a temp dir as the postgres
    user, trust authentication, listening on 127.0.0.1:port (< 32768) only.
    fsync is off (a test server), synchronous_commit stays on: the fault tests
    kill the server and must find every committed row afterwards."""

    def __init__(self, workdir, port=None):
        self.dir = os.path.join(workdir, "pg")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = port or free_port()
        self.started = False

    def _as_postgres(self, *args, timeout=120, check=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--"] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd="/")
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed (rc={r.returncode}):\n"
                               f"{r.stdout}{r.stderr}\n{tail(self.log_path)}")
        return r

    def init(self):
        pw = __import__("pwd").getpwnam("postgres")
        for d in (self.dir, self.sock):
            os.makedirs(d, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(d, 0o755)
        self._as_postgres(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self.init()
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off "
                "-c max_connections=300 -c shared_buffers=64MB")
        self._as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                          self.log_path, "-w", "-t", "60", "-o", opts, "start")
        self.started = True
        if not wait_port(self.port, 30):
            raise RuntimeError("PostgreSQL is not listening:\n" + tail(self.log_path))
        return self

    def stop(self, mode="fast"):
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.started = False
            return
        self._as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                          "-t", "60", "stop", check=False)
        self.started = False
        wait_port_free(self.port, 15)

    def psql(self, sql, db=PG_DB, timeout=60):
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-d", db], input=sql, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}\nSQL: {sql[:500]}")
        return r.stdout


class PgDb:
    """One database (jitprov) on a Postgres server, with the SqliteDb interface."""

    name = "pgsql"
    driver = "pgsql"

    def __init__(self, server, dbname=PG_DB):
        self.server = server
        self.dbname = dbname

    @property
    def params(self):
        return (f"host=127.0.0.1 port={self.server.port} user=postgres "
                f"dbname={self.dbname}")

    def dbd_config(self):
        return f'DBDriver pgsql\nDBDParams "{self.params}"'

    def admin_args(self):
        return ["-d", "pgsql", "-p", self.params]

    def rows(self, sql):
        out = self.server.psql(
            f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({sql.rstrip().rstrip(';')}) t;",
            self.dbname)
        return json.loads(out)

    def execute(self, sql):
        self.server.psql(sql, self.dbname)

    def tables(self):
        return {r["tablename"] for r in self.rows(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def reset(self):
        """An empty database: nothing may be connected (stop httpd first)."""
        self.server.psql(f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE);", "postgres")
        self.server.psql(f"CREATE DATABASE {self.dbname};", "postgres")

    def make_unavailable(self):
        self.server.stop("immediate")

    def make_available(self):
        self.server.start()


def db_scalar(db, sql):
    rows = db.rows(sql)
    assert len(rows) == 1, rows
    return next(iter(rows[0].values()))


class _CacheServer:
    """A cache server of the tests on 127.0.0.1:port, its files under workdir/name."""

    def __init__(self, workdir, name, port=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.log_path = os.path.join(self.dir, name + ".log")
        self.proc = None

    def _spawn(self, cmd):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        if not wait_port(self.port, 15, self.proc):
            raise RuntimeError(f"{cmd[0]} did not start:\n" + tail(self.log_path))
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Redis(_CacheServer):
    """redis-server on 127.0.0.1:port, nothing persisted, and a tiny RESP client
    (the tests look at the raw bytes the module stores)."""

    def __init__(self, workdir, port=None):
        super().__init__(workdir, "redis", port)

    def start(self):
        return self._spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
             "--protected-mode", "yes", "--loglevel", "warning"])

    def command(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            sock.sendall(out)
            return _resp_read(sock.makefile("rb"))

    def keys(self):
        found, cursor = [], b"0"
        while True:
            cursor, batch = self.command("SCAN", cursor, "COUNT", "1000")
            found.extend(batch)
            if cursor in (b"0", 0):
                return found

    def dump(self):
        """{key: value bytes} of every string key."""
        out = {}
        for k in self.keys():
            if self.command("TYPE", k) == b"string":
                out[k] = self.command("GET", k)
        return out

    def flush(self):
        self.command("FLUSHALL")


class Memcached(_CacheServer):
    """memcached on 127.0.0.1:port (TCP only, 64 MB), and a text-protocol client
    to list and read what the module stores (lru_crawler metadump)."""

    def __init__(self, workdir, port=None):
        super().__init__(workdir, "memcached", port)

    def start(self):
        cmd = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        return self._spawn(cmd + (["-u", "nobody"] if os.getuid() == 0 else []))

    def _talk(self, line, until):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(line)
            data = b""
            while not any(data.endswith(u) for u in until):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data

    def keys(self):
        out = self._talk(b"lru_crawler metadump all\r\n", (b"END\r\n",))
        keys = []
        for line in out.split(b"\r\n"):
            if line.startswith(b"key="):
                keys.append(urllib.parse.unquote_to_bytes(line.split(b" ")[0][4:]))
        return keys

    def dump(self):
        """{key: value bytes} of every live item."""
        out = {}
        for k in self.keys():
            data = self._talk(b"get " + k + b"\r\n", (b"END\r\n",))
            if data.startswith(b"VALUE "):
                head, rest = data.split(b"\r\n", 1)
                n = int(head.split(b" ")[3])
                out[k] = rest[:n]
        return out

    def flush(self):
        assert self._talk(b"flush_all\r\n", (b"OK\r\n",)) == b"OK\r\n"


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError("redis: " + rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise RuntimeError(f"redis: unexpected reply {line!r}")


# ------------------------------------------------------------ provisioning sites

def admin(db, *args, timeout=60):
    """Runs build/jitprov-admin against db; CompletedProcess (text)."""
    return subprocess.run([JITPROV_ADMIN] + db.admin_args() + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


PROV_IDENTITY = """    JITProvHeader X-User-Email claim:email
    JITProvHeader X-User-Name claim:name
    JITProvHeader X-Account-Id account:id
    JITProvHeader X-Account-Username account:username
    JITProvHeader X-Account-Email account:email
    JITProvHeader X-Account-Display account:display_name
    JITProvHeader X-Account-Groups account:groups
    JITProvHeader X-Account-Status account:status
    JITProvRemoteUser claim:preferred_username"""


def prov_locations(identity=PROV_IDENTITY):
    """/app (login), /api401 (401 without a session), /static (a protected
    static file: checks many sessions without running a CGI for each);
    /public is not protected."""
    return "\n".join(
        f"""<Location {path}>
    AuthType jitprov
{identity}
{extra}
    Require valid-user
</Location>""" for path, extra in (("/app", ""), ("/api401", "    JITProvUnauthAction 401"),
                                  ("/static", "    JITProvUnauthAction 401")))


STATIC_PAGE = "/static/page.html"


class ProvSite:
    """An httpd on the given database with provisioning directives: start()
    empties the database, runs `setup_sql` (an application's own tables),
    then `jitprov-admin init` (through Httpd.start) and httpd. The session cache
    is the module's default (shmcb, 16 MiB) unless session_cache is given: a
    bare "shmcb" has 512 KB, too small for hundreds of sessions."""

    def __init__(self, env, db, httpd=None):
        self.env = env
        self.db = db
        self.httpd = httpd or env.httpd
        self.server_extra = None

    def config(self, server_extra="", identity=PROV_IDENTITY, session_cache=None, extra=""):
        """extra: more configuration after the locations (an Alias, a handler)."""
        return self.httpd.render(
            jitprov_server_config(self.env, extra=server_extra, session_cache=session_cache),
            prov_locations(identity), extra=extra, db=self.db)

    def start(self, server_extra="", setup_sql=None, identity=PROV_IDENTITY, fresh=True,
              session_cache=None, extra=""):
        self.httpd.stop()
        if fresh:
            self.db.reset()
        if setup_sql:
            self.db.execute(setup_sql)
        self.server_extra = server_extra
        static = os.path.join(self.httpd.dir, "htdocs", "static")
        os.makedirs(static, exist_ok=True)
        os.chmod(static, 0o755)
        with open(os.path.join(static, "page.html"), "w") as f:
            f.write("<!DOCTYPE html><title>static</title><p id=static>protected static</p>\n")
        self.httpd.start(self.config(server_extra, identity, session_cache, extra))
        return self

    def session_works(self, sess):
        """True when sess has a live session here (a 200 for the static page,
        401 without; no CGI involved)."""
        r = sess.get(self.url(STATIC_PAGE), allow_redirects=False, timeout=30)
        assert r.status_code in (200, 401), (r.status_code, r.text[:200])
        return r.status_code == 200

    def url(self, path):
        return self.httpd.url(path)

    # Database views used by the assertions.
    def accounts(self, where="1=1", table="jitprov_accounts"):
        return self.db.rows(f"SELECT * FROM {table} WHERE {where} ORDER BY 1")

    def account(self, user, table="jitprov_accounts", sub_col="sub"):
        rows = self.db.rows(f"SELECT * FROM {table} WHERE {sub_col} = "
                            f"{lit(USER_CLAIMS[user]['sub'])}")
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    def audit(self, where="1=1"):
        return self.db.rows(f"SELECT * FROM jitprov_audit WHERE {where} ORDER BY id")

    def audit_of(self, user):
        return self.audit(f"sub = {lit(USER_CLAIMS[user]['sub'])}")

    def counts(self):
        """(accounts, audit rows): for 'nothing was written' checks."""
        return (db_scalar(self.db, "SELECT count(*) AS n FROM jitprov_accounts"),
                db_scalar(self.db, "SELECT count(*) AS n FROM jitprov_audit"))


def session_cookie_of(url, user):
    """A new browser's login of user at url: its session cookie's value."""
    with requests.Session() as sess:
        assert login(sess, url, user).status_code == 200
        return sess.cookies.get(SESSION_COOKIE)


def get_with_cookie(url, cookie):
    """url requested with nothing but the session cookie, on a new connection
    (any httpd process may answer)."""
    return requests.get(url, allow_redirects=False,
                        headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Connection": "close"})


def callback_of(session, url, user, **kw):
    """Logs user in at the IdP for url and returns the module's callback URL,
    not visited (the browser's state cookie stays in session)."""
    return login(session, url, user, stop_at_callback=True, **kw)


def change_idp_user(env, login_name, **claims):
    """Changes claims of an IdP user (the IdP restarts with the same keys)."""
    env.idp.users[login_name] = {**env.idp.users.get(login_name, USER_CLAIMS.get(login_name, {})),
                                 **claims}
    env.idp.restart()


def account_headers(r):
    """{X-Account-*: value} the CGI backend received (lower-case suffixes)."""
    http = r.json()["http"]
    return {k[len("HTTP_X_ACCOUNT_"):].lower(): v for k, v in http.items()
            if k.startswith("HTTP_X_ACCOUNT_")}


def sign_jwt(jwk, header, payload):
    """A JWS signed with a private JWK for header["alg"] (RS*, PS*, ES*, EdDSA),
    through node's crypto: for tokens the IdP would never issue."""
    script = r"""
const crypto = require('crypto');
let data = '';
process.stdin.on('data', (c) => { data += c; });
process.stdin.on('end', () => {
  const { jwk, header, payload } = JSON.parse(data);
  const key = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = Buffer.from(b64(header) + '.' + b64(payload));
  const alg = header.alg;
  const hash = alg === 'EdDSA' ? null : 'sha' + alg.slice(2);
  const opts = { key };
  if (alg.startsWith('PS')) {
    opts.padding = crypto.constants.RSA_PKCS1_PSS_PADDING;
    opts.saltLength = Number(alg.slice(2)) / 8;
  }
  if (alg.startsWith('ES')) opts.dsaEncoding = 'ieee-p1363';
  const sig = crypto.sign(hash, input, opts);
  process.stdout.write(input.toString() + '.' + sig.toString('base64url'));
});
"""
    r = subprocess.run([NODE, "-e", script], input=json.dumps(
        {"jwk": jwk, "header": header, "payload": payload}), capture_output=True, text=True,
        timeout=30, check=True)
    return r.stdout.strip()


def hs256_jwt(secret, header, payload):
    import hmac
    inp = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), inp.encode(), hashlib.sha256).digest()
    return inp + "." + b64url(sig)


def unsigned_jwt(header, payload):
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode()) + "."


# ------------------------------------------------------------ the environment

class Env:
    """Everything one test session (or the demo) runs: IdP, httpd, backends."""

    def __init__(self, workdir=None, httpd_port=None, idp_port=None, keep=False):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="jitprov-e2e-")
        os.chmod(self.dir, 0o755)
        self.keep = keep
        self.client_id = CLIENT_ID
        self.client_secret = secrets.token_urlsafe(32)
        self.passphrase = secrets.token_urlsafe(32)
        self.idp = IdP(self.dir, idp_port)
        self.httpd = Httpd(self.dir, httpd_port)
        # A second node for the multi-node tests (PostgreSQL/Redis) later on.
        self.httpd2_port = free_port()
        self.proxy_backend = HeaderEchoServer()
        self.postgres_port = None  # set when a PostgreSQL instance is started
        self.redis_port = None  # set when a Redis instance is started
        self.httpd2 = None  # the second node (second_httpd())

    def origins(self):
        return [self.httpd.origin, f"http://127.0.0.1:{self.httpd2_port}"]

    def client(self, **over):
        c = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": [o + "/callback" for o in self.origins()],
            "post_logout_redirect_uris": [o + p for o in self.origins()
                                          for p in ("/", "/x", "/x/after-logout")],
            "backchannel_logout_uri": self.httpd.origin + "/backchannel-logout",
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256",
        }
        c.update(over)
        return c

    def start(self):
        self.idp.clients = [self.client()]
        self.idp.users = dict(EXTRA_USERS)
        self.idp.start()
        self.proxy_backend.start()
        return self

    def standard_config(self, server_extra="", locations_extra="", metadata_url=None):
        locs = standard_locations().replace("{proxy}", self.proxy_backend.origin)
        return self.httpd.render(jitprov_server_config(self, metadata_url, server_extra),
                                 locs + "\n" + locations_extra)

    def second_httpd(self):
        """The second node, on the port whose redirect URI the IdP knows."""
        if self.httpd2 is None:
            self.httpd2 = Httpd(self.dir, self.httpd2_port, name="httpd2")
        return self.httpd2

    def stop(self):
        stops = [self.httpd.stop] + ([self.httpd2.stop] if self.httpd2 else [])
        for f in stops + [self.idp.stop, self.proxy_backend.stop]:
            try:
                f()
            except Exception as e:  # keep stopping the rest
                print(f"cleanup: {e}", file=sys.stderr)
        if self.own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------ demo entry point

DEMO_INDEX_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mod_jitprov demo</title></head>
<body><h1>mod_jitprov demo</h1><p id="root">Single sign-on and just-in-time accounts in
front of an application that knows nothing about OpenID Connect.</p>
<ul>
<li><a href="/demo/me">/demo/me</a> &mdash; log in; the application shows the headers it
 received, your account row, your roles and your latest audit events</li>
<li><a href="/demo/admin">/demo/admin</a> &mdash; every account, its roles, the audit trail
 (read-only)</li>
<li><a href="/app/">/app/</a> &mdash; the raw JSON the e2e tests read</li>
<li><a href="/admins/">/admins/</a> &mdash; Require jitprov-group admins (alice only)</li>
<li><a href="/logout?return_to=/">/logout</a></li>
</ul>
<p>Users: alice, bob, carol, dave, erin; the password is <code>pass-</code> + the name.
The groups claim feeds the application's roles: admins &rarr; admin, staff or finance
&rarr; member, team-<i>x</i> &rarr; team-<i>x</i> (team-blue and team-red only).
Commands for the terminal running the demo are listed there.</p></body></html>
"""

# The demo's application roles: the IdP's groups claim feeds a membership table
# of the application (demo_user_roles), through an allow-list of role values.
DEMO_SETUP_SQL = """CREATE TABLE IF NOT EXISTS demo_user_roles (
    account_id INTEGER NOT NULL, role TEXT NOT NULL, PRIMARY KEY (account_id, role));"""
DEMO_SERVER = """JITProvRoleTable demo_user_roles account_id role
JITProvRoleMap admins admin
JITProvRoleMap ~staff|finance member
JITProvRoleMap ~team-(.+) team-$1
JITProvRoleAllow admin member team-blue team-red
JITProvMapClaim preferred_username username create"""


def demo_locations(httpd):
    d = httpd.dir
    return f"""ScriptAlias /demo "{d}/cgi/demo.py"
<Location /demo>
    SetEnv DEMO_DB "{httpd.db_path}"
    SetEnv DEMO_ROLES "demo_user_roles account_id role"
</Location>
<Location /demo/me>
    AuthType jitprov
{PROV_IDENTITY}
    Require valid-user
</Location>"""


def demo_config(env):
    locs = standard_locations().replace("{proxy}", env.proxy_backend.origin)
    return env.httpd.render(jitprov_server_config(env, extra=DEMO_SERVER),
                            locs + "\n" + demo_locations(env.httpd))


def demo_prepare(env):
    """The demo's application table, made before httpd starts (SQLite file of
    env.httpd, handed to the user the children run as by Httpd.start)."""
    import sqlite3
    conn = sqlite3.connect(env.httpd.db_path)
    conn.executescript(DEMO_SETUP_SQL)
    conn.close()
    with open(os.path.join(env.httpd.dir, "htdocs", "index.html"), "w") as f:
        f.write(DEMO_INDEX_HTML)


DEMO_HELP = """  Type a command here and press Enter:
    claims USER NAME=VALUE...  change a user's claims at the IdP (restarts it), e.g.
                               claims bob groups=staff,admins name="Bob B."
    disable ID | enable ID     jitprov-admin disable/enable an account (see /demo/admin)
    admin ARGS...              any jitprov-admin command, e.g. admin list
    help"""


def demo_command(env, line):
    """One line typed into the demo's terminal; returns what to print."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        return f"? {e}"
    if not words:
        return ""
    cmd, args = words[0], words[1:]
    if cmd == "claims" and args:
        user, changes = args[0], {}
        for a in args[1:]:
            name, sep, value = a.partition("=")
            if not sep:
                return f"? expected NAME=VALUE, got {a!r}"
            if name == "groups":
                changes[name] = [g for g in value.split(",") if g]
            elif value in ("true", "false"):
                changes[name] = value == "true"
            else:
                changes[name] = value
        if user not in env.idp.users and user not in USER_CLAIMS:
            return f"? no such user {user!r} (users: {', '.join(USERS)})"
        change_idp_user(env, user, **changes)
        return f"{user} now has {json.dumps(env.idp.users[user], ensure_ascii=False)}" \
               "\n  log in again (log out first) to see the account follow"
    if cmd in ("disable", "enable") and len(args) == 1:
        args, cmd = [cmd] + args + ["--reason", "demo"], "admin"
    if cmd == "admin" and args:
        r = subprocess.run([JITPROV_ADMIN, "-f", env.httpd.conf_path] + args,
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        return (r.stdout + r.stderr).rstrip()
    return DEMO_HELP

def demo(httpd_port=8080, idp_port=9090):
    env = Env(httpd_port=httpd_port, idp_port=idp_port)
    try:
        env.start()
        demo_prepare(env)
        env.httpd.start(demo_config(env))
        print()
        print(f"  Open     {env.httpd.origin}/demo/me  logs you in; shows what the "
              "application sees")
        print(f"           {env.httpd.origin}/demo/admin  accounts, roles, audit trail")
        print(f"           {env.httpd.origin}/  index of the other test pages")
        print(f"  IdP      {env.idp.issuer}  (test OpenID Provider, tests/idp)")
        print("  Users    " + ", ".join(f"{u} / pass-{u}" for u in USERS))
        print("           alice: groups staff+admins; carol: email not verified;")
        print("           dave: non-ASCII name; erin: no email, no groups")
        print(f"  Config   {env.httpd.conf_path}")
        print(f"  Logs     {env.httpd.error_log}")
        print("  Ctrl-C stops everything.")
        print(DEMO_HELP, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        lines = []

        def read_stdin():
            for line in sys.stdin:
                lines.append(line)
        if sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=read_stdin, daemon=True).start()
        try:
            while not stop.wait(0.2):
                while lines:
                    out = demo_command(env, lines.pop(0))
                    if out:
                        print(out, flush=True)
                if env.idp.proc.poll() is not None:
                    print("the IdP exited:\n" + tail(env.idp.log_path), file=sys.stderr)
                    return 1
                if not env.httpd.running():
                    print("httpd exited:\n" + tail(env.httpd.error_log), file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        env.stop()


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "demo":
        ports = [int(a) for a in sys.argv[2:4]]
        sys.exit(demo(*ports))
    print("usage: jitprov_harness.py demo [HTTPD_PORT [IDP_PORT]]", file=sys.stderr)
    sys.exit(2)
