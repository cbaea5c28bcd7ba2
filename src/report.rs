//! The fleet in plain words, for people rather than Prometheus: what `check` prints
//! and the status page shows. Built from a [`Snapshot`] and a clock, nothing else, so
//! both say exactly what `/metrics` says, problems first.
//!
//! Every finding is the policy engine's ([`crate::verdict`], the same verdicts `/metrics`
//! exports and the alert rules read): this module only renders them, with no threshold
//! or judgement of its own. Critical for "no backup you could restore from within the
//! allowed age" and for not being able to see; warning for the rest. Each finding names
//! the alert that fires for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cds::{BackupStatus, UrlType};
use crate::config::VerifyLevel;
use crate::state::{BackupKey, BackupState, ShardKey, Snapshot};
use crate::verification::Outcome;

mod drills;
mod people;
pub use drills::{drill_icon, drills_of, memory_text, seconds_text, DrillView};
pub use people::{
    charset_from_locale, checked, icon, local_time, no_problem_text, verified_text, word, Charset,
    Checked,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// One problem, in words an on-call engineer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
    /// The alert that fires for it, where one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    pub generated_at: DateTime<Utc>,
    pub accounts: Vec<AccountView>,
    /// Problems first (critical, then warning), then by account and name.
    pub instances: Vec<InstanceView>,
    pub summary: Summary,
    /// How `check` verified (the status page shows what the exporter verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerifyRun>,
}

/// How `check` verified the restore points before reporting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyRun {
    /// `false`: `--no-verify`; the configuration's `verify:` levels and rules otherwise.
    pub enabled: bool,
    /// The most time spent waiting for verification (`--verify.within`).
    pub limit_seconds: u64,
    /// Everything verification was given had a result within the limit.
    pub settled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub name: String,
    /// The exporter could see it in the last cycle.
    pub up: bool,
    /// Why not, when it could not: the first failed call (CDS code and message, or the
    /// network error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its configured `timezone` (`+08:00`): the status page and the table show its
    /// times in it; the JSON's times stay UTC.
    pub utc_offset: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub instances: usize,
    pub healthy: usize,
    pub critical: usize,
    pub warning: usize,
    pub blind_accounts: usize,
    /// Shards whose newest finished backup has no final verification verdict: what
    /// their rows say was not checked.
    pub unverified_shards: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub account: String,
    pub instance_uuid: String,
    pub instance_name: String,
    pub tags: Vec<String>,
    /// Backups `DescribeBackups` listed, when known.
    pub backups_listed: Option<u64>,
    pub shards: Vec<ShardView>,
    /// Instance-level findings; each shard has its own.
    pub findings: Vec<Finding>,
    /// The level `verify:` gives it (`off`, `light`, `full`); `None`: not known (an
    /// instance no longer listed).
    pub verify_level: Option<&'static str>,
    /// Its account's zone, for times shown to people.
    #[serde(skip)]
    pub zone: chrono::FixedOffset,
    /// Its restore drills, newest first (the status page; not in `check`'s JSON, whose
    /// v1 schema does not list them).
    #[serde(skip)]
    pub drills: Vec<DrillView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardView {
    pub shard_id: String,
    pub newest: Option<BackupView>,
    pub max_age_seconds: Option<u64>,
    /// Backups newer than the newest finished one, newest first.
    pub newer: Vec<NewerBackup>,
    /// Download URL probes of the newest.
    pub urls: Vec<UrlProbe>,
    /// Verification of the newest, at its highest level.
    pub verification: Option<VerificationView>,
    pub keys: Option<u64>,
    /// The policy engine's restore point (as `/metrics` exports it); `None`: none.
    pub restore_point: Option<RestorePointView>,
    /// After it nothing restores within policy (as `/metrics` exports it).
    pub restore_deadline: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
}

/// A backup newer than the shard's newest finished one; in JSON `[backup_id, state]`
/// (docs/check.schema.json), the state as CDS wrote it.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "(String, String)")]
pub struct NewerBackup {
    pub backup_id: String,
    pub status: BackupStatus,
}

impl From<NewerBackup> for (String, String) {
    fn from(b: NewerBackup) -> Self {
        (b.backup_id, b.status.to_string())
    }
}

/// A probe of a download URL of the newest finished backup; in JSON
/// `[url_type, http_status, reachable]`.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "(&'static str, u16, bool)")]
pub struct UrlProbe {
    pub url_type: UrlType,
    pub http_status: u16,
    pub reachable: bool,
}

impl From<UrlProbe> for (&'static str, u16, bool) {
    fn from(p: UrlProbe) -> Self {
        (p.url_type.as_str(), p.http_status, p.reachable)
    }
}

/// The verification of the newest finished backup; in JSON `[level, result]`.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "(&'static str, &'static str)")]
pub struct VerificationView {
    pub level: VerifyLevel,
    pub result: Outcome,
}

impl From<VerificationView> for (&'static str, &'static str) {
    fn from(v: VerificationView) -> Self {
        (v.level.as_str(), v.result.as_str())
    }
}

/// The newest backup that would restore, and when its data was captured.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePointView {
    pub backup_id: String,
    pub point: DateTime<Utc>,
    /// `generated_at` minus `point`: how old the data one could restore is.
    pub age_seconds: i64,
    /// The restore deadline minus `point`: how old it may get, as the engine judges it
    /// (the shard's `staleness:` rule, else its learned schedule from this point).
    pub allowed_age_seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    pub backup_id: String,
    pub end: DateTime<Utc>,
    pub age_seconds: i64,
    pub size_bytes: Option<u64>,
    pub duration_seconds: Option<i64>,
}

impl InstanceView {
    /// Every finding of the instance and its shards.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .chain(self.shards.iter().flat_map(|s| s.findings.iter()))
    }

    pub fn worst(&self) -> Option<Severity> {
        self.all_findings().map(|f| f.severity).max()
    }
}

/// One shard of an instance as text, as `check` and the status page show it; the
/// instance's own findings come on its first row. `None`: nothing to show.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub account: &'a str,
    /// The name, or the UUID when CDS gave no name.
    pub instance: &'a str,
    pub shard: &'a str,
    pub newest: Option<String>,
    /// Age of the restore point's data, and the age allowed it (deadline − point), as
    /// the engine judges them; `None` without a restore point.
    pub age: Option<String>,
    pub size: Option<String>,
    pub took: Option<String>,
    /// States of the backups newer than the newest finished one.
    pub newer: String,
    /// One entry per probed URL: `public ok`, `intranet 403`.
    pub downloads: Vec<String>,
    /// The verdict and level, naming what a light check read, or why there is none.
    pub verified: String,
    /// How much of the newest backup was checked: what "ok" may claim.
    pub checked: Checked,
    pub findings: Vec<&'a Finding>,
    pub worst: Option<Severity>,
}

impl Row<'_> {
    /// The problem cell of a row without findings: "ok" only for a dump read whole.
    pub fn no_problem(&self) -> &'static str {
        no_problem_text(self.checked)
    }
}

/// The rows of an instance: one per shard (one if it has none).
pub fn rows(i: &InstanceView) -> Vec<Row<'_>> {
    let instance = if i.instance_name.is_empty() {
        &i.instance_uuid
    } else {
        &i.instance_name
    };
    (0..i.shards.len().max(1))
        .map(|n| {
            let s = i.shards.get(n);
            let mut findings: Vec<&Finding> =
                s.map(|s| s.findings.iter().collect()).unwrap_or_default();
            if n == 0 {
                findings.splice(0..0, i.findings.iter());
            }
            let newest = s.and_then(|s| s.newest.as_ref());
            Row {
                account: &i.account,
                instance,
                shard: s.map_or("", |s| s.shard_id.as_str()),
                newest: newest.map(|b| local_time(b.end, i.zone)),
                age: s.and_then(|s| s.restore_point.as_ref()).map(|p| {
                    format!(
                        "{} / {}",
                        human_age(p.age_seconds),
                        human_age(p.allowed_age_seconds)
                    )
                }),
                size: newest.and_then(|b| b.size_bytes).map(human_bytes),
                took: newest.and_then(|b| b.duration_seconds).map(human_age),
                newer: s.map_or_else(String::new, |s| {
                    s.newer
                        .iter()
                        .map(|b| b.status.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                downloads: s.map_or_else(Vec::new, |s| {
                    s.urls
                        .iter()
                        .map(|p| {
                            let t = p.url_type.as_str();
                            if p.reachable {
                                format!("{t} ok")
                            } else {
                                format!("{t} {}", p.http_status)
                            }
                        })
                        .collect()
                }),
                verified: verified_text(verification(s), i.verify_level),
                checked: checked(verification(s)),
                worst: findings.iter().map(|f| f.severity).max(),
                findings,
            }
        })
        .collect()
}

/// A shard's verification as (level, result).
fn verification(s: Option<&ShardView>) -> Option<(&str, &str)> {
    s.and_then(|s| s.verification.as_ref())
        .map(|v| (v.level.as_str(), v.result.as_str()))
}

/// The engine's finding in words, its times in the account's `zone`, with the alert that
/// fires for it named at the end.
fn rendered(f: &crate::verdict::Finding, zone: chrono::FixedOffset) -> Finding {
    let severity = match f.reason.severity() {
        crate::verdict::Severity::Critical => Severity::Critical,
        crate::verdict::Severity::Warning => Severity::Warning,
    };
    let alert = f.reason.alert();
    Finding {
        severity,
        what: {
            let detail = f.detail_with(|t| local_time(t, zone));
            match alert {
                Some(a) => format!("{detail} ({a})"),
                None => detail,
            }
        },
        alert,
    }
}

/// `93784` → `1d 2h`; `300` → `5m`.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The most characters of one CDS-derived text a terminal cell shows; longer text ends
/// in `…`. A name of 300,000 characters is an attack on the table, not a name.
pub const CELL_CHARS: usize = 120;

/// `s` made safe and bounded for a terminal, in one pass over at most `max_chars`
/// characters of it (linear whatever its length): control characters (C0 with tab and
/// newline, DEL, C1) and the bidirectional overrides and isolates are shown as
/// `\u{1b}` instead of reaching the terminal, where ESC starts sequences that set the
/// clipboard (OSC 52), the title (OSC 0) or clear the screen (CSI 2J), and the bidi
/// characters reorder what is shown; the result has at most `max_chars` characters,
/// the last being `…` when `s` was cut.
pub fn for_terminal(s: &str, max_chars: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut shown = 0usize;
    // Where `out` ends when cut: the last point with room left for the `…`.
    let mut cut = 0usize;
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let before = out.len();
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            shown += out.len() - before;
        } else {
            out.push(c);
            shown += 1;
        }
        if shown > max_chars {
            out.truncate(cut);
            out.push('…');
            return out;
        }
        if shown < max_chars {
            cut = out.len();
        }
    }
    out
}

/// The explicit bidirectional formatting characters (embeddings, overrides, isolates):
/// invisible, they make a terminal show text in another order than it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// What the snapshot says, at `now`.
pub fn fleet(snap: &Snapshot, now: DateTime<Utc>) -> Fleet {
    let accounts: Vec<AccountView> = snap
        .account_up
        .iter()
        .map(|(name, up)| AccountView {
            name: name.clone(),
            up: *up,
            error: snap.account_errors.get(name).cloned(),
            utc_offset: zone_of(snap, name).to_string(),
        })
        .collect();
    let last_success = snap.last_success();
    let verdicts = crate::verdict::judge(snap, now);
    let mut by_instance: BTreeMap<&str, Vec<&BackupState>> = BTreeMap::new();
    for b in snap.backups.values() {
        by_instance.entry(&b.instance_uuid).or_default().push(b);
    }
    let mut instances: Vec<InstanceView> = snap
        .instances
        .iter()
        .map(|(uuid, (account, i))| {
            let backups = by_instance.get(uuid.as_str()).cloned().unwrap_or_default();
            let zone = zone_of(snap, account);
            let mut shards = shards(snap, uuid, &backups, &last_success, &verdicts, now, zone);
            // The shards with problems first, as the instances are.
            shards.sort_by_cached_key(|s| {
                let worst = s.findings.iter().map(|f| f.severity).max();
                (std::cmp::Reverse(worst), s.shard_id.clone())
            });
            InstanceView {
                account: account.clone(),
                instance_uuid: uuid.clone(),
                instance_name: i.name.clone(),
                tags: i.tags.clone(),
                backups_listed: snap.instance_backups.get(uuid).copied(),
                shards,
                findings: crate::verdict::instance_findings(snap, uuid, account)
                    .iter()
                    .map(|f| rendered(f, zone))
                    .collect(),
                verify_level: snap.verify_levels.get(uuid).map(|l| l.as_str()),
                zone,
                drills: drills_of(snap, uuid),
            }
        })
        .collect();
    for (uuid, gone) in &snap.vanished {
        instances.push(InstanceView {
            account: gone.account.clone(),
            instance_uuid: uuid.clone(),
            instance_name: gone.name.clone(),
            tags: Vec::new(),
            backups_listed: None,
            shards: Vec::new(),
            findings: crate::verdict::vanished_finding(snap, uuid, now)
                .iter()
                .map(|f| rendered(f, zone_of(snap, &gone.account)))
                .collect(),
            verify_level: None,
            zone: zone_of(snap, &gone.account),
            drills: Vec::new(),
        });
    }
    instances.sort_by_cached_key(|v| {
        (
            std::cmp::Reverse(v.worst()),
            std::cmp::Reverse(v.all_findings().count()),
            v.account.clone(),
            v.instance_name.clone(),
            v.instance_uuid.clone(),
        )
    });
    let mut summary = Summary {
        instances: instances.len(),
        blind_accounts: accounts.iter().filter(|a| !a.up).count(),
        ..Summary::default()
    };
    for i in &instances {
        summary.unverified_shards += i
            .shards
            .iter()
            .filter(|s| s.newest.is_some() && checked(verification(Some(s))) == Checked::No)
            .count();
        match i.worst() {
            None => summary.healthy += 1,
            Some(Severity::Critical) => summary.critical += 1,
            Some(Severity::Warning) => summary.warning += 1,
        }
    }
    Fleet {
        generated_at: now,
        accounts,
        instances,
        summary,
        verification: None,
    }
}

/// An account's configured zone; UTC for one the snapshot does not know.
fn zone_of(snap: &Snapshot, account: &str) -> chrono::FixedOffset {
    snap.account_zones
        .get(account)
        .copied()
        .unwrap_or_else(|| chrono::Offset::fix(&Utc))
}

fn shards(
    snap: &Snapshot,
    uuid: &str,
    backups: &[&BackupState],
    last_success: &BTreeMap<ShardKey, crate::state::LastSuccess>,
    verdicts: &BTreeMap<ShardKey, crate::verdict::ShardVerdict>,
    now: DateTime<Utc>,
    zone: chrono::FixedOffset,
) -> Vec<ShardView> {
    let mut ids: Vec<String> = backups.iter().map(|b| b.shard_id.clone()).collect();
    // A range, not a scan: thousands of instances each look up their own shards.
    ids.extend(
        snap.shards
            .range(ShardKey::new(uuid, "")..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
            .map(|(k, _)| k.shard_id.clone()),
    );
    // An instance never backed up has a verdict for shard "" and nothing else.
    ids.extend(
        verdicts
            .range(ShardKey::new(uuid, "")..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
            .map(|(k, _)| k.shard_id.clone()),
    );
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|shard| {
            let key = ShardKey::new(uuid, &shard);
            let facts = snap.shards.get(&key);
            let ls = last_success.get(&key);
            let newest = ls.and_then(|ls| {
                backups.iter().find(|b| {
                    b.shard_id == shard && b.backup.is_finished() && b.backup.end == Some(ls.end)
                })
            });
            let mut v = ShardView {
                shard_id: shard.clone(),
                newest: newest.map(|b| BackupView {
                    backup_id: b.backup.id.clone(),
                    end: b.backup.end.unwrap_or(now),
                    age_seconds: b.backup.end.map_or(0, |e| (now - e).num_seconds()),
                    size_bytes: b.backup.size,
                    duration_seconds: b
                        .backup
                        .end
                        .zip(b.backup.start)
                        .map(|(e, s)| (e - s).num_seconds()),
                }),
                max_age_seconds: facts.map(|f| f.max_age.as_secs()),
                newer: Vec::new(),
                urls: Vec::new(),
                verification: None,
                keys: None,
                restore_point: None,
                restore_deadline: None,
                findings: Vec::new(),
            };
            let mut newer: Vec<&&BackupState> = backups
                .iter()
                .filter(|b| b.shard_id == shard && !b.backup.is_finished())
                .collect();
            newer.sort_by_key(|b| std::cmp::Reverse(b.backup.start));
            for b in newer {
                v.newer.push(NewerBackup {
                    backup_id: b.backup.id.clone(),
                    status: b.backup.status.clone(),
                });
            }
            if let Some(b) = newest {
                newest_facts(snap, &mut v, b);
            }
            if let Some(verdict) = verdicts.get(&key) {
                v.restore_point = verdict.restore_point.as_ref().map(|r| RestorePointView {
                    backup_id: r.backup_id.clone(),
                    point: r.point,
                    age_seconds: (now - r.point).num_seconds(),
                    // What the deadline says, so the column and the deadline agree.
                    allowed_age_seconds: verdict.deadline.map_or_else(
                        || i64::try_from(verdict.allowed_age.as_secs()).unwrap_or(i64::MAX),
                        |d| (d - r.point).num_seconds(),
                    ),
                });
                v.restore_deadline = verdict.deadline;
                v.findings
                    .extend(verdict.findings.iter().map(|f| rendered(f, zone)));
            }
            v
        })
        .collect()
}

/// What the probes and the verification saw of the newest finished backup, as facts.
fn newest_facts(snap: &Snapshot, v: &mut ShardView, b: &BackupState) {
    for (t, p) in &b.probes {
        v.urls.push(UrlProbe {
            url_type: *t,
            http_status: p.status,
            reachable: p.reachable(),
        });
    }
    let key = BackupKey::new(&b.instance_uuid, &b.backup.id);
    // A final verdict says more than a failed download at a higher level.
    let best = snap
        .verifications
        .get(&key)
        .and_then(|vs| vs.iter().max_by_key(|v| (v.outcome.is_final(), v.level)));
    if let Some(ver) = best {
        v.verification = Some(VerificationView {
            level: ver.level,
            result: ver.outcome,
        });
        v.keys = ver.keys;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Outcome;

    /// One instance whose newest backup `b1` (ended 2 h ago) verified as `outcome`, with
    /// an older listed backup `b0` ended `older_h` hours ago.
    fn one_instance(outcome: Outcome, older_h: i64) -> (Snapshot, DateTime<Utc>) {
        use crate::cds::{Backup, Instance};
        use crate::state::ShardFacts;
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let h = |n: i64| now - chrono::Duration::hours(n);
        let mut snap = Snapshot::default();
        let instance = Instance {
            uuid: "u".into(),
            name: "orders".into(),
            ..Instance::default()
        };
        snap.instances
            .insert("u".into(), ("main".into(), instance.into()));
        snap.instance_backups.insert("u".into(), 2);
        let backup = Backup {
            id: "b1".into(),
            status: "finished".into(),
            backup_type: "RDB".into(),
            mode: "auto".into(),
            size: Some(1000),
            start: Some(h(3)),
            end: Some(h(2)),
        };
        let state = BackupState {
            instance_uuid: "u".into(),
            shard_id: String::new(),
            backup,
            probes: Vec::new(),
            urls: None,
        };
        snap.backups
            .insert(BackupKey::new("u", "b1"), std::sync::Arc::new(state));
        snap.shards.insert(
            ShardKey::new("u", ""),
            ShardFacts {
                finished: Some(2),
                expected_interval: None,
                schedule: None,
                max_age: crate::policy::DEFAULT_MAX_AGE,
                rule_max_age: None,
                listed_finished: vec![("b1".into(), h(2)), ("b0".into(), h(older_h))],
            },
        );
        let v = crate::verify::Verification {
            outcome,
            level: crate::config::VerifyLevel::Light,
            ..Default::default()
        };
        snap.verifications
            .insert(BackupKey::new("u", "b1"), vec![v]);
        (snap, now)
    }

    fn findings(snap: &Snapshot, now: DateTime<Utc>) -> Vec<(Severity, Option<&'static str>)> {
        let f = fleet(snap, now);
        f.instances[0]
            .all_findings()
            .map(|f| (f.severity, f.alert))
            .collect()
    }

    /// The named views keep the JSON shape docs/check.schema.json gives: arrays.
    #[test]
    fn named_views_are_written_as_the_schemas_arrays() {
        let newer = NewerBackup {
            backup_id: "b2".into(),
            status: BackupStatus::Unknown("paused".into()),
        };
        let url = UrlProbe {
            url_type: UrlType::Public,
            http_status: 403,
            reachable: false,
        };
        let ver = VerificationView {
            level: VerifyLevel::Light,
            result: Outcome::Truncated,
        };
        assert_eq!(
            serde_json::to_string(&(newer, url, ver)).unwrap(),
            r#"[["b2","paused"],["public",403,false],["light","truncated"]]"#
        );
    }

    #[test]
    fn a_corrupt_newest_warns_and_pages_only_when_nothing_older_restores_in_time() {
        let (snap, now) = one_instance(Outcome::Corrupt, 20);
        assert_eq!(
            findings(&snap, now),
            [
                (Severity::Warning, Some("CdsRedisBackupNewestUnusable")),
                (Severity::Warning, Some("CdsRedisBackupCorrupt")),
            ]
        );
        let (snap, now) = one_instance(Outcome::Corrupt, 30);
        assert_eq!(
            findings(&snap, now),
            [
                (Severity::Critical, Some("CdsRedisBackupNoRestorePoint")),
                (Severity::Warning, Some("CdsRedisBackupNewestUnusable")),
                (Severity::Warning, Some("CdsRedisBackupCorrupt")),
            ]
        );
        // Empty without an earlier backup known to hold keys: a warning, no alert.
        let (snap, now) = one_instance(Outcome::Empty, 30);
        assert_eq!(findings(&snap, now), [(Severity::Warning, None)]);
    }

    #[test]
    fn ages_and_sizes_read_like_people_write_them() {
        assert_eq!(human_age(93_784), "1d 2h");
        assert_eq!(human_age(7_260), "2h 1m");
        assert_eq!(human_age(300), "5m");
        assert_eq!(human_age(-5), "0s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn terminal_text_shows_control_characters_and_stops_at_the_width() {
        // OSC 52 (clipboard), OSC 0 (title), CSI 2J (clear), C1 CSI, DEL, tab, newline.
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{1b}]0;pwned\u{9c}\u{1b}[2J\u{9b}\u{7f}\t\n";
        assert_eq!(
            for_terminal(hostile, 200),
            "a\\u{1b}]52;c;ZXZpbA==\\u{7}b\\u{1b}]0;pwned\\u{9c}\\u{1b}[2J\\u{9b}\\u{7f}\\u{9}\\u{a}"
        );
        assert_eq!(
            for_terminal("x\u{202e}y\u{2066}", 50),
            "x\\u{202e}y\\u{2066}"
        );
        assert_eq!(for_terminal("名前-ok", 50), "名前-ok");
        assert_eq!(for_terminal("", 5), "");
        // Exactly the width fits; one more is cut, the ellipsis counted in the width.
        assert_eq!(for_terminal("abcde", 5), "abcde");
        assert_eq!(for_terminal("abcdef", 5), "abcd…");
        assert_eq!(for_terminal("名前名前名前", 5), "名前名前…");
        // An escape is never cut in half.
        assert_eq!(for_terminal("ab\u{1b}cdef", 8), "ab…");
        assert_eq!(for_terminal("ab\u{1b}", 8), "ab\\u{1b}");
        let long = "n".repeat(300_000);
        let shown = for_terminal(&long, CELL_CHARS);
        assert_eq!(shown.chars().count(), CELL_CHARS);
        assert!(shown.ends_with("n…"));
    }
}
