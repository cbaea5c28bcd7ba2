//! An instance's restore drills as people read them: the last drill of each drilled
//! backup, newest first, with the result as a word and an icon, the measured times, and
//! the memory the restore took against the instance's `Ram`. Only what the drills
//! recorded ([`crate::drilled::Book`]); whether a result is a problem stays the policy
//! engine's call, shown with the findings.

use chrono::{DateTime, Utc};

use super::{human_bytes, Charset, Checked, Severity};
use crate::drilled::{DrillOutcome, DrillRecord};
use crate::state::Snapshot;

/// At most this many drills per instance page: the newest are what an operator asks about.
pub const SHOWN: usize = 10;

/// One drill of one backup.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillView {
    pub backup_id: String,
    pub shard_id: String,
    pub at: DateTime<Utc>,
    pub outcome: DrillOutcome,
    /// Redis' own line, or what went wrong; empty when there is nothing to add.
    pub detail: String,
    pub download_seconds: f64,
    pub load_seconds: f64,
    pub used_memory: Option<u64>,
    pub instance_ram: Option<u64>,
}

impl DrillView {
    fn of(r: &DrillRecord) -> Self {
        DrillView {
            backup_id: r.backup_id.clone(),
            shard_id: r.shard_id.clone(),
            at: DateTime::from_timestamp(r.result.at, 0).unwrap_or(DateTime::UNIX_EPOCH),
            outcome: r.result.outcome,
            detail: r.result.detail.clone(),
            download_seconds: r.result.download_seconds,
            load_seconds: r.result.load_seconds,
            used_memory: r.result.used_memory,
            instance_ram: r.result.instance_ram,
        }
    }

    /// The measured recovery time: the download and the load.
    pub fn recovery_seconds(&self) -> f64 {
        self.download_seconds + self.load_seconds
    }
}

/// The drills of `uuid` the snapshot holds, newest first, at most [`SHOWN`].
pub fn drills_of(snap: &Snapshot, uuid: &str) -> Vec<DrillView> {
    let Some(recs) = snap.drills.book.backups.get(uuid) else {
        return Vec::new();
    };
    let mut v: Vec<DrillView> = recs.values().map(DrillView::of).collect();
    v.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.backup_id.cmp(&b.backup_id)));
    v.truncate(SHOWN);
    v
}

/// The icon beside a drill's result word: the findings' marks, so a failed restore
/// reads like a problem and one that proved nothing (skipped, unsupported, too large,
/// not downloaded) like something not checked.
pub fn drill_icon(outcome: DrillOutcome, charset: Charset) -> &'static str {
    match outcome {
        DrillOutcome::Ok => super::icon(None, Checked::Full, charset),
        o if o.is_failure() => super::icon(Some(Severity::Critical), Checked::Full, charset),
        _ => super::icon(None, Checked::No, charset),
    }
}

/// `used_memory` against the instance's `Ram`: `1.5 MiB of 1.0 GiB (0.1%)`, and says
/// so when the restore would not fit an instance of the same size.
pub fn memory_text(used: Option<u64>, ram: Option<u64>) -> String {
    match (used, ram) {
        (None, _) => String::new(),
        (Some(u), None) => format!("{} (Ram unknown)", human_bytes(u)),
        (Some(u), Some(r)) if u > r => {
            format!("{} of {}: does not fit", human_bytes(u), human_bytes(r))
        }
        (Some(u), Some(r)) => format!(
            "{} of {} ({:.1}%)",
            human_bytes(u),
            human_bytes(r),
            u as f64 * 100.0 / r.max(1) as f64
        ),
    }
}

/// Seconds to a tenth, the measurement's honest precision for people.
pub fn seconds_text(s: f64) -> String {
    format!("{s:.1} s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drilled::DrillResult;

    #[test]
    fn memory_reads_against_ram_and_says_when_it_does_not_fit() {
        assert_eq!(
            memory_text(Some(3 << 20), Some(1 << 30)),
            "3.0 MiB of 1.0 GiB (0.3%)"
        );
        assert_eq!(
            memory_text(Some(2 << 30), Some(1 << 30)),
            "2.0 GiB of 1.0 GiB: does not fit"
        );
        assert_eq!(memory_text(Some(1536), None), "1.5 KiB (Ram unknown)");
        assert_eq!(memory_text(None, Some(1)), "");
        assert_eq!(seconds_text(1.25), "1.2 s");
    }

    #[test]
    fn an_instances_drills_come_newest_first_with_the_findings_icons() {
        let mut snap = Snapshot::default();
        for (id, at, outcome) in [
            ("b1", 100, DrillOutcome::Ok),
            ("b2", 300, DrillOutcome::LoadFailed),
            ("b3", 200, DrillOutcome::Skipped),
        ] {
            snap.drills.book.record(DrillRecord {
                instance_uuid: "u".into(),
                shard_id: "s".into(),
                backup_id: id.into(),
                result: DrillResult {
                    outcome,
                    at,
                    ..DrillResult::default()
                },
            });
        }
        let v = drills_of(&snap, "u");
        let order: Vec<_> = v.iter().map(|d| d.backup_id.as_str()).collect();
        assert_eq!(order, ["b2", "b3", "b1"]);
        assert!(drills_of(&snap, "other").is_empty());
        let icons: Vec<_> = v
            .iter()
            .map(|d| drill_icon(d.outcome, Charset::Ascii))
            .collect();
        assert_eq!(icons, ["X", "?", "+"]);
    }
}
