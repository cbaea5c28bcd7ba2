//! End-to-end tests over loopback: the exporter against the fake CDS API (which checks
//! every signature), scraped over real HTTP. One test binary; helpers in `helpers`.
#![allow(clippy::unwrap_used)]

mod exporter;
mod faults;
mod hardening;
mod helpers;
mod lifecycle;
mod probe;
mod resilience;
mod secrets;
mod web;
