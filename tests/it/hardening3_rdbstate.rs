//! Issue 19 ("Hardening, round 3"), the state file and the RDB verdicts, end to end:
//! a burst of results costs a few writes of `verify.state_file` and none is lost at
//! shutdown (finding 5), and dumps redis-server loads are not called corrupt while
//! one it refuses is (finding 12). The byte-level regressions are unit tests beside
//! the code (`verify::store`, `rdb::tests`, `rdb::real_dumps`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::VerifyLevel;
use cds_redis_backup_exporter::fake::{rdb, FakeInstance, FakeObject};
use cds_redis_backup_exporter::verify::{state_file_bytes_written, Store, SAVE_INTERVAL};

use crate::helpers::*;

fn holding_dump(uuid: &str, object: Vec<u8>) -> FakeInstance {
    holding(uuid, FakeObject::Data(Arc::from(object)), None)
}

/// Finding 5: the state file was rewritten whole, with fsync, after every result; 2,000
/// light results wrote 1,474.8 MB. Now a write follows the first result and then at most
/// one per SAVE_INTERVAL, plus the last one when the verifier goes, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_results_write_the_state_file_a_few_times_and_lose_none() {
    const N: usize = 2000;
    let dir = std::env::temp_dir().join(format!("cds-h3-state-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("verify.json");
    let mut v = verify_level(VerifyLevel::Light);
    v.state_file = Some(path.clone());
    v.concurrency = 4;
    let dump = rdb::body(300, 1);
    let instances = (0..N)
        .map(|i| holding_dump(&format!("ins-{i:04}"), dump.clone()))
        .collect();
    let (_f, mut c) = watching_all(instances, v).await;
    c.poll.concurrency = 32;
    let before = state_file_bytes_written();
    let started = Instant::now();
    let driver = Driver::new(&c);
    let text = verified_within(
        &driver,
        N,
        Duration::from_secs(300),
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(verify_results(&text).len(), N);
    assert!(verify_results(&text).iter().all(|(_, r)| r == "ok"));
    // A clean end (the same drop as a reload's or a shutdown's) writes the rest.
    drop(driver);
    let elapsed = started.elapsed();
    let written = state_file_bytes_written() - before;
    let size = std::fs::metadata(&path).unwrap().len();
    let store = Store::open(Some(&path));
    assert_eq!(store.results.len(), N, "results lost at shutdown");
    // Each write is at most the final file; at most one per interval, the first, and
    // the last. Other tests of this binary may write small state files meanwhile.
    let writes = elapsed.as_secs() / SAVE_INTERVAL.as_secs() + 3;
    println!(
        "{N} light results in {elapsed:?}: {written} bytes written to the state file ({:.1} MB), final size {size} bytes, at most {writes} writes allowed",
        written as f64 / 1e6
    );
    assert!(
        written <= writes * size + (1 << 20),
        "{written} bytes written for a {size}-byte file in {elapsed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 12 at the exporter: a dump redis-server loads is not called corrupt (its
/// empty keys skipped, bytes after its checksum ignored), one it refuses is.
#[tokio::test]
async fn verdicts_follow_what_redis_server_does_with_the_dump() {
    let mut trailing = rdb::body(5000, 2);
    trailing.extend(b"\n<html>appended by a proxy</html>");
    // A string key whose LZF data (3 bytes) declares a million: Redis refuses it.
    let mut lzf = b"REDIS0010\xfe\x00\x00\x01a\xc3\x04\x80\x00\x0f\x42\x40\x02abc\xff".to_vec();
    lzf.extend([0; 8]); // checksum disabled
                        // A string key in database 100: sound, but a default redis-server (16) refuses it.
    let mut many_dbs = b"REDIS0010\xfe\x40\x64\x00\x01a\x01b\xff".to_vec();
    many_dbs.extend([0; 8]); // checksum disabled
    let cases = [
        ("many-dbs", many_dbs, "needs_databases"),
        ("empty-keys", rdb::empty_keys(false), "empty"),
        ("empty-keys-and-one", rdb::empty_keys(true), "ok"),
        ("trailing", trailing, "ok"),
        ("lzf", lzf, "corrupt"),
    ];
    let instances = cases
        .iter()
        .map(|(u, d, _)| holding_dump(u, d.clone()))
        .collect();
    let (_f, c) = watching_all(instances, verify_level(VerifyLevel::Full)).await;
    let text = verified_within(
        &Driver::new(&c),
        cases.len(),
        Duration::from_secs(20),
        Duration::from_millis(100),
    )
    .await;
    let want: std::collections::BTreeMap<String, String> = cases
        .iter()
        .map(|(u, _, r)| ((*u).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(verify_results(&text), want);
}
