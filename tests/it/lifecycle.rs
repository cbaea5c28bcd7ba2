//! The exporter's lifecycle: reloads (POST /-/reload, SIGHUP) that take a good new
//! configuration and refuse a bad one, `--config.check`, and shutdown that is prompt
//! even with a CDS call hanging.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::Config;
use cds_redis_backup_exporter::fake::{FakeCds, Fault, FaultPlan, Scenario};
use cds_redis_backup_exporter::server::WebConfig;
use cds_redis_backup_exporter::web_config::WebSecurity;
use cds_redis_backup_exporter::{Control, Loader};

use crate::helpers::*;

/// Instances `ins-1` and `ins-2`, one finished backup each.
fn scenario() -> Scenario {
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![
        instance_with_one_backup("ins-1"),
        instance_with_one_backup("ins-2"),
    ];
    s
}

/// A config file watching `instances` on `fake`.
fn yaml(fake: &FakeCds, instances: &[&str], extra_poll: &str) -> String {
    let list: String = instances
        .iter()
        .map(|u| format!("      - instance_uuid: {u}\n"))
        .collect();
    format!(
        "poll:\n  interval: 1h\n  start_jitter: 0s\n  max_retries: 0\n{extra_poll}\
         accounts:\n  - name: a\n    endpoint: {}\n    access_key_id: AK\n    access_key_secret: SK\n    instances:\n{list}",
        fake.base_url()
    )
}

fn no_env(_: &str) -> Option<String> {
    None
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(addr: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let r = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

fn watched(text: &str) -> Vec<String> {
    select(text, "cds_redis_backup_up", &[("backup_id", "")])
        .into_keys()
        .collect()
}

/// `run_with` on loopback, reloading from `path`; stopped by [`Reloadable::stop`].
struct Reloadable {
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Reloadable {
    /// With the lifecycle API on, and `web` otherwise.
    async fn start(config: Config, mut web: WebConfig, path: &Path) -> Self {
        web.enable_lifecycle = true;
        let file = path.to_owned();
        let loader: Loader = Arc::new(move || Config::load(&file, &no_env));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let control = Control {
            loader: Some(loader),
            reload_signals: None,
        };
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(cds_redis_backup_exporter::run_with(
            config,
            cds_redis_backup_exporter::partition::Partition::default(),
            web,
            control,
            listener,
            shutdown,
        ));
        Self { addr, stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn reload_takes_a_good_config_and_refuses_a_bad_one() {
    let s = scenario();
    let f = fake(s).await;
    let dir = temp_dir();
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml(&f, &["ins-1"], "")).unwrap();
    let config = Config::load(&path, &no_env).unwrap();
    let r = Reloadable::start(config, WebConfig::default(), &path).await;
    let addr = r.addr.clone();
    let metrics = || async { get(&addr, "/metrics").await.unwrap().1 };
    wait_for("the first cycle", async || {
        watched(&metrics().await).len() == 1
    })
    .await;
    let text = metrics().await;
    let ok = "cds_redis_backup_exporter_config_last_reload_successful";
    let at = "cds_redis_backup_exporter_config_last_reload_success_timestamp_seconds";
    assert_eq!(value(&text, ok, &[]), 1.0);
    let loaded_at = value(&text, at, &[]);

    // A good new config: taken at once, and its first cycle runs right away.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&path, yaml(&f, &["ins-1", "ins-2"], "")).unwrap();
    assert_eq!(
        post(&addr, "/-/reload").await,
        (200, "Configuration reloaded\n".into())
    );
    wait_for("the new instance", async || {
        watched(&metrics().await).len() == 2
    })
    .await;
    let text = metrics().await;
    assert_eq!(value(&text, ok, &[]), 1.0);
    assert!(value(&text, at, &[]) > loaded_at);

    // A bad one: refused, the running one stays. The reasons name files, so they go
    // to the log, not to a caller nobody authenticated.
    std::fs::write(&path, yaml(&f, &["ins-1"], "  intervall: 5m\n")).unwrap();
    let (status, body) = post(&addr, "/-/reload").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "failed to reload config; the reasons are in the exporter's log\n"
    );
    let text = metrics().await;
    assert_eq!(value(&text, ok, &[]), 0.0);
    assert!(
        value(&text, at, &[]) > loaded_at,
        "the last success is kept"
    );
    assert_eq!(watched(&text).len(), 2, "still the previous configuration");

    assert_eq!(get(&addr, "/-/reload").await.unwrap().0, 405);
    r.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// GET with basic auth as `user:password`; the status.
async fn get_as(addr: &str, path: &str, user: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn reload_reads_the_web_config_file_again() {
    let f = fake(scenario()).await;
    let dir = temp_dir();
    let (path, web) = (dir.join("config.yaml"), dir.join("web.yml"));
    std::fs::write(&path, yaml(&f, &["ins-1"], "")).unwrap();
    let users = |password: &str| {
        format!(
            "basic_auth_users:\n  alice: '{}'\n",
            bcrypt::hash(password, 4).unwrap()
        )
    };
    std::fs::write(&web, users("one")).unwrap();
    let config = Config::load(&path, &no_env).unwrap();
    let settings = WebConfig {
        security: Arc::new(WebSecurity::load(&web).unwrap()),
        security_file: Some(web.clone()),
        ..WebConfig::default()
    };
    let r = Reloadable::start(config, settings, &path).await;
    let addr = r.addr.clone();
    assert_eq!(get_as(&addr, "/-/healthy", "alice", "one").await, 200);
    assert_eq!(get_as(&addr, "/-/healthy", "alice", "two").await, 401);

    std::fs::write(&web, users("two")).unwrap();
    let reload = reqwest::Client::new()
        .post(format!("http://{addr}/-/reload"))
        .basic_auth("alice", Some("one"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 200);
    assert_eq!(get_as(&addr, "/-/healthy", "alice", "two").await, 200);
    assert_eq!(get_as(&addr, "/-/healthy", "alice", "one").await, 401);

    // A broken web config is refused as a whole: the old users stay.
    std::fs::write(&web, "basic_auth_users:\n  alice: not-a-hash\n").unwrap();
    let reload = reqwest::Client::new()
        .post(format!("http://{addr}/-/reload"))
        .basic_auth("alice", Some("two"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status().as_u16(), 500);
    let body = reload.text().await.unwrap();
    assert!(
        body.contains("basic_auth_users.alice: not a bcrypt hash"),
        "{body}"
    );
    assert_eq!(get_as(&addr, "/-/healthy", "alice", "two").await, 200);
    r.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn reload_without_a_config_file_fails_cleanly() {
    let s = scenario();
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = vec!["ins-1".into()];
    let web = WebConfig {
        enable_lifecycle: true,
        ..WebConfig::default()
    };
    let e = Exporter::start_web(config(vec![a]), web).await;
    e.scrape_when_ready().await;
    let (status, body) = post(&e.addr.to_string(), "/-/reload").await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        "failed to reload config; the reasons are in the exporter's log\n"
    );
    e.stop().await;
}

#[tokio::test]
async fn shutdown_is_prompt_with_a_call_hanging() {
    let s = scenario();
    let f = fake(s.clone()).await;
    f.set_faults(FaultPlan::always(Fault::Hang));
    let mut a = account("a", &f, &s);
    a.instances = vec!["ins-1".into()];
    let mut c = config(vec![a]);
    c.poll.request_timeout = Duration::from_secs(600);
    let e = Exporter::start(c).await;
    wait_for("a hanging call", async || f.faults_served() >= 1).await;
    // The server answers while the poll cycle hangs.
    assert_eq!(e.get("/-/healthy").await.0, 200);
    assert_eq!(e.get("/-/ready").await.0, 503);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), e.stop())
        .await
        .expect("run() returned within 5 s");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_exits_zero_with_a_call_hanging() {
    let s = scenario();
    let f = fake(s).await;
    let dir = temp_dir();
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml(&f, &["ins-1"], "")).unwrap();
    let p = Process::start(&path, &[], Stdio::null());
    let addr = p.addr.clone();
    let metrics = || async {
        get(&addr, "/metrics")
            .await
            .map(|r| r.1)
            .unwrap_or_default()
    };
    wait_for("the first cycle", async || {
        watched(&metrics().await).len() == 1
    })
    .await;

    std::fs::write(
        &path,
        yaml(&f, &["ins-1", "ins-2"], "  request_timeout: 10m\n"),
    )
    .unwrap();
    p.signal("HUP");
    wait_for("the reload", async || watched(&metrics().await).len() == 2).await;

    // Every call hangs from now on; a reload that changes something starts a cycle
    // that hangs (an unchanged one would not start a cycle at all).
    f.set_faults(FaultPlan::always(Fault::Hang));
    let served = f.faults_served();
    std::fs::write(
        &path,
        yaml(
            &f,
            &["ins-1", "ins-2"],
            "  request_timeout: 10m\n  max_shard_lookups: 9\n",
        ),
    )
    .unwrap();
    p.signal("HUP");
    wait_for("a hanging call", async || f.faults_served() > served).await;
    p.signal("TERM");
    let status = p.exit(Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn config_check_exits_0_or_1_with_a_report() {
    let s = scenario();
    let f = fake(s).await;
    let dir = temp_dir();
    let good = dir.join("good.yaml");
    std::fs::write(&good, yaml(&f, &["ins-1"], "")).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        yaml(&f, &["ins-1"], "  intervall: 5m\n  concurrency: 0\n"),
    )
    .unwrap();
    let run = |path: &Path| {
        Command::new(BIN)
            .args(["--config.check", "--config.file", path.to_str().unwrap()])
            .env_remove("CDS_ACCESS_KEY_ID")
            .env_remove("CDS_ACCESS_KEY_SECRET")
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("{}: valid\n", good.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("SK"), "{stdout}");

    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("poll.intervall"), "{stderr}");
    assert!(stderr.contains("poll.concurrency"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = run(&dir.join("missing.yaml"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot read config file"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
