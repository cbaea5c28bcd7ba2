//! The exporter itself: is a process up, polling and configured as written, and is the
//! path from Prometheus to the receivers alive (the watchdog)?
//!
//! Replicas: the same job may hold several processes. Two replicas of one shard
//! (`--shard`, `--total-shards`; 0 of 1 without sharding) watch the same instances, so
//! one of them down is a warning; replicas of different shards watch different
//! instances, so a shard with no healthy replica pages. A replica is healthy when it is
//! up and not crash looping. A down replica's shard is the one it last reported
//! (`cds_redis_backup_exporter_shard_info` within a day).

use super::{Alert, Section, Severity};

/// A process that restarted at least three times within 30 minutes: restarts seen in
/// `process_start_time_seconds`, which each start sets anew (before or after the first
/// poll cycle). One deploy is one restart, two quick ones are two; a crash loop under
/// Kubernetes' back-off (at most 5 minutes between starts) is five or more in 30 minutes.
macro_rules! crash_loop {
    () => {
        r#"changes(process_start_time_seconds{job="cds-redis-backup"}[30m]) >= 3"#
    };
}

/// Per down (or crash-looping) replica (`job`, `instance`): a series when another
/// replica of the same shard is healthy. Written at the indentation of the expressions
/// that use it.
macro_rules! covered {
    () => {
        concat!(
            r#"
            (
                max by (job, instance, shard, total_shards) (
                  last_over_time(cds_redis_backup_exporter_shard_info{job="cds-redis-backup"}[1d])
                )
                  and on (job, shard, total_shards)
                (
                    cds_redis_backup_exporter_shard_info{job="cds-redis-backup"}
                      and on (job, instance) (up{job="cds-redis-backup"} == 1)
                      unless on (job, instance) ("#,
            crash_loop!(),
            r#")
                )
            )"#
        )
    };
}

pub(super) const SECTION: Section = Section {
    comment: "",
    alerts: ALERTS,
};

const ALERTS: &[Alert] = &[
    Alert {
        name: "CdsRedisBackupExporterDown",
        severity: Severity::Critical,
        window: "1d/30m",
        for_: "5m",
        keep_firing_for: "",
        condition: r#"a replica of job cds-redis-backup is down (up 0) or crash looping, and no healthy replica of its shard is up"#,
        comment: r#"
            Nobody watches a shard's instances: its replica is down (or crash looping) and
            no other replica of the same shard is healthy. A single replica down pages; one
            of two replicas of a shard down is CdsRedisBackupExporterReplicaDown (warning);
            with sharding, one shard's only replica down pages although the other shards
            are up. A replica whose shard is unknown (down for more than a day, or never
            scraped) counts as alone. The job name must match the scrape job (job_name:
            cds-redis-backup)."#,
        expr: concat!(
            r#"
            (
                up{job="cds-redis-backup"} == 0
              or on (job, instance)
                "#,
            crash_loop!(),
            r#"
            )
              unless on (job, instance)"#,
            covered!()
        ),
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }} is down{{ with printf "changes(process_start_time_seconds{job=%q,instance=%q}[30m]) >= 3" $labels.job $labels.instance | query }} (crash looping){{ end }}, and no other replica watches its shard"#,
        description: r#"
            Prometheus has failed to scrape the exporter at {{ $labels.instance }}
            (job {{ $labels.job }}), or it restarted three times or more within 30 minutes,
            for at least 5 minutes, and no other healthy replica of its shard is up. No CDS
            Redis backup of its shard is watched, and no backup alert about them can fire."#,
    },
    Alert {
        name: "CdsRedisBackupExporterReplicaDown",
        severity: Severity::Warning,
        window: "1d/30m",
        for_: "10m",
        keep_firing_for: "",
        condition: r#"a replica is down (up 0) while another healthy replica of its shard is up"#,
        comment: r#"
            Warning: another replica of the same shard is up and not crash looping, so the
            shard's backups are still watched; the redundancy is gone until this one is
            back. When the last healthy replica goes too, CdsRedisBackupExporterDown pages."#,
        expr: concat!(
            r#"
            (up{job="cds-redis-backup"} == 0)
              and on (job, instance)"#,
            covered!()
        ),
        summary: r#"
            cds-redis-backup-exporter replica {{ $labels.instance }} is down; another replica of its shard is up"#,
        description: r#"
            Prometheus has failed to scrape the exporter at {{ $labels.instance }}
            (job {{ $labels.job }}) for at least 10 minutes. Another replica of the same
            shard is up and healthy, so the backups are still watched, without redundancy
            until this replica is back."#,
    },
    Alert {
        name: "CdsRedisBackupExporterCrashLooping",
        severity: Severity::Warning,
        window: "30m",
        for_: "",
        keep_firing_for: "",
        condition: r#"a process restarted three times or more within 30m (process_start_time_seconds changed)"#,
        comment: r#"
            Repeated restarts, before or after the first poll cycle: each start resets
            PollStalled's clock and interrupts ExporterDown's `for:`, so without this a
            crash loop could page nobody. A warning that names the cause: whether it pages
            is decided by CdsRedisBackupExporterDown, which counts a crash-looping replica
            as down (critical unless another healthy replica of its shard is up). Each
            restart also forgets what the exporter keeps only in memory."#,
        expr: crash_loop!(),
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }} restarted {{ $value }} times in 30 minutes"#,
        description: r#"
            The exporter at {{ $labels.instance }} (job {{ $labels.job }}) restarted
            {{ $value }} times within the last 30 minutes: it is crash looping (a crash
            or an out-of-memory kill, before or after its first poll cycle). Its logs and
            its container's last exit status say why."#,
    },
    Alert {
        name: "CdsRedisBackupExporterAbsent",
        severity: Severity::Critical,
        window: "-",
        for_: "15m",
        keep_firing_for: "",
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
        keep_firing_for: "",
        condition: r#"no completed poll cycle for > 30m"#,
        comment: r#"
            Time since the last completed poll cycle, or since the process started when no
            cycle has completed yet (the second branch needs the job name)."#,
        expr: concat!(
            r#"
            (
                time() - "#,
            held!(r#"cds_redis_backup_exporter_last_poll_timestamp_seconds"#),
            r#"
              or
                time() - "#,
            held!(r#"process_start_time_seconds{job="cds-redis-backup"}"#),
            r#"
            ) > 30 * 60"#
        ),
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
        keep_firing_for: "",
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
        keep_firing_for: "",
        condition: r#"the last configuration reload was refused"#,
        comment: "",
        expr: concat!(
            r#"
            "#,
            held!(r#"cds_redis_backup_exporter_config_last_reload_successful"#),
            r#" == 0"#
        ),
        summary: r#"
            cds-redis-backup-exporter {{ $labels.instance }}: configuration reload failed"#,
        description: r#"
            The exporter at {{ $labels.instance }} refused its new configuration file for
            at least 10 minutes and still runs the previous one. The next restart will fail
            with the same problems."#,
    },
    Alert {
        name: "CdsRedisBackupWatchdog",
        severity: Severity::None,
        window: "-",
        for_: "",
        keep_firing_for: "",
        condition: r#"always firing: the heartbeat of the alerting path"#,
        comment: r#"
            Always firing, on purpose: a dead man's switch. Route it to a heartbeat receiver
            that expects it every few minutes and alerts when it stops (deploy/alertmanager.yml
            shows how); then a broken rule evaluation, Prometheus down, Alertmanager down or
            a lost route to the receivers is noticed, which no alert here can say itself.
            Severity none: it never pages by itself."#,
        expr: "vector(1)",
        summary: r#"
            Heartbeat of the cds-redis-backup alerting path (always firing)"#,
        description: r#"
            This alert always fires. It proves that Prometheus evaluates the
            cds-redis-backup rules and that Alertmanager delivers their notifications. Route
            it to a heartbeat (dead man's switch) receiver, which raises its own alarm when
            the heartbeats stop; never silence it."#,
    },
];
