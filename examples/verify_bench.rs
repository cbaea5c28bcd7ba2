//! Full verification end to end, for BENCHMARKS.md: a loopback HTTP server streams
//! `--concurrency` generated dumps of `--gib` GiB each (never held in memory), and the
//! exporter's verifier downloads and checks them all at once, as it would presigned
//! backup URLs, with the bandwidth cap out of the way. Prints throughput, CPU per GiB
//! (the generator's share measured alone and subtracted) and peak RSS before and after,
//! so memory per concurrent verification can be read off two runs.
//!
//!     cargo run --release --example verify_bench -- --gib 2 --concurrency 1
//!     cargo run --release --example verify_bench -- --gib 2 --concurrency 4

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
            Arc::new(Metrics::new()?),
        );
        let jobs: Vec<Job> = (0..args.concurrency)
            .map(|i| Job {
                key: (format!("bench-{i}"), "bk".to_owned()),
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
