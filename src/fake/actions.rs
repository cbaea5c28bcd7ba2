//! The three read actions of the fake CDS Redis API, answered from a scenario snapshot.
//!
//! Kept apart from request checking so the shapes clients parse (field names, types,
//! time zone, newest-first order) are easy to compare with the shared API notes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{cds_error, respond, FakeBackup, FakeInstance, FakeObject, Resp, Scenario, Shared};

pub(super) fn action(shared: &Shared, s: &Scenario, params: &BTreeMap<String, String>) -> Resp {
    let p = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let not_found = || {
        cds_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no such resource",
        )
    };
    let missing = |name: &str| {
        let msg = format!("missing parameter {name}");
        cds_error(StatusCode::BAD_REQUEST, "ArgMissing", &msg)
    };
    let instance = || s.instances.iter().find(|i| i.uuid == p("InstanceUuid"));
    if let Some(unknown) = unknown_parameter(p("Action"), params) {
        let msg = format!("{} takes no parameter {unknown}", p("Action"));
        return cds_error(StatusCode::BAD_REQUEST, "InvalidParameter", &msg);
    }
    match p("Action") {
        "DescribeDBInstances" => {
            if let Some(fault) = &s.instances_fault {
                return super::faults::response(shared, fault);
            }
            let data = s
                .instances
                .iter()
                .enumerate()
                .filter(|(_, i)| p("InstanceUuid").is_empty() || i.uuid == p("InstanceUuid"))
                .filter(|(_, i)| i.name.contains(p("InstanceName")))
                .filter(|(_, i)| {
                    p("TagName").is_empty() || i.tags.iter().any(|t| t == p("TagName"))
                })
                .map(|(n, i)| instance_json(s, n, i))
                .collect();
            success(Value::Array(data))
        }
        "DescribeBackups" => {
            if p("InstanceUuid").is_empty() {
                return missing("InstanceUuid");
            }
            let Some(inst) = instance() else {
                return not_found();
            };
            if let Some(fault) = &inst.describe_fault {
                return super::faults::response(shared, fault);
            }
            let mut backups: Vec<&FakeBackup> = inst.backups.iter().collect();
            backups.sort_by_key(|b| std::cmp::Reverse(b.start));
            let data = backups
                .into_iter()
                .map(|b| backup_json(s, inst, b))
                .collect();
            success(Value::Array(data))
        }
        "DownloadBackup" => {
            for name in ["InstanceUuid", "BackupId"] {
                if p(name).is_empty() {
                    return missing(name);
                }
            }
            let Some(inst) = instance() else {
                return not_found();
            };
            let Some(b) = inst.backups.iter().find(|b| b.id == p("BackupId")) else {
                return not_found();
            };
            if let Some(fault) = &b.download_fault {
                return super::faults::response(shared, fault);
            }
            let mut data = backup_json(s, inst, b);
            let lifetime = *super::lock(&shared.url_lifetime);
            let expires = Utc::now()
                + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(1));
            let url = |kind: &str| {
                let base = match &b.object {
                    FakeObject::NoUrl => return String::new(),
                    FakeObject::At(base) => base.as_str(),
                    _ => shared.base_url.as_str(),
                };
                format!(
                    "{base}/{kind}/{}.rdb?Expires={}&token={}",
                    crate::cds::sign::encode(&b.id),
                    expires.timestamp(),
                    shared.token
                )
            };
            data["ShardId"] = json!(b.shard_id);
            data["BackupDownloadUrl"] = json!(url("objects"));
            data["BackupIntranetDownloadUrl"] = json!(url("intranet"));
            success(data)
        }
        other => {
            let msg = format!("unsupported action {other}");
            cds_error(StatusCode::BAD_REQUEST, "UnsupportedOperation", &msg)
        }
    }
}

/// The first parameter `action` does not take (common ones aside), as CDS refuses a
/// misspelt filter rather than ignoring it: a client sending one fails here first.
fn unknown_parameter<'a>(action: &str, params: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let own: &[&str] = match action {
        "DescribeDBInstances" => &["InstanceUuid", "InstanceName", "IP", "TagName"],
        "DescribeBackups" => &["InstanceUuid"],
        "DownloadBackup" => &["InstanceUuid", "BackupId"],
        _ => return None,
    };
    params
        .keys()
        .map(String::as_str)
        .find(|k| !super::REQUIRED.contains(k) && !own.contains(k))
}

fn instance_json(s: &Scenario, n: usize, i: &FakeInstance) -> Value {
    let cluster = i.sub_product.contains("cluster");
    let tags: Vec<Value> = i
        .tags
        .iter()
        .map(|t| json!({"TagID": tag_id(t), "TagName": t}))
        .collect();
    json!({
        "InstanceUuid": i.uuid,
        "InstanceName": i.name,
        "Status": "RUNNING",
        "StatusStr": "运行中",
        "RegionId": i.region_id,
        "VdcId": "5d7a3c1e-9b2f-4a6d-8e0c-2b4f6a8c0e13",
        "VdcName": "demo-vdc",
        "IP": format!("10.240.{}.{}", n / 250, 10 + n % 250),
        "Port": 6379,
        "Ram": 1024,
        "SubProductKey": i.sub_product,
        "SubProductName": if cluster { "Redis 集群版" } else { "Redis 主从版" },
        "Version": i.version,
        "ProjectName": "默认项目",
        "CreatedTime": i.created.map(|t| local(s, t)).unwrap_or_default(),
        "Tags": tags,
        "ResourceId": format!("res-{}", i.uuid.get(..8).unwrap_or(&i.uuid)),
        // Undocumented, as real answers carry: clients must ignore unknown fields.
        "ChargeType": "PostPaid",
    })
}

/// Stable across calls and instances, like a real tag's id.
fn tag_id(tag: &str) -> u64 {
    1000 + fnv1a(tag) % 9000
}

pub(super) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A time as CDS renders it: local to the account's zone, no zone given.
fn local(s: &Scenario, t: DateTime<Utc>) -> String {
    t.with_timezone(&s.timezone)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn backup_json(s: &Scenario, inst: &FakeInstance, b: &FakeBackup) -> Value {
    let fmt = |t: DateTime<Utc>| local(s, t);
    json!({
        "BackupId": b.id,
        "BackupMode": b.mode,
        "BackupSize": if b.size_as_string { json!(b.size.to_string()) } else { json!(b.size) },
        "BackupType": b.backup_type,
        "Desc": "",
        "StartTime": fmt(b.start),
        "EndTime": b.end.map(fmt).unwrap_or_default(),
        "InstanceId": inst.uuid,
        "Status": b.status,
    })
}

fn success(data: Value) -> Resp {
    let body = json!({"Code": "Success", "Message": "success", "Data": data, "TaskId": ""});
    respond(
        StatusCode::OK,
        "application/json",
        body.to_string().into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{params, signed_url, small, Harness, SECRET, UUID_A, UUID_B, UUID_C};
    use serde_json::{json, Value};

    fn names(v: &Value) -> Vec<&str> {
        let list = v["Data"].as_array().unwrap();
        list.iter()
            .map(|i| i["InstanceName"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn describe_db_instances_shape_and_filters() {
        let h = Harness::new(small()).await;
        let (_, v) = h.call("DescribeDBInstances", &[]).await;
        let a = &v["Data"][0];
        let strings = "InstanceUuid InstanceName StatusStr RegionId VdcId VdcName IP \
                       SubProductName ProjectName CreatedTime ResourceId ChargeType";
        for f in strings.split_whitespace() {
            assert!(a[f].is_string(), "{f}");
        }
        let got = (&a["InstanceUuid"], &a["Status"], &a["Port"], &a["Ram"]);
        assert_eq!(
            got,
            (
                &json!(UUID_A),
                &json!("RUNNING"),
                &json!(6379),
                &json!(1024)
            )
        );
        let got = (&a["SubProductKey"], &a["Version"], &a["RegionId"]);
        assert_eq!(
            got,
            (
                &json!("redis-replication"),
                &json!("5.0"),
                &json!("CN_Beijing_A")
            )
        );
        assert_eq!(a["Tags"][1]["TagName"], "team-a");
        assert!(a["Tags"][0]["TagID"].is_u64());
        assert_eq!(
            a["Tags"][0]["TagID"], v["Data"][1]["Tags"][0]["TagID"],
            "stable ids"
        );
        assert_eq!(names(&v), ["orders-cache", "sessions", "orders-queue"]);

        let filtered = |extra: &'static [(&'static str, &'static str)]| {
            let h = &h;
            async move { h.call("DescribeDBInstances", extra).await.1 }
        };
        assert_eq!(
            names(&filtered(&[("InstanceUuid", UUID_B)]).await),
            ["sessions"]
        );
        assert!(names(&filtered(&[("InstanceUuid", "1f1e2d3c")]).await).is_empty());
        let by_name = filtered(&[("InstanceName", "orders")]).await;
        assert_eq!(names(&by_name), ["orders-cache", "orders-queue"]);
        let by_tag = filtered(&[("TagName", "prod")]).await;
        assert_eq!(names(&by_tag), ["orders-cache", "sessions"]);
        let ip_ignored = filtered(&[("TagName", "team-a"), ("IP", "1.2.3.4")]).await;
        assert_eq!(names(&ip_ignored), ["orders-cache"]);
    }

    #[tokio::test]
    async fn created_time_is_local_to_the_zone_and_filters_are_checked() {
        let mut s = small();
        s.instances[1].created = Some(super::super::tests::t("2024-02-29 16:30:00"));
        s.instances[2].created = None;
        let h = Harness::new(s.clone()).await;
        let (_, v) = h.call("DescribeDBInstances", &[]).await;
        let created: Vec<&Value> = (0..3).map(|n| &v["Data"][n]["CreatedTime"]).collect();
        assert_eq!(
            created,
            [
                &json!("2023-06-01 10:00:00"),
                &json!("2024-03-01 00:30:00"),
                &json!("")
            ],
            "in +08:00; none is \"\""
        );
        // A parameter the action does not take is refused, as CDS does.
        for (action, extra) in [
            ("DescribeDBInstances", ("InstanceId", UUID_A)),
            ("DescribeDBInstances", ("instanceUuid", UUID_A)),
            ("DescribeBackups", ("BackupId", "bk-a1")),
        ] {
            let mut params = vec![extra];
            if action == "DescribeBackups" {
                params.push(("InstanceUuid", UUID_A));
            }
            assert_eq!(
                h.code(action, &params).await,
                (400, "InvalidParameter".to_owned()),
                "{action} {extra:?}"
            );
        }
        assert_eq!(
            h.fake.calls("DescribeDBInstances").len(),
            3,
            "refused ones count as accepted calls: they passed the common checks"
        );
        // A failing DescribeDBInstances, for every filter, while the rest answers.
        s.instances_fault = Some(super::super::Fault::Cds {
            http_status: 500,
            code: "InternalError".into(),
            message: "boom".into(),
        });
        h.fake.set_scenario(s);
        let filter = [("InstanceUuid", UUID_A)];
        assert_eq!(
            h.code("DescribeDBInstances", &filter).await,
            (500, "InternalError".to_owned())
        );
        assert_eq!(h.code("DescribeBackups", &filter).await.0, 200);
        let calls = h.fake.calls("DescribeDBInstances");
        assert_eq!(
            calls.last().map(|c| &c["InstanceUuid"]),
            Some(&UUID_A.to_owned())
        );
        assert_eq!(calls.last().map(|c| c.len()), Some(1), "{calls:?}");
    }

    #[tokio::test]
    async fn describe_backups_shape() {
        let h = Harness::new(small()).await;
        let (status, v) = h.call("DescribeBackups", &[("InstanceUuid", UUID_A)]).await;
        assert_eq!(status, 200);
        let list = v["Data"].as_array().unwrap();
        let ids: Vec<_> = list
            .iter()
            .map(|b| b["BackupId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["bk-a2", "bk-a1", "bk-a0"], "newest first");
        let (running, old) = (&list[0], &list[1]);
        assert_eq!(
            (&running["Status"], &running["EndTime"]),
            (&json!("running"), &json!(""))
        );
        assert_eq!(
            (&old["BackupSize"], &list[2]["BackupSize"]),
            (&json!("5000"), &json!(10))
        );
        let times = (&old["StartTime"], &old["EndTime"]);
        let want = (&json!("2024-05-01 08:00:00"), &json!("2024-05-01 08:03:00"));
        assert_eq!(times, want, "rendered in +08:00");
        let got = (
            &old["BackupMode"],
            &old["BackupType"],
            &old["Desc"],
            &old["InstanceId"],
        );
        assert_eq!(
            got,
            (
                &json!("auto"),
                &json!("full-backup"),
                &json!(""),
                &json!(UUID_A)
            )
        );
        assert_eq!(
            old.as_object().unwrap().len(),
            9,
            "no URLs, no ShardId: {old}"
        );

        let missing = h.code("DescribeBackups", &[]).await;
        assert_eq!(missing, (400, "ArgMissing".to_owned()));
        let unknown = h.code("DescribeBackups", &[("InstanceUuid", "nope")]).await;
        assert_eq!(unknown, (404, "ResourceNotFound".to_owned()));
        let p = params("DescribeBackups", &[("InstanceUuid", UUID_C)]);
        let url = signed_url(&h.fake.base_url(), SECRET, p);
        let (status, headers, body) = h.get(&url, None).await;
        assert_eq!((status, &body[..]), (502, &b"<html>Bad Gateway</html>"[..]));
        assert_eq!(headers["content-type"], "text/html");
    }

    #[tokio::test]
    async fn download_backup_shape() {
        let h = Harness::new(small()).await;
        let (base, token) = (h.fake.base_url(), h.fake.url_token());
        let (status, v) = h.download(UUID_B, "bk-b1").await;
        assert_eq!(status, 200);
        let d = &v["Data"];
        assert_eq!(d.as_object().unwrap().len(), 12, "{d}");
        let got = (
            &d["BackupId"],
            &d["ShardId"],
            &d["Status"],
            &d["BackupSize"],
        );
        assert_eq!(
            got,
            (
                &json!("bk-b1"),
                &json!("shard-1"),
                &json!("finished"),
                &json!(300)
            )
        );
        assert_eq!((&d["InstanceId"], &d["Desc"]), (&json!(UUID_B), &json!("")));
        for f in ["BackupType", "StartTime", "EndTime", "BackupMode"] {
            assert!(d[f].is_string(), "{f}");
        }
        let url = d["BackupDownloadUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/objects/bk-b1.rdb?Expires=")));
        assert!(url.ends_with(&format!("&token={token}")));
        let intranet = d["BackupIntranetDownloadUrl"].as_str().unwrap();
        assert_eq!(intranet, url.replace("/objects/", "/intranet/"));

        let (_, v) = h.download(UUID_A, "bk-a2").await;
        let d = &v["Data"];
        let got = (
            &d["BackupDownloadUrl"],
            &d["BackupIntranetDownloadUrl"],
            &d["EndTime"],
        );
        assert_eq!(
            got,
            (&json!(""), &json!(""), &json!("")),
            "running: no URLs"
        );
        let (status, v) = h.download(UUID_A, "bk-a0").await;
        assert_eq!(
            (status, &v["Code"], &v["Message"]),
            (500, &json!("InternalError"), &json!("boom"))
        );
        let (status, v) = h.download(UUID_A, "bk-b1").await;
        assert_eq!(
            (status, &v["Code"]),
            (404, &json!("ResourceNotFound")),
            "other instance's"
        );
        let (status, v) = h.call("DownloadBackup", &[("InstanceUuid", UUID_A)]).await;
        assert!(status == 400 && v["Message"].as_str().unwrap().contains("BackupId"));
    }
}
