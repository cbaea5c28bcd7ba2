//! The stories of issue 18, one table row each: what the facts are, what the verdict
//! must be.

use std::sync::Arc;
use std::time::Duration;

use chrono::{FixedOffset, TimeZone};

use super::*;
use crate::cds::{Backup, Instance, UrlType};
use crate::config::VerifyLevel;
use crate::facts::LastFinished;
use crate::probe::ProbeResult;
use crate::verify::LastVerified;

const U: &str = "uuid-1";
const S: &str = "shard-1";
/// "now" of every story: a Sunday, 2026-11-29 12:00 UTC.
const NOW: i64 = 1_795_953_600;

fn t(hours: f64) -> DateTime<Utc> {
    DateTime::from_timestamp(NOW + (hours * 3600.0) as i64, 0).unwrap_or_default()
}

fn now() -> DateTime<Utc> {
    t(0.0)
}

/// A finished backup that started 30 minutes before it ended `end_h` hours from now.
fn finished(id: &str, end_h: f64) -> Backup {
    Backup {
        id: id.into(),
        status: "finished".into(),
        backup_type: "RDB".into(),
        mode: "auto".into(),
        size: Some(1000),
        start: Some(t(end_h - 0.5)),
        end: Some(t(end_h)),
    }
}

fn probe(status: u16) -> (UrlType, ProbeResult) {
    (
        UrlType::Public,
        ProbeResult {
            status,
            duration: Duration::from_millis(5),
            total_size: None,
            failure: None,
        },
    )
}

struct Story {
    snap: Snapshot,
}

impl Story {
    fn new() -> Self {
        let mut snap = Snapshot::default();
        snap.instance_backups.insert(U.into(), 0);
        Self { snap }
    }

    fn facts(&mut self) -> &mut ShardFacts {
        self.snap
            .shards
            .entry(ShardKey::new(U, S))
            .or_insert(ShardFacts {
                finished: Some(0),
                expected_interval: None,
                schedule: None,
                max_age: policy::DEFAULT_MAX_AGE,
                rule_max_age: None,
                listed_finished: Vec::new(),
            })
    }

    /// Exported (the newest of its shard): with its probes.
    fn exported(mut self, b: Backup, probes: &[u16]) -> Self {
        self.listed(&b.id, b.end);
        let state = BackupState {
            instance_uuid: U.into(),
            shard_id: S.into(),
            probes: probes.iter().map(|s| probe(*s)).collect(),
            urls: None,
            backup: b,
        };
        self.snap
            .backups
            .insert(BackupKey::new(U, &state.backup.id), Arc::new(state));
        self
    }

    /// Listed, finished, not exported.
    fn older(mut self, id: &str, end_h: f64) -> Self {
        self.listed(id, Some(t(end_h)));
        self
    }

    fn listed(&mut self, id: &str, end: Option<DateTime<Utc>>) {
        let f = self.facts();
        if let Some(end) = end {
            f.listed_finished.push((id.into(), end));
            f.listed_finished.sort_by_key(|e| std::cmp::Reverse(e.1));
        }
        f.finished = Some(f.listed_finished.len() as u64);
        *self.snap.instance_backups.entry(U.into()).or_default() += 1;
    }

    fn verified(mut self, id: &str, outcome: Outcome, ctime_h: Option<f64>) -> Self {
        let v = Verification {
            level: VerifyLevel::Light,
            outcome,
            snapshot_time: ctime_h.map(|h| t(h).timestamp()),
            ..Verification::default()
        };
        self.snap
            .verifications
            .insert(BackupKey::new(U, id), vec![v]);
        self
    }

    fn last_ok(mut self, id: &str, end_h: f64, keys: u64) -> Self {
        self.snap.verified.insert(
            ShardKey::new(U, S),
            LastVerified {
                backup_id: id.into(),
                end: t(end_h).timestamp(),
                keys: Some(keys),
                keys_hint: true,
            },
        );
        self
    }

    /// Every backup purged; the state file remembers the last one.
    fn purged(mut self, id: &str, end_h: f64) -> Self {
        self.facts().finished = Some(0);
        self.snap.remembered.insert(
            ShardKey::new(U, S),
            LastFinished {
                backup_id: id.into(),
                end: t(end_h),
                size: Some(1000),
                captured: None,
            },
        );
        self
    }

    fn created(mut self, h: f64) -> Self {
        let i = Instance {
            uuid: U.into(),
            created: Some(t(h)),
            ..Instance::default()
        };
        self.snap
            .instances
            .insert(U.into(), ("main".into(), i.into()));
        self
    }

    fn first_seen(mut self, h: f64) -> Self {
        self.snap.first_seen.insert(U.into(), t(h));
        self
    }

    fn rule(mut self, hours: u64) -> Self {
        let age = Duration::from_secs(hours * 3600);
        self.snap.rule_max_age.insert(U.into(), age);
        if let Some(f) = self.snap.shards.get_mut(&ShardKey::new(U, S)) {
            f.rule_max_age = Some(age);
        }
        self
    }

    /// Automatic runs at 02:00 UTC on Mondays, Wednesdays and Fridays, for six weeks.
    fn mon_wed_fri(mut self) -> Self {
        let utc = FixedOffset::east_opt(0);
        // 2026-11-27 is a Friday.
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).single();
        let ends = friday.into_iter().flat_map(|f| {
            (0..6).flat_map(move |w| [0, 2, 4].map(|d| f - chrono::Duration::days(7 * w + d)))
        });
        self.facts().schedule = utc.and_then(|z| policy::Schedule::learn(ends, z));
        self
    }
}

/// What a verdict says, compactly: restore point id, deadline in hours from now,
/// reasons.
type Expect = (Option<&'static str>, Option<f64>, &'static [Reason]);

fn check(name: &str, story: Story, key_shard: &str, want: Expect) {
    let verdicts = judge(&story.snap, now());
    let v = verdicts
        .get(&ShardKey::new(U, key_shard))
        .unwrap_or_else(|| panic!("{name}: no verdict in {verdicts:?}"));
    let got_rp = v.restore_point.as_ref().map(|r| r.backup_id.as_str());
    let got_deadline = v.deadline.map(|d| (d.timestamp() - NOW) as f64 / 3600.0);
    let got_reasons: Vec<Reason> = v.findings.iter().map(|f| f.reason).collect();
    if std::env::var("VERDICT_LIST").is_ok() {
        if (got_rp, got_deadline, got_reasons.as_slice()) != want {
            eprintln!("MISMATCH {name}: {got_reasons:?}");
        }
        return;
    }
    assert_eq!(
        (got_rp, got_deadline, got_reasons.as_slice()),
        want,
        "{name}: {v:?}"
    );
}

use Reason::*;

#[test]
fn the_stories_of_the_issue() {
    let stories: Vec<(&str, Story, &str, Expect)> = vec![
        (
            "fresh: ended 2 h ago, 26 h allowed",
            Story::new().exported(finished("b1", -2.0), &[200]),
            S,
            (Some("b1"), Some(24.0), &[]),
        ),
        (
            "wrong timezone: the newest ends 7 h ahead; the point counts as now",
            Story::new()
                .older("b0", 1.0)
                .exported(finished("b1", 7.0), &[200]),
            S,
            (Some("b1"), Some(26.0), &[TimesInFuture]),
        ),
        (
            "clock drift: 10 minutes ahead is no finding, the point still capped",
            Story::new().exported(finished("b1", 10.0 / 60.0), &[200]),
            S,
            (Some("b1"), Some(26.0), &[]),
        ),
        (
            "wrong timezone, nothing restores: due now, not when the end is reached",
            Story::new().exported(finished("b1", 7.0), &[404]),
            S,
            (
                None,
                Some(0.0),
                &[NewestUnusable, ObjectGone, TimesInFuture],
            ),
        ),
        (
            "stale: ended 30 h ago",
            Story::new().exported(finished("b1", -30.0), &[200]),
            S,
            (Some("b1"), Some(-4.0), &[NoRestorePoint]),
        ),
        (
            "purged: every backup gone, only remembered (after a restart too)",
            Story::new().purged("b1", -5.0),
            S,
            (None, Some(-5.0), &[NoRestorePoint]),
        ),
        (
            "gone: the newest answers 404, nothing older listed",
            Story::new().exported(finished("b1", -2.0), &[404, 404]),
            S,
            (
                None,
                Some(-2.0),
                &[NoRestorePoint, NewestUnusable, ObjectGone],
            ),
        ),
        (
            "gone: the newest answers 404, an older one within age",
            Story::new()
                .older("b0", -10.0)
                .exported(finished("b1", -2.0), &[404]),
            S,
            (Some("b0"), Some(16.0), &[NewestUnusable, ObjectGone]),
        ),
        (
            "not gone: one URL type answers",
            Story::new().exported(finished("b1", -2.0), &[404, 200]),
            S,
            (Some("b1"), Some(24.0), &[DownloadUnreachable]),
        ),
        (
            "corrupt newest with an older usable: a warning only",
            Story::new()
                .older("b0", -20.0)
                .exported(finished("b1", -2.0), &[200])
                .verified("b1", Outcome::Corrupt, None),
            S,
            (Some("b0"), Some(6.0), &[NewestUnusable, Corrupt]),
        ),
        (
            "corrupt newest, the older one past its age: no restore point",
            Story::new()
                .older("b0", -30.0)
                .exported(finished("b1", -2.0), &[200])
                .verified("b1", Outcome::Truncated, None),
            S,
            (
                Some("b0"),
                Some(-4.0),
                &[NoRestorePoint, NewestUnusable, Corrupt],
            ),
        ),
        (
            "corrupt with nothing older: critical",
            Story::new()
                .exported(finished("b1", -2.0), &[200])
                .verified("b1", Outcome::ChecksumMismatch, None),
            S,
            (None, Some(-2.0), &[NoRestorePoint, NewestUnusable, Corrupt]),
        ),
        (
            "empty at light after a backup with keys, nothing older listed",
            Story::new()
                .exported(finished("b2", -2.0), &[200])
                .verified("b2", Outcome::Empty, Some(-2.6))
                .last_ok("b1", -26.0, 5000),
            S,
            (None, Some(-2.0), &[NoRestorePoint, NewestUnusable, Empty]),
        ),
        (
            "empty with no earlier keys: an empty database is a usable restore point",
            Story::new()
                .exported(finished("b2", -2.0), &[200])
                .verified("b2", Outcome::Empty, None),
            S,
            (Some("b2"), Some(24.0), &[EmptyNoHistory]),
        ),
        (
            "unknown outcomes are usable",
            Story::new()
                .exported(finished("b1", -2.0), &[403])
                .verified("b1", Outcome::DownloadFailed, None),
            S,
            (Some("b1"), Some(24.0), &[DownloadUnreachable]),
        ),
        (
            "old snapshot: ctime 3 days old, the deadline follows the ctime",
            Story::new()
                .exported(finished("b1", -2.0), &[200])
                .verified("b1", Outcome::Ok, Some(-72.0)),
            S,
            (Some("b1"), Some(-46.0), &[NoRestorePoint, OldSnapshot]),
        ),
        (
            "a ctime minutes before the start is the backup's own",
            Story::new()
                .exported(finished("b1", -2.0), &[200])
                .verified("b1", Outcome::Ok, Some(-2.6)),
            S,
            (Some("b1"), Some(23.4), &[]),
        ),
        (
            "never backed up, created 10 h ago: within the grace",
            Story::new().created(-10.0),
            "",
            (None, Some(16.0), &[NeverBackedUp]),
        ),
        (
            "never backed up, created 3 weeks ago: pages",
            Story::new().created(-504.0).first_seen(-1.0),
            "",
            (None, Some(-478.0), &[NoRestorePoint]),
        ),
        (
            "never backed up, no creation time: from first seen",
            Story::new().first_seen(-1.0),
            "",
            (None, Some(25.0), &[NeverBackedUp]),
        ),
        (
            "never backed up, a rule's age is the grace",
            Story::new().first_seen(-10.0).rule(8),
            "",
            (None, Some(-2.0), &[NoRestorePoint]),
        ),
        (
            "a rule's fixed age wins over the default",
            Story::new().exported(finished("b1", -10.0), &[200]).rule(8),
            S,
            (Some("b1"), Some(-2.0), &[NoRestorePoint]),
        ),
        (
            "Mon/Wed/Fri: Sunday noon, Friday's backup 58 h old, no page",
            Story::new()
                .mon_wed_fri()
                .exported(finished("b1", -58.0), &[200]),
            S,
            // Until Monday's 02:00 run (+14 h) plus its slack.
            (Some("b1"), Some(20.0), &[]),
        ),
    ];
    for (name, story, shard, want) in stories {
        check(name, story, shard, want);
    }
}

#[test]
fn every_reason_has_a_label_a_severity_and_an_alert() {
    let labels: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        labels,
        [
            "no_restore_point",
            "never_backed_up",
            "newest_unusable",
            "object_gone",
            "old_snapshot",
            "failed",
            "status_unknown",
            "stuck",
            "download_unreachable",
            "size_mismatch",
            "corrupt",
            "empty",
            "empty_no_history",
            "needs_databases",
            "verify_inconclusive",
            "unverified",
            "times_in_future",
            "account_blind",
            "instance_blind",
            "vanished",
            "drill_failed",
            "drill_overdue",
            "drill_memory",
        ]
    );
    let critical: Vec<Reason> = Reason::ALL
        .into_iter()
        .filter(|r| r.severity() == Severity::Critical)
        .collect();
    assert_eq!(critical, [NoRestorePoint, AccountBlind, InstanceBlind]);
    // Every alert named is declared, and only an empty data set nobody knew held keys
    // explains without paging anyone.
    for r in Reason::ALL {
        match r.alert() {
            Some(a) => assert!(crate::alerts::find(a).is_some(), "{r:?} names {a}"),
            None => assert_eq!(r, EmptyNoHistory),
        }
    }
}

#[test]
fn details_name_the_backups() {
    let story = Story::new()
        .older("b0", -20.0)
        .exported(finished("b1", -2.0), &[200])
        .verified("b1", Outcome::Corrupt, None);
    let v = judge(&story.snap, now());
    let f = &v[&ShardKey::new(U, S)].findings;
    assert_eq!(
        f[0].detail,
        "the newest finished backup b1 failed verification (corrupt); the restore point is the older backup b0"
    );
}

#[test]
fn times_in_future_name_the_account_and_its_timezone_key() {
    // A running backup that starts 11 minutes ahead: the furthest time of the shard.
    let running = Backup {
        status: "running".into(),
        start: Some(t(11.0 / 60.0)),
        end: None,
        ..finished("b2", 0.0)
    };
    let story = Story::new()
        .exported(finished("b1", -3.0), &[200])
        .exported(running, &[])
        .created(-100.0);
    let v = judge(&story.snap, now());
    let v = &v[&ShardKey::new(U, S)];
    assert_eq!(v.restore_point.as_ref().map(|r| r.point), Some(t(-3.0)));
    assert_eq!(v.findings.len(), 1, "{v:?}");
    let f = &v.findings[0];
    assert_eq!(
        (f.reason, f.reason.severity(), f.reason.alert()),
        (
            TimesInFuture,
            Severity::Warning,
            Some("CdsRedisBackupTimesInFuture")
        )
    );
    assert_eq!(f.backup_id.as_deref(), Some("b2"));
    assert_eq!(
        f.detail,
        "backup b2 starts 0h11m in the future: check accounts[].timezone of account main (CDS gives times without a zone, usually in +08:00)"
    );
    // The restore point's time is capped at now, its EndTime kept as CDS gave it.
    let story = Story::new().exported(finished("b1", 7.0), &[200]);
    let v = judge(&story.snap, now());
    let r = v[&ShardKey::new(U, S)].restore_point.clone();
    assert_eq!(r.map(|r| (r.point, r.end)), Some((now(), t(7.0))));
    // In whole seconds, as CDS's times are.
    let v = judge(&story.snap, now() + chrono::Duration::milliseconds(700));
    let r = v[&ShardKey::new(U, S)].restore_point.clone();
    assert_eq!(r.map(|r| r.point), Some(now()));
}

#[test]
fn a_findings_times_are_data_and_can_be_written_in_another_zone() {
    let point = Utc.with_ymd_and_hms(2026, 12, 6, 3, 51, 0).unwrap();
    let deadline = Utc.with_ymd_and_hms(2026, 12, 7, 5, 51, 0).unwrap();
    let f = Finding::new(
        Reason::NoRestorePoint,
        format!(
            "data of {} since {}",
            utc_minute(point),
            utc_minute(deadline)
        ),
    )
    .at([point, deadline]);
    // The detail (and so JSON built from it) stays in UTC...
    assert_eq!(
        f.detail,
        "data of 2026-12-06 03:51 UTC since 2026-12-07 05:51 UTC"
    );
    // ... and a page writes the same times in the account's zone.
    let zone = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    assert_eq!(
        f.detail_with(|t| t
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %:z")
            .to_string()),
        "data of 2026-12-06 11:51 +08:00 since 2026-12-07 13:51 +08:00"
    );
}
