//! Soak test: the release exporter, as a separate process, polls a fake CDS API that
//! answers a share of requests with a random fault (5xx, 429 with Retry-After, hangs,
//! truncated, HTML, 64 MiB and reset answers, authentication errors) for a set time,
//! while this program scrapes it every second and reloads it with SIGHUP every minute.
//!
//! It prints the exporter's RSS over time and fails if a scrape fails, the exporter
//! dies, memory keeps growing (the highest RSS of the last third of the run exceeds
//! that of the first third by more than 16 MiB), or SIGTERM does not end it promptly
//! with status 0. Run it with `scripts/soak.sh`.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use cds_redis_backup_exporter::fake::{FakeCds, Fault, FaultPlan, Scenario};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Soak the exporter binary against a fake CDS API that fails at random")]
struct Args {
    /// How long to run, in minutes.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Share of API requests answered with a fault.
    #[arg(long = "fault-probability", default_value_t = 0.2)]
    fault_probability: f64,
    #[arg(long, default_value_t = 200)]
    instances: usize,
    #[arg(long, default_value_t = 5)]
    backups: usize,
    /// The exporter's poll.interval in seconds.
    #[arg(long = "interval-secs", default_value_t = 5)]
    interval_secs: u64,
    /// Seconds between RSS samples printed.
    #[arg(long = "sample-secs", default_value_t = 60)]
    sample_secs: u64,
    #[arg(long, default_value = "target/release/cds-redis-backup-exporter")]
    exporter: PathBuf,
}

fn faults() -> Vec<Fault> {
    let raw = |status: u16, content_type: &str, body: &str| Fault::Raw {
        http_status: status,
        content_type: content_type.into(),
        body: body.into(),
    };
    vec![
        raw(500, "text/html", "<html>Internal Server Error</html>"),
        raw(502, "text/html", "<html>Bad Gateway</html>"),
        Fault::Cds {
            http_status: 503,
            code: "ServiceUnavailable".into(),
            message: "busy".into(),
        },
        Fault::Throttled {
            retry_after: Some("1".into()),
        },
        Fault::Hang,
        Fault::Truncated,
        raw(200, "text/html", "<html>captive portal</html>"),
        Fault::Huge {
            bytes: 64 << 20,
            declared: false,
        },
        Fault::Huge {
            bytes: 64 << 20,
            declared: true,
        },
        Fault::Reset,
        Fault::Cds {
            http_status: 403,
            code: "SignatureDoesNotMatch".into(),
            message: "no".into(),
        },
    ]
}

/// `VmRSS` or `VmHWM` of `pid`, in MiB.
fn mem_mib(pid: u32, key: &str) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .context("no such key")?
        .trim_matches(|c: char| !c.is_ascii_digit());
    Ok(kib.parse::<f64>()? / 1024.0)
}

fn signal(child: &Child, name: &str) -> Result<()> {
    let ok = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()?
        .success();
    ensure!(ok, "kill -{name} failed");
    Ok(())
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

async fn soak(args: &Args, dir: &std::path::Path) -> Result<()> {
    let scenario = Scenario::scaled(
        chrono::Utc::now(),
        args.instances,
        args.backups,
        Duration::from_millis(5),
    );
    let fake = FakeCds::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        scenario.clone(),
    )
    .await?;
    fake.set_faults(FaultPlan {
        faults: faults(),
        probability: args.fault_probability,
        remaining: None,
    });
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "poll:\n  interval: {}s\n  start_jitter: 0s\n  concurrency: 8\n  request_timeout: 2s\n  \
             retry_backoff: 100ms\n  retry_max_backoff: 2s\n  stale_after: 1m\n\
             accounts:\n  - name: soak\n    endpoint: {}\n    access_key_id: {}\n    access_key_secret: {}\n    discovery: {{}}\n",
            args.interval_secs,
            fake.base_url(),
            scenario.access_key_id,
            scenario.access_key_secret
        ),
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(&args.exporter)
        .args(["--config.file", &config.to_string_lossy()])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("exporter.stderr"))?)
        .spawn()
        .with_context(|| format!("starting {}", args.exporter.display()))?;
    let result = watch(args, &fake, &mut child, &base).await;
    if result.is_err() {
        let _ = child.kill();
    }
    result
}

async fn watch(args: &Args, fake: &FakeCds, child: &mut Child, base: &str) -> Result<()> {
    let pid = child.id();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let started = Instant::now();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let (mut scrapes, mut last_sample, mut last_hup) = (0u64, Instant::now(), Instant::now());
    let mut first_rss = None;
    let mut max_rss: f64 = 0.0;
    // Highest RSS in the first and in the last third of the run.
    let (mut early_max, mut late_max): (f64, f64) = (0.0, 0.0);
    println!("   time      RSS      HWM   scrapes  faults  targets  reload_ok");
    while started.elapsed() < total {
        if let Some(status) = child.try_wait()? {
            bail!("the exporter exited during the soak: {status}");
        }
        let r = http.get(format!("{base}/metrics")).send().await;
        let text = match r {
            Ok(r) if r.status().is_success() => r.text().await?,
            // Until the first answer, the exporter may still be starting.
            _ if scrapes == 0 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Ok(r) => bail!("scrape failed: HTTP {}", r.status()),
            Err(e) => bail!("scrape failed: {e}"),
        };
        scrapes += 1;
        let polled = value(
            &text,
            "cds_redis_backup_exporter_last_poll_timestamp_seconds",
        )
        .unwrap_or(0.0);
        let rss = mem_mib(pid, "VmRSS:")?;
        max_rss = max_rss.max(rss);
        if first_rss.is_none() && polled > 0.0 {
            first_rss = Some(rss);
        }
        let progress = started.elapsed().as_secs_f64() / total.as_secs_f64();
        if progress < 1.0 / 3.0 {
            early_max = early_max.max(rss);
        } else if progress > 2.0 / 3.0 {
            late_max = late_max.max(rss);
        }
        if last_hup.elapsed() >= Duration::from_secs(60) {
            signal(child, "HUP")?;
            last_hup = Instant::now();
        }
        if scrapes == 1 || last_sample.elapsed() >= Duration::from_secs(args.sample_secs) {
            last_sample = Instant::now();
            let reloads = value(
                &text,
                "cds_redis_backup_exporter_config_last_reload_successful",
            )
            .unwrap_or(0.0);
            println!(
                "{:>6.0} s {:>6.1} MiB {:>6.1} MiB {:>8} {:>7} {:>8} {:>10}",
                started.elapsed().as_secs_f64(),
                rss,
                mem_mib(pid, "VmHWM:")?,
                scrapes,
                fake.faults_served(),
                text.matches("cds_redis_backup_up{").count(),
                reloads
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let end_rss = mem_mib(pid, "VmRSS:")?;
    let hwm = mem_mib(pid, "VmHWM:")?;
    let stopping = Instant::now();
    signal(child, "TERM")?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        ensure!(
            stopping.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let start_rss = first_rss.context("no poll cycle completed during the soak")?;
    println!(
        "\nsoak: {:.1} min, {} scrapes (all 200), {} API faults served of {} requests\n\
         RSS after the first cycle {start_rss:.1} MiB, at the end {end_rss:.1} MiB, max seen {max_rss:.1} MiB, peak (VmHWM) {hwm:.1} MiB\n\
         highest RSS in the first third {early_max:.1} MiB, in the last third {late_max:.1} MiB\n\
         SIGTERM → {status} in {:.0} ms",
        started.elapsed().as_secs_f64() / 60.0,
        scrapes,
        fake.faults_served(),
        fake.requests().len(),
        stopping.elapsed().as_secs_f64() * 1e3
    );
    ensure!(status.success(), "exit status {status}");
    // Bounded memory: answers in flight may take poll.concurrency × the size cap, and
    // the allocator keeps freed memory, so the level is high; what must not happen is
    // growth once every kind of fault has been seen.
    ensure!(
        late_max <= early_max + 16.0,
        "RSS grew: highest {early_max:.1} MiB in the first third, {late_max:.1} MiB in the last"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("cds-soak-{}", std::process::id()));
    let result = match std::fs::create_dir_all(&dir) {
        Ok(()) => soak(&args, &dir).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => {
            println!("soak: ok");
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soak: FAILED: {e:#} (exporter log in {})", dir.display());
            ExitCode::FAILURE
        }
    }
}
