//! `cds-redis-backup-exporter check`: one poll cycle with the configuration, optionally
//! the light verification of each restore point, then a report — a table for people or
//! JSON for scripts — and an exit code.
//!
//! The JSON is versioned: [`SCHEMA`] names the layout, described by
//! `docs/check.schema.json`; fields are only ever added within a version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use crate::config::{Config, VerifyLevel};
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::report::{self, Fleet, Severity};

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
    let poller = Poller::new(&config, Arc::clone(&metrics))?;
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
        let until = Instant::now() + deadline;
        while !metrics.verify_idle() && Instant::now() < until {
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

/// The report as a table, grouped by account and instance, problems first; `color`
/// marks problems red (critical) and yellow (warning).
pub fn table(fleet: &Fleet, color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(200);
    if !color {
        t.force_no_tty();
    }
    t.set_header([
        "account",
        "instance",
        "shard",
        "newest finished",
        "age / max",
        "size",
        "took",
        "newer",
        "download",
        "verified",
        "problem",
    ]);
    for i in &fleet.instances {
        let name = if i.instance_name.is_empty() {
            i.instance_uuid.clone()
        } else {
            i.instance_name.clone()
        };
        let rows = i.shards.len().max(1);
        for n in 0..rows {
            let s = i.shards.get(n);
            let mut findings: Vec<&report::Finding> =
                s.map(|s| s.findings.iter().collect()).unwrap_or_default();
            if n == 0 {
                findings.splice(0..0, i.findings.iter());
            }
            let worst = findings.iter().map(|f| f.severity).max();
            let problem = findings
                .iter()
                .map(|f| f.what.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let newest = s.and_then(|s| s.newest.as_ref());
            let cells = [
                i.account.clone(),
                name.clone(),
                s.map(|s| s.shard_id.clone()).unwrap_or_default(),
                newest
                    .map(|b| b.end.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "-".into()),
                match (newest, s.and_then(|s| s.max_age_seconds)) {
                    (Some(b), Some(m)) => format!(
                        "{} / {}",
                        report::human_age(b.age_seconds),
                        report::human_age(m as i64)
                    ),
                    (Some(b), None) => report::human_age(b.age_seconds),
                    _ => "-".into(),
                },
                newest
                    .and_then(|b| b.size_bytes)
                    .map(report::human_bytes)
                    .unwrap_or_else(|| "-".into()),
                newest
                    .and_then(|b| b.duration_seconds)
                    .map(report::human_age)
                    .unwrap_or_else(|| "-".into()),
                s.map(|s| {
                    s.newer
                        .iter()
                        .map(|(_, st)| st.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
                s.map(|s| {
                    s.urls
                        .iter()
                        .map(|(t, code, ok)| {
                            format!(
                                "{t} {}",
                                if *ok {
                                    "ok".to_owned()
                                } else {
                                    code.to_string()
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
                s.and_then(|s| s.verification.as_ref())
                    .map(|(l, r)| format!("{r} ({l})"))
                    .unwrap_or_else(|| "-".into()),
                if problem.is_empty() {
                    "ok".into()
                } else {
                    problem
                },
            ];
            let mut row: Vec<Cell> = cells.into_iter().map(Cell::new).collect();
            if let (Some(last), Some(sev)) = (row.last_mut(), worst) {
                let c = match sev {
                    Severity::Critical => Color::Red,
                    Severity::Warning => Color::Yellow,
                };
                *last = last.clone().fg(c);
            }
            t.add_row(row);
        }
    }
    let s = &fleet.summary;
    format!(
        "{t}\n{} instance(s): {} healthy, {} with critical problems, {} with warnings; {} account(s) the exporter cannot see\n",
        s.instances, s.healthy, s.critical, s.warning, s.blind_accounts
    )
}
