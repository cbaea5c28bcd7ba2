//! How old a shard's restore point may get: the `staleness:` rules of the
//! configuration, else the schedule learned from the shard's own history
//! ([`cadence`]: until the next expected run, plus slack), else 26 hours.
//!
//! Pure functions of their inputs, so the poller stays the only place with a clock.
//! The age is measured from a point in time the caller chooses: a backup's EndTime
//! (when it became restorable, the only time CDS gives for every finished backup), or
//! when its data was captured where the dump says.

pub mod cadence;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::cds::Instance;
use crate::config::StalenessRule;

pub use cadence::{
    expected_interval, learned_max_age, schedule_of, Schedule, Shape, WeekdaySet, CADENCE_WINDOW,
    MIN_BACKUPS, MIN_SLACK,
};

/// Without a rule and without a learned cadence: a daily backup plus two hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(26 * 3600);

/// Where a shard's maximum age came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `staleness[i]`, the first rule that matched.
    Rule(usize),
    Learned,
    Default,
}

/// How old a restore point of a shard of `instance` (watched through `account`)
/// captured at `point` may get, and why: the first matching rule's fixed age, else the
/// learned schedule's allowance from `point` (until the next run expected after it,
/// plus slack; the typical one when there is no point), else [`DEFAULT_MAX_AGE`].
pub fn max_age(
    rules: &[StalenessRule],
    account: &str,
    instance: &Instance,
    learned: Option<&Schedule>,
    point: Option<DateTime<Utc>>,
) -> (Duration, Source) {
    if let Some((i, rule)) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| r.matchers.matches(account, instance))
    {
        return (rule.max_age, Source::Rule(i));
    }
    match (learned, point) {
        (Some(s), Some(point)) => (s.allowed_age(point), Source::Learned),
        (Some(s), None) => (s.typical_allowance(), Source::Learned),
        (None, _) => (DEFAULT_MAX_AGE, Source::Default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

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
        let h = |n: i64| Utc.timestamp_opt(1_790_000_000 + n * 3600, 0).single();
        let utc = FixedOffset::east_opt(0);
        let learn = |step: i64| {
            let ends = (0..8).filter_map(|i| h(-i * step));
            utc.and_then(|z| Schedule::learn(ends, z))
        };
        let (day, six) = (learn(24), learn(6));
        let newest = h(0);
        let got = |account, i: &Instance, learned: Option<&Schedule>, point| {
            let (d, s) = max_age(&rules, account, i, learned, point);
            (d.as_secs() / 3600, s)
        };
        let x = instance("x", &[]);
        assert_eq!(
            got(
                "main",
                &instance("orders-1", &["prod"]),
                day.as_ref(),
                newest
            ),
            (8, Source::Rule(0))
        );
        assert_eq!(
            got(
                "main",
                &instance("carts", &["team", "prod"]),
                day.as_ref(),
                newest
            ),
            (30, Source::Rule(1))
        );
        assert_eq!(got("lab", &x, None, newest), (192, Source::Rule(2)));
        assert_eq!(got("main", &x, six.as_ref(), newest), (8, Source::Learned));
        assert_eq!(got("main", &x, day.as_ref(), newest), (26, Source::Learned));
        // From an older point, the allowance reaches the next run after that point.
        assert_eq!(got("main", &x, day.as_ref(), h(-48)), (26, Source::Learned));
        assert_eq!(got("main", &x, day.as_ref(), h(-30)), (8, Source::Learned));
        assert_eq!(got("main", &x, day.as_ref(), None), (26, Source::Learned));
        assert_eq!(got("main", &x, None, newest), (26, Source::Default));
    }
}
