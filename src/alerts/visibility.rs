//! What the exporter cannot see: an account, an instance's backups, one backup's
//! download, an instance gone, CDS API errors.

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupExporterBlind",
        severity: Severity::Critical,
        window: "-",
        for_: "30m",
        keep_firing_for: "",
        condition: r#"an account's discovery or every call failed in every cycle (account_up 0)"#,
        comment: r#"
            The exporter cannot see an account: in every cycle for 30 minutes its
            DescribeDBInstances failed, or every other call of it did (credentials revoked,
            the API down). Its facts (last success per shard, final backups) are still
            served, so NoRestorePoint keeps firing for its instances; the observations are not.
            account_up is absent until the first cycle completes (PollStalled covers that)."#,
        expr: concat!(
            r#"
            max without (instance, pod) "#,
            held!(r#"cds_redis_backup_exporter_account_up"#),
            r#" == 0"#
        ),
        summary: r#"
            cds-redis-backup-exporter cannot see CDS account {{ $labels.account }}"#,
        description: r#"
            For at least 30 minutes, every poll cycle of every exporter replica failed
            DescribeDBInstances of account {{ $labels.account }}, or every CDS call of it
            (revoked or wrong credentials, missing permissions, the CDS API down or
            unreachable): the exporter cannot see the account's backups.{{ with printf "count(count by (instance_uuid) (cds_redis_instance_info{account=%q}))" $labels.account | query }}
            It watches {{ . | first | value }} instance(s) of the account.{{ end }}
            Their last known facts are still served, so CdsRedisBackupNoRestorePoint fires when a
            backup becomes overdue, but no new failure, backup or download problem can be seen."#,
    },
    Alert {
        name: "CdsRedisBackupInstanceBlind",
        severity: Severity::Critical,
        window: "20m",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"every DescribeBackups call for an instance failed"#,
        comment: r#"
            Every DescribeBackups call for one instance failed for 30 minutes (the 20m window
            plus `for: 10m`, as the header explains), on every replica. Facts are still
            served, so NoRestorePoint still fires; failures, running backups and
            download problems of the instance cannot be seen."#,
        expr: r#"
            (max without (instance, pod) (max_over_time(cds_redis_backup_up{backup_id=""}[20m])) == 0)
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            cds-redis-backup-exporter cannot see the backups of CDS Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}"#,
        description: r#"
            Every DescribeBackups call for Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.account }}
            (account {{ . }}){{ end }} failed for at least 30 minutes, on every exporter replica.{{ with printf "time() - max(cds_redis_backup_exporter_target_last_refresh_timestamp_seconds{instance_uuid=%q,backup_id=\"\"})" $labels.instance_uuid | query }}
            Its backup data was last refreshed {{ . | first | value | humanizeDuration }} ago.{{ end }}
            Its last known facts are still served, so
            CdsRedisBackupNoRestorePoint still fires when due, but new failures, running backups
            and download problems cannot be seen."#,
    },
    Alert {
        name: "CdsRedisBackupTargetDown",
        severity: Severity::Warning,
        window: "20m",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"every DownloadBackup call for a backup failed"#,
        comment: r#"
            One backup (the newest finished one of a shard, or a `backups:` entry) whose
            DownloadBackup calls all fail. The instance-level target (backup_id "",
            DescribeBackups) is CdsRedisBackupInstanceBlind."#,
        expr: r#"
            (max without (instance, pod) (max_over_time(cds_redis_backup_up{backup_id!=""}[20m])) == 0)
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels"#,
        summary: r#"
            DownloadBackup calls for backup {{ $labels.backup_id }} of {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }} keep failing"#,
        description: r#"
            Every DownloadBackup call for backup {{ $labels.backup_id }} of Redis instance
            {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}
            failed for at least 30 minutes, on every exporter replica. Its download URL is not
            probed; the probe series show the last values known before the failures until they
            are older than poll.stale_after (default 1h), then disappear."#,
    },
    Alert {
        name: "CdsRedisInstanceVanished",
        severity: Severity::Warning,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
        condition: r#"DescribeDBInstances stopped listing an instance while the account answers"#,
        comment: r#"
            An instance DescribeDBInstances listed is gone from a successful answer of its
            account. The exporter serves the timestamp until the instance reappears or for
            poll.forget_vanished_after (default 24h); its other series are gone at once, so
            cds_redis_instance:labels keeps its labels while it is reported vanished. The
            `or` line fires without tags should those be lost (a Prometheus restart)."#,
        expr: concat!(
            r#"
            (max without (instance, pod) "#,
            held!(r#"cds_redis_instance_vanished_timestamp_seconds"#),
            r#" > 0)
              * on (instance_uuid) group_left (account, instance_name, tags) cds_redis_instance:labels
            or on (instance_uuid)
              max without (instance, pod) "#,
            held!(r#"cds_redis_instance_vanished_timestamp_seconds"#),
            r#" > 0"#
        ),
        summary: r#"
            CDS Redis instance {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }} vanished from account {{ $labels.account }}"#,
        description: r#"
            DescribeDBInstances of account {{ $labels.account }} stopped listing Redis instance
            {{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}
            at {{ $value | humanizeTimestamp }}, while the account answers: it was deleted, moved
            to another account, or the key lost the permission to see it. Its backups are no
            longer watched. If it was deleted on purpose, silence this alert; the exporter
            forgets it after poll.forget_vanished_after (default 24h)."#,
    },
    Alert {
        name: "CdsRedisBackupApiErrors",
        severity: Severity::Warning,
        window: "15m",
        for_: "30m",
        keep_firing_for: "",
        condition: r#"CDS API errors (per account/action/code) in every 15m window"#,
        comment: r#"
            Errors in every 15-minute window for 30 minutes: errors of several poll cycles,
            not one bad cycle (which may fail many calls at once). A code's first error
            creates its series and is not counted by increase()."#,
        expr: r#"
            sum by (account, action, code) (
              increase(cds_redis_backup_exporter_api_requests_total{code!="Success"}[15m])
            ) > 0"#,
        summary: r#"
            CDS API {{ $labels.action }} fails with {{ $labels.code }} for account {{ $labels.account }}"#,
        description: r#"
            CDS API calls {{ $labels.action }} of account {{ $labels.account }} have been
            failing with code {{ $labels.code }} for at least 30 minutes
            ({{ printf "%.0f" $value }} in the last 15 minutes)."#,
    },
];
