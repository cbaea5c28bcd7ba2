//! Restore drills: a backup downloaded whole into `drill.scratch_dir`, loaded into a
//! throwaway `redis-server`, counted and checked, then everything removed — the proof
//! that a backup restores, and the measured recovery time (download + load).
//!
//! One file per concern: the scratch directory and the disk check ([`scratch`]), the
//! download that the verifier walks on the way ([`download`]), the scratch server
//! ([`server`]) and its wire protocol ([`resp`]), the results kept per backup and
//! instance ([`book`]), and which instance is due when plus the background task that
//! runs drills a semaphore's slots at a time ([`task`]). [`run`] is one drill, start to
//! end; every path out of it — an error, the deadline, the future dropped — removes
//! the scratch directory and kills the server.

pub mod download;
pub mod plan;
pub mod resp;
pub mod scratch;
pub mod server;
pub mod task;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cds::{SecretUrl, UrlType};
use crate::config::DataChecks;
use download::{Egress, Fetched, Held};
use server::{LoadError, Server};

pub use crate::drilled::{Book, DrillOutcome, DrillRecord, DrillResult, Drills, LastDrilled};
pub use task::Driller;

/// One backup to drill.
#[derive(Debug, Clone)]
pub struct Drill {
    pub urls: Vec<(UrlType, SecretUrl)>,
    /// BackupSize, when CDS gave it: checked against the limits before downloading.
    pub size: Option<u64>,
    pub instance_ram: Option<u64>,
    pub checks: DataChecks,
}

/// What every drill needs besides its backup.
#[derive(Debug, Clone)]
pub struct Setup {
    pub http: reqwest::Client,
    pub url_types: Vec<UrlType>,
    pub redis_server: PathBuf,
    pub scratch_dir: PathBuf,
    pub max_size: u64,
    /// What the scratch disk may hold for this drill.
    pub disk_budget: u64,
    pub timeout: Duration,
    pub answer_within: Duration,
}

/// Runs one drill within `setup.timeout`. The scratch directory is gone and the
/// server killed when this returns, and also when the future is dropped before.
pub async fn run(setup: &Setup, egress: &dyn Egress, drill: &Drill) -> DrillResult {
    let mut settle = Settle {
        egress,
        held: Held::default(),
    };
    let held = &mut settle.held;
    let mut r =
        match tokio::time::timeout(setup.timeout, run_within(setup, egress, drill, held)).await {
            Ok(r) => r,
            // A slow download is a failed one; a slow load says more of this host than of
            // the backup, so it is no verdict on the backup (never moves the restore point).
            Err(_) if held.downloaded => DrillResult::with(
                DrillOutcome::Skipped,
                format!(
                    "redis-server did not load and answer within drill.timeout ({})",
                    humantime::format_duration(setup.timeout)
                ),
            ),
            Err(_) => DrillResult::with(
                DrillOutcome::DownloadFailed,
                format!(
                    "not downloaded within drill.timeout ({})",
                    humantime::format_duration(setup.timeout)
                ),
            ),
        };
    r.bytes = held.bytes;
    drop(settle);
    r.instance_ram = drill.instance_ram;
    r.at = chrono::Utc::now().timestamp();
    r
}

/// Settles the budget a drill held when it ends, however it ends (a dropped drill too):
/// held bytes never stay reserved.
struct Settle<'a> {
    egress: &'a dyn Egress,
    held: Held,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.egress.settle(self.held.reserved, self.held.bytes);
    }
}

async fn run_within(
    setup: &Setup,
    egress: &dyn Egress,
    drill: &Drill,
    held: &mut Held,
) -> DrillResult {
    if let Some(size) = drill.size.filter(|s| *s > setup.max_size) {
        return DrillResult::with(
            DrillOutcome::TooLarge,
            format!(
                "BackupSize {size} is more than drill.max_size ({})",
                setup.max_size
            ),
        );
    }
    let version_line = match server::version(&setup.redis_server).await {
        Ok(v) => v,
        Err(e) => return DrillResult::with(DrillOutcome::Skipped, e),
    };
    // The download; a container's unwrapped dump is checked once its size is known (a
    // bare dump is renamed, never copied).
    let needed = drill.size.unwrap_or(setup.max_size);
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .create(&setup.scratch_dir)
    {
        return DrillResult::with(
            DrillOutcome::Skipped,
            format!("drill.scratch_dir cannot be created: {e}"),
        );
    }
    scratch::sweep(&setup.scratch_dir);
    let free = scratch::free_bytes(&setup.scratch_dir).unwrap_or(0);
    if let Some(why) = scratch::refuse(needed, setup.disk_budget, free) {
        return DrillResult::with(DrillOutcome::Skipped, why);
    }
    let scratch = match scratch::Scratch::create(&setup.scratch_dir) {
        Ok(s) => s,
        Err(e) => {
            return DrillResult::with(DrillOutcome::Skipped, format!("no scratch directory: {e}"))
        }
    };
    let object = scratch.path().join("object");
    let started = Instant::now();
    let mut fetched =
        Fetched::Failed("CDS gave no download URL of the types in verify.url_types".into());
    for t in &setup.url_types {
        let Some((_, url)) = drill.urls.iter().find(|(u, _)| u == t) else {
            continue;
        };
        held.bytes = 0;
        fetched = download::fetch(
            &setup.http,
            url,
            &object,
            setup.max_size,
            setup.answer_within,
            egress,
            held,
        )
        .await;
        if !matches!(fetched, Fetched::Failed(_)) {
            break;
        }
    }
    let download_seconds = started.elapsed().as_secs_f64();
    held.downloaded = true;
    let summary = match fetched {
        Fetched::Done(Ok(s)) => s,
        // The verifier's verdict is verification's business; the drill still lets
        // Redis judge, since that is what a restore would meet.
        Fetched::Done(Err(f)) => {
            return judged_by_redis_only(setup, &scratch, &object, f, download_seconds).await
        }
        Fetched::TooLarge(n) => {
            return DrillResult::with(
                DrillOutcome::TooLarge,
                format!("{n} bytes, more than drill.max_size ({})", setup.max_size),
            )
        }
        Fetched::Budget => {
            return DrillResult::with(
                DrillOutcome::Skipped,
                "the daily budget (verify.daily_budget) is spent",
            )
        }
        Fetched::Failed(e) => return DrillResult::with(DrillOutcome::DownloadFailed, e),
    };
    let mut r = DrillResult {
        download_seconds,
        keys_verifier: Some(summary.keys),
        keys_with_expiry: Some(summary.keys_with_expiry),
        rdb_version: Some(summary.head.version),
        ..DrillResult::default()
    };
    if let Some(readable) = server::rdb_version_read_by(&version_line) {
        if summary.head.version > readable {
            r.outcome = DrillOutcome::Unsupported;
            r.detail = format!(
                "RDB version {} is newer than {} reads (up to {readable})",
                summary.head.version, version_line
            );
            return r;
        }
    }
    let dump = scratch.path().join("dump.rdb");
    let container = summary.head.container;
    // The download was checked against the disk by its size; what a container unwraps
    // to (a gzip may hold many times its size) is checked now, with the object still
    // on disk beside it.
    let unwrapped = summary.bytes.saturating_add(summary.trailing_bytes);
    if container != crate::rdb::Container::Raw {
        let free = scratch::free_bytes(scratch.path()).unwrap_or(0);
        let needed = held.bytes.saturating_add(unwrapped);
        if let Some(why) =
            scratch::refuse(needed, setup.disk_budget, free.saturating_add(held.bytes))
        {
            return DrillResult {
                outcome: DrillOutcome::Skipped,
                detail: format!(
                    "{} bytes unwrapped from {}: {why}",
                    unwrapped,
                    container.as_str()
                ),
                ..r
            };
        }
    }
    let (o, d) = (object.clone(), dump.clone());
    match tokio::task::spawn_blocking(move || download::unwrap(&o, container, &d, unwrapped)).await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return DrillResult {
                outcome: DrillOutcome::LoadFailed,
                detail: format!("the container could not be unwrapped: {e}"),
                ..r
            }
        }
        Err(e) => {
            return DrillResult {
                outcome: DrillOutcome::Skipped,
                detail: format!("unwrapping stopped: {e}"),
                ..r
            }
        }
    }
    load_and_check(setup, &scratch, drill, r).await
}

/// A dump the verifier found fault with: Redis is asked all the same, without the key
/// comparison (there is no count to compare) and without unwrapping.
async fn judged_by_redis_only(
    setup: &Setup,
    scratch: &scratch::Scratch,
    object: &std::path::Path,
    failure: crate::rdb::Failure,
    download_seconds: f64,
) -> DrillResult {
    let r = DrillResult {
        download_seconds,
        detail: format!("the verifier found {failure}"),
        ..DrillResult::default()
    };
    if matches!(failure, crate::rdb::Failure::UnsupportedVersion { .. }) {
        return DrillResult {
            outcome: DrillOutcome::Unsupported,
            ..r
        };
    }
    if std::fs::rename(object, scratch.path().join("dump.rdb")).is_err() {
        return DrillResult {
            outcome: DrillOutcome::LoadFailed,
            ..r
        };
    }
    // Redis is the judge of a restore; the verifier's finding stays in the detail.
    let checks = DataChecks::default();
    let none = Drill {
        urls: Vec::new(),
        size: None,
        instance_ram: None,
        checks,
    };
    let mut loaded = load_and_check(setup, scratch, &none, r).await;
    if loaded.outcome == DrillOutcome::Ok {
        loaded.detail = format!("redis-server loaded it; {}", loaded.detail);
    }
    loaded
}

async fn load_and_check(
    setup: &Setup,
    scratch: &scratch::Scratch,
    drill: &Drill,
    mut r: DrillResult,
) -> DrillResult {
    let (mut server, loaded) =
        match Server::load(&setup.redis_server, scratch.path(), "dump.rdb").await {
            Ok(s) => s,
            Err(LoadError::Refused(line)) => {
                return DrillResult {
                    outcome: DrillOutcome::LoadFailed,
                    detail: line,
                    ..r
                }
            }
            Err(LoadError::Unsupported(line)) => {
                return DrillResult {
                    outcome: DrillOutcome::Unsupported,
                    detail: line,
                    ..r
                }
            }
            Err(LoadError::Start(e)) => {
                return DrillResult {
                    outcome: DrillOutcome::Skipped,
                    detail: e,
                    ..r
                }
            }
        };
    r.load_seconds = loaded.load.as_secs_f64();
    r.used_memory = Some(loaded.used_memory);
    let keys: u64 = loaded.keys_per_db.values().sum();
    r.keys_redis = Some(keys);
    r.outcome = DrillOutcome::Ok;
    if let Some(want) = r
        .keys_verifier
        .filter(|k| !keys_agree(*k, r.keys_with_expiry.unwrap_or(0), keys))
    {
        r.outcome = DrillOutcome::KeysMismatch;
        r.detail = format!(
            "redis-server loaded {keys} keys, the verifier counted {want} ({} with an expiry)",
            r.keys_with_expiry.unwrap_or(0)
        );
    } else if let Some(why) = data_checks(&mut server, &drill.checks).await {
        r.outcome = DrillOutcome::DataCheckFailed;
        r.detail = why;
    }
    server.stop().await;
    r
}

/// Whether Redis' count fits the dump's: every key, less at most those with an expiry
/// (Redis drops the ones expired by the time it loads; the verifier cannot know which).
pub fn keys_agree(in_dump: u64, with_expiry: u64, loaded: u64) -> bool {
    loaded <= in_dump && loaded >= in_dump.saturating_sub(with_expiry)
}

/// The first data check that fails, in words.
async fn data_checks(server: &mut Server, checks: &DataChecks) -> Option<String> {
    for k in &checks.keys {
        match server.exists(k.db, &k.key).await {
            Ok(true) => {}
            Ok(false) => return Some(format!("key {:?} is not in db {}", k.key, k.db)),
            Err(e) => return Some(format!("EXISTS in db {} failed: {e}", k.db)),
        }
    }
    for m in &checks.min_keys {
        match server.dbsize(m.db).await {
            Ok(n) if n >= m.count => {}
            Ok(n) => {
                return Some(format!(
                    "db {} holds {n} keys, fewer than {}",
                    m.db, m.count
                ))
            }
            Err(e) => return Some(format!("DBSIZE of db {} failed: {e}", m.db)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_with_an_expiry_may_be_missing_after_the_load() {
        assert!(keys_agree(10, 0, 10));
        assert!(keys_agree(10, 3, 7));
        assert!(!keys_agree(10, 3, 6));
        assert!(!keys_agree(10, 3, 11));
        assert!(!keys_agree(10, 0, 9));
    }
}
