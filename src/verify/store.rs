//! What verification found, kept so that each backup is downloaded once per level: in
//! memory, and in `verify.state_file` when one is set. The same file holds the
//! poller's [`Facts`] (remembered shards, their newest finished backups, cadence
//! history, first-seen times), so one file is everything a restart must not forget. A
//! missing, unreadable or foreign file only means starting without them; it never
//! stops the exporter. Version 1 files (results only) are read and written back as
//! version 2.
//!
//! The file is written whole, atomically (a new temporary file beside it, fsync, rename),
//! but not after every result: a write follows the first change at once and then at
//! most one per [`SAVE_INTERVAL`], and a last one when the verifier goes away (a reload
//! or a clean shutdown), so a burst of results costs a few writes, not one each. The
//! file never exceeds [`MAX_STATE_BYTES`], the same cap the reader applies: the facts
//! come first (the instances watched most recently first, so unwatched ones are left
//! out before watched ones), then each shard's last verified backup, then results,
//! newest first (restore drills' results within a quarter of it, the oldest left out
//! past that); what does not fit is left out of the file (it stays in memory), so
//! the exporter never writes a file it would refuse to read.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::VerifyLevel;
use crate::facts::{Facts, InstanceFacts};
use crate::state::{BackupKey, ShardKey};
use crate::sync::lock;
use crate::verification::{LastVerified, Outcome, Verification};

/// At most one write of the state file per this long while results keep coming.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(10);

/// The largest state file written, and read: [`crate::input::MAX_FILE_BYTES`] (8 MiB).
/// A light result takes about 700 bytes, so about 12,000 fit.
pub const MAX_STATE_BYTES: u64 = crate::input::MAX_FILE_BYTES;

/// One writer of state files in the whole process at a time (a reloaded verifier's
/// store and the one it replaced write the same path), and the content is taken under
/// it, so the newest state is always the one that lands last.
static WRITING: Mutex<()> = Mutex::new(());

/// Bytes written to state files by this process (temporary files included).
static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Bytes written to state files by this process so far: what the coalescing saves.
pub fn state_file_bytes_written() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
}

/// The state file's layout; `version` changes with any incompatible change. Version 1
/// had no `facts`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(default)]
    facts: Vec<InstanceFacts>,
    results: Vec<Entry>,
    shards: Vec<ShardEntry>,
    /// (days since 1970-01-01 UTC, bytes downloaded that day)
    budget: (i64, u64),
    /// Restore drills' results; older files and exporters without drills lack it (an
    /// added field: readers that do not know it skip it, so the version stays).
    #[serde(default)]
    drills: crate::drilled::Book,
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

const VERSION: u32 = 2;

/// What an unreadable file costs, for the warnings.
const UNREAD: &str = "cannot read verify.state_file; starting without what it held: remembered shards (one whose backups were all purged while the exporter was down is not reported), first-seen times, cadence history and verification results (backups are verified again)";
const UNREAD_TAIL: &str = "starting without it: remembered shards, first-seen times, cadence history and verification results are lost, and the file is replaced at the next write";
/// The versions this exporter reads.
const READS: [u32; 2] = [1, 2];

#[derive(Debug, Default)]
pub struct Store {
    pub results: HashMap<BackupKey, BTreeMap<VerifyLevel, Verification>>,
    pub shards: BTreeMap<ShardKey, LastVerified>,
    /// (UTC day, bytes downloaded that day)
    pub budget: (i64, u64),
    /// What the poller remembers; read at start, replaced after each cycle.
    pub facts: Facts,
    /// What restore drills found ([`crate::drilled::Book`]); replaced after each cycle.
    pub drills: crate::drilled::Book,
    path: Option<PathBuf>,
    /// Changed since the file was last written.
    dirty: bool,
    /// (instances, results, drills) left out of the last file written, to log only
    /// when that changes.
    left_out: (usize, usize, usize),
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
                warn!(file = %path.display(), error = %e, "{UNREAD}");
                return store;
            }
        };
        match serde_json::from_str::<File>(&text) {
            Ok(f) if READS.contains(&f.version) => {
                if f.version != VERSION {
                    info!(file = %path.display(), from = f.version, to = VERSION, "verify.state_file has an older format; it is read, and written in the new one");
                    // Written at the first save even if nothing else changes.
                    store.dirty = true;
                }
                for i in f.facts {
                    store.facts.instances.insert(i.uuid.clone(), i);
                }
                for e in f.results {
                    store
                        .results
                        .entry(BackupKey::new(e.instance_uuid, e.backup_id))
                        .or_default()
                        .insert(e.verification.level, e.verification);
                }
                for s in f.shards {
                    store
                        .shards
                        .insert(ShardKey::new(s.instance_uuid, s.shard_id), s.last);
                }
                store.budget = f.budget;
                store.drills = f.drills;
            }
            Ok(f) => {
                warn!(file = %path.display(), version = f.version, "verify.state_file has a version this exporter does not read; {UNREAD_TAIL}")
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "verify.state_file is not a state file of this exporter (damaged?); {UNREAD_TAIL}")
            }
        }
        store
    }

    /// Replaces the facts with the poller's newest.
    pub fn set_facts(&mut self, facts: Facts) {
        if facts != self.facts {
            self.facts = facts;
            self.dirty = true;
        }
    }

    /// Replaces the drills' results with the newest.
    pub fn set_drills(&mut self, drills: crate::drilled::Book) {
        if drills != self.drills {
            self.drills = drills;
            self.dirty = true;
        }
    }

    /// Whether a file is written at all.
    pub fn has_file(&self) -> bool {
        self.path.is_some()
    }

    /// The final result of `key` at `level`, if there is one.
    pub fn final_result(&self, key: &BackupKey, level: VerifyLevel) -> Option<&Verification> {
        self.results
            .get(key)
            .and_then(|m| m.get(&level))
            .filter(|v| v.outcome.is_final())
    }

    /// Records a result; one with keys (`ok`, `needs_databases`) may become its shard's
    /// last verified backup.
    pub fn record(&mut self, key: &BackupKey, shard: &str, end: i64, v: Verification) {
        if matches!(v.outcome, Outcome::Ok | Outcome::NeedsDatabases) {
            let entry = self.shards.entry(ShardKey::new(&key.instance_uuid, shard));
            let newer = match &entry {
                std::collections::btree_map::Entry::Occupied(o) => end >= o.get().end,
                std::collections::btree_map::Entry::Vacant(_) => true,
            };
            // A hint does not replace the count of the same backup (a light check after
            // a full one, when the level changed).
            let counted_already = match &entry {
                std::collections::btree_map::Entry::Occupied(o) => {
                    let l = o.get();
                    l.backup_id == key.backup_id && l.keys.is_some() && !l.keys_hint && v.keys_hint
                }
                std::collections::btree_map::Entry::Vacant(_) => false,
            };
            if newer && !counted_already {
                let last = LastVerified {
                    backup_id: key.backup_id.clone(),
                    end,
                    keys: v.keys,
                    keys_hint: v.keys_hint,
                };
                entry.and_modify(|l| *l = last.clone()).or_insert(last);
            }
        }
        self.results
            .entry(key.clone())
            .or_default()
            .insert(v.level, v);
        self.dirty = true;
    }

    /// Takes over what `old` holds (a reloaded configuration's verifier); `old` no
    /// longer writes the file, so its last write cannot replace this newer state.
    pub fn take_over(&mut self, old: &mut Store) {
        self.results = std::mem::take(&mut old.results);
        self.shards = std::mem::take(&mut old.shards);
        self.facts = std::mem::take(&mut old.facts);
        self.drills = std::mem::take(&mut old.drills);
        self.budget = old.budget;
        old.path = None;
        old.dirty = false;
        self.dirty = true;
    }

    /// Keeps results only for `keep` (the backups still exported) and shards of `shards`,
    /// so neither memory nor the file grows with history.
    pub fn retain(
        &mut self,
        keep: impl Fn(&BackupKey) -> bool,
        shards: impl Fn(&ShardKey) -> bool,
    ) {
        let before = (self.results.len(), self.shards.len());
        self.results.retain(|k, _| keep(k));
        self.shards.retain(|k, _| shards(k));
        self.dirty |= before != (self.results.len(), self.shards.len());
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
        self.dirty |= add > 0;
        budget.saturating_sub(self.budget.1)
    }

    /// The state file's path and new content, if there is a file: at most
    /// [`MAX_STATE_BYTES`], with the oldest results left out when they do not all fit.
    pub fn serialized(&mut self) -> Option<(PathBuf, Vec<u8>)> {
        let cap = usize::try_from(MAX_STATE_BYTES).unwrap_or(usize::MAX);
        let path = self.path.clone()?;
        let (bytes, left_out) = self.within(cap)?;
        if left_out != self.left_out {
            self.left_out = left_out;
            if left_out.0 > 0 {
                warn!(file = %path.display(), left_out = left_out.0, max_bytes = MAX_STATE_BYTES, "verify.state_file cannot hold the facts of every instance; those watched least recently are left out and forgotten at a restart");
            }
            if left_out.1 > 0 {
                warn!(file = %path.display(), left_out = left_out.1, max_bytes = MAX_STATE_BYTES, "verify.state_file cannot hold every result; the oldest are left out and will be verified again after a restart");
            }
            if left_out.2 > 0 {
                warn!(file = %path.display(), left_out = left_out.2, max_bytes = MAX_STATE_BYTES, "verify.state_file cannot hold every restore drill's result in its quarter; the oldest are left out and forgotten at a restart");
            }
        }
        Some((path, bytes))
    }

    /// The file's content within `cap` bytes, and how many instances' facts and results
    /// were left out. The budget and the version always fit; then the facts (the
    /// instances watched most recently first), each shard's last verified backup
    /// (newest first), then results, newest first. Entries are serialised one by one,
    /// so the size is exact, not estimated.
    fn within(&self, cap: usize) -> Option<(Vec<u8>, (usize, usize, usize))> {
        let budget = serde_json::to_string(&self.budget).ok()?;
        // Drills' results are few (one per drilled backup still listed); a quarter of
        // the file holds thousands, and past that the oldest are left out.
        let (drills, drills_left_out) = self.drills.json_within(cap / 4)?;
        let mut out =
            format!("{{\"version\":{VERSION},\"budget\":{budget},\"drills\":{drills},\"facts\":[")
                .into_bytes();
        let closing = b"],\"shards\":[".len() + b"],\"results\":[".len() + b"]}\n".len();
        let mut facts: Vec<&InstanceFacts> = self.facts.instances.values().collect();
        facts.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then_with(|| a.uuid.cmp(&b.uuid))
        });
        let mut first = true;
        let mut facts_left_out = 0;
        for i in facts {
            let entry = serde_json::to_vec(i).ok()?;
            if !append(&mut out, &entry, &mut first, cap.saturating_sub(closing)) {
                facts_left_out += 1;
            }
        }
        out.extend_from_slice(b"],\"shards\":[");
        // What still has to follow: `],"results":[` and `]}` and the newline.
        let closing = b"],\"results\":[".len() + b"]}\n".len();
        let mut shards: Vec<_> = self.shards.iter().collect();
        shards.sort_by(|a, b| b.1.end.cmp(&a.1.end).then_with(|| a.0.cmp(b.0)));
        let mut first = true;
        for (key, last) in shards {
            let entry = serde_json::to_vec(&ShardEntry {
                instance_uuid: key.instance_uuid.clone(),
                shard_id: key.shard_id.clone(),
                last: last.clone(),
            })
            .ok()?;
            append(&mut out, &entry, &mut first, cap - closing.min(cap));
        }
        out.extend_from_slice(b"],\"results\":[");
        let closing = b"]}\n".len();
        let mut results: Vec<_> = self
            .results
            .iter()
            .flat_map(|(k, m)| m.values().map(move |v| (k, v)))
            .collect();
        results.sort_by(|a, b| (b.1.at, a.0, a.1.level).cmp(&(a.1.at, b.0, b.1.level)));
        let mut first = true;
        let mut left_out = 0;
        for (key, v) in results {
            let entry = serde_json::to_vec(&Entry {
                instance_uuid: key.instance_uuid.clone(),
                backup_id: key.backup_id.clone(),
                verification: v.clone(),
            })
            .ok()?;
            if !append(&mut out, &entry, &mut first, cap.saturating_sub(closing)) {
                left_out += 1;
            }
        }
        out.extend_from_slice(b"]}\n");
        Some((out, (facts_left_out, left_out, drills_left_out)))
    }
}

/// Appends `entry` to a JSON array being built in `out` if the result stays within
/// `limit` bytes; `false` when it would not.
fn append(out: &mut Vec<u8>, entry: &[u8], first: &mut bool, limit: usize) -> bool {
    let comma = usize::from(!*first);
    if out.len() + comma + entry.len() > limit {
        return false;
    }
    if !*first {
        out.push(b',');
    }
    out.extend_from_slice(entry);
    *first = false;
    true
}

/// Writes `store` to its file if it changed since the last write. A failed write
/// leaves it marked changed, so the next save tries again.
pub(super) fn save(store: &Mutex<Store>) {
    let _one_writer = lock(&WRITING);
    let file = {
        let mut s = lock(store);
        if !s.dirty {
            return;
        }
        s.dirty = false;
        s.serialized()
    };
    let Some((path, bytes)) = file else { return };
    if let Err(e) = write_atomically(&path, &bytes) {
        warn!(file = %path.display(), error = %e, "cannot write verify.state_file; results are kept in memory");
        lock(store).dirty = true;
    }
}

/// Writes `bytes` to a new temporary file beside `path`, then renames it over `path`,
/// so a crash leaves the old file or the new one, never half of one.
///
/// The temporary file `<path>.tmp` is created exclusively (`O_CREAT|O_EXCL`), which
/// never follows a symbolic link: a link planted there is refused, not written
/// through. One left by a crash (a regular file of this user: writes in this process
/// are serialised, so it is no live write) is removed first.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = match create_new(&tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_stale(&tmp)?;
            create_new(&tmp)?
        }
        other => other?,
    };
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    WRITTEN.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself lasts only once the directory is on disk too.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Readable by this user only: it may name every instance and backup.
        options.mode(0o600);
    }
    options.open(path)
}

/// Removes a temporary file left by a crash; anything else at that path is refused
/// with an error that says what it is.
fn remove_stale(tmp: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(tmp)?;
    let refuse = |what: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} is {what}, not a temporary file this exporter left; remove it",
                tmp.display()
            ),
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("a symbolic link");
    }
    if !meta.is_file() {
        return refuse("not a regular file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // /proc/self belongs to the process's effective user; without it, nothing is
        // assumed to be ours.
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if me != Some(meta.uid()) {
            return refuse("a file of another user");
        }
        if meta.nlink() > 1 {
            return refuse("a file with other hard links");
        }
    }
    std::fs::remove_file(tmp)
}

#[cfg(test)]
mod tests;
