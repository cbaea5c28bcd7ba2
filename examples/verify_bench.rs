//! Full verification end to end, for BENCHMARKS.md: a loopback HTTP server streams
//! `--concurrency` generated dumps of `--gib` GiB each (never held in memory), and the
//! exporter's verifier downloads and checks them all at once, as it would presigned
//! backup URLs, with the bandwidth cap out of the way. Prints throughput, CPU per GiB
//! (the generator's share measured alone and subtracted) and peak RSS before and after,
//! so memory per concurrent verification can be read off two runs.
//!
//!     cargo run --release --example verify_bench -- --gib 2 --concurrency 1
//!     cargo run --release --example verify_bench -- --gib 2 --concurrency 4
//!
//! With `--bombs N`, it measures instead what N decompression bombs (54 KB gzip/LZF
//! dumps, `fake::dumps::lzf_bomb`) verified at once do to the exporter: the real
//! exporter runs on one thread, as in production, against the fake CDS API, while
//! another thread scrapes `/metrics` and `/-/healthy` every 10 ms until every bomb has
//! its result, and prints the latency (p50, p99, max) and how long the bombs took.
//!
//!     cargo run --release --example verify_bench -- --bombs 8

#[path = "common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use clap::Parser;
use http_body_util::StreamBody;
use hyper::body::{Bytes, Frame};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use cds_redis_backup_exporter::cds::{SecretUrl, UrlType};
use cds_redis_backup_exporter::config::{VerifyConfig, VerifyLevel};
use cds_redis_backup_exporter::metrics::Metrics;
use cds_redis_backup_exporter::state::BackupKey;
use cds_redis_backup_exporter::verify::{Job, Outcome, Verifier};
use common::{cpu_seconds, generation_cpu, peak_rss_mib, Dump};

#[derive(Debug, Parser)]
struct Args {
    /// Size of each dump, in GiB.
    #[arg(long, default_value_t = 2.0)]
    gib: f64,
    /// Dumps verified at once (verify.concurrency).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Bytes of each string value.
    #[arg(long, default_value_t = 1000)]
    value_bytes: usize,
    /// Measure scrape latency while this many decompression bombs verify instead.
    #[arg(long)]
    bombs: Option<usize>,
}

/// Serves a fresh generated dump on every GET, generated on a blocking thread.
async fn serve(listener: tokio::net::TcpListener, target: u64, value_bytes: usize) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let service = service_fn(move |_req| async move {
                let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
                tokio::task::spawn_blocking(move || {
                    let mut dump = Dump::new(target, value_bytes);
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = dump.read(&mut buf) {
                        if n == 0 || tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                            break;
                        }
                    }
                });
                let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                    let chunk = rx.recv().await?;
                    Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
                });
                Ok::<_, Infallible>(hyper::Response::new(StreamBody::new(frames)))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.bombs {
        return bombs(n);
    }
    let target = (args.gib * f64::from(1u32 << 30)) as u64;
    let generating = generation_cpu(target, args.value_bytes)? * args.concurrency as f64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(serve(listener, target, args.value_bytes));
        let config = VerifyConfig {
            level: VerifyLevel::Full,
            url_types: vec![UrlType::Public],
            concurrency: args.concurrency,
            max_bandwidth: 10 << 30,
            max_size: 1 << 40,
            daily_budget: 100 << 40,
            timeout: Duration::from_secs(24 * 3600),
            ..VerifyConfig::default()
        };
        let verifier = Verifier::new(
            &config,
            reqwest::Client::new(),
            Duration::from_secs(10),
            Arc::new(Metrics::new()?),
        );
        let jobs: Vec<Job> = (0..args.concurrency)
            .map(|i| Job {
                key: BackupKey::new(format!("bench-{i}"), "bk"),
                shard: String::new(),
                end: 0,
                size: Some(target),
                level: VerifyLevel::Full,
                urls: vec![(UrlType::Public, SecretUrl::new(format!("http://{addr}/dump/{i}")))],
            })
            .collect();
        let keys: Vec<_> = jobs.iter().map(|j| j.key.clone()).collect();
        let before = peak_rss_mib()?;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        verifier.offer(jobs);
        let found = loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let want: HashSet<_> = keys.iter().collect();
            let found = verifier.results(&want, &HashSet::new());
            if found.verifications.len() == keys.len() {
                break found;
            }
        };
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        for vs in found.verifications.values() {
            ensure!(
                vs.iter().all(|v| v.outcome == Outcome::Ok),
                "not ok: {vs:?}"
            );
        }
        let bytes: u64 = found
            .verifications
            .values()
            .flatten()
            .map(|v| v.bytes)
            .sum();
        let gib = bytes as f64 / f64::from(1u32 << 30);
        println!(
            "verify_bench: {} × {:.2} GiB verified over loopback HTTP in {wall:.2} s wall: {:.2} GiB/s",
            args.concurrency,
            args.gib,
            gib / wall
        );
        println!(
            "verify_bench: {cpu:.2} s CPU in all ({generating:.2} s of it generating the dumps): {:.2} GiB/s per core for download + verification",
            gib / (cpu - generating).max(0.01)
        );
        println!(
            "verify_bench: peak RSS {:.1} MiB ({before:.1} MiB before the verifications)",
            peak_rss_mib()?
        );
        Ok(())
    })
}

/// How many backups have a verification result of `too_large` on this page.
fn bombs_judged(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("cds_redis_backup_verify_result{")
                && l.contains("result=\"too_large\"")
                && l.ends_with(" 1")
        })
        .count()
}

/// `--bombs n`: scrape latency while `n` bombs are verified at the light level at once.
fn bombs(n: usize) -> Result<()> {
    use cds_redis_backup_exporter::cds::Secret;
    use cds_redis_backup_exporter::config::{Account, Config, PollConfig, ProbeConfig};
    use cds_redis_backup_exporter::fake::{
        dumps, FakeBackup, FakeCds, FakeInstance, FakeObject, Scenario,
    };

    let bomb: Arc<[u8]> = Arc::from(dumps::lzf_bomb(1000));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let now = chrono::Utc::now();
        let mut scenario = Scenario::new("AK", "SK");
        for i in 0..n {
            let uuid = format!("bomb{i}");
            let mut inst = FakeInstance::new(&uuid, &uuid, "redis-replication");
            let mut b = FakeBackup::finished(
                &format!("bk-{uuid}"),
                "",
                now - chrono::Duration::hours(2),
                now - chrono::Duration::hours(1),
                bomb.len() as u64,
            );
            b.object = FakeObject::Data(Arc::clone(&bomb));
            inst.backups.push(b);
            scenario.instances.push(inst);
        }
        let fake_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeCds::start(fake_listener, scenario.clone()).await?;
        let config = Config {
            poll: PollConfig {
                interval: Duration::from_secs(1),
                start_jitter: Duration::ZERO,
                ..PollConfig::default()
            },
            probe: ProbeConfig {
                enabled: false,
                ..ProbeConfig::default()
            },
            accounts: vec![Account {
                name: "a".to_owned(),
                endpoint: reqwest::Url::parse(&fake.base_url())?,
                access_key_id: "AK".to_owned(),
                access_key_secret: Secret::new("SK".to_owned()),
                timezone: scenario.timezone,
                backups: Vec::new(),
                instances: scenario.instances.iter().map(|i| i.uuid.clone()).collect(),
                discovery: None,
            }],
            staleness: Vec::new(),
            drill: Default::default(),
            verify: VerifyConfig {
                level: VerifyLevel::Light,
                url_types: vec![UrlType::Public],
                concurrency: n.clamp(1, 16),
                ..VerifyConfig::default()
            },
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The scraper has a thread and a runtime of its own, so its clock is not the
        // exporter's: a late answer is the exporter's lateness.
        let scraper = std::thread::spawn(move || -> Result<(Vec<Duration>, Duration)> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let result = rt.block_on(async {
                let http = reqwest::Client::new();
                let started = Instant::now();
                let mut samples = Vec::new();
                loop {
                    for path in ["/-/healthy", "/metrics"] {
                        let t = Instant::now();
                        let text = http
                            .get(format!("http://{addr}{path}"))
                            .send()
                            .await?
                            .text()
                            .await?;
                        samples.push(t.elapsed());
                        if path == "/metrics" && bombs_judged(&text) == n {
                            return Ok((samples, started.elapsed()));
                        }
                    }
                    ensure!(started.elapsed() < Duration::from_secs(300), "bombs not judged in 300 s");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            let _ = stop.send(());
            result
        });
        cds_redis_backup_exporter::run_with(
            config,
            cds_redis_backup_exporter::partition::Partition::default(),
            cds_redis_backup_exporter::server::WebConfig::default(),
            cds_redis_backup_exporter::Control::default(),
            listener,
            async {
                let _ = stopped.await;
            },
        )
        .await?;
        let (mut samples, took) = scraper
            .join()
            .map_err(|_| anyhow::anyhow!("the scraper panicked"))??;
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!(
            "verify_bench: {n} bombs of {} bytes judged too_large in {:.2} s; {} scrapes of /metrics and /-/healthy meanwhile: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            bomb.len(),
            took.as_secs_f64(),
            samples.len(),
            at(0.5).as_secs_f64() * 1000.0,
            at(0.99).as_secs_f64() * 1000.0,
            at(1.0).as_secs_f64() * 1000.0,
        );
        Ok(())
    })
}
