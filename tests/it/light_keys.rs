//! Empty and KeysDropped at the default (`light`) level: a large dump's key count comes
//! from the RESIZEDB hint in its head, so an empty backup after it is seen against a
//! shard that held keys, without downloading either whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::VerifyLevel;
use cds_redis_backup_exporter::fake::{dumps, FakeBackup, FakeObject, Scenario};

use crate::helpers::*;

/// Cycles until `backup`'s light verification has `result`, or 10 s have passed.
async fn until_result(driver: &Driver, backup: &str, result: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = driver.cycle().await;
        let want = [
            ("backup_id", backup),
            ("level", "light"),
            ("result", result),
        ];
        let done = select(&text, "cds_redis_backup_verify_result", &want)
            .values()
            .any(|v| *v == 1.0);
        if done || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_large_healthy_dump_then_an_empty_one_is_empty_at_light() {
    // 1000 keys, about 110 KiB: the light level reads its first 64 KiB and last 9 bytes.
    let big = dumps::with_keys(1000, 100);
    assert!(big.len() > 100_000);
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![holding("ins", FakeObject::Data(Arc::from(big)), None)];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = vec!["ins".to_owned()];
    let mut c = config(vec![a]);
    c.verify = verify_level(VerifyLevel::Light);
    let driver = Driver::new(&c);

    let text = until_result(&driver, "bk-ins", "ok").await;
    let shard = [("instance_uuid", "ins"), ("shard_id", "")];
    let backup = |id| [("instance_uuid", "ins"), ("backup_id", id)];
    assert_eq!(
        value(&text, "cds_redis_backup_rdb_keys", &backup("bk-ins")),
        1000.0
    );
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_rdb_keys_with_expiry",
            &backup("bk-ins")
        ),
        0.0
    );
    assert_eq!(
        value(&text, "cds_redis_backup_last_verified_keys", &shard),
        1000.0
    );
    // Two ranged requests, nothing downloaded whole.
    let gets = f.object_requests();
    assert!(gets.iter().all(|(_, _, r)| r.is_some()), "{gets:?}");

    // The next backup holds no key (a flushed database): Empty, against 1000 keys.
    let empty = dumps::empty();
    let now = now();
    let mut next = FakeBackup::finished(
        "bk-ins-2",
        "",
        now - chrono::Duration::minutes(30),
        now - chrono::Duration::minutes(10),
        empty.len() as u64,
    );
    next.object = FakeObject::Data(Arc::from(empty));
    s.instances[0].backups.insert(0, next);
    f.set_scenario(s);
    let text = until_result(&driver, "bk-ins-2", "empty").await;
    let empty_result = [
        ("backup_id", "bk-ins-2"),
        ("level", "light"),
        ("result", "empty"),
    ];
    assert_eq!(
        value(&text, "cds_redis_backup_verify_result", &empty_result),
        1.0
    );
    assert_eq!(
        value(&text, "cds_redis_backup_rdb_keys", &backup("bk-ins-2")),
        0.0
    );
    // The shard's newest backup verified ok still held 1000 keys: what
    // CdsRedisBackupEmpty (and KeysDropped) compare against.
    assert_eq!(
        value(&text, "cds_redis_backup_last_verified_keys", &shard),
        1000.0
    );
}
