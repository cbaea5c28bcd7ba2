//! The series of backup verification ([`crate::verify`]): per verified backup, its
//! result as a state set per level and what the dump says of itself; per shard, the
//! newest backup verified `ok`.

use super::Writer;
use crate::rdb::Container;
use crate::state::{BackupState, ShardKey, Snapshot};
use crate::verify::{Outcome, Verification};

/// A per-backup family: name, help, and its value from a verification.
type Family = (&'static str, &'static str, fn(&Verification) -> Option<i64>);

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
    w.family(
        "cds_redis_instance_verify_level",
        "The verification level verify: gives the instance (off, light, full); always 1.",
    );
    for (uuid, level) in &snap.verify_levels {
        w.sample(&[("instance_uuid", uuid), ("level", level.as_str())], 1i64);
    }
    // One sample per verification, labelled with its level.
    let per = |w: &mut Writer<'_>, f: &dyn Fn(&Verification) -> Option<f64>| {
        for (b, vs) in verified(snap) {
            for v in vs {
                if let Some(value) = f(v) {
                    let labels = [
                        ("instance_uuid", b.instance_uuid.as_str()),
                        ("backup_id", b.backup.id.as_str()),
                        ("shard_id", b.shard_id.as_str()),
                        ("level", v.level.as_str()),
                    ];
                    w.sample(&labels, value);
                }
            }
        }
    };
    w.family("cds_redis_backup_verify_result", "Backup verification result set per level: 1 for the outcome (ok, empty, truncated, checksum_mismatch, corrupt, not_rdb, unsupported_version, download_failed, too_large, skipped), 0 for the others.");
    for (b, vs) in verified(snap) {
        for v in vs {
            for o in Outcome::ALL {
                let labels = [
                    ("instance_uuid", b.instance_uuid.as_str()),
                    ("backup_id", b.backup.id.as_str()),
                    ("shard_id", b.shard_id.as_str()),
                    ("level", v.level.as_str()),
                    ("result", o.as_str()),
                ];
                w.sample(&labels, o == v.outcome);
            }
        }
    }
    w.family(
        "cds_redis_backup_verify_download_status_code",
        "HTTP status of a verification download that failed with an HTTP answer.",
    );
    per(w, &|v| v.http_status.map(f64::from));
    w.family(
        "cds_redis_backup_verify_timestamp_seconds",
        "When the backup was last verified at this level, as Unix time.",
    );
    per(w, &|v| Some(v.at as f64));
    w.family(
        "cds_redis_backup_verify_duration_seconds",
        "How long the verification took.",
    );
    per(w, &|v| Some(v.duration_ms as f64 / 1000.0));
    w.family(
        "cds_redis_backup_verify_read_bytes",
        "Bytes the verification downloaded.",
    );
    per(w, &|v| Some(v.bytes as f64));
    dump(w, snap);
}

/// What the dump says of itself, from its best verification.
fn dump(w: &mut Writer<'_>, snap: &Snapshot) {
    w.family(
        "cds_redis_backup_rdb_info",
        "What the dump says of itself: RDB version, the redis-ver AUX field and the container (rdb, gzip, tar, tar.gz); always 1.",
    );
    for (b, vs) in verified(snap) {
        let Some(v) = best(vs).filter(|v| v.rdb_version.is_some()) else {
            continue;
        };
        let version = v.rdb_version.map(|n| n.to_string()).unwrap_or_default();
        let labels = [
            ("instance_uuid", b.instance_uuid.as_str()),
            ("backup_id", b.backup.id.as_str()),
            ("shard_id", b.shard_id.as_str()),
            ("rdb_version", version.as_str()),
            ("redis_version", v.redis_version.as_deref().unwrap_or("")),
            ("format", v.format.map_or("", Container::as_str)),
        ];
        w.sample(&labels, 1i64);
    }
    let families: [Family; 3] = [
        (
            "cds_redis_backup_rdb_snapshot_timestamp_seconds",
            "The dump's ctime AUX field: when its data was captured, as Unix time.",
            |v| v.snapshot_time,
        ),
        (
            "cds_redis_backup_rdb_keys",
            "Keys in the dump, all databases: counted when the whole dump was read, else (light) the RESIZEDB hint of the dump's head.",
            |v| v.keys.and_then(|k| i64::try_from(k).ok()),
        ),
        (
            "cds_redis_backup_rdb_keys_with_expiry",
            "Keys in the dump that carry an expiry time.",
            |v| v.keys_with_expiry.and_then(|k| i64::try_from(k).ok()),
        ),
    ];
    for (name, help, f) in families {
        w.family(name, help);
        for (b, vs) in verified(snap) {
            // The last level that has the value: full before light.
            if let Some(n) = vs.iter().filter_map(f).next_back() {
                let labels = [
                    ("instance_uuid", b.instance_uuid.as_str()),
                    ("backup_id", b.backup.id.as_str()),
                    ("shard_id", b.shard_id.as_str()),
                ];
                w.sample(&labels, n);
            }
        }
    }
    w.family(
        "cds_redis_backup_last_verified_timestamp_seconds",
        "EndTime of the shard's newest backup verified ok, as Unix time.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        last,
    ) in &snap.verified
    {
        w.sample(
            &[("instance_uuid", instance), ("shard_id", shard)],
            last.end,
        );
    }
    w.family(
        "cds_redis_backup_last_verified_keys",
        "Keys in the shard's newest backup verified ok: counted, or (light) the RESIZEDB hint of its head.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        last,
    ) in &snap.verified
    {
        if let Some(k) = last.keys {
            w.sample(&[("instance_uuid", instance), ("shard_id", shard)], k);
        }
    }
}
