#!/usr/bin/python3
"""mod_jitprov benchmarks against plain httpd and mod_auth_openidc (issue 4).

Run through tests/bench/run, which installs the tools and builds the module;
this file only measures. Four parts, all on loopback, one machine, one run:

  1 throughput  wrk against one small static file served by the same httpd
                binary and event MPM: unprotected; mod_jitprov (shmcb session);
                mod_auth_openidc with server-side sessions (its default,
                OIDCSessionType server-cache, OIDCCacheType shm) and with
                client-cookie sessions. Alternating rounds, medians.
  2 cpu         callgrind instructions per request on httpd -X, each variant
                minus the unprotected baseline, and per login; where
                mod_jitprov's instructions go.
  3 logins      full code flows (the local IdP, tests/idp) sequential and in
                parallel, first (account created) and returning (account
                updated) logins, SQLite and PostgreSQL, and mod_auth_openidc;
                httpd CPU per login from /proc, httpd time from %D, the IdP's
                and PostgreSQL's CPU apart; then mod_jitprov and
                mod_auth_openidc in alternating rounds for the CPU ratio.
  4 memory      RSS of the httpd children along 1,000,000 authenticated
                requests after a warm-up; the heap's trend.

Writes tests/bench/results/<date>[-quick].md and prints it.
"""
import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import jitprov_harness as h  # noqa: E402
import requests  # noqa: E402

ROOT = h.ROOT
APACHE = h.APACHE
MODDIR = h.APACHE_MODULES
OIDC_SO = os.path.join(MODDIR, "mod_auth_openidc.so")
PG_BIN = os.environ.get("JITPROV_PG_BIN", "/usr/lib/postgresql/15/bin")
LUA = os.path.join(HERE, "report.lua")
PATH = "/p/hello.txt"
BODY = ("mod_jitprov benchmark: one small static file, the same bytes for every variant.\n"
        * 2)[:128]

MODES = {
    # 10-15 minutes on 2 cores
    # The headline has rounds of its own: on 2 cores shared by wrk and httpd,
    # single rounds of the same server move by a third (how the scheduler
    # places wrk's and httpd's threads), so it takes many short rounds, in
    # the time of the five long ones, for a median that holds from run to run.
    "full": dict(rounds=5, wrk_secs=10, hl_rounds=16, hl_secs=3, warm_secs=2, conns=32,
                 cg_requests=2000, cg_logins=10,
                 pair_rounds=5, pair_logins=30, idle_secs=5,
                 seq_logins=60, par_logins=150, par_clients=8, mem_requests=1_000_000,
                 mem_chunks=20),
    # ~3 minutes: the same steps, shorter (fewer rounds, 1/5 of the requests
    # for the memory check)
    "quick": dict(rounds=3, wrk_secs=3, hl_rounds=3, hl_secs=3, warm_secs=1, conns=32,
                  cg_requests=400, cg_logins=3,
                  pair_rounds=3, pair_logins=10, idle_secs=2,
                  seq_logins=15, par_logins=40, par_clients=8, mem_requests=200_000,
                  mem_chunks=8),
}

# Every variant loads the same modules; only the authentication module differs.
BASE_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("mime_module", "mod_mime.so"),
    ("dbd_module", "mod_dbd.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("socache_redis_module", "mod_socache_redis.so"),
]

# Fixed processes and threads: no child is started or stopped during a run, so
# CPU and RSS read from /proc cover everything, and keep-alive is unlimited so
# wrk measures requests, not connection setup.
MPM_BENCH = """StartServers 2
ServerLimit 2
ThreadLimit 32
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15"""

# Debian 12's stock apache2: mods-available/mpm_event.conf and apache2.conf
# (KeepAlive On, MaxKeepAliveRequests 100, KeepAliveTimeout 5), children
# started and stopped as the load changes. The headline is measured here.
MPM_DEBIAN = """StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5"""

# Other work using more than this share of the machine during a round makes
# the headline void: it is reported, flagged and not counted as a pass.
LOADED = 0.10

# A tmpfs for the servers' DefaultRuntimeDir, as Debian's /run.
SHM_ROOT = "/dev/shm"

MPM_ONE = """StartServers 1
ServerLimit 1
ThreadLimit 4
ThreadsPerChild 4
MaxRequestWorkers 4
MinSpareThreads 1
MaxSpareThreads 4
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30"""

IDENTITY = """    JITProvHeader X-User-Email claim:email
    JITProvHeader X-User-Groups claim:groups
    JITProvHeader X-User-Name claim:name
    JITProvRemoteUser claim:preferred_username"""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


# ----------------------------------------------------------------- /proc

def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cpu_seconds(pid, with_children=True):
    """CPU of pid (all threads, and its reaped children), plus that of its live
    children: exited children and threads are not lost."""
    tck = os.sysconf("SC_CLK_TCK")

    def stat(p, reaped):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            return 0.0
        x = st[st.rindex(")") + 2:].split()
        ticks = int(x[11]) + int(x[12]) + ((int(x[13]) + int(x[14])) if reaped else 0)
        return ticks / tck

    total = stat(pid, True)
    if with_children:
        total += sum(stat(c, False) for c in children_of(pid))
    return total


def cpu_split(pid):
    """(user, system) CPU seconds of pid and its children, as cpu_seconds
    counts them (clock ticks: 10 ms steps, so only sums over many logins say
    much)."""
    tck = os.sysconf("SC_CLK_TCK")
    u = k = 0
    for p, reaped in [(pid, True)] + [(c, False) for c in children_of(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        x = st[st.rindex(")") + 2:].split()
        u += int(x[11]) + (int(x[13]) if reaped else 0)
        k += int(x[12]) + (int(x[14]) if reaped else 0)
    return u / tck, k / tck


def cpu_snap(pid, with_children=True):
    """A CPU reading of pid (and its children) for cpu_delta: the tick-based
    total and every task's run time in nanoseconds (schedstat)."""
    tasks = {}
    if pid:
        for p in [pid] + (children_of(pid) if with_children else []):
            try:
                tids = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue
            for t in tids:
                try:
                    with open(f"/proc/{p}/task/{t}/schedstat") as f:
                        tasks[int(t)] = int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    pass
    return (cpu_seconds(pid, with_children) if pid else 0.0), tasks


def cpu_delta(a, b):
    """CPU seconds between two cpu_snap readings: exact (per-task nanoseconds)
    when no task ended in between (new ones count from zero), else the
    tick-based figure, which keeps the time of ended threads and processes."""
    if set(a[1]) <= set(b[1]):
        return sum(ns - a[1].get(t, 0) for t, ns in b[1].items()) / 1e9
    return b[0] - a[0]


def machine_cpu():
    """(busy, steal) CPU seconds of the whole machine since boot, /proc/stat."""
    with open("/proc/stat") as f:
        x = [int(v) for v in f.readline().split()[1:]]
    tck = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal ...
    busy = x[0] + x[1] + x[2] + x[5] + x[6]
    return busy / tck, (x[7] if len(x) > 7 else 0) / tck


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def parse_callgrind(path):
    """(total Ir, {function: calls}) of a callgrind dump."""
    names, calls, total = {}, {}, 0
    cfn = None
    with open(path) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    if line.startswith("cfn="):
                        cfn = names.get(m.group(1))
            elif line.startswith("calls=") and cfn:
                calls[cfn] = calls.get(cfn, 0) + int(line[6:].split()[0])
            elif line.startswith("totals:"):
                total = int(line.split()[1])
    return total, calls


# ----------------------------------------------------------------- variants

def ca_line(directive, bench):
    """The directive naming the IdP's CA, when the IdP in use serves https."""
    return f'\n{directive} "{bench.idp.tls["ca"]}"' if bench.idp.tls else ""


def browser(bench):
    """A fresh browser (cookie jar) that trusts the IdP in use, and nothing
    from the environment (REQUESTS_CA_BUNDLE, proxies)."""
    s = requests.Session()
    s.trust_env = False
    s.verify = bench.idp.verify
    return s


class Variant:
    """One httpd (own port and ServerRoot) serving PATH one way."""

    def __init__(self, name, label, workdir, kind, module=None, session_type=None, extra=""):
        self.name, self.label, self.kind = name, label, kind
        self.session_type = session_type
        self.extra = extra
        self.httpd = h.Httpd(workdir, name=name, module=module)
        os.makedirs(os.path.join(self.httpd.dir, "htdocs", "p"), exist_ok=True)
        with open(os.path.join(self.httpd.dir, "htdocs", "p", "hello.txt"), "w") as f:
            f.write(BODY)
        self.url = self.httpd.url(PATH)
        self.cookie = None
        self.db = ("sqlite3", self.httpd.db_path)

    def runtime_dir(self):
        """DefaultRuntimeDir on a tmpfs, as Debian's (/run/apache2): the
        revocation table and the cache files are mapped from there, and on
        a disk file system every first write to a page of the mapping goes
        through the file system's dirty-page tracking."""
        rd = os.path.join(SHM_ROOT, f"{os.path.basename(os.path.dirname(self.httpd.dir))}-"
                                    f"{self.name}")
        if not os.path.isdir(rd):
            os.makedirs(rd, exist_ok=True)
            shutil.chown(rd, "nobody", "nogroup")
        return rd

    def conf(self, bench, mpm=MPM_BENCH, access_log=False):
        hd = self.httpd
        d = hd.dir
        loads = "\n".join(f"LoadModule {n} {MODDIR}/{f}" for n, f in BASE_MODULES)
        if self.kind == "jitprov":
            loads += f'\nLoadModule jitprov_module "{hd.module}"'
        elif self.kind == "floor":
            loads += f"\nLoadModule alias_module {MODDIR}/mod_alias.so"
        elif self.kind == "oidc":
            loads += f"\nLoadModule auth_openidc_module {OIDC_SO}"
        alog = ""
        if access_log:
            alog = (f'LogFormat "%r|%>s|%D" bench\n'
                    f'CustomLog "{d}/logs/access.log" bench')
        return f"""# generated by tests/bench/bench.py ({self.label})
ServerRoot "{d}"
DefaultRuntimeDir "{self.runtime_dir()}"
PidFile "{d}/run/httpd.pid"
ErrorLog "{d}/logs/error.log"
LogLevel warn
Listen 127.0.0.1:{hd.port}
ServerName 127.0.0.1:{hd.port}
User nobody
Group nogroup
{loads}
{mpm}
Timeout 30
TypesConfig /etc/mime.types
{alog}
DocumentRoot "{d}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{d}/htdocs">
    Require all granted
</Directory>
{self.auth_conf(bench)}
"""

    def auth_conf(self, bench):
        if self.kind == "plain":
            return ""
        if self.kind == "floor":
            # A login's three requests to httpd without any module at work:
            # a redirect away, a redirect back from the "callback", the page.
            return (f"RedirectMatch 302 ^/start$ {bench.idp.issuer}/auth?client_id=floor\n"
                    f"RedirectMatch 302 ^/callback$ {PATH}")
        if self.kind == "jitprov":
            driver, params = self.db
            return f"""JITProvProviderMetadataURL {bench.idp.discovery_url}
JITProvClientID {bench.jp_client_id}
JITProvClientSecret {bench.jp_secret}
JITProvScope "openid email profile groups"
JITProvRedirectURI /callback
# As sites do: a logout link, so a login keeps the ID token for it.
JITProvLogoutURI /logout
JITProvCryptoPassphrase {bench.passphrase}{self.extra}{ca_line("JITProvCAFile", bench)}
DBDriver {driver}
DBDParams "{params}"
<Location /p>
    AuthType jitprov
{IDENTITY}
    Require valid-user
</Location>"""
        # mod_auth_openidc: what it needs to run against the same IdP, its own
        # defaults otherwise. The shm cache is sized up (FACTS.md: 500 entries
        # by default, an LRU drop per login beyond that).
        return f"""OIDCProviderMetadataURL {bench.idp.discovery_url}
OIDCClientID {bench.oidc_client_id}
OIDCClientSecret {bench.oidc_secret}
OIDCRedirectURI /callback
OIDCCryptoPassphrase {bench.passphrase}
OIDCScope "openid email profile groups"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username
OIDCSessionType {self.session_type}
OIDCCacheType shm
OIDCCacheShmMax 4000{ca_line("OIDCCABundlePath", bench)}
<Location /callback>
    AuthType openid-connect
    Require valid-user
</Location>
<Location /p>
    AuthType openid-connect
    Require valid-user
</Location>"""

    def start(self, bench, **kw):
        self.bench = bench
        self.httpd.start(self.conf(bench, **kw))
        self.cookie = None

    def stop(self):
        self.httpd.stop()
        self.cookie = None

    def cookie_prefix(self):
        return {"jitprov": "jitprov_session", "oidc": "mod_auth_openidc_session"}.get(self.kind)

    def floor_login(self, s):
        """The requests of a login, to the floor variant: what any module's
        login costs httpd before the module does anything. The pauses stand
        for the IdP's pages and the browser (a login takes 15 ms)."""
        base = self.httpd.origin
        r = s.get(base + "/start", allow_redirects=False, timeout=10)
        if r.status_code != 302:
            raise RuntimeError(f"floor: /start answered {r.status_code}")
        time.sleep(0.006)
        r = s.get(base + "/callback", params={"code": "c" * 43, "state": "s" * 43},
                  allow_redirects=False, timeout=10)
        if r.status_code != 302:
            raise RuntimeError(f"floor: /callback answered {r.status_code}")
        time.sleep(0.002)
        return s.get(self.url, timeout=10)

    def get_session(self, user="alice"):
        """A valid session by a scripted login; the cookie as a header value."""
        if self.kind in ("plain", "floor"):
            self.cookie = None
            return None
        with browser(self.bench) as s:
            r = h.login(s, self.url, user)
            if r.status_code != 200 or r.text != BODY:
                raise RuntimeError(f"{self.name}: login ended with {r.status_code}: "
                                   f"{r.text[:300]}\n{h.tail(self.httpd.error_log, 20)}")
            pre = self.cookie_prefix()
            # What a browser sends for PATH: not the ID token's hint cookie,
            # which is scoped to the logout path.
            self.cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies
                                    if c.name.startswith(pre)
                                    and PATH.startswith(c.path or "/"))
        r = requests.get(self.url, headers={"Cookie": self.cookie}, allow_redirects=False,
                         timeout=10)
        if r.status_code != 200 or r.text != BODY:
            raise RuntimeError(f"{self.name}: the session cookie alone is not accepted "
                               f"({r.status_code})")
        return self.cookie

    def pids(self):
        parent = self.httpd.pid()
        return parent, (children_of(parent) if parent else [])


# ----------------------------------------------------------------- wrk

def wrk(url, cookie, secs, conns, threads=1, socket_errors_ok=True, sock_share=1 / 1000):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--timeout", "5s", "-s", LUA]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    cmd.append(url)
    r = run(cmd, timeout=secs + 60)
    m = re.search(r"^JSON (\{.*\})$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed: {r.stdout}\n{r.stderr}")
    j = json.loads(m.group(1))
    j["rps"] = j["requests"] / (j["duration_us"] / 1e6)
    errors = j["bad"] + j["timeout"]
    sock = j["connect"] + j["read"] + j["write"]
    # A keep-alive connection the event MPM closes when a child is at its
    # connection limit is a read error in wrk, which reconnects: tolerated up
    # to 1 in 1,000 requests (and reported). Debian's stock settings close a
    # connection every 100 requests and stop idle children: 1 in 100 there.
    if errors or (sock and not (socket_errors_ok and sock <= j["requests"] * sock_share)):
        raise RuntimeError(f"wrk against {url}: {errors} failed or non-2xx answers, "
                           f"{sock} socket errors: {j}")
    j["socket_errors"] = sock
    return j


# ----------------------------------------------------------------- postgres

class Postgres:
    """A throwaway cluster on a loopback port, run as user postgres."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        self.port = h.free_port()
        self.params = f"host=127.0.0.1 port={self.port} dbname=jitprov user=postgres"

    def _as_pg(self, *cmd, timeout=120):
        r = run(["runuser", "-u", "postgres", "--", *cmd], timeout=timeout, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")
        return r

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        self._as_pg(f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.dir} -c max_connections=200")
        self._as_pg(f"{PG_BIN}/pg_ctl", "-D", data, "-o", opts, "-l",
                    os.path.join(self.dir, "pg.log"), "-w", "start")
        self._as_pg(f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "jitprov")
        return self

    def pid(self):
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        data = os.path.join(self.dir, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", data, "-m",
                 "immediate", "-w", "stop"], cwd="/")


# ----------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.p = MODES["quick" if args.quick else "full"]
        self.dir = tempfile.mkdtemp(prefix="jitprov-bench-")
        os.chmod(self.dir, 0o755)
        self.passphrase = secrets.token_urlsafe(32)
        self.jp_client_id, self.jp_secret = "bench-jitprov", secrets.token_urlsafe(32)
        self.oidc_client_id, self.oidc_secret = "bench-oidc", secrets.token_urlsafe(32)
        self.idp = h.IdP(self.dir)
        self.module = args.module
        # The harness creates the SQLite schema at each start with this command.
        os.environ["JITPROV_DB_INIT_CMD"] = f"{args.initdb} sqlite3 {{db}}"
        self.v = {
            "plain": Variant("plain", "unprotected", self.dir, "plain"),
            "jitprov": Variant("jitprov", "mod_jitprov (shmcb)", self.dir, "jitprov",
                               module=self.module),
            # The same work per login as mod_auth_openidc by default, which
            # calls the userinfo endpoint at every login (JITProvUserInfo is
            # Off by default): logins only, beside the default.
            "jitprov-ui": Variant("jitprov-ui", "mod_jitprov (shmcb, JITProvUserInfo On)",
                                  self.dir, "jitprov", module=self.module,
                                  extra="\nJITProvUserInfo On"),
            "floor": Variant("floor", "httpd, no authentication module", self.dir, "floor"),
            "oidc-shm": Variant("oidc-shm", "mod_auth_openidc (server-cache, shm)", self.dir,
                                "oidc", session_type="server-cache"),
            "oidc-cookie": Variant("oidc-cookie", "mod_auth_openidc (client-cookie)", self.dir,
                                   "oidc", session_type="client-cookie"),
        }
        # A cluster's configuration: sessions checked against Redis (the
        # requests parts only).
        self.redis = h.Redis(self.dir)
        self.v["jitprov-redis"] = Variant(
            "jitprov-redis", "mod_jitprov (Redis)", self.dir, "jitprov", module=self.module,
            extra=f"\nJITProvSessionCache redis:127.0.0.1:{self.redis.port}")
        self.order = ["plain", "jitprov", "oidc-shm", "oidc-cookie"]
        self.tp_order = self.order + ["jitprov-redis"]
        n = self.p["seq_logins"] + self.p["par_logins"]
        self.users = [f"bench{i:05d}" for i in range(n)]
        self.cg_users = [f"cg{i:03d}" for i in range(self.p["cg_logins"])]
        self.pair_users = [[f"pair{r}u{i:03d}" for i in range(self.p["pair_logins"])]
                           for r in range(self.p["pair_rounds"])]
        # The same rounds again with Debian's stock MPM values: fresh users.
        self.pair_users_deb = [[f"pdeb{r}u{i:03d}" for i in range(self.p["pair_logins"])]
                               for r in range(self.p["pair_rounds"])]
        self.warm_users_deb = [f"pdebwarm{i:03d}" for i in range(self.p["pair_logins"])]
        # And again with the IdP over https.
        self.pair_users_tls = [[f"ptls{r}u{i:03d}" for i in range(self.p["pair_logins"])]
                               for r in range(self.p["pair_rounds"])]
        self.warm_users_tls = [f"ptlswarm{i:03d}" for i in range(self.p["pair_logins"])]
        self.pg = None
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        self.results = {"mode": "quick" if args.quick else "full", "loadavg": load,
                        "nice": args.nice}

    # ---- setup

    def idp_users(self):
        users = {}
        everyone = (self.users + self.cg_users + sum(self.pair_users, [])
                    + sum(self.pair_users_deb, []) + self.warm_users_deb
                    + sum(self.pair_users_tls, []) + self.warm_users_tls + ["benchwarm"])
        for i, u in enumerate(everyone):
            users[u] = {
                "sub": f"bench-{i:05d}-{secrets.token_hex(8)}",
                "email": f"{u}@bench.example.com", "email_verified": True,
                "name": f"Bench User {i}", "given_name": "Bench", "family_name": f"User {i}",
                "preferred_username": u, "groups": ["staff", "bench"],
                "department": "benchmarks",
            }
        return users

    def start_idp(self):
        def client(cid, secret, variants):
            return {"client_id": cid, "client_secret": secret,
                    "redirect_uris": [self.v[v].httpd.origin + "/callback" for v in variants],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "id_token_signed_response_alg": "RS256"}
        self.idp.clients = [client(self.jp_client_id, self.jp_secret,
                                   ["jitprov", "jitprov-ui", "jitprov-redis"]),
                            client(self.oidc_client_id, self.oidc_secret,
                                   ["oidc-shm", "oidc-cookie"])]
        self.idp.users = self.idp_users()
        self.idp.start()

    def init_db(self, driver, params):
        r = run([self.args.initdb, driver, params])
        if r.returncode != 0:
            raise RuntimeError(f"schema ({driver}): {r.stdout}{r.stderr}")
        if driver == "sqlite3":
            dbdir = os.path.dirname(params)
            for name in os.listdir(dbdir):
                os.chown(os.path.join(dbdir, name), 65534, 65534)

    def db_counts(self, driver, params):
        r = run([self.args.initdb, driver, params, "count"])
        out = dict(line.split() for line in r.stdout.splitlines() if line.strip())
        return {k: int(v) for k, v in out.items() if v.isdigit()}

    def fresh_sqlite(self):
        """An empty SQLite database (the harness creates the schema at start)."""
        v = self.v["jitprov"]
        v.httpd.reset_database()
        v.db = ("sqlite3", v.httpd.db_path)

    def start_all(self, names=None, **kw):
        for n in names or self.order:
            self.v[n].start(self, **kw)
            self.v[n].get_session()

    def stop_all(self):
        for v in self.v.values():
            v.stop()

    # ---- part 1

    def measured_wrk(self, v, secs, conns, threads=1, sock_share=1 / 1000):
        """wrk against v, with the CPU that v's httpd, wrk and everything else
        on the machine used meanwhile (the rest is noise from other work)."""
        parent = v.httpd.pid()
        # The Redis server a variant uses is part of what is measured.
        rpid = self.redis.proc.pid if (v.name == "jitprov-redis" and self.redis.proc) else None
        c0, b0, t0 = cpu_snap(parent), machine_cpu(), os.times()
        r0 = cpu_snap(rpid, with_children=False) if rpid else None
        j = wrk(v.url, v.cookie, secs, conns, threads=threads, sock_share=sock_share)
        c1, b1, t1 = cpu_snap(parent), machine_cpu(), os.times()
        mine = (t1.children_user + t1.children_system + t1.user + t1.system
                - t0.children_user - t0.children_system - t0.user - t0.system)
        if rpid:
            j["cache_us"] = 1e6 * cpu_delta(r0, cpu_snap(rpid, with_children=False)) / \
                j["requests"]
            mine += j["cache_us"] * j["requests"] / 1e6
        httpd = cpu_delta(c0, c1)
        j["httpd_us"] = 1e6 * httpd / j["requests"]
        wall = j["duration_us"] / 1e6
        # httpd's CPU utilisation in cores: idle CPU while requests wait (a lock)
        # shows here as a low figure beside a low throughput.
        j["httpd_cores"] = httpd / wall
        j["foreign"] = max(0.0, (b1[0] - b0[0]) - httpd - mine) / (wall * os.cpu_count())
        j["steal"] = (b1[1] - b0[1]) / (wall * os.cpu_count())
        return j

    def part_throughput(self, key="throughput", mpm=MPM_BENCH, threads=1):
        p = self.p
        rounds, secs = ((p["hl_rounds"], p["hl_secs"]) if key == "headline"
                        else (p["rounds"], p["wrk_secs"]))
        order = self.tp_order
        log(f"part {key}: wrk -t{threads}, {rounds} rounds x {len(order)} variants x "
            f"{secs} s, {p['conns']} connections")
        with open("/proc/loadavg") as f:
            load_before = " ".join(f.read().split()[:3])
        share = 1 / 100 if mpm is MPM_DEBIAN else 1 / 1000
        if self.redis.proc is None:
            self.redis.start()
        v = self.v["jitprov-redis"]
        v.httpd.reset_database()
        v.db = ("sqlite3", v.httpd.db_path)
        self.start_all(order, mpm=mpm)
        for n in order:  # warm every server and session
            v = self.v[n]
            wrk(v.url, v.cookie, p["warm_secs"], p["conns"], threads=threads, sock_share=share)
        runs = {n: [] for n in order}
        for rnd in range(rounds):
            for n in order[rnd % len(order):] + order[:rnd % len(order)]:
                j = self.measured_wrk(self.v[n], secs, p["conns"], threads, share)
                runs[n].append(j)
                log(f"  round {rnd + 1} {n:12s} {j['rps']:9.0f} req/s  p50 {j['p50']} us  "
                    f"p99 {j['p99']} us  httpd {j['httpd_us']:.1f} us CPU/req, "
                    f"{j['httpd_cores']:.2f} cores  "
                    f"other load {100 * j['foreign']:.0f}%")
        out = {}
        for n in order:
            rs = runs[n]
            out[n] = {k: statistics.median(j[k] for j in rs)
                      for k in ("rps", "p50", "p99", "httpd_us", "httpd_cores", "foreign",
                               "steal")}
            out[n]["rounds"] = [round(j["rps"]) for j in rs]
            if "cache_us" in rs[0]:
                out[n]["cache_us"] = statistics.median(j["cache_us"] for j in rs)
        # Paired per-round ratios: drift of the machine cancels within a round.
        for other in ("plain", "oidc-shm", "oidc-cookie"):
            out[f"ratio_{other}"] = statistics.median(
                a["rps"] / b["rps"] for a, b in zip(runs["jitprov"], runs[other]))
        out["round_ratios"] = [a["rps"] / b["rps"] for a, b in zip(runs["jitprov"],
                                                                   runs["plain"])]
        out["ratio_plain_redis"] = statistics.median(
            a["rps"] / b["rps"] for a, b in zip(runs["jitprov-redis"], runs["plain"]))
        out["foreign_max"] = max(j["foreign"] for rs in runs.values() for j in rs)
        out["foreign_median"] = statistics.median(j["foreign"] for rs in runs.values()
                                                  for j in rs)
        with open("/proc/loadavg") as f:
            out["loadavg"] = (load_before, " ".join(f.read().split()[:3]))
        out["threads"] = threads
        out["n_rounds"], out["secs"] = rounds, secs
        out["loaded"] = out["foreign_median"] > LOADED
        self.results[key] = out
        self.stop_all()

    # ---- part 2

    def callgrind_one(self, n, requests_n, login_users=()):
        """Instructions per request (and per login) of variant n, on httpd -X
        under callgrind with instrumentation off through startup, the first
        login and warm-up.

        Window 1: a client requests PATH back to back; instrumentation goes on,
        and the dump is taken after about requests_n requests. The requests in
        the window are counted exactly from the dump (calls of ap_read_request).
        Windows 2 and 3 (login_users given): first logins of those users, then
        their returning logins, one dump each. The client keeps requesting,
        slowly, so that valgrind answers vgdb; its requests are counted from
        the dump and subtracted at the per-request cost of window 1."""
        v = self.v[n]
        v.stop()
        hd = v.httpd
        if v.kind == "jitprov":
            self.init_db(*v.db)
        # All of it runs as nobody from the start (not root dropping to nobody),
        # so that vgdb's FIFOs and the dump files stay usable by the process.
        run(["chown", "-R", "nobody:nogroup", hd.dir, v.runtime_dir()])
        conf = os.path.join(hd.dir, "conf", "callgrind.conf")
        with open(conf, "w") as f:
            f.write(v.conf(self, mpm=MPM_ONE))
        cgdir = os.path.join(self.dir, "callgrind")
        os.makedirs(cgdir, exist_ok=True)
        shutil.chown(cgdir, "nobody", "nogroup")
        out = os.path.join(cgdir, f"{n}.out")
        for old in glob.glob(out + "*"):
            os.unlink(old)
        env = dict(os.environ, USER="nobody", LOGNAME="nobody")
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        vlog = open(os.path.join(self.dir, f"valgrind-{n}.log"), "w")
        proc = subprocess.Popen(
            nobody + ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                      f"--callgrind-out-file={out}", APACHE, "-X", "-f", conf],
            stdout=vlog, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

        def vgdb(*cmd):
            # --max-invoke-ms=0: no ptrace; valgrind answers while it runs code,
            # and the client below keeps it running.
            r = run(nobody + ["vgdb", f"--pid={proc.pid}", "--max-invoke-ms=0", *cmd],
                    env=env, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"vgdb {' '.join(cmd)}: {r.stdout}{r.stderr}")

        stop = threading.Event()
        count = [0]
        pace = [0.0]
        failure = []

        def client(cookie):
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", hd.port, timeout=60)
            hdrs = {"Cookie": cookie} if cookie else {}
            try:
                while not stop.is_set():
                    conn.request("GET", PATH, headers=hdrs)
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200 or body.decode() != BODY:
                        raise RuntimeError(f"{n} under valgrind answered {r.status}")
                    count[0] += 1
                    if pace[0]:
                        time.sleep(pace[0])
            except Exception as e:  # reported by the main thread
                failure.append(e)
            finally:
                conn.close()

        def wait_count(k, limit):
            deadline = time.monotonic() + limit
            while count[0] < k and not failure and time.monotonic() < deadline:
                time.sleep(0.05)
            if failure:
                raise failure[0]

        def login_window(users):
            # Each login in a fresh cookie jar: the IdP asks for the password.
            hops = 0
            for u in users:
                with browser(self) as s:
                    r = h.login(s, v.url, u, timeout=120)
                if r.status_code != 200 or r.text != BODY:
                    raise RuntimeError(f"{n}: login of {u} under valgrind: {r.status_code}")
                hops += sum(1 for _, url in r.trace if url.startswith(hd.origin))
            return hops

        logins = []
        try:
            if not h.wait_port(hd.port, 180, proc):
                raise RuntimeError(f"httpd -X under valgrind did not start:\n"
                                   f"{h.tail(vlog.name)}\n{h.tail(hd.error_log)}")
            cookie = v.get_session()
            th = threading.Thread(target=client, args=(cookie,), daemon=True)
            th.start()
            wait_count(300, 120)
            vgdb("instrumentation", "on")
            wait_count(count[0] + requests_n, 600)
            vgdb("dump")
            if login_users:
                pace[0] = 0.05
                for kind in (("first", "returning") if v.kind == "jitprov" else ("login",)):
                    logins.append((kind, len(login_users), login_window(login_users)))
                    vgdb("dump")
            stop.set()
            th.join(60)
            if failure:
                raise failure[0]
        finally:
            stop.set()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
            vlog.close()
            h.wait_port_free(hd.port, 10)
        dump = out + ".1"
        if not os.path.exists(dump):
            raise RuntimeError(f"no callgrind dump for {n}: {glob.glob(out + '*')}")
        total, calls = parse_callgrind(dump)
        nreq = calls.get("ap_read_request", 0)
        if nreq < requests_n // 2:
            raise RuntimeError(f"{n}: only {nreq} requests in the callgrind window")
        res = {"ir_per_request": total / nreq, "requests": nreq, "dump": dump, "logins": {}}
        for i, (kind, k, hops) in enumerate(logins):
            ltotal, lcalls = parse_callgrind(f"{out}.{i + 2}")
            background = lcalls.get("ap_read_request", 0) - hops
            res["logins"][kind] = {
                "ir_per_login": (ltotal - background * res["ir_per_request"]) / k,
                "logins": k, "httpd_requests_per_login": hops / k,
                "background_requests": background, "dump": f"{out}.{i + 2}"}
        return res

    def annotate(self, dump, inclusive, limit):
        r = run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                 "--threshold=100", "--auto=no", dump], timeout=120)
        rows = []
        for line in r.stdout.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
            if not m or "PROGRAM TOTALS" in line:
                continue
            rows.append((int(m.group(1).replace(",", "")), m.group(2).strip()))
        return rows[:limit] if limit else rows

    def by_object(self, dump, requests_n):
        objs = {}
        for ir, what in self.annotate(dump, False, 0):
            m = re.search(r"\[([^\]]+)\]\s*$", what)
            obj = os.path.basename(m.group(1)) if m else "?"
            objs[obj] = objs.get(obj, 0) + ir
        return {k: v / requests_n for k, v in sorted(objs.items(), key=lambda kv: -kv[1])}

    def part_cpu(self):
        n_req = self.p["cg_requests"]
        log(f"part 2: callgrind, {n_req} requests per variant on httpd -X")
        self.stop_all()
        out = {}
        for n in self.order:
            res = self.callgrind_one(n, n_req,
                                     self.cg_users if n in ("jitprov", "oidc-shm") else ())
            k = res["requests"]
            res["objects"] = self.by_object(res["dump"], k)
            incl = {f: ir / k for ir, f in self.annotate(res["dump"], True, 0)}
            res["inclusive"] = sorted(((ir, f) for f, ir in incl.items()), reverse=True)[:60]
            res["self"] = {f: ir / k for ir, f in self.annotate(res["dump"], False, 0)}
            for kind, x in res["logins"].items():
                # minus what the background requests spent in the same function
                bg = x["background_requests"]
                li = [((ir - bg * incl.get(f, 0)) / x["logins"], f)
                      for ir, f in self.annotate(x["dump"], True, 0)
                      if re.search(r"\[[^\]]*mod_jitprov[^\]]*\]\s*$", f)]
                x["inclusive"] = sorted(li, reverse=True)[:25]
            out[n] = res
            log(f"  {n:12s} {res['ir_per_request']:10.0f} instructions/request" + "".join(
                f", {k} login {x['ir_per_login'] / 1e6:.2f} M" for k, x in res["logins"].items()))
        base = out["plain"]["ir_per_request"]
        for n in self.order[1:]:
            out[n]["module_ir"] = out[n]["ir_per_request"] - base
            # What the module adds, function by function (own instructions).
            diff = {f: ir - out["plain"]["self"].get(f, 0) for f, ir in out[n]["self"].items()}
            out[n]["self_added"] = sorted(((ir, f) for f, ir in diff.items()),
                                          reverse=True)[:20]
        for n in self.order:
            del out[n]["self"]
        out["ratio_oidc-shm"] = out["jitprov"]["module_ir"] / out["oidc-shm"]["module_ir"]
        out["ratio_oidc-cookie"] = (out["jitprov"]["module_ir"]
                                    / out["oidc-cookie"]["module_ir"])
        self.results["cpu"] = out

    # ---- part 3

    def login_batch(self, v, users, parallel, expect_idp_login=True):
        hd = v.httpd
        mark = os.path.getsize(hd.access_log) if os.path.exists(hd.access_log) else 0
        parent = hd.pid()
        pgpid = self.pg.pid() if (self.pg and v.db[0] == "pgsql") else None
        conns0 = self.idp.stats().get("_connections", 0)
        cpu0, pg0 = cpu_snap(parent), cpu_snap(pgpid)
        idp0 = cpu_snap(self.idp.proc.pid, with_children=False)
        split0, mach0, me0 = cpu_split(parent), machine_cpu(), os.times()

        def one(user):
            with browser(self) as s:
                t = time.monotonic()
                r = v.floor_login(s) if v.kind == "floor" else h.login(s, v.url, user)
                dt = time.monotonic() - t
            if r.status_code != 200 or r.text != BODY:
                raise RuntimeError(f"login of {user} via {v.name}: {r.status_code} "
                                   f"{r.text[:300]}\n{h.tail(hd.error_log, 20)}")
            if expect_idp_login and v.kind != "floor" and not r.logged_in_at_idp:
                raise RuntimeError(f"login of {user}: no IdP login form was posted")
            return dt

        t0 = time.monotonic()
        if parallel:
            with concurrent.futures.ThreadPoolExecutor(self.p["par_clients"]) as ex:
                lat = list(ex.map(one, users))
        else:
            lat = [one(u) for u in users]
        wall = time.monotonic() - t0
        time.sleep(0.3)  # let the last log lines and CPU ticks land
        cpu = cpu_delta(cpu0, cpu_snap(parent))
        pgcpu = cpu_delta(pg0, cpu_snap(pgpid)) if pgpid else None
        idpcpu = cpu_delta(idp0, cpu_snap(self.idp.proc.pid, with_children=False))
        split1, mach1, me1 = cpu_split(parent), machine_cpu(), os.times()
        mine = (me1.user + me1.system + me1.children_user + me1.children_system
                - me0.user - me0.system - me0.children_user - me0.children_system)
        span = wall + 0.3
        # What else ran on the machine meanwhile: everything busy but httpd,
        # the IdP, the database server and this client.
        foreign = max(0.0, (mach1[0] - mach0[0]) - cpu - idpcpu - (pgcpu or 0) - mine)
        with open(hd.access_log, "rb") as f:
            f.seek(mark)
            lines = f.read().decode("utf-8", "replace").splitlines()
        d_all, d_cb, nreq = 0, 0, 0
        for line in lines:
            try:
                req, status, dus = line.rsplit("|", 2)
            except ValueError:
                continue
            nreq += 1
            d_all += int(dus)
            if req.split(" ")[1].startswith("/callback"):
                d_cb += int(dus)
        k = len(users)
        # Connections opened to the IdP, the browser's included (one per
        # login): what a module opens beyond that, it opens per login. The
        # second look at the counter opened one more itself.
        conns = self.idp.stats().get("_connections", 0) - conns0 - 1
        return {"logins": k, "rate": k / wall, "wall_ms": 1000 * statistics.median(lat),
                "idp_conns": conns / k,
                "httpd_cpu_ms": 1000 * cpu / k,
                "httpd_user_s": split1[0] - split0[0], "httpd_sys_s": split1[1] - split0[1],
                "span_s": span, "foreign": foreign / (span * os.cpu_count()),
                "db_cpu_ms": (1000 * pgcpu / k) if pgcpu is not None else None,
                "idp_cpu_ms": 1000 * idpcpu / k,
                "httpd_ms": d_all / 1000 / k, "callback_ms": d_cb / 1000 / k,
                "httpd_requests": nreq / k}

    def logins_for(self, v, label, first_and_returning):
        p = self.p
        seq = self.users[:p["seq_logins"]]
        par = self.users[p["seq_logins"]:]
        res = {}
        # one login outside the measurement: discovery, JWKS, database connections
        v.get_session("benchwarm")
        plan = ([("first", "seq", seq), ("first", "par", par), ("returning", "seq", seq),
                 ("returning", "par", par)] if first_and_returning
                else [("login", "seq", seq), ("login", "par", par)])
        for kind, how, users in plan:
            r = self.login_batch(v, users, how == "par")
            res[f"{kind}-{how}"] = r
            log(f"  {label:26s} {kind:9s} {how} {r['logins']:4d} logins  {r['rate']:6.1f}/s  "
                f"httpd CPU {r['httpd_cpu_ms']:6.2f} ms/login  %D {r['httpd_ms']:6.2f} ms "
                f"(callback {r['callback_ms']:.2f})  IdP CPU {r['idp_cpu_ms']:.2f} ms")
        return res

    def paired_logins(self, v, o, pair_users, u=None, floor=None):
        """mod_jitprov (SQLite) and mod_auth_openidc side by side, alternating:
        each round logs fresh users in through mod_jitprov (first: account
        created), again (returning: account updated), and through
        mod_auth_openidc. Machine noise hits both within a round. With u
        (mod_jitprov with JITProvUserInfo On, its own database), the round's
        users log in through it too, as first logins there: the same calls
        to the IdP as mod_auth_openidc makes by default. With floor (httpd
        without an authentication module), the same number of logins' worth
        of its three requests: what both modules pay before doing anything."""
        p = self.p
        rounds = []
        kinds = (["first", "returning"] + (["userinfo"] if u else [])
                 + (["floor"] if floor else []) + ["oidc"])
        srv = {"first": v, "returning": v, "userinfo": u, "floor": floor, "oidc": o}
        # Every server idle (started, warm, no requests) over the same kind of
        # window: the CPU httpd burns by itself (timers, the listener, the
        # parent's maintenance) is counted in every batch; reported and taken
        # out below so that it does not flatter or hurt either module.
        idle = {}
        for k, x in (("jitprov", v), ("userinfo", u), ("floor", floor), ("oidc", o)):
            if not x:
                continue
            pid = x.httpd.pid()
            a = cpu_snap(pid)
            time.sleep(p["idle_secs"])
            idle[k] = cpu_delta(a, cpu_snap(pid)) / p["idle_secs"]
        sums = {k: {"user": 0.0, "sys": 0.0, "cpu": 0.0, "span": 0.0, "n": 0, "conns": 0.0}
                for k in kinds}
        foreign = []
        for rnd in range(p["pair_rounds"]):
            users = pair_users[rnd]
            steps = [(k, srv[k]) for k in kinds]
            if rnd % 2:
                steps = steps[2:] + steps[:2]
            r = {k: self.login_batch(x, users, False) for k, x in steps}
            for k, x in r.items():
                sm = sums[k]
                sm["user"] += x["httpd_user_s"]
                sm["sys"] += x["httpd_sys_s"]
                sm["cpu"] += x["httpd_cpu_ms"] * x["logins"] / 1000
                sm["span"] += x["span_s"]
                sm["n"] += x["logins"]
                sm["conns"] += x["idp_conns"] * x["logins"]
                foreign.append(x["foreign"])
            rounds.append({**{k: r[k]["httpd_cpu_ms"] / r["oidc"]["httpd_cpu_ms"]
                              for k in kinds if k != "oidc"},
                           "ms": {k: x["httpd_cpu_ms"] for k, x in r.items()}})
            log(f"  paired round {rnd + 1}: httpd CPU/login mod_jitprov first "
                f"{r['first']['httpd_cpu_ms']:.2f} ms, returning "
                f"{r['returning']['httpd_cpu_ms']:.2f} ms, "
                + (f"with userinfo {r['userinfo']['httpd_cpu_ms']:.2f} ms, " if u else "")
                + (f"no module {r['floor']['httpd_cpu_ms']:.2f} ms, " if floor else "")
                + f"mod_auth_openidc {r['oidc']['httpd_cpu_ms']:.2f} ms")
        # Per login over all rounds: user and system time (clock ticks), and
        # the CPU net of what the idle server would have used in the same time.
        tot = {}
        for k, sm in sums.items():
            ik = k if k in ("oidc", "userinfo", "floor") else "jitprov"
            tot[k] = {"n": sm["n"],
                      "user_ms": 1000 * sm["user"] / sm["n"], "sys_ms": 1000 * sm["sys"] / sm["n"],
                      "cpu_ms": 1000 * sm["cpu"] / sm["n"],
                      "idle_ms": 1000 * idle[ik] * sm["span"] / sm["n"]}
            tot[k]["net_ms"] = tot[k]["cpu_ms"] - tot[k]["idle_ms"]
        mine = [k for k in kinds if k != "oidc"]
        out = {"rounds": rounds, "logins": len(pair_users[0]),
               "idle_ms_per_s": {k: 1000 * x for k, x in idle.items()}, "total": tot,
               "net": {k: tot[k]["net_ms"] / tot["oidc"]["net_ms"] for k in mine},
               "idp_conns": {k: sm["conns"] / sm["n"] for k, sm in sums.items()},
               "foreign_median": statistics.median(foreign), "foreign_max": max(foreign),
               "ms": {k: statistics.median(x["ms"][k] for x in rounds) for k in kinds}}
        for k in mine:
            out[k] = statistics.median(x[k] for x in rounds)
        if floor:
            # What each module adds to the floor, relative to each other.
            out["module_only"] = {
                k: statistics.median((x["ms"][k] - x["ms"]["floor"])
                                     / (x["ms"]["oidc"] - x["ms"]["floor"]) for x in rounds)
                for k in mine if k != "floor"}
        return out

    def paired_logins_tls(self, v, o, u):
        """The Debian series again with the IdP over https, as every IdP in
        production is (a CA of its own, an RSA 2048 certificate): a module
        that opens a connection per call to the IdP pays a TLS handshake for
        it, one that keeps its connections does not."""
        log("  side by side again with the IdP over https (Debian's stock MPM values)")
        plain = self.idp
        tls = h.IdP(os.path.join(self.dir, "tls-idp"),
                    tls=h.make_tls(os.path.join(self.dir, "tls")))
        tls.clients, tls.users, tls.keys = plain.clients, plain.users, plain.keys
        tls.start()
        self.idp = tls
        try:
            for x in (v, u, o):
                x.start(self, access_log=True, mpm=MPM_DEBIAN)
            for x in (v, u, o):
                for _ in range(2):
                    self.login_batch(x, self.warm_users_tls, False)
            return self.paired_logins(v, o, self.pair_users_tls, u)
        finally:
            for x in (o, u, v):
                x.stop()
            self.idp = plain
            tls.stop()

    def part_logins(self):
        p = self.p
        log(f"part 3: logins, {p['seq_logins']} sequential + {p['par_logins']} with "
            f"{p['par_clients']} parallel clients, first and returning")
        self.stop_all()
        out = {}
        v, o = self.v["jitprov"], self.v["oidc-shm"]
        # SQLite, then mod_auth_openidc (nothing to provision: first and
        # returning logins are alike), then both in alternation.
        self.fresh_sqlite()
        v.start(self, access_log=True)
        out["jitprov-sqlite"] = self.logins_for(v, "mod_jitprov + SQLite", True)
        o.start(self, access_log=True)
        out["oidc-shm"] = self.logins_for(o, "mod_auth_openidc (shm)", False)
        out["paired"] = self.paired_logins(v, o, self.pair_users)
        o.stop()
        v.stop()
        # Again with Debian's stock apache2 MPM values (the headline's
        # configuration): 2 children of 25 threads to start, more on demand.
        log("  side by side again with Debian's stock MPM values")
        # With them, mod_jitprov with JITProvUserInfo On (its own database):
        # the calls to the IdP mod_auth_openidc makes by default.
        u, fl = self.v["jitprov-ui"], self.v["floor"]
        u.httpd.reset_database()
        for x in (v, u, fl, o):
            x.start(self, access_log=True, mpm=MPM_DEBIAN)
        u.get_session("benchwarm")
        # Warm like the first series, which follows the login batches above:
        # the same logins through each, twice (worker threads, connections
        # to the IdP and the database, allocator arenas), before measuring.
        for x in (v, u, fl, o):
            for _ in range(2):
                self.login_batch(x, self.warm_users_deb, False)
        out["paired_debian"] = self.paired_logins(v, o, self.pair_users_deb, u, fl)
        out["jitprov-sqlite"]["rows"] = self.db_counts(*v.db)
        ui_rows = self.db_counts(*u.db)
        n_ui = 1 + len(self.warm_users_deb) + sum(len(x) for x in self.pair_users_deb)
        if ui_rows.get("jitprov_accounts") != n_ui:
            raise RuntimeError(f"JITProvUserInfo On: {ui_rows} accounts after {n_ui} users")
        for x in (o, fl, u, v):
            x.stop()
        out["paired_tls"] = self.paired_logins_tls(v, o, u)
        # PostgreSQL
        try:
            self.pg = Postgres(self.dir).start()
            v.db = ("pgsql", self.pg.params)
            self.init_db(*v.db)
            v.start(self, access_log=True)
            out["jitprov-pgsql"] = self.logins_for(v, "mod_jitprov + PostgreSQL", True)
            out["jitprov-pgsql"]["rows"] = self.db_counts(*v.db)
            v.stop()
        finally:
            if self.pg:
                self.pg.stop()
            v.db = ("sqlite3", v.httpd.db_path)
        n_first = len(self.users) + 1
        expect = {"jitprov-sqlite": n_first + sum(len(u) for u in self.pair_users)
                  + sum(len(u) for u in self.pair_users_deb) + len(self.warm_users_deb),
                  "jitprov-pgsql": n_first}
        for db, n in expect.items():
            rows = out[db]["rows"]
            if rows.get("jitprov_accounts") != n:
                raise RuntimeError(f"{db}: {rows} accounts after {n} distinct users")
            # Returning logins with unchanged claims write no audit row: the
            # creates should be the only rows (the summary line says which).
            if rows.get("jitprov_audit") != n:
                log(f"  {db}: {rows.get('jitprov_audit')} audit rows after {n} distinct users")
        self.results["logins"] = out

    # ---- part 4

    def part_memory(self):
        """RSS of the children over mem_requests authenticated requests, after a
        warm-up that keeps most worker threads busy (48 connections for 64
        threads; more make the event MPM close keep-alive connections), so that thread stacks, pools and allocator arenas have reached
        their working size before the first reading. Anonymous RSS (the heap) is
        what a leak grows; shared memory (scoreboard, shmcb) is reported apart."""
        p = self.p
        total = p["mem_requests"]
        conns = 48
        log(f"part 4: RSS of the httpd children across {total:,} authenticated requests")
        self.stop_all()
        self.fresh_sqlite()
        v = self.v["jitprov"]
        v.start(self)
        v.get_session()
        parent, kids = v.pids()
        # Warm-up: a fifth of the run, the time the heap takes to settle here,
        # and past the session's first activity write-back (60 s after the
        # login with the default timeouts): from then on each process also
        # keeps the replacement cookie and what it opens to, a step of a
        # megabyte or two that a shorter warm-up reads as a trend.
        warm = wrk(v.url, v.cookie, 2, conns)
        wrk(v.url, v.cookie, max(65, round(total / 5 / warm["rps"])), conns)
        before = {k: rss_kb(k) for k in kids}
        samples = [(0, sum(before.values()), sum(rss_kb(k, "RssAnon") for k in kids))]
        done = 0
        rate = warm["rps"]
        chunk = total / p["mem_chunks"]
        while done < total:
            secs = max(1, round(min(chunk, total - done) / rate))
            j = wrk(v.url, v.cookie, secs, conns, socket_errors_ok=True)
            done += j["requests"]
            rate = j["rps"]
            samples.append((done, sum(rss_kb(k) for k in kids),
                            sum(rss_kb(k, "RssAnon") for k in kids)))
            log(f"  {done:>10,} requests  RSS {samples[-1][1]:,} kB (anonymous "
                f"{samples[-1][2]:,} kB)")
        after = {k: rss_kb(k) for k in kids}
        if sorted(children_of(parent)) != sorted(kids):
            raise RuntimeError("the httpd children changed during the memory run")
        # The heap breathes (malloc arenas shared by 64 threads grow and trim by
        # a few hundred kB); a leak raises it for good. So the verdict is on the
        # least-squares trend over all readings, times the requests.
        anon = [a for _, _, a in samples]
        xs = [n for n, _, _ in samples]
        mx, my = statistics.mean(xs), statistics.mean(anon)
        slope = (sum((x - mx) * (y - my) for x, y in zip(xs, anon))
                 / sum((x - mx) ** 2 for x in xs))
        self.results["memory"] = {"requests": done, "before_kb": before, "after_kb": after,
                                  "samples": samples,
                                  "growth_kb": sum(after.values()) - sum(before.values()),
                                  "anon_trend_kb": slope * done,
                                  "anon_range_kb": (min(anon), max(anon)),
                                  "slope_bytes_per_request": slope * 1024}
        v.stop()

    # ---- all

    def run(self):
        parts = self.args.parts
        try:
            self.start_idp()
            if "headline" in parts:
                self.part_throughput("headline", MPM_DEBIAN, threads=2)
            if "throughput" in parts:
                self.part_throughput()
            if "cpu" in parts:
                self.part_cpu()
            if "logins" in parts:
                self.part_logins()
            if "memory" in parts:
                self.part_memory()
        finally:
            self.stop_all()
            self.idp.stop()
            self.redis.stop()
            if self.pg:
                self.pg.stop()
            for v in self.v.values():
                shutil.rmtree(v.runtime_dir(), ignore_errors=True)
            if self.args.keep:
                print(f"files kept in {self.dir}")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------- report

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return "?"


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    virt = sh("systemd-detect-virt 2>/dev/null || true") or "?"
    if "-fc-" in platform.release():
        virt = f"Firecracker microVM ({virt} inside)"
    elif "hypervisor" in sh("grep -m1 '^flags' /proc/cpuinfo"):
        virt += ", under a hypervisor"
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} logical cores"),
        ("memory", mem),
        ("virtualisation", virt),
        ("OS", sh(". /etc/os-release && echo $PRETTY_NAME") + ", kernel " + platform.release()),
        ("httpd", sh(f"{APACHE} -v | head -1 | cut -d: -f2-").strip() + ", event MPM"),
        ("mod_jitprov", sh(f"git -C {ROOT} describe --always --dirty 2>/dev/null")
         or "working tree"),
        ("mod_auth_openidc", sh("dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc")),
        ("wrk", sh("dpkg-query -W -f='${Version}' wrk")),
        ("valgrind", sh("valgrind --version")),
        ("SQLite", sh("dpkg-query -W -f='${Version}' libsqlite3-0")),
        ("PostgreSQL", sh(f"{PG_BIN}/postgres --version")),
        ("IdP", "tests/idp (oidc-provider " + sh(
            f"node -p \"require('{ROOT}/tests/idp/node_modules/oidc-provider/package.json')"
            ".version\"") + ", node " + sh("node --version") + ")"),
    ]


def verdict(ok):
    return "**holds**" if ok else "**misses**"


VARIANTS = ("plain", "jitprov", "oidc-shm", "oidc-cookie")
# The requests parts also measure mod_jitprov with Redis (results since 2026-12-03).
REQ_VARIANTS = VARIANTS + ("jitprov-redis",)


def report(res, started, elapsed):
    p = MODES[res["mode"]]
    t, c, lg, m = (res.get(k) for k in ("throughput", "cpu", "logins", "memory"))
    hl = res.get("headline")
    L = []
    add = L.append
    add(f"# mod_jitprov benchmark, {started:%Y-%m-%d %H:%M} ({res['mode']} mode)")
    add("")
    add(f"Command: `tests/bench/run{' --quick' if res['mode'] == 'quick' else ''}` "
        f"({elapsed / 60:.1f} minutes). Client, httpd, IdP and database share the machine; "
        f"all traffic on loopback. Load average when the run started: {res['loadavg']}; "
        f"the bench and everything it starts ran at nice {res['nice']}.")
    add("")
    add("| machine | |")
    add("|---|---|")
    for k, val in machine():
        add(f"| {k} | {val} |")
    add("")
    targets = []
    add("## Targets")
    add("")
    add("| target | measured | |")
    add("|---|---|---|")
    if hl:
        ok = hl["ratio_plain"] >= 0.90 and hl["ratio_oidc-shm"] >= 2.0 and not hl["loaded"]
        targets.append(ok)
        flag = (f" **VOID: measured under load** (other work used {100 * hl['foreign_median']:.0f}%"
                f" of the machine, load average {hl['loadavg'][0]} -> {hl['loadavg'][1]}); "
                "rerun on an idle machine" if hl["loaded"] else "")
        add(f"| headline, Debian's stock event MPM, wrk -t2 -c{p['conns']}: authenticated >= "
            f"0.90 x unprotected and >= 2 x mod_auth_openidc server-cache | "
            f"**{hl['ratio_plain']:.3f} x** unprotected, **{hl['ratio_oidc-shm']:.2f} x** "
            f"mod_auth_openidc (httpd CPU {hl['jitprov']['httpd_cores']:.2f} vs "
            f"{hl['plain']['httpd_cores']:.2f} cores unprotected){flag} | {verdict(ok)} |")
    if t:
        ok = t["ratio_plain"] >= 0.90
        targets.append(ok)
        extra = ""
        if c:
            q = c["ratio_oidc-shm"]
            lo, hi = (1 / (1 + (1 / r - 1) * q) for r in (0.35, 0.41))
            extra = (f"; projected {lo:.2f}-{hi:.2f} x where mod_auth_openidc keeps "
                     "0.35-0.41 x (see 2.)")
        add(f"| authenticated throughput >= 0.90 x unprotected | **{t['ratio_plain']:.3f} x** "
            f"(per round {min(t['round_ratios']):.2f}-{max(t['round_ratios']):.2f}; "
            f"{t['ratio_oidc-shm']:.2f} x mod_auth_openidc server-cache, "
            f"{t['ratio_oidc-cookie']:.2f} x client-cookie{extra}) | {verdict(ok)} |")
    if c:
        ok = c["ratio_oidc-shm"] <= 0.25 and c["ratio_oidc-cookie"] <= 0.25
        targets.append(ok)
        add(f"| module CPU per request <= 1/4 of mod_auth_openidc (callgrind) | "
            f"**{c['ratio_oidc-shm']:.3f}** of server-cache, **{c['ratio_oidc-cookie']:.3f}** "
            f"of client-cookie ({c['jitprov']['module_ir']:,.0f} vs "
            f"{c['oidc-shm']['module_ir']:,.0f} / {c['oidc-cookie']['module_ir']:,.0f} "
            f"instructions) | {verdict(ok)} |")
        jl, ol = c["jitprov"].get("logins"), c["oidc-shm"].get("logins")
        if jl and ol:
            worst = max(x["ir_per_login"] for x in jl.values())
            r = worst / ol["login"]["ir_per_login"]
            ok = r <= 0.5
            targets.append(ok)
            add(f"| httpd CPU per login <= 1/2 of mod_auth_openidc (callgrind instructions, "
                f"SQLite provisioning included) | **{r:.2f}** ({worst / 1e6:.2f} M vs "
                f"{ol['login']['ir_per_login'] / 1e6:.2f} M instructions) | {verdict(ok)} |")
    for key, mpm_name in (("paired", "the bench's MPM values"),
                          ("paired_debian", "Debian's stock MPM values"),
                          ("paired_tls", "Debian's stock MPM values, the IdP over https")):
        pr = lg.get(key) if lg else None
        if not pr:
            continue
        worst = max(pr["first"], pr["returning"])
        ok = worst <= 0.5
        targets.append(ok)
        tt = pr.get("total")
        detail = ""
        if tt:
            def us(k):
                return (f"{tt[k]['cpu_ms']:.2f} ms = user {tt[k]['user_ms']:.1f} + system "
                        f"{tt[k]['sys_ms']:.1f}")
            detail = (f"; over all rounds per login: mod_jitprov first {us('first')}, "
                      f"returning {us('returning')}, mod_auth_openidc {us('oidc')} (user/system "
                      f"from clock ticks, +-{10 / tt['oidc']['n']:.2f} ms); idle httpd used "
                      f"{pr['idle_ms_per_s']['jitprov']:.2f} / {pr['idle_ms_per_s']['oidc']:.2f} "
                      f"ms per second, ratios of the totals net of it: first "
                      f"{pr['net']['first']:.2f}, returning {pr['net']['returning']:.2f}; "
                      f"other work used {100 * pr['foreign_median']:.0f}% of the machine "
                      f"(median of the batches, max {100 * pr['foreign_max']:.0f}%)")
        ui = ""
        if "userinfo" in pr:
            ui = (f"; with the same calls to the IdP as mod_auth_openidc makes by default "
                  f"(JITProvUserInfo On: token and userinfo endpoints), first "
                  f"**{pr['userinfo']:.2f}** ({pr['ms']['userinfo']:.2f} ms)")
        if "module_only" in pr:
            ui += (f"; what the module adds to httpd's own {pr['ms']['floor']:.2f} ms for the "
                   f"same requests: first **{pr['module_only']['first']:.2f}**, returning "
                   f"**{pr['module_only']['returning']:.2f}**"
                   + (f", with userinfo **{pr['module_only']['userinfo']:.2f}**"
                      if "userinfo" in pr["module_only"] else "")
                   + " of mod_auth_openidc's")
        add(f"| httpd CPU per login <= 1/2 of mod_auth_openidc (CPU time incl. kernel, all "
            f"httpd processes; {len(pr['rounds'])} alternating rounds of {pr['logins']} "
            f"sequential logins, SQLite, {mpm_name}, same run; both modules with their "
            f"defaults: mod_auth_openidc also calls the userinfo endpoint) | first "
            f"**{pr['first']:.2f}**, returning **{pr['returning']:.2f}** (medians of the rounds: {pr['ms']['first']:.2f} / "
            f"{pr['ms']['returning']:.2f} ms vs {pr['ms']['oidc']:.2f} ms){ui}{detail} | "
            f"{verdict(ok)} |")
    if m:
        ok = m["anon_trend_kb"] <= 512
        targets.append(ok)
        lo, hi = m["anon_range_kb"]
        add(f"| no RSS growth over {m['requests']:,} authenticated requests | heap (anonymous "
            f"RSS, all children) trend {m['anon_trend_kb']:+,.0f} kB over the run "
            f"({m['slope_bytes_per_request']:+.2f} bytes/request), readings between {lo:,} "
            f"and {hi:,} kB; total RSS end - start {m['growth_kb']:+,} kB | {verdict(ok)} |")
    add("")
    for key, title, mpm_text in (("headline", "Headline: Debian's stock apache2", MPM_DEBIAN),):
        x = res.get(key)
        if not x:
            continue
        add(f"## 0. {title} (wrk -t{x['threads']} -c{p['conns']}, "
            f"{x.get('n_rounds', p['rounds'])} alternating rounds of "
            f"{x.get('secs', p['wrk_secs'])} s)")
        add("")
        add("Event MPM as Debian ships it (" + ", ".join(mpm_text.splitlines()) + "). "
            f"Load average before/after: {x['loadavg'][0]} / {x['loadavg'][1]}; other work "
            f"used a median {100 * x['foreign_median']:.0f}% (at most "
            f"{100 * x['foreign_max']:.0f}%) of the machine"
            + (" — **measured under load: not a valid headline**." if x["loaded"] else "."))
        add("")
        add("| variant | requests/s | httpd CPU (cores) | p50 | p99 | ratio to unprotected | "
            "requests/s per round |")
        add("|---|---:|---:|---:|---:|---:|---|")
        for n in (n for n in REQ_VARIANTS if n in x):
            r = x[n]
            add(f"| {LABELS[n]} | {r['rps']:,.0f} | {r['httpd_cores']:.2f} | "
                f"{r['p50'] / 1000:.2f} ms | {r['p99'] / 1000:.2f} ms | "
                f"{r['rps'] / x['plain']['rps']:.3f} | {', '.join(str(v) for v in r['rounds'])} |")
        add("")
        if "jitprov-redis" in x:
            xr = x["jitprov-redis"]
            add("With `JITProvSessionCache redis` (a cluster's configuration; Redis on the same "
                f"machine): **{x['ratio_plain_redis']:.3f}** of the unprotected rate (median "
                f"of the per-round ratios), httpd {xr['httpd_us']:.1f} us and Redis "
                f"{xr.get('cache_us', 0):.1f} us of CPU per request, against "
                f"{x['jitprov']['httpd_us']:.1f} us with the default shmcb and "
                f"{x['plain']['httpd_us']:.1f} us unprotected.")
            add("")
        rr = sorted(x["round_ratios"])
        if len(rr) >= 4:
            q = statistics.quantiles(rr, n=4)
            add(f"Authenticated / unprotected in each round (the target's figure is their "
                f"median, **{x['ratio_plain']:.3f}**): quartiles {q[0]:.3f} and {q[2]:.3f}, "
                f"lowest {rr[0]:.3f}, highest {rr[-1]:.3f}. Single rounds of one server move "
                "far more than the servers differ: read the median, not a round.")
            add("")
    if t:
        add(f"## 1. Authenticated requests (wrk, {p['rounds']} alternating rounds of "
            f"{p['wrk_secs']} s, {p['conns']} connections, 1 thread, keep-alive)")
        add("")
        add(f"GET `{PATH}` ({len(BODY)} bytes), same httpd and event MPM (2 children x 32 "
            "threads), no access log. Medians over the rounds; the ratios are medians of the "
            "per-round ratios. httpd CPU/request is all httpd processes' CPU time (/proc) "
            "divided by the requests.")
        add("")
        add("| variant | requests/s | p50 | p99 | medians' ratio to unprotected | "
            "httpd CPU/request | httpd CPU (cores) | requests/s per round |")
        add("|---|---:|---:|---:|---:|---:|---:|---|")
        base = t["plain"]["rps"]
        for n in (n for n in REQ_VARIANTS if n in t):
            r = t[n]
            add(f"| {LABELS[n]} | {r['rps']:,.0f} | {r['p50'] / 1000:.2f} ms | "
                f"{r['p99'] / 1000:.2f} ms | {r['rps'] / base:.3f} | {r['httpd_us']:.1f} us | "
                f"{r.get('httpd_cores', 0):.2f} | {', '.join(str(x) for x in r['rounds'])} |")
        add("")
        add(f"Per-round ratios, median: mod_jitprov / unprotected **{t['ratio_plain']:.3f}** "
            f"({', '.join(f'{x:.2f}' for x in t['round_ratios'])}); mod_jitprov / "
            f"mod_auth_openidc: **{t['ratio_oidc-shm']:.2f}** (server-cache), "
            f"**{t['ratio_oidc-cookie']:.2f}** (client-cookie). CPU used by other work on the "
            f"machine during the runs: median {100 * t['foreign_median']:.0f}%, at most "
            f"{100 * t['foreign_max']:.0f}% of its capacity.")
        add("")
    if c:
        add(f"## 2. CPU per request and per login (callgrind, httpd -X, about "
            f"{p['cg_requests']:,} keep-alive requests; {p['cg_logins']} logins)")
        add("")
        add("Instructions of the httpd process (user space) per request, counted exactly: the "
            "requests in the window are the calls of ap_read_request in the dump.")
        add("")
        add("| variant | instructions/request | module's own (minus unprotected) |")
        add("|---|---:|---:|")
        for n in VARIANTS:
            r = c[n]
            own = f"{r['module_ir']:,.0f}" if "module_ir" in r else "-"
            add(f"| {LABELS[n]} | {r['ir_per_request']:,.0f} | {own} |")
        add("")
        add(f"mod_jitprov / mod_auth_openidc (own instructions): "
            f"**{c['ratio_oidc-shm']:.3f}** (server-cache), "
            f"**{c['ratio_oidc-cookie']:.3f}** (client-cookie).")
        add("")
        # Throughput at saturation goes as 1 / (CPU per request). If a module
        # adding I instructions leaves ratio r of the unprotected rate, the
        # unprotected request costs as much CPU as I * r / (1 - r) instructions
        # (kernel, client and all), and mod_jitprov's ratio follows from that.
        q = c["ratio_oidc-shm"]

        def proj(r):
            return 1 / (1 + (1 / r - 1) * q)
        line = ("Projection from these instruction counts: where mod_auth_openidc "
                "(server-cache) keeps 0.35-0.41 of the unprotected rate (the issue's 2-core "
                f"reference), mod_jitprov would keep {proj(0.35):.2f}-{proj(0.41):.2f}")
        if t:
            line += (f"; from this run's mod_auth_openidc ratio "
                     f"({t['oidc-shm']['rps'] / t['plain']['rps']:.2f}) it predicts "
                     f"{proj(t['oidc-shm']['rps'] / t['plain']['rps']):.2f}, measured "
                     f"{t['ratio_plain']:.2f}")
        add(line + ".")
        add("")
        rows = [(n, k, x) for n in ("jitprov", "oidc-shm")
                for k, x in c[n].get("logins", {}).items()]
        if rows:
            add("Per login (everything the httpd process executes for one code flow: the "
                "redirect to the IdP, the callback with the token request, ID token check, "
                "provisioning in SQLite and the session, the final request; the background "
                "requests that keep valgrind responsive are subtracted):")
            add("")
            add("| variant | login | instructions/login | httpd requests/login |")
            add("|---|---|---:|---:|")
            for n, k, x in rows:
                add(f"| {LABELS[n]} | {k} | {x['ir_per_login']:,.0f} | "
                    f"{x['httpd_requests_per_login']:.0f} |")
            add("")
        add("Self instructions per request by shared object:")
        add("")
        objs = []
        for n in VARIANTS:
            for o in c[n]["objects"]:
                if (o not in objs and o not in ("?", "???")
                        and max(c[x]["objects"].get(o, 0) for x in VARIANTS) >= 1):
                    objs.append(o)
        add("| object | " + " | ".join(LABELS[n] for n in VARIANTS) + " |")
        add("|---|" + "---:|" * len(VARIANTS))
        for o in objs[:16]:
            add(f"| {o} | " + " | ".join(f"{c[n]['objects'].get(o, 0):,.0f}"
                                         for n in VARIANTS) + " |")
        add("")
        add("mod_jitprov per request: its functions with callees (inclusive), then the "
            "functions whose own instructions grew most over the unprotected run (the "
            "module's cost wherever it lands); share = of the module's own instructions.")
        add("")
        add("```")
        jp_total = c["jitprov"]["module_ir"]
        for ir, f in c["jitprov"]["inclusive"]:
            if re.search(r"\[[^\]]*mod_jitprov[^\]]*\]\s*$", f):
                add(f"{ir:9,.0f}  {100 * ir / jp_total:5.1f}%  incl  {short(f)}")
        add("")
        for ir, f in c["jitprov"]["self_added"]:
            add(f"{ir:9,.0f}  {100 * ir / jp_total:5.1f}%  self  {short(f)}")
        add("```")
        add("")
        jl = c["jitprov"].get("logins", {}).get("first")
        if jl:
            add("mod_jitprov per first login (inclusive instructions of its functions):")
            add("")
            add("```")
            for ir, f in jl["inclusive"]:
                add(f"{ir:11,.0f}  {short(f)}")
            add("```")
            add("")
    if lg:
        add(f"## 3. Logins ({p['seq_logins']} sequential, {p['par_logins']} with "
            f"{p['par_clients']} parallel clients; full code flow through httpd and the IdP)")
        add("")
        add("Each login is a new browser (cookie jar): GET the page, 302 to the IdP, login "
            "form, POST, redirects, the callback, the page. *first*: the account is created; "
            "*returning*: the same users again, the account is updated. Per login: httpd CPU "
            "(all httpd processes, /proc, kernel included), the database server's CPU "
            "(PostgreSQL; SQLite runs inside httpd), the IdP's CPU (node), httpd time = the "
            "sum of %D over the flow's httpd requests, of it the callback (which waits for "
            "the IdP's token endpoint, and with parallel clients for its queue), and the "
            "client's wall time per login (median).")
        add("")
        add("| variant | login | logins/s | httpd CPU | DB server CPU | IdP CPU | httpd %D | "
            "of it /callback | wall (median) |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for db, name in (("jitprov-sqlite", "mod_jitprov, SQLite"),
                         ("jitprov-pgsql", "mod_jitprov, PostgreSQL"),
                         ("oidc-shm", "mod_auth_openidc (shm)")):
            for k, r in lg[db].items():
                if k == "rows":
                    continue
                dbc = f"{r['db_cpu_ms']:.2f} ms" if r["db_cpu_ms"] is not None else "-"
                add(f"| {name} | {k} | {r['rate']:.1f} | {r['httpd_cpu_ms']:.2f} ms | {dbc} | "
                    f"{r['idp_cpu_ms']:.2f} ms | {r['httpd_ms']:.2f} ms | "
                    f"{r['callback_ms']:.2f} ms | {r['wall_ms']:.1f} ms |")
        add("")
        for key, mpm_name in (("paired", "the bench's MPM values"),
                              ("paired_debian", "Debian's stock MPM values"),
                              ("paired_tls", "Debian's stock MPM values and the IdP over "
                                             "https (both modules trusting its CA)")):
            pr = lg.get(key)
            if not pr:
                continue
            has_ui = "userinfo" in pr
            add(f"Side by side: {len(pr['rounds'])} rounds, each {pr['logins']} sequential logins "
                "of fresh users through mod_jitprov (first), the same users again (returning) "
                + ("and, as first logins in a database of its own, through mod_jitprov with "
                   "JITProvUserInfo On (the userinfo endpoint at every login, as "
                   "mod_auth_openidc does by default), " if has_ui else "")
                + ("the same number of logins' worth of requests to an httpd without any "
                   "authentication module (a redirect away, a redirect back from /callback, "
                   "the page, on one connection, with pauses where the IdP and the browser "
                   "work), " if "floor" in pr else "")
                + f"and through mod_auth_openidc, in alternating order, with {mpm_name}. "
                "httpd CPU per login:")
            add("")
            kinds = (["first", "returning"] + (["userinfo"] if has_ui else [])
                     + (["floor"] if "floor" in pr else []))
            names = {"first": "mod_jitprov first", "returning": "mod_jitprov returning",
                     "userinfo": "mod_jitprov first, JITProvUserInfo On",
                     "floor": "no module"}
            abbrev = {"first": "first", "returning": "returning", "userinfo": "userinfo",
                      "floor": "no module"}
            add("| round | " + " | ".join(names[k] for k in kinds) + " | mod_auth_openidc | "
                + " | ".join(f"{abbrev[k]} / openidc" for k in kinds) + " |")
            add("|---|" + "---:|" * (2 * len(kinds) + 1))
            for i, r in enumerate(pr["rounds"]):
                add(f"| {i + 1} | " + " | ".join(f"{r['ms'][k]:.2f} ms" for k in kinds)
                    + f" | {r['ms']['oidc']:.2f} ms | "
                    + " | ".join(f"{r[k]:.2f}" for k in kinds) + " |")
            add("| median | " + " | ".join(f"{pr['ms'][k]:.2f} ms" for k in kinds)
                + f" | {pr['ms']['oidc']:.2f} ms | "
                + " | ".join(f"**{pr[k]:.2f}**" for k in kinds) + " |")
            add("")
            if "idp_conns" in pr:
                ic = pr["idp_conns"]
                add("Connections opened to the IdP per login, the browser's included (it opens one "
                    "per login; none without a module): "
                    + ", ".join(f"{names[k]} {ic[k]:.2f}" for k in kinds if k in ic)
                    + f", mod_auth_openidc {ic['oidc']:.2f}.")
                add("")
            if "module_only" in pr:
                mo = pr["module_only"]
                add(f"httpd without a module spends {pr['ms']['floor']:.2f} ms on the same "
                    f"requests ({pr['floor']:.2f} of mod_auth_openidc's login): both modules "
                    "pay it, so it bounds the ratio of the totals from below. What each module "
                    "adds to it, mod_jitprov's over mod_auth_openidc's (medians of the rounds): "
                    + ", ".join(f"{abbrev[k]} **{mo[k]:.2f}**" for k in kinds if k in mo) + ".")
                add("")
            if pr.get("total"):
                tt = pr["total"]
                add("Over all rounds, per login: user and system time (clock ticks of all httpd "
                    f"processes, 10 ms steps: +-{10 / tt['oidc']['n']:.2f} ms per login over "
                    f"{tt['oidc']['n']} logins), what the idle server uses "
                    "in the same time (measured with the servers started and no requests, "
                    f"{pr['idle_ms_per_s']['jitprov']:.2f} ms/s mod_jitprov, "
                    + (f"{pr['idle_ms_per_s']['userinfo']:.2f} ms/s with JITProvUserInfo On, "
                       if "userinfo" in pr['idle_ms_per_s'] else "")
                    + f"{pr['idle_ms_per_s']['oidc']:.2f} ms/s mod_auth_openidc), and the CPU net of "
                    f"it. Other work used {100 * pr['foreign_median']:.0f}% of the machine during "
                    f"the batches (median; max {100 * pr['foreign_max']:.0f}%).")
                add("")
                add("| | CPU | user | system | idle share | net | net / openidc |")
                add("|---|---:|---:|---:|---:|---:|---:|")
                for k, name in (("first", "mod_jitprov first"), ("returning", "mod_jitprov returning"),
                                ("userinfo", "mod_jitprov first, JITProvUserInfo On"),
                                ("floor", "no module (the same requests)"),
                                ("oidc", "mod_auth_openidc")):
                    if k not in tt:
                        continue
                    x = tt[k]
                    add(f"| {name} | {x['cpu_ms']:.2f} ms | {x['user_ms']:.2f} ms | "
                        f"{x['sys_ms']:.2f} ms | {x['idle_ms']:.3f} ms | {x['net_ms']:.2f} ms | "
                        f"{x['net_ms'] / tt['oidc']['net_ms']:.2f} |")
                add("")
        quiet = all(lg[d]["rows"].get("jitprov_audit") == lg[d]["rows"].get("jitprov_accounts")
                    for d in ("jitprov-sqlite", "jitprov-pgsql"))
        add(f"Rows after the run: SQLite {lg['jitprov-sqlite']['rows']}, PostgreSQL "
            f"{lg['jitprov-pgsql']['rows']} (one account per distinct user; "
            + ("one audit row each, its `create`: returning logins changed nothing and "
               "wrote none)." if quiet else "audit rows: see above).")
            )
        add("")
    if m:
        add(f"## 4. Memory ({m['requests']:,} authenticated requests to mod_jitprov, "
            "48 connections, after a warm-up)")
        add("")
        add("| child pid | RSS before | RSS after | growth |")
        add("|---|---:|---:|---:|")
        for pid in m["before_kb"]:
            b, a = m["before_kb"][pid], m["after_kb"][pid]
            add(f"| {pid} | {b:,} kB | {a:,} kB | {a - b:+,} kB |")
        add("")
        add(f"After a warm-up of about {m['requests'] // 5:,} requests. Along "
            "the run (requests: total RSS / anonymous RSS of the children, kB): " + ", ".join(
                f"{n:,}: {kb:,} / {anon:,}" for n, kb, anon in m["samples"]) + ".")
        add("")
    return "\n".join(L) + "\n", targets


def short(f):
    """callgrind_annotate's "file:function [object]" without the long paths."""
    m = re.match(r"^(.*?)\s*\[([^\]]*)\]\s*$", f)
    fn, obj = (m.group(1), os.path.basename(m.group(2))) if m else (f, "")
    fn = re.sub(r"^.*/", "", fn)
    return f"{fn}  ({obj})" if obj else fn


LABELS = {"plain": "unprotected", "jitprov": "mod_jitprov (shmcb)",
          "oidc-shm": "mod_auth_openidc (server-cache, shm)",
          "oidc-cookie": "mod_auth_openidc (client-cookie)",
          "jitprov-redis": "mod_jitprov (JITProvSessionCache redis)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the ~3 minute version")
    ap.add_argument("--module", required=True, help="mod_jitprov.so to measure")
    ap.add_argument("--initdb", required=True, help="the bench-initdb helper (schema)")
    ap.add_argument("--parts", default="headline,throughput,cpu,logins,memory",
                    help="comma-separated subset of headline,throughput,cpu,logins,memory")
    ap.add_argument("--out", default=None, help="results file (default results/<date>.md)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--nice", type=int, default=-10,
                    help="scheduling priority of the bench and everything it starts (httpd, "
                         "wrk, the IdP, PostgreSQL), inherited; keeps other work on a shared "
                         "machine from skewing the numbers (default -10; 0 = unchanged)")
    args = ap.parse_args()
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (httpd drops to nobody, PostgreSQL runs as postgres)")
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    started = datetime.datetime.now()
    t0 = time.monotonic()
    b = Bench(args)
    b.run()
    elapsed = time.monotonic() - t0
    out = args.out or os.path.join(
        HERE, "results", f"{started:%Y-%m-%d}{'-quick' if args.quick else ''}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # The measurements first: a report that fails must not lose the run.
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(b.results, f, indent=1, default=str)
    text, targets = report(b.results, started, elapsed)
    with open(out, "w") as f:
        f.write(text)
    print()
    print(text)
    print(f"written to {out}")
    return 0 if all(targets) else 3


if __name__ == "__main__":
    sys.exit(main())
