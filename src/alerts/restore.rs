//! The restore point: is there a backup a restore could use, within the shard's allowed
//! age? The exporter's policy engine ([`crate::verdict`]) decides; these rules read its
//! series and stay thin.

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupNoRestorePoint",
        severity: Severity::Critical,
        window: "-",
        for_: "10m",
        keep_firing_for: "10m",
        condition: r#"time() past the shard's restore deadline (cds_redis_backup_restore_deadline_timestamp_seconds), so no backup would restore within its allowed age"#,
        comment: r#"
            The page of the policy: the shard (the instance, outside clusters) has no restore
            point within its allowed age. The exporter computes the deadline from facts only:
            the restore point (the newest finished backup not known to be gone or to fail
            verification) captured at its dump's ctime, else its EndTime, plus its allowed
            age (a `staleness:` rule, else the learned schedule, else 26h); with no restore
            point, the last finished backup's EndTime (due now); never backed up, the
            instance's CreatedTime (else first seen) plus the allowed age. It covers stale,
            purged, gone (404), corrupt or empty with nothing older, old snapshots and never
            backed up. The value is how long ago the deadline passed; `for:` is the
            anti-flapping delay. The deadline is held over a failed scrape (the record
            above), and once firing the page stays firing 10 minutes after its condition
            ends (keep_firing_for): a page that resolves and pages again is a second
            notification, a page that resolves 10 minutes late costs nothing."#,
        expr: r#"
            (
                time() - max without (instance, pod) (cds_redis_backup_restore_deadline_timestamp_seconds:held5m) > 0
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"No CDS Redis backup of "#,
            shard!(),
            r#" would restore within its allowed age"#
        ),
        description: concat!(
            r#"
            Redis instance "#,
            shard!(),
            r#"
            has had no restore point within its allowed age for {{ $value | humanizeDuration }}.
            {{ with printf "max by (backup_id) (cds_redis_backup_restore_point_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ with . | first }}Its restore point is backup {{ label "backup_id" . }}, with data of {{ value . | humanizeTimestamp }}: a restore now loses every write made since.{{ end }}{{ else }}There is no restore point: no finished backup is listed that would restore (purged, gone, failing verification, or never backed up).{{ end }}
            The status page names the cause."#
        ),
    },
    Alert {
        name: "CdsRedisBackupNeverBackedUp",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding never_backed_up: no finished backup yet, within the new instance's grace"#,
        comment: r#"
            A new instance gets its first automatic backup in its first backup window: until
            its allowed age has passed since its CreatedTime (else since first seen) this
            warns; afterwards the finding ends and CdsRedisBackupNoRestorePoint pages."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="never_backed_up"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(r#"CDS Redis instance "#, shard!(), r#" has no backup yet"#),
        description: concat!(
            r#"
            Redis instance "#,
            shard!(),
            r#"
            has no finished backup yet; there is nothing to restore from.{{ with printf "max(cds_redis_backup_restore_deadline_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            Unless one finishes by {{ . | first | value | humanizeTimestamp }}, CdsRedisBackupNoRestorePoint pages.{{ end }}"#
        ),
    },
    Alert {
        name: "CdsRedisBackupNewestUnusable",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding newest_unusable: the newest finished backup is gone or fails verification"#,
        comment: r#"
            The newest finished backup would not restore (its object answers 404, or its
            verification found it truncated, corrupt, not a dump, or empty after keys), so
            the restore point is an older backup, or there is none. A warning: while the
            older one is within its allowed age nothing is lost yet, and
            CdsRedisBackupNoRestorePoint pages when it is not."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="newest_unusable"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"Newest CDS Redis backup of "#,
            shard!(),
            r#" would not restore"#
        ),
        description: concat!(
            r#"
            The newest finished backup of Redis instance "#,
            shard!(),
            r#"
            would not restore (gone, or failing verification: see CdsRedisBackupCorrupt,
            CdsRedisBackupEmpty, CdsRedisBackupDownloadUnreachable and the status page).
            {{ with printf "max by (backup_id) (cds_redis_backup_restore_point_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ with . | first }}The restore point is the older backup {{ label "backup_id" . }}, with data of {{ value . | humanizeTimestamp }}.{{ end }}{{ else }}No older backup restores.{{ end }}"#
        ),
    },
    Alert {
        name: "CdsRedisBackupOldSnapshot",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding old_snapshot: the restore point's dump was captured long before its backup ran"#,
        comment: r#"
            The restore point's RDB ctime is more than 1h before its StartTime (2h before its
            EndTime without one): an old dump.rdb copied into a new backup, typically when
            the node's BGSAVE keeps failing. The deadline already counts from the ctime, so
            CdsRedisBackupNoRestorePoint pages when that data is too old."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="old_snapshot"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: concat!(
            r#"CDS Redis backup of "#,
            shard!(),
            r#" holds an old snapshot"#
        ),
        description: concat!(
            r#"
            The restore point of Redis instance "#,
            shard!(),
            r#"
            {{ with printf "max by (backup_id) (cds_redis_backup_restore_point_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ with . | first }}(backup {{ label "backup_id" . }}) holds data captured at {{ value . | humanizeTimestamp }}, {{ end }}{{ end }}long before the backup ran:
            the node's BGSAVE is probably failing and an old dump was copied."#
        ),
    },
    Alert {
        name: "CdsRedisBackupCorrupt",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding corrupt: the newest finished backup's verification result is truncated, checksum_mismatch, corrupt or not_rdb (any level)"#,
        comment: r#"
            The newest finished backup was read and is broken: a restore from it fails or
            loses data. A warning that explains: the exporter's restore point moves back to
            the newest older backup that would restore, and CdsRedisBackupNoRestorePoint
            pages when there is none within its allowed age. Any level: light finds
            truncated and not_rdb dumps, full also checksum_mismatch and corrupt records.
            The level is aggregated away (an instance whose level changed may have a result
            at both)."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="corrupt"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} would not restore ({{ $labels.result }})"#,
        description: r#"
            Backup {{ $labels.backup_id }} is the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            the one a restore would use, and the exporter's verification{{ with printf "cds_redis_backup_verify_result{backup_id=%[1]q,result=%[2]q,level=\"full\"} == 1 or cds_redis_backup_verify_result{backup_id=%[1]q,result=%[2]q} == 1" $labels.backup_id $labels.result | query }} ({{ . | first | label "level" }} level){{ end }}
            found it {{ $labels.result }}: {{ if eq $labels.result "truncated" }}the dump ends before its end marker{{ else if eq $labels.result "checksum_mismatch" }}its CRC-64 does not match its content{{ else if eq $labels.result "corrupt" }}a record cannot be decoded{{ else }}the object is not a Redis dump{{ end }}.
            The restore point moves back to an older backup; CdsRedisBackupNoRestorePoint pages when none restores.{{ with printf "time() - max(cds_redis_backup_last_verified_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            The newest backup verified ok ended {{ . | first | value | humanizeDuration }} ago.{{ else }}
            No backup of this shard has been verified ok.{{ end }}"#,
    },
    Alert {
        name: "CdsRedisBackupEmpty",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding empty: the newest finished backup holds no key while the shard's newest backup verified ok held keys and ended less than 2 x its max age ago"#,
        comment: r#"
            The newest finished backup is a sound dump without a single key, while the
            shard's newest backup verified ok held keys and ended less than two max ages ago
            (daily: 52h): a restore from it would give an empty database. A warning that
            explains: the restore point moves back to the backup before it, and
            CdsRedisBackupNoRestorePoint pages when nothing older restores within its
            allowed age. The window ends the alert by itself when the data set was emptied
            on purpose (every later backup is empty too). cds_redis_backup_last_verified_keys
            is a count of the whole dump at full, the RESIZEDB hint of its head at light."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="empty"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} is empty"#,
        description: r#"
            Backup {{ $labels.backup_id }} is the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            the one a restore would use, and the exporter's verification found no key in it: a restore
            would give an empty database.{{ with printf "max(cds_redis_backup_last_verified_keys{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            The shard's newest backup verified ok held {{ . | first | value | humanize }} keys{{ end }}{{ with printf "time() - max(cds_redis_backup_last_verified_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            and ended {{ . | first | value | humanizeDuration }} ago{{ end }}.
            The restore point moves back to an older backup; CdsRedisBackupNoRestorePoint pages when none restores."#,
    },
];
