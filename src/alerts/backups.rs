//! Backups as CDS lists them and their download URLs: each a warning that explains,
//! while the restore point still holds.

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupFailed",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"the exporter's finding failed: a backup newer than its shard's newest finished one failed"#,
        comment: r#"
            CDS reports a backup as failed. The exporter exports, per shard, only backups
            newer than the shard's newest finished one, so this resolves once a newer
            backup of that shard finishes. Warning: the shard's newest finished backup is
            still there; when it becomes too old, or there is none,
            CdsRedisBackupNoRestorePoint pages."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="failed"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            CDS Redis backup {{ $labels.backup_id }} failed on {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}"#,
        description: r#"
            Backup {{ $labels.backup_id }}{{ with printf "cds_redis_backup_info{backup_id=%q}" $labels.backup_id | query }} ({{ . | first | label "backup_type" }}, {{ . | first | label "backup_mode" }}){{ end }}
            of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            has status failed{{ with printf "time() - max(cds_redis_backup_start_timestamp_seconds{backup_id=%q})" $labels.backup_id | query }}
            (it started {{ . | first | value | humanizeDuration }} ago){{ end }}, and no newer backup has finished.{{ with printf "time() - max(cds_redis_backup_last_success_timestamp_seconds{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}
            The newest finished backup ended {{ . | first | value | humanizeDuration }} ago.{{ end }}"#,
    },
    Alert {
        name: "CdsRedisBackupStatusUnknown",
        severity: Severity::Warning,
        window: "-",
        for_: "1h",
        keep_firing_for: "",
        condition: r#"the exporter's finding status_unknown (a raw Status it does not know) for an hour"#,
        comment: r#"
            A Status the exporter does not know (not finished, running or failed) for an hour."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="status_unknown"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} has an unknown status"#,
        description: r#"
            Backup {{ $labels.backup_id }}{{ with printf "cds_redis_backup_info{backup_id=%q}" $labels.backup_id | query }} ({{ . | first | label "backup_type" }}, {{ . | first | label "backup_mode" }}){{ end }}
            of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            has had CDS Status {{ with printf "cds_redis_backup_status_info{backup_id=%q}" $labels.backup_id | query }}"{{ . | first | label "status" }}"{{ else }}(unknown){{ end }}
            for more than an hour; it is neither finished, running nor failed.{{ with printf "time() - max(cds_redis_backup_start_timestamp_seconds{backup_id=%q})" $labels.backup_id | query }}
            It started {{ . | first | value | humanizeDuration }} ago.{{ end }}"#,
    },
    Alert {
        name: "CdsRedisBackupTimesInFuture",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding times_in_future: a backup of the account starts or ends more than 10 minutes in the future (verdict::FUTURE_AFTER; a wrong accounts[].timezone)"#,
        comment: r#"
            CDS gives times without a zone; the exporter reads them in the account's
            `timezone` (+08:00 by default). A wrong one shifts every time of the account
            by whole hours: backups seem to end in the future, and ages, staleness and
            schedules are all off. The engine's finding (one per shard) decides; the
            value is how far ahead the account's furthest time lies. One alert per
            account, naming the key to fix."#,
        expr: concat!(
            r#"
            max by (job, account) (
                (
                    max by (job, instance_uuid) (
                        max without (instance, pod) "#,
            held!(r#"cds_redis_backup_end_timestamp_seconds"#),
            r#"
                      or
                        max without (instance, pod) "#,
            held!(r#"cds_redis_backup_start_timestamp_seconds"#),
            r#"
                    ) - time()
                      and on (job, instance_uuid)
                    max by (job, instance_uuid) (cds_redis_backup_finding:held5m{reason="times_in_future"})
                )
                  * on (instance_uuid) group_left (account) cds_redis_instance:labels
            )"#
        ),
        summary: r#"
            CDS Redis backup times of account {{ $labels.account }} are {{ $value | humanizeDuration }} in the future: check its timezone"#,
        description: r#"
            A backup of account {{ $labels.account }} starts or ends {{ $value | humanizeDuration }}
            after now. CDS gives times without a zone and the exporter reads them in the
            account's `timezone` key of config.yaml (accounts[].timezone, +08:00 unless set);
            a wrong value shifts every time of the account by whole hours, so ages,
            staleness and learned schedules are wrong too. Set it to the zone of the CDS
            console's times (usually +08:00) and reload."#,
    },
    Alert {
        name: "CdsRedisBackupStuck",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"the exporter's finding stuck: a backup running longer than 6h (verdict::STUCK_AFTER)"#,
        comment: r#"
            Warning, not critical: a stuck backup loses no data by itself (the previous
            backup is still there) and only CDS support can end it, so it is work for office
            hours. When the missing backup becomes a real gap, CdsRedisBackupNoRestorePoint (critical)
            pages."#,
        expr: concat!(
            r#"
            (
                time() - max without (instance, pod) "#,
            held!(r#"cds_redis_backup_start_timestamp_seconds"#),
            r#"
                  and on (job, instance_uuid, shard_id, backup_id)
                max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="stuck"})
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#
        ),
        summary: r#"
            CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} has been running for {{ $value | humanizeDuration }}"#,
        description: r#"
            Backup {{ $labels.backup_id }}{{ with printf "cds_redis_backup_info{backup_id=%q}" $labels.backup_id | query }} ({{ . | first | label "backup_type" }}, {{ . | first | label "backup_mode" }}){{ end }}
            of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            started {{ $value | humanizeDuration }} ago and is still running (threshold 6h)."#,
    },
    Alert {
        name: "CdsRedisBackupDownloadUnreachable",
        severity: Severity::Warning,
        window: "-",
        for_: "30m",
        keep_firing_for: "",
        condition: r#"the exporter's finding download_unreachable (a URL type not answering 2xx) or object_gone (404 on every URL type) for 30 minutes"#,
        comment: r#"
            A probed backup (the newest finished one, or a configured `backups` entry) cannot
            be downloaded: the exporter's finding download_unreachable (one per URL type whose
            last probe did not answer 2xx) or object_gone (404/410 on every URL type tried,
            said once, without url_type), on every poll for 30 minutes. Warning: a gone
            object moves the restore point back to the backup before it, an unreachable URL
            may work again (or from the console); when nothing restores within the allowed
            age, NoRestorePoint pages."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason=~"download_unreachable|object_gone"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} cannot be downloaded{{ with $labels.url_type }} ({{ . }} URL){{ else }}: its object is gone{{ end }}"#,
        description: r#"
            {{ if $labels.url_type }}Every probe of the {{ $labels.url_type }} download URL{{ else }}Every download URL{{ end }} of backup {{ $labels.backup_id }}
            of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            {{ if $labels.url_type }}failed for at least 30 minutes{{ with printf "cds_redis_backup_download_url_status_code{backup_id=%q,url_type=%q}" $labels.backup_id $labels.url_type | query }};
            the last probe got HTTP status {{ . | first | value }} (0 = no answer or no URL){{ end }}{{ else }}has answered 404 (no such object)
            for at least 30 minutes: the object is gone, and the restore point moves back to the backup before it{{ end }}.
            This backup cannot be restored from its download URL."#,
    },
    Alert {
        name: "CdsRedisBackupSizeMismatch",
        severity: Severity::Warning,
        window: "-",
        for_: "30m",
        keep_firing_for: "",
        condition: r#"the exporter's finding size_mismatch (object size != BackupSize) for 30 minutes"#,
        comment: r#"
            The object behind the download URL is not the size CDS reports (a truncated or
            replaced object), on every poll for 30 minutes (the exporter's finding
            size_mismatch). Warning, as DownloadUnreachable."#,
        expr: r#"
            max without (instance, pod, reason, severity) (cds_redis_backup_finding:held5m{reason="size_mismatch"})
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            CDS Redis backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} is not the size CDS reports"#,
        description: r#"
            The object behind the {{ $labels.url_type }} download URL of backup {{ $labels.backup_id }}
            of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            has had a different size from the BackupSize CDS reports
            ({{ with printf "max(cds_redis_backup_size_bytes{backup_id=%q})" $labels.backup_id | query }}{{ . | first | value | humanize1024 }}B{{ else }}unknown{{ end }})
            on every probe for at least 30 minutes. The file is probably truncated or incomplete."#,
    },
    Alert {
        name: "CdsRedisBackupShrank",
        severity: Severity::Warning,
        window: "7d",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"newest finished backup < 0.5 x largest of 7 days (hourly maxima; floor >= 0 bytes as shipped)"#,
        comment: r#"
            An empty or partial dump: the newest finished backup is less than half the
            largest newest-finished backup of the last 7 days.
            The floor (0 bytes as shipped) ignores shards whose largest backup of the week is
            below it: raise it, e.g. to 1024 * 1024, if small caches that halve are noise."#,
        expr: concat!(
            r#"
            (
                max without (instance, pod) "#,
            held!(r#"cds_redis_backup_last_success_size_bytes"#),
            r#"
                  < 0.5 * (max without (instance, pod) (instance_uuid_shard_id:cds_redis_backup_last_success_size_bytes:max_over_time7d) >= 0)
            )
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#
        ),
        summary: r#"
            Newest CDS Redis backup of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }} shrank to {{ $value | humanize1024 }}B"#,
        description: r#"
            The newest finished backup of Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}
            is {{ $value | humanize1024 }}B, less than half of the largest in the last 7 days
            ({{ with printf "max(instance_uuid_shard_id:cds_redis_backup_last_success_size_bytes:max_over_time7d{instance_uuid=%q,shard_id=%q})" $labels.instance_uuid $labels.shard_id | query }}{{ . | first | value | humanize1024 }}B{{ end }}).
            It may be an empty or partial dump, or the data set really shrank."#,
    },
];
