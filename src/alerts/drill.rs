//! What restore drills (`drill:`) found: a backup Redis would not restore, no
//! successful drill for too long, a restore larger than the instance. Warnings that
//! explain: a failed drill of the restore point moves it back, and what pages is
//! CdsRedisBackupNoRestorePoint (`restore.rs`) once nothing older is within its age.

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: r#"
        Restore drills (drill: in the exporter's config.yaml, off by default). The exporter
        restores backups into a throwaway redis-server on a schedule and serves per drilled
        backup its result (cds_redis_backup_drill_result), download and load seconds, their
        sum as the measured recovery time, used_memory after the load and the instance's
        Ram, and per instance its last successful drill. Its policy engine turns them into
        findings: drill_failed (a backup whose drill failed is no restore point), drill_memory
        and drill_overdue. The alerts below read those findings; none pages: the restore
        point moving back is what can, through CdsRedisBackupNoRestorePoint.
    "#,
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupDrillFailed",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding drill_failed: a backup's restore drill ended load_failed, keys_mismatch or data_check_failed"#,
        comment: r#"
            A redis-server refused the backup (load_failed, with Redis' own error line on the
            status page and in the exporter's log), loaded another key count than the
            verifier read in the dump (keys_mismatch), or a data check of drill.rules failed
            (data_check_failed). A restore from it fails or is not what was stored, so it is
            no restore point: the exporter's restore point moves back to the newest older
            backup that would restore, and CdsRedisBackupNoRestorePoint pages when none is
            within its allowed age. too_large, unsupported, download_failed and skipped prove
            nothing either way and raise no finding. One alert per failed backup, with its
            backup_id and result."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="drill_failed"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"CDS Redis backup {{ $labels.backup_id }} of "#,
            shard!(),
            r#" failed its restore drill ({{ $labels.result }})"#
        ),
        description: concat!(
            r#"
            The restore drill of backup {{ $labels.backup_id }} of Redis instance "#,
            shard!(),
            r#"
            ended {{ $labels.result }}: {{ if eq $labels.result "load_failed" }}redis-server refused to load it{{ else if eq $labels.result "keys_mismatch" }}redis-server loaded another number of keys than the dump holds{{ else }}a data check of drill.rules failed after the load{{ end }}.
            The status page and the exporter's log carry the detail. The backup is no restore point.
            {{ with printf "max by (backup_id) (cds_redis_backup_restore_point_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ with . | first }}The restore point is backup {{ label "backup_id" . }}, with data of {{ value . | humanizeTimestamp }}.{{ end }}{{ else }}No backup of it restores now: CdsRedisBackupNoRestorePoint pages once its deadline passes.{{ end }}"#
        ),
    },
    Alert {
        name: "CdsRedisBackupDrillOverdue",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding drill_overdue: no successful restore drill of a drilled instance within drill.warn_after (14d as shipped)"#,
        comment: r#"
            drill: selects the instance, and no drill of it has passed for drill.warn_after
            (since its last success, else since the exporter first watched it): nobody has
            proven lately that its backups restore, or how long a restore takes. Drills that
            keep failing (CdsRedisBackupDrillFailed), never run (disk budget, daily budget:
            result skipped), time out, or meet backups larger than drill.max_size
            (too_large) all end here. Per instance: the finding is on each shard of a
            cluster, the shard is aggregated away."#,
        expr: r#"
            max without (instance, pod, reason, severity, shard_id) (cds_redis_backup_finding:held5m{reason="drill_overdue"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"No successful restore drill of CDS Redis instance "#,
            shard!(),
            r#" within drill.warn_after"#
        ),
        description: concat!(
            r#"
            Redis instance "#,
            shard!(),
            r#"
            is selected for restore drills, and none has passed within drill.warn_after.
            {{ with printf "max by (backup_id) (cds_redis_backup_drill_last_success_timestamp_seconds{instance_uuid=%q})" $labels.instance_uuid | query }}{{ with . | first }}The last successful drill restored backup {{ label "backup_id" . }} and ended {{ value . | humanizeTimestamp }}.{{ end }}{{ else }}No drill of it has passed since the exporter watches it.{{ end }}
            The status page shows its drills' results."#
        ),
    },
    Alert {
        name: "CdsRedisBackupDrillMemory",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding drill_memory: the newest drill that loaded used more memory (used_memory) than the instance's Ram"#,
        comment: r#"
            The instance's newest restore drill that loaded its backup reported a used_memory
            above the instance's Ram (CDS): a restore into an instance of the same size would
            run out of memory (maxmemory, or OOM). The data set grew past its plan, or
            memory fragments on load differently; the backup itself is sound."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="drill_memory"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"Restoring CDS Redis backup {{ $labels.backup_id }} of "#,
            shard!(),
            r#" needs more memory than the instance has"#
        ),
        description: concat!(
            r#"
            The restore drill of backup {{ $labels.backup_id }} of Redis instance "#,
            shard!(),
            r#"
            used {{ with printf "max(cds_redis_backup_drill_used_memory_bytes{instance_uuid=%q,backup_id=%q})" $labels.instance_uuid $labels.backup_id | query }}{{ . | first | value | humanize1024 }}B{{ else }}more{{ end }}
            after the load, more than the instance's Ram{{ with printf "max(cds_redis_backup_drill_instance_ram_bytes{instance_uuid=%q,backup_id=%q})" $labels.instance_uuid $labels.backup_id | query }} of {{ . | first | value | humanize1024 }}B{{ end }}:
            a restore into an instance of the same size would run out of memory. Restore into a larger instance, or resize this one."#
        ),
    },
];
