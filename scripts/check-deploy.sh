#!/usr/bin/env bash
# Static checks of what ships for deployment: the Dockerfile (hadolint), the compose
# example (well-formed, every mounted file exists), its Prometheus configuration
# (promtool, with the real rule file) and its Alertmanager configuration (amtool).
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
fi
