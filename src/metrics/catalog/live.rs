//! The families read at every scrape: the exporter's own registry and the client
//! library's process collector.

use super::{Family, Kind};
use crate::metrics::labels::*;

pub const API_ERRORS_TOTAL: Family<ApiErrorLabels<'static>> = Family::live(
    Kind::Counter,
    "cds_redis_backup_exporter_api_errors_total",
    "Failed CDS API call attempts by account, action and kind of failure (timeout, connect, transport, throttled, server_error, api_error, http_error, decode, too_large).",
);
pub const API_REQUEST_DURATION_SECONDS: Family<ActionLabels<'static>> = Family::live(
    Kind::Histogram,
    "cds_redis_backup_exporter_api_request_duration_seconds",
    "Latency of CDS API calls.",
);
pub const API_REQUESTS_TOTAL: Family<ApiCallLabels<'static>> = Family::live(
    Kind::Counter,
    "cds_redis_backup_exporter_api_requests_total",
    "CDS API calls by account, action and result code (Success, a CDS error code, or http_error, decode_error, timeout, transport_error).",
);
pub const API_RETRIES_TOTAL: Family<AccountActionLabels<'static>> = Family::live(
    Kind::Counter,
    "cds_redis_backup_exporter_api_retries_total",
    "CDS API calls tried again after a transient failure.",
);
pub const BUILD_INFO: Family<BuildLabels<'static>> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_build_info",
    "Build of this exporter; always 1.",
);
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_config_last_reload_success_timestamp_seconds",
    "Time of the last successful configuration load as Unix time.",
);
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_config_last_reload_successful",
    "1 if the last configuration reload succeeded (or none was tried).",
);
pub const SHARD_INFO: Family<ShardInfoLabels<'static>> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_shard_info",
    "This replica's shard (--shard, 0-based) of --total-shards; always 1.",
);
pub const STATE_FILE_CONFIGURED: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_state_file_configured",
    "1 if verify.state_file is set, so remembered shards, their last finished backups, cadence history, first-seen times and verification results survive a restart; 0 if a restart forgets them.",
);
pub const UNFINISHED_BACKUPS_SKIPPED_TOTAL: Family<AccountLabels<'static>> = Family::live(
    Kind::Counter,
    "cds_redis_backup_exporter_unfinished_backups_skipped_total",
    "Unfinished backups not looked up because an instance listed more than poll.max_unfinished_backups, summed over cycles.",
);
pub const VERIFY_BUDGET_REMAINING_BYTES: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_verify_budget_remaining_bytes",
    "Bytes verification may still download today (verify.daily_budget, UTC days).",
);
pub const VERIFY_BYTES_TOTAL: Family<()> = Family::live(
    Kind::Counter,
    "cds_redis_backup_exporter_verify_bytes_total",
    "Bytes downloaded to verify backups.",
);
pub const VERIFY_IN_FLIGHT: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_verify_in_flight",
    "Backup verifications running now.",
);
pub const VERIFY_QUEUED: Family<()> = Family::live(
    Kind::Gauge,
    "cds_redis_backup_exporter_verify_queued",
    "Backup verifications waiting for a worker.",
);

pub const PROCESS_CPU_SECONDS_TOTAL: Family<()> = Family::process(
    Kind::Counter,
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
);
pub const PROCESS_OPEN_FDS: Family<()> = Family::process(
    Kind::Gauge,
    "process_open_fds",
    "Number of open file descriptors.",
);
pub const PROCESS_MAX_FDS: Family<()> = Family::process(
    Kind::Gauge,
    "process_max_fds",
    "Maximum number of open file descriptors.",
);
pub const PROCESS_VIRTUAL_MEMORY_BYTES: Family<()> = Family::process(
    Kind::Gauge,
    "process_virtual_memory_bytes",
    "Virtual memory size in bytes.",
);
pub const PROCESS_RESIDENT_MEMORY_BYTES: Family<()> = Family::process(
    Kind::Gauge,
    "process_resident_memory_bytes",
    "Resident memory size in bytes.",
);
pub const PROCESS_START_TIME_SECONDS: Family<()> = Family::process(
    Kind::Gauge,
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
);
pub const PROCESS_THREADS: Family<()> = Family::process(
    Kind::Gauge,
    "process_threads",
    "Number of OS threads in the process.",
);
