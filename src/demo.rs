//! `--demo`: the fake CDS API on loopback with its demo scenario, and a configuration
//! that watches it through all three target kinds, so a newcomer sees real metrics
//! without a CDS account.

use std::time::Duration;

use crate::cds::{InstanceFilter, Secret};
use crate::config::{Account, BackupTarget, Config, PollConfig, ProbeConfig};
use crate::fake::{FakeCds, Scenario};

/// How often the demo polls: often enough to watch things happen.
pub(crate) const DEMO_INTERVAL: Duration = Duration::from_secs(15);

/// Starts the fake on an ephemeral loopback port and returns it with a config for it.
pub async fn start() -> anyhow::Result<(FakeCds, Config)> {
    start_at(chrono::Utc::now()).await
}

/// [`start`] with the scenario's times relative to `now`: the golden `/metrics` test
/// renders it at a fixed clock.
pub async fn start_at(now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<(FakeCds, Config)> {
    let scenario = Scenario::demo(now);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
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
    let fake = FakeCds::start(listener, scenario.clone()).await?;
    let endpoint = reqwest::Url::parse(&fake.base_url())?;
    let mut instances: Vec<String> = scenario.instances.iter().map(|i| i.uuid.clone()).collect();
    instances.truncate(1);
    let config = Config {
        poll: PollConfig {
            interval: DEMO_INTERVAL,
            start_jitter: Duration::ZERO,
            ..PollConfig::default()
        },
        probe: ProbeConfig::default(),
        accounts: vec![Account {
            name: "demo".to_owned(),
            endpoint,
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
        }],
    };
    Ok((fake, config))
}
