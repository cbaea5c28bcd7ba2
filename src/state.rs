//! What one completed poll cycle learned: plain data, no I/O, no Prometheus.
//!
//! The poller builds a [`Snapshot`] per cycle; the metrics module maps it to series.
//! Everything is keyed in ordered maps so duplicates (the same backup reached through a
//! `backups:` entry and an `instances:` entry) collapse and output is stable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cds::{Backup, Instance};
use crate::cds::{SecretUrl, UrlType};
use crate::config::VerifyLevel;
pub use crate::facts::LastFinished;
use crate::probe::ProbeResult;
use crate::verification::{LastVerified, Verification};

/// One backup of one instance: the key of what is kept per backup. Sorted by instance,
/// then backup id, which is the order of the series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackupKey {
    pub instance_uuid: String,
    pub backup_id: String,
}

impl BackupKey {
    pub fn new(instance_uuid: impl Into<String>, backup_id: impl Into<String>) -> Self {
        Self {
            instance_uuid: instance_uuid.into(),
            backup_id: backup_id.into(),
        }
    }
}

/// One shard of one instance (`shard_id` is `""` for an instance outside a cluster):
/// the key of what is kept per shard. Sorted by instance, then shard id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardKey {
    pub instance_uuid: String,
    pub shard_id: String,
}

impl ShardKey {
    pub fn new(instance_uuid: impl Into<String>, shard_id: impl Into<String>) -> Self {
        Self {
            instance_uuid: instance_uuid.into(),
            shard_id: shard_id.into(),
        }
    }
}

/// What one CDS call was about: an instance (`DescribeBackups`) or one of its backups
/// (`DownloadBackup`). An instance sorts before its backups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    pub instance_uuid: String,
    /// `None` for the instance itself.
    pub backup_id: Option<String>,
}

impl TargetKey {
    pub fn instance(uuid: &str) -> Self {
        Self {
            instance_uuid: uuid.to_owned(),
            backup_id: None,
        }
    }

    pub fn backup(uuid: &str, backup_id: &str) -> Self {
        Self {
            instance_uuid: uuid.to_owned(),
            backup_id: Some(backup_id.to_owned()),
        }
    }

    /// The `backup_id` label: `""` for the instance.
    pub fn backup_label(&self) -> &str {
        self.backup_id.as_deref().unwrap_or("")
    }
}

impl From<&BackupKey> for TargetKey {
    fn from(k: &BackupKey) -> Self {
        Self::backup(&k.instance_uuid, &k.backup_id)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Shared with the previous snapshot where unchanged: a final backup's state is
    /// reused cycle after cycle, and copying 10,000 of them per cycle doubled the heap.
    pub backups: BTreeMap<BackupKey, Arc<BackupState>>,
    /// target → whether its last call succeeded and when its values were last
    /// fetched; one map for both, as each holds a key per backup (12,000 at 2,000
    /// instances), read through [`Snapshot::targets_up`] and [`Snapshot::last_good`]
    pub targets: BTreeMap<TargetKey, TargetState>,
    /// instance_uuid → number of backups DescribeBackups listed
    pub instance_backups: BTreeMap<String, u64>,
    /// instance_uuid → (account, instance) for instances found by DescribeDBInstances
    pub instances: BTreeMap<String, (String, Arc<Instance>)>,
    /// account → last DescribeDBInstances succeeded (accounts with discovery only)
    pub discovery_up: BTreeMap<String, bool>,
    /// What is known of each shard.
    pub shards: BTreeMap<ShardKey, ShardFacts>,
    /// account → its discovery (if any) and at least one other call (if any) succeeded
    pub account_up: BTreeMap<String, bool>,
    /// account → for an account not up, the first failed call of the cycle as `CdsError`
    /// shows it (the CDS code and message, or the network error; never a URL), so
    /// `check` can say why it cannot see the account
    pub account_errors: BTreeMap<String, String>,
    /// instance_uuid → an instance a successful discovery stopped listing
    pub vanished: BTreeMap<String, Vanished>,
    /// What verification found of the exported backups.
    pub verifications: BTreeMap<BackupKey, Vec<Verification>>,
    /// Each shard's newest backup verified `ok`.
    pub verified: BTreeMap<ShardKey, LastVerified>,
    /// account → instances this replica watches (its shard of them)
    pub owned: BTreeMap<String, u64>,
    /// instance_uuid → the verification level `verify:` gives it
    pub verify_levels: BTreeMap<String, VerifyLevel>,
    /// account → its configured `timezone`: the status page and `check` show times
    /// for people in it
    pub account_zones: BTreeMap<String, chrono::FixedOffset>,
    /// The newest finished backup the exporter remembers of a shard for which no
    /// finished backup is exported now (all purged, possibly before
    /// a restart: the facts come from the state file); see [`Snapshot::last_success`].
    pub remembered: BTreeMap<ShardKey, LastFinished>,
    /// instance_uuid → when this exporter first watched it (kept in the state file)
    pub first_seen: BTreeMap<String, DateTime<Utc>>,
    /// instance_uuid → the fixed age of the first `staleness:` rule that matched it,
    /// for instances with one (the grace of an instance never backed up)
    pub rule_max_age: BTreeMap<String, Duration>,
    /// What restore drills found, and which instances `drill:` selects.
    pub drills: crate::drilled::Drills,
    /// instance_uuid → the backup `drill.backup: random` picked for its due drill this
    /// cycle, with its URLs: any finished backup CDS still lists, exported or not (never
    /// exported because of the pick).
    pub drill_picks: BTreeMap<String, Arc<BackupState>>,
    pub cycle: Option<CycleInfo>,
}

/// Facts about one shard (the whole instance outside clusters). They are kept while
/// the API does not answer: they describe backups that exist, not the API's health.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardFacts {
    /// Finished backups listed for the shard, for every shard that has had one since
    /// the exporter started; `None` for a shard known only through a `backups:` entry.
    pub finished: Option<u64>,
    /// The typical gap between its automatic backups ([`crate::policy::Schedule::interval`]).
    pub expected_interval: Option<Duration>,
    /// The schedule its automatic backups follow ([`crate::policy::schedule_of`]).
    pub schedule: Option<crate::policy::Schedule>,
    /// How old its newest finished backup may be ([`crate::policy::max_age`] from that
    /// backup's EndTime).
    pub max_age: Duration,
    /// The fixed age of the first `staleness:` rule that matched its instance, if one
    /// did: the restore point's allowed age regardless of the schedule.
    pub rule_max_age: Option<Duration>,
    /// (backup_id, EndTime) of its listed finished backups, newest first, at most
    /// [`LISTED_FINISHED`]: the restore point candidates that are not exported.
    pub listed_finished: Vec<(String, DateTime<Utc>)>,
}

/// What is known of one target (a CDS call's subject) this cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetState {
    /// Its last call succeeded; `None` until a call was made.
    pub up: Option<bool>,
    /// When its values were last fetched: now for a target that answered, older for
    /// one whose values are carried over.
    pub last_good: Option<DateTime<Utc>>,
}

impl TargetState {
    /// A target reached twice is up only if both calls succeeded, and was fetched
    /// when the later of them was.
    fn join(&mut self, other: TargetState) {
        self.up = match (self.up, other.up) {
            (Some(a), Some(b)) => Some(a && b),
            (a, b) => a.or(b),
        };
        self.last_good = self.last_good.max(other.last_good);
    }
}

/// How many listed finished backups of a shard [`ShardFacts::listed_finished`] keeps: a
/// restore point further back than that is too old to matter.
pub const LISTED_FINISHED: usize = 4;

/// An instance a successful `DescribeDBInstances` no longer lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Vanished {
    pub account: String,
    pub name: String,
    /// The first discovery that missed it.
    pub since: DateTime<Utc>,
}

/// The last published snapshot, shared by the poll loop (writer) and the status page
/// (reader); `None` until the first cycle completes.
pub type Latest = std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<Snapshot>>>>;

#[derive(Debug, Clone, PartialEq)]
pub struct CycleInfo {
    pub duration: Duration,
    pub ended: DateTime<Utc>,
    /// every call of the cycle succeeded
    pub success: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupState {
    pub instance_uuid: String,
    pub shard_id: String,
    pub backup: Backup,
    pub probes: Vec<(UrlType, ProbeResult)>,
    /// For the newest finished backup of its shard (what a restore would use), its
    /// download URLs, for verification; `None` for other backups. Secret: never rendered.
    pub urls: Option<Vec<(UrlType, SecretUrl)>>,
}

/// The newest finished backup of one instance and shard: what a restore would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    pub end: DateTime<Utc>,
    pub size: Option<u64>,
}

impl BackupState {
    pub fn shard_key(&self) -> ShardKey {
        ShardKey::new(&self.instance_uuid, &self.shard_id)
    }
}

impl Snapshot {
    /// Adds everything of `other`.
    pub fn merge(&mut self, other: Snapshot) {
        // A backup reached through two targets: keep the view that probed its URL,
        // whichever finished first.
        join(&mut self.backups, other.backups, |kept, b| {
            if b.probes.len() > kept.probes.len() {
                *kept = b;
            }
        });
        join(&mut self.targets, other.targets, TargetState::join);
        join(&mut self.instance_backups, other.instance_backups, replace);
        join(&mut self.instances, other.instances, replace);
        join(&mut self.discovery_up, other.discovery_up, replace);
        join(&mut self.account_errors, other.account_errors, replace);
        join(&mut self.shards, other.shards, replace);
        join(&mut self.account_up, other.account_up, replace);
        join(&mut self.account_zones, other.account_zones, replace);
        join(&mut self.vanished, other.vanished, replace);
        join(&mut self.verify_levels, other.verify_levels, replace);
        join(&mut self.owned, other.owned, replace);
        join(&mut self.remembered, other.remembered, replace);
        join(&mut self.first_seen, other.first_seen, replace);
        join(&mut self.rule_max_age, other.rule_max_age, replace);
        join(&mut self.drill_picks, other.drill_picks, replace);
    }

    pub fn set_up(&mut self, target: TargetKey, up: bool) {
        self.targets.entry(target).or_default().up = Some(up);
    }

    pub fn set_last_good(&mut self, target: TargetKey, at: DateTime<Utc>) {
        self.targets.entry(target).or_default().last_good = Some(at);
    }

    pub fn up_of(&self, target: &TargetKey) -> Option<bool> {
        self.targets.get(target).and_then(|t| t.up)
    }

    pub fn last_good_of(&self, target: &TargetKey) -> Option<DateTime<Utc>> {
        self.targets.get(target).and_then(|t| t.last_good)
    }

    /// Every target called, with whether its last call succeeded.
    pub fn targets_up(&self) -> impl Iterator<Item = (&TargetKey, bool)> {
        self.targets.iter().filter_map(|(k, t)| Some((k, t.up?)))
    }

    /// Every target with values, with when they were last fetched.
    pub fn last_good(&self) -> impl Iterator<Item = (&TargetKey, DateTime<Utc>)> {
        self.targets
            .iter()
            .filter_map(|(k, t)| Some((k, t.last_good?)))
    }

    /// Per shard: the newest finished backup exported, else the
    /// one remembered ([`Snapshot::remembered`]), whose EndTime is a fact of the past
    /// that does not go stale.
    pub fn last_success(&self) -> BTreeMap<ShardKey, LastSuccess> {
        let mut out: BTreeMap<ShardKey, LastSuccess> = BTreeMap::new();
        for b in self.backups.values() {
            let Some(end) = b.backup.end.filter(|_| b.backup.is_finished()) else {
                continue;
            };
            let key = b.shard_key();
            let newer = out.get(&key).is_none_or(|cur| end > cur.end);
            if newer {
                out.insert(
                    key,
                    LastSuccess {
                        end,
                        size: b.backup.size,
                    },
                );
            }
        }
        for (key, r) in &self.remembered {
            out.entry(key.clone()).or_insert_with(|| LastSuccess {
                end: r.end,
                size: r.size,
            });
        }
        out
    }

    pub fn all_up(&self) -> bool {
        self.targets_up().all(|(_, up)| up) && self.discovery_up.values().all(|up| *up)
    }
}

/// Moves `from` into `into`, `on_both` settling a key in both. Into an empty map (the
/// cycle's first account, every target's first part) the map moves whole: re-inserting
/// 10,000 backups node by node while the previous snapshot is still served set the
/// process's peak memory.
fn join<K: Ord, V>(into: &mut BTreeMap<K, V>, from: BTreeMap<K, V>, on_both: impl Fn(&mut V, V)) {
    if into.is_empty() {
        *into = from;
        return;
    }
    for (k, v) in from {
        match into.entry(k) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(v);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => on_both(e.get_mut(), v),
        }
    }
}

/// The newer part's value wins.
fn replace<V>(kept: &mut V, new: V) {
    *kept = new;
}

/// One backup chosen for `DownloadBackup` this cycle; `probe` marks the newest finished
/// one of its shard, whose URL is the one a restore would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub id: String,
    pub probe: bool,
}

/// Newest first by start time (unknown start last), ties by id, so selection is stable.
pub fn sort_newest_first(backups: &mut [Backup]) {
    backups.sort_by(|a, b| match (a.start, b.start) {
        (Some(x), Some(y)) => y.cmp(&x).then_with(|| b.id.cmp(&a.id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.id.cmp(&a.id),
    });
}

/// Chooses an instance's backups to fetch, from its listing sorted newest first, shard
/// by shard: for each shard, the backups newer than its newest finished one (running,
/// failed, unknown status) and that newest finished one (probed: what a restore would
/// use), plus `extra` more finished ones. An unfinished backup whose shard is not known
/// yet is taken while it is newer than every finished backup (fetching it tells its
/// shard); older ones wait until the poller has learned their shard, as do finished
/// backups of unknown shard. At most `max_unfinished` unfinished backups are taken,
/// newest first; also returns how many the cap left out.
pub fn select<'a>(
    sorted: &[Backup],
    shard_of: impl Fn(&str) -> Option<&'a str>,
    extra: usize,
    max_unfinished: usize,
) -> (Vec<Selected>, usize) {
    let mut unfinished = Vec::new();
    let mut finished = Vec::new();
    // Shards whose newest finished backup has been met, walking from newest to oldest.
    let mut covered: Vec<&str> = Vec::new();
    let mut extras = 0;
    for b in sorted {
        let pick = |probe| Selected {
            id: b.id.clone(),
            probe,
        };
        match (b.is_finished(), shard_of(&b.id)) {
            (true, Some(shard)) if !covered.contains(&shard) => {
                covered.push(shard);
                finished.push(pick(true));
            }
            (true, Some(_)) if extras < extra => {
                extras += 1;
                finished.push(pick(false));
            }
            (false, Some(shard)) if !covered.contains(&shard) => unfinished.push(pick(false)),
            (false, None) if covered.is_empty() => unfinished.push(pick(false)),
            _ => {}
        }
    }
    let skipped = unfinished.len().saturating_sub(max_unfinished);
    unfinished.truncate(max_unfinished);
    unfinished.extend(finished);
    (unfinished, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn b(id: &str, status: &str, start_h: i64) -> Backup {
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).single();
        Backup {
            id: id.into(),
            status: status.into(),
            backup_type: "full-backup".into(),
            mode: "auto".into(),
            size: Some(1),
            start: t0.map(|t| t + chrono::Duration::hours(start_h)),
            end: t0.map(|t| t + chrono::Duration::hours(start_h) + chrono::Duration::minutes(5)),
        }
    }

    fn ids(sel: &[Selected]) -> Vec<(&str, bool)> {
        sel.iter().map(|s| (s.id.as_str(), s.probe)).collect()
    }

    #[test]
    fn newer_unfinished_plus_newest_finished_per_shard() {
        let mut list = vec![
            b("d1-s1", "finished", -48),
            b("d1-s2", "finished", -48),
            b("d2-s1", "finished", -24),
            b("d2-s2", "failed", -24),
            b("d3-s1", "running", 0),
        ];
        sort_newest_first(&mut list);
        let shard = |id: &str| Some(if id.ends_with("s1") { "s1" } else { "s2" });
        assert_eq!(
            ids(&select(&list, shard, 0, 10).0),
            vec![
                ("d3-s1", false),
                ("d2-s2", false),
                ("d2-s1", true),
                ("d1-s2", true)
            ]
        );
        assert_eq!(
            ids(&select(&list, shard, 1, 10).0),
            vec![
                ("d3-s1", false),
                ("d2-s2", false),
                ("d2-s1", true),
                ("d1-s2", true),
                ("d1-s1", false)
            ]
        );
    }

    #[test]
    fn unknown_shards_are_skipped_and_empty_lists_select_nothing() {
        let mut list = vec![b("x", "finished", -1), b("y", "finished", -2)];
        sort_newest_first(&mut list);
        let known = |id: &str| (id == "y").then_some("");
        assert_eq!(ids(&select(&list, known, 0, 10).0), vec![("y", true)]);
        assert!(select(&[], known, 3, 10).0.is_empty());
        let never = vec![b("f", "failed", 0)];
        assert_eq!(ids(&select(&never, known, 0, 10).0), vec![("f", false)]);
    }

    /// A shard whose backup failed before its sibling's newest success is still
    /// reported: selection is per shard, not per instance.
    #[test]
    fn a_shard_failing_before_its_siblings_success_is_selected() {
        let mut list = vec![
            b("s1-ok", "finished", -1),
            b("s2-failed", "failed", -5),
            b("s2-ok", "finished", -30),
            b("s1-old-failed", "failed", -40),
            b("unknown-old", "failed", -50),
        ];
        sort_newest_first(&mut list);
        let shard = |id: &str| match id {
            "unknown-old" => None,
            id if id.starts_with("s1") => Some("s1"),
            _ => Some("s2"),
        };
        assert_eq!(
            ids(&select(&list, shard, 0, 10).0),
            vec![("s2-failed", false), ("s1-ok", true), ("s2-ok", true)]
        );
    }

    #[test]
    fn unfinished_backups_are_capped_newest_first() {
        let mut list: Vec<Backup> = (0..3000)
            .map(|h| b(&format!("r{h:04}"), "running", -h))
            .collect();
        list.push(b("done", "finished", -5000));
        sort_newest_first(&mut list);
        let (chosen, skipped) = select(&list, |_| Some(""), 0, 10);
        assert_eq!(skipped, 2990);
        assert_eq!(chosen.len(), 11);
        assert_eq!(ids(&chosen[..2]), vec![("r0000", false), ("r0001", false)]);
        assert_eq!(ids(&chosen[10..]), vec![("done", true)]);
    }

    #[test]
    fn last_success_is_newest_finished_per_shard() {
        let mut s = Snapshot::default();
        for (id, status, h, shard) in [
            ("a", "finished", -48, ""),
            ("b", "finished", -24, ""),
            ("c", "failed", 0, ""),
        ] {
            s.backups.insert(
                BackupKey::new("i", id),
                Arc::new(BackupState {
                    instance_uuid: "i".into(),
                    shard_id: shard.into(),
                    backup: b(id, status, h),
                    probes: vec![],
                    urls: None,
                }),
            );
        }
        let ls = s.last_success();
        assert_eq!(ls.len(), 1);
        assert_eq!(
            ls[&ShardKey::new("i", "")].end,
            b("b", "finished", -24).end.unwrap_or_default()
        );
    }
}
