//! The calls a cycle makes: every CDS call through [`Poller::api`] (a concurrency
//! permit, the optional rate limit, retries of transient failures, one count and one
//! timing per attempt), and the probes of download URLs.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::{AccountPoller, Poller};
use crate::cds::retry::GiveUp;
use crate::cds::{Action, BackupDetail, CdsError, SecretUrl, UrlType, SUCCESS};
use crate::probe::{self, ProbeResult};
use crate::state::BackupState;

impl Poller {
    /// One CDS call about `target` (instance_uuid, backup_id; either may be ""),
    /// retried while transient: each attempt holds a permit and a rate-limit slot, is
    /// timed and counted; the waits between attempts hold neither.
    pub(super) async fn api<T, F, Fut>(
        &self,
        account: &str,
        action: Action,
        target: (&str, &str),
        call: F,
    ) -> Result<T, CdsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, CdsError>>,
    {
        let mut attempt = 0;
        loop {
            let result = {
                let _permit = self.limiter.acquire().await;
                if let Some(rate) = &self.rate {
                    rate.until_ready().await;
                }
                let start = Instant::now();
                let result = call().await;
                let code = match &result {
                    Ok(_) => SUCCESS,
                    Err(e) => e.code(),
                };
                self.metrics
                    .observe_api(account, action, code, start.elapsed());
                result
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.metrics.observe_error(account, action, error.kind());
            match self.retry.delay(&error, attempt, fastrand::f64()) {
                Ok(wait) => {
                    self.metrics.observe_retry(account, action);
                    debug!(account, instance_uuid = target.0, backup_id = target.1, error = %error, retry_in_ms = wait.as_millis() as u64, "CDS call failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(why) => {
                    let gave_up = match why {
                        GiveUp::Permanent => "not retried: it would fail again",
                        GiveUp::Exhausted => "retries exhausted",
                        GiveUp::RetryAfterTooLong(_) => {
                            "Retry-After is longer than poll.retry_max_backoff"
                        }
                    };
                    warn!(account, instance_uuid = target.0, backup_id = target.1, error = %error, attempts = attempt + 1, gave_up, "CDS call failed");
                    self.memory()
                        .first_error
                        .entry(account.to_owned())
                        .or_insert_with(|| error.to_string());
                    return Err(error);
                }
            }
        }
    }

    pub(super) async fn download(
        &self,
        a: &AccountPoller,
        uuid: &str,
        backup_id: &str,
    ) -> Result<BackupDetail, CdsError> {
        let d = self
            .api(
                &a.account.name,
                Action::DownloadBackup,
                (uuid, backup_id),
                || a.client.download_backup(uuid, backup_id),
            )
            .await?;
        if d.backup.id != backup_id {
            debug!(instance_uuid = uuid, backup_id, answered = %d.backup.id, "DownloadBackup answered another BackupId");
        }
        self.memory()
            .shards
            .entry(uuid.to_owned())
            .or_default()
            .insert(backup_id.to_owned(), d.shard_id.clone());
        Ok(d)
    }

    /// Builds a backup's state from its details, probing its URLs when asked to.
    pub(super) async fn backup_state(
        &self,
        uuid: &str,
        d: BackupDetail,
        probe: bool,
    ) -> BackupState {
        let mut probes = Vec::new();
        if probe && self.probe.enabled {
            for url_type in &self.probe.url_types {
                let result = match d.url(*url_type) {
                    Some(url) => {
                        let _permit = self.probe_limiter.acquire().await;
                        probe::probe(&self.probe_http, url, self.probe.timeout).await
                    }
                    None => ProbeResult::no_url(),
                };
                if !result.reachable() {
                    warn!(instance_uuid = uuid, backup_id = %d.backup.id, url_type = url_type.as_str(), status = result.status, failure = result.failure.map_or("http_status", probe::ProbeFailure::as_str), "download URL probe failed");
                }
                probes.push((*url_type, result));
            }
        }
        let urls = probe.then(|| urls_of(&d));
        BackupState {
            instance_uuid: uuid.to_owned(),
            shard_id: d.shard_id,
            backup: d.backup,
            probes,
            urls,
        }
    }
}

/// Every download URL CDS gave of a backup.
pub(super) fn urls_of(d: &BackupDetail) -> Vec<(UrlType, SecretUrl)> {
    UrlType::ALL
        .into_iter()
        .filter_map(|t| d.url(t).map(|u| (t, u.clone())))
        .collect()
}

/// A limiter that lets one call through every `1 / per_second` seconds, no burst;
/// `None` for a rate too small or too large to express.
pub(super) fn rate_limiter(per_second: f64) -> Option<governor::DefaultDirectRateLimiter> {
    let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
    governor::Quota::with_period(period).map(governor::RateLimiter::direct)
}
