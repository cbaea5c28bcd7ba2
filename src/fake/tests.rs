//! Shared loopback test support for the fake, plus the tests of request checking,
//! routing and lifecycle. What a real client sees is what the exporter's tests rely
//! on, so everything goes through reqwest and a real socket.

use super::*;
use chrono::{DateTime, Duration};
use serde_json::Value;

pub(super) const KEY: &str = "AKTEST";
pub(super) const SECRET: &str = "SKTEST-secret";
pub(super) const UUID_A: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
pub(super) const UUID_B: &str = "1f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
pub(super) const UUID_C: &str = "2f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

/// The common parameters of a fresh, correctly timed request.
pub(super) fn params(action: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    [
        ("Action", action),
        ("AccessKeyId", KEY),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce.as_str()),
        ("Timestamp", now.as_str()),
        ("Version", "2019-08-08"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Signs `p` with `secret` and builds the URL as the exporter's client does.
pub(super) fn signed_url(base: &str, secret: &str, mut p: BTreeMap<String, String>) -> String {
    let sig = crate::cds::sign::signature(secret, &p);
    p.insert("Signature".into(), sig);
    let enc = crate::cds::sign::encode;
    let q: Vec<String> = p
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    format!("{base}/redis/?{}", q.join("&"))
}

pub(super) struct Harness {
    pub(super) fake: FakeCds,
    pub(super) http: reqwest::Client,
}

type Got = (u16, reqwest::header::HeaderMap, Vec<u8>);

impl Harness {
    pub(super) async fn new(scenario: Scenario) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeCds::start(listener, scenario).await.unwrap();
        let http = reqwest::Client::new();
        Harness { fake, http }
    }

    pub(super) async fn get(&self, url: &str, range: Option<&str>) -> Got {
        let mut req = self.http.get(url);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    pub(super) async fn send(&self, p: BTreeMap<String, String>) -> (u16, Value) {
        let url = signed_url(&self.fake.base_url(), SECRET, p);
        let (status, _, body) = self.get(&url, None).await;
        (status, serde_json::from_slice(&body).unwrap())
    }

    pub(super) async fn call(&self, action: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        self.send(params(action, extra)).await
    }

    /// The HTTP status and CDS `Code` of a call.
    pub(super) async fn code(&self, action: &str, extra: &[(&str, &str)]) -> (u16, String) {
        let (status, v) = self.call(action, extra).await;
        (status, v["Code"].as_str().unwrap().to_owned())
    }

    pub(super) async fn download(&self, uuid: &str, id: &str) -> (u16, Value) {
        let extra = [("InstanceUuid", uuid), ("BackupId", id)];
        self.call("DownloadBackup", &extra).await
    }

    pub(super) async fn object_url(&self, uuid: &str, id: &str) -> String {
        let (_, v) = self.download(uuid, id).await;
        v["Data"]["BackupDownloadUrl"].as_str().unwrap().to_owned()
    }
}

pub(super) fn t(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
}

/// A: replication with a string size, a running and a faulty backup; B: cluster whose
/// shards serve fine / expired / missing objects; C: DescribeBackups hits a proxy page.
pub(super) fn small() -> Scenario {
    let fin = |id: &str, shard: &str, start: &str, size| {
        let start = t(start);
        FakeBackup::finished(id, shard, start, start + Duration::minutes(3), size)
    };
    let mut a = FakeInstance::new(UUID_A, "orders-cache", "redis-replication");
    a.tags = vec!["prod".into(), "team-a".into()];
    let mut old = fin("bk-a1", "", "2024-05-01 00:00:00", 5000);
    old.size_as_string = true;
    let running = FakeBackup::running("bk-a2", "", t("2024-05-02 00:00:00"));
    let mut broken = fin("bk-a0", "", "2024-04-30 00:00:00", 10);
    let (code, message) = ("InternalError".into(), "boom".into());
    broken.download_fault = Some(Fault::Cds {
        http_status: 500,
        code,
        message,
    });
    a.backups = vec![old, running, broken];

    let mut b = FakeInstance::new(UUID_B, "sessions", "redis-cluster");
    b.tags = vec!["prod".into()];
    let mut expired = fin("bk-b2", "shard-2", "2024-05-02 01:00:00", 300);
    expired.object = FakeObject::Expired;
    let mut gone = fin("bk-b3", "shard-3", "2024-05-02 01:00:00", 300);
    gone.object = FakeObject::Missing;
    b.backups = vec![
        fin("bk-b1", "shard-1", "2024-05-02 01:00:00", 300),
        expired,
        gone,
    ];

    let mut c = FakeInstance::new(UUID_C, "orders-queue", "redis-replication");
    let (content_type, body) = ("text/html".into(), "<html>Bad Gateway</html>".into());
    c.describe_fault = Some(Fault::Raw {
        http_status: 502,
        content_type,
        body,
    });
    let mut s = Scenario::new(KEY, SECRET);
    s.instances = vec![a, b, c];
    s
}

#[tokio::test]
async fn accepts_correct_signature_and_plus_is_literal() {
    let h = Harness::new(small()).await;
    let (status, v) = h
        .call("DescribeDBInstances", &[("InstanceName", "orders")])
        .await;
    assert_eq!((status, v["Code"].as_str()), (200, Some("Success")));
    assert_eq!(
        (v["Message"].as_str(), v["TaskId"].as_str()),
        (Some("success"), Some(""))
    );
    let reqs = h.fake.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].accepted && reqs[0].rejection_code.is_none());
    assert_eq!(reqs[0].action, "DescribeDBInstances");
    assert_eq!(reqs[0].params["InstanceName"], "orders");

    // A raw `+` in the query must decode to `+`, not a space, or this would not verify.
    let url = signed_url(
        &h.fake.base_url(),
        SECRET,
        params("DescribeDBInstances", &[("TagName", "a+b")]),
    );
    let url = url.replace("TagName=a%2Bb", "TagName=a+b");
    assert!(url.contains("TagName=a+b&"));
    assert_eq!(h.get(&url, None).await.0, 200);
    assert_eq!(h.fake.requests()[1].params["TagName"], "a+b");
}

#[tokio::test]
async fn rejects_bad_requests_with_cds_codes() {
    let h = Harness::new(small()).await;
    let base = h.fake.base_url();
    let ts = |d: Duration| (Utc::now() + d).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (old, future) = (ts(Duration::minutes(-16)), ts(Duration::minutes(16)));
    // (parameter, new value or None to drop it, signing secret, status, code)
    let cases = [
        ("SignatureNonce", None, SECRET, 400, "ArgMissing"),
        ("Action", None, SECRET, 400, "ArgMissing"),
        ("Signature", Some(""), SECRET, 400, "ArgMissing"),
        (
            "SignatureMethod",
            Some("HMAC-SHA256"),
            SECRET,
            400,
            "InvalidParameter",
        ),
        (
            "SignatureVersion",
            Some("2.0"),
            SECRET,
            400,
            "InvalidParameter",
        ),
        (
            "Version",
            Some("2020-01-01"),
            SECRET,
            400,
            "InvalidParameter",
        ),
        (
            "AccessKeyId",
            Some("AKNOPE"),
            SECRET,
            403,
            "InvalidAccessKeyId.NotFound",
        ),
        (
            "Timestamp",
            Some("2024-05-01 00:00:00"),
            SECRET,
            400,
            "InvalidTimeStamp.Format",
        ),
        (
            "Timestamp",
            Some(&old),
            SECRET,
            400,
            "InvalidTimeStamp.Expired",
        ),
        (
            "Timestamp",
            Some(&future),
            SECRET,
            400,
            "InvalidTimeStamp.Expired",
        ),
        (
            "Action",
            Some("DescribeDBInstances"),
            "wrong",
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (name, value, secret, want_status, want_code) in cases {
        let mut p = params("DescribeDBInstances", &[]);
        match value {
            Some(v) => p.insert(name.to_owned(), v.to_owned()),
            None => p.remove(name),
        };
        let mut url = signed_url(&base, secret, p);
        if name == "Signature" {
            url = url.split("&Signature=").next().unwrap().to_owned() + "&Signature=";
        }
        let (status, _, body) = h.get(&url, None).await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        let got = (status, v["Code"].as_str().unwrap());
        assert_eq!(got, (want_status, want_code), "{name}={value:?}");
        assert_eq!(
            (v["Data"].clone(), v["TaskId"].as_str()),
            (Value::Null, Some(""))
        );
        if want_code == "ArgMissing" {
            assert!(v["Message"].as_str().unwrap().contains(name));
        }
        let rec = h.fake.requests().pop().unwrap();
        assert!(!rec.accepted);
        assert_eq!(rec.rejection_code.as_deref(), Some(want_code));
    }

    // A nonce is burnt only by a request whose signature checked out.
    let p = params("DescribeDBInstances", &[]);
    let (status, _, _) = h.get(&signed_url(&base, "wrong", p.clone()), None).await;
    assert_eq!(status, 403);
    assert_eq!(h.send(p.clone()).await.0, 200);
    let (status, v) = h.send(p).await;
    assert_eq!(
        (status, v["Code"].as_str().unwrap()),
        (400, "SignatureNonceUsed")
    );

    let unsupported = (400, "UnsupportedOperation".to_owned());
    assert_eq!(h.code("DeleteDBInstance", &[]).await, unsupported);
}

#[tokio::test]
async fn routing_errors_are_json() {
    let h = Harness::new(small()).await;
    let base = h.fake.base_url();
    let (status, _, body) = h.get(&format!("{base}/nope"), None).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (status, v["Code"].as_str().unwrap()),
        (404, "ResourceNotFound")
    );
    let resp = h.http.post(format!("{base}/redis/")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let url = signed_url(&base, SECRET, params("DescribeDBInstances", &[]));
    assert_eq!(
        h.get(&url.replace("/redis/?", "/redis?"), None).await.0,
        200
    );
}

#[tokio::test]
async fn set_scenario_and_drop() {
    let h = Harness::new(small()).await;
    let mut s = small();
    s.instances[0].backups.clear();
    h.fake.set_scenario(s);
    let (_, v) = h.call("DescribeBackups", &[("InstanceUuid", UUID_A)]).await;
    assert_eq!(v["Data"], json!([]));

    let url = signed_url(
        &h.fake.base_url(),
        SECRET,
        params("DescribeDBInstances", &[]),
    );
    drop(h.fake);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(reqwest::Client::new().get(url).send().await.is_err());
}
