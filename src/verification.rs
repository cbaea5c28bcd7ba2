//! What verification found, as plain data (serde, no I/O): the [`Outcome`] of one check,
//! the [`Verification`] of one backup, and a shard's [`LastVerified`] backup. The
//! verifier ([`crate::verify`]) produces them, the snapshot ([`crate::state`]) carries
//! them, the state file keeps them, and the policy engine and the renderers read them;
//! they sit below all of those so that none of them needs the verifier.

use serde::{Deserialize, Serialize};

use crate::config::VerifyLevel;
use crate::rdb::Container;

/// The outcome of one verification; `as_str` is the `result` label, stable across
/// releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A sound dump with keys.
    Ok,
    /// A sound dump without a single key.
    Empty,
    /// A sound dump with keys in a database past the 16 of a default `redis-server`,
    /// which refuses to load it: it restores only where `databases` is set higher.
    NeedsDatabases,
    /// The dump ends before its end marker.
    Truncated,
    ChecksumMismatch,
    Corrupt,
    /// Not a Redis dump (an HTML page, an empty archive).
    NotRdb,
    /// A newer RDB version than this exporter reads.
    UnsupportedVersion,
    /// The download failed (the HTTP status, when there was one, is kept).
    DownloadFailed,
    /// Larger than `verify.max_size`: not downloaded whole.
    TooLarge,
    /// Not tried: no download URL, or the daily budget is spent.
    #[default]
    Skipped,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Outcome::Ok,
        Outcome::Empty,
        Outcome::NeedsDatabases,
        Outcome::Truncated,
        Outcome::ChecksumMismatch,
        Outcome::Corrupt,
        Outcome::NotRdb,
        Outcome::UnsupportedVersion,
        Outcome::DownloadFailed,
        Outcome::TooLarge,
        Outcome::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Empty => "empty",
            Outcome::NeedsDatabases => "needs_databases",
            Outcome::Truncated => "truncated",
            Outcome::ChecksumMismatch => "checksum_mismatch",
            Outcome::Corrupt => "corrupt",
            Outcome::NotRdb => "not_rdb",
            Outcome::UnsupportedVersion => "unsupported_version",
            Outcome::DownloadFailed => "download_failed",
            Outcome::TooLarge => "too_large",
            Outcome::Skipped => "skipped",
        }
    }

    /// Whether it is a verdict on the backup itself, kept for good.
    pub fn is_final(self) -> bool {
        !matches!(self, Outcome::DownloadFailed | Outcome::Skipped)
    }
}

/// What one verification of one backup found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub level: VerifyLevel,
    pub outcome: Outcome,
    /// The HTTP status of a failed download.
    pub http_status: Option<u16>,
    /// What went wrong, in words (never a URL).
    pub detail: String,
    /// How the dump was packaged; `None` when the download failed before its head.
    pub format: Option<Container>,
    pub rdb_version: Option<u32>,
    /// The `redis-ver` AUX field.
    pub redis_version: Option<String>,
    /// The `ctime` AUX field: when the data was captured, Unix seconds.
    pub snapshot_time: Option<i64>,
    /// Keys counted, when the whole dump was read; else, at `light`, the key count the
    /// `RESIZEDB` opcodes in the dump's head declare (`keys_hint`).
    pub keys: Option<u64>,
    pub keys_with_expiry: Option<u64>,
    /// `keys` is the head's hint ([`crate::rdb::KeyHint`]), not a count of the whole dump.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keys_hint: bool,
    pub bytes: u64,
    pub duration_ms: u64,
    /// When it ended, Unix seconds.
    pub at: i64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The newest backup of a shard verified `ok`: what a restore drill would start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerified {
    pub backup_id: String,
    /// Its EndTime, Unix seconds.
    pub end: i64,
    /// Keys counted, when the check read the whole dump; else the `RESIZEDB` hint of
    /// a light check (`keys_hint`).
    pub keys: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keys_hint: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state file holds the same words as when `format` was a string, so files
    /// written before it was typed read back.
    #[test]
    fn format_is_written_as_the_label_word() {
        for c in [
            Container::Raw,
            Container::Gzip,
            Container::Tar,
            Container::TarGz,
        ] {
            let v = Verification {
                format: Some(c),
                ..Verification::default()
            };
            let json = serde_json::to_string(&v).unwrap();
            assert!(
                json.contains(&format!("\"format\":\"{}\"", c.as_str())),
                "{json}"
            );
            let back: Verification = serde_json::from_str(&json).unwrap();
            assert_eq!(back.format, Some(c));
        }
        let none: Verification =
            serde_json::from_str(r#"{"level":"light","outcome":"skipped","http_status":null,"detail":"","format":null,"rdb_version":null,"redis_version":null,"snapshot_time":null,"keys":null,"keys_with_expiry":null,"bytes":0,"duration_ms":0,"at":0}"#).unwrap();
        assert_eq!(none.format, None);
    }
}
