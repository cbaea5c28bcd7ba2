//! `--demo`: the fake CDS API on loopback with its demo scenario, and a configuration
//! that watches it through all three target kinds, so a newcomer sees real metrics
//! without a CDS account.
//!
//! Two fake accounts: `demo` (every backup state and the alerting stories of
//! [`crate::fake`]'s demo scenario) and `demo-revoked`. After `events_after` the
//! demo's event happens: a last good backup is purged, an instance is deleted and the
//! second account's credentials are revoked — what a fleet goes through over days,
//! shown in minutes.

use std::sync::Arc;
use std::time::Duration;

use crate::cds::{InstanceFilter, Secret};
use crate::config::{
    Account, BackupTarget, Config, PollConfig, ProbeConfig, VerifyConfig, VerifyLevel,
};
use crate::fake::{FakeCds, Scenario};

/// How often the demo polls: often enough to watch things happen.
pub(crate) const DEMO_INTERVAL: Duration = Duration::from_secs(15);
/// How long values of a target whose calls fail stay whole: four cycles, so a revoked
/// account shows facts outliving observations within minutes.
const DEMO_STALE_AFTER: Duration = Duration::from_secs(60);

/// The demo's fake accounts; they stop serving when this is dropped.
#[derive(Debug)]
pub struct Demo {
    main: Arc<FakeCds>,
    _revoked: Arc<FakeCds>,
    events: Option<tokio::task::JoinHandle<()>>,
}

impl Demo {
    /// The base URL of the main fake account.
    pub fn base_url(&self) -> String {
        self.main.base_url()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(events) = self.events.take() {
            events.abort();
        }
    }
}

/// Starts the fakes on ephemeral loopback ports, with the event `events_after` from
/// now and every API answer delayed by `latency` (a slow API, a slow first cycle), and
/// returns them with a configuration for them.
pub async fn start(events_after: Duration, latency: Duration) -> anyhow::Result<(Demo, Config)> {
    start_at(chrono::Utc::now(), Some(events_after), latency).await
}

/// [`start`] with the scenario's times relative to `now` and the event optional: the
/// golden `/metrics` test renders it at a fixed clock, without events.
pub async fn start_at(
    now: chrono::DateTime<chrono::Utc>,
    events_after: Option<Duration>,
    latency: Duration,
) -> anyhow::Result<(Demo, Config)> {
    let mut scenario = Scenario::demo(now);
    let mut revoked = Scenario::demo_revoked(now);
    scenario.latency = latency;
    revoked.latency = latency;
    // The seed's call: one backup named explicitly, the newest of the healthy instance.
    let seed = scenario
        .instances
        .iter()
        .find(|i| i.name == "demo-healthy")
        .and_then(|i| {
            i.backups
                .iter()
                .max_by_key(|b| b.start)
                .map(|b| (i.uuid.clone(), b.id.clone()))
        });
    let main = Arc::new(FakeCds::start(loopback().await?, scenario.clone()).await?);
    let second = Arc::new(FakeCds::start(loopback().await?, revoked.clone()).await?);
    let mut instances: Vec<String> = scenario.instances.iter().map(|i| i.uuid.clone()).collect();
    instances.truncate(1);
    let main_account = Account {
        name: "demo".to_owned(),
        endpoint: reqwest::Url::parse(&main.base_url())?,
        access_key_id: scenario.access_key_id.clone(),
        access_key_secret: Secret::new(scenario.access_key_secret.clone()),
        timezone: scenario.timezone,
        backups: seed
            .map(|(instance_uuid, backup_id)| BackupTarget {
                instance_uuid,
                backup_id,
            })
            .into_iter()
            .collect(),
        instances,
        discovery: Some(InstanceFilter::default()),
    };
    let revoked_account = Account {
        name: "demo-revoked".to_owned(),
        endpoint: reqwest::Url::parse(&second.base_url())?,
        access_key_id: revoked.access_key_id.clone(),
        access_key_secret: Secret::new(revoked.access_key_secret.clone()),
        timezone: revoked.timezone,
        backups: Vec::new(),
        instances: Vec::new(),
        discovery: Some(InstanceFilter::default()),
    };
    let config = Config {
        poll: PollConfig {
            interval: DEMO_INTERVAL,
            start_jitter: Duration::ZERO,
            stale_after: DEMO_STALE_AFTER,
            ..PollConfig::default()
        },
        probe: ProbeConfig::default(),
        accounts: vec![main_account, revoked_account],
        staleness: Vec::new(),
        shard: crate::shard::Shard::default(),
        // Demo objects are small: show every outcome of the full check.
        verify: VerifyConfig {
            level: VerifyLevel::Full,
            max_size: 5 << 19,
            ..VerifyConfig::default()
        },
    };
    let events = events_after.map(|after| {
        let (main, second) = (Arc::clone(&main), Arc::clone(&second));
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            tracing::info!("demo event: a last good backup purged, an instance deleted, the demo-revoked account's credentials revoked");
            main.set_scenario(scenario.after_events());
            second.set_scenario(revoked.after_events());
        })
    });
    Ok((
        Demo {
            main,
            _revoked: second,
            events,
        },
        config,
    ))
}

async fn loopback() -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind("127.0.0.1:0").await
}
