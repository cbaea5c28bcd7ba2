//! What drills found, kept in the state file next to verification's results: the
//! last drill of each backup, and per instance the last successful one. Backups and
//! instances no longer watched are forgotten with the snapshot's keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DrillOutcome, DrillResult};

/// The last drill of one backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillRecord {
    pub instance_uuid: String,
    pub shard_id: String,
    pub backup_id: String,
    pub result: DrillResult,
}

/// The last successful drill of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDrilled {
    pub backup_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// Every drill result the exporter keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// (instance_uuid, backup_id) → its last drill
    #[serde(default)]
    pub backups: BTreeMap<String, BTreeMap<String, DrillRecord>>,
    /// instance_uuid → its last successful drill
    #[serde(default)]
    pub last_ok: BTreeMap<String, LastDrilled>,
    /// instance_uuid → when its last drill of any result ran (the schedule's memory)
    #[serde(default)]
    pub last_run: BTreeMap<String, i64>,
}

impl Book {
    pub fn record(&mut self, rec: DrillRecord) {
        let uuid = rec.instance_uuid.clone();
        self.last_run.insert(uuid.clone(), rec.result.at);
        if rec.result.outcome == DrillOutcome::Ok {
            self.last_ok.insert(
                uuid.clone(),
                LastDrilled {
                    backup_id: rec.backup_id.clone(),
                    at: rec.result.at,
                },
            );
        }
        self.backups
            .entry(uuid)
            .or_default()
            .insert(rec.backup_id.clone(), rec);
    }

    /// The last drill of a backup.
    pub fn of(&self, uuid: &str, backup_id: &str) -> Option<&DrillRecord> {
        self.backups.get(uuid)?.get(backup_id)
    }

    /// Forgets instances not `watched` and backups `listed` no longer holds.
    pub fn retain(&mut self, watched: impl Fn(&str) -> bool, listed: impl Fn(&str, &str) -> bool) {
        self.backups.retain(|u, _| watched(u));
        for (u, m) in &mut self.backups {
            m.retain(|b, _| listed(u, b));
        }
        self.backups.retain(|_, m| !m.is_empty());
        self.last_ok.retain(|u, _| watched(u));
        self.last_run.retain(|u, _| watched(u));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(uuid: &str, backup: &str, outcome: DrillOutcome, at: i64) -> DrillRecord {
        DrillRecord {
            instance_uuid: uuid.into(),
            shard_id: "s".into(),
            backup_id: backup.into(),
            result: DrillResult {
                outcome,
                at,
                ..DrillResult::default()
            },
        }
    }

    #[test]
    fn the_last_success_survives_a_later_failure_and_the_round_trip() {
        let mut b = Book::default();
        b.record(rec("i1", "b1", DrillOutcome::Ok, 100));
        b.record(rec("i1", "b2", DrillOutcome::LoadFailed, 200));
        assert_eq!(
            b.last_ok["i1"],
            LastDrilled {
                backup_id: "b1".into(),
                at: 100
            }
        );
        assert_eq!(b.last_run["i1"], 200);
        let back: Book = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
        b.retain(|u| u == "i1", |_, id| id == "b2");
        assert!(b.of("i1", "b1").is_none());
        assert_eq!(
            b.of("i1", "b2").map(|r| r.result.outcome),
            Some(DrillOutcome::LoadFailed)
        );
        b.retain(|_| false, |_, _| true);
        assert_eq!(b, Book::default());
    }
}
