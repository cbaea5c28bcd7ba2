//! How long the status page takes to render at fleet size, and how big it is, for
//! BENCHMARKS.md: one poll cycle of `--instances` instances against the in-process fake,
//! then the fleet page (report and HTML) built `--runs` times from that snapshot, and
//! what serving `/`, an instance page and an unknown instance costs through
//! [`status::Pages`], which builds once per snapshot.
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
        drill: Default::default(),
    };
    let poller = Poller::new(&config, Default::default(), Arc::new(Metrics::new()?))?;
    let snap = poller.cycle().await;
    // What a build costs: the report and the HTML, as before issue 19 every request did.
    let mut builds = Vec::with_capacity(args.runs);
    let mut bytes = 0;
    for _ in 0..args.runs {
        let t = Instant::now();
        let fleet = report::fleet(&snap, chrono::Utc::now());
        let page = status::fleet_page(&fleet, "/metrics", None);
        builds.push(ms(t));
        bytes = page.len();
    }
    // What the server does now: one build per snapshot, shared.
    let snap = Arc::new(snap);
    let pages = status::Pages::default();
    let t = Instant::now();
    let _ = pages.fleet_page(&snap, "/metrics", None).await;
    let first = ms(t);
    let mut served = Vec::with_capacity(args.runs);
    let mut instance = Vec::with_capacity(args.runs);
    let mut unknown = Vec::with_capacity(args.runs);
    let uuids: Vec<&String> = snap.instances.keys().collect();
    for n in 0..args.runs {
        let t = Instant::now();
        let page = pages.fleet_page(&snap, "/metrics", None).await;
        served.push(ms(t));
        assert_eq!(page.len(), bytes);
        let t = Instant::now();
        let page = pages
            .instance_page(&snap, uuids[n % uuids.len()], "/metrics", None)
            .await;
        instance.push(ms(t));
        assert!(page.is_some());
        let t = Instant::now();
        let page = pages.instance_page(&snap, "nope", "/metrics", None).await;
        unknown.push(ms(t));
        assert!(page.is_none());
    }
    println!(
        "status_bench: {} instances ({} backups exported): fleet page {} bytes; build (report + HTML) median {}, max {}; \
         served by the server now: first request after a snapshot {first:.1} ms, then `/` {}, an instance page {}, an unknown instance {}; \
         {} build(s) for {} requests, over {} runs",
        args.instances,
        snap.backups.len(),
        bytes,
        summary(&mut builds).0,
        summary(&mut builds).1,
        summary(&mut served).0,
        summary(&mut instance).0,
        summary(&mut unknown).0,
        pages.builds(),
        3 * args.runs + 1,
        args.runs
    );
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// (median, max) as text, in ms or µs.
fn summary(times: &mut [f64]) -> (String, String) {
    times.sort_by(f64::total_cmp);
    let show = |v: f64| {
        if v < 1.0 {
            format!("{:.1} µs", v * 1e3)
        } else {
            format!("{v:.1} ms")
        }
    };
    (show(times[times.len() / 2]), show(times[times.len() - 1]))
}
