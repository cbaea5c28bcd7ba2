#!/usr/bin/env bash
# Hostile files against the release binary's --config.check, each answered in under a
# second (the regression checks of "Hardening, round 2" that need the optimised build):
#   - a config.yaml listing 100,000 instances is valid;
#   - one nested 100,000 levels deep is refused before the YAML parser sees it;
#   - a config path that is a FIFO is refused without waiting for a writer;
#   - bcrypt costs above the maximum (17, 31) are refused, naming the user.
# Usage: scripts/hostile-inputs.sh [path/to/binary]   (default target/release/...)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/cds-redis-backup-exporter}"
[ -x "$bin" ] || cargo build --release --bins
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

# check NAME WANT_EXIT PATTERN ARGS...: --config.check must exit WANT_EXIT within 1 s
# and print PATTERN (on stdout or stderr).
check() {
  local name=$1 want=$2 pattern=$3
  shift 3
  local start end ms code=0
  start=$(date +%s%N)
  timeout 20 "$bin" --config.check "$@" >"$dir/out" 2>&1 || code=$?
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
  if [ "$code" -ne "$want" ]; then
    echo "hostile: FAIL $name: exit $code, want $want ($ms ms)"; sed 's/^/  | /' "$dir/out" | head -5; fail=1
  elif ! grep -q -- "$pattern" "$dir/out"; then
    echo "hostile: FAIL $name: output lacks '$pattern'"; sed 's/^/  | /' "$dir/out" | head -5; fail=1
  elif [ "$ms" -ge 1000 ]; then
    echo "hostile: FAIL $name: took $ms ms (limit 1000)"; fail=1
  else
    echo "hostile: ok   $name ($ms ms)"
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
with open(f"{d}/good.yaml", "w") as f:
    f.write(head + "      - instance_uuid: ins-1\n")
EOF
mkfifo "$dir/fifo.yaml"
# Hashes of cost 17 and 31 (the salt and digest need not match any password: the
# cost is refused before any of it is used).
digest='LhayLxezLhK1LhWvKxCyLOj0j1u.Kj0jZ0pEmm134uzrQlFvQJLF6'
printf 'basic_auth_users:\n  alice: "$2y$17$%s"\n  bob: "$2y$31$%s"\n' "$digest" "$digest" >"$dir/web.yml"

check "100,000 instances" 0 "1 account(s)" --config.file "$dir/many.yaml"
check "100,000 levels of nesting" 1 "nests deeper than 64 levels" --config.file "$dir/deep.yaml"
check "a FIFO as config file" 1 "named pipe (FIFO), not a regular file" --config.file "$dir/fifo.yaml"
check "bcrypt cost 17 and 31" 1 "basic_auth_users.bob: bcrypt cost 31 is above 14" \
  --config.file "$dir/good.yaml" --web.config.file "$dir/web.yml"

[ "$fail" -eq 0 ] && echo "hostile: ok" || { echo "hostile: FAILED"; exit 1; }
