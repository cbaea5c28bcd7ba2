//! One poll cycle: every account's targets, CDS calls bounded by one semaphore, probes
//! of the URLs a restore would use, all folded into a [`Snapshot`].
//!
//! Two things outlive a cycle. The shard of each backup, learned from `DownloadBackup`
//! (a backup's shard never changes, and `DescribeBackups` does not tell it), pruned to
//! the backups still listed. And the previous snapshot: when a call fails, the target
//! keeps what was last known about it with `up` set to 0, so a flaky API call neither
//! blanks dashboards nor resets alerts' `for:` clocks — until `poll.stale_after` has
//! passed since they were fetched; then they are dropped rather than served for ever.
//!
//! What outlives a restart, with `verify.state_file` set ([`crate::facts`]): each
//! instance's first-seen time, its shards and backups' shards, each shard's last
//! finished backup and cadence history; restored when the poller is built, handed to
//! the verifier's store after each cycle ([`remember`]).
//!
//! The calls themselves are in [`calls`], the timing of cycles in [`schedule`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::Semaphore;
use tracing::debug;

use crate::cds::retry::RetryPolicy;
use crate::cds::{Client, Instance};
use crate::config::{Account, BackupTarget, Config, ProbeConfig, StalenessRule, VerifyConfig};
use crate::facts::Facts;
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::probe;
use crate::state::{BackupKey, CycleInfo, ShardKey, Snapshot, TargetKey, Vanished};
use crate::verify::Verifier;

/// One thing an account watches.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Instance(&'a str),
    Backup(&'a BackupTarget),
}

#[derive(Debug)]
struct AccountPoller {
    account: Account,
    client: Client,
}

#[derive(Debug, Default)]
struct Memory {
    /// instance_uuid → backup_id → shard_id
    shards: HashMap<String, HashMap<String, String>>,
    /// account → what its last successful discovery found; used, however old, while
    /// discovery fails, so the instances' facts keep being served
    discovered: HashMap<String, Vec<Arc<Instance>>>,
    /// account → instance_uuid → an instance its discovery stopped listing
    vanished: HashMap<String, BTreeMap<String, Vanished>>,
    /// account → the descriptions of its `instances:` ([`describe`])
    described: HashMap<String, describe::Described>,
    /// cycles started, to spread the refresh of those descriptions
    cycles: u64,
    /// What the state file keeps (`backup_shards` filled only when written: the
    /// poller's own map is `shards`).
    facts: Facts,
    previous: Arc<Snapshot>,
    /// account → the first call of its current cycle that failed for good
    first_error: HashMap<String, String>,
}

#[derive(Debug)]
pub struct Poller {
    accounts: Vec<AccountPoller>,
    probe: ProbeConfig,
    extra_backups: usize,
    max_shard_lookups: usize,
    max_unfinished: usize,
    probe_http: reqwest::Client,
    /// Bounds CDS API calls in flight (`poll.concurrency`).
    limiter: Semaphore,
    /// Bounds download-URL probes in flight (`probe.concurrency`); separate, since they
    /// go to the object store, not to the CDS API.
    probe_limiter: Semaphore,
    /// Targets of one account polled at once.
    fan_out: usize,
    retry: RetryPolicy,
    interval: Duration,
    start_jitter: Duration,
    /// Spaces CDS calls to `poll.rate_limit` per second, with no burst.
    rate: Option<governor::DefaultDirectRateLimiter>,
    stale_after: chrono::Duration,
    forget_vanished_after: chrono::Duration,
    staleness: Vec<StalenessRule>,
    /// This replica's part of the fleet: only its instances are polled.
    partition: Partition,
    verify_config: VerifyConfig,
    verifier: Verifier,
    /// Restore drills, when `drill.enabled`: (the driller, `drill:`).
    driller: Option<(crate::drill::Driller, crate::config::DrillConfig)>,
    /// `check --drill` of an instance with `drill.backup: random` ([`Poller::pick_for`]).
    pick_only: Option<String>,
    metrics: Arc<Metrics>,
    memory: Mutex<Memory>,
}

impl Poller {
    /// Polls `partition` of the fleet `config` watches.
    pub fn new(
        config: &Config,
        partition: Partition,
        metrics: Arc<Metrics>,
    ) -> reqwest::Result<Self> {
        let api_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "cds-redis-backup-exporter/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        for a in &config.accounts {
            metrics.init_account(&a.name);
        }
        metrics.set_shard(partition);
        let probe_http = probe::client()?;
        let accounts = config
            .accounts
            .iter()
            .map(|a| AccountPoller {
                client: Client::new(
                    api_http.clone(),
                    &a.endpoint,
                    a.access_key_id.clone(),
                    a.access_key_secret.clone(),
                    a.timezone,
                    config.poll.request_timeout,
                )
                .with_max_response_bytes(config.poll.max_response_bytes),
                account: a.clone(),
            })
            .collect();
        let verifier = Verifier::new(
            &config.verify,
            probe_http.clone(),
            config.probe.timeout,
            Arc::clone(&metrics) as Arc<dyn crate::verify::Gauges>,
        );
        metrics.state_file_configured(verifier.has_state_file());
        let memory = remember::restore(verifier.restored_facts());
        let driller = crate::drill::task::start(config, &verifier, probe_http.clone());
        Ok(Self {
            accounts,
            probe: config.probe.clone(),
            extra_backups: config.poll.extra_backups,
            max_shard_lookups: config.poll.max_shard_lookups,
            max_unfinished: config.poll.max_unfinished_backups,
            probe_http: probe_http.clone(),
            limiter: Semaphore::new(config.poll.concurrency),
            probe_limiter: Semaphore::new(config.probe.concurrency),
            fan_out: config.poll.concurrency.saturating_mul(4),
            interval: config.poll.interval,
            start_jitter: config.poll.start_jitter,
            retry: RetryPolicy {
                max_retries: config.poll.max_retries,
                base: config.poll.retry_backoff,
                cap: config.poll.retry_max_backoff,
            },
            rate: config.poll.rate_limit.and_then(rate_limiter),
            stale_after: chrono::Duration::from_std(config.poll.stale_after)
                .unwrap_or(chrono::Duration::MAX),
            forget_vanished_after: chrono::Duration::from_std(config.poll.forget_vanished_after)
                .unwrap_or(chrono::Duration::MAX),
            staleness: config.staleness.clone(),
            partition,
            verify_config: config.verify.clone(),
            verifier,
            driller,
            pick_only: None,
            metrics,
            memory: Mutex::new(memory),
        })
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        crate::sync::lock(&self.memory)
    }

    /// Has the cycles pick the backup of `uuid` that `drill.backup: random` would
    /// drill, as the driller's cycles do for due instances: for `check --drill`, whose
    /// cycle runs without a driller.
    pub fn pick_for(&mut self, uuid: &str) {
        self.pick_only = Some(uuid.to_owned());
    }

    /// Takes over what `old` learned (shards, discoveries, the last snapshot), so a
    /// reloaded configuration keeps serving carried-over values and known shards.
    /// Entries of targets no longer configured are never polled, hence never used.
    pub(crate) fn adopt(&self, old: &Poller) {
        let learned = std::mem::take(&mut *old.memory());
        *self.memory() = learned;
        self.verifier.adopt(&old.verifier);
        if let (Some((new, _)), Some((old, _))) = (&self.driller, &old.driller) {
            new.adopt(old);
        }
    }

    /// Puts what verification knows now into `snap` (results arrive after the cycle).
    pub fn refresh_verifications(&self, snap: &mut Snapshot) {
        let keys: HashSet<&BackupKey> = snap.backups.keys().collect();
        let shards: HashSet<ShardKey> = snap
            .backups
            .values()
            .map(|b| b.shard_key())
            .chain(snap.shards.keys().cloned())
            .collect();
        let found = self.verifier.results(&keys, &shards);
        snap.verifications = found.verifications;
        snap.verified = found.verified;
    }

    /// Runs one whole cycle and returns its snapshot (also kept for the next cycle).
    pub async fn cycle(&self) -> Arc<Snapshot> {
        let started = Instant::now();
        let cycle = {
            let mut mem = self.memory();
            mem.cycles = mem.cycles.wrapping_add(1);
            mem.cycles
        };
        let parts = join_all(self.accounts.iter().map(|a| self.poll_account(a, cycle))).await;
        let mut snap = Snapshot::default();
        for p in parts {
            snap.merge(p);
        }
        self.refresh_verifications(&mut snap);
        if let Some((driller, config)) = &self.driller {
            let mem = self.memory();
            // A random drill's backup may not be exported: its result is kept while CDS
            // lists it.
            let listed = |u: &str, id: &str| mem.shards.get(u).is_some_and(|m| m.contains_key(id));
            let book = crate::drill::plan::after_cycle(
                driller,
                config,
                &mut snap,
                chrono::Utc::now(),
                listed,
            );
            drop(mem);
            self.verifier.keep_drills(book);
        }
        self.remember(&mut snap);
        snap.cycle = Some(CycleInfo {
            duration: started.elapsed(),
            ended: chrono::Utc::now(),
            success: snap.all_up(),
        });
        let snap = Arc::new(snap);
        self.memory().previous = Arc::clone(&snap);
        snap
    }
    async fn poll_account(&self, a: &AccountPoller, cycle: u64) -> Snapshot {
        let mut snap = Snapshot::default();
        self.memory().first_error.remove(&a.account.name);
        let owns = |uuid: &str| self.partition.owns(uuid);
        let mut uuids: BTreeSet<String> = a
            .account
            .instances
            .iter()
            .filter(|u| owns(u))
            .cloned()
            .collect();
        let backups: Vec<&BackupTarget> = a
            .account
            .backups
            .iter()
            .filter(|b| owns(&b.instance_uuid))
            .collect();
        let discovered = self.discover(a, &mut snap).await;
        for i in self.describe_listed(a, &uuids, &discovered, cycle).await {
            snap.instances
                .insert(i.uuid.clone(), (a.account.name.clone(), Arc::new(i)));
        }
        for i in discovered {
            if !owns(&i.uuid) {
                continue;
            }
            uuids.insert(i.uuid.clone());
            snap.instances
                .insert(i.uuid.clone(), (a.account.name.clone(), i));
        }
        // Every watched instance has an info series (alerts join it for their routing
        // labels), with what CDS told of it, or only its UUID.
        for uuid in uuids.iter().chain(backups.iter().map(|b| &b.instance_uuid)) {
            snap.instances.entry(uuid.clone()).or_insert_with(|| {
                let bare = Instance {
                    uuid: uuid.clone(),
                    ..Instance::default()
                };
                (a.account.name.clone(), Arc::new(bare))
            });
        }
        let picks = self.drills_to_pick(&snap.instances);
        // Enough targets in flight to keep every permit busy, few enough that thousands
        // of instances do not all hold their half-done state at once.
        let mut targets = uuids
            .iter()
            .map(|u| Target::Instance(u))
            .chain(backups.iter().copied().map(Target::Backup));
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < self.fan_out {
                match targets.next() {
                    Some(t) => running.push(self.poll_target(a, t, &picks)),
                    None => break,
                }
            }
            match running.next().await {
                Some(part) => snap.merge(part),
                None => break,
            }
        }
        snap.owned
            .insert(a.account.name.clone(), snap.instances.len() as u64);
        self.judge_account(a, &mut snap);
        snap
    }

    async fn poll_target(
        &self,
        a: &AccountPoller,
        target: Target<'_>,
        picks: &HashSet<String>,
    ) -> Snapshot {
        match target {
            Target::Instance(uuid) => self.poll_instance(a, uuid, picks.contains(uuid)).await,
            Target::Backup(t) => self.poll_backup(a, t).await,
        }
    }

    /// A `backups:` entry: DownloadBackup every cycle, probe it once finished.
    async fn poll_backup(&self, a: &AccountPoller, t: &BackupTarget) -> Snapshot {
        let mut snap = Snapshot::default();
        let key = BackupKey::new(&t.instance_uuid, &t.backup_id);
        let detail = self.download(a, &t.instance_uuid, &t.backup_id).await;
        snap.set_up(TargetKey::from(&key), detail.is_ok());
        match detail {
            Ok(d) => {
                let probe = d.backup.is_finished();
                let state = self.backup_state(&t.instance_uuid, d, probe).await;
                snap.set_last_good(TargetKey::from(&key), Utc::now());
                snap.backups.insert(key, Arc::new(state));
            }
            Err(_) => self.carry_over(&mut snap, &key),
        }
        snap
    }

    /// Keeps the last known state of a backup whose call failed. Once it was fetched
    /// longer than `poll.stale_after` ago, only facts remain: a final backup without
    /// its probe results (whether its URL works *now* is no longer known); a backup
    /// still running then is dropped, as its state was an observation too.
    fn carry_over(&self, snap: &mut Snapshot, key: &BackupKey) {
        let mem = self.memory();
        let target = TargetKey::from(key);
        let (Some(state), Some(at)) = (
            mem.previous.backups.get(key),
            mem.previous.last_good_of(&target),
        ) else {
            return;
        };
        let mut state = Arc::clone(state);
        if !self.fresh(at) {
            if !state.backup.is_final() {
                debug!(instance_uuid = %key.instance_uuid, backup_id = %key.backup_id, "dropping an unfinished backup not fetched for longer than poll.stale_after");
                return;
            }
            if !state.probes.is_empty() || state.urls.is_some() {
                let facts = Arc::make_mut(&mut state);
                facts.probes.clear();
                facts.urls = None;
            }
        }
        snap.backups.insert(key.clone(), state);
        snap.set_last_good(target, at);
    }

    fn fresh(&self, fetched: DateTime<Utc>) -> bool {
        Utc::now() - fetched <= self.stale_after
    }
}

mod account;
mod calls;
mod describe;
mod instance;
mod pick;
mod remember;
mod schedule;

use calls::rate_limiter;
pub use schedule::run;

/// The verifier's progress goes to these series.
impl crate::verify::Gauges for Metrics {
    fn budget_left(&self, bytes: u64) {
        self.verify_budget(bytes);
    }

    fn progress(&self, running: usize, queued: usize) {
        self.verify_progress(running, queued);
    }

    fn downloaded(&self, bytes: u64) {
        self.verify_bytes(bytes);
    }
}
