//! The `verify:` section: levels and rules, which URL to download, and the limits
//! that keep verification's egress and time bounded.

use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawMatchers, RawVerify};
use crate::config::{VerifyConfig, VerifyLevel, VerifyRule};

/// The longest `verify.timeout`: a week, longer than a full check of the largest
/// `verify.max_size` at a usable bandwidth takes, and far from where adding it to a
/// clock could overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

impl Validator {
    fn level(&mut self, at: &str, raw: Option<String>, default: VerifyLevel) -> VerifyLevel {
        let Some(text) = raw else { return default };
        match VerifyLevel::ALL
            .into_iter()
            .find(|l| l.as_str() == text.trim())
        {
            Some(l) => l,
            None => {
                self.problem(
                    at,
                    format!("{text:?} is not a level; use off, light or full"),
                );
                default
            }
        }
    }

    pub(super) fn verify(&mut self, raw: RawVerify) -> VerifyConfig {
        let d = VerifyConfig::default();
        let level = self.level("verify.level", raw.level, d.level);
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let at = format!("verify.rules[{i}]");
            let level = match r.level {
                Some(text) => self.level(&format!("{at}.level"), Some(text), d.level),
                None => {
                    self.problem(format!("{at}.level"), "is missing; use off, light or full");
                    d.level
                }
            };
            let matchers = self.matchers(
                &at,
                RawMatchers {
                    account: r.account,
                    tag: r.tag,
                    instance_name: r.instance_name,
                    instance_uuid: r.instance_uuid,
                },
            );
            rules.push(VerifyRule { matchers, level });
        }
        let url_types = self.url_types("verify.url_types", raw.url_types.as_deref(), &d.url_types);
        if raw.url_types.as_ref().is_some_and(Vec::is_empty) {
            self.problem(
                "verify.url_types",
                "is empty; list intranet and/or public, or set verify.level: off",
            );
        }
        let concurrency = self.count("verify.concurrency", raw.concurrency, d.concurrency, 1..=16);
        let max_bandwidth = self.size(
            "verify.max_bandwidth",
            raw.max_bandwidth,
            d.max_bandwidth,
            (64 << 10, 10 << 30, "64KiB to 10GiB (bytes per second)"),
        );
        let max_size = self.size(
            "verify.max_size",
            raw.max_size,
            d.max_size,
            (1 << 20, 1 << 40, "1MiB to 1TiB"),
        );
        let daily_budget = self.size(
            "verify.daily_budget",
            raw.daily_budget,
            d.daily_budget,
            (1 << 20, 100 << 40, "1MiB to 100TiB"),
        );
        let timeout_text = raw.timeout.clone();
        let mut timeout = self.duration(
            "verify.timeout",
            raw.timeout,
            d.timeout,
            Duration::from_secs(1),
        );
        if timeout > MAX_TIMEOUT {
            let text = timeout_text.unwrap_or_default();
            self.problem(
                "verify.timeout",
                format!(
                    "{text:?} is too long; use at most {}",
                    humantime::format_duration(MAX_TIMEOUT)
                ),
            );
            timeout = d.timeout;
        }
        let state_file = match raw.state_file.map(|s| s.trim().to_owned()) {
            None => None,
            Some(p) if p.is_empty() => {
                self.problem(
                    "verify.state_file",
                    "is empty; give a file path, or leave the key out to keep results in memory",
                );
                None
            }
            Some(p) => Some(std::path::PathBuf::from(p)),
        };
        VerifyConfig {
            level,
            rules,
            url_types,
            concurrency,
            max_bandwidth,
            max_size,
            daily_budget,
            timeout,
            state_file,
        }
    }
}
