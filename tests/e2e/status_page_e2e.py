#!/usr/bin/env python3
"""End-to-end proof of the status page and the `check` subcommand, in a real headless
Chromium (Debian's `chromium`), with `tidy` and `jsonschema`, and the README's pictures.

The `check` subcommand:
  - `check --demo --output json` (verified as the demo configures, `full`; with
    `--no-verify`; and against an unreachable account) validates against docs/check.schema.json, which itself is a valid draft
    2020-12 schema strict enough to reject broken documents; its counts, order and
    exit_code agree with the instances and with the process's exit code;
  - exit codes: --demo 1, an unparsable config file 2, an account on a closed loopback
    port 3;
  - the table goes to stdout, stderr stays empty when not a terminal, and the table lists
    the instances in the JSON's order (problems first);
  - under a pseudo-terminal (`script`) a progress spinner ("CDS calls") shows and the
    problem cells are coloured (red critical, yellow warning); NO_COLOR=1 removes the
    colour from the table.
The status page (a --demo exporter on loopback):
  - before the first poll cycle `/` says it is waiting (and /-/ready is not 200);
  - headers: text/html, nosniff, a Content-Security-Policy allowing no script and only
    the inline style sheet, by a hash that matches it;
  - `/` and the demo-cluster instance page load in headless Chromium without console
    messages (CSP violations, uncaught errors), and Chromium's DOM is the page served
    (not an empty document, not Chromium's error page; the same title), which any
    Chromium build shows alike; negative controls prove each is caught: a page breaking
    its CSP, one that throws, a closed port, a server that answers the fetch here but
    not Chromium, an unexpected HTTP status;
  - the DOM: the summary line agrees with the rows; every demo instance has a row linking
    to /instance/<uuid>; critical rows before warning rows before healthy rows; one
    td.problem per row; the instance page shows its shards and its backups; no script
    element and no event handler attribute anywhere; Grafana links from
    --web.dashboards-url;
  - hostile text: a fake CDS API (a few lines of Python here) whose instance is named
    <script>alert(1)</script>, with tags, backup ids, states and a UUID full of markup:
    all of it shows as text, in the page, the instance page it links to, and `check`;
    /instance/<script>... is a plain-text 404;
  - behind --web.config.file (TLS and basic auth) the pages answer 401 without or with
    wrong credentials and 200 with the right ones;
  - `tidy -q -e` finds no error in the fleet page, an instance page, the waiting page and
    the hostile instance's pages (warnings are printed, allowed).
  - the page's table markup: a caption, th scope=col, a th scope=row per row, every
    finding with its icon and severity word, icons aria-hidden, times with the account's
    offset (datetime attributes in UTC).
Pictures (overwritten on every run), taken after the demo's verification has settled and a
cycle has carried its results into the page (the demo's event an hour away), whose
summary counts must be the live page's and check --demo's: docs/status-page.png (the fleet),
docs/status-instance.png (demo-cluster), docs/check.png (the coloured `check --demo`
table in a dark <pre>).
Only loopback is used. Usage: status_page_e2e.py PATH/TO/cds-redis-backup-exporter
"""

import base64
import collections
import copy
import hashlib
import html
import html.parser
import http.server
import json
import os
import re
import shlex
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prometheus_e2e as base  # noqa: E402  (shared helpers)

check, wait, free_port = base.check, base.wait, base.free_port
ROOT = base.ROOT
DOCS = os.path.join(ROOT, "docs")
SCHEMA_PATH = os.path.join(DOCS, "check.schema.json")
SCHEMA_NAME = "cds-redis-backup-exporter/check/v1"
RANK = {"critical": 0, "warning": 1, "healthy": 2}
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_UUID = 'e2e-0001"><i>uuid</i>'
HOSTILE_TAGS = ["<img src=x onerror=alert(2)>", "a&b"]
HOSTILE_BACKUP = 'bk-"><svg onload=alert(3)>'
HOSTILE_STATE = "<u>odd</u>"
# A colour (SGR foreground) escape: 30-37, 90-97, 38;5;N, 38;2;R;G;B.
COLOUR = re.compile(r"\x1b\[(?:3[0-7]|9[0-7]|38;5;\d+|38;2;\d+;\d+;\d+)(?:;\d+)*m")
ANY_SGR = re.compile(r"\x1b\[[0-9;]*m")
RED = ("38;5;9m", "38;5;1m", "[31m", "[91m", ";31m", ";91m")
YELLOW = ("38;5;11m", "38;5;3m", "[33m", "[93m", ";33m", ";93m")


# ---------------------------------------------------------------- small helpers


def tail(out):
    """The summary at the end of check's table, joined: it wraps at the width (100)."""
    lines = out.strip().splitlines()
    start = max((n for n, l in enumerate(lines) if " instance(s): " in l), default=len(lines) - 1)
    return " ".join(lines[start:]) if lines else ""

def run(args, env=None, timeout=120):
    """Runs a command, stdin closed, and returns the CompletedProcess (bytes)."""
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout)


def fetch(url, auth=None, ca=None):
    """(status, headers, body text) of a GET; HTTP errors are answers too."""
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def start_exporter(exporter_bin, tmp, name, *args):
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    return subprocess.Popen([exporter_bin, "--log.level=error", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)


def png_size(path):
    """(width, height) of a PNG file, or None when it is not one."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


# ---------------------------------------------------------------- a DOM from Chromium's dump

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag=None, cls=None):
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())]

    def find(self, tag=None, cls=None):
        found = self.find_all(tag, cls)
        return found[0] if found else None


class DomBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    b = DomBuilder()
    b.feed(text)
    b.close()
    return b.root


def tables_after_headings(dom):
    """{h2 text: the table that follows it}."""
    out, heading = {}, None
    for n in dom.iter():
        if n.tag == "h2":
            heading = n.text().strip()
        elif n.tag == "table" and heading is not None and heading not in out:
            out[heading] = n
    return out


def body_rows(table):
    tbody = table.find("tbody") if table is not None else None
    return tbody.find_all("tr") if tbody is not None else []


def markup_problems(dom):
    """Script elements, event-handler attributes, javascript: URLs, external resources."""
    bad = [f"<{n.tag}>" for n in dom.iter() if n.tag in ("script", "iframe", "object", "embed", "img", "svg", "link", "frame")]
    for n in dom.iter():
        for k, v in n.attrs.items():
            if k.startswith("on"):
                bad.append(f"<{n.tag} {k}=...>")
            if k in ("href", "src", "action") and (v or "").strip().lower().startswith("javascript:"):
                bad.append(f"<{n.tag} {k}={v}>")
    return bad


# ---------------------------------------------------------------- headless Chromium

class Chromium:
    """One headless Chromium run per page, each with a fresh profile, no network beyond
    what the URL names (no proxy, no name resolution, no background services).

    Whether a page loaded is judged by what the page is, not by what one Chromium build
    logs about it: builds differ (Debian's chromium 156 logs "Page load failed" and dumps
    an empty document for a refused connection; 148 and 150 log nothing and render their
    own error page). So every load is judged three ways, each problem tagged by source:
      - "http: ..."     the URL fetched here first answers the expected status;
      - "chromium: ..." Chromium exited 0, its DOM is not empty, is not its own error page
                        (#main-frame-error, body.neterror) and is the page that was served
                        (same <title>, or the same text for a plain-text answer);
      - "console: ..."  what the page said on the console (CSP violations, uncaught
                        errors), which a page without JavaScript never does."""

    FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-default-apps", "--disable-breakpad", "--disable-domain-reliability",
             "--no-pings", "--metrics-recording-only", "--no-proxy-server", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
             "--enable-logging=stderr", "--v=0"]

    def __init__(self, tmp):
        self.tmp, self.n = tmp, 0

    @staticmethod
    def console(stderr):
        """The page's console lines (Chromium's `:CONSOLE` log prefix, in every build),
        and CSP refusals and uncaught errors however a build words the line around them."""
        out = []
        for line in stderr.splitlines():
            if ":CONSOLE" in line or "Refused to" in line or "Uncaught" in line or "Content Security Policy" in line:
                out.append("console: " + line.strip()[:400])
        return out

    @staticmethod
    def served(url):
        """(status or None, content type, body) of what the URL serves, fetched here."""
        if url.startswith("file://"):
            with open(url[len("file://"):], encoding="utf-8") as f:
                return 200, "text/html", f.read()
        try:
            status, headers, body = fetch(url)
            return status, headers.get("content-type", ""), body
        except OSError as e:  # refused, reset, timed out: no HTTP answer at all
            return None, "", str(e)

    @staticmethod
    def judge(dom_text, content_type, body):
        """What is wrong with Chromium's DOM as a rendering of `body` ([] when nothing)."""
        dom = parse_dom(dom_text)
        if not dom_text.strip() or dom.find("html") is None:
            return ["chromium: an empty document (the page did not load)"]
        error_page = [n for n in dom.iter() if n.attrs.get("id") == "main-frame-error" or
                      (n.tag == "body" and "neterror" in n.classes())]
        if error_page:
            # The page carries its strings as data; the error shown is the most frequent.
            codes = collections.Counter(re.findall(r"\bERR_[A-Z_]+", dom_text)).most_common(1)
            return [f"chromium: its own error page ({codes[0][0] if codes else 'no error code'}), not the page"]
        if content_type.startswith("text/html"):
            want = parse_dom(body).find("title")
            got = dom.find("title")
            want_t, got_t = (want.text().strip() if want else None), (got.text().strip() if got else None)
            if want_t != got_t:
                return [f"chromium: the DOM is not the page served (title {got_t!r}, served {want_t!r})"]
        elif body.strip() and body.strip() not in dom.text():
            return [f"chromium: the DOM does not show the {content_type or 'text'} served ({body.strip()[:80]!r})"]
        return []

    def load(self, url, extra=(), status=200):
        """(Chromium's DOM as it serialises it, problems) for one run with --dump-dom."""
        got, content_type, body = self.served(url)
        problems = [] if got == status else [f"http: status {got}, want {status} ({body[:120]!r})" if got
                                             else f"http: no answer ({body[:120]})"]
        self.n += 1
        profile = os.path.join(self.tmp, f"chromium-profile-{self.n}")
        p = run(["chromium", *self.FLAGS, f"--user-data-dir={profile}", "--dump-dom", *extra, url], timeout=120)
        shutil.rmtree(profile, ignore_errors=True)
        err = p.stderr.decode("utf-8", "replace")
        dom_text = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            problems.append(f"chromium: exited {p.returncode}: {err[-800:]}")
        problems += self.judge(dom_text, content_type, body if got is not None else "")
        return dom_text, problems + self.console(err)

    def dom(self, url, status=200):
        """(DOM, problems): see the class."""
        return self.load(url, status=status)

    def screenshot(self, url, path, width=1400, height=1800):
        """Problems (see the class); the picture of the viewport goes to path. The DOM is
        dumped in the same run, so a picture of an error page is a failure too."""
        if os.path.exists(path):
            os.remove(path)
        return self.load(url, [f"--screenshot={path}", f"--window-size={width},{height}"])[1]


def check_picture(name, path, width, height):
    size = png_size(path) if os.path.exists(path) else None
    check(f"{name}: a {width}x{height} PNG was written to {os.path.relpath(path, ROOT)}",
          size == (width, height) and os.path.getsize(path) > 10_000,
          f"size {size}, {os.path.getsize(path) if os.path.exists(path) else 0} bytes")


# ---------------------------------------------------------------- a hostile fake CDS API

def hostile_fake():
    """A CDS API on loopback with one instance whose every string is markup. Returns
    (server, port); the exporter does not check the signature, so neither does this."""
    bj = timezone(timedelta(hours=8))  # CDS answers in Beijing time
    now = datetime.now(bj)
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    finished = {"BackupId": HOSTILE_BACKUP, "BackupMode": "auto", "BackupSize": 1234, "BackupType": "full-backup",
                "Desc": "", "StartTime": fmt(now - timedelta(hours=2)), "EndTime": fmt(now - timedelta(hours=1, minutes=50)),
                "InstanceId": HOSTILE_UUID, "Status": "finished"}
    odd = dict(finished, BackupId="bk-<b>2</b>", StartTime=fmt(now - timedelta(minutes=30)), EndTime="",
               Status=HOSTILE_STATE)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            action = q.get("Action")
            if action == "DescribeDBInstances":
                data = [{"InstanceUuid": HOSTILE_UUID, "InstanceName": HOSTILE_NAME, "Status": "RUNNING",
                         "RegionId": "CN_Beijing_A", "SubProductKey": "redis_master_slave", "Version": "5.0",
                         "Tags": [{"TagID": 1000 + n, "TagName": t} for n, t in enumerate(HOSTILE_TAGS)]}]
            elif action == "DescribeBackups":
                data = [odd, finished]
            elif action == "DownloadBackup":
                b = odd if q.get("BackupId") == odd["BackupId"] else finished
                data = dict(b, ShardId="", BackupDownloadUrl="", BackupIntranetDownloadUrl="")
            else:
                data = None
            body = json.dumps({"Code": "Success" if data is not None else "UnsupportedOperation",
                               "Message": "success", "Data": data, "TaskId": ""}).encode()
            self.send_response(200 if data is not None else 400)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def broken_page_server():
    """Negative controls of the console check: /csp breaks its own Content-Security-Policy
    (an inline style without its hash), /throw throws an uncaught error."""
    pages = {"/csp": b"<!DOCTYPE html><html><head><title>csp</title><style>p{color:red}</style></head>"
                     b"<body><p>x</p></body></html>",
             "/throw": b"<!DOCTYPE html><html><head><title>throw</title></head>"
                       b"<body><p>x</p><script>undefinedFunction()</script></body></html>"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            page = pages.get(self.path, b"")
            self.send_response(200 if self.path in pages else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            if self.path == "/csp":
                self.send_header("content-security-policy", "default-src 'none'; style-src 'sha256-AAAA'")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def one_shot_server():
    """A page server that answers one request (the fetch before Chromium) and then stops
    listening, so Chromium's connection is refused. Returns (server, port)."""
    page = b"<!DOCTYPE html><html><head><title>once</title></head><body><p>once</p></body></html>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(page)))
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)

    def serve_once():
        server.handle_request()
        server.server_close()
    threading.Thread(target=serve_once, daemon=True).start()
    return server, server.server_address[1]


def write_config(path, port, extra=""):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""accounts:
  - name: a
    endpoint: http://127.0.0.1:{port}
    access_key_id: x
    access_key_secret: y
    discovery: {{}}
poll:
  request_timeout: 1s
  max_retries: 0
{extra}""")


# ---------------------------------------------------------------- check

def check_json_document(what, doc, validator, rc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    check(f"{what}: valid against docs/check.schema.json", not errors,
          "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]))
    if errors:
        return
    check(f"{what}: exit_code {doc['exit_code']} is the process's exit code", doc["exit_code"] == rc, f"process {rc}")
    worst = []
    for i in doc["instances"]:
        sev = {f["severity"] for f in i["findings"]} | {f["severity"] for s in i["shards"] for f in s["findings"]}
        worst.append("critical" if "critical" in sev else "warning" if "warning" in sev else "healthy")
    s = dict(doc["summary"])
    unverified = sum(1 for i in doc["instances"] for sh in i["shards"] if sh["newest"] is not None and
                     (sh["verification"] is None or sh["verification"][1] in ("download_failed", "skipped")))
    check(f"{what}: summary.unverified_shards counts the shards without a final verdict",
          s.pop("unverified_shards", None) == unverified, f"{doc['summary']} vs {unverified}")
    counted = {"instances": len(worst), "healthy": worst.count("healthy"), "critical": worst.count("critical"),
               "warning": worst.count("warning"), "blind_accounts": sum(1 for a in doc["accounts"] if not a["up"])}
    check(f"{what}: summary counts agree with the instances and accounts", s == counted, f"{s} vs {counted}")
    ranks = [RANK[w] for w in worst]
    check(f"{what}: instances problems first (critical, warning, healthy)", ranks == sorted(ranks), f"{worst}")


def check_subcommand(exporter_bin, tmp):
    import jsonschema  # installed by scripts/test.sh

    with open(SCHEMA_PATH, encoding="utf-8") as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        check("docs/check.schema.json is a valid draft 2020-12 schema", True)
    except jsonschema.SchemaError as e:
        check("docs/check.schema.json is a valid draft 2020-12 schema", False, e.message)
        return None
    check("docs/check.schema.json is draft 2020-12 and names the v1 layout",
          schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
          and schema["properties"]["schema"].get("const") == SCHEMA_NAME)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    # --demo, JSON.
    p = run([exporter_bin, "check", "--demo", "--verify.within", "10m", "--output", "json"])
    check("check --demo --output json exits 1 (the demo has problems)", p.returncode == 1, f"exit {p.returncode}")
    check("check --demo --output json: stderr empty when not a terminal", p.stderr == b"", p.stderr[:300])
    try:
        doc = json.loads(p.stdout)
    except ValueError as e:
        check("check --demo --output json is JSON", False, str(e))
        return None
    check_json_document("check --demo --output json", doc, validator, p.returncode)
    check("check --demo --output json: the demo's 28 instances in 3 accounts, all seen",
          len(doc.get("instances", [])) == 28 and [a["name"] for a in doc["accounts"]] == ["demo", "demo-revoked", "demo-wrong-tz"]
          and all(a["up"] for a in doc["accounts"]), f"{len(doc.get('instances', []))} instances, {doc.get('accounts')}")

    # The schema is strict: broken documents are rejected.
    def mutated(change):
        d = copy.deepcopy(doc)
        change(d)
        return d
    shard0 = lambda d: next(s for i in d["instances"] for s in i["shards"] if s["findings"])  # noqa: E731
    broken = {
        "an unknown severity": lambda d: shard0(d)["findings"][0].__setitem__("severity", "info"),
        "a field not in the schema": lambda d: d["instances"][0].__setitem__("colour", "red"),
        "a missing summary": lambda d: d.pop("summary"),
        "another schema name": lambda d: d.__setitem__("schema", "cds-redis-backup-exporter/check/v2"),
        "exit code 2 in a document": lambda d: d.__setitem__("exit_code", 2),
        "a url probe of three strings": lambda d: shard0(d).__setitem__("urls", [["public", "200", "yes"]]),
        "a verification level 'off'": lambda d: shard0(d).__setitem__("verification", ["off", "ok"]),
        "a negative size": lambda d: next(s for i in d["instances"] for s in i["shards"] if s["newest"])["newest"].__setitem__("size_bytes", -1),
        "an end time that is not a timestamp": lambda d: next(s for i in d["instances"] for s in i["shards"] if s["newest"])["newest"].__setitem__("end", "yesterday"),
    }
    for what, change in broken.items():
        check(f"the schema rejects {what}", not validator.is_valid(mutated(change)))

    # check verifies as the demo's configuration says (verify: full) by default.
    verified = [s["verification"] for i in doc["instances"] for s in i["shards"] if s["verification"]]
    check("check --demo: restore points were verified as the demo configures (full)",
          len(verified) >= 20 and all(v[0] == "full" for v in verified) and doc.get("verification", {}).get("settled"),
          f"{verified[:5]} {doc.get('verification')}")
    # --no-verify: nothing verified, and the document says so.
    p = run([exporter_bin, "check", "--demo", "--verify.within", "10m", "--no-verify", "--output", "json"])
    try:
        vdoc = json.loads(p.stdout)
        check_json_document("check --demo --no-verify --output json", vdoc, validator, p.returncode)
        check("check --demo --no-verify: no verification, enabled false",
              all(s["verification"] is None for i in vdoc["instances"] for s in i["shards"])
              and vdoc["verification"]["enabled"] is False, f"{vdoc.get('verification')}")
    except ValueError as e:
        check("check --demo --no-verify --output json is JSON", False, f"{e}; exit {p.returncode}; {p.stderr[-300:]}")

    # --demo, table, not a terminal.
    p = run([exporter_bin, "check", "--demo", "--verify.within", "10m"])
    out = p.stdout.decode("utf-8", "replace")
    check("check --demo exits 1", p.returncode == 1, f"exit {p.returncode}")
    check("check --demo: stderr empty when not a terminal (no spinner)", p.stderr == b"", p.stderr[:300])
    check("check --demo: a table on stdout, without escape codes when not a terminal",
          out.startswith("┌") and "│" in out and "\x1b" not in out, out[:200])
    names = [i["instance_name"] for i in doc["instances"]]
    positions = [out.find(f" {n} ") for n in names]
    check("check --demo: the table lists every instance", all(pos >= 0 for pos in positions),
          f"{[n for n, pos in zip(names, positions) if pos < 0]}")
    check("check --demo: the table lists them in the JSON's order, problems first",
          positions == sorted(positions), f"{[n for _, n in sorted(zip(positions, names))]}")
    s = doc["summary"]
    check("check --demo: the last line sums up", re.search(
        rf"{s['instances']} instance\(s\): {s['healthy']} healthy, {s['critical']} with critical problems, "
        rf"{s['warning']} with warnings; 0 account\(s\)", tail(out)) is not None,
        tail(out))

    # A configuration file that does not parse: 2, with the reason on stderr.
    bad = os.path.join(tmp, "unparsable.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        f.write("accounts: [\n  - name: a\n    endpoint: {\n")
    p = run([exporter_bin, "check", "--config.file", bad])
    check("check with a config file that does not parse exits 2", p.returncode == 2, f"exit {p.returncode}")
    check("check with a config file that does not parse: says so on stderr, nothing on stdout",
          b"unparsable.yaml" in p.stderr and p.stdout == b"", f"{p.stderr[:300]!r} / {p.stdout[:100]!r}")
    p = run([exporter_bin, "check", "--output", "xml", "--demo"])
    check("check --output xml (a usage error) exits 2", p.returncode == 2, f"exit {p.returncode}")

    # An account on a closed loopback port: 3.
    closed = os.path.join(tmp, "closed.yaml")
    write_config(closed, free_port())
    t0 = time.time()
    p = run([exporter_bin, "check", "--config.file", closed], timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    check("check against an account on a closed port exits 3", p.returncode == 3, f"exit {p.returncode}, {p.stderr[-300:]!r}")
    check("check against an account on a closed port: the table says the account cannot be seen",
          "1 account(s) the exporter cannot see" in tail(out), out[-300:])
    check("check against an account on a closed port: the table gives the network error",
          "account a: the exporter cannot see it: DescribeDBInstances: request failed: " in out
          and "Connection refused" in out.replace("\n    ", " "), out[-400:])
    check("check against an account on a closed port answers within 10 s", time.time() - t0 < 10, f"{time.time() - t0:.1f}s")
    p = run([exporter_bin, "check", "--config.file", closed, "--output", "json"], timeout=60)
    try:
        cdoc = json.loads(p.stdout)
        check_json_document("check against a closed port, JSON", cdoc, validator, p.returncode)
        check("check against a closed port, JSON: account a is down, counted blind",
              [{k: v for k, v in a.items() if k != "error"} for a in cdoc.get("accounts", [])] == [{"name": "a", "up": False, "utc_offset": "+08:00"}]
              and "Connection refused" in cdoc["accounts"][0].get("error", "")
              and cdoc.get("summary", {}).get("blind_accounts") == 1,
              f"{cdoc.get('accounts')} {cdoc.get('summary')}")
    except ValueError as e:
        check("check against a closed port, JSON is JSON", False, f"{e}; exit {p.returncode}")

    # A pseudo-terminal: spinner on stderr (captured by script), colours in the table.
    env = dict(os.environ)
    if env.get("TERM", "dumb") in ("", "dumb"):
        env["TERM"] = "xterm-256color"
    env.pop("NO_COLOR", None)
    cmd = f"{shlex.quote(os.path.abspath(exporter_bin))} check --demo"
    p = run(["script", "-qec", cmd, "/dev/null"], env=env)
    tty = p.stdout.decode("utf-8", "replace")
    rows = [ln for ln in tty.replace("\r", "\n").split("\n") if "│" in ln]
    coloured = [ln for ln in rows if COLOUR.search(ln)]
    check("check --demo under a pseudo-terminal exits 1", p.returncode == 1, f"exit {p.returncode}")
    check("check --demo under a pseudo-terminal shows the progress spinner (CDS calls)", "CDS calls" in tty, tty[:300])
    check("check --demo under a pseudo-terminal colours problem cells", len(coloured) >= 5, f"{len(coloured)} of {len(rows)} rows")
    critical = [i["instance_name"] for i in doc["instances"] if any(f["severity"] == "critical" for s in i["shards"] for f in s["findings"])]
    warning = [i["instance_name"] for i in doc["instances"] if i["instance_name"] not in critical
               and any(f["severity"] == "warning" for s in i["shards"] for f in s["findings"] + i["findings"])]
    row_of = lambda name: next((ln for ln in rows if f" {name} " in ln), "")  # noqa: E731
    check("check --demo under a pseudo-terminal: critical problems red, warnings yellow",
          critical and warning and any(c in row_of(critical[0]) for c in RED) and any(c in row_of(warning[-1]) for c in YELLOW),
          f"{row_of(critical[0])!r} / {row_of(warning[-1])!r}" if critical and warning else "no critical or warning instance")
    colour_pty = tty
    env["NO_COLOR"] = "1"
    p = run(["script", "-qec", cmd, "/dev/null"], env=env)
    tty = p.stdout.decode("utf-8", "replace")
    rows = [ln for ln in tty.replace("\r", "\n").split("\n") if "│" in ln]
    check("check --demo with NO_COLOR=1 under a pseudo-terminal: ASCII icons (X critical, ! warning)",
          any("X critical" in ln for ln in rows) and not any("✖" in ln or "▲" in ln for ln in rows), f"{rows[3:5]!r}")
    check("check --demo with NO_COLOR=1 under a pseudo-terminal: no colour codes in the table",
          len(rows) > 20 and not any(ANY_SGR.search(ln) for ln in rows), f"{[ln for ln in rows if ANY_SGR.search(ln)][:2]!r}")
    check("check --demo with NO_COLOR=1 under a pseudo-terminal: the spinner still shows", "CDS calls" in tty)
    return doc, colour_pty


def ansi_to_html(text):
    """The table part of a terminal capture, SGR colours as spans, everything else escaped."""
    text = text.replace("\r\n", "\n")
    text = re.sub(r"\x1b\[[0-9;?]*[A-LN-Za-ln-z]", "", text)  # cursor moves, line clears: not colour
    text = text[text.find("┌"):] if "┌" in text else text
    text = "\n".join(ln.split("\r")[-1] for ln in text.split("\n"))
    palette = {"9": "#ff6b6b", "1": "#ff6b6b", "31": "#ff6b6b", "91": "#ff6b6b",
               "11": "#ffd166", "3": "#ffd166", "33": "#ffd166", "93": "#ffd166"}
    out, is_open = [], False
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if not m:
            out.append(html.escape(part))
            continue
        if is_open:
            out.append("</span>")
            is_open = False
        code = m.group(1)
        colour = palette.get(code.split(";")[-1]) if code.startswith("38;5;") else palette.get(code)
        if colour:
            out.append(f'<span style="color:{colour}">')
            is_open = True
    if is_open:
        out.append("</span>")
    return "".join(out).rstrip() + "\n"


def check_picture_of_table(chromium, tmp, colour_pty):
    body = ansi_to_html(colour_pty)
    plain = re.sub(r"<[^>]+>", "", body)
    lines = html.unescape(plain).splitlines()
    width = min(2400, max(900, 40 + int(7.9 * max(len(ln) for ln in lines))))
    height = min(2400, max(400, 40 + int(17 * (len(lines) + 2))))
    page = os.path.join(tmp, "check.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>check --demo</title>
<style>html,body{{margin:0;background:#1e1e1e}}
pre{{margin:0;padding:20px;color:#d4d4d4;background:#1e1e1e;font:13px/17px "DejaVu Sans Mono","Liberation Mono",monospace}}
.prompt{{color:#8ec07c}}</style></head>
<body><pre><span class="prompt">$ cds-redis-backup-exporter check --demo</span>
{body}</pre></body></html>
""")
    target = os.path.join(DOCS, "check.png")
    console = chromium.screenshot("file://" + page, target, width, height)
    check("docs/check.png: Chromium rendered the table without problems (console, DOM)", not console, f"{console[:3]}")
    check_picture("docs/check.png", target, width, height)


# ---------------------------------------------------------------- the status page

def check_headers(what, headers, raw):
    csp = headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    check(f"{what}: text/html; charset=utf-8 and nosniff",
          headers.get("content-type") == "text/html; charset=utf-8" and headers.get("x-content-type-options") == "nosniff",
          f"{headers.get('content-type')} / {headers.get('x-content-type-options')}")
    check(f"{what}: the CSP forbids scripts and inline anything but the hashed style sheet",
          directives.get("default-src") == "default-src 'none'" and "script-src" not in directives
          and "unsafe" not in csp and "frame-ancestors" in directives, csp)
    styles = re.findall(r"<style>(.*?)</style>", raw, re.S)
    hashes = {"sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in styles}
    allowed = set(re.findall(r"'(sha256-[A-Za-z0-9+/=]+)'", directives.get("style-src", "")))
    check(f"{what}: the CSP's style-src hash is the inline style sheet's", styles and hashes <= allowed, f"{hashes} vs {allowed}")


def summary_counts(dom):
    """(instances, healthy, critical, warning, blind accounts) of a fleet page, or None."""
    summary = dom.find("p", "summary")
    text = " ".join(summary.text().split()) if summary else ""
    m = re.search(r"(\d+) instances: (\d+) healthy, (\d+) with critical problems, (\d+) with warnings; (\d+) account", text)
    return tuple(map(int, m.groups())) if m else None


def metric(url, name):
    """The value of an unlabelled series on /metrics, or None."""
    for line in fetch(f"{url}/metrics")[2].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def settled_page_counts(url, doc):
    """Waits until the exporter's verification is idle and a later cycle has put its
    results into the page, then checks the page counts what `check --demo` counted."""
    def idle():
        return (metric(url, "cds_redis_backup_exporter_verify_queued") == 0
                and metric(url, "cds_redis_backup_exporter_verify_in_flight") == 0)
    wait("the demo's verification settled", idle, timeout=120)
    since = time.time()
    wait("a poll cycle after verification settled",
         lambda: (metric(url, "cds_redis_backup_exporter_last_poll_timestamp_seconds") or 0) > since, timeout=60)
    # The page is rebuilt per snapshot; give a concurrent build a moment to land.
    time.sleep(1)
    live = summary_counts(parse_dom(fetch(f"{url}/")[2]))
    s = doc["summary"]
    want = (s["instances"], s["healthy"], s["critical"], s["warning"], s["blind_accounts"])
    check("the settled status page counts what check --demo counts (instances, healthy, critical, warning, blind)",
          live == want, f"page {live}, check {want}")
    print(f"     settled demo: {live[0] if live else '?'} instances in {len(doc['accounts'])} accounts: "
          f"{live[1:4] if live else '?'} healthy/critical/warning")
    return live


def check_fleet_dom(dom, doc, dashboards):
    summary = dom.find("p", "summary")
    text = " ".join(summary.text().split()) if summary else ""
    m = re.search(r"(\d+) instances: (\d+) healthy, (\d+) with critical problems, (\d+) with warnings; (\d+) account", text)
    check("status page: the summary line", m is not None, text)
    table = tables_after_headings(dom).get("Instances")
    rows = body_rows(table)
    check("status page: a table of instances", len(rows) >= 28, f"{len(rows)} rows")
    classes = [next((c for c in r.classes() if c in RANK), None) for r in rows]
    check("status page: every row is critical, warning or healthy", None not in classes, f"{classes}")
    # A cluster instance has a row per shard, each classed by its own findings, in shard
    # order: the order is by instance (its worst row), as the page and `check` promise.
    keys = [r.find("a").attrs.get("href") if r.find("a") is not None else f"row {n}" for n, r in enumerate(rows)]
    order, worst_of, spans = [], {}, {}
    for n, (k, c) in enumerate(zip(keys, classes)):
        if k not in worst_of:
            order.append(k)
        worst_of[k] = min(worst_of.get(k, 9), RANK.get(c, 9))
        spans.setdefault(k, []).append(n)
    contiguous = all(v == list(range(v[0], v[0] + len(v))) for v in spans.values())
    check("status page: each instance's rows are together", contiguous)
    ranks = [worst_of[k] for k in order]
    check("status page: problems first: every instance with a critical row before any with a warning before the healthy",
          ranks == sorted(ranks), f"{list(zip(order, ranks))}")
    mixed = [(c, r.find("a").text()) for r, c, k in zip(rows, classes, keys)
             if r.find("a") is not None and RANK.get(c, 9) != worst_of[k]]
    if mixed:
        print(f"     note: rows classed better than their instance's worst row (shards of one instance): {mixed}")
    check("status page: exactly one td.problem, td.restore and td.deadline per row, eleven cells and a row header",
          all(len(r.find_all("td", "problem")) == 1 and len(r.find_all("td", "restore")) == 1
              and len(r.find_all("td", "deadline")) == 1 and len(r.find_all("td")) == 11
              and [th.attrs.get("scope") for th in r.find_all("th")] == ["row"] for r in rows))
    no_problem = ("✔ ok", "✔ ok (head+tail only)", "? not verified")
    bad_ok = [r.find("td", "problem").text() for r, c in zip(rows, classes) if r.find("td", "problem")
              and (c == "healthy") != (r.find("td", "problem").text().strip() in no_problem)]
    check("status page: problem cells say ok (or not verified) exactly in healthy rows", not bad_ok, f"{bad_ok[:3]}")
    words = [f for r in rows for f in r.find_all("span", "finding")
             if not re.match(r"^(✖ critical|▲ warning): ", f.text())]
    check("status page: every finding has its icon and severity word, not colour alone", not words,
          f"{[w.text()[:60] for w in words[:3]]}")
    table_ok = (table is not None and table.find("caption") is not None
                and all(th.attrs.get("scope") == "col" for th in table.find("thead").find_all("th")))
    check("status page: the table has a caption and column headers with scope", table_ok)
    icons = [i for i in dom.find_all("span", "icon") if i.attrs.get("aria-hidden") != "true"]
    check("status page: icons are hidden from screen readers (the word beside them is read)", not icons)
    zoned = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} ([+-]\d{2}:\d{2})", " ".join(t.text() for t in dom.find_all("time")))
    check("status page: times for people carry the account's offset; datetime stays UTC",
          zoned and "+08:00" in zoned and all(t.attrs.get("datetime", "").endswith("Z") for t in dom.find_all("time")),
          f"{sorted(set(zoned))}")
    # name -> uuid from the links, per row
    worst, links = {}, {}
    for r, c in zip(rows, classes):
        a = r.find("a")
        if a is None:
            continue
        href = a.attrs.get("href", "")
        uuid = urllib.parse.unquote(href[len("/instance/"):]) if href.startswith("/instance/") else None
        links[a.text()] = (uuid, href)
        worst[uuid] = min(worst.get(uuid, 9), RANK.get(c, 9))
    expected = {i["instance_name"]: i["instance_uuid"] for i in doc["instances"]}
    missing = sorted(set(expected) - set(links))
    check(f"status page: a row for each of the {len(expected)} demo instances", not missing, f"missing {missing}")
    wrong = sorted(n for n, u in expected.items() if n in links and links[n][0] != u)
    check("status page: instance names link to /instance/<uuid>", not wrong, f"{[(n, links[n][1]) for n in wrong][:3]}")
    if m:
        n, healthy, critical, warning, _ = map(int, m.groups())
        got = (len(worst), sum(1 for v in worst.values() if v == 2), sum(1 for v in worst.values() if v == 0),
               sum(1 for v in worst.values() if v == 1))
        check("status page: the summary line agrees with the rows", got == (n, healthy, critical, warning), f"{text} vs {got}")
    check("status page: refreshes itself every 30 s",
          any(x.attrs.get("http-equiv") == "refresh" and x.attrs.get("content") == "30" for x in dom.find_all("meta")))
    grafana = [a.attrs.get("href") for a in dom.find_all("a") if a.text() == "Grafana"]
    check("status page: --web.dashboards-url links the overview dashboard",
          grafana == [dashboards.rstrip("/") + "/d/cds-redis-backups-overview"], f"{grafana}")
    bad = markup_problems(dom)
    check("status page: no script element, event handler, javascript: URL or external resource", not bad, f"{bad[:5]}")
    return links


def check_instance_dom(dom, inst, dashboards):
    h1 = dom.find("h1")
    check("instance page: titled with the instance name", h1 is not None and h1.text() == inst["instance_name"],
          h1.text() if h1 else "no h1")
    summary = dom.find("p", "summary")
    check("instance page: the summary names the UUID and account",
          summary is not None and inst["instance_uuid"] in summary.text() and inst["account"] in summary.text(),
          summary.text() if summary else "")
    tables = tables_after_headings(dom)
    shards = body_rows(tables.get("Shards"))
    shard_ids = sorted(s["shard_id"] for s in inst["shards"])
    got = sorted(r.find_all("td")[1].text() for r in shards if len(r.find_all("td")) > 1)
    check(f"instance page: a row per shard ({', '.join(shard_ids)})", got == shard_ids, f"{got}")
    backups = body_rows(tables.get("Backups"))
    cells = [[c.text() for c in r.children if not isinstance(c, str) and c.tag in ("td", "th")] for r in backups]
    check("instance page: the backups table lists the instance's backups",
          len(backups) >= len(shard_ids) and all(len(c) == 8 and c[0] and c[1] in shard_ids for c in cells),
          f"{cells[:3]}")
    check("instance page: the backups' states are CDS's",
          all(c[2] in ("finished", "running", "failed") for c in cells), f"{[c[2] for c in cells]}")
    grafana = [a.attrs.get("href") for a in dom.find_all("a") if a.text() == "Grafana"]
    split = [urllib.parse.urlsplit(g or "") for g in grafana]
    check("instance page: --web.dashboards-url links the instance dashboard for this UUID",
          len(split) == 1 and urllib.parse.urlunsplit(split[0]._replace(query="")) ==
          dashboards.rstrip("/") + "/d/cds-redis-backup-instance"
          and urllib.parse.parse_qs(split[0].query).get("var-instance_uuid") == [inst["instance_uuid"]], f"{grafana}")
    bad = markup_problems(dom)
    check("instance page: no script element, event handler, javascript: URL or external resource", not bad, f"{bad[:5]}")


def tidy(what, raw, tmp):
    path = os.path.join(tmp, re.sub(r"\W+", "-", what) + ".html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(raw)
    p = run(["tidy", "-q", "-e", "-utf8", path])
    said = p.stderr.decode("utf-8", "replace").strip() + p.stdout.decode("utf-8", "replace").strip()
    check(f"tidy finds no error in {what}", p.returncode in (0, 1), said[:800])
    if said:
        print(f"     tidy on {what} (warnings, allowed):\n       " + said.replace(path, what).replace("\n", "\n       "))
    return said


def main():
    exporter_bin = sys.argv[1]
    for tool in ("chromium", "tidy", "script", "openssl"):
        check(f"{tool} is installed", shutil.which(tool) is not None)
    try:
        import jsonschema  # noqa: F401
        check("jsonschema is installed", True)
    except ImportError:
        check("jsonschema is installed", False, "python3 -m pip install jsonschema")
    if not all(ok for _, ok in base.RESULTS):
        return
    tmp = tempfile.mkdtemp(prefix="cds-status-e2e-")
    procs, servers = [], []
    started = time.time()
    try:
        chromium = Chromium(tmp)

        # Negative controls: the page checks catch what they must, in any Chromium build.
        # A page that breaks its CSP and one that throws load, and say so on the console.
        broken, broken_port = broken_page_server()
        servers.append(broken)
        for path, what in (("/csp", "a CSP violation"), ("/throw", "an uncaught error")):
            _, problems = chromium.dom(f"http://127.0.0.1:{broken_port}{path}")
            said = [p for p in problems if p.startswith("console:")]
            check(f"the console check catches {what} (negative control)",
                  said and len(said) == len(problems), f"{problems}")
        # A page that does not load: judged by the DOM Chromium ends with (empty, or its
        # own error page, depending on the build) and its exit, not by a log line.
        _, problems = chromium.dom(f"http://127.0.0.1:{free_port()}/")
        check("the page check catches a page that does not load: a closed port (negative control)",
              any(p.startswith("chromium:") for p in problems), f"{problems}")
        # The same when the server did answer the fetch here: Chromium's own view counts.
        once, once_port = one_shot_server()
        _, problems = chromium.dom(f"http://127.0.0.1:{once_port}/")
        once.server_close()
        check("the page check catches a page that answered here but not in Chromium (negative control)",
              problems and all(p.startswith("chromium:") for p in problems), f"{problems}")
        _, problems = chromium.dom(f"http://127.0.0.1:{broken_port}/missing")
        check("the page check catches an answer with an unexpected status (negative control)",
              any(p.startswith("http: status 404") for p in problems), f"{problems}")

        result = check_subcommand(exporter_bin, tmp)
        if result is None:
            return
        doc, colour_pty = result
        check_picture_of_table(chromium, tmp, colour_pty)

        # Before the first cycle: a slow demo API keeps the first cycle busy.
        slow_port = free_port()
        slow = start_exporter(exporter_bin, tmp, "exporter-slow", "--demo", "--demo.latency=60s",
                              f"--web.listen-address=127.0.0.1:{slow_port}")
        procs.append(slow)
        status, _, raw = wait("the slow exporter answering", lambda: fetch(f"http://127.0.0.1:{slow_port}/"), timeout=30)
        check("before the first cycle / answers 200 and says it is waiting",
              status == 200 and "has not completed yet" in raw, raw[-400:])
        check("before the first cycle /-/ready is not 200", fetch(f"http://127.0.0.1:{slow_port}/-/ready")[0] != 200)
        tidy("the waiting page", raw, tmp)
        slow.terminate()

        # The demo exporter, with Grafana links.
        dashboards = "https://grafana.example.com/"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # The demo's event an hour away: the pictures show the fleet before it, every run.
        procs.append(start_exporter(exporter_bin, tmp, "exporter", "--demo", "--demo.events-after=1h",
                                    f"--web.listen-address=127.0.0.1:{port}", f"--web.dashboards-url={dashboards}"))
        wait("exporter ready", lambda: fetch(f"{url}/-/ready")[0] == 200)
        status, headers, raw = fetch(f"{url}/")
        check("/ answers 200 after the first cycle", status == 200 and 'class="summary"' in raw, f"{status}")
        check_headers("/", headers, raw)
        tidy("the fleet page", raw, tmp)

        dom_text, console = chromium.dom(f"{url}/")
        check("/ in headless Chromium: no console message (CSP violation, error)", not console, f"{console[:3]}")
        dom = parse_dom(dom_text)
        links = check_fleet_dom(dom, doc, dashboards)

        cluster = next(i for i in doc["instances"] if i["instance_name"] == "demo-cluster")
        href = links.get("demo-cluster", (None, "/instance/" + urllib.parse.quote(cluster["instance_uuid"], safe="")))[1]
        status, headers, raw = fetch(url + href)
        check("the demo-cluster link answers 200", status == 200, f"{status} for {href}")
        check_headers("the instance page", headers, raw)
        tidy("the demo-cluster instance page", raw, tmp)
        dom_text, console = chromium.dom(url + href)
        check("the instance page in headless Chromium: no console message", not console, f"{console[:3]}")
        check_instance_dom(parse_dom(dom_text), cluster, dashboards)

        # Screenshots for the README: after verification has settled and a cycle has
        # carried its results into the page, and with the page's counts checked.
        settled_page_counts(url, doc)
        for name, page in (("status-page.png", "/"), ("status-instance.png", href)):
            target = os.path.join(DOCS, name)
            if os.path.exists(target):
                os.remove(target)
            dom_text, console = chromium.load(url + page, [f"--screenshot={target}", "--window-size=1400,1800"])
            check(f"docs/{name}: Chromium rendered it without problems (console, DOM)", not console, f"{console[:3]}")
            check_picture(f"docs/{name}", target, 1400, 1800)
            if page == "/":
                pictured = summary_counts(parse_dom(dom_text))
                live = summary_counts(parse_dom(fetch(f"{url}/")[2]))
                check("docs/status-page.png: the counts in the picture are the live page's",
                      pictured is not None and pictured == live, f"picture {pictured}, live {live}")

        # Markup in a URL: a plain-text 404, nothing executes.
        evil = "/instance/" + urllib.parse.quote("<script>alert(1)</script>", safe="")
        status, headers, raw = fetch(url + evil)
        check("/instance/<script>alert(1)</script> is a 404", status == 404, f"{status}")
        check("... in plain text with nosniff and the CSP, not echoing the name",
              headers.get("content-type", "").startswith("text/plain") and headers.get("x-content-type-options") == "nosniff"
              and "default-src 'none'" in headers.get("content-security-policy", "") and "<script" not in raw,
              f"{headers.get('content-type')} {raw[:100]!r}")
        dom_text, console = chromium.dom(url + evil, status=404)
        check("... and in headless Chromium: no script element, no console message",
              not parse_dom(dom_text).find_all("script") and not console, f"{console[:3]}")

        # Hostile strings from CDS itself: a fake API whose instance is named <script>.
        fake, fake_port = hostile_fake()
        servers.append(fake)
        cfg = os.path.join(tmp, "hostile.yaml")
        write_config(cfg, fake_port, "  start_jitter: 0s\n")
        p = run([exporter_bin, "check", "--config.file", cfg, "--output", "json"])
        try:
            hdoc = json.loads(p.stdout)
            names = [i["instance_name"] for i in hdoc["instances"]]
            check("check against the hostile fake: the instance name as given, exit 1",
                  names == [HOSTILE_NAME] and p.returncode == 1, f"{names}, exit {p.returncode}, {p.stderr[-300:]!r}")
        except ValueError as e:
            check("check against the hostile fake prints JSON", False, f"{e}; exit {p.returncode}; {p.stderr[-300:]!r}")
        p = run([exporter_bin, "check", "--config.file", cfg])
        check("check against the hostile fake: the table shows the name verbatim",
              HOSTILE_NAME in p.stdout.decode("utf-8", "replace"), p.stdout[:300])
        hport = free_port()
        hurl = f"http://127.0.0.1:{hport}"
        procs.append(start_exporter(exporter_bin, tmp, "exporter-hostile", f"--config.file={cfg}",
                                    f"--web.listen-address=127.0.0.1:{hport}"))
        wait("the hostile exporter ready", lambda: fetch(f"{hurl}/-/ready")[0] == 200, timeout=30)
        status, _, raw = fetch(f"{hurl}/")
        check("hostile fake: / answers 200 and has no raw markup from CDS",
              status == 200 and "<script" not in raw and "<img" not in raw and "<svg" not in raw and "<u>" not in raw,
              raw[-600:])
        tidy("the fleet page with hostile names", raw, tmp)
        dom_text, console = chromium.dom(f"{hurl}/")
        hdom = parse_dom(dom_text)
        check("hostile fake: / in Chromium has no console message", not console, f"{console[:3]}")
        link = next((a for a in hdom.find_all("a") if a.attrs.get("href", "").startswith("/instance/")), None)
        check("hostile fake: the name <script>alert(1)</script> shows as the link's text",
              link is not None and link.text() == HOSTILE_NAME, link.text() if link else "no link")
        check("hostile fake: the state <u>odd</u> shows as text",
              any(HOSTILE_STATE in td.text() for td in hdom.find_all("td")), "")
        bad = markup_problems(hdom) + [f"<{n.tag}>" for n in hdom.iter() if n.tag in ("i", "u", "b")]
        check("hostile fake: no element made from CDS text (script, img, svg, i, u, b)", not bad, f"{bad[:5]}")
        if link is not None:
            target = hurl + link.attrs["href"]
            status, headers, raw = fetch(target)
            check("hostile fake: the link of a UUID full of markup finds the instance page", status == 200, f"{status} {target}")
            tidy("the instance page with hostile names", raw, tmp)
            dom_text, console = chromium.dom(target)
            idom = parse_dom(dom_text)
            text = idom.text()
            check("hostile fake: the instance page shows name, UUID, tags and backup id as text",
                  idom.find("h1") is not None and idom.find("h1").text() == HOSTILE_NAME
                  and HOSTILE_UUID in text and all(t in text for t in HOSTILE_TAGS) and HOSTILE_BACKUP in text,
                  text[:400])
            bad = markup_problems(idom) + [f"<{n.tag}>" for n in idom.iter() if n.tag in ("i", "u", "b")]
            check("hostile fake: the instance page has no element made from CDS text, no console message",
                  not bad and not console, f"{bad[:5]} {console[:3]}")

        # Behind TLS and basic auth, as /metrics.
        sport = free_port()
        sec, ca = base.secure_exporter(exporter_bin, tmp, sport)
        procs.append(sec)
        surl = f"https://localhost:{sport}"
        wait("the TLS exporter answering", lambda: fetch(f"{surl}/-/healthy", ca=ca)[0] == 401)
        wait("the TLS exporter's first cycle",
             lambda: "has not completed" not in fetch(f"{surl}/", "prometheus:e2e-password", ca)[2])
        page = "/instance/" + urllib.parse.quote(cluster["instance_uuid"], safe="")
        for path in ("/", page):
            check(f"TLS + basic auth: {path} without credentials is 401", fetch(surl + path, ca=ca)[0] == 401)
            check(f"TLS + basic auth: {path} with a wrong password is 401",
                  fetch(surl + path, "prometheus:wrong", ca)[0] == 401)
            status, _, raw = fetch(surl + path, "prometheus:e2e-password", ca)
            check(f"TLS + basic auth: {path} with the right password is 200 and the page",
                  status == 200 and 'class="summary"' in raw and "<table>" in raw, f"{status}")
    finally:
        for s in servers:
            s.shutdown()
        base.cleanup(procs, tmp)
        print(f"took {time.time() - started:.0f}s")

if __name__ == "__main__":
    try:
        main()
    finally:
        base.report_and_exit()
