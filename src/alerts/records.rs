//! The recording rules: the 7-day baselines of Shrank and KeysDropped (over hourly
//! maxima), the routing labels every backup and instance alert joins, and the
//! exporter's findings and restore deadlines held over a failed scrape (`held!`).

use super::Record;

/// The 7-day baselines, in the main group.
pub(super) const BASELINES: &[Record] = &[
    Record {
        name: "instance_uuid_shard_id:cds_redis_backup_last_success_size_bytes:max_over_time7d",
        comment: r#"
            Largest newest-finished-backup size per instance and shard over 7 days: the
            baseline of CdsRedisBackupShrank, and a dashboard series. Taken over the hourly
            maxima below (168 samples a series) rather than over the raw series (10,080 at a
            1-minute scrape), so it stays cheap at thousands of instances; a series younger
            than its first hourly maximum falls back to its last hour."#,
        expr: r#"
            max_over_time(instance_uuid_shard_id:cds_redis_backup_last_success_size_bytes:max_over_time1h[7d])
              or
            max_over_time(cds_redis_backup_last_success_size_bytes[1h])"#,
    },
    Record {
        name: "instance_uuid_shard_id:cds_redis_backup_last_verified_keys:max_over_time7d",
        comment: r#"
            Most keys in a shard's newest backup verified ok over 7 days: the baseline of
            CdsRedisBackupKeysDropped, taken over hourly maxima as the size baseline above."#,
        expr: r#"
            max_over_time(instance_uuid_shard_id:cds_redis_backup_last_verified_keys:max_over_time1h[7d])
              or
            max_over_time(cds_redis_backup_last_verified_keys[1h])"#,
    },
];

/// The hourly maxima the baselines are taken over, in a group evaluated once an hour.
pub(super) const HOURLY: &[Record] = &[
    Record {
        name: "instance_uuid_shard_id:cds_redis_backup_last_success_size_bytes:max_over_time1h",
        comment: "",
        expr: r#"
            max_over_time(cds_redis_backup_last_success_size_bytes[1h])"#,
    },
    Record {
        name: "instance_uuid_shard_id:cds_redis_backup_last_verified_keys:max_over_time1h",
        comment: "",
        expr: r#"
            max_over_time(cds_redis_backup_last_verified_keys[1h])"#,
    },
];

/// The inputs of the alerts, first in the alerts' group (rules of a group run in
/// order, so the alerts read what this evaluation recorded): the routing labels, then
/// the findings and deadlines held over a failed scrape.
pub(super) const INPUTS: &[Record] = &[
    Record {
        name: "cds_redis_instance:labels",
        comment: r#"
            The routing labels of every watched instance, one series (value 1) per
            instance_uuid, for `* on (instance_uuid) group_left (account, instance_name, tags)`.
            Exactly one per instance_uuid, or every joined alert fails to evaluate
            ("many-to-many matching"): replicas can disagree for a poll (tags just changed),
            and an instance can be configured under two accounts. So a series with a known
            instance_name wins over one without (a static instance DescribeDBInstances has
            not listed yet), and topk keeps one of any that remain.
            It sits in this group, before the alerts, so a new instance's alerts join it at
            the same evaluation (groups run concurrently; rules of one group in order).
            The last line keeps an instance's labels while the exporter reports it vanished
            (its cds_redis_instance_info is gone then): the rule reads its own previous value,
            so CdsRedisInstanceVanished still routes by the instance's tags.
            Its inputs are held over a failed scrape (as the findings below): without
            labels, every joined alert would end with the scrape."#,
        expr: concat!(
            r#"
            topk by (instance_uuid) (1,
                max by (instance_uuid, account, instance_name, tags) "#,
            held!(r#"cds_redis_instance_info{instance_name!=""}"#),
            r#"
              or on (instance_uuid)
                max by (instance_uuid, account, instance_name, tags) "#,
            held!("cds_redis_instance_info"),
            r#"
            )
            or on (instance_uuid)
              (cds_redis_instance:labels and on (instance_uuid) "#,
            held!("cds_redis_instance_vanished_timestamp_seconds"),
            ")"
        ),
    },
    Record {
        name: "cds_redis_backup_finding:held5m",
        comment: r#"
            The exporter's findings, held over a failed scrape: a failed scrape writes a
            staleness marker for every series of the target, which would end every finding
            at once, restart every `for:` and resolve firing alerts (a new notification
            when they fire again). While the target's latest scrape failed (up 0), a
            finding's last sample of the past 5 minutes stands in: four missed scrapes at
            60s, nine at 30s. A finding the exporter drops while it is scraped ends at the
            first scrape without it. Longer than 5 minutes down, ExporterDown (for: 5m)
            pages instead, and with two replicas the other one still reports. A target
            that leaves discovery (its up gone too) is not bridged."#,
        expr: held!("cds_redis_backup_finding"),
    },
    Record {
        name: "cds_redis_backup_restore_deadline_timestamp_seconds:held5m",
        comment: r#"
            Each shard's restore deadline, held over a failed scrape as the findings above:
            the input of CdsRedisBackupNoRestorePoint."#,
        expr: held!("cds_redis_backup_restore_deadline_timestamp_seconds"),
    },
];
