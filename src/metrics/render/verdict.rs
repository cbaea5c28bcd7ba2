//! The policy engine's verdicts ([`crate::verdict`]) per shard: the restore point, the
//! deadline after which nothing restores within policy, and the findings that explain.
//! The alert rules read these and stay thin.

use super::Writer;
use crate::state::{ShardKey, Snapshot};
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
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        v,
    ) in &verdicts
    {
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
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        v,
    ) in &verdicts
    {
        if let Some(d) = v.deadline {
            w.sample(
                &[("instance_uuid", instance), ("shard_id", shard)],
                d.timestamp(),
            );
        }
    }
    w.family(
        "cds_redis_backup_restore_allowed_age_seconds",
        "How old the shard's restore point may get (the first matching staleness rule, else the schedule learned from its backups, from the restore point on, else 26 h): the deadline is the restore point's time plus this. Absent when there is no restore point.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        v,
    ) in &verdicts
    {
        if v.restore_point.is_some() {
            w.sample(
                &[("instance_uuid", instance), ("shard_id", shard)],
                v.allowed_age.as_secs(),
            );
        }
    }
    w.family(
        "cds_redis_backup_finding",
        "A problem the policy engine found, with its reason and severity (the table in docs/runbook.md); always 1. Per shard, with backup_id, url_type or result where it is about one backup, one download URL type or one verification result; instance_blind, account_blind and vanished per instance, without shard_id. No restore point is read from the deadline instead.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        v,
    ) in &verdicts
    {
        for f in v
            .findings
            .iter()
            .filter(|f| f.reason != Reason::NoRestorePoint)
        {
            let mut labels = vec![("instance_uuid", instance.as_str()), ("shard_id", shard)];
            if let Some(id) = &f.backup_id {
                labels.push(("backup_id", id));
            }
            if let Some(t) = f.url_type {
                labels.push(("url_type", t));
            }
            if let Some(r) = f.result {
                labels.push(("result", r));
            }
            if let Some(st) = f.state {
                labels.push(("state", st));
            }
            labels.push(("reason", f.reason.as_str()));
            labels.push(("severity", f.reason.severity().as_str()));
            w.sample(&labels, 1i64);
        }
    }
    let instance_level = snap
        .instances
        .iter()
        .flat_map(|(uuid, (account, _))| {
            crate::verdict::instance_findings(snap, uuid, account)
                .into_iter()
                .map(move |f| (uuid, f))
        })
        .chain(snap.vanished.keys().filter_map(|uuid| {
            crate::verdict::vanished_finding(snap, uuid, now).map(|f| (uuid, f))
        }));
    for (uuid, f) in instance_level {
        w.sample(
            &[
                ("instance_uuid", uuid.as_str()),
                ("reason", f.reason.as_str()),
                ("severity", f.reason.severity().as_str()),
            ],
            1i64,
        );
    }
}
