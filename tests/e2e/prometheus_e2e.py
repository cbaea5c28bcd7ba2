#!/usr/bin/env python3
"""End-to-end proof of the dashboards and alert rules on a real Prometheus.

Starts the exporter in --demo mode and Debian's Prometheus scraping it every 2s with a
test copy of prometheus/alerts.yml (every `for:` and range window shortened), then,
through Prometheus's HTTP API, checks that:
  - every expression of every dashboard panel returns at least one series;
  - exactly the alerts the demo scenario should raise are firing, with the right labels,
    and none fires for the healthy instances or for the exporter itself;
  - every metric name used by dashboards and rules exists in the exporter's output;
  - the panels that render the policy engine's decision (restore deadline, restore point
    age, findings by reason) show exactly what the exporter's /metrics says: each count
    stat, the per-shard problem counts, the findings table, the restore point ages, and
    the number of shards past their deadline equals the NoRestorePoint alerts expected;
  - dashboards are valid JSON with unique panel ids, titles and datasources bound to
    the ${datasource} variable.
Only loopback is used. Usage: prometheus_e2e.py PATH/TO/cds-redis-backup-exporter
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = "cds-redis-backup"
RESULTS = []

# What the --demo exporter fires before its event: (alertname, instance name, shard).
DEMO_ALERTS = {
    ("CdsRedisBackupFailed", "demo-failed", ""),
    ("CdsRedisBackupStuck", "demo-stuck", ""),
    # Stale: the restore point is past its allowed age. Its newest backup's object also
    # answers 404 (gone), so the restore point is the one before it.
    ("CdsRedisBackupNoRestorePoint", "demo-stale", ""),
    ("CdsRedisBackupNewestUnusable", "demo-stale", ""),
    ("CdsRedisBackupDownloadUnreachable", "demo-stale", ""),
    ("CdsRedisBackupDownloadUnreachable", "demo-cluster", "shard-2c3d"),
    ("CdsRedisBackupSizeMismatch", "demo-truncated", ""),
    ("CdsRedisBackupNeverBackedUp", "demo-empty", ""),
    ("CdsRedisBackupNoRestorePoint", "demo-6hourly-overdue", ""),
    # Purged: no finished backup listed any more; the deadline is the last one's EndTime.
    ("CdsRedisBackupNoRestorePoint", "demo-purged", ""),
    ("CdsRedisBackupFailed", "demo-purged", ""),
    ("CdsRedisBackupFailed", "demo-cluster-shard", "shard-b"),
    ("CdsRedisBackupNoRestorePoint", "demo-revoked-stale", ""),
    ("CdsRedisBackupDownloadUnreachable", "demo-verify-nourl", ""),
    # The newest backup fails verification (a warning that explains); the restore point
    # falls back to the daily backup before it, which is past its allowed age (26h from
    # its own EndTime, the newest being a day later and hours old), so the page is due.
    ("CdsRedisBackupCorrupt", "demo-truncated", ""),
    ("CdsRedisBackupNewestUnusable", "demo-truncated", ""),
    ("CdsRedisBackupNoRestorePoint", "demo-truncated", ""),
    ("CdsRedisBackupCorrupt", "demo-verify-corrupt", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-corrupt", ""),
    ("CdsRedisBackupNoRestorePoint", "demo-verify-corrupt", ""),
    ("CdsRedisBackupCorrupt", "demo-verify-cut", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-cut", ""),
    ("CdsRedisBackupNoRestorePoint", "demo-verify-cut", ""),
    ("CdsRedisBackupCorrupt", "demo-verify-html", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-html", ""),
    ("CdsRedisBackupNoRestorePoint", "demo-verify-html", ""),
    ("CdsRedisBackupVerifyInconclusive", "demo-verify-future", ""),
    ("CdsRedisBackupVerifyInconclusive", "demo-verify-large", ""),
    # The object is gone: the newest backup answers 404 on every URL. With nothing else
    # within its age (the daily backup before it is 28 h old), a page; with an older
    # restore point within its age, warnings only.
    ("CdsRedisBackupNoRestorePoint", "demo-gone", ""),
    ("CdsRedisBackupNewestUnusable", "demo-gone", ""),
    ("CdsRedisBackupDownloadUnreachable", "demo-gone", ""),
    ("CdsRedisBackupNewestUnusable", "demo-gone-covered", ""),
    ("CdsRedisBackupDownloadUnreachable", "demo-gone-covered", ""),
    # A `timezone` 8 h off: the account's backups seem to end in the future. One alert
    # per account (keyed here by the account's name), naming its `timezone` key.
    ("CdsRedisBackupTimesInFuture", "demo-wrong-tz", ""),
    # The heartbeat of the alerting path: always firing, about no instance.
    ("CdsRedisBackupWatchdog", "", ""),
}

# Stories whose point is that nothing pages (also covered by "nothing else fires", named
# here so that a regression names the story): a weekday schedule in its weekend-like
# 72 h gap, past the 48 h median; a gone newest backup with an older restore point
# within its age; and the 6-hourly instance of the account with a wrong `timezone`.
DEMO_NO_PAGE = ("demo-weekdays", "demo-gone-covered", "demo-wrong-tz-6hourly")


def alert_key(labels, name_of):
    """(alertname, instance name — else the account, for alerts about an account —,
    shard) of an alert's labels."""
    uuid = labels.get("instance_uuid", "")
    return (labels["alertname"], name_of.get(uuid, uuid) or labels.get("account", ""), labels.get("shard_id", ""))


SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def verdicts(exposition):
    """The policy engine's series of /metrics: (findings {(uuid, shard, reason, severity)},
    deadlines {(uuid, shard): t}, restore points {(uuid, shard): t})."""
    findings, deadlines, points = set(), {}, {}
    for line in exposition.splitlines():
        m = SERIES.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(2))), float(m.group(3))
        key = (labels.get("instance_uuid"), labels.get("shard_id"))
        if name == "cds_redis_backup_finding":
            findings.add(key + (labels["reason"], labels["severity"]))
        elif name == "cds_redis_backup_restore_deadline_timestamp_seconds":
            deadlines[key] = value
        elif name == "cds_redis_backup_restore_point_timestamp_seconds":
            points[key] = value
    return findings, deadlines, points


def check_engine_panels(prom_port, ex_port, boards):
    """The panels that render the engine's decision agree with /metrics exactly."""
    findings, deadlines, points = verdicts(http(f"http://127.0.0.1:{ex_port}/metrics"))
    now = time.time()
    past = {k for k, d in deadlines.items() if d < now}
    rows = findings | {k + ("no_restore_point", "critical") for k in past}
    by_title = {(name, p.get("title")): p for name, d in boards for p in panels(d)}

    def panel_query(board, title, ref="A"):
        p = by_title.get((board, title))
        check(f"{board} has the panel {title!r}", p is not None)
        if p is None:
            return []
        expr = next(t["expr"] for t in p["targets"] if t["refId"] == ref)
        return query(prom_port, substitute(expr))

    def stat(board, title):
        got = panel_query(board, title)
        return float(got[0]["value"][1]) if len(got) == 1 else None

    overview, instance = "cds-redis-backups-overview.json", "cds-redis-backup-instance.json"
    expected_pages = sum(1 for a in DEMO_ALERTS if a[0] == "CdsRedisBackupNoRestorePoint")
    check(f"the demo has {expected_pages} shards past their restore deadline, one per NoRestorePoint alert",
          len(past) == expected_pages, f"{sorted(past)}")
    counts = {
        "No restore point in time": len(past),
        "No restore point at all": len(set(deadlines) - set(points)),
    }
    # Each count stat: (title, the reasons it counts, the shards the demo should show in it:
    # those of an alert, plus demo-verify-empty's dump that holds no keys with no earlier
    # count, which no alert names).
    def alerted(name):
        return sum(1 for a in DEMO_ALERTS if a[0] == name)
    stats = [("Shards with a failed backup", {"failed"}, alerted("CdsRedisBackupFailed")),
             ("Never backed up", {"never_backed_up"}, alerted("CdsRedisBackupNeverBackedUp")),
             ("Shards with unreachable downloads", {"download_unreachable", "object_gone"},
              alerted("CdsRedisBackupDownloadUnreachable")),
             ("Size mismatches", {"size_mismatch"}, alerted("CdsRedisBackupSizeMismatch")),
             ("Corrupt newest backups", {"corrupt"}, alerted("CdsRedisBackupCorrupt")),
             ("Empty newest backups", {"empty", "empty_no_history"}, alerted("CdsRedisBackupEmpty") + 1),
             # No demo count: the Unverified rule also waits for a replica up over an hour
             # (replica health, not policy, so PromQL), which an e2e never reaches, and the
             # finding's count depends on how far verification has got. The stat is still
             # held to /metrics below.
             ("Unverified newest backups", {"unverified"}, None),
             ("Inconclusive verifications", {"verify_inconclusive"}, alerted("CdsRedisBackupVerifyInconclusive"))]
    for title, reasons, demo in stats:
        counts[title] = len({(u, s) for u, s, r, _ in findings if r in reasons})
        if demo is not None:
            check(f"overview / {title}: the demo's {demo} shards", counts[title] == demo,
                  f"{counts[title]} in /metrics")
    for title, want in counts.items():
        got = stat(overview, title)
        check(f"overview / {title} is {want}, as /metrics says", got == want, f"{got}")
    per_shard = {}
    for u, s, _, _ in rows:
        per_shard[(u, s)] = per_shard.get((u, s), 0) + 1
    for k in deadlines:
        per_shard.setdefault(k, 0)
    for board, title in [(overview, "Newest backup per instance and shard"), (instance, "Shards")]:
        got = {(r["metric"].get("instance_uuid"), r["metric"].get("shard_id", "")): float(r["value"][1])
               for r in panel_query(board, title, "P")}
        check(f"{board} / {title} / Problems counts each shard's findings", got == per_shard,
              f"{sorted(set(got.items()) ^ set(per_shard.items()))[:6]}")
    for board in (overview, instance):
        title = "Findings (by severity and reason)" if board == overview else "Findings"
        got = {(r["metric"].get("instance_uuid"), r["metric"].get("shard_id", ""), r["metric"]["reason"],
                r["metric"]["severity"]) for r in panel_query(board, title)}
        check(f"{board} / {title} lists exactly the findings of /metrics ({len(rows)})", got == rows,
              f"{sorted(got ^ rows)[:6]}")
    got = stat(instance, "Problems")
    check(f"instance / Problems (every instance) is {len(rows)}", got == len(rows), f"{got}")
    ages = {(r["metric"].get("instance_uuid"), r["metric"].get("shard_id", "")): float(r["value"][1])
            for r in panel_query(overview, "Newest backup per instance and shard", "Q")}
    off = {k: (v, now - points.get(k, 0)) for k, v in ages.items() if abs(v - (now - points.get(k, 0))) > 60}
    check(f"overview / restore point age for each of the {len(points)} restore points",
          set(ages) == set(points) and not off, f"{sorted(set(ages) ^ set(points))[:4]} {list(off.items())[:4]}")
    worst = panel_query(overview, "Restore point age vs allowed age (20 worst)")
    check("overview / Restore point age vs allowed age shows the 20 worst (or all)",
          len(worst) == min(20, len(set(points) & set(deadlines))), f"{len(worst)}")


def check(name, ok, detail=""):
    RESULTS.append((name, bool(ok)))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))


def cleanup(procs, tmp):
    """Stops `procs` (terminate, then kill after 10 s), prints the tail of every log in
    `tmp` if a check failed, and removes `tmp`."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    if any(not ok for _, ok in RESULTS):
        for log in sorted(f for f in os.listdir(tmp) if f.endswith(".log")):
            lines = open(os.path.join(tmp, log), encoding="utf-8", errors="replace").readlines()
            if lines:
                print(f"--- {log} (tail)")
                print("".join(lines[-20:]))
    shutil.rmtree(tmp, ignore_errors=True)


def report_and_exit():
    failed = sum(1 for _, ok in RESULTS if not ok)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not RESULTS else 0)


def start_prometheus(tmp, targets, more=""):
    """Debian's Prometheus on a free loopback port, scraping `targets` (host:port) as job
    JOB every 2 s and evaluating tmp/alerts.yml (written by the caller); `more` is
    appended to its configuration (more scrape jobs, an `alerting:` section). Returns
    (process, port)."""
    port = free_port()
    listed = ", ".join(f'"{t}"' for t in targets)
    with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
        f.write(f"""global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: [{listed}]
""" + more)
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
    return proc, port


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def secure_exporter(exporter_bin, tmp, port):
    """A second --demo exporter behind --web.config.file: TLS with a certificate made here
    by openssl, and basic auth with a bcrypt hash. Returns (process, CA file)."""
    import bcrypt  # installed by scripts/test.sh
    crt, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    hashed = bcrypt.hashpw(b"e2e-password", bcrypt.gensalt(10)).decode()
    with open(os.path.join(tmp, "web.yml"), "w", encoding="utf-8") as f:
        f.write(f"tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"
                f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    proc = subprocess.Popen(
        [exporter_bin, "--demo", f"--web.listen-address=127.0.0.1:{port}", "--log.level=error",
         f"--web.config.file={tmp}/web.yml"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "exporter-tls.log"), "w"))
    return proc, crt


def https_status(url, ca, auth=None):
    import base64
    import ssl
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=ssl.create_default_context(cafile=ca)) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def query(prom, expr):
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.loads(http(url))
    if answer.get("status") != "success":
        raise RuntimeError(f"{expr}: {answer}")
    return answer["data"]["result"]


def wait(what, predicate, timeout=90):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - the service may not be up yet
            last = e
        time.sleep(1)
    check(f"waiting for {what}", False, f"timed out after {timeout}s: {last}")
    raise SystemExit(1)


def snapshots_of(take, n=4, every=2):
    """`n` fresh results of take(), `every` seconds apart (an evaluation interval): for
    checks that must hold throughout, not in one lucky or stale snapshot."""
    out = []
    for i in range(n):
        if i:
            time.sleep(every)
        out.append(take())
    return out


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows


def dashboards():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "grafana", "dashboards", "*.json"))):
        with open(path, encoding="utf-8") as f:
            try:
                out.append((os.path.basename(path), json.load(f)))
            except json.JSONDecodeError as e:
                check(f"{os.path.basename(path)} is valid JSON", False, str(e))
    return out


def check_dashboards_static(boards):
    check("there are dashboards", len(boards) >= 2, f"{[n for n, _ in boards]}")
    for name, d in boards:
        ps = [p for p in panels(d) if p.get("type") != "row"]
        ids = [p.get("id") for p in panels(d)]
        check(f"{name}: unique panel ids", len(ids) == len(set(ids)) and None not in ids, f"{ids}")
        untitled = [p.get("id") for p in ps if not p.get("title")]
        check(f"{name}: every panel has a title", not untitled, f"panels {untitled}")
        unbound = [p.get("title") for p in ps if (p.get("datasource") or {}).get("uid") != "${datasource}"]
        unbound += [p.get("title") for p in ps for t in p.get("targets", []) if (t.get("datasource") or {}).get("uid") != "${datasource}"]
        check(f"{name}: every panel and target uses the datasource variable", not unbound, f"{unbound}")
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        check(f"{name}: datasource, job and instance variables", {"datasource", "job", "instance"} <= set(variables), f"{sorted(variables)}")
        check(f"{name}: importable (__inputs)", any(i.get("pluginId") == "prometheus" for i in d.get("__inputs", [])))


def substitute(expr):
    for var, value in [("__rate_interval", "1m"), ("__interval", "15s"), ("__range", "1h"), ("job", JOB),
                       ("account", ".*"), ("region", ".*"), ("instance_name", ".*"), ("tag", ".*"),
                       ("instance_uuid", ".*"), ("instance", ".*")]:
        expr = expr.replace("${" + var + "}", value).replace("$" + var, value)
    return expr


def test_rules(src, dst):
    """The rules with every `for:` and range window shortened, so the demo fires fast."""
    with open(src, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(\bfor:\s*)\d+[smhdwy]\S*", r"\g<1>4s", text)
    text = re.sub(r"(\binterval:\s*)\d+[smhdwy]\S*", r"\g<1>4s", text)
    text = re.sub(r"\[\d+[smhdwy]+(:\d+[smhdwy]+)?\]", lambda m: "[40s:4s]" if m.group(1) else "[40s]", text)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)


# A metric name, not the tail of a longer (recording rule) name.
NAME = re.compile(r"(?<![\w:])(cds_redis_[a-zA-Z0-9_:]+|process_[a-z_]+)")


def metric_names(exposition):
    names = set()
    for line in exposition.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


def main():
    exporter_bin = sys.argv[1]
    promtool_ok = shutil.which("prometheus") is not None
    check("prometheus is installed", promtool_ok)
    if not promtool_ok:
        return
    boards = dashboards()
    check_dashboards_static(boards)
    rules_path = os.path.join(ROOT, "prometheus", "alerts.yml")
    with open(rules_path, encoding="utf-8") as f:
        rules_text = f.read()

    tmp = tempfile.mkdtemp(prefix="cds-e2e-")
    procs = []
    try:
        ex_port = free_port()
        procs.append(subprocess.Popen(
            [exporter_bin, "--demo", f"--web.listen-address=127.0.0.1:{ex_port}", "--log.level=error"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "exporter.log"), "w")))
        wait("exporter ready", lambda: http(f"http://127.0.0.1:{ex_port}/-/ready"))
        # Verification results are served from the cycle after they land; a failed
        # download (demo-stale's 404) is the last family to appear.
        exposition = wait("verification results served", lambda: (lambda t: t if "cds_redis_backup_verify_download_status_code{" in t else None)(
            http(f"http://127.0.0.1:{ex_port}/metrics")))

        sec_port = free_port()
        sec, ca = secure_exporter(exporter_bin, tmp, sec_port)
        procs.append(sec)
        sec_url = f"https://localhost:{sec_port}"
        wait("TLS exporter answering", lambda: https_status(f"{sec_url}/-/healthy", ca) == 401)
        check("TLS exporter: no credentials is 401", https_status(f"{sec_url}/metrics", ca) == 401)
        check("TLS exporter: a wrong password is 401",
              https_status(f"{sec_url}/metrics", ca, "prometheus:wrong") == 401)
        check("TLS exporter: the right password is 200",
              https_status(f"{sec_url}/metrics", ca, "prometheus:e2e-password") == 200)

        test_rules(rules_path, os.path.join(tmp, "alerts.yml"))
        tls_jobs = "".join(f"""  - job_name: {job}
    scheme: https
    tls_config:
      ca_file: {ca}
      server_name: localhost
    basic_auth:
      username: prometheus
      password: {password}
    static_configs:
      - targets: ["127.0.0.1:{sec_port}"]
""" for job, password in (("tls", "e2e-password"), ("tls-wrong-password", "wrong")))
        prom, prom_port = start_prometheus(tmp, [f"127.0.0.1:{ex_port}"], tls_jobs)
        procs.append(prom)
        wait("Prometheus scraping the exporter", lambda: query(prom_port, f'up{{job="{JOB}"}} == 1'))
        wait("Prometheus scraping the TLS exporter with basic auth",
             lambda: query(prom_port, 'cds_redis_backup_exporter_build_info{job="tls"}'))
        check("Prometheus scrapes the TLS exporter with basic auth", True)
        wait("the wrong password failing", lambda: query(prom_port, 'up{job="tls-wrong-password"} == 0'))
        check("Prometheus with a wrong password is refused (up 0)", True)

        # Metric names used anywhere exist (recording rules count as defined).
        recorded = set(re.findall(r"record:\s*(\S+)", rules_text))
        exported = metric_names(exposition)
        used = set(NAME.findall(rules_text))
        for _, d in boards:
            for p in panels(d):
                for t in p.get("targets", []):
                    used |= set(NAME.findall(t.get("expr", "")))
        # Served only once an instance has vanished from discovery: the Alertmanager
        # end-to-end test sees it after the demo's event.
        later = {"cds_redis_instance_vanished_timestamp_seconds"}
        missing = sorted(n for n in used if n not in exported and n not in recorded and n not in later)
        check(f"all {len(used)} metric names used by rules and dashboards exist", not missing, f"{missing}")

        # Names of the demo instances, for alert labels.
        uuid_of = wait("instance info", lambda: {r["metric"]["instance_name"]: r["metric"]["instance_uuid"]
                                                  for r in query(prom_port, "cds_redis_instance_info")})
        name_of = {v: k for k, v in uuid_of.items()}
        expected = DEMO_ALERTS

        def firing():
            alerts = json.loads(http(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
            return {alert_key(a["labels"], name_of) for a in alerts if a["state"] == "firing"}

        wait("the demo's alerts to fire", lambda: expected <= firing(), timeout=120)
        # Then four fresh snapshots over three more evaluations (every 2 s): an expected
        # alert must fire in every one of them (one that flaps fails), and nothing else
        # may fire in any of them.
        snapshots = snapshots_of(firing)
        always, ever = set.intersection(*snapshots), set.union(*snapshots)
        for alert in sorted(expected):
            gaps = [i for i, snap in enumerate(snapshots) if alert not in snap]
            check(f"alert {alert[0]} fires for {alert[1]}{' ' + alert[2] if alert[2] else ''}"
                  " in each of 4 snapshots over 6 s", alert in always, f"not firing in snapshots {gaps}")
        extra = sorted(ever - expected)
        check("no other alert fires in any snapshot (healthy instances, exporter itself)", not extra, f"{extra}")
        for story in DEMO_NO_PAGE:
            paged = sorted(k for k in ever if k[1] == story and k[0] == "CdsRedisBackupNoRestorePoint")
            check(f"{story}: CdsRedisBackupNoRestorePoint does not fire in any snapshot", not paged, f"{paged}")
        alerts = json.loads(http(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
        for a in alerts:
            if a["state"] == "firing":
                ann = a.get("annotations", {})
                ok = all(ann.get(k) for k in ("summary", "description", "runbook_url")) and a["labels"].get("severity") in ("critical", "warning", "none")
                check(f"{a['labels']['alertname']} ({name_of.get(a['labels'].get('instance_uuid'), '')}) has severity, summary, description, runbook_url", ok, f"{a}")
                if ok and a["labels"].get("instance_uuid"):
                    check(f"{a['labels']['alertname']} summary/description name the instance",
                          a["labels"]["instance_uuid"] in ann["summary"] + ann["description"], ann["summary"])

        # The engine's decision, as the dashboards render it.
        check_engine_panels(prom_port, ex_port, boards)

        # Every dashboard expression returns data.
        for name, d in boards:
            for p in panels(d):
                for t in p.get("targets", []):
                    expr = t.get("expr")
                    if not expr:
                        continue
                    try:
                        n = len(query(prom_port, substitute(expr)))
                        check(f"{name} / {p.get('title')} / {t.get('refId')} returns data", n > 0, substitute(expr))
                    except Exception as e:  # noqa: BLE001
                        check(f"{name} / {p.get('title')} / {t.get('refId')} is a valid query", False, f"{e}")
    finally:
        cleanup(procs, tmp)

if __name__ == "__main__":
    try:
        main()
    finally:
        report_and_exit()
