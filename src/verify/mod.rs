//! Proving backups would restore: the newest finished backup of each shard is
//! downloaded (its head and tail, or all of it) and checked by [`crate::rdb`], in the
//! background, off the poll cycle.
//!
//! The poller offers jobs after each cycle ([`Verifier::offer`]); workers take them one
//! at a time per `verify.concurrency`, with the newest URLs CDS gave for the backup
//! (a job that waited in the queue would otherwise start with URLs long expired).
//! Every download shares one bandwidth limiter and one daily byte budget, which a job
//! reserves before its first byte and settles with what it took, so jobs running at
//! once cannot spend it twice. Each backup is verified once per level: a final result
//! (anything but `download_failed` and `skipped`) is kept for good, in memory and in
//! `verify.state_file`, and the others are tried again an hour later (the next UTC day
//! for the budget). Dropping the verifier (a reload, shutdown) cancels what is running;
//! a reloaded configuration takes the results over ([`Verifier::adopt`]).
//!
//! The state file also carries the poller's [`crate::facts::Facts`]: the poller takes
//! them once at start ([`Verifier::restored_facts`]) and hands its newest after each
//! cycle ([`Verifier::keep_facts`]), written with the same coalescing.

mod egress;
mod fetch;
mod store;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cds::{SecretUrl, UrlType};
use crate::config::{VerifyConfig, VerifyLevel};
use crate::rdb;
use crate::state::{BackupKey, ShardKey};
use crate::sync::lock;
pub use crate::verification::{LastVerified, Outcome, Verification};
pub use store::{state_file_bytes_written, Store, MAX_STATE_BYTES, SAVE_INTERVAL};

/// A result that says nothing about the backup is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One backup to verify: the newest finished backup of its shard, with the URLs CDS
/// gave this cycle.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: BackupKey,
    pub shard: String,
    /// EndTime, Unix seconds.
    pub end: i64,
    /// BackupSize, if CDS gave it.
    pub size: Option<u64>,
    pub level: VerifyLevel,
    pub urls: Vec<(UrlType, SecretUrl)>,
}

type JobKey = (BackupKey, VerifyLevel);

/// Where the verifier reports how it is doing while it works (the poller connects it
/// to the metrics): the one way out of this module besides [`Verifier::results`], so
/// the verifier needs nothing above the data layer.
pub trait Gauges: Send + Sync + std::fmt::Debug {
    /// Bytes of today's `verify.daily_budget` left.
    fn budget_left(&self, bytes: u64);
    /// Jobs running and waiting.
    fn progress(&self, running: usize, queued: usize);
    /// Bytes downloaded, as they arrive.
    fn downloaded(&self, bytes: u64);
}

/// What verification knows of the backups and shards a snapshot exports.
#[derive(Debug, Default)]
pub struct Found {
    pub verifications: BTreeMap<BackupKey, Vec<Verification>>,
    /// Each shard's newest backup verified `ok`.
    pub verified: BTreeMap<ShardKey, LastVerified>,
}

#[derive(Debug)]
pub struct Verifier {
    shared: Arc<Shared>,
    /// Started with the first job, from inside the runtime; aborted on drop.
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Writes the state file ([`save_often`]); started with the first job or the first
    /// facts, aborted on drop.
    saver: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    config: VerifyConfig,
    http: reqwest::Client,
    store: Mutex<Store>,
    queue: Mutex<VecDeque<Job>>,
    /// Queued or running.
    pending: Mutex<HashSet<JobKey>>,
    retry_at: Mutex<HashMap<JobKey, Instant>>,
    wake: Notify,
    limiter: governor::DefaultDirectRateLimiter,
    burst: u32,
    /// How long a download may take to connect and answer (the probe's timeout).
    answer_within: Duration,
    /// The newest URLs offered for each queued or running job, taken by the worker
    /// that starts it.
    fresh: Mutex<HashMap<JobKey, Vec<(UrlType, SecretUrl)>>>,
    /// Budget bytes held by running jobs and not settled yet; taken with `store`
    /// locked, so spent + reserved never passes `verify.daily_budget`.
    reserved: Mutex<u64>,
    in_flight: AtomicUsize,
    /// A result changed the store: the state file is due (see [`store::SAVE_INTERVAL`]).
    save: Notify,
    gauges: Arc<dyn Gauges>,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        for w in lock(&self.workers).drain(..) {
            w.abort();
        }
        if let Some(s) = lock(&self.saver).take() {
            s.abort();
        }
        // The last write: what arrived since the previous one is not lost on a reload
        // or a clean shutdown (a store adopted by a newer verifier writes nothing).
        store::save(&self.shared.store);
    }
}

impl Verifier {
    /// Reads the state file (if any); nothing runs until the first [`Self::offer`].
    /// Each download must connect and answer with its headers within `answer_within`
    /// (the poller gives `probe.timeout`).
    pub fn new(
        config: &VerifyConfig,
        http: reqwest::Client,
        answer_within: Duration,
        gauges: Arc<dyn Gauges>,
    ) -> Self {
        // Bursts of 1/20 s (at least 64 KiB): the cap holds over short downloads too.
        let per_second = u32::try_from(config.max_bandwidth).unwrap_or(u32::MAX);
        let burst = (per_second / 20).max(64 << 10).min(per_second).max(1);
        let nonzero = |n| std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst));
        let store = Store::open(config.state_file.as_deref());
        let remaining = config.daily_budget.saturating_sub(store.budget.1);
        gauges.budget_left(remaining);
        Self {
            shared: Arc::new(Shared {
                config: config.clone(),
                http,
                store: Mutex::new(store),
                queue: Mutex::new(VecDeque::new()),
                pending: Mutex::new(HashSet::new()),
                retry_at: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                limiter: governor::RateLimiter::direct(quota),
                burst,
                answer_within,
                fresh: Mutex::new(HashMap::new()),
                reserved: Mutex::new(0),
                in_flight: AtomicUsize::new(0),
                save: Notify::new(),
                gauges,
            }),
            workers: Mutex::new(Vec::new()),
            saver: Mutex::new(None),
        }
    }

    /// The facts the state file held at start (taken: the poller owns them from then on).
    pub fn restored_facts(&self) -> crate::facts::Facts {
        std::mem::take(&mut lock(&self.shared.store).facts)
    }

    /// Whether a state file is configured (`verify.state_file`).
    pub fn has_state_file(&self) -> bool {
        lock(&self.shared.store).has_file()
    }

    /// The poller's newest facts, for the state file; written with the next save.
    pub fn keep_facts(&self, facts: crate::facts::Facts) {
        let mut store = lock(&self.shared.store);
        if !store.has_file() {
            return;
        }
        store.set_facts(facts);
        drop(store);
        self.start_saver();
        self.shared.save.notify_one();
    }

    fn start_saver(&self) {
        let mut saver = lock(&self.saver);
        if saver.is_none() {
            *saver = Some(tokio::spawn(save_often(Arc::clone(&self.shared))));
        }
    }

    /// Takes over what `old` found (its running and queued jobs are dropped with it and
    /// offered again by the next cycle).
    pub fn adopt(&self, old: &Verifier) {
        let mut theirs = lock(&old.shared.store);
        lock(&self.shared.store).take_over(&mut theirs);
    }

    /// Queues the jobs not verified yet at their level, not queued already, and not
    /// waiting for a retry. The URLs of a job queued or running already are kept as
    /// its newest, for when a worker starts it.
    pub fn offer(&self, jobs: Vec<Job>) {
        let now = Instant::now();
        let mut added = 0;
        {
            let store = lock(&self.shared.store);
            let mut pending = lock(&self.shared.pending);
            let mut retry = lock(&self.shared.retry_at);
            retry.retain(|_, at| *at > now);
            let mut queue = lock(&self.shared.queue);
            let mut fresh = lock(&self.shared.fresh);
            for job in jobs {
                let key = (job.key.clone(), job.level);
                if pending.contains(&key) {
                    fresh.insert(key, job.urls);
                    continue;
                }
                if job.level == VerifyLevel::Off
                    || store.final_result(&job.key, job.level).is_some()
                    || retry.contains_key(&key)
                {
                    continue;
                }
                pending.insert(key);
                queue.push_back(job);
                added += 1;
            }
        }
        if added == 0 {
            return;
        }
        self.start_workers();
        self.shared.progress();
        for _ in 0..added {
            self.shared.wake.notify_one();
        }
    }

    fn start_workers(&self) {
        let mut workers = lock(&self.workers);
        if workers.is_empty() {
            for _ in 0..self.shared.config.concurrency {
                workers.push(tokio::spawn(work(Arc::clone(&self.shared))));
            }
        }
        drop(workers);
        self.start_saver();
    }

    /// The results of `keys` and every shard's last verified backup, for the snapshot;
    /// results of other backups are forgotten.
    pub fn results(&self, keys: &HashSet<&BackupKey>, shards: &HashSet<ShardKey>) -> Found {
        let mut store = lock(&self.shared.store);
        store.retain(|k| keys.contains(k), |s| shards.contains(s));
        Found {
            verifications: store
                .results
                .iter()
                .map(|(k, m)| (k.clone(), m.values().cloned().collect()))
                .collect(),
            verified: store.shards.clone(),
        }
    }
}

impl Shared {
    fn progress(&self) {
        let queued = lock(&self.queue).len();
        self.gauges
            .progress(self.in_flight.load(Ordering::Relaxed), queued);
    }
}

/// One worker: takes jobs until aborted.
async fn work(shared: Arc<Shared>) {
    loop {
        let job = lock(&shared.queue).pop_front();
        let Some(mut job) = job else {
            shared.wake.notified().await;
            continue;
        };
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        shared.progress();
        let key = (job.key.clone(), job.level);
        if let Some(urls) = lock(&shared.fresh).remove(&key) {
            job.urls = urls;
        }
        let (mut v, reserved) = verify(&shared, &job).await;
        // Results decided before any download (too large, budget spent) have a time too.
        if v.at == 0 {
            v.at = Utc::now().timestamp();
        }
        finish(&shared, &job, v, reserved).await;
        lock(&shared.fresh).remove(&key);
        lock(&shared.pending).remove(&key);
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        shared.progress();
    }
}

/// Writes the state file when results changed it: at once after a quiet spell, then
/// at most once per [`store::SAVE_INTERVAL`] (a notification waiting meanwhile is one).
async fn save_often(shared: Arc<Shared>) {
    loop {
        shared.save.notified().await;
        let s = Arc::clone(&shared);
        let _ = tokio::task::spawn_blocking(move || store::save(&s.store)).await;
        tokio::time::sleep(store::SAVE_INTERVAL).await;
    }
}

fn today() -> i64 {
    Utc::now().timestamp().div_euclid(86_400)
}

impl Shared {
    /// Holds `n` more bytes of today's budget for a job; false if they do not fit.
    fn reserve(&self, n: u64) -> bool {
        let mut store = lock(&self.store);
        let mut reserved = lock(&self.reserved);
        let after = store
            .spent(today())
            .saturating_add(*reserved)
            .saturating_add(n);
        if after > self.config.daily_budget {
            return false;
        }
        *reserved += n;
        true
    }
}

/// What a job holds of the budget before its first request: its BackupSize for a full
/// check (0 when unknown: then the response's length, or each chunk as it comes), the
/// head and tail for a light one.
fn first_reservation(job: &Job) -> u64 {
    match job.level {
        VerifyLevel::Full => job.size.unwrap_or(0),
        _ => (rdb::HEAD_BYTES + rdb::TAIL_BYTES) as u64,
    }
}

/// Runs one job: the URLs in `verify.url_types` order, the next one only when a
/// download failed, within the budget, the size cap and the deadline. Returns the
/// result and the budget bytes the job held, for [`finish`] to settle.
async fn verify(shared: &Shared, job: &Job) -> (Verification, u64) {
    let c = &shared.config;
    let skipped = |detail: &str| Verification {
        level: job.level,
        outcome: Outcome::Skipped,
        detail: detail.to_owned(),
        ..Verification::default()
    };
    if job.level == VerifyLevel::Full {
        if let Some(size) = job.size.filter(|s| *s > c.max_size) {
            let v = Verification {
                level: job.level,
                outcome: Outcome::TooLarge,
                detail: format!(
                    "BackupSize {size} is more than verify.max_size ({})",
                    c.max_size
                ),
                ..Verification::default()
            };
            return (v, 0);
        }
    }
    let first = first_reservation(job);
    if !shared.reserve(first) {
        return (fetch::budget_spent(job.level), 0);
    }
    let started = Instant::now();
    let on_bytes = |n: u64| shared.gauges.downloaded(n);
    let reserve = |n: u64| shared.reserve(n);
    let mut pipe = fetch::Pipe {
        limiter: &shared.limiter,
        burst: shared.burst,
        bytes: 0,
        on_bytes: &on_bytes,
        reserved: first,
        reserve: &reserve,
        answer_within: shared.answer_within,
    };
    let mut v = skipped("CDS gave no download URL of the types in verify.url_types");
    for url_type in &c.url_types {
        let Some((_, url)) = job.urls.iter().find(|(t, _)| t == url_type) else {
            continue;
        };
        let run = async {
            match job.level {
                VerifyLevel::Full => fetch::full(&shared.http, url, c.max_size, &mut pipe).await,
                _ => fetch::light(&shared.http, url, &mut pipe).await,
            }
        };
        v = match tokio::time::timeout(c.timeout, run).await {
            Ok(v) => v,
            Err(_) => Verification {
                level: job.level,
                outcome: Outcome::DownloadFailed,
                detail: format!(
                    "not done within verify.timeout ({})",
                    humantime::format_duration(c.timeout)
                ),
                ..Verification::default()
            },
        };
        if v.outcome != Outcome::DownloadFailed {
            break;
        }
    }
    v.bytes = pipe.bytes;
    v.duration_ms = started.elapsed().as_millis() as u64;
    v.at = Utc::now().timestamp();
    (v, pipe.reserved)
}

/// The log line of a result. Optional fields are left out when absent (tracing records
/// `None` as nothing), never written as `Some(..)`; the verification level is
/// `verify_level`, since logfmt's own `level` is the line's severity.
pub(crate) fn log_result(uuid: &str, id: &str, v: &Verification) {
    match v.outcome {
        Outcome::Ok | Outcome::Empty => {
            info!(
                instance_uuid = uuid,
                backup_id = id,
                verify_level = v.level.as_str(),
                result = v.outcome.as_str(),
                keys = v.keys,
                bytes = v.bytes,
                duration_ms = v.duration_ms,
                "backup verified"
            )
        }
        _ => {
            warn!(instance_uuid = uuid, backup_id = id, verify_level = v.level.as_str(), result = v.outcome.as_str(), http_status = v.http_status, detail = %v.detail, bytes = v.bytes, "backup verification failed")
        }
    }
}

/// Records, logs and saves a result, and settles the budget: the `reserved` bytes the
/// job held are given back and what it downloaded is spent, in one step. Schedules a
/// retry when the result is not final.
async fn finish(shared: &Shared, job: &Job, v: Verification, reserved: u64) {
    let (uuid, id) = (&job.key.instance_uuid, &job.key.backup_id);
    log_result(uuid, id, &v);
    if !v.outcome.is_final() {
        let wait = if v.outcome == Outcome::Skipped && v.detail.contains("budget") {
            let left = 86_400 - Utc::now().timestamp().rem_euclid(86_400);
            Duration::from_secs(u64::try_from(left).unwrap_or(3600))
        } else {
            RETRY_AFTER
        };
        // At most a day ahead, so this always fits; checked all the same.
        if let Some(at) = Instant::now().checked_add(wait) {
            lock(&shared.retry_at).insert((job.key.clone(), job.level), at);
        }
    }
    let remaining = {
        let mut store = lock(&shared.store);
        let remaining = store.spend(today(), v.bytes, shared.config.daily_budget);
        let mut held = lock(&shared.reserved);
        *held = held.saturating_sub(reserved);
        drop(held);
        store.record(&job.key, &job.shard, job.end, v);
        remaining
    };
    shared.gauges.budget_left(remaining);
    shared.save.notify_one();
}
