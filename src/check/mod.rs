//! `cds-redis-backup-exporter check`: one poll cycle with the configuration, the
//! verification of each newest finished backup as the exporter does it (the `verify:`
//! levels and rules; `light` when the file says nothing) for at most a time limit, then
//! a report — a table for people or JSON for scripts — and an exit code. What was not
//! verified (`--no-verify`, `verify: off`, the limit reached) says so; it never reads "ok".
//!
//! The table fits the terminal ([`table`]); the JSON is versioned: [`SCHEMA`] names the layout, described by
//! `docs/check.schema.json`; fields are only ever added within a version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, VerifyLevel};
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::report::{self, Fleet, VerifyRun};

pub mod drill;
mod table;
pub use table::{table, Style, Width, DEFAULT_WIDTH, MIN_WIDTH};

/// How long `check` waits for verification by default (`--verify.within`): light checks
/// of a few hundred shards, not full downloads of large dumps.
pub const VERIFY_WITHIN: Duration = Duration::from_secs(60);

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

/// Runs one cycle and, with `verify_within` (`None`: `--no-verify`), verifies as the
/// configuration says for at most that long after the cycle (also bounded by
/// `verify.timeout`), calling `progress` with the CDS calls made so far every 100 ms.
/// The exporter's state file is neither read nor written.
pub async fn run(
    mut config: Config,
    verify_within: Option<Duration>,
    progress: &(dyn Fn(u64, Duration) + Sync),
) -> anyhow::Result<Fleet> {
    let verify = verify_within.is_some();
    if !verify {
        config.verify.level = VerifyLevel::Off;
        config.verify.rules.clear();
    }
    config.verify.state_file = None;
    let deadline = verify_within.map_or(Duration::ZERO, |w| w.min(config.verify.timeout));
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
    let mut settled = true;
    if verify {
        // Checked: a deadline past what Instant can hold is no deadline, not a panic.
        let until = Instant::now().checked_add(deadline);
        while !metrics.verify_idle() && until.is_none_or(|u| Instant::now() < u) {
            progress(metrics.api_calls(), started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        settled = metrics.verify_idle();
        poller.refresh_verifications(&mut snap);
    }
    progress(metrics.api_calls(), started.elapsed());
    let mut fleet = report::fleet(&snap, chrono::Utc::now());
    fleet.verification = Some(VerifyRun {
        enabled: verify,
        limit_seconds: deadline.as_secs(),
        settled,
    });
    Ok(fleet)
}

/// The line under the table about verification: what was not checked, and why.
pub fn verification_note(fleet: &Fleet) -> Option<String> {
    let run = fleet.verification.as_ref()?;
    let n = fleet.summary.unverified_shards;
    Some(if !run.enabled {
        "not verified: --no-verify was given, so no dump was downloaded; \"ok\" needs a verification".to_owned()
    } else if !run.settled {
        format!(
            "verification stopped at its limit of {}s (--verify.within): {n} shard(s) not verified in time",
            run.limit_seconds
        )
    } else if n > 0 {
        format!("{n} shard(s) not verified (verify: off for them, or their download failed)")
    } else {
        return None;
    })
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
