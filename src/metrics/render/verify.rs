//! The series of backup verification ([`crate::verify`]): per verified backup, its
//! result as a state set per level and what the dump says of itself; per shard, the
//! newest backup verified `ok`.

use super::{backup, shard, Writer};
use crate::metrics::catalog::{self as c, Family};
use crate::metrics::labels::*;
use crate::state::{BackupState, ShardKey, Snapshot};
use crate::verify::{Outcome, Verification};

/// A family of one sample per verification, and its value.
type PerLevel = (
    &'static Family<BackupLevelLabels<'static>>,
    fn(&Verification) -> Option<f64>,
);
/// A family of one sample per verified backup, and its value from a verification.
type PerBackup = (
    &'static Family<BackupLabels<'static>>,
    fn(&Verification) -> Option<i64>,
);

/// Each exported backup with its verifications.
fn verified(snap: &Snapshot) -> impl Iterator<Item = (&BackupState, &[Verification])> {
    snap.verifications
        .iter()
        .filter_map(|(k, vs)| Some((&**snap.backups.get(k)?, vs.as_slice())))
}

/// The verification that says most: a full one before a light one.
fn best(vs: &[Verification]) -> Option<&Verification> {
    vs.iter().max_by_key(|v| v.level)
}

pub(super) fn verification(w: &mut Writer<'_>, snap: &Snapshot) {
    for (instance_uuid, level) in &snap.verify_levels {
        let labels = InstanceLevelLabels {
            instance: InstanceLabels { instance_uuid },
            level: level.as_str(),
        };
        w.sample(&c::INSTANCE_VERIFY_LEVEL, &labels, 1i64);
    }
    let levels = || {
        verified(snap).flat_map(|(b, vs)| {
            vs.iter().map(move |v| {
                let labels = BackupLevelLabels {
                    backup: backup(b),
                    level: v.level.as_str(),
                };
                (labels, v)
            })
        })
    };
    for (level, v) in levels() {
        for o in Outcome::ALL {
            let labels = BackupResultLabels {
                level,
                result: o.as_str(),
            };
            w.sample(&c::VERIFY_RESULT, &labels, o == v.outcome);
        }
    }
    // One sample per verification, labelled with its level.
    let per_level: [PerLevel; 4] = [
        (&c::VERIFY_DOWNLOAD_STATUS_CODE, |v| {
            v.http_status.map(f64::from)
        }),
        (&c::VERIFY_TIMESTAMP_SECONDS, |v| Some(v.at as f64)),
        (&c::VERIFY_DURATION_SECONDS, |v| {
            Some(v.duration_ms as f64 / 1000.0)
        }),
        (&c::VERIFY_READ_BYTES, |v| Some(v.bytes as f64)),
    ];
    for (family, value) in per_level {
        for (labels, v) in levels() {
            if let Some(x) = value(v) {
                w.sample(family, &labels, x);
            }
        }
    }
    dump(w, snap);
}

/// What the dump says of itself, from its best verification.
fn dump(w: &mut Writer<'_>, snap: &Snapshot) {
    for (b, vs) in verified(snap) {
        let Some(v) = best(vs).filter(|v| v.rdb_version.is_some()) else {
            continue;
        };
        let version = v.rdb_version.map(|n| n.to_string()).unwrap_or_default();
        let labels = RdbInfoLabels {
            backup: backup(b),
            rdb_version: &version,
            redis_version: v.redis_version.as_deref().unwrap_or(""),
            format: v.format.map_or("", crate::rdb::Container::as_str),
        };
        w.sample(&c::RDB_INFO, &labels, 1i64);
    }
    let per_backup: [PerBackup; 3] = [
        (&c::RDB_SNAPSHOT_TIMESTAMP_SECONDS, |v| v.snapshot_time),
        (&c::RDB_KEYS, |v| v.keys.and_then(|k| i64::try_from(k).ok())),
        (&c::RDB_KEYS_WITH_EXPIRY, |v| {
            v.keys_with_expiry.and_then(|k| i64::try_from(k).ok())
        }),
    ];
    for (family, f) in per_backup {
        for (b, vs) in verified(snap) {
            // The last level that has the value: full before light.
            if let Some(n) = vs.iter().filter_map(f).next_back() {
                w.sample(family, &backup(b), n);
            }
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        last,
    ) in &snap.verified
    {
        w.sample(
            &c::LAST_VERIFIED_TIMESTAMP_SECONDS,
            &shard(instance, s),
            last.end,
        );
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        last,
    ) in &snap.verified
    {
        if let Some(k) = last.keys {
            w.sample(&c::LAST_VERIFIED_KEYS, &shard(instance, s), k);
        }
    }
}
