//! When each instance is drilled, and the background task that drills it. Each drilled
//! instance has slots every `drill.every`, shifted by a stable hash of its UUID so a
//! fleet's drills spread over the period instead of bunching; it is due when a slot
//! passed since its last drill (and at once when it was never drilled). Drills run as
//! tasks of their own, at most `drill.concurrency` scratch servers at once (a
//! semaphore), so none ever delays a poll cycle or a scrape; dropping the
//! [`Driller`] aborts them, which kills their servers and removes their files.

use std::collections::HashSet;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::{info, warn};

use super::download::Egress;
use super::{run, Book, Drill, DrillOutcome, DrillRecord, Setup};
use crate::sync::lock;

/// This instance's offset within each period, in seconds: the same on every replica
/// and across restarts.
pub fn offset(uuid: &str, every: Duration) -> i64 {
    let mut h = fnv::FnvHasher::default();
    h.write(uuid.as_bytes());
    let period = every.as_secs().max(1);
    i64::try_from(h.finish() % period).unwrap_or(0)
}

/// Whether a slot of `uuid` passed after `last_run` and by `now` (Unix seconds).
pub fn due(uuid: &str, every: Duration, last_run: Option<i64>, now: i64) -> bool {
    let Some(last) = last_run else { return true };
    let period = i64::try_from(every.as_secs().max(1)).unwrap_or(i64::MAX);
    let off = offset(uuid, every);
    let slot = |t: i64| (t - off).div_euclid(period);
    slot(now) > slot(last)
}

/// One backup to drill, and whose it is.
#[derive(Debug, Clone)]
pub struct DrillJob {
    pub instance_uuid: String,
    pub shard_id: String,
    pub backup_id: String,
    pub drill: Drill,
}

#[derive(Debug)]
pub struct Driller {
    setup: Setup,
    egress: Arc<dyn Egress>,
    slots: Arc<Semaphore>,
    book: Arc<Mutex<Book>>,
    running: Arc<Mutex<HashSet<String>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Driller {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

impl Driller {
    pub fn new(setup: Setup, concurrency: usize, egress: Arc<dyn Egress>, book: Book) -> Self {
        Driller {
            setup,
            egress,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            book: Arc::new(Mutex::new(book)),
            running: Arc::new(Mutex::new(HashSet::new())),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// What drills found so far.
    pub fn book(&self) -> Book {
        lock(&self.book).clone()
    }

    /// Whether `uuid` has no drill running and one of its slots passed since its last
    /// drill ([`due`]).
    pub fn is_due(&self, uuid: &str, every: Duration, now: i64) -> bool {
        let last = lock(&self.book).last_run.get(uuid).copied();
        !lock(&self.running).contains(uuid) && due(uuid, every, last, now)
    }

    /// Forgets what `watched` and `listed` no longer hold ([`Book::retain`]).
    pub fn retain(&self, watched: impl Fn(&str) -> bool, listed: impl Fn(&str, &str) -> bool) {
        lock(&self.book).retain(watched, listed);
    }

    /// Takes over what a driller of the previous configuration found (its running
    /// drills end with it).
    pub fn adopt(&self, old: &Driller) {
        let theirs = old.book();
        let mut mine = lock(&self.book);
        for recs in theirs.backups.into_values() {
            for rec in recs.into_values() {
                mine.record(rec);
            }
        }
        for (u, l) in theirs.last_ok {
            mine.last_ok.entry(u).or_insert(l);
        }
    }

    /// Starts each job whose instance has no drill running; it waits for a slot.
    pub fn offer(&self, jobs: Vec<DrillJob>) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        for job in jobs {
            if !lock(&self.running).insert(job.instance_uuid.clone()) {
                continue;
            }
            let (setup, egress, slots, book, running) = (
                self.setup.clone(),
                Arc::clone(&self.egress),
                Arc::clone(&self.slots),
                Arc::clone(&self.book),
                Arc::clone(&self.running),
            );
            tasks.push(tokio::spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                let result = run(&setup, egress.as_ref(), &job.drill).await;
                log(&job, &result);
                lock(&book).record(DrillRecord {
                    instance_uuid: job.instance_uuid.clone(),
                    shard_id: job.shard_id,
                    backup_id: job.backup_id,
                    result,
                });
                lock(&running).remove(&job.instance_uuid);
            }));
        }
    }
}

/// The driller of `config` when `drill.enabled`, sharing `verifier`'s limiter, budget
/// and state file, downloading with `http` (the download probe's client).
pub fn start(
    config: &crate::config::Config,
    verifier: &crate::verify::Verifier,
    http: reqwest::Client,
) -> Option<(Driller, crate::config::DrillConfig)> {
    let d = &config.drill;
    if !d.enabled {
        return None;
    }
    // What a drill of a process killed mid-way left (its server too) goes at the start,
    // not a drill period later.
    super::scratch::sweep(&d.scratch_dir);
    let setup = Setup {
        http,
        url_types: config.verify.url_types.clone(),
        redis_server: d.redis_server.clone(),
        scratch_dir: d.scratch_dir.clone(),
        max_size: d.max_size,
        // The budget is shared by the drills running at once.
        disk_budget: d.disk_budget / d.concurrency.max(1) as u64,
        timeout: d.timeout,
        answer_within: config.probe.timeout,
    };
    let driller = Driller::new(
        setup,
        d.concurrency,
        verifier.egress(),
        verifier.drill_book(),
    );
    Some((driller, d.clone()))
}

fn log(job: &DrillJob, r: &super::DrillResult) {
    if r.outcome == DrillOutcome::Ok {
        info!(instance_uuid = %job.instance_uuid, backup_id = %job.backup_id, result = r.outcome.as_str(), keys = r.keys_redis, download_seconds = r.download_seconds, load_seconds = r.load_seconds, used_memory = r.used_memory, "restore drill passed");
    } else {
        warn!(instance_uuid = %job.instance_uuid, backup_id = %job.backup_id, result = r.outcome.as_str(), detail = %r.detail, "restore drill did not pass");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_instances_and_come_once_per_period() {
        let week = Duration::from_secs(7 * 86_400);
        let offsets: HashSet<i64> = (0..50)
            .map(|i| offset(&format!("uuid-{i}"), week))
            .collect();
        assert!(offsets.len() > 45, "{offsets:?}");
        assert_eq!(offset("a", week), offset("a", week));
        let off = offset("a", week);
        let p = 7 * 86_400;
        assert!(due("a", week, None, 0));
        // Just before the next slot: not due; at it: due.
        let last = 10 * p + off;
        assert!(!due("a", week, Some(last), last + p - 1));
        assert!(due("a", week, Some(last), last + p));
        assert!(!due("a", week, Some(last), last));
    }
}
