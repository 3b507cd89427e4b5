"""The docs are the user contract: they must not drift from the code. Reads
mod_jitprov/httpd/config.c (the directive table and the server defaults), every
JPLOG(nnnn) message id in the sources and the level it is logged at,
docs/directives.md (a section and an index row per directive) and the log
table of docs/operations.md (ids and levels); runs
`apache2 -t` (no server start) on every configuration example of the docs and
on every argument form of the Syntax lines; checks the README's description of
scripts/demo.sh and scripts/test.sh against the scripts."""
import functools
import glob
import os
import re
import secrets

import pytest

import jitprov_harness as h

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG_C = os.path.join(ROOT, "mod_jitprov", "httpd", "config.c")
DIRECTIVES_MD = os.path.join(ROOT, "docs", "directives.md")
OPERATIONS_MD = os.path.join(ROOT, "docs", "operations.md")

SERVER, VHOST, DIRECTORY, HTACCESS = "server config", "virtual host", "directory", ".htaccess"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def split_args(text):
    """Top-level comma-separated arguments of a C macro call body."""
    args, depth, cur, i, quote = [], 0, "", 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\":
                cur += text[i + 1]
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == "(":
            depth += 1
            cur += ch
        elif ch == ")":
            if depth == 0:
                args.append(cur.strip())
                return args
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    raise ValueError("unbalanced macro call")


def code_directives():
    """{name: {"contexts": set, "field": str or None, "kind": macro}} from jp_cmds."""
    src = read(CONFIG_C)
    table = src[src.index("const command_rec jp_cmds[]"):]
    table = table[:table.index("{NULL}")]
    out = {}
    for m in re.finditer(r"\b(AP_INIT_\w+|SRV_STR|SRV_INT|SRV_FLAG)\(", table):
        args = split_args(table[m.end():])
        name = args[0].strip('"')
        if m.group(1).startswith("SRV_"):
            flags, field = "RSRC_CONF", args[1]
        else:
            flags = args[3]
            fm = re.search(r"APR_OFFSETOF\(jp_srv_cfg,\s*([\w.]+)\)", args[2])
            field = fm.group(1) if fm else None
        ctx = set()
        for flag in re.split(r"\s*\|\s*", flags):
            if flag == "RSRC_CONF":
                ctx |= {SERVER, VHOST}
            elif flag == "ACCESS_CONF":
                ctx |= {DIRECTORY}
            elif flag.startswith("OR_"):
                # httpd allows OR_* directives in every section and in .htaccess.
                ctx |= {SERVER, VHOST, DIRECTORY, HTACCESS}
            else:
                raise AssertionError(f"{name}: unknown context flag {flag}")
        # A handler that refuses virtual hosts makes a main-server-only directive.
        if not m.group(1).startswith("SRV_"):
            body = re.search(r"\n(?:static )?const char \*" + re.escape(args[1].strip()) +
                             r"\(.*?\n}\n", src, re.S)
            if body and ("is_virtual" in body.group(0) or "GLOBAL_ONLY" in body.group(0)):
                ctx.discard(VHOST)
        out[name] = {"contexts": ctx, "field": field, "kind": m.group(1)}
    assert len(out) > 30, "the directive table was not found in config.c"
    return out


def code_defaults():
    """{field: value} assigned in jp_create_srv_cfg (ints evaluated, strings unquoted)."""
    src = read(CONFIG_C)
    body = src[src.index("void *jp_create_srv_cfg"):]
    body = body[:body.index("\n}\n")]
    out = {}
    for m in re.finditer(r"c->(\w+) = ([^;]+);", body):
        v = m.group(2).strip()
        if v.startswith('"'):
            out[m.group(1)] = v.strip('"')
        elif re.fullmatch(r"[\d\s*+]+", v):
            out[m.group(1)] = str(eval(v))  # only digits and * +
    return out


def doc_sections():
    """{name: {"contexts": set, "default": str}} from the ### sections."""
    text = read(DIRECTIVES_MD)
    out = {}
    for m in re.finditer(r"^### (JITProv\w+)\n(.*?)(?=^#{2,3} )", text, re.M | re.S):
        body = m.group(2)
        ctx = re.search(r"^- \*\*Context:\*\* (.+)$", body, re.M)
        dflt = re.search(r"^- \*\*Default:\*\* (.+)$", body, re.M)
        assert ctx, f"docs/directives.md: {m.group(1)} has no Context line"
        assert dflt, f"docs/directives.md: {m.group(1)} has no Default line"
        out[m.group(1)] = {"contexts": {c.strip() for c in ctx.group(1).split(",")},
                           "default": dflt.group(1)}
    return out


# The index abbreviates: "server, vhost", "any (dir)" (all four),
# "server, vhost, directory (not .htaccess)".
INDEX_WORDS = {"server": {SERVER}, "vhost": {VHOST}, "directory": {DIRECTORY},
               "directory (not .htaccess)": {DIRECTORY}, ".htaccess": {HTACCESS},
               "any (dir)": {SERVER, VHOST, DIRECTORY, HTACCESS}}


def index_contexts(name, cell):
    out = set()
    for word in (w.strip() for w in cell.split(",")):
        assert word in INDEX_WORDS, f"directive index: {name}: unknown context '{word}'"
        out |= INDEX_WORDS[word]
    return out


def doc_index():
    """{name: {"contexts": set, "default": str}} from the Directive index table."""
    text = read(DIRECTIVES_MD)
    text = text[text.index("## Directive index"):]
    out = {}
    for m in re.finditer(r"^\| `(JITProv\w+)[^`]*` \| ([^|]+) \| (.+) \|$", text, re.M):
        out[m.group(1)] = {"contexts": index_contexts(m.group(1), m.group(2)),
                           "default": m.group(3).strip()}
    return out


def test_every_directive_is_documented_and_every_documented_one_exists():
    code, sections, index = set(code_directives()), set(doc_sections()), set(doc_index())
    assert not code - sections, f"in config.c, no section in docs/directives.md: {code - sections}"
    assert not sections - code, f"documented, not in config.c: {sections - code}"
    assert not code - index, f"in config.c, not in the directive index: {code - index}"
    assert not index - code, f"in the directive index, not in config.c: {index - code}"


def test_contexts_match_the_directive_table():
    code, sections, index = code_directives(), doc_sections(), doc_index()
    wrong = []
    for name, d in sorted(code.items()):
        if name in sections and sections[name]["contexts"] != d["contexts"]:
            wrong.append(f"{name}: section says {sorted(sections[name]['contexts'])}, "
                         f"code allows {sorted(d['contexts'])}")
        if name in index and index[name]["contexts"] != d["contexts"]:
            wrong.append(f"{name}: index says {sorted(index[name]['contexts'])}, "
                         f"code allows {sorted(d['contexts'])}")
    assert not wrong, "\n".join(wrong)


def first_value(text):
    """The first `quoted` value of a Default cell, without quotes; None if there is none."""
    m = re.search(r"`([^`]*)`", text)
    return m.group(1).strip('"') if m else None


def test_defaults_match_the_code():
    code, sections, index = code_directives(), doc_sections(), doc_index()
    defaults = code_defaults()
    wrong = []
    for name, d in sorted(code.items()):
        if name not in sections or name not in index:
            continue
        doc, idx = first_value(sections[name]["default"]), first_value(index[name]["default"])
        # The two places in the docs agree with each other...
        if doc is not None and idx is not None and doc != idx:
            wrong.append(f"{name}: section default `{doc}`, index default `{idx}`")
        # ... and with jp_create_srv_cfg where the field has a plain default.
        field = d["field"]
        if not field or "." in field:
            continue
        if d["kind"] == "SRV_FLAG":
            want = "On" if defaults.get(field, "0") not in ("0",) else "Off"
        elif field in defaults:
            want = defaults[field]
        else:
            continue
        if doc != want:
            wrong.append(f"{name}: documented default `{doc}`, code default `{want}`")
    assert not wrong, "\n".join(wrong)


def code_log_ids():
    ids = {}
    for path in glob.glob(os.path.join(ROOT, "mod_jitprov", "**", "*.[ch]"), recursive=True):
        for m in re.finditer(r"JPLOG\((\d{4})\)", read(path)):
            ids.setdefault(m.group(1), os.path.relpath(path, ROOT))
    assert len(ids) > 20
    return ids


def doc_log_ids():
    text = read(OPERATIONS_MD)
    return set(re.findall(r"^\| `JITPROV(\d{4})` \|", text, re.M))


def test_every_logged_message_id_is_in_the_log_table():
    code, docs = code_log_ids(), doc_log_ids()
    missing = {f"JITPROV{i} ({code[i]})" for i in set(code) - docs}
    assert not missing, f"logged by the code, missing from docs/operations.md: {sorted(missing)}"
    stale = {f"JITPROV{i}" for i in docs - set(code)}
    assert not stale, f"in the log table of docs/operations.md, never logged: {sorted(stale)}"


def test_log_table_is_sorted_and_has_no_duplicates():
    rows = re.findall(r"^\| `JITPROV(\d{4})` \|", read(OPERATIONS_MD), re.M)
    assert rows == sorted(set(rows)), rows


LOG_SOURCES = ("mod_jitprov/httpd/*.c", "mod_jitprov/lib/*.c")
APLOG_WORDS = {"EMERG": "emerg", "ALERT": "alert", "CRIT": "crit", "ERR": "error",
               "WARNING": "warning", "NOTICE": "notice", "INFO": "info", "DEBUG": "debug",
               **{f"TRACE{i}": f"trace{i}" for i in range(1, 9)}}
# Call sites whose level the test cannot work out, each with why; keyed by
# (file, id). None today: a level in a local variable is followed to its
# assignments in the same function (scim_handler.c's JITPROV0701).
UNCHECKED_LEVELS = {}


def without_comments(src):
    """C source with comments blanked, string and character literals kept."""
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*',
                  lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", src, flags=re.S)


def levels_of(expr, body):
    """The doc words of an ap_log_* level argument. APLOG_STARTUP (a flag, not
    a level) is dropped; a conditional gives each of its levels; a plain
    identifier is followed to every `name = ...` in the enclosing function
    body. None when no level can be found."""
    expr = " ".join(expr.split())
    if re.fullmatch(r"[a-z_]\w*", expr):
        assigned = re.findall(r"\b" + expr + r"\s*=(?!=)\s*([^;]+);", body)
        expr = " ".join(assigned)
    words = {APLOG_WORDS[w] for w in re.findall(r"\bAPLOG_([A-Z0-9]+)\b", expr)
             if w in APLOG_WORDS}
    return words or None


def code_log_levels():
    """{id: {(file, level word), ...}} for every JPLOG(nnnn) call site, and a
    list of call sites that could not be read."""
    out, unread = {}, []
    for pat in LOG_SOURCES:
        for path in sorted(glob.glob(os.path.join(ROOT, pat))):
            rel = os.path.relpath(path, ROOT)
            src = without_comments(read(path))
            for m in re.finditer(r"JPLOG\((\d{4})\)", src):
                key = (rel, m.group(1))
                if key in UNCHECKED_LEVELS:
                    continue
                # The ap_log_* call this JPLOG is an argument of (calls span
                # lines): the nearest one before it, which must hold it.
                call = None
                for c in re.finditer(r"\bap_log_[a-z]*error\s*\(", src[:m.start()]):
                    call = c
                args = split_args(src[call.end():]) if call else None
                if not call or args[0] != "APLOG_MARK" or \
                        not any("JPLOG(" + m.group(1) + ")" in a for a in args[2:]):
                    unread.append(f"{rel}: JITPROV{m.group(1)} is not in an ap_log_*error call")
                    continue
                # The function around the call: from the last line that starts
                # a top-level block to the call.
                fn = src.rfind("\n{\n", 0, call.start())
                words = levels_of(args[1], src[fn if fn >= 0 else 0:call.start()])
                if not words:
                    unread.append(f"{rel}: JITPROV{m.group(1)}: level `{args[1]}` not understood")
                    continue
                out.setdefault(m.group(1), set()).update((rel, w) for w in words)
    assert len(out) > 80, "the JPLOG call sites were not found"
    return out, unread


def doc_log_levels():
    """{id: {level word}} from the log table's level column: levels separated by
    " / ", each with an optional "(when)" note, e.g. "warning (4xx) / error (5xx)"."""
    out = {}
    for m in re.finditer(r"^\| `JITPROV(\d{4})` \| ([^|]+) \|", read(OPERATIONS_MD), re.M):
        words = {re.sub(r"\(.*?\)", "", part).strip() for part in m.group(2).split("/")}
        assert words <= set(APLOG_WORDS.values()), f"JITPROV{m.group(1)}: level `{m.group(2)}`"
        out[m.group(1)] = words
    return out


def test_log_table_levels_match_the_code():
    """Each call site's level is in its row, and each level of a row is used by a
    call site: an operator filtering on a level must see what the table says."""
    code, unread = code_log_levels()
    assert not unread, "\n".join(unread)
    docs = doc_log_levels()
    wrong = []
    for i, sites in sorted(code.items()):
        if i not in docs:
            continue  # test_every_logged_message_id_is_in_the_log_table says so
        for rel, w in sorted(sites):
            if w not in docs[i]:
                wrong.append(f"JITPROV{i}: {rel} logs at {w}, the table says {sorted(docs[i])}")
        unused = docs[i] - {w for _, w in sites}
        if unused:
            wrong.append(f"JITPROV{i}: the table says {sorted(unused)}, no call site logs that")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("text", [
    "never an\nHMAC algorithm",           # HS* are accepted under conditions
    "16 KiB",                             # tokens may be up to 64 KiB
    "scoped to\nthe callback path",       # state cookies have Path=/
    "no status page",                     # SetHandler jitprov-status exists
    "JWKS at once, at most once every 30",  # ID tokens: a new kid at once, the same 1/s
    "refetch it at once (at most once every 30",
    "a full restart starts them again",   # apachectl restart keeps the counters
    "provider's small built-in size",     # plain shmcb is 16 MiB
    "502/504 means the IdP, 503 the database",  # the fetch back-off answers 503
    "cannot be created (503, logged)",    # a taken user name is a 409 collision
])
def test_known_contradictions_stay_fixed(text):
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")):
        flat = " ".join(read(path).split())
        assert " ".join(text.split()) not in flat, f"{os.path.relpath(path, ROOT)}: '{text}'"


# ------------------------------------------------------------ configuration examples
#
# Sysadmins copy the examples: every ```apache block of README.md and docs/*.md
# and the sample conf.d/jitprov.conf must pass `apache2 -t` with this module.
# Fragments are wrapped in the context they are meant for (a <Location> for
# directory-scope lines, a <VirtualHost> of the standard test site for server
# lines); what cannot work offline is replaced (IdP hostnames, secret and key
# files, env: variables, hosts of caches and databases). configtest never
# contacts the IdP or a database (docs/directives.md says so, and check_config
# hooks run no I/O), so the test needs no server beyond the files it makes.

EXAMPLE_SOURCES = ("README.md", "docs/*.md")
SAMPLE_CONF = "conf.d/jitprov.conf"
COMMENTED_SAMPLES = (SAMPLE_CONF, "debian/jitprov.conf")
FENCE = re.compile(r"^([ \t]*)```([\w-]*)[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
# What makes a fenced block an httpd configuration, whatever its label says.
CONF_LINE = re.compile(r"^\s*(?:JITProv[A-Z]\w*|LoadModule|DBDriver|AuthType|"
                       r"<(?:Location|Directory|VirtualHost|Files)\b)", re.M)

# Examples that are wrong on purpose, each with why, e.g.
#   ("docs/x.md", "JITProvScope email"): "shows the error a scope without openid gives",
# keyed by file and first directive line. None is, today.
EXPECTED_TO_FAIL = {}


class Example:
    def __init__(self, path, line, text):
        self.path, self.line, self.text = path, line, text
        first = next((l.strip() for l in text.splitlines()
                      if l.strip() and not l.strip().startswith("#")), "")
        self.key = (path, first)

    def __repr__(self):
        return f"{self.path}:{self.line}"


def doc_examples():
    """[Example] of every ```apache block, and the sample configuration file."""
    out, unlabelled = [], []
    files = [os.path.join(ROOT, p) for pat in EXAMPLE_SOURCES
             for p in sorted(glob.glob(os.path.join(ROOT, pat)))]
    for path in files:
        text = read(path)
        rel = os.path.relpath(path, ROOT)
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start(3)) + 1
            body = "\n".join(l[len(m.group(1)):] if l.startswith(m.group(1)) else l
                             for l in m.group(3).splitlines())
            if m.group(2) == "apache":
                out.append(Example(rel, line, body))
            elif CONF_LINE.search(body):
                unlabelled.append(f"{rel}:{line} ```{m.group(2)}")
    assert not unlabelled, f"httpd configuration not labelled ```apache: {unlabelled}"
    out.append(Example(SAMPLE_CONF, 1, read(os.path.join(ROOT, SAMPLE_CONF))))
    # The lines the sample files ship commented out, each as it is once
    # uncommented (the Debian package's test checks its sample as a whole).
    for rel in COMMENTED_SAMPLES:
        for i, line in enumerate(read(os.path.join(ROOT, rel)).splitlines(), 1):
            m = re.match(r"#\s*(JITProv[A-Z]\w*\s.*)$", line)
            if m:
                out.append(Example(rel, i, m.group(1)))
    assert len(out) > 80, "the examples were not found"
    return out


def logical_lines(text):
    """httpd's view of a block: continuation lines joined, comments dropped."""
    return [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines()
            if l.strip() and not l.strip().startswith("#")]


def top_level_names(text):
    """Directive and section names of a block outside any section."""
    names, depth = [], 0
    for line in logical_lines(text):
        if line.startswith("</"):
            depth -= 1
        elif line.startswith("<"):
            if depth == 0:
                names.append(line[1:].split()[0].rstrip(">"))
            depth += 1
        elif depth == 0:
            names.append(line.split()[0])
    return names


# Only in the main server: a block with one of these goes to the top level.
MAIN_ONLY = {"LoadModule", "JITProvRevocationFile"}
DIRECTORY_SCOPE_CORE = {"AuthType", "Require", "RequireAll", "RequireAny"}


@functools.lru_cache(maxsize=None)
def directory_names():
    return {n for n, d in code_directives().items() if DIRECTORY in d["contexts"]} | \
        DIRECTORY_SCOPE_CORE


class Offline:
    """Rewrites an example so that it can work on this box: the IdP's metadata
    URL becomes the test IdP's, /etc and /var paths move under a temporary
    directory (secret files, keys and CA files are made there), env: secrets get
    a value in configtest's environment, remote hosts become loopback."""

    HOSTS = {"10.0.0.5": "127.0.0.1", "db.internal": "127.0.0.1"}

    def __init__(self, env, d):
        self.env, self.dir, self.vars = env, d, {}
        os.makedirs(d, exist_ok=True)

    def _file(self, orig, secret):
        path = os.path.join(self.dir, orig.lstrip("/"))
        if os.path.exists(path):
            return path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if secret:
            with open(path, "w") as f:
                f.write(secrets.token_urlsafe(36) + "\n")
        elif orig.endswith(".pem"):
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            import datetime
            key = ec.generate_private_key(ec.SECP256R1())
            if "key" in os.path.basename(orig):
                data = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
            else:
                name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "docs CA")])
                now = datetime.datetime.now(datetime.timezone.utc)
                cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(key.public_key()).serial_number(1)
                        .not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                        .sign(key, hashes.SHA256()))
                data = cert.public_bytes(serialization.Encoding.PEM)
            with open(path, "wb") as f:
                f.write(data)
        return path

    def __call__(self, text):
        text = re.sub(r"https?://[^\s\"]+/\.well-known/openid-configuration",
                      self.env.idp.discovery_url, text)
        text = text.replace("/usr/lib/apache2/modules/mod_jitprov.so", self.env.httpd.module)
        text = text.replace("/usr/lib/apache2/modules/", h.APACHE_MODULES + "/")
        text = re.sub(r"(file:)?(/(?:etc|var)/[^\s\"]+)",
                      lambda m: (m.group(1) or "") + self._file(m.group(2), bool(m.group(1))),
                      text)
        for name in re.findall(r"\benv:(\w+)", text):
            self.vars.setdefault(name, secrets.token_urlsafe(36))
        for host, local in self.HOSTS.items():
            text = text.replace(host, local)
        return text


ROLES = ("JITProvRoleTable", "JITProvRoleMap", "JITProvRoleAllow")


def companions(text):
    """The lines a one-directive example needs from its neighbours, as its
    section says: JITProvRoleTable, at least one JITProvRoleMap and
    JITProvRoleAllow go together, and the allow list holds every fixed role."""
    names = set(top_level_names(text))
    if not names & set(ROLES) or set(ROLES) <= names:
        return ""
    lines = [l.split() for l in logical_lines(text)]
    fixed = [w[2] for w in lines if w[0] == "JITProvRoleMap" and "$" not in w[2]]
    allow = [r for w in lines if w[0] == "JITProvRoleAllow" for r in w[1:]]
    add = []
    if "JITProvRoleTable" not in names:
        add.append("JITProvRoleTable user_roles user_id role")
    if "JITProvRoleMap" not in names:
        add.append(f"JITProvRoleMap docs-example {(allow or ['member'])[0]}")
    if "JITProvRoleAllow" not in names:
        add.append("JITProvRoleAllow " + " ".join(fixed or ["member"]))
    return "\n".join(add)


def wrap(example, n, offline, port):
    """(whole configuration or None, fragment for the standard site or None)."""
    text = offline(example.text)
    names = top_level_names(text)
    # A configuration of its own has everything a server using the module needs.
    if {"JITProvProviderMetadataURL", "JITProvClientID"} <= set(names):
        return text, None
    text += "\n" + companions(text)
    indented = "\n".join("    " + l for l in text.splitlines())
    if set(names) <= directory_names():
        auth = "" if "AuthType" in names else "    AuthType jitprov\n"
        req = "" if {"Require", "RequireAll", "RequireAny"} & set(names) else \
            "\n    Require valid-user"
        return None, f"<Location /doc-example/{n}>\n{auth}{indented}{req}\n</Location>"
    if MAIN_ONLY & set(names):
        return None, text
    return None, (f"<VirtualHost 127.0.0.1:{port}>\n    ServerName ex{n}.docs.test\n"
                  f"{indented}\n</VirtualHost>")


def configtest_all(env, configs, extra_env):
    """{name: CompletedProcess} of configtest on each {name: text}, two at a time."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(env.httpd.configtest, text, f"docs-{i}", extra_env)
                   for i, (name, text) in enumerate(configs.items())}
        return {name: f.result() for name, f in futures.items()}


def check_examples(env, examples, label):
    """configtest on every example: the fragments in one configuration first,
    each on its own only when that fails (to name the culprit). Returns
    {example: error text} of the failures."""
    offline = Offline(env, os.path.join(env.dir, "docs-offline", label))
    port = env.httpd.port
    wholes, fragments = {}, {}
    for n, ex in enumerate(examples):
        whole, fragment = wrap(ex, n, offline, port)
        if whole is not None:
            wholes[ex] = env.httpd.render(whole)
        else:
            fragments[ex] = fragment
    # Main-server fragments first: their LoadModule lines serve the rest.
    ordered = sorted(fragments.values(), key=lambda f: f.startswith("<"))
    configs = dict(wholes)
    configs["all fragments"] = env.standard_config(locations_extra="\n".join(ordered))
    results = configtest_all(env, configs, offline.vars)
    if results.pop("all fragments").returncode != 0:
        results.update(configtest_all(
            env, {ex: env.standard_config(locations_extra=f) for ex, f in fragments.items()},
            offline.vars))
    return {ex: describe_failure(r) for ex, r in results.items() if r.returncode != 0}


def describe_failure(r):
    """configtest's complaint, with the configuration line it names."""
    if r.returncode < 0:
        return f"configtest killed by signal {-r.returncode}"
    text = (r.stderr + r.stdout).strip()
    m = re.search(r"Syntax error on line (\d+) of (\S+):", text)
    if m:
        with open(m.group(2)) as f:
            text += "\n    the line: " + f.read().splitlines()[int(m.group(1)) - 1].strip()
    return text


def test_every_configuration_example_passes_configtest(env):
    examples = doc_examples()
    failed = check_examples(env, examples, "examples")
    unexpected = {ex: err for ex, err in failed.items() if ex.key not in EXPECTED_TO_FAIL}
    assert not unexpected, "examples that fail configtest:\n" + "\n".join(
        f"{ex}: {err}" for ex, err in unexpected.items())
    # The list of wrong-on-purpose examples does not go stale.
    keys = {ex.key for ex in examples}
    stale = [k for k in EXPECTED_TO_FAIL
             if k not in keys or k not in {ex.key for ex in failed}]
    assert not stale, f"EXPECTED_TO_FAIL entries that no longer fail or exist: {stale}"


def test_no_example_puts_a_comment_after_a_directive():
    """httpd has no end-of-line comments: `JITProvRoleAllow admin # admins`
    grants a role "#", and a On|Off directive ignores the rest of its line, so
    configtest does not catch every such line."""
    wrong = []
    for ex in doc_examples():
        for line in logical_lines(ex.text):
            unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
            if re.search(r"\s#", unquoted):
                wrong.append(f"{ex}: {line}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------ Syntax lines
#
# Every argument form a Syntax line of docs/directives.md shows is accepted:
# `a|b` gives each alternative, `[x]` the form with and without x, `…` one and
# two values; placeholders get a sample value (below, per directive where the
# name alone does not say enough), keywords are used as written.

def _match(prev):
    return "/partner-portal" if prev and prev[-1] == "path" else "partners.app.example.com"


SAMPLES = {
    "url": "https://idp.example.com/.well-known/openid-configuration",
    "metadata-url": "https://login.partner.example/.well-known/openid-configuration",
    "client-id": "my-app",
    "secret": "s3cret-" + "x" * 33,
    "token": "scim-" + "t" * 40,
    "file:/path": "file:/etc/apache2/jitprov/docs-secret",
    "env:NAME": "env:JITPROV_DOCS_SECRET",
    ("JITProvPrivateKeyFile", "path"): "/etc/apache2/jitprov/rp-key.pem",
    "kid": "rp-key-2026",
    ("JITProvProvider", "name"): "partner",
    ("JITProvProviderSelect", "name"): "partner",
    "label": '"Partner staff"',
    "match": _match,
    "text": '"Company account"',
    '"scope …"': '"openid email"',
    ("JITProvRedirectURI", "/path"): "/docs/callback",
    ("JITProvRedirectURI", "https://host/path"): "https://app.example.com/docs/callback",
    ("JITProvLogoutURI", "/path"): "/docs/logout",
    ("JITProvBackChannelLogoutURI", "/path"): "/docs/backchannel-logout",
    ("JITProvFrontChannelLogoutURI", "/path"): "/docs/frontchannel-logout",
    ("JITProvDiscoveryURI", "/path"): "/docs/login",
    "address": "127.0.0.1",
    "address/bits": "10.20.0.0/24",
    "provider": "shmcb",
    "provider:arguments": "shmcb:jitprov_docs(1048576)",
    ("JITProvRevocationFile", "path"): "/var/lib/apache2/jitprov-revocations",
    "entries": "262144",
    "bytes": "262144",
    ("JITProvSessionInactivityTimeout", "seconds"): "1800",
    ("JITProvSessionMaxDuration", "seconds"): "43200",
    ("JITProvStateTimeout", "seconds"): "900",
    ("JITProvClockSkew", "seconds"): "30",
    ("JITProvHTTPTimeout", "seconds"): "5",
    ("JITProvAccountRecheckInterval", "seconds"): "30",
    ("JITProvRefreshMargin", "seconds"): "120",
    ("JITProvCookie", "name"): "app_sso",
    "attributes": '"Secure; SameSite=Lax"',
    "audience": "https://api.example.com",
    "/path/to/ca-bundle.pem": "/etc/ssl/certs/corp-root-ca.pem",
    ("JITProvLinkBy", "claim"): "oid",
    "issuer": "https://login.example.com/realms/corp",
    ("JITProvAccountKey", "claim"): "oid",
    ("JITProvRequireClaim", "claim"): "email",
    "regex": r'"^[^@]+@example\.com$"',
    ("JITProvMapClaim", "claim"): "department",
    "column": "dept",
    ("JITProvAccountTable", "name"): "app_users",
    ("JITProvAuditTable", "name"): "app_audit",
    "role": "username",
    ("JITProvRoleMap", "role"): "admin",
    ("JITProvRoleAllow", "role"): "admin",
    "table": "user_roles",
    "account-column": "user_id",
    "role-column": "role_id",
    "lookup-table": "roles",
    "id-column": "id",
    "name-column": "name",
    ("JITProvRoleClaim", "claim"): "realm_access.roles",
    "value": "admins",
    "~regex": "~team-([a-z]+)",
    ("JITProvGroupsClaim", "claim"): "roles",
    "prefix": "X-Remote-",
    "Header-Name": "X-Remote-Email",
    ("JITProvAccessTokenHeader", "Header-Name"): "Authorization",
    "source": "claim:email",
    "string": '"|"',
    "PREFIX": "OIDC_CLAIM_",
    ("JITProvSessionInfoClaims", "claim"): "email",
    ("Require jitprov-group", "name"): '"Domain Admins"',
}


def syntax_lines():
    """[(directive, form)] of the Syntax lines, plus the syntax blocks of the
    Require sections."""
    text = read(DIRECTIVES_MD)
    out = []
    for m in re.finditer(r"^- \*\*Syntax:\*\* (.+)$", text, re.M):
        for form in re.findall(r"`([^`]+)`", m.group(1)):
            out.append((form.split()[0], form))
    for m in re.finditer(r"^### (Require jitprov-\w+)\n+```apache\n(.*?)```", text, re.M | re.S):
        out += [(m.group(1), l) for l in m.group(2).splitlines() if l.strip()]
    assert len(out) > 60, "the Syntax lines were not found"
    return out


def _alternatives(word):
    """A word of a form: its variants (a|b, inline [x], trailing …)."""
    if word.endswith("…") and len(word) > 1:
        base = word[:-1]
        return [[w] for w in _alternatives(base)[0]] + [[w, w] for w in _alternatives(base)[0]]
    m = re.fullmatch(r"(.*?)\[(.+)\](.*)", word)
    if m:
        return [[m.group(1) + m.group(3)], [m.group(1) + m.group(2) + m.group(3)]]
    if "|" in word and not word.startswith('"'):
        return [[w] for w in word.split("|")]
    return [[word]]


def expand_form(form):
    """Every argument list a form stands for, as lists of words."""
    form = form.replace(" | ", "|")
    words = re.findall(r'"[^"]*"|\[[^\]]*\]|\S+', form)
    results = [[]]
    for w in words[1:] if not form.startswith("Require") else words[2:]:
        if w.startswith("[") and w.endswith("]"):
            inner = expand_form("x " + w[1:-1])
            results = [r + i for r in results for i in [[]] + inner]
        elif w == "…":
            results = [r + r[-1:] for r in results] + results
        else:
            results = [r + alt for r in results for alt in _alternatives(w)]
    return results


def sample_value(directive, word, prev):
    v = SAMPLES.get((directive, word), SAMPLES.get(word, word))
    return v(prev) if callable(v) else v


def syntax_examples():
    out = []
    for directive, form in syntax_lines():
        head = form.split()[:2] if form.startswith("Require") else form.split()[:1]
        name = " ".join(head)
        for words in expand_form(form):
            values = []
            for w in words:
                values.append(sample_value(name, w, values))
            line = " ".join(head + values)
            if directive == "JITProvProviderSelect" or directive == "JITProvDiscoveryURI" or \
                    directive == "JITProvProviderLabel":
                line = ("JITProvProvider partner " + SAMPLES["metadata-url"] + " app " +
                        SAMPLES["secret"] + "\n" + line)
            if directive == "JITProvTokenEndpointAuth" and "private_key_jwt" in line:
                line += "\nJITProvPrivateKeyFile " + SAMPLES[("JITProvPrivateKeyFile", "path")]
            out.append(Example("docs/directives.md (Syntax)", form, line))
    # One example per distinct text (the expansions of `…` overlap).
    return list({ex.text: ex for ex in out}.values())


def test_every_syntax_form_is_accepted(env):
    examples = syntax_examples()
    failed = check_examples(env, examples, "syntax")
    unexpected = {ex: err for ex, err in failed.items() if ex.key not in EXPECTED_TO_FAIL}
    assert not unexpected, "Syntax forms configtest refuses:\n" + "\n".join(
        f"`{ex.line}` as `{ex.text}`: {err}" for ex, err in unexpected.items())


# ------------------------------------------------------------ the README's commands

README = os.path.join(ROOT, "README.md")
# The stages of scripts/test.sh (its `stage "..."` titles, start) that run
# tests, and the words the README's description of test.sh uses for each.
TEST_STAGES = {
    "code format": "code format",
    "unit tests (make check)": "unit tests",
    "Debian package": "the Debian package",
    "store and jitprov-admin": "jitprov-admin against real SQLite and PostgreSQL",
    "unit tests under ASan/UBSan": "ASan/UBSan",
    "fuzz smoke": "fuzz smoke run",
    "end-to-end": "end-to-end tests",
}
# Stages that prepare (the README says "Both start with scripts/deps.sh").
PREP_STAGES = ("dependencies", "autoreconf", "build", "summary")


def readme_command(script):
    """The README's line for `bash scripts/SCRIPT` with its comment, flattened."""
    text = read(README)
    m = re.search(r"^bash scripts/" + re.escape(script) + r" +#(.*(?:\n +#.*)*)", text, re.M)
    assert m, f"README.md: no `bash scripts/{script}` line"
    return " ".join(re.sub(r"\n +#", " ", m.group(1)).split())


def test_readme_describes_the_test_script():
    said = readme_command("test.sh")
    script = read(os.path.join(ROOT, "scripts", "test.sh"))
    stages = re.findall(r'^\s*stage "([^"]+)"', script, re.M)
    unknown = [t for t in stages if not t.startswith(PREP_STAGES)
               and not any(t.startswith(k) for k in TEST_STAGES)]
    assert not unknown, f"scripts/test.sh stages the README does not describe: {unknown}"
    for key, words in TEST_STAGES.items():
        assert any(t.startswith(key) for t in stages), f"no test.sh stage '{key}' any more"
        assert words in said, f"README.md's test.sh line does not mention '{words}'"
    assert "scripts/deps.sh" in script and "JITPROV_SKIP_DEPS" in script


def test_readme_describes_the_demo():
    said = readme_command("demo.sh")
    script = read(os.path.join(ROOT, "scripts", "demo.sh"))
    port = re.search(r"JITPROV_DEMO_PORT:-(\d+)", script).group(1)
    assert f"http://127.0.0.1:{port}/" in said
    assert "scripts/deps.sh" in script and "JITPROV_SKIP_DEPS" in script
    assert "jitprov_harness.py demo" in script
    text = " ".join(read(README).split())
    # The users and their passwords are the test IdP's.
    m = re.search(r"The demo's users are ([a-z, ]+), each with the password `pass-<name>`", text)
    assert m, "README.md: the demo's users are not named"
    assert re.split(r",\s*|\s+and\s+", m.group(1).strip()) == list(h.USERS)
    assert "`pass-${login}`" in read(os.path.join(h.IDP_DIR, "idp.js"))
    # The pages the README sends people to are on the demo's index, and the
    # terminal commands it shows are ones the demo takes.
    pages = re.findall(r"`(/demo/\w+)`", text)
    commands = re.findall(r"\(`((?:claims|disable|enable|admin) [^`]*)`\)", text)
    assert pages and commands
    for page in pages:
        assert f'href="{page}"' in h.DEMO_INDEX_HTML, page
    for cmd in commands:
        assert re.search(r"^\s+" + cmd.split()[0] + r"\b", h.DEMO_HELP, re.M), cmd
