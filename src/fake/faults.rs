//! The fake's misbehaving answers: CDS errors, proxy pages, throttling, hangs, cut-off
//! and endless bodies, dropped connections. Bodies are streamed, so a "64 MiB" answer
//! costs the fake nothing and the client's size cap is what is tested.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt as _};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::header::{HeaderValue, CONTENT_LENGTH, RETRY_AFTER};
use hyper::{Response, StatusCode};

use super::{cds_error, lock, respond, Fault, Resp, Shared};

/// How long a hung answer waits: longer than any test or client timeout.
const HANG: Duration = Duration::from_secs(3600);

/// Draws the plan's fault for one request, if any, and counts it as served.
pub(super) fn draw(shared: &Shared) -> Option<Fault> {
    let mut plan = lock(&shared.faults);
    if plan.faults.is_empty() || plan.remaining == Some(0) {
        return None;
    }
    if plan.probability < 1.0 && fastrand::f64() >= plan.probability {
        return None;
    }
    let fault = plan.faults[fastrand::usize(..plan.faults.len())].clone();
    if let Some(n) = &mut plan.remaining {
        *n -= 1;
    }
    Some(fault)
}

/// The answer for a plan's fault: like [`response`], but a hang withholds even the
/// status line.
pub(super) async fn serve(shared: &Shared, fault: &Fault) -> Resp {
    if *fault == Fault::Hang {
        tokio::time::sleep(HANG).await;
    }
    response(shared, fault)
}

/// The answer for `fault`.
pub(super) fn response(shared: &Shared, fault: &Fault) -> Resp {
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let json = |len: Option<u64>, body: BodyStream| {
        let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
        let h = r.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(len) = len {
            h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        r
    };
    match fault {
        Fault::Cds {
            http_status,
            code,
            message,
        } => cds_error(status(*http_status), code, message),
        Fault::Raw {
            http_status,
            content_type,
            body,
        } => respond(
            status(*http_status),
            content_type,
            body.clone().into_bytes(),
        ),
        Fault::Throttled { retry_after } => {
            let mut r = cds_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RequestLimitExceeded",
                "too many requests",
            );
            if let Some(v) = retry_after
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            r
        }
        Fault::Hang => json(None, stream::pending().boxed()),
        Fault::Truncated => respond(
            StatusCode::OK,
            "application/json",
            br#"{"Code":"Success","Message":"success","Data":[{"BackupId":"bk-1","Stat"#.to_vec(),
        ),
        Fault::Huge { bytes, declared } => json(
            declared.then_some(*bytes),
            huge(*bytes, Arc::clone(&shared.fault_bytes)),
        ),
        Fault::Reset => {
            let head: BodyStream = stream::iter([
                Ok(Frame::data(Bytes::from_static(
                    br#"{"Code":"Success","Data":["#,
                ))),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake: dropping the connection",
                )),
            ])
            .boxed();
            json(Some(4096), head)
        }
    }
}

/// 200 with the headers of an object of `len` bytes, then a body that never comes.
pub(super) fn stalled(len: u64) -> Resp {
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream::pending::<
        Result<Frame<Bytes>, std::io::Error>,
    >())));
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

type BodyStream = futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>;

/// `{"Code":"Success","Data":"xxxx…` of `total` bytes in 64 KiB frames, made lazily.
fn huge(total: u64, sent: Arc<AtomicU64>) -> BodyStream {
    const CHUNK: usize = 64 << 10;
    let filler = Bytes::from(vec![b'x'; CHUNK]);
    let head = Bytes::from_static(br#"{"Code":"Success","Data":""#);
    let mut left = total;
    let mut first = Some(head);
    stream::iter(std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let chunk = first.take().unwrap_or_else(|| filler.clone());
        let n = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
        left -= n as u64;
        sent.fetch_add(n as u64, Ordering::Relaxed);
        Some(Ok::<_, std::io::Error>(Frame::data(chunk.slice(..n))))
    }))
    .boxed()
}
