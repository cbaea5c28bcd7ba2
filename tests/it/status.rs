//! The operator tools: the status page at `/` and per instance, and the `check`
//! subcommand of the real binary (table, JSON, exit codes) against the fake.

use std::process::{Command, Stdio};

use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Scenario};

use crate::helpers::*;

/// A fake with a healthy instance, a stale one and one whose name is markup.
async fn fleet() -> (
    cds_redis_backup_exporter::fake::FakeCds,
    cds_redis_backup_exporter::config::Config,
) {
    let now = now();
    let mut s = Scenario::new("AK", "SK");
    let mut ok = instance_with_one_backup("ins-ok");
    ok.name = "orders".into();
    let mut stale = FakeInstance::new("ins-stale", "carts", "redis-replication");
    stale.backups.push(FakeBackup::finished(
        "old",
        "",
        now - hours(50),
        now - hours(49),
        10,
    ));
    let mut evil = instance_with_one_backup("ins-evil");
    evil.name = "<script>alert(1)</script>".into();
    s.instances = vec![ok, stale, evil];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    (f, config(vec![a]))
}

#[tokio::test]
async fn the_status_page_lists_problems_first_and_escapes_names() {
    let (_f, c) = fleet().await;
    let exporter = Exporter::start(c).await;
    exporter.scrape_when_ready().await;
    let r = reqwest::get(format!("http://{}/", exporter.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains("3 instances: 2 healthy, 1 with critical problems, 0 with warnings"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script"), "markup from CDS must be text");
    let carts = page.find(">carts<").unwrap();
    let orders = page.find(">orders<").unwrap();
    assert!(carts < orders, "the stale instance comes first");
    // The policy engine's verdict, naming the alert that fires for it.
    let stale = page
        .find("the restore point old (data of ")
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        page[stale..].contains("is older than its allowed age 26h since ")
            && page[stale..].contains("(CdsRedisBackupNoRestorePoint)"),
        "{page}"
    );
    assert!(page.contains("href=\"/instance/ins%2Dstale\""));
    let (status, instance) = exporter.get("/instance/ins%2Dstale").await;
    assert_eq!(status, 200);
    assert!(instance.contains("<code>old</code>"), "{instance}");
    assert_eq!(exporter.get("/instance/nope").await.0, 404);
    exporter.stop().await;
}

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("check")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// The binary is waited for on this thread: the fake needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_problems_first_with_exit_codes() {
    let (f, c) = fleet().await;
    let dir = temp_dir();
    let config = write_config(&c, &dir, "2s");
    // Not verified: the fake's 10-byte objects would fail it; this is about the order
    // and the exit codes (tests/it/check_verify.rs is about verification).
    let (code, table, stderr) = check(&["--config.file", &config, "--no-verify"]);
    assert_eq!(code, 1, "{table}{stderr}");
    assert!(
        stderr.is_empty(),
        "no progress when stderr is not a terminal: {stderr}"
    );
    assert!(
        !table.contains('\u{1b}'),
        "no colour with NO_COLOR and no terminal"
    );
    let carts = table.find("carts").unwrap();
    let orders = table.find("orders").unwrap();
    assert!(carts < orders, "{table}");
    assert!(
        table.contains("3 instance(s): 2 healthy, 1 with critical problems"),
        "{table}"
    );

    let (code, json, _) = check(&["--config.file", &config, "--output", "json", "--no-verify"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema"], "cds-redis-backup-exporter/check/v1");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["summary"]["critical"], 1);
    assert_eq!(doc["instances"][0]["instance_name"], "carts");
    assert_eq!(
        doc["instances"][0]["shards"][0]["findings"][0]["severity"],
        "critical"
    );

    // Healthy: only the good instance.
    let mut healthy = Scenario::new("AK", "SK");
    let mut ok = instance_with_one_backup("ins-ok");
    ok.name = "orders".into();
    healthy.instances = vec![ok];
    f.set_scenario(healthy);
    // Its 10-byte object would fail verification: this is about the exit codes.
    assert_eq!(check(&["--config.file", &config, "--no-verify"]).0, 0);
    // Credentials refused.
    let mut refused = Scenario::new("AK-other", "SK");
    refused.instances = Vec::new();
    f.set_scenario(refused);
    assert_eq!(check(&["--config.file", &config]).0, 3);
    // A configuration problem, and a usage error.
    std::fs::write(dir.join("bad.yaml"), "poll: {intervall: 5m}\n").unwrap();
    let (code, _, err) = check(&["--config.file", dir.join("bad.yaml").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("intervall"), "{err}");
    assert_eq!(check(&["--output", "xml"]).0, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
