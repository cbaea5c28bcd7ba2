//! The download-URL probe against every answer a presigned URL can give.

use std::time::Duration;

use cds_redis_backup_exporter::cds::{Client, SecretUrl};
use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, FakeObject, Scenario};
use cds_redis_backup_exporter::probe::{self, ProbeFailure, ProbeResult};

use crate::helpers::*;

/// A fake with one instance whose backups serve each kind of object; returns the
/// public URL DownloadBackup gives for each.
async fn urls() -> (cds_redis_backup_exporter::fake::FakeCds, Vec<SecretUrl>) {
    let now = now();
    let mut i = FakeInstance::new("ins", "x", "redis-replication");
    for (id, object, size) in [
        ("ok", FakeObject::Rdb { len: 5000 }, 5000),
        ("short", FakeObject::Rdb { len: 100 }, 5000),
        ("expired", FakeObject::Expired, 5000),
        ("missing", FakeObject::Missing, 5000),
    ] {
        let mut b = FakeBackup::finished(id, "", now - hours(1), now, size);
        b.object = object;
        i.backups.push(b);
    }
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![i];
    let fake = fake(s.clone()).await;
    let acc = account("p", &fake, &s);
    let client = Client::new(
        reqwest::Client::new(),
        &acc.endpoint,
        acc.access_key_id,
        acc.access_key_secret,
        acc.timezone,
        Duration::from_secs(2),
    );
    let mut out = Vec::new();
    for id in ["ok", "short", "expired", "missing"] {
        out.push(
            client
                .download_backup("ins", id)
                .await
                .unwrap()
                .public_url
                .unwrap(),
        );
    }
    (fake, out)
}

async fn run(url: &SecretUrl, timeout_ms: u64) -> ProbeResult {
    probe::probe(
        &probe::client().unwrap(),
        url,
        Duration::from_millis(timeout_ms),
    )
    .await
}

#[tokio::test]
async fn ranged_get_206_gives_total_size_while_head_is_refused() {
    let (fake, urls) = urls().await;
    let r = run(&urls[0], 2000).await;
    assert_eq!(
        (r.status, r.total_size, r.failure, r.reachable()),
        (206, Some(5000), None, true)
    );
    // The same URL refuses HEAD, which is why the probe never uses it.
    let head = reqwest::Client::new()
        .head(urls[0].expose())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 403);
    let objects = fake.object_requests();
    assert_eq!(objects[0].0, "GET");
    assert_eq!(objects[0].2.as_deref(), Some("bytes=0-0"));
    let short = run(&urls[1], 2000).await;
    assert_eq!((short.status, short.total_size), (206, Some(100)));
}

#[tokio::test]
async fn expired_is_403_and_missing_is_404() {
    let (_fake, urls) = urls().await;
    let expired = run(&urls[2], 2000).await;
    assert_eq!(
        (expired.status, expired.reachable(), expired.total_size),
        (403, false, None)
    );
    let missing = run(&urls[3], 2000).await;
    assert_eq!(
        (missing.status, missing.reachable(), missing.total_size),
        (404, false, None)
    );
}

#[tokio::test]
async fn refused_connection_has_status_zero() {
    let port = closed_port().await;
    let url = SecretUrl::new(format!("http://127.0.0.1:{port}/objects/x.rdb?token=t"));
    let r = run(&url, 2000).await;
    assert_eq!(
        (r.status, r.failure, r.reachable()),
        (0, Some(ProbeFailure::Connect), false)
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    let (addr, hold) = silent_server().await;
    let url = SecretUrl::new(format!("http://{addr}/objects/x.rdb?token=t"));
    let r = run(&url, 300).await;
    assert_eq!((r.status, r.failure), (0, Some(ProbeFailure::Timeout)));
    assert!(
        r.duration >= Duration::from_millis(300) && r.duration < Duration::from_secs(5),
        "{:?}",
        r.duration
    );
    hold.abort();
}
