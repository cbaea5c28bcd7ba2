//! `check --drill <instance_uuid>`: one restore drill now, with the configuration's
//! `drill:` settings whether or not `drill.enabled` is set (its rules choose the data
//! checks when one matches the instance; none apply otherwise). One poll cycle finds
//! the instance and the backup `drill.backup` picks — as the background driller would
//! ([`crate::drill::plan::due_jobs`]) — then [`crate::drill::run`] restores it. The
//! download shares a fresh verification limiter (`verify.max_bandwidth`,
//! `verify.daily_budget`); no state file is read or written.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::drill::download::Egress;
use crate::drill::{Book, DrillOutcome, DrillResult, Setup};
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::report::{for_terminal, human_bytes, memory_text, seconds_text};

/// Where a drill run is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The poll cycle: CDS calls so far.
    Polling { calls: u64 },
    /// Downloading: bytes so far, of the backup's size when CDS gave it. Once all of it
    /// arrived, Redis is loading it.
    Downloading { bytes: u64, size: Option<u64> },
}

impl Progress {
    /// The progress line: the cycle's calls, the bytes downloaded, then loading (once
    /// the backup's size arrived; without a size the line says loading follows).
    pub fn text(self) -> String {
        match self {
            Progress::Polling { calls } => format!("finding the instance: {calls} CDS calls"),
            Progress::Downloading {
                bytes,
                size: Some(size),
            } if bytes >= size => format!(
                "downloaded {}; loading into redis-server",
                human_bytes(bytes)
            ),
            Progress::Downloading {
                bytes,
                size: Some(size),
            } => format!(
                "downloading: {} of {}",
                human_bytes(bytes),
                human_bytes(size)
            ),
            Progress::Downloading { bytes, size: None } => format!(
                "downloaded {} (then loading into redis-server)",
                human_bytes(bytes)
            ),
        }
    }
}

/// A drill that ran (or could not start for want of a backup).
#[derive(Debug, Clone, Serialize)]
pub struct DrillRun {
    pub instance_uuid: String,
    pub instance_name: String,
    pub shard_id: String,
    pub backup_id: String,
    pub result: DrillResult,
}

impl DrillRun {
    /// 0: the restore passed; 1: it did not, or proved nothing.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.result.outcome != DrillOutcome::Ok)
    }
}

/// Why no drill ran: exit 2 or 3.
#[derive(Debug)]
pub enum NoDrill {
    /// No account lists the instance, and every account was seen (exit 2).
    Unknown(String),
    /// An account that may hold it could not be seen (exit 3).
    Unreachable(String),
    /// The configuration could not be put to work (exit 2).
    Setup(anyhow::Error),
}

impl NoDrill {
    pub fn exit_code(&self) -> u8 {
        match self {
            NoDrill::Unknown(_) | NoDrill::Setup(_) => 2,
            NoDrill::Unreachable(_) => 3,
        }
    }
}

impl std::fmt::Display for NoDrill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoDrill::Unknown(w) | NoDrill::Unreachable(w) => f.write_str(w),
            NoDrill::Setup(e) => write!(f, "{e:#}"),
        }
    }
}

/// Counts the bytes a drill downloads on their way through verification's limiter.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Egress>,
    bytes: Arc<AtomicU64>,
}

impl Egress for Counted {
    fn reserve(&self, n: u64) -> bool {
        self.inner.reserve(n)
    }
    fn pace(&self, n: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        self.inner.pace(n)
    }
    fn settle(&self, reserved: u64, spent: u64) {
        self.inner.settle(reserved, spent);
    }
}

/// Runs one poll cycle and one drill of `uuid`, calling `progress` every 100 ms.
pub async fn run(
    mut config: Config,
    uuid: &str,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<DrillRun, NoDrill> {
    let mut drill = config.drill.clone();
    drill.enabled = true;
    // The cycle neither verifies nor drills on its own: this command does the one drill.
    config.drill.enabled = false;
    config.verify.level = crate::config::VerifyLevel::Off;
    config.verify.rules.clear();
    config.verify.state_file = None;
    let metrics = Arc::new(Metrics::new().map_err(|e| NoDrill::Setup(e.into()))?);
    let mut poller = Poller::new(&config, Default::default(), Arc::clone(&metrics))
        .map_err(|e| NoDrill::Setup(e.into()))?;
    if drill.backup == crate::config::DrillPick::Random {
        poller.pick_for(uuid);
    }
    let cycle = poller.cycle();
    tokio::pin!(cycle);
    let snap = loop {
        tokio::select! {
            s = &mut cycle => break s,
            () = tokio::time::sleep(Duration::from_millis(100)) => progress(Progress::Polling { calls: metrics.api_calls() }),
        }
    };
    let known = snap.instances.contains_key(uuid)
        || snap.shards.keys().any(|k| k.instance_uuid == uuid)
        || snap.instance_backups.contains_key(uuid);
    let blind: Vec<&str> = snap
        .account_up
        .iter()
        .filter(|(_, up)| !**up)
        .map(|(a, _)| a.as_str())
        .collect();
    let (account, instance) = match snap.instances.get(uuid) {
        Some((a, i)) => (a.clone(), i.as_ref().clone()),
        None => (
            String::new(),
            crate::cds::Instance {
                uuid: uuid.to_owned(),
                ..Default::default()
            },
        ),
    };
    if !known || snap.account_up.get(&account) == Some(&false) {
        if !blind.is_empty() {
            return Err(NoDrill::Unreachable(format!(
                "cannot see account(s) {} (CDS unreachable or credentials refused): instance {uuid} cannot be drilled",
                blind.join(", ")
            )));
        }
        return Err(NoDrill::Unknown(format!(
            "no configured account lists instance {uuid}"
        )));
    }
    let checks = drill
        .checks_for(&account, &instance)
        .cloned()
        .unwrap_or_default();
    // Every instance selected, nothing drilled before: the job the driller would start.
    let mut every = drill.clone();
    every.rules.clear();
    let job = crate::drill::plan::due_jobs(&every, &snap, &Book::default(), chrono::Utc::now())
        .into_iter()
        .find(|j| j.instance_uuid == uuid);
    let mut out = DrillRun {
        instance_uuid: uuid.to_owned(),
        instance_name: instance.name.clone(),
        shard_id: String::new(),
        backup_id: String::new(),
        result: DrillResult::with(
            DrillOutcome::Skipped,
            format!(
                "no backup to drill: drill.backup {} found no finished backup with download URLs",
                drill.backup.as_str()
            ),
        ),
    };
    let Some(mut job) = job else {
        out.result.at = chrono::Utc::now().timestamp();
        return Ok(out);
    };
    job.drill.checks = checks;
    out.shard_id = job.shard_id.clone();
    out.backup_id = job.backup_id.clone();
    let http = crate::probe::client().map_err(|e| NoDrill::Setup(e.into()))?;
    let setup = Setup {
        http: http.clone(),
        url_types: config.verify.url_types.clone(),
        redis_server: drill.redis_server.clone(),
        scratch_dir: drill.scratch_dir.clone(),
        max_size: drill.max_size,
        disk_budget: drill.disk_budget,
        timeout: drill.timeout,
        answer_within: config.probe.timeout,
    };
    let verifier = crate::verify::Verifier::new(
        &config.verify,
        http,
        config.probe.timeout,
        Arc::clone(&metrics) as Arc<dyn crate::verify::Gauges>,
    );
    let bytes = Arc::new(AtomicU64::new(0));
    let egress = Counted {
        inner: verifier.egress(),
        bytes: Arc::clone(&bytes),
    };
    let size = job.drill.size;
    let drilling = crate::drill::run(&setup, &egress, &job.drill);
    tokio::pin!(drilling);
    out.result = loop {
        tokio::select! {
            r = &mut drilling => break r,
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                progress(Progress::Downloading { bytes: bytes.load(Ordering::Relaxed), size });
            }
        }
    };
    Ok(out)
}

/// The result for people: one fact a line; Redis' own line when it refused the dump.
pub fn text(run: &DrillRun) -> String {
    let r = &run.result;
    let name = if run.instance_name.is_empty() {
        run.instance_uuid.clone()
    } else {
        format!("{} ({})", run.instance_name, run.instance_uuid)
    };
    let mut out = format!("restore drill of {}\n", for_terminal(&name, 200));
    if !run.backup_id.is_empty() {
        out += &format!(
            "backup:    {} (shard {})\n",
            for_terminal(&run.backup_id, 200),
            for_terminal(
                if run.shard_id.is_empty() {
                    "-"
                } else {
                    &run.shard_id
                },
                200
            )
        );
    }
    out += &format!("result:    {}\n", r.outcome.as_str());
    if !r.detail.is_empty() {
        let label = match r.outcome {
            DrillOutcome::LoadFailed | DrillOutcome::Unsupported => "redis:    ",
            _ => "detail:   ",
        };
        out += &format!("{label} {}\n", for_terminal(&r.detail, 1000));
    }
    if r.bytes > 0 || r.download_seconds > 0.0 {
        out += &format!(
            "download:  {} ({})\n",
            seconds_text(r.download_seconds),
            human_bytes(r.bytes)
        );
    }
    if r.load_seconds > 0.0 || r.used_memory.is_some() {
        out += &format!("load:      {}\n", seconds_text(r.load_seconds));
        out += &format!(
            "recovery:  {} (download + load)\n",
            seconds_text(r.recovery_seconds())
        );
    }
    if r.keys_redis.is_some() || r.keys_verifier.is_some() {
        let n = |k: Option<u64>| k.map_or_else(|| "?".to_owned(), |k| k.to_string());
        out += &format!(
            "keys:      {} loaded by redis-server, {} counted by the verifier ({} with an expiry)\n",
            n(r.keys_redis),
            n(r.keys_verifier),
            n(r.keys_with_expiry)
        );
    }
    if r.used_memory.is_some() {
        out += &format!(
            "memory:    {} (used_memory after the load / the instance's Ram)\n",
            memory_text(r.used_memory, r.instance_ram)
        );
    }
    out
}

#[derive(Serialize)]
struct Json<'a> {
    exit_code: u8,
    #[serde(flatten)]
    run: &'a DrillRun,
    recovery_seconds: f64,
}

/// The result as JSON: the instance, the backup, and the drill's measurements.
pub fn json(run: &DrillRun) -> String {
    let doc = Json {
        exit_code: run.exit_code(),
        run,
        recovery_seconds: run.result.recovery_seconds(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_bytes_then_says_loading() {
        let d = |bytes, size| Progress::Downloading { bytes, size }.text();
        assert_eq!(
            Progress::Polling { calls: 3 }.text(),
            "finding the instance: 3 CDS calls"
        );
        assert_eq!(d(1536, Some(4096)), "downloading: 1.5 KiB of 4.0 KiB");
        assert_eq!(
            d(4096, Some(4096)),
            "downloaded 4.0 KiB; loading into redis-server"
        );
        assert_eq!(
            d(10, None),
            "downloaded 10 B (then loading into redis-server)"
        );
    }

    #[test]
    fn a_failed_load_prints_redis_line_and_exits_1() {
        let run = DrillRun {
            instance_uuid: "ins-a".into(),
            instance_name: "orders".into(),
            shard_id: "s1".into(),
            backup_id: "bk-1".into(),
            result: DrillResult {
                outcome: DrillOutcome::LoadFailed,
                detail: "Bad file format reading the append only file\u{1b}[2J".into(),
                download_seconds: 1.25,
                bytes: 2048,
                ..DrillResult::default()
            },
        };
        assert_eq!(run.exit_code(), 1);
        assert_eq!(
            text(&run),
            "restore drill of orders (ins-a)\nbackup:    bk-1 (shard s1)\nresult:    load_failed\nredis:     Bad file format reading the append only file\\u{1b}[2J\ndownload:  1.2 s (2.0 KiB)\n"
        );
    }
}
