//! The configuration file as written: serde structs that keep every value loosely typed
//! (durations, sizes and zones as text), so that validation in [`super`] can report every
//! problem at once with its key path, and [`SCHEMA`], the same shape as data, so that
//! [`super::tree`] can find all unknown keys and expand `${VAR}` before serde sees them.

use serde::Deserialize;

// No Debug: it would print the access key secret.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub poll: RawPoll,
    #[serde(default)]
    pub probe: RawProbe,
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    #[serde(default)]
    pub staleness: Vec<RawStalenessRule>,
    #[serde(default)]
    pub verify: RawVerify,
    #[serde(default)]
    pub drill: super::drill::RawDrill,
}

/// `verify:`: how backups' contents are checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub level: Option<String>,
    #[serde(default)]
    pub rules: Vec<RawVerifyRule>,
    pub url_types: Option<Vec<String>>,
    pub concurrency: Option<i64>,
    pub max_bandwidth: Option<RawSize>,
    pub max_size: Option<RawSize>,
    pub daily_budget: Option<RawSize>,
    pub timeout: Option<String>,
    pub state_file: Option<String>,
}

/// One `verify.rules` entry: matchers and the level for the instances they match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerifyRule {
    pub account: Option<String>,
    pub tag: Option<String>,
    pub instance_name: Option<String>,
    pub instance_uuid: Option<String>,
    pub level: Option<String>,
}

/// The matchers of a rule, gathered for validation.
#[derive(Debug, Default)]
pub struct RawMatchers {
    pub account: Option<String>,
    pub tag: Option<String>,
    pub instance_name: Option<String>,
    pub instance_uuid: Option<String>,
}

/// One `staleness:` rule: matchers (all given ones must match) and the maximum age.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStalenessRule {
    pub account: Option<String>,
    pub tag: Option<String>,
    pub instance_name: Option<String>,
    pub instance_uuid: Option<String>,
    pub max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    pub interval: Option<String>,
    pub concurrency: Option<i64>,
    pub request_timeout: Option<String>,
    pub start_jitter: Option<String>,
    pub extra_backups: Option<i64>,
    pub max_shard_lookups: Option<i64>,
    pub max_unfinished_backups: Option<i64>,
    pub max_retries: Option<i64>,
    pub retry_backoff: Option<String>,
    pub retry_max_backoff: Option<String>,
    pub rate_limit: Option<f64>,
    pub max_response_size: Option<RawSize>,
    pub stale_after: Option<String>,
    pub forget_vanished_after: Option<String>,
}

/// A byte count as written: a bare number of bytes or text with a unit (`16MiB`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub enabled: Option<bool>,
    pub concurrency: Option<i64>,
    pub url_types: Option<Vec<String>>,
    pub timeout: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub name: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub access_key_secret_file: Option<String>,
    pub timezone: Option<String>,
    #[serde(default)]
    pub backups: Vec<RawBackupTarget>,
    #[serde(default)]
    pub instances: Vec<RawInstanceTarget>,
    pub discovery: Option<RawDiscovery>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackupTarget {
    pub instance_uuid: Option<String>,
    pub backup_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstanceTarget {
    pub instance_uuid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscovery {
    pub tag_name: Option<String>,
    pub instance_name: Option<String>,
}

/// What a key of the file holds. Mirrors the structs above; a test keeps them in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Map(&'static [(&'static str, Shape)]),
    List(&'static Shape),
    Leaf(Leaf),
}

/// The kind of a scalar, for type-error messages and for typing an expanded `${VAR}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Text,
    /// Text never quoted in a message.
    Secret,
    Duration,
    Int,
    Float,
    Bool,
    /// A number of bytes or text with a unit.
    Size,
}

pub const POLL: &[(&str, Shape)] = &[
    ("interval", Shape::Leaf(Leaf::Duration)),
    ("concurrency", Shape::Leaf(Leaf::Int)),
    ("request_timeout", Shape::Leaf(Leaf::Duration)),
    ("start_jitter", Shape::Leaf(Leaf::Duration)),
    ("extra_backups", Shape::Leaf(Leaf::Int)),
    ("max_shard_lookups", Shape::Leaf(Leaf::Int)),
    ("max_unfinished_backups", Shape::Leaf(Leaf::Int)),
    ("max_retries", Shape::Leaf(Leaf::Int)),
    ("retry_backoff", Shape::Leaf(Leaf::Duration)),
    ("retry_max_backoff", Shape::Leaf(Leaf::Duration)),
    ("rate_limit", Shape::Leaf(Leaf::Float)),
    ("max_response_size", Shape::Leaf(Leaf::Size)),
    ("stale_after", Shape::Leaf(Leaf::Duration)),
    ("forget_vanished_after", Shape::Leaf(Leaf::Duration)),
];

pub const PROBE: &[(&str, Shape)] = &[
    ("enabled", Shape::Leaf(Leaf::Bool)),
    ("concurrency", Shape::Leaf(Leaf::Int)),
    ("url_types", Shape::List(&Shape::Leaf(Leaf::Text))),
    ("timeout", Shape::Leaf(Leaf::Duration)),
];

pub const BACKUP: &[(&str, Shape)] = &[
    ("instance_uuid", Shape::Leaf(Leaf::Text)),
    ("backup_id", Shape::Leaf(Leaf::Text)),
];

pub const INSTANCE: &[(&str, Shape)] = &[("instance_uuid", Shape::Leaf(Leaf::Text))];

pub const DISCOVERY: &[(&str, Shape)] = &[
    ("tag_name", Shape::Leaf(Leaf::Text)),
    ("instance_name", Shape::Leaf(Leaf::Text)),
];

pub const ACCOUNT: &[(&str, Shape)] = &[
    ("name", Shape::Leaf(Leaf::Text)),
    ("endpoint", Shape::Leaf(Leaf::Text)),
    ("access_key_id", Shape::Leaf(Leaf::Text)),
    ("access_key_secret", Shape::Leaf(Leaf::Secret)),
    ("access_key_secret_file", Shape::Leaf(Leaf::Text)),
    ("timezone", Shape::Leaf(Leaf::Text)),
    ("backups", Shape::List(&Shape::Map(BACKUP))),
    ("instances", Shape::List(&Shape::Map(INSTANCE))),
    ("discovery", Shape::Map(DISCOVERY)),
];

pub const STALENESS_RULE: &[(&str, Shape)] = &[
    ("account", Shape::Leaf(Leaf::Text)),
    ("tag", Shape::Leaf(Leaf::Text)),
    ("instance_name", Shape::Leaf(Leaf::Text)),
    ("instance_uuid", Shape::Leaf(Leaf::Text)),
    ("max_age", Shape::Leaf(Leaf::Duration)),
];

pub const VERIFY_RULE: &[(&str, Shape)] = &[
    ("account", Shape::Leaf(Leaf::Text)),
    ("tag", Shape::Leaf(Leaf::Text)),
    ("instance_name", Shape::Leaf(Leaf::Text)),
    ("instance_uuid", Shape::Leaf(Leaf::Text)),
    ("level", Shape::Leaf(Leaf::Text)),
];

pub const VERIFY: &[(&str, Shape)] = &[
    ("level", Shape::Leaf(Leaf::Text)),
    ("rules", Shape::List(&Shape::Map(VERIFY_RULE))),
    ("url_types", Shape::List(&Shape::Leaf(Leaf::Text))),
    ("concurrency", Shape::Leaf(Leaf::Int)),
    ("max_bandwidth", Shape::Leaf(Leaf::Size)),
    ("max_size", Shape::Leaf(Leaf::Size)),
    ("daily_budget", Shape::Leaf(Leaf::Size)),
    ("timeout", Shape::Leaf(Leaf::Duration)),
    ("state_file", Shape::Leaf(Leaf::Text)),
];

pub const TOP: &[(&str, Shape)] = &[
    ("poll", Shape::Map(POLL)),
    ("probe", Shape::Map(PROBE)),
    ("accounts", Shape::List(&Shape::Map(ACCOUNT))),
    ("staleness", Shape::List(&Shape::Map(STALENESS_RULE))),
    ("verify", Shape::Map(VERIFY)),
    ("drill", Shape::Map(super::drill::DRILL)),
];

/// The whole file.
pub const SCHEMA: Shape = Shape::Map(TOP);
