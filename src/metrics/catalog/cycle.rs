//! The per-cycle families, written from each completed snapshot, in the order they are
//! served. Each names its label set by type; the help text is the contract.

use super::Family;
use crate::metrics::labels::*;

type Backup = BackupLabels<'static>;
type Shard = ShardLabels<'static>;
type Instance = InstanceLabels<'static>;
type Account = AccountLabels<'static>;
type Target = TargetLabels<'static>;

// Backups.
pub const BACKUP_INFO: Family<BackupInfoLabels<'static>> = Family::cycle(
    "cds_redis_backup_info",
    "The backup's BackupType and BackupMode; always 1.",
);
pub const BACKUP_STATE: Family<BackupStateLabels<'static>> = Family::cycle(
    "cds_redis_backup_state",
    "Backup state set: 1 for the backup's current state (finished, running, failed, other), 0 for the others.",
);
pub const BACKUP_STATUS_INFO: Family<BackupStatusLabels<'static>> = Family::cycle(
    "cds_redis_backup_status_info",
    "The backup's raw CDS Status; always 1.",
);
pub const BACKUP_SIZE_BYTES: Family<Backup> =
    Family::cycle("cds_redis_backup_size_bytes", "BackupSize reported by CDS.");
pub const BACKUP_START_TIMESTAMP_SECONDS: Family<Backup> = Family::cycle(
    "cds_redis_backup_start_timestamp_seconds",
    "Backup StartTime as Unix time.",
);
pub const BACKUP_END_TIMESTAMP_SECONDS: Family<Backup> = Family::cycle(
    "cds_redis_backup_end_timestamp_seconds",
    "Backup EndTime as Unix time; absent while not finished.",
);
pub const BACKUP_DURATION_SECONDS: Family<Backup> = Family::cycle(
    "cds_redis_backup_duration_seconds",
    "EndTime minus StartTime; absent while not finished.",
);

// Download URL probes.
pub const DOWNLOAD_URL_REACHABLE: Family<BackupUrlLabels<'static>> = Family::cycle(
    "cds_redis_backup_download_url_reachable",
    "1 if a ranged GET of the download URL answered 2xx.",
);
pub const DOWNLOAD_URL_STATUS_CODE: Family<BackupUrlLabels<'static>> = Family::cycle(
    "cds_redis_backup_download_url_status_code",
    "HTTP status of the download URL probe; 0 if no answer.",
);
pub const DOWNLOAD_URL_PROBE_DURATION_SECONDS: Family<BackupUrlLabels<'static>> = Family::cycle(
    "cds_redis_backup_download_url_probe_duration_seconds",
    "Duration of the download URL probe.",
);
pub const DOWNLOAD_SIZE_MATCHES: Family<BackupUrlLabels<'static>> = Family::cycle(
    "cds_redis_backup_download_size_matches",
    "1 if the object's total size equals BackupSize; absent when the answer gives no size.",
);

// Shards, instances and accounts.
pub const LAST_SUCCESS_TIMESTAMP_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_last_success_timestamp_seconds",
    "EndTime of the newest finished backup known for the instance and shard.",
);
pub const LAST_SUCCESS_SIZE_BYTES: Family<Shard> = Family::cycle(
    "cds_redis_backup_last_success_size_bytes",
    "Size of the newest finished backup known for the instance and shard.",
);
pub const BACKUP_UP: Family<Target> = Family::cycle(
    "cds_redis_backup_up",
    "1 if the last CDS call for the target succeeded (backup_id is empty for instance-level calls).",
);
pub const INSTANCE_BACKUPS: Family<Instance> = Family::cycle(
    "cds_redis_instance_backups",
    "Number of backups DescribeBackups lists for the instance.",
);
pub const INSTANCE_INFO: Family<InstanceInfoLabels<'static>> = Family::cycle(
    "cds_redis_instance_info",
    "Every watched instance, with what DescribeDBInstances tells of it (empty until CDS has described it); tags is its CDS tag names as ,a,b, ; always 1.",
);
pub const INSTANCE_CREATED_TIMESTAMP_SECONDS: Family<Instance> = Family::cycle(
    "cds_redis_instance_created_timestamp_seconds",
    "When the instance was created (CreatedTime of DescribeDBInstances, read in the account's timezone), as Unix time; absent when CDS gives none or one that cannot be true.",
);
pub const INSTANCE_TAG_INFO: Family<InstanceTagLabels<'static>> = Family::cycle(
    "cds_redis_instance_tag_info",
    "One series per CDS tag of each instance DescribeDBInstances described; always 1.",
);
pub const INSTANCE_VANISHED_TIMESTAMP_SECONDS: Family<VanishedLabels<'static>> = Family::cycle(
    "cds_redis_instance_vanished_timestamp_seconds",
    "When a successful DescribeDBInstances first stopped listing an instance it had listed, as Unix time; served for poll.forget_vanished_after.",
);
pub const DISCOVERY_UP: Family<Account> = Family::cycle(
    "cds_redis_backup_exporter_discovery_up",
    "1 if the last DescribeDBInstances call of the account succeeded.",
);
pub const OWNED_INSTANCES: Family<Account> = Family::cycle(
    "cds_redis_backup_exporter_owned_instances",
    "Instances of the account this replica watches: those of its shard (all of them without sharding).",
);
pub const ACCOUNT_UP: Family<Account> = Family::cycle(
    "cds_redis_backup_exporter_account_up",
    "1 if in the last cycle the account's discovery (if any) and at least one of its other calls (if any) succeeded.",
);
pub const TARGET_LAST_REFRESH_TIMESTAMP_SECONDS: Family<Target> = Family::cycle(
    "cds_redis_backup_exporter_target_last_refresh_timestamp_seconds",
    "When the target's values were last fetched from CDS, as Unix time (backup_id is empty for instance-level calls).",
);
pub const SHARD_FINISHED_BACKUPS: Family<Shard> = Family::cycle(
    "cds_redis_backup_shard_finished_backups",
    "Finished backups DescribeBackups lists for the shard, for every shard that has had one since the exporter started (0: its last finished backup is gone).",
);
pub const EXPECTED_INTERVAL_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_expected_interval_seconds",
    "Learned cadence: median interval between the EndTimes of the shard's recent finished automatic backups; absent with fewer than 3.",
);
pub const MAX_AGE_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_max_age_seconds",
    "How old the shard's newest finished backup may be: the first matching staleness rule, else the learned interval plus max(2h, interval/12), else 26h.",
);

// Verification.
pub const INSTANCE_VERIFY_LEVEL: Family<InstanceLevelLabels<'static>> = Family::cycle(
    "cds_redis_instance_verify_level",
    "The verification level verify: gives the instance (off, light, full); always 1.",
);
pub const VERIFY_RESULT: Family<BackupResultLabels<'static>> = Family::cycle(
    "cds_redis_backup_verify_result",
    "Backup verification result set per level: 1 for the outcome (ok, empty, truncated, checksum_mismatch, corrupt, not_rdb, unsupported_version, download_failed, too_large, skipped), 0 for the others.",
);
pub const VERIFY_DOWNLOAD_STATUS_CODE: Family<BackupLevelLabels<'static>> = Family::cycle(
    "cds_redis_backup_verify_download_status_code",
    "HTTP status of a verification download that failed with an HTTP answer.",
);
pub const VERIFY_TIMESTAMP_SECONDS: Family<BackupLevelLabels<'static>> = Family::cycle(
    "cds_redis_backup_verify_timestamp_seconds",
    "When the backup was last verified at this level, as Unix time.",
);
pub const VERIFY_DURATION_SECONDS: Family<BackupLevelLabels<'static>> = Family::cycle(
    "cds_redis_backup_verify_duration_seconds",
    "How long the verification took.",
);
pub const VERIFY_READ_BYTES: Family<BackupLevelLabels<'static>> = Family::cycle(
    "cds_redis_backup_verify_read_bytes",
    "Bytes the verification downloaded.",
);
pub const RDB_INFO: Family<RdbInfoLabels<'static>> = Family::cycle(
    "cds_redis_backup_rdb_info",
    "What the dump says of itself: RDB version, the redis-ver AUX field and the container (rdb, gzip, tar, tar.gz); always 1.",
);
pub const RDB_SNAPSHOT_TIMESTAMP_SECONDS: Family<Backup> = Family::cycle(
    "cds_redis_backup_rdb_snapshot_timestamp_seconds",
    "The dump's ctime AUX field: when its data was captured, as Unix time.",
);
pub const RDB_KEYS: Family<Backup> = Family::cycle(
    "cds_redis_backup_rdb_keys",
    "Keys in the dump, all databases: counted when the whole dump was read, else (light) the RESIZEDB hint of the dump's head.",
);
pub const RDB_KEYS_WITH_EXPIRY: Family<Backup> = Family::cycle(
    "cds_redis_backup_rdb_keys_with_expiry",
    "Keys in the dump that carry an expiry time.",
);
pub const LAST_VERIFIED_TIMESTAMP_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_last_verified_timestamp_seconds",
    "EndTime of the shard's newest backup verified ok, as Unix time.",
);
pub const LAST_VERIFIED_KEYS: Family<Shard> = Family::cycle(
    "cds_redis_backup_last_verified_keys",
    "Keys in the shard's newest backup verified ok: counted, or (light) the RESIZEDB hint of its head.",
);

// Verdicts.
pub const RESTORE_POINT_TIMESTAMP_SECONDS: Family<RestorePointLabels<'static>> = Family::cycle(
    "cds_redis_backup_restore_point_timestamp_seconds",
    "When the data of the shard's restore point was captured (the dump's ctime, bounded by EndTime; else EndTime), as Unix time: the newest finished backup not known to be gone or to fail verification. Absent when there is none.",
);
pub const RESTORE_DEADLINE_TIMESTAMP_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_restore_deadline_timestamp_seconds",
    "Unix time after which the shard has no restore point within its allowed age: the restore point's time plus its allowed age; without one, the last finished backup's EndTime, or for a shard never backed up its instance's creation (else first seen) time plus the allowed age.",
);
pub const RESTORE_ALLOWED_AGE_SECONDS: Family<Shard> = Family::cycle(
    "cds_redis_backup_restore_allowed_age_seconds",
    "How old the shard's restore point may get (the first matching staleness rule, else the schedule learned from its backups, from the restore point on, else 26 h): the deadline is the restore point's time plus this. Absent when there is no restore point.",
);
pub const FINDING: Family<FindingLabels<'static>> = Family::cycle(
    "cds_redis_backup_finding",
    "A problem the policy engine found, with its reason and severity (the table in docs/runbook.md); always 1. Per shard, with backup_id, url_type or result where it is about one backup, one download URL type or one verification result; instance_blind, account_blind and vanished per instance, without shard_id. No restore point is read from the deadline instead.",
);

// The poll cycle.
pub const POLL_DURATION_SECONDS: Family<()> = Family::cycle(
    "cds_redis_backup_exporter_poll_duration_seconds",
    "Duration of the last completed poll cycle.",
);
pub const LAST_POLL_TIMESTAMP_SECONDS: Family<()> = Family::cycle(
    "cds_redis_backup_exporter_last_poll_timestamp_seconds",
    "End of the last completed poll cycle as Unix time; absent until the first cycle completes.",
);
pub const LAST_POLL_SUCCESS: Family<()> = Family::cycle(
    "cds_redis_backup_exporter_last_poll_success",
    "1 if every call of the last completed poll cycle succeeded.",
);
