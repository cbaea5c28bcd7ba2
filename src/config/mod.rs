//! Configuration: `config.yaml` read into [`raw`] structs, then validated into [`Config`].
//!
//! Validation never stops at the first problem: it collects every one with its key path
//! (`accounts[1].backups[0].backup_id`) so a user fixes the file in one pass.

mod raw;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use chrono::FixedOffset;
use reqwest::Url;

use crate::cds::{InstanceFilter, Secret};
use raw::{RawAccount, RawConfig};

/// Environment variables consulted for accounts that leave credentials out.
pub const ENV_ACCESS_KEY_ID: &str = "CDS_ACCESS_KEY_ID";
pub const ENV_ACCESS_KEY_SECRET: &str = "CDS_ACCESS_KEY_SECRET";

/// Regional endpoints, also accepted by these short names.
pub const REGIONS: [(&str, &str); 3] = [
    ("cn", "https://cdsapi.capitalonline.net"),
    ("asia", "https://cdsapi-asia.capitalonline.net"),
    ("us", "https://cdsapi-us.capitalonline.net"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub poll: PollConfig,
    pub probe: ProbeConfig,
    pub accounts: Vec<Account>,
    /// Set from command-line flags, not from the file.
    pub web: WebConfig,
}

/// The HTTP side, set from flags and `--web.config.file`. Not comparable: the security
/// holds TLS keys.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub telemetry_path: String,
    /// TLS and basic auth; plain HTTP without auth by default.
    pub security: std::sync::Arc<crate::web_config::WebSecurity>,
    /// Timeouts and size limits of connections.
    pub limits: crate::server::Limits,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            telemetry_path: "/metrics".to_owned(),
            security: std::sync::Arc::default(),
            limits: crate::server::Limits::default(),
        }
    }
}

impl WebConfig {
    /// Checks a `--web.telemetry-path` value.
    pub fn new(telemetry_path: &str) -> Result<Self, String> {
        if !telemetry_path.starts_with('/')
            || telemetry_path.contains(['?', '#'])
            || ["/", "/-/healthy", "/-/ready"].contains(&telemetry_path)
        {
            return Err(format!(
                "--web.telemetry-path {telemetry_path:?} must be a path starting with / other than /, /-/healthy and /-/ready"
            ));
        }
        Ok(Self {
            telemetry_path: telemetry_path.to_owned(),
            ..Self::default()
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    pub interval: Duration,
    /// CDS API calls in flight at once, across all accounts.
    pub concurrency: usize,
    pub request_timeout: Duration,
    /// The first cycle starts after a random delay up to this, so replicas do not
    /// hit the API in lockstep.
    pub start_jitter: Duration,
    /// Finished backups per instance beyond the newest per shard to fetch and export.
    pub extra_backups: usize,
    /// Per instance and cycle, how many backups of unknown shard to look up.
    pub max_shard_lookups: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub rate_limit: Option<f64>,
    pub max_response_bytes: u64,
    pub stale_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UrlType {
    Public,
    Intranet,
}

impl UrlType {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlType::Public => "public",
            UrlType::Intranet => "intranet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    pub enabled: bool,
    /// Probes in flight at once, across all accounts.
    pub concurrency: usize,
    pub url_types: Vec<UrlType>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub endpoint: Url,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub timezone: FixedOffset,
    pub backups: Vec<BackupTarget>,
    pub instances: Vec<String>,
    pub discovery: Option<InstanceFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTarget {
    pub instance_uuid: String,
    pub backup_id: String,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            concurrency: 8,
            request_timeout: Duration::from_secs(10),
            start_jitter: Duration::from_secs(5),
            extra_backups: 0,
            max_shard_lookups: 10,
            max_retries: 2,
            retry_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(30),
            rate_limit: None,
            max_response_bytes: 16 << 20,
            stale_after: Duration::from_secs(900),
        }
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 8,
            url_types: vec![UrlType::Public],
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why the configuration cannot be used. `Display` gives the whole story.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {path}: {error} (point --config.file at a readable YAML file)"
    )]
    Read { path: String, error: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), Problems(problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

/// One validation problem at one key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {}: {}", p.path, p.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates `path`; `env` looks up credentials' environment variables.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: shown.clone(),
            error,
        })?;
        Self::parse(&text, &shown, env)
    }

    /// Validates YAML text; `path` only names it in errors.
    pub fn parse(
        text: &str,
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        let mut v = Validator::default();
        let config = v.config(raw, env);
        if v.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: v.problems,
            })
        }
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
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

    fn count(
        &mut self,
        path: &str,
        raw: Option<i64>,
        default: usize,
        range: std::ops::RangeInclusive<i64>,
    ) -> usize {
        match raw {
            None => default,
            Some(n) if range.contains(&n) => usize::try_from(n).unwrap_or(default),
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

    fn config(&mut self, raw: RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Config {
        let d = PollConfig::default();
        let p = raw.poll;
        let poll = PollConfig {
            interval: self.duration(
                "poll.interval",
                p.interval,
                d.interval,
                Duration::from_secs(1),
            ),
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
            ..d
        };
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
        let secret = self.credential(
            &format!("{at}.access_key_secret"),
            a.access_key_secret,
            ENV_ACCESS_KEY_SECRET,
            env,
        );
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
        match value.or_else(|| env(var)).map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                self.problem(
                    path,
                    format!("is missing; set it here or in the environment variable {var}"),
                );
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
                self.problem(
                    path,
                    format!("{text:?} is not a UTC offset; write it like +08:00 or UTC"),
                );
                beijing
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

impl Config {
    /// Placeholder until the config rewrite lands.
    pub fn summary(&self) -> String {
        format!("{} account(s)", self.accounts.len())
    }
}
