//! Presigned URLs and the access key secret never reach `/metrics` or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use cds_redis_backup_exporter::fake::{Fault, FaultPlan, Scenario};

use crate::helpers::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The demo scenario has every kind of URL outcome (200, 403, 404, no URL); run it with
/// this crate logging at trace level, its first API requests failing (so errors and
/// retries are logged too), and check both outputs.
#[tokio::test]
async fn no_url_query_string_or_secret_in_metrics_or_logs() {
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::registry()
        .with(cds_redis_backup_exporter::log_filter(tracing::Level::TRACE))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .with_ansi(false),
        );
    // A current-thread runtime runs every spawned task on this thread, under this default.
    let _guard = tracing::subscriber::set_default(subscriber);

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
    let mut a = account("demo", &f, &s);
    a.discovery = discover_all();
    let mut c = config(vec![a]);
    c.poll.max_retries = 8;
    let exporter = Exporter::start(c).await;
    let metrics = exporter.scrape_when_ready().await;
    exporter.stop().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
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
