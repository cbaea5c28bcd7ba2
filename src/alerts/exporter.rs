//! The exporter itself: is a process up, polling and configured as written?

use super::{Alert, Section, Severity};

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupExporterDown",
        severity: Severity::Critical,
        window: "-",
        for_: "5m",
        condition: r#"up{job="cds-redis-backup"} == 0"#,
        comment: r#"
            The job name must match the scrape job (job_name: cds-redis-backup)."#,
        expr: r#"
            up{job="cds-redis-backup"} == 0"#,
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }} is down"#,
        description: r#"
            Prometheus has failed to scrape the exporter at {{ $labels.instance }}
            (job {{ $labels.job }}) for at least 5 minutes. No CDS Redis backup is watched
            through it, and no backup alert can fire."#,
    },
    Alert {
        name: "CdsRedisBackupExporterAbsent",
        severity: Severity::Critical,
        window: "-",
        for_: "15m",
        condition: r#"no up{job="cds-redis-backup"} series at all"#,
        comment: "",
        expr: r#"
            absent(up{job="cds-redis-backup"})"#,
        summary: r#"
            No cds-redis-backup-exporter target in Prometheus"#,
        description: r#"
            Prometheus has had no target of job {{ $labels.job }} for at least 15 minutes
            (the scrape job is missing, renamed, or its service discovery finds nothing).
            No CDS Redis backup is watched, and no backup alert can fire."#,
    },
    Alert {
        name: "CdsRedisBackupExporterPollStalled",
        severity: Severity::Critical,
        window: "-",
        for_: "5m",
        condition: r#"no completed poll cycle for > 30m"#,
        comment: r#"
            Time since the last completed poll cycle, or since the process started when no
            cycle has completed yet (the second branch needs the job name)."#,
        expr: r#"
            (
                time() - cds_redis_backup_exporter_last_poll_timestamp_seconds
              or
                time() - process_start_time_seconds{job="cds-redis-backup"}
            ) > 30 * 60"#,
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }} has completed no poll cycle for {{ $value | humanizeDuration }}"#,
        description: r#"
            The exporter at {{ $labels.instance }} (job {{ $labels.job }}) answers scrapes but
            has completed no poll cycle for {{ $value | humanizeDuration }} (threshold 30m).
            Every backup metric it serves is that old; no backup alert can fire or resolve."#,
    },
    Alert {
        name: "CdsRedisBackupExporterPollFailing",
        severity: Severity::Warning,
        window: "20m",
        for_: "10m",
        condition: r#"every poll cycle had a failed CDS call"#,
        comment: "",
        expr: r#"
            max_over_time(cds_redis_backup_exporter_last_poll_success[20m]) == 0"#,
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }}: every poll cycle has a failed CDS call"#,
        description: r#"
            Every poll cycle of the exporter at {{ $labels.instance }} (job {{ $labels.job }})
            completed in the last 20 minutes had at least one failed CDS API call, for at
            least 30 minutes in all. The backups of the failing targets show their last known
            values; see CdsRedisBackupExporterBlind, CdsRedisBackupInstanceBlind,
            CdsRedisBackupTargetDown and CdsRedisBackupApiErrors for which targets and why."#,
    },
    Alert {
        name: "CdsRedisBackupExporterReloadFailed",
        severity: Severity::Warning,
        window: "-",
        for_: "10m",
        condition: r#"the last configuration reload was refused"#,
        comment: "",
        expr: r#"
            cds_redis_backup_exporter_config_last_reload_successful == 0"#,
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }}: configuration reload failed"#,
        description: r#"
            The exporter at {{ $labels.instance }} refused its new configuration file for
            at least 10 minutes and still runs the previous one. The next restart will fail
            with the same problems."#,
    },
];
