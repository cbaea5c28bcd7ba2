//! Regression tests of issue 19 ("Hardening, round 3") on the web side: status pages
//! that cannot be used to starve health checks, browser caching of status pages, and
//! password checks that stay fair when a flood comes from many addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::fake::Scenario;
use cds_redis_backup_exporter::server::Limits;

use crate::helpers::*;

/// Held by the two load tests of this file, so that neither measures under the
/// other's load.
static LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The exporter on a current-thread runtime of its own, as the binary runs it, so the
/// clients of a test cannot hide (or cause) head-of-line blocking on its thread.
struct OwnThread {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnThread {
    fn start(config: cds_redis_backup_exporter::config::Config) -> Self {
        let (ready, addr) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let e = Exporter::start(config).await;
                ready.send(e.addr).unwrap();
                let _ = stopped.await;
                e.stop().await;
            });
        });
        Self {
            addr: addr.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Waits (bounded) until `/-/ready` answers 200.
async fn wait_ready(addr: SocketAddr, within: Duration) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    while started.elapsed() < within {
        if let Ok(r) = client.get(format!("http://{addr}/-/ready")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("exporter not ready after {within:?}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// 64 clients looping on `/instance/<unknown>` against 2,000 instances used to build
/// the whole fleet report for each 404 on the runtime thread, so `/-/healthy` waited
/// behind dozens of them (2.7 s p50 at 10,000 instances). An unknown instance is now
/// a map lookup, and pages are rendered once per snapshot off that thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_stay_fast_under_a_flood_of_unknown_instance_pages() {
    let _alone = LOAD.lock().await;
    let scenario = Scenario::scaled(now(), 2000, 1, Duration::ZERO);
    let f = fake(scenario.clone()).await;
    let mut a = account("bench", &f, &scenario);
    a.discovery = discover_all();
    let mut c = config(vec![a]);
    c.poll.concurrency = 64;
    c.poll.max_response_bytes = 256 << 20;
    let e = OwnThread::start(c);
    let addr = e.addr;
    wait_ready(addr, Duration::from_secs(120)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..64)
        .map(|_| {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let r = client
                        .get(format!("http://{addr}/instance/nope"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 404);
                    let _ = r.bytes().await.unwrap();
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = reqwest::Client::new();
    let mut samples = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(20),
            probe.get(format!("http://{addr}/-/healthy")).send(),
        )
        .await
        .map(|r| r.unwrap().status().as_u16());
        samples.push(started.elapsed());
        assert_eq!(r, Ok(200), "after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.await.unwrap();
    }
    let flooded = answered.load(Ordering::Relaxed);
    let p50 = median(samples.clone());
    assert!(flooded >= 64, "the flood got only {flooded} answers");
    assert!(
        p50 < Duration::from_millis(250),
        "/-/healthy p50 {p50:?} under the flood ({flooded} 404s answered); samples {samples:?}"
    );
    eprintln!("/-/healthy p50 {p50:?} under the flood ({flooded} 404s answered)");
    e.stop();
}

/// Status pages (and the other non-metrics answers) say `Cache-Control: no-store`:
/// they describe the fleet now, and may be behind basic auth.
#[tokio::test]
async fn status_pages_are_not_kept_by_browsers_or_proxies() {
    let (_f, c) = watching(instance_with_one_backup("ins-cc")).await;
    let e = Exporter::start(c).await;
    e.scrape_when_ready().await;
    for (path, status) in [
        ("/", 200),
        ("/instance/ins-cc", 200),
        ("/instance/nope", 404),
        ("/nope", 404),
        ("/-/healthy", 200),
        ("/-/ready", 200),
    ] {
        let r = reqwest::get(format!("http://{}{path}", e.addr))
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path}"
        );
    }
    e.stop().await;
}

/// One request with these credentials from `from`: (status, time to the answer).
async fn timed(url: &str, from: IpAddr, user: &str, password: &str) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.get(url).basic_auth(user, Some(password)).send(),
    )
    .await;
    let status = match r {
        Ok(Ok(r)) => r.status().as_u16(),
        _ => 0,
    };
    (status, started.elapsed())
}

/// 75 loopback addresses, each keeping two wrong passwords pending (the most one
/// address may), used to queue 150 bcrypt checks ahead of a valid user (8.3 s). Checks
/// are now granted to the address served least recently, newcomers first, so a valid
/// user's first request waits for about one check in progress, then its own.
#[tokio::test]
async fn a_password_flood_from_many_addresses_does_not_delay_a_valid_user() {
    let _alone = LOAD.lock().await;
    let mut users = String::from("basic_auth_users:\n");
    users.push_str(&format!(
        "  prom: '{}'\n",
        bcrypt::hash("right", 10).unwrap()
    ));
    for k in 0..5 {
        users.push_str(&format!(
            "  user{k}: '{}'\n",
            bcrypt::hash(format!("right-{k}"), 10).unwrap()
        ));
    }
    let security = basic_auth(&users);
    let (_f, e) = secured_exporter(security, Limits::default()).await;
    let url = format!("http://{}/-/healthy", e.addr);
    // One check alone: the unit of the bound.
    let (status, one_check) = timed(&url, Ipv4Addr::new(127, 0, 0, 1).into(), "prom", "no").await;
    assert_eq!(status, 401);

    let stop = Arc::new(AtomicBool::new(false));
    let denied = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for a in 0..75u8 {
        for n in 0..2 {
            let (stop, denied, url) = (Arc::clone(&stop), Arc::clone(&denied), url.clone());
            flood.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .local_address(IpAddr::from(Ipv4Addr::new(127, 0, 0, 10 + a)))
                    .build()
                    .unwrap();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let r = client
                        .get(&url)
                        .basic_auth("prom", Some(format!("guess-{a}-{n}-{i}")))
                        .send()
                        .await;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(401) => {
                            denied.fetch_add(1, Ordering::Relaxed);
                        }
                        // Refused at once (429): do not spin on the test's thread.
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }));
        }
    }
    // The flood in full swing: every address has checks queued, and checks of it are
    // being answered.
    let started = Instant::now();
    while denied.load(Ordering::Relaxed) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the flood is not being checked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::new();
    for k in 0..5u8 {
        let from = IpAddr::from(Ipv4Addr::new(127, 0, 1, 1 + k));
        let (status, waited) = timed(&url, from, &format!("user{k}"), &format!("right-{k}")).await;
        assert_eq!(status, 200, "user{k} after {waited:?}");
        samples.push(waited);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in &flood {
        t.abort();
    }
    let p50 = median(samples.clone());
    let worst = samples.iter().max().copied().unwrap_or_default();
    // About the check in progress, then its own; before, the whole queue (150 checks).
    assert!(
        p50 < one_check * 4 + Duration::from_millis(200),
        "valid users waited {samples:?} (p50 {p50:?}); one check takes {one_check:?}"
    );
    assert!(
        worst < one_check * 8 + Duration::from_secs(2),
        "valid users waited {samples:?}; one check takes {one_check:?}"
    );
    eprintln!("valid users waited {samples:?} (p50 {p50:?}); one check takes {one_check:?}");
    e.stop().await;
}
