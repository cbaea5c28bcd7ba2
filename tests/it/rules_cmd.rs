//! The `rules` subcommand: the rule file the binary writes is the checked-in one (the
//! declarations' own test compares them in the library; this runs the real binary).

use std::process::Command;

use crate::helpers::{temp_dir, BIN};

const RULE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/prometheus/alerts.yml");

#[test]
fn rules_prints_the_checked_in_rule_file() {
    let out = Command::new(BIN).arg("rules").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(RULE_FILE).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == want,
        "stdout differs from {RULE_FILE}"
    );
}

#[test]
fn rules_write_writes_it_and_fails_on_a_bad_path() {
    let dir = temp_dir();
    let path = dir.join("alerts.yml");
    let out = Command::new(BIN)
        .args(["rules", "--write"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&path).unwrap() == std::fs::read_to_string(RULE_FILE).unwrap());

    let bad = dir.join("no-such-dir").join("alerts.yml");
    let out = Command::new(BIN)
        .args(["rules", "--write"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: writing ") && err.contains("no-such-dir"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
