//! `--version` names the commit the binary was built from: git's, from a checkout of
//! this crate; "unknown" from a tarball or from inside another repository. The build
//! script itself is included to test that choice on repositories made here.
use std::path::Path;
use std::process::Command;

use crate::helpers::{temp_dir, BIN};

#[allow(dead_code)]
#[path = "../../build.rs"]
mod build_script;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn version_names_the_commit_of_this_checkout() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Computed from git directly, not through the build script under test.
    let note = match std::env::var("BUILD_REVISION") {
        Ok(given) if !given.trim().is_empty() => format!("commit {}", given.trim()),
        _ if manifest.join(".git").exists() => {
            format!(
                "commit {}",
                git(manifest, &["rev-parse", "--short=12", "HEAD"])
            )
        }
        _ => build_script::UNKNOWN.to_owned(),
    };
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "cds-redis-backup-exporter {} ({note})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn a_directory_outside_any_repository_has_no_commit() {
    let dir = temp_dir();
    let probe = Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .unwrap();
    assert!(
        !probe.status.success(),
        "the temp dir {} lies inside a git repository; this test needs one that does not",
        dir.display()
    );
    assert_eq!(
        build_script::revision(None, &dir),
        build_script::Revision::default()
    );
}

#[test]
fn a_checkout_gives_its_commit_and_a_nested_directory_does_not() {
    let repo = temp_dir();
    git(&repo, &["init", "-q"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let head = git(&repo, &["rev-parse", "--short=12", "HEAD"]);
    assert_eq!(head.len(), 12);
    let found = build_script::revision(None, &repo);
    assert_eq!(found.commit.as_deref(), Some(head.as_str()));
    // HEAD and the branches are watched, so the next commit rebuilds.
    assert!(found.watch.contains(&repo.join(".git").join("HEAD")));
    assert!(found
        .watch
        .contains(&repo.join(".git").join("refs").join("heads")));
    // A crate unpacked inside someone else's repository is not a checkout of itself.
    let nested = repo.join("vendor").join("crate");
    std::fs::create_dir_all(&nested).unwrap();
    assert_eq!(
        build_script::revision(None, &nested),
        build_script::Revision::default()
    );
}

#[test]
fn a_given_build_revision_wins() {
    let found = build_script::revision(Some(" 0123abcd \n".to_owned()), &temp_dir());
    assert_eq!(found.commit.as_deref(), Some("0123abcd"));
    assert!(found.watch.is_empty());
    assert_eq!(
        build_script::revision(Some(String::new()), &temp_dir()),
        build_script::Revision::default()
    );
}
