//! The policy engine's verdicts ([`crate::verdict`]) per shard: the restore point, the
//! deadline after which nothing restores within policy, and the findings that explain.
//! The alert rules read these and stay thin.

use super::Writer;
use crate::state::Snapshot;
use crate::verdict::Reason;

pub(super) fn verdicts(w: &mut Writer<'_>, snap: &Snapshot) {
    // The cycle's end is the verdict's "now": it only decides whether a never backed up
    // instance is still within its grace; the deadline itself is a fact-derived time.
    let now = snap
        .cycle
        .as_ref()
        .map_or_else(chrono::Utc::now, |c| c.ended);
    let verdicts = crate::verdict::judge(snap, now);
    w.family(
        "cds_redis_backup_restore_point_timestamp_seconds",
        "When the data of the shard's restore point was captured (the dump's ctime, bounded by EndTime; else EndTime), as Unix time: the newest finished backup not known to be gone or to fail verification. Absent when there is none.",
    );
    for ((instance, shard), v) in &verdicts {
        if let Some(r) = &v.restore_point {
            w.sample(
                &[
                    ("instance_uuid", instance),
                    ("shard_id", shard),
                    ("backup_id", &r.backup_id),
                ],
                r.point.timestamp(),
            );
        }
    }
    w.family(
        "cds_redis_backup_restore_deadline_timestamp_seconds",
        "Unix time after which the shard has no restore point within its allowed age: the restore point's time plus its allowed age; without one, the last finished backup's EndTime, or for a shard never backed up its instance's creation (else first seen) time plus the allowed age.",
    );
    for ((instance, shard), v) in &verdicts {
        if let Some(d) = v.deadline {
            w.sample(
                &[("instance_uuid", instance), ("shard_id", shard)],
                d.timestamp(),
            );
        }
    }
    w.family(
        "cds_redis_backup_finding",
        "A problem the policy engine found with the shard (reason: never_backed_up, newest_unusable, object_gone, old_snapshot), with its severity; always 1. No restore point is read from the deadline instead.",
    );
    for ((instance, shard), v) in &verdicts {
        for f in v
            .findings
            .iter()
            .filter(|f| f.reason != Reason::NoRestorePoint)
        {
            w.sample(
                &[
                    ("instance_uuid", instance),
                    ("shard_id", shard),
                    ("reason", f.reason.as_str()),
                    ("severity", f.reason.severity().as_str()),
                ],
                1i64,
            );
        }
    }
}
