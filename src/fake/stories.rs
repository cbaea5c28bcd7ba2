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
//! 25. `demo-weekdays`: three runs a week on the days of a Mon/Wed/Fri schedule turned
//!     so that `now` falls in its long gap: the newest run ended 62 hours ago, on the
//!     "Friday", and the runs before it 2, 4, 7, 9, ... days earlier, all at the same
//!     local time of day in the account's zone (+08:00), three weeks of them. The
//!     median gap is 48 h, so a median alone would have paged since 52 h; the learned
//!     days put the next run at 72 h (allowed until 78 h): no page.
//! 26. `demo-gone`: daily; the newest backup (4 hours old) is "finished" but its object
//!     answers 404 NoSuchKey on every URL, and the one before it (28 hours old) is past
//!     its allowed age (26 h): no restore point within age, a page
//!     (DownloadUnreachable says why, NewestUnusable is inhibited by the page).
//! 27. `demo-gone-covered`: daily automatic backups, the newest 6 hours old, and a
//!     manual backup 2 hours old whose object is gone (404): the restore point is the
//!     automatic one, within its age, so only warnings (NewestUnusable,
//!     DownloadUnreachable), no page.
//!
//! And the account `demo-revoked` ([`Scenario::demo_revoked`]): one healthy instance
//! and one 30 hours stale, whose credentials are revoked at the event; and the account
//! `demo-wrong-tz` ([`Scenario::demo_wrong_tz`]), configured with `timezone: +00:00`
//! while CDS renders its times in +08:00: its one instance (28.
//! `demo-wrong-tz-6hourly`, a backup every 6 hours, the newest ended 1 hour ago)
//! seems to have backups ending 7 hours in the future, which raises TimesInFuture
//! (naming the account and its `timezone` key) and pages nobody.
//!
//! Stories that need the exporter itself, not the fake API, are in the Alertmanager
//! end-to-end test (`tests/e2e/alertmanager_e2e.py`): one of two replicas down
//! (ReplicaDown, never ExporterDown), and a restart with `verify.state_file`
//! (`--demo.state-file`) after `demo-purged` lost its last finished backup: the
//! restarted replica still pages NoRestorePoint for it, not NeverBackedUp.

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
    six.tags.push("production".to_owned());
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
    out.push(weekdays(now));
    out.extend(gone_objects(now));
    out
}

/// The days of a Mon/Wed/Fri schedule, turned so that the newest run (62 hours before
/// `now`) is its "Friday": the next run is due 3 days after it, whatever day `now` is.
/// The gaps walk 3, 2, 2 days back from the newest.
fn weekdays(now: DateTime<Utc>) -> FakeInstance {
    let mut i = demo_instance(25, "demo-weekdays", "redis-replication");
    let newest = now - Duration::hours(62);
    i.backups = (0..21)
        .filter(|days_back| [0, 2, 4].contains(&(days_back % 7)))
        .enumerate()
        .map(|(round, days_back)| {
            let end = newest - Duration::days(days_back);
            let round = u8::try_from(round).unwrap_or(u8::MAX);
            let size = 600_000 + 25 * 4_096 + u64::from(round) * 512;
            FakeBackup::finished(
                &backup_id(25, round, ""),
                "",
                end - Duration::minutes(3),
                end,
                size,
            )
        })
        .collect();
    i
}

/// A newest backup whose object is gone (404 on every URL), with nothing else within
/// its age (`demo-gone`) and with an older restore point still within it
/// (`demo-gone-covered`).
fn gone_objects(now: DateTime<Utc>) -> Vec<FakeInstance> {
    let h = Duration::hours;
    let mut gone = demo_instance(26, "demo-gone", "redis-replication");
    gone.backups = runs(26, "", now - h(4), h(24), 3);
    gone.backups[0].object = FakeObject::Missing;

    let mut covered = demo_instance(27, "demo-gone-covered", "redis-replication");
    let end = now - h(2);
    let mut manual = FakeBackup::finished(
        &backup_id(27, 9, ""),
        "",
        end - Duration::minutes(3),
        end,
        640_000,
    );
    manual.mode = "manual".to_owned();
    manual.object = FakeObject::Missing;
    covered.backups = vec![manual];
    covered.backups.extend(runs(27, "", now - h(6), h(24), 3));
    vec![gone, covered]
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

    /// The third demo account, `demo-wrong-tz` (credentials `AKWRONGTZ` /
    /// `SKWRONGTZ-not-a-secret`): CDS renders its times in +08:00 as always; the demo
    /// configures it with `timezone: +00:00` (`crate::demo`).
    pub fn demo_wrong_tz(now: DateTime<Utc>) -> Self {
        let mut s = Scenario::new("AKWRONGTZ", "SKWRONGTZ-not-a-secret");
        let mut six = demo_instance(28, "demo-wrong-tz-6hourly", "redis-replication");
        six.backups = runs(28, "", now - Duration::hours(1), Duration::hours(6), 6);
        s.instances = vec![six];
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

    /// Whatever the day and hour: three weekdays learned, a 48 h median, and `now` in
    /// the long gap, past what the median alone allows (52 h) and before the next run's
    /// allowance (78 h).
    #[test]
    fn the_weekday_story_is_in_its_long_gap_on_any_day() {
        use crate::policy::cadence::{Schedule, Shape};
        let zone = Scenario::new("k", "s").timezone;
        let start = DateTime::from_timestamp(1_796_601_600, 0).unwrap();
        for hours in (0..7 * 24).step_by(5) {
            let now = start + Duration::hours(hours);
            let i = weekdays(now);
            let ends: Vec<_> = i.backups.iter().filter_map(|b| b.end).collect();
            assert_eq!(ends.len(), 9);
            let s = Schedule::learn(ends.iter().copied(), zone).unwrap();
            assert_eq!(s.interval().as_secs(), 48 * 3600, "{now}");
            let Shape::Days { days, .. } = s.shape() else {
                panic!("{now}: {s}");
            };
            assert_eq!(days.iter().count(), 3, "{now}: {s}");
            let newest = ends[0];
            assert_eq!(now - newest, Duration::hours(62));
            assert_eq!(s.allowed_age(newest).as_secs(), 78 * 3600, "{now}: {s}");
            assert_eq!(s.typical_allowance().as_secs(), 52 * 3600);
        }
    }

    #[test]
    fn gone_objects_and_the_wrong_timezone_account() {
        let now = Utc::now();
        let gone = gone_objects(now);
        let newest = |i: &FakeInstance| i.backups[0].clone();
        assert_eq!(
            (newest(&gone[0]).object, newest(&gone[0]).end),
            (FakeObject::Missing, Some(now - Duration::hours(4)))
        );
        assert_eq!(gone[0].backups[1].end, Some(now - Duration::hours(28)));
        let manual = newest(&gone[1]);
        assert_eq!(
            (manual.mode.as_str(), manual.object),
            ("manual", FakeObject::Missing)
        );
        assert_eq!(gone[1].backups[1].end, Some(now - Duration::hours(6)));
        assert!(matches!(gone[1].backups[1].object, FakeObject::Rdb { .. }));
        let tz = Scenario::demo_wrong_tz(now);
        assert_eq!(tz.timezone.local_minus_utc(), 8 * 3600);
        assert_eq!(tz.instances.len(), 1);
        assert_eq!(
            tz.instances[0].backups[0].end,
            Some(now - Duration::hours(1))
        );
        assert_eq!(tz.after_events().access_key_id, tz.access_key_id);
    }
}
