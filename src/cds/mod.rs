//! Client of the CDS (Capital Online) Redis OpenAPI: signed GET requests, typed answers,
//! typed errors. It knows nothing of Prometheus; callers time and count calls themselves
//! using [`CdsError::code`].

mod error;
pub mod model;
pub(crate) mod retry;
pub mod sign;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::value::RawValue;
use serde_json::Value;

pub use error::{Action, CdsError, ErrorKind};
pub use model::{Backup, BackupDetail, BackupList, BackupStatus, Instance, SecretUrl, UrlType};

/// `code` label value of a successful call.
pub const SUCCESS: &str = "Success";

/// The access key secret. `Debug` never shows it; equality is checked in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

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

/// The default cap on an answer's size (`poll.max_response_size`).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 << 20;

/// `url` for a log line: `Signature` and `AccessKeyId` replaced by `REDACTED`, so a
/// debug log neither replays a request nor names the key.
pub fn redacted_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "Signature" || k == "AccessKeyId" {
                "REDACTED".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if pairs.is_empty() {
        shown.set_query(None);
    } else {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
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
    max_response_bytes: u64,
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
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// Answers larger than `limit` bytes are an error, read no further than that.
    pub fn with_max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The zone in which this account's answers give times.
    pub fn timezone(&self) -> FixedOffset {
        self.timezone
    }

    async fn call(&self, action: Action, params: &[(&str, &str)]) -> Result<Value, CdsError> {
        self.call_with(action, params, |data| data_value(action, data))
            .await
    }

    /// One call, its `Data` handed to `decode` while the body is still borrowed: what
    /// `decode` keeps is all that outlives the call (the body is dropped right after).
    async fn call_with<T>(
        &self,
        action: Action,
        params: &[(&str, &str)],
        decode: impl FnOnce(Option<&RawValue>) -> Result<T, CdsError>,
    ) -> Result<T, CdsError> {
        let nonce = uuid::Uuid::new_v4().to_string();
        let query = signed_query(
            action.as_str(),
            params,
            &self.access_key_id,
            &self.secret,
            &nonce,
            Utc::now(),
        );
        let mut url = self.url.clone();
        url.set_query(Some(&query));
        tracing::debug!(action = action.as_str(), url = %redacted_url(&url), "CDS request");
        // One deadline for the whole exchange, body included: a server that trickles
        // its answer cannot hold a call longer than the timeout.
        tokio::time::timeout(self.timeout, self.exchange(action, url, decode))
            .await
            .unwrap_or(Err(CdsError::Timeout {
                action,
                timeout: self.timeout,
            }))
    }

    async fn exchange<T>(
        &self,
        action: Action,
        url: reqwest::Url,
        decode: impl FnOnce(Option<&RawValue>) -> Result<T, CdsError>,
    ) -> Result<T, CdsError> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| transport(action, self.timeout, e))?;
        let http_status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
        };
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| retry::parse_retry_after(v, Utc::now()));
        let content_type = header(reqwest::header::CONTENT_TYPE)
            .unwrap_or("no content type")
            .chars()
            .take(64)
            .collect::<String>();
        let limit = self.max_response_bytes;
        let too_large = CdsError::TooLarge {
            action,
            http_status,
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large);
        }
        // Read chunk by chunk so an endless or huge body stops at the cap instead of
        // growing memory: dropping the response closes the connection.
        // Sized once from Content-Length (never above the cap): growing by doubling
        // would hold two copies of a large discovery answer at once.
        let expected = response.content_length().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport(action, self.timeout, e))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        envelope(
            action,
            Received {
                http_status,
                content_type: &content_type,
                retry_after,
                body: &body,
            },
        )
        .and_then(decode)
    }

    /// The instances `filter` lists that `keep` accepts (by UUID). The others are
    /// dropped as the answer is decoded, one at a time: a replica keeps its share of a
    /// large fleet, never the whole answer decoded.
    pub async fn describe_db_instances(
        &self,
        filter: &InstanceFilter,
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Instance>, CdsError> {
        const A: Action = Action::DescribeDbInstances;
        let mut params = Vec::new();
        if let Some(t) = &filter.tag_name {
            params.push(("TagName", t.as_str()));
        }
        if let Some(n) = &filter.instance_name {
            params.push(("InstanceName", n.as_str()));
        }
        self.call_with(A, &params, |data| {
            model::instances_where(data, self.timezone, Utc::now(), keep).map_err(|e| decode(A, e))
        })
        .await
    }

    /// One instance, by the `InstanceUuid` filter; `None` when CDS does not list it.
    /// Only that entry is kept, even from an answer that ignored the filter.
    pub async fn describe_db_instance(&self, uuid: &str) -> Result<Option<Instance>, CdsError> {
        const A: Action = Action::DescribeDbInstances;
        let keep = |u: &str| u == uuid;
        self.call_with(A, &[("InstanceUuid", uuid)], |data| {
            model::instances_where(data, self.timezone, Utc::now(), &keep)
                .map(|mut found| found.pop())
                .map_err(|e| decode(A, e))
        })
        .await
    }

    pub async fn describe_backups(&self, instance_uuid: &str) -> Result<BackupList, CdsError> {
        const A: Action = Action::DescribeBackups;
        let data = self.call(A, &[("InstanceUuid", instance_uuid)]).await?;
        model::backup_list(&data, self.timezone, Utc::now()).map_err(|e| decode(A, e))
    }

    pub async fn download_backup(
        &self,
        instance_uuid: &str,
        backup_id: &str,
    ) -> Result<BackupDetail, CdsError> {
        const A: Action = Action::DownloadBackup;
        let data = self
            .call(
                A,
                &[("InstanceUuid", instance_uuid), ("BackupId", backup_id)],
            )
            .await?;
        model::backup_detail(&data, self.timezone, Utc::now()).map_err(|e| decode(A, e))
    }
}

/// An answer as read off the wire, for [`envelope`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received<'a> {
    pub http_status: u16,
    /// At most 64 characters, for messages.
    pub content_type: &'a str,
    pub retry_after: Option<Duration>,
    pub body: &'a [u8],
}

/// The CDS envelope `{"Code", "Message", "Data"}` → `Data` as a value (`null` when
/// absent), or the error the answer amounts to, as [`envelope`] judges it.
#[cfg(test)]
pub(crate) fn decode_envelope(action: Action, r: Received<'_>) -> Result<Value, CdsError> {
    envelope(action, r).and_then(|data| data_value(action, data))
}

/// `Data` as a [`Value`]; `null` when the answer had none.
fn data_value(action: Action, data: Option<&RawValue>) -> Result<Value, CdsError> {
    let Some(raw) = data else {
        return Ok(Value::Null);
    };
    serde_json::from_str(raw.get()).map_err(|e| CdsError::Decode {
        action,
        http_status: 200,
        detail: format!("the Data of the answer cannot be decoded: {e}"),
    })
}

/// The top level of a CDS answer. `Data` stays the text it was (checked to be JSON),
/// so a caller decodes only what it keeps; `Code` and `Message` are values, as they
/// may be of any type. A key given twice counts the last time, as in a JSON object.
#[derive(Default)]
struct Envelope<'a> {
    code: Option<Value>,
    message: Option<Value>,
    data: Option<&'a RawValue>,
}

impl<'de> serde::Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut e = Envelope::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "Code" => e.code = Some(map.next_value()?),
                        "Message" => e.message = Some(map.next_value()?),
                        // `null` is no Data, as a missing key is.
                        "Data" => e.data = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(e)
            }
        }
        d.deserialize_map(Fields)
    }
}

/// The CDS envelope `{"Code", "Message", "Data"}` → `Data` (`None` when absent or
/// `null`), or the error the answer amounts to. Pure, so every odd answer is
/// unit-tested without a server. Bodies are described, never quoted: they may be HTML
/// pages or hold URLs.
pub(crate) fn envelope<'a>(
    action: Action,
    r: Received<'a>,
) -> Result<Option<&'a RawValue>, CdsError> {
    let Received {
        http_status,
        content_type,
        retry_after,
        body,
    } = r;
    let envelope = match serde_json::from_slice::<Envelope<'a>>(body) {
        Ok(e) => e,
        _ if !(200..300).contains(&http_status) => {
            return Err(CdsError::Http {
                action,
                http_status,
                body: format!("a {content_type} body of {} bytes", body.len()),
                retry_after,
            })
        }
        // An HTML page from a proxy, or garbage.
        _ if !body.trim_ascii_start().starts_with(b"{") => {
            return Err(CdsError::Decode {
                action,
                http_status,
                detail: format!(
                    "a {content_type} body of {} bytes, not a CDS JSON answer",
                    body.len()
                ),
            })
        }
        Err(e) => {
            // serde_json's message names the position, never the content.
            let detail = if e.is_eof() {
                format!(
                    "the JSON body ends early after {} bytes (truncated)",
                    body.len()
                )
            } else {
                format!("the body is not valid JSON: {e}")
            };
            return Err(CdsError::Decode {
                action,
                http_status,
                detail,
            });
        }
    };
    let code = envelope.code.as_ref().and_then(Value::as_str).unwrap_or("");
    if code != SUCCESS {
        let message = envelope
            .message
            .as_ref()
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
            retry_after,
        });
    }
    Ok(envelope.data)
}

fn decode(action: Action, e: model::DecodeError) -> CdsError {
    CdsError::Decode {
        action,
        http_status: 200,
        detail: e.to_string(),
    }
}

fn transport(action: Action, timeout: Duration, e: reqwest::Error) -> CdsError {
    if e.is_timeout() {
        return CdsError::Timeout { action, timeout };
    }
    // The request URL carries the signature and key id: never let it into the message.
    let connect = e.is_connect();
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    CdsError::Transport {
        action,
        detail,
        connect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(status: u16, content_type: &str, body: &str) -> Result<Value, String> {
        decode_envelope(
            Action::DescribeBackups,
            Received {
                http_status: status,
                content_type,
                retry_after: None,
                body: body.as_bytes(),
            },
        )
        .map_err(|e| format!("{}: {e}", e.kind().as_str()))
    }

    #[test]
    fn envelopes_decode_to_data_or_the_error_they_amount_to() {
        let json = "application/json";
        assert_eq!(
            envelope(200, json, r#"{"Code":"Success","Data":[1]}"#),
            Ok(serde_json::json!([1]))
        );
        // No Data is null here; the decoders refuse it where a list is expected.
        assert_eq!(
            envelope(200, json, r#"{"Code":"Success"}"#),
            Ok(Value::Null)
        );
        assert_eq!(
            envelope(400, json, r#"{"Code":"InvalidParameter","Message":"bad"}"#),
            Err("api_error: DescribeBackups: CDS answered InvalidParameter: bad (HTTP 400)".into())
        );
        assert_eq!(
            envelope(200, json, r#"{"Message":"x"}"#),
            Err("api_error: DescribeBackups: CDS answered (no Code): x (HTTP 200)".into())
        );
        assert_eq!(
            envelope(502, "text/html", "<html>bad gateway</html>"),
            Err("server_error: DescribeBackups: HTTP 502 with a text/html body of 24 bytes, not a CDS JSON answer".into())
        );
        assert_eq!(
            envelope(200, "text/html", "<html>login</html>"),
            Err("decode: DescribeBackups: cannot decode the answer (HTTP 200): a text/html body of 18 bytes, not a CDS JSON answer".into())
        );
        assert_eq!(
            envelope(200, json, "[1, 2]"),
            Err("decode: DescribeBackups: cannot decode the answer (HTTP 200): a application/json body of 6 bytes, not a CDS JSON answer".into())
        );
        assert_eq!(
            envelope(200, json, r#"{"Code":"Success","Data":[{"Backup"#),
            Err("decode: DescribeBackups: cannot decode the answer (HTTP 200): the JSON body ends early after 34 bytes (truncated)".into())
        );
    }

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
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("SK".into())),
            "Secret(<redacted>)"
        );
    }
}
