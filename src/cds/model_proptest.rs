//! Property tests of the answer decoders: no JSON makes them panic, well-formed backups
//! and instances come out as they went in, and a bad backup never hides the good ones.
use chrono::NaiveDate;
use proptest::prelude::*;
use serde_json::{json, Map, Number};

use super::*;

/// Field names the decoders look at, so random objects hit them often.
const FIELDS: &[&str] = &[
    "BackupId",
    "Status",
    "BackupType",
    "BackupMode",
    "BackupSize",
    "StartTime",
    "EndTime",
    "ShardId",
    "BackupDownloadUrl",
    "BackupIntranetDownloadUrl",
    "InstanceUuid",
    "InstanceName",
    "RegionId",
    "SubProductKey",
    "Version",
    "Tags",
    "TagName",
    "CreatedTime",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => "[A-Za-z]{1,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            Number::from_f64(f).map(Value::Number)
        }),
        "\\PC{0,20}".prop_map(Value::String),
        "[0-9 ]{0,12}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..10)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn zone() -> impl Strategy<Value = FixedOffset> {
    (-86_399i32..86_400).prop_map(|s| FixedOffset::east_opt(s).unwrap())
}

/// A backup as CDS might list it, and what decoding it must give.
#[derive(Debug, Clone)]
struct Generated {
    json: Map<String, Value>,
    id: String,
    status: String,
    size: Option<u64>,
    start: Option<NaiveDateTime>,
    end: Option<NaiveDateTime>,
}

/// After every generated time, so none lies in the future.
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn datetime() -> impl Strategy<Value = NaiveDateTime> {
    (
        2010i32..2026,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .unwrap()
                .and_hms_opt(h, mi, s)
                .unwrap()
        })
}

/// `BackupSize` in each form CDS has been seen to use, with the size it means.
fn size() -> impl Strategy<Value = (Option<Value>, Option<u64>)> {
    prop_oneof![
        Just((None, None)),
        Just((Some(Value::Null), None)),
        Just((Some(json!("")), None)),
        any::<u64>().prop_map(|n| (Some(json!(n)), Some(n))),
        any::<u64>().prop_map(|n| (Some(json!(n.to_string())), Some(n))),
        // Integral floats are exact only below 2^53.
        (0u64..1 << 53).prop_map(|n| (Some(json!(n as f64)), Some(n))),
    ]
}

fn time_field(t: Option<NaiveDateTime>) -> Value {
    t.map_or(json!(""), |t| {
        json!(t.format("%Y-%m-%d %H:%M:%S").to_string())
    })
}

fn backup() -> impl Strategy<Value = Generated> {
    let id = prop_oneof![
        "[a-z0-9-]{1,36}".prop_map(|s| (json!(s), s)),
        any::<u64>().prop_map(|n| (json!(n), n.to_string())),
    ];
    (
        id,
        "\\PC{0,12}",
        size(),
        prop::option::of(datetime()),
        prop::option::of(datetime()),
        prop::collection::vec(("X[a-z]{1,6}", leaf()), 0..3),
    )
        .prop_map(
            |((id_json, id), status, (size_json, size), start, end, extra)| {
                // A backup cannot end before it starts.
                let (start, end) = match (start, end) {
                    (Some(a), Some(b)) if b < a => (Some(b), Some(a)),
                    times => times,
                };
                let mut json: Map<String, Value> = extra.into_iter().collect();
                json.insert("BackupId".into(), id_json);
                json.insert("Status".into(), json!(status));
                json.insert("BackupType".into(), json!("full-backup"));
                if let Some(s) = size_json {
                    json.insert("BackupSize".into(), s);
                }
                json.insert("StartTime".into(), time_field(start));
                json.insert("EndTime".into(), time_field(end));
                Generated {
                    json,
                    id,
                    status,
                    size,
                    start,
                    end,
                }
            },
        )
}

fn check_decoded(b: &Backup, g: &Generated, zone: FixedOffset) {
    let utc = |t: Option<NaiveDateTime>| {
        t.map(|t| zone.from_local_datetime(&t).unwrap().with_timezone(&Utc))
    };
    assert_eq!(b.id, g.id);
    assert_eq!(b.status.as_str(), g.status, "the word is kept as written");
    assert_eq!(b.size, g.size);
    assert_eq!(b.start, utc(g.start));
    assert_eq!(b.end, utc(g.end));
    assert_eq!(b.backup_type, "full-backup");
}

/// A listed entry that must be rejected, and the id it is reported under.
fn invalid_entry() -> impl Strategy<Value = (Value, Option<String>)> {
    let broken = |field: &'static str, value: Value| {
        backup().prop_map(move |g| {
            let mut json = g.json;
            json.insert(field.to_owned(), value.clone());
            let id = json
                .get("BackupId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (Value::Object(json), id)
        })
    };
    prop_oneof![
        leaf()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(|v| (v, None)),
        Just((json!([]), None)),
        broken("BackupId", json!("")),
        broken("BackupId", json!(["x"])),
        broken("BackupSize", json!(true)),
        broken("BackupSize", json!("12 MB")),
        broken("BackupSize", json!(-5)),
        broken("BackupSize", json!(1.5)),
        broken("StartTime", json!("21/08/2020 15:58")),
        broken("EndTime", json!({"t": 1})),
        broken("Status", json!([1])),
    ]
}

/// An instance as CDS might list it: (entry, uuid, name, tag names, the local
/// `CreatedTime` it must be read as).
type GeneratedInstance = (Value, String, String, Vec<String>, Option<NaiveDateTime>);

fn instance() -> impl Strategy<Value = GeneratedInstance> {
    let tag = prop_oneof![
        "[a-z]{1,8}".prop_map(|t| (json!({"TagID": 1, "TagName": t}), Some(t))),
        leaf().prop_map(|v| (json!({"TagName": v.clone()}), v.as_str().map(str::to_owned))),
        leaf().prop_map(|v| (v, None)),
    ];
    // Missing, unusable (never a reason to drop the entry), or a time to be read.
    let created = prop_oneof![
        Just((None, None)),
        prop_oneof![
            Just(Value::Null),
            Just(json!("")),
            Just(json!("not a time")),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
        ]
        .prop_map(|v| (Some(v), None)),
        datetime().prop_map(|t| (Some(time_field(Some(t))), Some(t))),
    ];
    (
        "[a-z0-9-]{1,36}",
        "\\PC{0,16}",
        prop::collection::vec(tag, 0..4),
        prop::collection::vec(("X[a-z]{1,6}", leaf()), 0..4),
        created,
    )
        .prop_map(|(uuid, name, tags, extra, (created, want))| {
            let mut o: Map<String, Value> = extra.into_iter().collect();
            o.insert("InstanceUuid".into(), json!(uuid));
            o.insert("InstanceName".into(), json!(name));
            o.insert(
                "Tags".into(),
                Value::Array(tags.iter().map(|(v, _)| v.clone()).collect()),
            );
            if let Some(c) = created {
                o.insert("CreatedTime".into(), c);
            }
            let names = tags.into_iter().filter_map(|(_, t)| t).collect();
            (Value::Object(o), uuid, name, names, want)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_json_makes_a_decoder_panic(data in json(), zone in zone()) {
        let _ = instances(&data, zone, now());
        let _ = backup_list(&data, zone, now());
        let _ = backup_detail(&data, zone, now());
        let list = Value::Array(vec![data]);
        let _ = instances(&list, zone, now());
        let _ = backup_list(&list, zone, now());
        // The streaming decoder judges every answer as the one over a value does,
        // both reading the same text (floats need not survive a round trip).
        let raw = serde_json::value::to_raw_value(&list).unwrap();
        let read: Value = serde_json::from_str(raw.get()).unwrap();
        prop_assert_eq!(
            instances_where(Some(&raw), zone, now(), &|_| true),
            instances(&read, zone, now())
        );
    }

    #[test]
    fn well_formed_backups_round_trip(
        backups in prop::collection::vec(backup(), 1..6),
        zone in zone(),
        shard in "\\PC{0,12}",
    ) {
        let list = Value::Array(backups.iter().map(|g| Value::Object(g.json.clone())).collect());
        let decoded = backup_list(&list, zone, now()).unwrap();
        prop_assert!(decoded.invalid.is_empty(), "{:?}", decoded.invalid);
        prop_assert_eq!(decoded.backups.len(), backups.len());
        for (b, g) in decoded.backups.iter().zip(&backups) {
            check_decoded(b, g, zone);
        }
        let mut detail = backups[0].json.clone();
        detail.insert("ShardId".into(), json!(shard));
        detail.insert("BackupDownloadUrl".into(), json!(" https://oss.example/x?sig=s "));
        let d = backup_detail(&Value::Object(detail), zone, now()).unwrap();
        check_decoded(&d.backup, &backups[0], zone);
        prop_assert_eq!(d.shard_id, shard);
        prop_assert_eq!(d.public_url.as_ref().map(SecretUrl::expose), Some("https://oss.example/x?sig=s"));
        prop_assert_eq!(d.intranet_url, None);
    }

    #[test]
    fn an_invalid_backup_never_hides_valid_ones(
        entries in prop::collection::vec(
            prop_oneof![
                backup().prop_map(Ok),
                invalid_entry().prop_map(Err),
            ],
            0..8,
        ),
        zone in zone(),
    ) {
        let list = Value::Array(
            entries
                .iter()
                .map(|e| match e {
                    Ok(g) => Value::Object(g.json.clone()),
                    Err((v, _)) => v.clone(),
                })
                .collect(),
        );
        let decoded = backup_list(&list, zone, now()).unwrap();
        let valid: Vec<&Generated> = entries.iter().filter_map(|e| e.as_ref().ok()).collect();
        let invalid: Vec<&Option<String>> =
            entries.iter().filter_map(|e| e.as_ref().err().map(|(_, id)| id)).collect();
        prop_assert_eq!(decoded.backups.len(), valid.len());
        for (b, g) in decoded.backups.iter().zip(valid) {
            check_decoded(b, g, zone);
        }
        prop_assert_eq!(decoded.invalid.len(), invalid.len());
        for (i, id) in decoded.invalid.iter().zip(invalid) {
            prop_assert_eq!(&i.id, id);
        }
    }

    #[test]
    fn well_formed_instances_round_trip(
        generated in prop::collection::vec(instance(), 0..6),
        zone in zone(),
    ) {
        let list = Value::Array(generated.iter().map(|(v, ..)| v.clone()).collect());
        let decoded = instances(&list, zone, now()).unwrap();
        prop_assert_eq!(decoded.len(), generated.len());
        for (i, (_, uuid, name, tags, created)) in decoded.iter().zip(&generated) {
            prop_assert_eq!(&i.uuid, uuid);
            prop_assert_eq!(&i.name, name);
            prop_assert_eq!(&i.tags, tags);
            let want = created.map(|t| zone.from_local_datetime(&t).unwrap().with_timezone(&Utc));
            prop_assert_eq!(i.created, want);
        }
    }
}
