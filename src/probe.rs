//! Download-URL probe: does a backup's presigned URL really serve the object?
//!
//! A GET with `Range: bytes=0-0`, not a HEAD: presigned object-store URLs are signed for
//! one method, so HEAD can be refused where a download works. The body is never read;
//! the size comes from `Content-Range` (or `Content-Length` when the server ignores the
//! range). The URL grants access to the data: nothing here logs, returns or formats it.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};

use crate::cds::SecretUrl;

/// Why a probe got no HTTP answer; `as_str` is the `failure` value in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// CDS gave no URL of this type.
    NoUrl,
    Timeout,
    Connect,
    /// A redirect loop, or more than 3 hops.
    Redirect,
    /// Anything else on the way (TLS, a broken connection).
    Request,
}

impl ProbeFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeFailure::NoUrl => "no_url",
            ProbeFailure::Timeout => "timeout",
            ProbeFailure::Connect => "connect",
            ProbeFailure::Redirect => "redirect",
            ProbeFailure::Request => "request",
        }
    }
}

/// What one probe saw. `status` is 0 when no HTTP answer arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub status: u16,
    pub duration: Duration,
    /// The object's total size, when the answer tells it.
    pub total_size: Option<u64>,
    /// Why there was no answer.
    pub failure: Option<ProbeFailure>,
}

impl ProbeResult {
    pub fn reachable(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A finished backup without a URL of the configured type cannot be downloaded.
    pub(crate) fn no_url() -> Self {
        Self {
            status: 0,
            duration: Duration::ZERO,
            total_size: None,
            failure: Some(ProbeFailure::NoUrl),
        }
    }
}

/// A client for probes: no redirects to other hosts beyond a few hops, no cookies, rustls.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}

/// Probes `url` with a ranged GET bounded by `timeout`.
pub async fn probe(http: &reqwest::Client, url: &SecretUrl, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    let sent = http
        .get(url.expose())
        .header(RANGE, "bytes=0-0")
        .timeout(timeout)
        .send()
        .await;
    let duration = start.elapsed();
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            };
            let total_size = match status {
                206 => header(CONTENT_RANGE).and_then(total_from_content_range),
                200 => header(CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
                _ => None,
            };
            // Dropping the response unread closes the connection: at most a few bytes
            // of the backup ever cross the wire.
            drop(response);
            ProbeResult {
                status,
                duration,
                total_size,
                failure: None,
            }
        }
        Err(e) => ProbeResult {
            status: 0,
            duration,
            total_size: None,
            failure: Some(if e.is_timeout() {
                ProbeFailure::Timeout
            } else if e.is_connect() {
                ProbeFailure::Connect
            } else if e.is_redirect() {
                ProbeFailure::Redirect
            } else {
                ProbeFailure::Request
            }),
        },
    }
}

/// `bytes 0-0/12345` → 12345; `bytes 0-0/*` (unknown) → None.
fn total_from_content_range(v: &str) -> Option<u64> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    rest.rsplit_once('/')?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_total() {
        assert_eq!(total_from_content_range("bytes 0-0/12345"), Some(12345));
        assert_eq!(total_from_content_range("bytes 0-0/*"), None);
        assert_eq!(total_from_content_range("garbage"), None);
        assert_eq!(total_from_content_range("bytes */99"), Some(99));
    }
}
