//! `--demo`: the fake CDS API on loopback with its demo scenario, and a configuration
//! that watches it through all three target kinds, so a newcomer sees real metrics
//! without a CDS account.
//!
//! Three fake accounts: `demo` (every backup state and the alerting stories of
//! [`crate::fake`]'s demo scenario), `demo-revoked` and `demo-wrong-tz` (configured
//! with a `timezone` 8 hours off). After `events_after` the demo's event happens: a
//! last good backup is purged, an instance is deleted and the second account's
//! credentials are revoked — what a fleet goes through over days, shown in minutes. An
//! `events_after` of zero starts after the event (a replica restarted later, in the
//! end-to-end test).

use std::sync::Arc;
use std::time::Duration;

use crate::cds::{InstanceFilter, Secret};
use crate::config::{
    Account, BackupTarget, Config, DataChecks, DrillConfig, DrillRule, Matchers, PollConfig,
    ProbeConfig, VerifyConfig, VerifyLevel,
};
use crate::fake::{FakeCds, Scenario};

/// How often the demo polls: often enough to watch things happen.
pub(crate) const DEMO_INTERVAL: Duration = Duration::from_secs(15);
/// How long values of a target whose calls fail stay whole: four cycles, so a revoked
/// account shows facts outliving observations within minutes.
const DEMO_STALE_AFTER: Duration = Duration::from_secs(60);
/// The `timezone` configured for `demo-wrong-tz`: UTC, while CDS renders its times in
/// +08:00, so they are read 8 hours late and its backups seem to end in the future.
const WRONG_TZ_OFFSET_SECS: i32 = 0;

/// The demo's fake accounts; they stop serving when this is dropped.
#[derive(Debug)]
pub struct Demo {
    main: Arc<FakeCds>,
    _revoked: Arc<FakeCds>,
    _wrong_tz: FakeCds,
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
    let mut wrong_tz = Scenario::demo_wrong_tz(now);
    scenario.latency = latency;
    revoked.latency = latency;
    wrong_tz.latency = latency;
    // Already past the event: the fakes start with it (not raced by the first call);
    // the configuration keeps the keys of before it.
    let past = events_after.is_some_and(|after| after.is_zero());
    let events_after = events_after.filter(|_| !past);
    let serve = |s: &Scenario| if past { s.after_events() } else { s.clone() };
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
    let main = Arc::new(FakeCds::start(loopback().await?, serve(&scenario)).await?);
    let second = Arc::new(FakeCds::start(loopback().await?, serve(&revoked)).await?);
    let third = FakeCds::start(loopback().await?, wrong_tz.clone()).await?;
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
    let wrong_tz_account = Account {
        name: "demo-wrong-tz".to_owned(),
        endpoint: reqwest::Url::parse(&third.base_url())?,
        access_key_id: wrong_tz.access_key_id.clone(),
        access_key_secret: Secret::new(wrong_tz.access_key_secret.clone()),
        timezone: chrono::FixedOffset::east_opt(WRONG_TZ_OFFSET_SECS)
            .ok_or_else(|| anyhow::anyhow!("the demo's wrong timezone is out of range"))?,
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
        accounts: vec![main_account, revoked_account, wrong_tz_account],
        staleness: Vec::new(),
        drill: Default::default(),
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
            _wrong_tz: third,
            events,
        },
        config,
    ))
}

/// The daemon's demo drills `demo-healthy` (at once, then every 7 days) when a
/// `redis-server` is on `PATH`: a drill needs a real one, so without it the demo runs
/// without drills and the caller says so. Only the daemon's demo drills: `check --demo`
/// and the tests' demo do not. Returns the server it will use.
pub fn drill_healthy(config: &mut Config) -> Option<std::path::PathBuf> {
    let server = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("redis-server"))
        .find(|f| f.is_file())?;
    config.drill = DrillConfig {
        enabled: true,
        rules: vec![DrillRule {
            matchers: Matchers {
                instance_name: glob::Pattern::new("demo-healthy").ok(),
                ..Matchers::default()
            },
            checks: DataChecks::default(),
        }],
        redis_server: server.clone(),
        // Each drill works in a private subdirectory of it, removed when it ends.
        scratch_dir: std::env::temp_dir().join("cds-redis-backup-demo-drills"),
        ..DrillConfig::default()
    };
    Some(server)
}

async fn loopback() -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind("127.0.0.1:0").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cds::Client;

    async fn names(config: &Config, account: usize) -> Vec<String> {
        let a = &config.accounts[account];
        let client = Client::new(
            reqwest::Client::new(),
            &a.endpoint,
            a.access_key_id.clone(),
            a.access_key_secret.clone(),
            a.timezone,
            Duration::from_secs(10),
        );
        let list = client
            .describe_db_instances(&InstanceFilter::default(), &|_| true)
            .await;
        list.map(|l| l.into_iter().map(|i| i.name).collect())
            .unwrap_or_default()
    }

    /// Three accounts, the third with its `timezone` 8 hours behind CDS's; an event
    /// after zero seconds has happened before the first call.
    #[tokio::test]
    async fn three_accounts_and_an_event_already_past() {
        let now = chrono::Utc::now();
        let (_demo, config) = start_at(now, Some(Duration::from_secs(3600)), Duration::ZERO)
            .await
            .unwrap();
        let accounts: Vec<_> = config.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(accounts, ["demo", "demo-revoked", "demo-wrong-tz"]);
        assert_eq!(config.accounts[2].timezone.local_minus_utc(), 0);
        assert_eq!(names(&config, 0).await.len(), 25);
        assert_eq!(names(&config, 1).await.len(), 2);
        assert_eq!(names(&config, 2).await, ["demo-wrong-tz-6hourly"]);

        let (_demo, config) = start_at(now, Some(Duration::ZERO), Duration::ZERO)
            .await
            .unwrap();
        let after = names(&config, 0).await;
        assert_eq!(after.len(), 24);
        assert!(!after.iter().any(|n| n == "demo-decommissioned"));
        // The revoked account's key no longer exists: its calls fail.
        assert!(names(&config, 1).await.is_empty());
    }
}
