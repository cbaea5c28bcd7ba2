//! The declarations against what repeats them: the checked-in rule file, the runbooks,
//! the dashboards, and the metrics the exporter serves.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;

use super::render::{expr_value, fold};
use super::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const RULE_FILE: &str = "prometheus/alerts.yml";

use crate::generated::read;

#[test]
fn the_checked_in_rule_file_is_generated_from_the_declarations() {
    let want = rules_yaml();
    let have = read(RULE_FILE);
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(h, w)| h != w)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "{RULE_FILE} differs from the declarations in src/alerts/ (first at line {}); \
             run `cargo run -- rules --write {RULE_FILE}` and `python3 scripts/gen-k8s.py`, \
             and commit the result",
            line + 1
        );
    }
}

fn rules_of(doc: &Value) -> Vec<&Value> {
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").iter())
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

#[test]
fn the_generated_yaml_reads_back_as_declared() {
    let doc: Value = serde_yaml::from_str(&rules_yaml()).expect("the generated rules parse");
    let parsed = doc["groups"].as_sequence().expect("groups");
    let declared = groups();
    assert_eq!(parsed.len(), declared.len());
    for (g, d) in parsed.iter().zip(&declared) {
        assert_eq!(str_of(g, "name"), Some(d.name));
        assert_eq!(
            str_of(g, "interval"),
            (!d.interval.is_empty()).then_some(d.interval)
        );
    }
    let rules = rules_of(&doc);
    let mut seen = BTreeSet::new();
    for rule in &rules {
        if let Some(name) = str_of(rule, "record") {
            let r = [records::BASELINES, records::HOURLY, records::INPUTS]
                .iter()
                .flat_map(|r| r.iter())
                .find(|r| r.name == name)
                .expect("a declared record");
            assert_eq!(str_of(rule, "expr"), Some(expr_value(r.expr).as_str()));
            assert!(seen.insert(name.to_owned()), "{name} twice");
            continue;
        }
        let name = str_of(rule, "alert").expect("an alert or a record");
        let a = find(name).expect("a declared alert");
        assert!(seen.insert(name.to_owned()), "{name} twice");
        assert_eq!(
            str_of(rule, "expr"),
            Some(expr_value(a.expr).as_str()),
            "{name}"
        );
        assert_eq!(
            str_of(rule, "for"),
            (!a.for_.is_empty()).then_some(a.for_),
            "{name}"
        );
        assert_eq!(
            str_of(rule, "keep_firing_for"),
            (!a.keep_firing_for.is_empty()).then_some(a.keep_firing_for),
            "{name}"
        );
        let labels = rule["labels"].as_mapping().expect("labels");
        assert_eq!(labels.len(), 1, "{name}: only severity");
        assert_eq!(
            str_of(&rule["labels"], "severity"),
            Some(a.severity.as_str())
        );
        let ann = &rule["annotations"];
        assert_eq!(ann.as_mapping().map(|m| m.len()), Some(3), "{name}");
        assert_eq!(
            str_of(ann, "summary"),
            Some(fold(a.summary).as_str()),
            "{name}"
        );
        assert_eq!(
            str_of(ann, "description"),
            Some(fold(a.description).as_str()),
            "{name}"
        );
        assert_eq!(
            str_of(ann, "runbook_url"),
            Some(a.runbook_url().as_str()),
            "{name}"
        );
    }
    assert_eq!(seen.len(), alerts().count() + record_names().count());
}

#[test]
fn every_alert_in_the_checked_in_file_is_declared() {
    let doc: Value = serde_yaml::from_str(&read(RULE_FILE)).expect("the rule file parses");
    let names: Vec<&str> = rules_of(&doc)
        .iter()
        .filter_map(|r| str_of(r, "alert"))
        .collect();
    for n in &names {
        assert!(
            find(n).is_some(),
            "{RULE_FILE}: {n} is not declared in src/alerts/"
        );
    }
    assert_eq!(names.len(), alerts().count());
}

#[test]
fn alert_names_are_unique_and_well_formed() {
    let mut names = BTreeSet::new();
    for a in alerts() {
        assert!(names.insert(a.name), "{} declared twice", a.name);
        assert!(a.name.starts_with("CdsRedis"), "{}", a.name);
        assert!(
            a.name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{}",
            a.name
        );
        assert!(!a.expr.trim().is_empty() && !a.summary.trim().is_empty());
        assert!(!a.description.trim().is_empty() && !a.condition.trim().is_empty());
        // Every job selector names the scrape job.
        for (at, _) in a.expr.match_indices("job=\"") {
            let rest = &a.expr[at + 5..];
            assert!(rest.starts_with(&format!("{JOB}\"")), "{}: {rest}", a.name);
        }
    }
}

/// GitHub's anchors of the headings of a Markdown file: lowercased, punctuation other
/// than `-` and `_` dropped, spaces to `-`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.insert(anchor);
    }
    out
}

#[test]
fn every_alert_has_a_runbook_section_in_both_languages() {
    assert!(RUNBOOK_URL.ends_with("/docs/runbook.md"));
    for runbook in ["docs/runbook.md", "docs/runbook.zh-CN.md"] {
        let have = anchors(&read(runbook));
        let missing: Vec<&str> = alerts()
            .filter(|a| !have.contains(&a.runbook_anchor()))
            .map(|a| a.name)
            .collect();
        assert!(
            missing.is_empty(),
            "{runbook} has no section for {missing:?}"
        );
    }
}

/// The rows of the findings table of a runbook (the first table after its `findings`
/// anchor): reason, severity and the alert it links to ("—" for none).
fn findings_table(markdown: &str) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut lines = markdown
        .lines()
        .skip_while(|l| l.trim() != r#"<a id="findings"></a>"#);
    let Some(_) = lines.next() else {
        return rows;
    };
    for line in lines
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [reason, severity, alert, ..] = cells.as_slice() else {
            continue;
        };
        let Some(reason) = reason.strip_prefix('`').and_then(|r| r.strip_suffix('`')) else {
            continue; // the header and its rule
        };
        // "[Name](#anchor)": the name, and an anchor that must be the alert's.
        let alert = match alert.strip_prefix('[').and_then(|a| a.split_once("](#")) {
            Some((name, rest)) => {
                assert_eq!(
                    rest.strip_suffix(')'),
                    Some(name.to_ascii_lowercase().as_str()),
                    "the link of {name} in the findings table"
                );
                name.to_owned()
            }
            None => (*alert).to_owned(),
        };
        rows.push((reason.to_owned(), (*severity).to_owned(), alert));
    }
    rows
}

#[test]
fn the_runbooks_findings_tables_follow_the_reasons() {
    use crate::verdict::Reason;
    let want: Vec<(String, String, String)> = Reason::ALL
        .iter()
        .map(|r| {
            (
                r.as_str().to_owned(),
                r.severity().as_str().to_owned(),
                r.alert().unwrap_or("—").to_owned(),
            )
        })
        .collect();
    for runbook in ["docs/runbook.md", "docs/runbook.zh-CN.md"] {
        assert_eq!(
            findings_table(&read(runbook)),
            want,
            "{runbook}: the findings table (reason, severity, alert) differs from verdict::Reason"
        );
    }
    // Every alert a finding names is declared.
    for r in Reason::ALL {
        if let Some(name) = r.alert() {
            assert!(
                find(name).is_some(),
                "{name} of {} is not declared",
                r.as_str()
            );
        }
    }
}

/// Every series name the exporter can serve or the rules record: the metrics
/// catalog's families (a histogram adds `_bucket`, `_sum` and `_count`), the process
/// collector's among them, plus Prometheus's own `up` and the recorded names. The
/// golden file (the demo's /metrics) must be a subset, so a family served without its
/// declaration cannot hide.
fn declared_metrics() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = crate::metrics::catalog::all()
        .flat_map(|m| m.series_names())
        .collect();
    names.insert("up".to_owned());
    let golden = read("tests/golden/metrics.txt");
    for line in golden.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(
                crate::metrics::catalog::find(name).is_some(),
                "{name} is served (tests/golden/metrics.txt) but not in the metrics catalog"
            );
        }
    }
    names.extend(record_names().map(str::to_owned));
    names
}

#[test]
fn the_rules_use_only_declared_metrics() {
    let declared = declared_metrics();
    let mut unknown = BTreeSet::new();
    let exprs = alerts().map(|a| (a.name, a.expr)).chain(
        [records::BASELINES, records::HOURLY, records::INPUTS]
            .iter()
            .flat_map(|r| r.iter().map(|r| (r.name, r.expr))),
    );
    for (name, expr) in exprs {
        for m in promql::metric_names(expr) {
            if !declared.contains(&m) {
                unknown.insert(format!("{name}: {m}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "undeclared metrics in the rules: {unknown:?}"
    );
}

/// Every PromQL expression of a dashboard: panel targets' `expr` and the variables'
/// queries.
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(e)) = map.get("expr") {
                out.push(e.clone());
            }
            if map.get("type").and_then(|t| t.as_str()) == Some("query") {
                let q = match map.get("query") {
                    Some(serde_json::Value::String(q)) => Some(q.as_str()),
                    Some(serde_json::Value::Object(o)) => o.get("query").and_then(|q| q.as_str()),
                    _ => None,
                };
                if let Some(q) = q {
                    out.push(promql::grafana_variable_query(q));
                }
            }
            for (k, child) in map {
                if k != "expr" {
                    dashboard_exprs(child, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| dashboard_exprs(i, out)),
        _ => {}
    }
}

#[test]
fn the_dashboards_use_only_declared_metrics() {
    let declared = declared_metrics();
    let dir = Path::new(ROOT).join("grafana/dashboards");
    let mut boards = 0;
    let mut exprs_seen = 0;
    let mut unknown = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("grafana/dashboards") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        boards += 1;
        let text = std::fs::read_to_string(&path).expect("dashboard");
        let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
        let mut exprs = Vec::new();
        dashboard_exprs(&json, &mut exprs);
        assert!(!exprs.is_empty(), "{}: no expression found", path.display());
        exprs_seen += exprs.len();
        for e in exprs {
            for m in promql::metric_names(&e) {
                if !declared.contains(&m) {
                    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
                    unknown.insert(format!("{}: {m}", file.unwrap_or_default()));
                }
            }
        }
    }
    assert_eq!(boards, 3, "the shipped dashboards");
    assert!(exprs_seen > 50, "only {exprs_seen} expressions found");
    assert!(
        unknown.is_empty(),
        "undeclared metrics in the dashboards: {unknown:?}"
    );
}

#[test]
fn the_metric_check_catches_a_misspelt_name() {
    let declared = declared_metrics();
    assert!(declared.contains("cds_redis_backup_last_success_timestamp_seconds"));
    assert!(declared.contains("cds_redis_instance:labels"));
    assert!(declared.contains("cds_redis_backup_exporter_api_request_duration_seconds_bucket"));
    let names = promql::metric_names("time() - cds_redis_backup_last_sucess_timestamp_seconds");
    assert_eq!(
        names,
        vec!["cds_redis_backup_last_sucess_timestamp_seconds"]
    );
    assert!(!declared.contains(&names[0]));
}

#[test]
fn the_default_runbook_base_is_the_repositorys_docs() {
    assert_eq!(
        RUNBOOK_URL,
        format!("{}/blob/main/docs/runbook.md", env!("CARGO_PKG_REPOSITORY"))
    );
    assert_eq!(
        RUNBOOK_URL,
        "https://github.com/cds-redis-backup-exporter/cds-redis-backup-exporter/blob/main/docs/runbook.md"
    );
    assert_eq!(rules_yaml(), rules_yaml_with(RUNBOOK_URL));
    let a = find("CdsRedisBackupNoRestorePoint").expect("declared");
    assert_eq!(
        a.runbook_url(),
        "https://github.com/cds-redis-backup-exporter/cds-redis-backup-exporter/blob/main/docs/runbook.md#cdsredisbackupnorestorepoint"
    );
}

#[test]
fn a_custom_runbook_base_is_every_alerts_runbook_url() {
    let base = "https://wiki.example.com/ops/cds-redis-backup/runbook";
    assert_eq!(check_runbook_base_url(base), Ok(()));
    let text = rules_yaml_with(base);
    let doc: Value = serde_yaml::from_str(&text).expect("the generated rules parse");
    let mut n = 0;
    for rule in rules_of(&doc) {
        let Some(name) = str_of(rule, "alert") else {
            continue;
        };
        let want = format!("{base}#{}", name.to_ascii_lowercase());
        assert_eq!(
            str_of(&rule["annotations"], "runbook_url"),
            Some(want.as_str())
        );
        n += 1;
    }
    assert_eq!(n, alerts().count());
    assert!(
        !text.contains("github.com"),
        "the default base is left somewhere"
    );
    // The header names the base too.
    assert!(text.contains(&format!("# {base}#<alert name in lower case>\n")));
}

#[test]
fn runbook_bases_that_would_break_the_file_are_refused() {
    for ok in ["http://wiki/runbook", "https://x.example/a/b.md?ref=main"] {
        assert_eq!(check_runbook_base_url(ok), Ok(()), "{ok}");
    }
    for (bad, says) in [
        ("wiki.example.com/runbook", "is not an http(s) URL"),
        ("ftp://x/runbook", "is not an http(s) URL"),
        ("https://", "has no host"),
        ("https://x/runbook.md#top", "has a fragment"),
        ("https://x/run book.md", "white space"),
        ("https://x/a: b", "white space"),
        ("https://x/a\nb", "white space"),
    ] {
        let e = check_runbook_base_url(bad).expect_err(bad);
        assert!(e.contains(says), "{bad}: {e}");
    }
}
