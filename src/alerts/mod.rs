//! Every alert and recording rule, declared once. `prometheus/alerts.yml` is generated
//! from these declarations (`cds-redis-backup-exporter rules --write
//! prometheus/alerts.yml`) and checked in; a test fails while the file and the
//! declarations differ, and the Kubernetes copies follow the file (`scripts/gen-k8s.py`).
//!
//! An alert is one [`Alert`] value in the slice of its section (the files of this
//! module, one theme each); adding or removing one is an edit of that slice, plus its
//! runbook sections (English and Chinese), which a test requires. The groups of the
//! rule file and their order are in [`groups`]; the YAML writer is `render.rs`.

/// `$sel` bridged over a failed scrape: while its target's latest scrape failed (`up`
/// 0), its last sample of the past 5 minutes stands in for the staleness marker
/// Prometheus wrote. A finding the exporter drops while its scrapes
/// succeed is gone at once; losing sight of it for a scrape or two is not taken for a
/// fix. 5 minutes: four missed scrapes at a 60s interval (nine at 30s), and as long as
/// ExporterDown's `for:`, which takes over when the exporter stays down.
macro_rules! held {
    ($sel:literal) => {
        concat!(
            "(",
            $sel,
            " or (last_over_time(",
            $sel,
            "[5m]) and on (job, instance) up == 0))"
        )
    };
}

/// The instance (and its shard, where there is one) in words, for summaries and
/// descriptions.
macro_rules! shard {
    () => {
        r#"{{ with $labels.instance_name }}{{ . }} ({{ $labels.instance_uuid }}){{ else }}{{ $labels.instance_uuid }}{{ end }}{{ with $labels.shard_id }}, shard {{ . }}{{ end }}"#
    };
}

mod backups;
mod drill;
mod exporter;
mod header;
mod records;
mod render;
mod restore;
mod verify;
mod visibility;

#[cfg(test)]
mod promql;
#[cfg(test)]
mod tests;

pub use render::{rules_yaml, rules_yaml_with};

/// Where the runbook lives unless `rules --runbook-base-url` says otherwise: the English
/// runbook in the repository named by Cargo.toml (`docs/runbook.zh-CN.md` has the same
/// anchors). Every alert's `runbook_url` is the base plus `#` and the alert's anchor.
pub const RUNBOOK_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/runbook.md");

/// A runbook base URL given by an operator, checked before any rule is written with it:
/// it lands unquoted in YAML and has `#anchor` appended, so it must be one plain
/// http(s) URL without a fragment.
pub fn check_runbook_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        None => Err(format!(
            "{url:?} is not an http(s) URL; give e.g. https://wiki.example.com/runbooks/cds-redis-backup"
        )),
        Some("") => Err(format!("{url:?} has no host")),
        Some(_) if url.contains('#') => Err(format!(
            "{url:?} has a fragment (#...); leave it out, each alert's anchor is appended"
        )),
        Some(_) if url.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(format!(
            "{url:?} contains white space or a control character; percent-encode it"
        )),
        Some(_) => Ok(()),
    }
}

/// The scrape job the exporter's own alerts select (`job="cds-redis-backup"`): the
/// `job_name` of deploy/prometheus.yml and the Kubernetes ServiceMonitor.
pub const JOB: &str = "cds-redis-backup";

/// Who is told, and when (the severity model of the rule file's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// No restore point within the policy, or nobody watching: pages.
    Critical,
    /// Work for office hours.
    Warning,
    /// Not a problem: the always-firing heartbeat, routed to a dead man's switch.
    None,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::None => "none",
        }
    }
}

/// One alerting rule. Text fields may be written indented in the source: the writer
/// removes their common indentation and the blank first and last lines.
#[derive(Debug)]
pub struct Alert {
    pub name: &'static str,
    pub severity: Severity,
    /// The `for:` duration; empty for none.
    pub for_: &'static str,
    /// The `keep_firing_for:` duration (how long it stays firing once its condition
    /// ends); empty for none.
    pub keep_firing_for: &'static str,
    /// The range window of the condition, for the header's table ("-" for none).
    pub window: &'static str,
    /// One line for the header's table: what fires it.
    pub condition: &'static str,
    /// Why the rule is as it is: the comment written above it in the rule file.
    pub comment: &'static str,
    pub expr: &'static str,
    /// Folded (`>-`) annotation templates: their lines are joined by spaces.
    pub summary: &'static str,
    pub description: &'static str,
}

impl Alert {
    /// The anchor of the alert's section in the runbooks (GitHub's anchor of a
    /// `## <name>` heading).
    pub fn runbook_anchor(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// The alert's `runbook_url` with the default base.
    pub fn runbook_url(&self) -> String {
        self.runbook_url_at(RUNBOOK_URL)
    }

    /// The alert's `runbook_url` under another base (`rules --runbook-base-url`).
    pub fn runbook_url_at(&self, base: &str) -> String {
        format!("{base}#{}", self.runbook_anchor())
    }
}

/// A recording rule.
#[derive(Debug)]
pub struct Record {
    pub name: &'static str,
    pub comment: &'static str,
    pub expr: &'static str,
}

/// Alerts of one theme, written together under a comment of their own.
#[derive(Debug)]
pub struct Section {
    /// A comment standing before the section's alerts; empty for none.
    pub comment: &'static str,
    pub alerts: &'static [Alert],
}

/// One rule group of the file.
#[derive(Debug)]
pub struct Group {
    pub name: &'static str,
    /// The group's evaluation interval; empty for Prometheus's global one.
    pub interval: &'static str,
    /// A comment standing before the group; empty for none.
    pub comment: &'static str,
    pub records: &'static [Record],
    pub sections: &'static [Section],
}

/// The sections of alerts, in the order of the file.
pub const SECTIONS: &[Section] = &[
    restore::SECTION,
    backups::SECTION,
    verify::SECTION,
    drill::SECTION,
    visibility::SECTION,
    exporter::SECTION,
];

/// The rule file's groups, in order. The routing-label record comes first in the
/// alerts' group: rules of one group run in order, so a new instance's alerts join it
/// at the same evaluation.
pub fn groups() -> [Group; 3] {
    [
        Group {
            name: "cds-redis-backup.rules",
            interval: "",
            comment: "",
            records: records::BASELINES,
            sections: &[],
        },
        Group {
            name: "cds-redis-backup.hourly",
            interval: "1h",
            comment: "Evaluated once an hour: each run records the past hour's maximum, one sample an hour.",
            records: records::HOURLY,
            sections: &[],
        },
        Group {
            name: "cds-redis-backup.alerts",
            interval: "",
            comment: "",
            records: records::INPUTS,
            sections: SECTIONS,
        },
    ]
}

/// Every declared alert, in the order of the file.
pub fn alerts() -> impl Iterator<Item = &'static Alert> {
    SECTIONS.iter().flat_map(|s| s.alerts.iter())
}

/// The declared alert of that name.
pub fn find(name: &str) -> Option<&'static Alert> {
    alerts().find(|a| a.name == name)
}

/// Every recording rule's name (metric names the rules themselves produce).
pub fn record_names() -> impl Iterator<Item = &'static str> {
    [records::BASELINES, records::HOURLY, records::INPUTS]
        .into_iter()
        .flat_map(|r| r.iter().map(|r| r.name))
}
