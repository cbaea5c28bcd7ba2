//! The catalog: every metric family the exporter serves, declared once — name, help,
//! type, unit (from the name's suffix) and its label set, a type from [`super::labels`].
//!
//! The renderer ([`super::render`]) writes the per-cycle families through these
//! declarations, the live registry ([`super::Metrics`]) takes its families' names, help
//! and label names from them, `docs/metrics.md` is generated from them, and tests hold
//! the golden `/metrics`, the dashboards, the rules and the runbooks to them. A new
//! family is one `pub const` in [`cycle`] or [`live`] plus its line in [`SECTIONS`].

use std::marker::PhantomData;

use super::labels::Labels;

mod cycle;
pub mod doc;
mod live;

pub use cycle::*;
pub use live::*;

/// A family's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// What writes a family's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Written from each completed cycle's snapshot (`render`).
    Cycle,
    /// The client library's registry, read at every scrape.
    Live,
    /// The client library's process collector (Linux only); its help texts are the
    /// library's, repeated here.
    Process,
}

/// The unit a family's name ends in (Prometheus's naming convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    None,
    Seconds,
    /// Seconds since the Unix epoch.
    UnixTime,
    Bytes,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Seconds => "seconds",
            Unit::UnixTime => "Unix time (s)",
            Unit::Bytes => "bytes",
        }
    }
}

/// A family without its label type, for lists of families.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub source: Source,
    /// The label set's names, in exposition order.
    pub labels: fn() -> Vec<&'static str>,
    /// Those of them written on some series only.
    pub optional: fn() -> &'static [&'static str],
}

impl Meta {
    pub fn unit(&self) -> Unit {
        let n = self.name.trim_end_matches("_total");
        if n.ends_with("_timestamp_seconds") || n == "process_start_time_seconds" {
            Unit::UnixTime
        } else if n.ends_with("_seconds") {
            Unit::Seconds
        } else if n.ends_with("_bytes") {
            Unit::Bytes
        } else {
            Unit::None
        }
    }

    /// The names of the series a sample of this family can have (a histogram's three).
    pub fn series_names(&self) -> Vec<String> {
        match self.kind {
            Kind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name))
                .collect(),
            _ => vec![self.name.to_owned()],
        }
    }
}

/// A family whose samples carry the label set `L`. Covariant in `L`, so a declaration
/// at `'static` takes labels borrowed for any shorter time.
#[derive(Debug)]
pub struct Family<L> {
    pub meta: Meta,
    labels: PhantomData<L>,
}

impl<L: Labels> Family<L> {
    const fn new(kind: Kind, source: Source, name: &'static str, help: &'static str) -> Self {
        Family {
            meta: Meta {
                name,
                help,
                kind,
                source,
                labels: L::names,
                optional: L::optional,
            },
            labels: PhantomData,
        }
    }

    /// A gauge written from each cycle's snapshot.
    pub const fn cycle(name: &'static str, help: &'static str) -> Self {
        Self::new(Kind::Gauge, Source::Cycle, name, help)
    }

    /// A family of the live registry.
    pub const fn live(kind: Kind, name: &'static str, help: &'static str) -> Self {
        Self::new(kind, Source::Live, name, help)
    }

    /// A family of the process collector.
    pub const fn process(kind: Kind, name: &'static str, help: &'static str) -> Self {
        Self::new(kind, Source::Process, name, help)
    }

    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    pub fn help(&self) -> &'static str {
        self.meta.help
    }

    /// The client library's options for this family.
    pub fn opts(&self) -> prometheus::Opts {
        prometheus::Opts::new(self.meta.name, self.meta.help)
    }

    pub fn label_names(&self) -> Vec<&'static str> {
        L::names()
    }
}

/// A titled group of families, in the order `/metrics` serves them.
#[derive(Debug)]
pub struct Section {
    pub title: &'static str,
    /// What the group is about, a sentence for the docs.
    pub about: &'static str,
    pub families: &'static [&'static Meta],
}

/// Every family, grouped as `docs/metrics.md` shows them.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Backups",
        about: "What CDS says of each exported backup: the newest finished one per shard, any newer unfinished ones, named backups, and `poll.extra_backups` more.",
        families: &[
            &BACKUP_INFO.meta,
            &BACKUP_STATE.meta,
            &BACKUP_STATUS_INFO.meta,
            &BACKUP_SIZE_BYTES.meta,
            &BACKUP_START_TIMESTAMP_SECONDS.meta,
            &BACKUP_END_TIMESTAMP_SECONDS.meta,
            &BACKUP_DURATION_SECONDS.meta,
        ],
    },
    Section {
        title: "Download URL probes",
        about: "A ranged GET of each probed backup's download URLs (`probe:`).",
        families: &[
            &DOWNLOAD_URL_REACHABLE.meta,
            &DOWNLOAD_URL_STATUS_CODE.meta,
            &DOWNLOAD_URL_PROBE_DURATION_SECONDS.meta,
            &DOWNLOAD_SIZE_MATCHES.meta,
        ],
    },
    Section {
        title: "Shards, instances and accounts",
        about: "Per shard, instance and account: the newest finished backups, call outcomes, listings, discovery, cadence and the allowed age.",
        families: &[
            &LAST_SUCCESS_TIMESTAMP_SECONDS.meta,
            &LAST_SUCCESS_SIZE_BYTES.meta,
            &BACKUP_UP.meta,
            &INSTANCE_BACKUPS.meta,
            &INSTANCE_INFO.meta,
            &INSTANCE_CREATED_TIMESTAMP_SECONDS.meta,
            &INSTANCE_TAG_INFO.meta,
            &INSTANCE_VANISHED_TIMESTAMP_SECONDS.meta,
            &DISCOVERY_UP.meta,
            &OWNED_INSTANCES.meta,
            &ACCOUNT_UP.meta,
            &TARGET_LAST_REFRESH_TIMESTAMP_SECONDS.meta,
            &SHARD_FINISHED_BACKUPS.meta,
            &EXPECTED_INTERVAL_SECONDS.meta,
            &MAX_AGE_SECONDS.meta,
        ],
    },
    Section {
        title: "Verification",
        about: "The contents of backups, downloaded and read as Redis dumps (`verify:`).",
        families: &[
            &INSTANCE_VERIFY_LEVEL.meta,
            &VERIFY_RESULT.meta,
            &VERIFY_DOWNLOAD_STATUS_CODE.meta,
            &VERIFY_TIMESTAMP_SECONDS.meta,
            &VERIFY_DURATION_SECONDS.meta,
            &VERIFY_READ_BYTES.meta,
            &RDB_INFO.meta,
            &RDB_SNAPSHOT_TIMESTAMP_SECONDS.meta,
            &RDB_KEYS.meta,
            &RDB_KEYS_WITH_EXPIRY.meta,
            &LAST_VERIFIED_TIMESTAMP_SECONDS.meta,
            &LAST_VERIFIED_KEYS.meta,
        ],
    },
    Section {
        title: "Verdicts",
        about: "The policy engine's decision per shard: the restore point, the deadline, and the findings the alerts read.",
        families: &[
            &RESTORE_POINT_TIMESTAMP_SECONDS.meta,
            &RESTORE_DEADLINE_TIMESTAMP_SECONDS.meta,
            &RESTORE_ALLOWED_AGE_SECONDS.meta,
            &FINDING.meta,
        ],
    },
    Section {
        title: "Poll cycle",
        about: "The last completed poll cycle; absent until the first completes.",
        families: &[
            &POLL_DURATION_SECONDS.meta,
            &LAST_POLL_TIMESTAMP_SECONDS.meta,
            &LAST_POLL_SUCCESS.meta,
        ],
    },
    Section {
        title: "The exporter",
        about: "Read at every scrape: CDS API calls, configuration loads, sharding, verification's progress, the build.",
        families: &[
            &API_ERRORS_TOTAL.meta,
            &API_REQUEST_DURATION_SECONDS.meta,
            &API_REQUESTS_TOTAL.meta,
            &API_RETRIES_TOTAL.meta,
            &BUILD_INFO.meta,
            &CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS.meta,
            &CONFIG_LAST_RELOAD_SUCCESSFUL.meta,
            &SHARD_INFO.meta,
            &STATE_FILE_CONFIGURED.meta,
            &UNFINISHED_BACKUPS_SKIPPED_TOTAL.meta,
            &VERIFY_BUDGET_REMAINING_BYTES.meta,
            &VERIFY_BYTES_TOTAL.meta,
            &VERIFY_IN_FLIGHT.meta,
            &VERIFY_QUEUED.meta,
        ],
    },
    Section {
        title: "Process",
        about: "The client library's process collector (Linux only).",
        families: &[
            &PROCESS_CPU_SECONDS_TOTAL.meta,
            &PROCESS_OPEN_FDS.meta,
            &PROCESS_MAX_FDS.meta,
            &PROCESS_VIRTUAL_MEMORY_BYTES.meta,
            &PROCESS_RESIDENT_MEMORY_BYTES.meta,
            &PROCESS_START_TIME_SECONDS.meta,
            &PROCESS_THREADS.meta,
        ],
    },
];

/// Every declared family.
pub fn all() -> impl Iterator<Item = &'static Meta> {
    SECTIONS.iter().flat_map(|s| s.families.iter().copied())
}

/// The declared family of that name.
pub fn find(name: &str) -> Option<&'static Meta> {
    all().find(|m| m.name == name)
}

#[cfg(test)]
mod tests;
