//! The HTTP side: `/metrics` (path configurable), `/-/healthy`, `/-/ready`, a landing
//! page and `POST /-/reload`. Handlers only read what the poll loop published; none
//! calls the CDS API.
//!
//! With `--web.config.file` the same routes are served over TLS and/or behind basic
//! auth; every connection is bounded in time and header size either way ([`Limits`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tracing::{debug, info};

use crate::metrics::Metrics;
use crate::web_config::WebSecurity;

/// What the handlers need.
#[derive(Debug)]
pub struct App {
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub telemetry_path: String,
    /// Where `POST /-/reload` asks for a reload and waits for its outcome.
    pub reload: tokio::sync::mpsc::Sender<crate::ReloadRequest>,
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            io: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// The web security in force, swapped as a whole by a reload.
pub type SharedSecurity = Arc<std::sync::RwLock<Arc<WebSecurity>>>;

impl App {
    fn security(&self) -> Arc<WebSecurity> {
        Arc::clone(&self.security.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The realm clients are told on 401.
const REALM: &str = "Basic realm=\"cds-redis-backup-exporter\"";

/// Serves until `shutdown` completes: TLS when configured, basic auth before any route,
/// and every connection bounded by [`Limits`].
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    log_security(&app.security());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
            let limits = app.limits;
            let io = with_timeouts(stream, limits.io);
            match tls {
                None => connection(app, io).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.tls_handshake, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => connection(app, stream).await,
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
async fn connection<S>(app: Arc<App>, io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = app.limits;
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(respond(&app, req).await) }
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
async fn respond(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let authorization = req.headers().get(AUTHORIZATION).cloned();
    let security = app.security();
    let mut r = match security.check_async(authorization).await {
        Ok(()) if req.uri().path() == "/-/reload" => reload(app, req.method()).await,
        Ok(()) => handle(app, &req),
        Err(why) => {
            debug!(reason = ?why, path = req.uri().path(), "unauthorized request");
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
pub fn log_security(security: &WebSecurity) {
    info!(
        tls = security.tls().is_some(),
        client_auth = security.client_auth().name(),
        basic_auth_users = security.basic_auth_users(),
        "web security"
    );
}

/// A response body of a few ready chunks, so the cached cycle text is sent as it is
/// rather than copied into one buffer with the live series.
#[derive(Debug)]
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Self(chunks.into_iter().filter(|c| !c.is_empty()).collect())
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.iter().map(|c| c.len() as u64).sum())
    }
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Chunks> {
    let mut r = Response::new(Chunks::new([body.into()]));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn handle(app: &App, req: &Request<Incoming>) -> Response<Chunks> {
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
        "/" => text(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing(&app.telemetry_path),
        ),
        _ => text(StatusCode::NOT_FOUND, plain, "Not Found\n"),
    }
}

/// `POST /-/reload`, as in Prometheus: 200 once the new configuration is taken, 500
/// with the reasons when it is refused (the old one keeps running).
async fn reload(app: &App, method: &Method) -> Response<Chunks> {
    let plain = "text/plain; charset=utf-8";
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
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            plain,
            format!("failed to reload config: {e}\n"),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, plain, "shutting down\n"),
    }
}

fn metrics(app: &App, req: &Request<Incoming>) -> Response<Chunks> {
    let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
    let mut r = Response::new(Chunks::new(app.metrics.scrape(gzip)));
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

/// True when `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

fn landing(path: &str) -> String {
    let path = path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    format!(
        "<!DOCTYPE html>\n<html><head><title>CDS Redis backup exporter</title></head><body>\n\
         <h1>CDS Redis backup exporter</h1>\n<p>Version {}</p>\n<ul>\n\
         <li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/-/healthy\">Health</a></li>\n\
         <li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
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
        assert!(!ok("identity"));
        assert!(!ok("gzipx"));
        assert!(!accepts_gzip(None));
    }
}
