//! Findings about single backups, their download URLs and their verification, and about
//! an instance the exporter cannot see: warnings that explain, decided here with their
//! thresholds so the rules, the status page and `check` only read them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{all_gone, hours, Finding, Reason, ShardVerdict};
use crate::cds::BackupStatus;
use crate::config::VerifyLevel;
use crate::state::{BackupKey, BackupState, ShardFacts, ShardKey, Snapshot, TargetKey};
use crate::verification::Outcome;

/// A backup running longer than this is stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(6 * 3600);
/// The restore point of a verified instance without a verdict this long after its
/// EndTime is unverified: time for a backlog of a cycle or two to drain.
pub const UNVERIFIED_AFTER: Duration = Duration::from_secs(6 * 3600);
/// A backup time further ahead of now than this is not drift but a wrong `timezone` (the
/// decoder believes times up to `cds::model::FUTURE_BOUND` ahead and leaves them here).
pub const FUTURE_AFTER: Duration = Duration::from_secs(10 * 60);
/// An empty dump is Empty (not a data set emptied on purpose) while the shard's newest
/// backup verified ok held keys and ended less than this many max ages ago.
const EMPTY_HISTORY_MAX_AGES: u32 = 2;

/// The findings of every exported backup (not finished, probed), added to its shard.
pub(super) fn backups(
    snap: &Snapshot,
    now: DateTime<Utc>,
    out: &mut BTreeMap<ShardKey, ShardVerdict>,
) {
    for b in snap.backups.values() {
        let found = of_backup(b, now);
        if found.is_empty() {
            continue;
        }
        findings_of(out, &b.instance_uuid, &b.shard_id).extend(found);
    }
}

/// One `times_in_future` finding per shard with an exported backup starting or ending
/// more than [`FUTURE_AFTER`] after now: about the account's configuration, so its
/// detail names the key to fix; the alert gathers them per account.
pub(super) fn times_in_future(
    snap: &Snapshot,
    now: DateTime<Utc>,
    out: &mut BTreeMap<ShardKey, ShardVerdict>,
) {
    let mut furthest: BTreeMap<(&str, &str), (DateTime<Utc>, &BackupState, &str)> = BTreeMap::new();
    for b in snap.backups.values() {
        let times = [(b.backup.end, "ends"), (b.backup.start, "starts")];
        for (t, what) in times.into_iter().filter_map(|(t, w)| Some((t?, w))) {
            let key = (b.instance_uuid.as_str(), b.shard_id.as_str());
            if furthest.get(&key).is_none_or(|(f, _, _)| t > *f) {
                furthest.insert(key, (t, b, what));
            }
        }
    }
    for ((uuid, shard), (t, b, what)) in furthest {
        let Ok(ahead) = (t - now).to_std() else {
            continue;
        };
        if ahead <= FUTURE_AFTER {
            continue;
        }
        let account = snap
            .instances
            .get(uuid)
            .map_or_else(|| "its account".to_owned(), |(a, _)| format!("account {a}"));
        let finding = Finding::new(
            Reason::TimesInFuture,
            format!(
                "backup {} {what} {} in the future: check accounts[].timezone of {account} (CDS gives times without a zone, usually in +08:00)",
                b.backup.id,
                hours(ahead)
            ),
        )
        .backup(&b.backup.id);
        findings_of(out, uuid, shard).push(finding);
    }
}

/// The findings of a shard's verdict; a shard the restore point left out (no finished
/// backup to judge) gets a verdict without a restore point or deadline.
fn findings_of<'a>(
    out: &'a mut BTreeMap<ShardKey, ShardVerdict>,
    uuid: &str,
    shard: &str,
) -> &'a mut Vec<Finding> {
    &mut out
        .entry(ShardKey::new(uuid, shard))
        .or_insert_with(|| ShardVerdict {
            restore_point: None,
            allowed_age: crate::policy::DEFAULT_MAX_AGE,
            deadline: None,
            findings: Vec::new(),
        })
        .findings
}

fn of_backup(b: &BackupState, now: DateTime<Utc>) -> Vec<Finding> {
    let id = b.backup.id.as_str();
    let mut out = Vec::new();
    match &b.backup.status {
        BackupStatus::Finished => {}
        BackupStatus::Failed => {
            out.push(Finding::new(Reason::Failed, format!("backup {id} failed")).backup(id))
        }
        BackupStatus::Running => {
            let running = b
                .backup
                .start
                .and_then(|s| (now - s).to_std().ok())
                .unwrap_or_default();
            if running > STUCK_AFTER {
                out.push(
                    Finding::new(
                        Reason::Stuck,
                        format!(
                            "backup {id} has been running for {} (stuck after {})",
                            hours(running),
                            hours(STUCK_AFTER)
                        ),
                    )
                    .backup(id),
                );
            }
        }
        BackupStatus::Unknown(other) => {
            let mut f = Finding::new(
                Reason::StatusUnknown,
                format!("backup {id} has an unknown status {other:?}"),
            )
            .backup(id);
            f.state = Some("other");
            out.push(f);
        }
    }
    if all_gone(b) {
        // One finding for the object, not one per URL type that says the same.
        out.push(
            Finding::new(
                Reason::ObjectGone,
                format!("backup {id} answers 404 on every URL: its object is gone"),
            )
            .backup(id),
        );
        return out;
    }
    for (t, p) in &b.probes {
        let url_type = t.as_str();
        let detail = if !p.reachable() {
            Some((
                Reason::DownloadUnreachable,
                match p.failure {
                    Some(f) => format!(
                        "the {url_type} download URL of backup {id} cannot be reached ({})",
                        f.as_str()
                    ),
                    None => format!(
                        "the {url_type} download URL of backup {id} answers HTTP {}",
                        p.status
                    ),
                },
            ))
        } else {
            match (p.total_size, b.backup.size) {
                (Some(total), Some(size)) if total != size => Some((
                    Reason::SizeMismatch,
                    format!(
                        "the {url_type} download of backup {id} is {total} bytes, CDS says {size}"
                    ),
                )),
                _ => None,
            }
        };
        if let Some((reason, detail)) = detail {
            let mut f = Finding::new(reason, detail).backup(id);
            f.url_type = Some(url_type);
            out.push(f);
        }
    }
    out
}

/// What the verification of the shard's newest finished backup `b` found, at any level.
pub(super) fn verification(
    snap: &Snapshot,
    key: &ShardKey,
    facts: Option<&ShardFacts>,
    b: &BackupState,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let id = b.backup.id.as_str();
    let vs = snap
        .verifications
        .get(&BackupKey::new(&key.instance_uuid, id))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut outcomes: Vec<Outcome> = vs.iter().map(|v| v.outcome).collect();
    outcomes.sort_by_key(|o| o.as_str());
    outcomes.dedup();
    // ": what the verifier said", or nothing when it said nothing.
    let detail_of = |o: Outcome| {
        vs.iter()
            .filter(|v| v.outcome == o && !v.detail.is_empty())
            .max_by_key(|v| v.level)
            .map_or_else(String::new, |v| format!(": {}", v.detail))
    };
    let mut out = Vec::new();
    let with_result = |reason, detail: String, o: Outcome| {
        let mut f = Finding::new(reason, detail).backup(id);
        f.result = Some(o.as_str());
        f
    };
    for &o in &outcomes {
        match o {
            Outcome::Truncated | Outcome::ChecksumMismatch | Outcome::Corrupt | Outcome::NotRdb => {
                out.push(with_result(
                    Reason::Corrupt,
                    format!(
                        "backup {id} is not a sound dump ({}){}",
                        o.as_str(),
                        detail_of(o)
                    ),
                    o,
                ));
            }
            Outcome::Empty => {
                let window = facts.map_or(crate::policy::DEFAULT_MAX_AGE, |f| f.max_age)
                    * EMPTY_HISTORY_MAX_AGES;
                let earlier = snap.verified.get(key).filter(|l| {
                    l.backup_id != id
                        && l.keys.is_some_and(|k| k > 0)
                        && i64::try_from(window.as_secs())
                            .is_ok_and(|w| now.timestamp() - l.end < w)
                });
                out.push(match earlier {
                    Some(l) => with_result(
                        Reason::Empty,
                        format!(
                            "backup {id} holds no keys while {} held {}",
                            l.backup_id,
                            l.keys.unwrap_or(0)
                        ),
                        o,
                    ),
                    None => Finding::new(
                        Reason::EmptyNoHistory,
                        format!(
                            "backup {id} holds no keys (no recent earlier backup of the shard is known to have held any)"
                        ),
                    )
                    .backup(id),
                });
            }
            Outcome::NeedsDatabases => out.push(with_result(
                Reason::NeedsDatabases,
                format!(
                    "backup {id} holds keys in a database past the 16 of a default redis-server{}",
                    detail_of(o)
                ),
                o,
            )),
            _ => {}
        }
    }
    let finals: Vec<Outcome> = outcomes.iter().copied().filter(|o| o.is_final()).collect();
    let inconclusive = |o: &Outcome| matches!(o, Outcome::UnsupportedVersion | Outcome::TooLarge);
    if !finals.is_empty() && finals.iter().all(inconclusive) {
        for &o in &finals {
            out.push(with_result(
                Reason::VerifyInconclusive,
                format!("backup {id} not verified ({}){}", o.as_str(), detail_of(o)),
                o,
            ));
        }
    }
    let verified = snap
        .verify_levels
        .get(&key.instance_uuid)
        .is_some_and(|l| *l != VerifyLevel::Off);
    let since_end = b
        .backup
        .end
        .and_then(|e| (now - e).to_std().ok())
        .unwrap_or_default();
    if verified && finals.is_empty() && since_end > UNVERIFIED_AFTER {
        let last = vs.iter().max_by_key(|v| v.at).map_or_else(
            || "it has not been tried".to_owned(),
            |v| format!("its last attempt was {}: {}", v.outcome.as_str(), v.detail),
        );
        out.push(
            Finding::new(
                Reason::Unverified,
                format!(
                    "backup {id} has no verdict {} after it ended; {last}",
                    hours(since_end)
                ),
            )
            .backup(id),
        );
    }
    out
}

/// What the exporter cannot see of an instance of `account`.
pub fn instance_findings(snap: &Snapshot, uuid: &str, account: &str) -> Vec<Finding> {
    if snap.account_up.get(account) == Some(&false) {
        vec![Finding::new(
            Reason::AccountBlind,
            format!("the exporter cannot see account {account} (credentials refused or API down): what is shown is as of its last answer"),
        )]
    } else if snap.up_of(&TargetKey::instance(uuid)) == Some(false) {
        vec![Finding::new(
            Reason::InstanceBlind,
            "DescribeBackups fails for this instance: what is shown is as of its last answer",
        )]
    } else {
        Vec::new()
    }
}

/// An instance a successful discovery stopped listing.
pub fn vanished_finding(snap: &Snapshot, uuid: &str, now: DateTime<Utc>) -> Option<Finding> {
    let gone = snap.vanished.get(uuid)?;
    Some(Finding::new(
        Reason::Vanished,
        format!(
            "no longer listed by DescribeDBInstances ({} ago); deleted on purpose?",
            hours((now - gone.since).to_std().unwrap_or_default())
        ),
    ))
}
