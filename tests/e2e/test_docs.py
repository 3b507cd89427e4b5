"""The docs are the user contract: they must not drift from the code. Needs no
httpd: reads mod_jitprov/httpd/config.c (the directive table and the server
defaults), every JPLOG(nnnn) message id in the sources, docs/directives.md
(a section and an index row per directive) and the log table of
docs/operations.md."""
import glob
import os
import re

import pytest

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


@pytest.mark.parametrize("text", [
    "never an\nHMAC algorithm",           # HS* are accepted under conditions
    "16 KiB",                             # tokens may be up to 64 KiB
    "scoped to\nthe callback path",       # state cookies have Path=/
    "no status page",                     # SetHandler jitprov-status exists
])
def test_known_contradictions_stay_fixed(text):
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")):
        flat = " ".join(read(path).split())
        assert " ".join(text.split()) not in flat, f"{os.path.relpath(path, ROOT)}: '{text}'"
