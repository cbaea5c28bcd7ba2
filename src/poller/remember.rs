//! The poller's side of the state file: its memory rebuilt from the facts read at
//! start, and after each cycle the facts brought up to date (first-seen and last-seen
//! times, capture times verification found), the ones of instances no longer watched
//! forgotten, and the rest handed to the verifier's store to be written.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use tracing::info;

use super::{Memory, Poller};
use crate::facts::{Facts, InstanceFacts};
use crate::state::{BackupKey, Snapshot};

/// The memory a poller starts with: what the state file remembered.
pub(super) fn restore(facts: Facts) -> Memory {
    let mut m = Memory::default();
    if facts.instances.is_empty() {
        return m;
    }
    let mut shards = 0;
    for (uuid, mut i) in facts.instances {
        shards += i.shards.len();
        let known = std::mem::take(&mut i.backup_shards);
        if !known.is_empty() {
            m.shards.insert(uuid.clone(), known.into_iter().collect());
        }
        m.facts.instances.insert(uuid, i);
    }
    info!(
        instances = m.facts.instances.len(),
        shards, "facts restored from verify.state_file"
    );
    m
}

impl Poller {
    /// After a cycle: first-seen times into `snap`, facts of instances unwatched for
    /// `poll.forget_vanished_after` dropped, and the facts handed over for the file.
    pub(super) fn remember(&self, snap: &mut Snapshot) {
        let now = Utc::now();
        let mut mem = self.memory();
        let mem = &mut *mem;
        let discovered: HashSet<&str> = mem
            .discovered
            .values()
            .flatten()
            .map(|i| i.uuid.as_str())
            .collect();
        for (uuid, (account, instance)) in &snap.instances {
            let f = mem
                .facts
                .instances
                .entry(uuid.clone())
                .or_insert_with(|| InstanceFacts::new(uuid, account, now));
            f.seen(account, now);
            f.discovered = discovered.contains(uuid.as_str());
            if !instance.name.is_empty() && f.name != instance.name {
                instance.name.clone_into(&mut f.name);
            }
            snap.first_seen.insert(uuid.clone(), f.first_seen);
        }
        // An account whose discovery failed cannot tell which instances are gone.
        let blind: HashSet<&str> = snap
            .discovery_up
            .iter()
            .filter(|(_, up)| !**up)
            .map(|(a, _)| a.as_str())
            .collect();
        let forget = self.forget_vanished_after;
        let gone: Vec<String> = mem
            .facts
            .instances
            .iter()
            .filter(|(uuid, f)| {
                !snap.instances.contains_key(*uuid)
                    && !blind.contains(f.account.as_str())
                    && now - f.last_seen > forget
            })
            .map(|(uuid, _)| uuid.clone())
            .collect();
        for uuid in gone {
            mem.facts.instances.remove(&uuid);
            mem.shards.remove(&uuid);
        }
        captured(&mut mem.facts, snap);
        if !self.verifier.has_state_file() {
            return;
        }
        let mut facts = mem.facts.clone();
        for (uuid, f) in &mut facts.instances {
            if let Some(known) = mem.shards.get(uuid) {
                let newest = f.shards.get("").and_then(|m| m.last.as_ref());
                f.backup_shards = compact(known, newest.map(|l| l.backup_id.as_str()));
            }
        }
        self.verifier.keep_facts(facts);
    }
}

/// Sets the capture time (the RDB `ctime`) of each shard's last finished backup once
/// verification has read it.
fn captured(facts: &mut Facts, snap: &Snapshot) {
    if snap.verifications.is_empty() {
        return;
    }
    for (uuid, f) in &mut facts.instances {
        for m in f.shards.values_mut() {
            let Some(last) = m.last.as_mut().filter(|l| l.captured.is_none()) else {
                continue;
            };
            let key = BackupKey::new(uuid, &last.backup_id);
            last.captured = snap
                .verifications
                .get(&key)
                .and_then(|vs| vs.iter().find_map(|v| v.snapshot_time))
                .and_then(|s| DateTime::from_timestamp(s, 0));
        }
    }
}

/// The backup → shard map to write: one entry for a single-shard instance (the poller
/// settles every other backup of it from that one, see `unknown_shards`), its newest
/// finished backup's when known (the last to be purged); all of a cluster's.
fn compact(known: &HashMap<String, String>, newest: Option<&str>) -> BTreeMap<String, String> {
    let single = known.iter().filter(|(_, s)| s.is_empty());
    let one = match newest.filter(|id| known.get(*id).is_some_and(String::is_empty)) {
        Some(id) => Some(id.to_owned()),
        None => single.map(|(id, _)| id).min().cloned(),
    };
    match one {
        Some(id) => BTreeMap::from([(id, String::new())]),
        None => known.iter().map(|(b, s)| (b.clone(), s.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_shard_instance_writes_one_backup_and_a_cluster_all() {
        let single = HashMap::from([
            ("b2".to_owned(), String::new()),
            ("b1".to_owned(), String::new()),
        ]);
        assert_eq!(
            compact(&single, None),
            BTreeMap::from([("b1".to_owned(), String::new())])
        );
        assert_eq!(
            compact(&single, Some("b2")),
            BTreeMap::from([("b2".to_owned(), String::new())])
        );
        let cluster = HashMap::from([
            ("b1".to_owned(), "s1".to_owned()),
            ("b2".to_owned(), "s2".to_owned()),
        ]);
        assert_eq!(compact(&cluster, Some("b1")).len(), 2);
    }
}
