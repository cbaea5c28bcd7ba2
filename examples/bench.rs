//! Benchmark of the exporter at scale, against the fake CDS API with a slow, uniform
//! account (`Scenario::scaled`): how close the first poll cycle comes to the floor that
//! API latency and `poll.concurrency` impose (calls × latency / concurrency), how many
//! CDS calls and URL probes each steady-state cycle makes and how much CPU it costs, how
//! fast `/metrics` answers with and without gzip, and how much memory the exporter uses.
//!
//! The exporter runs as a separate process — the release binary exactly as deployed — so
//! its CPU time and RSS, read from `/proc/<pid>`, are its own and not mixed with the
//! fake's request signing checks or the scrape client's work, which live in this process.
//! The bench also reads `/metrics` to see cycles end; those reads are counted and their
//! CPU cost is shown so it can be told apart. Run it with `scripts/bench.sh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _, Result};
use cds_redis_backup_exporter::fake::{FakeCds, RecordedRequest, Scenario};
use clap::Parser;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING};

#[derive(Debug, Parser)]
#[command(about = "Benchmark the exporter binary against a scaled fake CDS API")]
struct Args {
    /// Redis instances in the fake account.
    #[arg(long, default_value_t = 2000)]
    instances: usize,
    /// Finished backups per instance.
    #[arg(long, default_value_t = 5)]
    backups: usize,
    /// Delay of every fake CDS API answer, in milliseconds.
    #[arg(long = "latency-ms", default_value_t = 20)]
    latency_ms: u64,
    /// The exporter's poll.concurrency.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Steady-state cycles (after the first) to measure.
    #[arg(long, default_value_t = 3)]
    cycles: usize,
    /// Sequential /metrics scrapes, once without and once with gzip.
    #[arg(long, default_value_t = 2000)]
    scrapes: usize,
    /// The exporter's poll.interval in seconds; must exceed a steady-state cycle.
    #[arg(long = "interval-secs", default_value_t = 10)]
    interval_secs: u64,
    /// The exporter's poll.extra_backups: finished backups exported per instance beyond
    /// the newest (backups - 1 exports every backup of the account).
    #[arg(long = "extra-backups", default_value_t = 0)]
    extra_backups: usize,
    /// The exporter binary.
    #[arg(long, default_value = "target/release/cds-redis-backup-exporter")]
    exporter: PathBuf,
}

/// The exporter process; killed when dropped, on success and on error alike.
struct Exporter {
    child: Child,
    base: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, rest) = stat.rsplit_once(')').context("odd stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> { Ok(f.get(i).context("short stat")?.parse()?) };
    Ok(field(11)? + field(12)?)
}

impl Exporter {
    fn alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("the exporter exited early: {status}"),
            None => Ok(()),
        }
    }
    fn cpu_ticks(&self) -> Result<u64> {
        cpu_ticks(&self.child.id().to_string())
    }
    /// A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in MiB.
    fn mem_mib(&self, key: &str) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find_map(|l| l.strip_prefix(key));
        let kib = line
            .context("no such key")?
            .trim_matches(|c: char| !c.is_ascii_digit());
        Ok(kib.parse::<f64>()? / 1024.0)
    }
}

/// What the exporter says about its last completed cycle.
#[derive(Debug, Clone, Copy)]
struct Poll {
    duration: f64,
    ended: f64,
    success: f64,
}

async fn metrics_text(http: &reqwest::Client, base: &str) -> Result<String> {
    let resp = http.get(format!("{base}/metrics")).send().await?;
    Ok(resp.error_for_status()?.text().await?)
}

/// The sum of the values of every series of `name` (with any labels) in a scrape.
fn sum_of(text: &str, name: &str) -> Option<f64> {
    let values = text.lines().filter_map(|l| {
        let rest = l.strip_prefix(name)?;
        let v = rest
            .strip_prefix(' ')
            .or(rest.starts_with('{').then_some(rest))?;
        v.rsplit(' ').next()?.parse::<f64>().ok()
    });
    values.reduce(|a, b| a + b)
}

/// The last completed cycle, per a scrape; `None` before the first.
fn poll_of(text: &str) -> Option<Poll> {
    let m = |name: &str| sum_of(text, &format!("cds_redis_backup_exporter_{name}"));
    let duration = m("poll_duration_seconds")?;
    let ended = m("last_poll_timestamp_seconds")?;
    let success = m("last_poll_success")?;
    Some(Poll {
        duration,
        ended,
        success,
    })
}

fn unix_now() -> f64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn by_action<'a>(reqs: impl Iterator<Item = &'a RecordedRequest>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in reqs {
        *m.entry(r.action.clone()).or_insert(0) += 1;
    }
    m
}

/// One observed cycle: its CDS calls by action, probes, wall time and exporter CPU.
#[derive(Debug)]
struct Cycle {
    calls: BTreeMap<String, usize>,
    probes: usize,
    duration: f64,
    cpu_ticks: u64,
    /// `/metrics` reads the bench made to see it end
    reads: usize,
    /// from the cycle's end (`last_poll_timestamp_seconds`) to the bench seeing it
    seen_after: f64,
    rss: f64,
    max_in_flight: usize,
}

/// Follows the exporter's cycles: what was seen at the end of the last one.
struct Watch<'a> {
    fake: &'a FakeCds,
    http: &'a reqwest::Client,
    exp: &'a mut Exporter,
    interval: f64,
    last: Poll,
    api_seen: usize,
    probes_seen: usize,
    cpu_seen: u64,
}

impl Watch<'_> {
    /// When the next cycle starts (Unix seconds): one interval after the last started,
    /// or right after it ended if it overran the interval.
    fn next_start(&self) -> f64 {
        (self.last.ended - self.last.duration + self.interval).max(self.last.ended)
    }

    /// Waits for the next cycle to complete, reading `/metrics` only from `expect`
    /// seconds after its start (then every 100 ms), so the reads barely load the exporter.
    async fn next_cycle(&mut self, expect: f64) -> Result<Cycle> {
        let begin = self.next_start() + expect;
        tokio::time::sleep(Duration::from_secs_f64((begin - unix_now()).max(0.0))).await;
        let deadline = Instant::now() + Duration::from_secs_f64(self.interval * 3.0 + 60.0);
        let mut reads = 0;
        let poll = loop {
            self.exp.alive()?;
            reads += 1;
            if let Some(p) = poll_of(&metrics_text(self.http, &self.exp.base).await?) {
                if p.ended > self.last.ended {
                    break p;
                }
            }
            ensure!(Instant::now() < deadline, "no poll cycle completed in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let seen_after = unix_now() - poll.ended;
        ensure!(poll.success == 1.0, "a cycle failed (last_poll_success 0)");
        let cpu = self.exp.cpu_ticks()?;
        let reqs = self.fake.requests();
        let probes = self.fake.object_requests().len();
        let cycle = Cycle {
            calls: by_action(reqs.iter().skip(self.api_seen)),
            probes: probes - self.probes_seen,
            duration: poll.duration,
            cpu_ticks: cpu - self.cpu_seen,
            reads,
            seen_after,
            rss: self.exp.mem_mib("VmRSS")?,
            max_in_flight: self.fake.max_in_flight(),
        };
        let starts = cycle.calls.get("DescribeDBInstances").copied().unwrap_or(0);
        ensure!(starts == 1, "saw {starts} cycles start instead of 1");
        (self.last, self.api_seen, self.probes_seen) = (poll, reqs.len(), probes);
        self.cpu_seen = cpu;
        Ok(cycle)
    }
}

/// Sequential scrapes of one encoding, in the idle time between cycles.
#[derive(Debug, Default)]
struct Scrapes {
    ms: Vec<f64>,
    bytes: usize,
    encoding: String,
    cpu_ticks: u64,
    windows: usize,
    overlaps: usize,
}

async fn scrape(w: &mut Watch<'_>, gzip: bool, n: usize) -> Result<Scrapes> {
    let mut s = Scrapes::default();
    let url = format!("{}/metrics", w.exp.base);
    let mut slowest = 0.0f64;
    while s.ms.len() < n {
        // Stop 250 ms plus one slowest scrape before the next cycle is due.
        let window_end = w.next_start() - 0.25;
        let api_before = w.fake.requests().len();
        let cpu_before = w.exp.cpu_ticks()?;
        loop {
            let t = Instant::now();
            let mut req = w.http.get(&url);
            if gzip {
                req = req.header(ACCEPT_ENCODING, "gzip");
            }
            let resp = req.send().await?.error_for_status()?;
            let enc = resp.headers().get(CONTENT_ENCODING);
            let enc = enc.map(|v| v.to_str().unwrap_or("?"));
            s.encoding = enc.unwrap_or("identity").to_owned();
            s.bytes = resp.bytes().await?.len();
            let secs = t.elapsed().as_secs_f64();
            slowest = slowest.max(secs);
            s.ms.push(secs * 1e3);
            if s.ms.len() >= n || unix_now() + slowest > window_end {
                break;
            }
        }
        s.cpu_ticks += w.exp.cpu_ticks()? - cpu_before;
        s.windows += 1;
        if w.fake.requests().len() != api_before {
            s.overlaps += 1;
        }
        if s.ms.len() < n {
            let expect = 0.9 * w.last.duration;
            w.next_cycle(expect).await?;
        }
    }
    s.ms.sort_by(f64::total_cmp);
    Ok(s)
}

/// The nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn clock_ticks() -> (f64, &'static str) {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    let ticks = out
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().parse());
    match ticks {
        Some(Ok(t)) => (t, "getconf CLK_TCK"),
        _ => (100.0, "assumed, getconf failed"),
    }
}

fn verdict(met: bool) -> &'static str {
    ["NOT met", "met"][usize::from(met)]
}

/// Starts the exporter on a free loopback port with a config polling `fake`.
fn start_exporter(args: &Args, fake: &FakeCds, creds: [&str; 2], dir: &Path) -> Result<Exporter> {
    let exe = &args.exporter;
    ensure!(
        exe.exists(),
        "no {}; run cargo build --release",
        exe.display()
    );
    let q = |s: &str| serde_json::Value::from(s).to_string(); // a JSON string is YAML too
    let (url, key_id, secret) = (q(&fake.base_url()), q(creds[0]), q(creds[1]));
    let (interval, concurrency, extra) = (args.interval_secs, args.concurrency, args.extra_backups);
    let config = format!(
        "poll: {{interval: {interval}s, concurrency: {concurrency}, extra_backups: {extra}, start_jitter: 0s, request_timeout: 30s}}
probe: {{timeout: 30s}}
# Measured on its own (examples/verify_bench.rs): here it would add object requests.
verify: {{level: off}}
accounts:
  - name: bench
    endpoint: {url}
    access_key_id: {key_id}
    access_key_secret: {secret}
    discovery: {{}}
"
    );
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, config)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(exe);
    cmd.arg("--config.file").arg(&config_path);
    cmd.args(["--web.listen-address", &listen, "--log.level", "warn"]);
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env_remove(proxy).env_remove(proxy.to_lowercase()); // the fake is on loopback
    }
    let stderr = std::fs::File::create(dir.join("exporter.stderr"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let child = cmd.spawn().context("starting the exporter")?;
    let base = format!("http://{listen}");
    Ok(Exporter { child, base })
}

async fn run(args: &Args, dir: &Path) -> Result<()> {
    let (instances, backups, conc) = (args.instances, args.backups, args.concurrency);
    ensure!(
        ![args.scrapes, args.cycles, conc].contains(&0),
        "counts must be > 0"
    );
    let latency = Duration::from_millis(args.latency_ms);
    let scenario = Scenario::scaled(chrono::Utc::now(), instances, backups, latency);
    let creds = [
        scenario.access_key_id.clone(),
        scenario.access_key_secret.clone(),
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fake = FakeCds::start(listener, scenario).await?;
    let (bench_cpu0, spawned) = (cpu_ticks("self")?, Instant::now());
    let mut exp = start_exporter(args, &fake, [&creds[0], &creds[1]], dir)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let (ticks, ticks_source) = clock_ticks();

    // First cycle: no backup's shard is known yet (poll.max_shard_lookups 10 per instance).
    let expected_calls = 1 + instances * (1 + backups.min(10));
    let floor_guess = expected_calls as f64 * latency.as_secs_f64() / conc as f64;
    let ready_within = Duration::from_secs_f64(60.0 + 10.0 * floor_guess);
    eprintln!("bench: waiting for the first cycle (floor ≈ {floor_guess:.1} s)");
    loop {
        exp.alive()?;
        let ready = http.get(format!("{}/-/ready", exp.base)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        let waited = spawned.elapsed();
        ensure!(waited < ready_within, "not ready after {waited:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let to_ready = spawned.elapsed().as_secs_f64();
    let bench_cpu = (cpu_ticks("self")? - bench_cpu0) as f64 / ticks;
    let text = metrics_text(&http, &exp.base).await?;
    let first = poll_of(&text).context("ready, but no poll metrics in /metrics")?;
    ensure!(
        first.success == 1.0,
        "the first cycle failed (last_poll_success 0)"
    );
    let series = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (series, body_len) = (series.count(), text.len());
    // The exporter's own timing of its API calls (from permit to answer), to tell the
    // fake's answer time from the exporter's scheduling.
    let api = "cds_redis_backup_exporter_api_request_duration_seconds";
    let api_sum = sum_of(&text, &format!("{api}_sum")).context("no API duration sum")?;
    let api_count = sum_of(&text, &format!("{api}_count")).context("no API duration count")?;
    let reqs = fake.requests();
    let (calls, first_calls) = (reqs.len(), by_action(reqs.iter()));
    let first_probes = fake.object_requests().len();
    let first_cpu = exp.cpu_ticks()?;
    let rss_start = exp.mem_mib("VmRSS")?;
    let floor = calls as f64 * latency.as_secs_f64() / conc as f64;
    let api_ms = api_sum / api_count * 1e3;
    let effective_floor = calls as f64 * api_ms / 1e3 / conc as f64;
    let effective_ratio = first.duration / effective_floor;
    let (wall, ratio) = (first.duration, first.duration / floor);
    let (in_flight, ok) = (fake.max_in_flight(), verdict(ratio <= 1.2));
    let cpu = first_cpu as f64 / ticks;
    let (exe, interval) = (args.exporter.display(), args.interval_secs);
    let (total, latency_ms) = (instances * backups, args.latency_ms);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "== setup
scenario                          {instances} instances × {backups} backups = {total} backups, API latency {latency_ms} ms
exporter (separate process)       {exe}, poll.concurrency {conc}, poll.interval {interval}s
CPUs / clock ticks                {cpus} / {ticks} per s ({ticks_source})

== first cycle
wall (poll_duration_seconds)      {wall:.3} s
API calls                         {calls} {first_calls:?}
URL probes                        {first_probes}
floor = calls × latency / conc.   {floor:.3} s
ratio wall / floor                {ratio:.2} (target ≤ 1.20: {ok})
mean API call, exporter-timed     {api_ms:.2} ms (latency {latency_ms} ms + HTTP, signing, fake)
calls × that mean / conc.         {effective_floor:.3} s (wall is {effective_ratio:.2} × this)
process start → ready             {to_ready:.3} s
exporter CPU, start → ready       {cpu:.2} s
bench CPU (fake API), same span   {bench_cpu:.2} s
max API requests in flight        {in_flight} (poll.concurrency {conc})
/metrics after it                 {series} series, {body_len} bytes
RSS after it                      {rss_start:.1} MiB"
    );

    let mut w = Watch {
        fake: &fake,
        http: &http,
        exp: &mut exp,
        interval: interval as f64,
        last: first,
        api_seen: calls,
        probes_seen: first_probes,
        cpu_seen: first_cpu,
    };
    drop(reqs);
    let mut steady = Vec::new();
    for i in 1..=args.cycles {
        eprintln!("bench: waiting for steady-state cycle {i}/{}", args.cycles);
        let expect = match i {
            1 => 0.5 * first.duration.min(w.interval),
            _ => 0.9 * w.last.duration,
        };
        steady.push(w.next_cycle(expect).await?);
    }
    eprintln!(
        "bench: {} plain, then gzip scrapes, between cycles",
        args.scrapes
    );
    let plain = scrape(&mut w, false, args.scrapes).await?;
    let gzip = scrape(&mut w, true, args.scrapes).await?;
    let (rss_end, hwm) = (exp.mem_mib("VmRSS")?, exp.mem_mib("VmHWM")?);
    // What one plain /metrics read costs the exporter, to tell the bench's own reads apart.
    let read_cpu = plain.cpu_ticks as f64 / ticks / plain.ms.len() as f64;

    println!(
        "\n== steady-state cycles (DBI DescribeDBInstances, DB DescribeBackups, DL DownloadBackup)"
    );
    println!("cycle  DBI     DB     DL  other  probes  wall s  CPU s  bench reads  CPU s w/o reads  seen after s  RSS MiB  max in flight");
    let (mut worst_cpu, mut worst_db, mut worst_dl) = (0.0f64, 0, 0);
    for (i, c) in steady.iter().enumerate() {
        let n = |a: &str| c.calls.get(a).copied().unwrap_or(0);
        let dbi = n("DescribeDBInstances");
        let (db, dl) = (n("DescribeBackups"), n("DownloadBackup"));
        let other = c.calls.values().sum::<usize>() - dbi - db - dl;
        let cpu = c.cpu_ticks as f64 / ticks;
        let net = (cpu - c.reads as f64 * read_cpu).max(0.0);
        (worst_cpu, worst_db, worst_dl) = (worst_cpu.max(cpu), worst_db.max(db), worst_dl.max(dl));
        let (no, probes, wall, reads) = (i + 1, c.probes, c.duration, c.reads);
        let (seen, rss, max) = (c.seen_after, c.rss, c.max_in_flight);
        println!("{no:>5} {dbi:>4} {db:>6} {dl:>6} {other:>6} {probes:>7} {wall:>7.3} {cpu:>6.2} {reads:>12} {net:>16.2} {seen:>13.3} {rss:>8.1} {max:>14}");
    }
    println!("(seen after: from the cycle's end (last_poll_timestamp_seconds) to the bench's read showing it; an upper
 bound on publishing the cycle's series, meaningful when bench reads > 1;");
    println!(" max in flight: the most API requests the fake answered at once since the start)");

    println!("\n== /metrics scrapes (sequential, one client, end to end incl. reading the body)");
    println!("encoding  scrapes  p50 ms  p99 ms  max ms  bytes/scrape  Content-Encoding  CPU ms/scrape  windows  overlapped");
    for (name, s) in [("plain", &plain), ("gzip", &gzip)] {
        let cpu_ms = s.cpu_ticks as f64 / ticks / s.ms.len() as f64 * 1e3;
        let (p50, p99, max) = (pct(&s.ms, 0.5), pct(&s.ms, 0.99), pct(&s.ms, 1.0));
        let (count, bytes, enc, windows, overlaps) =
            (s.ms.len(), s.bytes, &s.encoding, s.windows, s.overlaps);
        println!("{name:<8} {count:>8} {p50:>7.2} {p99:>7.2} {max:>7.2} {bytes:>13} {enc:>17} {cpu_ms:>14.2} {windows:>8} {overlaps:>11}");
    }
    println!("(bytes: of the body; windows: idle gaps between cycles used; overlapped: those in which a cycle ran)");

    let p99 = pct(&gzip.ms, 0.99);
    let (ok_db, ok_dl) = (
        verdict(worst_db <= instances),
        verdict(worst_dl <= instances),
    );
    let (ok_p99, ok_rss) = (verdict(p99 <= 2.0), verdict(hwm <= 40.0));
    let ok_cpu = verdict(worst_cpu <= 1.0);
    println!(
        "
== memory (exporter process)
RSS after first cycle / at end    {rss_start:.1} MiB / {rss_end:.1} MiB
peak RSS (VmHWM)                  {hwm:.1} MiB

== targets
first cycle ≤ 1.2 × floor         {ratio:.2} × floor: {ok}
steady DescribeBackups ≤ 1/inst.  {worst_db} for {instances} instances: {ok_db}
steady DownloadBackup ≤ 1/inst.   {worst_dl} for {instances} instances: {ok_dl}
/metrics gzip p99 ≤ 2 ms          {p99:.2} ms at {total} backups: {ok_p99}
peak RSS ≤ 40 MiB                 {hwm:.1} MiB: {ok_rss}
CPU per steady cycle ≤ 1 s        {worst_cpu:.2} s (worst, incl. the bench's reads): {ok_cpu}"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("cds-bench-{}", std::process::id()));
    let result = match std::fs::create_dir_all(&dir) {
        Ok(()) => run(&args, &dir).await,
        Err(e) => Err(e.into()),
    };
    let logged = std::fs::read_to_string(dir.join("exporter.stderr")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => {
            if !logged.trim().is_empty() {
                println!("\n(the exporter logged:)\n{}", logged.trim_end());
            }
            println!("bench: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            eprintln!("--- exporter stderr ---\n{logged}");
            ExitCode::FAILURE
        }
    }
}
