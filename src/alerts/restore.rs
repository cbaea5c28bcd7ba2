//! The restore point: is there a backup a restore could use, within the shard's allowed age?

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupStale",
        severity: Severity::Critical,
        window: "-",
        for_: "10m",
        condition: r#"newest finished backup of a shard older (from its EndTime) than the shard's cds_redis_backup_max_age_seconds"#,
        comment: r#"
            The threshold is the exporter's, per shard: cds_redis_backup_max_age_seconds is the
            first matching `staleness:` rule of its config.yaml, else the learned backup
            cadence plus slack (daily 26h, 6-hourly 8h, weekly 7d14h), else 26h. The age is
            measured from the newest finished backup's EndTime, when it became restorable.
            The `or` line only matters for an exporter too old to serve max_age: 26h then.
            Matching includes `job`, so two scrape jobs of the same exporter (e.g. one over
            TLS) compare each with its own threshold instead of failing to evaluate."#,
        expr: r#"
            (
                time() - max without (instance, pod) (cds_redis_backup_last_success_timestamp_seconds)
                  > on (job, instance_uuid, shard_id)
                (
                    max without (instance, pod) (cds_redis_backup_max_age_seconds)
                  or on (job, instance_uuid, shard_id)
                    max without (instance, pod) (cds_redis_backup_last_success_timestamp_seconds) * 0 + 26 * 3600
                )
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} is {{ $value | humanizeDuration }} old"#,
        description: r#"
            The newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            ended {{ $value | humanizeDuration }} ago, more than the shard's threshold of
            {{ with printf "max(cds_redis_backup_max_age_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ . | first | value | humanizeDuration }}{{ else }}1d 2h 0m 0s (the default; the exporter serves no cds_redis_backup_max_age_seconds){{ end }}.
            The age is measured from the backup's EndTime, when it became restorable; its data
            is from about its StartTime, a few minutes earlier. A restore now would lose every
            write made since that backup."#,
    },
    Alert {
        name: "CdsRedisBackupNoRestorable",
        severity: Severity::Critical,
        window: "-",
        for_: "30m",
        condition: r#"a shard has failed backups and no finished one, or its finished backups went to 0 (purged)"#,
        comment: r#"
            A shard (the instance, outside clusters) with nothing to restore from, either:
            - failed backups and no finished one at all (Stale cannot fire then: it needs a
              finished backup to be old; nor NeverBackedUp: backups are listed). Running
              backups alone do not count: a first backup in progress is not a failure; or
            - finished backups that went to 0: the shard had finished backups and
              DescribeBackups lists none any more (retention purged the last good one).
            The value is the shard's number of finished backups: 0."#,
        expr: r#"
            (
                (
                    max by (job, instance_uuid, shard_id) (cds_redis_backup_state{state="failed"} == 1)
                      unless on (instance_uuid, shard_id)
                    cds_redis_backup_last_success_timestamp_seconds
                ) * 0
              or on (instance_uuid, shard_id)
                max without (instance, pod) (cds_redis_backup_shard_finished_backups) == 0
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            No restorable backup of CDS Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}"#,
        description: r#"
            Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            has no finished backup left: there is nothing to restore from. The last good backup was
            deleted (retention) while new attempts fail, or none ever succeeded."#,
    },
    Alert {
        name: "CdsRedisBackupNeverBackedUp",
        severity: Severity::Warning,
        window: "20m",
        for_: "2h",
        condition: r#"DescribeBackups lists no backup"#,
        comment: r#"
            Brand-new instances get their first automatic backup in their first backup
            window, up to a day later: raise `for:` to 26h if new instances page you."#,
        expr: r#"
            (max without (instance, pod) (max_over_time(cds_redis_instance_backups[20m])) == 0)
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            CDS Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }} has no backup"#,
        description: r#"
            DescribeBackups has listed no backup of Redis instance
            {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}
            for at least 2 hours. It has never been backed up, or all its backups were deleted;
            there is nothing to restore from."#,
    },
    Alert {
        name: "CdsRedisBackupCorrupt",
        severity: Severity::Critical,
        window: "-",
        for_: "10m",
        condition: r#"the restore point's verification result is truncated, checksum_mismatch, corrupt or not_rdb (any level)"#,
        comment: r#"
            The restore point was read and is broken: a restore from it fails or loses data.
            Critical although the previous backup may still restore: CDS lists this one as
            finished, so Stale measures the age from it and stays quiet while the last
            restorable backup grows old. Any level: light finds truncated and not_rdb dumps,
            full also checksum_mismatch and corrupt records. The level is aggregated away
            (an instance whose level changed may have a result at both)."#,
        expr: r#"
            (
                max without (instance, pod, level) (
                  cds_redis_backup_verify_result{result=~"truncated|checksum_mismatch|corrupt|not_rdb"} == 1
                )
                  and on (job, instance_uuid, backup_id, shard_id)
                (
                    cds_redis_backup_end_timestamp_seconds
                      == on (job, instance_uuid, shard_id) group_left ()
                    max without (instance, pod) (cds_redis_backup_last_success_timestamp_seconds)
                )
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} would not restore ({{ $labels.result }})"#,
        description: r#"
            Backup {{ $labels.backup_id }} is the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            the one a restore would use, and the exporter's verification{{ with printf "cds_redis_backup_verify_result{backup_id=%[1]q,result=%[2]q,level=\"full\"} == 1 or cds_redis_backup_verify_result{backup_id=%[1]q,result=%[2]q} == 1" $labels.backup_id $labels.result | query }} ({{ . | first | label "level" }} level){{ end }}
            found it {{ $labels.result }}: {{ if eq $labels.result "truncated" }}the dump ends before its end marker{{ else if eq $labels.result "checksum_mismatch" }}its CRC-64 does not match its content{{ else if eq $labels.result "corrupt" }}a record cannot be decoded{{ else }}the object is not a Redis dump{{ end }}.
            CDS lists it as finished, so CdsRedisBackupStale counts the shard's age from it.{{ with printf "time() - max(cds_redis_backup_last_verified_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            The newest backup verified ok ended {{ . | first | value | humanizeDuration }} ago.{{ else }}
            No backup of this shard has been verified ok.{{ end }}"#,
    },
    Alert {
        name: "CdsRedisBackupEmpty",
        severity: Severity::Critical,
        window: "-",
        for_: "10m",
        condition: r#"the restore point holds no key, while the shard's newest backup verified ok held keys and ended less than 2 x its max_age ago"#,
        comment: r#"
            The restore point is a sound dump without a single key, while the shard's newest
            backup verified ok held keys and ended less than two max ages ago (daily: 52h):
            a restore would give an empty database. The window ends the alert by itself when
            the data set was emptied on purpose (every later backup is empty too).
            cds_redis_backup_last_verified_keys is served only when the whole dump was read:
            at the full level, or at light for a dump that fits in the head."#,
        expr: r#"
            (
                max without (instance, pod, level) (cds_redis_backup_verify_result{result="empty"} == 1)
                  and on (job, instance_uuid, backup_id, shard_id)
                (
                    cds_redis_backup_end_timestamp_seconds
                      == on (job, instance_uuid, shard_id) group_left ()
                    max without (instance, pod) (cds_redis_backup_last_success_timestamp_seconds)
                )
                  and on (job, instance_uuid, shard_id)
                (
                    max without (instance, pod) (cds_redis_backup_last_verified_keys) > 0
                      and on (job, instance_uuid, shard_id)
                    (
                        time() - max without (instance, pod) (cds_redis_backup_last_verified_timestamp_seconds)
                          < on (job, instance_uuid, shard_id)
                        2 * max without (instance, pod) (cds_redis_backup_max_age_seconds)
                    )
                )
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} is empty"#,
        description: r#"
            Backup {{ $labels.backup_id }} is the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            the one a restore would use, and the exporter's verification found no key in it: a restore
            would give an empty database.{{ with printf "max(cds_redis_backup_last_verified_keys{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            The shard's newest backup verified ok held {{ . | first | value | humanize }} keys{{ end }}{{ with printf "time() - max(cds_redis_backup_last_verified_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            and ended {{ . | first | value | humanizeDuration }} ago{{ end }}.
            CDS lists the empty one as finished, so CdsRedisBackupStale counts the shard's age from it."#,
    },
];
