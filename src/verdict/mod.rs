//! The policy engine: from one [`Snapshot`]'s facts, each shard's restore point and every
//! finding that explains what is wrong with it, and what the exporter cannot see of an
//! instance. The only place that decides what is a problem: `/metrics` exports its
//! verdicts (`metrics/render/verdict.rs`: the restore point, the deadline and
//! `cds_redis_backup_finding`), the status page and `check` render them (`report.rs`),
//! and the alert rules (`src/alerts/`) read them and add only `for:`.
//!
//! Here, [`judge`]: the restore point is the newest finished backup that, as far as the
//! exporter knows, would restore: not known to be gone (every probe answered 404/410), no
//! failing verification verdict. Its point in time is when its data was captured (the
//! RDB `ctime`, bounded by EndTime), else its EndTime. The deadline is a time derived from
//! facts only (a point in time plus its allowed age, a last EndTime, a creation time), so
//! the alert compares it with `time()` and `for:` alone gives anti-flapping. `reason.rs`
//! holds the typed reasons ([`Reason`]) with their label, severity and alert: the table
//! docs/runbook.md repeats (a test holds them together). `facts.rs` decides the other
//! findings with their thresholds ([`STUCK_AFTER`], [`UNVERIFIED_AFTER`], Empty's window of
//! two allowed ages): of single backups (failed, unknown status, stuck, download URLs,
//! sizes), of the newest finished backup's verification, and per instance (blind,
//! vanished). Table tests: `tests.rs` (the stories of issue 18), `facts_tests.rs` (each
//! threshold at and around it).
//!
//! Pure: `now` is only compared with the deadline, never added to it, with one exception:
//! a time in the future (a wrong `timezone`, reported as `times_in_future`) counts as
//! `now`, since a listed finished backup cannot really have ended later; so a wrong zone
//! never pushes a deadline past `now` plus the allowed age.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};

use crate::policy;
use crate::state::{BackupKey, BackupState, ShardFacts, ShardKey, Snapshot};
use crate::verification::{Outcome, Verification};

mod drill;
mod facts;
mod reason;

pub use facts::{instance_findings, vanished_finding, FUTURE_AFTER, STUCK_AFTER, UNVERIFIED_AFTER};
pub use reason::{Reason, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: Reason,
    /// In words, for the status page and `check` (never a URL).
    pub detail: String,
    /// The backup it is about, when one: a label of its series.
    pub backup_id: Option<String>,
    /// The download URL type it is about, when one: a label of its series.
    pub url_type: Option<&'static str>,
    /// The verification result it is about, when one: a label of its series.
    pub result: Option<&'static str>,
    /// The `state` label of the backup it is about (`failed`, `other`), as
    /// `cds_redis_backup_state` has it: the label its alert always carried.
    pub state: Option<&'static str>,
    /// The times `detail` names, each written there as [`utc_minute`]: kept as data so
    /// a page can show them in the account's zone ([`Finding::detail_with`]).
    pub times: Vec<DateTime<Utc>>,
}

/// A time as a finding's `detail` writes it: `2026-12-06 03:51 UTC`.
pub fn utc_minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl Finding {
    /// A finding about the shard as a whole.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Finding {
            reason,
            detail: detail.into(),
            backup_id: None,
            url_type: None,
            result: None,
            state: None,
            times: Vec::new(),
        }
    }

    /// `detail` with each of its times written by `fmt` instead of in UTC.
    pub fn detail_with(&self, fmt: impl Fn(DateTime<Utc>) -> String) -> String {
        self.times.iter().fold(self.detail.clone(), |text, t| {
            text.replacen(&utc_minute(*t), &fmt(*t), 1)
        })
    }

    fn at(mut self, times: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        self.times.extend(times);
        self
    }

    fn backup(mut self, id: &str) -> Self {
        self.backup_id = Some(id.to_owned());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePoint {
    pub backup_id: String,
    /// When its data was captured, as far as known.
    pub point: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardVerdict {
    pub restore_point: Option<RestorePoint>,
    /// How old the restore point may get (the grace of a shard never backed up).
    pub allowed_age: Duration,
    /// After it, nothing restores within policy; `None` when no fact gives one.
    pub deadline: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
}

impl ShardVerdict {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.reason.severity()).min()
    }
}

/// A dump captured this long before its backup started is an old one copied again.
const OLD_SNAPSHOT_BEFORE_START: i64 = 3600;
/// The same, measured from EndTime when CDS gave no StartTime.
const OLD_SNAPSHOT_BEFORE_END: i64 = 2 * 3600;

/// Every shard's verdict; an instance listed without any shard gets shard `""`.
pub fn judge(snap: &Snapshot, now: DateTime<Utc>) -> BTreeMap<ShardKey, ShardVerdict> {
    let mut exported: BTreeMap<(&str, &str), Vec<&BackupState>> = BTreeMap::new();
    for b in snap.backups.values() {
        if b.backup.is_finished() && b.backup.end.is_some() {
            exported
                .entry((b.instance_uuid.as_str(), b.shard_id.as_str()))
                .or_default()
                .push(b);
        }
    }
    let mut keys: Vec<ShardKey> = snap.shards.keys().cloned().collect();
    keys.extend(exported.keys().map(|(u, s)| ShardKey::new(*u, *s)));
    keys.extend(snap.remembered.keys().cloned());
    keys.sort();
    keys.dedup();
    let mut out = BTreeMap::new();
    let with_shard: std::collections::BTreeSet<&str> =
        keys.iter().map(|k| k.instance_uuid.as_str()).collect();
    for uuid in snap.instance_backups.keys() {
        if !with_shard.contains(uuid.as_str()) {
            out.insert(ShardKey::new(uuid, ""), never_backed_up(snap, uuid, now));
        }
    }
    for key in keys {
        let states = exported
            .get(&(key.instance_uuid.as_str(), key.shard_id.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let v = judge_shard(snap, &key, snap.shards.get(&key), states, now);
        out.insert(key, v);
    }
    facts::backups(snap, now, &mut out);
    facts::times_in_future(snap, now, &mut out);
    drill::findings(snap, now, &mut out);
    out
}

/// A restore point candidate: a finished backup of the shard.
struct Candidate<'a> {
    id: &'a str,
    end: DateTime<Utc>,
    state: Option<&'a BackupState>,
}

fn judge_shard(
    snap: &Snapshot,
    key: &ShardKey,
    facts: Option<&ShardFacts>,
    states: &[&BackupState],
    now: DateTime<Utc>,
) -> ShardVerdict {
    let uuid = &key.instance_uuid;
    // What a time in the future counts as: whole seconds, as CDS gives times.
    let now_s = now.trunc_subsecs(0);
    let mut candidates: Vec<Candidate> = states
        .iter()
        .filter_map(|b| {
            Some(Candidate {
                id: &b.backup.id,
                end: b.backup.end?,
                state: Some(b),
            })
        })
        .collect();
    for (id, end) in facts
        .map(|f| f.listed_finished.as_slice())
        .unwrap_or_default()
    {
        if !candidates.iter().any(|c| c.id == id) {
            candidates.push(Candidate {
                id,
                end: *end,
                state: None,
            });
        }
    }
    candidates.sort_by(|a, b| b.end.cmp(&a.end).then_with(|| a.id.cmp(b.id)));

    let mut findings = Vec::new();
    let mut restore: Option<(RestorePoint, Option<&Verification>, &Candidate)> = None;
    let mut newest_why: Option<String> = None;
    for (i, c) in candidates.iter().enumerate() {
        let best = best_verification(snap.verifications.get(&BackupKey::new(uuid, c.id)));
        match unusable(snap, key, c, best) {
            Some(why) => {
                if i == 0 {
                    newest_why = Some(why);
                }
            }
            None => {
                let ctime = best
                    .and_then(|v| v.snapshot_time)
                    .and_then(|t| DateTime::from_timestamp(t, 0));
                let point = ctime.map_or(c.end, |t| t.min(c.end)).min(now_s);
                restore = Some((
                    RestorePoint {
                        backup_id: c.id.to_owned(),
                        point,
                        end: c.end,
                    },
                    best,
                    c,
                ));
                break;
            }
        }
    }
    if let (Some(first), Some(why)) = (candidates.first(), &newest_why) {
        let behind = match &restore {
            Some((r, _, _)) => format!("the restore point is the older backup {}", r.backup_id),
            None => "no older backup restores".to_owned(),
        };
        findings.push(Finding::new(
            Reason::NewestUnusable,
            format!("the newest finished backup {} {why}; {behind}", first.id),
        ));
    }

    let rule = facts
        .and_then(|f| f.rule_max_age)
        .or_else(|| snap.rule_max_age.get(uuid).copied());
    let schedule = facts.and_then(|f| f.schedule.as_ref());
    let (allowed_age, deadline) = match &restore {
        Some((r, best, c)) => {
            let age = rule
                .or_else(|| schedule.map(|s| s.allowed_age(r.point)))
                .unwrap_or(policy::DEFAULT_MAX_AGE);
            if let Some(f) = old_snapshot(r, *best, c) {
                findings.push(f);
            }
            (age, add(r.point, age))
        }
        None => {
            let age = rule
                .or_else(|| schedule.map(policy::Schedule::typical_allowance))
                .unwrap_or(policy::DEFAULT_MAX_AGE);
            let last_end = candidates
                .first()
                .map(|c| c.end)
                .into_iter()
                .chain(snap.remembered.get(key).map(|r| r.end))
                .max()
                .map(|e| e.min(now_s));
            let ever = last_end.is_some() || facts.and_then(|f| f.finished).is_some_and(|n| n > 0);
            if ever {
                // Nothing restores already: due now, `for:` keeps it from flapping.
                (age, last_end)
            } else {
                return never_backed_up(snap, uuid, now);
            }
        }
    };
    if let Some(d) = deadline.filter(|d| now > *d) {
        let finding = match &restore {
            Some((r, _, _)) => Finding::new(
                Reason::NoRestorePoint,
                format!(
                    "the restore point {} (data of {}) is older than its allowed age {} since {}",
                    r.backup_id,
                    utc_minute(r.point),
                    hours(allowed_age),
                    utc_minute(d)
                ),
            )
            .at([r.point, d]),
            None if candidates.is_empty() => Finding::new(
                Reason::NoRestorePoint,
                "no finished backup is listed any more (purged); nothing restores",
            ),
            None => Finding::new(Reason::NoRestorePoint, "no finished backup would restore"),
        };
        findings.insert(0, finding);
    }
    if let Some(b) = candidates.first().and_then(|c| c.state) {
        findings.extend(facts::verification(snap, key, facts, b, now));
    }
    ShardVerdict {
        restore_point: restore.map(|(r, _, _)| r),
        allowed_age,
        deadline,
        findings,
    }
}

/// An instance without a finished backup: a warning within the grace (its allowed age
/// from when it was created, else first watched), then no restore point.
fn never_backed_up(snap: &Snapshot, uuid: &str, now: DateTime<Utc>) -> ShardVerdict {
    let age = snap
        .rule_max_age
        .get(uuid)
        .copied()
        .unwrap_or(policy::DEFAULT_MAX_AGE);
    let since = snap
        .instances
        .get(uuid)
        .and_then(|(_, i)| i.created)
        .or_else(|| snap.first_seen.get(uuid).copied());
    let deadline = since.and_then(|s| add(s, age));
    let since_words = since.map_or_else(|| "an unknown time".to_owned(), utc_minute);
    let finding = match deadline {
        Some(d) if now > d => Finding::new(
            Reason::NoRestorePoint,
            format!(
                "never backed up since {since_words}, longer than the allowed age {}",
                hours(age)
            ),
        )
        .at(since),
        _ => Finding::new(
            Reason::NeverBackedUp,
            format!("no finished backup yet (watched since {since_words})"),
        )
        .at(since),
    };
    ShardVerdict {
        restore_point: None,
        allowed_age: age,
        deadline,
        findings: vec![finding],
    }
}

/// The verification that says most: the highest level with a final verdict, else the
/// highest level tried.
fn best_verification(vs: Option<&Vec<Verification>>) -> Option<&Verification> {
    let vs = vs?;
    vs.iter()
        .filter(|v| v.outcome.is_final())
        .max_by_key(|v| v.level)
        .or_else(|| vs.iter().max_by_key(|v| v.level))
}

/// Why the candidate would not restore, if the exporter knows it would not.
fn unusable(
    snap: &Snapshot,
    key: &ShardKey,
    c: &Candidate,
    best: Option<&Verification>,
) -> Option<String> {
    if c.state.is_some_and(all_gone) {
        return Some("is gone (404 on every URL)".to_owned());
    }
    if let Some(why) = drill::unusable(snap, &key.instance_uuid, c.id) {
        return Some(why);
    }
    let outcome = best.map(|v| v.outcome)?;
    match outcome {
        Outcome::Truncated | Outcome::ChecksumMismatch | Outcome::Corrupt | Outcome::NotRdb => {
            Some(format!("failed verification ({})", outcome.as_str()))
        }
        Outcome::Empty => {
            let earlier = snap
                .verified
                .get(key)
                .filter(|l| l.backup_id != c.id && l.keys.is_some_and(|k| k > 0))?;
            Some(format!(
                "holds no keys while {} held {}",
                earlier.backup_id,
                earlier.keys.unwrap_or(0)
            ))
        }
        _ => None,
    }
}

/// Every URL probed answered "no such object".
pub(crate) fn all_gone(b: &BackupState) -> bool {
    !b.probes.is_empty() && b.probes.iter().all(|(_, p)| matches!(p.status, 404 | 410))
}

fn old_snapshot(r: &RestorePoint, best: Option<&Verification>, c: &Candidate) -> Option<Finding> {
    let ctime = best.and_then(|v| v.snapshot_time)?;
    let start = c.state.and_then(|s| s.backup.start);
    let (reference, margin, what) = match start {
        Some(s) => (s.timestamp(), OLD_SNAPSHOT_BEFORE_START, "started"),
        None => (c.end.timestamp(), OLD_SNAPSHOT_BEFORE_END, "ended"),
    };
    (reference - ctime > margin).then(|| {
        Finding::new(
            Reason::OldSnapshot,
            format!(
                "the dump of {} was captured {} before the backup {what}: an old snapshot",
                r.backup_id,
                hours(Duration::from_secs((reference - ctime).unsigned_abs()))
            ),
        )
        .backup(&r.backup_id)
    })
}

fn add(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    t.checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

fn hours(d: Duration) -> String {
    let h = d.as_secs() / 3600;
    let m = d.as_secs() % 3600 / 60;
    if m == 0 {
        format!("{h}h")
    } else {
        format!("{h}h{m}m")
    }
}

#[cfg(test)]
mod facts_tests;
#[cfg(test)]
mod tests;
