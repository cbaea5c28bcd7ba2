//! `drill.backup: random`: for each drilled instance whose drill is due, one finished
//! backup picked at random from all `DescribeBackups` lists — CDS' retention is the
//! window, as a restore-testing selection window would be — with its URLs from one
//! `DownloadBackup` call unless the cycle has them already. The pick travels in
//! [`Snapshot::drill_picks`] to the drill's plan; it is not exported for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;

use super::calls::urls_of;
use super::{AccountPoller, Poller};
use crate::cds::{Backup, Instance};
use crate::state::{BackupKey, BackupState, Snapshot};

impl Poller {
    /// The instances of `instances` whose backup to drill this cycle picks
    /// ([`crate::drill::plan::picks`]); only the one `check --drill` asked for in a
    /// check's cycle ([`Poller::pick_for`]).
    pub(super) fn drills_to_pick(
        &self,
        instances: &BTreeMap<String, (String, Arc<Instance>)>,
    ) -> HashSet<String> {
        if let Some(uuid) = &self.pick_only {
            return instances
                .contains_key(uuid)
                .then(|| uuid.clone())
                .into_iter()
                .collect();
        }
        let Some((driller, config)) = &self.driller else {
            return HashSet::new();
        };
        let now = Utc::now();
        instances
            .iter()
            .filter(|(_, (account, i))| crate::drill::plan::picks(driller, config, account, i, now))
            .map(|(uuid, _)| uuid.clone())
            .collect()
    }

    /// Picks one of the finished backups of `sorted` whose shard is known, and puts it
    /// with its URLs into `snap.drill_picks`. A failed `DownloadBackup` picks nothing
    /// (the call's failure is counted and logged as any other): the plan falls back to
    /// a backup with URLs this cycle.
    pub(super) async fn pick_for_drill(
        &self,
        a: &AccountPoller,
        uuid: &str,
        sorted: &[Backup],
        shard_of: &HashMap<String, String>,
        snap: &mut Snapshot,
    ) {
        let candidates: Vec<&Backup> = sorted
            .iter()
            .filter(|b| b.is_finished() && shard_of.contains_key(&b.id))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let id = &candidates[fastrand::usize(..candidates.len())].id;
        let exported = snap
            .backups
            .get(&BackupKey::new(uuid, id))
            .filter(|s| s.urls.as_ref().is_some_and(|u| !u.is_empty()));
        let picked = match exported {
            Some(s) => Arc::clone(s),
            None => match self.download(a, uuid, id).await {
                Ok(d) => Arc::new(BackupState {
                    instance_uuid: uuid.to_owned(),
                    urls: Some(urls_of(&d)),
                    shard_id: d.shard_id,
                    backup: d.backup,
                    probes: Vec::new(),
                }),
                Err(_) => return,
            },
        };
        snap.drill_picks.insert(uuid.to_owned(), picked);
    }
}
