//! What an adversarial review broke (issue "Hardening, round 2"), one regression test
//! each: odd answers that must not wipe data, timestamps that cannot be true, fan-out
//! caps, reload abuse, password floods and connection floods.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::config::Config;
use cds_redis_backup_exporter::server::{Limits, WebConfig};
use cds_redis_backup_exporter::{Control, Loader};
use tokio::io::AsyncWriteExt as _;

use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Fault, FaultPlan, Scenario};

use crate::helpers::*;

fn raw_json(body: &str) -> Fault {
    Fault::Raw {
        http_status: 200,
        content_type: "application/json".into(),
        body: body.into(),
    }
}

/// `{"Code":"Success"}` with no `Data`, or `Data: null`, from any action is a decode
/// error for that call: the last values stay, with `up` 0, never an empty list.
#[tokio::test]
async fn success_without_data_keeps_the_last_values() {
    for body in [
        r#"{"Code":"Success"}"#,
        r#"{"Code":"Success","Message":"success","Data":null}"#,
    ] {
        let mut s = Scenario::new("AK", "SK");
        s.instances = vec![instance_with_one_backup("ins")];
        let f = fake(s.clone()).await;
        let mut a = account("a", &f, &s);
        a.discovery = discover_all();
        let d = Driver::new(&config(vec![a]));
        let before = d.cycle().await;
        let end = value(
            &before,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[],
        );
        f.set_faults(FaultPlan::always(raw_json(body)));
        let text = d.cycle().await;
        let discovery = "cds_redis_backup_exporter_discovery_up";
        assert_eq!(value(&text, discovery, &[("account", "a")]), 0.0, "{body}");
        let errors = "cds_redis_backup_exporter_api_errors_total";
        let decode = |action| value(&text, errors, &[("action", action), ("kind", "decode")]);
        assert_eq!(decode("DescribeDBInstances"), 1.0, "{body}");
        // Discovery failed, so the instance is polled from what it found last.
        assert_eq!(decode("DescribeBackups"), 1.0, "{body}");
        let up = |id| {
            value(
                &text,
                "cds_redis_backup_up",
                &[("instance_uuid", "ins"), ("backup_id", id)],
            )
        };
        assert_eq!(up(""), 0.0, "{body}");
        assert_eq!(
            value(
                &text,
                "cds_redis_instance_backups",
                &[("instance_uuid", "ins")]
            ),
            1.0,
            "{body}"
        );
        assert_eq!(
            value(
                &text,
                "cds_redis_backup_last_success_timestamp_seconds",
                &[]
            ),
            end,
            "{body}"
        );
        assert_eq!(
            select(
                &text,
                "cds_redis_instance_info",
                &[("instance_uuid", "ins")]
            )
            .len(),
            1,
            "{body}"
        );
    }
}

/// A finished backup dated 9999 is invalid, not the newest: staleness is measured from
/// the real newest one. Year 0000 and an end before the start are invalid too.
#[tokio::test]
async fn backups_with_impossible_times_never_become_the_newest() {
    let now = now();
    let far = chrono::DateTime::parse_from_rfc3339("9999-12-30T00:00:00Z")
        .unwrap()
        .to_utc();
    let year0 = chrono::DateTime::parse_from_rfc3339("0000-01-02T00:00:00Z")
        .unwrap()
        .to_utc();
    let mut i = FakeInstance::new("ins", "ins", "redis-replication");
    i.backups = vec![
        FakeBackup::finished("future", "", far, far + hours(1), 10),
        FakeBackup::finished("ancient", "", year0, year0 + hours(1), 10),
        FakeBackup::finished("backwards", "", now - hours(3), now - hours(4), 10),
        FakeBackup::finished("real", "", now - hours(31), now - hours(30), 10),
    ];
    let (_f, c) = watching(i).await;
    let text = Driver::new(&c).cycle().await;
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_last_success_timestamp_seconds",
            &[("instance_uuid", "ins")]
        ),
        (now - hours(30)).timestamp() as f64
    );
    for id in ["future", "ancient", "backwards"] {
        let up = [("instance_uuid", "ins"), ("backup_id", id)];
        assert_eq!(value(&text, "cds_redis_backup_up", &up), 0.0, "{id}");
        assert!(
            select(&text, "cds_redis_backup_duration_seconds", &up).is_empty(),
            "{id}"
        );
    }
    assert!(select(&text, "cds_redis_backup_duration_seconds", &[])
        .values()
        .all(|d| *d >= 0.0));
}

/// An instance listing 3,000 running backups costs at most
/// `poll.max_unfinished_backups` DownloadBackup calls a cycle, newest first; the rest
/// are counted.
#[tokio::test]
async fn unfinished_backups_looked_up_per_cycle_are_capped() {
    let now = now();
    let mut i = FakeInstance::new("ins", "ins", "redis-replication");
    i.backups = (0..3000)
        .map(|n| {
            FakeBackup::running(
                &format!("run-{n:04}"),
                "",
                now - chrono::Duration::minutes(n),
            )
        })
        .collect();
    i.backups.push(FakeBackup::finished(
        "done",
        "",
        now - hours(80),
        now - hours(79),
        10,
    ));
    let (f, c) = watching(i).await;
    let text = Driver::new(&c).cycle().await;
    let downloads: Vec<String> = f
        .requests()
        .into_iter()
        .filter(|r| r.action == "DownloadBackup")
        .map(|r| r.params["BackupId"].clone())
        .collect();
    // The 10 newest running ones, plus the finished one (its shard, then its state).
    assert_eq!(
        downloads.len(),
        11,
        "{:?}",
        &downloads[..20.min(downloads.len())]
    );
    assert!(downloads.contains(&"run-0000".to_owned()));
    assert!(downloads.contains(&"run-0009".to_owned()));
    assert!(!downloads.contains(&"run-0010".to_owned()));
    assert_eq!(
        value(
            &text,
            "cds_redis_backup_exporter_unfinished_backups_skipped_total",
            &[("account", "a")]
        ),
        2990.0
    );
    let running = select(&text, "cds_redis_backup_state", &[("state", "running")]);
    assert_eq!(running.values().sum::<f64>(), 10.0, "{running:?}");
}

fn lifecycle_web() -> WebConfig {
    WebConfig {
        enable_lifecycle: true,
        ..WebConfig::default()
    }
}

/// An exporter that reloads from `loader`, on `hup` (as SIGHUP) or over HTTP.
struct Running {
    e: Exporter,
    hup: tokio::sync::mpsc::Sender<()>,
}

impl Running {
    async fn start(config: Config, web: WebConfig, loader: Loader) -> Self {
        let (hup, signals) = tokio::sync::mpsc::channel(1);
        let control = Control {
            loader: Some(loader),
            reload_signals: Some(signals),
        };
        let e = Exporter::start_with(config, web, control).await;
        e.scrape_when_ready().await;
        Self { e, hup }
    }

    async fn post_reload(&self) -> u16 {
        reqwest::Client::new()
            .post(format!("http://{}/-/reload", self.e.addr))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Stops it and says how long `run_with` took to return.
    async fn stop(self) -> Duration {
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), self.e.stop())
            .await
            .expect("run_with returned");
        started.elapsed()
    }
}

/// Without `--web.enable-lifecycle`, POST /-/reload is refused and calls no API; with
/// it, a burst of reloads of an unchanged configuration starts no cycle early either.
#[tokio::test]
async fn reload_is_not_a_remote_api_call_amplifier() {
    let (f, c) = watching(instance_with_one_backup("ins")).await;
    let file = c.clone();
    let loads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&loads);
    let loader: Loader = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(file.clone())
    });
    let off = Running::start(c.clone(), WebConfig::default(), Arc::clone(&loader)).await;
    let calls = f.requests().len();
    for _ in 0..20 {
        assert_eq!(off.post_reload().await, 403);
    }
    assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 0);
    off.stop().await;

    let on = Running::start(c, lifecycle_web(), loader).await;
    let calls_after_start = f.requests().len();
    assert!(calls_after_start > calls);
    let client = reqwest::Client::new();
    let burst = (0..200).map(|_| {
        let client = client.clone();
        let url = format!("http://{}/-/reload", on.e.addr);
        async move { client.post(url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Coalesced: far fewer reloads than requests.
    let reloads = loads.load(std::sync::atomic::Ordering::SeqCst);
    assert!(reloads < 100, "{reloads} reloads for 200 requests");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        f.requests().len(),
        calls_after_start,
        "an unchanged configuration starts no cycle"
    );
    on.stop().await;
}

/// A reload's work runs off the thread that serves scrapes: a reload that takes 2 s
/// (bcrypt, a slow disk) leaves scrapes fast, and SIGTERM in the middle of a reload
/// that never ends still stops the exporter at once.
#[tokio::test]
async fn a_slow_or_stuck_reload_freezes_nothing() {
    let (_f, c) = watching(instance_with_one_backup("ins")).await;
    let file = c.clone();
    let (release, stuck) = std::sync::mpsc::channel::<()>();
    let stuck = Arc::new(std::sync::Mutex::new(stuck));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let slow_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (counted, done) = (Arc::clone(&calls), Arc::clone(&slow_done));
    let loader: Loader = Arc::new(move || {
        // The first reload is slow, the second never ends (until the test releases it).
        if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_secs(2));
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        } else {
            let _ = stuck.lock().unwrap().recv();
        }
        Ok(file.clone())
    });
    let r = Running::start(c, WebConfig::default(), loader).await;
    r.hup.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let mut took = Vec::new();
    let client = reqwest::Client::new();
    while !slow_done.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        let r = client
            .get(format!("http://{}/metrics", r.e.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took.sort();
    assert!(
        took.len() >= 10,
        "only {} scrapes during the reload",
        took.len()
    );
    // A frozen runtime shows as one scrape of ~2 s; the median bounds the usual case
    // without failing on one scrape delayed by other tests sharing the cores.
    let (median, slowest) = (took[took.len() / 2], took[took.len() - 1]);
    assert!(
        median < Duration::from_millis(100) && slowest < Duration::from_secs(1),
        "scrapes during a reload: median {median:?}, slowest {slowest:?}"
    );
    // The slow reload has finished; start one that hangs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    r.hup.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let took = r.stop().await;
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    let _ = release.send(());
}

/// 100 wrong passwords sent at once from one address do not make a valid user on
/// another address wait: that address may have only two checks pending, and the rest
/// are refused at once with 429.
///
/// Timing from several samples, so a loaded machine does not fail it: the unit is the
/// median of five lone checks, and the valid user's wait is the median of three rounds,
/// each a fresh flood and a user whose password was never checked (remembered
/// successes would answer at once).
#[tokio::test]
async fn a_password_flood_does_not_delay_a_valid_user() {
    const ROUNDS: usize = 3;
    let mut users = String::from("basic_auth_users:\n");
    for round in 0..ROUNDS {
        let hash = bcrypt::hash(format!("right-{round}"), 10).unwrap();
        users.push_str(&format!("  prom{round}: '{hash}'\n"));
    }
    let security = basic_auth(&users);
    let (_f, e) = secured_exporter(security, Limits::default()).await;
    let url = format!("http://{}/-/healthy", e.addr);
    // The unit: one check alone (a wrong password is never remembered), median of five.
    let mut alone = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = reqwest::Client::new()
            .get(&url)
            .basic_auth("prom0", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        alone.push(started.elapsed());
    }
    alone.sort();
    let one_check = alone[alone.len() / 2];
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 1]))
        .build()
        .unwrap();
    let valid = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let mut waits = Vec::new();
    for round in 0..ROUNDS {
        let flood: Vec<_> = (0..100)
            .map(|i| {
                let (attacker, url) = (attacker.clone(), url.clone());
                tokio::spawn(async move {
                    let r = attacker
                        .get(url)
                        .basic_auth("prom0", Some(format!("guess-{i}")))
                        .send()
                        .await
                        .unwrap();
                    r.status().as_u16()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let r = valid
            .get(&url)
            .basic_auth(format!("prom{round}"), Some(format!("right-{round}")))
            .send()
            .await
            .unwrap();
        waits.push(started.elapsed());
        assert_eq!(r.status(), 200, "round {round}");
        let mut statuses = Vec::new();
        for t in flood {
            statuses.push(t.await.unwrap());
        }
        let refused = statuses.iter().filter(|s| **s == 429).count();
        let denied = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(refused + denied, 100, "round {round}: {statuses:?}");
        assert!(refused >= 90, "round {round}: {refused} refused at once");
    }
    let mut sorted = waits.clone();
    sorted.sort();
    let waited = sorted[ROUNDS / 2];
    // At most the attacker's two pending checks, then its own, plus slack.
    assert!(
        waited < one_check * 4 + Duration::from_millis(200),
        "the valid user waited {waited:?} (median of {waits:?}); one check takes {one_check:?} (median of {alone:?})"
    );
    e.stop().await;
}

/// Past `--web.max-connections`, new connections wait in the backlog until one
/// closes; the limit is what bounds memory under a flood of half-open connections.
#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    let (_f, c) = watching(instance_with_one_backup("ins")).await;
    let web = WebConfig {
        limits: Limits {
            max_connections: 2,
            ..Limits::default()
        },
        ..WebConfig::default()
    };
    let e = Exporter::start_web(c, web).await;
    e.scrape_when_ready().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
        s.write_all(b"GET /-/healthy HTTP/1.1\r\n").await.unwrap();
        idle.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = e.addr;
    let waiting = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/-/healthy"))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the limit");
    drop(idle);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a place freed")
        .unwrap();
    assert_eq!(status, 200);
    e.stop().await;
}

/// A download URL that redirects in a loop is its own failure kind, not a vague
/// "request" error.
#[tokio::test]
async fn a_redirect_loop_is_reported_as_such() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::AsyncReadExt as _;
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let answer =
                        "HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n";
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let url =
        cds_redis_backup_exporter::cds::SecretUrl::new(format!("http://{addr}/backup.rdb?sig=x"));
    let http = cds_redis_backup_exporter::probe::client().unwrap();
    let result = cds_redis_backup_exporter::probe::probe(&http, &url, Duration::from_secs(5)).await;
    assert_eq!(result.status, 0);
    assert_eq!(
        result.failure,
        Some(cds_redis_backup_exporter::probe::ProbeFailure::Redirect)
    );
    server.abort();
}
