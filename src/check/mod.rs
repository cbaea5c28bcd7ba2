//! `cds-redis-backup-exporter check`: one poll cycle with the configuration, optionally
//! the light verification of each restore point, then a report — a table for people or
//! JSON for scripts — and an exit code.
//!
//! The table fits the terminal ([`table`]); the JSON is versioned: [`SCHEMA`] names the layout, described by
//! `docs/check.schema.json`; fields are only ever added within a version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, VerifyLevel};
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::report::{self, Fleet};

mod table;
pub use table::{table, Width, DEFAULT_WIDTH, MIN_WIDTH};

/// The `schema` field of `--output json`.
pub const SCHEMA: &str = "cds-redis-backup-exporter/check/v1";

/// What the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every backup is fine.
    Healthy = 0,
    /// At least one backup problem.
    Problems = 1,
    /// An account could not be seen: CDS unreachable or credentials refused.
    Unreachable = 3,
}

impl Verdict {
    pub fn of(fleet: &Fleet) -> Self {
        if fleet.summary.blind_accounts > 0 {
            Verdict::Unreachable
        } else if fleet.summary.critical + fleet.summary.warning > 0 {
            Verdict::Problems
        } else {
            Verdict::Healthy
        }
    }
}

/// Runs one cycle (and, with `verify`, the light check of every restore point, up to
/// `verify.timeout`), calling `progress` with the CDS calls made so far every 100 ms.
pub async fn run(
    mut config: Config,
    verify: bool,
    progress: &(dyn Fn(u64, Duration) + Sync),
) -> anyhow::Result<Fleet> {
    config.verify.level = if verify {
        VerifyLevel::Light
    } else {
        VerifyLevel::Off
    };
    config.verify.rules.clear();
    config.verify.state_file = None;
    let deadline = config.verify.timeout;
    let metrics = Arc::new(Metrics::new()?);
    let poller = Poller::new(&config, Default::default(), Arc::clone(&metrics))?;
    let started = Instant::now();
    let cycle = poller.cycle();
    tokio::pin!(cycle);
    let snap = loop {
        tokio::select! {
            s = &mut cycle => break s,
            () = tokio::time::sleep(Duration::from_millis(100)) => progress(metrics.api_calls(), started.elapsed()),
        }
    };
    let mut snap = (*snap).clone();
    if verify {
        // Checked: a deadline past what Instant can hold is no deadline, not a panic.
        let until = Instant::now().checked_add(deadline);
        while !metrics.verify_idle() && until.is_none_or(|u| Instant::now() < u) {
            progress(metrics.api_calls(), started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        poller.refresh_verifications(&mut snap);
    }
    progress(metrics.api_calls(), started.elapsed());
    Ok(report::fleet(&snap, chrono::Utc::now()))
}

#[derive(Serialize)]
struct Json<'a> {
    schema: &'static str,
    exit_code: i32,
    #[serde(flatten)]
    fleet: &'a Fleet,
}

/// The report as JSON ([`SCHEMA`]).
pub fn json(fleet: &Fleet) -> String {
    let doc = Json {
        schema: SCHEMA,
        exit_code: Verdict::of(fleet) as i32,
        fleet,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
