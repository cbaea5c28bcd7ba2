//! The policy engine's verdicts ([`crate::verdict`]) per shard: the restore point, the
//! deadline after which nothing restores within policy, and the findings that explain.
//! The alert rules read these and stay thin.

use super::{shard, Writer};
use crate::metrics::catalog as c;
use crate::metrics::labels::FindingLabels;
use crate::metrics::labels::RestorePointLabels;
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
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        v,
    ) in &verdicts
    {
        if let Some(r) = &v.restore_point {
            let labels = RestorePointLabels {
                shard: shard(instance, s),
                backup_id: &r.backup_id,
            };
            w.sample(
                &c::RESTORE_POINT_TIMESTAMP_SECONDS,
                &labels,
                r.point.timestamp(),
            );
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        v,
    ) in &verdicts
    {
        if let Some(d) = v.deadline {
            w.sample(
                &c::RESTORE_DEADLINE_TIMESTAMP_SECONDS,
                &shard(instance, s),
                d.timestamp(),
            );
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        v,
    ) in &verdicts
    {
        if v.restore_point.is_some() {
            w.sample(
                &c::RESTORE_ALLOWED_AGE_SECONDS,
                &shard(instance, s),
                v.allowed_age.as_secs(),
            );
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        v,
    ) in &verdicts
    {
        for f in v
            .findings
            .iter()
            .filter(|f| f.reason != Reason::NoRestorePoint)
        {
            let labels = FindingLabels {
                instance_uuid: instance,
                shard_id: Some(s),
                backup_id: f.backup_id.as_deref(),
                url_type: f.url_type,
                result: f.result,
                state: f.state,
                reason: f.reason.as_str(),
                severity: f.reason.severity().as_str(),
            };
            w.sample(&c::FINDING, &labels, 1i64);
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
        let labels = FindingLabels {
            instance_uuid: uuid,
            shard_id: None,
            backup_id: None,
            url_type: None,
            result: None,
            state: None,
            reason: f.reason.as_str(),
            severity: f.reason.severity().as_str(),
        };
        w.sample(&c::FINDING, &labels, 1i64);
    }
}
