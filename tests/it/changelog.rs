//! CHANGELOG.md has a heading for the version Cargo.toml gives, in Keep a Changelog's
//! shape, and the READMEs stay within the size the issue set for them (what a new user
//! reads first). The links of the READMEs and docs/ are checked by
//! scripts/check-quickstart.sh, which also runs the Quick start.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The `## ` headings of CHANGELOG.md, in order.
fn version_headings(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("## "))
        .map(|l| l["## ".len()..].to_owned())
        .collect()
}

#[test]
fn the_changelog_has_a_heading_for_the_cargo_version() {
    let text = read("CHANGELOG.md");
    let headings = version_headings(&text);
    let version = env!("CARGO_PKG_VERSION");
    let want = format!("[{version}] - ");
    let found: Vec<&String> = headings.iter().filter(|h| h.starts_with(&want)).collect();
    assert_eq!(
        found.len(),
        1,
        "CHANGELOG.md needs exactly one heading `## [{version}] - YYYY-MM-DD` for Cargo.toml's version; it has {headings:?}"
    );
}

#[test]
fn changelog_headings_are_unreleased_then_versions_newest_first() {
    let headings = version_headings(&read("CHANGELOG.md"));
    assert_eq!(headings.first().map(String::as_str), Some("[Unreleased]"));
    let mut previous: Option<(Vec<u64>, String)> = None;
    for h in &headings[1..] {
        let (version, date) = h
            .strip_prefix('[')
            .and_then(|r| r.split_once("] - "))
            .unwrap_or_else(|| panic!("`## {h}` is not `## [x.y.z] - YYYY-MM-DD`"));
        let numbers: Vec<u64> = version
            .split('.')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("`## {h}`: {version}")))
            .collect();
        assert_eq!(numbers.len(), 3, "`## {h}`: a version is x.y.z");
        let d: Vec<&str> = date.split('-').collect();
        assert!(
            date.len() == 10
                && d.len() == 3
                && d.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
            "`## {h}`: the date is YYYY-MM-DD"
        );
        if let Some((v, d)) = &previous {
            assert!(
                numbers < *v && date <= d.as_str(),
                "`## {h}` is not older than the heading above it"
            );
        }
        previous = Some((numbers, date.to_owned()));
    }
}

#[test]
fn the_readmes_stay_within_25_kib() {
    for readme in ["README.md", "README.zh-CN.md"] {
        let size = read(readme).len();
        assert!(
            size <= 25 * 1024,
            "{readme} is {size} bytes, over 25 KiB: move detail into docs/"
        );
    }
}
