#!/usr/bin/env python3
"""End-to-end proof of sharding: three --demo exporters with --shard 0..2
--total-shards 3, scraped by one real Prometheus under one job with a test copy of
prometheus/alerts.yml (windows shortened), split the demo's instances between them and
fire each of the demo's alerts exactly once:
  - every demo instance is reported (cds_redis_instance_info) by exactly one replica;
  - cds_redis_backup_exporter_shard_info says which shard each replica is;
  - the demo's alerts (the same list as prometheus_e2e.py) fire, each once, and nothing
    else.
Only loopback is used. Usage: shards_e2e.py PATH/TO/cds-redis-backup-exporter
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prometheus_e2e as base  # noqa: E402  (shared helpers and the demo's alerts)

check, wait, query, get, free_port = base.check, base.wait, base.query, base.http, base.free_port
JOB, SHARDS = base.JOB, 3
DEMO_INSTANCES = 28  # 25 in the account "demo", 2 in "demo-revoked", 1 in "demo-wrong-tz"


def main():
    exporter_bin = sys.argv[1]
    check("prometheus is installed", shutil.which("prometheus") is not None)
    if not all(ok for _, ok in base.RESULTS):
        return
    tmp = tempfile.mkdtemp(prefix="cds-shards-e2e-")
    procs = []
    try:
        ports = [free_port() for _ in range(SHARDS)]
        for i, port in enumerate(ports):
            procs.append(subprocess.Popen(
                [exporter_bin, "--demo", f"--shard={i}", f"--total-shards={SHARDS}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, f"exporter-{i}.log"), "w")))
        base.test_rules(os.path.join(base.ROOT, "prometheus", "alerts.yml"), os.path.join(tmp, "alerts.yml"))
        prom, prom_port = base.start_prometheus(tmp, [f"127.0.0.1:{p}" for p in ports])
        procs.append(prom)
        wait("Prometheus scraping the three shards",
             lambda: len(query(prom_port, f'cds_redis_backup_exporter_last_poll_timestamp_seconds{{job="{JOB}"}}')) == SHARDS)
        info = wait("every demo instance reported", lambda: (lambda r: r if len({x["metric"]["instance_name"] for x in r}) >= DEMO_INSTANCES else None)(
            query(prom_port, "cds_redis_instance_info")))
        by_name = {}
        for r in info:
            by_name.setdefault(r["metric"]["instance_name"], set()).add(r["metric"]["instance"])
        doubled = {n: sorted(i) for n, i in by_name.items() if len(i) != 1}
        check(f"each of the {len(by_name)} demo instances is reported by exactly one shard", not doubled, f"{doubled}")
        per_shard = {}
        for r in info:
            per_shard[r["metric"]["instance"]] = per_shard.get(r["metric"]["instance"], 0) + 1
        check("every shard owns some instances", len(per_shard) == SHARDS and min(per_shard.values()) > 0, f"{per_shard}")
        shard_info = {(r["metric"]["shard"], r["metric"]["total_shards"]) for r in query(prom_port, "cds_redis_backup_exporter_shard_info")}
        check("shard_info names shards 0, 1, 2 of 3", shard_info == {(str(i), str(SHARDS)) for i in range(SHARDS)}, f"{shard_info}")

        uuid_name = {r["metric"]["instance_uuid"]: r["metric"]["instance_name"] for r in info}

        def firing():
            alerts = json.loads(get(f"http://127.0.0.1:{prom_port}/api/v1/alerts"))["data"]["alerts"]
            return [a for a in alerts if a["state"] == "firing"]

        def keys(alerts):
            return [base.alert_key(a["labels"], uuid_name) for a in alerts]

        wait("the demo's alerts to fire", lambda: base.DEMO_ALERTS <= set(keys(firing())), timeout=120)
        # Four fresh snapshots over three more evaluations: each alert fires in all of
        # them (one that flaps fails), nothing else and no duplicate in any of them.
        snapshots = base.snapshots_of(firing)
        always = set.intersection(*(set(keys(a)) for a in snapshots))
        ever = set.union(*(set(keys(a)) for a in snapshots))
        for alert in sorted(base.DEMO_ALERTS):
            check(f"alert {alert[0]} fires for {alert[1]}{' ' + alert[2] if alert[2] else ''} in each of 4 snapshots over 6 s",
                  alert in always, f"not firing in snapshots {[i for i, a in enumerate(snapshots) if alert not in keys(a)]}")
        extra = sorted(ever - base.DEMO_ALERTS)
        check("no other alert fires in any snapshot", not extra, f"{extra}")
        dup = set()
        for alerts in snapshots:
            labelsets = [json.dumps(a["labels"], sort_keys=True) for a in alerts]
            dup |= {x for x in labelsets if labelsets.count(x) > 1}
        check("each alert fires once in every snapshot, though three replicas are scraped", not dup, f"{sorted(dup)}")
    finally:
        base.cleanup(procs, tmp)

if __name__ == "__main__":
    try:
        main()
    finally:
        base.report_and_exit()
