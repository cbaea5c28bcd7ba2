//! An honest `check` (issue 20, item 2): it verifies as the exporter does (the demo's
//! `verify: full`), so the demo's corrupt, cut, HTML and empty dumps read as the policy
//! engine judges them, never "ok"; `--no-verify` downloads nothing and says "not
//! verified" where it would otherwise say "ok"; a light check that passed names what it
//! read (head and tail), so a dump damaged in the middle never reads as plain "ok"; and
//! verification past `--verify.within` is reported as not done in time.

use std::process::{Command, Stdio};
use std::time::Duration;

use cds_redis_backup_exporter::check;
use cds_redis_backup_exporter::config::VerifyLevel;
use cds_redis_backup_exporter::fake::{dumps, FakeObject};
use cds_redis_backup_exporter::report::{self, Charset};

use crate::helpers::*;

/// `check` with `args`, no terminal, plain output, a UTF-8 locale: (status, stdout).
fn check_out(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("check")
        .args(args)
        // What is verified is under test, not how fast: the default 60 s is a user's
        // bound, which a loaded 2-core CI machine can exceed on the demo's full checks.
        .args(["--verify.within", "10m"])
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (code, out) = check_out(&all);
    assert_eq!(code, 1, "{out}");
    serde_json::from_str(&out).unwrap()
}

fn instance<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instance_name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// The cells of the first table line of instance `name` in a `--wide` table, trimmed.
fn row(table: &str, name: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| {
            l.split(['│', '┆', '|'])
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.iter().any(|c| c == name))
        .unwrap_or_else(|| panic!("no row of {name}:\n{table}"))
}

/// The verified and problem cells of a `--wide` row (the last two of eleven columns).
fn verdict(table: &str, name: &str) -> (String, String) {
    let cells = row(table, name);
    let n = cells.len();
    (cells[n - 3].clone(), cells[n - 2].clone())
}

#[test]
fn check_demo_shows_the_damaged_dumps_as_the_engine_judges_them() {
    let doc = json(&["--demo"]);
    assert_eq!(
        doc["verification"],
        serde_json::json!({"enabled": true, "limit_seconds": 600, "settled": true})
    );
    for (name, result) in [
        ("demo-verify-corrupt", "checksum_mismatch"),
        ("demo-verify-cut", "truncated"),
        ("demo-verify-html", "not_rdb"),
        ("demo-verify-empty", "empty"),
    ] {
        let i = instance(&doc, name);
        assert_eq!(i["verify_level"], "full", "{name}");
        assert_eq!(
            i["shards"][0]["verification"],
            serde_json::json!(["full", result]),
            "{name}"
        );
        assert!(
            !i["shards"][0]["findings"].as_array().unwrap().is_empty(),
            "{name} has no finding: {i}"
        );
    }
    let healthy = instance(&doc, "demo-healthy");
    assert_eq!(
        healthy["shards"][0]["verification"],
        serde_json::json!(["full", "ok"])
    );
    assert_eq!(
        doc["summary"],
        serde_json::json!({"instances": 28, "healthy": 8, "critical": 9, "warning": 11,
            "blind_accounts": 0, "unverified_shards": 5})
    );

    let (code, table) = check_out(&["--demo", "--wide"]);
    assert_eq!(code, 1);
    for (name, verified, problem) in [
        (
            "demo-verify-corrupt",
            "checksum_mismatch (full)",
            "X critical: ",
        ),
        ("demo-verify-cut", "truncated (full)", "X critical: "),
        ("demo-verify-html", "not_rdb (full)", "X critical: "),
        ("demo-verify-empty", "empty (full)", "! warning: "),
    ] {
        let (v, p) = verdict(&table, name);
        assert_eq!(v, verified, "{name}");
        assert!(p.starts_with(problem), "{name}: {p}");
        assert!(!p.contains(" ok"), "{name}: {p}");
    }
    assert_eq!(
        verdict(&table, "demo-healthy"),
        ("ok (full read)".to_owned(), "+ ok".to_owned())
    );
    // A download that failed checked nothing: not "ok".
    assert_eq!(
        verdict(&table, "demo-verify-nourl").0,
        "not verified: skipped (full)"
    );
    assert!(
        table.contains(
            "\n5 shard(s) not verified (verify: off for them, or their download failed)\n"
        ),
        "{table}"
    );
}

#[test]
fn no_verify_downloads_nothing_and_no_row_says_ok() {
    let doc = json(&["--demo", "--no-verify"]);
    assert_eq!(
        doc["verification"],
        serde_json::json!({"enabled": false, "limit_seconds": 0, "settled": true})
    );
    let instances = doc["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 28);
    for i in instances {
        assert_eq!(i["verify_level"], "off", "{i}");
        for s in i["shards"].as_array().unwrap() {
            assert_eq!(s["verification"], serde_json::Value::Null, "{i}");
        }
    }
    assert_eq!(doc["summary"]["healthy"], 14);
    assert_eq!(doc["summary"]["unverified_shards"], 29);

    let (code, table) = check_out(&["--demo", "--no-verify", "--wide"]);
    assert_eq!(code, 1);
    // No verified or problem cell of any row says ok.
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split(['│', '┆']).map(str::trim).collect::<Vec<_>>())
        // A row's first line: continuation lines of multi-line cells leave the instance empty.
        .filter(|cells| cells.len() == 13 && !cells[2].is_empty() && cells[1] != "account")
        .collect();
    assert!(rows.len() >= 28, "{table}");
    for cells in &rows {
        assert!(cells[10].starts_with("not verified"), "{cells:?}");
        assert!(!cells[11].contains("ok"), "{cells:?}");
    }
    assert_eq!(
        verdict(&table, "demo-healthy"),
        (
            "not verified (verify: off)".to_owned(),
            "? not verified".to_owned()
        )
    );
    assert!(
        table.ends_with(
            "not verified: --no-verify was given, so no dump was downloaded; \"ok\" needs a verification\n"
        ),
        "{table}"
    );
}

#[test]
fn the_old_verify_flag_is_accepted_and_means_the_default() {
    let doc = json(&["--demo", "--verify"]);
    assert_eq!(doc["summary"]["healthy"], 8);
    assert_eq!(doc["verification"]["enabled"], true);
    let (code, _) = check_out(&["--demo", "--verify", "--no-verify"]);
    assert_eq!(code, 2, "--verify and --no-verify contradict each other");
}

/// A style without colour, UTF-8 borders and icons.
const UTF8: check::Style = check::Style {
    color: false,
    borders: Charset::Utf8,
    icons: Charset::Utf8,
};

#[tokio::test]
async fn a_light_check_names_what_it_read_and_never_says_plain_ok() {
    // Damage in the middle: the light check reads the head and the tail only.
    let flipped = dumps::bit_flipped(200_000, 7);
    let (_f, c) = watching_all(
        vec![holding("mid", FakeObject::Data(flipped.into()), None)],
        verify_level(VerifyLevel::Light),
    )
    .await;
    let fleet = check::run(c, Some(Duration::from_secs(30)), &|_, _| {})
        .await
        .unwrap();
    let shard = &fleet.instances[0].shards[0];
    assert_eq!(
        shard
            .verification
            .as_ref()
            .map(|v| (v.level.as_str(), v.result.as_str())),
        Some(("light", "ok"))
    );
    let rows = report::rows(&fleet.instances[0]);
    assert_eq!(rows[0].verified, "head+tail ok (light)");
    assert_eq!(rows[0].no_problem(), "ok (head+tail only)");
    let table = check::table(&fleet, UTF8, check::Width::Wide);
    assert_eq!(
        verdict(&table, "mid"),
        (
            "head+tail ok (light)".to_owned(),
            "✔ ok (head+tail only)".to_owned()
        )
    );
}

#[tokio::test]
async fn verification_past_the_limit_is_reported_as_not_done_in_time() {
    // The object store answers its headers and never a byte.
    let (_f, c) = watching_all(
        vec![holding("hung", FakeObject::Stall, Some(1000))],
        verify_level(VerifyLevel::Light),
    )
    .await;
    let fleet = check::run(c, Some(Duration::from_secs(1)), &|_, _| {})
        .await
        .unwrap();
    let run = fleet.verification.clone().unwrap();
    assert!(run.enabled);
    assert_eq!(run.limit_seconds, 1);
    assert!(!run.settled);
    assert_eq!(fleet.summary.unverified_shards, 1);
    let rows = report::rows(&fleet.instances[0]);
    assert_eq!(rows[0].verified, "not verified yet");
    assert_eq!(rows[0].no_problem(), "not verified");
    assert_eq!(
        check::verification_note(&fleet).as_deref(),
        Some("verification stopped at its limit of 1s (--verify.within): 1 shard(s) not verified in time")
    );
}
