//! The three target kinds and two accounts at once, with exact series values; what
//! changes between cycles (series removed, failures carried over).

use chrono::{DateTime, Utc};

use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Fault, Scenario};

use crate::helpers::*;

fn ts(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

struct World {
    now: DateTime<Utc>,
    a: Scenario,
    b: Scenario,
}

/// Account a: `ins-repl` (watched through `instances:`) and `ins-seed` (one named
/// backup). Account b: `ins-cluster` (found by discovery on tag prod) and `ins-other`
/// (untagged, so never polled).
fn world() -> World {
    let now = now();
    let m = chrono::Duration::minutes;
    let mut repl = FakeInstance::new("ins-repl", "orders", "redis-replication");
    let mut r2 = FakeBackup::finished("r2", "", now - hours(26), now - hours(26) + m(10), 2048);
    r2.size_as_string = true;
    repl.backups = vec![
        FakeBackup::finished("r1", "", now - hours(50), now - hours(50) + m(5), 1000),
        r2,
        FakeBackup::failed("r3", "", now - hours(2), now - hours(2) + m(1)),
        FakeBackup::running("r4", "", now - m(10)),
    ];
    let mut seed = FakeInstance::new("ins-seed", "sessions", "redis-replication");
    seed.backups = vec![FakeBackup::finished(
        "s1",
        "",
        now - hours(5),
        now - hours(5) + m(3),
        4096,
    )];
    let mut a = Scenario::new("AK-A", "SK-A");
    a.instances = vec![repl, seed];

    let s = chrono::Duration::seconds;
    let mut cluster = FakeInstance::new("ins-cluster", "carts", "redis-cluster");
    cluster.tags = vec!["prod".into()];
    cluster.backups = vec![
        FakeBackup::finished("c1a", "sA", now - hours(27), now - hours(27) + m(5), 500),
        FakeBackup::finished(
            "c1b",
            "sB",
            now - hours(27) + s(2),
            now - hours(27) + m(6),
            600,
        ),
        FakeBackup::finished("c2a", "sA", now - hours(3), now - hours(3) + m(5), 700),
        FakeBackup::failed("c2b", "sB", now - hours(3) + s(2), now - hours(3) + m(1)),
    ];
    let mut other = FakeInstance::new("ins-other", "untagged", "redis-replication");
    other.backups = vec![FakeBackup::finished("o1", "", now - hours(1), now, 1)];
    let mut b = Scenario::new("AK-B", "SK-B");
    b.instances = vec![cluster, other];
    World { now, a, b }
}

#[tokio::test]
async fn three_target_kinds_two_accounts_exact_series() {
    let w = world();
    let (fa, fb) = (fake(w.a.clone()).await, fake(w.b.clone()).await);
    let mut acc_a = account("a", &fa, &w.a);
    acc_a.instances = vec!["ins-repl".into()];
    acc_a.backups = vec![backup_target("ins-seed", "s1")];
    let mut acc_b = account("b", &fb, &w.b);
    acc_b.discovery = Some(cds_redis_backup_exporter::cds::InstanceFilter {
        tag_name: Some("prod".into()),
        instance_name: None,
    });
    let exporter = Exporter::start(config(vec![acc_a, acc_b])).await;
    let t = exporter.scrape_when_ready().await;
    let now = w.now;
    let m = chrono::Duration::minutes;

    // ins-repl: everything newer than the newest finished backup, and that one.
    let exported: Vec<String> = select(
        &t,
        "cds_redis_backup_size_bytes",
        &[("instance_uuid", "ins-repl")],
    )
    .into_keys()
    .collect();
    assert_eq!(exported.len(), 3, "{exported:?}");
    for (id, state) in [("r2", "finished"), ("r3", "failed"), ("r4", "running")] {
        for s in ["finished", "running", "failed", "other"] {
            let want = f64::from(u8::from(s == state));
            assert_eq!(
                value(
                    &t,
                    "cds_redis_backup_state",
                    &[("backup_id", id), ("state", s)]
                ),
                want,
                "{id} {s}"
            );
        }
        assert_eq!(
            value(
                &t,
                "cds_redis_backup_status_info",
                &[("backup_id", id), ("status", state)]
            ),
            1.0
        );
    }
    let r2 = [
        ("instance_uuid", "ins-repl"),
        ("backup_id", "r2"),
        ("shard_id", ""),
    ];
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_info",
            &[
                r2[0],
                r2[1],
                ("backup_type", "full-backup"),
                ("backup_mode", "auto")
            ]
        ),
        1.0
    );
    assert_eq!(value(&t, "cds_redis_backup_size_bytes", &r2), 2048.0);
    assert_eq!(
        value(&t, "cds_redis_backup_start_timestamp_seconds", &r2),
        ts(now - hours(26))
    );
    assert_eq!(
        value(&t, "cds_redis_backup_end_timestamp_seconds", &r2),
        ts(now - hours(26) + m(10))
    );
    assert_eq!(value(&t, "cds_redis_backup_duration_seconds", &r2), 600.0);
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_download_url_reachable",
            &[("backup_id", "r2"), ("url_type", "public")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_download_url_status_code",
            &[("backup_id", "r2")]
        ),
        206.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_download_size_matches",
            &[("backup_id", "r2")]
        ),
        1.0
    );
    // Not finished: no end, no duration, no probe.
    for id in ["r3", "r4"] {
        assert!(select(
            &t,
            "cds_redis_backup_end_timestamp_seconds",
            &[("backup_id", id)]
        )
        .is_empty());
        assert!(select(
            &t,
            "cds_redis_backup_duration_seconds",
            &[("backup_id", id)]
        )
        .is_empty());
        assert!(select(
            &t,
            "cds_redis_backup_download_url_reachable",
            &[("backup_id", id)]
        )
        .is_empty());
    }
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_start_timestamp_seconds",
            &[("backup_id", "r4")]
        ),
        ts(now - m(10))
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[("instance_uuid", "ins-repl")]
        ),
        ts(now - hours(26) + m(10))
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_last_success_size_bytes",
            &[("instance_uuid", "ins-repl")]
        ),
        2048.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_instance_backups",
            &[("instance_uuid", "ins-repl")]
        ),
        4.0
    );

    // ins-seed through `backups:`: fetched and probed, no instance-level series.
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_duration_seconds",
            &[("backup_id", "s1")]
        ),
        180.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_download_url_reachable",
            &[("backup_id", "s1")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_up",
            &[("instance_uuid", "ins-seed"), ("backup_id", "s1")]
        ),
        1.0
    );
    assert!(select(
        &t,
        "cds_redis_instance_backups",
        &[("instance_uuid", "ins-seed")]
    )
    .is_empty());

    // ins-cluster through discovery: the newest finished backup of each shard, probed.
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[("instance_uuid", "ins-cluster"), ("shard_id", "sA")]
        ),
        ts(now - hours(3) + m(5))
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[("instance_uuid", "ins-cluster"), ("shard_id", "sB")]
        ),
        ts(now - hours(27) + m(6))
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_last_success_size_bytes",
            &[("shard_id", "sB")]
        ),
        600.0
    );
    let probed: Vec<String> = select(
        &t,
        "cds_redis_backup_download_url_reachable",
        &[("instance_uuid", "ins-cluster")],
    )
    .into_keys()
    .collect();
    assert_eq!(probed.len(), 2, "{probed:?}");
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_state",
            &[("backup_id", "c2b"), ("state", "failed")]
        ),
        1.0
    );
    assert!(select(&t, "cds_redis_backup_state", &[("backup_id", "c1a")]).is_empty());
    assert_eq!(
        value(
            &t,
            "cds_redis_instance_info",
            &[
                ("account", "b"),
                ("instance_uuid", "ins-cluster"),
                ("instance_name", "carts"),
                ("sub_product", "redis-cluster"),
                ("region_id", "CN_Beijing_A"),
                ("version", "5.0")
            ]
        ),
        1.0
    );
    assert!(
        select(
            &t,
            "cds_redis_instance_info",
            &[("instance_uuid", "ins-other")]
        )
        .is_empty(),
        "ins-other is not tagged prod"
    );
    // A static target has an info series too, with what is known of it: an
    // `instances:` entry is described by its own DescribeDBInstances (issue 18), a
    // `backups:` entry is known by its UUID alone.
    assert_eq!(
        value(
            &t,
            "cds_redis_instance_info",
            &[
                ("account", "a"),
                ("instance_uuid", "ins-repl"),
                ("instance_name", "orders")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_instance_info",
            &[
                ("account", "a"),
                ("instance_uuid", "ins-seed"),
                ("instance_name", "")
            ]
        ),
        1.0
    );
    assert!(select(&t, "cds_redis_backup_up", &[("instance_uuid", "ins-other")]).is_empty());

    // Calls: a = seed 1 + shard lookup r2 (shard "": r1 needs none) + chosen r4, r3;
    // b = lookup c2a (a cluster shard), then c1b, c1a + chosen c2b.
    let calls = |acc: &str, action: &str| {
        value(
            &t,
            "cds_redis_backup_exporter_api_requests_total",
            &[("account", acc), ("action", action), ("code", "Success")],
        )
    };
    assert_eq!(calls("a", "DownloadBackup"), 4.0);
    assert_eq!(calls("a", "DescribeBackups"), 1.0);
    assert_eq!(calls("b", "DownloadBackup"), 4.0);
    assert_eq!(calls("b", "DescribeDBInstances"), 1.0);
    assert_eq!(calls("a", "DescribeDBInstances"), 1.0, "ins-repl's own");
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_exporter_api_request_duration_seconds_count",
            &[("action", "DownloadBackup")]
        ),
        8.0
    );
    assert_eq!(
        value(&t, "cds_redis_backup_exporter_last_poll_success", &[]),
        1.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_exporter_discovery_up",
            &[("account", "b")]
        ),
        1.0
    );
    assert!(
        fa.requests()
            .iter()
            .chain(fb.requests().iter())
            .all(|r| r.accepted),
        "every request signed correctly"
    );
    // Probes are ranged GETs of one byte.
    let objects = fa.object_requests();
    assert!(!objects.is_empty());
    assert!(
        objects
            .iter()
            .all(|(m, _, range)| m == "GET" && range.as_deref() == Some("bytes=0-0")),
        "{objects:?}"
    );

    let (status, body) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("href=\"/metrics\""));
    assert_eq!(exporter.get("/-/healthy").await.0, 200);
    assert_eq!(exporter.get("/nope").await.0, 404);
    exporter.stop().await;
}

#[tokio::test]
async fn vanished_backups_and_instances_lose_their_series() {
    let mut w = world();
    let (fa, fb) = (fake(w.a.clone()).await, fake(w.b.clone()).await);
    let mut acc_a = account("a", &fa, &w.a);
    acc_a.instances = vec!["ins-repl".into()];
    let mut acc_b = account("b", &fb, &w.b);
    acc_b.discovery = discover_all();
    let driver = Driver::new(&config(vec![acc_a, acc_b]));
    let first = driver.cycle().await;
    assert_eq!(
        select(
            &first,
            "cds_redis_backup_state",
            &[("instance_uuid", "ins-repl"), ("state", "finished")]
        )
        .len(),
        3
    );
    // ins-repl (static), ins-cluster and ins-other (discovered)
    assert_eq!(parse(&first)["cds_redis_instance_info"].len(), 3);

    // r4 finishes; ins-other is deleted.
    let r4 = w.a.instances[0]
        .backups
        .iter_mut()
        .find(|b| b.id == "r4")
        .unwrap();
    r4.status = "finished".into();
    r4.end = Some(w.now);
    r4.size = 3000;
    r4.object = cds_redis_backup_exporter::fake::FakeObject::Rdb { len: 3000 };
    fa.set_scenario(w.a.clone());
    w.b.instances.retain(|i| i.uuid != "ins-other");
    fb.set_scenario(w.b.clone());
    let second = driver.cycle().await;
    let repl: Vec<String> = select(
        &second,
        "cds_redis_backup_state",
        &[("instance_uuid", "ins-repl"), ("state", "finished")],
    )
    .into_keys()
    .collect();
    assert_eq!(repl.len(), 1, "only r4 remains: {repl:?}");
    assert!(repl[0].contains("backup_id=\"r4\""));
    assert_eq!(
        value(
            &second,
            "cds_redis_backup_last_success_size_bytes",
            &[("instance_uuid", "ins-repl")]
        ),
        3000.0
    );
    assert_eq!(parse(&second)["cds_redis_instance_info"].len(), 2);
    let vanished = value(
        &second,
        "cds_redis_instance_vanished_timestamp_seconds",
        &[("account", "b"), ("instance_uuid", "ins-other")],
    );
    assert!(
        (vanished - w.now.timestamp() as f64).abs() <= 5.0,
        "{vanished}"
    );
    assert!(select(
        &second,
        "cds_redis_backup_up",
        &[("instance_uuid", "ins-other")]
    )
    .is_empty());
    assert!(select(
        &second,
        "cds_redis_backup_last_success_timestamp_seconds",
        &[("instance_uuid", "ins-other")]
    )
    .is_empty());
    // Non-cluster shards are known without lookups: the second cycle fetched only r4
    // (probed), after r2 (the one lookup), r4 and r3 in the first.
    assert_eq!(
        value(
            &second,
            "cds_redis_backup_exporter_api_requests_total",
            &[("account", "a"), ("action", "DownloadBackup")]
        ),
        3.0 + 1.0
    );
}

#[tokio::test]
async fn a_failed_call_keeps_the_last_known_state_and_says_so() {
    let mut w = world();
    let fa = fake(w.a.clone()).await;
    let mut acc = account("a", &fa, &w.a);
    acc.instances = vec!["ins-repl".into()];
    acc.backups = vec![backup_target("ins-seed", "s1")];
    let driver = Driver::new(&config(vec![acc]));
    let first = driver.cycle().await;
    w.a.instances[0].describe_fault = Some(Fault::Cds {
        http_status: 500,
        code: "InternalError".into(),
        message: "boom".into(),
    });
    w.a.instances[1].backups[0].download_fault = Some(Fault::Raw {
        http_status: 502,
        content_type: "text/html".into(),
        body: "<html>Bad Gateway</html>".into(),
    });
    fa.set_scenario(w.a.clone());
    let second = driver.cycle().await;
    for name in [
        "cds_redis_backup_size_bytes",
        "cds_redis_backup_last_success_timestamp_seconds",
        "cds_redis_instance_backups",
        "cds_redis_backup_download_url_reachable",
    ] {
        assert_eq!(
            parse(&first)[name],
            parse(&second)[name],
            "{name} carried over"
        );
    }
    assert_eq!(
        value(
            &second,
            "cds_redis_backup_up",
            &[("instance_uuid", "ins-repl"), ("backup_id", "")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &second,
            "cds_redis_backup_up",
            &[("instance_uuid", "ins-seed"), ("backup_id", "s1")]
        ),
        0.0
    );
    assert_eq!(
        value(&second, "cds_redis_backup_exporter_last_poll_success", &[]),
        0.0
    );
    let code = |c: &str| {
        value(
            &second,
            "cds_redis_backup_exporter_api_requests_total",
            &[("code", c)],
        )
    };
    assert_eq!(code("InternalError"), 1.0);
    assert_eq!(code("http_error"), 1.0);
}

#[tokio::test]
async fn steady_state_calls_only_for_probed_and_unfinished_backups() {
    let w = world();
    let (fa, fb) = (fake(w.a.clone()).await, fake(w.b.clone()).await);
    let mut acc_a = account("a", &fa, &w.a);
    acc_a.instances = vec!["ins-repl".into()];
    let mut acc_b = account("b", &fb, &w.b);
    acc_b.discovery = Some(cds_redis_backup_exporter::cds::InstanceFilter {
        tag_name: Some("prod".into()),
        instance_name: None,
    });
    let mut cfg = config(vec![acc_a, acc_b]);
    cfg.poll.extra_backups = 1;
    let driver = Driver::new(&cfg);
    let first = driver.cycle().await;
    let second = driver.cycle().await;
    let calls = |t: &str, acc: &str, action: &str| {
        value(
            t,
            "cds_redis_backup_exporter_api_requests_total",
            &[("account", acc), ("action", action)],
        )
    };
    // a, first: shard lookups r2, r1, then r4 and r3. Second: r4 (running) and r2
    // (probed); r3 (failed) and r1 (the extra, finished) come from the first cycle.
    assert_eq!(calls(&first, "a", "DownloadBackup"), 4.0);
    assert_eq!(calls(&second, "a", "DownloadBackup"), 4.0 + 2.0);
    assert_eq!(calls(&second, "a", "DescribeBackups"), 2.0);
    // b: lookups c2a, c1b, c1a and c2b; then only the two probed, c2a and c1b.
    assert_eq!(calls(&first, "b", "DownloadBackup"), 4.0);
    assert_eq!(calls(&second, "b", "DownloadBackup"), 4.0 + 2.0);
    for name in [
        "cds_redis_backup_state",
        "cds_redis_backup_size_bytes",
        "cds_redis_backup_end_timestamp_seconds",
    ] {
        assert_eq!(
            parse(&first)[name],
            parse(&second)[name],
            "{name} unchanged"
        );
    }
    assert_eq!(
        select(
            &second,
            "cds_redis_backup_size_bytes",
            &[("backup_id", "r1")]
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn gzip_scrape_is_the_same_exposition() {
    let w = world();
    let fa = fake(w.a.clone()).await;
    let mut acc = account("a", &fa, &w.a);
    acc.instances = vec!["ins-repl".into()];
    let exporter = Exporter::start(config(vec![acc])).await;
    let plain = exporter.scrape_when_ready().await;
    let r = reqwest::Client::new()
        .get(format!("http://{}/metrics", exporter.addr))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "Accept-Encoding");
    let compressed = r.bytes().await.unwrap();
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&compressed[..]),
        &mut unzipped,
    )
    .unwrap();
    assert!(
        compressed.len() * 3 < unzipped.len(),
        "{} -> {}",
        compressed.len(),
        unzipped.len()
    );
    // Everything but the live process and request-latency series is byte-identical.
    let stable = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                l.starts_with("cds_redis_backup_") && !l.starts_with("cds_redis_backup_exporter_")
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(stable(&plain), stable(&unzipped));
    assert!(!stable(&plain).is_empty());
    assert_eq!(
        parse(&plain).keys().collect::<Vec<_>>(),
        parse(&unzipped).keys().collect::<Vec<_>>()
    );
    exporter.stop().await;
}

/// Before the first cycle completes there is no last-poll series at all: a timestamp
/// of 0 read as "no cycle for 56 years" and paged (PollStalled measures from process
/// start until then).
#[tokio::test]
async fn nothing_about_cycles_is_served_before_the_first_one() {
    let (_fake, c) = watching(instance_with_one_backup("ins")).await;
    let d = Driver::new(&c);
    let before = d.metrics.encode();
    for name in [
        "cds_redis_backup_exporter_last_poll_timestamp_seconds",
        "cds_redis_backup_exporter_last_poll_success",
        "cds_redis_backup_exporter_poll_duration_seconds",
    ] {
        assert!(!before.contains(name), "{name} before the first cycle");
    }
    let after = d.cycle().await;
    let ended = value(
        &after,
        "cds_redis_backup_exporter_last_poll_timestamp_seconds",
        &[],
    );
    assert!((ended - now().timestamp() as f64).abs() < 60.0, "{ended}");
    assert_eq!(
        value(&after, "cds_redis_backup_exporter_last_poll_success", &[]),
        1.0
    );
}

/// Selection is per shard: a shard whose newest backup failed is reported even when a
/// sibling shard finished a backup after that failure (it used to be hidden, since only
/// backups newer than the instance's newest finished one were exported).
#[tokio::test]
async fn a_shard_that_failed_before_its_siblings_success_is_reported() {
    let now = now();
    let mut i = FakeInstance::new("cluster", "cluster", "redis-cluster");
    i.backups = vec![
        FakeBackup::finished("s1-ok", "s1", now - hours(2), now - hours(1), 10),
        FakeBackup::failed("s2-failed", "s2", now - hours(6), now - hours(5)),
        FakeBackup::finished("s2-ok", "s2", now - hours(31), now - hours(30), 10),
    ];
    let (f, c) = watching(i).await;
    let d = Driver::new(&c);
    let text = d.cycle().await;
    let failed = select(
        &text,
        "cds_redis_backup_state",
        &[("backup_id", "s2-failed"), ("state", "failed")],
    );
    assert_eq!(failed.values().copied().collect::<Vec<_>>(), vec![1.0]);
    assert!(
        failed.keys().all(|k| k.contains("shard_id=\"s2\"")),
        "{failed:?}"
    );
    let last = |shard| {
        value(
            &text,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[("shard_id", shard)],
        )
    };
    assert_eq!(last("s1"), (now - hours(1)).timestamp() as f64);
    assert_eq!(last("s2"), (now - hours(30)).timestamp() as f64);
    // In steady state the failed backup is final: served again, not fetched again.
    let before = f.requests().len();
    d.cycle().await;
    let mut again: Vec<String> = f.requests()[before..]
        .iter()
        .filter(|r| r.action == "DownloadBackup")
        .map(|r| r.params["BackupId"].clone())
        .collect();
    again.sort();
    assert_eq!(
        again,
        vec!["s1-ok".to_owned(), "s2-ok".to_owned()],
        "only the probed ones"
    );
}
