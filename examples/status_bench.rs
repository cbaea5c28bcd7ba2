//! How long the status page takes to render at fleet size, and how big it is, for
//! BENCHMARKS.md: one poll cycle of `--instances` instances against the in-process fake,
//! then the fleet page (report and HTML) rendered `--runs` times from that snapshot.
//!
//!     cargo run --release --example status_bench -- --instances 2000

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;

use cds_redis_backup_exporter::config::{
    Account, Config, PollConfig, ProbeConfig, VerifyConfig, VerifyLevel,
};
use cds_redis_backup_exporter::fake::{FakeCds, Scenario};
use cds_redis_backup_exporter::metrics::Metrics;
use cds_redis_backup_exporter::poller::Poller;
use cds_redis_backup_exporter::{report, status};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 2000)]
    instances: usize,
    #[arg(long, default_value_t = 50)]
    runs: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let scenario = Scenario::scaled(chrono::Utc::now(), args.instances, 3, Duration::ZERO);
    let fake = FakeCds::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        scenario.clone(),
    )
    .await?;
    let config = Config {
        poll: PollConfig {
            concurrency: 64,
            max_response_bytes: 256 << 20,
            ..PollConfig::default()
        },
        probe: ProbeConfig::default(),
        accounts: vec![Account {
            name: "bench".into(),
            endpoint: reqwest::Url::parse(&fake.base_url())?,
            access_key_id: scenario.access_key_id.clone(),
            access_key_secret: cds_redis_backup_exporter::cds::Secret::new(
                scenario.access_key_secret.clone(),
            ),
            timezone: scenario.timezone,
            backups: Vec::new(),
            instances: Vec::new(),
            discovery: Some(Default::default()),
        }],
        staleness: Vec::new(),
        verify: VerifyConfig {
            level: VerifyLevel::Off,
            ..VerifyConfig::default()
        },
        shard: Default::default(),
    };
    let poller = Poller::new(&config, Arc::new(Metrics::new()?))?;
    let snap = poller.cycle().await;
    let mut times = Vec::with_capacity(args.runs);
    let mut bytes = 0;
    for _ in 0..args.runs {
        let t = Instant::now();
        let fleet = report::fleet(&snap, chrono::Utc::now());
        let page = status::fleet_page(&fleet, "/metrics", None);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = page.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "status_bench: {} instances ({} backups exported): fleet page {} bytes; render median {:.1} ms, max {:.1} ms over {} runs",
        args.instances,
        snap.backups.len(),
        bytes,
        times[times.len() / 2],
        times[times.len() - 1],
        args.runs
    );
    Ok(())
}
