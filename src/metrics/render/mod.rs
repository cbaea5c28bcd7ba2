//! The per-cycle series, written straight from a [`Snapshot`] in the Prometheus text
//! format (version 0.0.4).
//!
//! They are the bulk of the output (about 19 series per exported backup) and are rebuilt
//! whole every cycle. Writing them directly, instead of through client-library gauges
//! that keep every label set and are then copied again to be encoded, leaves one copy in
//! memory, the text itself, for one pass of CPU per cycle. The README's metrics table is
//! the contract for the names, labels and help texts here.

mod verdict;
mod verify;

use std::fmt::Write as _;

use crate::cds::{BackupStatus, Instance};
use crate::probe::ProbeResult;
use crate::state::{BackupState, ShardKey, Snapshot};

/// The `state` label of `cds_redis_backup_state`: the raw CDS statuses `finished`,
/// `running` and `failed` map to themselves, anything else to `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateLabel {
    Finished,
    Running,
    Failed,
    Other,
}

impl StateLabel {
    pub const ALL: [StateLabel; 4] = [
        StateLabel::Finished,
        StateLabel::Running,
        StateLabel::Failed,
        StateLabel::Other,
    ];

    pub fn of(status: &BackupStatus) -> Self {
        match status {
            BackupStatus::Finished => StateLabel::Finished,
            BackupStatus::Running => StateLabel::Running,
            BackupStatus::Failed => StateLabel::Failed,
            BackupStatus::Unknown(_) => StateLabel::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StateLabel::Finished => "finished",
            StateLabel::Running => "running",
            StateLabel::Failed => "failed",
            StateLabel::Other => "other",
        }
    }
}

/// Writes families one after another; a family without samples prints nothing. Text
/// goes to `sink` in chunks of about [`CHUNK`] bytes, so the whole exposition never has
/// to be held at once.
struct Writer<'a> {
    out: String,
    sink: &'a mut dyn FnMut(&[u8]),
    name: &'static str,
    help: &'static str,
    header_written: bool,
}

/// Bytes of text gathered before they are handed to the sink.
const CHUNK: usize = 64 * 1024;

impl Writer<'_> {
    fn flush(&mut self) {
        if !self.out.is_empty() {
            (self.sink)(self.out.as_bytes());
            self.out.clear();
        }
    }

    fn family(&mut self, name: &'static str, help: &'static str) {
        self.name = name;
        self.help = help;
        self.header_written = false;
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) {
        if !self.header_written {
            self.header_written = true;
            let _ = writeln!(self.out, "# HELP {} {}", self.name, self.help);
            let _ = writeln!(self.out, "# TYPE {} gauge", self.name);
        }
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        // Writing to a String cannot fail.
        let _ = match value.into() {
            Value::Int(n) => writeln!(self.out, " {n}"),
            Value::Float(f) => writeln!(self.out, " {f}"),
        };
        if self.out.len() >= CHUNK {
            self.flush();
        }
    }

    /// One sample per backup, labelled with the per-backup labels plus `extra`.
    fn per_backup<V: Into<Value>>(
        &mut self,
        snap: &Snapshot,
        mut sample: impl FnMut(&BackupState) -> Vec<(&'static str, String, V)>,
    ) {
        for b in snap.backups.values() {
            let base = [
                ("instance_uuid", b.instance_uuid.as_str()),
                ("backup_id", b.backup.id.as_str()),
                ("shard_id", b.shard_id.as_str()),
            ];
            for (extra_name, extra_value, value) in sample(b) {
                let mut labels = base.to_vec();
                if !extra_name.is_empty() {
                    labels.push((extra_name, extra_value.as_str()));
                }
                self.sample(&labels, value);
            }
        }
    }
}

enum Value {
    Int(i64),
    Float(f64),
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        i64::try_from(n).map_or(Value::Float(n as f64), Value::Int)
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Self {
        Value::Int(i64::from(n))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(i64::from(b))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// Label values escape `\`, `"` and line feeds.
fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Each probe of a backup with its `url_type` label value.
fn probes(b: &BackupState) -> Vec<(String, &ProbeResult)> {
    b.probes
        .iter()
        .map(|(t, p)| (t.as_str().to_owned(), p))
        .collect()
}

/// No extra label: the sample carries only the per-backup labels.
fn plain<V>(value: Option<V>) -> Vec<(&'static str, String, V)> {
    value.map(|v| ("", String::new(), v)).into_iter().collect()
}

/// Renders every per-cycle family of `snap` into one string.
pub fn render(snap: &Snapshot) -> String {
    let mut out = Vec::new();
    render_to(snap, &mut |chunk| out.extend_from_slice(chunk));
    String::from_utf8(out).unwrap_or_default()
}

/// Renders every per-cycle family of `snap`, handing the text to `sink` in chunks.
pub fn render_to(snap: &Snapshot, sink: &mut dyn FnMut(&[u8])) {
    let mut w = Writer {
        out: String::with_capacity(CHUNK + 4096),
        sink,
        name: "",
        help: "",
        header_written: false,
    };
    backups(&mut w, snap);
    probe_results(&mut w, snap);
    targets(&mut w, snap);
    verify::verification(&mut w, snap);
    verdict::verdicts(&mut w, snap);
    cycle(&mut w, snap);
    w.flush();
}

/// What CDS says of each exported backup. Its type and mode are labels of one info
/// series, not of every numeric series: they never change, and joining them in costs
/// less than carrying them on all.
fn backups(w: &mut Writer<'_>, snap: &Snapshot) {
    w.family(
        "cds_redis_backup_info",
        "The backup's BackupType and BackupMode; always 1.",
    );
    for b in snap.backups.values() {
        let labels = [
            ("instance_uuid", b.instance_uuid.as_str()),
            ("backup_id", b.backup.id.as_str()),
            ("shard_id", b.shard_id.as_str()),
            ("backup_type", b.backup.backup_type.as_str()),
            ("backup_mode", b.backup.mode.as_str()),
        ];
        w.sample(&labels, 1i64);
    }
    let finished_end = |b: &BackupState| b.backup.end.filter(|_| b.backup.is_finished());

    w.family("cds_redis_backup_state", "Backup state set: 1 for the backup's current state (finished, running, failed, other), 0 for the others.");
    w.per_backup(snap, |b| {
        let state = StateLabel::of(&b.backup.status);
        StateLabel::ALL
            .iter()
            .map(|s| ("state", s.as_str().to_owned(), *s == state))
            .collect()
    });
    w.family(
        "cds_redis_backup_status_info",
        "The backup's raw CDS Status; always 1.",
    );
    w.per_backup(snap, |b| {
        vec![("status", b.backup.status.to_string(), 1i64)]
    });
    w.family("cds_redis_backup_size_bytes", "BackupSize reported by CDS.");
    w.per_backup(snap, |b| plain(b.backup.size));
    w.family(
        "cds_redis_backup_start_timestamp_seconds",
        "Backup StartTime as Unix time.",
    );
    w.per_backup(snap, |b| plain(b.backup.start.map(|t| t.timestamp())));
    w.family(
        "cds_redis_backup_end_timestamp_seconds",
        "Backup EndTime as Unix time; absent while not finished.",
    );
    w.per_backup(snap, |b| plain(finished_end(b).map(|t| t.timestamp())));
    w.family(
        "cds_redis_backup_duration_seconds",
        "EndTime minus StartTime; absent while not finished.",
    );
    w.per_backup(snap, |b| {
        plain(
            finished_end(b)
                .zip(b.backup.start)
                .map(|(end, start)| (end - start).num_seconds()),
        )
    });
}

/// What the probes of download URLs saw.
fn probe_results(w: &mut Writer<'_>, snap: &Snapshot) {
    w.family(
        "cds_redis_backup_download_url_reachable",
        "1 if a ranged GET of the download URL answered 2xx.",
    );
    w.per_backup(snap, |b| {
        probes(b)
            .into_iter()
            .map(|(t, p)| ("url_type", t, p.reachable()))
            .collect()
    });
    w.family(
        "cds_redis_backup_download_url_status_code",
        "HTTP status of the download URL probe; 0 if no answer.",
    );
    w.per_backup(snap, |b| {
        probes(b)
            .into_iter()
            .map(|(t, p)| ("url_type", t, p.status))
            .collect()
    });
    w.family(
        "cds_redis_backup_download_url_probe_duration_seconds",
        "Duration of the download URL probe.",
    );
    w.per_backup(snap, |b| {
        probes(b)
            .into_iter()
            .map(|(t, p)| ("url_type", t, p.duration.as_secs_f64()))
            .collect()
    });
    w.family(
        "cds_redis_backup_download_size_matches",
        "1 if the object's total size equals BackupSize; absent when the answer gives no size.",
    );
    w.per_backup(snap, |b| {
        probes(b)
            .into_iter()
            .filter_map(|(t, p)| Some(("url_type", t, p.total_size? == b.backup.size?)))
            .collect()
    });
}

/// Per shard, instance and account: the newest finished backups, call outcomes,
/// listings and discovery.
fn targets(w: &mut Writer<'_>, snap: &Snapshot) {
    let last_success = snap.last_success();
    w.family(
        "cds_redis_backup_last_success_timestamp_seconds",
        "EndTime of the newest finished backup known for the instance and shard.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        ls,
    ) in &last_success
    {
        w.sample(
            &[("instance_uuid", instance), ("shard_id", shard)],
            ls.end.timestamp(),
        );
    }
    w.family(
        "cds_redis_backup_last_success_size_bytes",
        "Size of the newest finished backup known for the instance and shard.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        ls,
    ) in &last_success
    {
        if let Some(size) = ls.size {
            w.sample(&[("instance_uuid", instance), ("shard_id", shard)], size);
        }
    }
    w.family("cds_redis_backup_up", "1 if the last CDS call for the target succeeded (backup_id is empty for instance-level calls).");
    for (target, up) in snap.targets_up() {
        let labels = [
            ("instance_uuid", target.instance_uuid.as_str()),
            ("backup_id", target.backup_label()),
        ];
        w.sample(&labels, up);
    }
    w.family(
        "cds_redis_instance_backups",
        "Number of backups DescribeBackups lists for the instance.",
    );
    for (instance, n) in &snap.instance_backups {
        w.sample(&[("instance_uuid", instance)], *n);
    }
    instances(w, snap);
    w.family(
        "cds_redis_backup_exporter_discovery_up",
        "1 if the last DescribeDBInstances call of the account succeeded.",
    );
    for (account, up) in &snap.discovery_up {
        w.sample(&[("account", account)], *up);
    }
    w.family(
        "cds_redis_backup_exporter_owned_instances",
        "Instances of the account this replica watches: those of its shard (all of them without sharding).",
    );
    for (account, n) in &snap.owned {
        w.sample(&[("account", account)], *n);
    }
    w.family(
        "cds_redis_backup_exporter_account_up",
        "1 if in the last cycle the account's discovery (if any) and at least one of its other calls (if any) succeeded.",
    );
    for (account, up) in &snap.account_up {
        w.sample(&[("account", account)], *up);
    }
    w.family(
        "cds_redis_backup_exporter_target_last_refresh_timestamp_seconds",
        "When the target's values were last fetched from CDS, as Unix time (backup_id is empty for instance-level calls).",
    );
    for (target, at) in snap.last_good() {
        let labels = [
            ("instance_uuid", target.instance_uuid.as_str()),
            ("backup_id", target.backup_label()),
        ];
        w.sample(&labels, at.timestamp());
    }
    shards(w, snap);
}

/// Every watched instance: who it is (the labels alerts are routed by), and the
/// instances discovery stopped listing.
fn instances(w: &mut Writer<'_>, snap: &Snapshot) {
    w.family(
        "cds_redis_instance_info",
        "Every watched instance, with what DescribeDBInstances tells of it (empty until CDS has described it); tags is its CDS tag names as ,a,b, ; always 1.",
    );
    let mut tags = String::new();
    for (uuid, (account, i)) in &snap.instances {
        tags.clear();
        for (n, t) in tag_names(i).into_iter().enumerate() {
            if n == 0 {
                tags.push(',');
            }
            // A comma inside a name would split it in two for a regex matcher.
            tags.extend(t.chars().map(|c| if c == ',' { '_' } else { c }));
            tags.push(',');
        }
        let labels = [
            ("account", account.as_str()),
            ("instance_uuid", uuid.as_str()),
            ("instance_name", i.name.as_str()),
            ("sub_product", i.sub_product.as_str()),
            ("region_id", i.region_id.as_str()),
            ("version", i.version.as_str()),
            ("tags", tags.as_str()),
        ];
        w.sample(&labels, 1i64);
    }
    w.family(
        "cds_redis_instance_created_timestamp_seconds",
        "When the instance was created (CreatedTime of DescribeDBInstances, read in the account's timezone), as Unix time; absent when CDS gives none or one that cannot be true.",
    );
    for (uuid, (_, i)) in &snap.instances {
        if let Some(created) = i.created {
            w.sample(&[("instance_uuid", uuid)], created.timestamp());
        }
    }
    w.family(
        "cds_redis_instance_tag_info",
        "One series per CDS tag of each instance DescribeDBInstances described; always 1.",
    );
    for (uuid, (_, i)) in &snap.instances {
        for tag in tag_names(i) {
            w.sample(&[("instance_uuid", uuid), ("tag", tag)], 1i64);
        }
    }
    w.family(
        "cds_redis_instance_vanished_timestamp_seconds",
        "When a successful DescribeDBInstances first stopped listing an instance it had listed, as Unix time; served for poll.forget_vanished_after.",
    );
    for (uuid, v) in &snap.vanished {
        let labels = [
            ("account", v.account.as_str()),
            ("instance_uuid", uuid.as_str()),
            ("instance_name", v.name.as_str()),
        ];
        w.sample(&labels, v.since.timestamp());
    }
}

/// An instance's tag names, sorted, each once.
fn tag_names(i: &Instance) -> Vec<&str> {
    let mut names: Vec<&str> = i.tags.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Per shard: how many finished backups it lists, its learned cadence and the maximum
/// age of its newest finished backup.
fn shards(w: &mut Writer<'_>, snap: &Snapshot) {
    w.family(
        "cds_redis_backup_shard_finished_backups",
        "Finished backups DescribeBackups lists for the shard, for every shard that has had one since the exporter started (0: its last finished backup is gone).",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        f,
    ) in &snap.shards
    {
        if let Some(n) = f.finished {
            w.sample(&[("instance_uuid", instance), ("shard_id", shard)], n);
        }
    }
    w.family(
        "cds_redis_backup_expected_interval_seconds",
        "Learned cadence: median interval between the EndTimes of the shard's recent finished automatic backups; absent with fewer than 3.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        f,
    ) in &snap.shards
    {
        if let Some(d) = f.expected_interval {
            w.sample(
                &[("instance_uuid", instance), ("shard_id", shard)],
                d.as_secs(),
            );
        }
    }
    w.family(
        "cds_redis_backup_max_age_seconds",
        "How old the shard's newest finished backup may be: the first matching staleness rule, else the learned interval plus max(2h, interval/12), else 26h.",
    );
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: shard,
        },
        f,
    ) in &snap.shards
    {
        w.sample(
            &[("instance_uuid", instance), ("shard_id", shard)],
            f.max_age.as_secs(),
        );
    }
}

/// The cycle itself, only once one has completed: a timestamp of 0 before the first
/// would read as "no cycle for 56 years" and page. Written with the cycle's series, so a
/// scrape never pairs one cycle's time with another cycle's values.
fn cycle(w: &mut Writer<'_>, snap: &Snapshot) {
    if let Some(c) = &snap.cycle {
        w.family(
            "cds_redis_backup_exporter_poll_duration_seconds",
            "Duration of the last completed poll cycle.",
        );
        w.sample(&[], c.duration.as_secs_f64());
        w.family(
            "cds_redis_backup_exporter_last_poll_timestamp_seconds",
            "End of the last completed poll cycle as Unix time; absent until the first cycle completes.",
        );
        w.sample(&[], c.ended.timestamp_millis() as f64 / 1000.0);
        w.family(
            "cds_redis_backup_exporter_last_poll_success",
            "1 if every call of the last completed poll cycle succeeded.",
        );
        w.sample(&[], c.success);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_output_is_handed_over_in_chunks_that_add_up() {
        let mut s = Snapshot::default();
        for i in 0..5000 {
            s.instance_backups.insert(format!("instance-{i:05}"), i);
        }
        let mut chunks = Vec::new();
        render_to(&s, &mut |c| chunks.push(c.to_vec()));
        assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < 2 * CHUNK));
        let whole = render(&s);
        assert_eq!(chunks.concat(), whole.as_bytes());
        assert!(
            whole.contains("cds_redis_instance_backups{instance_uuid=\"instance-04999\"} 4999\n")
        );
        // Without a shard or a finished backup, each is "never backed up" (verdicts last).
        assert!(whole.ends_with(
            "cds_redis_backup_finding{instance_uuid=\"instance-04999\",shard_id=\"\",reason=\"never_backed_up\",severity=\"warning\"} 1\n"
        ));
    }

    #[test]
    fn label_values_are_escaped_and_empty_families_omitted() {
        let mut s = Snapshot::default();
        s.instance_backups.insert("a\"b\\c\nd".to_owned(), 3);
        let text = render(&s);
        assert!(
            text.starts_with(
                "# HELP cds_redis_instance_backups Number of backups DescribeBackups lists for the instance.\n\
                 # TYPE cds_redis_instance_backups gauge\n\
                 cds_redis_instance_backups{instance_uuid=\"a\\\"b\\\\c\\nd\"} 3\n\
                 # HELP cds_redis_backup_finding "
            ),
            "{text}"
        );
        // The verdict's series (an instance without a finished backup) escape alike.
        assert!(text.ends_with(
            "cds_redis_backup_finding{instance_uuid=\"a\\\"b\\\\c\\nd\",shard_id=\"\",reason=\"never_backed_up\",severity=\"warning\"} 1\n"
        ));
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}
