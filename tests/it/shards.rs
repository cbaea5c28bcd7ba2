//! Sharded replicas: three exporters with `--shard 0..2 --total-shards 3` against one
//! fake split the instances between them, each exactly once, whatever the target kind.

use std::collections::BTreeMap;

use cds_redis_backup_exporter::fake::{FakeInstance, Scenario};
use cds_redis_backup_exporter::partition::Partition;

use crate::helpers::*;

#[tokio::test]
async fn three_shards_cover_every_instance_exactly_once() {
    let mut s = Scenario::new("AK", "SK");
    s.instances = (0..30)
        .map(|i| instance_with_one_backup(&format!("ins-{i:02}")))
        .collect::<Vec<FakeInstance>>();
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    // Static targets are sharded the same way.
    a.instances = vec!["ins-00".into(), "ins-01".into()];
    a.backups = vec![backup_target("ins-02", "bk")];
    let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut owned = 0.0;
    for index in 0..3 {
        let c = config(vec![a.clone()]);
        let part = Partition::new(index, 3).unwrap();
        let text = Driver::partitioned(&c, part).cycle().await;
        assert_eq!(
            value(
                &text,
                "cds_redis_backup_exporter_shard_info",
                &[("shard", &index.to_string()), ("total_shards", "3")]
            ),
            1.0
        );
        owned += value(
            &text,
            "cds_redis_backup_exporter_owned_instances",
            &[("account", "a")],
        );
        for labels in select(
            &text,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[],
        )
        .keys()
        {
            let uuid = labels.split('"').nth(1).unwrap().to_owned();
            seen.entry(uuid).or_default().push(index);
        }
        // What a replica reports is its own: every series is of an instance it owns.
        for labels in select(&text, "cds_redis_backup_up", &[]).keys() {
            let uuid = labels.split('"').nth(3).unwrap();
            assert!(part.owns(uuid), "shard {index} reports {uuid}");
        }
    }
    assert_eq!(owned, 30.0);
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert!(seen.values().all(|shards| shards.len() == 1), "{seen:?}");
    // Not one shard doing everything: each has a share.
    for index in 0..3 {
        assert!(
            seen.values().filter(|s| s[0] == index).count() >= 5,
            "{seen:?}"
        );
    }
}
