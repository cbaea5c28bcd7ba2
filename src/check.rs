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

/// The most characters of one finding in the table: findings quote CDS text (a
/// verification's detail, an account name) but are sentences, longer than a cell.
const FINDING_CHARS: usize = 2 * report::CELL_CHARS;

/// The report as a table, grouped by account and instance, problems first; `color`
/// marks problems red (critical) and yellow (warning). Text is escaped and cut by
/// [`report::for_terminal`]; the JSON keeps it whole, escaped by JSON itself.
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
        "restore age / allowed",
        "size",
        "took",
        "newer",
        "download",
        "verified",
        "problem",
    ]);
    // Every cell goes through `for_terminal` once: CDS chose most of this text.
    let safe = |v: &str| report::for_terminal(v, report::CELL_CHARS);
    let dash = |v: Option<String>| v.map_or_else(|| "-".to_owned(), |v| safe(&v));
    for i in &fleet.instances {
        for r in report::rows(i) {
            let problem = if r.findings.is_empty() {
                "ok".to_owned()
            } else {
                r.findings
                    .iter()
                    .map(|f| report::for_terminal(&f.what, FINDING_CHARS))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let mut row: Vec<Cell> = [
                safe(r.account),
                safe(r.instance),
                safe(r.shard),
                dash(r.newest),
                dash(r.age),
                dash(r.size),
                dash(r.took),
                safe(&r.newer),
                r.downloads
                    .iter()
                    .map(|d| safe(d))
                    .collect::<Vec<_>>()
                    .join("\n"),
                dash(r.verified),
            ]
            .into_iter()
            .map(Cell::new)
            .collect();
            let problem = Cell::new(problem);
            row.push(match r.worst {
                Some(Severity::Critical) => problem.fg(Color::Red),
                Some(Severity::Warning) => problem.fg(Color::Yellow),
                None => problem,
            });
            t.add_row(row);
        }
    }
    let s = &fleet.summary;
    format!(
        "{t}\n{} instance(s): {} healthy, {} with critical problems, {} with warnings; {} account(s) the exporter cannot see\n",
        s.instances, s.healthy, s.critical, s.warning, s.blind_accounts
    )
}
