//! Verification through the fake: each object a backup can really hold gets its
//! documented outcome and series, the light level costs two small requests, results
//! outlive a restart through the state file, and the bandwidth cap holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::VerifyLevel;
use cds_redis_backup_exporter::fake::{dumps, FakeBackup, FakeObject};

use crate::helpers::*;

fn data(bytes: Vec<u8>) -> FakeObject {
    FakeObject::Data(Arc::from(bytes))
}

/// Cycles until `want` backups have a verification result, or 10 s have passed.
async fn verified(driver: &Driver, want: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = driver.cycle().await;
        let done = select(&text, "cds_redis_backup_verify_result", &[])
            .into_iter()
            .filter(|(_, v)| *v == 1.0)
            .count();
        if done >= want || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn result(text: &str, uuid: &str, level: &str) -> Vec<String> {
    select(
        text,
        "cds_redis_backup_verify_result",
        &[("instance_uuid", uuid), ("level", level)],
    )
    .into_iter()
    .filter(|(_, v)| *v == 1.0)
    .filter_map(|(labels, _)| {
        labels.split(',').find_map(|l| {
            l.strip_prefix("result=\"")
                .map(|r| r.trim_end_matches('"').to_owned())
        })
    })
    .collect()
}

#[tokio::test]
async fn each_object_gets_its_outcome_at_the_full_level() {
    let cases: Vec<(&str, FakeObject, Option<u64>, &str)> = vec![
        ("sound", data(dumps::sound(50_000, 1)), None, "ok"),
        ("empty", data(dumps::empty()), None, "empty"),
        (
            "flipped",
            data(dumps::bit_flipped(50_000, 2)),
            None,
            "checksum_mismatch",
        ),
        ("cut", data(dumps::cut_short(50_000, 3)), None, "truncated"),
        ("html", data(dumps::html_page(50_000)), None, "not_rdb"),
        (
            "future",
            data(dumps::future_version(50_000, 4)),
            None,
            "unsupported_version",
        ),
        (
            "gzip",
            data(dumps::gzip(&dumps::sound(50_000, 5))),
            None,
            "ok",
        ),
        (
            "tar",
            data(dumps::tar("dump.rdb", &dumps::sound(50_000, 6))),
            None,
            "ok",
        ),
        ("gone", FakeObject::Missing, Some(50_000), "download_failed"),
        (
            "huge",
            data(dumps::sound(50_000, 7)),
            Some(8 << 30),
            "too_large",
        ),
        ("nourl", FakeObject::NoUrl, Some(50_000), "skipped"),
    ];
    let instances = cases
        .iter()
        .map(|(uuid, object, size, _)| holding(uuid, object.clone(), *size))
        .collect();
    let (f, c) = watching_all(instances, verify_level(VerifyLevel::Full)).await;
    let driver = Driver::new(&c);
    let text = verified(&driver, cases.len()).await;
    for (uuid, _, _, want) in &cases {
        assert_eq!(
            result(&text, uuid, "full"),
            vec![want.to_string()],
            "{uuid}"
        );
    }
    let keys = |uuid| {
        value(
            &text,
            "cds_redis_backup_rdb_keys",
            &[("instance_uuid", uuid)],
        )
    };
    assert_eq!(keys("sound"), 1.0);
    assert_eq!(keys("empty"), 0.0);
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_verify_download_status_code",
            &[("instance_uuid", "gone")]
        ),
        404.0
    );
    for (uuid, format) in [("sound", "rdb"), ("gzip", "gzip"), ("tar", "tar")] {
        let info = [
            ("instance_uuid", uuid),
            ("rdb_version", "9"),
            ("redis_version", "5.0.14"),
            ("format", format),
        ];
        assert_eq!(
            value(&text, "cds_redis_backup_rdb_info", &info),
            1.0,
            "{uuid}"
        );
    }
    // The newest backup verified ok, per shard; an empty dump is not "ok".
    let last = "cds_redis_backup_last_verified_timestamp_seconds";
    assert_eq!(select(&text, last, &[]).len(), 3, "sound, gzip, tar");
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_last_verified_keys",
            &[("instance_uuid", "sound")]
        ),
        1.0
    );
    // Nothing was downloaded of the object over verify.max_size.
    let huge_gets = f
        .object_requests()
        .iter()
        .filter(|(_, p, r)| p.contains("bk-huge") && r.is_none())
        .count();
    assert_eq!(huge_gets, 0);
    assert!(value(&text, "cds_redis_backup_exporter_verify_bytes_total", &[]) > 5.0 * 50_000.0);
    assert_eq!(
        value(&text, "cds_redis_backup_exporter_verify_queued", &[]),
        0.0
    );
}

#[tokio::test]
async fn light_level_reads_head_and_tail_only() {
    let cases = [
        ("big", data(dumps::sound(300_000, 1)), "ok"),
        ("cut", data(dumps::cut_short(300_000, 2)), "truncated"),
        ("html", data(dumps::html_page(300_000)), "not_rdb"),
        // Small enough to come whole with the head: checked whole.
        ("small-empty", data(dumps::empty()), "empty"),
    ];
    let instances = cases
        .iter()
        .map(|(u, o, _)| holding(u, o.clone(), None))
        .collect();
    let (f, c) = watching_all(instances, verify_level(VerifyLevel::Light)).await;
    let driver = Driver::new(&c);
    let text = verified(&driver, cases.len()).await;
    for (uuid, _, want) in &cases {
        assert_eq!(
            result(&text, uuid, "light"),
            vec![want.to_string()],
            "{uuid}"
        );
    }
    let ranged = |uuid: &str| -> Vec<String> {
        f.object_requests()
            .into_iter()
            .filter(|(_, p, r)| {
                p.contains(&format!("bk-{uuid}")) && r.as_deref() != Some("bytes=0-0")
            })
            .map(|(_, _, r)| r.unwrap_or_default())
            .collect()
    };
    assert_eq!(
        ranged("big"),
        vec!["bytes=0-65535".to_owned(), "bytes=-9".to_owned()]
    );
    assert_eq!(ranged("small-empty"), vec!["bytes=0-65535".to_owned()]);
    let read = value(
        &text,
        "cds_redis_backup_verify_read_bytes",
        &[("instance_uuid", "big")],
    );
    assert_eq!(read, 65_536.0 + 9.0);
    assert!(select(
        &text,
        "cds_redis_backup_rdb_keys",
        &[("instance_uuid", "big")]
    )
    .is_empty());
}

#[tokio::test]
async fn a_restart_reads_the_state_file_and_downloads_nothing_again() {
    let dir = std::env::temp_dir().join(format!("cds-verify-it-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut v = verify_level(VerifyLevel::Full);
    v.state_file = Some(dir.join("verify.json"));
    let instances = vec![holding("ins", data(dumps::sound(100_000, 1)), None)];
    let (f, c) = watching_all(instances, v).await;
    let first = verified(&Driver::new(&c), 1).await;
    assert_eq!(result(&first, "ins", "full"), vec!["ok".to_owned()]);
    let whole_gets = || {
        f.object_requests()
            .iter()
            .filter(|(_, _, r)| r.is_none())
            .count()
    };
    assert_eq!(whole_gets(), 1);
    // A new process: the first cycle already serves the result, and nothing is fetched.
    let again = Driver::new(&c);
    let text = again.cycle().await;
    assert_eq!(result(&text, "ins", "full"), vec!["ok".to_owned()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    again.cycle().await;
    assert_eq!(whole_gets(), 1, "downloaded again after a restart");
    // A damaged state file only means verifying again.
    std::fs::write(dir.join("verify.json"), "{not json").unwrap();
    verified(&Driver::new(&c), 1).await;
    assert_eq!(whole_gets(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 1 MiB at 256 KiB/s: about 4 s. The cap is an upper bound: the measured rate may
/// not exceed it by more than 10 % (and is not far below, or the test proves nothing).
#[tokio::test]
async fn the_bandwidth_cap_holds_within_ten_percent() {
    // Load can only slow a download: every sample must stay under the cap, and the
    // fastest of up to three (each with a fresh exporter) must come near it, so a
    // loaded machine does not fail the lower bound on one slow sample.
    let cap = f64::from(256u32 << 10);
    let mut rates = Vec::new();
    for _ in 0..3 {
        let mut v = verify_level(VerifyLevel::Full);
        v.max_bandwidth = 256 << 10;
        let object = dumps::sound(1 << 20, 1);
        let len = object.len() as f64;
        let (_f, c) = watching_all(vec![holding("ins", data(object), None)], v).await;
        let text = verified(&Driver::new(&c), 1).await;
        assert_eq!(result(&text, "ins", "full"), vec!["ok".to_owned()]);
        let took = value(
            &text,
            "cds_redis_backup_verify_duration_seconds",
            &[("instance_uuid", "ins")],
        );
        let rate = len / took;
        assert!(
            rate <= cap * 1.1,
            "{rate:.0} B/s over a cap of {cap} B/s ({took} s)"
        );
        rates.push(rate);
        if rate >= cap * 0.7 {
            return;
        }
    }
    panic!("{rates:.0?} B/s: none of three samples came near the cap of {cap} B/s");
}

/// Backups that are not the newest of their shard are never downloaded, and
/// verification does not delay a cycle.
#[tokio::test]
async fn only_the_restore_point_is_verified_and_cycles_do_not_wait() {
    let mut i = holding("ins", data(dumps::sound(1 << 20, 1)), None);
    let now = now();
    i.backups.push(FakeBackup::finished(
        "older",
        "",
        now - hours(30),
        now - hours(29),
        100,
    ));
    let mut v = verify_level(VerifyLevel::Full);
    v.max_bandwidth = 64 << 10; // 16 s for the object
    let (f, c) = watching_all(vec![i], v).await;
    let driver = Driver::new(&c);
    let started = Instant::now();
    driver.cycle().await;
    driver.cycle().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cycles waited for the download"
    );
    let text = driver.cycle().await;
    assert_eq!(
        value(&text, "cds_redis_backup_exporter_verify_in_flight", &[]),
        1.0
    );
    assert!(f
        .object_requests()
        .iter()
        .all(|(_, p, _)| !p.contains("older")));
}

/// Shutdown does not wait for a download: a verification capped at 64 KiB/s of a
/// 4 MiB object (a minute's work) is cancelled, and the exporter stops at once.
#[tokio::test]
async fn shutdown_cancels_a_running_verification() {
    let mut v = verify_level(VerifyLevel::Full);
    v.max_bandwidth = 64 << 10;
    let (f, c) = watching_all(
        vec![holding("ins", data(dumps::sound(4 << 20, 1)), None)],
        v,
    )
    .await;
    let exporter = Exporter::start(c).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = exporter.get("/metrics").await.1;
        if select(&text, "cds_redis_backup_exporter_verify_in_flight", &[])
            .values()
            .sum::<f64>()
            == 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "no verification started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = Instant::now();
    exporter.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    // The fake sees no more of the download once the exporter is gone.
    let served = f.object_requests().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.object_requests().len(), served);
}
