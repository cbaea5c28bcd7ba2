//! The per-cycle series, written straight from a [`Snapshot`] in the Prometheus text
//! format (version 0.0.4).
//!
//! They are the bulk of the output (about 19 series per exported backup) and are rebuilt
//! whole every cycle. Writing them directly, instead of through client-library gauges
//! that keep every label set and are then copied again to be encoded, leaves one copy in
//! memory, the text itself, for one pass of CPU per cycle. Names, help texts and label
//! sets come from the [catalog](super::catalog).

mod drill;
mod verdict;
mod verify;

use std::fmt::Write as _;

use super::catalog::{self as c, Family};
use super::labels::*;
use crate::cds::{BackupStatus, Instance};
use crate::state::{BackupState, ShardKey, Snapshot, TargetKey};

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

/// Writes families one after another, each sample through its family's declaration in
/// the [catalog](super::catalog): the header comes with a family's first sample, so a
/// family without samples prints nothing. Text goes to `sink` in chunks of about
/// [`CHUNK`] bytes, so the whole exposition never has to be held at once.
struct Writer<'a> {
    out: String,
    sink: &'a mut dyn FnMut(&[u8]),
    /// The family whose header was written last.
    current: &'static str,
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

    fn sample<L: Labels>(&mut self, family: &Family<L>, labels: &L, value: impl Into<Value>) {
        let m = &family.meta;
        if self.current != m.name {
            self.current = m.name;
            let _ = writeln!(self.out, "# HELP {} {}", m.name, m.help);
            let _ = writeln!(self.out, "# TYPE {} {}", m.name, m.kind.as_str());
        }
        self.out.push_str(m.name);
        let mut first = true;
        let out = &mut self.out;
        labels.each(&mut |k, v| {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape(out, v);
            out.push('"');
        });
        if !first {
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
}

/// The labels of a backup's series.
fn backup(b: &BackupState) -> BackupLabels<'_> {
    BackupLabels {
        instance_uuid: &b.instance_uuid,
        backup_id: &b.backup.id,
        shard_id: &b.shard_id,
    }
}

/// The labels of a CDS call target's series.
fn target(t: &TargetKey) -> TargetLabels<'_> {
    TargetLabels {
        instance_uuid: &t.instance_uuid,
        backup_id: t.backup_label(),
    }
}

/// The labels of a shard's series.
fn shard<'a>(instance_uuid: &'a str, shard_id: &'a str) -> ShardLabels<'a> {
    ShardLabels {
        instance_uuid,
        shard_id,
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
        current: "",
    };
    backups(&mut w, snap);
    probe_results(&mut w, snap);
    targets(&mut w, snap);
    verify::verification(&mut w, snap);
    drill::drills(&mut w, snap);
    verdict::verdicts(&mut w, snap);
    cycle(&mut w, snap);
    w.flush();
}

/// What CDS says of each exported backup. Its type and mode are labels of one info
/// series, not of every numeric series: they never change, and joining them in costs
/// less than carrying them on all.
fn backups(w: &mut Writer<'_>, snap: &Snapshot) {
    let all = || snap.backups.values().map(|b| (&**b, backup(b)));
    for (b, l) in all() {
        let labels = BackupInfoLabels {
            backup: l,
            backup_type: &b.backup.backup_type,
            backup_mode: &b.backup.mode,
        };
        w.sample(&c::BACKUP_INFO, &labels, 1i64);
    }
    let finished_end = |b: &BackupState| b.backup.end.filter(|_| b.backup.is_finished());
    for (b, l) in all() {
        let state = StateLabel::of(&b.backup.status);
        for s in StateLabel::ALL {
            let labels = BackupStateLabels {
                backup: l,
                state: s.as_str(),
            };
            w.sample(&c::BACKUP_STATE, &labels, s == state);
        }
    }
    for (b, l) in all() {
        let labels = BackupStatusLabels {
            backup: l,
            status: b.backup.status.as_str(),
        };
        w.sample(&c::BACKUP_STATUS_INFO, &labels, 1i64);
    }
    for (b, l) in all() {
        if let Some(size) = b.backup.size {
            w.sample(&c::BACKUP_SIZE_BYTES, &l, size);
        }
    }
    for (b, l) in all() {
        if let Some(t) = b.backup.start {
            w.sample(&c::BACKUP_START_TIMESTAMP_SECONDS, &l, t.timestamp());
        }
    }
    for (b, l) in all() {
        if let Some(t) = finished_end(b) {
            w.sample(&c::BACKUP_END_TIMESTAMP_SECONDS, &l, t.timestamp());
        }
    }
    for (b, l) in all() {
        if let Some((end, start)) = finished_end(b).zip(b.backup.start) {
            w.sample(&c::BACKUP_DURATION_SECONDS, &l, (end - start).num_seconds());
        }
    }
}

/// What the probes of download URLs saw.
fn probe_results(w: &mut Writer<'_>, snap: &Snapshot) {
    let all = || {
        snap.backups.values().flat_map(|b| {
            b.probes.iter().map(move |(t, p)| {
                let labels = BackupUrlLabels {
                    backup: backup(b),
                    url_type: t.as_str(),
                };
                (&**b, labels, p)
            })
        })
    };
    for (_, l, p) in all() {
        w.sample(&c::DOWNLOAD_URL_REACHABLE, &l, p.reachable());
    }
    for (_, l, p) in all() {
        w.sample(&c::DOWNLOAD_URL_STATUS_CODE, &l, p.status);
    }
    for (_, l, p) in all() {
        w.sample(
            &c::DOWNLOAD_URL_PROBE_DURATION_SECONDS,
            &l,
            p.duration.as_secs_f64(),
        );
    }
    for (b, l, p) in all() {
        if let Some((total, size)) = p.total_size.zip(b.backup.size) {
            w.sample(&c::DOWNLOAD_SIZE_MATCHES, &l, total == size);
        }
    }
}

/// Per shard, instance and account: the newest finished backups, call outcomes,
/// listings and discovery.
fn targets(w: &mut Writer<'_>, snap: &Snapshot) {
    let last_success = snap.last_success();
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        ls,
    ) in &last_success
    {
        w.sample(
            &c::LAST_SUCCESS_TIMESTAMP_SECONDS,
            &shard(instance, s),
            ls.end.timestamp(),
        );
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        ls,
    ) in &last_success
    {
        if let Some(size) = ls.size {
            w.sample(&c::LAST_SUCCESS_SIZE_BYTES, &shard(instance, s), size);
        }
    }
    for (t, up) in snap.targets_up() {
        w.sample(&c::BACKUP_UP, &target(t), up);
    }
    for (instance_uuid, n) in &snap.instance_backups {
        w.sample(&c::INSTANCE_BACKUPS, &InstanceLabels { instance_uuid }, *n);
    }
    instances(w, snap);
    for (account, up) in &snap.discovery_up {
        w.sample(&c::DISCOVERY_UP, &AccountLabels { account }, *up);
    }
    for (account, n) in &snap.owned {
        w.sample(&c::OWNED_INSTANCES, &AccountLabels { account }, *n);
    }
    for (account, up) in &snap.account_up {
        w.sample(&c::ACCOUNT_UP, &AccountLabels { account }, *up);
    }
    for (t, at) in snap.last_good() {
        w.sample(
            &c::TARGET_LAST_REFRESH_TIMESTAMP_SECONDS,
            &target(t),
            at.timestamp(),
        );
    }
    shards(w, snap);
}

/// Every watched instance: who it is (the labels alerts are routed by), and the
/// instances discovery stopped listing.
fn instances(w: &mut Writer<'_>, snap: &Snapshot) {
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
        let labels = InstanceInfoLabels {
            account,
            instance_uuid: uuid,
            instance_name: &i.name,
            sub_product: &i.sub_product,
            region_id: &i.region_id,
            version: &i.version,
            tags: &tags,
        };
        w.sample(&c::INSTANCE_INFO, &labels, 1i64);
    }
    for (instance_uuid, (_, i)) in &snap.instances {
        if let Some(created) = i.created {
            w.sample(
                &c::INSTANCE_CREATED_TIMESTAMP_SECONDS,
                &InstanceLabels { instance_uuid },
                created.timestamp(),
            );
        }
    }
    for (instance_uuid, (_, i)) in &snap.instances {
        for tag in tag_names(i) {
            let labels = InstanceTagLabels {
                instance: InstanceLabels { instance_uuid },
                tag,
            };
            w.sample(&c::INSTANCE_TAG_INFO, &labels, 1i64);
        }
    }
    for (uuid, v) in &snap.vanished {
        let labels = VanishedLabels {
            account: &v.account,
            instance_uuid: uuid,
            instance_name: &v.name,
        };
        w.sample(
            &c::INSTANCE_VANISHED_TIMESTAMP_SECONDS,
            &labels,
            v.since.timestamp(),
        );
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
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        f,
    ) in &snap.shards
    {
        if let Some(n) = f.finished {
            w.sample(&c::SHARD_FINISHED_BACKUPS, &shard(instance, s), n);
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        f,
    ) in &snap.shards
    {
        if let Some(d) = f.expected_interval {
            w.sample(
                &c::EXPECTED_INTERVAL_SECONDS,
                &shard(instance, s),
                d.as_secs(),
            );
        }
    }
    for (
        ShardKey {
            instance_uuid: instance,
            shard_id: s,
        },
        f,
    ) in &snap.shards
    {
        w.sample(
            &c::MAX_AGE_SECONDS,
            &shard(instance, s),
            f.max_age.as_secs(),
        );
    }
}

/// The cycle itself, only once one has completed: a timestamp of 0 before the first
/// would read as "no cycle for 56 years" and page. Written with the cycle's series, so a
/// scrape never pairs one cycle's time with another cycle's values.
fn cycle(w: &mut Writer<'_>, snap: &Snapshot) {
    if let Some(cy) = &snap.cycle {
        w.sample(&c::POLL_DURATION_SECONDS, &(), cy.duration.as_secs_f64());
        w.sample(
            &c::LAST_POLL_TIMESTAMP_SECONDS,
            &(),
            cy.ended.timestamp_millis() as f64 / 1000.0,
        );
        w.sample(&c::LAST_POLL_SUCCESS, &(), cy.success);
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
