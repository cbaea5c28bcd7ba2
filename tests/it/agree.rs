//! One policy engine, three views: for every instance of the `--demo` fleet, once
//! verification has settled, `/metrics`, `check --output json` and the status page say
//! the same of each shard: its restore point (backup and time), its deadline, its age
//! column (the restore point's age over its allowed age, deadline − point), and its
//! findings (alert and severity). All three are rendered from one snapshot, at the time
//! `/metrics` judged it (the cycle's end), by the functions the server and `check` use.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::fake::Scenario;
use cds_redis_backup_exporter::verdict::Reason;
use cds_redis_backup_exporter::{check, report, status};

use crate::helpers::*;

/// What one view says of one shard, in a form the three can be compared in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Says {
    /// (backup id, Unix time of its data).
    restore_point: Option<(String, i64)>,
    deadline: Option<i64>,
    /// The age column: "{now − point} / {deadline − point}" as [`report::human_age`]
    /// writes them; `None` without a restore point.
    age: Option<String>,
    /// (alert, severity), sorted; an alert-less finding has alert "-".
    findings: Vec<(String, String)>,
}

type View = BTreeMap<(String, String), Says>;

/// The alert of the engine's NoRestorePoint finding, which `/metrics` gives as a
/// deadline in the past rather than as a finding series.
const NO_RESTORE_POINT: &str = "CdsRedisBackupNoRestorePoint";

/// The alert a reason names, as the page and `check` write it ("-" for none), whether
/// `Reason::alert` gives a name or an optional one.
trait AlertName {
    fn name(self) -> String;
}

impl AlertName for &str {
    fn name(self) -> String {
        self.to_owned()
    }
}

impl AlertName for Option<&str> {
    fn name(self) -> String {
        self.unwrap_or("-").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_check_and_metrics_agree_on_every_demo_instance() {
    let start = now();
    let (_demo, config) = cds_redis_backup_exporter::demo::start_at(start, None, Duration::ZERO)
        .await
        .unwrap();
    let driver = Driver::new(&config);
    let snap = settled(&driver).await;
    driver.metrics.publish(&snap);
    let metrics = driver.metrics.encode();
    let at = snap.cycle.as_ref().unwrap().ended;
    let page = status::fleet_page(&report::fleet(&snap, at), "/metrics", None);
    let json = check::json(&report::fleet(&snap, at));

    // Every instance of the demo, in each view.
    let demo: BTreeSet<String> = Scenario::demo(start)
        .instances
        .iter()
        .chain(&Scenario::demo_revoked(start).instances)
        .chain(&Scenario::demo_wrong_tz(start).instances)
        .map(|i| i.uuid.clone())
        .collect();
    let (from_metrics, in_metrics) = metrics_view(&metrics);
    let (from_page, in_page) = page_view(&page);
    let (from_check, in_check) = check_view(&json);
    assert_eq!(in_metrics, demo, "instances in /metrics");
    assert_eq!(in_page, demo, "instances on the status page");
    assert_eq!(in_check, demo, "instances in check");
    assert_eq!(
        from_page.keys().collect::<Vec<_>>(),
        from_check.keys().collect::<Vec<_>>(),
        "the page has a row per shard of check"
    );

    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: BTreeMap<String, String> = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let field = |k: &str| i[k].as_str().unwrap().to_owned();
            (field("instance_uuid"), field("instance_name"))
        })
        .collect();
    let keys: BTreeSet<&(String, String)> = from_metrics
        .keys()
        .chain(from_page.keys())
        .chain(from_check.keys())
        .collect();
    let none = Says::default();
    let mut mismatches = Vec::new();
    let (mut points, mut ages, mut findings) = (0, 0, BTreeSet::new());
    for key in keys {
        let m = from_metrics.get(key).unwrap_or(&none);
        let p = from_page.get(key).unwrap_or(&none);
        let c = from_check.get(key).unwrap_or(&none);
        ages += usize::from(m.age.is_some());
        if m != p || m != c {
            let name = names.get(&key.0).map_or("?", String::as_str);
            mismatches.push(format!(
                "{name} {key:?}:\n  /metrics: {m:?}\n  page:     {p:?}\n  check:    {c:?}"
            ));
        }
        points += usize::from(m.restore_point.is_some());
        findings.extend(m.findings.iter().cloned());
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Not agreement by having nothing to say: the demo has restore points and findings
    // of both severities, among them a shard with no restore point in time.
    assert!(points >= demo.len() / 2, "{points} restore points");
    assert_eq!(ages, points, "an age column for every restore point");
    let severities: BTreeSet<&str> = findings.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        severities,
        BTreeSet::from(["critical", "warning"]),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|(a, _)| a == NO_RESTORE_POINT),
        "{findings:?}"
    );

    // The age column is the restore point's, not the newest backup's: demo-gone-covered's
    // newest (a manual backup, gone) would allow 22 h from its end; its restore point,
    // the daily backup 6 h old, is allowed 26 h (the next run plus its slack).
    let (uuid, _) = names
        .iter()
        .find(|(_, n)| *n == "demo-gone-covered")
        .unwrap();
    let shard = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_uuid"] == uuid.as_str())
        .map(|i| &i["shards"][0])
        .unwrap();
    assert_ne!(
        shard["restore_point"]["backup_id"], shard["newest"]["backup_id"],
        "{shard}"
    );
    assert_eq!(
        shard["restore_point"]["allowed_age_seconds"],
        26 * 3600,
        "{shard}"
    );
    assert_eq!(shard["max_age_seconds"], 22 * 3600, "{shard}");
    let age = from_page[&(uuid.clone(), String::new())].age.clone();
    assert!(
        age.as_deref()
            .is_some_and(|a| a.starts_with("6h ") && a.ends_with(" / 1d 2h")),
        "{age:?}"
    );
}

/// Cycles until verification has nothing left to do and a cycle learned no new result:
/// results arrive between cycles, and a backup found unusable can make an older one a
/// candidate. Bounded: a demo that never settles fails.
async fn settled(driver: &Driver) -> std::sync::Arc<cds_redis_backup_exporter::state::Snapshot> {
    let mut previous: Option<BTreeMap<String, f64>> = None;
    for _ in 0..20 {
        let snap = driver.poller.cycle().await;
        driver.metrics.publish(&snap);
        let results = select(
            &driver.metrics.encode(),
            "cds_redis_backup_verify_result",
            &[],
        );
        let until = Instant::now() + Duration::from_secs(60);
        while !driver.metrics.verify_idle() {
            assert!(Instant::now() < until, "verification still busy after 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if previous.as_ref() == Some(&results) && !results.is_empty() {
            return snap;
        }
        previous = Some(results);
    }
    panic!("verification did not settle in 20 cycles");
}

/// The value of label `name` in a `k="v",…` label string of [`parse`].
fn label(labels: &str, name: &str) -> String {
    let start = labels
        .find(&format!("{name}=\""))
        .filter(|at| *at == 0 || labels[..*at].ends_with(','))
        .unwrap_or_else(|| panic!("no {name} in {labels}"))
        + name.len()
        + 2;
    let mut out = String::new();
    let mut chars = labels[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return out,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    panic!("unterminated {name} in {labels}")
}

fn shard_key(labels: &str) -> (String, String) {
    (label(labels, "instance_uuid"), label(labels, "shard_id"))
}

/// `/metrics`: the verdict series, and the instances of `cds_redis_instance_info`.
fn metrics_view(text: &str) -> (View, BTreeSet<String>) {
    let mut all = parse(text);
    let mut family = |name: &str| all.remove(name).unwrap_or_default();
    let now = *family("cds_redis_backup_exporter_last_poll_timestamp_seconds")
        .values()
        .next()
        .unwrap();
    let mut view = View::new();
    for (labels, v) in family("cds_redis_backup_restore_point_timestamp_seconds") {
        let says = view.entry(shard_key(&labels)).or_default();
        assert!(says.restore_point.is_none(), "two restore points: {labels}");
        says.restore_point = Some((label(&labels, "backup_id"), v as i64));
    }
    for (labels, v) in family("cds_redis_backup_restore_deadline_timestamp_seconds") {
        let says = view.entry(shard_key(&labels)).or_default();
        says.deadline = Some(v as i64);
        // The engine's "now > deadline", at the time it judged: the cycle's end.
        if now > v {
            says.findings
                .push((NO_RESTORE_POINT.to_owned(), "critical".to_owned()));
        }
    }
    let allowed: BTreeMap<(String, String), i64> =
        family("cds_redis_backup_restore_allowed_age_seconds")
            .into_iter()
            .map(|(labels, v)| (shard_key(&labels), v as i64))
            .collect();
    for (key, says) in &mut view {
        match (&says.restore_point, says.deadline) {
            (Some((_, point)), Some(deadline)) => {
                // The allowed age is exported on its own, and is the deadline's distance.
                assert_eq!(allowed.get(key), Some(&(deadline - point)), "{key:?}");
                says.age = Some(age_column(now as i64 - point, deadline - point));
            }
            _ => assert_eq!(
                allowed.get(key),
                None,
                "an allowed age without a restore point: {key:?}"
            ),
        }
    }
    assert_eq!(
        allowed.len(),
        view.values().filter(|s| s.restore_point.is_some()).count(),
        "one allowed age per restore point"
    );
    for (labels, v) in family("cds_redis_backup_finding") {
        assert_eq!(v, 1.0, "{labels}");
        let reason = label(&labels, "reason");
        let r = Reason::ALL
            .iter()
            .find(|r| r.as_str() == reason)
            .unwrap_or_else(|| panic!("reason {reason:?} is not in Reason::ALL"));
        view.entry(shard_key(&labels))
            .or_default()
            .findings
            .push((r.alert().name(), label(&labels, "severity")));
    }
    for says in view.values_mut() {
        says.findings.sort();
    }
    let instances = family("cds_redis_instance_info")
        .keys()
        .map(|l| label(l, "instance_uuid"))
        .collect();
    (view, instances)
}

/// The age column as the page and the table write it.
fn age_column(age: i64, allowed: i64) -> String {
    format!(
        "{} / {}",
        report::human_age(age),
        report::human_age(allowed)
    )
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in the text of one start tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[at..].find('"')? + at;
    Some(unescape(&tag[at..end]))
}

/// The inside of the first `<td class="{class}">` of a row.
fn cell<'a>(row: &'a str, class: &str) -> &'a str {
    let open = format!("<td class=\"{class}\">");
    let at = row
        .find(&open)
        .unwrap_or_else(|| panic!("no {class} in {row}"))
        + open.len();
    let end = row[at..].find("</td>").unwrap() + at;
    &row[at..end]
}

/// The instants of the `<time datetime>` elements in `html`.
fn times(html: &str) -> Vec<i64> {
    html.split("<time ")
        .skip(1)
        .map(|t| {
            let iso = attr(&format!(" {t}"), "datetime").unwrap();
            chrono::DateTime::parse_from_rfc3339(&iso)
                .unwrap()
                .timestamp()
        })
        .collect()
}

/// The status page: a row per shard (`data-instance`, `data-shard`), its restore point
/// and deadline cells, and one `span.finding` per finding.
fn page_view(html: &str) -> (View, BTreeSet<String>) {
    let mut view = View::new();
    let mut instances = BTreeSet::new();
    for row in html.split("<tr class=\"").skip(1) {
        let row = &row[..row.find("</tr>").unwrap()];
        let tag = &row[..row.find('>').unwrap()];
        let Some(uuid) = attr(tag, "data-instance") else {
            continue;
        };
        instances.insert(uuid.clone());
        let shard = attr(tag, "data-shard").unwrap();
        let restore = cell(row, "restore");
        let restore_point = restore.contains("<code>").then(|| {
            let id =
                &restore[restore.find("<code>").unwrap() + 6..restore.find("</code>").unwrap()];
            let [t] = times(restore)[..] else {
                panic!("one time in {restore}")
            };
            (unescape(id), t)
        });
        let deadline = match times(cell(row, "deadline"))[..] {
            [] => None,
            [t] => Some(t),
            _ => panic!("one deadline in {row}"),
        };
        let age = cell(row, "age");
        let age = (!age.contains("muted")).then(|| unescape(age));
        let mut findings = Vec::new();
        for span in cell(row, "problem")
            .split("<span class=\"finding\"")
            .skip(1)
        {
            let tag = &span[..span.find('>').unwrap()];
            let alert = attr(tag, "data-alert").unwrap_or_else(|| "-".to_owned());
            findings.push((alert, attr(tag, "data-severity").unwrap()));
        }
        findings.sort();
        let fresh = view.insert(
            (uuid, shard),
            Says {
                restore_point,
                deadline,
                age,
                findings,
            },
        );
        assert!(fresh.is_none(), "two rows for one shard: {row}");
    }
    (view, instances)
}

/// `check --output json`: each shard's fields; an instance's own findings count on its
/// first shard, where the page and the table show them.
fn check_view(json: &str) -> (View, BTreeSet<String>) {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let time = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    let findings = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let alert = f["alert"].as_str().unwrap_or("-").to_owned();
                (alert, f["severity"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let mut view = View::new();
    let mut instances = BTreeSet::new();
    for i in doc["instances"].as_array().unwrap() {
        let uuid = i["instance_uuid"].as_str().unwrap().to_owned();
        instances.insert(uuid.clone());
        let mut own = findings(&i["findings"]);
        let shards = i["shards"].as_array().unwrap();
        if shards.is_empty() {
            own.sort();
            view.insert(
                (uuid.clone(), String::new()),
                Says {
                    findings: own.clone(),
                    ..Says::default()
                },
            );
        }
        for s in shards {
            let mut f = std::mem::take(&mut own);
            f.extend(findings(&s["findings"]));
            f.sort();
            let restore_point = (!s["restore_point"].is_null()).then(|| {
                (
                    s["restore_point"]["backup_id"].as_str().unwrap().to_owned(),
                    time(&s["restore_point"]["point"]),
                )
            });
            let deadline = (!s["restore_deadline"].is_null()).then(|| time(&s["restore_deadline"]));
            let age = (!s["restore_point"].is_null()).then(|| {
                let p = &s["restore_point"];
                let allowed = p["allowed_age_seconds"].as_i64().unwrap();
                // The allowed age is the deadline's, to the second.
                assert_eq!(
                    Some(time(&p["point"]) + allowed),
                    deadline,
                    "allowed age of {uuid}: {s}"
                );
                age_column(p["age_seconds"].as_i64().unwrap(), allowed)
            });
            view.insert(
                (uuid.clone(), s["shard_id"].as_str().unwrap().to_owned()),
                Says {
                    restore_point,
                    deadline,
                    age,
                    findings: f,
                },
            );
        }
    }
    (view, instances)
}
