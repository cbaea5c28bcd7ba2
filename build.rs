//! Records the git revision for `cds_redis_backup_exporter_build_info`, when built
//! from a checkout; builds from a tarball say "unknown".
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    println!("cargo:rerun-if-env-changed=BUILD_REVISION");
    let rev = std::env::var("BUILD_REVISION").ok().or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    });
    if let Some(rev) = rev.filter(|r| !r.is_empty()) {
        println!("cargo:rustc-env=BUILD_REVISION={rev}");
    }
}
