//! The `poll:` section, whose values depend on each other (backoff ceiling, staleness
//! against the interval) and come in more forms (sizes with units, rates).

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawPoll, RawSize};
use crate::config::PollConfig;

/// Bounds of `poll.max_response_size`.
const MIN_RESPONSE_BYTES: u64 = 1 << 10;
const MAX_RESPONSE_BYTES: u64 = 1 << 30;
/// Upper bound of `poll.rate_limit`, requests per second.
const MAX_RATE_LIMIT: f64 = 10_000.0;

impl Validator {
    /// Like [`Self::duration`], also telling whether the value (if any) was usable.
    fn checked_duration(
        &mut self,
        path: &str,
        raw: Option<String>,
        default: Duration,
        min: Duration,
    ) -> (Duration, bool) {
        let before = self.problems.len();
        let d = self.duration(path, raw, default, min);
        (d, self.problems.len() == before)
    }

    /// Checks keys in the order of the file's documentation, so problems come that way.
    pub(super) fn poll(&mut self, p: RawPoll) -> PollConfig {
        let d = PollConfig::default();
        let (interval, interval_ok) = self.checked_duration(
            "poll.interval",
            p.interval,
            d.interval,
            Duration::from_secs(1),
        );
        let concurrency = self.count("poll.concurrency", p.concurrency, d.concurrency, 1..=256);
        let request_timeout = self.duration(
            "poll.request_timeout",
            p.request_timeout,
            d.request_timeout,
            Duration::from_millis(100),
        );
        let start_jitter = self.duration(
            "poll.start_jitter",
            p.start_jitter,
            d.start_jitter,
            Duration::ZERO,
        );
        let extra_backups = self.count(
            "poll.extra_backups",
            p.extra_backups,
            d.extra_backups,
            0..=100,
        );
        let max_shard_lookups = self.count(
            "poll.max_shard_lookups",
            p.max_shard_lookups,
            d.max_shard_lookups,
            1..=1000,
        );
        let max_unfinished_backups = self.count(
            "poll.max_unfinished_backups",
            p.max_unfinished_backups,
            d.max_unfinished_backups,
            1..=1000,
        );
        let max_retries = self.count("poll.max_retries", p.max_retries, d.max_retries, 0..=10);
        let (retry_backoff, backoff_ok) = self.checked_duration(
            "poll.retry_backoff",
            p.retry_backoff,
            d.retry_backoff,
            Duration::from_millis(10),
        );
        let max_backoff_text = p.retry_max_backoff.clone();
        let (retry_max_backoff, max_backoff_ok) = self.checked_duration(
            "poll.retry_max_backoff",
            p.retry_max_backoff,
            d.retry_max_backoff,
            Duration::from_millis(10),
        );
        if backoff_ok && max_backoff_ok && retry_max_backoff < retry_backoff {
            let written = match max_backoff_text {
                Some(text) => format!("{text:?}"),
                None => format!(
                    "the default {}",
                    humantime::format_duration(retry_max_backoff)
                ),
            };
            self.problem(
                "poll.retry_max_backoff",
                format!(
                    "{written} is shorter than poll.retry_backoff ({}); use at least that",
                    humantime::format_duration(retry_backoff)
                ),
            );
        }
        let rate_limit = self.rate_limit(p.rate_limit);
        let max_response_bytes = self.size(
            "poll.max_response_size",
            p.max_response_size,
            d.max_response_bytes,
            (MIN_RESPONSE_BYTES, MAX_RESPONSE_BYTES, "1KiB to 1GiB"),
        );
        let stale_text = p.stale_after.clone();
        let (stale_after, stale_ok) = self.checked_duration(
            "poll.stale_after",
            p.stale_after,
            // Long enough that CdsRedisBackupTargetDown (30 minutes of failures) pages
            // before the failing target's backup series, and their alerts, go away.
            interval.saturating_mul(3).max(Duration::from_secs(3600)),
            Duration::ZERO,
        );
        // Against an interval that was itself wrong, the comparison would say nothing.
        if let (Some(text), true, true) = (stale_text, stale_ok, interval_ok) {
            if stale_after < interval {
                self.problem(
                    "poll.stale_after",
                    format!(
                        "{text:?} is shorter than poll.interval ({}); values must be kept at least one cycle",
                        humantime::format_duration(interval)
                    ),
                );
            }
        }
        let forget_vanished_after = self.duration(
            "poll.forget_vanished_after",
            p.forget_vanished_after,
            d.forget_vanished_after,
            Duration::ZERO,
        );
        PollConfig {
            interval,
            concurrency,
            request_timeout,
            start_jitter,
            extra_backups,
            max_shard_lookups,
            max_unfinished_backups,
            max_retries,
            retry_backoff,
            retry_max_backoff,
            rate_limit,
            max_response_bytes,
            stale_after,
            forget_vanished_after,
        }
    }

    fn rate_limit(&mut self, raw: Option<f64>) -> Option<f64> {
        let r = raw?;
        // Written this way round so that NaN fails too.
        if r > 0.0 && r <= MAX_RATE_LIMIT {
            return Some(r);
        }
        self.problem(
            "poll.rate_limit",
            format!("{r} is out of range; use a number of requests per second above 0 and at most {MAX_RATE_LIMIT}, or leave it out for no limit"),
        );
        None
    }

    /// A size within `(min, max, how the range is written)`.
    pub(in crate::config) fn size(
        &mut self,
        path: &str,
        raw: Option<RawSize>,
        default: u64,
        (min, max, range): (u64, u64, &str),
    ) -> u64 {
        let (bytes, shown) = match raw {
            None => return default,
            Some(RawSize::Bytes(n)) => (u64::try_from(n).ok(), n.to_string()),
            Some(RawSize::Text(text)) => match parse_size(&text) {
                Some(n) => (Some(n), format!("{text:?}")),
                None => {
                    self.problem(
                        path,
                        format!("{text:?} is not a size; write e.g. 512KiB, 16MiB, 1GiB, 10MB or a number of bytes"),
                    );
                    return default;
                }
            },
        };
        match bytes {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                self.problem(path, format!("{shown} is out of range; use {range}"));
                default
            }
        }
    }
}

/// `16MiB`, `10MB`, `1000kB`, `512 KiB` or a bare number of bytes; `None` if unreadable.
/// Overflow saturates, so that it is reported as out of range rather than unreadable.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return None;
    }
    // Only digits are left, so a parse error is an overflow.
    let n: u64 = number.parse().unwrap_or(u64::MAX);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    Some(n.saturating_mul(multiplier))
}
