//! What verification found, kept so that each backup is downloaded once per level: in
//! memory, and in `verify.state_file` when one is set, rewritten atomically (a temporary
//! file renamed over the old one) after each result. A missing, unreadable or foreign
//! file only means verifying again; it never stops the exporter.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{Outcome, Verification};
use crate::config::VerifyLevel;
use crate::state::BackupKey;

/// The newest backup of a shard verified `ok`: what a restore drill would start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerified {
    pub backup_id: String,
    /// Its EndTime, Unix seconds.
    pub end: i64,
    /// Keys counted, when the check read the whole dump.
    pub keys: Option<u64>,
}

/// The state file's layout; `version` changes with any incompatible change.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    results: Vec<Entry>,
    shards: Vec<ShardEntry>,
    /// (days since 1970-01-01 UTC, bytes downloaded that day)
    budget: (i64, u64),
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    instance_uuid: String,
    backup_id: String,
    verification: Verification,
}

#[derive(Debug, Serialize, Deserialize)]
struct ShardEntry {
    instance_uuid: String,
    shard_id: String,
    last: LastVerified,
}

const VERSION: u32 = 1;

#[derive(Debug, Default)]
pub struct Store {
    pub results: HashMap<BackupKey, BTreeMap<VerifyLevel, Verification>>,
    pub shards: BTreeMap<(String, String), LastVerified>,
    /// (UTC day, bytes downloaded that day)
    pub budget: (i64, u64),
    path: Option<PathBuf>,
}

impl Store {
    /// Reads `path` (if any). Problems are logged, and the store starts empty.
    pub fn open(path: Option<&Path>) -> Self {
        let mut store = Store {
            path: path.map(Path::to_path_buf),
            ..Store::default()
        };
        let Some(path) = path else { return store };
        let text = match crate::input::read_text(path) {
            Ok(t) => t,
            Err(crate::input::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return store
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot read verify.state_file; backups will be verified again");
                return store;
            }
        };
        match serde_json::from_str::<File>(&text) {
            Ok(f) if f.version == VERSION => {
                for e in f.results {
                    store
                        .results
                        .entry((e.instance_uuid, e.backup_id))
                        .or_default()
                        .insert(e.verification.level, e.verification);
                }
                for s in f.shards {
                    store.shards.insert((s.instance_uuid, s.shard_id), s.last);
                }
                store.budget = f.budget;
            }
            Ok(f) => {
                warn!(file = %path.display(), version = f.version, "verify.state_file has another version; backups will be verified again")
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "verify.state_file is not a state file of this exporter; backups will be verified again")
            }
        }
        store
    }

    /// The final result of `key` at `level`, if there is one.
    pub fn final_result(&self, key: &BackupKey, level: VerifyLevel) -> Option<&Verification> {
        self.results
            .get(key)
            .and_then(|m| m.get(&level))
            .filter(|v| v.outcome.is_final())
    }

    /// Records a result; an `ok` one may become its shard's last verified backup.
    pub fn record(&mut self, key: &BackupKey, shard: &str, end: i64, v: Verification) {
        if v.outcome == Outcome::Ok {
            let entry = self.shards.entry((key.0.clone(), shard.to_owned()));
            let newer = match &entry {
                std::collections::btree_map::Entry::Occupied(o) => end >= o.get().end,
                std::collections::btree_map::Entry::Vacant(_) => true,
            };
            if newer {
                let last = LastVerified {
                    backup_id: key.1.clone(),
                    end,
                    keys: v.keys,
                };
                entry.and_modify(|l| *l = last.clone()).or_insert(last);
            }
        }
        self.results
            .entry(key.clone())
            .or_default()
            .insert(v.level, v);
    }

    /// Keeps results only for `keep` (the backups still exported) and shards of `shards`,
    /// so neither memory nor the file grows with history.
    pub fn retain(
        &mut self,
        keep: impl Fn(&BackupKey) -> bool,
        shards: impl Fn(&(String, String)) -> bool,
    ) {
        self.results.retain(|k, _| keep(k));
        self.shards.retain(|k, _| shards(k));
    }

    /// Bytes downloaded on `today` so far (a new day starts from zero).
    pub fn spent(&mut self, today: i64) -> u64 {
        if self.budget.0 != today {
            self.budget = (today, 0);
        }
        self.budget.1
    }

    /// Bytes still allowed today, after counting `add` more.
    pub fn spend(&mut self, today: i64, add: u64, budget: u64) -> u64 {
        self.budget.1 = self.spent(today).saturating_add(add);
        budget.saturating_sub(self.budget.1)
    }

    /// The state file's path and new content, if there is a file.
    pub fn serialized(&self) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.path.clone()?;
        let file = File {
            version: VERSION,
            results: self
                .results
                .iter()
                .flat_map(|((uuid, id), m)| {
                    m.values().map(|v| Entry {
                        instance_uuid: uuid.clone(),
                        backup_id: id.clone(),
                        verification: v.clone(),
                    })
                })
                .collect(),
            shards: self
                .shards
                .iter()
                .map(|((uuid, shard), last)| ShardEntry {
                    instance_uuid: uuid.clone(),
                    shard_id: shard.clone(),
                    last: last.clone(),
                })
                .collect(),
            budget: self.budget,
        };
        let mut bytes = serde_json::to_vec(&file).ok()?;
        bytes.push(b'\n');
        Some((path, bytes))
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// crash leaves the old file or the new one, never half of one.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(level: VerifyLevel, outcome: Outcome, keys: Option<u64>) -> Verification {
        Verification {
            level,
            outcome,
            keys,
            ..Verification::default()
        }
    }

    #[test]
    fn results_survive_a_restart_through_the_file() {
        let dir = std::env::temp_dir().join(format!("cds-verify-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("state.json");
        let key = ("ins".to_owned(), "bk".to_owned());
        let mut s = Store::open(Some(&path));
        assert!(s.results.is_empty(), "a missing file is an empty store");
        s.record(&key, "", 100, v(VerifyLevel::Full, Outcome::Ok, Some(7)));
        s.spend(20_000, 1234, 10_000);
        let (p, bytes) = s.serialized().unwrap_or_default();
        write_atomically(&p, &bytes).unwrap_or_default();
        let again = Store::open(Some(&path));
        assert_eq!(
            again.final_result(&key, VerifyLevel::Full).map(|v| v.keys),
            Some(Some(7))
        );
        assert_eq!(again.final_result(&key, VerifyLevel::Light), None);
        assert_eq!(
            again.shards[&("ins".to_owned(), String::new())].keys,
            Some(7)
        );
        assert_eq!(again.budget, (20_000, 1234));
        std::fs::write(&path, "not json").unwrap_or_default();
        assert!(Store::open(Some(&path)).results.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_final_results_count_and_older_ok_ones_do_not_replace_newer() {
        let mut s = Store::default();
        let (old, new) = (
            ("i".to_owned(), "old".to_owned()),
            ("i".to_owned(), "new".to_owned()),
        );
        s.record(&new, "s", 200, v(VerifyLevel::Light, Outcome::Ok, None));
        s.record(&old, "s", 100, v(VerifyLevel::Light, Outcome::Ok, Some(1)));
        assert_eq!(s.shards[&("i".to_owned(), "s".to_owned())].backup_id, "new");
        s.record(
            &old,
            "s",
            100,
            v(VerifyLevel::Full, Outcome::DownloadFailed, None),
        );
        assert!(s.final_result(&old, VerifyLevel::Full).is_none());
        assert_eq!(s.spend(1, 600, 1000), 400);
        assert_eq!(s.spend(2, 100, 1000), 900, "a new day starts from zero");
    }
}
