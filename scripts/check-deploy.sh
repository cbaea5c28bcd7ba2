#!/usr/bin/env bash
# Static checks of what ships for deployment: the Dockerfile (hadolint), the compose
# example (well-formed, every mounted file exists), its Prometheus configuration
# (promtool, with the real rule file) and its Alertmanager configuration (amtool: valid,
# and every main route goes to the receiver it should).
set -euo pipefail
cd "$(dirname "$0")/.."

hadolint Dockerfile
echo "hadolint Dockerfile: OK"

python3 - <<'PY'
import os, sys, yaml
base = "deploy"
with open(os.path.join(base, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
services = compose.get("services", {})
missing = [s for s in ("exporter", "prometheus", "alertmanager", "grafana") if s not in services]
if missing:
    sys.exit(f"deploy/docker-compose.yml lacks services {missing}")
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0]
        if src.startswith("."):
            path = os.path.normpath(os.path.join(base, src))
            if not os.path.exists(path):
                sys.exit(f"deploy/docker-compose.yml: service {name} mounts {src}, which does not exist ({path})")
print(f"deploy/docker-compose.yml: OK ({len(services)} services, every mounted file exists)")
PY

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp deploy/prometheus.yml prometheus/alerts.yml "$tmp/"
promtool check config "$tmp/prometheus.yml"
if command -v amtool >/dev/null 2>&1; then
  amtool check-config deploy/alertmanager.yml

  # Routing (the severity model, docs/alerts.md): every critical alert pages, whatever
  # the instance's tags; warnings go to chat; the watchdog goes to the heartbeat.
  routes=0
  route() { # route RECEIVER LABEL=VALUE...: an alert with these labels goes to RECEIVER
    local want=$1 got
    shift
    routes=$((routes + 1))
    if ! amtool config routes test --config.file=deploy/alertmanager.yml \
        --verify.receivers="$want" "$@" >/dev/null 2>&1; then
      got=$(amtool config routes test --config.file=deploy/alertmanager.yml "$@" 2>/dev/null || true)
      echo "deploy/alertmanager.yml: {$*} should go to $want, goes to ${got:-nothing}" >&2
      exit 1
    fi
  }
  job=job=cds-redis-backup
  uuid=instance_uuid=8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b02
  # Backup alerts: critical pages, warning does not, whatever the tags.
  route pager alertname=CdsRedisBackupNoRestorePoint severity=critical $job $uuid account=main instance_name=orders tags=,production,team-a,
  route pager alertname=CdsRedisBackupNoRestorePoint severity=critical $job $uuid shard_id=shard-a account=main tags=,production,
  route chat alertname=CdsRedisBackupNewestUnusable severity=warning $job $uuid account=main tags=,production,
  route chat alertname=CdsRedisBackupOldSnapshot severity=warning $job $uuid account=main tags=,production,
  route chat alertname=CdsRedisBackupNeverBackedUp severity=warning $job $uuid account=main tags=,production,
  route pager alertname=CdsRedisBackupInstanceBlind severity=critical $job $uuid account=main tags=,db,production,
  route chat alertname=CdsRedisBackupFailed severity=warning $job $uuid account=main tags=,production,team-a,
  route chat alertname=CdsRedisBackupDownloadUnreachable severity=warning $job $uuid account=main tags=,production,
  route chat alertname=CdsRedisBackupSizeMismatch severity=warning $job $uuid account=main tags=,production,
  route chat alertname=CdsRedisInstanceVanished severity=warning $job $uuid account=main tags=,production,
  # Other instances page too: paging is on policy, not on a tag (narrowing to a tag is
  # an option shown in the file's comments).
  route pager alertname=CdsRedisBackupNoRestorePoint severity=critical $job $uuid account=main tags=,team-b,
  route pager alertname=CdsRedisBackupNoRestorePoint severity=critical $job $uuid account=main
  route pager alertname=CdsRedisBackupNoRestorePoint severity=critical $job $uuid account=main tags=,preprod,staging,
  # The exporter cannot watch: pages. One replica of a shard down while another watches,
  # or a crash loop by itself, is a warning.
  route pager alertname=CdsRedisBackupExporterBlind severity=critical $job account=legacy
  route pager alertname=CdsRedisBackupExporterDown severity=critical $job instance=exporter:9755
  route pager alertname=CdsRedisBackupExporterAbsent severity=critical $job
  route pager alertname=CdsRedisBackupExporterPollStalled severity=critical $job instance=exporter:9755
  route chat alertname=CdsRedisBackupExporterReplicaDown severity=warning $job instance=exporter-1:9755
  route chat alertname=CdsRedisBackupExporterCrashLooping severity=warning $job instance=exporter:9755
  route chat alertname=CdsRedisBackupExporterPollFailing severity=warning $job instance=exporter:9755
  route chat alertname=CdsRedisBackupApiErrors severity=warning account=main action=DescribeBackups code=InternalError
  # Backup verification: a newest backup that would not restore explains (warning);
  # NoRestorePoint pages when nothing older restores. Not knowing, or fewer keys, is
  # office hours too.
  route chat alertname=CdsRedisBackupCorrupt severity=warning $job $uuid backup_id=b1 result=truncated account=main tags=,production,
  route chat alertname=CdsRedisBackupEmpty severity=warning $job $uuid backup_id=b1 result=empty account=main tags=,production,team-a,
  route chat alertname=CdsRedisBackupCorrupt severity=warning $job $uuid backup_id=b1 result=not_rdb account=main tags=,team-b,
  route chat alertname=CdsRedisBackupKeysDropped severity=warning $job $uuid account=main tags=,production,
  route chat alertname=CdsRedisBackupUnverified severity=warning $job $uuid backup_id=b1 account=main tags=,production,
  route chat alertname=CdsRedisBackupVerifyInconclusive severity=warning $job $uuid backup_id=b1 result=too_large account=main tags=,production,
  # The heartbeat, and only there (not also to the pager or chat).
  route heartbeat alertname=CdsRedisBackupWatchdog severity=none
  echo "deploy/alertmanager.yml: OK ($routes routing cases)"
fi

# Inhibition (amtool cannot test it): the inhibit rules of deploy/alertmanager.yml applied
# as Alertmanager does (source and target matchers, `equal` labels, a missing label equal
# to an empty one, an alert never inhibits itself) to pairs of alerts.
python3 - <<'PY'
import re, sys, yaml
with open("deploy/alertmanager.yml") as f:
    rules = yaml.safe_load(f).get("inhibit_rules", [])

def matcher(m):
    name, op, value = re.fullmatch(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*', m).groups()
    if op in ("=~", "!~"):
        rx = re.compile(f"^(?:{value})$")
        return lambda l: bool(rx.match(l.get(name, ""))) == (op == "=~")
    return lambda l: (l.get(name, "") == value) == (op == "=")

compiled = [([matcher(m) for m in r.get("source_matchers", [])],
             [matcher(m) for m in r.get("target_matchers", [])], r.get("equal", [])) for r in rules]

def inhibits(source, target):
    return source != target and any(
        all(m(source) for m in src) and all(m(target) for m in tgt)
        and all(source.get(k, "") == target.get(k, "") for k in eq)
        for src, tgt, eq in compiled)

def labels(spec):
    return dict(kv.split("=", 1) for kv in spec.split())

job = "job=cds-redis-backup"
uuid = "instance_uuid=8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b02"
other = "instance_uuid=8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b03"
cases = [  # (inhibited?, source, target)
    (True, f"alertname=CdsRedisBackupExporterBlind {job} account=main",
           f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid} account=main"),
    (True, f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid} shard_id=s1",
           f"alertname=CdsRedisBackupFailed {job} {uuid} shard_id=s1 backup_id=b1"),
    (True, f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid} shard_id=s1",
           f"alertname=CdsRedisBackupNewestUnusable {job} {uuid} shard_id=s1"),
    (True, f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid}",
           f"alertname=CdsRedisBackupNeverBackedUp {job} {uuid}"),
    (False, f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid} shard_id=s1",
            f"alertname=CdsRedisBackupNewestUnusable {job} {uuid} shard_id=s2"),
    # The page does not hide why: Corrupt, Empty and OldSnapshot stay.
    (False, f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid} shard_id=s1",
            f"alertname=CdsRedisBackupCorrupt {job} {uuid} shard_id=s1 backup_id=b1 result=truncated"),
    (True, f"alertname=CdsRedisBackupCorrupt {job} {uuid} shard_id=s1 backup_id=b1 result=truncated",
           f"alertname=CdsRedisBackupNewestUnusable {job} {uuid} shard_id=s1"),
    (True, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
           f"alertname=CdsRedisBackupTargetDown {job} {uuid} backup_id=b1"),
    (True, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
           f"alertname=CdsRedisBackupUnverified {job} {uuid} backup_id=b1"),
    (True, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
           f"alertname=CdsRedisBackupKeysDropped {job} {uuid}"),
    # Facts keep paging while the instance is blind.
    (False, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
            f"alertname=CdsRedisBackupNoRestorePoint {job} {uuid}"),
    (False, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
            f"alertname=CdsRedisBackupNewestUnusable {job} {uuid}"),
    (False, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
            f"alertname=CdsRedisBackupCorrupt {job} {uuid} backup_id=b1 result=truncated"),
    (False, f"alertname=CdsRedisBackupInstanceBlind {job} {uuid}",
            f"alertname=CdsRedisBackupEmpty {job} {uuid} backup_id=b1 result=empty"),
    # A backup that cannot be downloaded: its Unverified adds nothing; another backup's
    # does, and nothing silences Corrupt.
    (True, f"alertname=CdsRedisBackupDownloadUnreachable {job} {uuid} backup_id=b1 url_type=public",
           f"alertname=CdsRedisBackupUnverified {job} {uuid} backup_id=b1"),
    (True, f"alertname=CdsRedisBackupTargetDown {job} {uuid} backup_id=b1",
           f"alertname=CdsRedisBackupUnverified {job} {uuid} backup_id=b1"),
    (False, f"alertname=CdsRedisBackupDownloadUnreachable {job} {uuid} backup_id=b1 url_type=public",
            f"alertname=CdsRedisBackupUnverified {job} {other} backup_id=b2"),
    (False, f"alertname=CdsRedisBackupDownloadUnreachable {job} {uuid} backup_id=b1 url_type=public",
            f"alertname=CdsRedisBackupCorrupt {job} {uuid} backup_id=b1 result=truncated"),
    (True, f"alertname=CdsRedisBackupExporterAbsent {job}",
           f"alertname=CdsRedisBackupCorrupt {job} {uuid} backup_id=b1 result=truncated"),
    (False, f"alertname=CdsRedisBackupExporterDown {job} instance=exporter:9755",
            f"alertname=CdsRedisBackupCorrupt {job} {uuid} backup_id=b1 result=truncated"),
    # A down process's own alerts add nothing; its crash loop says why and stays.
    (True, f"alertname=CdsRedisBackupExporterDown {job} instance=exporter:9755",
           f"alertname=CdsRedisBackupExporterPollStalled {job} instance=exporter:9755"),
    (True, f"alertname=CdsRedisBackupExporterReplicaDown {job} instance=exporter-1:9755",
           f"alertname=CdsRedisBackupExporterPollFailing {job} instance=exporter-1:9755"),
    (False, f"alertname=CdsRedisBackupExporterDown {job} instance=exporter:9755",
            f"alertname=CdsRedisBackupExporterCrashLooping {job} instance=exporter:9755"),
    (False, f"alertname=CdsRedisBackupExporterReplicaDown {job} instance=exporter-1:9755",
            f"alertname=CdsRedisBackupExporterDown {job} instance=exporter-0:9755"),
    # Nothing silences the heartbeat.
    (False, f"alertname=CdsRedisBackupExporterAbsent {job}", "alertname=CdsRedisBackupWatchdog severity=none"),
    (False, f"alertname=CdsRedisBackupExporterBlind {job} account=main", "alertname=CdsRedisBackupWatchdog severity=none"),
    (False, f"alertname=CdsRedisBackupExporterDown {job} instance=exporter:9755", "alertname=CdsRedisBackupWatchdog severity=none"),
]
bad = [(want, s, t) for want, s, t in cases if inhibits(labels(s), labels(t)) != want]
for want, s, t in bad:
    print(f"deploy/alertmanager.yml: {{{s}}} should {'' if want else 'not '}inhibit {{{t}}}", file=sys.stderr)
if bad:
    sys.exit(1)
print(f"deploy/alertmanager.yml: OK ({len(cases)} inhibition cases)")
PY
