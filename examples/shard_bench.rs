//! Sharded replicas at fleet scale, for BENCHMARKS.md: one fake CDS account with
//! `--instances` instances (slow API, one finished backup each) and `--shards` exporter
//! processes (the release binary, `--shard i --total-shards M`) polling it at once. For
//! each shard: instances owned, its first cycle against the floor its own calls impose
//! (calls × latency / poll.concurrency), and its peak RSS; then proves from the
//! replicas' `/metrics` that every instance is reported by exactly one shard.
//!
//!     cargo run --release --example shard_bench -- --instances 50000 --shards 4

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use clap::Parser;

use cds_redis_backup_exporter::fake::{FakeCds, Scenario};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 50_000)]
    instances: usize,
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Delay of every fake CDS API answer, in milliseconds.
    #[arg(long = "latency-ms", default_value_t = 20)]
    latency_ms: u64,
    /// poll.concurrency of each replica.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value = "target/release/cds-redis-backup-exporter")]
    exporter: PathBuf,
}

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmHWM")?;
    Ok(kib.parse::<f64>()? / 1024.0)
}

/// The one value of a series without labels, or the sum of a family's values.
fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let latency = Duration::from_millis(args.latency_ms);
    let scenario = Scenario::scaled(chrono::Utc::now(), args.instances, 1, latency);
    let (key, secret) = (
        scenario.access_key_id.clone(),
        scenario.access_key_secret.clone(),
    );
    let fake = FakeCds::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        scenario,
    )
    .await?;
    let dir = std::env::temp_dir().join(format!("shard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "poll: {{interval: 1h, concurrency: {}, start_jitter: 0s, request_timeout: 60s, max_response_size: 256MiB}}
probe: {{timeout: 60s}}
verify: {{level: off}}
accounts:
  - name: bench
    endpoint: {}
    access_key_id: {key}
    access_key_secret: {secret}
    discovery: {{}}
",
            args.concurrency,
            fake.base_url()
        ),
    )?;
    let started = Instant::now();
    let mut replicas = Vec::new();
    for i in 0..args.shards {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(&args.exporter)
            .args(["--config.file".as_ref(), config.as_os_str()])
            .args([
                "--web.listen-address",
                &format!("127.0.0.1:{port}"),
                "--log.level",
                "warn",
            ])
            .args([
                "--shard",
                &i.to_string(),
                "--total-shards",
                &args.shards.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting an exporter")?;
        replicas.push(Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
        });
    }
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut owners: HashMap<String, u32> = HashMap::new();
    let mut doubled = 0;
    println!(
        "shard_bench: {} instances, {} shards, API latency {} ms, poll.concurrency {} per replica",
        args.instances, args.shards, args.latency_ms, args.concurrency
    );
    println!("shard | instances | first cycle | floor | cycle/floor | peak RSS");
    for (i, r) in replicas.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let ready = http.get(format!("{}/-/ready", r.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            ensure!(Instant::now() < deadline, "shard {i} not ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = http
            .get(format!("{}/metrics", r.base))
            .send()
            .await?
            .text()
            .await?;
        let owned = sum_of(&text, "cds_redis_backup_exporter_owned_instances");
        let cycle = sum_of(&text, "cds_redis_backup_exporter_poll_duration_seconds");
        let calls = sum_of(&text, "cds_redis_backup_exporter_api_requests_total");
        let floor = calls * latency.as_secs_f64() / args.concurrency as f64;
        for line in text
            .lines()
            .filter(|l| l.starts_with("cds_redis_backup_last_success_timestamp_seconds{"))
        {
            let uuid = line.split('"').nth(1).unwrap_or_default().to_owned();
            if owners.insert(uuid, i as u32).is_some() {
                doubled += 1;
            }
        }
        println!(
            "{i:>5} | {owned:>9} | {cycle:>9.2} s | {floor:>5.2} s | {:>11.2} | {:.1} MiB",
            cycle / floor,
            peak_rss_mib(r.child.id())?
        );
    }
    println!(
        "shard_bench: all shards ready {:.1} s after start; {} instances reported, {} twice, {} missing",
        started.elapsed().as_secs_f64(),
        owners.len(),
        doubled,
        args.instances - owners.len().min(args.instances)
    );
    ensure!(
        doubled == 0 && owners.len() == args.instances,
        "the shards do not cover every instance exactly once"
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!("shard_bench: ok");
    Ok(())
}
