//! What a drill reports: its outcome (the `result` label) and the measurements that
//! go with it, kept in the state file.

use serde::{Deserialize, Serialize};

/// The `result` of a drill; `as_str` is the label value, stable across releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillOutcome {
    Ok,
    /// Redis refused the dump (its own line is the detail).
    LoadFailed,
    /// Redis loaded another number of keys than the verifier counted.
    KeysMismatch,
    DataCheckFailed,
    TooLarge,
    /// The dump is newer than this redis-server reads: not broken, not proven.
    Unsupported,
    DownloadFailed,
    /// Not tried: the daily budget, or the scratch disk.
    #[default]
    Skipped,
}

impl DrillOutcome {
    pub const ALL: [DrillOutcome; 8] = [
        DrillOutcome::Ok,
        DrillOutcome::LoadFailed,
        DrillOutcome::KeysMismatch,
        DrillOutcome::DataCheckFailed,
        DrillOutcome::TooLarge,
        DrillOutcome::Unsupported,
        DrillOutcome::DownloadFailed,
        DrillOutcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DrillOutcome::Ok => "ok",
            DrillOutcome::LoadFailed => "load_failed",
            DrillOutcome::KeysMismatch => "keys_mismatch",
            DrillOutcome::DataCheckFailed => "data_check_failed",
            DrillOutcome::TooLarge => "too_large",
            DrillOutcome::Unsupported => "unsupported",
            DrillOutcome::DownloadFailed => "download_failed",
            DrillOutcome::Skipped => "skipped",
        }
    }

    /// Whether it says the backup would not restore (what moves the restore point).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DrillOutcome::LoadFailed | DrillOutcome::KeysMismatch | DrillOutcome::DataCheckFailed
        )
    }
}

/// What one drill of one backup found. Fields added later default when a state file
/// lacks them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillResult {
    pub outcome: DrillOutcome,
    /// What went wrong, in words: Redis' own line for `load_failed`/`unsupported`.
    pub detail: String,
    pub download_seconds: f64,
    pub load_seconds: f64,
    /// Keys the verifier counted / Redis loaded (all databases).
    pub keys_verifier: Option<u64>,
    /// Of the verifier's keys, those with an expiry: Redis drops the ones already
    /// expired when it loads, so they may be missing without a mismatch.
    pub keys_with_expiry: Option<u64>,
    pub keys_redis: Option<u64>,
    /// `used_memory` after the load.
    pub used_memory: Option<u64>,
    /// The instance's `Ram`, bytes, when CDS gave it.
    pub instance_ram: Option<u64>,
    pub rdb_version: Option<u32>,
    pub bytes: u64,
    /// When it ended, Unix seconds.
    pub at: i64,
}

impl DrillResult {
    /// The measured recovery time: the download and the load.
    pub fn recovery_seconds(&self) -> f64 {
        self.download_seconds + self.load_seconds
    }

    pub fn with(outcome: DrillOutcome, detail: impl Into<String>) -> Self {
        DrillResult {
            outcome,
            detail: detail.into(),
            ..DrillResult::default()
        }
    }
}
