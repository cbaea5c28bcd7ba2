#!/bin/sh
# Reruns the comparison of the RDB verifier (src/rdb) with redis-check-rdb on real
# dumps from a throwaway redis-server and their mutated copies, and prints the tally.
# Needs redis-server, redis-cli and redis-check-rdb on PATH
# (Debian: apt-get install redis-server redis-tools); without them the test skips.
set -eu
cd "$(dirname "$0")/.."
cargo test --lib rdb::real_dumps -- --nocapture 2>&1 |
    grep -E 'mutated copies|disagreement|a byte after|real-dump test|skipping|test result|panicked'
