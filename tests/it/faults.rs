//! Bad answers from CDS: each becomes a clear, typed error for its one target, counted
//! under a stable code, while every other target is still served.

use std::time::Duration;

use cds_redis_backup_exporter::cds::{CdsError, Client};
use cds_redis_backup_exporter::fake::{FakeBackup, FakeInstance, Fault, Scenario};

use crate::helpers::*;

fn raw(status: u16, content_type: &str, body: &str) -> Option<Fault> {
    Some(Fault::Raw {
        http_status: status,
        content_type: content_type.into(),
        body: body.into(),
    })
}

/// One healthy backup and one per kind of bad answer.
fn scenario() -> Scenario {
    let now = now();
    let mut i = FakeInstance::new("ins", "x", "redis-replication");
    let cases = [
        ("good", None),
        (
            "cds-error",
            Some(Fault::Cds {
                http_status: 400,
                code: "InvalidParameter".into(),
                message: "BackupId is invalid".into(),
            }),
        ),
        (
            "html",
            raw(
                502,
                "text/html",
                "<html><body>502 Bad Gateway</body></html>",
            ),
        ),
        (
            "wrong-type",
            raw(
                200,
                "application/json",
                r#"{"Code":"Success","Message":"","Data":{"BackupId":"wrong-type","Status":"finished","BackupSize":{"n":1}}}"#,
            ),
        ),
        (
            "bad-time",
            raw(
                200,
                "application/json",
                r#"{"Code":"Success","Message":"","Data":{"BackupId":"bad-time","Status":"finished","StartTime":"yesterday"}}"#,
            ),
        ),
        ("not-json", raw(200, "application/json", "{not json")),
    ];
    for (id, fault) in cases {
        let mut b = FakeBackup::finished(id, "", now - hours(1), now, 10);
        b.download_fault = fault;
        i.backups.push(b);
    }
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![i];
    s
}

async fn client_for(s: &Scenario) -> (cds_redis_backup_exporter::fake::FakeCds, Client) {
    let f = fake(s.clone()).await;
    let a = account("f", &f, s);
    let c = Client::new(
        reqwest::Client::new(),
        &a.endpoint,
        a.access_key_id,
        a.access_key_secret,
        a.timezone,
        Duration::from_millis(500),
    );
    (f, c)
}

#[tokio::test]
async fn each_bad_answer_is_a_typed_error_with_status_code_and_message() {
    let s = scenario();
    let (_f, c) = client_for(&s).await;
    let err = |id: &'static str| {
        let c = c.clone();
        async move { c.download_backup("ins", id).await.unwrap_err() }
    };
    let e = err("cds-error").await;
    assert_eq!(
        e.to_string(),
        "DownloadBackup: CDS answered InvalidParameter: BackupId is invalid (HTTP 400)"
    );
    assert_eq!(e.code(), "InvalidParameter");
    let e = err("html").await;
    assert_eq!(
        e.to_string(),
        "DownloadBackup: HTTP 502 with a text/html body of 41 bytes, not a CDS JSON answer"
    );
    assert_eq!(e.code(), "http_error");
    let e = err("wrong-type").await;
    assert_eq!(e.to_string(), "DownloadBackup: cannot decode the answer (HTTP 200): field BackupSize: expected a number or a string, got an object");
    assert_eq!(e.code(), "decode_error");
    let e = err("bad-time").await;
    assert_eq!(e.to_string(), "DownloadBackup: cannot decode the answer (HTTP 200): field StartTime: expected \"YYYY-MM-DD HH:MM:SS\", got \"yesterday\"");
    let e = err("not-json").await;
    assert!(
        matches!(
            e,
            CdsError::Decode {
                http_status: 200,
                ..
            }
        ),
        "{e}"
    );
    let e = c
        .download_backup("ins", "no-such-backup")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CdsError::Api { http_status: 404, code, .. } if code == "ResourceNotFound"),
        "{e}"
    );
    assert!(c.download_backup("ins", "good").await.is_ok());
}

#[tokio::test]
async fn wrong_secret_is_rejected_by_the_fake_and_counted_by_code() {
    let s = scenario();
    let f = fake(s.clone()).await;
    let mut a = account("f", &f, &s);
    a.access_key_secret = cds_redis_backup_exporter::cds::Secret::new("wrong".into());
    a.backups = vec![backup_target("ins", "good")];
    let t = Driver::new(&config(vec![a])).cycle().await;
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_exporter_api_requests_total",
            &[("code", "SignatureDoesNotMatch")]
        ),
        1.0
    );
    assert_eq!(
        value(&t, "cds_redis_backup_up", &[("backup_id", "good")]),
        0.0
    );
    assert_eq!(
        f.requests()[0].rejection_code.as_deref(),
        Some("SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn one_bad_target_never_stops_the_others() {
    let s = scenario();
    let f = fake(s.clone()).await;
    let mut a = account("f", &f, &s);
    a.backups = [
        "good",
        "cds-error",
        "html",
        "wrong-type",
        "bad-time",
        "not-json",
    ]
    .iter()
    .map(|id| backup_target("ins", id))
    .collect();
    let t = Driver::new(&config(vec![a])).cycle().await;
    assert_eq!(
        value(&t, "cds_redis_backup_up", &[("backup_id", "good")]),
        1.0
    );
    assert_eq!(
        value(
            &t,
            "cds_redis_backup_download_url_reachable",
            &[("backup_id", "good")]
        ),
        1.0
    );
    for id in ["cds-error", "html", "wrong-type", "bad-time", "not-json"] {
        assert_eq!(
            value(&t, "cds_redis_backup_up", &[("backup_id", id)]),
            0.0,
            "{id}"
        );
        assert!(
            select(&t, "cds_redis_backup_state", &[("backup_id", id)]).is_empty(),
            "{id}"
        );
    }
    let code = |c: &str| {
        value(
            &t,
            "cds_redis_backup_exporter_api_requests_total",
            &[("code", c)],
        )
    };
    assert_eq!(
        (
            code("Success"),
            code("InvalidParameter"),
            code("http_error"),
            code("decode_error")
        ),
        (1.0, 1.0, 1.0, 3.0)
    );
    assert_eq!(
        value(&t, "cds_redis_backup_exporter_last_poll_success", &[]),
        0.0
    );
}

#[tokio::test]
async fn silent_and_absent_apis_are_timeout_and_transport_errors() {
    let (silent_addr, hold) = silent_server().await;
    let closed_port = closed_port().await;
    let s = Scenario::new("AK", "SK");
    let c = |base: String| {
        Client::new(
            reqwest::Client::new(),
            &reqwest::Url::parse(&base).unwrap(),
            "AK".into(),
            cds_redis_backup_exporter::cds::Secret::new("SK".into()),
            s.timezone,
            Duration::from_millis(300),
        )
    };
    let e = c(format!("http://{silent_addr}"))
        .describe_backups("ins")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "DescribeBackups: no answer within 300ms");
    assert_eq!(e.code(), "timeout");
    let e = c(format!("http://127.0.0.1:{closed_port}"))
        .describe_backups("ins")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "transport_error");
    assert!(
        e.to_string()
            .starts_with("DescribeBackups: request failed: error sending request"),
        "{e}"
    );
    assert!(!e.to_string().contains("Signature"), "{e}");
    hold.abort();
}
