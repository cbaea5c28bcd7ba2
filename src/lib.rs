//! cds-redis-backup-exporter: a Prometheus exporter that polls the CDS Redis OpenAPI in
//! the background and tells whether each backup is finished, fresh and downloadable.
//!
//! [`run`] wires it together from a validated [`config::Config`], a bound listener and
//! a shutdown signal, so tests and `main` start it the same way.
//!
//! # Layout
//!
//! Floors, from the bottom. A module uses only modules on floors below its own (test
//! code aside), so nothing depends on what depends on it; a test (`src/layers.rs`)
//! reads every `crate::` path in `src/` and holds it to this map, which must name every
//! top-level module.
//!
//! **Floor 0, tools**: nothing of the crate.
//! - `sync`: locks without poison
//! - `problem`: what is wrong where in a file the operator wrote
//! - `input`: reading operator files safely (regular files, a size cap, a YAML depth check)
//! - `logging`: the log subscriber, logfmt or JSON
//!
//! **Floor 1, the outside in its own terms**: pure of Prometheus and of policy.
//! - `cds`: the CDS API client: signing, requests, typed answers and errors
//! - `rdb`: is a dump whole and restorable (pure: bytes in, verdict out)
//! - `partition`: this replica's part of the fleet (`--shard`, `--total-shards`)
//!
//! **Floor 2, settings and probes**
//! - `config`: `config.yaml` → validated [`config::Config`]
//! - `web_config`: `--web.config.file`: TLS and basic auth
//! - `probe`: does a presigned download URL serve the object
//!
//! **Floor 3, pure knowledge**
//! - `policy`: how old a shard's restore point may get (rules, learned schedule)
//! - `verification`: what a verification found: `Outcome`, `Verification`, `LastVerified`
//! - `drilled`: what restore drills found: results, the book kept in the state file
//!
//! **Floor 4**
//! - `facts`: what the exporter remembers of each instance across restarts
//!
//! **Floor 5, the data of a cycle**
//! - `state`: what one poll cycle learned ([`state::Snapshot`]): plain data, no I/O
//!
//! **Floor 6, work and judgement**
//! - `verify`: verification in the background: jobs, workers, limiter, budget, state file
//! - `verdict`: the policy engine: restore point, deadline and findings per shard
//!
//! **Floor 7, views**
//! - `drill`: restore drills: a backup loaded into a throwaway `redis-server`
//! - `metrics`: the registry and the series rendered from a snapshot
//! - `report`: the fleet in plain words, for `check` and the status page
//! - `alerts`: every alert and recording rule, declared once
//!
//! **Floor 8**
//! - `poller`: the poll cycle: calls, probes, verification jobs → a snapshot
//! - `status`: the status page's HTML
//! - `fake`: the fake CDS API and object store, for tests, benchmarks and `--demo`
//!
//! **Floor 9, entry points**
//! - `server`: HTTP: `/metrics`, health, the status page, reloads
//! - `check`: the `check` subcommand's cycle and its table
//! - `demo`: `--demo`: the fake API with its scenario and a configuration for it
//!
//! **Floor 10, the top**
//! - `lib`: [`run`] and [`run_with`]: server and poll loop wired together; reloads
//! - `main`: the binary: flags, logging, signals
//! - `main_check`: the binary's `check` output
//! - `main_malloc`: the binary re-executing itself once with glibc's allocator tuned

pub mod alerts;
pub mod cds;
pub mod check;
pub mod config;
pub mod demo;
pub mod drill;
pub mod drilled;
pub mod facts;
pub mod fake;
#[cfg(test)]
mod generated;
mod input;
#[cfg(test)]
mod layers;
pub mod logging;
pub mod metrics;
pub mod partition;
pub mod policy;
pub mod poller;
pub mod probe;
pub mod problem;
pub mod rdb;
pub mod report;
pub mod server;
pub mod state;
pub mod status;
mod sync;
pub mod verdict;
pub mod verification;
pub mod verify;
pub mod web_config;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Reads the configuration again, for reloads (`main` re-reads `--config.file`). It
/// runs on the blocking pool, never on the thread that serves scrapes.
pub type Loader = Arc<dyn Fn() -> Result<config::Config, config::ConfigError> + Send + Sync>;

/// How a running exporter is reconfigured. The default has no loader: reloads fail.
#[derive(Default)]
pub struct Control {
    pub loader: Option<Loader>,
    /// Each message asks for a reload; `main` sends one per SIGHUP.
    pub reload_signals: Option<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("loader", &self.loader.is_some())
            .finish_non_exhaustive()
    }
}

/// How long a reload may take to read and check its files before it is given up. The
/// work itself cannot be interrupted (a read from a hung mount); it finishes, or not,
/// on its blocking thread, and its result is dropped.
pub(crate) const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls in the background and serves HTTP on `listener` until `shutdown` completes,
/// with the default web settings (plain HTTP, no lifecycle API, no reloads), the whole
/// fleet in this replica.
pub async fn run(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_with(
        config,
        partition::Partition::default(),
        server::WebConfig::default(),
        Control::default(),
        listener,
        shutdown,
    )
    .await
}

/// [`run`] polling `partition` of the fleet (`--shard`, `--total-shards`), with `web`
/// settings, reloadable through `control` (and `POST /-/reload` when
/// `web.enable_lifecycle`). On shutdown the listener closes and the poll loop is
/// cancelled at once, calls in flight and a reload in progress included.
pub async fn run_with(
    config: config::Config,
    partition: partition::Partition,
    web: server::WebConfig,
    control: Control,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new().context("registering metrics")?);
    metrics.config_loaded(true);
    if config.verify.state_file.is_none() {
        warn!("verify.state_file is not set: a restart forgets remembered shards (one whose backups are all purged meanwhile is no longer reported), their last finished backups, cadence history, first-seen times and verification results");
    }
    let poller = Arc::new(
        poller::Poller::new(&config, partition, Arc::clone(&metrics))
            .context("building the HTTP clients")?,
    );
    let ready = Arc::new(AtomicBool::new(false));
    let (pollers, watched) = watch::channel(poller);
    let latest = state::Latest::default();
    let polling = AbortOnDrop(tokio::spawn(poller::run(
        watched,
        Arc::clone(&ready),
        Arc::clone(&latest),
    )));
    let (reload_tx, reload_rx) = mpsc::channel::<server::ReloadRequest>(8);
    let security: server::SharedSecurity =
        Arc::new(std::sync::RwLock::new(Arc::clone(&web.security)));
    let reloader = Reloader {
        loader: control.loader,
        security_file: web.security_file.clone(),
        current: config,
        partition,
        security: Arc::clone(&security),
        metrics: Arc::clone(&metrics),
        pollers,
    };
    let reloading = AbortOnDrop(tokio::spawn(
        reloader.serve(reload_rx, control.reload_signals),
    ));
    let app = Arc::new(server::App {
        metrics,
        ready,
        latest,
        dashboards_url: web.dashboards_url.clone(),
        pages: status::Pages::default(),
        telemetry_path: web.telemetry_path.clone(),
        enable_lifecycle: web.enable_lifecycle,
        reload: reload_tx,
        security: Arc::clone(&security),
        limits: web.limits,
    });
    server::serve(listener, app, shutdown).await;
    // Both hold the poller: once they are gone, so is it, and its verifier's last write
    // of the state file is done when this returns.
    polling.stop().await;
    reloading.stop().await;
    Ok(())
}

/// Aborts the task when dropped, so no exit path leaves the poll loop running.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    /// Aborts the task and waits until it is dropped (what it holds with it).
    async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Reloader {
    loader: Option<Loader>,
    /// `--web.config.file`, read again on each reload.
    security_file: Option<PathBuf>,
    /// The configuration the running poller was built from.
    current: config::Config,
    /// Given at start and kept by every reload: it comes from flags, not the file.
    partition: partition::Partition,
    security: server::SharedSecurity,
    metrics: Arc<metrics::Metrics>,
    pollers: watch::Sender<Arc<poller::Poller>>,
}

/// What a reload read, before it is applied.
struct Loaded {
    config: config::Config,
    security: Option<web_config::WebSecurity>,
    /// A new poller when the configuration changed.
    poller: Option<poller::Poller>,
}

impl Reloader {
    /// Reloads one at a time. Requests that arrive while one runs are answered together
    /// by the next, so a burst of requests costs at most two reloads.
    async fn serve(
        mut self,
        mut requests: mpsc::Receiver<server::ReloadRequest>,
        mut signals: Option<mpsc::Receiver<()>>,
    ) {
        loop {
            let mut replies = Vec::new();
            tokio::select! {
                r = requests.recv() => match r {
                    Some(reply) => replies.push(reply),
                    None => return,
                },
                Some(()) = async {
                    match &mut signals {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
            while let Ok(reply) = requests.try_recv() {
                replies.push(reply);
            }
            if let Some(s) = &mut signals {
                while s.try_recv().is_ok() {}
            }
            let result = self.reload().await;
            for reply in replies {
                let _ = reply.send(result.clone());
            }
        }
    }

    /// Loads and validates the configuration and the web config file; only if both are
    /// valid do they replace the running ones: the poller when the poll cycle in
    /// progress ends (and only if the configuration changed, so an unchanged reload
    /// does not start a cycle early), the web security for the next connection.
    async fn reload(&mut self) -> Result<(), String> {
        let result = self.load().await;
        self.metrics.config_loaded(result.is_ok());
        let loaded = match result {
            Ok(loaded) => loaded,
            Err(e) => {
                // One line per problem would be split by the log format; keep it whole.
                warn!(error = %e, "configuration reload failed; the previous configuration stays in use");
                return Err(e);
            }
        };
        if let Some(security) = loaded.security {
            server::log_security(&security);
            *sync::write(&self.security) = Arc::new(security);
        }
        match loaded.poller {
            Some(poller) => {
                self.pollers.send_replace(Arc::new(poller));
                info!(
                    accounts = loaded.config.accounts.len(),
                    "configuration reloaded; a poll cycle with it starts when the current one ends"
                );
                self.current = loaded.config;
            }
            None => info!("configuration reloaded, unchanged; polling goes on as scheduled"),
        }
        Ok(())
    }

    /// The reading, parsing, bcrypt and HTTP client building of a reload, on the
    /// blocking pool under [`RELOAD_TIMEOUT`]: none of it may stall scrapes or SIGTERM.
    async fn load(&self) -> Result<Loaded, String> {
        let load = self
            .loader
            .clone()
            .ok_or_else(|| "there is no configuration file to reload (--demo mode)".to_owned())?;
        let security_file = self.security_file.clone();
        let previous = Arc::clone(&sync::read(&self.security));
        let current = self.current.clone();
        let partition = self.partition;
        let metrics = Arc::clone(&self.metrics);
        let work = tokio::task::spawn_blocking(move || {
            let config = load().map_err(|e| e.to_string())?;
            let security = match &security_file {
                Some(path) => Some(
                    web_config::WebSecurity::reload(path, &previous).map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let poller = if config == current {
                None
            } else {
                Some(
                    poller::Poller::new(&config, partition, metrics)
                        .map_err(|e| format!("cannot build the HTTP clients: {e}"))?,
                )
            };
            Ok(Loaded {
                config,
                security,
                poller,
            })
        });
        match tokio::time::timeout(RELOAD_TIMEOUT, work).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => Err(format!("the reload stopped: {e}")),
            Err(_) => Err(format!(
                "reading the configuration took longer than {}s (a file on a hung mount?); given up",
                RELOAD_TIMEOUT.as_secs()
            )),
        }
    }
}

/// The log filter `main` installs: this crate's events at `level`, dependencies' only
/// from warn up, since their debug output can include request URLs. Tests use the same.
pub fn log_filter(level: tracing::Level) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::new(format!("warn,cds_redis_backup_exporter={level}"))
}
