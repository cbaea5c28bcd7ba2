//! Getting a backup's bytes to [`crate::rdb`]: two ranged GETs for the light check, one
//! streamed GET for the full one, every byte through the shared bandwidth limiter,
//! counted, and held in the daily budget before it is taken. The dump is never written
//! to disk, and it is never looked at on the runtime's thread: every walk and every
//! decompression runs on a blocking thread ([`off_thread`]), the full check's fed
//! through a channel of a few chunks, so memory stays bounded whatever the object's
//! size and no object can hold up a scrape. Each request must connect and answer
//! within the probe's timeout. URLs stay inside; errors name the HTTP status only.

use std::io::Read;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use tokio::sync::mpsc;

use super::{Outcome, Verification};
use crate::cds::SecretUrl;
use crate::config::VerifyLevel;
use crate::rdb::{self, Failure, Summary};

/// What stopped taking bytes: the daily budget could not hold more.
#[derive(Debug)]
pub(super) struct Spent;

/// Bytes from the network to their destination, paced, counted and paid for.
pub(super) struct Pipe<'a> {
    pub limiter: &'a governor::DefaultDirectRateLimiter,
    /// The limiter's burst: no single wait may ask for more.
    pub burst: u32,
    pub bytes: u64,
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
    /// Bytes of the daily budget this job holds; no byte is taken past them.
    pub reserved: u64,
    /// Asks the budget for this many more bytes; false when it cannot hold them.
    pub reserve: &'a (dyn Fn(u64) -> bool + Sync),
    /// How long a request may take to connect and answer with its headers.
    pub answer_within: Duration,
}

impl Pipe<'_> {
    /// Holds `total` bytes of the budget for this job, asking for what is missing.
    pub(super) fn hold(&mut self, total: u64) -> Result<(), Spent> {
        if total <= self.reserved {
            return Ok(());
        }
        if !(self.reserve)(total - self.reserved) {
            return Err(Spent);
        }
        self.reserved = total;
        Ok(())
    }

    async fn pace(&mut self, n: usize) -> Result<(), Spent> {
        self.hold(self.bytes.saturating_add(n as u64))?;
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
        Ok(())
    }

    /// The body's next chunk, when it comes within [`Pipe::answer_within`]: a server
    /// that sends its headers and then nothing must not hold a worker until
    /// `verify.timeout`.
    async fn chunk(&self, r: &mut reqwest::Response) -> Result<Option<Bytes>, String> {
        match tokio::time::timeout(self.answer_within, r.chunk()).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(transport(&e).to_owned()),
            Err(_) => Err(format!(
                "no data for {} (probe.timeout)",
                humantime::format_duration(self.answer_within)
            )),
        }
    }

    /// Sends `req`; the response when it answered within [`Pipe::answer_within`].
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, String> {
        match tokio::time::timeout(self.answer_within, req.send()).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(transport(&e).to_owned()),
            Err(_) => Err(format!(
                "no answer within {} (probe.timeout)",
                humantime::format_duration(self.answer_within)
            )),
        }
    }
}

/// The result of a job stopped because the daily budget is spent.
pub(super) fn budget_spent(level: VerifyLevel) -> Verification {
    Verification {
        level,
        outcome: Outcome::Skipped,
        detail: "the daily budget (verify.daily_budget) is spent; tried again tomorrow".into(),
        ..Verification::default()
    }
}

/// Set when the job that started a blocking walk is gone (its deadline passed, a
/// reload, shutdown), so the walk stops at its next read instead of running on.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The object's bytes for a blocking walk, which ends (as unreadable) once stopped.
struct Stoppable<R> {
    inner: R,
    stop: Arc<AtomicBool>,
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the verification was stopped"));
        }
        self.inner.read(buf)
    }
}

/// Walks of a dump already in memory (the light check's) run one at a time, process
/// wide: each is CPU from start to end, and eight at once on a two-core host would
/// leave the runtime's thread a fifth of a core, so scrapes would wait on the scheduler.
/// The full check's walks wait on the network, paced by the bandwidth cap, and are not
/// counted here.
static IN_MEMORY_WALKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Runs `walk` on a blocking thread, never on the runtime's: a dump's walk and its
/// decompression are CPU work whose length the object decides. Its input stops when
/// the returned future is dropped. `Err`: the walk panicked or was cancelled.
async fn off_thread<R, T, F>(input: R, walk: F) -> Result<T, String>
where
    R: Read + Send + 'static,
    T: Send + 'static,
    F: FnOnce(Stoppable<R>) -> T + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let input = Stoppable { inner: input, stop };
    tokio::task::spawn_blocking(move || walk(input))
        .await
        .map_err(|e| format!("the check stopped: {e}"))
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

/// A verdict of [`rdb`] as a verification.
fn judged(level: VerifyLevel, verdict: Result<Summary, Failure>) -> Verification {
    match verdict {
        Ok(s) => Verification {
            level,
            outcome: match (s.keys, s.databases_needed()) {
                (0, _) => Outcome::Empty,
                (_, Some(_)) => Outcome::NeedsDatabases,
                _ => Outcome::Ok,
            },
            detail: s
                .databases_needed()
                .map(|n| {
                    format!(
                        "keys in database {}: a redis-server with the default {} databases refuses to load it; it restores where `databases` is at least {n}",
                        n - 1,
                        rdb::DEFAULT_DATABASES
                    )
                })
                .unwrap_or_default(),
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
        format: Some(h.container),
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
        Failure::Inflated { .. } => Outcome::TooLarge,
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

/// Why a body was not read to its end.
enum Stopped {
    Transport(String),
    Budget,
}

/// Up to `limit` bytes of a body.
async fn read_up_to(
    r: &mut reqwest::Response,
    limit: usize,
    pipe: &mut Pipe<'_>,
) -> Result<Vec<u8>, Stopped> {
    let mut out = Vec::with_capacity(limit.min(1 << 16));
    while out.len() < limit {
        let Some(chunk) = pipe.chunk(r).await.map_err(Stopped::Transport)? else {
            break;
        };
        let take = chunk.len().min(limit - out.len());
        pipe.pace(take).await.map_err(|Spent| Stopped::Budget)?;
        out.extend_from_slice(&chunk[..take]);
    }
    Ok(out)
}

/// Light: the first [`rdb::HEAD_BYTES`] and the last [`rdb::TAIL_BYTES`] of the object.
/// An object that fits in the head is checked whole (keys counted, emptiness seen); a
/// larger one gets the key count its head's RESIZEDB opcodes declare, a hint.
pub(super) async fn light(
    http: &reqwest::Client,
    url: &SecretUrl,
    pipe: &mut Pipe<'_>,
) -> Verification {
    let level = VerifyLevel::Light;
    let range = format!("bytes=0-{}", rdb::HEAD_BYTES - 1);
    let mut r = match pipe.send(http.get(url.expose()).header(RANGE, range)).await {
        Ok(r) => r,
        Err(e) => return failed(level, 0, e),
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
        Err(Stopped::Transport(e)) => return failed(level, status, e),
        Err(Stopped::Budget) => return budget_spent(level),
    };
    drop(r);
    if (head.len() as u64) >= total {
        let _one_at_a_time = IN_MEMORY_WALKS.acquire().await;
        return match off_thread(std::io::Cursor::new(head), rdb::verify).await {
            Ok(verdict) => judged(level, verdict),
            Err(e) => failed(level, status, e),
        };
    }
    let tail_range = format!("bytes=-{}", rdb::TAIL_BYTES);
    let mut t = match pipe
        .send(http.get(url.expose()).header(RANGE, tail_range))
        .await
    {
        Ok(t) => t,
        Err(e) => return failed(level, 0, e),
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
        Err(Stopped::Transport(e)) => return failed(level, tail_status, e),
        Err(Stopped::Budget) => return budget_spent(level),
    };
    // The head may be gzip, which inspect inflates (at most HEAD_BYTES of it).
    let inspected = off_thread(std::io::empty(), move |_| {
        rdb::inspect(&head, &tail, total).map(|h| (h, rdb::key_hint(&head)))
    })
    .await;
    match inspected {
        Ok(Ok((h, hint))) => hinted(with_head(level, &h), hint),
        Ok(Err(f)) => failure(level, &f),
        Err(e) => failed(level, status, e),
    }
}

/// A light result with the key count the head suggests ([`rdb::KeyHint`]): `empty`
/// when the head declares no key and holds none, the declared count otherwise, as
/// `keys_hint`. Without a hint (no RESIZEDB in the head) the count stays unknown.
fn hinted(v: Verification, hint: Option<rdb::KeyHint>) -> Verification {
    let Some(keys) = hint.and_then(|h| h.keys()) else {
        return v;
    };
    let empty = keys == 0;
    Verification {
        outcome: if empty { Outcome::Empty } else { v.outcome },
        detail: if empty {
            "the RESIZEDB hint in the dump's head declares no key and the head holds none (a hint, not a count)".to_owned()
        } else {
            v.detail
        },
        keys: Some(keys),
        keys_with_expiry: hint.and_then(|h| h.expires()),
        keys_hint: true,
        ..v
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
    let mut r = match pipe.send(http.get(url.expose())).await {
        Ok(r) => r,
        Err(e) => return failed(level, 0, e),
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
    let declared = total_size(&r);
    if let Some(n) = declared.filter(|n| *n > max_size) {
        return too_large(n);
    }
    // The whole object is held before its first byte is taken, when its size is known.
    if let Some(n) = declared {
        if pipe.hold(n).is_err() {
            return budget_spent(level);
        }
    }
    // A few chunks in flight: the network waits for the walker, not memory.
    let (tx, rx) = mpsc::channel(4);
    let input = ChannelReader {
        rx,
        cur: Bytes::new(),
    };
    let walker = off_thread(input, rdb::verify);
    tokio::pin!(walker);
    let mut stopped = None;
    loop {
        let chunk = tokio::select! {
            // Watched while sending, so a verdict reached early stops the download.
            verdict = &mut walker => return judged_or_failed(level, status, verdict),
            chunk = pipe.chunk(&mut r) => chunk,
        };
        let chunk = match chunk {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
        };
        if pipe.bytes.saturating_add(chunk.len() as u64) > max_size {
            return too_large(pipe.bytes.saturating_add(chunk.len() as u64));
        }
        if pipe.pace(chunk.len()).await.is_err() {
            stopped = Some(budget_spent(level));
            break;
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The walker has its verdict (a corrupt record): the rest is not needed.
            break;
        }
    }
    drop(tx);
    if let Some(v) = stopped {
        return v;
    }
    judged_or_failed(level, status, walker.await)
}

fn judged_or_failed(
    level: VerifyLevel,
    status: u16,
    verdict: Result<Result<Summary, Failure>, String>,
) -> Verification {
    match verdict {
        Ok(verdict) => judged(level, verdict),
        Err(e) => failed(level, status, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light_ok() -> Verification {
        Verification {
            level: VerifyLevel::Light,
            outcome: Outcome::Ok,
            ..Verification::default()
        }
    }

    #[test]
    fn the_head_hint_gives_light_its_key_count_and_emptiness() {
        let declared = |dbs, keys, read| rdb::KeyHint {
            dbs,
            declared_keys: keys,
            declared_expires: 7,
            keys_read: read,
            expires_read: 0,
            complete: false,
        };
        let v = hinted(light_ok(), Some(declared(1, 1000, 40)));
        assert_eq!(
            (v.outcome, v.keys, v.keys_with_expiry, v.keys_hint),
            (Outcome::Ok, Some(1000), Some(7), true)
        );
        let v = hinted(light_ok(), Some(declared(1, 0, 0)));
        assert_eq!(
            (v.outcome, v.keys, v.keys_hint),
            (Outcome::Empty, Some(0), true)
        );
        assert!(v.detail.contains("RESIZEDB"), "{}", v.detail);
        // No RESIZEDB in the head, or no hint: the count stays unknown, as before.
        for h in [Some(declared(0, 0, 0)), None] {
            let v = hinted(light_ok(), h);
            assert_eq!((v.outcome, v.keys, v.keys_hint), (Outcome::Ok, None, false));
        }
    }
}
