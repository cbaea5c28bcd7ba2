//! What is decided per account rather than per target: which instances discovery finds
//! (and which it no longer lists), whether the account can be seen at all, and each
//! shard's maximum backup age, which depends on the instance's name and tags and, for a
//! learned schedule, on when its newest finished backup ended.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::{AccountPoller, Poller};
use crate::cds::{Action, Instance};
use crate::policy;
use crate::state::{ShardFacts, Snapshot, TargetKey, Vanished};
use crate::verify::Job;

impl Poller {
    /// The instances discovery lists that this replica owns. When the call fails, what the last successful one
    /// listed, however long ago: those instances' facts stay served (with `up` 0)
    /// rather than vanish, since losing sight of them must not look like recovery.
    pub(super) async fn discover(
        &self,
        a: &AccountPoller,
        snap: &mut Snapshot,
    ) -> Vec<Arc<Instance>> {
        let Some(filter) = &a.account.discovery else {
            return Vec::new();
        };
        let name = a.account.name.as_str();
        // Another replica's instances are dropped as the answer is decoded: at 50,000
        // instances over 4 partitions, decoding the whole answer doubled a replica's memory.
        let partition = self.partition;
        let owns = move |uuid: &str| partition.owns(uuid);
        let found = self
            .api(name, Action::DescribeDbInstances, ("", ""), || {
                a.client.describe_db_instances(filter, &owns)
            })
            .await;
        snap.discovery_up.insert(name.to_owned(), found.is_ok());
        let now = Utc::now();
        let mut mem = self.memory();
        let list = match found {
            Ok(list) => {
                // Shared with every snapshot that serves them, not copied per cycle.
                let list: Vec<Arc<Instance>> = list.into_iter().map(Arc::new).collect();
                let before = mem.discovered.insert(name.to_owned(), list.clone());
                // The first discovery since the start: what the state file remembers
                // of the account's discovered instances is what it listed before.
                let before = before.unwrap_or_else(|| {
                    remembered(&mem.facts, name, now, self.forget_vanished_after)
                });
                let vanished = mem.vanished.entry(name.to_owned()).or_default();
                note_vanished(vanished, name, Some(&before), &list, now);
                list
            }
            Err(_) => mem.discovered.get(name).cloned().unwrap_or_default(),
        };
        let forget = self.forget_vanished_after;
        let vanished = mem.vanished.entry(name.to_owned()).or_default();
        vanished.retain(|_, v| now - v.since <= forget);
        // Still watched through `instances:`: it has not left the exporter's sight.
        vanished.retain(|uuid, _| !a.account.instances.contains(uuid));
        // Another replica's instance is that replica's to report.
        snap.vanished.extend(
            vanished
                .iter()
                .filter(|(k, _)| self.partition.owns(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        list
    }

    /// How many instances the poller remembers from the discoveries of all accounts:
    /// with the fleet partitioned, its own share only (what the memory bound rests on).
    pub fn discovered_instances(&self) -> usize {
        self.memory().discovered.values().map(Vec::len).sum()
    }

    /// After the account's targets: whether it could be seen this cycle, and the
    /// maximum age of each of its shards (every shard with facts or a finished backup).
    pub(super) fn judge_account(&self, a: &AccountPoller, snap: &mut Snapshot) {
        let name = a.account.name.as_str();
        let discovery_ok = snap.discovery_up.get(name).copied().unwrap_or(true);
        let any_call_ok = snap.targets_up().next().is_none() || snap.targets_up().any(|(_, up)| up);
        let up = discovery_ok && any_call_ok;
        snap.account_up.insert(name.to_owned(), up);
        snap.account_zones
            .insert(name.to_owned(), a.account.timezone);
        if !up {
            if let Some(e) = self.memory().first_error.get(name) {
                snap.account_errors.insert(name.to_owned(), e.clone());
            }
        }
        let newest = snap.last_success();
        for key in newest.keys() {
            snap.shards.entry(key.clone()).or_insert(ShardFacts {
                finished: None,
                expected_interval: None,
                schedule: None,
                max_age: policy::DEFAULT_MAX_AGE,
                rule_max_age: None,
                listed_finished: Vec::new(),
            });
        }
        for (key, facts) in &mut snap.shards {
            let instance = described(&snap.instances, &key.instance_uuid);
            let point = newest.get(key).map(|n| n.end);
            let (max_age, source) = policy::max_age(
                &self.staleness,
                name,
                &instance,
                facts.schedule.as_ref(),
                point,
            );
            facts.max_age = max_age;
            facts.rule_max_age = matches!(source, policy::Source::Rule(_)).then_some(max_age);
        }
        // Instances without a shard too: their rule is the grace of never backed up.
        let uuids: std::collections::BTreeSet<String> = snap
            .instance_backups
            .keys()
            .chain(snap.shards.keys().map(|k| &k.instance_uuid))
            .cloned()
            .collect();
        for uuid in uuids {
            let instance = described(&snap.instances, &uuid);
            if let (age, policy::Source::Rule(_)) =
                policy::max_age(&self.staleness, name, &instance, None, None)
            {
                snap.rule_max_age.insert(uuid, age);
            }
        }
        for (uuid, (_, instance)) in &snap.instances {
            let level = self.verify_config.level_for(name, instance);
            snap.verify_levels.insert(uuid.clone(), level);
        }
        self.offer_verification(snap);
    }

    /// The newest finished backup of each shard, fetched this cycle with its URLs, at
    /// the level `verify:` gives its instance.
    fn offer_verification(&self, snap: &Snapshot) {
        let jobs = snap
            .backups
            .iter()
            .filter(|(k, b)| {
                b.urls.is_some()
                    && b.backup.is_finished()
                    && snap.up_of(&TargetKey::from(*k)) == Some(true)
            })
            .filter_map(|(k, b)| {
                let level = match snap.verify_levels.get(&k.instance_uuid) {
                    Some(l) => *l,
                    None => self.verify_config.level,
                };
                Some(Job {
                    key: k.clone(),
                    shard: b.shard_id.clone(),
                    end: b.backup.end?.timestamp(),
                    size: b.backup.size,
                    level,
                    urls: b.urls.clone().unwrap_or_default(),
                })
            })
            .collect();
        self.verifier.offer(jobs);
    }
}

/// Records the instances `before` listed and `now_listed` does not (with the time they
/// were first missed), and forgets the ones listed again.
/// What CDS told of an instance, or only its UUID when it told nothing (rules then match
/// by account and UUID alone).
fn described<'a>(
    instances: &'a BTreeMap<String, (String, Arc<Instance>)>,
    uuid: &str,
) -> std::borrow::Cow<'a, Instance> {
    match instances.get(uuid) {
        Some((_, i)) => std::borrow::Cow::Borrowed(i),
        None => std::borrow::Cow::Owned(Instance {
            uuid: uuid.to_owned(),
            ..Instance::default()
        }),
    }
}

/// The instances `account`'s discovery found when they were last watched, as the
/// state file remembers them: those watched within `forget` of `now`.
fn remembered(
    facts: &crate::facts::Facts,
    account: &str,
    now: DateTime<Utc>,
    forget: chrono::Duration,
) -> Vec<Arc<Instance>> {
    facts
        .instances
        .values()
        .filter(|f| f.discovered && f.account == account && now - f.last_seen <= forget)
        .map(|f| {
            Arc::new(Instance {
                uuid: f.uuid.clone(),
                name: f.name.clone(),
                ..Instance::default()
            })
        })
        .collect()
}

fn note_vanished(
    vanished: &mut BTreeMap<String, Vanished>,
    account: &str,
    before: Option<&[Arc<Instance>]>,
    now_listed: &[Arc<Instance>],
    now: DateTime<Utc>,
) {
    // A set: discovery may list tens of thousands of instances.
    let listed: HashSet<&str> = now_listed.iter().map(|i| i.uuid.as_str()).collect();
    vanished.retain(|uuid, _| !listed.contains(uuid.as_str()));
    for gone in before
        .unwrap_or_default()
        .iter()
        .filter(|i| !listed.contains(i.uuid.as_str()))
    {
        vanished.entry(gone.uuid.clone()).or_insert_with(|| {
            warn!(account, instance_uuid = %gone.uuid, instance_name = %gone.name, "DescribeDBInstances no longer lists an instance it listed; its series are dropped and it is reported as vanished");
            Vanished {
                account: account.to_owned(),
                name: gone.name.clone(),
                since: now,
            }
        });
    }
}
