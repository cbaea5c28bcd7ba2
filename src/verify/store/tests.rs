//! The store against real files: results and facts survive a restart, the cap and
//! what is left out first, only changes written, a symlinked temporary path not
//! followed, version 1 and damaged or foreign files.

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
    let old: LastVerified = serde_json::from_str(r#"{"backup_id":"b","end":1,"keys":3}"#).unwrap();
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
