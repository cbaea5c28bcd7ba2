//! Configuration: `config.yaml` parsed into a YAML tree, checked and `${VAR}`-expanded
//! in [`tree`], read into [`raw`] structs, then validated into [`Config`].
//!
//! No step stops at the first problem: unknown keys, values of the wrong type and
//! invalid values are all collected, each with its key path
//! (`accounts[1].backups[0].backup_id`), so a user fixes the file in one pass. Secrets
//! never appear in a message.

mod drill;
mod raw;
mod tree;
mod validate;

pub mod doc;

use std::path::Path;
use std::time::Duration;

use chrono::FixedOffset;
use reqwest::Url;

use crate::cds::{InstanceFilter, Secret, UrlType};
pub use crate::problem::{Problem, Problems};
pub use drill::{DataChecks, DrillConfig, DrillPick, DrillRule, KeyCheck, MinKeys};

/// Environment variables consulted for accounts that leave credentials out.
pub(crate) const ENV_ACCESS_KEY_ID: &str = "CDS_ACCESS_KEY_ID";
pub(crate) const ENV_ACCESS_KEY_SECRET: &str = "CDS_ACCESS_KEY_SECRET";

/// Regional endpoints, also accepted by these short names.
pub(crate) const REGIONS: [(&str, &str); 3] = [
    ("cn", "https://cdsapi.capitalonline.net"),
    ("asia", "https://cdsapi-asia.capitalonline.net"),
    ("us", "https://cdsapi-us.capitalonline.net"),
];

/// What `config.yaml` says, validated. Comparable, so a reload that changes nothing
/// changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub poll: PollConfig,
    pub probe: ProbeConfig,
    pub accounts: Vec<Account>,
    /// `staleness:`, in file order: the first rule that matches a shard's instance
    /// gives its maximum backup age.
    pub staleness: Vec<StalenessRule>,
    pub verify: VerifyConfig,
    /// `drill:` (restore drills; off by default).
    pub drill: DrillConfig,
}

/// How much of a backup's content is checked ([`crate::rdb`]).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    #[default]
    Off,
    /// The head and the tail of the object: two ranged GETs.
    Light,
    /// The whole object, streamed once.
    Full,
}

impl VerifyLevel {
    pub const ALL: [VerifyLevel; 3] = [VerifyLevel::Off, VerifyLevel::Light, VerifyLevel::Full];

    pub fn as_str(self) -> &'static str {
        match self {
            VerifyLevel::Off => "off",
            VerifyLevel::Light => "light",
            VerifyLevel::Full => "full",
        }
    }
}

/// `verify.rules` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyRule {
    pub matchers: Matchers,
    pub level: VerifyLevel,
}

/// `verify:`. Defaults keep egress small: light checks (about 64 KiB per new backup)
/// for every instance, full ones only where a rule asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// For instances no rule matches.
    pub level: VerifyLevel,
    pub rules: Vec<VerifyRule>,
    /// Which download URL to try first; the next one if it cannot be reached.
    pub url_types: Vec<UrlType>,
    /// Verifications running at once.
    pub concurrency: usize,
    /// Bytes per second across all verification downloads.
    pub max_bandwidth: u64,
    /// Larger objects are not downloaded whole (`too_large`).
    pub max_size: u64,
    /// Bytes downloaded per UTC day at most; past it, verifications wait for the next day.
    pub daily_budget: u64,
    /// Deadline of one verification.
    pub timeout: Duration,
    /// Where results are kept across restarts; none: kept in memory only.
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            level: VerifyLevel::Light,
            rules: Vec::new(),
            url_types: vec![UrlType::Intranet, UrlType::Public],
            concurrency: 1,
            max_bandwidth: 8 << 20,
            max_size: 4 << 30,
            daily_budget: 20 << 30,
            timeout: Duration::from_secs(3600),
            state_file: None,
        }
    }
}

impl VerifyConfig {
    /// The level for `instance`: the first matching rule's, else `level`.
    pub fn level_for(&self, account: &str, instance: &crate::cds::Instance) -> VerifyLevel {
        self.rules
            .iter()
            .find(|r| r.matchers.matches(account, instance))
            .map_or(self.level, |r| r.level)
    }
}

/// Which instances a rule is for. Every matcher given must match; none matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers {
    pub account: Option<String>,
    /// One of the instance's CDS tag names, exactly.
    pub tag: Option<String>,
    /// A glob over the instance name (`*`, `?`, `[a-z]`).
    pub instance_name: Option<glob::Pattern>,
    pub instance_uuid: Option<String>,
}

impl Matchers {
    /// Whether `instance`, watched through `account`, is one of these.
    pub fn matches(&self, account: &str, instance: &crate::cds::Instance) -> bool {
        self.account.as_deref().is_none_or(|a| a == account)
            && self
                .instance_uuid
                .as_deref()
                .is_none_or(|u| u == instance.uuid)
            && self
                .tag
                .as_deref()
                .is_none_or(|t| instance.tags.iter().any(|have| have == t))
            && self
                .instance_name
                .as_ref()
                .is_none_or(|p| p.matches(&instance.name))
    }
}

/// One `staleness:` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalenessRule {
    pub matchers: Matchers,
    pub max_age: Duration,
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
    /// Per instance and cycle, how many unfinished backups (newer than the newest
    /// finished one) to look up, newest first; the rest are counted as skipped.
    pub max_unfinished_backups: usize,
    /// Retries after the first attempt of a call that failed transiently (0-10).
    pub max_retries: u32,
    /// Delay before the first retry; it grows up to `retry_max_backoff`.
    pub retry_backoff: Duration,
    pub retry_max_backoff: Duration,
    /// CDS API requests per second across all accounts; `None` is unlimited.
    pub rate_limit: Option<f64>,
    /// Larger CDS API answers are rejected.
    pub max_response_bytes: u64,
    /// How long a target's last values are still served while its calls keep failing,
    /// before its series are dropped.
    pub stale_after: Duration,
    /// How long an instance that vanished from discovery is still reported as vanished.
    pub forget_vanished_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    pub enabled: bool,
    /// Probes in flight at once, across all accounts.
    pub concurrency: usize,
    pub url_types: Vec<UrlType>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
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
            max_unfinished_backups: 10,
            max_retries: 2,
            retry_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(30),
            rate_limit: None,
            max_response_bytes: 8 << 20,
            // max(1h, 3 × interval), as when the file leaves it out.
            stale_after: Duration::from_secs(3600),
            forget_vanished_after: Duration::from_secs(24 * 3600),
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
    Read {
        path: String,
        error: crate::input::ReadError,
    },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), Problems(problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

/// The access key id of the examples (and of the vendor's signing documentation).
pub const EXAMPLE_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";

/// An account that uses the example access key; `Display` is the one-line warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleKey {
    pub account: String,
    /// Its position in `accounts`, for the key path.
    pub index: usize,
    pub access_key_id: String,
}

impl std::fmt::Display for ExampleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "account {} uses the example access key {} (accounts[{}].access_key_id), which CDS refuses: give your own, e.g. access_key_id: ${{{ENV_ACCESS_KEY_ID}}} and access_key_secret: ${{{ENV_ACCESS_KEY_SECRET}}} with both exported",
            self.account, self.access_key_id, self.index
        )
    }
}

impl Config {
    /// Reads and validates `path`; `env` looks up environment variables (`${VAR}` in
    /// values, and credentials an account leaves out).
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = crate::input::read_text(path).map_err(|error| ConfigError::Read {
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
        // Ranking every key path, to list problems in file order, costs more than the
        // rest of validating a large file (100,000 instances); a valid file needs no
        // ranking, so it is done only when there are problems to list.
        match Self::parse_ranked(text, path, env, false) {
            Err(ConfigError::Invalid { .. }) => Self::parse_ranked(text, path, env, true),
            done => done,
        }
    }

    fn parse_ranked(
        text: &str,
        path: &str,
        env: &dyn Fn(&str) -> Option<String>,
        rank: bool,
    ) -> Result<Config, ConfigError> {
        let syntax = |message: String| ConfigError::Syntax {
            path: path.to_owned(),
            message,
        };
        crate::input::check_yaml_depth(text).map_err(|e| syntax(e.to_string()))?;
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| syntax(e.to_string()))?;
        // `<<: *defaults` shares settings between accounts.
        value.apply_merge().map_err(|e| syntax(e.to_string()))?;
        if !(value.is_mapping() || value.is_null()) {
            return Err(syntax(
                "the top level must be a mapping of keys (poll:, probe:, accounts:, staleness:, verify:, drill:)"
                    .to_owned(),
            ));
        }
        let mut found = tree::prepare(&mut value, env, rank);
        let raw = tree::deserialize(value, &mut found);
        found.sort();
        let mut problems = found.problems;
        let mut secrets = found.secrets;
        secrets.extend(env(ENV_ACCESS_KEY_SECRET));
        let config = raw.map(|raw| {
            let mut v = validate::Validator::default();
            let config = v.config(raw, env);
            problems.extend(
                v.problems
                    .into_iter()
                    .filter(|p| !found.dropped.iter().any(|d| d.explains(&p.path))),
            );
            secrets.extend(v.secrets);
            config
        });
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: redact(problems, &secrets),
            }),
        }
    }

    /// The accounts configured with the example access key of the shipped
    /// `config.yaml`, which CDS refuses: valid YAML, but not what anyone means to run.
    pub fn example_credentials(&self) -> Vec<ExampleKey> {
        self.accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.access_key_id.starts_with(EXAMPLE_ACCESS_KEY_ID))
            .map(|(index, a)| ExampleKey {
                account: a.name.clone(),
                index,
                access_key_id: a.access_key_id.clone(),
            })
            .collect()
    }

    /// A few lines for `--config.check`: what will be polled, and how. No secrets.
    pub fn summary(&self) -> String {
        let p = &self.poll;
        let rate = match p.rate_limit {
            Some(r) => format!("at most {r} requests/s"),
            None => "no rate limit".to_owned(),
        };
        let probe = if self.probe.enabled {
            let types: Vec<&str> = self.probe.url_types.iter().map(|t| t.as_str()).collect();
            format!("on ({})", types.join(", "))
        } else {
            "off".to_owned()
        };
        let mut out = format!(
            "{} account(s); poll every {} ({} calls in flight, {} retries, {rate}); probe {probe}",
            self.accounts.len(),
            humantime::format_duration(p.interval),
            p.concurrency,
            p.max_retries,
        );
        for a in &self.accounts {
            let host = a.endpoint.host_str().unwrap_or("?");
            let port = a
                .endpoint
                .port()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            let discovery = match &a.discovery {
                None => "no discovery".to_owned(),
                Some(f) => {
                    let mut filters = Vec::new();
                    if let Some(t) = &f.tag_name {
                        filters.push(format!("tag_name {t:?}"));
                    }
                    if let Some(n) = &f.instance_name {
                        filters.push(format!("instance_name {n:?}"));
                    }
                    if filters.is_empty() {
                        "discovery of every instance".to_owned()
                    } else {
                        format!("discovery by {}", filters.join(" and "))
                    }
                }
            };
            out.push_str(&format!(
                "\n  - {}: {host}{port}, {} backup(s), {} instance(s), {discovery}",
                a.name,
                a.backups.len(),
                a.instances.len(),
            ));
        }
        out
    }
}

/// Belt and braces: whatever a message says, a secret's value is not part of it.
/// Very short values are left alone, as hiding them would garble messages.
fn redact(problems: Vec<Problem>, secrets: &[String]) -> Vec<Problem> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(|s| s.trim())
        .filter(|s| s.chars().count() >= 4)
        .collect();
    problems
        .into_iter()
        .map(|mut p| {
            for s in &secrets {
                if p.message.contains(s) {
                    p.message = p.message.replace(s, "<redacted>");
                }
                if p.path.contains(s) {
                    p.path = p.path.replace(s, "<redacted>");
                }
            }
            p
        })
        .collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
#[cfg(test)]
#[path = "tests_errors.rs"]
mod tests_errors;
#[cfg(test)]
#[path = "tests_prop.rs"]
mod tests_prop;
