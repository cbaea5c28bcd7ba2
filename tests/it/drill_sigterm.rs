//! SIGTERM mid-drill (issue 22, item 7): the exporter and `check --drill` each get it
//! while their scratch `redis-server` runs — a stand-in script that reports its pid and
//! never opens its socket, so the drill is surely mid-way — and each exits with the
//! server killed and the scratch directory empty. SIGKILL allows no clean-up: the
//! next drill kills the server the killed one left and removes its files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::fake::{dumps, FakeObject, Scenario};

use crate::helpers::*;

/// Killed: gone, or a zombie no one reaped.
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |st| st.split_whitespace().nth(2) == Some("Z"))
}

/// The pid `pid_file` holds once the stand-in started (bounded wait).
async fn started(pid_file: &Path) -> String {
    let t = Instant::now();
    while !pid_file.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the scratch server never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::read_to_string(pid_file).unwrap().trim().to_owned()
}

/// A fake with one instance whose backup is a sound dump, and a config whose `drill:`
/// (enabled or not) runs the stand-in in a short scratch path.
async fn fixture(
    enabled: bool,
) -> (
    cds_redis_backup_exporter::fake::FakeCds,
    PathBuf,
    PathBuf,
    PathBuf,
) {
    let dir = std::env::temp_dir().join(format!(
        "sigt-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![holding(
        "term",
        FakeObject::Data(dumps::with_keys(50, 20).into()),
        None,
    )];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = vec!["term".into()];
    let path = write_config(&config(vec![a]), &dir, "5s");
    let pid_file = dir.join("server.pid");
    let bin = dir.join("redis-server");
    stand_in_redis_server(&bin, &pid_file);
    let scratch = dir.join("s");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += &format!(
        "verify: {{url_types: [public]}}\ndrill:\n  enabled: {enabled}\n  scratch_dir: {}\n  redis_server: {}\n",
        scratch.display(),
        bin.display()
    );
    std::fs::write(&path, text).unwrap();
    (f, PathBuf::from(path), scratch, pid_file)
}

/// `check --drill term` with the config at `path`, its output piped.
fn check_drill(path: &Path) -> std::process::Child {
    Command::new(BIN)
        .args(["check", "--config.file"])
        .arg(path)
        .args(["--drill", "term"])
        .env_remove("CDS_EXPORTER_CONFIG")
        .env("CDS_ACCESS_KEY_SECRET", "env-secret-7f3a")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_drill_stops_the_exporter_with_nothing_left() {
    let (_f, path, scratch, pid_file) = fixture(true).await;
    let p = Process::start(&path, &[], Stdio::null());
    let pid = started(&pid_file).await;
    assert!(!gone(&pid) && !empty(&scratch));
    p.signal("TERM");
    let status = p.exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert!(gone(&pid), "the scratch server outlived the exporter");
    assert!(empty(&scratch), "scratch left behind");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_check_drill_exits_130_with_nothing_left() {
    let (_f, path, scratch, pid_file) = fixture(false).await;
    let mut child = check_drill(&path);
    let pid = started(&pid_file).await;
    assert!(!gone(&pid) && !empty(&scratch));
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "check did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: interrupted: the drill was stopped, its redis-server killed and its scratch files removed"
    );
    assert!(gone(&pid), "the scratch server outlived check");
    // The server got an empty environment, not the exporter's secret.
    let env = std::fs::read_to_string(pid_file.with_extension("pid.env")).unwrap();
    assert!(
        !env.contains("env-secret-7f3a") && !env.contains("CDS_"),
        "{env}"
    );
    assert!(empty(&scratch), "scratch left behind");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_drill_killed_with_sigkill_left_the_next_drill_removes() {
    let (_f, path, scratch, pid_file) = fixture(false).await;
    let mut child = check_drill(&path);
    let pid = started(&pid_file).await;
    child.kill().unwrap();
    child.wait().unwrap();
    // Nothing was cleaned up: the stand-in lives on and its files stay.
    assert!(!gone(&pid));
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert_eq!(left.len(), 1);
    // The next drill, with Debian's redis-server: it restores, and nothing is left.
    let text = std::fs::read_to_string(&path).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("redis_server:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    let out = check_drill(&path).wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(empty(&scratch), "the killed drill's files are still there");
    assert!(gone(&pid), "the killed drill's server still runs");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
