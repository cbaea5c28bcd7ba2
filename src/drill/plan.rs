//! After each poll cycle: which drilled instances are due, which backup each drill
//! restores, and what the snapshot carries of the drills for the policy engine and
//! `/metrics` ([`Drills`]). Pure but for the offer to the [`Driller`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::task::{due, DrillJob, Driller};
use super::{Book, Drill, Drills};
use crate::config::{DrillConfig, DrillPick};
use crate::state::{BackupKey, BackupState, ShardKey, Snapshot};

/// The drilled instances with the data checks `drill.rules` gives them. Instances
/// known only by UUID (no discovery) are matched with their UUID alone.
fn selected<'a>(
    config: &'a DrillConfig,
    snap: &Snapshot,
) -> BTreeMap<String, &'a crate::config::DataChecks> {
    let mut out = BTreeMap::new();
    let uuids = snap
        .shards
        .keys()
        .map(|k| &k.instance_uuid)
        .chain(snap.instance_backups.keys());
    for uuid in uuids {
        let bare;
        let (account, instance) = match snap.instances.get(uuid) {
            Some((a, i)) => (a.as_str(), i.as_ref()),
            None => {
                bare = crate::cds::Instance {
                    uuid: uuid.clone(),
                    ..crate::cds::Instance::default()
                };
                ("", &bare)
            }
        };
        if let Some(checks) = config.checks_for(account, instance) {
            out.insert(uuid.clone(), checks);
        }
    }
    out
}

/// Whether the poller picks a backup of `instance` for a drill this cycle
/// ([`Snapshot::drill_picks`]): `drill.backup: random`, the instance drilled, and its
/// drill due with none of it running.
pub fn picks(
    driller: &Driller,
    config: &DrillConfig,
    account: &str,
    instance: &crate::cds::Instance,
    now: DateTime<Utc>,
) -> bool {
    config.backup == DrillPick::Random
        && config.checks_for(account, instance).is_some()
        && driller.is_due(&instance.uuid, config.every, now.timestamp())
}

/// The drill of `uuid`'s backup `backup_id` (state `b`), if the cycle has its URLs.
fn job(
    uuid: &str,
    b: &BackupState,
    backup_id: &str,
    checks: &crate::config::DataChecks,
    snap: &Snapshot,
) -> Option<DrillJob> {
    let urls = b.urls.clone().filter(|u| !u.is_empty())?;
    Some(DrillJob {
        instance_uuid: uuid.to_owned(),
        shard_id: b.shard_id.clone(),
        backup_id: backup_id.to_owned(),
        drill: Drill {
            urls,
            size: b.backup.size,
            instance_ram: snap.instances.get(uuid).and_then(|(_, i)| i.ram_bytes),
            checks: checks.clone(),
        },
    })
}

/// The jobs due now: per due instance, one backup — `latest`: the restore point of the
/// shard whose restore point was drilled least recently; `random`: the backup the
/// poller picked ([`picks`]), or when its URLs could not be fetched, one of the
/// backups with URLs this cycle.
pub fn due_jobs(
    config: &DrillConfig,
    snap: &Snapshot,
    book: &Book,
    now: DateTime<Utc>,
) -> Vec<DrillJob> {
    let verdicts = crate::verdict::judge(snap, now);
    let mut jobs = Vec::new();
    for (uuid, checks) in selected(config, snap) {
        if !due(
            &uuid,
            config.every,
            book.last_run.get(&uuid).copied(),
            now.timestamp(),
        ) {
            continue;
        }
        if config.backup == DrillPick::Random {
            let picked = snap.drill_picks.get(&uuid);
            if let Some(j) = picked.and_then(|b| job(&uuid, b, &b.backup.id, checks, snap)) {
                jobs.push(j);
                continue;
            }
        }
        let mut options: Vec<(i64, DrillJob)> = Vec::new();
        for (key, v) in verdicts.range(ShardKey::new(uuid.clone(), String::new())..) {
            let shard = &key.shard_id;
            if key.instance_uuid != uuid {
                break;
            }
            let with_urls: Vec<DrillJob> = snap
                .backups
                .iter()
                .filter(|(k, b)| {
                    k.instance_uuid == uuid && b.shard_id == *shard && b.backup.is_finished()
                })
                .filter(|(k, _)| {
                    config.backup == DrillPick::Random
                        || v.restore_point
                            .as_ref()
                            .is_some_and(|r| r.backup_id == k.backup_id)
                })
                .filter_map(|(k, b)| job(&uuid, b, &k.backup_id, checks, snap))
                .collect();
            let pick = match with_urls.len() {
                0 => continue,
                n => fastrand::usize(..n),
            };
            let Some(j) = with_urls.into_iter().nth(pick) else {
                continue;
            };
            let last = book
                .of(&uuid, &j.backup_id)
                .map_or(i64::MIN, |r| r.result.at);
            options.push((last, j));
        }
        if let Some((_, job)) = options.into_iter().min_by_key(|(at, _)| *at) {
            jobs.push(job);
        }
    }
    jobs
}

/// Offers the due drills and puts what drills know into `snap`; returns the book to keep.
/// `listed` tells the backups CDS still lists that are not exported (a random
/// drill's), so their results are kept.
pub fn after_cycle(
    driller: &Driller,
    config: &DrillConfig,
    snap: &mut Snapshot,
    now: DateTime<Utc>,
    listed: impl Fn(&str, &str) -> bool,
) -> Book {
    driller.retain(
        |u| {
            snap.shards.keys().any(|k| k.instance_uuid == *u)
                || snap.instance_backups.contains_key(u)
        },
        |u, id| snap.backups.contains_key(&BackupKey::new(u, id)) || listed(u, id),
    );
    let book = driller.book();
    driller.offer(due_jobs(config, snap, &book, now));
    snap.drills = Drills {
        drilled: selected(config, snap)
            .into_keys()
            .map(|u| (u, config.warn_after))
            .collect(),
        book: book.clone(),
    };
    book
}
