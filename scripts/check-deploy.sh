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

  # Routing (the severity model, README.md#alerts): critical alerts of prod-tagged
  # instances and critical alerts about the exporter page; everything else is chat.
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
  # Backup alerts of production instances: critical pages, warning does not.
  route pager alertname=CdsRedisBackupStale severity=critical $job $uuid account=main instance_name=orders tags=,prod,team-a,
  route pager alertname=CdsRedisBackupNoRestorable severity=critical $job $uuid shard_id=shard-a account=main tags=,prod,
  route pager alertname=CdsRedisBackupInstanceBlind severity=critical $job $uuid account=main tags=,db,prod,
  route chat alertname=CdsRedisBackupFailed severity=warning $job $uuid account=main tags=,prod,team-a,
  route chat alertname=CdsRedisBackupDownloadUnreachable severity=warning $job $uuid account=main tags=,prod,
  route chat alertname=CdsRedisBackupSizeMismatch severity=warning $job $uuid account=main tags=,prod,
  route chat alertname=CdsRedisInstanceVanished severity=warning $job $uuid account=main tags=,prod,
  # Other instances: critical alerts are chat too; a tag that merely contains "prod" is
  # not prod.
  route chat alertname=CdsRedisBackupStale severity=critical $job $uuid account=main tags=,team-b,
  route chat alertname=CdsRedisBackupStale severity=critical $job $uuid account=main
  route chat alertname=CdsRedisBackupNoRestorable severity=critical $job $uuid account=main tags=,preprod,production,
  # The exporter cannot watch: pages whatever the tags.
  route pager alertname=CdsRedisBackupExporterBlind severity=critical $job account=legacy
  route pager alertname=CdsRedisBackupExporterDown severity=critical $job instance=exporter:9755
  route pager alertname=CdsRedisBackupExporterAbsent severity=critical $job
  route pager alertname=CdsRedisBackupExporterPollStalled severity=critical $job instance=exporter:9755
  route chat alertname=CdsRedisBackupExporterPollFailing severity=warning $job instance=exporter:9755
  route chat alertname=CdsRedisBackupApiErrors severity=warning account=main action=DescribeBackups code=InternalError
  echo "deploy/alertmanager.yml: OK ($routes routing cases)"
fi
