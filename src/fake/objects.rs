//! The fake object store behind the presigned download URLs.
//!
//! It behaves like an S3-style bucket answering a URL presigned for GET: a token in the
//! query grants access, HEAD is refused, ranges work, and expired or deleted objects
//! answer the XML errors a real store sends, so the exporter's download probe meets
//! every failure it must classify.

use chrono::Utc;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use super::actions::fnv1a;
use super::{lock, parse_query, rdb, respond, FakeObject, Resp, Shared};

fn xml_error(status: StatusCode, code: &str, message: &str) -> Resp {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    respond(status, "application/xml", body.into_bytes())
}

/// Behaves like a GET-presigned object-store URL.
pub(super) fn object(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    range: Option<&str>,
) -> Resp {
    if method != Method::GET {
        // Signed for GET only; HEAD gets no body anyway.
        let msg = "The request signature does not match the method";
        return xml_error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", msg);
    }
    let q = parse_query(query);
    if q.get("token") != Some(&shared.token) {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    }
    let expires = q.get("Expires").and_then(|e| e.parse::<i64>().ok());
    if expires.is_some_and(|e| e < Utc::now().timestamp()) {
        return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let no_such_key = || {
        xml_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    };
    let name = path
        .trim_start_matches("/objects/")
        .trim_start_matches("/intranet/");
    let Some(id) = name.strip_suffix(".rdb") else {
        return no_such_key();
    };
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    let scenario = lock(&shared.scenario).clone();
    let backup = scenario
        .instances
        .iter()
        .flat_map(|i| &i.backups)
        .find(|b| b.id == id);
    let body: Vec<u8> = match backup.map(|b| &b.object) {
        Some(FakeObject::Rdb { len }) => rdb::body(*len, fnv1a(&id)),
        Some(FakeObject::Data(bytes)) => bytes.to_vec(),
        Some(FakeObject::Expired) => {
            return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
        }
        Some(FakeObject::Stall) => return super::faults::stalled(backup.map_or(0, |b| b.size)),
        Some(FakeObject::Missing | FakeObject::NoUrl | FakeObject::At(_)) | None => {
            return no_such_key()
        }
    };
    let len = body.len() as u64;
    match range.and_then(|r| parse_range(r, len)) {
        None => respond(StatusCode::OK, "application/octet-stream", body),
        Some(None) => {
            let mut resp = xml_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(hyper::header::CONTENT_RANGE, v);
            }
            resp
        }
        Some(Some((first, last))) => {
            let slice = usize::try_from(first)
                .ok()
                .zip(usize::try_from(last).ok())
                .and_then(|(a, b)| body.get(a..=b))
                .unwrap_or_default()
                .to_vec();
            let mut resp = respond(
                StatusCode::PARTIAL_CONTENT,
                "application/octet-stream",
                slice,
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                resp.headers_mut().insert(hyper::header::CONTENT_RANGE, v);
            }
            resp
        }
    }
}

/// `None`: malformed, so ignored (S3 then serves the whole object); `Some(None)`:
/// unsatisfiable; `Some(Some((first, last)))`: inclusive bounds within the object.
fn parse_range(header: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        // `parse` alone would accept a leading `+`.
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if a.trim().is_empty() {
        let n = num(b)?;
        return Some((n > 0 && len > 0).then(|| (len - n.min(len), len - 1)));
    }
    let first = num(a)?;
    let last = if b.trim().is_empty() {
        u64::MAX
    } else {
        num(b)?
    };
    if last < first {
        return None;
    }
    Some((first < len).then(|| (first, last.min(len - 1))))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{small, Harness, SECRET, UUID_B};
    use super::super::{rdb, Scenario};
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn objects_behave_like_presigned_get_urls() {
        let h = Harness::new(small()).await;
        let token = h.fake.url_token();
        let url = h.object_url(UUID_B, "bk-b1").await;
        let (status, headers, body) = h.get(&url, None).await;
        assert_eq!((status, body.len()), (200, 300));
        assert_eq!(headers["content-length"], "300");
        rdb::verify(&body).unwrap();
        let intranet = url.replace("/objects/", "/intranet/");
        assert_eq!(h.get(&intranet, None).await.2, body);

        let (status, headers, part) = h.get(&url, Some("bytes=0-0")).await;
        assert_eq!((status, &part[..]), (206, &b"R"[..]));
        assert_eq!(headers["content-range"], "bytes 0-0/300");
        let (status, headers, part) = h.get(&url, Some("bytes=290-")).await;
        assert_eq!((status, &part[..]), (206, &body[290..]));
        assert_eq!(headers["content-range"], "bytes 290-299/300");
        assert_eq!(h.get(&url, Some("bytes=-8")).await.2, &body[292..]);
        assert_eq!(h.get(&url, Some("bytes=100-9999")).await.2, &body[100..]);
        let (status, headers, _) = h.get(&url, Some("bytes=300-")).await;
        assert_eq!(
            (status, headers["content-range"].to_str().unwrap()),
            (416, "bytes */300")
        );
        for malformed in [
            "bytes=abc",
            "items=0-1",
            "bytes=5-1",
            "bytes=0-1,4-5",
            "bytes=+1-2",
        ] {
            assert_eq!(h.get(&url, Some(malformed)).await.0, 200, "{malformed}");
        }
        assert_eq!(h.http.head(&url).send().await.unwrap().status(), 403);

        let (status, _, body) = h.get(&url.replace(&token, "0000"), None).await;
        assert_eq!(status, 403);
        assert!(String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>"));
        let no_token = url.split("&token").next().unwrap();
        assert_eq!(h.get(no_token, None).await.0, 403);
        let unknown = url.replace("bk-b1.rdb", "bk-zz.rdb");
        assert_eq!(h.get(&unknown, None).await.0, 404);
        let lapsed = url.replace("Expires=", "Expires=1&was=");
        assert_eq!(h.get(&lapsed, None).await.0, 403);

        let expired = h.object_url(UUID_B, "bk-b2").await;
        let (status, _, body) = h.get(&expired, None).await;
        let want = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert!(status == 403 && String::from_utf8(body).unwrap().contains(want));
        let missing = h.object_url(UUID_B, "bk-b3").await;
        let (status, _, body) = h.get(&missing, None).await;
        assert!(status == 404 && String::from_utf8_lossy(&body).contains("NoSuchKey"));

        let objs = h.fake.object_requests();
        let first = ("GET".to_owned(), "/objects/bk-b1.rdb".to_owned(), None);
        assert_eq!(objs[0], first);
        assert_eq!(objs[2].2.as_deref(), Some("bytes=0-0"));
        assert!(objs
            .iter()
            .any(|(m, p, _)| m == "HEAD" && p == "/objects/bk-b1.rdb"));
        assert!(objs.iter().all(|(_, p, _)| !p.contains(&token)));
        assert!(h.fake.requests().iter().all(|r| !r.action.is_empty()));
    }

    /// Walks the demo the way the exporter does and checks each instance shows its state.
    #[tokio::test]
    async fn demo_scenario_end_to_end() {
        let mut s = Scenario::demo(chrono::Utc::now());
        s.access_key_id = super::super::tests::KEY.into();
        s.access_key_secret = SECRET.into();
        let h = Harness::new(s).await;
        let (_, v) = h.call("DescribeDBInstances", &[("TagName", "demo")]).await;
        let list = v["Data"].as_array().unwrap().clone();
        assert_eq!(list.len(), 25);
        let (_, v) = h
            .call("DescribeDBInstances", &[("TagName", "production")])
            .await;
        let production: Vec<_> = v["Data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["InstanceName"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            production,
            ["demo-stale", "demo-cluster", "demo-6hourly-overdue"]
        );

        let mut seen = BTreeMap::new();
        for inst in &list {
            let name = inst["InstanceName"].as_str().unwrap();
            let uuid = inst["InstanceUuid"].as_str().unwrap();
            let (_, v) = h.call("DescribeBackups", &[("InstanceUuid", uuid)]).await;
            let backups = v["Data"].as_array().unwrap().clone();
            let newest = if name == "demo-cluster" { 2 } else { 1 };
            let mut outcomes = Vec::new();
            for b in backups.iter().take(newest) {
                let (_, d) = h.download(uuid, b["BackupId"].as_str().unwrap()).await;
                let d = &d["Data"];
                let url = d["BackupDownloadUrl"].as_str().unwrap();
                if url.is_empty() {
                    outcomes.push(format!("{}/no-url", d["Status"].as_str().unwrap()));
                    continue;
                }
                let (status, _, body) = h.get(url, None).await;
                let whole = body.len() as u64 == d["BackupSize"].as_u64().unwrap();
                let fit = match (status, whole && rdb::verify(&body).is_ok()) {
                    (200, true) => "/ok",
                    (200, false) => "/short",
                    _ => "",
                };
                outcomes.push(format!("{}{status}{fit}", d["ShardId"].as_str().unwrap()));
            }
            outcomes.sort();
            seen.insert(name.to_owned(), (backups.len(), outcomes.join(",")));
        }
        let want = [
            ("demo-healthy", 3, "200/ok"),
            ("demo-failed", 4, "failed/no-url"),
            ("demo-running", 4, "running/no-url"),
            ("demo-stale", 3, "404"),
            ("demo-cluster", 6, "shard-0a1b200/ok,shard-2c3d403"),
            ("demo-truncated", 3, "200/short"),
            ("demo-empty", 0, ""),
            ("demo-stuck", 4, "running/no-url"),
            ("demo-6hourly-overdue", 6, "200/ok"),
            ("demo-weekly-ontime", 4, "200/ok"),
            ("demo-purged", 3, "failed/no-url"),
            ("demo-decommissioned", 3, "200/ok"),
            ("demo-weekdays", 9, "200/ok"),
            ("demo-gone", 3, "404"),
            ("demo-gone-covered", 4, "404"),
        ];
        for (name, n, outcome) in want {
            assert_eq!(seen[name], (n, outcome.to_owned()), "{name}");
        }
    }
}
