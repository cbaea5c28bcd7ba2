//! What the fake CDS account contains: instances, their backups, what each download URL
//! serves and which calls fail.
//!
//! Tests build small scenarios to pin one behaviour down; `--demo` mode uses
//! [`Scenario::demo`], which puts every state the exporter distinguishes (healthy,
//! failed, running, stale, cluster with a broken shard, truncated, empty) on display.

use chrono::{DateTime, Duration, FixedOffset, Utc};

#[derive(Debug, Clone)]
pub struct Scenario {
    pub access_key_id: String,
    pub access_key_secret: String,
    /// zone in which StartTime/EndTime are rendered (CDS uses +08:00)
    pub timezone: FixedOffset,
    pub instances: Vec<FakeInstance>,
    /// Added to every accepted API answer, to model a slow CDS API (benchmarks).
    pub latency: std::time::Duration,
    /// if Some, every DescribeDBInstances answers this instead of data
    pub instances_fault: Option<Fault>,
}

#[derive(Debug, Clone)]
pub struct FakeInstance {
    pub uuid: String,
    pub name: String,
    /// "redis-replication" | "redis-cluster" ...
    pub sub_product: String,
    pub region_id: String,
    pub version: String,
    pub tags: Vec<String>,
    /// `CreatedTime`, rendered in the scenario's zone; None => ""
    pub created: Option<DateTime<Utc>>,
    /// if Some, DescribeBackups for this instance answers this instead of data
    pub describe_fault: Option<Fault>,
    pub backups: Vec<FakeBackup>,
}

#[derive(Debug, Clone)]
pub struct FakeBackup {
    pub id: String,
    /// "" for non-cluster
    pub shard_id: String,
    /// "finished" | "running" | "failed" | anything
    pub status: String,
    /// "auto" | "manual"
    pub mode: String,
    /// "full-backup"
    pub backup_type: String,
    pub start: DateTime<Utc>,
    /// None => EndTime ""
    pub end: Option<DateTime<Utc>>,
    /// the BackupSize CDS reports
    pub size: u64,
    /// render BackupSize as "123" instead of 123
    pub size_as_string: bool,
    /// what its download URLs serve
    pub object: FakeObject,
    /// if Some, DownloadBackup for this backup answers this instead of data
    pub download_fault: Option<Fault>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FakeObject {
    /// an RDB-shaped body of exactly `len` bytes (len may differ from `size` to model a truncated upload)
    Rdb { len: u64 },
    /// exactly these bytes (a real dump, a damaged one, an HTML page, an archive)
    Data(std::sync::Arc<[u8]>),
    /// the presigned URL has expired: GET answers 403 with an S3-style XML AccessDenied body
    Expired,
    /// the object is gone: GET answers 404 NoSuchKey
    Missing,
    /// DownloadBackup returns empty strings for both URLs (e.g. a failed or running backup)
    NoUrl,
    /// GET answers 200 with its headers (`Content-Length`: the backup's size) and then
    /// never sends a byte: a hung object store
    Stall,
    /// the download URLs point at another server, `http://host:port` (one that never
    /// accepts, say); this fake does not serve them
    At(String),
}

/// A misbehaving answer, for one instance or backup (`describe_fault`, `download_fault`)
/// or for any API request ([`FaultPlan`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// a JSON CDS error: {"Code": code, "Message": message, "Data": null, "TaskId": ""} with this HTTP status
    Cds {
        http_status: u16,
        code: String,
        message: String,
    },
    /// answer `body` verbatim with this status and content type (HTML from a proxy, garbage, a JSON body whose fields have wrong types ...)
    Raw {
        http_status: u16,
        content_type: String,
        body: String,
    },
    /// HTTP 429 with a CDS-style JSON error and this `Retry-After` header value
    Throttled { retry_after: Option<String> },
    /// never answers: as a plan fault, not even the status line; as a target's fault,
    /// the headers and then nothing
    Hang,
    /// HTTP 200 with a JSON body cut off in the middle (complete HTTP message)
    Truncated,
    /// HTTP 200 with a JSON-looking body of `bytes` bytes, streamed; `declared` sends
    /// its Content-Length, otherwise it is chunked
    Huge { bytes: u64, declared: bool },
    /// HTTP 200 promising more body than it sends, then the connection is dropped
    Reset,
}

/// Faults injected into API requests (signature checks or not), for fault-injection
/// tests and soaks: each request draws a fault with `probability`, uniformly from
/// `faults`; `remaining` limits how many are served (None: no limit).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    pub faults: Vec<Fault>,
    pub probability: f64,
    pub remaining: Option<usize>,
}

impl FaultPlan {
    /// Every request gets `fault`.
    pub fn always(fault: Fault) -> Self {
        Self {
            faults: vec![fault],
            probability: 1.0,
            remaining: None,
        }
    }

    /// The next `n` requests get `fault`, then the API behaves.
    pub fn next(n: usize, fault: Fault) -> Self {
        Self {
            remaining: Some(n),
            ..Self::always(fault)
        }
    }
}

impl FakeBackup {
    /// convenience: finished auto full-backup, object Rdb{len: size}, no faults
    pub fn finished(
        id: &str,
        shard_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        size: u64,
    ) -> Self {
        FakeBackup {
            id: id.to_owned(),
            shard_id: shard_id.to_owned(),
            status: "finished".to_owned(),
            mode: "auto".to_owned(),
            backup_type: "full-backup".to_owned(),
            start,
            end: Some(end),
            size,
            size_as_string: false,
            object: FakeObject::Rdb { len: size },
            download_fault: None,
        }
    }

    /// status "running", end None, object NoUrl
    pub fn running(id: &str, shard_id: &str, start: DateTime<Utc>) -> Self {
        FakeBackup {
            status: "running".to_owned(),
            end: None,
            object: FakeObject::NoUrl,
            ..Self::finished(id, shard_id, start, start, 0)
        }
    }

    /// status "failed", end Some(end), size 0, object NoUrl
    pub fn failed(id: &str, shard_id: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        FakeBackup {
            status: "failed".to_owned(),
            object: FakeObject::NoUrl,
            ..Self::finished(id, shard_id, start, end, 0)
        }
    }
}

impl FakeInstance {
    /// region "CN_Beijing_A", version "5.0", no tags, created 2023-06-01 10:00:00
    /// Beijing time, no backups, no fault
    pub fn new(uuid: &str, name: &str, sub_product: &str) -> Self {
        FakeInstance {
            uuid: uuid.to_owned(),
            name: name.to_owned(),
            sub_product: sub_product.to_owned(),
            region_id: "CN_Beijing_A".to_owned(),
            version: "5.0".to_owned(),
            tags: Vec::new(),
            created: DateTime::from_timestamp(1_685_584_800, 0),
            describe_fault: None,
            backups: Vec::new(),
        }
    }
}

/// Beijing time; CDS renders backup times in it.
fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

impl Scenario {
    /// credentials as given, timezone +08:00, no instances
    pub fn new(access_key_id: &str, access_key_secret: &str) -> Self {
        Scenario {
            access_key_id: access_key_id.to_owned(),
            access_key_secret: access_key_secret.to_owned(),
            timezone: beijing(),
            instances: Vec::new(),
            latency: std::time::Duration::ZERO,
            instances_fault: None,
        }
    }

    /// A large, uniform scenario for benchmarks: `instances` replication instances, each
    /// with `backups` daily finished backups (newest 2h before `now`, 1 KiB objects),
    /// every API answer delayed by `latency`.
    pub fn scaled(
        now: DateTime<Utc>,
        instances: usize,
        backups: usize,
        latency: std::time::Duration,
    ) -> Self {
        let mut s = Scenario::new("AKBENCH", "SKBENCH-not-a-secret");
        s.latency = latency;
        s.instances = (0..instances)
            .map(|i| {
                let mut inst = FakeInstance::new(
                    &format!("bench-{i:06}"),
                    &format!("bench-{i}"),
                    "redis-replication",
                );
                inst.tags.push("bench".to_owned());
                inst.backups = (0..backups)
                    .map(|b| {
                        let end = now - Duration::hours(2) - Duration::days(b as i64);
                        FakeBackup::finished(
                            &format!("bk-{i:06}-{b:03}"),
                            "",
                            end - Duration::minutes(3),
                            end,
                            1024,
                        )
                    })
                    .collect();
                inst
            })
            .collect();
        s
    }

    /// The demo scenario, with every time relative to `now`.
    ///
    /// Credentials `AKDEMO` / `SKDEMO-not-a-secret`. Every instance is tagged `demo`
    /// and keeps three daily rounds of automatic backups, each taking a few minutes,
    /// sized between a few hundred KiB and about 2 MiB:
    ///
    /// 1. `demo-healthy`: newest backup finished ~2h ago; its URL serves exactly
    ///    `BackupSize` bytes of a valid RDB file.
    /// 2. `demo-failed`: newest backup `failed` ~1h ago; the one before finished ~23h
    ///    ago and is healthy.
    /// 3. `demo-running`: newest backup `running`, started 10 min ago (empty EndTime,
    ///    no URLs); the one before finished 23h50m ago and is healthy.
    /// 4. `demo-stale`: newest backup finished ~72h ago and its object is gone (404).
    /// 5. `demo-cluster` (redis-cluster, also tagged `production`): one backup per shard
    ///    (`shard-0a1b`, `shard-2c3d`) per round, seconds apart; newest round finished
    ///    ~3h ago; shard `shard-0a1b` downloads fine, `shard-2c3d`'s URL has expired (403).
    /// 6. `demo-truncated`: newest backup finished ~4h ago but its object holds only
    ///    half of `BackupSize` bytes.
    /// 7. `demo-empty`: no backups at all; created 3 hours ago, so not yet overdue.
    /// 8. `demo-stuck`: newest backup `running` for 7h (stuck); the one before
    ///    finished ~20h ago and is healthy.
    ///
    /// and the stories of [`super::stories`] (instances 9 to 27). Every instance with
    /// backups was created 30 days before its oldest listed one ([`created_before`]).
    pub fn demo(now: DateTime<Utc>) -> Self {
        let mut s = Scenario::new("AKDEMO", "SKDEMO-not-a-secret");
        let h = Duration::hours;
        let m = Duration::minutes;
        let day = Duration::days(1);

        // Each helper round: (instance no., newest end age, duration, base size).
        let history = |no: u8, shard: &str, newest_end: DateTime<Utc>, took: Duration, size| {
            (0..3u8)
                .map(|round| {
                    let end = newest_end - day * i32::from(round);
                    let size = size + u64::from(round) * 4_096 + u64::from(no) * 512;
                    let id = backup_id(no, round, shard);
                    FakeBackup::finished(&id, shard, end - took, end, size)
                })
                .collect::<Vec<_>>()
        };

        let mut healthy = demo_instance(1, "demo-healthy", "redis-replication");
        healthy.backups = history(1, "", now - h(2), m(3), 786_432);

        let mut failed = demo_instance(2, "demo-failed", "redis-replication");
        let failed_end = now - h(1);
        failed.backups = vec![FakeBackup::failed(
            &backup_id(2, 9, ""),
            "",
            failed_end - m(2),
            failed_end,
        )];
        failed
            .backups
            .extend(history(2, "", now - h(23), m(4), 655_360));

        let mut running = demo_instance(3, "demo-running", "redis-replication");
        running.backups = vec![FakeBackup::running(&backup_id(3, 9, ""), "", now - m(10))];
        running
            .backups
            .extend(history(3, "", now - day + m(10), m(4), 1_048_576));

        let mut stale = demo_instance(4, "demo-stale", "redis-replication");
        stale.backups = history(4, "", now - h(72), m(3), 393_216);
        stale.backups[0].object = FakeObject::Missing;

        let mut cluster = demo_instance(5, "demo-cluster", "redis-cluster");
        cluster.version = "6.0".to_owned();
        cluster.tags.push("production".to_owned());
        let shard_a = history(5, "shard-0a1b", now - h(3), m(5), 1_835_008);
        // The second shard starts a few seconds later, as CDS does with parallel shards.
        let shard_b = history(
            5,
            "shard-2c3d",
            now - h(3) + Duration::seconds(7),
            m(5),
            1_703_936,
        );
        for (a, mut b) in shard_a.into_iter().zip(shard_b) {
            if cluster.backups.is_empty() {
                b.object = FakeObject::Expired;
            }
            cluster.backups.push(a);
            cluster.backups.push(b);
        }

        let mut truncated = demo_instance(6, "demo-truncated", "redis-replication");
        truncated.backups = history(6, "", now - h(4), m(3), 524_288);
        // An upload cut in half: the first half of the dump CDS describes.
        let newest = &mut truncated.backups[0];
        let mut half = super::dumps::sound(newest.size, 6);
        half.truncate(half.len() / 2);
        newest.object = FakeObject::Data(half.into());

        let empty = demo_instance(7, "demo-empty", "redis-replication");

        let mut stuck = demo_instance(8, "demo-stuck", "redis-replication");
        stuck.backups = vec![FakeBackup::running(&backup_id(8, 9, ""), "", now - h(7))];
        stuck
            .backups
            .extend(history(8, "", now - h(20), m(3), 458_752));

        healthy.tags.push("team-a".to_owned());
        stale
            .tags
            .extend(["production".to_owned(), "team-a".to_owned()]);
        s.instances = vec![
            healthy, failed, running, stale, cluster, truncated, empty, stuck,
        ];
        s.instances.extend(super::stories::stories(now));
        created_before(&mut s.instances, now);
        s
    }
}

/// Creation times that fit the demo's story: 30 days before an instance's oldest
/// backup, or 3 hours before `now` for one without any (new, not yet backed up).
pub(super) fn created_before(instances: &mut [FakeInstance], now: DateTime<Utc>) {
    for i in instances {
        let oldest = i.backups.iter().map(|b| b.start).min();
        i.created = Some(match oldest {
            Some(start) => start - Duration::days(30),
            None => now - Duration::hours(3),
        });
    }
}

pub(super) fn demo_instance(no: u8, name: &str, sub_product: &str) -> FakeInstance {
    let uuid = format!("8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b{no:02x}");
    let mut i = FakeInstance::new(&uuid, name, sub_product);
    i.tags.push("demo".to_owned());
    i
}

/// A stable, UUID-shaped backup id (CDS backup ids look like instance ids).
pub(super) fn backup_id(instance: u8, round: u8, shard: &str) -> String {
    let mut x = u64::from(instance) << 16 | u64::from(round) << 8;
    for b in shard.bytes() {
        x = x.rotate_left(5) ^ u64::from(b);
    }
    let a = splitmix(x);
    let b = splitmix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | (b >> 48) & 0x3FFF,
        b & 0xFFFF_FFFF_FFFF
    )
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn find<'a>(s: &'a Scenario, name: &str) -> &'a FakeInstance {
        s.instances.iter().find(|i| i.name == name).unwrap()
    }

    #[test]
    fn demo_shape() {
        let now = Utc::now();
        let s = Scenario::demo(now);
        assert_eq!(s.instances.len(), 25);
        assert_eq!(s.access_key_id, "AKDEMO");
        let ids: HashSet<_> = s
            .instances
            .iter()
            .flat_map(|i| i.backups.iter().map(|b| b.id.clone()))
            .collect();
        let total: usize = s.instances.iter().map(|i| i.backups.len()).sum();
        assert_eq!(ids.len(), total, "backup ids must be unique");
        for i in &s.instances {
            assert!(i.tags.contains(&"demo".to_owned()));
            assert_eq!(i.uuid.len(), 36);
            for b in &i.backups {
                let large = i.name == "demo-verify-large";
                assert!((large || b.size <= 2 * 1024 * 1024) && b.end.is_none_or(|e| e > b.start));
            }
        }
        let newest = |name| find(&s, name).backups[0].clone();
        let healthy = newest("demo-healthy");
        assert_eq!(healthy.object, FakeObject::Rdb { len: healthy.size });
        assert_eq!(newest("demo-failed").status, "failed");
        let prev = &find(&s, "demo-failed").backups[1];
        assert!(prev.end.unwrap() > now - Duration::hours(24));
        assert_eq!(newest("demo-running").end, None);
        assert_eq!(newest("demo-stale").object, FakeObject::Missing);
        let c = find(&s, "demo-cluster");
        assert_eq!(c.backups.len(), 6);
        assert!(c.tags.contains(&"production".to_owned()));
        assert_eq!(c.backups[0].shard_id, "shard-0a1b");
        assert_eq!(c.backups[1].object, FakeObject::Expired);
        assert!(matches!(c.backups[2].object, FakeObject::Rdb { .. }));
        let t = newest("demo-truncated");
        assert!(matches!(&t.object, FakeObject::Data(d) if d.len() as u64 == t.size / 2));
        assert!(find(&s, "demo-empty").backups.is_empty());
        for i in &s.instances {
            let created = i.created.unwrap();
            assert!(i.backups.iter().all(|b| b.start > created), "{}", i.name);
        }
        assert_eq!(
            find(&s, "demo-empty").created,
            Some(now - Duration::hours(3))
        );
        let stuck = newest("demo-stuck");
        assert_eq!(
            (stuck.status.as_str(), stuck.start),
            ("running", now - Duration::hours(7))
        );
    }
}
