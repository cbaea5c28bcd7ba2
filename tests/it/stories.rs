//! The alerting stories at the exporter's level: each situation an alert is built for
//! produces the series that alert reads — credentials revoked, a last good backup
//! purged, an instance deleted, schedules that are not daily, a shard failing while its
//! sibling succeeds — and every instance carries the labels alerts are routed by.

use std::time::Duration;

use cds_redis_backup_exporter::config::{Matchers, StalenessRule};
use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Scenario};

use crate::helpers::*;

/// `n` finished automatic backups of `shard`, `every` hours apart, the newest ending
/// `newest_h` hours ago.
fn runs(prefix: &str, shard: &str, newest_h: i64, every: i64, n: i64) -> Vec<FakeBackup> {
    let now = now();
    (0..n)
        .map(|i| {
            let end = now - hours(newest_h + i * every);
            FakeBackup::finished(&format!("{prefix}-{i}"), shard, end - hours(1), end, 100)
        })
        .collect()
}

fn shard_value(text: &str, name: &str, uuid: &str, shard: &str) -> f64 {
    value(text, name, &[("instance_uuid", uuid), ("shard_id", shard)])
}

#[tokio::test]
async fn revoked_credentials_leave_facts_and_an_account_that_is_down() {
    let mut s = Scenario::new("AK", "SK");
    let mut i = FakeInstance::new("ins", "orders", "redis-replication");
    i.backups = runs("bk", "", 30, 24, 3);
    i.backups.insert(0, FakeBackup::running("run", "", now()));
    s.instances = vec![i];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    let mut c = config(vec![a]);
    c.poll.stale_after = Duration::from_millis(1000);
    let driver = Driver::new(&c);
    let before = driver.cycle().await;
    let account_up = |text: &str| {
        value(
            text,
            "cds_redis_backup_exporter_account_up",
            &[("account", "a")],
        )
    };
    assert_eq!(account_up(&before), 1.0);
    let mut revoked = s.clone();
    revoked.access_key_id = "AK-deleted".into();
    f.set_scenario(revoked);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = driver.cycle().await;
    assert_eq!(account_up(&after), 0.0);
    assert_eq!(
        value(
            &after,
            "cds_redis_backup_exporter_discovery_up",
            &[("account", "a")]
        ),
        0.0
    );
    // Discovery failing keeps the instance watched, with its facts.
    let last = "cds_redis_backup_last_success_timestamp_seconds";
    assert_eq!(
        shard_value(&before, last, "ins", ""),
        shard_value(&after, last, "ins", "")
    );
    let info = [("instance_uuid", "ins"), ("instance_name", "orders")];
    assert_eq!(value(&after, "cds_redis_instance_info", &info), 1.0);
    // The running backup was an observation of the moment: dropped.
    let state = "cds_redis_backup_state";
    assert_eq!(select(&before, state, &[("backup_id", "run")]).len(), 4);
    assert!(select(&after, state, &[("backup_id", "run")]).is_empty());
}

#[tokio::test]
async fn an_instance_gone_from_discovery_is_reported_vanished_then_forgotten() {
    let mut s = Scenario::new("AK", "SK");
    let mut keep = FakeInstance::new("keep", "keep", "redis-replication");
    keep.backups = runs("k", "", 2, 24, 3);
    let mut gone = FakeInstance::new("gone", "old-cache", "redis-replication");
    gone.backups = runs("g", "", 2, 24, 3);
    s.instances = vec![keep, gone];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    let mut c = config(vec![a]);
    c.poll.forget_vanished_after = Duration::from_millis(1500);
    let driver = Driver::new(&c);
    let first = driver.cycle().await;
    let vanished = "cds_redis_instance_vanished_timestamp_seconds";
    assert!(!first.contains(vanished));
    let mut without = s.clone();
    without.instances.truncate(1);
    f.set_scenario(without.clone());
    let second = driver.cycle().await;
    let when = value(
        &second,
        vanished,
        &[
            ("account", "a"),
            ("instance_uuid", "gone"),
            ("instance_name", "old-cache"),
        ],
    );
    assert!((now().timestamp() as f64 - when).abs() <= 2.0, "{when}");
    let last = "cds_redis_backup_last_success_timestamp_seconds";
    assert!(select(&second, last, &[("instance_uuid", "gone")]).is_empty());
    assert_eq!(
        value(
            &second,
            "cds_redis_backup_exporter_account_up",
            &[("account", "a")]
        ),
        1.0
    );
    // Still missing a cycle later: the same time, not a new one.
    let third = driver.cycle().await;
    assert_eq!(value(&third, vanished, &[("instance_uuid", "gone")]), when);
    // Back: no longer vanished. Gone again, then forgotten after forget_vanished_after.
    f.set_scenario(s);
    assert!(!driver.cycle().await.contains(vanished));
    f.set_scenario(without);
    assert!(driver.cycle().await.contains(vanished));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(!driver.cycle().await.contains(vanished));
}

/// The last good backup purged by retention while attempts fail: the shard stays,
/// with 0 finished backups, instead of disappearing, and with its last success time:
/// the remembered EndTime of the purged backup, a fact that keeps ageing (issue 18).
#[tokio::test]
async fn a_shard_whose_last_finished_backup_is_purged_reports_zero() {
    let mut i = FakeInstance::new("ins", "ins", "redis-cluster");
    let now = now();
    i.backups = runs("a", "shard-a", 1, 24, 2);
    i.backups.push(FakeBackup::failed(
        "b-failed",
        "shard-b",
        now - hours(3),
        now - hours(2),
    ));
    i.backups.extend(runs("b", "shard-b", 40, 24, 1));
    let (f, c) = watching(i.clone()).await;
    let driver = Driver::new(&c);
    let name = "cds_redis_backup_shard_finished_backups";
    let first = driver.cycle().await;
    assert_eq!(shard_value(&first, name, "ins", "shard-a"), 2.0);
    assert_eq!(shard_value(&first, name, "ins", "shard-b"), 1.0);
    let b0_end = i
        .backups
        .iter()
        .find(|b| b.id == "b-0")
        .unwrap()
        .end
        .unwrap();
    i.backups.retain(|b| b.id != "b-0");
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![i];
    f.set_scenario(s);
    let second = driver.cycle().await;
    assert_eq!(shard_value(&second, name, "ins", "shard-a"), 2.0);
    assert_eq!(shard_value(&second, name, "ins", "shard-b"), 0.0);
    let last = "cds_redis_backup_last_success_timestamp_seconds";
    assert_eq!(
        value(&second, last, &[("shard_id", "shard-b")]),
        b0_end.timestamp() as f64
    );
    assert!(select(&second, "cds_redis_backup_info", &[("backup_id", "b-0")]).is_empty());
    // The failed backup of shard-b is reported although shard-a succeeded since.
    let failed = [("backup_id", "b-failed"), ("state", "failed")];
    assert_eq!(value(&second, "cds_redis_backup_state", &failed), 1.0);
}

/// Cadence is learned per shard from automatic backups; the maximum age follows the
/// first matching rule, else the cadence, else 26 h.
#[tokio::test]
async fn max_age_comes_from_rules_then_learned_cadence_then_the_default() {
    let mut s = Scenario::new("AK", "SK");
    let mut six = FakeInstance::new("six", "cache-6h", "redis-replication");
    six.backups = runs("s", "", 1, 6, 5);
    // A manual backup in between does not shorten the cadence.
    let mut manual = FakeBackup::finished("m", "", now() - hours(4), now() - hours(3), 100);
    manual.mode = "manual".into();
    six.backups.push(manual);
    let mut weekly = FakeInstance::new("weekly", "archive", "redis-replication");
    weekly.backups = runs("w", "", 100, 168, 3);
    let mut young = FakeInstance::new("young", "new-one", "redis-replication");
    young.backups = runs("y", "", 1, 24, 2);
    let mut tagged = FakeInstance::new("tagged", "orders-1", "redis-replication");
    tagged.tags = vec!["prod".into(), "team,a".into()];
    tagged.backups = runs("t", "", 1, 6, 5);
    s.instances = vec![six, weekly, young, tagged];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    a.instances = vec!["static".into()];
    let mut c = config(vec![a]);
    c.staleness = vec![StalenessRule {
        matchers: Matchers {
            account: Some("a".into()),
            tag: Some("prod".into()),
            instance_name: glob::Pattern::new("orders-*").ok(),
            instance_uuid: None,
        },
        max_age: Duration::from_secs(12 * 3600),
    }];
    let text = Driver::new(&c).cycle().await;
    let interval = "cds_redis_backup_expected_interval_seconds";
    let max_age = "cds_redis_backup_max_age_seconds";
    assert_eq!(shard_value(&text, interval, "six", ""), 21_600.0);
    assert_eq!(shard_value(&text, max_age, "six", ""), 28_800.0);
    assert_eq!(shard_value(&text, interval, "weekly", ""), 604_800.0);
    assert_eq!(shard_value(&text, max_age, "weekly", ""), 655_200.0);
    assert!(select(&text, interval, &[("instance_uuid", "young")]).is_empty());
    assert_eq!(shard_value(&text, max_age, "young", ""), 93_600.0);
    assert_eq!(shard_value(&text, max_age, "tagged", ""), 43_200.0);
    // Routing labels: tags normalised, a static instance with what is known of it.
    let tagged_info = [
        ("account", "a"),
        ("instance_name", "orders-1"),
        ("tags", ",prod,team_a,"),
    ];
    assert_eq!(value(&text, "cds_redis_instance_info", &tagged_info), 1.0);
    let tag_info = [("instance_uuid", "tagged"), ("tag", "team,a")];
    assert_eq!(value(&text, "cds_redis_instance_tag_info", &tag_info), 1.0);
    let bare = [
        ("account", "a"),
        ("instance_uuid", "static"),
        ("instance_name", ""),
        ("tags", ""),
    ];
    assert_eq!(value(&text, "cds_redis_instance_info", &bare), 1.0);
}
