//! Who the instances named under `instances:` are: their name, tags, product, version
//! and creation time, from `DescribeDBInstances` filtered by `InstanceUuid`, one call
//! per instance on a slow refresh.
//!
//! Per instance rather than one unfiltered call per account: an unfiltered answer is
//! the whole account, 0.5 to 1 KiB per instance (509 bytes in the fake's answer; the
//! default `poll.max_response_size` of 8 MiB is sized for some 8,000), so 3 listed
//! instances among 50,000 would cost 24 to 50 MiB a cycle to keep 3 entries, and fail
//! at the default cap; a filtered answer is one entry. Names and tags change seldom, so each instance is asked about once per
//! [`DESCRIBE_REFRESH`] (every cycle when `poll.interval` is longer), the instances
//! spread evenly over the cycles of that period; one never answered for is asked every
//! cycle until CDS answers. Instances that discovery lists are described by discovery's
//! call, never twice. A failed call, or an answer without the instance, keeps what was
//! last known: losing sight of an instance must not look like a rename or a tag change.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tracing::warn;

use super::{AccountPoller, Poller};
use crate::cds::{Action, CdsError, Instance};

/// How often a listed instance's description is refreshed.
pub(crate) const DESCRIBE_REFRESH: Duration = Duration::from_secs(3600);

/// instance_uuid → its last description (`None`: CDS answered, but has never listed it).
/// An entry means "asked and answered at least once".
pub(super) type Described = HashMap<String, Option<Instance>>;

/// Over how many cycles each listed instance is described once.
fn refresh_cycles(interval: Duration) -> u64 {
    let every = interval.as_secs().max(1);
    DESCRIBE_REFRESH.as_secs().div_ceil(every).max(1)
}

/// Whether the instance at `index` of the account's sorted listed instances is due in
/// cycle `cycle`: its turn in the spread, or it was never answered for.
fn due(index: usize, cycle: u64, every: u64, answered: bool) -> bool {
    !answered || (index as u64).wrapping_add(cycle).is_multiple_of(every)
}

impl Poller {
    /// The descriptions of `listed` (the account's `instances:` this replica owns)
    /// that `discovered` (what discovery gave this cycle) does not hold, refreshing
    /// those due in cycle `cycle`. An instance CDS never described is left out: the
    /// caller serves it by its UUID alone.
    pub(super) async fn describe_listed(
        &self,
        a: &AccountPoller,
        listed: &BTreeSet<String>,
        discovered: &[Arc<Instance>],
        cycle: u64,
    ) -> Vec<Instance> {
        let name = a.account.name.as_str();
        let by_discovery: HashMap<&str, &Instance> = discovered
            .iter()
            .map(|i| (i.uuid.as_str(), i.as_ref()))
            .collect();
        let every = refresh_cycles(self.interval);
        let asked: Vec<&str> = {
            let mut mem = self.memory();
            let known = mem.described.entry(name.to_owned()).or_default();
            // Only what is still listed: the memory stays as large as the configuration.
            known.retain(|uuid, _| listed.contains(uuid));
            for (uuid, i) in &by_discovery {
                if listed.contains(*uuid) {
                    known.insert((*uuid).to_owned(), Some((*i).clone()));
                }
            }
            listed
                .iter()
                .enumerate()
                .filter(|(_, uuid)| !by_discovery.contains_key(uuid.as_str()))
                .filter(|(n, uuid)| due(*n, cycle, every, known.contains_key(*uuid)))
                .map(|(_, uuid)| uuid.as_str())
                .collect()
        };
        // As many in flight as targets are (the API permits bound the calls anyway).
        let mut asked = asked.into_iter();
        let mut running = FuturesUnordered::new();
        let mut answers = Vec::new();
        loop {
            while running.len() < self.fan_out.max(1) {
                match asked.next() {
                    Some(uuid) => running.push(self.describe_one(a, uuid)),
                    None => break,
                }
            }
            match running.next().await {
                Some(answer) => answers.push(answer),
                None => break,
            }
        }
        let mut mem = self.memory();
        let known = mem.described.entry(name.to_owned()).or_default();
        for (uuid, found) in answers {
            match found {
                Ok(Some(i)) => {
                    known.insert(uuid.to_owned(), Some(i));
                }
                Ok(None) => {
                    let last = known.entry(uuid.to_owned()).or_insert(None);
                    warn!(account = name, instance_uuid = uuid, kept = last.is_some(), "DescribeDBInstances does not list an instance named under instances:; its last description (if any) is kept");
                }
                // Counted and logged by `api`; the last description stays.
                Err(_) => {}
            }
        }
        listed
            .iter()
            .filter(|uuid| !by_discovery.contains_key(uuid.as_str()))
            .filter_map(|uuid| known.get(uuid).cloned().flatten())
            .collect()
    }

    async fn describe_one<'u>(
        &self,
        a: &AccountPoller,
        uuid: &'u str,
    ) -> (&'u str, Result<Option<Instance>, CdsError>) {
        let found = self
            .api(
                &a.account.name,
                Action::DescribeDbInstances,
                (uuid, ""),
                || a.client.describe_db_instance(uuid),
            )
            .await;
        (uuid, found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_spans_an_hour_of_cycles_and_at_least_one() {
        let cycles = |secs| refresh_cycles(Duration::from_secs(secs));
        assert_eq!(cycles(300), 12);
        assert_eq!(cycles(15), 240);
        assert_eq!(cycles(7), 515);
        assert_eq!(cycles(3600), 1);
        assert_eq!(cycles(86_400), 1);
        assert_eq!(refresh_cycles(Duration::ZERO), 3600);
        assert_eq!(refresh_cycles(Duration::from_millis(10)), 3600);
    }

    #[test]
    fn every_instance_is_due_once_per_period_spread_evenly() {
        let every = 12;
        let per_cycle: Vec<usize> = (0..every)
            .map(|cycle| (0..30).filter(|n| due(*n, cycle, every, true)).count())
            .collect();
        // 30 instances over 12 cycles: 3 or 2 a cycle, never a burst.
        assert_eq!(per_cycle, [3, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
        for n in 0..30 {
            let turns = (0..every * 3).filter(|c| due(n, *c, every, true)).count();
            assert_eq!(turns, 3, "instance {n}");
        }
        assert!(
            (0..every).all(|c| due(5, c, every, false)),
            "never answered"
        );
        assert!((0..5).all(|c| due(7, c, 1, true)), "every cycle");
    }
}
