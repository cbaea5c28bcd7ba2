//! The binary: flags, logging, configuration, then [`cds_redis_backup_exporter::run_with`]
//! until SIGINT or SIGTERM, reloading on SIGHUP. Everything else lives in the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};

mod main_check;
mod main_malloc;
use tracing::{error, info, warn};

use cds_redis_backup_exporter::config::Config;
use cds_redis_backup_exporter::logging;
use cds_redis_backup_exporter::partition::Partition;
use cds_redis_backup_exporter::server::WebConfig;
use cds_redis_backup_exporter::web_config::WebSecurity;
use cds_redis_backup_exporter::{demo, run_with, Control, Loader};

/// The default port: in the Prometheus exporter range, not one of a well-known exporter.
const DEFAULT_LISTEN: &str = "0.0.0.0:9755";

#[derive(Debug, Parser)]
#[command(
    version = env!("CDS_EXPORTER_LONG_VERSION"),
    about = "Prometheus exporter for Capital Online (CDS) Redis backups: are they finished, fresh and downloadable?"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (YAML).
    #[arg(
        long = "config.file",
        env = "CDS_EXPORTER_CONFIG",
        default_value = "config.yaml",
        global = true
    )]
    config_file: PathBuf,
    /// Address to listen on for HTTP.
    #[arg(long = "web.listen-address", env = "CDS_EXPORTER_LISTEN_ADDRESS", default_value = DEFAULT_LISTEN)]
    listen_address: SocketAddr,
    /// Web config file (Prometheus exporter-toolkit format) for TLS and basic auth.
    #[arg(long = "web.config.file", env = "CDS_EXPORTER_WEB_CONFIG")]
    web_config_file: Option<PathBuf>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Enable reloading through HTTP (POST /-/reload), as in Prometheus; SIGHUP works
    /// either way. Off by default: anyone who can reach the port could use it.
    #[arg(long = "web.enable-lifecycle", env = "CDS_EXPORTER_ENABLE_LIFECYCLE")]
    enable_lifecycle: bool,
    /// Grafana's base URL: the status page at / links to the shipped dashboards there.
    #[arg(long = "web.dashboards-url", env = "CDS_EXPORTER_DASHBOARDS_URL")]
    dashboards_url: Option<String>,
    /// Most HTTP connections served at once; more wait in the listen backlog.
    #[arg(long = "web.max-connections", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: u32,
    /// Only log messages with the given severity or above. `check` logs only errors
    /// unless this is given: its report says what went wrong.
    #[arg(long = "log.level", value_enum, default_value_t = Level::Info, global = true)]
    log_level: Level,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    log_format: LogFormat,
    /// This replica's shard, 0-based: it polls only the instances whose hash of
    /// instance_uuid falls in it (see docs/scale.md).
    #[arg(long = "shard", env = "CDS_EXPORTER_SHARD", default_value_t = 0)]
    shard: u32,
    /// How many shards the fleet is split into; 1 polls everything.
    #[arg(long = "total-shards", env = "CDS_EXPORTER_TOTAL_SHARDS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    total_shards: u32,
    /// Take the shard from the number at the end of the host name (a StatefulSet pod
    /// `cds-redis-backup-exporter-2` is shard 2) instead of --shard.
    // Exclusive with --shard and CDS_EXPORTER_SHARD, checked in `partition` so that the
    // message names the one that was given (not in --help).
    #[arg(long = "shard.from-hostname", env = "CDS_EXPORTER_SHARD_FROM_HOSTNAME")]
    shard_from_hostname: bool,
    /// Run against a built-in fake CDS API on loopback (no account needed); ignores --config.file.
    #[arg(long, global = true)]
    demo: bool,
    /// With --demo: when the demo's event happens (a last good backup purged, an
    /// instance deleted, the demo-revoked account's credentials revoked).
    #[arg(long = "demo.events-after", env = "CDS_DEMO_EVENTS_AFTER", default_value = "5m", value_parser = humantime::parse_duration)]
    demo_events_after: std::time::Duration,
    /// With --demo: delay every answer of the fake API by this much (a slow API, a slow
    /// first cycle).
    #[arg(long = "demo.latency", env = "CDS_DEMO_LATENCY", default_value = "0s", value_parser = humantime::parse_duration)]
    demo_latency: std::time::Duration,
    /// With --demo: keep the state (verify.state_file) in this file, so that a
    /// restarted demo remembers what it had seen (an --demo.events-after of 0s starts
    /// it after the event).
    #[arg(long = "demo.state-file", env = "CDS_DEMO_STATE_FILE")]
    demo_state_file: Option<std::path::PathBuf>,
    /// Validate --config.file (and --web.config.file if given), print a report and exit:
    /// 0 if valid, 1 if not.
    #[arg(long = "config.check", conflicts_with = "demo")]
    config_check: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One poll cycle, a report of every instance (problems first) and an exit code:
    /// 0 all healthy, 1 a backup problem found, 2 a usage or configuration error,
    /// 3 CDS unreachable or credentials refused. The server is not started.
    Check(CheckArgs),
    /// Print the Prometheus rule file (prometheus/alerts.yml) generated from the alerts
    /// declared in the binary, or write it to a file.
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
struct RulesArgs {
    /// Write the rules to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    write: Option<PathBuf>,
    /// The runbook every alert's runbook_url points into (its anchor is appended after
    /// `#`), e.g. a copy of docs/runbook.md on an internal wiki. Default: docs/runbook.md
    /// in the repository named by Cargo.toml.
    #[arg(long, value_name = "URL", default_value = cds_redis_backup_exporter::alerts::RUNBOOK_URL)]
    runbook_base_url: String,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Report format: a table for people, or JSON (schema
    /// cds-redis-backup-exporter/check/v1, docs/check.schema.json) for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Skip verification: no dump is downloaded, and no row says "ok" (each says "not
    /// verified"). Without it, `check` verifies the newest backup of each shard as the
    /// exporter does: the `verify:` level and rules of the configuration, `light` (the
    /// dump's head and tail, two small ranged downloads) when it says nothing.
    #[arg(long = "no-verify")]
    no_verify: bool,
    /// The most time spent waiting for verification after the poll cycle; what is not
    /// verified by then is reported as "not verified yet".
    #[arg(long = "verify.within", value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    verify_within: std::time::Duration,
    /// Deprecated and hidden: verification is the default now; kept so scripts that
    /// pass it keep working.
    #[arg(long, hide = true, conflicts_with = "no_verify")]
    verify: bool,
    /// Every column and every problem in the table, however wide. Without it the table
    /// fits the terminal's width (stdout's; else COLUMNS; else 100 columns), dropping
    /// the less telling columns and listing the problems below it.
    #[arg(long)]
    wide: bool,
    /// Run one restore drill of this instance now and print its result instead of the
    /// report: the backup `drill.backup` picks, downloaded into `drill.scratch_dir` and
    /// loaded into a throwaway `drill.redis_server`, with the `drill:` settings of the
    /// configuration even when `drill.enabled` is false (the data checks of the first
    /// `drill.rules` entry matching the instance, if any). Exit 0 when the restore
    /// passed; 1 when it did not or proved nothing (skipped, unsupported, too large,
    /// not downloaded); 2 for an instance no account lists; 3 when CDS cannot be seen.
    #[arg(long, value_name = "INSTANCE_UUID")]
    drill: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn init_logging(level: Level, format: LogFormat) {
    let level = match level {
        Level::Error => tracing::Level::ERROR,
        Level::Warn => tracing::Level::WARN,
        Level::Info => tracing::Level::INFO,
        Level::Debug => tracing::Level::DEBUG,
        Level::Trace => tracing::Level::TRACE,
    };
    let format = match format {
        LogFormat::Logfmt => logging::LogFormat::Logfmt,
        LogFormat::Json => logging::LogFormat::Json,
    };
    let subscriber = logging::subscriber(level, format, std::io::stderr);
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("error: cannot start logging: {e}");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    info!("shutting down");
}

/// Forwards each SIGHUP as a reload request.
fn reload_signals() -> Option<tokio::sync::mpsc::Receiver<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        info!("SIGHUP: reloading the configuration");
                        // A full channel means a reload is already pending.
                        let _ = tx.try_send(());
                    }
                });
                Some(rx)
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// `--config.check`: the report on stdout when valid, the problems on stderr if not;
/// with `--web.config.file`, that file is checked too.
fn check(path: &std::path::Path, web: Option<&std::path::Path>) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let mut ok = true;
    match Config::load(path, &env) {
        Ok(config) => {
            println!("{}: valid\n{}", path.display(), config.summary());
            for w in config.example_credentials() {
                eprintln!("warning: {w}");
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ok = false;
        }
    }
    if let Some(web) = web {
        match WebSecurity::load(web) {
            Ok(s) => println!(
                "{}: valid (TLS {}, client certificates {}, {} basic auth user(s))",
                web.display(),
                if s.tls().is_some() { "on" } else { "off" },
                s.client_auth().name(),
                s.basic_auth_users()
            ),
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The web settings from flags and `--web.config.file`.
fn web_config(args: &Args) -> anyhow::Result<WebConfig> {
    let mut web = WebConfig::new(&args.telemetry_path).map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.web_config_file {
        web.security = std::sync::Arc::new(WebSecurity::load(path)?);
        web.security_file = Some(path.clone());
    }
    web.enable_lifecycle = args.enable_lifecycle;
    web.limits.max_connections = args.max_connections as usize;
    if let Some(url) = &args.dashboards_url {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| u.scheme() == "https" || u.scheme() == "http");
        anyhow::ensure!(
            parsed.is_some(),
            "--web.dashboards-url {url:?} is not an http(s) URL; give Grafana's base URL, e.g. https://grafana.example.com"
        );
        web.dashboards_url = Some(url.clone());
    }
    Ok(web)
}

/// Reads `--config.file` (and the files it names) on the calling thread: before the
/// runtime starts, and for reloads on the blocking pool.
fn loader(args: &Args) -> Loader {
    let path = args.config_file.clone();
    std::sync::Arc::new(move || {
        let env = |k: &str| std::env::var(k).ok();
        let config = Config::load(&path, &env)?;
        // At start-up and on every reload: the exporter runs, but every call will fail.
        for w in config.example_credentials() {
            warn!(account = w.account, access_key_id = w.access_key_id, "{w}");
        }
        Ok(config)
    })
}

/// How a flag was given, for messages: `'--shard <SHARD>'`, or the environment
/// variable with its value when that is where it came from.
fn given(matches: &ArgMatches, id: &str, flag: &str, var: &str) -> String {
    match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => {
            let value = std::env::var(var).unwrap_or_default();
            format!("the environment variable {var}={value:?}")
        }
        Some(ValueSource::DefaultValue) => format!("'{flag}' (its default)"),
        _ => format!("'{flag}'"),
    }
}

/// This replica's partition of the fleet: `--shard`/`--total-shards`, or the ordinal at
/// the end of the host name. A wrong combination is a usage error, reported as clap
/// reports its own (exit status 2).
fn partition(args: &Args, matches: &ArgMatches) -> Result<Partition, clap::Error> {
    use clap::error::ErrorKind;
    let usage = |kind: ErrorKind, message: String| Args::command().error(kind, message);
    let total = given(
        matches,
        "total_shards",
        "--total-shards <TOTAL_SHARDS>",
        "CDS_EXPORTER_TOTAL_SHARDS",
    );
    let numbered = format!(
        "{} shard(s) from {total}, numbered 0 to {}",
        args.total_shards,
        args.total_shards.saturating_sub(1)
    );
    let index = if args.shard_from_hostname {
        let from_hostname = given(
            matches,
            "shard_from_hostname",
            "--shard.from-hostname",
            "CDS_EXPORTER_SHARD_FROM_HOSTNAME",
        );
        let explicit = matches
            .value_source("shard")
            .is_some_and(|s| s != ValueSource::DefaultValue);
        if explicit {
            let shard = given(matches, "shard", "--shard <SHARD>", "CDS_EXPORTER_SHARD");
            return Err(usage(
                ErrorKind::ArgumentConflict,
                format!("{from_hostname} cannot be used with {shard}: both say which shard this replica is; keep one"),
            ));
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .unwrap_or_default();
        let Some(index) = cds_redis_backup_exporter::partition::ordinal(&host) else {
            return Err(usage(
                ErrorKind::ValueValidation,
                format!("{from_hostname}: the host name {:?} does not end in -<number> (a StatefulSet pod name); give --shard instead", host.trim()),
            ));
        };
        if index >= args.total_shards {
            return Err(usage(
                ErrorKind::ValueValidation,
                format!("{from_hostname}: the host name {:?} gives shard {index}, which does not exist: {numbered}", host.trim()),
            ));
        }
        index
    } else {
        args.shard
    };
    Partition::new(index, args.total_shards).map_err(|_| {
        let shard = given(matches, "shard", "--shard <SHARD>", "CDS_EXPORTER_SHARD");
        usage(
            ErrorKind::ValueValidation,
            format!("invalid value '{index}' for {shard}: no such shard: {numbered}"),
        )
    })
}

async fn start(
    args: Args,
    web: WebConfig,
    partition: Partition,
    loaded: Option<(Config, Loader)>,
) -> anyhow::Result<()> {
    let (_fake, config, loader) = match loaded {
        Some((config, loader)) => (None, config, Some(loader)),
        None => {
            let (fake, mut config) = demo::start(args.demo_events_after, args.demo_latency)
                .await
                .context("starting the demo's fake CDS API")?;
            config.verify.state_file = args.demo_state_file.clone();
            info!(fake_api = %fake.base_url(), "demo mode: polling a built-in fake CDS API");
            match demo::drill_healthy(&mut config) {
                Some(server) => info!(
                    redis_server = %server.display(),
                    "demo mode: demo-healthy's newest backup gets a restore drill"
                ),
                None => info!(
                    "demo mode: no redis-server on PATH, so no restore drill (install redis-server to see one)"
                ),
            }
            (Some(fake), config, None)
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen_address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (change --web.listen-address)",
                args.listen_address
            )
        })?;
    info!(
        address = %listener.local_addr().unwrap_or(args.listen_address),
        telemetry_path = %web.telemetry_path,
        lifecycle_api = web.enable_lifecycle,
        accounts = config.accounts.len(),
        version = env!("CARGO_PKG_VERSION"),
        "listening"
    );
    let control = Control {
        loader,
        reload_signals: reload_signals(),
    };
    run_with(config, partition, web, control, listener, shutdown_signal()).await
}

/// `rules`: the generated rule file to stdout or `--write PATH`.
fn rules(r: &RulesArgs) -> ExitCode {
    use cds_redis_backup_exporter::alerts;
    if let Err(e) = alerts::check_runbook_base_url(&r.runbook_base_url) {
        eprintln!("error: --runbook-base-url: {e}");
        return ExitCode::from(2);
    }
    let text = alerts::rules_yaml_with(&r.runbook_base_url);
    match &r.write {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: writing {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// How long exit waits for work that cannot be cancelled (a DNS lookup on a blocking
/// thread) after the server and the poll loop stopped.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> ExitCode {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match &args.command {
        Some(Command::Check(c)) => {
            // `check` reports in its table what went wrong; its log is for digging, so
            // only errors unless --log.level is given.
            let level = match matches.value_source("log_level") {
                Some(ValueSource::DefaultValue) | None => Level::Error,
                Some(_) => args.log_level,
            };
            init_logging(level, args.log_format);
            let quiet = matches!(level, Level::Error | Level::Warn);
            return main_check::run(&args, c, quiet);
        }
        Some(Command::Rules(r)) => return rules(r),
        None => {}
    }
    if args.config_check {
        return check(&args.config_file, args.web_config_file.as_deref());
    }
    // A usage error, before logging starts: on stderr with the usage, status 2, as
    // every other flag error.
    let partition = partition(&args, &matches).unwrap_or_else(|e| e.exit());
    // Before anything else runs: on success this process starts over, tuned.
    let untuned = main_malloc::tune().err();
    init_logging(args.log_level, args.log_format);
    if let Some(e) = untuned {
        warn!(
            error = %e,
            "could not re-execute with glibc's allocator tuned: resident memory may be 3-4 MiB higher"
        );
    }
    // Files are read before the runtime starts: nothing async is waiting yet, and the
    // caps in `input` bound what reading them can cost.
    let prepared = web_config(&args).and_then(|web| {
        if partition.total > 1 {
            info!(
                shard = partition.index,
                total_shards = partition.total,
                "polling one shard of the instances"
            );
        }
        if args.demo {
            return Ok((web, None));
        }
        let load = loader(&args);
        info!(file = %args.config_file.display(), "loading the configuration");
        Ok((web, Some((load()?, load))))
    });
    let (web, loaded) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // One thread: the work is waiting on the API, and the little CPU it needs (parsing
    // answers, rendering a cycle off-thread) fits one core. Against the multi-threaded
    // runtime it cut peak RSS from 51 to 34 MiB and CPU per cycle from 0.80 to 0.67 s
    // in the benchmark (BENCHMARKS.md): one malloc arena instead of one per worker.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(start(args, web, partition, loaded));
    runtime.shutdown_timeout(EXIT_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // For a human at a terminal: the whole chain, every config problem on its
            // own line (a log line would escape the newlines).
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
