#!/usr/bin/env bash
# The .deb and the .rpm, built from the release binary that is already there (no
# rebuild), and checked as a user would meet them: exact file lists with modes and
# config-file marking, the maintainer scripts, `systemd-analyze verify` and `security`
# of the unit, lintian (pedantic; every tag either fixed or overridden with its reason
# in packaging/deb/lintian-overrides), the .deb installed with dpkg into a throwaway
# root where the installed binary checks the installed config and runs `check --demo`,
# an edited config kept across a reinstall and a removal; and the release tarball.
#
# Installs what it needs when missing: cargo-deb and cargo-generate-rpm (pinned, with
# cargo install --locked: compiled from source, minutes each on 2 cores), Debian's lintian, rpm
# (for rpm -qp) and systemd (for systemd-analyze). Run from scripts/test.sh after the
# release build; usage: scripts/check-packages.sh [release binary]
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/cds-redis-backup-exporter}
NAME=cds-redis-backup-exporter
CARGO_DEB_VERSION=3.8.0
CARGO_RPM_VERSION=0.21.1
OUT=target/packages

fail() { printf 'check-packages: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'check-packages: %s\n' "$*"; }
# Compares a listing with what it must be, and shows the difference.
same() { # name expected actual (lines compared in byte order)
  local want got
  want=$(LC_ALL=C sort <<<"$2")
  got=$(LC_ALL=C sort <<<"$3")
  if [ "$want" != "$got" ]; then
    diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$got") >&2 || true
    fail "$1 differs from what it must be (- expected, + found)"
  fi
}

[ -x "$BIN" ] || fail "no release binary at $BIN: build it first (cargo build --release --locked)"
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$VERSION" ] || fail "cannot read the version from Cargo.toml"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v lintian >/dev/null 2>&1 || ! command -v rpm >/dev/null 2>&1 \
  || ! command -v rpm2archive >/dev/null 2>&1 || ! command -v systemd-analyze >/dev/null 2>&1 \
  || ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  say "installing lintian, rpm and rpm2cpio, systemd (systemd-analyze), dpkg-dev (dpkg-shlibdeps) from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    lintian rpm rpm2cpio systemd dpkg-dev >/dev/null
fi
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
  say "installing cargo-deb $CARGO_DEB_VERSION from crates.io (compiled from source: minutes)"
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi
if ! cargo generate-rpm --version 2>/dev/null | grep -qx "cargo-generate-rpm $CARGO_RPM_VERSION"; then
  say "installing cargo-generate-rpm $CARGO_RPM_VERSION from crates.io (compiled from source: minutes)"
  cargo install --locked --quiet cargo-generate-rpm --version "$CARGO_RPM_VERSION"
fi

# The Debian changelog must name this version, or the package would carry a stale one.
DEB_CHANGELOG_VERSION=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' packaging/deb/changelog)
[ "$DEB_CHANGELOG_VERSION" = "$VERSION-1" ] \
  || fail "packaging/deb/changelog starts at $DEB_CHANGELOG_VERSION, Cargo.toml says $VERSION: add an entry for $VERSION-1"

rm -rf "$OUT"
mkdir -p "$OUT"
# Both tools take the binary from target/release, which must be the one given.
[ "$(realpath "$BIN")" = "$(realpath target/release/$NAME)" ] \
  || fail "the packages are built from target/release/$NAME, not $BIN"

say "building the .deb (cargo deb --no-build) and the .rpm (cargo generate-rpm)"
cargo deb --no-build --fast --output "$OUT/" >/dev/null
cargo generate-rpm --output "$OUT/" >/dev/null
DEB=$(ls "$OUT"/*.deb)
RPM=$(ls "$OUT"/*.rpm)
[ "$(basename "$DEB")" = "${NAME}_${VERSION}-1_amd64.deb" ] || fail "unexpected .deb name $DEB"
[ "$(basename "$RPM")" = "${NAME}-${VERSION}-1.x86_64.rpm" ] || fail "unexpected .rpm name $RPM"

DOC=usr/share/doc/$NAME
ETC=etc/$NAME

say "the .deb: files, modes, owners"
EXPECTED_DEB="-rw------- 0/0 ./$ETC/environment
-rw-r--r-- 0/0 ./$ETC/config.yaml
-rw-r--r-- 0/0 ./$DOC/README.md
-rw-r--r-- 0/0 ./$DOC/changelog.Debian.gz
-rw-r--r-- 0/0 ./$DOC/copyright
-rw-r--r-- 0/0 ./$DOC/examples/config.yaml
-rw-r--r-- 0/0 ./$DOC/packages.md
-rw-r--r-- 0/0 ./$DOC/runbook.md
-rw-r--r-- 0/0 ./usr/lib/systemd/system/$NAME.service
-rw-r--r-- 0/0 ./usr/share/lintian/overrides/$NAME
-rwxr-xr-x 0/0 ./usr/bin/$NAME"
same "the .deb's files" "$EXPECTED_DEB" \
  "$(dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $1, $2, $6}')"
same "the .deb's conffiles" "/$ETC/config.yaml
/$ETC/environment" "$(dpkg-deb -I "$DEB" conffiles)"
for f in config.yaml environment; do
  cmp -s <(dpkg-deb --fsys-tarfile "$DEB" | tar -xO "./$ETC/$f") "packaging/$f" \
    || fail "the .deb's /$ETC/$f is not packaging/$f"
done
cmp -s <(dpkg-deb --fsys-tarfile "$DEB" | tar -xO "./usr/bin/$NAME") "$BIN" \
  || fail "the .deb's binary is not $BIN"
dpkg-deb -f "$DEB" Depends | grep -q '^libc6 (>= 2\.[0-9]*)' \
  || fail "the .deb must depend on libc6 with a version: $(dpkg-deb -f "$DEB" Depends)"
POSTINST=$(dpkg-deb -I "$DEB" postinst)
# Never started or enabled on install (no credentials yet); restarted on upgrade if running.
grep -q 'deb-systemd-invoke try-restart' <<<"$POSTINST" || fail "postinst does not restart on upgrade"
! grep -q 'deb-systemd-invoke start' <<<"$POSTINST" || fail "postinst starts the service on install"
grep -q 'deb-systemd-invoke stop' <<<"$(dpkg-deb -I "$DEB" prerm)" || fail "prerm does not stop the service on removal"

say "the .rpm: files, modes, owners, flags (c config, n noreplace, d doc)"
EXPECTED_RPM="-rw------- root root cn /$ETC/environment
-rw-r--r-- root root cn /$ETC/config.yaml
-rwxr-xr-x root root - /usr/bin/$NAME
-rw-r--r-- root root - /usr/lib/systemd/system/$NAME.service
-rw-r--r-- root root d /$DOC/README.md
-rw-r--r-- root root d /$DOC/config.example.yaml
-rw-r--r-- root root d /$DOC/packages.md
-rw-r--r-- root root d /$DOC/runbook.md
-rw-r--r-- root root d /usr/share/licenses/$NAME/LICENSE"
same "the .rpm's files" "$EXPECTED_RPM" "$(rpm -qp --nosignature \
  --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" \
  | awk '$1 !~ /^d/ {f=$4; if (f=="") f="-"; print $1, $2, $3, ($4 ~ /^\//) ? "-" : $4, $NF}')"
same "rpm -qlp" "$(awk '{print $NF}' <<<"$EXPECTED_RPM")" "$(rpm -qlp --nosignature "$RPM")"
cmp -s <(rpm2archive - <"$RPM" | tar -xzO "./usr/bin/$NAME") "$BIN" || fail "the .rpm's binary is not $BIN"
RPM_REQUIRES=$(rpm -qp --nosignature --requires "$RPM")
grep -qx 'systemd >= 235' <<<"$RPM_REQUIRES" || fail "the .rpm must require systemd >= 235: $RPM_REQUIRES"
grep -q '^libc.so.6(GLIBC_' <<<"$RPM_REQUIRES" || fail "the .rpm names no glibc requirement: $RPM_REQUIRES"
# Red Hat's paths only: nothing under Debian's /lib/systemd, /etc/default or /usr/share/lintian.
! rpm -qlp --nosignature "$RPM" | grep -Eq '^/(lib/|etc/default|usr/share/lintian)' \
  || fail "the .rpm holds a Debian path"
! grep -Eq '(^|[^a-z])/lib/|dpkg|deb-systemd' <<<"$RPM_REQUIRES" || fail "the .rpm requires a Debian path or tool"
SCRIPTS=$(rpm -qp --nosignature --scripts "$RPM")
for want in 'postinstall scriptlet' 'preuninstall scriptlet' 'postuninstall scriptlet' \
  'systemctl daemon-reload' 'disable --now cds-redis-backup-exporter.service' \
  'try-restart cds-redis-backup-exporter.service'; do
  grep -qF "$want" <<<"$SCRIPTS" || fail "rpm --scripts lacks: $want"
done
! grep -Eq 'systemctl (--no-reload )?(enable|start)' <<<"$SCRIPTS" || fail "the .rpm enables or starts the service on install"
! grep -Eq 'deb-systemd|dpkg|update-rc' <<<"$SCRIPTS" || fail "the .rpm's scripts call Debian tools"

say "lintian --pedantic on the .deb (every tag fixed or overridden with its reason)"
set +e
LINTIAN=$(lintian --pedantic --display-info --display-experimental \
  --fail-on error,warning,info,pedantic,experimental "$DEB" 2>&1)
rc=$?
set -e
LINTIAN=$(grep -v 'running with root privileges' <<<"$LINTIAN" || true)
[ "$rc" = 0 ] && [ -z "$LINTIAN" ] || { echo "$LINTIAN" >&2; fail "lintian exited $rc with the tags above"; }

say "installing the .deb with dpkg --root into a throwaway root"
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cds-pkg-root.XXXXXX")
trap '$SUDO rm -rf "$ROOT"' EXIT
# dpkg runs the maintainer scripts chrooted into the root: give it a shell and the C
# library (the package's one dependency), copied from this machine, and /dev/null.
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/bin" "$ROOT/dev" "$ROOT/tmp"
touch "$ROOT/var/lib/dpkg/status"
copy_libs() { # the shared libraries a program needs, at their absolute paths
  for f in $(ldd "$1" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$f")"
    cp -L "$f" "$ROOT$f"
  done
}
cp /bin/dash "$ROOT/bin/dash"
copy_libs /bin/dash
ln -s dash "$ROOT/bin/sh"
$SUDO mknod -m 666 "$ROOT/dev/null" c 1 3
# The exporter's own libraries, for running it chrooted below.
copy_libs "$BIN"
dpkg_root() { $SUDO dpkg --root="$ROOT" --force-depends "$@"; }
dpkg_root -i "$DEB" >/dev/null 2>"$ROOT/tmp/dpkg.err" || { cat "$ROOT/tmp/dpkg.err" >&2; fail "dpkg -i"; }
[ "$(dpkg --root="$ROOT" -s $NAME | sed -n 's/^Status: //p')" = "install ok installed" ] \
  || fail "dpkg does not list the package as installed"
# dpkg records the md5sums cargo-deb does not write (the lintian override says so).
[ -s "$ROOT/var/lib/dpkg/info/$NAME.md5sums" ] || fail "dpkg recorded no md5sums"
[ "$(stat -c '%a %U' "$ROOT/$ETC/environment")" = "600 root" ] || fail "the environment file is not 0600 root"
[ "$(find "$ROOT/var/lib/$NAME" 2>/dev/null | wc -l)" = 0 ] \
  || fail "the package creates /var/lib/$NAME itself; StateDirectory= should"

say "the unit: systemd-analyze verify and security, in the root with systemd's own units"
# verify resolves the unit's dependencies (sysinit.target, ...) and executables in the
# root: add the host systemd's units and kill(1), as on any system that runs systemd.
mkdir -p "$ROOT/etc/systemd/system" "$ROOT/usr/lib/systemd/system"
for u in /lib/systemd/system/*.target /lib/systemd/system/*.slice; do
  [ -e "$ROOT/usr/lib/systemd/system/$(basename "$u")" ] || cp -L "$u" "$ROOT/usr/lib/systemd/system/"
done
cp -L /bin/kill "$ROOT/bin/kill"
copy_libs /bin/kill
UNIT=/usr/lib/systemd/system/$NAME.service
VERIFY=$(systemd-analyze verify --root="$ROOT" --man=no "$UNIT" 2>&1) || { echo "$VERIFY" >&2; fail "systemd-analyze verify"; }
# verify exits 0 on a key it ignores (a typo, a value it cannot parse): any line fails.
[ -z "$VERIFY" ] || { echo "$VERIFY" >&2; fail "systemd-analyze verify has something to say"; }
SECURITY=$(systemd-analyze security --root="$ROOT" --offline=yes --threshold=20 "$UNIT" 2>&1) \
  || { echo "$SECURITY" >&2; fail "systemd-analyze security: exposure above 2.0"; }
say "$(grep -o 'Overall exposure level.*' <<<"$SECURITY")"
for key in 'DynamicUser=yes' 'StateDirectory=cds-redis-backup-exporter' 'ProtectSystem=strict' \
  'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'EnvironmentFile=/etc/cds-redis-backup-exporter/environment' \
  'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$key" "$ROOT$UNIT" || fail "the unit lacks the line $key"
done
grep -q '^ExecStart=/usr/bin/cds-redis-backup-exporter --config.file=/etc/cds-redis-backup-exporter/config.yaml$' "$ROOT$UNIT" \
  || fail "ExecStart does not run the installed binary on the installed config"
grep -qx 'state_file: /var/lib/cds-redis-backup-exporter/state.json' <(sed 's/^ *//' "$ROOT/$ETC/config.yaml") \
  || fail "the installed config does not keep its state in the StateDirectory"

say "the installed binary, chrooted: --config.check on the installed config, check --demo"
in_root() { $SUDO chroot "$ROOT" /usr/bin/$NAME "$@"; }
# As shipped, the environment file has empty credentials: the check must say so.
set +e
EMPTY=$($SUDO chroot "$ROOT" /bin/sh -c "set -a; . /$ETC/environment; exec /usr/bin/$NAME --config.check --config.file=/$ETC/config.yaml" 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || { echo "$EMPTY" >&2; fail "--config.check with empty credentials exited $rc, not 1"; }
grep -q 'accounts\[0\].access_key_id: is missing' <<<"$EMPTY" || { echo "$EMPTY" >&2; fail "--config.check does not name the missing key id"; }
# Filled in as the admin would (sed on the installed file), it is valid.
$SUDO sed -i 's/^CDS_ACCESS_KEY_ID=$/CDS_ACCESS_KEY_ID=AKIDPACKAGETEST/; s/^CDS_ACCESS_KEY_SECRET=$/CDS_ACCESS_KEY_SECRET=package-test-secret/' "$ROOT/$ETC/environment"
CHECK=$($SUDO chroot "$ROOT" /bin/sh -c "set -a; . /$ETC/environment; exec /usr/bin/$NAME --config.check --config.file=/$ETC/config.yaml" 2>&1) \
  || { echo "$CHECK" >&2; fail "--config.check of the installed config with credentials"; }
grep -qx "/$ETC/config.yaml: valid" <<<"$CHECK" || { echo "$CHECK" >&2; fail "--config.check did not say valid"; }
! grep -q 'package-test-secret' <<<"$CHECK$EMPTY" || fail "--config.check printed the secret"
in_root --version | grep -q "^$NAME $VERSION (commit " || fail "--version: $(in_root --version)"
set +e
DEMO=$(in_root check --demo --output json 2>/dev/null)
rc=$?
set -e
# The demo has backup problems by design: exit 1, 28 instances in 3 accounts.
[ "$rc" = 1 ] || fail "check --demo exited $rc, not 1 (backup problems found)"
python3 - "$DEMO" <<'EOF' || fail "check --demo's JSON"
import json, sys
d = json.loads(sys.argv[1])
assert d["schema"] == "cds-redis-backup-exporter/check/v1", d["schema"]
assert d["exit_code"] == 1, d["exit_code"]
assert d["summary"]["instances"] == 28 and len(d["instances"]) == 28, d["summary"]
assert len(d["accounts"]) == 3, d["accounts"]
EOF

say "an edited config and credentials survive a reinstall; a removal keeps them, a purge does not"
echo '# edited by the admin' | $SUDO tee -a "$ROOT/$ETC/config.yaml" >/dev/null
dpkg_root -i "$DEB" >/dev/null 2>"$ROOT/tmp/dpkg.err" || { cat "$ROOT/tmp/dpkg.err" >&2; fail "dpkg -i again"; }
tail -n1 "$ROOT/$ETC/config.yaml" | grep -qx '# edited by the admin' || fail "the reinstall replaced the edited config.yaml"
grep -qx 'CDS_ACCESS_KEY_ID=AKIDPACKAGETEST' "$ROOT/$ETC/environment" || fail "the reinstall replaced the environment file"
[ "$(stat -c '%a' "$ROOT/$ETC/environment")" = 600 ] || fail "the environment file is not 0600 after the reinstall"
dpkg_root -r $NAME >/dev/null 2>"$ROOT/tmp/dpkg.err" || { cat "$ROOT/tmp/dpkg.err" >&2; fail "dpkg -r"; }
[ ! -e "$ROOT/usr/bin/$NAME" ] || fail "dpkg -r left the binary"
[ -f "$ROOT/$ETC/config.yaml" ] && [ -f "$ROOT/$ETC/environment" ] || fail "dpkg -r removed the configuration"
dpkg_root --purge $NAME >/dev/null 2>"$ROOT/tmp/dpkg.err" || { cat "$ROOT/tmp/dpkg.err" >&2; fail "dpkg --purge"; }
[ ! -e "$ROOT/$ETC" ] || fail "dpkg --purge left /$ETC"

say "the release tarball (scripts/release.sh, host architecture from target/release)"
scripts/release.sh --check

say "ok: $(basename "$DEB") and $(basename "$RPM") in $OUT"
