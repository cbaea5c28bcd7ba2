//! Turns [`RawConfig`] into [`Config`], checking every value and collecting every
//! problem with its key path instead of stopping at the first.

use std::collections::HashSet;
use std::time::Duration;

use chrono::FixedOffset;
use reqwest::Url;

use super::raw::{RawAccount, RawConfig, RawPoll, RawSize};
use super::{
    Account, BackupTarget, Config, PollConfig, ProbeConfig, Problem, UrlType, WebConfig,
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, REGIONS,
};
use crate::cds::{InstanceFilter, Secret};

/// Bounds of `poll.max_response_size`.
const MIN_RESPONSE_BYTES: u64 = 1 << 10;
const MAX_RESPONSE_BYTES: u64 = 1 << 30;
/// Upper bound of `poll.rate_limit`, requests per second.
const MAX_RATE_LIMIT: f64 = 10_000.0;

#[derive(Default)]
pub struct Validator {
    pub problems: Vec<Problem>,
    /// Secrets read from files, to keep out of every message.
    pub secrets: Vec<String>,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(
        &mut self,
        path: &str,
        raw: Option<String>,
        default: Duration,
        min: Duration,
    ) -> Duration {
        let Some(text) = raw else { return default };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d >= min => d,
            Ok(_) => {
                self.problem(
                    path,
                    format!(
                        "{text:?} is too short; use at least {}",
                        humantime::format_duration(min)
                    ),
                );
                default
            }
            Err(_) => {
                self.problem(
                    path,
                    format!("{text:?} is not a duration; write e.g. 500ms, 30s, 5m or 1h"),
                );
                default
            }
        }
    }

    fn count<T: TryFrom<i64> + Copy>(
        &mut self,
        path: &str,
        raw: Option<i64>,
        default: T,
        range: std::ops::RangeInclusive<i64>,
    ) -> T {
        match raw {
            None => default,
            Some(n) if range.contains(&n) => T::try_from(n).unwrap_or(default),
            Some(n) => {
                self.problem(
                    path,
                    format!(
                        "{n} is out of range; use {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

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

    fn poll(&mut self, p: RawPoll) -> PollConfig {
        let d = PollConfig::default();
        let (interval, interval_ok) = self.checked_duration(
            "poll.interval",
            p.interval,
            d.interval,
            Duration::from_secs(1),
        );
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
        let stale_text = p.stale_after.clone();
        let (stale_after, stale_ok) = self.checked_duration(
            "poll.stale_after",
            p.stale_after,
            interval.saturating_mul(3),
            Duration::ZERO,
        );
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
        PollConfig {
            interval,
            concurrency: self.count("poll.concurrency", p.concurrency, d.concurrency, 1..=256),
            request_timeout: self.duration(
                "poll.request_timeout",
                p.request_timeout,
                d.request_timeout,
                Duration::from_millis(100),
            ),
            start_jitter: self.duration(
                "poll.start_jitter",
                p.start_jitter,
                d.start_jitter,
                Duration::ZERO,
            ),
            extra_backups: self.count(
                "poll.extra_backups",
                p.extra_backups,
                d.extra_backups,
                0..=100,
            ),
            max_shard_lookups: self.count(
                "poll.max_shard_lookups",
                p.max_shard_lookups,
                d.max_shard_lookups,
                1..=1000,
            ),
            max_retries: self.count("poll.max_retries", p.max_retries, d.max_retries, 0..=10),
            retry_backoff,
            retry_max_backoff,
            rate_limit: self.rate_limit(p.rate_limit),
            max_response_bytes: self.size(
                "poll.max_response_size",
                p.max_response_size,
                d.max_response_bytes,
            ),
            stale_after,
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

    fn size(&mut self, path: &str, raw: Option<RawSize>, default: u64) -> u64 {
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
            Some(n) if (MIN_RESPONSE_BYTES..=MAX_RESPONSE_BYTES).contains(&n) => n,
            _ => {
                self.problem(path, format!("{shown} is out of range; use 1KiB to 1GiB"));
                default
            }
        }
    }

    pub fn config(&mut self, raw: RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Config {
        let poll = self.poll(raw.poll);
        let dp = ProbeConfig::default();
        let mut url_types = Vec::new();
        for (i, t) in raw
            .probe
            .url_types
            .clone()
            .unwrap_or_else(|| vec!["public".into()])
            .iter()
            .enumerate()
        {
            let parsed = match t.as_str() {
                "public" => UrlType::Public,
                "intranet" => UrlType::Intranet,
                other => {
                    self.problem(
                        format!("probe.url_types[{i}]"),
                        format!("{other:?} is not a URL type; use public or intranet"),
                    );
                    continue;
                }
            };
            if url_types.contains(&parsed) {
                self.problem(
                    format!("probe.url_types[{i}]"),
                    format!("{t:?} is listed twice"),
                );
            } else {
                url_types.push(parsed);
            }
        }
        let enabled = raw.probe.enabled.unwrap_or(dp.enabled);
        if enabled && raw.probe.url_types.as_ref().is_some_and(Vec::is_empty) {
            self.problem(
                "probe.url_types",
                "is empty; list public and/or intranet, or set probe.enabled: false",
            );
        }
        let probe = ProbeConfig {
            enabled,
            concurrency: self.count(
                "probe.concurrency",
                raw.probe.concurrency,
                dp.concurrency,
                1..=256,
            ),
            url_types,
            timeout: self.duration(
                "probe.timeout",
                raw.probe.timeout,
                dp.timeout,
                Duration::from_millis(100),
            ),
        };
        if raw.accounts.is_empty() {
            self.problem(
                "accounts",
                "no account configured; add at least one with its targets (see the README)",
            );
        }
        let mut names = HashSet::new();
        let accounts = raw
            .accounts
            .into_iter()
            .enumerate()
            .map(|(i, a)| self.account(&format!("accounts[{i}]"), a, env, &mut names))
            .collect();
        Config {
            poll,
            probe,
            accounts,
            web: WebConfig::default(),
        }
    }

    fn required(&mut self, path: &str, value: Option<String>) -> String {
        match value.map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                self.problem(path, "is missing or empty");
                String::new()
            }
        }
    }

    fn account(
        &mut self,
        at: &str,
        a: RawAccount,
        env: &dyn Fn(&str) -> Option<String>,
        names: &mut HashSet<String>,
    ) -> Account {
        let name = self.required(&format!("{at}.name"), a.name);
        if !name.is_empty() && !names.insert(name.clone()) {
            self.problem(
                format!("{at}.name"),
                format!("{name:?} is used by another account; names must be unique"),
            );
        }
        let endpoint = self.endpoint(&format!("{at}.endpoint"), a.endpoint);
        let access_key_id = self.credential(
            &format!("{at}.access_key_id"),
            a.access_key_id,
            ENV_ACCESS_KEY_ID,
            env,
        );
        let secret = self.secret(at, a.access_key_secret, a.access_key_secret_file, env);
        let timezone = self.timezone(&format!("{at}.timezone"), a.timezone);
        let mut seen = HashSet::new();
        let mut backups = Vec::new();
        for (i, b) in a.backups.into_iter().enumerate() {
            let path = format!("{at}.backups[{i}]");
            let t = BackupTarget {
                instance_uuid: self.required(&format!("{path}.instance_uuid"), b.instance_uuid),
                backup_id: self.required(&format!("{path}.backup_id"), b.backup_id),
            };
            if !seen.insert((t.instance_uuid.clone(), t.backup_id.clone())) {
                self.problem(path, "is listed twice");
            }
            backups.push(t);
        }
        let mut instances = Vec::new();
        for (i, t) in a.instances.into_iter().enumerate() {
            let path = format!("{at}.instances[{i}]");
            let uuid = self.required(&format!("{path}.instance_uuid"), t.instance_uuid);
            if instances.contains(&uuid) {
                self.problem(path, "is listed twice");
            }
            instances.push(uuid);
        }
        let discovery = a.discovery.map(|d| InstanceFilter {
            tag_name: d.tag_name.filter(|s| !s.trim().is_empty()),
            instance_name: d.instance_name.filter(|s| !s.trim().is_empty()),
        });
        if backups.is_empty() && instances.is_empty() && discovery.is_none() {
            self.problem(
                at,
                "has nothing to watch; add backups:, instances: or discovery:",
            );
        }
        Account {
            name,
            endpoint,
            access_key_id,
            access_key_secret: Secret::new(secret),
            timezone,
            backups,
            instances,
            discovery,
        }
    }

    fn credential(
        &mut self,
        path: &str,
        value: Option<String>,
        var: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        let also = if var == ENV_ACCESS_KEY_SECRET {
            ", in access_key_secret_file"
        } else {
            ""
        };
        match value.or_else(|| env(var)).map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                self.problem(
                    path,
                    format!("is missing; set it here{also} or in the environment variable {var}"),
                );
                String::new()
            }
        }
    }

    /// `access_key_secret`, else the file `access_key_secret_file` names, else the
    /// environment. Messages name the file and the OS error, never what it holds.
    fn secret(
        &mut self,
        at: &str,
        value: Option<String>,
        file: Option<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        let file_key = format!("{at}.access_key_secret_file");
        let Some(file) = file else {
            return self.credential(
                &format!("{at}.access_key_secret"),
                value,
                ENV_ACCESS_KEY_SECRET,
                env,
            );
        };
        if value.is_some() {
            self.problem(
                file_key,
                "cannot be used together with access_key_secret; keep one of them",
            );
            return String::new();
        }
        let file = file.trim();
        if file.is_empty() {
            self.problem(
                file_key,
                "is empty; give the path of a file holding the secret",
            );
            return String::new();
        }
        match std::fs::read_to_string(file) {
            Ok(content) => {
                let secret = content.trim_end();
                if secret.is_empty() {
                    self.problem(file_key, format!("{file:?} is empty"));
                    return String::new();
                }
                self.secrets.push(secret.to_owned());
                secret.to_owned()
            }
            Err(e) => {
                self.problem(file_key, format!("cannot read {file:?}: {e}"));
                String::new()
            }
        }
    }

    fn endpoint(&mut self, path: &str, value: Option<String>) -> Url {
        let fallback = || Url::parse(REGIONS[0].1).unwrap_or_else(|_| unreachable!("constant URL"));
        let Some(text) = value.map(|s| s.trim().to_owned()) else {
            return fallback();
        };
        if let Some((_, url)) = REGIONS.iter().find(|(name, _)| *name == text) {
            return Url::parse(url).unwrap_or_else(|_| unreachable!("constant URL"));
        }
        match Url::parse(&text) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http")
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none() =>
            {
                u
            }
            Ok(_) => {
                self.problem(path, format!("{text:?} must be an http(s) URL with a host and no query, or one of cn, asia, us"));
                fallback()
            }
            Err(e) => {
                self.problem(path, format!("{text:?} is not a URL ({e}); use e.g. https://cdsapi.capitalonline.net or cn, asia, us"));
                fallback()
            }
        }
    }

    fn timezone(&mut self, path: &str, value: Option<String>) -> FixedOffset {
        let beijing =
            FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("valid offset"));
        let Some(text) = value.map(|s| s.trim().to_owned()) else {
            return beijing;
        };
        if text == "UTC" || text == "Z" {
            return FixedOffset::east_opt(0).unwrap_or(beijing);
        }
        match text.parse::<FixedOffset>() {
            Ok(z) => z,
            Err(_) => {
                // Zone names would need the tz database (a large dependency) and
                // CDS regions do not observe DST, so an offset is all it takes.
                let hint = if text.contains('/') {
                    " (zone names are not supported; Asia/Shanghai is +08:00)"
                } else {
                    ""
                };
                self.problem(
                    path,
                    format!("{text:?} is not a UTC offset; write it like +08:00 or UTC{hint}"),
                );
                beijing
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
    let n: u64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    Some(n.saturating_mul(multiplier))
}
