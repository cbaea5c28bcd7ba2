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

/// Polls in the background and serves HTTP on `listener` until `shutdown` completes.
pub async fn run(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new().context("registering metrics")?);
    let poller = Arc::new(
        poller::Poller::new(&config, Arc::clone(&metrics)).context("building the HTTP clients")?,
    );
    let ready = Arc::new(AtomicBool::new(false));
    let polling = tokio::spawn(poller::run(
        poller,
        config.poll.interval,
        config.poll.start_jitter,
        Arc::clone(&ready),
    ));
    let app = Arc::new(server::App {
        metrics,
        ready,
        telemetry_path: config.web.telemetry_path.clone(),
        security: Arc::clone(&config.web.security),
        limits: config.web.limits,
    });
    server::serve(listener, app, shutdown).await;
    polling.abort();
    Ok(())
}

/// The log filter `main` installs: this crate's events at `level`, dependencies' only
/// from warn up, since their debug output can include request URLs. Tests use the same.
pub fn log_filter(level: tracing::Level) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::new(format!("warn,cds_redis_backup_exporter={level}"))
}
