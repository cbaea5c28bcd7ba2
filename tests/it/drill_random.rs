//! `drill.backup: random` (issue 22, item 1): the backup a drill restores is picked
//! from everything CDS lists, not only what the exporter exports. Each instance holds
//! four finished backups, each a real dump of a different key count (the newest, the
//! only one exported, 40 keys; then 30, 20, 10), so Redis' count tells which backup a
//! drill restored. A drill of an older backup restores it, keeps its result while CDS
//! lists it, and never makes the backup exported; `check --drill` picks the same way.
//! These tests run a real `redis-server`; without one they fail.

use std::collections::BTreeSet;
use std::time::Duration;

use cds_redis_backup_exporter::config::{DrillConfig, DrillPick};
use cds_redis_backup_exporter::fake::{dumps, FakeBackup, FakeInstance, FakeObject};

use crate::helpers::*;

/// `uuid` with backups `<uuid>-4` (newest) … `<uuid>-1`, backup `-n` a dump of 10·n keys.
fn four_backups(uuid: &str) -> FakeInstance {
    let now = now();
    let mut i = FakeInstance::new(uuid, uuid, "redis-replication");
    for n in (1..=4u64).rev() {
        let end = now - hours(1 + 6 * (4 - n as i64));
        let data = dumps::with_keys(10 * n, 20);
        let mut b = FakeBackup::finished(&format!("{uuid}-{n}"), "", end - hours(1), end, 10);
        b.size = data.len() as u64;
        b.object = FakeObject::Data(data.into());
        i.backups.push(b);
    }
    i
}

/// Which backup of `uuid` its drill restored: `(backup_id, keys)` from `/metrics`.
fn drilled(text: &str, uuid: &str) -> Vec<(String, f64)> {
    select(
        text,
        "cds_redis_backup_drill_keys",
        &[("instance_uuid", uuid)],
    )
    .into_iter()
    .map(|(k, v)| {
        let id = k
            .split("backup_id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        (id, v)
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_drills_restore_backups_the_exporter_does_not_export() {
    let uuids: Vec<String> = (0..8).map(|i| format!("rnd{i}")).collect();
    // Short: the scratch server's unix socket path must stay under 108 bytes.
    let dir = std::env::temp_dir().join(format!(
        "rnd-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    let (_f, mut c) = watching_all(
        uuids.iter().map(|u| four_backups(u)).collect(),
        verify_level(cds_redis_backup_exporter::config::VerifyLevel::Off),
    )
    .await;
    c.drill = DrillConfig {
        enabled: true,
        backup: DrillPick::Random,
        scratch_dir: dir.join("scratch"),
        concurrency: 2,
        ..DrillConfig::default()
    };
    let driver = Driver::new(&c);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut text = driver.cycle().await;
    while uuids.iter().any(|u| drilled(&text, u).is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "not all drilled:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = driver.cycle().await;
    }
    // One more cycle: the results of backups that are not exported are kept.
    let text = driver.cycle().await;
    let mut older = 0;
    for u in &uuids {
        let d = drilled(&text, u);
        assert_eq!(d.len(), 1, "{u}: {d:?}");
        let (id, keys) = &d[0];
        let n: f64 = id.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(*keys, 10.0 * n, "{u}: Redis' count is the drilled backup's");
        assert_eq!(
            select(
                &text,
                "cds_redis_backup_drill_result",
                &[("backup_id", id), ("result", "ok")]
            )
            .into_values()
            .collect::<Vec<f64>>(),
            vec![1.0]
        );
        if n < 4.0 {
            older += 1;
        }
        // The pick exports nothing: only the newest backup has backup series.
        let exported: BTreeSet<String> = select(
            &text,
            "cds_redis_backup_end_timestamp_seconds",
            &[("instance_uuid", u)],
        )
        .into_keys()
        .collect();
        assert_eq!(exported.len(), 1, "{exported:?}");
        assert!(
            exported
                .iter()
                .all(|k| k.contains(&format!("backup_id=\"{u}-4\""))),
            "{exported:?}"
        );
    }
    // Eight instances, each picking one of four: all eight picking the newest has
    // a probability of 4^-8.
    assert!(older > 0, "every drill restored the newest backup:\n{text}");
    drop(driver);
    assert!(std::fs::read_dir(dir.join("scratch"))
        .unwrap()
        .next()
        .is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `check --drill` with `drill.backup: random`: each run picks afresh among the four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_drill_picks_among_all_listed_backups() {
    let dir = temp_dir();
    let (_f, c) = watching_all(
        vec![four_backups("rndc")],
        verify_level(cds_redis_backup_exporter::config::VerifyLevel::Off),
    )
    .await;
    let path = write_config(&c, &dir, "5s");
    let scratch = std::env::temp_dir().join(format!(
        "rndc-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += &format!(
        "drill:\n  backup: random\n  scratch_dir: {}\n",
        scratch.display()
    );
    std::fs::write(&path, text).unwrap();
    let mut seen = BTreeSet::new();
    // Ten runs: all ten picking one backup has a probability of 4 · 4^-10.
    for _ in 0..10 {
        let out = std::process::Command::new(BIN)
            .args(["check", "--config.file"])
            .arg(&path)
            .args(["--drill", "rndc", "--output", "json"])
            .env_remove("CDS_EXPORTER_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(doc["result"]["outcome"], "ok", "{doc}");
        let id = doc["backup_id"].as_str().unwrap().to_owned();
        let n: u64 = id.strip_prefix("rndc-").unwrap().parse().unwrap();
        assert_eq!(doc["result"]["keys_redis"], 10 * n, "{doc}");
        seen.insert(id);
    }
    assert!(seen.len() > 1, "{seen:?}");
    assert!(std::fs::read_dir(&scratch).unwrap().next().is_none());
    std::fs::remove_dir_all(&scratch).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
