//! Presigned URLs and the access key secret never reach `/metrics` or the logs: the
//! real binary, logging at trace level (this crate; dependencies log from warn up, as
//! always), polls the demo scenario — every kind of URL outcome (200, 403, 404, no URL)
//! — with its first API requests failing, so errors and retries are logged too.

use std::process::Stdio;
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::fake::{Fault, FaultPlan, Scenario};

use crate::helpers::*;

#[tokio::test]
async fn no_url_query_string_or_secret_in_metrics_or_logs() {
    let s = Scenario::demo(now());
    let f = fake(s.clone()).await;
    f.set_faults(FaultPlan {
        faults: vec![
            Fault::Raw {
                http_status: 502,
                content_type: "text/html".into(),
                body: "<html>Bad Gateway</html>".into(),
            },
            Fault::Throttled {
                retry_after: Some("0".into()),
            },
            Fault::Reset,
        ],
        probability: 1.0,
        remaining: Some(6),
    });
    let dir = temp_dir();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "poll:\n  interval: 1h\n  start_jitter: 0s\n  max_retries: 8\n  retry_backoff: 10ms\n\
             accounts:\n  - name: demo\n    endpoint: {}\n    access_key_id: {}\n    access_key_secret: {}\n    timezone: \"+08:00\"\n    discovery: {{}}\n",
            f.base_url(),
            s.access_key_id,
            s.access_key_secret
        ),
    )
    .unwrap();
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let p = Process::start(&config, &["--log.level", "trace"], Stdio::from(log));
    let started = Instant::now();
    let metrics = loop {
        let url = format!("http://{}/-/ready", p.addr);
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            let url = format!("http://{}/metrics", p.addr);
            break reqwest::get(&url).await.unwrap().text().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    p.signal("TERM");
    assert_eq!(p.exit(Duration::from_secs(8)).await.code(), Some(0));
    let logs = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    assert!(
        logs.contains("download URL probe failed"),
        "the probe failures were logged:\n{logs}"
    );
    assert_eq!(f.faults_served(), 6);
    assert!(logs.contains("CDS call failed; retrying"), "{logs}");
    assert!(metrics.contains("cds_redis_backup_download_url_status_code"));
    for (what, text) in [("metrics", &metrics), ("logs", &logs)] {
        for secret in [
            f.url_token(),
            s.access_key_secret.clone(),
            "token=".to_owned(),
            "Expires=".to_owned(),
            "/objects/".to_owned(),
            format!("AccessKeyId={}", s.access_key_id),
        ] {
            assert!(!text.contains(&secret), "{what} contain {secret:?}");
        }
        // Request URLs are logged at debug level, with the signature redacted.
        for (i, _) in text.match_indices("Signature=") {
            assert!(
                text[i..].starts_with("Signature=REDACTED"),
                "{what} contain a signature: {}",
                &text[i..(i + 40).min(text.len())]
            );
        }
    }
    assert!(
        logs.contains("Signature=REDACTED"),
        "request URLs were logged"
    );
    for r in f.requests() {
        let sig = &r.params["Signature"];
        let encoded = cds_redis_backup_exporter::cds::sign::encode(sig);
        assert!(!logs.contains(sig.as_str()) && !logs.contains(&encoded));
    }
}
