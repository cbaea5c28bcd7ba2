//! After each poll cycle: which drilled instances are due, which backup each drill
//! restores, and what the snapshot carries of the drills for the policy engine and
//! `/metrics` ([`Drills`]). Pure but for the offer to the [`Driller`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::task::{due, DrillJob, Driller};
use super::{Book, Drill, Drills};
use crate::config::{DrillConfig, DrillPick};
use crate::state::{BackupKey, ShardKey, Snapshot};

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

/// The jobs due now: per due instance, one shard's backup — the restore point
/// (`latest`), or any backup of the shard with download URLs this cycle (`random`) —
/// the shard whose chosen backup was drilled least recently first.
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
        let mut options: Vec<(i64, DrillJob)> = Vec::new();
        for (key, v) in verdicts.range(ShardKey::new(uuid.clone(), String::new())..) {
            let shard = &key.shard_id;
            if key.instance_uuid != uuid {
                break;
            }
            let with_urls: Vec<_> = snap
                .backups
                .iter()
                .filter(|(k, b)| {
                    k.instance_uuid == uuid && b.shard_id == *shard && b.backup.is_finished()
                })
                .filter_map(|(k, b)| Some((k, b, b.urls.clone().filter(|u| !u.is_empty())?)))
                .collect();
            let pick = match config.backup {
                DrillPick::Latest => v.restore_point.as_ref().and_then(|r| {
                    with_urls
                        .iter()
                        .find(|(k, _, _)| k.backup_id == r.backup_id)
                }),
                DrillPick::Random if with_urls.is_empty() => None,
                DrillPick::Random => with_urls.get(fastrand::usize(..with_urls.len())),
            };
            let Some((k, b, urls)) = pick else { continue };
            let last = book
                .of(&uuid, &k.backup_id)
                .map_or(i64::MIN, |r| r.result.at);
            options.push((
                last,
                DrillJob {
                    instance_uuid: uuid.clone(),
                    shard_id: shard.clone(),
                    backup_id: k.backup_id.clone(),
                    drill: Drill {
                        urls: urls.clone(),
                        size: b.backup.size,
                        instance_ram: snap.instances.get(&uuid).and_then(|(_, i)| i.ram_bytes),
                        checks: checks.clone(),
                    },
                },
            ));
        }
        if let Some((_, job)) = options.into_iter().min_by_key(|(at, _)| *at) {
            jobs.push(job);
        }
    }
    jobs
}

/// Offers the due drills and puts what drills know into `snap`; returns the book to keep.
pub fn after_cycle(
    driller: &Driller,
    config: &DrillConfig,
    snap: &mut Snapshot,
    now: DateTime<Utc>,
) -> Book {
    driller.retain(
        |u| {
            snap.shards.keys().any(|k| k.instance_uuid == *u)
                || snap.instance_backups.contains_key(u)
        },
        |u, id| snap.backups.contains_key(&BackupKey::new(u, id)),
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
