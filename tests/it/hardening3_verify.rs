//! Regression tests of issue 19 ("Hardening, round 3"), verification: what a CDS object
//! contains cannot stall the exporter, the daily budget cannot be overspent by jobs
//! running at once, queued jobs download with the newest URLs, a download that cannot
//! connect gives up as a probe does, and an absurd `verify.timeout` is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::{Config, VerifyLevel};
use cds_redis_backup_exporter::fake::{dumps, FakeObject};

use crate::helpers::*;

fn data(bytes: &[u8]) -> FakeObject {
    FakeObject::Data(Arc::from(bytes))
}

/// GETs `path` with a 2 s cap; the time it took (the cap when it did not answer).
async fn timed_get(http: &reqwest::Client, url: &str) -> Duration {
    let start = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(2), http.get(url).send()).await;
    match answered {
        Ok(Ok(r)) => {
            assert_eq!(r.status(), 200, "{url}");
            let _ = r.bytes().await;
            start.elapsed()
        }
        _ => Duration::from_secs(2),
    }
}

/// Finding 1 and 9: eight gzip/LZF bombs (7,843 bytes each, 256 MiB of LZF strings inside)
/// verified at once must neither delay `/metrics` nor `/-/healthy` (the exporter runs on
/// one thread, as in production), and each is stopped by the work cap (`too_large`)
/// instead of being inflated whole. Latency is judged over many samples, with wide
/// headroom: the median under 100 ms and the slowest under 1 s (before the fix, every
/// sample waited for a whole bomb: seconds).
#[tokio::test]
async fn bombs_do_not_delay_scrapes_or_health_checks() {
    let bomb = dumps::lzf_bomb(1000);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let instances = (0..8)
        .map(|i| holding(&format!("bomb{i}"), data(&bomb), Some(bomb.len() as u64)))
        .collect();
    let mut v = verify_level(VerifyLevel::Light);
    v.concurrency = 8;
    let (_f, mut c) = watching_all(instances, v).await;
    // Results reach /metrics with the next cycle.
    c.poll.interval = Duration::from_secs(1);
    let exporter = Exporter::start(c).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", exporter.addr);
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        samples.push(timed_get(&http, &format!("{base}/-/healthy")).await);
        samples.push(timed_get(&http, &format!("{base}/metrics")).await);
        let text = exporter.get("/metrics").await.1;
        if (verify_results(&text).len() == 8 && samples.len() >= 40) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    samples.sort();
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    eprintln!(
        "{} samples while 8 bombs verify: median {median:?}, max {max:?}",
        samples.len()
    );
    let want: std::collections::BTreeMap<String, String> = (0..8)
        .map(|i| (format!("bomb{i}"), "too_large".to_owned()))
        .collect();
    assert_eq!(verify_results(&text), want);
    assert!(
        median < Duration::from_millis(100) && max < Duration::from_secs(1),
        "median {median:?}, max {max:?} over {} samples",
        samples.len()
    );
    exporter.stop().await;
}

/// Finding 4: four full verifications of 1,000,000-byte backups at once under a 1 MiB
/// budget: one fits, the other three wait for tomorrow, and exactly 1,000,000 bytes are
/// downloaded (before the fix: all four ran, 4,000,000 bytes).
#[tokio::test]
async fn the_daily_budget_is_reserved_before_a_download_starts() {
    let object = dumps::sound(1_000_000, 1);
    let instances = (0..4)
        .map(|i| holding(&format!("big{i}"), data(&object), Some(1_000_000)))
        .collect();
    let mut v = verify_level(VerifyLevel::Full);
    v.concurrency = 4;
    v.daily_budget = 1 << 20;
    v.max_bandwidth = 10 << 30;
    let (_f, c) = watching_all(instances, v).await;
    let driver = Driver::new(&c);
    let text = verified_within(
        &driver,
        4,
        Duration::from_secs(20),
        Duration::from_millis(200),
    )
    .await;
    let found = verify_results(&text);
    let count = |r: &str| found.values().filter(|v| *v == r).count();
    assert_eq!((count("ok"), count("skipped")), (1, 3), "{found:?}");
    assert_eq!(
        value(&text, "cds_redis_backup_exporter_verify_bytes_total", &[]),
        1_000_000.0
    );
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_exporter_verify_budget_remaining_bytes",
            &[]
        ),
        f64::from((1u32 << 20) - 1_000_000)
    );
}

/// Finding 6: a hung object first in the queue holds the only worker for
/// `verify.timeout` (6 s), longer than the URLs handed out with the first cycle live
/// (3 s). The three backups queued behind it are downloaded with the URLs of the
/// latest cycle, so they verify `ok` instead of failing with 403.
#[tokio::test]
async fn queued_jobs_download_with_the_newest_urls() {
    let sound = dumps::sound(100_000, 1);
    let mut instances = vec![holding("a-hung", FakeObject::Stall, Some(100_000))];
    for i in 1..=3 {
        instances.push(holding(&format!("b{i}"), data(&sound), Some(100_000)));
    }
    let mut v = verify_level(VerifyLevel::Light);
    v.concurrency = 1;
    v.timeout = Duration::from_secs(6);
    let (f, mut c) = watching_all(instances, v).await;
    c.probe.enabled = false;
    // A body may stall for probe.timeout before the download gives up: longer than the
    // URLs live here, so the hung object holds the queue past their expiry.
    c.probe.timeout = Duration::from_secs(6);
    f.set_url_lifetime(Duration::from_secs(3));
    let driver = Driver::new(&c);
    let text = verified_within(
        &driver,
        4,
        Duration::from_secs(30),
        Duration::from_millis(200),
    )
    .await;
    let want: std::collections::BTreeMap<String, String> = [
        ("a-hung", "download_failed"),
        ("b1", "ok"),
        ("b2", "ok"),
        ("b3", "ok"),
    ]
    .into_iter()
    .map(|(u, r)| (u.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(verify_results(&text), want);
}

/// A listener whose accept queue is full: further connections are never accepted (the
/// kernel drops their SYNs), like a blackholed host. The returned streams fill the
/// queue; keep them alive.
async fn blackhole() -> (
    std::net::SocketAddr,
    Vec<tokio::net::TcpStream>,
    tokio::net::TcpListener,
) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(300), connect).await {
            Ok(Ok(s)) => held.push(s),
            _ => return (addr, held, listener),
        }
    }
    panic!("the listener's queue never filled");
}

/// Finding 11: a download URL on a host that never accepts gives up after the probe's
/// timeout (1.5 s here), as the probe does, not after `verify.timeout` (an hour). The
/// test allows 20 s (over 13 × the timeout) and checks the duration the exporter
/// measured is at least the timeout, so it did wait for the connection.
#[tokio::test]
async fn a_download_that_cannot_connect_gives_up_like_a_probe() {
    let (addr, _held, _listener) = blackhole().await;
    gives_up_after_the_probe_timeout(FakeObject::At(format!("http://{addr}")), VerifyLevel::Light)
        .await;
}

/// A server that sends its headers and then no body gives up after the probe's timeout
/// (1.5 s here), not after `verify.timeout` (an hour), at both levels.
#[tokio::test]
async fn a_download_whose_body_stalls_gives_up_like_a_probe() {
    for lvl in [VerifyLevel::Light, VerifyLevel::Full] {
        gives_up_after_the_probe_timeout(FakeObject::Stall, lvl).await;
    }
}

/// Verifies one backup holding `object` at `lvl`: `download_failed` within 20 s, after
/// waiting at least the probe's timeout (1.5 s).
async fn gives_up_after_the_probe_timeout(object: FakeObject, lvl: VerifyLevel) {
    let (_f, mut c) = watching_all(
        vec![holding("far", object, Some(100_000))],
        verify_level(lvl),
    )
    .await;
    c.probe.enabled = false;
    let driver = Driver::new(&c);
    let started = Instant::now();
    let text = verified_within(
        &driver,
        1,
        Duration::from_secs(20),
        Duration::from_millis(200),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(
        verify_results(&text).get("far").map(String::as_str),
        Some("download_failed"),
        "{lvl:?}: no result after {took:?}"
    );
    let measured = value(
        &text,
        "cds_redis_backup_verify_duration_seconds",
        &[("instance_uuid", "far")],
    );
    assert!(measured >= 1.5, "{lvl:?}: {measured} s");
}

/// Finding 11: `verify.timeout: 300000000000y` is refused with its key path.
#[test]
fn an_absurd_verify_timeout_is_refused() {
    let yaml = "verify:\n  timeout: 300000000000y\naccounts:\n  - name: main\n    access_key_id: AK\n    access_key_secret: SK\n    instances: [{instance_uuid: i1}]\n";
    let parsed = Config::parse(yaml, "c.yaml", &|_| None).map(|_| ());
    assert_eq!(
        parsed.map_err(|e| e.to_string()),
        Err("config file c.yaml has 1 problem(s):\n  - verify.timeout: \"300000000000y\" is too long; use at most 7days".to_owned())
    );
}

/// Finding 11: a timeout that large given to `check --verify` directly (past
/// validation) does not panic on Instant arithmetic.
#[tokio::test]
async fn check_verify_with_an_absurd_timeout_does_not_panic() {
    let (_f, mut c) = watching(instance_with_one_backup("ins")).await;
    c.verify.timeout = Duration::from_secs(300_000_000_000 * 31_557_600);
    let run = tokio::spawn(async move {
        cds_redis_backup_exporter::check::run(c, Some(Duration::MAX), &|_, _| {})
            .await
            .map(|_| ())
    });
    let outcome = tokio::time::timeout(Duration::from_secs(20), run).await;
    assert!(
        matches!(outcome, Ok(Ok(Ok(())))),
        "check --verify: {outcome:?}"
    );
}
