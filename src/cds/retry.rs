//! When to try a failed CDS call again, and after how long. Pure: the caller supplies
//! the attempt number and the randomness, so every decision is unit-testable.
//!
//! Transient failures (no connection, a timeout, a connection reset, HTTP 5xx, HTTP 429)
//! are retried with capped exponential backoff and "equal jitter" (half the step fixed,
//! half random), so replicas that failed together do not retry together. Answers that
//! would only fail again (authentication, bad parameters, an undecodable or oversized
//! body) are not retried. A 429's `Retry-After` is a floor, never shortened; when it asks
//! for longer than the backoff cap, the call gives up for this cycle instead.

use std::time::Duration;

use super::CdsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff step; each retry doubles it.
    pub base: Duration,
    /// No wait exceeds this, and a `Retry-After` above it is not waited for.
    pub cap: Duration,
}

/// Why a call is not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure would repeat (authentication, parameters, a bad body).
    Permanent,
    /// `max_retries` retries were made already.
    Exhausted,
    /// The server asked to wait longer than the backoff cap.
    RetryAfterTooLong(Duration),
}

impl RetryPolicy {
    /// The wait before retry number `attempt + 1` after `error` (attempt 0 is the first
    /// call), or why there is none. `random` is uniform in [0, 1).
    pub fn delay(&self, error: &CdsError, attempt: u32, random: f64) -> Result<Duration, GiveUp> {
        if !error.is_transient() {
            return Err(GiveUp::Permanent);
        }
        if attempt >= self.max_retries {
            return Err(GiveUp::Exhausted);
        }
        let step = self
            .base
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
            .min(self.cap);
        let backoff = step / 2 + (step / 2).mul_f64(random.clamp(0.0, 1.0));
        match error.retry_after() {
            Some(after) if after > self.cap => Err(GiveUp::RetryAfterTooLong(after)),
            Some(after) => Ok(after.max(backoff)),
            None => Ok(backoff),
        }
    }
}

/// Reads a `Retry-After` value: delay-seconds, or an HTTP date relative to `now`
/// (a date in the past means "now"). Anything else is ignored, as RFC 9110 allows.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after: Option<u64>) -> CdsError {
        CdsError::Http {
            action: crate::cds::Action::DescribeBackups,
            http_status: status,
            body: "a text/html body of 10 bytes".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        }
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_is_capped() {
        let e = http(503, None);
        let p = policy();
        let ms = |a, r| p.delay(&e, a, r).map(|d| d.as_millis());
        assert_eq!(ms(0, 0.0), Ok(50));
        assert_eq!(ms(0, 0.999_999), Ok(99));
        assert_eq!(ms(1, 0.0), Ok(100));
        assert_eq!(ms(1, 0.5), Ok(150));
        // 400 ms capped to 300
        assert_eq!(ms(2, 0.0), Ok(150));
        assert_eq!(ms(3, 0.0), Err(GiveUp::Exhausted));
        // Huge attempt numbers neither overflow nor exceed the cap.
        let wide = RetryPolicy {
            max_retries: u32::MAX,
            ..p
        };
        assert_eq!(wide.delay(&e, 40, 1.0), Ok(Duration::from_millis(300)));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let p = policy();
        for e in [
            http(500, None),
            http(502, None),
            http(503, None),
            http(429, None),
            CdsError::Timeout {
                action: crate::cds::Action::DownloadBackup,
                timeout: Duration::from_secs(1),
            },
            CdsError::Transport {
                action: crate::cds::Action::DownloadBackup,
                detail: "connection reset".into(),
                connect: false,
            },
        ] {
            assert!(p.delay(&e, 0, 0.0).is_ok(), "{e}");
        }
        let api = |status: u16, code: &str| CdsError::Api {
            action: crate::cds::Action::DownloadBackup,
            http_status: status,
            code: code.into(),
            message: String::new(),
            retry_after: None,
        };
        for e in [
            http(400, None),
            http(404, None),
            api(403, "SignatureDoesNotMatch"),
            api(400, "InvalidParameter"),
            CdsError::Decode {
                action: crate::cds::Action::DownloadBackup,
                http_status: 200,
                detail: "truncated".into(),
            },
            CdsError::TooLarge {
                action: crate::cds::Action::DownloadBackup,
                http_status: 200,
                limit: 10,
            },
        ] {
            assert_eq!(p.delay(&e, 0, 0.0), Err(GiveUp::Permanent), "{e}");
        }
        // A CDS JSON error with a 5xx status is the server's trouble, not ours.
        assert!(p.delay(&api(503, "ServiceUnavailable"), 0, 0.0).is_ok());
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_gives_up() {
        let p = RetryPolicy {
            cap: Duration::from_secs(5),
            ..policy()
        };
        assert_eq!(
            p.delay(&http(429, Some(2)), 0, 0.0),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay(&http(429, Some(0)), 0, 0.0),
            Ok(Duration::from_millis(50))
        );
        assert_eq!(
            p.delay(&http(429, Some(6)), 0, 0.0),
            Err(GiveUp::RetryAfterTooLong(Duration::from_secs(6)))
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
