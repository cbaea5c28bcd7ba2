use super::*;
use serde_json::json;

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// A fixed "now", after every time these tests use.
fn now() -> DateTime<Utc> {
    utc("2026-01-01T00:00:00Z")
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The seed page's example answer, verbatim but for the masked values.
fn seed_example() -> Value {
    json!({
        "BackupDownloadUrl": "https://oss.example/bk?sig=SECRET",
        "BackupId": "bk-1",
        "BackupIntranetDownloadUrl": "http://oss.internal/bk?sig=SECRET",
        "BackupMode": "manual",
        "BackupSize": 176,
        "BackupType": "full-backup",
        "Desc": "",
        "EndTime": "2020-08-21 15:59:02",
        "InstanceId": "ins-1",
        "ShardId": "shard-1",
        "StartTime": "2020-08-21 15:58:45",
        "Status": "finished"
    })
}

#[test]
fn seed_example_decodes_with_beijing_time() {
    let d = backup_detail(&seed_example(), cst(), now()).unwrap();
    assert_eq!(d.backup.id, "bk-1");
    assert_eq!(d.backup.size, Some(176));
    assert_eq!(d.backup.start, Some(utc("2020-08-21T07:58:45Z")));
    assert_eq!(d.backup.end, Some(utc("2020-08-21T07:59:02Z")));
    assert_eq!(d.shard_id, "shard-1");
    assert_eq!(d.backup.mode, "manual");
    assert!(d.backup.is_finished());
    assert_eq!(
        d.public_url.as_ref().unwrap().expose(),
        "https://oss.example/bk?sig=SECRET"
    );
}

#[test]
fn configured_zone_changes_the_instant() {
    let d = backup_detail(&seed_example(), FixedOffset::east_opt(0).unwrap(), now()).unwrap();
    assert_eq!(d.backup.start, Some(utc("2020-08-21T15:58:45Z")));
}

#[test]
fn size_as_string_and_as_integral_float() {
    let mut v = seed_example();
    v["BackupSize"] = json!("1048576");
    assert_eq!(
        backup_detail(&v, cst(), now()).unwrap().backup.size,
        Some(1_048_576)
    );
    v["BackupSize"] = json!(176.0);
    assert_eq!(
        backup_detail(&v, cst(), now()).unwrap().backup.size,
        Some(176)
    );
    v["BackupSize"] = json!("");
    assert_eq!(backup_detail(&v, cst(), now()).unwrap().backup.size, None);
}

#[test]
fn bad_size_is_a_clear_error() {
    let mut v = seed_example();
    v["BackupSize"] = json!("12 MB");
    let e = backup_detail(&v, cst(), now()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field BackupSize: expected a whole number of bytes, got the string \"12 MB\""
    );
    v["BackupSize"] = json!([1]);
    assert_eq!(
        backup_detail(&v, cst(), now()).unwrap_err().to_string(),
        "field BackupSize: expected a number or a string, got a list"
    );
    v["BackupSize"] = json!(-5);
    assert!(backup_detail(&v, cst(), now()).is_err());
}

#[test]
fn status_is_decoded_once_and_an_unknown_word_is_kept() {
    for (word, status, finished, is_final) in [
        ("finished", BackupStatus::Finished, true, true),
        ("failed", BackupStatus::Failed, false, true),
        ("running", BackupStatus::Running, false, false),
        (
            "Finished",
            BackupStatus::Unknown("Finished".into()),
            false,
            false,
        ),
        ("", BackupStatus::Unknown(String::new()), false, false),
    ] {
        let mut v = seed_example();
        v["Status"] = json!(word);
        let b = backup_detail(&v, cst(), now()).unwrap().backup;
        assert_eq!(b.status, status, "{word:?}");
        assert_eq!(b.status.as_str(), word);
        assert_eq!(
            (b.is_finished(), b.is_final()),
            (finished, is_final),
            "{word:?}"
        );
    }
}

#[test]
fn empty_end_time_means_not_finished() {
    let mut v = seed_example();
    v["EndTime"] = json!("");
    v["Status"] = json!("running");
    let d = backup_detail(&v, cst(), now()).unwrap();
    assert_eq!(d.backup.end, None);
    assert!(!d.backup.is_finished());
}

#[test]
fn unparsable_time_names_field_and_value() {
    let mut v = seed_example();
    v["StartTime"] = json!("21/08/2020 15:58");
    assert_eq!(
        backup_detail(&v, cst(), now()).unwrap_err().to_string(),
        "field StartTime: expected \"YYYY-MM-DD HH:MM:SS\", got \"21/08/2020 15:58\""
    );
}

#[test]
fn extra_fields_ignored_missing_optional_fields_tolerated() {
    let v = json!({"BackupId": "bk-2", "Status": "finished", "Surprise": {"a": 1}});
    let d = backup_detail(&v, cst(), now()).unwrap();
    assert_eq!(d.backup.size, None);
    assert_eq!(d.backup.start, None);
    assert_eq!(d.shard_id, "");
    assert_eq!(d.public_url, None);
}

#[test]
fn wrong_typed_url_error_never_quotes_the_value() {
    let mut v = seed_example();
    v["BackupDownloadUrl"] = json!({"u": "https://oss.example/?sig=SECRET"});
    let e = backup_detail(&v, cst(), now()).unwrap_err().to_string();
    assert_eq!(
        e,
        "field BackupDownloadUrl: expected a string, got an object"
    );
    assert!(!format!("{:?}", backup_detail(&seed_example(), cst(), now())).contains("SECRET"));
}

#[test]
fn backup_list_keeps_good_entries_and_reports_bad_ones() {
    let data = json!([
        {"BackupId": "a", "Status": "finished", "BackupSize": "10", "StartTime": "2020-08-21 15:58:45", "EndTime": "2020-08-21 15:59:02"},
        {"BackupId": "b", "Status": "finished", "BackupSize": true},
        "garbage",
    ]);
    let list = backup_list(&data, cst(), now()).unwrap();
    assert_eq!(list.backups.len(), 1);
    assert_eq!(list.backups[0].size, Some(10));
    assert_eq!(list.invalid.len(), 2);
    assert_eq!(list.invalid[0].id.as_deref(), Some("b"));
    assert_eq!(list.invalid[1].id, None);
    assert_eq!(
        list.invalid[1].error.to_string(),
        "field Data[]: expected an object, got a string"
    );
    assert_eq!(
        backup_list(&json!([]), cst(), now()).unwrap().backups,
        vec![]
    );
    assert!(backup_list(&json!({"x": 1}), cst(), now()).is_err());
}

#[test]
fn instances_decode_with_tags() {
    let data = json!([{
        "InstanceUuid": "u1", "InstanceName": "orders", "Status": "RUNNING", "RegionId": "CN_Beijing_A",
        "SubProductKey": "redis-cluster", "Version": "5.0", "Port": 6379, "Ram": 1024,
        "Tags": [{"TagID": 1, "TagName": "prod"}], "Unknown": 1
    }]);
    let list = instances(&data, cst(), now()).unwrap();
    assert_eq!(list[0].name, "orders");
    assert_eq!(list[0].tags, vec!["prod".to_owned()]);
    assert_eq!(list[0].sub_product, "redis-cluster");
    assert_eq!(list[0].ram_bytes, Some(1024 << 20));
}

#[test]
fn missing_or_null_data_is_an_error_never_an_empty_list() {
    let data = Value::Null;
    assert_eq!(
        instances(&data, cst(), now()).unwrap_err().to_string(),
        "field Data: missing or null where a list is expected (an empty list is [])"
    );
    assert_eq!(
        backup_list(&data, cst(), now()).unwrap_err().to_string(),
        "field Data: missing or null where a list is expected (an empty list is [])"
    );
    assert_eq!(
        backup_detail(&data, cst(), now()).unwrap_err().to_string(),
        "field Data: expected an object, got null"
    );
    assert_eq!(instances(&json!([]), cst(), now()).unwrap(), vec![]);
}

#[test]
fn times_that_cannot_be_true_make_the_backup_invalid() {
    let with = |start: &str, end: &str| {
        let mut v = seed_example();
        v["StartTime"] = json!(start);
        v["EndTime"] = json!(end);
        backup_detail(&v, cst(), now()).map_err(|e| e.to_string())
    };
    assert_eq!(
        with("2020-08-21 15:58:45", "9999-12-31 23:59:59").unwrap_err(),
        "field EndTime: 9999-12-31 15:59:59 UTC lies more than 27 h in the future, more than any timezone explains"
    );
    assert_eq!(
        with("0000-01-01 00:00:00", "2020-08-21 15:59:02").unwrap_err(),
        "field StartTime: -0001-12-31 16:00:00 UTC is before 2009, older than Redis"
    );
    assert_eq!(
        with("2020-08-21 15:58:45", "2020-08-21 15:00:00").unwrap_err(),
        "field EndTime: 2020-08-21 07:00:00 UTC is before StartTime"
    );
    // Within the bound: a clock a little ahead, or a zone off by up to 26 h (now is
    // 2026-01-01 08:00 in Beijing), is believed and left to the policy engine.
    assert!(with("2026-01-01 08:30:00", "2026-01-01 08:50:00").is_ok());
    assert!(with("2026-01-01 15:00:00", "2026-01-01 16:00:00").is_ok());
    assert!(with("2026-01-02 10:00:00", "2026-01-02 11:00:00").is_ok());
    // The bound is exact: 27 h ahead is believed, a second more is not.
    assert!(with("2026-01-02 11:00:00", "").is_ok());
    assert_eq!(
        with("2026-01-02 11:00:01", "").unwrap_err(),
        "field StartTime: 2026-01-02 03:00:01 UTC lies more than 27 h in the future, more than any timezone explains"
    );
    assert_eq!(
        super::FUTURE_BOUND,
        super::ZONE_ERROR_MAX + super::CLOCK_SKEW
    );
    // A listing keeps the valid backups and names the invalid one.
    let list = backup_list(
        &json!([
            {"BackupId": "future", "Status": "finished", "StartTime": "9999-12-31 00:00:00", "EndTime": "9999-12-31 00:10:00"},
            {"BackupId": "ok", "Status": "finished", "StartTime": "2025-12-31 00:00:00", "EndTime": "2025-12-31 00:10:00"},
        ]),
        cst(),
        now(),
    )
    .unwrap();
    assert_eq!(list.backups.len(), 1);
    assert_eq!(list.backups[0].id, "ok");
    assert_eq!(list.invalid[0].id.as_deref(), Some("future"));
}

/// `instances_where` on `text` as CDS sent it.
fn instances_from(text: &str, keep: &dyn Fn(&str) -> bool) -> Result<Vec<Instance>, String> {
    let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
    instances_where(Some(&raw), cst(), now(), keep).map_err(|e| e.to_string())
}

#[test]
fn instances_where_keeps_only_the_owned_and_judges_all_alike() {
    let text = r#" [{"InstanceUuid": "u1", "InstanceName": "a", "Tags": [{"TagName": "prod"}]},
        {"InstanceUuid": "u2", "InstanceName": "b"}, {"InstanceUuid": 3, "Status": "RUNNING"}]"#;
    let all = instances(&serde_json::from_str(text).unwrap(), cst(), now()).unwrap();
    assert_eq!(instances_from(text, &|_| true), Ok(all.clone()));
    assert_eq!(
        instances_from(text, &|u| u != "u2"),
        Ok(vec![all[0].clone(), all[2].clone()])
    );
    assert_eq!(instances_from(text, &|_| false), Ok(vec![]));
    // A bad entry fails the answer whoever owns it, with the same error as `instances`.
    for bad in [
        r#"[{"InstanceUuid": "u1"}, {"InstanceName": "no uuid"}]"#,
        r#"[{"InstanceUuid": "u1"}, 7]"#,
        r#"[{"InstanceUuid": "u1", "InstanceName": {"x": 1}}]"#,
        r#"{"InstanceUuid": "u1"}"#,
        r#""a string""#,
        r#"null"#,
    ] {
        let want = instances(&serde_json::from_str(bad).unwrap(), cst(), now())
            .map_err(|e| e.to_string())
            .unwrap_err();
        assert_eq!(instances_from(bad, &|_| false), Err(want), "{bad}");
    }
    assert_eq!(
        instances_where(None, cst(), now(), &|_| true)
            .unwrap_err()
            .to_string(),
        "field Data: missing or null where a list is expected (an empty list is [])"
    );
}

/// `CreatedTime` of one entry, decoded with the account's zone `zone`.
fn created_in(raw: Value, zone: FixedOffset) -> Option<DateTime<Utc>> {
    let data = json!([{"InstanceUuid": "u1", "InstanceName": "orders", "CreatedTime": raw}]);
    let list = instances(&data, zone, now()).unwrap();
    assert_eq!(list.len(), 1, "the entry is kept whatever its CreatedTime");
    assert_eq!(list[0].name, "orders");
    list[0].created
}

#[test]
fn created_time_is_read_in_the_account_zone() {
    let created = |raw: Value| created_in(raw, cst());
    // As documented: local time of the account's zone (Beijing here).
    assert_eq!(
        created(json!("2023-06-01 10:00:00")),
        Some(utc("2023-06-01T02:00:00Z"))
    );
    let utc_zone = FixedOffset::east_opt(0).unwrap();
    assert_eq!(
        created_in(json!("2023-06-01 10:00:00"), utc_zone),
        Some(utc("2023-06-01T10:00:00Z"))
    );
    // Variants seen in other CDS answers: a T, fractions, surrounding blanks.
    assert_eq!(
        created(json!("2023-06-01T10:00:00")),
        Some(utc("2023-06-01T02:00:00Z"))
    );
    assert_eq!(
        created(json!(" 2023-06-01 10:00:00.250 ")),
        Some(utc("2023-06-01T02:00:00.250Z"))
    );
    // An explicit offset wins over the account's zone.
    assert_eq!(
        created(json!("2023-06-01T10:00:00Z")),
        Some(utc("2023-06-01T10:00:00Z"))
    );
    assert_eq!(
        created(json!("2023-06-01T10:00:00+09:00")),
        Some(utc("2023-06-01T01:00:00Z"))
    );
}

#[test]
fn a_bad_or_missing_created_time_is_unknown_and_the_instance_kept() {
    let created = |raw: Value| created_in(raw, cst());
    for raw in [
        json!(""),
        json!("   "),
        Value::Null,
        json!("2023-06-01"),
        json!("01/06/2023 10:00"),
        json!("2023-13-01 10:00:00"),
        json!("2023-02-30 10:00:00"),
        json!("yesterday"),
        // A number could be seconds or milliseconds: not guessed.
        json!(1_685_584_800),
        json!({"t": 1}),
        json!(["2023-06-01 10:00:00"]),
        json!(true),
        // Before Redis existed, or in the future beyond the tolerance (a wrong zone):
        // an age that cannot be true is not believed.
        json!("2008-12-31 23:59:59"),
        json!("0000-01-01 00:00:00"),
        json!("2026-01-01 09:30:00"),
        json!("9999-12-31 23:59:59"),
    ] {
        assert_eq!(created(raw.clone()), None, "{raw}");
    }
    // Within the tolerance (now is 2026-01-01 08:00 in Beijing): a clock a little ahead.
    assert_eq!(
        created(json!("2026-01-01 08:30:00")),
        Some(utc("2026-01-01T00:30:00Z"))
    );
    // Missing altogether.
    let list = instances(&json!([{"InstanceUuid": "u1"}]), cst(), now()).unwrap();
    assert_eq!(list[0].created, None);
    // The streaming decoder agrees.
    let text = r#"[{"InstanceUuid": "u1", "CreatedTime": {"x": 1}}, {"InstanceUuid": "u2", "CreatedTime": "2024-02-29 23:59:59"}]"#;
    let got = instances_from(text, &|_| true).unwrap();
    assert_eq!(
        got.iter().map(|i| i.created).collect::<Vec<_>>(),
        [None, Some(utc("2024-02-29T15:59:59Z"))]
    );
}
