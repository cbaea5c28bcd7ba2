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

    /// This book as JSON within `limit` bytes: the oldest drills of backups are left
    /// out until it fits (each instance's last run and last success always stay: they
    /// are the schedule and the overdue warning). Returns the JSON and how many drills
    /// were left out; `None` only if serialising fails.
    pub fn json_within(&self, limit: usize) -> Option<(String, usize)> {
        let whole = serde_json::to_string(self).ok()?;
        if whole.len() <= limit {
            return Some((whole, 0));
        }
        let mut oldest: Vec<(i64, &str, &str, usize)> = Vec::new();
        for (u, m) in &self.backups {
            for (id, r) in m {
                // The record and its key, quotes, colon and comma.
                let size = serde_json::to_vec(r).ok()?.len() + id.len() + 4;
                oldest.push((r.result.at, u, id, size));
            }
        }
        oldest.sort_unstable();
        let mut trimmed = self.clone();
        let mut excess = whole.len() - limit;
        let mut left_out = 0;
        for (_, u, id, size) in oldest {
            if let Some(m) = trimmed.backups.get_mut(u) {
                m.remove(id);
            }
            left_out += 1;
            excess = excess.saturating_sub(size);
            if excess == 0 {
                break;
            }
        }
        trimmed.backups.retain(|_, m| !m.is_empty());
        Some((serde_json::to_string(&trimmed).ok()?, left_out))
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

    #[test]
    fn the_oldest_drills_are_left_out_of_a_book_too_large_for_its_share() {
        let mut b = Book::default();
        for i in 0..10 {
            b.record(rec("i1", &format!("b{i}"), DrillOutcome::Ok, 100 + i));
        }
        b.record(rec("i2", "c", DrillOutcome::LoadFailed, 105));
        let (whole, 0) = b.json_within(usize::MAX).unwrap() else {
            panic!("left out below the limit");
        };
        let (json, left_out) = b.json_within(whole.len() - 1).unwrap();
        assert_eq!(left_out, 1);
        let back: Book = serde_json::from_str(&json).unwrap();
        assert!(back.of("i1", "b0").is_none() && back.of("i1", "b1").is_some());
        let (json, left_out) = b.json_within(whole.len() / 2).unwrap();
        assert!(json.len() <= whole.len() / 2, "{}", json.len());
        let back: Book = serde_json::from_str(&json).unwrap();
        assert_eq!(left_out, 6);
        // Oldest first, whichever instance: b0..b5 go, c (as old as b5) stays.
        assert_eq!(back.backups["i1"].len(), 4);
        assert!(back.of("i2", "c").is_some());
        assert_eq!((back.last_run, back.last_ok), (b.last_run, b.last_ok));
    }
}
