//! Issue 18, item 4 ("Facts survive restarts"), end to end: the story "restart
//! amnesia". A cluster shard has finished backups; the exporter stops (a graceful
//! shutdown writes the state file); retention purges every backup of that shard; the
//! exporter starts again. The shard is still reported: its last success timestamp
//! keeps its old value, its finished count is 0 and its cadence is the one learned
//! before, so the staleness alert can fire. Also the start without a state file (a log
//! line and a series) and with a damaged one (a clear warning, then running).

use std::process::Stdio;
use std::time::Duration;

use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Scenario};

use crate::helpers::*;

const DAY: i64 = 24;

/// A cluster: shard s1 with four daily automatic backups (the newest ended 1 h ago),
/// shard s2 with two.
fn cluster() -> FakeInstance {
    let now = now();
    let mut i = FakeInstance::new("ins-c", "ins-c", "redis-cluster");
    for d in 0..4 {
        let end = now - hours(1 + d * DAY);
        i.backups.push(FakeBackup::finished(
            &format!("s1-{d}"),
            "s1",
            end - hours(1),
            end,
            100 + d as u64,
        ));
    }
    for d in 0..2 {
        let end = now - hours(2 + d * DAY);
        i.backups.push(FakeBackup::finished(
            &format!("s2-{d}"),
            "s2",
            end - hours(1),
            end,
            200,
        ));
    }
    i
}

/// The backups `DownloadBackup` was asked for, in order.
fn downloads(f: &cds_redis_backup_exporter::fake::FakeCds) -> Vec<String> {
    f.requests()
        .into_iter()
        .filter(|r| r.action == "DownloadBackup")
        .filter_map(|r| r.params.get("BackupId").cloned())
        .collect()
}

#[tokio::test]
async fn a_shard_whose_backups_were_purged_during_a_restart_is_still_reported() {
    let dir = temp_dir();
    let state = dir.join("state.json");
    let instance = cluster();
    let s1_end = instance.backups[0].end.unwrap().timestamp() as f64;
    let (f, mut c) = watching(instance.clone()).await;
    c.verify.state_file = Some(state.clone());
    let shard = |id: &'static str| [("instance_uuid", "ins-c"), ("shard_id", id)];

    let e = Exporter::start(c.clone()).await;
    let before = e.scrape_when_ready().await;
    let last = "cds_redis_backup_last_success_timestamp_seconds";
    let finished = "cds_redis_backup_shard_finished_backups";
    let interval = "cds_redis_backup_expected_interval_seconds";
    assert_eq!(value(&before, last, &shard("s1")), s1_end);
    assert_eq!(value(&before, finished, &shard("s1")), 4.0);
    assert_eq!(value(&before, interval, &shard("s1")), 86_400.0);
    assert_eq!(value(&before, finished, &shard("s2")), 2.0);
    assert_eq!(
        value(
            &before,
            "cds_redis_backup_exporter_state_file_configured",
            &[]
        ),
        1.0
    );
    // Graceful shutdown: the file is written before `run` returns.
    e.stop().await;
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.starts_with("{\"version\":2,"), "{text}");

    // Retention purges every backup of s1 while the exporter is down.
    let mut purged = instance;
    purged.backups.retain(|b| b.shard_id != "s1");
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![purged];
    f.set_scenario(s);
    let looked_up_before = downloads(&f).len();

    let e = Exporter::start(c).await;
    let after = e.scrape_when_ready().await;
    // The shard is still there, with its last backup's EndTime: a fact of the past, so
    // its age grows until the staleness alert fires; and nothing is listed for it.
    assert_eq!(value(&after, last, &shard("s1")), s1_end);
    assert_eq!(value(&after, finished, &shard("s1")), 0.0);
    assert_eq!(value(&after, interval, &shard("s1")), 86_400.0);
    assert_eq!(
        value(&after, "cds_redis_backup_max_age_seconds", &shard("s1")),
        26.0 * 3600.0
    );
    // Nothing invented: no backup, probe or URL of s1 is exported.
    assert!(select(&after, "cds_redis_backup_info", &[("shard_id", "s1")]).is_empty());
    assert!(select(
        &after,
        "cds_redis_backup_download_url_reachable",
        &[("instance_uuid", "ins-c")]
    )
    .keys()
    .all(|l| l.contains("backup_id=\"s2-0\"")));
    // s2 goes on as before, and the backups' shards were remembered: only the newest
    // of s2 is fetched (for its URL), no shard is looked up again.
    assert_eq!(value(&after, finished, &shard("s2")), 2.0);
    assert_eq!(downloads(&f)[looked_up_before..], ["s2-0".to_owned()]);
    e.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without `verify.state_file` the start says what a restart forgets, and a series
/// says it too; a damaged file is reported, and the exporter runs without it.
#[tokio::test]
async fn the_start_says_whether_facts_survive_a_restart() {
    let instance = instance_with_one_backup("ins-1");
    let end = instance.backups[0].end.unwrap().timestamp() as f64;
    let (_f, c) = watching(instance).await;
    let dir = temp_dir();
    let config = write_config(&c, &dir, "2s");
    for state in [None, Some("{\"version\":2,\"facts\":[{\"uuid\":")] {
        let mut yaml = std::fs::read_to_string(&config).unwrap();
        if let Some(content) = state {
            let path = dir.join("state.json");
            std::fs::write(&path, content).unwrap();
            yaml.push_str(&format!("verify:\n  state_file: {}\n", path.display()));
        }
        let with = dir.join("with.yaml");
        std::fs::write(&with, yaml).unwrap();
        let p = Process::start(&with, &[], Stdio::piped());
        let mut metrics = String::new();
        for _ in 0..250 {
            if let Ok(r) = reqwest::get(format!("http://{}/metrics", p.addr)).await {
                metrics = r.text().await.unwrap_or_default();
                if metrics.contains("cds_redis_backup_last_success_timestamp_seconds{") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        p.signal("TERM");
        let mut child = p.child;
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(child.wait().unwrap().success(), "{err}");
        let configured = value(
            &metrics,
            "cds_redis_backup_exporter_state_file_configured",
            &[],
        );
        let lines = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
        if state.is_none() {
            assert_eq!(configured, 0.0);
            assert_eq!(
                lines("verify.state_file is not set: a restart forgets"),
                1,
                "{err}"
            );
        } else {
            assert_eq!(configured, 1.0);
            assert_eq!(lines("verify.state_file is not set"), 0, "{err}");
            assert_eq!(
                lines("verify.state_file is not a state file of this exporter (damaged?); starting without it"),
                1,
                "{err}"
            );
            // Served all the same, and the file is replaced by a sound one at shutdown.
            assert_eq!(
                value(
                    &metrics,
                    "cds_redis_backup_last_success_timestamp_seconds",
                    &[("instance_uuid", "ins-1")]
                ),
                end,
            );
            let text = std::fs::read_to_string(dir.join("state.json")).unwrap();
            assert!(text.contains("\"uuid\":\"ins-1\""), "{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The story "deleted while the exporter was down": an instance discovery found is
/// deleted during a restart. The first discovery after it reports the instance
/// vanished (with the name it had), as a running exporter would; one configured in
/// `instances:` is not discovery's to report.
#[tokio::test]
async fn an_instance_deleted_during_a_restart_is_reported_vanished() {
    let dir = temp_dir();
    let mut s = Scenario::new("AK", "SK");
    let mut keep = instance_with_one_backup("keep");
    keep.name = "keep".into();
    let mut gone = instance_with_one_backup("gone");
    gone.name = "old-cache".into();
    let listed = instance_with_one_backup("listed");
    s.instances = vec![keep.clone(), gone, listed];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    let mut c = config(vec![a]);
    c.verify.state_file = Some(dir.join("state.json"));
    let vanished = "cds_redis_instance_vanished_timestamp_seconds";

    let e = Exporter::start(c.clone()).await;
    let before = e.scrape_when_ready().await;
    assert!(!before.contains(vanished));
    e.stop().await;

    // Deleted while the exporter is down; "listed" is from now on configured by UUID
    // (and no longer matched by discovery's filter).
    let mut s2 = Scenario::new("AK", "SK");
    s2.instances = vec![keep];
    f.set_scenario(s2);
    c.accounts[0].instances = vec!["listed".into()];
    let e = Exporter::start(c).await;
    let after = e.scrape_when_ready().await;
    let when = value(
        &after,
        vanished,
        &[
            ("account", "a"),
            ("instance_uuid", "gone"),
            ("instance_name", "old-cache"),
        ],
    );
    assert!((now().timestamp() as f64 - when).abs() <= 5.0, "{when}");
    assert!(select(&after, vanished, &[("instance_uuid", "keep")]).is_empty());
    assert!(select(&after, vanished, &[("instance_uuid", "listed")]).is_empty());
    e.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
