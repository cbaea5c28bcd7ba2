//! Prometheus series: one struct owns every metric, registered once in [`Metrics::new`].
//!
//! Two registries. The per-cycle one (every backup, shard and instance series) is rebuilt
//! from each completed [`Snapshot`], so series of backups and instances that disappear
//! are removed, and rendered once per cycle to text and to gzip. The live one (API
//! counters and latency, poll stats, build info, process metrics) is small and rendered
//! per scrape. A scrape therefore costs a copy of cached bytes plus a few dozen lines,
//! whatever the number of backups, never sees half a cycle and never calls the CDS API.
//! Gzip answers are two gzip members back to back, which RFC 1952 and Prometheus's
//! decoder accept as one stream.

use std::io::Write as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use flate2::write::GzEncoder;
use hyper::body::Bytes;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::state::Snapshot;

const BACKUP: [&str; 5] = [
    "instance_uuid",
    "backup_id",
    "shard_id",
    "backup_type",
    "backup_mode",
];
const BACKUP_URL: [&str; 6] = [
    "instance_uuid",
    "backup_id",
    "shard_id",
    "backup_type",
    "backup_mode",
    "url_type",
];
const SHARD: [&str; 2] = ["instance_uuid", "shard_id"];

/// Raw CDS statuses mapped to the state set; anything else is `other`.
const STATES: [&str; 4] = ["finished", "running", "failed", "other"];

/// One cycle's series, rendered.
#[derive(Debug, Default)]
struct Rendered {
    text: Bytes,
    gzip: Bytes,
}

#[derive(Debug)]
pub struct Metrics {
    /// Series replaced every cycle.
    cycle: Registry,
    /// Series read at every scrape.
    live: Registry,
    /// Serialises publishers (there is one poll loop, but keep it obviously safe).
    publish: Mutex<()>,
    rendered: RwLock<Arc<Rendered>>,
    backup_state: GaugeVec,
    backup_status_info: GaugeVec,
    backup_size: GaugeVec,
    backup_start: GaugeVec,
    backup_end: GaugeVec,
    backup_duration: GaugeVec,
    url_reachable: GaugeVec,
    url_status: GaugeVec,
    url_probe_duration: GaugeVec,
    url_size_matches: GaugeVec,
    last_success: GaugeVec,
    last_success_size: GaugeVec,
    backup_up: GaugeVec,
    instance_backups: GaugeVec,
    instance_info: GaugeVec,
    discovery_up: GaugeVec,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
    poll_duration: Gauge,
    last_poll: Gauge,
    last_poll_success: IntGauge,
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<Gauge> {
    let g = Gauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// The raw status mapped to the `state` label of `cds_redis_backup_state`.
pub fn state_of(status: &str) -> &'static str {
    match status {
        "finished" => "finished",
        "running" => "running",
        "failed" => "failed",
        _ => "other",
    }
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let live = Registry::new();
        #[cfg(target_os = "linux")]
        live.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build = gauge_vec(
            &live,
            "cds_redis_backup_exporter_build_info",
            "Build of this exporter; always 1.",
            &["version", "revision"],
        )?;
        build
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("BUILD_REVISION").unwrap_or("unknown"),
            ])
            .set(1.0);
        let api_requests = IntCounterVec::new(
            Opts::new("cds_redis_backup_exporter_api_requests_total", "CDS API calls by account, action and result code (Success, a CDS error code, or http_error, decode_error, timeout, transport_error)."),
            &["account", "action", "code"],
        )?;
        live.register(Box::new(api_requests.clone()))?;
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "cds_redis_backup_exporter_api_request_duration_seconds",
                "Latency of CDS API calls.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["action"],
        )?;
        live.register(Box::new(api_duration.clone()))?;
        let last_poll_success = IntGauge::new(
            "cds_redis_backup_exporter_last_poll_success",
            "1 if every call of the last completed poll cycle succeeded.",
        )?;
        live.register(Box::new(last_poll_success.clone()))?;
        Ok(Self {
            backup_state: gauge_vec(&r, "cds_redis_backup_state", "Backup state set: 1 for the backup's current state (finished, running, failed, other), 0 for the others.", &[&BACKUP[..], &["state"]].concat())?,
            backup_status_info: gauge_vec(&r, "cds_redis_backup_status_info", "The backup's raw CDS Status; always 1.", &[&BACKUP[..], &["status"]].concat())?,
            backup_size: gauge_vec(&r, "cds_redis_backup_size_bytes", "BackupSize reported by CDS.", &BACKUP)?,
            backup_start: gauge_vec(&r, "cds_redis_backup_start_timestamp_seconds", "Backup StartTime as Unix time.", &BACKUP)?,
            backup_end: gauge_vec(&r, "cds_redis_backup_end_timestamp_seconds", "Backup EndTime as Unix time; absent while not finished.", &BACKUP)?,
            backup_duration: gauge_vec(&r, "cds_redis_backup_duration_seconds", "EndTime minus StartTime; absent while not finished.", &BACKUP)?,
            url_reachable: gauge_vec(&r, "cds_redis_backup_download_url_reachable", "1 if a ranged GET of the download URL answered 2xx.", &BACKUP_URL)?,
            url_status: gauge_vec(&r, "cds_redis_backup_download_url_status_code", "HTTP status of the download URL probe; 0 if no answer.", &BACKUP_URL)?,
            url_probe_duration: gauge_vec(&r, "cds_redis_backup_download_url_probe_duration_seconds", "Duration of the download URL probe.", &BACKUP_URL)?,
            url_size_matches: gauge_vec(&r, "cds_redis_backup_download_size_matches", "1 if the object's total size equals BackupSize; absent when the answer gives no size.", &BACKUP_URL)?,
            last_success: gauge_vec(&r, "cds_redis_backup_last_success_timestamp_seconds", "EndTime of the newest finished backup known for the instance and shard.", &SHARD)?,
            last_success_size: gauge_vec(&r, "cds_redis_backup_last_success_size_bytes", "Size of the newest finished backup known for the instance and shard.", &SHARD)?,
            backup_up: gauge_vec(&r, "cds_redis_backup_up", "1 if the last CDS call for the target succeeded (backup_id is empty for instance-level calls).", &["instance_uuid", "backup_id"])?,
            instance_backups: gauge_vec(&r, "cds_redis_instance_backups", "Number of backups DescribeBackups lists for the instance.", &["instance_uuid"])?,
            instance_info: gauge_vec(&r, "cds_redis_instance_info", "Instances found by DescribeDBInstances; always 1.", &["account", "instance_uuid", "instance_name", "sub_product", "region_id", "version"])?,
            discovery_up: gauge_vec(&r, "cds_redis_backup_exporter_discovery_up", "1 if the last DescribeDBInstances call of the account succeeded.", &["account"])?,
            poll_duration: gauge(&live, "cds_redis_backup_exporter_poll_duration_seconds", "Duration of the last completed poll cycle.")?,
            last_poll: gauge(&live, "cds_redis_backup_exporter_last_poll_timestamp_seconds", "End of the last completed poll cycle as Unix time.")?,
            last_poll_success,
            api_requests,
            api_duration,
            publish: Mutex::new(()),
            rendered: RwLock::new(Arc::default()),
            cycle: r,
            live,
        })
    }

    /// Counts one CDS call.
    pub fn observe_api(&self, account: &str, action: &str, code: &str, took: Duration) {
        self.api_requests
            .with_label_values(&[account, action, code])
            .inc();
        self.api_duration
            .with_label_values(&[action])
            .observe(took.as_secs_f64());
    }

    /// Replaces every per-cycle series with what `snap` says.
    pub fn publish(&self, snap: &Snapshot) {
        let _guard = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        for g in [
            &self.backup_state,
            &self.backup_status_info,
            &self.backup_size,
            &self.backup_start,
            &self.backup_end,
            &self.backup_duration,
            &self.url_reachable,
            &self.url_status,
            &self.url_probe_duration,
            &self.url_size_matches,
            &self.last_success,
            &self.last_success_size,
            &self.backup_up,
            &self.instance_backups,
            &self.instance_info,
            &self.discovery_up,
        ] {
            g.reset();
        }
        for b in snap.backups.values() {
            let bk = &b.backup;
            let l = [
                b.instance_uuid.as_str(),
                &bk.id,
                &b.shard_id,
                &bk.backup_type,
                &bk.mode,
            ];
            let state = state_of(&bk.status);
            for s in STATES {
                self.backup_state
                    .with_label_values(&[&l[..], &[s]].concat())
                    .set(f64::from(u8::from(s == state)));
            }
            self.backup_status_info
                .with_label_values(&[&l[..], &[bk.status.as_str()]].concat())
                .set(1.0);
            if let Some(size) = bk.size {
                self.backup_size.with_label_values(&l).set(size as f64);
            }
            if let Some(start) = bk.start {
                self.backup_start
                    .with_label_values(&l)
                    .set(start.timestamp() as f64);
            }
            if let (Some(end), true) = (bk.end, bk.is_finished()) {
                self.backup_end
                    .with_label_values(&l)
                    .set(end.timestamp() as f64);
                if let Some(start) = bk.start {
                    self.backup_duration
                        .with_label_values(&l)
                        .set((end - start).num_seconds() as f64);
                }
            }
            for (url_type, p) in &b.probes {
                let lu = [&l[..], &[url_type.as_str()]].concat();
                self.url_reachable
                    .with_label_values(&lu)
                    .set(f64::from(u8::from(p.reachable())));
                self.url_status
                    .with_label_values(&lu)
                    .set(f64::from(p.status));
                self.url_probe_duration
                    .with_label_values(&lu)
                    .set(p.duration.as_secs_f64());
                if let (Some(total), Some(size)) = (p.total_size, bk.size) {
                    self.url_size_matches
                        .with_label_values(&lu)
                        .set(f64::from(u8::from(total == size)));
                }
            }
        }
        for ((instance, shard), ls) in snap.last_success() {
            self.last_success
                .with_label_values(&[&instance, &shard])
                .set(ls.end.timestamp() as f64);
            if let Some(size) = ls.size {
                self.last_success_size
                    .with_label_values(&[&instance, &shard])
                    .set(size as f64);
            }
        }
        for ((instance, backup), up) in &snap.targets_up {
            self.backup_up
                .with_label_values(&[instance, backup])
                .set(f64::from(u8::from(*up)));
        }
        for (instance, n) in &snap.instance_backups {
            self.instance_backups
                .with_label_values(&[instance])
                .set(*n as f64);
        }
        for (uuid, (account, i)) in &snap.instances {
            self.instance_info
                .with_label_values(&[
                    account,
                    uuid,
                    &i.name,
                    &i.sub_product,
                    &i.region_id,
                    &i.version,
                ])
                .set(1.0);
        }
        for (account, up) in &snap.discovery_up {
            self.discovery_up
                .with_label_values(&[account])
                .set(f64::from(u8::from(*up)));
        }
        let text = encode(&self.cycle.gather());
        let gzip = gzip(text.as_bytes());
        *self.rendered.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Rendered {
            text: Bytes::from(text),
            gzip: Bytes::from(gzip),
        });
        // The live poll stats change last, so a scrape never shows a new cycle's
        // timestamp beside the previous cycle's series.
        if let Some(c) = &snap.cycle {
            self.poll_duration.set(c.duration.as_secs_f64());
            self.last_poll
                .set(c.ended.timestamp_millis() as f64 / 1000.0);
            self.last_poll_success.set(i64::from(c.success));
        }
    }

    /// The whole exposition: the last cycle's cached rendering plus the live series,
    /// gzip-compressed when `gzip` (as two concatenated gzip members).
    pub fn scrape(&self, gzip: bool) -> Bytes {
        let cycle = Arc::clone(&self.rendered.read().unwrap_or_else(|p| p.into_inner()));
        let live = encode(&self.live.gather());
        let (head, tail) = if gzip {
            (&cycle.gzip, self::gzip(live.as_bytes()))
        } else {
            (&cycle.text, live.into_bytes())
        };
        let mut out = Vec::with_capacity(head.len() + tail.len());
        out.extend_from_slice(head);
        out.extend_from_slice(&tail);
        Bytes::from(out)
    }

    /// The uncompressed exposition as text (tests, tools).
    pub fn encode(&self) -> String {
        String::from_utf8_lossy(&self.scrape(false)).into_owned()
    }
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
    // several times, at a fraction of the CPU of the default level.
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}
