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
    assert!(r.detail.contains("module"), "{}", r.detail);
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
    let mut drill = Box::pin(run(&s, &Free, &d));
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut drill).await;
    assert!(waited.is_err(), "the stalled drill ended");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no scratch directory while it ran"
    );
    drop(drill);
    assert!(empty(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}
