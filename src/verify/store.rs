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
    fn a_hint_does_not_replace_the_count_of_the_same_backup() {
        let key = BackupKey::new("ins", "bk");
        let shard = ShardKey::new("ins", "");
        let mut s = Store::open(None);
        s.record(&key, "", 100, v(VerifyLevel::Full, Outcome::Ok, Some(1005)));
        let mut hint = v(VerifyLevel::Light, Outcome::Ok, Some(1000));
        hint.keys_hint = true;
        s.record(&key, "", 100, hint.clone());
        assert_eq!(
            (s.shards[&shard].keys, s.shards[&shard].keys_hint),
            (Some(1005), false)
        );
        // A newer backup's hint is the shard's newest, and says it is a hint.
        let newer = BackupKey::new("ins", "bk2");
        s.record(&newer, "", 200, hint);
        assert_eq!(
            (s.shards[&shard].keys, s.shards[&shard].keys_hint),
            (Some(1000), true)
        );
        // Serialized only when set, so an old state file reads as before.
        let json = serde_json::to_string(&s.shards[&shard]).unwrap();
        assert!(json.contains("\"keys_hint\":true"), "{json}");
        let old: LastVerified =
            serde_json::from_str(r#"{"backup_id":"b","end":1,"keys":3}"#).unwrap();
        assert!(!old.keys_hint);
    }

    #[test]
    fn results_survive_a_restart_through_the_file() {
        let dir = std::env::temp_dir().join(format!("cds-verify-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let path = dir.join("state.json");
        let key = BackupKey::new("ins", "bk");
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
        assert_eq!(again.shards[&ShardKey::new("ins", "")].keys, Some(7));
        assert_eq!(again.budget, (20_000, 1234));
        std::fs::write(&path, "not json").unwrap_or_default();
        assert!(Store::open(Some(&path)).results.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_final_results_count_and_older_ok_ones_do_not_replace_newer() {
        let mut s = Store::default();
        let (old, new) = (BackupKey::new("i", "old"), BackupKey::new("i", "new"));
        s.record(&new, "s", 200, v(VerifyLevel::Light, Outcome::Ok, None));
        s.record(&old, "s", 100, v(VerifyLevel::Light, Outcome::Ok, Some(1)));
        assert_eq!(s.shards[&ShardKey::new("i", "s")].backup_id, "new");
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

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cds-verify-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    /// Finding 5 of issue 19: the writer had no cap while the reader refuses more than
    /// 8 MiB, so a file the exporter wrote itself was refused at start.
    #[test]
    fn a_state_file_at_the_cap_is_written_and_read_back() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let mut s = Store::open(Some(&path));
        let n = 16_000;
        for i in 0..n {
            let key = BackupKey::new(
                format!("instance-{i:06}-{}", "u".repeat(30)),
                format!("backup-{i:06}"),
            );
            let mut r = v(VerifyLevel::Light, Outcome::Ok, None);
            r.at = 1_700_000_000 + i as i64;
            r.detail = "d".repeat(400);
            s.record(&key, "", r.at, r);
        }
        let (p, bytes) = s.serialized().unwrap_or_default();
        assert!(
            bytes.len() as u64 <= MAX_STATE_BYTES,
            "{} bytes",
            bytes.len()
        );
        assert!(
            bytes.len() as u64 > MAX_STATE_BYTES - 1000,
            "{} bytes",
            bytes.len()
        );
        write_atomically(&p, &bytes).unwrap_or_default();
        let again = Store::open(Some(&path));
        let kept = again.results.len();
        assert!(kept > 5_000 && kept < n, "{kept} results read back");
        // The newest are kept, the oldest left out; every shard's last verified stays.
        let newest = BackupKey::new(
            format!("instance-{:06}-{}", n - 1, "u".repeat(30)),
            format!("backup-{:06}", n - 1),
        );
        assert!(again.final_result(&newest, VerifyLevel::Light).is_some());
        let oldest = BackupKey::new(
            format!("instance-{:06}-{}", 0, "u".repeat(30)),
            format!("backup-{:06}", 0),
        );
        assert!(again.final_result(&oldest, VerifyLevel::Light).is_none());
        assert_eq!(again.shards.len(), n);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Finding 10 of issue 19: `File::create` on `<state>.tmp` followed a planted link
    /// and overwrote its target.
    #[test]
    fn a_symlink_at_the_temporary_path_is_not_followed() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap_or_default();
        let tmp = dir.join("state.json.tmp");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, &tmp).unwrap_or_default();
        let e = write_atomically(&path, b"{}\n").map(|()| String::new());
        let e = e.unwrap_or_else(|e| e.to_string());
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap_or_default(),
            "precious"
        );
        assert!(!path.exists());
        // A dangling link is refused too (O_EXCL never creates through a link).
        let _ = std::fs::remove_file(&victim);
        assert!(write_atomically(&path, b"{}\n").is_err());
        assert!(!victim.exists());
        // A regular file left by a crash is replaced.
        let _ = std::fs::remove_file(&tmp);
        std::fs::write(&tmp, "half a file").unwrap_or_default();
        assert!(write_atomically(&path, b"{}\n").is_ok());
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), "{}\n");
        assert!(!tmp.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn facts(uuid: &str, last_seen: i64) -> InstanceFacts {
        use crate::facts::{LastFinished, ShardMemory};
        let t = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
        let mut i = InstanceFacts::new(uuid, "acct", t(1_700_000_000));
        i.last_seen = t(last_seen);
        i.shards.insert(
            "shard-1".to_owned(),
            ShardMemory {
                last: Some(LastFinished {
                    backup_id: format!("bk-{uuid}"),
                    end: t(1_700_086_400),
                    size: Some(1234),
                    captured: Some(t(1_700_086_000)),
                }),
                auto_ends: vec![1_700_086_400, 1_700_000_000, 1_699_913_600],
            },
        );
        i.shards
            .insert("shard-2".to_owned(), ShardMemory::default());
        i.backup_shards
            .insert(format!("bk-{uuid}"), "shard-1".to_owned());
        i
    }

    /// Issue 18, item 4: the facts go through the file and come back the same.
    #[test]
    fn facts_survive_a_restart_through_the_file() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let mut s = Store::open(Some(&path));
        let mut f = Facts::default();
        for (uuid, seen) in [("a", 1_700_100_000), ("b", 1_700_000_000)] {
            f.instances.insert(uuid.to_owned(), facts(uuid, seen));
        }
        s.set_facts(f.clone());
        assert!(s.dirty);
        s.dirty = false;
        s.set_facts(f.clone());
        assert!(!s.dirty, "the same facts again are no change");
        s.record(
            &BackupKey::new("a", "bk-a"),
            "shard-1",
            1_700_086_400,
            v(VerifyLevel::Light, Outcome::Ok, None),
        );
        let (p, bytes) = s.serialized().unwrap_or_default();
        assert!(String::from_utf8_lossy(&bytes).starts_with("{\"version\":2,"));
        write_atomically(&p, &bytes).unwrap_or_default();
        let again = Store::open(Some(&path));
        assert_eq!(again.facts, f);
        assert_eq!(again.results.len(), 1);
        assert!(
            !again.dirty,
            "a file of this version is not rewritten unchanged"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file the exporter wrote before facts existed (version 1, as the previous
    /// release writes it) is read whole, and written back as version 2.
    #[test]
    fn a_version_1_file_is_read_and_upgraded() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let v1 = concat!(
            r#"{"version":1,"budget":[20000,1234],"shards":[{"instance_uuid":"ins","shard_id":"","last":{"backup_id":"bk","end":100,"keys":7}}],"#,
            r#""results":[{"instance_uuid":"ins","backup_id":"bk","verification":{"level":"full","outcome":"ok","http_status":null,"detail":"","format":"rdb","rdb_version":11,"redis_version":"7.2.4","snapshot_time":90,"keys":7,"keys_with_expiry":0,"bytes":5000,"duration_ms":3,"at":110}}]}"#,
            "\n"
        );
        std::fs::write(&path, v1).unwrap_or_default();
        let s = Mutex::new(Store::open(Some(&path)));
        let key = BackupKey::new("ins", "bk");
        let check = |s: &Store| {
            let r = s.final_result(&key, VerifyLevel::Full).cloned();
            assert_eq!(
                r.as_ref().map(|r| (r.keys, r.snapshot_time, r.at)),
                Some((Some(7), Some(90), 110))
            );
            assert_eq!(s.shards[&ShardKey::new("ins", "")].keys, Some(7));
            assert_eq!(s.budget, (20_000, 1234));
            assert!(s.facts.instances.is_empty());
        };
        check(&lock(&s));
        // Nothing else changed: written anyway, in the new format.
        save(&s);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(text.starts_with("{\"version\":2,"), "{text}");
        check(&Store::open(Some(&path)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A damaged file, or one of an unknown version, is no crash: the store starts
    /// empty, and the next write replaces the file.
    #[test]
    fn a_damaged_or_foreign_file_starts_an_empty_store() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let good = {
            let mut s = Store::open(Some(&path));
            let mut f = Facts::default();
            f.instances
                .insert("a".to_owned(), facts("a", 1_700_000_000));
            s.set_facts(f);
            s.serialized().unwrap_or_default().1
        };
        let half = good[..good.len() / 2].to_vec();
        let v9 = String::from_utf8_lossy(&good).replace("\"version\":2", "\"version\":9");
        for bad in [
            half,
            b"\x00\xff garbage".to_vec(),
            v9.into_bytes(),
            Vec::new(),
        ] {
            std::fs::write(&path, &bad).unwrap_or_default();
            let s = Store::open(Some(&path));
            assert!(s.facts.instances.is_empty() && s.results.is_empty());
            assert!(s.has_file(), "the file is still written after a bad read");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The bound: facts come before verification results, the instances watched
    /// least recently are left out first, and the file stays within the cap.
    #[test]
    fn facts_fill_the_file_first_and_the_least_recently_watched_are_left_out() {
        let mut s = Store::default();
        let mut f = Facts::default();
        for n in 0..200 {
            let uuid = format!("ins-{n:03}");
            f.instances
                .insert(uuid.clone(), facts(&uuid, 1_700_000_000 + n * 3600));
        }
        s.set_facts(f);
        for n in 0..50 {
            let mut r = v(VerifyLevel::Light, Outcome::Ok, None);
            r.at = 1_700_000_000 + n;
            s.record(
                &BackupKey::new(format!("ins-{n:03}"), format!("bk-{n}")),
                "",
                r.at,
                r,
            );
        }
        let one = serde_json::to_vec(&facts("ins-000", 1_700_000_000))
            .unwrap_or_default()
            .len();
        // Room for 150 instances' facts, and nothing else.
        let cap = 60 + 151 * one;
        let (bytes, left_out) = s.within(cap).unwrap_or_default();
        assert!(bytes.len() <= cap, "{} > {cap}", bytes.len());
        let file: File = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(left_out, (200 - file.facts.len(), 50, 0));
        // 151 entries' bytes, less the commas between them and the rest of the file.
        assert_eq!(file.facts.len(), 150);
        assert!(file.results.is_empty());
        // The newest watched are kept; the oldest left out.
        let kept: Vec<&str> = file.facts.iter().map(|i| i.uuid.as_str()).collect();
        assert_eq!(kept.first().copied(), Some("ins-199"));
        assert!(!kept.contains(&"ins-000"));
        let oldest_kept = 200 - file.facts.len();
        assert_eq!(
            kept.last().copied(),
            Some(format!("ins-{oldest_kept:03}").as_str())
        );
        // With room for everything, nothing is left out.
        let (_, none) = s.within(usize::MAX / 2).unwrap_or_default();
        assert_eq!(none, (0, 0, 0));
    }

    #[test]
    fn only_a_change_is_written_and_an_adopted_store_writes_nothing() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let store = Mutex::new(Store::open(Some(&path)));
        save(&store);
        assert!(!path.exists(), "nothing changed, nothing written");
        lock(&store).record(
            &BackupKey::new("i", "b"),
            "",
            1,
            v(VerifyLevel::Light, Outcome::Ok, None),
        );
        save(&store);
        let first = std::fs::metadata(&path)
            .map(|m| m.modified().ok())
            .ok()
            .flatten();
        assert!(first.is_some());
        std::thread::sleep(std::time::Duration::from_millis(20));
        save(&store);
        save(&store);
        assert_eq!(
            std::fs::metadata(&path)
                .map(|m| m.modified().ok())
                .ok()
                .flatten(),
            first
        );
        let mut newer = Store::open(Some(&path));
        newer.take_over(&mut lock(&store));
        std::fs::remove_file(&path).unwrap_or_default();
        save(&store);
        assert!(
            !path.exists(),
            "the adopted store must not write its empty state"
        );
        let newer = Mutex::new(newer);
        save(&newer);
        assert_eq!(Store::open(Some(&path)).results.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
