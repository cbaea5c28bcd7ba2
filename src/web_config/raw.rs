//! The web config file as written, in the Prometheus exporter-toolkit format: serde
//! structs that reject unknown keys (a misspelt security setting must not be silently
//! ignored) and keep values as text, so validation in [`super`] reports every problem.

use std::collections::BTreeMap;

use serde::Deserialize;

// No Debug: it would print the password hashes.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    pub tls_server_config: Option<RawTls>,
    pub http_server_config: Option<RawHttp>,
    /// User name → bcrypt hash. Sorted, so problems come out in a stable order.
    pub basic_auth_users: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub client_auth_type: Option<String>,
    pub client_ca_file: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub cipher_suites: Option<Vec<String>>,
    pub curve_preferences: Option<Vec<String>>,
    pub prefer_server_cipher_suites: Option<bool>,
}

impl RawTls {
    /// exporter-toolkit serves plain HTTP when the TLS section is there but empty.
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_none()
            && self.key_file.is_none()
            && self.client_auth_type.is_none()
            && self.client_ca_file.is_none()
            && self.min_version.is_none()
            && self.max_version.is_none()
            && self.cipher_suites.is_none()
            && self.curve_preferences.is_none()
            && self.prefer_server_cipher_suites.is_none()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub http2: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
}
