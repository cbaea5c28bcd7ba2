//! The API misbehaving on purpose (the fake's fault plans): transient failures are
//! retried and counted by kind, permanent ones are not retried, huge answers stop at
//! the size cap, `Retry-After` and the rate limit are honoured, and values of a target
//! that keeps failing are carried over, then dropped after `poll.stale_after`.

use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::Config;
use cds_redis_backup_exporter::fake::{
    FakeBackup, FakeCds, FakeInstance, Fault, FaultPlan, Scenario,
};

use crate::helpers::*;

/// One instance, `ins`, with one finished backup, `bk`.
fn scenario() -> Scenario {
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![instance_with_one_backup("ins")];
    s
}

/// Watches `ins`, with two retries, short backoff and a 300 ms call timeout.
async fn setup(s: &Scenario) -> (FakeCds, Config) {
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, s);
    a.instances = vec!["ins".into()];
    let mut c = config(vec![a]);
    c.poll.max_retries = 2;
    c.poll.request_timeout = Duration::from_millis(300);
    (f, c)
}

fn raw(status: u16, content_type: &str, body: &str) -> Fault {
    Fault::Raw {
        http_status: status,
        content_type: content_type.into(),
        body: body.into(),
    }
}

fn counter(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    select(text, name, want).values().sum()
}

fn up(text: &str, backup_id: &str) -> f64 {
    value(
        text,
        "cds_redis_backup_up",
        &[("instance_uuid", "ins"), ("backup_id", backup_id)],
    )
}

#[tokio::test]
async fn transient_failures_are_retried_and_counted_by_kind() {
    let cases = [
        (
            raw(500, "text/html", "<html>Internal Server Error</html>"),
            "server_error",
        ),
        (
            Fault::Cds {
                http_status: 503,
                code: "ServiceUnavailable".into(),
                message: "busy".into(),
            },
            "server_error",
        ),
        (
            Fault::Throttled {
                retry_after: Some("0".into()),
            },
            "throttled",
        ),
        (Fault::Hang, "timeout"),
        (Fault::Reset, "transport"),
    ];
    for (fault, kind) in cases {
        let (f, c) = setup(&scenario()).await;
        f.set_faults_on("DescribeBackups", FaultPlan::next(1, fault.clone()));
        let text = Driver::new(&c).cycle().await;
        let errors = "cds_redis_backup_exporter_api_errors_total";
        let d = [("action", "DescribeBackups")];
        assert_eq!(f.faults_served(), 1, "{fault:?}");
        assert_eq!(counter(&text, errors, &[]), 1.0, "{fault:?}: one error");
        // Every action and kind starts at 0, so increase() sees the first failure.
        assert_eq!(select(&text, errors, &[]).len(), 27, "{fault:?}");
        assert_eq!(
            value(&text, errors, &[d[0], ("kind", kind)]),
            1.0,
            "{fault:?}"
        );
        let retries = "cds_redis_backup_exporter_api_retries_total";
        assert_eq!(value(&text, retries, &d), 1.0, "{fault:?}");
        // The retry succeeded: nothing of the target is lost.
        assert_eq!(up(&text, ""), 1.0, "{fault:?}");
        assert_eq!(up(&text, "bk"), 1.0, "{fault:?}");
        assert!(text.contains("cds_redis_backup_size_bytes{"), "{fault:?}");
    }
}

#[tokio::test]
async fn permanent_failures_are_not_retried_and_say_why() {
    let cases = [
        (Fault::Truncated, "decode"),
        (raw(200, "text/html", "<html>Login</html>"), "decode"),
        (raw(200, "application/json", "[1, 2]"), "decode"),
        (
            Fault::Huge {
                bytes: 64 << 20,
                declared: false,
            },
            "too_large",
        ),
        (
            Fault::Cds {
                http_status: 403,
                code: "SignatureDoesNotMatch".into(),
                message: "no".into(),
            },
            "api_error",
        ),
        (raw(404, "text/plain", "no such path"), "http_error"),
    ];
    for (fault, kind) in cases {
        let (f, c) = setup(&scenario()).await;
        f.set_faults_on("DescribeBackups", FaultPlan::always(fault.clone()));
        let text = Driver::new(&c).cycle().await;
        assert_eq!(f.calls("DescribeBackups").len(), 1, "{fault:?}: asked once");
        let errors = "cds_redis_backup_exporter_api_errors_total";
        assert_eq!(
            value(
                &text,
                errors,
                &[("action", "DescribeBackups"), ("kind", kind)]
            ),
            1.0,
            "{fault:?}"
        );
        let retries = "cds_redis_backup_exporter_api_retries_total";
        assert_eq!(counter(&text, retries, &[]), 0.0, "{fault:?}");
        assert_eq!(up(&text, ""), 0.0, "{fault:?}");
    }
}

#[tokio::test]
async fn a_huge_answer_stops_at_the_size_cap() {
    for declared in [false, true] {
        let (f, mut c) = setup(&scenario()).await;
        c.poll.max_response_bytes = 1 << 20;
        c.poll.request_timeout = Duration::from_secs(10);
        f.set_faults(FaultPlan::always(Fault::Huge {
            bytes: 64 << 20,
            declared,
        }));
        let started = Instant::now();
        let text = Driver::new(&c).cycle().await;
        let errors = "cds_redis_backup_exporter_api_errors_total";
        assert_eq!(
            value(
                &text,
                errors,
                &[("action", "DescribeBackups"), ("kind", "too_large")]
            ),
            1.0
        );
        // Loopback socket buffers hold a few MiB; a client reading the whole body
        // would have pulled all 64.
        let sent = f.fault_bytes_sent();
        assert!(sent < 16 << 20, "declared {declared}: {sent} bytes sent");
        if declared {
            assert!(
                sent < 8 << 20,
                "a declared length is refused unread: {sent}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

#[tokio::test]
async fn retry_after_is_waited_for_unless_longer_than_the_cap() {
    let (f, mut c) = setup(&scenario()).await;
    c.poll.retry_max_backoff = Duration::from_secs(5);
    f.set_faults_on(
        "DescribeBackups",
        FaultPlan::next(
            1,
            Fault::Throttled {
                retry_after: Some("1".into()),
            },
        ),
    );
    Driver::new(&c).cycle().await;
    let reqs: Vec<_> = f
        .requests()
        .into_iter()
        .filter(|r| r.action != "DescribeDBInstances")
        .collect();
    let gap = reqs[1].at - reqs[0].at;
    assert_eq!(reqs[0].action, "DescribeBackups");
    assert_eq!(reqs[1].action, "DescribeBackups");
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");

    let (f, mut c) = setup(&scenario()).await;
    c.poll.retry_max_backoff = Duration::from_secs(5);
    f.set_faults_on(
        "DescribeBackups",
        FaultPlan::next(
            1,
            Fault::Throttled {
                retry_after: Some("120".into()),
            },
        ),
    );
    let started = Instant::now();
    let text = Driver::new(&c).cycle().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        f.calls("DescribeBackups").len(),
        1,
        "no retry within the cycle"
    );
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_exporter_api_errors_total",
            &[("action", "DescribeBackups"), ("kind", "throttled")]
        ),
        1.0
    );
    assert_eq!(up(&text, ""), 0.0);
}

#[tokio::test]
async fn the_rate_limit_spaces_calls() {
    let now = now();
    let mut s = Scenario::new("AK", "SK");
    let mut i = FakeInstance::new("ins", "x", "redis-replication");
    for n in 0..30 {
        let id = format!("bk-{n:02}");
        i.backups.push(FakeBackup::finished(
            &id,
            "",
            now - hours(2),
            now - hours(1),
            10,
        ));
    }
    s.instances = vec![i];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.backups = (0..30)
        .map(|n| backup_target("ins", &format!("bk-{n:02}")))
        .collect();
    let mut c = config(vec![a]);
    c.probe.enabled = false;
    c.poll.concurrency = 16;
    c.poll.rate_limit = Some(25.0);
    Driver::new(&c).cycle().await;
    let mut at: Vec<Instant> = f.requests().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 30);
    // 30 calls at 25/s, no burst: 29 gaps of 40 ms (less a little timer slack).
    let span = at[29] - at[0];
    assert!(span >= Duration::from_millis(1100), "30 calls in {span:?}");
    for (i, t) in at.iter().enumerate() {
        let in_window = at[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(in_window <= 26, "{in_window} calls within 1 s");
    }
}

/// Facts outlive blindness: once `poll.stale_after` has passed, what was observed
/// (probe results) is dropped, and what is known of the past (the backup, the newest
/// finished one, the listing's count) stays, with `up` 0, until the API answers again.
#[tokio::test]
async fn after_stale_after_observations_are_dropped_and_facts_stay() {
    let (f, mut c) = setup(&scenario()).await;
    c.poll.max_retries = 0;
    c.poll.stale_after = Duration::from_millis(1500);
    let driver = Driver::new(&c);
    let first = driver.cycle().await;
    assert_eq!(up(&first, ""), 1.0);
    f.set_faults(FaultPlan::always(raw(
        503,
        "text/html",
        "<html>busy</html>",
    )));
    let second = driver.cycle().await;
    assert_eq!(up(&second, ""), 0.0);
    let facts = [
        "cds_redis_backup_size_bytes",
        "cds_redis_backup_end_timestamp_seconds",
        "cds_redis_backup_state",
        "cds_redis_backup_last_success_timestamp_seconds",
        "cds_redis_backup_last_success_size_bytes",
        "cds_redis_instance_backups",
        "cds_redis_backup_shard_finished_backups",
        "cds_redis_backup_max_age_seconds",
        "cds_redis_instance_info",
    ];
    let reachable = "cds_redis_backup_download_url_reachable";
    for name in facts.iter().chain([&reachable]) {
        assert_eq!(
            parse(&first)[*name],
            parse(&second)[*name],
            "{name} carried over"
        );
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let third = driver.cycle().await;
    assert_eq!(up(&third, ""), 0.0, "the failure is still reported");
    for name in facts {
        assert_eq!(parse(&first)[name], parse(&third)[name], "{name} is a fact");
    }
    assert!(!third.contains(reachable), "observations dropped:\n{third}");
    let refresh = "cds_redis_backup_exporter_target_last_refresh_timestamp_seconds";
    let instance = [("instance_uuid", "ins"), ("backup_id", "")];
    assert_eq!(
        value(&first, refresh, &instance),
        value(&third, refresh, &instance),
        "the data's age keeps growing"
    );
    assert_eq!(
        value(
            &third,
            "cds_redis_backup_exporter_account_up",
            &[("account", "a")]
        ),
        0.0
    );
    // And everything is back once the API is.
    f.set_faults(FaultPlan::default());
    let fourth = driver.cycle().await;
    assert_eq!(up(&fourth, ""), 1.0);
    assert_eq!(parse(&first)[reachable], parse(&fourth)[reachable]);
    assert!(value(&fourth, refresh, &instance) > value(&first, refresh, &instance));
}
