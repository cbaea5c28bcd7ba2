//! The series of restore drills ([`crate::drill`]): per drilled backup, its result as a
//! state set, the download, load and recovery seconds, the memory the restore used
//! next to the instance's `Ram`, and when it ran; per instance, when its last
//! successful drill ran and of which backup. Nothing is written while `drill:` is off.

use super::Writer;
use crate::drilled::{DrillOutcome, DrillRecord};
use crate::metrics::catalog::{self as c, Family};
use crate::metrics::labels::{BackupLabels, DrillResultLabels, DrillSuccessLabels, InstanceLabels};
use crate::state::Snapshot;

/// A per-drill family and its value from a drill.
type PerDrill = (
    &'static Family<BackupLabels<'static>>,
    fn(&DrillRecord) -> Option<f64>,
);

const FAMILIES: [PerDrill; 7] = [
    (&c::DRILL_DOWNLOAD_SECONDS, |r| {
        loaded(r).then_some(r.result.download_seconds)
    }),
    (&c::DRILL_LOAD_SECONDS, |r| {
        loaded(r).then_some(r.result.load_seconds)
    }),
    (&c::DRILL_RECOVERY_SECONDS, |r| {
        loaded(r).then_some(r.result.recovery_seconds())
    }),
    (&c::DRILL_USED_MEMORY_BYTES, |r| {
        r.result.used_memory.map(|m| m as f64)
    }),
    (&c::DRILL_INSTANCE_RAM_BYTES, |r| {
        r.result.instance_ram.map(|m| m as f64)
    }),
    (&c::DRILL_KEYS, |r| r.result.keys_redis.map(|k| k as f64)),
    (&c::DRILL_TIMESTAMP_SECONDS, |r| Some(r.result.at as f64)),
];

/// Whether the drill got as far as a server that loaded the dump.
fn loaded(r: &DrillRecord) -> bool {
    r.result.keys_redis.is_some()
}

fn labels(r: &DrillRecord) -> BackupLabels<'_> {
    BackupLabels {
        instance_uuid: &r.instance_uuid,
        backup_id: &r.backup_id,
        shard_id: &r.shard_id,
    }
}

pub(super) fn drills(w: &mut Writer<'_>, snap: &Snapshot) {
    let book = &snap.drills.book;
    let records = || book.backups.values().flat_map(|m| m.values());
    for r in records() {
        for o in DrillOutcome::ALL {
            let l = DrillResultLabels {
                backup: labels(r),
                result: o.as_str(),
            };
            w.sample(&c::DRILL_RESULT, &l, o == r.result.outcome);
        }
    }
    for (family, value) in FAMILIES {
        for r in records() {
            if let Some(v) = value(r) {
                w.sample(family, &labels(r), v);
            }
        }
    }
    for (uuid, l) in &book.last_ok {
        let labels = DrillSuccessLabels {
            instance: InstanceLabels {
                instance_uuid: uuid,
            },
            backup_id: &l.backup_id,
        };
        w.sample(
            &c::DRILL_LAST_SUCCESS_TIMESTAMP_SECONDS,
            &labels,
            l.at as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::drilled::{DrillOutcome, DrillRecord, DrillResult};
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
