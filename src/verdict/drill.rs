//! What restore drills ([`crate::drill`]) add to the verdict: a backup whose drill
//! failed (Redis refused it, loaded another key count than the dump holds, or a data
//! check failed) is not a restore point, and says so (`drill_failed`); an instance
//! `drill:` selects without a successful drill for `drill.warn_after` (since its last
//! one, else since it was first watched) is `drill_overdue`; a restore that used more
//! memory than the instance's `Ram` is `drill_memory`. Every finding is a warning:
//! the restore point moving back is what can page, through `no_restore_point`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{hours, Finding, Reason, ShardVerdict};
use crate::state::{ShardKey, Snapshot};

/// Why the drill of `backup_id` says it would not restore, if it does.
pub(super) fn unusable(snap: &Snapshot, uuid: &str, backup_id: &str) -> Option<String> {
    let r = &snap.drills.book.of(uuid, backup_id)?.result;
    r.outcome
        .is_failure()
        .then(|| format!("failed its restore drill ({})", r.outcome.as_str()))
}

/// The drill findings, added to the shards `out` holds already.
pub(super) fn findings(
    snap: &Snapshot,
    now: DateTime<Utc>,
    out: &mut BTreeMap<ShardKey, ShardVerdict>,
) {
    let book = &snap.drills.book;
    for (uuid, recs) in &book.backups {
        for rec in recs.values() {
            let r = &rec.result;
            let Some(v) = out.get_mut(&ShardKey::new(uuid.clone(), rec.shard_id.clone())) else {
                continue;
            };
            if r.outcome.is_failure() {
                let mut f = Finding::new(
                    Reason::DrillFailed,
                    format!(
                        "the restore drill of {} ended {}: {}",
                        rec.backup_id,
                        r.outcome.as_str(),
                        r.detail
                    ),
                );
                f.backup_id = Some(rec.backup_id.clone());
                f.result = Some(r.outcome.as_str());
                v.findings.push(f);
            }
        }
    }
    // Memory: the instance's newest drill that loaded.
    for (uuid, recs) in &book.backups {
        let newest = recs
            .values()
            .filter(|r| r.result.used_memory.is_some())
            .max_by_key(|r| r.result.at);
        let Some(rec) = newest else { continue };
        let (Some(used), Some(ram)) = (rec.result.used_memory, rec.result.instance_ram) else {
            continue;
        };
        if used <= ram {
            continue;
        }
        if let Some(v) = out.get_mut(&ShardKey::new(uuid.clone(), rec.shard_id.clone())) {
            let mut f = Finding::new(
                Reason::DrillMemory,
                format!(
                    "restoring {} used {} MiB, more than the instance's Ram of {} MiB",
                    rec.backup_id,
                    used >> 20,
                    ram >> 20
                ),
            );
            f.backup_id = Some(rec.backup_id.clone());
            v.findings.push(f);
        }
    }
    for (uuid, warn_after) in &snap.drills.drilled {
        let last_ok = book.last_ok.get(uuid);
        let since = last_ok
            .and_then(|l| DateTime::from_timestamp(l.at, 0))
            .or_else(|| snap.first_seen.get(uuid).copied());
        let Some(since) = since else { continue };
        let Ok(allowed) = chrono::Duration::from_std(*warn_after) else {
            continue;
        };
        if now - since <= allowed {
            continue;
        }
        let detail = match last_ok {
            Some(l) => format!(
                "no successful restore drill for longer than {} (drill.warn_after); the last restored {}",
                hours(*warn_after),
                l.backup_id
            ),
            None => format!(
                "no successful restore drill in {} of watching (drill.warn_after)",
                hours(*warn_after)
            ),
        };
        for (key, v) in out.range_mut(ShardKey::new(uuid.clone(), String::new())..) {
            let u = &key.instance_uuid;
            if u != uuid {
                break;
            }
            v.findings
                .push(Finding::new(Reason::DrillOverdue, detail.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::drilled::{DrillOutcome, DrillRecord, DrillResult};

    fn verdict() -> ShardVerdict {
        ShardVerdict {
            restore_point: None,
            allowed_age: Duration::from_secs(86_400),
            deadline: None,
            findings: Vec::new(),
        }
    }

    fn reasons(out: &BTreeMap<ShardKey, ShardVerdict>) -> Vec<Reason> {
        out.values()
            .flat_map(|v| v.findings.iter().map(|f| f.reason))
            .collect()
    }

    #[test]
    fn failed_drills_memory_and_overdue_are_findings() {
        let now = DateTime::from_timestamp(100 * 86_400, 0).unwrap();
        let mut snap = Snapshot::default();
        let rec = |id: &str, outcome, used, at| DrillRecord {
            instance_uuid: "i".into(),
            shard_id: "".into(),
            backup_id: id.into(),
            result: DrillResult {
                outcome,
                used_memory: used,
                instance_ram: Some(1 << 30),
                at,
                ..DrillResult::default()
            },
        };
        let t = now.timestamp();
        snap.drills
            .book
            .record(rec("b1", DrillOutcome::Ok, Some(2 << 30), t - 20 * 86_400));
        snap.drills
            .book
            .record(rec("b2", DrillOutcome::LoadFailed, None, t - 86_400));
        snap.drills
            .drilled
            .insert("i".into(), Duration::from_secs(14 * 86_400));
        let mut out = BTreeMap::from([(ShardKey::new("i", ""), verdict())]);
        findings(&snap, now, &mut out);
        assert_eq!(
            reasons(&out),
            vec![
                Reason::DrillFailed,
                Reason::DrillMemory,
                Reason::DrillOverdue
            ]
        );
        assert_eq!(
            unusable(&snap, "i", "b2").as_deref(),
            Some("failed its restore drill (load_failed)")
        );
        assert_eq!(unusable(&snap, "i", "b1"), None);
        // A recent success at the Ram: nothing.
        let mut snap2 = Snapshot::default();
        snap2
            .drills
            .book
            .record(rec("b3", DrillOutcome::Ok, Some(1 << 30), t - 86_400));
        snap2
            .drills
            .drilled
            .insert("i".into(), Duration::from_secs(14 * 86_400));
        let mut out = BTreeMap::from([(ShardKey::new("i", ""), verdict())]);
        findings(&snap2, now, &mut out);
        assert_eq!(reasons(&out), vec![]);
    }
}
