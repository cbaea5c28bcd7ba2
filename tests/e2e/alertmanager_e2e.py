#!/usr/bin/env python3
"""End-to-end proof of paging: the alerting stories through a real Prometheus and a real
Alertmanager (Debian's prometheus-alertmanager) into a webhook receiver written here.

Two --demo exporter replicas (the second with a slow fake API, so its first cycle is
slow) are scraped by one Prometheus under one job, with a test copy of
prometheus/alerts.yml (every `for:` and range shortened). Alertmanager runs the shipped
deploy/alertmanager.yml — routing tree and inhibit rules as they are — with each
receiver pointed at this script's webhook. The demo's event (a last good backup purged,
an instance deleted, an account's credentials revoked) happens EVENT seconds after start.
Checks:
  - before the event, exactly the intended alerts are notified, once each although two
    replicas report them, with account, instance_name and tags labels, each at the
    receiver the shipped routing tree names (amtool config routes test): every critical
    alert at the pager, warnings at chat, the always-firing watchdog at the heartbeat;
  - nothing is notified for healthy instances, the on-time weekly schedule, the slow
    replica's first cycle, or the exporters themselves;
  - NoRestorePoint inhibits what only explains it on the same shard: Failed of the purged
    instance and NewestUnusable of the shards whose newest backup would not restore are
    never notified (suppressed in Alertmanager), while Corrupt and DownloadUnreachable,
    which say why, are;
  - after the event: the blind-account alert fires; the NoRestorePoint alert of the
    revoked account's stale instance is still firing in Prometheus once poll.stale_after
    (60 s in the demo) has passed, and Alertmanager inhibits it; the deleted instance is
    reported.
  - the stories of src/fake/stories.rs that must not page are not notified at the pager
    (a weekday schedule in its long gap, a gone backup with an older restore point
    within age, the instance of the account with a wrong timezone), and the one about
    that account, TimesInFuture, reaches chat naming the account;
  - one replica down: the first replica (which keeps a state file) is stopped:
    ReplicaDown is notified at chat, ExporterDown never;
  - restart amnesia: that replica is started again after the event, with the same state
    file: it still reports the purged instance (whose finished backups are no longer
    listed) as overdue since its last finished backup, not as never backed up; with the
    other replica then stopped, NoRestorePoint of the purged instance keeps firing on its
    facts alone, is never resolved, and NeverBackedUp is never notified.
Only loopback is used. Usage: alertmanager_e2e.py PATH/TO/cds-redis-backup-exporter
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml  # installed by scripts/test.sh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prometheus_e2e as base  # noqa: E402  (shared helpers: check, wait, query, rules)

check, wait, query, get, free_port = base.check, base.wait, base.query, base.http, base.free_port
ROOT, JOB = base.ROOT, base.JOB
EVENT = 60  # seconds after start: the demo's event; every story is notified before it (24 s on 2 loaded cores)
STALE_AFTER = 60  # the demo's poll.stale_after
NOTIFIED = []  # (receiver, alert, time received) for every alert of every webhook call
LOCK = threading.Lock()

WATCHDOG = ("CdsRedisBackupWatchdog", "", "")
# Firing in Prometheus (prometheus_e2e.DEMO_ALERTS) but never notified: the shipped
# inhibit rules suppress them while NoRestorePoint of the same shard fires.
INHIBITED = {
    ("CdsRedisBackupFailed", "demo-purged", ""),
    ("CdsRedisBackupNewestUnusable", "demo-stale", ""),
    ("CdsRedisBackupNewestUnusable", "demo-truncated", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-corrupt", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-cut", ""),
    ("CdsRedisBackupNewestUnusable", "demo-verify-html", ""),
    ("CdsRedisBackupNewestUnusable", "demo-gone", ""),
}

# Alerts about one process, which keep the exporter's `instance` label.
PROCESS_ALERTS = {"CdsRedisBackupExporterDown", "CdsRedisBackupExporterAbsent",
                  "CdsRedisBackupExporterPollStalled", "CdsRedisBackupExporterPollFailing",
                  "CdsRedisBackupExporterReloadFailed", "CdsRedisBackupApiErrors",
                  "CdsRedisBackupTargetDown"}
# Alerts about one account: an `account` label, no instance.
ACCOUNT_ALERTS = {"CdsRedisBackupTimesInFuture", "CdsRedisBackupExporterBlind", "CdsRedisBackupApiErrors"}


class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with LOCK:
            for alert in body.get("alerts", []):
                NOTIFIED.append((self.path.strip("/"), alert, time.time()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_):
        pass


def am_config(src, dst, hook):
    """The shipped routing tree and inhibit rules, every receiver sent to `hook`/<name>,
    and grouping timers short enough for a test."""
    with open(src, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    for r in cfg.get("receivers", []):
        for key in [k for k in r if k.endswith("_configs")]:
            del r[key]
        r["webhook_configs"] = [{"url": f"{hook}/{r['name']}", "send_resolved": True}]

    def shorten(route):
        for key, value in (("group_wait", "1s"), ("group_interval", "2s"), ("repeat_interval", "1h")):
            if key in route or route is cfg["route"]:
                route[key] = value
        for child in route.get("routes", []):
            shorten(child)
    shorten(cfg["route"])
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f)


def expected_receiver(labels):
    """What the shipped routing tree says for these labels (amtool, offline)."""
    args = ["amtool", "config", "routes", "test", f"--config.file={ROOT}/deploy/alertmanager.yml"]
    args += [f"{k}={v}" for k, v in sorted(labels.items()) if v != ""]
    out = subprocess.run(args, capture_output=True, text=True)
    return sorted(out.stdout.split()[0].split(",")) if out.stdout.strip() else None


def notified(name_of, until=None):
    """Firing notifications received so far (or before the time `until`):
    (alertname, instance name or account, shard) → [(receiver, labels)]."""
    out = {}
    with LOCK:
        items = list(NOTIFIED)
    for receiver, a, at in items:
        if a.get("status") != "firing" or (until is not None and at >= until):
            continue
        l = a["labels"]
        who = name_of.get(l.get("instance_uuid"), l.get("instance_uuid")) or l.get("account", "")
        out.setdefault((l["alertname"], who, l.get("shard_id", "")), []).append((receiver, l))
    return out


def per_problem(sent):
    """Distinct alerts among notifications of one story (a story may have several
    problems, e.g. two failed backups): {backup_id: set of label sets}."""
    out = {}
    for _, l in sent:
        out.setdefault(l.get("backup_id", ""), set()).add(json.dumps(l, sort_keys=True))
    return out


def metric_values(text, name, **labels):
    """The values of the samples of `name` in an exposition `text` whose labels include
    `labels`."""
    out = []
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            out.append(float(value))
    return out


def start_exporter(exporter_bin, tmp, i, port, latency, events_after, state_file=None):
    args = [exporter_bin, "--demo", f"--demo.events-after={events_after}s", f"--demo.latency={latency}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"]
    if state_file:
        args.append(f"--demo.state-file={state_file}")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"exporter-{i}.log"), "a"))


def stop(proc):
    proc.terminate()
    proc.wait(timeout=15)


def am_alerts(am_port):
    return json.loads(get(f"http://127.0.0.1:{am_port}/api/v2/alerts"))


def main():
    exporter_bin = sys.argv[1]
    for tool in ("prometheus", "prometheus-alertmanager", "amtool"):
        check(f"{tool} is installed", shutil.which(tool) is not None)
    if not all(ok for _, ok in base.RESULTS):
        return
    tmp = tempfile.mkdtemp(prefix="cds-am-e2e-")
    procs = []
    hook_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ports = [free_port(), free_port()]
        started = time.time()
        # The first replica keeps its state in a file, for the restart story at the end.
        state_file = os.path.join(tmp, "state-0.json")
        for i, (port, latency) in enumerate(zip(ports, ("0s", "3s"))):
            procs.append(start_exporter(exporter_bin, tmp, i, port, latency, EVENT, state_file if i == 0 else None))
        # The slow replica's first cycle (every API answer takes 3 s): not ready yet.
        slow = f"127.0.0.1:{ports[1]}"
        wait("the fast replica ready", lambda: get(f"http://127.0.0.1:{ports[0]}/-/ready"))
        try:
            slow_status = get(f"http://{slow}/-/ready") and 200
        except Exception as e:  # noqa: BLE001 - urllib raises on 503
            slow_status = getattr(e, "code", None)
        check("the slow replica is not ready during its first cycle", slow_status == 503, f"{slow_status}")
        am_port = free_port()
        am_config(os.path.join(ROOT, "deploy", "alertmanager.yml"), os.path.join(tmp, "am.yml"),
                  f"http://127.0.0.1:{hook_port}")
        procs.append(subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={tmp}/am.yml", f"--storage.path={tmp}/am",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "alertmanager.log"), "w")))
        rules = os.path.join(tmp, "alerts.yml")
        base.test_rules(os.path.join(ROOT, "prometheus", "alerts.yml"), rules)
        # Shortened to 4 s, "no target at all" would fire before Prometheus's first scrape.
        with open(rules, encoding="utf-8") as f:
            text = f.read()
        at = text.index("alert: CdsRedisBackupExporterAbsent")
        text = text[:at] + text[at:].replace("for: 4s", "for: 1m", 1)
        with open(rules, "w", encoding="utf-8") as f:
            f.write(text)
        alerting = f"""alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
"""
        prom, prom_port = base.start_prometheus(tmp, [f"127.0.0.1:{p}" for p in ports], alerting)
        procs.append(prom)
        wait("Alertmanager ready", lambda: get(f"http://127.0.0.1:{am_port}/-/ready"))
        wait("Prometheus scraping both replicas", lambda: len(query(prom_port, f'up{{job="{JOB}"}} == 1')) == 2)

        uuid_of = wait("instance info from both accounts", lambda: (lambda m: m if "demo-revoked-stale" in m else None)(
            {r["metric"]["instance_name"]: r["metric"]["instance_uuid"] for r in query(prom_port, "cds_redis_instance_info")}))
        name_of = {v: k for k, v in uuid_of.items()}
        firing_now = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
        about_slow = [a["labels"] for a in firing_now if a["labels"].get("instance") == slow]
        still_slow = not query(prom_port, f'cds_redis_backup_exporter_last_poll_timestamp_seconds{{instance="{slow}"}}')
        check("nothing fires about the slow replica during its first cycle", still_slow and not about_slow,
              f"first cycle over: {not still_slow}; alerts: {about_slow}")

        # What was notified before the event, judged on the whole time before it: every
        # story must be in by then. A machine too slow for that fails here (raise EVENT),
        # rather than letting the event's own alerts into the before-set or the check of
        # "nothing else" pass on a set it never looked at.
        # The watchdog fires from Prometheus's first evaluation, before Prometheus has
        # found the Alertmanager: that batch is dropped and sent again after
        # --rules.alert.resend-delay (1m), so it is checked after the event, below.
        before = base.DEMO_ALERTS - {WATCHDOG} - INHIBITED
        event_at = started + EVENT  # the exporters started after `started`: their event is later
        first = wait(f"the stories' alerts notified before the demo's event ({EVENT}s after start)",
                     lambda: before <= set(notified(name_of, event_at)) and time.time() - started,
                     timeout=max(1, round(event_at - time.time())))
        print(f"     all stories notified {first:.0f}s after start (the event is at {EVENT}s)")
        time.sleep(max(0, event_at - time.time()))
        pre = notified(name_of, event_at)
        for story in sorted(before):
            check(f"notified before the event: {story[0]} for {story[1]}{' ' + story[2] if story[2] else ''}", story in pre)
        extra = sorted(k for k in pre if k not in before and k != WATCHDOG)
        check(f"nothing else notified in the {EVENT}s before the event", not extra, f"{extra}")
        quiet = {"demo-healthy", "demo-weekly-ontime", "demo-running", "demo-revoked-ok", "demo-decommissioned",
                 "demo-weekdays"}
        check("nothing notified for healthy instances, the on-time weekly schedule or the weekday schedule in"
              " its long gap", not [k for k in pre if k[1] in quiet], f"{[k for k in pre if k[1] in quiet]}")
        # Nothing at all about the instance: its account's TimesInFuture says it all.
        tz_sent = [(k, r) for k, sent in pre.items() if k[1] == "demo-wrong-tz-6hourly" for r, _ in sent]
        check("nothing notified for the 6-hourly instance of the account with a wrong timezone", not tz_sent, f"{tz_sent}")
        covered = [(k, r) for k, sent in pre.items() if k[1] == "demo-gone-covered" for r, _ in sent if r != "chat"]
        check("demo-gone-covered (newest gone, an older restore point within age): warnings at chat only, no page",
              not covered and ("CdsRedisBackupNoRestorePoint", "demo-gone-covered", "") not in pre, f"{covered}")
        tz = pre.get(("CdsRedisBackupTimesInFuture", "demo-wrong-tz", ""), [])
        check("CdsRedisBackupTimesInFuture notified at chat for the account demo-wrong-tz, its description naming the timezone key",
              tz and {r for r, _ in tz} == {"chat"}
              and all("timezone" in a["annotations"].get("description", "") for r, a, _ in list(NOTIFIED)
                      if a["labels"].get("alertname") == "CdsRedisBackupTimesInFuture"), f"{tz}")

        # One notification per problem, routable, at the receiver the routing tree names.
        for key, sent in sorted(pre.items()):
            doubled = {b: ls for b, ls in per_problem(sent).items() if len(ls) != 1}
            check(f"{key[0]} {key[1]}: one alert per problem although two replicas report it", not doubled, f"{doubled}")
            receiver, l = sent[0]
            if key[0] in ACCOUNT_ALERTS:
                check(f"{key[0]} {key[1]}: no exporter instance label, no instance; an account label",
                      "instance" not in l and "instance_uuid" not in l and l.get("account") == key[1], f"{l}")
            elif key[0] not in PROCESS_ALERTS:
                check(f"{key[0]} {key[1]}: no exporter instance label; account, instance_name and tags present",
                      "instance" not in l and all(k in l for k in ("account", "instance_name", "tags")), f"{l}")
            want = expected_receiver(l)
            check(f"{key[0]} {key[1]}: notified at receiver {receiver}, as routed", want == [receiver], f"routes test says {want}")

        # Every critical alert notified went to the pager, whatever its tags; every
        # warning to chat.
        wrong = sorted((k[0], k[1], r) for k, sent in pre.items() for r, l in sent
                       if l.get("severity") in ("critical", "warning")
                       and r != {"critical": "pager", "warning": "chat"}[l["severity"]])
        check("critical alerts notified at the pager, warnings at chat", not wrong, f"{wrong}")

        # After the event and poll.stale_after: blind, still stale, inhibited; purged; vanished.
        remaining = started + EVENT + STALE_AFTER + 10 - time.time()
        if remaining > 0:
            time.sleep(remaining)
        after = {
            ("CdsRedisBackupExporterBlind", "demo-revoked", ""),
            ("CdsRedisInstanceVanished", "demo-decommissioned", ""),
        }
        wait("the event's alerts notified", lambda: after <= set(notified(name_of)), timeout=60)
        # The always-firing watchdog reaches the heartbeat receiver, and no other.
        wait("the watchdog notified", lambda: WATCHDOG in notified(name_of), timeout=60)
        watchdog = {r for r, _ in notified(name_of)[WATCHDOG]}
        check("CdsRedisBackupWatchdog notified at the heartbeat receiver only", watchdog == {"heartbeat"}, f"{watchdog}")
        vanished = query(prom_port, "cds_redis_instance_vanished_timestamp_seconds")
        check("cds_redis_instance_vanished_timestamp_seconds is served after the deletion",
              {name_of.get(r["metric"]["instance_uuid"]) for r in vanished} == {"demo-decommissioned"}, f"{vanished}")
        prom_alerts = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
        stale_revoked = [a for a in prom_alerts if a["labels"]["alertname"] == "CdsRedisBackupNoRestorePoint"
                         and name_of.get(a["labels"].get("instance_uuid")) == "demo-revoked-stale"]
        check("NoRestorePoint of the revoked account's instance still firing after poll.stale_after",
              any(a["state"] == "firing" for a in stale_revoked), f"{stale_revoked}")

        def suppressed(alertname, instance):
            return [a for a in am_alerts(am_port) if a["labels"]["alertname"] == alertname
                    and name_of.get(a["labels"].get("instance_uuid")) == instance
                    and a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]
        check("Alertmanager inhibits NoRestorePoint of the blind account's instance",
              suppressed("CdsRedisBackupNoRestorePoint", "demo-revoked-stale"))
        for alertname, instance, _ in sorted(INHIBITED):
            check(f"Alertmanager inhibits {alertname} of {instance} (NoRestorePoint of the shard fires)",
                  suppressed(alertname, instance))
        late = notified(name_of)
        # (The deleted instance may get one failed DescribeBackups on a replica whose cycle
        # spans the deletion: with windows shortened to seconds that fires InstanceBlind;
        # with the shipped 20m window and 10m `for:` one failure never does.)
        blind_instances = [k for k in late if k[0] == "CdsRedisBackupInstanceBlind" and k[1].startswith("demo-revoked")]
        check("per-instance blind alerts of the blind account are inhibited, not notified", not blind_instances, f"{blind_instances}")
        for key in sorted(after):
            doubled = {b: ls for b, ls in per_problem(late.get(key, [])).items() if len(ls) != 1}
            check(f"{key[0]} {key[1]}: one alert per problem although two replicas report it", not doubled, f"{doubled}")
        process = sorted(k for k in late if k[0] in PROCESS_ALERTS - {"CdsRedisBackupApiErrors", "CdsRedisBackupTargetDown"})
        check("no alert about the exporters themselves", not process, f"{process}")

        # One of two replicas down: a warning at chat, never a page.
        replica_down = ("CdsRedisBackupExporterReplicaDown", "", "")
        first_replica, second_replica = (f"127.0.0.1:{p}" for p in ports)

        def replica_down_for(instance):
            return [r for r, l in notified(name_of).get(replica_down, []) if l.get("instance") == instance]
        # What the first replica knows of demo-purged after the event: its restore deadline
        # is the EndTime of its last finished backup, no longer listed.
        purged = uuid_of["demo-purged"]
        known = metric_values(get(f"http://{first_replica}/metrics"), "cds_redis_backup_restore_deadline_timestamp_seconds",
                              instance_uuid=purged)
        stop(procs[0])
        wait(f"{replica_down[0]} notified for the stopped replica {first_replica}",
             lambda: replica_down_for(first_replica), timeout=60)
        check(f"{replica_down[0]} for the stopped replica notified at chat only",
              set(replica_down_for(first_replica)) == {"chat"}, f"{replica_down_for(first_replica)}")
        # As long again as ReplicaDown took, down: ExporterDown (same `for:`) had as long.
        time.sleep(8)

        # Restart amnesia: the first replica again, after the event, with its state file.
        procs[0] = start_exporter(exporter_bin, tmp, 0, ports[0], "0s", 0, state_file)
        wait("the restarted replica ready", lambda: get(f"http://{first_replica}/-/ready"))
        text = get(f"http://{first_replica}/metrics")
        deadline = metric_values(text, "cds_redis_backup_restore_deadline_timestamp_seconds", instance_uuid=purged)
        never = metric_values(text, "cds_redis_backup_finding", instance_uuid=purged, reason="never_backed_up")
        # Without the file it would know no finished backup of demo-purged: NeverBackedUp,
        # or (as here, created weeks ago) a deadline of CreatedTime plus the allowed age.
        check("after a restart with its state file, the replica reports demo-purged overdue since the EndTime of"
              " its last finished backup, as before the restart, not as never backed up",
              len(known) == 1 and deadline == known and known[0] < time.time() and not never,
              f"before the restart {known}, after {deadline}, never_backed_up {never}")
        # The other replica stopped: what fires now rests on the restarted one's facts.
        stop(procs[1])
        wait(f"{replica_down[0]} notified for the stopped replica {second_replica}",
             lambda: replica_down_for(second_replica), timeout=60)
        series = wait("demo-purged's restore deadline served by the restarted replica alone",
                      lambda: (lambda r: r if {x["metric"]["instance"] for x in r} == {first_replica} else None)(
                          query(prom_port, f'cds_redis_backup_restore_deadline_timestamp_seconds{{instance_uuid="{purged}"}}')),
                      timeout=30)
        prom_alerts = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
        about_purged = {a["labels"]["alertname"]: a["state"] for a in prom_alerts
                        if a["labels"].get("instance_uuid") == purged}
        check("with only the restarted replica up, NoRestorePoint of demo-purged fires and NeverBackedUp does not",
              about_purged.get("CdsRedisBackupNoRestorePoint") == "firing" and "CdsRedisBackupNeverBackedUp" not in about_purged,
              f"{about_purged}; {series}")
        with LOCK:
            items = list(NOTIFIED)
        resolved = [r for r, a, _ in items if a.get("status") == "resolved" and a["labels"].get("alertname") == "CdsRedisBackupNoRestorePoint"
                    and a["labels"].get("instance_uuid") == purged]
        check("NoRestorePoint of demo-purged is never resolved through the restart", not resolved, f"{resolved}")
        end = notified(name_of)
        check("NeverBackedUp of demo-purged is never notified",
              ("CdsRedisBackupNeverBackedUp", "demo-purged", "") not in end)
        exporter_down = sorted(k for k in end if k[0] == "CdsRedisBackupExporterDown")
        check("CdsRedisBackupExporterDown is never notified while one of two replicas is down", not exporter_down, f"{exporter_down}")
    finally:
        server.shutdown()
        if any(not ok for _, ok in base.RESULTS):
            with LOCK:
                print("--- notifications:", json.dumps([(r, a["status"], a["labels"]) for r, a, _ in NOTIFIED])[:4000])
        base.cleanup(procs, tmp)

if __name__ == "__main__":
    try:
        main()
    finally:
        base.report_and_exit()
