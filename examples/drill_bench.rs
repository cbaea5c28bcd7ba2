//! A restore drill of a real dump, for BENCHMARKS.md (issue 22, item 7): Debian's
//! `redis-server` makes a dump of `--size-mib` MiB (`DEBUG POPULATE`, uncompressed), a
//! loopback HTTP server of this example streams it from disk, the fake CDS API lists
//! it as one finished backup whose download URLs point at that server, and the release
//! binary runs `check --drill` on it as a child process. Every ~20 ms the example
//! samples the exporter's and its scratch `redis-server`'s `VmHWM`/`VmRSS`, the exporter's CPU time and the
//! bytes in the scratch directory; it prints the drill's own download and load
//! seconds (`check --output json`) beside them, and checks that the scratch directory
//! is empty afterwards.
//!
//!     cargo build --release --bin cds-redis-backup-exporter --example drill_bench
//!     target/release/examples/drill_bench --exporter target/release/cds-redis-backup-exporter --runs 3
//!
//! `--dump <path>` drills an existing dump instead of making one; `--keep` leaves the
//! made dump behind (its path is printed).

use std::convert::Infallible;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use clap::Parser;
use http_body_util::StreamBody;
use hyper::body::{Bytes, Frame};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use cds_redis_backup_exporter::fake::{FakeBackup, FakeCds, FakeInstance, FakeObject, Scenario};

const MIB: f64 = 1_048_576.0;
const UUID: &str = "drill-bench";

#[derive(Debug, Parser)]
struct Args {
    /// The exporter binary that runs `check --drill`.
    #[arg(long, default_value = "target/release/cds-redis-backup-exporter")]
    exporter: PathBuf,
    /// Size of the dump to make, in MiB (about: `DEBUG POPULATE` decides the last bytes).
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Drill this dump instead of making one.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Keep the dump this run made.
    #[arg(long)]
    keep: bool,
    /// Drills of the same dump, one after the other.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Where the dump, the config and the scratch directory go (a fresh directory in
    /// it); short, as the scratch server's socket path must stay under 108 bytes.
    #[arg(long, default_value = "/tmp")]
    work: PathBuf,
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    #[arg(long, default_value = "redis-cli")]
    redis_cli: String,
}

/// One `redis-cli` command over the socket; its trimmed output.
fn cli(redis_cli: &str, sock: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(redis_cli)
        .arg("-s")
        .arg(sock)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {redis_cli}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    ensure!(
        out.status.success() && !text.starts_with("ERR"),
        "redis-cli {args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(text)
}

/// Makes `dir/dump.rdb` of about `size_mib` MiB with a private `redis-server`: string
/// keys `key:N`, values padded to fill 1 KiB a key, no LZF, so the file's size is what
/// Redis loads. Returns the dump's path and its key count.
fn make_dump(args: &Args, dir: &Path) -> Result<(PathBuf, u64)> {
    let sock = dir.join("make.sock");
    let mut server = Command::new(&args.redis_server)
        .args(["--port", "0", "--unixsocket"])
        .arg(&sock)
        .args(["--save", "", "--appendonly", "no", "--rdbcompression", "no"])
        .args(["--enable-debug-command", "local", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.redis_server))?;
    let made = (|| {
        let started = Instant::now();
        while cli(&args.redis_cli, &sock, &["PING"]).ok().as_deref() != Some("PONG") {
            ensure!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not answer in 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // 1,024 keys a MiB, each record the type byte, a 1-byte and a 2-byte length,
        // "key:N" and the value: the values take what the keys leave of the size (less
        // about 200 bytes of header and footer), so the file is the size within a few
        // bytes a key.
        let keys = args.size_mib * 1024;
        let names: u64 = (0..keys).map(|i| 8 + i.to_string().len() as u64).sum();
        let value = ((args.size_mib << 20).saturating_sub(200 + names) / keys.max(1)).max(1);
        let t = Instant::now();
        cli(
            &args.redis_cli,
            &sock,
            &[
                "DEBUG",
                "POPULATE",
                &keys.to_string(),
                "key",
                &value.to_string(),
            ],
        )?;
        cli(&args.redis_cli, &sock, &["SAVE"])?;
        let n: u64 = cli(&args.redis_cli, &sock, &["DBSIZE"])?.parse()?;
        eprintln!(
            "drill_bench: made a dump of {n} keys in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let _ = cli(&args.redis_cli, &sock, &["SHUTDOWN", "NOSAVE"]);
        Ok(n)
    })();
    if server.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(500));
        if server.try_wait()?.is_none() {
            server.kill()?;
        }
    }
    server.wait()?;
    Ok((dir.join("dump.rdb"), made?))
}

/// Answers every GET with the file at `path`, read from disk in 256 KiB chunks on a
/// blocking thread, with its Content-Length.
async fn serve(listener: tokio::net::TcpListener, path: Arc<PathBuf>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let path = Arc::clone(&path);
        tokio::spawn(async move {
            let service = service_fn(move |_req| {
                let path = Arc::clone(&path);
                async move {
                    let file = std::fs::File::open(path.as_path());
                    let len = file
                        .as_ref()
                        .map_or(0, |f| f.metadata().map_or(0, |m| m.len()));
                    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
                    tokio::task::spawn_blocking(move || {
                        let Ok(mut file) = file else { return };
                        let mut buf = vec![0u8; 256 * 1024];
                        while let Ok(n) = file.read(&mut buf) {
                            if n == 0
                                || tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err()
                            {
                                break;
                            }
                        }
                    });
                    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                        let chunk = rx.recv().await?;
                        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
                    });
                    let mut response = hyper::Response::new(StreamBody::new(frames));
                    response
                        .headers_mut()
                        .insert(hyper::header::CONTENT_LENGTH, len.into());
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `VmHWM` and `VmRSS` of a process, bytes; `None` once it is gone (or a zombie).
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// utime + stime of a process, seconds (fields 14 and 15 of /proc/<pid>/stat, in
/// clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((tick(11)? + tick(12)?) / 100.0)
}

/// The process IDs whose parent is `parent` and whose name is `name`.
fn children(parent: u32, name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid ...": the name may hold spaces, so split at the
            // last ')'.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let comm = head.split_once('(').map_or("", |(_, c)| c);
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            comm == name && ppid == Some(parent)
        })
        .collect()
}

/// Apparent and allocated bytes of every file under `dir`.
fn disk(dir: &Path) -> (u64, u64) {
    let mut sum = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return sum;
    };
    for e in entries.flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            let (a, b) = disk(&e.path());
            sum = (sum.0 + a, sum.1 + b);
        } else {
            sum = (sum.0 + m.len(), sum.1 + m.blocks() * 512);
        }
    }
    sum
}

/// What one drill measured.
#[derive(Debug, Default)]
struct Run {
    wall: f64,
    download: f64,
    load: f64,
    bytes: u64,
    keys_redis: u64,
    keys_verifier: u64,
    used_memory: u64,
    exporter_hwm: u64,
    exporter_rss: u64,
    /// The exporter's CPU time at its last sample.
    exporter_cpu: f64,
    redis_hwm: u64,
    /// When the scratch server with the highest peak was first seen, and the
    /// exporter's CPU time then: what the download cost it.
    redis_seen_at: Option<(f64, f64)>,
    disk_apparent: u64,
    disk_allocated: u64,
    samples: u64,
    scratch_empty: bool,
}

fn drill(args: &Args, config: &Path, scratch: &Path, out_dir: &Path) -> Result<Run> {
    let stdout = out_dir.join("check.json");
    let stderr = out_dir.join("check.err");
    let started = Instant::now();
    let mut child = Command::new(&args.exporter)
        .args([
            "check",
            "--output",
            "json",
            "--drill",
            UUID,
            "--config.file",
        ])
        .arg(config)
        .env("NO_COLOR", "1")
        .env_remove("CDS_EXPORTER_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout)?)
        .stderr(std::fs::File::create(&stderr)?)
        .spawn()
        .with_context(|| format!("starting {}", args.exporter.display()))?;
    let pid = child.id();
    let mut run = Run::default();
    let mut first_seen = std::collections::HashMap::new();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        run.samples += 1;
        if let Some((hwm, rss)) = memory(pid) {
            run.exporter_hwm = run.exporter_hwm.max(hwm);
            run.exporter_rss = run.exporter_rss.max(rss);
        }
        if let Some(cpu) = cpu_seconds(pid) {
            run.exporter_cpu = cpu;
        }
        // `redis-server --version` runs first and briefly: the loader is the one with
        // the highest peak.
        for redis in children(pid, "redis-server") {
            let seen = *first_seen
                .entry(redis)
                .or_insert((started.elapsed().as_secs_f64(), run.exporter_cpu));
            if let Some((hwm, _)) = memory(redis) {
                if hwm > run.redis_hwm {
                    run.redis_hwm = hwm;
                    run.redis_seen_at = Some(seen);
                }
            }
        }
        let (apparent, allocated) = disk(scratch);
        run.disk_apparent = run.disk_apparent.max(apparent);
        run.disk_allocated = run.disk_allocated.max(allocated);
        std::thread::sleep(Duration::from_millis(20));
    };
    run.wall = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&stdout)?;
    ensure!(
        status.success(),
        "check --drill exited {status}: {text}{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    let doc: serde_json::Value = serde_json::from_str(&text).context("check's JSON")?;
    let r = &doc["result"];
    ensure!(r["outcome"] == "ok", "the drill was not ok: {text}");
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    run.download = f("download_seconds");
    run.load = f("load_seconds");
    run.bytes = u("bytes");
    run.keys_redis = u("keys_redis");
    run.keys_verifier = u("keys_verifier");
    run.used_memory = u("used_memory");
    run.scratch_empty = std::fs::read_dir(scratch).map_or(true, |mut d| d.next().is_none());
    Ok(run)
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.exporter.is_file(),
        "no exporter at {} (cargo build --release --bin cds-redis-backup-exporter)",
        args.exporter.display()
    );
    let work = args
        .work
        .join(format!("drill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = bench(&args, &work);
    if args.keep && args.dump.is_none() {
        for entry in std::fs::read_dir(&work)?.flatten() {
            if entry.file_name() != "dump.rdb" {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
        eprintln!("drill_bench: kept {}", work.join("dump.rdb").display());
    } else {
        std::fs::remove_dir_all(&work)?;
    }
    result
}

fn bench(args: &Args, work: &Path) -> Result<()> {
    let (dump, made_keys) = match &args.dump {
        Some(path) => (path.clone(), None),
        None => {
            let (path, keys) = make_dump(args, work)?;
            (path, Some(keys))
        }
    };
    let size = std::fs::metadata(&dump)
        .with_context(|| format!("reading {}", dump.display()))?
        .len();
    if size > 1 << 40 {
        bail!("the dump is larger than drill.max_size can be (1 TiB)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (fake, files): (FakeCds, String) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let files = format!("http://{}", listener.local_addr()?);
        tokio::spawn(serve(listener, Arc::new(dump.clone())));
        let now = chrono::Utc::now();
        let mut instance = FakeInstance::new(UUID, UUID, "redis-replication");
        let mut backup = FakeBackup::finished(
            "bk-drill-bench",
            "",
            now - chrono::Duration::hours(2),
            now - chrono::Duration::hours(1),
            size,
        );
        backup.object = FakeObject::At(files.clone());
        instance.backups.push(backup);
        let mut scenario = Scenario::new("AK", "SK");
        scenario.instances.push(instance);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        anyhow::Ok((FakeCds::start(listener, scenario).await?, files))
    })?;
    let scratch = work.join("scratch");
    let config = work.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "poll: {{request_timeout: 10s, max_retries: 0}}\n\
             probe: {{enabled: false}}\n\
             accounts:\n  - name: bench\n    endpoint: {}\n    access_key_id: AK\n    access_key_secret: SK\n    discovery: {{}}\n\
             verify: {{url_types: [public], max_bandwidth: 10GiB, max_size: 1TiB, daily_budget: 100TiB}}\n\
             drill:\n  scratch_dir: {}\n  max_size: 1TiB\n  disk_budget: 100TiB\n  redis_server: {}\n",
            fake.base_url(),
            scratch.display(),
            args.redis_server
        ),
    )?;
    let version = Command::new(&args.redis_server).arg("--version").output()?;
    println!(
        "drill_bench: dump {} bytes ({:.1} MiB){}, served from {files}; {}",
        size,
        size as f64 / MIB,
        made_keys.map_or(String::new(), |k| format!(", {k} keys")),
        String::from_utf8_lossy(&version.stdout).trim()
    );
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let run = drill(args, &config, &scratch, work)?;
        if let Some(k) = made_keys {
            ensure!(
                run.keys_redis == k && run.keys_verifier == k,
                "keys: redis {} verifier {} made {k}",
                run.keys_redis,
                run.keys_verifier
            );
        }
        ensure!(
            run.bytes == size,
            "downloaded {} of {size} bytes",
            run.bytes
        );
        ensure!(run.scratch_empty, "the scratch directory is not empty");
        eprintln!("drill_bench: run {} done: {run:?}", i + 1);
        runs.push(run);
    }
    println!();
    println!("| run | wall | download | load | download + load | redis-server first seen (exporter CPU then) | exporter CPU | exporter peak RSS (VmHWM) | redis-server peak RSS (VmHWM) | used_memory | peak scratch disk (allocated / apparent) | keys (redis / verifier) | scratch empty after | samples |");
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (i, r) in runs.iter().enumerate() {
        println!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {} | {:.2} s | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} / {:.1} MiB | {} / {} | {} | {} |",
            i + 1,
            r.wall,
            r.download,
            r.load,
            r.download + r.load,
            r.redis_seen_at
                .map_or_else(
                    || "not seen".to_owned(),
                    |(t, cpu)| format!("{t:.2} s ({cpu:.2} s)"),
                ),
            r.exporter_cpu,
            r.exporter_hwm as f64 / MIB,
            r.redis_hwm as f64 / MIB,
            r.used_memory as f64 / MIB,
            r.disk_allocated as f64 / MIB,
            r.disk_apparent as f64 / MIB,
            r.keys_redis,
            r.keys_verifier,
            if r.scratch_empty { "yes" } else { "no" },
            r.samples
        );
    }
    drop(fake);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
