#!/usr/bin/env bash
# Soak of the release exporter under random API faults (examples/soak.rs).
#   scripts/soak.sh            30 minutes, 20% of API requests faulted (its numbers: BENCHMARKS.md, section Soak)
#   scripts/soak.sh 0.5        half a minute: proves the soak works (CI)
# Extra arguments go to the soak, e.g. `scripts/soak.sh 10 --fault-probability 0.5`.
# Prints RSS over time and `soak: ok`; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
shift || true
cargo build --release --examples --bins
exec target/release/examples/soak --exporter target/release/cds-redis-backup-exporter --minutes "$minutes" "$@"
