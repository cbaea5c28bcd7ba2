//! `--web.config.file`: TLS and basic auth for the HTTP endpoint, in the Prometheus
//! exporter-toolkit format, so a file written for node_exporter works here too.
//!
//! The YAML is read into [`raw`] structs, then validated into a [`WebSecurity`]; like
//! the main config, validation reports every problem at once with its key path.
//! Relative file paths are resolved against the web config file's directory. What
//! rustls cannot do (TLS 1.0/1.1, some Go cipher suites and curves) is an error rather
//! than silently something else; `http2` is accepted and ignored (HTTP/1.1 only).

mod any_cert;
mod auth;
mod raw;
mod tls;

use std::fmt;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;

pub use auth::{Denied, MAX_COST as MAX_BCRYPT_COST, PER_CLIENT as MAX_PENDING_AUTH_PER_CLIENT};
pub use tls::ClientAuth;

pub use crate::problem::Problem;
use crate::problem::Problems;
use auth::BasicAuth;
use raw::{RawHttp, RawWebConfig};

/// The response headers exporter-toolkit lets a web config set, and the values allowed
/// where it restricts them.
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// How the endpoint is protected: TLS, basic auth users, extra response headers.
pub struct WebSecurity {
    tls: Option<Arc<ServerConfig>>,
    client_auth: ClientAuth,
    auth: Option<Arc<BasicAuth>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

// By hand: the hashes and keys must never reach a log.
impl fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSecurity")
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("basic_auth_users", &self.basic_auth_users())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for WebSecurity {
    fn default() -> Self {
        Self::none()
    }
}

/// Why the web config cannot be used. `Display` gives the whole story.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read web config file {path}: {error} (point --web.config.file at a readable YAML file)")]
    Read {
        path: String,
        error: crate::input::ReadError,
    },
    #[error("web config file {path} is not valid: {message}")]
    Syntax { path: String, message: String },
    #[error("web config file {path} has {} problem(s):\n{}", problems.len(), Problems(problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
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
}

impl WebSecurity {
    /// Plain HTTP, no auth: the default.
    pub fn none() -> Self {
        Self {
            tls: None,
            client_auth: ClientAuth::NoClientCert,
            auth: None,
            headers: Vec::new(),
        }
    }

    /// Reads and validates the web config file at `path`.
    pub fn load(path: &Path) -> Result<Self, WebConfigError> {
        Self::reload(path, &Self::none())
    }

    /// [`load`](Self::load) for a reload: what `previous` learned of basic auth users
    /// whose hash did not change is kept (their verified passwords, and when no user
    /// changed, the dummy hash too, which costs as much as the dearest check).
    pub fn reload(path: &Path, previous: &WebSecurity) -> Result<Self, WebConfigError> {
        let shown = path.display().to_string();
        let text = crate::input::read_text(path).map_err(|error| WebConfigError::Read {
            path: shown.clone(),
            error,
        })?;
        Self::parse_after(
            &text,
            path.parent().unwrap_or(Path::new("")),
            &shown,
            previous,
        )
    }

    /// Validates YAML text; relative files are looked up in `dir`, `shown` names the
    /// file in errors.
    pub fn parse(text: &str, dir: &Path, shown: &str) -> Result<Self, WebConfigError> {
        Self::parse_after(text, dir, shown, &Self::none())
    }

    fn parse_after(
        text: &str,
        dir: &Path,
        shown: &str,
        previous: &WebSecurity,
    ) -> Result<Self, WebConfigError> {
        crate::input::check_yaml_depth(text).map_err(|e| WebConfigError::Syntax {
            path: shown.to_owned(),
            message: e.to_string(),
        })?;
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            serde_yaml::from_str::<Option<RawWebConfig>>(text)
                .map_err(|e| WebConfigError::Syntax {
                    path: shown.to_owned(),
                    message: e.to_string(),
                })?
                .unwrap_or_default()
        };
        let mut v = Validator::default();
        let tls = raw
            .tls_server_config
            .filter(|t| !t.is_empty())
            .and_then(|t| tls::server_config(t, dir, &mut v));
        let headers = http(&mut v, raw.http_server_config.unwrap_or_default());
        let users = users(&mut v, raw.basic_auth_users.unwrap_or_default());
        let auth = match (users, &previous.auth) {
            (Some((users, _)), Some(old)) if old.same_users(&users) => Some(Arc::clone(old)),
            (Some((users, max_cost)), old) => {
                match BasicAuth::new(users, max_cost, old.as_deref()) {
                    Ok(auth) => Some(Arc::new(auth)),
                    Err(e) => {
                        v.problem("basic_auth_users", e);
                        None
                    }
                }
            }
            (None, _) => None,
        };
        if !v.problems.is_empty() {
            return Err(WebConfigError::Invalid {
                path: shown.to_owned(),
                problems: v.problems,
            });
        }
        let mut security = Self::none();
        if let Some((config, client_auth)) = tls {
            security.tls = Some(config);
            security.client_auth = client_auth;
        }
        security.auth = auth;
        security.headers = headers;
        Ok(security)
    }

    /// The rustls config when TLS is on.
    pub fn tls(&self) -> Option<Arc<ServerConfig>> {
        self.tls.clone()
    }

    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// How many basic auth users there are; 0 means no auth.
    pub fn basic_auth_users(&self) -> usize {
        self.auth.as_ref().map_or(0, |a| a.user_count())
    }

    /// Headers to add to every response.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Whether the request may go on: no users configured, or good credentials; the
    /// reason for a refusal. May cost a bcrypt check (tens of ms of CPU): async code
    /// uses [`check_async`](Self::check_async).
    pub fn check(&self, authorization: Option<&HeaderValue>) -> Result<(), Denied> {
        match &self.auth {
            None => Ok(()),
            Some(auth) => auth.check(authorization),
        }
    }

    /// [`check`](Self::check) for async code: cached credentials are answered at once;
    /// the others pass the process-wide gate (a few bcrypt checks at once, at most
    /// [`MAX_PENDING_AUTH_PER_CLIENT`] pending per client — `client`'s IPv4 address or
    /// IPv6 /64 —, more refused with [`Denied::Busy`], places to the client served
    /// longest ago), run on the blocking pool, and are answered no sooner than a
    /// check at the highest configured cost would be.
    pub(crate) async fn check_async(
        &self,
        authorization: Option<HeaderValue>,
        client: std::net::IpAddr,
    ) -> Result<(), Denied> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if auth.is_cached(authorization.as_ref()) {
            return Ok(());
        }
        let Some(ticket) = auth::GATE.admit(client) else {
            return Err(Denied::Busy);
        };
        let slot = ticket.slot().await;
        let started = tokio::time::Instant::now();
        let checker = Arc::clone(auth);
        // The place goes with the computation: if the client leaves meanwhile, bcrypt
        // still runs to its end, and the next check must not start beside it.
        let result = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            checker.check(authorization.as_ref())
        })
        .await
        .unwrap_or(Err(Denied::WrongPassword));
        if result.is_ok() {
            ticket.forgive();
        }
        tokio::time::sleep_until(started + auth.floor).await;
        result
    }

    #[cfg(test)]
    fn cache_len(&self) -> usize {
        self.auth.as_ref().map_or(0, |a| a.cache_len())
    }
}

/// `http_server_config`: `http2` is accepted and ignored (exporter-toolkit defaults it
/// to true, so configs carry it); `headers` as exporter-toolkit restricts them.
fn http(v: &mut Validator, raw: RawHttp) -> Vec<(HeaderName, HeaderValue)> {
    let _ = raw.http2;
    let mut out = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let path = format!("http_server_config.headers.{name}");
        let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<_> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            v.problem(
                path,
                format!(
                    "this header cannot be configured; allowed: {}",
                    names.join(", ")
                ),
            );
            continue;
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            v.problem(
                path,
                format!(
                    "{value:?} is not allowed; expected one of {}",
                    allowed.join(", ")
                ),
            );
            continue;
        }
        match (HeaderName::from_str(&name), HeaderValue::from_str(&value)) {
            (Ok(n), Ok(val)) => out.push((n, val)),
            _ => v.problem(path, format!("{value:?} is not a valid header value")),
        }
    }
    out
}

/// `basic_auth_users`: every hash must parse as bcrypt now, not at the first request,
/// at a cost of at most [`MAX_BCRYPT_COST`]. Returns the users, sorted, and their highest
/// cost. Problems name the user, never the hash.
fn users(
    v: &mut Validator,
    raw: std::collections::BTreeMap<String, Option<String>>,
) -> Option<(Vec<(String, String)>, u32)> {
    if raw.is_empty() {
        return None;
    }
    let before = v.problems.len();
    let mut users = Vec::new();
    let mut max_cost = 4;
    for (user, hash) in raw {
        let path = format!("basic_auth_users.{user}");
        if user.is_empty() {
            v.problem("basic_auth_users", "a user name is empty");
            continue;
        }
        if user.contains(':') {
            v.problem(
                path,
                "a user name cannot contain ':' (basic auth splits on it)",
            );
            continue;
        }
        let hash = hash.unwrap_or_default();
        let hash = hash.trim();
        if hash.is_empty() {
            v.problem(path, "no bcrypt hash");
            continue;
        }
        match bcrypt::HashParts::from_str(hash) {
            Ok(parts) if (4..=MAX_BCRYPT_COST).contains(&parts.get_cost()) => {
                max_cost = max_cost.max(parts.get_cost());
                users.push((user, hash.to_owned()));
            }
            Ok(parts) if parts.get_cost() > MAX_BCRYPT_COST => v.problem(
                path,
                format!(
                    "bcrypt cost {} is above {MAX_BCRYPT_COST}, the most accepted: every check of a new password would take {} s or more of CPU; make the hash again with htpasswd -nBC 10 \"{user}\" | cut -d: -f2",
                    parts.get_cost(),
                    1u64 << (parts.get_cost() - MAX_BCRYPT_COST).min(40)
                ),
            ),
            Ok(parts) => v.problem(
                path,
                format!("bcrypt cost {} is below 4, the least bcrypt allows", parts.get_cost()),
            ),
            Err(_) => v.problem(
                path,
                "not a bcrypt hash ($2y$, $2b$ or $2a$, 60 characters); make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'",
            ),
        }
    }
    (v.problems.len() == before).then_some((users, max_cost))
}

#[cfg(test)]
mod tests;
