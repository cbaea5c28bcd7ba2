//! Client of the CDS (Capital Online) Redis OpenAPI: signed GET requests, typed answers,
//! typed errors. It knows nothing of Prometheus; callers time and count calls themselves
//! using [`CdsError::code`].

pub mod model;
pub mod sign;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

pub use model::{Backup, BackupDetail, BackupList, Instance, SecretUrl};

/// `code` label value of a successful call.
pub const SUCCESS: &str = "Success";

/// The access key secret. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a call failed. Every variant keeps what an operator needs (action, HTTP status,
/// CDS code and message) and nothing secret: request URLs are stripped from transport
/// errors, and non-JSON bodies are described, never quoted.
#[derive(Debug, thiserror::Error)]
pub enum CdsError {
    #[error("{action}: CDS answered {code}: {message} (HTTP {http_status})")]
    Api {
        action: &'static str,
        http_status: u16,
        code: String,
        message: String,
    },
    #[error("{action}: HTTP {http_status} with {body}, not a CDS JSON answer")]
    Http {
        action: &'static str,
        http_status: u16,
        body: String,
    },
    #[error("{action}: cannot decode the answer (HTTP {http_status}): {detail}")]
    Decode {
        action: &'static str,
        http_status: u16,
        detail: String,
    },
    #[error("{action}: no answer within {timeout:?}")]
    Timeout {
        action: &'static str,
        timeout: Duration,
    },
    #[error("{action}: request failed: {detail}")]
    Transport {
        action: &'static str,
        detail: String,
    },
}

impl CdsError {
    /// A short, stable, low-cardinality word for metric labels: the CDS code when CDS
    /// gave one, otherwise `http_error`, `decode_error`, `timeout` or `transport_error`.
    pub fn code(&self) -> &str {
        match self {
            // A misbehaving server could send anything as Code; keep labels bounded.
            CdsError::Api { code, .. } if is_label_safe(code) => code,
            CdsError::Api { .. } => "invalid_code",
            CdsError::Http { .. } => "http_error",
            CdsError::Decode { .. } => "decode_error",
            CdsError::Timeout { .. } => "timeout",
            CdsError::Transport { .. } => "transport_error",
        }
    }
}

fn is_label_safe(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Optional filters of `DescribeDBInstances`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub tag_name: Option<String>,
    pub instance_name: Option<String>,
}

/// One account's connection: endpoint, credentials, zone of its timestamps.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `{base}/redis/`, where the Redis product's actions live.
    url: reqwest::Url,
    access_key_id: String,
    secret: Secret,
    timezone: FixedOffset,
    timeout: Duration,
}

/// Builds the query string of one signed request. Pure: the caller supplies nonce and
/// timestamp, so it is testable and the same for client and fake.
pub fn signed_query(
    action: &str,
    params: &[(&str, &str)],
    access_key_id: &str,
    secret: &Secret,
    nonce: &str,
    timestamp: DateTime<Utc>,
) -> String {
    let mut all: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in [
        ("Action", action),
        ("AccessKeyId", access_key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("Version", "2019-08-08"),
    ] {
        all.insert(k.to_owned(), v.to_owned());
    }
    all.insert(
        "Timestamp".to_owned(),
        timestamp.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let signature = sign::signature(secret.expose(), &all);
    format!(
        "{}&Signature={}",
        sign::canonical_query(&all),
        sign::encode(&signature)
    )
}

impl Client {
    /// `base` is the regional endpoint (e.g. `https://cdsapi.capitalonline.net`) or any
    /// URL serving the same API; the Redis actions are requested under `{base}/redis/`.
    pub fn new(
        http: reqwest::Client,
        base: &reqwest::Url,
        access_key_id: String,
        secret: Secret,
        timezone: FixedOffset,
        timeout: Duration,
    ) -> Self {
        let mut url = base.clone();
        let path = format!("{}/redis/", base.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        Self {
            http,
            url,
            access_key_id,
            secret,
            timezone,
            timeout,
        }
    }

    /// The zone in which this account's answers give times.
    pub fn timezone(&self) -> FixedOffset {
        self.timezone
    }

    async fn call(&self, action: &'static str, params: &[(&str, &str)]) -> Result<Value, CdsError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let query = signed_query(
            action,
            params,
            &self.access_key_id,
            &self.secret,
            &nonce,
            Utc::now(),
        );
        let mut url = self.url.clone();
        url.set_query(Some(&query));
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| transport(action, self.timeout, e))?;
        let http_status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .chars()
            .take(64)
            .collect::<String>();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(action, self.timeout, e))?;
        let envelope: Value = match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ if !(200..300).contains(&http_status) || !body.starts_with(b"{") => {
                return Err(CdsError::Http {
                    action,
                    http_status,
                    body: format!("a {content_type} body of {} bytes", body.len()),
                })
            }
            Ok(_) | Err(_) => {
                return Err(CdsError::Decode {
                    action,
                    http_status,
                    detail: "the body is not a JSON object".to_owned(),
                })
            }
        };
        let code = envelope.get("Code").and_then(Value::as_str).unwrap_or("");
        if code != SUCCESS {
            let message = envelope
                .get("Message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(256)
                .collect();
            return Err(CdsError::Api {
                action,
                http_status,
                code: if code.is_empty() {
                    "(no Code)".to_owned()
                } else {
                    code.to_owned()
                },
                message,
            });
        }
        Ok(envelope.get("Data").cloned().unwrap_or(Value::Null))
    }

    pub async fn describe_db_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, CdsError> {
        const A: &str = "DescribeDBInstances";
        let mut params = Vec::new();
        if let Some(t) = &filter.tag_name {
            params.push(("TagName", t.as_str()));
        }
        if let Some(n) = &filter.instance_name {
            params.push(("InstanceName", n.as_str()));
        }
        let data = self.call(A, &params).await?;
        model::instances(&data).map_err(|e| decode(A, e))
    }

    pub async fn describe_backups(&self, instance_uuid: &str) -> Result<BackupList, CdsError> {
        const A: &str = "DescribeBackups";
        let data = self.call(A, &[("InstanceUuid", instance_uuid)]).await?;
        model::backup_list(&data, self.timezone).map_err(|e| decode(A, e))
    }

    pub async fn download_backup(
        &self,
        instance_uuid: &str,
        backup_id: &str,
    ) -> Result<BackupDetail, CdsError> {
        const A: &str = "DownloadBackup";
        let data = self
            .call(
                A,
                &[("InstanceUuid", instance_uuid), ("BackupId", backup_id)],
            )
            .await?;
        model::backup_detail(&data, self.timezone).map_err(|e| decode(A, e))
    }
}

fn decode(action: &'static str, e: model::DecodeError) -> CdsError {
    CdsError::Decode {
        action,
        http_status: 200,
        detail: e.to_string(),
    }
}

fn transport(action: &'static str, timeout: Duration, e: reqwest::Error) -> CdsError {
    if e.is_timeout() {
        return CdsError::Timeout { action, timeout };
    }
    // The request URL carries the signature and key id: never let it into the message.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    CdsError::Transport { action, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_query_matches_vendor_vector_and_encodes_signature() {
        let ts = DateTime::parse_from_rfc3339("2020-08-21T07:58:45Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let q = signed_query(
            "DownloadBackup",
            &[
                ("InstanceUuid", "ins-1a2b3c"),
                ("BackupId", "bk-20200821-01"),
            ],
            "AKIDEXAMPLE",
            &Secret::new("SKEXAMPLEsecret".into()),
            "3f8e4d7a-0b1c-11eb-9a03-0242ac130003",
            ts,
        );
        assert!(q.starts_with("AccessKeyId=AKIDEXAMPLE&Action=DownloadBackup&BackupId="));
        assert!(q.ends_with("&Signature=LmghZ4%2FkoiUo7ejNIAfrSV9skpw%3D"));
    }

    #[test]
    fn secret_debug_is_redacted_and_codes_are_bounded() {
        assert_eq!(
            format!("{:?}", Secret::new("SK".into())),
            "Secret(<redacted>)"
        );
        let e = CdsError::Api {
            action: "X",
            http_status: 400,
            code: "<html>".into(),
            message: String::new(),
        };
        assert_eq!(e.code(), "invalid_code");
    }
}
