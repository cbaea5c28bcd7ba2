//! The schedule a shard's automatic backups follow, learned from their EndTimes: CDS
//! schedules are days of the week plus a time of day in the account's zone, so a median
//! interval alone pages every weekend of a Mon–Fri schedule. Learned here: the typical
//! gap (the median, as exported), and for daily-or-rarer schedules the days of the week
//! that have runs and the time of day, in the account's `timezone`; sub-daily schedules
//! (every 6 h) keep the plain interval.
//!
//! Errors lean towards paging: a weekday not yet seen (less than a week of history)
//! counts as a backup day, and a day dropped from the schedule counts until its last
//! run is two weeks old. Two cases lean the other way: in a history shorter than two
//! weeks, a day whose only slot was missed is taken as not scheduled until it runs
//! again (a later miss that day pages one slot late); and an automatic run at an odd
//! hour on an unscheduled day adds that day for two weeks (pages on it meanwhile).
//! Sub-daily schedules limited to some weekdays are not modelled (their interval is).
//!
//! Pure functions of their inputs: the poller passes the ends and the zone, the policy
//! engine asks how old a restore point captured at a given time may get.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeZone, Timelike, Utc, Weekday};

use crate::cds::Backup;

/// A learned schedule allows at least this much lateness.
pub const MIN_SLACK: Duration = Duration::from_secs(2 * 3600);
/// At most this many of the newest runs give the typical interval, so it follows a
/// changed schedule within about ten runs.
pub const CADENCE_WINDOW: usize = 11;
/// Fewer finished automatic backups than this teach nothing.
pub const MIN_BACKUPS: usize = 3;
/// Ends closer than this are one run (a retried backup, clock skew between shards).
const SAME_RUN: Duration = Duration::from_secs(60);
/// A typical gap shorter than this is a sub-daily schedule: no days of the week.
const SUB_DAILY: Duration = Duration::from_secs(20 * 3600);
/// The days of the week are read from the runs of the newest two weeks: every weekday
/// occurs twice, so one missed run does not drop its day, and a dropped day leaves the
/// schedule within two weeks.
const PATTERN_DAYS: u64 = 14;
/// The time of day is the median of the newest runs' (so a new backup window is followed
/// after two runs, and one late run does not move it).
const TIME_OF_DAY_RUNS: usize = 3;
/// A point in time this close before a slot belongs to that slot's run: a dump's
/// `ctime` is taken when the save starts, minutes before the backup's EndTime.
const OWN_SLOT: Duration = Duration::from_secs(3 * 3600);
/// Ends kept to learn from; a listing longer than this adds nothing.
const MAX_RUNS: usize = 512;

const DAY_SECS: i64 = 86_400;

/// What a shard's automatic backups have been doing, learned from their ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    interval: Duration,
    shape: Shape,
}

/// When runs are expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One run every `interval`, whatever the day (sub-daily schedules, and runs that
    /// fit no days-of-the-week pattern).
    Every,
    /// At `at` seconds after local midnight on `days`, in `zone`.
    Days {
        days: WeekdaySet,
        at: u32,
        zone: FixedOffset,
    },
}

/// A set of days of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeekdaySet(u8);

impl WeekdaySet {
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn insert(&mut self, day: Weekday) {
        self.0 |= 1 << day.num_days_from_monday();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        let mut day = Weekday::Mon;
        (0..7).filter_map(move |_| {
            let d = day;
            day = day.succ();
            self.contains(d).then_some(d)
        })
    }
}

impl FromIterator<Weekday> for WeekdaySet {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        let mut set = WeekdaySet::default();
        for d in iter {
            set.insert(d);
        }
        set
    }
}

/// The schedule of these backups: the finished automatic ones are learned from (manual
/// ones are extra runs, failed ones did not produce anything), `None` with fewer than
/// [`MIN_BACKUPS`] distinct runs.
pub fn schedule_of<'a>(
    backups: impl IntoIterator<Item = &'a Backup>,
    zone: FixedOffset,
) -> Option<Schedule> {
    let ends = backups
        .into_iter()
        .filter(|b| b.is_finished() && b.mode.eq_ignore_ascii_case("auto"))
        .filter_map(|b| b.end);
    Schedule::learn(ends, zone)
}

impl Schedule {
    /// Learns from the ends of finished automatic backups (the caller leaves the others
    /// out; see [`schedule_of`]), with local days and times in `zone`.
    pub fn learn(ends: impl IntoIterator<Item = DateTime<Utc>>, zone: FixedOffset) -> Option<Self> {
        let runs = distinct_runs(ends);
        let interval = median_gap(&runs[..runs.len().min(CADENCE_WINDOW)])?;
        let shape = if interval < SUB_DAILY {
            Shape::Every
        } else {
            days_shape(&runs, zone).unwrap_or(Shape::Every)
        };
        Some(Schedule { interval, shape })
    }

    /// The typical time between runs (the median gap of the newest runs).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// How old a restore point captured (or ended) at `point` may get: until the next
    /// run expected after it, plus slack for lateness — a twelfth of the gap between
    /// that run and the one expected before it, at least [`MIN_SLACK`]. A point just
    /// before a slot (within 3 h: a dump's capture precedes its backup's end) counts as
    /// that slot's run. Without days of the week: one interval plus its slack.
    pub fn allowed_age(&self, point: DateTime<Utc>) -> Duration {
        let Shape::Days { days, at, zone } = self.shape else {
            return learned_max_age(self.interval);
        };
        let slots = Slots { days, at, zone };
        let Some(own) = point.checked_add_signed(chrono_dur(OWN_SLOT)) else {
            return learned_max_age(self.interval);
        };
        let Some(next) = slots.first_after(own) else {
            return learned_max_age(self.interval);
        };
        let gap = slots
            .last_before(next)
            .map(|prev| to_std(next - prev))
            .unwrap_or(self.interval);
        to_std(next - point) + slack(gap)
    }

    /// The allowance of a run at the typical interval (no point in time at hand).
    pub fn typical_allowance(&self) -> Duration {
        learned_max_age(self.interval)
    }
}

impl fmt::Display for Schedule {
    /// `Mon,Wed,Fri at 02:00 +08:00 (typical gap 48h)`, or `every 6h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hours = self.interval.as_secs() as f64 / 3600.0;
        match self.shape {
            Shape::Every => write!(f, "every {hours}h"),
            Shape::Days { days, at, zone } => {
                let names: Vec<String> = days.iter().map(|d| d.to_string()).collect();
                write!(
                    f,
                    "{} at {:02}:{:02} {zone} (typical gap {hours}h)",
                    names.join(","),
                    at / 3600,
                    at % 3600 / 60
                )
            }
        }
    }
}

/// The typical time between runs: the median interval between the EndTimes of the
/// newest [`CADENCE_WINDOW`] finished automatic backups (the caller leaves manual ones
/// out). A median ignores a missed run or an extra one; `None` with fewer than
/// [`MIN_BACKUPS`] distinct runs.
pub fn expected_interval(ends: impl IntoIterator<Item = DateTime<Utc>>) -> Option<Duration> {
    let runs = distinct_runs(ends);
    median_gap(&runs[..runs.len().min(CADENCE_WINDOW)])
}

/// The maximum age that a learned `interval` allows: one interval plus a twelfth of it,
/// but at least [`MIN_SLACK`] (daily: 26 h, 6-hourly: 8 h, weekly: 7 d 14 h).
pub fn learned_max_age(interval: Duration) -> Duration {
    interval + slack(interval)
}

fn slack(gap: Duration) -> Duration {
    (gap / 12).max(MIN_SLACK)
}

/// Newest first, one end per run (ends within [`SAME_RUN`] of a kept one dropped).
fn distinct_runs(ends: impl IntoIterator<Item = DateTime<Utc>>) -> Vec<DateTime<Utc>> {
    let mut ends: Vec<DateTime<Utc>> = ends.into_iter().collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    let same_run = chrono_dur(SAME_RUN);
    let mut runs: Vec<DateTime<Utc>> = Vec::new();
    for end in ends {
        if runs.len() == MAX_RUNS {
            break;
        }
        if runs.last().is_none_or(|last| *last - end >= same_run) {
            runs.push(end);
        }
    }
    runs
}

fn median_gap(runs: &[DateTime<Utc>]) -> Option<Duration> {
    if runs.len() < MIN_BACKUPS {
        return None;
    }
    let mut gaps: Vec<i64> = runs
        .windows(2)
        .map(|w| (w[0] - w[1]).num_seconds())
        .collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let median = if gaps.len().is_multiple_of(2) {
        (gaps[mid - 1] + gaps[mid]) / 2
    } else {
        gaps[mid]
    };
    u64::try_from(median).ok().map(Duration::from_secs)
}

/// The days of the week and time of day of `runs` (newest first), or `None` when they
/// do not follow one: fewer than half of the newest two weeks' gaps go from a run's day
/// to the day the pattern expects next (e.g. every 48 h, which walks through the week).
fn days_shape(runs: &[DateTime<Utc>], zone: FixedOffset) -> Option<Shape> {
    let newest = *runs.first()?;
    let oldest = *runs.last()?;
    let at = time_of_day(&runs[..runs.len().min(TIME_OF_DAY_RUNS)], zone)?;
    let slots = Slots {
        days: WeekdaySet::default(),
        at,
        zone,
    };
    let last_day = slots.day_of(newest);
    // Before the oldest run nothing is known: a weekday not yet seen is kept.
    let first_day = slots
        .day_of(oldest)
        .max(last_day.checked_sub_days(Days::new(PATTERN_DAYS - 1))?);
    let recent: Vec<DateTime<Utc>> = runs
        .iter()
        .copied()
        .take_while(|r| slots.day_of(*r) >= first_day)
        .collect();
    let mut seen = [0u32; 7];
    let mut hit = [0u32; 7];
    let mut day = first_day;
    while day <= last_day {
        let w = day.weekday().num_days_from_monday() as usize;
        seen[w] += 1;
        if recent.iter().any(|r| slots.day_of(*r) == day) {
            hit[w] += 1;
        }
        day = day.succ_opt()?;
    }
    let days: WeekdaySet = (0..7u8)
        .filter(|w| hit[*w as usize] > 0 || seen[*w as usize] == 0)
        .filter_map(|w| Weekday::try_from(w).ok())
        .collect();
    let slots = Slots { days, ..slots };
    if days.is_empty() {
        return None;
    }
    let pairs: Vec<_> = recent.windows(2).collect();
    let fits = pairs
        .iter()
        .filter(|w| slots.next_day(slots.day_of(w[1])) == Some(slots.day_of(w[0])))
        .count();
    (fits * 2 >= pairs.len()).then_some(Shape::Days { days, at, zone })
}

/// The median local time of day of `runs`, on the circle (02:00 and 23:50 are 2 h
/// 10 min apart): the run whose summed distance to the others is least.
fn time_of_day(runs: &[DateTime<Utc>], zone: FixedOffset) -> Option<u32> {
    let secs: Vec<i64> = runs
        .iter()
        .map(|r| {
            let local = r.with_timezone(&zone);
            i64::from(local.num_seconds_from_midnight())
        })
        .collect();
    let dist = |a: i64, b: i64| {
        let d = (a - b).rem_euclid(DAY_SECS);
        d.min(DAY_SECS - d)
    };
    let best = secs
        .iter()
        .min_by_key(|c| secs.iter().map(|x| dist(**c, *x)).sum::<i64>())?;
    u32::try_from(*best).ok()
}

/// The expected runs of a days-of-the-week schedule.
#[derive(Clone, Copy)]
struct Slots {
    days: WeekdaySet,
    at: u32,
    zone: FixedOffset,
}

impl Slots {
    /// The local day whose slot `t` belongs to: the nearest slot, so a run ending a
    /// little after midnight belongs to a 23:50 slot of the day before.
    fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        let shift = chrono::Duration::seconds(i64::from(self.at) - DAY_SECS / 2);
        (t.with_timezone(&self.zone).naive_local() - shift).date()
    }

    fn slot(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(self.at, 0)?;
        self.zone
            .from_local_datetime(&day.and_time(time))
            .single()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first day of the schedule after `day`.
    fn next_day(&self, day: NaiveDate) -> Option<NaiveDate> {
        let mut d = day;
        for _ in 0..7 {
            d = d.succ_opt()?;
            if self.days.contains(d.weekday()) {
                return Some(d);
            }
        }
        None
    }

    /// The first slot strictly after `t`.
    fn first_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut day = t.with_timezone(&self.zone).date_naive().pred_opt()?;
        for _ in 0..9 {
            if self.days.contains(day.weekday()) {
                if let Some(s) = self.slot(day).filter(|s| *s > t) {
                    return Some(s);
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The last slot strictly before `t`.
    fn last_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut day = t.with_timezone(&self.zone).date_naive().succ_opt()?;
        for _ in 0..9 {
            if self.days.contains(day.weekday()) {
                if let Some(s) = self.slot(day).filter(|s| *s < t) {
                    return Some(s);
                }
            }
            day = day.pred_opt()?;
        }
        None
    }
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn to_std(d: chrono::Duration) -> Duration {
    d.to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
#[path = "cadence_tests.rs"]
mod tests;
