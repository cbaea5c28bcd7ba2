//! How old a shard's newest finished backup may get: the `staleness:` rules of the
//! configuration, else a cadence learned from the shard's own history, else 26 hours.
//!
//! Pure functions of their inputs, so the poller stays the only place with a clock.
//! The age is measured from a backup's EndTime: that is when it became restorable,
//! and the only time CDS gives for every finished backup (the data itself was
//! captured around StartTime, minutes earlier).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cds::Instance;
use crate::config::StalenessRule;

/// Without a rule and without a learned cadence: a daily backup plus two hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(26 * 3600);
/// A learned cadence allows at least this much lateness.
pub const MIN_SLACK: Duration = Duration::from_secs(2 * 3600);
/// At most this many of the newest backups are looked at, so the cadence follows a
/// changed schedule within about ten runs.
pub const CADENCE_WINDOW: usize = 11;
/// Fewer finished automatic backups than this teach nothing.
pub const MIN_BACKUPS: usize = 3;
/// Ends closer than this are one run (a retried backup, clock skew between shards).
const SAME_RUN: Duration = Duration::from_secs(60);

/// Where a shard's maximum age came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `staleness[i]`, the first rule that matched.
    Rule(usize),
    Learned,
    Default,
}

/// The typical time between runs: the median interval between the EndTimes of the
/// newest [`CADENCE_WINDOW`] finished automatic backups (the caller leaves manual ones
/// out). A median ignores a missed run or an extra one; `None` with fewer than
/// [`MIN_BACKUPS`] distinct runs.
pub fn expected_interval(ends: impl IntoIterator<Item = DateTime<Utc>>) -> Option<Duration> {
    let mut ends: Vec<DateTime<Utc>> = ends.into_iter().collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    let same_run = chrono::Duration::from_std(SAME_RUN).ok()?;
    let mut runs: Vec<DateTime<Utc>> = Vec::with_capacity(CADENCE_WINDOW);
    for end in ends {
        if runs.len() == CADENCE_WINDOW {
            break;
        }
        if runs.last().is_none_or(|last| *last - end >= same_run) {
            runs.push(end);
        }
    }
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

/// The maximum age that a learned `interval` allows: one interval plus a twelfth of it,
/// but at least [`MIN_SLACK`] (daily: 26 h, 6-hourly: 8 h, weekly: 7 d 14 h).
pub fn learned_max_age(interval: Duration) -> Duration {
    interval + (interval / 12).max(MIN_SLACK)
}

/// The maximum age of a shard of `instance` (watched through `account`), and why.
pub fn max_age(
    rules: &[StalenessRule],
    account: &str,
    instance: &Instance,
    learned: Option<Duration>,
) -> (Duration, Source) {
    if let Some((i, rule)) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.matchers.matches(account, instance))
    {
        return (rule.max_age, Source::Rule(i));
    }
    match learned {
        Some(interval) => (learned_max_age(interval), Source::Learned),
        None => (DEFAULT_MAX_AGE, Source::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    fn instance(name: &str, tags: &[&str]) -> Instance {
        Instance {
            uuid: format!("uuid-{name}"),
            name: name.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..Instance::default()
        }
    }

    fn rule(
        account: Option<&str>,
        tag: Option<&str>,
        name: Option<&str>,
        hours: u64,
    ) -> StalenessRule {
        StalenessRule {
            matchers: crate::config::Matchers {
                account: account.map(Into::into),
                tag: tag.map(Into::into),
                instance_name: name.and_then(|n| glob::Pattern::new(n).ok()),
                instance_uuid: None,
            },
            max_age: Duration::from_secs(hours * 3600),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_then_learned_then_default() {
        let rules = vec![
            rule(None, Some("prod"), Some("orders-*"), 8),
            rule(None, Some("prod"), None, 30),
            rule(Some("lab"), None, None, 24 * 8),
        ];
        let day = Some(Duration::from_secs(86_400));
        let six = Some(Duration::from_secs(6 * 3600));
        let got = |account, i: &Instance, learned| {
            let (d, s) = max_age(&rules, account, i, learned);
            (d.as_secs() / 3600, s)
        };
        assert_eq!(
            got("main", &instance("orders-1", &["prod"]), day),
            (8, Source::Rule(0))
        );
        assert_eq!(
            got("main", &instance("carts", &["team", "prod"]), day),
            (30, Source::Rule(1))
        );
        assert_eq!(
            got("lab", &instance("x", &[]), None),
            (192, Source::Rule(2))
        );
        assert_eq!(got("main", &instance("x", &[]), six), (8, Source::Learned));
        assert_eq!(
            got("main", &instance("x", &[]), None),
            (26, Source::Default)
        );
    }
}
