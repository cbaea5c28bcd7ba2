//! What the verification of the restore point found short of "would not restore"
//! (that is in `restore.rs`): fewer keys, no verdict, a verdict that cannot judge, a
//! dump that needs a larger `databases`.

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: r#"
        Backup verification (verify: in the exporter's config.yaml). The exporter reads
        each shard's newest finished backup at the instance's level: light (the head and
        the tail: header, AUX fields, the RESIZEDB key-count hint, that the dump reaches
        its end marker) or full (every record and the CRC-64), and serves a result per
        backup and level (cds_redis_backup_verify_result). Its policy engine judges only
        the newest finished backup of each shard, so results of older backups it still
        exports raise no finding: the alerts below (and Corrupt and Empty above) read the
        findings (needs_databases, verify_inconclusive, unverified). KeysDropped compares
        key counts. Final results (all but download_failed and skipped) never change;
        download_failed and skipped are tried again every hour.
    "#,
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupKeysDropped",
        severity: Severity::Warning,
        window: "7d",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"keys of the newest backup verified ok < 0.5 x the most of 7 days (hourly maxima; floor >= 0)"#,
        comment: r#"
            Fewer keys than half the most of the last 7 days in the shard's newest backup
            verified ok: data deleted, expired or evicted, or a partial dump. As Shrank, the
            7-day maximum is taken over hourly maxima (recording rules above). The floor
            (0 keys as shipped) ignores shards whose most keys of the week are below it:
            raise it, e.g. to 1000, if small caches that halve are noise. Key counts exist
            where the whole dump was read (the full level; light for dumps that fit in the
            head); an empty dump is not "verified ok" and leaves the count alone (Empty)."#,
        expr: concat!(
            r#"
            (
                max without (instance, pod) "#,
            held!(r#"cds_redis_backup_last_verified_keys"#),
            r#"
                  < 0.5 * (max without (instance, pod) (instance_uuid_shard_id:cds_redis_backup_last_verified_keys:max_over_time7d) >= 0)
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#
        ),
        summary: r#"
            Keys in the newest verified CDS Redis backup of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} dropped to {{ $value | humanize }}"#,
        description: r#"
            The newest backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} verified ok
            holds {{ $value | humanize }} keys, less than half of the most in the last 7 days
            ({{ with printf "max(instance_uuid_shard_id:cds_redis_backup_last_verified_keys:max_over_time7d{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ . | first | value | humanize }}{{ end }}).
            Data was deleted, expired or evicted, or the dump is partial."#,
    },
    Alert {
        name: "CdsRedisBackupUnverified",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding unverified (verify level not off, no final result 6h after EndTime: verdict::UNVERIFIED_AFTER) on a replica up for 1h, and no replica has a final result"#,
        comment: r#"
            The restore point of an instance whose verify level is not off has no verdict 6h
            after its EndTime: no result at all (the verifier never got to it: a backlog, a
            bandwidth cap too low, a verifier that keeps being restarted), or only
            download_failed or skipped (no URL, the daily budget spent), retried every hour.
            Nobody knows whether it would restore. Replicas up for less than an hour do not
            count (after a start the verifier needs a cycle or more to report what it knows),
            and any replica's final result (for any level) silences it. A final result the
            exporter cannot judge (too_large, unsupported_version) is VerifyInconclusive."#,
        expr: concat!(
            r#"
            (
                max without (instance, pod) (
                    (time() - "#,
            held!(r#"cds_redis_backup_end_timestamp_seconds"#),
            r#")
                      and on (job, instance, instance_uuid, shard_id, backup_id)
                    cds_redis_backup_finding:held5m{reason="unverified"}
                      and on (job, instance) (time() - "#,
            held!(r#"process_start_time_seconds"#),
            r#" > 3600)
                )
                  unless on (job, instance_uuid, backup_id, shard_id)
                (cds_redis_backup_verify_result{result!~"download_failed|skipped"} == 1)
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#
        ),
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} is not verified {{ $value | humanizeDuration }} after it ended"#,
        description: r#"
            Backup {{ $labels.backup_id }}, the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            ended {{ $value | humanizeDuration }} ago and the exporter has no verdict on it{{ with printf "cds_redis_backup_verify_result{backup_id=%q} == 1" $labels.backup_id | query }}:
            its last attempt ({{ . | first | label "level" }} level) was {{ . | first | label "result" }}{{ else }}:
            it has not been tried{{ end }}{{ with printf "max(cds_redis_backup_verify_download_status_code{backup_id=%q})" $labels.backup_id | query }}
            (HTTP status {{ . | first | value }}){{ end }}. Download failures and skipped backups are tried again every
            hour (a spent daily budget the next UTC day). Whether it would restore is unknown."#,
    },
    Alert {
        name: "CdsRedisBackupVerifyInconclusive",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding verify_inconclusive: the newest finished backup's only final results are unsupported_version or too_large"#,
        comment: r#"
            The restore point's verification ended with a result the exporter cannot judge,
            and no other level has a verdict: too_large (BackupSize above verify.max_size, so
            the full level does not download it) or unsupported_version (an RDB version newer
            than this exporter reads). Final: it stays until the next backup; fix it in the
            configuration (a larger verify.max_size, or the light level for the instance) or
            by upgrading the exporter, and check the backup by hand meanwhile."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="verify_inconclusive"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            The exporter cannot verify the newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} ({{ $labels.result }})"#,
        description: r#"
            Backup {{ $labels.backup_id }}, the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            {{ if eq $labels.result "too_large" }}is{{ with printf "max(cds_redis_backup_size_bytes{backup_id=%q})" $labels.backup_id | query }} {{ . | first | value | humanize1024 }}B,{{ end }} larger than verify.max_size or
            inflating past 256 times its download, so the exporter does not verify it whole{{ else }}is a dump in an RDB version{{ with printf "cds_redis_backup_rdb_info{backup_id=%q}" $labels.backup_id | query }} ({{ . | first | label "rdb_version" }}, Redis {{ . | first | label "redis_version" }}){{ end }}
            that this exporter does not read{{ end }}: whether it would restore is unknown. The result is final for
            this backup; the next backup of the shard will get the same unless the configuration or the exporter changes."#,
    },
    Alert {
        name: "CdsRedisBackupNeedsDatabases",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding needs_databases: the restore point holds keys in a database past the 16 of a default redis-server"#,
        comment: r#"
            The restore point is a sound dump with keys in a database numbered 16 or more: a
            redis-server left at the default `databases 16` exits on it ("FATAL: Data file was
            created with a Redis server configured to handle more than 16 databases"), one
            with a larger `databases` loads it. Not a page: the data is there, and a restore
            target configured like the source restores it."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="needs_databases"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            Newest CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} restores only into a Redis with more than 16 databases"#,
        description: r#"
            Backup {{ $labels.backup_id }}, the newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }},
            is a sound dump with keys in a database numbered 16 or more. A redis-server left at the default
            `databases 16` refuses to load it; restore it into a server whose `databases` setting is large enough."#,
    },
];
