//! cds-redis-backup-exporter: a Prometheus exporter that polls the CDS Redis OpenAPI in
//! the background and tells whether each backup is finished, fresh and downloadable.
//!
//! [`run`] wires it together from a validated [`config::Config`], a bound listener and
//! a shutdown signal, so tests and `main` start it the same way.

pub mod cds;
pub mod config;
pub mod demo;
pub mod fake;
pub mod metrics;
pub mod poller;
pub mod probe;
pub mod server;
pub mod state;
pub mod web_config;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

/// Reads the configuration again, for reloads (`main` re-reads `--config.file`).
pub type Loader = Arc<dyn Fn() -> Result<config::Config, config::ConfigError> + Send + Sync>;

/// A reload request: the reply says whether the new configuration was taken.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

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

/// Polls in the background and serves HTTP on `listener` until `shutdown` completes.
pub async fn run(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_with(config, Control::default(), listener, shutdown).await
}

/// [`run`], reloadable through `control` and `POST /-/reload`. On shutdown the listener
/// closes and the poll loop is cancelled at once, calls in flight included.
pub async fn run_with(
    config: config::Config,
    control: Control,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new().context("registering metrics")?);
    metrics.config_loaded(true);
    let poller = Arc::new(
        poller::Poller::new(&config, Arc::clone(&metrics)).context("building the HTTP clients")?,
    );
    let ready = Arc::new(AtomicBool::new(false));
    let (pollers, watched) = watch::channel(poller);
    let polling = AbortOnDrop(tokio::spawn(poller::run(watched, Arc::clone(&ready))));
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(8);
    let security: server::SharedSecurity =
        Arc::new(std::sync::RwLock::new(Arc::clone(&config.web.security)));
    let reloader = Reloader {
        loader: control.loader,
        web: config.web.clone(),
        security: Arc::clone(&security),
        metrics: Arc::clone(&metrics),
        pollers,
    };
    let _reloading = AbortOnDrop(tokio::spawn(
        reloader.serve(reload_rx, control.reload_signals),
    ));
    let app = Arc::new(server::App {
        metrics,
        ready,
        telemetry_path: config.web.telemetry_path.clone(),
        reload: reload_tx,
        security: Arc::clone(&security),
        limits: config.web.limits,
    });
    server::serve(listener, app, shutdown).await;
    drop(polling);
    Ok(())
}

/// Aborts the task when dropped, so no exit path leaves the poll loop running.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Reloader {
    loader: Option<Loader>,
    /// Set from flags, not from the file: kept across reloads, but for the web config
    /// file, which is read again.
    web: config::WebConfig,
    security: server::SharedSecurity,
    metrics: Arc<metrics::Metrics>,
    pollers: watch::Sender<Arc<poller::Poller>>,
}

impl Reloader {
    async fn serve(
        self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        mut signals: Option<mpsc::Receiver<()>>,
    ) {
        loop {
            let reply = tokio::select! {
                r = requests.recv() => match r {
                    Some(reply) => Some(reply),
                    None => return,
                },
                Some(()) = async {
                    match &mut signals {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                } => None,
            };
            let result = self.reload();
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }

    /// Loads and validates the configuration and the web config file; only if both are
    /// valid do they replace the running ones, the poller when the poll cycle in
    /// progress ends, the web security for the next connection and request.
    fn reload(&self) -> Result<(), String> {
        let result = self
            .loader
            .as_ref()
            .ok_or_else(|| "there is no configuration file to reload (--demo mode)".to_owned())
            .and_then(|load| load().map_err(|e| e.to_string()))
            .and_then(|mut config| {
                config.web = self.web.clone();
                if let Some(path) = &self.web.security_file {
                    let security =
                        web_config::WebSecurity::load(path).map_err(|e| e.to_string())?;
                    config.web.security = Arc::new(security);
                }
                poller::Poller::new(&config, Arc::clone(&self.metrics))
                    .map(|p| (config, p))
                    .map_err(|e| format!("cannot build the HTTP clients: {e}"))
            });
        self.metrics.config_loaded(result.is_ok());
        match result {
            Ok((config, poller)) => {
                self.pollers.send_replace(Arc::new(poller));
                if self.web.security_file.is_some() {
                    server::log_security(&config.web.security);
                    *self.security.write().unwrap_or_else(|p| p.into_inner()) = config.web.security;
                }
                info!(
                    accounts = config.accounts.len(),
                    "configuration reloaded; it applies from the next poll cycle"
                );
                Ok(())
            }
            Err(e) => {
                // One line per problem would be split by the log format; keep it whole.
                warn!(error = %e, "configuration reload failed; the previous configuration stays in use");
                Err(e)
            }
        }
    }
}

/// The log filter `main` installs: this crate's events at `level`, dependencies' only
/// from warn up, since their debug output can include request URLs. Tests use the same.
pub fn log_filter(level: tracing::Level) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::new(format!("warn,cds_redis_backup_exporter={level}"))
}
