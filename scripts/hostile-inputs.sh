#!/usr/bin/env bash
# Hostile files against the release binary's --config.check, each answered at once
# (the regression checks of "Hardening, round 2" that need the optimised build):
#   - a config.yaml listing 100,000 instances is valid, in time linear in its size;
#   - one nested 100,000 levels deep is refused before the YAML parser sees it;
#   - a config path that is a FIFO is refused without waiting for a writer;
#   - bcrypt costs above the maximum (17, 31) are refused, naming the user.
# Times are not bounded by one sample against a fixed number, which a loaded 2-core
# machine breaks: every input is run RUNS times (each run's exit and output checked),
# its fastest run counts (load only adds time), and the bound is a multiple of a unit
# measured the same way on this machine, in turn with those runs so that both see the
# same load: the check of a valid config of 10,000 instances. 100,000 instances may take LINEAR_LIMIT units (linear would be 10;
# quadratic, 100); a refusal may take REFUSAL_LIMIT units (it reads the file at most;
# computing a bcrypt hash of cost 17, or waiting for a FIFO's writer, takes seconds).
# A floor of FLOOR_MS keeps a unit of a few milliseconds from making the bound noise.
# Usage: scripts/hostile-inputs.sh [path/to/binary]   (default target/release/...)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/cds-redis-backup-exporter}"
[ -x "$bin" ] || cargo build --release --bins
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
RUNS=5
LINEAR_LIMIT=30
REFUSAL_LIMIT=3
FLOOR_MS=250

# timed NAME WANT_EXIT PATTERN ARGS...: one --config.check, which must exit WANT_EXIT
# and print PATTERN (on stdout or stderr). Sets `ms`; returns 1 (said on stdout) when
# the run went wrong.
timed() {
  local name=$1 want=$2 pattern=$3 start end code=0
  shift 3
  start=$(date +%s%N)
  timeout 20 "$bin" --config.check "$@" >"$dir/out" 2>&1 || code=$?
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  if [ "$code" -ne "$want" ]; then
    echo "hostile: FAIL $name: exit $code, want $want ($ms ms)"; sed 's/^/  | /' "$dir/out" | head -5; return 1
  elif ! grep -q -- "$pattern" "$dir/out"; then
    echo "hostile: FAIL $name: output lacks '$pattern'"; sed 's/^/  | /' "$dir/out" | head -5; return 1
  fi
}

# check NAME UNITS WANT_EXIT PATTERN ARGS...: RUNS runs, each after a run of the unit;
# the fastest run within UNITS x the fastest unit (and FLOOR_MS at least).
check() {
  local name=$1 units=$2 best="" unit="" run
  shift 2
  for run in $(seq 1 "$RUNS"); do
    timed "the unit: 10,000 instances" 0 "1 account(s)" --config.file "$dir/unit.yaml" || { fail=1; return; }
    if [ -z "$unit" ] || [ "$ms" -lt "$unit" ]; then unit=$ms; fi
    timed "$name (run $run)" "$@" || { fail=1; return; }
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  local limit=$((units * unit))
  [ "$limit" -ge "$FLOOR_MS" ] || limit=$FLOOR_MS
  if [ "$best" -gt "$limit" ]; then
    echo "hostile: FAIL $name: fastest of $RUNS runs took $best ms (limit $limit ms: $units x the unit's $unit ms, at least $FLOOR_MS)"
    fail=1
  else
    echo "hostile: ok   $name (fastest of $RUNS: $best ms; unit $unit ms; limit $limit ms)"
  fi
}

python3 - "$dir" <<'EOF'
import sys
d = sys.argv[1]
head = "accounts:\n  - name: big\n    access_key_id: AK\n    access_key_secret: SK\n    instances:\n"
with open(f"{d}/many.yaml", "w") as f:
    f.write(head + "".join(f"      - instance_uuid: ins-{i:08}\n" for i in range(100_000)))
with open(f"{d}/deep.yaml", "w") as f:
    f.write("accounts: " + "[" * 100_000 + "\n")
with open(f"{d}/unit.yaml", "w") as f:
    f.write(head + "".join(f"      - instance_uuid: ins-{i:08}\n" for i in range(10_000)))
with open(f"{d}/good.yaml", "w") as f:
    f.write(head + "      - instance_uuid: ins-1\n")
EOF
mkfifo "$dir/fifo.yaml"
# Hashes of cost 17 and 31 (the salt and digest need not match any password: the
# cost is refused before any of it is used).
digest='LhayLxezLhK1LhWvKxCyLOj0j1u.Kj0jZ0pEmm134uzrQlFvQJLF6'
printf 'basic_auth_users:\n  alice: "$2y$17$%s"\n  bob: "$2y$31$%s"\n' "$digest" "$digest" >"$dir/web.yml"

check "100,000 instances" "$LINEAR_LIMIT" 0 "1 account(s)" --config.file "$dir/many.yaml"
check "100,000 levels of nesting" "$REFUSAL_LIMIT" 1 "nests deeper than 64 levels" --config.file "$dir/deep.yaml"
check "a FIFO as config file" "$REFUSAL_LIMIT" 1 "named pipe (FIFO), not a regular file" --config.file "$dir/fifo.yaml"
check "bcrypt cost 17 and 31" "$REFUSAL_LIMIT" 1 "basic_auth_users.bob: bcrypt cost 31 is above 14" \
  --config.file "$dir/good.yaml" --web.config.file "$dir/web.yml"

[ "$fail" -eq 0 ] && echo "hostile: ok" || { echo "hostile: FAILED"; exit 1; }
