//! Getting a backup's bytes to [`crate::rdb`]: two ranged GETs for the light check, one
//! streamed GET for the full one, every byte through the shared bandwidth limiter and
//! counted. The dump is never written to disk: the full check's walker runs on a
//! blocking thread, fed through a channel of a few chunks, so memory stays bounded
//! whatever the object's size. URLs stay inside; errors name the HTTP status only.

use std::io::Read;
use std::num::NonZeroU32;

use hyper::body::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use tokio::sync::mpsc;

use super::{Outcome, Verification};
use crate::cds::SecretUrl;
use crate::config::VerifyLevel;
use crate::rdb::{self, Container, Failure, Summary};

/// Bytes from the network to their destination, paced and counted.
pub(super) struct Pipe<'a> {
    pub limiter: &'a governor::DefaultDirectRateLimiter,
    /// The limiter's burst: no single wait may ask for more.
    pub burst: u32,
    pub bytes: u64,
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl Pipe<'_> {
    async fn pace(&mut self, n: usize) {
        let mut left = n as u64;
        while left > 0 {
            let take = left.min(u64::from(self.burst)) as u32;
            if let Some(cells) = NonZeroU32::new(take) {
                // The request never exceeds the burst, so it cannot be refused.
                let _ = self.limiter.until_n_ready(cells).await;
            }
            left -= u64::from(take);
        }
        self.bytes += n as u64;
        (self.on_bytes)(n as u64);
    }
}

fn failed(level: VerifyLevel, status: u16, detail: impl Into<String>) -> Verification {
    Verification {
        level,
        outcome: Outcome::DownloadFailed,
        http_status: (status != 0).then_some(status),
        detail: detail.into(),
        ..Verification::default()
    }
}

/// What a transport error was, without the URL reqwest would print.
fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "the connection failed"
    }
}

fn format_name(c: Container) -> &'static str {
    match c {
        Container::Raw => "rdb",
        Container::Gzip => "gzip",
        Container::Tar => "tar",
        Container::TarGz => "tar.gz",
    }
}

/// A verdict of [`rdb`] as a verification.
fn judged(level: VerifyLevel, verdict: Result<Summary, Failure>) -> Verification {
    match verdict {
        Ok(s) => Verification {
            level,
            outcome: if s.keys == 0 {
                Outcome::Empty
            } else {
                Outcome::Ok
            },
            keys: Some(s.keys),
            keys_with_expiry: Some(s.keys_with_expiry),
            ..with_head(level, &s.head)
        },
        Err(f) => failure(level, &f),
    }
}

fn with_head(level: VerifyLevel, h: &rdb::Head) -> Verification {
    Verification {
        level,
        outcome: Outcome::Ok,
        format: Some(format_name(h.container).to_owned()),
        rdb_version: Some(h.version),
        redis_version: h.aux.redis_ver.clone(),
        snapshot_time: h.aux.ctime,
        ..Verification::default()
    }
}

fn failure(level: VerifyLevel, f: &Failure) -> Verification {
    let outcome = match f {
        Failure::NotRdb { .. } => Outcome::NotRdb,
        Failure::UnsupportedVersion { .. } => Outcome::UnsupportedVersion,
        Failure::Truncated { .. } => Outcome::Truncated,
        Failure::ChecksumMismatch { .. } => Outcome::ChecksumMismatch,
        Failure::Corrupt { .. } => Outcome::Corrupt,
        Failure::Unreadable { .. } => Outcome::DownloadFailed,
    };
    Verification {
        level,
        outcome,
        detail: f.to_string(),
        ..Verification::default()
    }
}

/// The total size from `Content-Range: bytes a-b/TOTAL`, else `Content-Length`.
fn total_size(r: &reqwest::Response) -> Option<u64> {
    let header = |name| r.headers().get(name).and_then(|v| v.to_str().ok());
    header(CONTENT_RANGE)
        .and_then(|v| v.rsplit_once('/'))
        .and_then(|(_, total)| total.trim().parse().ok())
        .or_else(|| header(CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()))
}

/// Up to `limit` bytes of a body.
async fn read_up_to(
    r: &mut reqwest::Response,
    limit: usize,
    pipe: &mut Pipe<'_>,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::with_capacity(limit.min(1 << 16));
    while out.len() < limit {
        let Some(chunk) = r.chunk().await? else { break };
        let take = chunk.len().min(limit - out.len());
        pipe.pace(take).await;
        out.extend_from_slice(&chunk[..take]);
    }
    Ok(out)
}

/// Light: the first [`rdb::HEAD_BYTES`] and the last [`rdb::TAIL_BYTES`] of the object.
/// An object that fits in the head is checked whole (keys counted, emptiness seen).
pub(super) async fn light(
    http: &reqwest::Client,
    url: &SecretUrl,
    pipe: &mut Pipe<'_>,
) -> Verification {
    let level = VerifyLevel::Light;
    let range = format!("bytes=0-{}", rdb::HEAD_BYTES - 1);
    let mut r = match http.get(url.expose()).header(RANGE, range).send().await {
        Ok(r) => r,
        Err(e) => return failed(level, 0, transport(&e)),
    };
    let status = r.status().as_u16();
    if !(status == 200 || status == 206) {
        return failed(
            level,
            status,
            format!("the download answered HTTP {status}"),
        );
    }
    let Some(total) = total_size(&r) else {
        return failed(
            level,
            status,
            "the download gave no size (no Content-Range or Content-Length)",
        );
    };
    let head = match read_up_to(&mut r, rdb::HEAD_BYTES, pipe).await {
        Ok(h) => h,
        Err(e) => return failed(level, status, transport(&e)),
    };
    drop(r);
    if (head.len() as u64) >= total {
        return judged(level, rdb::verify(&head[..]));
    }
    let tail_range = format!("bytes=-{}", rdb::TAIL_BYTES);
    let mut t = match http
        .get(url.expose())
        .header(RANGE, tail_range)
        .send()
        .await
    {
        Ok(t) => t,
        Err(e) => return failed(level, 0, transport(&e)),
    };
    let tail_status = t.status().as_u16();
    if tail_status != 206 {
        return failed(
            level,
            tail_status,
            format!("the ranged download of the end answered HTTP {tail_status}"),
        );
    }
    let tail = match read_up_to(&mut t, rdb::TAIL_BYTES, pipe).await {
        Ok(t) => t,
        Err(e) => return failed(level, tail_status, transport(&e)),
    };
    match rdb::inspect(&head, &tail, total) {
        Ok(h) => with_head(level, &h),
        Err(f) => failure(level, &f),
    }
}

/// Feeds the blocking walker from the download; an error of the download is an I/O
/// error (the walker says `Unreadable`), never a short dump.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Full: the whole object streamed through [`rdb::verify`], at most `max_size` bytes.
pub(super) async fn full(
    http: &reqwest::Client,
    url: &SecretUrl,
    max_size: u64,
    pipe: &mut Pipe<'_>,
) -> Verification {
    let level = VerifyLevel::Full;
    let mut r = match http.get(url.expose()).send().await {
        Ok(r) => r,
        Err(e) => return failed(level, 0, transport(&e)),
    };
    let status = r.status().as_u16();
    if status != 200 {
        return failed(
            level,
            status,
            format!("the download answered HTTP {status}"),
        );
    }
    let too_large = |n: u64| Verification {
        level,
        outcome: Outcome::TooLarge,
        detail: format!("{n} bytes, more than verify.max_size ({max_size})"),
        ..Verification::default()
    };
    if let Some(n) = total_size(&r).filter(|n| *n > max_size) {
        return too_large(n);
    }
    // A few chunks in flight: the network waits for the walker, not memory.
    let (tx, rx) = mpsc::channel(4);
    let walker = tokio::task::spawn_blocking(move || {
        rdb::verify(ChannelReader {
            rx,
            cur: Bytes::new(),
        })
    });
    loop {
        let chunk = match r.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(transport(&e).to_owned())).await;
                break;
            }
        };
        pipe.pace(chunk.len()).await;
        if pipe.bytes > max_size {
            return too_large(pipe.bytes);
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The walker has its verdict (a corrupt record): the rest is not needed.
            break;
        }
    }
    drop(tx);
    match walker.await {
        Ok(verdict) => judged(level, verdict),
        Err(e) => failed(level, status, format!("the check stopped: {e}")),
    }
}
