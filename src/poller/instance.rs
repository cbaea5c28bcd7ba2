//! One instance a cycle: `DescribeBackups`, shards learned for new finished backups, then
//! the chosen backups — reused from the last cycle when final and not probed, fetched
//! with `DownloadBackup` otherwise — and their URLs probed. A failed listing carries the
//! instance's last values over instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tracing::warn;

use super::{AccountPoller, Poller};
use crate::cds::{Action, Backup, BackupDetail, BackupList, CdsError};
use crate::facts::InstanceFacts;
use crate::policy;
use crate::state::{
    self, BackupKey, BackupState, Selected, ShardFacts, ShardKey, Snapshot, TargetKey,
};

/// What `DownloadBackup` answered this cycle, by backup id.
type Fetched = HashMap<String, Result<BackupDetail, CdsError>>;

impl Poller {
    /// An instance: list its backups, learn unknown shards, fetch and probe the chosen;
    /// `pick`: and the backup its due drill restores ([`Poller::pick_for_drill`]).
    pub(super) async fn poll_instance(
        &self,
        a: &AccountPoller,
        uuid: &str,
        pick: bool,
    ) -> Snapshot {
        let mut snap = Snapshot::default();
        let listed = self
            .api(&a.account.name, Action::DescribeBackups, (uuid, ""), || {
                a.client.describe_backups(uuid)
            })
            .await;
        let instance = TargetKey::instance(uuid);
        snap.set_up(instance.clone(), listed.is_ok());
        let Ok(list) = listed else {
            self.carry_over_instance(&mut snap, uuid);
            return snap;
        };
        snap.set_last_good(instance, Utc::now());
        let sorted = self.take_listing(a, uuid, list, &mut snap);
        let mut fetched = self.learn_shards(a, uuid, &sorted, &mut snap).await;
        let shards = self.memory().shards.get(uuid).cloned().unwrap_or_default();
        let (chosen, skipped) = state::select(
            &sorted,
            |id| shards.get(id).map(String::as_str),
            self.extra_backups,
            self.max_unfinished,
        );
        self.shard_facts(a, uuid, &sorted, &shards, &mut snap);
        if skipped > 0 {
            warn!(account = %a.account.name, instance_uuid = uuid, skipped, looked_up = self.max_unfinished, "more unfinished backups than poll.max_unfinished_backups; the oldest are not looked up");
            self.metrics
                .observe_skipped(&a.account.name, skipped as u64);
        }
        let mut reused = self.reusable(uuid, &sorted, &chosen);
        let missing: Vec<&str> = chosen
            .iter()
            .filter(|c| !fetched.contains_key(&c.id) && !reused.contains_key(&c.id))
            .map(|c| c.id.as_str())
            .collect();
        let details = join_all(missing.iter().map(|id| self.download(a, uuid, id))).await;
        for (id, d) in missing.into_iter().zip(details) {
            fetched.insert(id.to_owned(), d);
        }
        let states = join_all(chosen.iter().map(|c| {
            let detail = fetched.remove(&c.id);
            let kept = reused.remove(&c.id);
            async move {
                let state = match (kept, detail) {
                    (Some(kept), _) => Some(kept),
                    (None, Some(Ok(d))) => {
                        Some(Arc::new(self.backup_state(uuid, d, c.probe).await))
                    }
                    _ => None,
                };
                (BackupKey::new(uuid, &c.id), state)
            }
        }))
        .await;
        for (key, state) in states {
            let target = TargetKey::from(&key);
            snap.set_up(target.clone(), state.is_some());
            match state {
                Some(s) => {
                    snap.set_last_good(target, Utc::now());
                    snap.backups.insert(key, s);
                }
                None => self.carry_over(&mut snap, &key),
            }
        }
        if pick {
            self.pick_for_drill(a, uuid, &sorted, &shards, &mut snap)
                .await;
        }
        // The exported backups are candidates through `snap.backups`: keep only the
        // others, so exporting every backup (`poll.extra_backups`) costs no copy of ids.
        let Snapshot {
            shards, backups, ..
        } = &mut snap;
        for (k, f) in shards.iter_mut() {
            f.listed_finished
                .retain(|(id, _)| !backups.contains_key(&BackupKey::new(&k.instance_uuid, id)));
            f.listed_finished.shrink_to_fit();
        }
        snap
    }

    /// The listing's count and invalid entries into `snap`; the valid backups, newest
    /// first.
    fn take_listing(
        &self,
        a: &AccountPoller,
        uuid: &str,
        list: BackupList,
        snap: &mut Snapshot,
    ) -> Vec<Backup> {
        snap.instance_backups.insert(
            uuid.to_owned(),
            (list.backups.len() + list.invalid.len()) as u64,
        );
        for bad in &list.invalid {
            warn!(account = %a.account.name, instance_uuid = uuid, backup_id = bad.id.as_deref().unwrap_or("?"), error = %bad.error, "DescribeBackups listed a backup that cannot be decoded");
            if let Some(id) = &bad.id {
                snap.set_up(TargetKey::backup(uuid, id), false);
            }
        }
        let mut sorted = list.backups;
        state::sort_newest_first(&mut sorted);
        sorted
    }

    /// The listing failed: what the last cycle knew of the instance and its backups
    /// (only the facts, once older than `poll.stale_after`; see [`Poller::carry_over`]).
    fn carry_over_instance(&self, snap: &mut Snapshot, uuid: &str) {
        let prev = Arc::clone(&self.memory().previous);
        let instance = TargetKey::instance(uuid);
        let Some(at) = prev.last_good_of(&instance) else {
            // Nothing from a previous cycle (the first since a restart): what the state
            // file remembers of its shards' last finished backups still holds.
            self.remembered_only(snap, uuid);
            return;
        };
        snap.set_last_good(instance, at);
        for k in prev.backups.keys().filter(|k| k.instance_uuid == uuid) {
            self.carry_over(snap, k);
        }
        if let Some(n) = prev.instance_backups.get(uuid) {
            snap.instance_backups.insert(uuid.to_owned(), *n);
        }
        let from = ShardKey::new(uuid, "");
        for (k, facts) in prev
            .shards
            .range(from.clone()..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
        {
            snap.shards.insert(k.clone(), facts.clone());
        }
        for (k, r) in prev
            .remembered
            .range(from..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
        {
            snap.remembered.insert(k.clone(), r.clone());
        }
    }

    /// The remembered last finished backup of each shard of `uuid`, for a cycle that
    /// has nothing else of the instance.
    fn remembered_only(&self, snap: &mut Snapshot, uuid: &str) {
        let mem = self.memory();
        let Some(facts) = mem.facts.instances.get(uuid) else {
            return;
        };
        for (shard, m) in &facts.shards {
            if let Some(last) = &m.last {
                snap.remembered
                    .insert(ShardKey::new(uuid, shard), last.clone());
            }
        }
    }

    /// Per shard of the listing (shards learned so far): how many finished backups it
    /// lists and the schedule of its automatic ones, in the account's time zone. A shard
    /// that has had a finished backup is remembered (across restarts too, with the state
    /// file), so one whose last finished backup was purged reports 0 instead of
    /// disappearing, with its last finished backup's facts in [`Snapshot::remembered`].
    /// The schedule is learned from the remembered EndTimes with the listed ones, so it
    /// survives purges.
    fn shard_facts(
        &self,
        a: &AccountPoller,
        uuid: &str,
        sorted: &[Backup],
        shard_of: &HashMap<String, String>,
        snap: &mut Snapshot,
    ) {
        let mut finished: BTreeMap<&str, u64> = BTreeMap::new();
        let mut ends: BTreeMap<&str, Vec<DateTime<Utc>>> = BTreeMap::new();
        let mut newest: BTreeMap<&str, &Backup> = BTreeMap::new();
        let mut listed: BTreeMap<&str, Vec<(String, DateTime<Utc>)>> = BTreeMap::new();
        for b in sorted.iter().filter(|b| b.is_finished()) {
            let Some(shard) = shard_of.get(&b.id) else {
                continue;
            };
            *finished.entry(shard).or_default() += 1;
            if let Some(end) = b.end {
                listed.entry(shard).or_default().push((b.id.clone(), end));
            }
            // Manual runs are not the schedule's.
            if let (true, Some(end)) = (b.mode.eq_ignore_ascii_case("auto"), b.end) {
                ends.entry(shard).or_default().push(end);
            }
            // The newest by EndTime, as `Snapshot::last_success` has it.
            let n = newest.entry(shard).or_insert(b);
            if b.end > n.end {
                *n = b;
            }
        }
        let mut listed_of = listed;
        let mut mem = self.memory();
        let mem = &mut *mem;
        let remembered = mem
            .facts
            .instances
            .entry(uuid.to_owned())
            .or_insert_with(|| InstanceFacts::new(uuid, &a.account.name, Utc::now()));
        // Every shard that has had a finished backup is in the facts: that is how one
        // whose backups were all purged is still reported.
        for shard in finished.keys() {
            remembered.shards.entry((*shard).to_owned()).or_default();
        }
        for (shard, m) in remembered.shards.iter_mut() {
            if let Some(b) = newest.get(shard.as_str()) {
                m.remember(b);
            }
            m.add_auto_ends(&ends.remove(shard.as_str()).unwrap_or_default());
            let listed = finished.get(shard.as_str()).copied().unwrap_or(0);
            let schedule = policy::Schedule::learn(m.ends(), a.account.timezone);
            let mut candidates = listed_of.remove(shard.as_str()).unwrap_or_default();
            // Newest EndTime first; only the newest few can be a restore point in time.
            candidates.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            candidates.truncate(state::LISTED_FINISHED);
            candidates.shrink_to_fit();
            let facts = ShardFacts {
                finished: Some(listed),
                expected_interval: schedule.as_ref().map(policy::Schedule::interval),
                schedule,
                max_age: policy::DEFAULT_MAX_AGE,
                rule_max_age: None,
                listed_finished: candidates,
            };
            let key = ShardKey::new(uuid, shard);
            if let (0, Some(last)) = (listed, &m.last) {
                snap.remembered.insert(key.clone(), last.clone());
            }
            snap.shards.insert(key, facts);
        }
    }

    /// Chosen backups served from the last cycle: final ones that need no probe, whose
    /// details cannot change, so in steady state only probed and unfinished backups
    /// cost a call.
    fn reusable(
        &self,
        uuid: &str,
        sorted: &[Backup],
        chosen: &[Selected],
    ) -> HashMap<String, Arc<BackupState>> {
        let prev = Arc::clone(&self.memory().previous);
        let reuse = |c: &Selected| -> Option<Arc<BackupState>> {
            let listed = sorted.iter().find(|b| b.id == c.id)?;
            let last = prev.backups.get(&BackupKey::new(uuid, &c.id))?;
            (!c.probe && listed.is_final() && last.backup.status == listed.status)
                .then(|| Arc::clone(last))
        };
        chosen
            .iter()
            .filter_map(|c| reuse(c).map(|s| (c.id.clone(), s)))
            .collect()
    }

    /// Learns the shard of finished backups not yet known, and forgets backups no longer
    /// listed. CDS gives `ShardId` `""` to every backup of a non-cluster instance, so
    /// once one backup of an instance has shard `""` the others need no lookup; for a
    /// cluster, the newest unknown ones are looked up, at most `max_shard_lookups` per
    /// cycle. Returns the answers so chosen backups are not fetched twice.
    async fn learn_shards(
        &self,
        a: &AccountPoller,
        uuid: &str,
        sorted: &[Backup],
        snap: &mut Snapshot,
    ) -> Fetched {
        let mut fetched = HashMap::new();
        // The newest unknown one first: its answer tells whether this is a cluster.
        let mut budget = self.max_shard_lookups;
        loop {
            let unknown = self.unknown_shards(uuid, sorted, budget);
            if unknown.is_empty() {
                return fetched;
            }
            budget -= unknown.len();
            let answers = join_all(unknown.iter().map(|id| self.download(a, uuid, id))).await;
            let mut any_ok = false;
            for (id, answer) in unknown.into_iter().zip(answers) {
                any_ok |= answer.is_ok();
                if answer.is_err() {
                    snap.set_up(TargetKey::backup(uuid, id), false);
                }
                fetched.insert(id.to_owned(), answer);
            }
            if !any_ok {
                // Nothing learned: retry next cycle rather than spend the budget now.
                return fetched;
            }
        }
    }

    /// The backups whose shard is still to be looked up, at most `budget` (one while
    /// nothing is known of the instance): finished ones, and unfinished ones older than
    /// the newest finished backup (newer ones are fetched anyway), so each can be judged
    /// against its own shard's newest finished backup. Settles every backup of an
    /// instance known to have a single shard without a lookup.
    fn unknown_shards<'a>(&self, uuid: &str, sorted: &'a [Backup], budget: usize) -> Vec<&'a str> {
        let mut mem = self.memory();
        let known = mem.shards.entry(uuid.to_owned()).or_default();
        known.retain(|id, _| sorted.iter().any(|b| &b.id == id));
        let single_shard = known.values().any(String::is_empty);
        let first_finished = sorted
            .iter()
            .position(Backup::is_finished)
            .unwrap_or(sorted.len());
        let unknown: Vec<&str> = sorted
            .iter()
            .enumerate()
            .filter(|(i, b)| (b.is_finished() || *i > first_finished) && !known.contains_key(&b.id))
            .map(|(_, b)| b.id.as_str())
            .collect();
        if single_shard {
            for id in unknown {
                known.insert(id.to_owned(), String::new());
            }
            return Vec::new();
        }
        let take = if known.is_empty() {
            budget.min(1)
        } else {
            budget
        };
        unknown.into_iter().take(take).collect()
    }
}
