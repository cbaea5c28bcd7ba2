#!/bin/sh
# Reruns the comparison of the RDB verifier (src/rdb) with Redis itself: real dumps
# from a throwaway redis-server, their mutated copies, and hand-built fixtures (empty
# keys, bytes after the checksum, LZF lengths, databases past 16), each loaded by a
# real redis-server at start (the judge of "would it restore") and read by
# redis-check-rdb; prints the tally and what redis-server did with each fixture.
# Needs redis-server, redis-cli and redis-check-rdb on PATH
# (Debian: apt-get install redis-server redis-tools); without them the tests fail.
set -eu
cd "$(dirname "$0")/.."
cargo test --lib rdb::real_dumps -- --nocapture --test-threads 1 2>&1 |
    grep -E 'mutated copies|disagreement|what redis-server does|^  [^ ]|real-dump test|not on PATH|test result|panicked'
