//! `check --drill <instance_uuid>` (issue 22, item 5): the binary against the fake CDS
//! and a real `redis-server`, with `drill.enabled` left false. A dump that restores
//! exits 0 and prints Redis' key count beside the verifier's and the memory against
//! the instance's Ram; a failed data check exits 1 with what failed; a cut dump exits 1
//! with Redis' own line; an instance no account lists exits 2, an unreachable CDS 3;
//! the scratch directory is empty after each. Without `redis-server` these tests fail.

use std::path::Path;
use std::process::{Command, Stdio};

use cds_redis_backup_exporter::fake::{dumps, FakeObject, Scenario};

use crate::helpers::*;

fn require_redis_server() {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("redis-server").is_file()));
    assert!(
        found,
        "redis-server is not on PATH: `check --drill` is tested against a real one (Debian/Ubuntu: apt-get install redis-server)"
    );
}

/// `check --drill uuid` with `extra` args: (status, stdout, stderr).
fn drill(config: &str, uuid: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["check", "--config.file", config, "--drill", uuid])
        .args(extra)
        .env("NO_COLOR", "1")
        .env_remove("CDS_EXPORTER_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// The scratch directory of the test whose directory is `dir`: a short path under /tmp
/// named after it.
fn scratch_of(dir: &Path) -> std::path::PathBuf {
    let name = dir.file_name().unwrap().to_str().unwrap();
    std::env::temp_dir().join(format!("cdrill-{}", &name[name.len() - 12..]))
}

/// The fake with three instances, and a config discovering them whose `drill:` (not
/// enabled) wants 50 keys in db 0 of `drill-few` and `drill-ok`.
async fn fleet(dir: &Path) -> (cds_redis_backup_exporter::fake::FakeCds, String) {
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![
        holding(
            "drill-ok",
            FakeObject::Data(dumps::with_keys(50, 20).into()),
            None,
        ),
        holding(
            "drill-few",
            FakeObject::Data(dumps::with_keys(5, 20).into()),
            None,
        ),
        holding(
            "drill-cut",
            FakeObject::Data(dumps::cut_short(4096, 7).into()),
            None,
        ),
    ];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    let path = write_config(&config(vec![a]), dir, "5s");
    // Short: the scratch server's unix socket path must stay under 108 bytes.
    let scratch = scratch_of(dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += &format!(
        "verify: {{url_types: [public]}}\ndrill:\n  enabled: false\n  scratch_dir: {}\n  rules:\n    - instance_name: \"*\"\n      min_keys: [{{db: 0, count: 50}}]\n",
        scratch.display()
    );
    std::fs::write(&path, text).unwrap();
    (f, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_that_restores_exits_0_with_its_measurements() {
    require_redis_server();
    let dir = temp_dir();
    let (_f, config) = fleet(&dir).await;
    let (code, out, err) = drill(&config, "drill-ok", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "restore drill of drill-ok (drill-ok)", "{out}");
    assert_eq!(lines[1], "backup:    bk-drill-ok (shard -)", "{out}");
    assert_eq!(lines[2], "result:    ok", "{out}");
    assert!(
        lines[3].starts_with("download:  ") && lines[3].ends_with(" s (1.6 KiB)"),
        "{out}"
    );
    assert!(lines[4].starts_with("load:      "), "{out}");
    assert!(lines[5].ends_with(" s (download + load)"), "{out}");
    assert_eq!(
        lines[6],
        "keys:      50 loaded by redis-server, 50 counted by the verifier (0 with an expiry)"
    );
    assert!(
        lines[7].starts_with("memory:    ")
            && lines[7].contains(" of 1.0 GiB (")
            && lines[7].ends_with("(used_memory after the load / the instance's Ram)"),
        "{out}"
    );
    assert_eq!(lines.len(), 8, "{out}");
    assert!(empty(&scratch_of(&dir)), "scratch left behind");

    let (code, out, err) = drill(&config, "drill-ok", &["--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["backup_id"], "bk-drill-ok");
    assert_eq!(doc["result"]["outcome"], "ok");
    assert_eq!(doc["result"]["keys_redis"], 50);
    assert_eq!(doc["result"]["keys_verifier"], 50);
    assert_eq!(doc["result"]["instance_ram"], 1u64 << 30);
    assert!(doc["result"]["used_memory"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(scratch_of(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_drills_exit_1_with_what_failed_and_redis_own_line() {
    require_redis_server();
    let dir = temp_dir();
    let (_f, config) = fleet(&dir).await;
    let (code, out, err) = drill(&config, "drill-few", &[]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[2], "result:    data_check_failed", "{out}");
    assert_eq!(
        lines[3], "detail:    db 0 holds 5 keys, fewer than 50",
        "{out}"
    );
    assert!(empty(&scratch_of(&dir)), "scratch left behind");

    let (code, out, err) = drill(&config, "drill-cut", &[]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[2], "result:    load_failed", "{out}");
    assert!(
        lines[3].starts_with("redis:     ") && lines[3].len() > "redis:     ".len() + 5,
        "{out}"
    );
    assert!(empty(&scratch_of(&dir)), "scratch left behind");
    let _ = std::fs::remove_dir_all(scratch_of(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_instance_exits_2_and_an_unreachable_cds_3() {
    let dir = temp_dir();
    let (_f, config) = fleet(&dir).await;
    let (code, out, err) = drill(&config, "nope", &[]);
    assert_eq!(
        (code, out.as_str(), err.trim_end()),
        (2, "", "error: no configured account lists instance nope")
    );
    // Nothing listens on the port a dropped listener had.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&config).unwrap();
    let endpoint = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("endpoint: "))
        .unwrap()
        .to_owned();
    std::fs::write(
        &config,
        text.replace(&endpoint, &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let (code, out, err) = drill(&config, "drill-ok", &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(out, "");
    assert!(
        err.starts_with("error: cannot see account(s) a (CDS unreachable or credentials refused)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(scratch_of(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}
