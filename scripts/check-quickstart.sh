#!/usr/bin/env bash
# The README's promises to a new user, checked:
#   1. README.md and README.zh-CN.md are at most 25 KiB each;
#   2. every relative link of the READMEs, CHANGELOG.md, docs/*.md and
#      deploy/kubernetes/README.md names a file that exists, and every #anchor one of
#      the target's headings (GitHub's anchor of it) or <a id>s;
#   3. the Quick start, run literally from a fresh clone: the fenced block between the
#      `<!-- quickstart` and `<!-- /quickstart -->` markers of the clone's README.md must
#      hold exactly two commands, and README.zh-CN.md the same two. The second, the test
#      command, is not run (this script is part of it): it must be the very command
#      .ci/run executes. The first, the demo, is run as written, by bash, in the clone,
#      until its exporter answers /-/ready, the status page and /metrics with the
#      demo's series; then it is stopped with SIGTERM and must be gone within 15 s.
#
# The clone is `git clone` of this checkout (committed files only). Its build goes to
# this checkout's target directory (CARGO_TARGET_DIR), so cargo reuses the release
# build scripts/test.sh made before: when this checkout has no uncommitted change to
# tracked files, the clone's files get the same mtimes as this checkout's, so cargo
# decides about the clone exactly as it would here (fresh, or rebuilt if stale). With
# uncommitted changes the clone differs from what was built, and cargo rebuilds the
# crate from the clone's files (slower, never wrong).
#
# The demo listens where CDS_EXPORTER_LISTEN_ADDRESS says, a free loopback port, so the
# check never meets another exporter on 9755; the README's URL must name the port of
# the binary's default --web.listen-address, checked from its --help.
#
# Usage: scripts/check-quickstart.sh   (QUICKSTART_TIMEOUT: seconds for the demo to
# build and become ready, default 1800: a cold release build takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
timeout_s=${QUICKSTART_TIMEOUT:-1800}

echo "==> README sizes"
for f in README.md README.zh-CN.md; do
  size=$(wc -c <"$f")
  if [ "$size" -gt 25600 ]; then
    echo "check-quickstart: FAIL: $f is $size bytes, over 25 KiB (25,600): move detail into docs/" >&2
    exit 1
  fi
  echo "$f: $size bytes (at most 25,600)"
done

echo "==> links of the READMEs, CHANGELOG.md, docs/*.md and deploy/kubernetes/README.md"
python3 - <<'PY'
import glob, os, re, sys

files = ["README.md", "README.zh-CN.md", "CHANGELOG.md", "deploy/kubernetes/README.md"] + sorted(glob.glob("docs/*.md"))


def anchors(text):
    """GitHub's anchors of a Markdown file's headings, and its explicit <a id>s."""
    out = set(re.findall(r'<a id="([^"]+)"', text))
    seen, fence = {}, False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#{1,6} (.*)", line)
        if m:
            h = re.sub(r"`|\*\*|\[|\]\([^)]*\)", "", m.group(1)).strip().lower()
            a = "".join(c for c in h if c.isalnum() or c in " -_").replace(" ", "-")
            n = seen.get(a, 0)
            seen[a] = n + 1
            out.add(a if n == 0 else f"{a}-{n}")
    return out


bad, count = [], 0
for f in files:
    text = open(f, encoding="utf-8").read()
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", body):
        if re.match(r"^[a-z]+:", target):
            continue
        count += 1
        path, _, frag = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
        if not os.path.exists(dest):
            bad.append(f"{f}: ({target}): there is no {dest}")
        elif frag and dest.endswith(".md") and frag not in anchors(open(dest, encoding="utf-8").read()):
            bad.append(f"{f}: ({target}): {dest} has no heading or <a id> for #{frag}")
if bad:
    print(f"check-quickstart: FAIL: {len(bad)} broken link(s):", file=sys.stderr)
    for b in bad:
        print(f"  - {b}", file=sys.stderr)
    sys.exit(1)
print(f"{count} relative links in {len(files)} files resolve")
PY

tmp=$(mktemp -d)
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -KILL -- "-$demo_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "==> a fresh clone of $(git rev-parse --short=12 HEAD)"
git clone -q --no-hardlinks "$root" "$tmp/clone"
if [ -z "$(git status --porcelain --untracked-files=no)" ]; then
  # Byte for byte the files cargo built from here: give them the same mtimes.
  (cd "$tmp/clone" && git ls-files -z | while IFS= read -r -d '' f; do
    [ -e "$root/$f" ] && touch -h -r "$root/$f" "$f"
  done)
  echo "this checkout has no uncommitted changes: cargo may reuse $root/target"
else
  echo "this checkout has uncommitted changes: cargo builds the crate again from the clone's files"
fi

echo "==> the Quick start block"
python3 - "$tmp/clone" "$tmp" <<'PY'
import re, shlex, sys

clone, tmp = sys.argv[1], sys.argv[2]


def commands(readme):
    text = open(f"{clone}/{readme}", encoding="utf-8").read()
    m = re.search(r"<!-- quickstart\b[^>]*-->\s*```(?:sh|bash|console)?\n(.*?)```\s*<!-- /quickstart -->", text, re.S)
    if not m:
        sys.exit(f"check-quickstart: FAIL: {readme} has no fenced block between <!-- quickstart ... --> and <!-- /quickstart -->")
    out = []
    for line in m.group(1).split("\n"):
        # A command and its comment: the comment starts at a '#' after white space.
        cmd = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if cmd:
            out.append(cmd)
    return out


en, zh = commands("README.md"), commands("README.zh-CN.md")
if len(en) != 2:
    sys.exit(f"check-quickstart: FAIL: the Quick start must be two commands (the demo, the tests); README.md has {len(en)}: {en}")
if zh != en:
    sys.exit(f"check-quickstart: FAIL: README.zh-CN.md's Quick start {zh} differs from README.md's {en}")
ci = open(f"{clone}/.ci/run", encoding="utf-8").read()
execs = [l.split(None, 1)[1].strip() for l in ci.split("\n") if l.startswith("exec ")]
if execs != [en[1]]:
    sys.exit(f"check-quickstart: FAIL: the README's test command is {en[1]!r}, but .ci/run runs {execs}")
text = open(f"{clone}/README.md", encoding="utf-8").read()
block = text[text.index("<!-- quickstart"):text.index("<!-- /quickstart -->")]
ports = re.findall(r"http://localhost:(\d+)/", block)
if len(ports) != 1:
    sys.exit(f"check-quickstart: FAIL: the Quick start should name the demo's URL once, http://localhost:PORT/; it names {ports}")
with open(f"{tmp}/demo.sh", "w", encoding="utf-8") as f:
    f.write(en[0] + "\n")
with open(f"{tmp}/port", "w", encoding="utf-8") as f:
    f.write(ports[0])
print(f"the demo: {en[0]}")
print(f"the tests: {en[1]} (what .ci/run executes; not run from here, this check is part of it)")
PY

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "==> running the demo command in the clone (CARGO_TARGET_DIR=$root/target, listening on 127.0.0.1:$port)"
start=$(date +%s)
(
  cd "$tmp/clone"
  export CARGO_TARGET_DIR="$root/target" CDS_EXPORTER_LISTEN_ADDRESS="127.0.0.1:$port"
  exec setsid bash "$tmp/demo.sh" >"$tmp/demo.log" 2>&1
) &
demo_pid=$!

get() { # get PATH OUT: the HTTP status of GET PATH, the body into OUT
  curl -s -o "$2" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port$1" 2>/dev/null || true
}
ready=""
while [ $(($(date +%s) - start)) -lt "$timeout_s" ]; do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "check-quickstart: FAIL: the demo command ended before it answered; its output:" >&2
    tail -n 40 "$tmp/demo.log" >&2
    exit 1
  fi
  if [ "$(get /-/ready "$tmp/ready")" = 200 ]; then
    ready=yes
    break
  fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "check-quickstart: FAIL: the demo did not answer /-/ready within ${timeout_s}s (QUICKSTART_TIMEOUT); its output:" >&2
  tail -n 40 "$tmp/demo.log" >&2
  exit 1
fi
echo "the demo answered /-/ready after $(($(date +%s) - start)) s (build included)"

fail() {
  echo "check-quickstart: FAIL: $1" >&2
  tail -n 20 "$tmp/demo.log" >&2
  exit 1
}
[ "$(get / "$tmp/page")" = 200 ] || fail "the status page / did not answer 200"
grep -q '<title>.*CDS Redis backups</title>' "$tmp/page" || fail "/ is not the status page"
[ "$(get /metrics "$tmp/metrics")" = 200 ] || fail "/metrics did not answer 200"
grep -q '^cds_redis_backup_exporter_build_info{' "$tmp/metrics" || fail "/metrics lacks cds_redis_backup_exporter_build_info"
instances=$(grep -c '^cds_redis_instance_info{' "$tmp/metrics" || true)
[ "$instances" -gt 0 ] || fail "/metrics lists no demo instance (cds_redis_instance_info)"
echo "/: the status page; /metrics: $(wc -l <"$tmp/metrics") lines, $instances instances of the demo"

# The README's URL names the default port of the binary the command built.
want=$(cat "$tmp/port")
default=$(env -u CDS_EXPORTER_LISTEN_ADDRESS "$root/target/release/cds-redis-backup-exporter" --help \
  | python3 -c 'import re, sys; m = re.search(r"--web\.listen-address .*?\[default: [^\]]*:(\d+)\]", sys.stdin.read(), re.S); print(m.group(1) if m else "")')
[ "$default" = "$want" ] || fail "the README sends users to port $want, but the default --web.listen-address is on port ${default:-?}"
echo "the README's http://localhost:$want/ is the default listen port"

kill -TERM -- "-$demo_pid"
for _ in $(seq 1 150); do
  kill -0 -- "-$demo_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 -- "-$demo_pid" 2>/dev/null; then
  fail "the demo was still running 15 s after SIGTERM"
fi
wait "$demo_pid" 2>/dev/null || true
demo_pid=""
echo "check-quickstart: OK"
