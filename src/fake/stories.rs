//! The demo's alerting stories: the situations in which an alert must fire, or must
//! not, beyond one backup's own state. Each is one instance (or a second account),
//! with times relative to `now`; some change at the demo's "event" (see
//! [`Scenario::after_events`]), as they would in a real fleet over days.
//!
//! 9.  `demo-6hourly-overdue`: a backup every 6 hours, the newest ended 9 hours ago.
//!     Past its learned maximum age (8 h), far below the 26 h default.
//! 10. `demo-weekly-ontime`: weekly backups, the newest 5 days old: on time.
//! 11. `demo-purged`: failed for two days; its only finished backup, 50 hours old, is
//!     purged by retention at the event, leaving nothing to restore from.
//! 12. `demo-cluster-shard`: shard `shard-b` failed 5 hours ago, before shard `shard-a`
//!     succeeded (1 hour ago); its own newest finished backup is 21 hours old.
//! 13. `demo-decommissioned`: healthy; deleted (gone from discovery) at the event.
//! 14. to 24.: the `demo-verify-*` instances, one per verification outcome (see
//!     [`verification`]).
//!
//! And the account `demo-revoked` ([`Scenario::demo_revoked`]): one healthy instance
//! and one 30 hours stale, whose credentials are revoked at the event.

use chrono::{DateTime, Duration, Utc};

use super::scenario::{backup_id, demo_instance};
use super::{FakeBackup, FakeInstance, FakeObject, Scenario};

/// `n` finished automatic backups `every` apart, the newest ending at `newest`.
fn runs(no: u8, shard: &str, newest: DateTime<Utc>, every: Duration, n: u8) -> Vec<FakeBackup> {
    (0..n)
        .map(|round| {
            let end = newest - every * i32::from(round);
            let size = 600_000 + u64::from(no) * 4_096 + u64::from(round) * 512;
            let id = backup_id(no, round, shard);
            FakeBackup::finished(&id, shard, end - Duration::minutes(3), end, size)
        })
        .collect()
}

pub(super) fn stories(now: DateTime<Utc>) -> Vec<FakeInstance> {
    let h = Duration::hours;
    let mut six = demo_instance(9, "demo-6hourly-overdue", "redis-replication");
    six.tags.push("prod".to_owned());
    six.backups = runs(9, "", now - h(9), h(6), 6);

    let mut weekly = demo_instance(10, "demo-weekly-ontime", "redis-replication");
    weekly.backups = runs(10, "", now - Duration::days(5), Duration::days(7), 4);

    let mut purged = demo_instance(11, "demo-purged", "redis-replication");
    for (round, age) in [(8, 2), (9, 26)] {
        let end = now - h(age);
        let id = backup_id(11, round, "");
        purged
            .backups
            .push(FakeBackup::failed(&id, "", end - Duration::minutes(2), end));
    }
    purged.backups.extend(runs(11, "", now - h(50), h(24), 1));

    let mut cluster = demo_instance(12, "demo-cluster-shard", "redis-cluster");
    cluster.version = "7.0".to_owned();
    cluster
        .backups
        .extend(runs(12, "shard-a", now - h(1), h(24), 3));
    let failed_end = now - h(5);
    cluster.backups.push(FakeBackup::failed(
        &backup_id(12, 9, "shard-b"),
        "shard-b",
        failed_end - Duration::minutes(4),
        failed_end,
    ));
    cluster
        .backups
        .extend(runs(12, "shard-b", now - h(21), h(24), 3));

    let mut gone = demo_instance(13, "demo-decommissioned", "redis-replication");
    gone.backups = runs(13, "", now - h(3), h(24), 3);

    let mut out = vec![six, weekly, purged, cluster, gone];
    out.extend(verification(now));
    out
}

/// One instance per verification outcome the demo does not show elsewhere (a missing
/// object, `download_failed`, is `demo-stale`'s): each newest backup's object is
/// what its name says, of the size CDS reports.
fn verification(now: DateTime<Utc>) -> Vec<FakeInstance> {
    use super::dumps;
    type Make = fn(u64, u64) -> Vec<u8>;
    let objects: [(u8, &str, Make); 9] = [
        (14, "demo-verify-corrupt", dumps::bit_flipped),
        (15, "demo-verify-empty", |_, _| dumps::empty()),
        (16, "demo-verify-cut", dumps::cut_short),
        (17, "demo-verify-html", |len, _| dumps::html_page(len)),
        (18, "demo-verify-gzip", |len, seed| {
            dumps::gzip(&dumps::sound(len, seed))
        }),
        (19, "demo-verify-tar", |len, seed| {
            dumps::tar("dump.rdb", &dumps::sound(len, seed))
        }),
        (22, "demo-verify-future", dumps::future_version),
        // Over the demo's verify.max_size (2.5 MiB): too_large, never downloaded whole.
        (23, "demo-verify-large", |_, seed| {
            dumps::sound(3 << 20, seed)
        }),
        // No URL at all: skipped.
        (24, "demo-verify-nourl", dumps::sound),
    ];
    objects
        .into_iter()
        .map(|(no, name, make)| {
            let mut i = demo_instance(no, name, "redis-replication");
            i.backups = runs(no, "", now - Duration::hours(4), Duration::hours(24), 3);
            let newest = &mut i.backups[0];
            let data = make(200_000, u64::from(no));
            newest.size = data.len() as u64;
            newest.object = if name == "demo-verify-nourl" {
                FakeObject::NoUrl
            } else {
                FakeObject::Data(data.into())
            };
            i
        })
        .collect()
}

impl Scenario {
    /// The second demo account, `demo-revoked` (credentials `AKREVOKED` /
    /// `SKREVOKED-not-a-secret`).
    pub fn demo_revoked(now: DateTime<Utc>) -> Self {
        let h = Duration::hours;
        let mut s = Scenario::new("AKREVOKED", "SKREVOKED-not-a-secret");
        let mut ok = demo_instance(20, "demo-revoked-ok", "redis-replication");
        ok.backups = runs(20, "", now - h(2), h(24), 3);
        let mut stale = demo_instance(21, "demo-revoked-stale", "redis-replication");
        stale.backups = runs(21, "", now - h(30), h(24), 3);
        s.instances = vec![ok, stale];
        super::scenario::created_before(&mut s.instances, now);
        s
    }

    /// This scenario after the demo's event: `demo-purged` has lost its last finished
    /// backup, `demo-decommissioned` is gone, and the `AKREVOKED` key no longer exists.
    pub fn after_events(&self) -> Self {
        let mut s = self.clone();
        s.instances.retain(|i| i.name != "demo-decommissioned");
        for i in s.instances.iter_mut().filter(|i| i.name == "demo-purged") {
            i.backups.retain(|b| b.status != "finished");
        }
        if s.access_key_id == "AKREVOKED" {
            s.access_key_id = "AKREVOKED-deleted".to_owned();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stories_change_at_the_event_as_documented() {
        let now = Utc::now();
        let demo = Scenario::demo(now);
        let after = demo.after_events();
        let find = |s: &Scenario, name: &str| s.instances.iter().find(|i| i.name == name).cloned();
        assert!(find(&after, "demo-decommissioned").is_none());
        assert!(find(&demo, "demo-decommissioned").is_some());
        let purged = find(&after, "demo-purged")
            .map(|i| i.backups)
            .unwrap_or_default();
        assert_eq!(purged.len(), 2);
        assert!(purged.iter().all(|b| b.status == "failed"));
        assert_eq!(after.access_key_id, demo.access_key_id);
        let revoked = Scenario::demo_revoked(now);
        assert_ne!(revoked.after_events().access_key_id, revoked.access_key_id);
        let six = find(&demo, "demo-6hourly-overdue")
            .map(|i| i.backups)
            .unwrap_or_default();
        let ends: Vec<_> = six.iter().filter_map(|b| b.end).collect();
        assert_eq!(
            crate::policy::expected_interval(ends).map(|d| d.as_secs()),
            Some(6 * 3600)
        );
    }
}
