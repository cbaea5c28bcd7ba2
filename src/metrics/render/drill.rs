//! The series of restore drills ([`crate::drill`]): per drilled backup, its result as a
//! state set, the download, load and recovery seconds, the memory the restore used
//! next to the instance's `Ram`, and when it ran; per instance, when its last
//! successful drill ran and of which backup. Nothing is written while `drill:` is off.

use super::Writer;
use crate::drill::{DrillOutcome, DrillRecord};
use crate::state::Snapshot;

/// A per-drill family: name, help, and its value from a drill.
type Family = (&'static str, &'static str, fn(&DrillRecord) -> Option<f64>);

const FAMILIES: [Family; 7] = [
    (
        "cds_redis_backup_drill_download_seconds",
        "Seconds the restore drill took to download the backup whole.",
        |r| loaded(r).then_some(r.result.download_seconds),
    ),
    (
        "cds_redis_backup_drill_load_seconds",
        "Seconds the restore drill's redis-server took to start and load the dump.",
        |r| loaded(r).then_some(r.result.load_seconds),
    ),
    (
        "cds_redis_backup_drill_recovery_seconds",
        "Measured recovery time of the restore drill: download plus load seconds.",
        |r| loaded(r).then_some(r.result.recovery_seconds()),
    ),
    (
        "cds_redis_backup_drill_used_memory_bytes",
        "used_memory of the restore drill's redis-server after loading the dump.",
        |r| r.result.used_memory.map(|m| m as f64),
    ),
    (
        "cds_redis_backup_drill_instance_ram_bytes",
        "The instance's Ram (CDS) when the restore drill ran, to compare used_memory with.",
        |r| r.result.instance_ram.map(|m| m as f64),
    ),
    (
        "cds_redis_backup_drill_keys",
        "Keys the restore drill's redis-server loaded, all databases.",
        |r| r.result.keys_redis.map(|k| k as f64),
    ),
    (
        "cds_redis_backup_drill_timestamp_seconds",
        "When the restore drill of the backup ended, Unix seconds.",
        |r| Some(r.result.at as f64),
    ),
];

/// Whether the drill got as far as a server that loaded the dump.
fn loaded(r: &DrillRecord) -> bool {
    r.result.keys_redis.is_some()
}

pub(super) fn drills(w: &mut Writer<'_>, snap: &Snapshot) {
    let book = &snap.drills.book;
    let records = || book.backups.values().flat_map(|m| m.values());
    let labels = |r: &DrillRecord| {
        [
            ("instance_uuid", r.instance_uuid.clone()),
            ("backup_id", r.backup_id.clone()),
            ("shard_id", r.shard_id.clone()),
        ]
    };
    w.family("cds_redis_backup_drill_result", "Restore drill result set per drilled backup: 1 for the outcome (ok, load_failed, keys_mismatch, data_check_failed, too_large, unsupported, download_failed, skipped), 0 for the others.");
    for r in records() {
        let l = labels(r);
        for o in DrillOutcome::ALL {
            let with: Vec<(&str, &str)> = l
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .chain([("result", o.as_str())])
                .collect();
            w.sample(&with, o == r.result.outcome);
        }
    }
    for (name, help, value) in FAMILIES {
        w.family(name, help);
        for r in records() {
            if let Some(v) = value(r) {
                let l = labels(r);
                let with: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                w.sample(&with, v);
            }
        }
    }
    w.family(
        "cds_redis_backup_drill_last_success_timestamp_seconds",
        "When the instance's last successful restore drill ended, Unix seconds; backup_id is the backup it restored.",
    );
    for (uuid, l) in &book.last_ok {
        w.sample(
            &[("instance_uuid", uuid), ("backup_id", &l.backup_id)],
            l.at as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::drill::{DrillOutcome, DrillRecord, DrillResult};
    use crate::state::Snapshot;

    #[test]
    fn a_drill_renders_its_result_times_and_memory() {
        let mut snap = Snapshot::default();
        snap.drills.book.record(DrillRecord {
            instance_uuid: "i".into(),
            shard_id: "".into(),
            backup_id: "b".into(),
            result: DrillResult {
                outcome: DrillOutcome::Ok,
                download_seconds: 1.5,
                load_seconds: 0.25,
                keys_redis: Some(12),
                keys_verifier: Some(12),
                used_memory: Some(1_000_000),
                instance_ram: Some(1 << 30),
                at: 1_700_000_000,
                ..DrillResult::default()
            },
        });
        let text = super::super::render(&snap);
        for line in [
            "cds_redis_backup_drill_result{instance_uuid=\"i\",backup_id=\"b\",shard_id=\"\",result=\"ok\"} 1",
            "cds_redis_backup_drill_result{instance_uuid=\"i\",backup_id=\"b\",shard_id=\"\",result=\"load_failed\"} 0",
            "cds_redis_backup_drill_recovery_seconds{instance_uuid=\"i\",backup_id=\"b\",shard_id=\"\"} 1.75",
            "cds_redis_backup_drill_used_memory_bytes{instance_uuid=\"i\",backup_id=\"b\",shard_id=\"\"} 1000000",
            "cds_redis_backup_drill_instance_ram_bytes{instance_uuid=\"i\",backup_id=\"b\",shard_id=\"\"} 1073741824",
            "cds_redis_backup_drill_last_success_timestamp_seconds{instance_uuid=\"i\",backup_id=\"b\"} 1700000000",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        // Off: nothing.
        assert!(!super::super::render(&Snapshot::default()).contains("drill"));
    }
}
