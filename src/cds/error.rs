//! What a CDS call was and how it failed, in a small fixed vocabulary. [`Action`] and
//! [`ErrorKind`] are enums with one `as_str` (the label value) and one `ALL` (what
//! zero-initialised counters and the docs enumerate), so a new value cannot be forgotten
//! in either. The coarser `code` vocabulary of the request counter is derived from the
//! kind here too, so the two label sets cannot drift apart.

use std::fmt;
use std::time::Duration;

/// The read actions this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    DescribeDbInstances,
    DescribeBackups,
    DownloadBackup,
}

impl Action {
    pub const ALL: [Action; 3] = [
        Action::DescribeDbInstances,
        Action::DescribeBackups,
        Action::DownloadBackup,
    ];

    /// The action's name in the API, and the `action` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DescribeDbInstances => "DescribeDBInstances",
            Action::DescribeBackups => "DescribeBackups",
            Action::DownloadBackup => "DownloadBackup",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a failed call: the `kind` label of the error counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Timeout,
    /// No connection could be made.
    Connect,
    /// A connection that broke, or an answer cut off.
    Transport,
    /// HTTP 429.
    Throttled,
    /// HTTP 5xx.
    ServerError,
    /// A CDS error code in a JSON answer.
    ApiError,
    /// Another answer that is not CDS JSON.
    HttpError,
    /// HTML or broken JSON with HTTP 200, or fields of the wrong type.
    Decode,
    /// Larger than `poll.max_response_size`.
    TooLarge,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Transport,
        ErrorKind::Throttled,
        ErrorKind::ServerError,
        ErrorKind::ApiError,
        ErrorKind::HttpError,
        ErrorKind::Decode,
        ErrorKind::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Throttled => "throttled",
            ErrorKind::ServerError => "server_error",
            ErrorKind::ApiError => "api_error",
            ErrorKind::HttpError => "http_error",
            ErrorKind::Decode => "decode",
            ErrorKind::TooLarge => "too_large",
        }
    }

    /// The `code` label of a failure that carries no usable CDS code: the request
    /// counter's older, coarser words for the same kinds.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect | ErrorKind::Transport => "transport_error",
            ErrorKind::Throttled | ErrorKind::ServerError | ErrorKind::HttpError => "http_error",
            ErrorKind::ApiError => "invalid_code",
            ErrorKind::Decode => "decode_error",
            ErrorKind::TooLarge => "too_large",
        }
    }

    /// Whether the same call may succeed if tried again soon: no answer, a broken
    /// connection, throttling or a server-side error. See [`super::retry`].
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::Connect
                | ErrorKind::Transport
                | ErrorKind::Throttled
                | ErrorKind::ServerError
        )
    }
}

/// A failed call. `Display` says what happened for a log line; it never contains the
/// request URL (it holds the signature) nor a download URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdsError {
    #[error("{action}: CDS answered {code}: {message} (HTTP {http_status})")]
    Api {
        action: Action,
        http_status: u16,
        code: String,
        message: String,
        /// the `Retry-After` header, when the server sent a valid one
        retry_after: Option<Duration>,
    },
    #[error("{action}: HTTP {http_status} with {body}, not a CDS JSON answer")]
    Http {
        action: Action,
        http_status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{action}: the answer (HTTP {http_status}) is larger than poll.max_response_size ({limit} bytes); it was not read")]
    TooLarge {
        action: Action,
        http_status: u16,
        limit: u64,
    },
    #[error("{action}: cannot decode the answer (HTTP {http_status}): {detail}")]
    Decode {
        action: Action,
        http_status: u16,
        detail: String,
    },
    #[error("{action}: no answer within {timeout:?}")]
    Timeout { action: Action, timeout: Duration },
    #[error("{action}: request failed: {detail}")]
    Transport {
        action: Action,
        detail: String,
        /// no connection could be made (as opposed to one that broke)
        connect: bool,
    },
}

impl CdsError {
    /// The `code` label: the CDS code when CDS gave a usable one, otherwise
    /// [`ErrorKind::code`].
    pub fn code(&self) -> &str {
        match self {
            // A misbehaving server could send anything as Code; keep labels bounded.
            CdsError::Api { code, .. } if is_label_safe(code) => code,
            _ => self.kind().code(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            CdsError::Timeout { .. } => ErrorKind::Timeout,
            CdsError::Transport { connect: true, .. } => ErrorKind::Connect,
            CdsError::Transport { .. } => ErrorKind::Transport,
            CdsError::Api { http_status, .. } | CdsError::Http { http_status, .. }
                if *http_status == 429 =>
            {
                ErrorKind::Throttled
            }
            CdsError::Api { http_status, .. } | CdsError::Http { http_status, .. }
                if *http_status >= 500 =>
            {
                ErrorKind::ServerError
            }
            CdsError::Api { .. } => ErrorKind::ApiError,
            CdsError::Http { .. } => ErrorKind::HttpError,
            CdsError::Decode { .. } => ErrorKind::Decode,
            CdsError::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CdsError::Api { retry_after, .. } | CdsError::Http { retry_after, .. } => *retry_after,
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> CdsError {
        CdsError::Http {
            action: Action::DescribeBackups,
            http_status: status,
            body: String::new(),
            retry_after: None,
        }
    }

    /// One error of each kind, in `ErrorKind::ALL` order, with its `code` label.
    #[test]
    fn every_kind_is_listed_with_its_code() {
        let a = Action::DownloadBackup;
        let errors = [
            CdsError::Timeout {
                action: a,
                timeout: Duration::from_secs(1),
            },
            CdsError::Transport {
                action: a,
                detail: String::new(),
                connect: true,
            },
            CdsError::Transport {
                action: a,
                detail: String::new(),
                connect: false,
            },
            http(429),
            http(503),
            CdsError::Api {
                action: a,
                http_status: 400,
                code: "InvalidParameter".into(),
                message: String::new(),
                retry_after: None,
            },
            http(404),
            CdsError::Decode {
                action: a,
                http_status: 200,
                detail: String::new(),
            },
            CdsError::TooLarge {
                action: a,
                http_status: 200,
                limit: 1,
            },
        ];
        let kinds: Vec<ErrorKind> = errors.iter().map(CdsError::kind).collect();
        assert_eq!(kinds, ErrorKind::ALL);
        let codes: Vec<&str> = errors.iter().map(CdsError::code).collect();
        assert_eq!(
            codes,
            [
                "timeout",
                "transport_error",
                "transport_error",
                "http_error",
                "http_error",
                "InvalidParameter",
                "http_error",
                "decode_error",
                "too_large"
            ]
        );
        let transient: Vec<bool> = errors.iter().map(CdsError::is_transient).collect();
        assert_eq!(
            transient,
            [true, true, true, true, true, false, false, false, false]
        );
    }

    #[test]
    fn codes_are_bounded_and_actions_named_as_the_api_does() {
        let e = CdsError::Api {
            action: Action::DescribeDbInstances,
            http_status: 400,
            code: "<html>".into(),
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(e.code(), "invalid_code");
        assert_eq!(
            e.to_string(),
            "DescribeDBInstances: CDS answered <html>:  (HTTP 400)"
        );
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            names,
            ["DescribeDBInstances", "DescribeBackups", "DownloadBackup"]
        );
    }
}
