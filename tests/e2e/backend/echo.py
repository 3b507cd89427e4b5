#!/usr/bin/python3
# The application behind mod_jitprov in the e2e tests: a CGI that answers with
# what it was handed. Values are bytes in the environment; they are decoded as
# UTF-8 with surrogateescape so the tests can recover the exact bytes
# (value.encode("utf-8", "surrogateescape")).
import json
import os
import sys

KEEP = ("REMOTE_USER", "AUTH_TYPE", "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING",
        "SCRIPT_NAME", "PATH_INFO", "SERVER_PORT")


def text(b):
    return b.decode("utf-8", "surrogateescape")


env = {text(k): text(v) for k, v in os.environb.items()}
out = {
    "http": {k: v for k, v in env.items() if k.startswith("HTTP_")},
    "jitprov": {k: v for k, v in env.items() if k.startswith("JITPROV_")},
}
for k in KEEP:
    out[k.lower()] = env.get(k)
# A POST's body and type, for the tests that re-post a form after a login.
if env.get("REQUEST_METHOD") == "POST":
    n = int(env.get("CONTENT_LENGTH") or 0)
    out["body"] = text(sys.stdin.buffer.read(n))
    out["content_type"] = env.get("CONTENT_TYPE")

body = json.dumps(out, indent=1, sort_keys=True).encode("ascii")
sys.stdout.buffer.write(b"Content-Type: application/json\r\nCache-Control: no-store\r\n")
sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body))
sys.stdout.buffer.write(body)
