//! The default and meaning of every key of `config.yaml`, in schema order. The schema
//! (`raw.rs`) gives paths and types; a test fails when a key has no entry here.

use super::KeyDoc;

const fn k(path: &'static str, default: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { path, default, doc }
}

/// A rule's matchers, the same in `staleness` and `verify.rules`.
macro_rules! matchers {
    ($at:literal) => {
        [
            k(concat!($at, ".account"), "any", "Matches instances watched through this account (a name under `accounts`)."),
            k(concat!($at, ".tag"), "any", "Matches instances that carry this CDS tag name, exactly."),
            k(concat!($at, ".instance_name"), "any", "Matches instance names against this glob: `*` any text, `?` one character, `[abc]` one of a set."),
            k(concat!($at, ".instance_uuid"), "any", "Matches this one instance."),
        ]
    };
}

const STALENESS: [KeyDoc; 4] = matchers!("staleness[]");
const VERIFY_RULES: [KeyDoc; 4] = matchers!("verify.rules[]");
const DRILL_RULES: [KeyDoc; 4] = matchers!("drill.rules[]");

pub const KEYS: &[KeyDoc] = &[
    k("poll", "", "How and how often the CDS API is polled. Scrapes never call the API; they serve the last completed cycle."),
    k("poll.interval", "`5m`", "How often to poll the CDS API (at least 1s)."),
    k("poll.concurrency", "`8`", "CDS API calls in flight at once, across all accounts (1-256)."),
    k("poll.request_timeout", "`10s`", "Deadline of every CDS API request (at least 100ms)."),
    k("poll.start_jitter", "`5s`", "The first cycle starts after a random delay up to this, so replicas spread out."),
    k("poll.extra_backups", "`0`", "Per instance, finished backups to export beyond the newest of each shard (0-100)."),
    k("poll.max_shard_lookups", "`10`", "Per cluster instance and cycle, backups of unknown shard to look up with DownloadBackup; a backup's shard is learned once and remembered (1-1000)."),
    k("poll.max_unfinished_backups", "`10`", "Per instance and cycle, unfinished backups newer than the newest finished one to look up, newest first; the rest are skipped and counted (1-1000)."),
    k("poll.max_retries", "`2`", "Retries of a CDS API call that failed transiently, after the first attempt (0-10)."),
    k("poll.retry_backoff", "`500ms`", "Delay before the first retry; later ones grow up to `poll.retry_max_backoff` (at least 10ms)."),
    k("poll.retry_max_backoff", "`30s`", "The longest delay between retries; not shorter than `poll.retry_backoff`."),
    k("poll.rate_limit", "unlimited", "CDS API requests per second across all accounts (above 0, at most 10000; 0.5 is one every 2 seconds)."),
    k("poll.max_response_size", "`8MiB`", "Larger CDS API answers are rejected (1KiB to 1GiB)."),
    k("poll.stale_after", "1h, or 3 × `poll.interval` if longer", "While a target's calls keep failing, its observations (URL reachable, backup running) are served this long, then dropped; facts about the past stay, with `cds_redis_backup_up` 0. At least `poll.interval`."),
    k("poll.forget_vanished_after", "`24h`", "An instance a successful discovery no longer lists is reported in `cds_redis_instance_vanished_timestamp_seconds` this long, then forgotten."),
    k("probe", "", "Probes of the newest finished backups' download URLs (`GET` with `Range: bytes=0-0`)."),
    k("probe.enabled", "`true`", "Whether to probe download URLs at all."),
    k("probe.concurrency", "`8`", "Probes in flight at once, across all accounts (1-256); separate from `poll.concurrency`, as probes go to the object store."),
    k("probe.url_types", "`[public]`", "Which URLs to probe: `public` (BackupDownloadUrl) and/or `intranet` (BackupIntranetDownloadUrl, reachable only from the same CDS region)."),
    k("probe.timeout", "`10s`", "Deadline of each probe (at least 100ms)."),
    k("accounts", "required", "One entry per CDS account (or per region of an account), each with at least one target: `backups`, `instances` or `discovery`."),
    k("accounts[].name", "required", "The account's name, unique; the `account` label and what rules match."),
    k("accounts[].endpoint", "`cn`", "A regional base URL, or `cn`, `asia`, `us` for https://cdsapi.capitalonline.net, https://cdsapi-asia.capitalonline.net, https://cdsapi-us.capitalonline.net; any http(s) URL without a query works (proxies)."),
    k("accounts[].access_key_id", "from the environment", "The access key id; left out, the environment variable CDS_ACCESS_KEY_ID."),
    k("accounts[].access_key_secret", "from the environment", "The access key secret, never shown in messages or logs; left out (and without `access_key_secret_file`), the environment variable CDS_ACCESS_KEY_SECRET. Keep it out of the file: `${VAR}`."),
    k("accounts[].access_key_secret_file", "none", "A file holding the secret (a mounted Docker or Kubernetes secret); trailing whitespace is dropped. Not together with `access_key_secret`."),
    k("accounts[].timezone", "`+08:00`", "Zone of CDS StartTime, EndTime and CreatedTime values: a UTC offset (-12:00 to +14:00) or `UTC`. CDS uses Beijing time."),
    k("accounts[].backups", "none", "Named backups: DownloadBackup for each, every cycle."),
    k("accounts[].backups[].instance_uuid", "required", "The backup's instance."),
    k("accounts[].backups[].backup_id", "required", "The backup."),
    k("accounts[].instances", "none", "Instances: DescribeBackups, then DownloadBackup for every backup newer than the newest finished one and for the newest finished one of each shard."),
    k("accounts[].instances[].instance_uuid", "required", "The instance."),
    k("accounts[].discovery", "none", "DescribeDBInstances, each Redis instance found handled like `instances`; `discovery: {}` watches every one."),
    k("accounts[].discovery.tag_name", "any", "Only instances with this CDS tag."),
    k("accounts[].discovery.instance_name", "any", "Only instances whose name CDS matches with this."),
    k("staleness", "none", "How old a shard's restore point may get before CdsRedisBackupNoRestorePoint pages. The first rule whose matchers all match an instance wins; a rule without matchers matches every instance. Without a matching rule, the schedule learned from the shard's automatic backups allows until the next expected run plus max(2h, gap/12) (daily 26h); with fewer than 3 such backups, 26h."),
    STALENESS[0],
    STALENESS[1],
    STALENESS[2],
    STALENESS[3],
    k("staleness[].max_age", "required", "The largest allowed age of the restore point, counted from its backup's EndTime (at least 1m)."),
    k("verify", "", "Verification of backup contents in the background: the newest finished backup of each shard is downloaded and read as a Redis dump, once per level. `light`: ranged GETs of the first 64 KiB and the last 9 bytes (container, magic, version, AUX fields, the end). `full`: the whole object, every record walked, keys counted, CRC-64 checked."),
    k("verify.level", "`light`", "For instances no rule matches: `off`, `light` or `full`."),
    k("verify.rules", "none", "Per-instance levels; the first matching rule wins."),
    VERIFY_RULES[0],
    VERIFY_RULES[1],
    VERIFY_RULES[2],
    VERIFY_RULES[3],
    k("verify.rules[].level", "required", "`off`, `light` or `full`."),
    k("verify.url_types", "`[intranet, public]`", "Which URL to download first; the next one only if that download fails. `intranet` works only from inside the CDS region."),
    k("verify.concurrency", "`1`", "Verifications running at once (1-16)."),
    k("verify.max_bandwidth", "`8MiB`", "Bytes per second across all verification downloads (64KiB to 10GiB)."),
    k("verify.max_size", "`4GiB`", "Objects larger than this are not downloaded whole (result `too_large`; 1MiB to 1TiB)."),
    k("verify.daily_budget", "`20GiB`", "Bytes downloaded per UTC day at most; past it, verifications wait for the next day (1MiB to 100TiB)."),
    k("verify.timeout", "`1h`", "Deadline of one verification (1s to 7 days)."),
    k("verify.state_file", "none (memory only)", "Where what a restart must not forget is written atomically: verification results, each instance's shards and last finished backups, cadence history, first-seen times."),
    k("drill", "", "Restore drills: backups restored into a throwaway `redis-server` on a schedule, measuring the recovery time (off by default)."),
    k("drill.enabled", "`false`", "Run restore drills at all."),
    k("drill.rules", "none (every instance, no data checks)", "Which instances are drilled and their data checks; the first matching rule wins, and with rules an instance no rule matches is not drilled."),
    DRILL_RULES[0],
    DRILL_RULES[1],
    DRILL_RULES[2],
    DRILL_RULES[3],
    k("drill.rules[].keys", "none", "Keys that must exist after the load."),
    k("drill.rules[].keys[].db", "0", "The key's database (0-15)."),
    k("drill.rules[].keys[].key", "required", "The key's name."),
    k("drill.rules[].min_keys", "none", "The fewest keys a database must hold after the load."),
    k("drill.rules[].min_keys[].db", "0", "The database (0-15)."),
    k("drill.rules[].min_keys[].count", "required", "The fewest keys (1 or more)."),
    k("drill.every", "`7d`", "How often each instance is drilled (at least 1h), spread over the period by instance."),
    k("drill.backup", "`latest`", "Which backup: `latest` (the restore point) or `random` (any finished backup CDS still lists, picked afresh for each drill; its URLs cost one `DownloadBackup`)."),
    k("drill.concurrency", "`1`", "Drills at once, each with its own scratch `redis-server` (1-8)."),
    k("drill.timeout", "`1h`", "Deadline of one drill, download and load (at most 7 days). Downloads share `verify.max_bandwidth`: at its default 8MiB/s a 1 GiB backup takes about 2 minutes."),
    k("drill.max_size", "`4GiB`", "Backups larger than this are not drilled (result `too_large`; 1KiB to 1TiB)."),
    k("drill.scratch_dir", "the system's temporary directory + `cds-redis-backup-drills`", "An absolute path where drills download and load; every file is deleted after each drill."),
    k("drill.disk_budget", "`10GiB`", "Disk the drills may use at once (1KiB to 100TiB): the download (BackupSize) must fit it and the free space before it starts, and a gzip or tar's unwrapped dump beside it before it is written."),
    k("drill.redis_server", "`redis-server` on PATH", "The `redis-server` binary that loads the dump."),
    k("drill.warn_after", "`14d`", "No successful drill for this long is a warning (at least `drill.every`)."),
];
