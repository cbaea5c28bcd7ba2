//! Instances named under `instances:` (issue 18, item 7) are described by
//! `DescribeDBInstances` like discovered ones: names, tags, product, version and
//! creation time reach `/metrics` and the status page, `staleness:` tag rules match
//! them, the calls are one per instance (InstanceUuid filter) on a slow refresh and
//! never repeat discovery's, and a failing or silent answer keeps what was known.

use std::collections::BTreeSet;
use std::time::Duration;

use cds_redis_backup_exporter::config::{Matchers, StalenessRule};
use cds_redis_backup_exporter::fake::{FakeCds, FakeInstance, Fault, Scenario};
use chrono::TimeZone as _;

use crate::helpers::*;

const DESCRIBE: &str = "DescribeDBInstances";

/// Three listed instances among eight, with names, tags and creation times, and the
/// scenario serving them.
fn fleet() -> Scenario {
    let mut s = Scenario::new("AK", "SK");
    for n in 0..8 {
        let uuid = format!("ins-{n}");
        let mut i = instance_with_one_backup(&uuid);
        i.name = format!("orders-{n}");
        i.tags = vec![format!("team-{n}")];
        i.created = chrono::Utc
            .with_ymd_and_hms(2024, 1, 1 + n, 2, 0, 0)
            .single();
        s.instances.push(i);
    }
    let cluster = &mut s.instances[1];
    cluster.sub_product = "redis-cluster".to_owned();
    cluster.version = "7.0".to_owned();
    cluster.tags.push("prod".to_owned());
    s.instances[2].created = None;
    s
}

const LISTED: [&str; 3] = ["ins-0", "ins-1", "ins-2"];

async fn listed(s: &Scenario) -> (FakeCds, cds_redis_backup_exporter::config::Config) {
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, s);
    a.instances = LISTED.iter().map(|u| (*u).to_owned()).collect();
    (f, config(vec![a]))
}

/// The `InstanceUuid` of every DescribeDBInstances call, failing on any other filter.
fn described(f: &FakeCds) -> Vec<String> {
    f.calls(DESCRIBE)
        .into_iter()
        .map(|params| {
            assert_eq!(params.len(), 1, "only the InstanceUuid filter: {params:?}");
            params["InstanceUuid"].clone()
        })
        .collect()
}

fn info(text: &str, uuid: &str) -> String {
    let found = select(text, "cds_redis_instance_info", &[("instance_uuid", uuid)]);
    assert_eq!(found.len(), 1, "{uuid}: {found:?}");
    found.into_keys().next().unwrap()
}

fn created(text: &str, uuid: &str) -> Option<f64> {
    let name = "cds_redis_instance_created_timestamp_seconds";
    select(text, name, &[("instance_uuid", uuid)])
        .into_values()
        .next()
}

#[tokio::test]
async fn listed_instances_are_described_on_metrics_and_the_status_page() {
    let (f, c) = listed(&fleet()).await;
    let exporter = Exporter::start(c).await;
    let text = exporter.scrape_when_ready().await;
    assert_eq!(
        info(&text, "ins-1"),
        "account=\"a\",instance_name=\"orders-1\",instance_uuid=\"ins-1\",region_id=\"CN_Beijing_A\",sub_product=\"redis-cluster\",tags=\",prod,team-1,\",version=\"7.0\""
    );
    assert_eq!(
        info(&text, "ins-0"),
        "account=\"a\",instance_name=\"orders-0\",instance_uuid=\"ins-0\",region_id=\"CN_Beijing_A\",sub_product=\"redis-replication\",tags=\",team-0,\",version=\"5.0\""
    );
    let tags = select(
        &text,
        "cds_redis_instance_tag_info",
        &[("instance_uuid", "ins-1")],
    );
    assert_eq!(
        tags.into_keys().collect::<Vec<_>>(),
        [
            "instance_uuid=\"ins-1\",tag=\"prod\"",
            "instance_uuid=\"ins-1\",tag=\"team-1\""
        ]
    );
    // 2024-01-01 02:00 UTC, and a day later for the next; none for ins-2.
    assert_eq!(created(&text, "ins-0"), Some(1_704_074_400.0));
    assert_eq!(created(&text, "ins-1"), Some(1_704_160_800.0));
    assert_eq!(created(&text, "ins-2"), None);
    assert_eq!(
        select(&text, "cds_redis_instance_info", &[]).len(),
        3,
        "unlisted instances are not watched"
    );
    // Described, not discovered: no discovery series, nothing vanished.
    assert!(select(&text, "cds_redis_backup_exporter_discovery_up", &[]).is_empty());
    assert!(select(&text, "cds_redis_instance_vanished_timestamp_seconds", &[]).is_empty());
    let sorted: BTreeSet<String> = described(&f).into_iter().collect();
    assert_eq!(sorted, LISTED.iter().map(|u| (*u).to_owned()).collect());
    assert_eq!(described(&f).len(), 3, "one call per listed instance");
    let (status, page) = exporter.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("orders-1"),
        "the status page names the instance"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn one_call_per_listed_instance_per_cycle_when_the_interval_is_an_hour() {
    let (f, c) = listed(&fleet()).await;
    assert_eq!(c.poll.interval, Duration::from_secs(3600));
    let driver = Driver::new(&c);
    for cycle in 1..=3 {
        driver.cycle().await;
        assert_eq!(described(&f).len(), 3 * cycle, "cycle {cycle}");
    }
}

#[tokio::test]
async fn the_refresh_is_spread_over_an_hour_of_cycles() {
    let (f, mut c) = listed(&fleet()).await;
    // 5-minute cycles: each instance is described once every 12 cycles.
    c.poll.interval = Duration::from_secs(300);
    let driver = Driver::new(&c);
    driver.cycle().await;
    assert_eq!(described(&f).len(), 3, "first sight: every listed instance");
    let mut per_cycle = Vec::new();
    for _ in 0..12 {
        let before = described(&f).len();
        driver.cycle().await;
        per_cycle.push(described(&f).len() - before);
    }
    assert_eq!(per_cycle.iter().sum::<usize>(), 3, "{per_cycle:?}");
    assert!(per_cycle.iter().all(|n| *n <= 1), "spread: {per_cycle:?}");
    let refreshed: BTreeSet<String> = described(&f)[3..].iter().cloned().collect();
    assert_eq!(refreshed.len(), 3, "each once");
}

#[tokio::test]
async fn a_failing_or_silent_describe_keeps_the_last_description() {
    let mut s = fleet();
    let (f, c) = listed(&s).await;
    let driver = Driver::new(&c);
    let first = driver.cycle().await;
    let want = info(&first, "ins-1");

    // The call fails: the names stay, and are asked for again the next cycle.
    let mut failing = s.clone();
    failing.instances_fault = Some(Fault::Cds {
        http_status: 500,
        code: "InternalError".into(),
        message: "boom".into(),
    });
    f.set_scenario(failing);
    let text = driver.cycle().await;
    assert_eq!(info(&text, "ins-1"), want);
    assert_eq!(created(&text, "ins-1"), Some(1_704_160_800.0));
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_exporter_api_errors_total",
            &[("action", DESCRIBE), ("kind", "server_error")]
        ),
        3.0
    );
    // Failed calls do not make the instances' backups look down.
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_up",
            &[("instance_uuid", "ins-1"), ("backup_id", "")]
        ),
        1.0
    );

    // CDS answers without the instance: still the last description, never "vanished".
    let mut silent = s.clone();
    silent.instances.retain(|i| i.uuid != "ins-1");
    f.set_scenario(silent);
    let text = driver.cycle().await;
    assert_eq!(info(&text, "ins-1"), want);
    assert!(select(&text, "cds_redis_instance_vanished_timestamp_seconds", &[]).is_empty());

    // A real change is taken as soon as CDS tells it.
    s.instances[1].name = "orders-1-renamed".to_owned();
    f.set_scenario(s);
    let text = driver.cycle().await;
    assert_eq!(
        info(&text, "ins-1"),
        want.replace("orders-1", "orders-1-renamed")
    );
    assert_eq!(
        described(&f).len(),
        4 * 3,
        "one call per instance per cycle"
    );
}

#[tokio::test]
async fn an_instance_never_described_is_asked_for_every_cycle_until_cds_answers() {
    let s = fleet();
    let (f, mut c) = listed(&s).await;
    c.poll.interval = Duration::from_secs(300);
    let mut failing = s.clone();
    failing.instances_fault = Some(Fault::Cds {
        http_status: 500,
        code: "InternalError".into(),
        message: "boom".into(),
    });
    f.set_scenario(failing);
    let driver = Driver::new(&c);
    let text = driver.cycle().await;
    // Served by its UUID alone meanwhile.
    assert_eq!(
        info(&text, "ins-0"),
        "account=\"a\",instance_name=\"\",instance_uuid=\"ins-0\",region_id=\"\",sub_product=\"\",tags=\"\",version=\"\""
    );
    driver.cycle().await;
    assert_eq!(described(&f).len(), 6, "asked again, not left for an hour");
    f.set_scenario(s);
    let text = driver.cycle().await;
    assert!(info(&text, "ins-0").contains("instance_name=\"orders-0\""));
    assert_eq!(described(&f).len(), 9);
    // Now known: the slow refresh (at most one of three per cycle at 12 cycles).
    let before = described(&f).len();
    driver.cycle().await;
    assert!(described(&f).len() - before <= 1);
}

#[tokio::test]
async fn a_staleness_tag_rule_matches_a_listed_instance() {
    let (_f, mut c) = listed(&fleet()).await;
    c.staleness = vec![StalenessRule {
        matchers: Matchers {
            tag: Some("prod".to_owned()),
            ..Matchers::default()
        },
        max_age: Duration::from_secs(2 * 3600),
    }];
    let text = Driver::new(&c).cycle().await;
    let max_age = |uuid| {
        value(
            &text,
            "cds_redis_backup_max_age_seconds",
            &[("instance_uuid", uuid), ("shard_id", "")],
        )
    };
    assert_eq!(max_age("ins-1"), 7200.0, "tagged prod");
    assert_eq!(max_age("ins-0"), 26.0 * 3600.0, "the default");
}

#[tokio::test]
async fn discovery_and_instances_in_one_account_do_not_call_twice() {
    let s = fleet();
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = LISTED.iter().map(|u| (*u).to_owned()).collect();
    a.discovery = discover_all();
    let driver = Driver::new(&config(vec![a.clone()]));
    let text = driver.cycle().await;
    assert_eq!(
        f.calls(DESCRIBE),
        [Default::default()],
        "discovery's call alone"
    );
    assert!(info(&text, "ins-2").contains("instance_name=\"orders-2\""));

    // Discovery by tag does not list ins-0 and ins-2: those two are asked for alone.
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = LISTED.iter().map(|u| (*u).to_owned()).collect();
    a.discovery = Some(cds_redis_backup_exporter::cds::InstanceFilter {
        tag_name: Some("prod".to_owned()),
        instance_name: None,
    });
    let driver = Driver::new(&config(vec![a]));
    let text = driver.cycle().await;
    let mut calls: Vec<String> = f
        .calls(DESCRIBE)
        .into_iter()
        .map(|p| format!("{p:?}"))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            "{\"InstanceUuid\": \"ins-0\"}",
            "{\"InstanceUuid\": \"ins-2\"}",
            "{\"TagName\": \"prod\"}"
        ]
    );
    for (uuid, name) in [
        ("ins-0", "orders-0"),
        ("ins-1", "orders-1"),
        ("ins-2", "orders-2"),
    ] {
        assert!(info(&text, uuid).contains(&format!("instance_name=\"{name}\"")));
    }
    assert!(select(&text, "cds_redis_instance_vanished_timestamp_seconds", &[]).is_empty());
}

#[tokio::test]
async fn each_replica_describes_only_the_listed_instances_it_owns() {
    use cds_redis_backup_exporter::partition::Partition;
    let mut s = Scenario::new("AK", "SK");
    let uuids: Vec<String> = (0..12).map(|n| format!("ins-{n:02}")).collect();
    s.instances = uuids
        .iter()
        .map(|u| {
            let mut i = FakeInstance::new(u, &format!("name-{u}"), "redis-replication");
            i.backups = instance_with_one_backup(u).backups;
            i
        })
        .collect();
    let mut seen = BTreeSet::new();
    for index in 0..2 {
        let f = fake(s.clone()).await;
        let mut a = account("a", &f, &s);
        a.instances = uuids.clone();
        let c = config(vec![a]);
        let part = Partition::new(index, 2).unwrap();
        let text = Driver::partitioned(&c, part).cycle().await;
        let asked = described(&f);
        assert!(
            !asked.is_empty() && asked.len() < 12,
            "shard {index}: {asked:?}"
        );
        for u in &asked {
            assert!(part.owns(u));
            assert!(info(&text, u).contains(&format!("instance_name=\"name-{u}\"")));
            assert!(seen.insert(u.clone()), "{u} described by both replicas");
        }
    }
    assert_eq!(seen.len(), 12);
}
