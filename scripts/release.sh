#!/usr/bin/env bash
# Release tarballs for x86_64 and aarch64 Linux (glibc), each holding the binary,
# LICENSE, README.md, config.yaml (every key, documented), the systemd unit and its
# environment file, with SHA256SUMS beside them in target/dist.
#
# The host's architecture comes from target/release (built here if missing). Another
# one is built only when its Rust target and a C cross compiler and linker are already
# installed: this script downloads no toolchain. What it skips, it says, and why.
#
# usage: scripts/release.sh           build what can be built, list what was skipped
#        scripts/release.sh --check   the same, then unpack each tarball and check it
#                                     (scripts/check-packages.sh uses this)
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
NAME=cds-redis-backup-exporter
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
DIST=target/dist
HOST=$(rustc -vV | sed -n 's/^host: //p')
# The tarball's timestamps: the commit's time in a checkout, else Cargo.toml's.
EPOCH=$(git log -1 --format=%ct 2>/dev/null || stat -c %Y Cargo.toml)

say() { printf 'release: %s\n' "$*"; }
fail() { printf 'release: FAIL: %s\n' "$*" >&2; exit 1; }

# ELF e_machine of a binary: 3e x86_64, b7 aarch64.
machine() { od -An -tx1 -j18 -N1 "$1" | tr -d ' '; }

rm -rf "$DIST"
mkdir -p "$DIST"
BUILT=()
SKIPPED=()

for arch in x86_64 aarch64; do
  triple=$arch-unknown-linux-gnu
  want_machine=$([ "$arch" = x86_64 ] && echo 3e || echo b7)
  if [ "$triple" = "$HOST" ]; then
    bin=target/release/$NAME
    if [ ! -x "$bin" ]; then
      say "building $triple (cargo build --release --locked)"
      cargo build --release --locked
    fi
  else
    cc=$arch-linux-gnu-gcc
    missing=()
    rustup target list --installed 2>/dev/null | grep -qx "$triple" \
      || missing+=("the Rust target $triple is not installed (rustup target add $triple)")
    command -v "$cc" >/dev/null 2>&1 \
      || missing+=("no C cross compiler and linker $cc (Debian: apt-get install gcc-$arch-linux-gnu)")
    if [ ${#missing[@]} -gt 0 ]; then
      SKIPPED+=("$arch: $(printf '%s; ' "${missing[@]}" | sed 's/; $//')")
      continue
    fi
    say "cross-building $triple with $cc"
    env_triple=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    env "CARGO_TARGET_${env_triple}_LINKER=$cc" "CC_${triple//-/_}=$cc" \
      cargo build --release --locked --target "$triple"
    bin=target/$triple/release/$NAME
  fi
  [ "$(machine "$bin")" = "$want_machine" ] || fail "$bin is not an $arch binary"
  dir=$NAME-$VERSION-$arch-linux
  stage=$DIST/$dir
  mkdir -p "$stage"
  install -m 0755 "$bin" "$stage/$NAME"
  install -m 0644 LICENSE README.md config.yaml packaging/$NAME.service "$stage/"
  install -m 0600 packaging/environment "$stage/environment"
  # Reproducible: sorted names, root owner, fixed times, no gzip timestamp.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" \
    -C "$DIST" -cf - "$dir" | gzip -9n >"$DIST/$dir.tar.gz"
  rm -rf "$stage"
  BUILT+=("$dir.tar.gz")
done

[ ${#BUILT[@]} -gt 0 ] || fail "nothing built"
(cd "$DIST" && sha256sum "${BUILT[@]}" >SHA256SUMS && sha256sum --quiet -c SHA256SUMS)

if [ "$CHECK" = 1 ]; then
  for t in "${BUILT[@]}"; do
    dir=${t%.tar.gz}
    expected="-rw------- $dir/environment
-rw-r--r-- $dir/LICENSE
-rw-r--r-- $dir/README.md
-rw-r--r-- $dir/$NAME.service
-rw-r--r-- $dir/config.yaml
-rwxr-xr-x $dir/$NAME"
    found=$(tar -tvzf "$DIST/$t" | awk '$1 !~ /^d/ {print $1, $6}' | sort -k2)
    if [ "$found" != "$(sort -k2 <<<"$expected")" ]; then
      diff -u <(sort -k2 <<<"$expected") <(printf '%s\n' "$found") >&2 || true
      fail "$t holds other files than it must (- expected, + found)"
    fi
    tar -xzOf "$DIST/$t" "$dir/LICENSE" | cmp -s - LICENSE || fail "$t: LICENSE differs"
  done
  # The host's binary from the tarball runs, and names its version.
  host_t=$NAME-$VERSION-${HOST%%-*}-linux.tar.gz
  tmp=$(mktemp -d)
  tar -xzf "$DIST/$host_t" -C "$tmp"
  "$tmp/${host_t%.tar.gz}/$NAME" --version | grep -q "^$NAME $VERSION (commit " \
    || fail "the tarball's binary does not print its version and commit"
  rm -rf "$tmp"
  say "checked: $(tr '\n' ' ' <"$DIST/SHA256SUMS" | sed 's/  */ /g')"
fi

for b in "${BUILT[@]}"; do say "built $DIST/$b"; done
say "sums in $DIST/SHA256SUMS"
for s in "${SKIPPED[@]}"; do say "SKIPPED $s"; done
