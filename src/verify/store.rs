//! What verification found, kept so that each backup is downloaded once per level: in
//! memory, and in `verify.state_file` when one is set. A missing, unreadable or foreign
//! file only means verifying again; it never stops the exporter.
//!
//! The file is written whole, atomically (a new temporary file beside it, fsync, rename),
//! but not after every result: a write follows the first change at once and then at
//! most one per [`SAVE_INTERVAL`], and a last one when the verifier goes away (a reload
//! or a clean shutdown), so a burst of results costs a few writes, not one each. The
//! file never exceeds [`MAX_STATE_BYTES`], the same cap the reader applies: when the
//! results do not fit, the oldest are left out of the file (they stay in memory), so
//! the exporter never writes a file it would refuse to read.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{Outcome, Verification};
use crate::config::VerifyLevel;
use crate::state::BackupKey;
use crate::sync::lock;

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

/// The newest backup of a shard verified `ok`: what a restore drill would start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastVerified {
    pub backup_id: String,
    /// Its EndTime, Unix seconds.
    pub end: i64,
    /// Keys counted, when the check read the whole dump; else the `RESIZEDB` hint of
    /// a light check (`keys_hint`).
    pub keys: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keys_hint: bool,
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
    /// Changed since the file was last written.
    dirty: bool,
    /// Results left out of the last file written, to log only when that changes.
    left_out: usize,
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

    /// Records a result; one with keys (`ok`, `needs_databases`) may become its shard's
    /// last verified backup.
    pub fn record(&mut self, key: &BackupKey, shard: &str, end: i64, v: Verification) {
        if matches!(v.outcome, Outcome::Ok | Outcome::NeedsDatabases) {
            let entry = self.shards.entry((key.0.clone(), shard.to_owned()));
            let newer = match &entry {
                std::collections::btree_map::Entry::Occupied(o) => end >= o.get().end,
                std::collections::btree_map::Entry::Vacant(_) => true,
            };
            // A hint does not replace the count of the same backup (a light check after
            // a full one, when the level changed).
            let counted_already = match &entry {
                std::collections::btree_map::Entry::Occupied(o) => {
                    let l = o.get();
                    l.backup_id == key.1 && l.keys.is_some() && !l.keys_hint && v.keys_hint
                }
                std::collections::btree_map::Entry::Vacant(_) => false,
            };
            if newer && !counted_already {
                let last = LastVerified {
                    backup_id: key.1.clone(),
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
        shards: impl Fn(&(String, String)) -> bool,
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
            if left_out > 0 {
                warn!(file = %path.display(), left_out, max_bytes = MAX_STATE_BYTES, "verify.state_file cannot hold every result; the oldest are left out and will be verified again after a restart");
            }
        }
        Some((path, bytes))
    }

    /// The file's content within `cap` bytes, and how many results were left out. The
    /// budget and the version always fit; then each shard's last verified backup (newest
    /// first), then results, newest first. Entries are serialised one by one, so the
    /// size is exact, not estimated.
    fn within(&self, cap: usize) -> Option<(Vec<u8>, usize)> {
        let budget = serde_json::to_string(&self.budget).ok()?;
        let mut out =
            format!("{{\"version\":{VERSION},\"budget\":{budget},\"shards\":[").into_bytes();
        // What still has to follow: `],"results":[` and `]}` and the newline.
        let closing = b"],\"results\":[".len() + b"]}\n".len();
        let mut shards: Vec<_> = self.shards.iter().collect();
        shards.sort_by(|a, b| b.1.end.cmp(&a.1.end).then_with(|| a.0.cmp(b.0)));
        let mut first = true;
        for ((uuid, shard), last) in shards {
            let entry = serde_json::to_vec(&ShardEntry {
                instance_uuid: uuid.clone(),
                shard_id: shard.clone(),
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
        for ((uuid, id), v) in results {
            let entry = serde_json::to_vec(&Entry {
                instance_uuid: uuid.clone(),
                backup_id: id.clone(),
                verification: v.clone(),
            })
            .ok()?;
            if !append(&mut out, &entry, &mut first, cap.saturating_sub(closing)) {
                left_out += 1;
            }
        }
        out.extend_from_slice(b"]}\n");
        Some((out, left_out))
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
        let key = ("ins".to_owned(), "bk".to_owned());
        let shard = ("ins".to_owned(), String::new());
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
        let newer = ("ins".to_owned(), "bk2".to_owned());
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
            let key = (
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
        let newest = (
            format!("instance-{:06}-{}", n - 1, "u".repeat(30)),
            format!("backup-{:06}", n - 1),
        );
        assert!(again.final_result(&newest, VerifyLevel::Light).is_some());
        let oldest = (
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

    #[test]
    fn only_a_change_is_written_and_an_adopted_store_writes_nothing() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        let store = Mutex::new(Store::open(Some(&path)));
        save(&store);
        assert!(!path.exists(), "nothing changed, nothing written");
        lock(&store).record(
            &("i".to_owned(), "b".to_owned()),
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
