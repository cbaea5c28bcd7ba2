//! The learned schedule: the typical interval, then the table of schedules the issue
//! names (daily, 6-hourly, weekly, Mon/Wed/Fri, Mon–Fri, a missed slot, an extra run,
//! a failed run, a schedule change, clock jitter, too few runs), in Beijing time.

use super::*;
use chrono::TimeZone;
use Weekday::{Fri, Mon, Sat, Sun, Thu, Tue, Wed};

const H: i64 = 3600;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0)
        .single()
        .unwrap_or_default()
}

fn every(step: i64, n: i64) -> Vec<DateTime<Utc>> {
    (0..n).map(|i| t(-i * step)).collect()
}

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}
#[test]
fn regular_schedules_are_learned_exactly() {
    assert_eq!(secs(expected_interval(every(6 * H, 8))), Some(6 * 3600));
    assert_eq!(secs(expected_interval(every(24 * H, 7))), Some(86_400));
    assert_eq!(secs(expected_interval(every(7 * 24 * H, 4))), Some(604_800));
}

#[test]
fn jitter_is_smoothed_by_the_median() {
    // A daily backup whose end wanders by up to 20 minutes.
    let jitter = [0, 700, -1200, 300, 1100, -400, 0];
    let ends = jitter
        .iter()
        .enumerate()
        .map(|(i, j)| t(-(i as i64) * 24 * H + j));
    let got = expected_interval(ends).map(|d| d.as_secs()).unwrap_or(0);
    assert!((86_400 - 1_800..=86_400 + 1_800).contains(&got), "{got}");
}

#[test]
fn a_missed_run_and_an_extra_run_do_not_move_it() {
    let mut ends = every(24 * H, 8);
    ends.remove(3); // one day without a backup: a 48 h gap
    ends.push(t(-5 * 24 * H + 3 * H)); // and one extra run
    assert_eq!(secs(expected_interval(ends)), Some(86_400));
}

#[test]
fn fewer_than_three_runs_teach_nothing() {
    assert_eq!(expected_interval(Vec::new()), None);
    assert_eq!(expected_interval(every(24 * H, 2)), None);
    // Three ends, two of them one run seconds apart (skewed clocks, a retry).
    assert_eq!(expected_interval([t(0), t(-20), t(-24 * H)]), None);
}

#[test]
fn clock_skew_and_order_do_not_matter() {
    // Listed out of order, with one end a few seconds off its slot.
    let ends = vec![t(-48 * H), t(0), t(-24 * H + 7), t(-72 * H), t(-96 * H)];
    assert_eq!(secs(expected_interval(ends)), Some(86_400));
}

#[test]
fn only_the_newest_runs_count() {
    // Weekly for a year, then daily for the last ten days: the cadence is daily.
    let mut ends: Vec<_> = (0..11).map(|i| t(-i * 24 * H)).collect();
    ends.extend((0..52).map(|i| t(-11 * 24 * H - i * 7 * 24 * H)));
    assert_eq!(secs(expected_interval(ends)), Some(86_400));
}

#[test]
fn learned_max_age_adds_the_larger_slack() {
    let h = |n: u64| Duration::from_secs(n * 3600);
    assert_eq!(learned_max_age(h(24)), h(26));
    assert_eq!(learned_max_age(h(6)), h(8));
    assert_eq!(learned_max_age(h(7 * 24)), h(7 * 24 + 14));
    assert_eq!(learned_max_age(h(1)), h(3));
}

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// Local (Beijing) time on day `n`, day 0 being Monday 2025-09-01.
fn lt(n: i64, hour: i64, min: i64) -> DateTime<Utc> {
    let monday = beijing()
        .with_ymd_and_hms(2025, 9, 1, 0, 0, 0)
        .single()
        .unwrap();
    (monday + chrono::Duration::seconds(n * 86_400 + hour * H + min * 60)).with_timezone(&Utc)
}

/// Runs at `hour:min` Beijing on the days of `days` from day `first` to `last`.
fn on(days: &[Weekday], hour: i64, min: i64, first: i64, last: i64) -> Vec<DateTime<Utc>> {
    (first..=last)
        .filter(|n| days.contains(&Weekday::try_from(n.rem_euclid(7) as u8).unwrap()))
        .map(|n| lt(n, hour, min))
        .collect()
}

const ALL: &[Weekday] = &[Mon, Tue, Wed, Thu, Fri, Sat, Sun];
const MWF: &[Weekday] = &[Mon, Wed, Fri];
const WORKDAYS: &[Weekday] = &[Mon, Tue, Wed, Thu, Fri];

#[derive(Debug, PartialEq)]
enum Want {
    Nothing,
    Every(u64),
    /// days, time of day in seconds, typical interval in seconds
    Days(&'static [Weekday], u32, u64),
}

struct Case {
    name: &'static str,
    ends: Vec<DateTime<Utc>>,
    want: Want,
    /// (point, its exact allowance in hours)
    allowed: Vec<(DateTime<Utc>, f64)>,
    /// Every gap between two consecutive runs is within the older run's allowance:
    /// the schedule, followed, never pages.
    steady: bool,
}

fn learned(s: &Option<Schedule>) -> Want {
    match s.as_ref().map(|s| (s.shape(), s.interval().as_secs())) {
        None => Want::Nothing,
        Some((Shape::Every, i)) => Want::Every(i),
        Some((Shape::Days { days, at, zone }, i)) => {
            assert_eq!(zone, beijing());
            let days: Vec<Weekday> = days.iter().collect();
            let known = [ALL, MWF, WORKDAYS, &[Wed]]
                .into_iter()
                .find(|k| **k == days[..])
                .unwrap_or_else(|| panic!("unexpected days {days:?}"));
            Want::Days(known, at, i)
        }
    }
}

fn without(mut ends: Vec<DateTime<Utc>>, gone: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    ends.retain(|e| *e != gone);
    ends
}

fn with(mut ends: Vec<DateTime<Utc>>, extra: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    ends.push(extra);
    ends
}

/// Minutes of jitter, ±20, by day.
fn jitter(n: i64) -> i64 {
    [0, 20, -20, 10, -10, 15, -5][n.rem_euclid(7) as usize]
}

fn jittered(days: &[Weekday], hour: i64, first: i64, last: i64) -> Vec<DateTime<Utc>> {
    (first..=last)
        .filter(|n| days.contains(&Weekday::try_from(n.rem_euclid(7) as u8).unwrap()))
        .map(|n| lt(n, hour, jitter(n)))
        .collect()
}

#[test]
fn the_table_of_schedules() {
    let hours = |h: i64| (h * H) as u64;
    let cases = vec![
        Case {
            name: "daily at 02:00",
            ends: on(ALL, 2, 0, 0, 25),
            want: Want::Days(ALL, 7200, hours(24)),
            // From the dump's capture, 10 minutes before the end: still that run's.
            allowed: vec![(lt(25, 2, 0), 26.0), (lt(25, 1, 50), 26.0 + 10.0 / 60.0)],
            steady: true,
        },
        Case {
            name: "6-hourly",
            ends: (0..40)
                .map(|i| lt(25, 0, 0) - chrono::Duration::hours(6 * i))
                .collect(),
            want: Want::Every(hours(6)),
            allowed: vec![(lt(25, 0, 0), 8.0), (lt(24, 18, 0), 8.0)],
            steady: true,
        },
        Case {
            name: "weekly on Wednesday at 03:00",
            ends: on(&[Wed], 3, 0, -84, 25),
            want: Want::Days(&[Wed], 3 * 3600, hours(168)),
            allowed: vec![(lt(23, 3, 0), 168.0 + 14.0)],
            steady: true,
        },
        Case {
            // The weekend gap (72 h) is not a miss; Wednesday's slot missed is one.
            name: "Mon/Wed/Fri at 02:00",
            ends: on(MWF, 2, 0, 0, 25),
            want: Want::Days(MWF, 7200, hours(48)),
            allowed: vec![
                (lt(25, 2, 0), 72.0 + 6.0),
                (lt(21, 2, 0), 48.0 + 4.0),
                (lt(23, 2, 0), 52.0),
            ],
            steady: true,
        },
        Case {
            name: "Mon-Fri at 02:00",
            ends: on(WORKDAYS, 2, 0, 0, 25),
            want: Want::Days(WORKDAYS, 7200, hours(24)),
            allowed: vec![(lt(25, 2, 0), 72.0 + 6.0), (lt(24, 2, 0), 26.0)],
            steady: true,
        },
        Case {
            // Wednesday of the third week missed: still Mon/Wed/Fri, and the missed
            // slot was beyond Monday's allowance (96 h > 52 h).
            name: "Mon/Wed/Fri, one Wednesday missed",
            ends: without(on(MWF, 2, 0, 0, 25), lt(16, 2, 0)),
            want: Want::Days(MWF, 7200, hours(48)),
            allowed: vec![(lt(14, 2, 0), 52.0), (lt(25, 2, 0), 78.0)],
            steady: false,
        },
        Case {
            name: "daily, one day missed",
            ends: without(on(ALL, 2, 0, 0, 25), lt(22, 2, 0)),
            want: Want::Days(ALL, 7200, hours(24)),
            allowed: vec![(lt(21, 2, 0), 26.0), (lt(25, 2, 0), 26.0)],
            steady: false,
        },
        Case {
            // An extra automatic run on Tuesday afternoon belongs to no day of its own;
            // from it, Wednesday's slot is still expected.
            name: "Mon/Wed/Fri with an extra run",
            ends: with(on(MWF, 2, 0, 0, 25), lt(22, 15, 0)),
            want: Want::Days(MWF, 7200, hours(48)),
            allowed: vec![(lt(22, 15, 0), 11.0 + 4.0), (lt(25, 2, 0), 78.0)],
            steady: true,
        },
        Case {
            name: "Mon/Wed/Fri, ±20 minutes of jitter",
            ends: jittered(MWF, 2, 0, 25),
            // The median of the newest three: 01:50, 01:40, 02:00.
            want: Want::Days(MWF, 6600, hours(48) + 10 * 60),
            // Friday ended 01:50: Monday's slot at 01:50 plus 6 h.
            allowed: vec![(lt(25, 1, 50), 78.0)],
            steady: true,
        },
        Case {
            // Around midnight the local day of a late run is the next one; its slot is
            // still the evening's.
            name: "daily at 00:00, ±20 minutes of jitter",
            ends: jittered(ALL, 0, 0, 25),
            // Newest three: 23:50 (day 25 -10 min), 00:10 (day 24), 23:40 (day 23); the
            // median gap of the newest eleven is 24 h minus the mean of -20 and +5 min.
            want: Want::Days(ALL, 23 * 3600 + 50 * 60, hours(24) - 450),
            allowed: vec![(lt(25, 0, -10), 26.0)],
            steady: true,
        },
        Case {
            // Every other day walks through the week: no days-of-the-week pattern.
            name: "every 48 h",
            ends: (0..12)
                .map(|i| lt(25, 2, 0) - chrono::Duration::hours(48 * i))
                .collect(),
            want: Want::Every(hours(48)),
            allowed: vec![(lt(25, 2, 0), 52.0)],
            steady: true,
        },
        Case {
            name: "two runs",
            ends: on(ALL, 2, 0, 24, 25),
            want: Want::Nothing,
            allowed: vec![],
            steady: false,
        },
        Case {
            // Three ends, two of them one run seconds apart (skewed clocks, a retry).
            name: "three ends, two runs",
            ends: vec![
                lt(25, 2, 0),
                lt(25, 2, 0) + chrono::Duration::seconds(20),
                lt(24, 2, 0),
            ],
            want: Want::Nothing,
            allowed: vec![],
            steady: false,
        },
    ];
    for c in cases {
        let s = Schedule::learn(c.ends.clone(), beijing());
        assert_eq!(learned(&s), c.want, "{}", c.name);
        let Some(s) = s else { continue };
        for (point, h) in &c.allowed {
            let want = (h * 3600.0).round() as u64;
            assert_eq!(
                s.allowed_age(*point).as_secs(),
                want,
                "{}: from {point}",
                c.name
            );
        }
        if c.steady {
            let mut ends = c.ends.clone();
            ends.sort();
            for w in ends.windows(2) {
                let allowed = chrono::Duration::from_std(s.allowed_age(w[0])).unwrap();
                assert!(
                    w[1] - w[0] <= allowed,
                    "{}: {} to {} pages",
                    c.name,
                    w[0],
                    w[1]
                );
            }
        }
    }
}

/// Whether a restore point captured at `point` is beyond its allowance at `now`.
fn pages(s: &Schedule, point: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - point > chrono::Duration::from_std(s.allowed_age(point)).unwrap()
}

#[test]
fn weekends_do_not_page_and_a_missed_slot_pages_within_its_grace() {
    let second = chrono::Duration::seconds(1);
    let workdays = Schedule::learn(on(WORKDAYS, 2, 0, 0, 25), beijing()).unwrap();
    // Friday's backup on Monday: fine until the 02:00 slot plus 6 h of slack.
    assert!(!pages(&workdays, lt(25, 2, 0), lt(28, 8, 0)));
    assert!(pages(&workdays, lt(25, 2, 0), lt(28, 8, 0) + second));
    let mwf = Schedule::learn(on(MWF, 2, 0, 0, 25), beijing()).unwrap();
    assert!(!pages(&mwf, lt(25, 2, 0), lt(28, 8, 0)));
    // Wednesday's slot missed: Monday's backup is beyond at Wednesday 02:00 + 4 h.
    assert!(!pages(&mwf, lt(28, 2, 0), lt(30, 6, 0)));
    assert!(pages(&mwf, lt(28, 2, 0), lt(30, 6, 0) + second));
    // The newest (Friday's) unusable: Wednesday's is the restore point, and its
    // allowance ends at Friday's slot plus slack, not Monday's.
    assert!(pages(&mwf, lt(23, 2, 0), lt(25, 6, 0) + second));
}

#[test]
fn days_and_times_are_the_accounts_local_ones() {
    // 02:00 in Beijing is 18:00 UTC the day before: Sunday, Tuesday, Thursday in UTC.
    let ends = on(MWF, 2, 0, 0, 25);
    assert_eq!(ends[0].to_rfc3339(), "2025-08-31T18:00:00+00:00");
    let local = Schedule::learn(ends.clone(), beijing()).unwrap();
    assert_eq!(
        local.to_string(),
        "Mon,Wed,Fri at 02:00 +08:00 (typical gap 48h)"
    );
    let utc = Schedule::learn(ends, FixedOffset::east_opt(0).unwrap()).unwrap();
    assert_eq!(
        utc.to_string(),
        "Tue,Thu,Sun at 18:00 +00:00 (typical gap 48h)"
    );
    // The same instants either way.
    for p in [lt(21, 2, 0), lt(25, 2, 0), lt(25, 1, 40)] {
        assert_eq!(local.allowed_age(p), utc.allowed_age(p));
    }
}

fn backup(id: &str, status: &str, mode: &str, end: DateTime<Utc>) -> Backup {
    Backup {
        id: id.into(),
        status: status.into(),
        mode: mode.into(),
        backup_type: "full-backup".into(),
        size: Some(1024),
        start: Some(end - chrono::Duration::minutes(20)),
        end: Some(end),
    }
}

#[test]
fn manual_and_failed_backups_are_not_runs_of_the_schedule() {
    let ends = on(MWF, 2, 0, 0, 25);
    let mut listed: Vec<Backup> = ends
        .iter()
        .enumerate()
        .map(|(i, e)| backup(&format!("a{i}"), "finished", "auto", *e))
        .collect();
    // A manual backup on Tuesday at noon, failed automatic runs on Tuesday and
    // Thursday nights (CDS gives failed ones an EndTime too), and one still running.
    listed.push(backup("m", "finished", "manual", lt(22, 12, 0)));
    listed.push(backup("f1", "failed", "auto", lt(22, 2, 0)));
    listed.push(backup("f2", "failed", "auto", lt(24, 2, 0)));
    let mut running = backup("r", "running", "auto", lt(26, 2, 0));
    running.end = None;
    listed.push(running);
    let learned = schedule_of(&listed, beijing()).unwrap();
    assert_eq!(Some(&learned), Schedule::learn(ends, beijing()).as_ref());
    assert_eq!(
        learned.to_string(),
        "Mon,Wed,Fri at 02:00 +08:00 (typical gap 48h)"
    );
    // From Friday, Monday's slot: 78 h, as without them.
    assert_eq!(learned.allowed_age(lt(25, 2, 0)).as_secs(), 78 * 3600);
}

/// The first number of runs of `new` (after `old`) from which on the shape learned
/// (days and time of day) is the one learned from `new` alone.
fn runs_to_follow(old: Vec<DateTime<Utc>>, new: Vec<DateTime<Utc>>) -> Option<usize> {
    let shape = |ends: Vec<DateTime<Utc>>| Schedule::learn(ends, beijing()).map(|s| s.shape());
    let target = shape(new.clone());
    let at = |n: usize| shape(old.iter().chain(&new[..n]).copied().collect());
    (1..=new.len()).find(|n| (*n..=new.len()).all(|m| at(m) == target))
}

#[test]
fn a_changed_schedule_is_followed_within_ten_runs() {
    // The typical interval is a median of the newest eleven gaps and moves on its own.
    // Daily for four weeks, then Mon/Wed/Fri from day 28: the dropped days leave
    // once their last runs are two weeks old.
    let daily = on(ALL, 2, 0, 0, 27);
    assert_eq!(
        runs_to_follow(daily.clone(), on(MWF, 2, 0, 28, 70)),
        Some(7)
    );
    // Mon/Wed/Fri, then daily: each new day counts from its first run (a week), so
    // while it changes the allowance is never shorter than the new schedule's.
    let mwf = on(MWF, 2, 0, 0, 27);
    assert_eq!(runs_to_follow(mwf, on(ALL, 2, 0, 28, 70)), Some(7));
    // A new time of day (02:00 to 14:00): two runs.
    assert_eq!(
        runs_to_follow(daily.clone(), on(ALL, 14, 0, 28, 70)),
        Some(2)
    );
    // Mon–Fri, then weekly on Wednesday: the third weekly run, two weeks on.
    let work = on(WORKDAYS, 2, 0, 0, 27);
    assert_eq!(runs_to_follow(work, on(&[Wed], 2, 0, 28, 120)), Some(3));
    // Daily, then every 6 h: the median of ten gaps is 6 h from the sixth run (the
    // first run's gap is 6 h too; after five, the two middle gaps average 15 h).
    let six: Vec<_> = (1..=40)
        .map(|i| lt(27, 2, 0) + chrono::Duration::hours(6 * i))
        .collect();
    let mut ends = daily.clone();
    let learned: Vec<u64> = six
        .iter()
        .map(|e| {
            ends.push(*e);
            Schedule::learn(ends.clone(), beijing())
                .map(|s| s.interval().as_secs() / 3600)
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(learned[..7], [24, 24, 24, 24, 15, 6, 6]);
    assert_eq!(
        Schedule::learn(ends, beijing()).map(|s| s.shape()),
        Some(Shape::Every)
    );
}
