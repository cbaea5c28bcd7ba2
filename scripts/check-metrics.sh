#!/usr/bin/env bash
# Starts the exporter in --demo mode on a free loopback port, waits for its first poll
# cycle, and lets promtool lint the /metrics output. Usage: check-metrics.sh BINARY
set -euo pipefail
bin=${1:?usage: check-metrics.sh path/to/cds-redis-backup-exporter}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$bin" --demo --web.listen-address "127.0.0.1:$port" --log.level warn 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null || { echo "exporter never became ready:"; cat "$log"; exit 1; }
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
echo "$metrics" | promtool check metrics
series=$(echo "$metrics" | grep -c '^cds_redis_' || true)
echo "promtool check metrics: OK ($series cds_redis_* series)"
