//! Restore drills against a real `redis-server` (Debian's), the objects served over
//! loopback by the fake CDS object store: real dumps of every data type restore with
//! Redis' key count equal to the verifier's, a module dump fails with Redis' own line,
//! a newer RDB version is `unsupported`, data checks fail as configured, the disk
//! budget refuses before the first byte, and nothing is left in the scratch directory
//! after any outcome, the deadline and a dropped drill included. A missing
//! `redis-server` fails these tests: a drill test without the server proves nothing.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use cds_redis_backup_exporter::cds::{SecretUrl, UrlType};
use cds_redis_backup_exporter::config::{DataChecks, KeyCheck, MinKeys};
use cds_redis_backup_exporter::drill::download::Egress;
use cds_redis_backup_exporter::drill::resp::Conn;
use cds_redis_backup_exporter::drill::server::Server;
use cds_redis_backup_exporter::drill::{run, Drill, DrillOutcome, DrillResult, Setup};
use cds_redis_backup_exporter::fake::{dumps, FakeCds, FakeObject, Scenario};

use crate::helpers::{fake, holding};

/// No cap, no budget: the tests measure the drill, not the limiter.
#[derive(Debug)]
struct Free;

impl Egress for Free {
    fn reserve(&self, _: u64) -> bool {
        true
    }
    fn pace(&self, _: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
    fn settle(&self, _: u64, _: u64) {}
}

/// Counts what drills hold of the budget: held minus settled must come back to 0.
#[derive(Debug, Default)]
struct Counting(std::sync::atomic::AtomicI64);

impl Egress for Counting {
    fn reserve(&self, n: u64) -> bool {
        self.0
            .fetch_add(n as i64, std::sync::atomic::Ordering::SeqCst);
        true
    }
    fn pace(&self, _: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
    fn settle(&self, reserved: u64, _: u64) {
        self.0
            .fetch_sub(reserved as i64, std::sync::atomic::Ordering::SeqCst);
    }
}

fn require_redis_server() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("redis-server"))
            .find(|f| f.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("redis-server is not on PATH: restore drills are tested against a real one; install it (Debian/Ubuntu: apt-get install redis-server)")
    })
}

fn scratch_parent() -> PathBuf {
    let d = std::env::temp_dir().join(format!("drill-it-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn setup(scratch: &Path) -> Setup {
    Setup {
        http: reqwest::Client::new(),
        url_types: vec![UrlType::Public],
        redis_server: require_redis_server(),
        scratch_dir: scratch.to_owned(),
        max_size: 64 << 20,
        disk_budget: 1 << 30,
        timeout: Duration::from_secs(60),
        answer_within: Duration::from_secs(5),
    }
}

/// The fake serving `object` as backup `bk-<uuid>`, and a drill of it.
async fn serving(uuid: &str, object: FakeObject, size: Option<u64>) -> (FakeCds, Drill) {
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![holding(uuid, object, size)];
    let f = fake(s).await;
    let url = format!(
        "{}/objects/bk-{uuid}.rdb?token={}",
        f.base_url(),
        f.url_token()
    );
    let drill = Drill {
        urls: vec![(UrlType::Public, SecretUrl::new(url))],
        size,
        instance_ram: Some(1 << 30),
        checks: DataChecks::default(),
    };
    (f, drill)
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// A dump written by the real server with every data type, in two databases.
async fn real_dump() -> Vec<u8> {
    let dir = scratch_parent();
    std::fs::write(dir.join("dump.rdb"), dumps::empty()).unwrap();
    let (server, _) = Server::load(&require_redis_server(), &dir, "dump.rdb")
        .await
        .unwrap();
    let mut c = Conn::connect(&dir.join("redis.sock")).await.unwrap();
    let big = "v".repeat(300);
    let commands: Vec<Vec<&str>> = vec![
        vec!["SET", "string", "hello"],
        vec!["SET", "int", "12345"],
        vec!["RPUSH", "list", "a", "b", "c"],
        vec!["SADD", "set", "a", "b"],
        vec!["SADD", "intset", "1", "2", "3"],
        vec!["ZADD", "zset", "1", "a", "2.5", "b"],
        vec!["HSET", "hash", "f", "v", "g", "w"],
        vec!["HSET", "bighash", "f", &big],
        vec!["XADD", "stream", "*", "f", "v"],
        vec!["SET", "ttl", "x", "EX", "3600"],
        vec!["SELECT", "3"],
        vec!["SET", "user:1", "x"],
        vec!["RPUSH", "biglist", &big, &big],
        vec!["SAVE"],
    ];
    for cmd in commands {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        c.call(&args).await.unwrap();
    }
    let bytes = std::fs::read(dir.join("dump.rdb")).unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

fn data(b: Vec<u8>) -> FakeObject {
    FakeObject::Data(b.into())
}

async fn drill_of(uuid: &str, object: Vec<u8>, checks: DataChecks) -> (DrillResult, bool) {
    let dir = scratch_parent();
    let (_f, mut d) = serving(uuid, data(object), None).await;
    d.checks = checks;
    let r = run(&setup(&dir), &Free, &d).await;
    let clean = empty(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    (r, clean)
}

#[tokio::test]
async fn real_dumps_of_every_type_restore_with_the_verifiers_key_count() {
    let dump = real_dump().await;
    for (name, object) in [
        ("raw", dump.clone()),
        ("gzip", dumps::gzip(&dump)),
        ("tar", dumps::tar("dump.rdb", &dump)),
    ] {
        let (r, clean) = drill_of(name, object, DataChecks::default()).await;
        assert_eq!(r.outcome, DrillOutcome::Ok, "{name}: {}", r.detail);
        assert_eq!(
            (r.keys_redis, r.keys_verifier),
            (Some(12), Some(12)),
            "{name}"
        );
        assert!(r.used_memory.unwrap() > 0, "{name}");
        assert_eq!(r.instance_ram, Some(1 << 30));
        assert_eq!(r.rdb_version, Some(10));
        assert!(r.at > 0 && r.load_seconds > 0.0 && r.download_seconds > 0.0);
        assert_eq!(r.recovery_seconds(), r.download_seconds + r.load_seconds);
        assert!(clean, "{name}: the scratch directory is not empty");
    }
}

#[tokio::test]
async fn data_checks_pass_and_fail_as_configured() {
    let dump = real_dump().await;
    let key = |db, k: &str| KeyCheck {
        db,
        key: k.to_owned(),
    };
    let pass = DataChecks {
        keys: vec![key(3, "user:1"), key(0, "stream")],
        min_keys: vec![MinKeys { db: 0, count: 10 }, MinKeys { db: 3, count: 2 }],
    };
    let (r, clean) = drill_of("pass", dump.clone(), pass).await;
    assert_eq!((r.outcome, clean), (DrillOutcome::Ok, true), "{}", r.detail);
    let missing = DataChecks {
        keys: vec![key(0, "user:1")],
        min_keys: Vec::new(),
    };
    let (r, clean) = drill_of("missing", dump.clone(), missing).await;
    assert_eq!((r.outcome, clean), (DrillOutcome::DataCheckFailed, true));
    assert_eq!(r.detail, "key \"user:1\" is not in db 0");
    let few = DataChecks {
        keys: Vec::new(),
        min_keys: vec![MinKeys { db: 3, count: 3 }],
    };
    let (r, _) = drill_of("few", dump, few).await;
    assert_eq!(r.outcome, DrillOutcome::DataCheckFailed);
    assert_eq!(r.detail, "db 3 holds 2 keys, fewer than 3");
}

/// `REDIS0010`, `body`, EOF and the CRC-64 Redis computes.
fn dump10(body: &[u8]) -> Vec<u8> {
    let mut d = b"REDIS0010".to_vec();
    d.extend_from_slice(body);
    d.push(0xFF);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&d);
    d.extend_from_slice(&crc.to_le_bytes());
    d
}

#[tokio::test]
async fn a_dump_needing_a_module_fails_with_redis_own_line() {
    // db 0, a module-2 value (type 7) of key "m": a 64-bit module id, then EOF (0).
    let mut body = vec![0xFE, 0x00, 0x07, 0x01, b'm', 0x81];
    body.extend_from_slice(&0x1234_5678_9abc_de00_u64.to_be_bytes());
    body.push(0x00);
    let (r, clean) = drill_of("module", dump10(&body), DataChecks::default()).await;
    assert_eq!(r.outcome, DrillOutcome::LoadFailed, "{r:?}");
    assert!(
        // Redis' own line; its rdb.c line number varies with the build.
        r.detail.ends_with(
            "The RDB file contains module data I can't load: no matching module type 'EjRWeJq83'"
        ),
        "{}",
        r.detail
    );
    assert!(clean);
}

#[tokio::test]
async fn a_newer_rdb_version_than_the_server_reads_is_unsupported() {
    let dump = real_dump().await;
    let mut newer = dump.clone();
    newer[5..9].copy_from_slice(b"0012");
    let n = newer.len();
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&newer[..n - 8]);
    newer[n - 8..].copy_from_slice(&crc.to_le_bytes());
    let (r, clean) = drill_of("newer", newer, DataChecks::default()).await;
    assert_eq!(r.outcome, DrillOutcome::Unsupported, "{r:?}");
    assert!(r.detail.contains("RDB version 12"), "{}", r.detail);
    assert!(clean);
}

#[tokio::test]
async fn the_disk_budget_refuses_before_downloading() {
    let dir = scratch_parent();
    let (f, d) = serving("big", data(dumps::sound(4 << 20, 1)), Some(4 << 20)).await;
    let mut s = setup(&dir);
    s.disk_budget = 1 << 20;
    let r = run(&s, &Free, &d).await;
    assert_eq!(r.outcome, DrillOutcome::Skipped);
    assert!(r.detail.contains("drill.disk_budget"), "{}", r.detail);
    assert!(f.object_requests().is_empty());
    assert!(empty(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A gzip that unwraps to far more than it weighs: the download fits the budget, the
/// dump it unwraps to does not, and it is refused before a byte of it is written.
#[tokio::test]
async fn the_disk_budget_refuses_a_dump_unwrapping_beyond_it() {
    let dir = scratch_parent();
    // db 0: "zeros" = 2 MiB of zero bytes (a 32-bit length: 0x80, then big-endian).
    let mut body = vec![0xFE, 0x00, 0x00, 0x05];
    body.extend_from_slice(b"zeros");
    body.push(0x80);
    body.extend_from_slice(&(2u32 << 20).to_be_bytes());
    body.resize(body.len() + (2 << 20), 0);
    let dump = dump10(&body);
    let gz = dumps::gzip(&dump);
    assert!(gz.len() < 64 << 10, "{}", gz.len());
    let (f, d) = serving("bomb", data(gz.clone()), Some(gz.len() as u64)).await;
    let mut s = setup(&dir);
    s.disk_budget = 1 << 20;
    let r = run(&s, &Free, &d).await;
    assert_eq!(r.outcome, DrillOutcome::Skipped, "{r:?}");
    assert_eq!(
        r.detail,
        format!(
            "{} bytes unwrapped from gzip: it needs about {} bytes of scratch disk, more than drill.disk_budget (1048576)",
            dump.len(),
            dump.len() + gz.len()
        )
    );
    assert_eq!(f.object_requests().len(), 1);
    assert_eq!(r.bytes, gz.len() as u64);
    assert!(empty(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn nothing_is_left_after_the_deadline_or_a_dropped_drill() {
    let dir = scratch_parent();
    let (f, d) = serving("stall", FakeObject::Stall, Some(1 << 20)).await;
    let mut s = setup(&dir);
    s.timeout = Duration::from_millis(500);
    let r = run(&s, &Free, &d).await;
    assert_eq!(r.outcome, DrillOutcome::DownloadFailed);
    assert!(r.detail.contains("drill.timeout"), "{}", r.detail);
    assert_eq!(f.object_requests().len(), 1);
    assert!(empty(&dir));
    // Dropped while its download hangs, inside its scratch directory.
    s.timeout = Duration::from_secs(60);
    let counting = Counting::default();
    let mut drill = Box::pin(run(&s, &counting, &d));
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut drill).await;
    assert!(waited.is_err(), "the stalled drill ended");
    // It holds the object's size (Content-Length) until it ends.
    assert_eq!(
        counting.0.load(std::sync::atomic::Ordering::SeqCst),
        1 << 20
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no scratch directory while it ran"
    );
    drop(drill);
    assert!(empty(&dir));
    assert_eq!(
        counting.0.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "budget still held"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Through the poller: the drilled instances' results reach `/metrics`, the verdict
/// and the state file, and the scratch directory is empty afterwards.
#[tokio::test]
async fn drills_run_after_a_cycle_and_reach_metrics_verdict_and_state_file() {
    use crate::helpers::{select, verify_level, watching_all, Driver};
    use cds_redis_backup_exporter::config::{DrillConfig, VerifyLevel};

    let dump = real_dump().await;
    let mut module = vec![0xFE, 0x00, 0x07, 0x01, b'm', 0x81];
    module.extend_from_slice(&0x1234_5678_9abc_de00_u64.to_be_bytes());
    module.push(0x00);
    let instances = vec![
        holding("good", data(dump), None),
        holding("module", data(dump10(&module)), None),
    ];
    let dir = scratch_parent();
    let mut v = verify_level(VerifyLevel::Light);
    v.state_file = Some(dir.join("state.json"));
    let (_f, mut c) = watching_all(instances, v).await;
    c.drill = DrillConfig {
        enabled: true,
        scratch_dir: dir.join("scratch"),
        concurrency: 2,
        ..DrillConfig::default()
    };
    let driver = Driver::new(&c);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = driver.cycle().await;
        let done = select(
            &text,
            "cds_redis_backup_drill_last_success_timestamp_seconds",
            &[],
        )
        .len();
        let failed = select(
            &text,
            "cds_redis_backup_drill_result",
            &[("result", "load_failed")],
        )
        .values()
        .filter(|v| **v == 1.0)
        .count();
        // The verdict is decided at render: the failure shows one cycle after it lands.
        let finding = select(
            &text,
            "cds_redis_backup_finding",
            &[("reason", "drill_failed")],
        )
        .len();
        if (done, failed, finding) == (1, 1, 1) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ok = |uuid: &str, result: &str| {
        select(
            &text,
            "cds_redis_backup_drill_result",
            &[("instance_uuid", uuid), ("result", result)],
        )
        .into_values()
        .collect::<Vec<f64>>()
    };
    assert_eq!(ok("good", "ok"), vec![1.0], "{text}");
    assert_eq!(ok("module", "load_failed"), vec![1.0], "{text}");
    assert_eq!(
        select(
            &text,
            "cds_redis_backup_drill_keys",
            &[("instance_uuid", "good")]
        )
        .into_values()
        .collect::<Vec<f64>>(),
        vec![12.0]
    );
    assert_eq!(
        select(
            &text,
            "cds_redis_backup_finding",
            &[("reason", "drill_failed")]
        )
        .into_keys()
        .filter(|k| k.contains("instance_uuid=\"module\""))
        .count(),
        1,
        "{text}"
    );
    drop(driver);
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(
        state.contains("\"drills\":{") && state.contains("load_failed"),
        "{state}"
    );
    assert!(empty(&dir.join("scratch")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A key whose expiry passed is in the dump (the verifier counts it) and dropped by
/// Redis on load: not a mismatch.
#[tokio::test]
async fn keys_expired_before_the_load_are_no_mismatch() {
    // db 0: "live" = "v"; "gone" = "v" with an expiry in 2001 (ms, little-endian).
    let mut body = vec![0xFE, 0x00, 0x00, 0x04];
    body.extend_from_slice(b"live");
    body.extend_from_slice(&[0x01, b'v', 0xFC]);
    body.extend_from_slice(&1_000_000_000_000_u64.to_le_bytes());
    body.extend_from_slice(&[0x00, 0x04]);
    body.extend_from_slice(b"gone");
    body.extend_from_slice(&[0x01, b'v']);
    let (r, clean) = drill_of("expired", dump10(&body), DataChecks::default()).await;
    assert_eq!(r.outcome, DrillOutcome::Ok, "{r:?}");
    assert_eq!(
        (r.keys_verifier, r.keys_with_expiry, r.keys_redis),
        (Some(2), Some(1), Some(1))
    );
    assert!(clean);
}

/// Whether `cond` holds within 10 s (SIGKILL is sent at once; its delivery is the
/// kernel's business).
async fn soon(cond: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A `redis-server` that never opens its socket: the drill is dropped (and, once more,
/// runs into its deadline) while the server runs; the server is killed and its
/// directory removed both times.
#[tokio::test]
async fn a_drill_stopped_while_the_server_loads_kills_it_and_leaves_nothing() {
    require_redis_server();
    let dir = scratch_parent();
    let bin = std::env::temp_dir().join(format!("fake-redis-{}", uuid::Uuid::new_v4().simple()));
    let pid_file = bin.with_extension("pid");
    crate::helpers::stand_in_redis_server(&bin, &pid_file);
    let (_f, d) = serving("slow", data(real_dump().await), None).await;
    let mut s = setup(&dir);
    s.redis_server = bin.clone();
    let gone = |pid: &str| {
        // Killed: gone, or a zombie until the runtime reaps it.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |st| st.split_whitespace().nth(2) == Some("Z"))
    };
    let mut drill = Box::pin(run(&s, &Free, &d));
    let started = std::time::Instant::now();
    while !pid_file.exists() {
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut drill)
            .await
            .is_err());
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never started"
        );
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(!gone(&pid));
    drop(drill);
    assert!(
        soon(|| gone(&pid)).await,
        "the scratch server outlived its drill"
    );
    assert!(empty(&dir));
    // The deadline while it loads: no verdict on the backup.
    std::fs::remove_file(&pid_file).unwrap();
    s.timeout = Duration::from_secs(2);
    let r = run(&s, &Free, &d).await;
    assert_eq!(r.outcome, DrillOutcome::Skipped, "{r:?}");
    assert!(r.detail.contains("did not load"), "{}", r.detail);
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        soon(|| gone(&pid)).await,
        "the scratch server outlived its deadline"
    );
    assert!(empty(&dir));
    for f in [&bin, &pid_file] {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
