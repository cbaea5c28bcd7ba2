//! Records the git commit for `--version` and `cds_redis_backup_exporter_build_info`,
//! when built from a git checkout of this crate (or with `BUILD_REVISION` set, as the
//! Dockerfile does); a build from a tarball says "unknown". Only the local `git` is
//! asked: no network. `tests/it/version.rs` includes this file to test [`revision`].
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `--version` says after the version number when the commit is not known.
pub const UNKNOWN: &str = "commit unknown: not built from a git checkout";

/// The commit a build is made from, and the files whose change means a new commit.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Revision {
    /// A 12-digit abbreviated hash, or the `BUILD_REVISION` given.
    pub commit: Option<String>,
    /// Existing files and directories of the repository to watch (`rerun-if-changed`).
    pub watch: Vec<PathBuf>,
}

/// The commit of the git checkout whose top level is `dir`, unless `given` (the
/// `BUILD_REVISION` variable) names one. A `dir` inside another repository (a tarball
/// unpacked into someone's checkout, cargo's vendor directory) is not a checkout of
/// this crate: its commit would be somebody else's, so it is unknown.
pub fn revision(given: Option<String>, dir: &Path) -> Revision {
    if let Some(commit) = given.map(|g| g.trim().to_owned()).filter(|g| !g.is_empty()) {
        return Revision {
            commit: Some(commit),
            watch: Vec::new(),
        };
    }
    let git = |args: &[&str]| -> Option<String> {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return Revision::default();
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return Revision::default();
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    // A worktree keeps HEAD in its own git dir and the branches in the common one;
    // both are printed relative to `dir` unless absolute.
    let mut watch = Vec::new();
    if let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) {
        let git_dir = dir.join(git_dir);
        let common = dir.join(common);
        for p in [
            git_dir.join("HEAD"),
            common.join("refs").join("heads"),
            common.join("packed-refs"),
        ] {
            // Cargo reruns the script on every build for a path that does not exist.
            if p.exists() {
                watch.push(p);
            }
        }
    }
    Revision { commit, watch }
}

fn main() {
    println!("cargo:rerun-if-env-changed=BUILD_REVISION");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let found = revision(std::env::var("BUILD_REVISION").ok(), &dir);
    for p in &found.watch {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let note = match &found.commit {
        Some(c) => {
            println!("cargo:rustc-env=BUILD_REVISION={c}");
            format!("commit {c}")
        }
        None => UNKNOWN.to_owned(),
    };
    println!("cargo:rustc-env=CDS_EXPORTER_LONG_VERSION={version} ({note})");
}
