//! What `check` and the status page are given of the fleet: views made of text and
//! numbers only (serialised as `check --output json`), built by [`super::fleet`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::DrillView;

use crate::cds::{BackupStatus, UrlType};
use crate::config::VerifyLevel;
use crate::verification::Outcome;

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
