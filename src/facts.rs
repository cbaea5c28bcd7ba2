//! What the exporter remembers of each instance beyond what CDS lists now, so that a
//! restart does not forget it: when the instance was first watched, its shards and
//! which backup belongs to which, each shard's newest finished backup and the EndTimes
//! its cadence is learned from. Retention purges backups; without these facts a shard
//! whose last finished backups were purged would vanish at the next restart instead of
//! reporting that nothing is left.
//!
//! Plain data with serde, no I/O: the poller keeps them up to date each cycle and the
//! verifier's store (`verify::store`) writes them into the state file with the
//! verification results, and reads them back at start.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cds::Backup;

/// Ends closer than this are one run (a retried backup); the same as the cadence's.
const SAME_RUN_SECS: i64 = 60;

/// Everything remembered, by instance UUID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub instances: BTreeMap<String, InstanceFacts>,
}

/// One instance, as written in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceFacts {
    pub uuid: String,
    /// The account that watched it last.
    pub account: String,
    /// When this exporter first watched it: where the grace of a never backed up
    /// instance starts when CDS gives no creation time.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub first_seen: DateTime<Utc>,
    /// The last cycle that watched it, to the hour (so a quiet fleet does not rewrite
    /// the file every cycle); facts of an instance unwatched for
    /// `poll.forget_vanished_after` are dropped.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub last_seen: DateTime<Utc>,
    /// shard_id → what is known of it; every shard that has had a finished backup.
    #[serde(default, skip_serializing_if = "ShardMap::is_empty")]
    pub shards: ShardMap,
    /// backup_id → shard_id for listed backups, so a cluster's shards need no new
    /// lookups after a restart. For a single-shard instance one entry says it all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backup_shards: BTreeMap<String, String>,
    /// Found by its account's `DescribeDBInstances` when last watched (not only
    /// configured in `instances:`): the first discovery after a restart that no longer
    /// lists it reports it vanished, as a running exporter would.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discovered: bool,
    /// Its `InstanceName` when last watched, for that report.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// shard_id → [`ShardMemory`], sorted, written as a JSON object. A vector, not a
/// `BTreeMap`: almost every instance has one shard, and a map's first node holds room
/// for eleven, which cost 2.7 MB at 2,000 instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    from = "BTreeMap<String, ShardMemory>",
    into = "BTreeMap<String, ShardMemory>"
)]
pub struct ShardMap(Vec<(String, ShardMemory)>);

impl From<BTreeMap<String, ShardMemory>> for ShardMap {
    fn from(m: BTreeMap<String, ShardMemory>) -> Self {
        let mut v: Vec<_> = m.into_iter().collect();
        v.shrink_to_fit();
        Self(v)
    }
}

impl From<ShardMap> for BTreeMap<String, ShardMemory> {
    fn from(m: ShardMap) -> Self {
        m.0.into_iter().collect()
    }
}

impl ShardMap {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, shard: &str) -> Option<&ShardMemory> {
        let i = self
            .0
            .binary_search_by(|(k, _)| k.as_str().cmp(shard))
            .ok()?;
        self.0.get(i).map(|(_, m)| m)
    }

    /// The shard's memory, created empty if new (as `BTreeMap::entry(..).or_default()`).
    pub fn entry(&mut self, shard: String) -> ShardEntry<'_> {
        ShardEntry { map: self, shard }
    }

    pub fn insert(&mut self, shard: String, memory: ShardMemory) {
        *self.entry(shard).or_default() = memory;
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut ShardMemory> {
        self.0.iter_mut().map(|(_, m)| m)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut ShardMemory)> {
        self.0.iter_mut().map(|(k, m)| (&*k, m))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ShardMemory)> {
        self.0.iter().map(|(k, m)| (k, m))
    }
}

impl<'a> IntoIterator for &'a ShardMap {
    type Item = (&'a String, &'a ShardMemory);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, ShardMemory)>,
        fn(&'a (String, ShardMemory)) -> (&'a String, &'a ShardMemory),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, m)| (k, m))
    }
}

/// A shard's place in a [`ShardMap`], to be filled.
#[derive(Debug)]
pub struct ShardEntry<'a> {
    map: &'a mut ShardMap,
    shard: String,
}

impl<'a> ShardEntry<'a> {
    pub fn or_default(self) -> &'a mut ShardMemory {
        let v = &mut self.map.0;
        let i = match v.binary_search_by(|(k, _)| k.as_str().cmp(&self.shard)) {
            Ok(i) => i,
            Err(i) => {
                v.insert(i, (self.shard, ShardMemory::default()));
                i
            }
        };
        &mut v[i].1
    }
}

/// One shard's past.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardMemory {
    /// The newest finished backup CDS listed for it, the last time it listed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<LastFinished>,
    /// EndTimes (Unix seconds) of its newest finished automatic backups, newest first,
    /// at most [`crate::policy::CADENCE_WINDOW`]: its cadence survives purges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_ends: Vec<i64>,
}

/// A finished backup's facts: true for good once seen, whether or not CDS still lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastFinished {
    pub backup_id: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// When its data was captured (the RDB `ctime`), once verification has read it.
    #[serde(
        default,
        with = "chrono::serde::ts_seconds_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub captured: Option<DateTime<Utc>>,
}

impl InstanceFacts {
    pub fn new(uuid: &str, account: &str, now: DateTime<Utc>) -> Self {
        Self {
            uuid: uuid.to_owned(),
            account: account.to_owned(),
            first_seen: now,
            last_seen: to_the_hour(now),
            shards: ShardMap::default(),
            backup_shards: BTreeMap::new(),
            discovered: false,
            name: String::new(),
        }
    }

    /// Watched again at `now`.
    pub fn seen(&mut self, account: &str, now: DateTime<Utc>) {
        if self.account != account {
            account.clone_into(&mut self.account);
        }
        self.last_seen = self.last_seen.max(to_the_hour(now));
    }
}

impl ShardMemory {
    /// `newest` is the newest finished backup listed for the shard now.
    pub fn remember(&mut self, newest: &Backup) {
        let Some(end) = newest.end else { return };
        // Its capture time, once known, belongs to the same backup only.
        let captured = self
            .last
            .as_ref()
            .filter(|l| l.backup_id == newest.id)
            .and_then(|l| l.captured);
        self.last = Some(LastFinished {
            backup_id: newest.id.clone(),
            end,
            size: newest.size,
            captured,
        });
    }

    /// Adds the EndTimes of automatic finished backups listed now to those remembered;
    /// keeps the newest [`crate::policy::CADENCE_WINDOW`] runs.
    pub fn add_auto_ends(&mut self, listed: &[DateTime<Utc>]) {
        let mut all: Vec<i64> = self.auto_ends.clone();
        all.extend(listed.iter().map(DateTime::timestamp));
        all.sort_unstable_by(|a, b| b.cmp(a));
        let mut kept: Vec<i64> = Vec::with_capacity(crate::policy::CADENCE_WINDOW);
        for end in all {
            if kept.len() == crate::policy::CADENCE_WINDOW {
                break;
            }
            if kept.last().is_none_or(|last| last - end >= SAME_RUN_SECS) {
                kept.push(end);
            }
        }
        self.auto_ends = kept;
    }

    /// The remembered EndTimes, for [`crate::policy::expected_interval`].
    pub fn ends(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.auto_ends
            .iter()
            .filter_map(|s| DateTime::from_timestamp(*s, 0))
    }
}

/// `t` rounded down to the hour.
fn to_the_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(3600), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + s, 0).unwrap_or_default()
    }

    fn finished(id: &str, end: i64) -> Backup {
        Backup {
            id: id.into(),
            status: "finished".into(),
            backup_type: "full-backup".into(),
            mode: "auto".into(),
            size: Some(7),
            start: Some(t(end - 300)),
            end: Some(t(end)),
        }
    }

    #[test]
    fn cadence_history_keeps_the_newest_runs_and_merges_repeats() {
        let mut m = ShardMemory::default();
        m.add_auto_ends(&(0..8).map(|i| t(-i * 3600)).collect::<Vec<_>>());
        // The same runs listed again, one 30 s retry, and 6 older ones.
        let mut again: Vec<_> = (0..14).map(|i| t(-i * 3600)).collect();
        again.push(t(-30));
        m.add_auto_ends(&again);
        assert_eq!(m.auto_ends.len(), crate::policy::CADENCE_WINDOW);
        assert_eq!(m.auto_ends[0], t(0).timestamp());
        assert_eq!(m.auto_ends[10], t(-10 * 3600).timestamp());
        // Purged: nothing listed, the history stays.
        m.add_auto_ends(&[]);
        assert_eq!(m.auto_ends.len(), crate::policy::CADENCE_WINDOW);
        assert_eq!(
            crate::policy::expected_interval(m.ends()).map(|d| d.as_secs()),
            Some(3600)
        );
    }

    #[test]
    fn the_capture_time_stays_with_its_backup_only() {
        let mut m = ShardMemory::default();
        m.remember(&finished("a", 0));
        if let Some(l) = &mut m.last {
            l.captured = Some(t(-100));
        }
        m.remember(&finished("a", 0));
        assert_eq!(m.last.as_ref().and_then(|l| l.captured), Some(t(-100)));
        m.remember(&finished("b", 3600));
        let last = m.last.clone();
        assert_eq!(
            last,
            Some(LastFinished {
                backup_id: "b".into(),
                end: t(3600),
                size: Some(7),
                captured: None
            })
        );
    }

    #[test]
    fn last_seen_is_kept_to_the_hour_and_never_goes_back() {
        let mut i = InstanceFacts::new("u", "a", t(1800));
        assert_eq!(i.first_seen, t(1800));
        assert_eq!(i.last_seen.timestamp() % 3600, 0);
        let hour = i.last_seen;
        i.seen("b", t(1900));
        assert_eq!((i.last_seen, i.account.as_str()), (hour, "b"));
        i.seen("b", t(-7200));
        assert_eq!(i.last_seen, hour);
    }
}
