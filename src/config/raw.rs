//! The configuration file as written: serde structs that reject unknown keys and keep
//! every value loosely typed (durations and zones as text), so that validation in
//! [`super`] can report every problem at once with its key path.

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
