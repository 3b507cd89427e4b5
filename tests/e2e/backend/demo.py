#!/usr/bin/python3
# The demo's application (scripts/demo.sh): two read-only HTML pages over the
# SQLite file the module provisions into, so a newcomer sees what a login did.
#
#   /demo/me      (protected) the headers this request received from mod_jitprov,
#                 the account row they point to, its roles, its latest audit events
#   /demo/admin   every account, its roles, the whole audit trail
#
# The database and table names come from SetEnv lines in the demo's httpd.conf:
#   DEMO_DB            the SQLite file (opened read-only)
#   DEMO_ACCOUNTS      account table (default jitprov_accounts)
#   DEMO_AUDIT         audit table (default jitprov_audit)
#   DEMO_ROLES         "table account-column role-column" of the membership table
#   DEMO_GRANTS        the module's grant ledger (default jitprov_grants), if present
# The e2e tests parse tests/e2e/backend/echo.py, not this page.
import html
import json
import os
import re
import sqlite3
import sys
import time

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def env(name, default=None):
    v = os.environ.get(name)
    return v if v else default


def ident(name):
    """Table and column names come from the demo's own config, never from the
    request; still, only plain identifiers go into SQL text."""
    if not IDENT.match(name or ""):
        raise ValueError(f"not an identifier: {name!r}")
    return name


def esc(v):
    if v is None:
        return '<span class="null">NULL</span>'
    return html.escape(str(v))


def when(v):
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(v)))
    except (TypeError, ValueError):
        return esc(v)


class Db:
    def __init__(self):
        path = env("DEMO_DB")
        self.conn = None
        self.error = None
        self.accounts = ident(env("DEMO_ACCOUNTS", "jitprov_accounts"))
        self.audit = ident(env("DEMO_AUDIT", "jitprov_audit"))
        self.grants = ident(env("DEMO_GRANTS", "jitprov_grants"))
        roles = (env("DEMO_ROLES") or "").split()
        self.roles = tuple(ident(x) for x in roles) if len(roles) == 3 else None
        self.id_col = ident(env("DEMO_ID_COLUMN", "id"))
        try:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            self.conn.row_factory = sqlite3.Row
        except sqlite3.Error as e:
            self.error = f"cannot open {path}: {e}"

    def rows(self, sql, args=()):
        if self.conn is None:
            return []
        try:
            return [dict(r) for r in self.conn.execute(sql, args)]
        except sqlite3.Error as e:
            # A table not made yet (no login so far) is not an error worth a 500.
            self.error = str(e)
            return []

    def has_table(self, name):
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                              (name,)))

    def account(self, account_id):
        r = self.rows(f"SELECT * FROM {self.accounts} WHERE {self.id_col} = ?", (account_id,))
        return r[0] if r else None

    def all_accounts(self):
        return self.rows(f"SELECT * FROM {self.accounts} ORDER BY {self.id_col}")

    def roles_of(self, account_id):
        """[(role, granted_by_module)] for one account."""
        if not self.roles:
            return []
        t, acol, rcol = self.roles
        roles = [r["role"] for r in self.rows(
            f"SELECT {rcol} AS role FROM {t} WHERE {acol} = ? ORDER BY 1", (str(account_id),))]
        granted = set()
        if self.has_table(self.grants):
            granted = {r["role"] for r in self.rows(
                f"SELECT role FROM {self.grants} WHERE account_id = ?", (str(account_id),))}
        return [(r, r in granted) for r in roles]

    def audit_rows(self, account_id=None, limit=50):
        if account_id is None:
            return self.rows(f"SELECT * FROM {self.audit} ORDER BY id DESC LIMIT ?", (limit,))
        return self.rows(f"SELECT * FROM {self.audit} WHERE account_id = ? "
                         f"ORDER BY id DESC LIMIT ?", (account_id, limit))


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:75em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.detail{font-family:monospace;font-size:.85em;max-width:40em;
word-break:break-all} .null{color:#999;font-style:italic} .note{color:#555;font-size:.9em}
.ev-create{background:#e8f6e8} .ev-update{background:#eef4fb} .ev-refuse{background:#fbeaea}
.ev-grant{background:#f5efff} .ev-revoke{background:#fff4e0} .ev-link{background:#e8f6f6}
.status-disabled,.status-pending{color:#a00;font-weight:bold} nav a{margin-right:1em}
"""


def page(title, body):
    nav = ('<nav><a href="/">index</a><a href="/demo/me">/demo/me</a>'
           '<a href="/demo/admin">/demo/admin</a><a href="/logout?return_to=/">log out</a></nav>')
    text = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body>{nav}<h1>{esc(title)}</h1>{body}</body></html>\n")
    return text.encode("utf-8", "surrogateescape")


def kv_table(pairs, head=("name", "value")):
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f"<table><tr><th>{esc(head[0])}</th><th>{esc(head[1])}</th></tr>{rows}</table>"


def row_table(rows, cols=None, fmt=None, row_class=None):
    if not rows:
        return '<p class="note">(none)</p>'
    cols = cols or list(rows[0].keys())
    fmt = fmt or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = f' class="{esc(row_class(r))}"' if row_class else ""
        cells = "".join(
            f'<td{" class=detail" if c == "detail" else ""}>'
            f"{fmt[c](r.get(c)) if c in fmt else esc(r.get(c))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def detail(v):
    try:
        return esc(json.dumps(json.loads(v), ensure_ascii=False, sort_keys=True))
    except (TypeError, ValueError):
        return esc(v)


AUDIT_COLS = ["id", "at", "event", "account_id", "sub", "client_ip", "corr_id", "detail"]
AUDIT_FMT = {"at": when, "detail": detail}
TIME_COLS = ("created_at", "updated_at", "last_login_at")


def audit_table(rows):
    return row_table(rows, AUDIT_COLS, AUDIT_FMT, lambda r: "ev-" + str(r.get("event")))


def roles_cell(roles):
    if not roles:
        return '<span class="note">none</span>'
    return ", ".join(f"<b>{esc(r)}</b>" + ("" if ours else " <i>(set in the application)</i>")
                     for r, ours in roles)


def me(db):
    environ = {k: v for k, v in os.environ.items()}
    headers = sorted((k[5:].replace("_", "-").title(), esc(v)) for k, v in environ.items()
                     if k.startswith("HTTP_X_"))
    account_id = environ.get("HTTP_X_ACCOUNT_ID")
    body = ['<p class="note">This page is the application behind Apache. It knows nothing '
            "about OpenID Connect: it reads who you are from the request headers "
            "mod_jitprov set, and finds your row in its own database.</p>",
            "<h2>What the application received</h2>",
            kv_table([("REMOTE_USER", esc(environ.get("REMOTE_USER"))),
                      ("AUTH_TYPE", esc(environ.get("AUTH_TYPE")))] + headers,
                     ("header / variable", "value"))]
    acct = db.account(account_id) if account_id else None
    body.append(f"<h2>Your account row ({esc(db.accounts)} where "
                f"{esc(db.id_col)} = {esc(account_id)})</h2>")
    if acct is None:
        body.append('<p class="note">No account row (provisioning off, or no X-Account-Id '
                    "header).</p>")
    else:
        body.append(kv_table([(k, when(v) if k in TIME_COLS and v is not None else
                               (f'<span class="status-{esc(v)}">{esc(v)}</span>'
                                if k == "status" else esc(v)))
                              for k, v in acct.items()], ("column", "value")))
        if db.roles:
            body.append(f"<h2>Your roles ({esc(db.roles[0])})</h2>"
                        f"<p>{roles_cell(db.roles_of(account_id))}</p>")
        body.append("<h2>Latest audit events for this account</h2>")
        body.append(audit_table(db.audit_rows(account_id, 10)))
    return page("Signed in: what the application sees", "".join(body))


def admin(db):
    accounts = db.all_accounts()
    cols = list(accounts[0].keys()) if accounts else []
    for a in accounts:
        a["roles"] = db.roles_of(a.get(db.id_col))
    fmt = {c: (lambda v: when(v) if v is not None else esc(v)) for c in TIME_COLS}
    fmt["roles"] = roles_cell
    fmt["status"] = lambda v: f'<span class="status-{esc(v)}">{esc(v)}</span>'
    body = ['<p class="note">Read-only view of the database (demo only: a real site would '
            "put this behind authentication). Log in at <a href=\"/demo/me\">/demo/me</a> "
            "as different users, change claims, disable an account with jitprov-admin, "
            "and reload.</p>",
            f"<h2>Accounts ({esc(db.accounts)})</h2>",
            row_table(accounts, cols + (["roles"] if db.roles else []), fmt,
                      lambda a: "status-" + str(a.get("status", ""))),
            f"<h2>Audit trail ({esc(db.audit)}, newest first)</h2>",
            audit_table(db.audit_rows(None, 200))]
    if db.error:
        body.append(f'<p class="note">database: {esc(db.error)}</p>')
    return page("Accounts, roles and audit trail", "".join(body))


def main():
    path = os.environ.get("PATH_INFO", "") or ""
    db = Db()
    if path.rstrip("/") in ("/admin",):
        out, status = admin(db), "200 OK"
    elif path.rstrip("/") in ("", "/me"):
        out, status = me(db), "200 OK"
    else:
        out, status = page("Not found", "<p>No such demo page.</p>"), "404 Not Found"
    w = sys.stdout.buffer.write
    w(f"Status: {status}\r\nContent-Type: text/html; charset=utf-8\r\n".encode())
    w(b"Cache-Control: no-store\r\n")
    w(b"Content-Length: %d\r\n\r\n" % len(out))
    w(out)


if __name__ == "__main__":
    main()
