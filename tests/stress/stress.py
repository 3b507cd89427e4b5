#!/usr/bin/env python3
"""mod_jitprov stress driver (opt-in, not part of scripts/test.sh).

    tests/stress/run SCENARIO [--seconds N] [--login-threads N] ...

One httpd with Debian's stock MPM values, the test IdP and the scenario's
database and cache, under load for --seconds: browsers logging in (40 % as
frank, henry or ivan, the rest as 400 bulk users), clicks reusing their
sessions on a protected static page, form POSTs kept across a login, a
back-channel logout token (sub) every 2 s, a SCIM deactivation every 3 s,
and what the scenario adds: graceful restarts, full restarts, logouts at the
IdP (back-channel by sid) or bursts of 120 connections.

Afterwards it checks, and prints PASS or FAIL with the counts (exit 0 or 1):
no revoked session answered 200, no live session refused, no 5xx, timeout or
broken login flow; one account and one create audit row per user who logged
in, no update rows, one scim_deactivate row per deactivation; no crash or
sanitizer report in the error log; the parent's and long-lived children's
RSS flat over the second half; no SysV IPC object left after httpd stopped.

Every flag of a scenario can be overridden (--graceful-every 0 turns
gracefuls off). JITPROV_MODULE and JITPROV_ADMIN select the builds, as in
tests/e2e.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import jitprov_harness as h  # noqa: E402
import test_backchannel as bc  # noqa: E402

SESSION_COOKIE = h.SESSION_COOKIE
STATIC = h.STATIC_PAGE  # JITProvUnauthAction 401: a click never starts a login
LOGIN_PAGE = "/s2/page.html"  # the same file, where a missing session starts one
SCIM_TOKEN = "s" * 48

SCENARIOS = {
    # The mutexes as SysV semaphores: every graceful makes new ones, and a
    # generation that fails to remove its own leaves them behind. The parent
    # removes them while the old children finish their requests: a few
    # JITPROV0225 (EINVAL) lines at gracefuls are httpd's, not a failure.
    "sqlite-graceful": dict(db="sqlite", cache="shmcb", graceful_every=3.0,
                            restart_every=0.0, sid=False, burst=False, mutex="sysvsem"),
    # Stop and start (new parent) with sessions and markers in Redis, and
    # logouts at the IdP ending sessions by sid.
    "redis-restart": dict(db="sqlite", cache="redis", graceful_every=0.0,
                          restart_every=10.0, sid=True, burst=False, mutex="default"),
    # 120 connections at once every 8 s: children and PostgreSQL connections
    # come and go, with gracefuls.
    "pgsql-burst": dict(db="pgsql", cache="shmcb", graceful_every=5.0,
                        restart_every=0.0, sid=False, burst=True, mutex="default"),
}

SAME_USERS = ["frank", "henry", "ivan"]
BULK_USERS = [h.bulk_user(i) for i in range(400)]
CRASH_PATTERNS = ("exit signal", "AH00052", "segfault", "Assertion", "AddressSanitizer",
                  "LeakSanitizer", "runtime error:", "AH00060", "AH00045")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    p.add_argument("--login-threads", type=int, default=30, help="default 30")
    p.add_argument("--click-threads", type=int, default=10, help="default 10")
    p.add_argument("--graceful-every", type=float, help="seconds, 0 = none")
    p.add_argument("--restart-every", type=float, help="seconds, 0 = none")
    p.add_argument("--db", choices=("sqlite", "pgsql"))
    p.add_argument("--cache", choices=("shmcb", "redis"))
    p.add_argument("--mutex", choices=("default", "sysvsem"))
    p.add_argument("--sid", action=argparse.BooleanOptionalAction,
                   help="logouts at the IdP (back-channel by sid)")
    p.add_argument("--burst", action=argparse.BooleanOptionalAction,
                   help="120 connections at once every 8 s")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    for k, v in SCENARIOS[args.scenario].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


# ---------------------------------------------------------------- processes, IPC

def procs(parent):
    """{pid: RSS kB} of the httpd parent and its children."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(re.search(r"PPid:\s+(\d+)", st).group(1))
        m = re.search(r"VmRSS:\s+(\d+)", st)
        if m and (int(d) == parent or ppid == parent):
            out[int(d)] = int(m.group(1))
    return out


def sysv_ipc():
    """{(kind, id)} of the SysV semaphore sets and shared memory segments."""
    out = set()
    for kind in ("sem", "shm"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                next(f)
                out |= {(kind, int(line.split()[1])) for line in f if line.strip()}
        except OSError:
            pass
    return out


def rss_growth(samples, parent_pids):
    """[(pid, role, kB at the middle, kB growth since)] for every process
    seen from the first half to the end of the run."""
    if len(samples) < 4:
        return []
    mid = samples[len(samples) // 2][1]
    last = samples[-1][1]
    return [(pid, "parent" if pid in parent_pids else "child", mid[pid], last[pid] - mid[pid])
            for pid in sorted(mid) if pid in last]


def rss_ok(role, base, growth):
    # A parent rereads its configuration at each graceful and must not keep
    # any of it; a child fills its caches, then levels off.
    return growth <= (1024 if role == "parent" else max(4096, base // 10))


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, args, env, site, client_id, ipc_before):
        self.a = args
        self.env = env
        self.site = site
        self.client_id = client_id
        self.url = env.httpd.url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ctl = threading.Lock()  # restarts vs. requests that must not be cut
        self.stats = collections.Counter()
        self.bad = []
        self.cookies = {}  # user (or sid key) -> live cookies
        self.meta = {}  # cookie -> (user, login start, login end)
        self.alias = {}  # sid key -> user
        self.ends = collections.defaultdict(list)  # user -> [[t_send, t_answer]]
        self.deactivated = set()
        self.logged_in = collections.Counter()
        self.parents = set()
        self.samples = []  # (t, {pid: rss})
        self.ipc_before = ipc_before
        self.ipc_seen = set()

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def record(self, kind, item):
        with self.lock:
            self.bad.append((kind, item))

    def retry(self, fn, *a, **kw):
        """fn, again on connection errors for 20 s (a restart in progress)."""
        deadline = time.monotonic() + 20
        while True:
            try:
                return fn(*a, **kw)
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def get_fresh(self, cookie):
        """The static page with cookie, on a new connection."""
        return self.retry(requests.get, self.url(STATIC),
                          headers={"Cookie": f"{SESSION_COOKIE}={cookie}", "Connection": "close"},
                          allow_redirects=False, timeout=30)

    def ended_entries(self, user):
        ents = list(self.ends[user])
        if user in self.alias:
            ents += self.ends[self.alias[user]]
        return ents

    # -- load
    def login_loop(self, k):
        rnd = random.Random(k)
        while not self.stop.is_set():
            user = rnd.choice(SAME_USERS) if rnd.random() < 0.4 else rnd.choice(BULK_USERS)
            if user in self.deactivated:
                continue
            t0 = time.monotonic()
            with requests.Session() as s:
                try:
                    r = h.login(s, self.url(LOGIN_PAGE), user, timeout=30)
                except requests.ConnectionError:
                    self.count("login_connreset")
                    time.sleep(0.1)  # httpd restarting: do not spin
                    continue
                except requests.Timeout:
                    self.record("login timeout", user)
                    continue
                except h.FlowError as e:
                    with self.lock:
                        ended = [ta for ts, ta in self.ends[user] if ta > t0]
                    if ended:
                        self.count("login_ended_midway")
                    else:
                        self.record("login flow", (user, str(e)[:300]))
                    continue
                if r.status_code != 200:
                    self.count(f"login_{r.status_code}")
                    if r.status_code >= 500 or user not in self.deactivated:
                        self.record("login status", (user, r.status_code, r.text[:200]))
                    continue
                c = s.cookies.get(SESSION_COOKIE)
                with self.lock:
                    self.stats["logins"] += 1
                    self.logged_in[user] += 1
                    self.cookies.setdefault(user, []).append(c)
                    self.meta[c] = (user, t0, time.monotonic())

    def click_loop(self, k):
        rnd = random.Random(1000 + k)
        while not self.stop.is_set():
            with self.lock:
                users = [u for u, cs in self.cookies.items() if cs]
            if not users:
                time.sleep(0.1)
                continue
            if rnd.random() < 0.05:
                self.preserve_post(rnd)
                continue
            user = rnd.choice(users)
            with self.lock:
                c = rnd.choice(self.cookies[user])
            t0 = time.monotonic()
            try:
                r = requests.get(self.url(STATIC), headers={"Cookie": f"{SESSION_COOKIE}={c}"},
                                 allow_redirects=False, timeout=30)
            except requests.ConnectionError:
                self.count("click_connreset")
                time.sleep(0.1)  # httpd restarting: do not spin
                continue
            except requests.Timeout:
                self.record("click timeout", user)
                continue
            with self.lock:
                self.stats["clicks"] += 1
                self.stats[f"click_{r.status_code}"] += 1
                u, lt0, lt1 = self.meta[c]
                ents = self.ended_entries(u)
            # An end sent after the login finished and answered before the
            # click began must hold; one answered after the login began may.
            must_end = [ta for ts, ta in ents if ts > lt1 and ta < t0]
            may_end = [ta for ts, ta in ents if ta > lt0]
            if r.status_code == 200 and must_end:
                self.record("REVIVED", (user, round(t0 - min(must_end), 3)))
            elif r.status_code != 200 and not may_end:
                self.record("lost session", (user, r.status_code, r.text[:120]))

    def preserve_post(self, rnd):
        try:
            r = requests.post(self.url("/s2/form"), data={"t": "x" * rnd.randint(1, 3000)},
                              headers={"Origin": self.env.httpd.origin},
                              allow_redirects=False, timeout=30)
        except requests.ConnectionError:
            self.count("post_connreset")
            time.sleep(0.1)  # httpd restarting: do not spin
            return
        except requests.Timeout:
            self.record("post timeout", "")
            return
        self.count(f"post_{r.status_code}")
        if r.status_code != 302:
            self.record("kept POST", (r.status_code, r.text[:200]))

    def end_and_check(self, key, send, victims):
        """send() ends key's sessions; then every victim must be dead."""
        entry = [time.monotonic(), float("inf")]
        with self.lock:
            self.ends[key].append(entry)
        ok = send()
        with self.lock:
            entry[1] = time.monotonic()
            if not ok:
                return False
            gone = set(victims)
            self.cookies[key] = [c for c in self.cookies.get(key, []) if c not in gone]
        for c in victims[:10]:
            r = self.get_fresh(c)
            self.count("ended_checked")
            if r.status_code == 200:
                self.record("REVIVED after end", (key, r.status_code))
        return True

    def revoker(self):
        """A back-channel logout token with sub every 2 s."""
        rnd = random.Random(7)
        while not self.stop.wait(2.0):
            user = rnd.choice(SAME_USERS)
            with self.lock:
                victims = list(self.cookies.get(user, []))
            tok = bc.signed(self.env, bc.good_claims(self.env, user=user, aud=self.client_id))

            def send():
                with self.ctl:
                    r = self.retry(requests.post, self.url("/backchannel-logout"),
                                   data={"logout_token": tok}, timeout=30)
                self.count(f"bcl_{r.status_code}")
                if r.status_code != 200:
                    self.record("bcl status", (r.status_code, r.text[:200]))
                return r.status_code == 200
            self.end_and_check(user, send, victims)

    def scim_loop(self):
        """A SCIM deactivation of a bulk user with sessions every 3 s."""
        rnd = random.Random(11)
        hdr = {"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"}
        body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                           "Operations": [{"op": "replace", "path": "active", "value": False}]})
        while not self.stop.wait(3.0):
            with self.lock:
                cands = sorted(u for u, cs in self.cookies.items()
                               if cs and u.startswith("bulk") and u not in self.deactivated)
            if not cands:
                continue
            user = rnd.choice(cands)
            row = self.site.account(user)
            if not row:
                self.record("no account", user)
                continue
            with self.lock:
                self.deactivated.add(user)
                victims = list(self.cookies.get(user, []))

            def send():
                with self.ctl:
                    r = self.retry(requests.patch, self.url(f"/scim/v2/Users/{row['id']}"),
                                   data=body, headers=hdr, timeout=30)
                self.count(f"scim_{r.status_code}")
                if r.status_code != 200:
                    self.record("scim status", (r.status_code, r.text[:200]))
                return r.status_code == 200
            self.end_and_check(user, send, victims)

    def sid_loop(self):
        """Three sessions from one IdP session, then a logout at the IdP: its
        back-channel token (sid) must end all three."""
        rnd = random.Random(13)
        n = 0
        end = self.env.idp.discovery()["end_session_endpoint"] + "?client_id=" + self.client_id
        while not self.stop.wait(1.0):
            n += 1
            key, user = f"sid{n}", rnd.choice(SAME_USERS)
            mine = []
            with requests.Session() as s:
                t0 = time.monotonic()
                try:
                    for _ in range(3):
                        s.cookies.set(SESSION_COOKIE, None, domain="127.0.0.1", path="/")
                        r = h.login(s, self.url(LOGIN_PAGE), user, timeout=30)
                        if r.status_code != 200:
                            break
                        mine.append(s.cookies.get(SESSION_COOKIE))
                except (requests.RequestException, h.FlowError) as e:
                    self.count("sid_login_" + type(e).__name__)
                    continue
                with self.lock:
                    self.stats["sid_logins"] += len(mine)
                    for c in mine:
                        self.meta[c] = (key, t0, time.monotonic())
                    self.alias[key] = user
                    self.cookies[key] = list(mine)

                def send():
                    # The IdP posts the token once, no retry: not across a restart.
                    with self.ctl:
                        before = self.env.idp.stats().get("backchannel.success", 0)
                        try:
                            h.follow_idp_logout(s, end)
                        except Exception as e:
                            self.record("logout at the IdP", str(e)[:200])
                            return False
                        deadline = time.monotonic() + 10
                        while self.env.idp.stats().get("backchannel.success", 0) <= before:
                            if time.monotonic() > deadline:
                                self.record("no back-channel logout from the IdP", key)
                                return False
                            time.sleep(0.05)
                    self.count("sid_logouts")
                    return True
                self.end_and_check(key, send, mine)
            with self.lock:
                self.cookies[key] = []

    def burst_loop(self):
        def one(k, allc):
            n = 0
            with requests.Session() as s:
                for i in range(15):
                    c = allc[(k * 31 + i) % len(allc)]
                    try:
                        r = s.get(self.url(STATIC), headers={"Cookie": f"{SESSION_COOKIE}={c}"},
                                  allow_redirects=False, timeout=30)
                    except requests.ConnectionError:
                        self.count("burst_connreset")
                        continue
                    except requests.Timeout:
                        self.record("burst timeout", k)
                        continue
                    n += 1
                    if r.status_code >= 500:
                        self.record("burst 5xx", (r.status_code, r.text[:200]))
            return n
        while not self.stop.wait(8.0):
            with self.lock:
                allc = [c for cs in self.cookies.values() for c in cs[-2:]]
            if allc:
                with concurrent.futures.ThreadPoolExecutor(max_workers=120) as pool:
                    done = sum(pool.map(lambda k: one(k, allc), range(120)))
                self.count("burst_reqs", done)
                self.count("bursts")

    def graceful_loop(self):
        while not self.stop.wait(self.a.graceful_every):
            try:
                with self.ctl:
                    self.env.httpd.graceful()
                self.count("gracefuls")
            except Exception as e:
                self.record("graceful", str(e)[-300:])

    def restart_loop(self):
        while not self.stop.wait(self.a.restart_every):
            try:
                with self.ctl:
                    self.env.httpd.restart_full()
                    self.parents.add(self.env.httpd.pid())
                self.count("restarts")
            except Exception as e:
                self.record("restart", str(e)[-300:])

    def sample_loop(self):
        while not self.stop.wait(2.0):
            self.sample()

    def sample(self):
        parent = self.env.httpd.pid()
        if parent:
            self.parents.add(parent)
            self.samples.append((time.monotonic(), procs(parent)))
        self.ipc_seen |= sysv_ipc() - self.ipc_before

    def go(self):
        a = self.a
        threads = [threading.Thread(target=self.login_loop, args=(k,), name=f"login{k}")
                   for k in range(a.login_threads)]
        threads += [threading.Thread(target=self.click_loop, args=(k,), name=f"click{k}")
                    for k in range(a.click_threads)]
        for name, on in (("sample_loop", True), ("revoker", True), ("scim_loop", True),
                         ("sid_loop", a.sid), ("burst_loop", a.burst),
                         ("graceful_loop", a.graceful_every > 0),
                         ("restart_loop", a.restart_every > 0)):
            if on:
                threads.append(threading.Thread(target=getattr(self, name), name=name))
        self.sample()
        t_start = time.monotonic()
        for t in threads:
            t.start()
        try:
            while time.monotonic() - t_start < a.seconds:
                time.sleep(min(10.0, max(0.0, a.seconds - (time.monotonic() - t_start))))
                with self.lock:
                    print(f"t={time.monotonic() - t_start:.0f}s logins={self.stats['logins']} "
                          f"clicks={self.stats['clicks']} gracefuls={self.stats['gracefuls']} "
                          f"restarts={self.stats['restarts']} bad={len(self.bad)}", flush=True)
        finally:
            self.stop.set()
            for t in threads:
                t.join(120)
                if t.is_alive():
                    self.record("thread hung", t.name)
        self.sample()

    def survivors(self):
        """Every session still believed live must still answer 200."""
        checked = lost = 0
        with self.lock:
            live = [(u, c) for u, cs in self.cookies.items() if u not in self.deactivated
                    for c in cs[-3:]]
        for user, c in live:
            r = self.get_fresh(c)
            checked += 1
            if r.status_code != 200:
                u, lt0, _ = self.meta[c]
                if not [ta for ts, ta in self.ended_entries(u) if ta > lt0]:
                    lost += 1
                    self.record("lost session at the end", (user, r.status_code))
        return checked, lost


# ---------------------------------------------------------------- checks

def database_checks(run):
    db = run.site.db
    failures = []
    dup = db.rows("SELECT iss, sub, count(*) AS n FROM jitprov_accounts "
                  "GROUP BY iss, sub HAVING count(*) > 1")
    events = {r["event"]: r["n"] for r in db.rows(
        "SELECT event, count(*) AS n FROM jitprov_audit GROUP BY event")}
    creates = db.rows("SELECT sub, count(*) AS n FROM jitprov_audit WHERE event = 'create' "
                      "GROUP BY sub HAVING count(*) > 1")
    subs = {r["sub"]: r for r in db.rows("SELECT sub, login_count FROM jitprov_accounts")}
    missing = [u for u in run.logged_in if h.USER_CLAIMS[u]["sub"] not in subs]
    server_logins = sum(r["login_count"] or 0 for r in subs.values())
    deact = run.stats["scim_200"]
    if dup:
        failures.append(f"duplicate accounts {dup[:3]}")
    if creates:
        failures.append(f"several create rows for one sub {creates[:3]}")
    if events.get("create", 0) != len(subs):
        failures.append(f"{events.get('create', 0)} create rows for {len(subs)} accounts")
    if events.get("update", 0):
        failures.append(f"{events['update']} update rows (the claims never change)")
    if events.get("scim_deactivate", 0) != deact:
        failures.append(f"{events.get('scim_deactivate', 0)} scim_deactivate rows for "
                        f"{deact} deactivations")
    if missing:
        failures.append(f"no account for {len(missing)} users who logged in: {missing[:5]}")
    # A login whose answer a restart cut may have counted: >=, not ==.
    users_logins = sum(run.logged_in.values()) + run.stats["sid_logins"]
    if server_logins < users_logins:
        failures.append(f"login_count totals {server_logins} < {users_logins} logins seen")
    summary = (f"accounts={len(subs)} audit={dict(sorted(events.items()))} "
               f"login_count={server_logins}")
    return summary, failures


def log_checks(httpd):
    with open(httpd.error_log, errors="replace") as f:
        log = f.read()
    failures = [f"{n} x '{p}'" for p in CRASH_PATTERNS if (n := log.count(p))]
    severe = [line for line in log.splitlines() if re.search(r"\[\w+:(emerg|alert|crit)\]", line)]
    errors = [line for line in log.splitlines() if re.search(r"\[\w+:error\]", line)]
    if severe:
        failures.append(f"{len(severe)} emerg/alert/crit lines")
    # Error lines are counted by kind and shown, not judged: a client cut
    # by a restart is an error to httpd and nothing to the module.
    kinds = collections.Counter(re.sub(r"^\[[^]]*\] |\[pid [^]]*\] |\[client [^]]*\] |"
                                       r"\[ref [^]]*\]|(?<![A-Z0-9])\d+", "", line)[:150]
                                for line in errors + severe)
    return len(errors), kinds, failures


def main(argv=None):
    a = parse_args(argv if argv is not None else sys.argv[1:])
    env = h.Env(keep=a.keep)
    redis = pg = None
    ipc_before = sysv_ipc()
    run = None
    try:
        env.start()
        if a.sid:
            # The IdP puts sid in its logout tokens for such a client only.
            env.idp.clients = [env.client(backchannel_logout_session_required=True)]
            env.idp.restart()
        if a.cache == "redis":
            redis = h.Redis(env.dir).start()
            cache = f"redis:127.0.0.1:{redis.port}"
        else:
            cache = None  # the module's default, shmcb of 16 MiB
        if a.db == "pgsql":
            pg = h.Postgres(env.dir).start()
            env.postgres_port = pg.port
            db = h.PgDb(pg)
        else:
            db = h.SqliteDb(env.httpd)
        site = h.ProvSite(env, db)
        env.httpd.mpm = h.DEBIAN_MPM
        static = os.path.join(env.httpd.dir, "htdocs", "static")
        server = (f"JITProvBackChannelLogoutURI /backchannel-logout\n"
                  f"JITProvSCIMBearerToken {SCIM_TOKEN}\nJITProvPreservePostMax 65536\n"
                  + ("Mutex sysvsem default\n" if a.mutex == "sysvsem" else ""))
        extra = (f'<Location /scim/v2>\n    SetHandler jitprov-scim\n</Location>\n'
                 f'Alias /s2 "{static}"\n<Location /s2>\n    AuthType jitprov\n'
                 f'    Require valid-user\n</Location>\n')
        site.start(server, session_cache=cache, extra=extra)
        print(f"stress {a.scenario}: {a.seconds:.0f} s, db={a.db} cache={a.cache} "
              f"mutex={a.mutex} gracefuls/{a.graceful_every:g}s restarts/{a.restart_every:g}s "
              f"sid={a.sid} burst={a.burst} login_threads={a.login_threads} "
              f"click_threads={a.click_threads}", flush=True)
        run = Run(a, env, site, env.client_id, ipc_before)
        run.go()
        checked, lost = run.survivors()
        db_summary, failures = database_checks(run)
        n_errors, error_kinds, log_failures = log_checks(env.httpd)
        failures += log_failures
        growth = rss_growth(run.samples, run.parents)
        for pid, role, base, g in growth:
            if not rss_ok(role, base, g):
                failures.append(f"{role} {pid} RSS grew {g} kB (from {base} kB) "
                                f"over the second half")
    finally:
        env.httpd.stop()
        if redis:
            redis.stop()
        if pg:
            pg.stop()
        env.stop()
    left = sysv_ipc() & run.ipc_seen
    if left:
        failures.append(f"SysV IPC left after the stop: {sorted(left)[:6]}")
    st = run.stats
    bad_kinds = collections.Counter(k for k, _ in run.bad)
    if run.bad:
        failures.append(f"{len(run.bad)} bad events {dict(bad_kinds)}")
    for kind, item in run.bad[:15]:
        print(f"  bad: {kind}: {item}")
    for kind, n in error_kinds.most_common(8):
        print(f"  error log x{n}: {kind}")
    parent_rss = [f"{g:+d}" for _, role, _, g in growth if role == "parent"]
    child_rss = [g for _, role, _, g in growth if role == "child"]
    print(f"counts: logins={st['logins']} clicks={st['clicks']} "
          f"kept_posts={st['post_302']} bcl={st['bcl_200']} scim={st['scim_200']} "
          f"sid_logouts={st['sid_logouts']} ended_checked={st['ended_checked']} "
          f"gracefuls={st['gracefuls']} restarts={st['restarts']} bursts={st['bursts']} "
          f"burst_reqs={st['burst_reqs']} connreset={st['login_connreset']}+"
          f"{st['click_connreset']}+{st['post_connreset']}+{st['burst_connreset']} "
          f"survivors={checked} lost={lost} "
          f"revived={bad_kinds['REVIVED'] + bad_kinds['REVIVED after end']} "
          f"error_lines={n_errors} sysv_ipc_seen={len(run.ipc_seen)} left={len(left)} "
          f"parent_rss_kB={','.join(parent_rss) or 'n/a'} "
          f"child_rss_kB_max={f'{max(child_rss):+d}' if child_rss else 'n/a'}")
    print(f"database: {db_summary}")
    if a.keep:
        print(f"files kept in {env.dir}")
    for f in failures:
        print(f"  FAIL: {f}")
    print(f"{'PASS' if not failures else 'FAIL'} stress {a.scenario} {a.seconds:.0f}s: "
          f"{st['logins']} logins, {st['clicks']} clicks, {len(failures)} failed checks")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
