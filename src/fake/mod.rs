//! A fake of the Capital Online (CDS) Redis OpenAPI and of the object store behind its
//! presigned backup URLs, served over real HTTP.
//!
//! Integration tests point the exporter at it to exercise signing, error handling and
//! downloads without a CDS account, and `--demo` mode serves [`Scenario::demo`] so the
//! exporter has something to show. It checks requests as strictly as CDS does
//! (signature, timestamp window, nonce replay) so a client bug fails here first.

mod actions;
pub mod dumps;
mod faults;
mod objects;
pub mod rdb;
mod scenario;
mod stories;
#[cfg(test)]
mod tests;

pub use scenario::*;

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

use chrono::{NaiveDateTime, Utc};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;

// Boxed so fault answers can stream, stall or fail mid-body.
type Resp = Response<UnsyncBoxBody<Bytes, std::io::Error>>;

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub action: String,
    pub params: BTreeMap<String, String>,
    /// the request passed every common check (parameters, key, timestamp, signature,
    /// nonce) and reached its action, whatever the action then answered
    pub accepted: bool,
    /// the error code of the failed common check when not accepted
    pub rejection_code: Option<String>,
    /// when the request arrived
    pub at: std::time::Instant,
}

/// A running fake; serving stops when it is dropped.
#[derive(Debug)]
pub struct FakeCds {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    base_url: String,
    token: String,
    // An Arc, so each request takes a cheap snapshot even of a 10,000-backup scenario.
    scenario: Mutex<Arc<Scenario>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    nonces: Mutex<HashSet<String>>,
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<FaultPlan>,
    /// the only action the plan's faults hit (`None`: every action)
    fault_action: Mutex<Option<String>>,
    faults_served: AtomicUsize,
    /// bytes of streamed fault bodies actually handed to the connection
    fault_bytes: Arc<std::sync::atomic::AtomicU64>,
    object_requests: Mutex<Vec<(String, String, Option<String>)>>,
    /// How long a download URL handed out now stays valid (`Expires`, in seconds).
    url_lifetime: Mutex<std::time::Duration>,
}

impl FakeCds {
    /// Serves the scenario on `listener` until dropped/shut down (spawns a tokio task).
    pub async fn start(
        listener: tokio::net::TcpListener,
        scenario: Scenario,
    ) -> std::io::Result<FakeCds> {
        let mut addr = listener.local_addr()?;
        // URLs handed to clients must be dialable, which a wildcard address is not.
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
            _ => {}
        }
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            token: uuid::Uuid::new_v4().simple().to_string(),
            scenario: Mutex::new(Arc::new(scenario)),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            nonces: Mutex::new(HashSet::new()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultPlan::default()),
            fault_action: Mutex::new(None),
            faults_served: AtomicUsize::new(0),
            fault_bytes: Arc::default(),
            object_requests: Mutex::new(Vec::new()),
            url_lifetime: Mutex::new(std::time::Duration::from_secs(3600)),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(FakeCds { shared, task })
    }

    /// "http://127.0.0.1:PORT" (no trailing slash)
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// every API request seen so far (object downloads are not recorded here)
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many requests of `action` passed the common checks (signature included),
    /// with their parameters other than the common ones, in arrival order.
    pub fn calls(&self, action: &str) -> Vec<BTreeMap<String, String>> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.accepted && r.action == action)
            .map(|r| {
                r.params
                    .iter()
                    .filter(|(k, _)| !REQUIRED.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect()
    }

    /// every object request seen so far: (method, path WITHOUT query, Range header if any)
    pub fn object_requests(&self) -> Vec<(String, String, Option<String>)> {
        lock(&self.shared.object_requests).clone()
    }

    /// replace the scenario at run time (tests make backups appear/disappear between poll cycles)
    pub fn set_scenario(&self, scenario: Scenario) {
        *lock(&self.shared.scenario) = Arc::new(scenario);
    }

    /// Injects faults into API requests from now on (replacing any earlier plan).
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.shared.fault_action) = None;
        *lock(&self.shared.faults) = plan;
    }

    /// [`FakeCds::set_faults`] for requests of `action` alone; the others are answered.
    pub fn set_faults_on(&self, action: &str, plan: FaultPlan) {
        *lock(&self.shared.fault_action) = Some(action.to_owned());
        *lock(&self.shared.faults) = plan;
    }

    /// How many API requests were answered with a planned fault.
    pub fn faults_served(&self) -> usize {
        self.shared.faults_served.load(Ordering::Relaxed)
    }

    /// How many bytes of `Fault::Huge` bodies the client made the fake send: a client
    /// that stops at its size cap keeps this near the cap.
    pub fn fault_bytes_sent(&self) -> u64 {
        self.shared.fault_bytes.load(Ordering::Relaxed)
    }

    /// The most API requests that were being answered at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::Relaxed)
    }

    /// Download URLs handed out from now on expire after `lifetime` (an hour unless
    /// set); an expired one answers 403 like a lapsed presigned URL.
    pub fn set_url_lifetime(&self, lifetime: std::time::Duration) {
        *lock(&self.shared.url_lifetime) = lifetime;
    }

    /// The secret token embedded in every download URL's query string; tests assert it never leaks.
    pub fn url_token(&self) -> String {
        self.shared.token.clone()
    }
}

impl Drop for FakeCds {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection too.
        self.task.abort();
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically out of file descriptors; back off instead of spinning.
                tracing::warn!(error = %e, "fake CDS: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        conns.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "fake CDS: connection ended with an error");
            }
        });
    }
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    // Drain the body so keep-alive connections stay usable; its content is irrelevant,
    // and the cap keeps a hostile upload from growing memory.
    let _ = http_body_util::Limited::new(body, 1 << 20).collect().await;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("");
    if path.starts_with("/objects/") || path.starts_with("/intranet/") {
        let range = parts
            .headers
            .get(hyper::header::RANGE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        lock(&shared.object_requests).push((parts.method.to_string(), path.clone(), range.clone()));
        return objects::object(shared, &parts.method, &path, query, range.as_deref());
    }
    if path != "/redis" && path != "/redis/" {
        return cds_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no such API path",
        );
    }
    let params = parse_query(query);
    let check = if parts.method == Method::GET {
        check(shared, &params)
    } else {
        Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the Redis API only answers GET".to_owned(),
        ))
    };
    lock(&shared.requests).push(RecordedRequest {
        action: params.get("Action").cloned().unwrap_or_default(),
        params: params.clone(),
        accepted: check.is_ok(),
        rejection_code: check.as_ref().err().map(|(_, code, _)| (*code).to_owned()),
        at: std::time::Instant::now(),
    });
    // A proxy or an overloaded server fails requests whatever they carry.
    let hit = lock(&shared.fault_action)
        .as_deref()
        .is_none_or(|a| params.get("Action").is_some_and(|p| p == a));
    if let Some(fault) = hit.then(|| faults::draw(shared)).flatten() {
        shared.faults_served.fetch_add(1, Ordering::Relaxed);
        let _counted = InFlight::enter(shared);
        return faults::serve(shared, &fault).await;
    }
    match check {
        Err((status, code, message)) => cds_error(status, code, &message),
        Ok(scenario) => {
            let _counted = InFlight::enter(shared);
            if !scenario.latency.is_zero() {
                tokio::time::sleep(scenario.latency).await;
            }
            actions::action(shared, &scenario, &params)
        }
    }
}

/// Counts an API request as in flight until dropped, even if the client goes away.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Splits on `&` and `=` and percent-decodes; `+` stays a plus because CDS clients
/// encode a space as `%20`.
fn parse_query(query: &str) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

type Rejection = (StatusCode, &'static str, String);

const REQUIRED: [&str; 8] = [
    "Action",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Version",
    "Signature",
];

/// The common checks, in CDS order; on success a snapshot of the scenario to answer from.
fn check(shared: &Shared, params: &BTreeMap<String, String>) -> Result<Arc<Scenario>, Rejection> {
    let bad = |status, code, message: String| Err((status, code, message));
    for name in REQUIRED {
        if params.get(name).is_none_or(|v| v.is_empty()) {
            return bad(
                StatusCode::BAD_REQUEST,
                "ArgMissing",
                format!("missing parameter {name}"),
            );
        }
    }
    let p = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    for (name, want) in [
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Version", "2019-08-08"),
    ] {
        if p(name) != want {
            let msg = format!("{name} must be {want}");
            return bad(StatusCode::BAD_REQUEST, "InvalidParameter", msg);
        }
    }
    let scenario = Arc::clone(&lock(&shared.scenario));
    if p("AccessKeyId") != scenario.access_key_id {
        let msg = "the AccessKeyId does not exist".to_owned();
        return bad(StatusCode::FORBIDDEN, "InvalidAccessKeyId.NotFound", msg);
    }
    let Ok(ts) = NaiveDateTime::parse_from_str(p("Timestamp"), "%Y-%m-%dT%H:%M:%SZ") else {
        let msg = "Timestamp must be yyyy-MM-ddTHH:mm:ssZ".to_owned();
        return bad(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Format", msg);
    };
    let skew = (Utc::now() - ts.and_utc()).abs();
    if skew > chrono::Duration::minutes(15) {
        let msg = format!("Timestamp is {}s away from server time", skew.num_seconds());
        return bad(StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired", msg);
    }
    if crate::cds::sign::signature(&scenario.access_key_secret, params) != p("Signature") {
        let msg = "the request signature does not match".to_owned();
        return bad(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", msg);
    }
    if !lock(&shared.nonces).insert(p("SignatureNonce").to_owned()) {
        let msg = "SignatureNonce has been used".to_owned();
        return bad(StatusCode::BAD_REQUEST, "SignatureNonceUsed", msg);
    }
    Ok(scenario)
}

fn cds_error(status: StatusCode, code: &str, message: &str) -> Resp {
    let body = json!({"Code": code, "Message": message, "Data": null, "TaskId": ""});
    respond(status, "application/json", body.to_string().into_bytes())
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Resp {
    let mut resp = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(CONTENT_TYPE, ct);
    resp
}
