//! Prometheus series: one struct owns every metric, registered once in [`Metrics::new`].
//!
//! Two parts. The per-cycle series (every backup, shard and instance, and the cycle's
//! own duration, end and success) are written by [`render`] from each completed
//! [`Snapshot`] — so series of backups and instances that disappear are gone, and
//! nothing about cycles is served before the first one — straight into a gzip stream,
//! and only the compressed form is kept (about a twentieth of the text); the rare
//! uncompressed scrape inflates it piece by piece as the answer is sent, so no scrape
//! ever holds the whole text either (17 MB with 10,000 backups). The live series (API counters and latency, reload
//! state, build info, process metrics) sit in a small registry rendered per scrape. A scrape therefore costs a copy of cached bytes plus a few dozen lines,
//! whatever the number of backups, never sees half a cycle and never calls the CDS API.
//! Gzip answers are two gzip members back to back, which RFC 1952 and Prometheus's
//! decoder read as one stream.

pub mod catalog;
pub mod labels;
mod render;

use std::collections::VecDeque;
use std::io::{Cursor, Write as _};
use std::sync::RwLock;
use std::time::Duration;

use bytes::BytesMut;
use flate2::write::GzEncoder;
use hyper::body::Bytes;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Registry,
    TextEncoder,
};

use crate::cds::{Action, ErrorKind};
use crate::state::Snapshot;
use catalog::{self as c, Family};
use labels::*;
pub use render::{render, render_to, StateLabel};

#[derive(Debug)]
pub struct Metrics {
    /// Series read at every scrape.
    live: Registry,
    /// The last cycle's series, gzip-compressed: nothing else of them is kept.
    rendered: RwLock<Cycle>,
    api_requests: IntCounterVec,
    api_errors: IntCounterVec,
    api_retries: IntCounterVec,
    skipped: IntCounterVec,
    api_duration: HistogramVec,
    reload_ok: IntGauge,
    reload_time: Gauge,
    shard_info: prometheus::IntGaugeVec,
    verify_bytes: prometheus::IntCounter,
    verify_in_flight: IntGauge,
    verify_queued: IntGauge,
    verify_budget: IntGauge,
    state_file: IntGauge,
}

/// A family's label names, as the client library takes them.
fn names<L: Labels>(f: &Family<L>) -> Vec<&'static str> {
    f.label_names()
}

fn register<T: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    c: T,
) -> prometheus::Result<T> {
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let live = Registry::new();
        #[cfg(target_os = "linux")]
        live.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build = register(
            &live,
            GaugeVec::new(c::BUILD_INFO.opts(), &names(&c::BUILD_INFO))?,
        )?;
        let version = BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
            revision: option_env!("BUILD_REVISION").unwrap_or("unknown"),
        };
        build.with_label_values(&version.values()).set(1.0);
        Ok(Self {
            api_requests: register(
                &live,
                IntCounterVec::new(c::API_REQUESTS_TOTAL.opts(), &names(&c::API_REQUESTS_TOTAL))?,
            )?,
            api_errors: register(
                &live,
                IntCounterVec::new(c::API_ERRORS_TOTAL.opts(), &names(&c::API_ERRORS_TOTAL))?,
            )?,
            api_retries: register(
                &live,
                IntCounterVec::new(c::API_RETRIES_TOTAL.opts(), &names(&c::API_RETRIES_TOTAL))?,
            )?,
            skipped: register(
                &live,
                IntCounterVec::new(
                    c::UNFINISHED_BACKUPS_SKIPPED_TOTAL.opts(),
                    &names(&c::UNFINISHED_BACKUPS_SKIPPED_TOTAL),
                )?,
            )?,
            reload_ok: register(
                &live,
                IntGauge::with_opts(c::CONFIG_LAST_RELOAD_SUCCESSFUL.opts())?,
            )?,
            reload_time: register(
                &live,
                Gauge::with_opts(c::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS.opts())?,
            )?,
            api_duration: register(
                &live,
                HistogramVec::new(
                    HistogramOpts::from(c::API_REQUEST_DURATION_SECONDS.opts())
                        .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
                    &names(&c::API_REQUEST_DURATION_SECONDS),
                )?,
            )?,
            shard_info: register(
                &live,
                prometheus::IntGaugeVec::new(c::SHARD_INFO.opts(), &names(&c::SHARD_INFO))?,
            )?,
            verify_bytes: register(
                &live,
                prometheus::IntCounter::with_opts(c::VERIFY_BYTES_TOTAL.opts())?,
            )?,
            verify_in_flight: register(&live, IntGauge::with_opts(c::VERIFY_IN_FLIGHT.opts())?)?,
            verify_queued: register(&live, IntGauge::with_opts(c::VERIFY_QUEUED.opts())?)?,
            verify_budget: register(
                &live,
                IntGauge::with_opts(c::VERIFY_BUDGET_REMAINING_BYTES.opts())?,
            )?,
            state_file: register(&live, IntGauge::with_opts(c::STATE_FILE_CONFIGURED.opts())?)?,
            rendered: RwLock::default(),
            live,
        })
    }

    /// Counts one CDS call.
    pub(crate) fn observe_api(&self, account: &str, action: Action, code: &str, took: Duration) {
        let call = ApiCallLabels {
            account,
            action: action.as_str(),
            code,
        };
        self.api_requests.with_label_values(&call.values()).inc();
        let action = ActionLabels {
            action: action.as_str(),
        };
        self.api_duration
            .with_label_values(&action.values())
            .observe(took.as_secs_f64());
    }

    /// Creates an account's error and retry counters at 0, so that `rate()` and
    /// `increase()` see its first failure and dashboards show 0 rather than nothing.
    pub(crate) fn init_account(&self, account: &str) {
        self.skipped
            .with_label_values(&AccountLabels { account }.values());
        for action in Action::ALL {
            let action = action.as_str();
            self.api_retries
                .with_label_values(&AccountActionLabels { account, action }.values());
            for kind in ErrorKind::ALL {
                let kind = kind.as_str();
                self.api_errors.with_label_values(
                    &ApiErrorLabels {
                        account,
                        action,
                        kind,
                    }
                    .values(),
                );
            }
        }
    }

    /// Counts one failed attempt by its [`crate::cds::CdsError::kind`].
    pub(crate) fn observe_error(&self, account: &str, action: Action, kind: ErrorKind) {
        let labels = ApiErrorLabels {
            account,
            action: action.as_str(),
            kind: kind.as_str(),
        };
        self.api_errors.with_label_values(&labels.values()).inc();
    }

    /// Counts unfinished backups left out by `poll.max_unfinished_backups`.
    pub(crate) fn observe_skipped(&self, account: &str, n: u64) {
        self.skipped
            .with_label_values(&AccountLabels { account }.values())
            .inc_by(n);
    }

    pub(crate) fn observe_retry(&self, account: &str, action: Action) {
        let labels = AccountActionLabels {
            account,
            action: action.as_str(),
        };
        self.api_retries.with_label_values(&labels.values()).inc();
    }

    /// CDS API calls made so far (every attempt), for progress reports.
    pub fn api_calls(&self) -> u64 {
        prometheus::core::Collector::collect(&self.api_requests)
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    /// No verification running or waiting.
    pub fn verify_idle(&self) -> bool {
        self.verify_in_flight.get() == 0 && self.verify_queued.get() == 0
    }

    /// Says which shard this replica polls.
    pub(crate) fn set_shard(&self, shard: crate::partition::Partition) {
        self.shard_info.reset();
        let (index, total) = (shard.index.to_string(), shard.total.to_string());
        let labels = ShardInfoLabels {
            shard: &index,
            total_shards: &total,
        };
        self.shard_info.with_label_values(&labels.values()).set(1);
    }

    /// Says whether facts survive a restart (the configuration sets a state file).
    pub(crate) fn state_file_configured(&self, yes: bool) {
        self.state_file.set(i64::from(yes));
    }

    /// Counts bytes downloaded by verification.
    pub(crate) fn verify_bytes(&self, n: u64) {
        self.verify_bytes.inc_by(n);
    }

    pub(crate) fn verify_progress(&self, in_flight: usize, queued: usize) {
        self.verify_in_flight.set(in_flight as i64);
        self.verify_queued.set(queued as i64);
    }

    pub(crate) fn verify_budget(&self, remaining: u64) {
        self.verify_budget
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    /// Records a configuration load (the first one at startup, then each reload).
    pub(crate) fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time
                .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    }

    /// Replaces every per-cycle series with what `snap` says.
    pub fn publish(&self, snap: &Snapshot) {
        // Sized from the last cycle's output, which the next one rarely outgrows by
        // much: growing by doubling would pass through buffers up to twice its size
        // while the last cycle's bytes are still held, and copy at each step.
        let last = crate::sync::read(&self.rendered).gzip.len();
        let mut enc = GzEncoder::new(
            Vec::with_capacity(last + last / 16 + 4096),
            flate2::Compression::fast(),
        );
        let mut text_len = 0;
        // Writing to a Vec cannot fail.
        render_to(snap, &mut |chunk| {
            text_len += chunk.len() as u64;
            let _ = enc.write_all(chunk);
        });
        let mut gzip = enc.finish().unwrap_or_default();
        // Kept for a whole cycle: do not keep the slack too.
        gzip.shrink_to_fit();
        *crate::sync::write(&self.rendered) = Cycle {
            gzip: Bytes::from(gzip),
            text_len,
        };
    }

    /// The whole exposition: the last cycle's series, then the live ones. With `gzip`
    /// the first is the cached bytes as they are (shared, not copied) and the second a
    /// small gzip member of its own; without, the first is inflated [`PIECE`] bytes at
    /// a time as the answer is sent.
    pub fn scrape(&self, gzip: bool) -> Exposition {
        let cycle = crate::sync::read(&self.rendered).clone();
        let live = encode(&self.live.gather());
        if gzip {
            let live = Bytes::from(self::gzip(live.as_bytes()));
            Exposition {
                len: (cycle.gzip.len() + live.len()) as u64,
                parts: VecDeque::from([Part::Ready(cycle.gzip), Part::Ready(live)]),
            }
        } else {
            Exposition {
                len: cycle.text_len + live.len() as u64,
                parts: VecDeque::from([
                    Part::Inflate {
                        from: Box::new(flate2::bufread::MultiGzDecoder::new(Cursor::new(
                            cycle.gzip,
                        ))),
                        left: cycle.text_len,
                        buf: BytesMut::new(),
                    },
                    Part::Ready(Bytes::from(live)),
                ]),
            }
        }
    }

    /// The uncompressed exposition as text (tests, tools).
    pub fn encode(&self) -> String {
        self.scrape(false)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    /// What is kept of the last cycle's series: its gzip bytes (tests).
    #[cfg(test)]
    fn kept(&self) -> Bytes {
        crate::sync::read(&self.rendered).gzip.clone()
    }
}

/// The last cycle's series as kept between scrapes.
#[derive(Debug, Clone, Default)]
struct Cycle {
    gzip: Bytes,
    /// The length of the text, for the answers' `Content-Length`.
    text_len: u64,
}

/// Bytes of text inflated at a time for an uncompressed scrape: small, because each
/// scrape in flight holds one, and a socket takes a few of them per write anyway.
pub const PIECE: usize = 16 * 1024;

/// An exposition being sent: pieces in order, made as they are asked for. Its length is
/// known beforehand.
pub struct Exposition {
    parts: VecDeque<Part>,
    len: u64,
}

enum Part {
    Ready(Bytes),
    /// `left`: text still to come, so a small exposition gets a small buffer. The
    /// decoder reads the cached bytes in place (no buffer of its own), and `buf` is one
    /// allocation reused for every piece once the previous piece has been sent: a
    /// 17 MB answer is not 270 allocations and frees for the allocator to scatter.
    Inflate {
        from: Box<flate2::bufread::MultiGzDecoder<Cursor<Bytes>>>,
        left: u64,
        buf: BytesMut,
    },
}

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("parts", &self.parts.len())
            .field("len", &self.len)
            .finish()
    }
}

impl Exposition {
    /// Bytes in the whole answer.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Iterator for Exposition {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.parts.front_mut()? {
                Part::Ready(_) => {
                    if let Some(Part::Ready(b)) = self.parts.pop_front() {
                        return Some(b);
                    }
                }
                Part::Inflate { from, left, buf } => {
                    let want = usize::try_from((*left).min(PIECE as u64)).unwrap_or(PIECE);
                    // Takes the allocation back when the last piece has been dropped.
                    buf.reserve(want);
                    buf.resize(want, 0);
                    // Inflating bytes this process compressed cannot fail; if it did,
                    // the answer would end short and the client see an error.
                    match read_full(from, &mut buf[..]) {
                        Ok(n) if n > 0 => {
                            *left -= n as u64;
                            buf.truncate(n);
                            return Some(buf.split().freeze());
                        }
                        _ => {
                            self.parts.pop_front();
                        }
                    }
                }
            }
        }
    }
}

/// Fills `out` unless the stream ends first; the bytes read.
fn read_full(from: &mut impl std::io::Read, out: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < out.len() {
        match from.read(&mut out[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut out = Vec::new();
    // Encoding into a Vec cannot fail for well-formed families.
    if let Err(e) = TextEncoder::new().encode(families, &mut out) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // Fast compression: the text is highly repetitive, so level 1 already shrinks it
    // many times, at a fraction of the CPU of the default level.
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot whose series are well over [`PIECE`] bytes of text.
    fn big() -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..20_000 {
            s.instance_backups.insert(format!("instance-{i:05}"), i);
        }
        s
    }

    /// Only the gzip bytes are kept, and an uncompressed scrape is handed over in
    /// pieces inflated as they are asked for, never as one text.
    #[test]
    fn only_gzip_is_kept_and_plain_scrapes_are_inflated_piece_by_piece() {
        let m = Metrics::new().unwrap();
        let snap = big();
        m.publish(&snap);
        let text = render(&snap);
        assert!(text.len() > 8 * PIECE, "{}", text.len());
        let kept = m.kept();
        assert_eq!(kept[..2], [0x1f, 0x8b], "gzip magic");
        assert!(
            kept.len() < text.len() / 4,
            "{} of {}",
            kept.len(),
            text.len()
        );
        let plain = m.scrape(false);
        let len = plain.len();
        let pieces: Vec<Bytes> = plain.collect();
        assert!(
            pieces.iter().all(|p| p.len() <= PIECE),
            "a piece of {} bytes",
            pieces.iter().map(Bytes::len).max().unwrap_or(0)
        );
        let whole: Vec<u8> = pieces.concat();
        assert_eq!(whole.len() as u64, len);
        assert_eq!(&whole[..text.len()], text.as_bytes());
        let gzip = m.scrape(true);
        let len = gzip.len();
        let pieces: Vec<Bytes> = gzip.collect();
        assert_eq!(pieces[0], kept, "the cached bytes as they are");
        assert_eq!(pieces.iter().map(|p| p.len() as u64).sum::<u64>(), len);
    }
}
