#!/usr/bin/env bash
# Benchmark of the release exporter against a scaled fake CDS API (examples/bench.rs).
#   scripts/bench.sh full    2000 instances × 5 backups, 20 ms API latency, concurrency 32
#                            (the numbers in BENCHMARKS.md; a few minutes)
#   scripts/bench.sh small   50 instances × 3 backups, 5 ms: proves the benchmark works
#                            (CI; no timing assertions; well under a minute after the build)
# Extra arguments go to the benchmark, e.g. `scripts/bench.sh full --scrapes 500`.
# Prints a report and `bench: ok`; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-full}"
shift || true
case "$mode" in
  full) args=() ;;
  small) args=(--instances 50 --backups 3 --latency-ms 5 --cycles 2 --scrapes 200 --interval-secs 3) ;;
  *) echo "usage: $0 [small|full] [bench flags...]" >&2; exit 2 ;;
esac

cargo build --release --examples --bins
exec target/release/examples/bench --exporter target/release/cds-redis-backup-exporter "${args[@]}" "$@"
