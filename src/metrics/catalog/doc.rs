//! `docs/metrics.md`, generated from the catalog: one table per section, every family
//! with its type, unit, labels and help. A test holds the checked-in file to it; after a
//! change, `UPDATE_DOCS=1 cargo test --lib docs` rewrites the file.

use std::fmt::Write as _;

use super::{Meta, Source, SECTIONS};

/// Where the file lives, from the repository's root.
pub const PATH: &str = "docs/metrics.md";

/// The whole file.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from src/metrics/catalog/ by `UPDATE_DOCS=1 cargo test --lib docs`: edit the catalog, not this file. -->\n\
         # Metrics\n\n\
         Every family `/metrics` serves, as declared in `src/metrics/catalog/`. Per-cycle \
         families are written from the last completed poll cycle (a scrape never calls the \
         CDS API); the exporter's own families are read at every scrape. Labels are listed \
         in the order they are written; those in *italics* are on some series only. A \
         family with no series to show (no verification yet, no vanished instance) is left \
         out of `/metrics` altogether.\n\n\
         The recording rules of `prometheus/alerts.yml` add series of their own \
         (`cds_redis_…:…`), declared in `src/alerts/records.rs`.\n",
    );
    for s in SECTIONS {
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n| metric | type | unit | labels | meaning |\n| --- | --- | --- | --- | --- |\n",
            s.title, s.about
        );
        for m in s.families {
            row(&mut out, m);
        }
    }
    out
}

fn row(out: &mut String, m: &Meta) {
    let labels: Vec<String> = (m.labels)()
        .into_iter()
        .map(|l| {
            if (m.optional)().contains(&l) {
                format!("*`{l}`*")
            } else {
                format!("`{l}`")
            }
        })
        .collect();
    let kind = match m.source {
        Source::Cycle | Source::Live => m.kind.as_str().to_owned(),
        Source::Process => format!("{} (process)", m.kind.as_str()),
    };
    let _ = writeln!(
        out,
        "| `{}` | {kind} | {} | {} | {} |",
        m.name,
        m.unit().as_str(),
        labels.join(", "),
        m.help.replace('|', "\\|"),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    use crate::generated::read;

    const ROOT: &str = env!("CARGO_MANIFEST_DIR");

    #[test]
    fn docs_metrics_md_is_generated_from_the_catalog() {
        crate::generated::holds(PATH, &markdown(), "src/metrics/catalog/");
    }

    /// Every series name a family or a recording rule can produce.
    fn declared() -> BTreeSet<String> {
        let mut names: BTreeSet<String> = super::super::all()
            .flat_map(|m| m.series_names().into_iter().chain([m.name.to_owned()]))
            .collect();
        names.extend(crate::alerts::record_names().map(str::to_owned));
        names
    }

    /// The words of a text (letters, digits, `_` and `:`) that contain `cds_redis_`; a
    /// word ending in `_` is a prefix in prose (`cds_redis_backup_*`), not a name.
    fn mentioned(text: &str) -> BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':')))
            .map(|w| w.trim_end_matches(':'))
            .filter(|w| w.contains("cds_redis_") && !w.ends_with('_'))
            .map(str::to_owned)
            .collect()
    }

    /// The files that name metrics: the golden `/metrics`, the dashboards, the rule file
    /// and the alerts' declarations, the runbooks.
    fn naming_files() -> Vec<String> {
        let mut files = vec![
            "tests/golden/metrics.txt".to_owned(),
            "prometheus/alerts.yml".to_owned(),
            "docs/runbook.md".to_owned(),
            "docs/runbook.zh-CN.md".to_owned(),
        ];
        for (dir, ext) in [("grafana/dashboards", "json"), ("src/alerts", "rs")] {
            let mut found: Vec<String> = std::fs::read_dir(Path::new(ROOT).join(dir))
                .unwrap_or_else(|e| panic!("{dir}: {e}"))
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                // The alerts' tests misspell a name on purpose.
                .filter(|f| f.ends_with(ext) && f != "tests.rs")
                .map(|f| format!("{dir}/{f}"))
                .collect();
            found.sort();
            files.extend(found);
        }
        files
    }

    #[test]
    fn every_metric_named_in_the_repository_is_declared() {
        let declared = declared();
        let files = naming_files();
        assert!(files.iter().filter(|f| f.ends_with(".json")).count() >= 3);
        let mut unknown = Vec::new();
        let mut seen = 0;
        for file in &files {
            for name in mentioned(&read(file)) {
                seen += 1;
                if !declared.contains(&name) {
                    unknown.push(format!("{file}: {name}"));
                }
            }
        }
        assert!(seen > 100, "only {seen} names found");
        assert!(
            unknown.is_empty(),
            "not in src/metrics/catalog/: {unknown:#?}"
        );
    }

    /// The golden `/metrics` serves every per-cycle and live family under its declared
    /// type and help (the demo has no vanished instance, and no dump with a ctime).
    #[test]
    fn the_golden_file_matches_the_declarations() {
        let golden = read("tests/golden/metrics.txt");
        let mut typed = BTreeSet::new();
        for line in golden.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                let m = super::super::find(name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(kind, m.kind.as_str(), "{name}");
                typed.insert(name);
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("# HELP name help");
                let m = super::super::find(name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(help, m.help, "{name}");
            }
        }
        let missing: Vec<&str> = super::super::all()
            .filter(|m| m.source != Source::Process && !typed.contains(m.name))
            .map(|m| m.name)
            .collect();
        assert_eq!(
            missing,
            [
                "cds_redis_instance_vanished_timestamp_seconds",
                "cds_redis_backup_rdb_snapshot_timestamp_seconds",
                // Drills are off in the demo (they need a redis-server).
                "cds_redis_backup_drill_result",
                "cds_redis_backup_drill_download_seconds",
                "cds_redis_backup_drill_load_seconds",
                "cds_redis_backup_drill_recovery_seconds",
                "cds_redis_backup_drill_used_memory_bytes",
                "cds_redis_backup_drill_instance_ram_bytes",
                "cds_redis_backup_drill_keys",
                "cds_redis_backup_drill_timestamp_seconds",
                "cds_redis_backup_drill_last_success_timestamp_seconds",
            ],
            "declared but not in the golden file"
        );
    }

    #[test]
    fn the_scan_catches_a_misspelt_name_and_skips_prefixes() {
        let text = "rate(cds_redis_backup_exporter_api_request_duration_seconds_bucket[5m]) \
                    cds_redis_backup_last_sucess_timestamp_seconds cds_redis_backup_* \
                    cds_redis_instance:labels, a:cds_redis_b:c.";
        let words = mentioned(text);
        assert_eq!(
            words.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "a:cds_redis_b:c",
                "cds_redis_backup_exporter_api_request_duration_seconds_bucket",
                // Not one literal: src/alerts/tests.rs takes literals here for names.
                concat!("cds_redis_backup_last_", "sucess_timestamp_seconds"),
                "cds_redis_instance:labels",
            ]
        );
        let declared = declared();
        assert!(declared.contains("cds_redis_instance:labels"));
        assert!(declared.contains("cds_redis_backup_exporter_api_request_duration_seconds_bucket"));
        assert!(!declared.contains(concat!(
            "cds_redis_backup_last_",
            "sucess_timestamp_seconds"
        )));
    }
}
