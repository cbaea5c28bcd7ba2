//! The typed reasons the engine reports, each with its severity and the alert that
//! fires for it: the one table `/metrics` (the `reason` and `severity` labels of
//! `cds_redis_backup_finding`), the status page, `check` and the alert rules share.

/// How a finding is routed: a critical one pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// Why a shard (or an instance) is reported; `as_str` is the `reason` label, stable
/// across releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// No backup restores within its allowed age (or since a backup was last seen).
    NoRestorePoint,
    /// No backup yet, within the grace of a new instance.
    NeverBackedUp,
    /// The newest finished backup would not restore: the restore point is older.
    NewestUnusable,
    /// A probed backup's object answers 404/410 on every URL type tried.
    ObjectGone,
    /// The restore point's dump was captured long before the backup ran.
    OldSnapshot,
    /// A backup newer than the shard's newest finished one failed.
    Failed,
    /// A backup has a Status the exporter does not know.
    StatusUnknown,
    /// A backup has been running longer than [`super::facts::STUCK_AFTER`].
    Stuck,
    /// A download URL of a probed backup did not answer 2xx (the object not gone).
    DownloadUnreachable,
    /// The object behind a download URL is not the size CDS reports.
    SizeMismatch,
    /// The newest finished backup's verification found it broken.
    Corrupt,
    /// The newest finished backup holds no key while a recent earlier one held keys.
    Empty,
    /// The newest finished backup holds no key, and no earlier one is known to have.
    EmptyNoHistory,
    /// The newest finished backup needs a Redis with more than 16 databases.
    NeedsDatabases,
    /// The newest finished backup's only final verdicts cannot judge it.
    VerifyInconclusive,
    /// The newest finished backup has no verdict [`super::facts::UNVERIFIED_AFTER`] after
    /// its EndTime, though its instance is verified.
    Unverified,
    /// A backup of the shard starts or ends more than [`super::facts::FUTURE_AFTER`] after
    /// now: its account's `timezone` is wrong (or CDS's clock is far ahead).
    TimesInFuture,
    /// The exporter cannot see the instance's account.
    AccountBlind,
    /// DescribeBackups fails for the instance.
    InstanceBlind,
    /// A successful DescribeDBInstances stopped listing the instance.
    Vanished,
    /// A restore drill of a backup failed: Redis refused it, loaded another key count
    /// than the dump holds, or a data check failed. The backup is no restore point.
    DrillFailed,
    /// No successful restore drill of a drilled instance within `drill.warn_after`.
    DrillOverdue,
    /// The last restore drill used more memory than the instance's `Ram`.
    DrillMemory,
}

impl Reason {
    pub const ALL: [Reason; 23] = [
        Reason::NoRestorePoint,
        Reason::NeverBackedUp,
        Reason::NewestUnusable,
        Reason::ObjectGone,
        Reason::OldSnapshot,
        Reason::Failed,
        Reason::StatusUnknown,
        Reason::Stuck,
        Reason::DownloadUnreachable,
        Reason::SizeMismatch,
        Reason::Corrupt,
        Reason::Empty,
        Reason::EmptyNoHistory,
        Reason::NeedsDatabases,
        Reason::VerifyInconclusive,
        Reason::Unverified,
        Reason::TimesInFuture,
        Reason::AccountBlind,
        Reason::InstanceBlind,
        Reason::Vanished,
        Reason::DrillFailed,
        Reason::DrillOverdue,
        Reason::DrillMemory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoRestorePoint => "no_restore_point",
            Reason::NeverBackedUp => "never_backed_up",
            Reason::NewestUnusable => "newest_unusable",
            Reason::ObjectGone => "object_gone",
            Reason::OldSnapshot => "old_snapshot",
            Reason::Failed => "failed",
            Reason::StatusUnknown => "status_unknown",
            Reason::Stuck => "stuck",
            Reason::DownloadUnreachable => "download_unreachable",
            Reason::SizeMismatch => "size_mismatch",
            Reason::Corrupt => "corrupt",
            Reason::Empty => "empty",
            Reason::EmptyNoHistory => "empty_no_history",
            Reason::NeedsDatabases => "needs_databases",
            Reason::VerifyInconclusive => "verify_inconclusive",
            Reason::Unverified => "unverified",
            Reason::TimesInFuture => "times_in_future",
            Reason::AccountBlind => "account_blind",
            Reason::InstanceBlind => "instance_blind",
            Reason::Vanished => "vanished",
            Reason::DrillFailed => "drill_failed",
            Reason::DrillOverdue => "drill_overdue",
            Reason::DrillMemory => "drill_memory",
        }
    }

    /// Critical pages: no restore point within policy, or the exporter cannot see.
    pub fn severity(self) -> Severity {
        match self {
            Reason::NoRestorePoint | Reason::AccountBlind | Reason::InstanceBlind => {
                Severity::Critical
            }
            _ => Severity::Warning,
        }
    }

    /// The alert that fires for it; `None` for a finding that explains but pages nobody.
    pub fn alert(self) -> Option<&'static str> {
        Some(match self {
            Reason::NoRestorePoint => "CdsRedisBackupNoRestorePoint",
            Reason::NeverBackedUp => "CdsRedisBackupNeverBackedUp",
            Reason::NewestUnusable => "CdsRedisBackupNewestUnusable",
            Reason::ObjectGone | Reason::DownloadUnreachable => "CdsRedisBackupDownloadUnreachable",
            Reason::OldSnapshot => "CdsRedisBackupOldSnapshot",
            Reason::Failed => "CdsRedisBackupFailed",
            Reason::StatusUnknown => "CdsRedisBackupStatusUnknown",
            Reason::Stuck => "CdsRedisBackupStuck",
            Reason::SizeMismatch => "CdsRedisBackupSizeMismatch",
            Reason::Corrupt => "CdsRedisBackupCorrupt",
            Reason::Empty => "CdsRedisBackupEmpty",
            // An empty data set may be on purpose: nothing says it held keys.
            Reason::EmptyNoHistory => return None,
            Reason::NeedsDatabases => "CdsRedisBackupNeedsDatabases",
            Reason::VerifyInconclusive => "CdsRedisBackupVerifyInconclusive",
            Reason::Unverified => "CdsRedisBackupUnverified",
            Reason::TimesInFuture => "CdsRedisBackupTimesInFuture",
            Reason::AccountBlind => "CdsRedisBackupExporterBlind",
            Reason::InstanceBlind => "CdsRedisBackupInstanceBlind",
            Reason::Vanished => "CdsRedisInstanceVanished",
            Reason::DrillFailed => "CdsRedisBackupDrillFailed",
            Reason::DrillOverdue => "CdsRedisBackupDrillOverdue",
            Reason::DrillMemory => "CdsRedisBackupDrillMemory",
        })
    }

    /// Whether it is about the instance rather than one shard (exported without a
    /// `shard_id`).
    pub fn is_instance_level(self) -> bool {
        matches!(
            self,
            Reason::AccountBlind | Reason::InstanceBlind | Reason::Vanished
        )
    }
}
