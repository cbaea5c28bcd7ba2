//! End-to-end tests over loopback: the exporter against the fake CDS API (which checks
//! every signature), scraped over real HTTP. One test binary; helpers in `helpers`.
// clippy.toml allows unwrap in #[test] functions; this crate's helpers are plain
// functions, so it is allowed here once for the whole test binary.
#![allow(clippy::unwrap_used)]

mod agree;
mod changelog;
mod check_drill;
mod check_layout;
mod check_verify;
mod describe;
mod drill;
mod drill_random;
mod drill_sigterm;
mod exporter;
mod facts;
mod faults;
mod golden;
mod hardening;
mod hardening3_check;
mod hardening3_rdbstate;
mod hardening3_verify;
mod hardening3_web;
mod helpers;
mod lifecycle;
mod light_keys;
mod malloc;
mod probe;
mod resilience;
mod rules_cmd;
mod secrets;
mod shards;
mod status;
mod stories;
mod verify;
mod version;
mod web;
