//! The HTTP side: `/metrics` (path configurable), `/-/healthy`, `/-/ready`, a landing
//! page and, with `--web.enable-lifecycle`, `POST /-/reload`. Handlers only read what
//! the poll loop published; none calls the CDS API.
//!
//! With `--web.config.file` the same routes are served over TLS and/or behind basic
//! auth; connections are bounded in number, time and header size either way
//! ([`Limits`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING,
    CONTENT_TYPE, RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tracing::{debug, info};

use crate::metrics::Metrics;
use crate::web_config::{Denied, WebSecurity};

/// A reload request: the reply says whether the new configuration was taken, or why not.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// The HTTP side's settings, from flags and `--web.config.file`; kept apart from the
/// configuration file, which knows nothing of them. Not comparable: the security holds
/// TLS keys.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub telemetry_path: String,
    /// TLS and basic auth; plain HTTP without auth by default.
    pub security: Arc<WebSecurity>,
    /// `--web.config.file`, read again on each reload.
    pub security_file: Option<PathBuf>,
    /// `--web.enable-lifecycle`: `POST /-/reload` works only with it, as in Prometheus.
    pub enable_lifecycle: bool,
    /// Connections, timeouts and size limits.
    pub limits: Limits,
    /// Grafana's base URL, for links from the status page.
    pub dashboards_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            telemetry_path: "/metrics".to_owned(),
            security: Arc::default(),
            security_file: None,
            enable_lifecycle: false,
            limits: Limits::default(),
            dashboards_url: None,
        }
    }
}

impl WebConfig {
    /// Checks a `--web.telemetry-path` value.
    pub fn new(telemetry_path: &str) -> Result<Self, String> {
        if !telemetry_path.starts_with('/')
            || telemetry_path.contains(['?', '#'])
            || ["/", "/-/healthy", "/-/ready", "/-/reload"].contains(&telemetry_path)
        {
            return Err(format!(
                "--web.telemetry-path {telemetry_path:?} must be a path starting with / other than /, /-/healthy, /-/ready and /-/reload"
            ));
        }
        Ok(Self {
            telemetry_path: telemetry_path.to_owned(),
            ..Self::default()
        })
    }
}

/// What the handlers need.
#[derive(Debug)]
pub(crate) struct App {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    /// The last cycle's snapshot, for the status page.
    pub latest: crate::state::Latest,
    /// `--web.dashboards-url`: the status page links to the Grafana dashboards there.
    pub dashboards_url: Option<String>,
    /// The status pages, built once per snapshot.
    pub pages: crate::status::Pages,
    pub telemetry_path: String,
    pub enable_lifecycle: bool,
    /// Where `POST /-/reload` asks for a reload and waits for its outcome.
    pub reload: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Replaced by reloads, so read it per connection and per request.
    pub security: SharedSecurity,
    pub limits: Limits,
}

/// How long and how much a client may take, so that slow or hostile clients cannot hold
/// tasks and memory. Fields, not constants, so tests can shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// TCP connect to finished TLS handshake. 10 s is ample for a real client, even
    /// across continents, and bounds connections that open TCP and never speak.
    pub tls_handshake: Duration,
    /// From the connection being ready for a request to the request's last header
    /// byte (hyper's `header_read_timeout`). hyper starts it as soon as it waits for a
    /// request, so it also closes keep-alive connections idle this long; a scraper then
    /// just opens a new one.
    pub header_read: Duration,
    /// A read or write that makes no progress for this long ends the connection, such
    /// as a client that stops reading the response. 30 s is far beyond any stall of a
    /// live client on the networks Prometheus scrapes over.
    pub io: Duration,
    /// hyper's read buffer, which bounds the request line and headers: a request whose
    /// head does not fit gets 431. 16 KiB is far above what scrapers send (well under
    /// 1 KiB) and hyper's minimum is 8 KiB.
    pub max_header_bytes: usize,
    /// Connections served at once (`--web.max-connections`); further ones wait in the
    /// listen backlog until one closes. Each idle connection holds ~25 KiB, so 512 (as
    /// Prometheus) bound a flood of half-open connections to ~13 MiB, while the header
    /// timeout frees their places within seconds.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            io: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 512,
        }
    }
}

/// The web security in force, swapped as a whole by a reload.
pub(crate) type SharedSecurity = Arc<std::sync::RwLock<Arc<WebSecurity>>>;

impl App {
    fn security(&self) -> Arc<WebSecurity> {
        Arc::clone(&crate::sync::read(&self.security))
    }
}

/// The realm clients are told on 401.
const REALM: &str = "Basic realm=\"cds-redis-backup-exporter\"";

/// Serves until `shutdown` completes: TLS when configured, basic auth before any route,
/// and every connection bounded by [`Limits`].
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    log_security(&app.security());
    let places = Arc::new(tokio::sync::Semaphore::new(
        app.limits.max_connections.max(1),
    ));
    tokio::pin!(shutdown);
    loop {
        // A place first, then accept: past the limit, clients wait in the backlog
        // rather than each costing a task and buffers.
        let place = tokio::select! {
            () = &mut shutdown => return,
            place = Arc::clone(&places).acquire_owned() => match place {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(e) => {
                    // Running out of file descriptors is transient; back off briefly.
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // The body goes out in chunks (cached text, then the live series); without
        // NODELAY the small last chunk can wait out a delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let app = Arc::clone(&app);
        let tls = app.security().tls().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            let _place = place;
            let limits = app.limits;
            let io = with_timeouts(stream, limits.io);
            match tls {
                None => connection(app, io, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.tls_handshake, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => connection(app, stream, peer).await,
                        Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                        Err(_) => debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// The socket with read and write deadlines that restart on every bit of progress.
fn with_timeouts(stream: TcpStream, limit: Duration) -> Pin<Box<TimeoutStream<TcpStream>>> {
    let mut io = TimeoutStream::new(stream);
    io.set_read_timeout(Some(limit));
    io.set_write_timeout(Some(limit));
    Box::pin(io)
}

/// HTTP/1.1 on one (possibly TLS) connection until it ends.
async fn connection<S>(app: Arc<App>, io: S, peer: IpAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = app.limits;
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(respond(&app, req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = conn.await {
        debug!(error = %e, "connection ended with an error");
    }
}

/// Basic auth before any route (exporter-toolkit protects every path), then the
/// configured extra headers on whatever the answer is.
async fn respond(app: &App, req: Request<Incoming>, peer: IpAddr) -> Response<Chunks> {
    let authorization = req.headers().get(AUTHORIZATION).cloned();
    let security = app.security();
    let mut r = match security.check_async(authorization, peer).await {
        Ok(()) if req.uri().path() == "/-/reload" => {
            // Only an authenticated caller may read why a reload failed: the reasons
            // name files and keys.
            let detailed = security.basic_auth_users() > 0;
            reload(app, req.method(), detailed).await
        }
        Ok(()) => handle(app, &req).await,
        Err(Denied::Busy) => {
            debug!(client = %peer, "too many authentication checks pending from this client");
            let mut r = text(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain; charset=utf-8",
                "Too many authentication attempts pending from this address (or its IPv6 /64)\n",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(why) => {
            debug!(
                reason = why.as_str(),
                path = req.uri().path(),
                "unauthorized request"
            );
            let mut r = text(
                StatusCode::UNAUTHORIZED,
                "text/plain; charset=utf-8",
                "Unauthorized\n",
            );
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
            r
        }
    };
    for (name, value) in security.headers() {
        r.headers_mut().insert(name.clone(), value.clone());
    }
    r
}

/// Says whether each protection is on; hashes and keys stay out.
pub(crate) fn log_security(security: &WebSecurity) {
    info!(
        tls = security.tls().is_some(),
        client_auth = security.client_auth().name(),
        basic_auth_users = security.basic_auth_users(),
        "web security"
    );
}

/// A response body of chunks made as hyper asks for them, of a length known
/// beforehand: ready bytes (the cached cycle series are sent as they are rather than
/// copied into one buffer with the live ones), or an exposition inflated a piece at a
/// time, so a slow client holds one piece rather than the whole text.
pub(crate) struct Chunks {
    source: Box<dyn Iterator<Item = Bytes> + Send>,
    remaining: u64,
}

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

impl Chunks {
    fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().collect();
        Self {
            remaining: chunks.iter().map(|c| c.len() as u64).sum(),
            source: Box::new(chunks.into_iter()),
        }
    }

    fn exposition(e: crate::metrics::Exposition) -> Self {
        Self {
            remaining: e.len(),
            source: Box::new(e),
        }
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            let Some(c) = self.source.next() else {
                return Poll::Ready(None);
            };
            if !c.is_empty() {
                self.remaining = self.remaining.saturating_sub(c.len() as u64);
                return Poll::Ready(Some(Ok(Frame::data(c))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Every answer but `/metrics`: these describe this moment (status pages, health,
/// errors) and may sit behind basic auth, so no browser or proxy may keep them.
fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Chunks> {
    let mut r = Response::new(Chunks::new([body.into()]));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn handle(app: &App, req: &Request<Incoming>) -> Response<Chunks> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "Method Not Allowed\n",
        );
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let plain = "text/plain; charset=utf-8";
    match req.uri().path() {
        p if p == app.telemetry_path => metrics(app, req),
        "/-/healthy" => text(StatusCode::OK, plain, "Healthy\n"),
        "/-/ready" if app.ready.load(Ordering::Acquire) => text(StatusCode::OK, plain, "Ready\n"),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            plain,
            "Not ready: the first poll cycle has not completed\n",
        ),
        "/" => status_page(app, None).await,
        p if p.starts_with("/instance/") => status_page(app, Some(&p["/instance/".len()..])).await,
        _ => text(StatusCode::NOT_FOUND, plain, "Not Found\n"),
    }
}

/// `POST /-/reload`, as in Prometheus: 403 unless `--web.enable-lifecycle`; 200 once
/// the new configuration is taken; 500 when it is refused (the old one keeps running),
/// with the reasons only when `detailed` (the caller is authenticated): they are always
/// logged.
async fn reload(app: &App, method: &Method, detailed: bool) -> Response<Chunks> {
    let plain = "text/plain; charset=utf-8";
    if !app.enable_lifecycle {
        return text(
            StatusCode::FORBIDDEN,
            plain,
            "Lifecycle API is not enabled (start with --web.enable-lifecycle, or send SIGHUP)\n",
        );
    }
    if method != Method::POST && method != Method::PUT {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            plain,
            "Only POST or PUT requests allowed\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
        return r;
    }
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if app.reload.send(reply).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, plain, "shutting down\n");
    }
    match outcome.await {
        Ok(Ok(())) => text(StatusCode::OK, plain, "Configuration reloaded\n"),
        Ok(Err(e)) if detailed => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain,
            format!("failed to reload config: {e}\n"),
        ),
        Ok(Err(_)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain,
            "failed to reload config; the reasons are in the exporter's log\n",
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, plain, "shutting down\n"),
    }
}

fn metrics(app: &App, req: &Request<Incoming>) -> Response<Chunks> {
    let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
    let mut r = Response::new(Chunks::exposition(app.metrics.scrape(gzip)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    let h = r.headers_mut();
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// Whether `Accept-Encoding` allows gzip (RFC 9110 12.5.3): an explicit `gzip` entry
/// decides by its weight, whatever `*` says; otherwise `*` does. A weight of 0 refuses;
/// `q` is case-insensitive.
fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let (mut gzip, mut any) = (None, None);
    for item in value.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, q)| q.trim().parse::<f32>().unwrap_or(0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(weight, |w: f32| w.max(weight)));
        } else if coding == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|w| w > 0.0)
}

/// `/` (the fleet) or `/instance/<uuid>`, from the last snapshot, never calling CDS.
/// Built pages are shared until the next snapshot ([`crate::status::Pages`]): requests
/// that need a build while one runs wait for it (at most one at a time, off this
/// thread) rather than being refused, since what they wait for is what they asked.
async fn status_page(app: &App, instance: Option<&str>) -> Response<Chunks> {
    let snap = crate::sync::read(&app.latest).clone();
    let dashboards = app.dashboards_url.as_deref();
    let path = app.telemetry_path.as_str();
    let (status, page) = match (&snap, instance) {
        (None, _) => (
            StatusCode::OK,
            Some(Bytes::from(crate::status::waiting(path))),
        ),
        (Some(snap), None) => (
            StatusCode::OK,
            Some(app.pages.fleet_page(snap, path, dashboards).await),
        ),
        (Some(snap), Some(encoded)) => {
            let uuid = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
            match app.pages.instance_page(snap, &uuid, path, dashboards).await {
                Some(page) => (StatusCode::OK, Some(page)),
                None => (StatusCode::NOT_FOUND, None),
            }
        }
    };
    let mut r = match page {
        Some(page) => text(status, "text/html; charset=utf-8", page),
        None => text(status, "text/plain; charset=utf-8", "No such instance\n"),
    };
    if let Ok(v) = HeaderValue::from_str(&crate::status::content_security_policy()) {
        r.headers_mut().insert("content-security-policy", v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_parsing() {
        let ok = |v: &str| {
            accepts_gzip(Some(
                &HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            ))
        };
        assert!(ok("gzip"));
        assert!(ok("deflate, GZIP;q=0.5"));
        assert!(ok("*"));
        assert!(!ok("gzip;q=0"));
        assert!(!ok("gzip;Q=0"));
        assert!(!ok("gzip; q=0.000"));
        assert!(!ok("gzip;q=0, *"));
        assert!(!ok("*, gzip;q=0"));
        assert!(ok("gzip;Q=0.1"));
        assert!(!ok("*;q=0"));
        assert!(ok("identity;q=0.5, *;q=0.1"));
        assert!(!ok("gzip;q=nonsense"));
        assert!(!ok("identity"));
        assert!(!ok("gzipx"));
        assert!(!accepts_gzip(None));
    }
}
