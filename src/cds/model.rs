//! Typed answers of the three read actions, decoded leniently from CDS JSON.
//!
//! CDS answers drift from their documentation (`BackupSize` as number *or* string, times
//! without a zone, fields added or left out), so decoding goes through `serde_json::Value`
//! field by field: unknown fields are ignored, missing optional ones tolerated, and a
//! wrong-typed field becomes a [`DecodeError`] naming that field — without ever echoing a
//! download URL.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A presigned download URL. It grants access to the backup, so `Debug` and `Display`
/// never show it; only [`SecretUrl::expose`] does, for the one GET that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: String) -> Self {
        Self(url)
    }
    /// The full URL, query string included. Never log or label it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(<redacted>)")
    }
}

/// One Redis instance from `DescribeDBInstances`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub uuid: String,
    pub name: String,
    pub status: String,
    pub region_id: String,
    pub sub_product: String,
    pub version: String,
    pub tags: Vec<String>,
    /// `CreatedTime`, in the account's zone; `None` when CDS left it out or gave one
    /// that cannot be true (unparsable, before 2009, in the future): the instance is
    /// still described, only its age is unknown.
    pub created: Option<DateTime<Utc>>,
    /// `Ram` (documented in MiB) in bytes; `None` when CDS left it out or gave no
    /// positive whole number. What a restore drill's `used_memory` is compared with.
    pub ram_bytes: Option<u64>,
}

/// A backup's `Status`, decoded once. CDS documents `finished`, `running` and
/// `failed`; any other word is kept as it came ([`BackupStatus::Unknown`]), so
/// `cds_redis_backup_status_info` still shows it and the policy engine reports it as
/// `status_unknown` rather than guessing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackupStatus {
    /// The only status documented as success.
    Finished,
    Running,
    Failed,
    /// A word CDS does not document, exactly as it was written.
    Unknown(String),
}

impl BackupStatus {
    pub fn parse(word: &str) -> Self {
        match word {
            "finished" => Self::Finished,
            "running" => Self::Running,
            "failed" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The word CDS wrote.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Finished => "finished",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Unknown(word) => word,
        }
    }
}

impl From<&str> for BackupStatus {
    fn from(word: &str) -> Self {
        Self::parse(word)
    }
}

impl fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One backup as `DescribeBackups` lists it (no shard, no URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub id: String,
    pub status: BackupStatus,
    pub backup_type: String,
    pub mode: String,
    /// `None` when CDS left it out or empty (a running backup has no size yet).
    pub size: Option<u64>,
    pub start: Option<DateTime<Utc>>,
    /// `None` while the backup has not finished (`EndTime` is `""`).
    pub end: Option<DateTime<Utc>>,
}

impl Backup {
    /// Only `finished` is documented as success; anything else is not (yet) a usable backup.
    pub fn is_finished(&self) -> bool {
        self.status == BackupStatus::Finished
    }

    /// Finished and failed backups never change again, so their details can be reused.
    pub fn is_final(&self) -> bool {
        matches!(self.status, BackupStatus::Finished | BackupStatus::Failed)
    }
}

/// Which download URL of a backup: over the public internet, or inside the CDS region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UrlType {
    Public,
    Intranet,
}

impl UrlType {
    pub const ALL: [UrlType; 2] = [UrlType::Public, UrlType::Intranet];

    /// The `url_type` label value, and the name in `probe.url_types`.
    pub fn as_str(self) -> &'static str {
        match self {
            UrlType::Public => "public",
            UrlType::Intranet => "intranet",
        }
    }
}

/// One backup's details from `DownloadBackup`: the listing fields plus shard and URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDetail {
    pub backup: Backup,
    /// `""` for non-cluster instances.
    pub shard_id: String,
    pub public_url: Option<SecretUrl>,
    pub intranet_url: Option<SecretUrl>,
}

impl BackupDetail {
    /// The download URL of this type, if CDS gave one.
    pub fn url(&self, url_type: UrlType) -> Option<&SecretUrl> {
        match url_type {
            UrlType::Public => self.public_url.as_ref(),
            UrlType::Intranet => self.intranet_url.as_ref(),
        }
    }
}

/// `DescribeBackups`: the backups that decoded, and one error for each that did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupList {
    pub backups: Vec<Backup>,
    pub invalid: Vec<InvalidBackup>,
}

/// A listed backup that could not be decoded; `id` is `None` when even that was unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBackup {
    pub id: Option<String>,
    pub error: DecodeError,
}

/// A field of a CDS answer that is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct DecodeError {
    pub field: &'static str,
    pub problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError {
        field,
        problem: problem.into(),
    }
}

/// Describes a JSON value's type for an error message without quoting strings, which may
/// be long or secret.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string field; missing or `null` is `""`, numbers are accepted as their text (ids).
fn text(obj: &Map<String, Value>, field: &'static str) -> Result<String, DecodeError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(bad(
            field,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

/// `BackupSize`: documented as a string, seen as a number. Accept both; `""`/missing is
/// unknown; anything else is an error for this backup alone.
fn size(obj: &Map<String, Value>) -> Result<Option<u64>, DecodeError> {
    const F: &str = "BackupSize";
    match obj.get(F) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                // Some serializers write 176.0; accept integral floats only.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| bad(F, format!("expected a whole number of bytes, got {n}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            let shown: String = s.chars().take(32).collect();
            bad(
                F,
                format!("expected a whole number of bytes, got the string {shown:?}"),
            )
        }),
        Some(other) => Err(bad(
            F,
            format!("expected a number or a string, got {}", kind(other)),
        )),
    }
}

/// `YYYY-MM-DD HH:MM:SS` in the account's zone; `""`/missing is `None`.
fn time(
    obj: &Map<String, Value>,
    field: &'static str,
    zone: FixedOffset,
) -> Result<Option<DateTime<Utc>>, DecodeError> {
    let raw = text(obj, field)?;
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let shown: String = raw.chars().take(32).collect();
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").map_err(|_| {
        bad(
            field,
            format!("expected \"YYYY-MM-DD HH:MM:SS\", got {shown:?}"),
        )
    })?;
    // A fixed offset has no gaps or folds, so the mapping is always single.
    zone.from_local_datetime(&naive)
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| bad(field, format!("{shown:?} does not exist in zone {zone}")))
}

fn object<'a>(v: &'a Value, what: &'static str) -> Result<&'a Map<String, Value>, DecodeError> {
    v.as_object()
        .ok_or_else(|| bad(what, format!("expected an object, got {}", kind(v))))
}

fn backup(
    obj: &Map<String, Value>,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Result<Backup, DecodeError> {
    let id = text(obj, "BackupId")?;
    if id.is_empty() {
        return Err(bad("BackupId", "missing or empty"));
    }
    let b = Backup {
        id,
        status: BackupStatus::parse(&text(obj, "Status")?),
        backup_type: text(obj, "BackupType")?,
        mode: text(obj, "BackupMode")?,
        size: size(obj)?,
        start: time(obj, "StartTime", zone)?,
        end: time(obj, "EndTime", zone)?,
    };
    check_times(&b, now)?;
    Ok(b)
}

/// How far ahead of the exporter's clock CDS's clock may run: a time this little in the
/// future is drift, believed as it is.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::hours(1);

/// The largest error a wrong `timezone` can cause: UTC offsets in use span −12:00
/// (Baker Island) to +14:00 (Line Islands), so a time rendered in one real zone and read
/// in another is off by at most 26 h (config validation keeps `accounts[].timezone`
/// within that span).
pub const ZONE_ERROR_MAX: chrono::Duration = chrono::Duration::hours(26);

/// How far in the future a backup's time may lie and still be believed: a wrong zone plus
/// drift. Such a backup is kept (it exists; the policy engine reports its times as
/// `times_in_future`, naming the account's `timezone`, and does not let them push a
/// deadline out); rejecting it would drop the newest backups of an account 8 h off and
/// turn one configuration error into a down target and failing polls. Beyond it, no
/// zone explains the time: the backup is invalid.
pub const FUTURE_BOUND: chrono::Duration = chrono::Duration::hours(27);

/// Times before this cannot belong to a Redis backup (Redis appeared in 2009).
const EARLIEST: i64 = 1_230_768_000; // 2009-01-01T00:00:00Z

/// A backup dated far in the future (past [`FUTURE_BOUND`]) would be the "newest" for
/// ever and hide staleness; one that ends before it starts, or predates Redis, gives
/// negative or absurd durations. Such a backup is invalid, not believed.
fn check_times(b: &Backup, now: DateTime<Utc>) -> Result<(), DecodeError> {
    for (field, t) in [("StartTime", b.start), ("EndTime", b.end)] {
        let Some(t) = t else { continue };
        if t > now + FUTURE_BOUND {
            return Err(bad(
                field,
                format!(
                    "{} lies more than {} h in the future, more than any timezone explains",
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    FUTURE_BOUND.num_hours()
                ),
            ));
        }
        if t.timestamp() < EARLIEST {
            return Err(bad(
                field,
                format!(
                    "{} is before 2009, older than Redis",
                    t.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            ));
        }
    }
    if let (Some(start), Some(end)) = (b.start, b.end) {
        if end < start {
            return Err(bad(
                "EndTime",
                format!(
                    "{} is before StartTime",
                    end.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            ));
        }
    }
    Ok(())
}

fn url(obj: &Map<String, Value>, field: &'static str) -> Result<Option<SecretUrl>, DecodeError> {
    let s = text(obj, field)?;
    Ok((!s.trim().is_empty()).then(|| SecretUrl::new(s.trim().to_owned())))
}

/// `Data` where a list is expected. Missing or `null` is an error, never an empty list:
/// an empty list drops every series of an account or says an instance has no backup,
/// so it has to be said, as `[]`.
fn list(data: &Value) -> Result<&Vec<Value>, DecodeError> {
    match data {
        Value::Array(list) => Ok(list),
        Value::Null => Err(bad(
            "Data",
            "missing or null where a list is expected (an empty list is [])",
        )),
        other => Err(bad("Data", format!("expected a list, got {}", kind(other)))),
    }
}

/// Decodes `DescribeDBInstances`' `Data` (`null` when the answer has none); `zone` and
/// `now` date `CreatedTime` as in [`backup_list`].
pub fn instances(
    data: &Value,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Result<Vec<Instance>, DecodeError> {
    list(data)?.iter().map(|v| instance(v, zone, now)).collect()
}

/// [`instances`], keeping only those whose UUID `keep` accepts, from `Data` as it was
/// sent (`None`: absent or `null`). Entries are decoded one at a time and the others
/// dropped at once, so a replica that owns a quarter of 50,000 instances never holds
/// the other three quarters. Every entry is still checked, whoever owns it: each
/// replica judges the same answer the same way.
pub fn instances_where(
    data: Option<&RawValue>,
    zone: FixedOffset,
    now: DateTime<Utc>,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Instance>, DecodeError> {
    let Some(raw) = data else {
        return list(&Value::Null).map(|_| Vec::new());
    };
    if !raw.get().starts_with('[') {
        // Not a list: the error `list` gives for it (the value is not kept).
        let v: Value = serde_json::from_str(raw.get())
            .map_err(|e| bad("Data", format!("cannot be decoded: {e}")))?;
        return list(&v).map(|_| Vec::new());
    }
    let mut failed = None;
    let kept = serde::Deserializer::deserialize_seq(
        &mut serde_json::Deserializer::from_str(raw.get()),
        Owned {
            keep,
            zone,
            now,
            failed: &mut failed,
        },
    );
    match (kept, failed) {
        (_, Some(e)) => Err(e),
        (Ok(kept), None) => Ok(kept),
        (Err(e), None) => Err(bad("Data", format!("cannot be decoded: {e}"))),
    }
}

/// The entries of `Data` that `keep` accepts; the first undecodable one stops the
/// walk, its error left in `failed` (a serde error cannot carry a [`DecodeError`]).
struct Owned<'k> {
    keep: &'k dyn Fn(&str) -> bool,
    zone: FixedOffset,
    now: DateTime<Utc>,
    failed: &'k mut Option<DecodeError>,
}

impl<'de> serde::de::Visitor<'de> for Owned<'_> {
    type Value = Vec<Instance>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of instances")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            match instance(&v, self.zone, self.now) {
                Ok(i) if (self.keep)(&i.uuid) => kept.push(i),
                Ok(_) => {}
                Err(e) => {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("an undecodable instance"));
                }
            }
        }
        Ok(kept)
    }
}

/// One entry of `DescribeDBInstances`' `Data`.
fn instance(v: &Value, zone: FixedOffset, now: DateTime<Utc>) -> Result<Instance, DecodeError> {
    let o = object(v, "Data[]")?;
    let uuid = text(o, "InstanceUuid")?;
    if uuid.is_empty() {
        return Err(bad("InstanceUuid", "missing or empty"));
    }
    let tags = match o.get("Tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(|t| t.get("TagName").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Instance {
        uuid,
        name: text(o, "InstanceName")?,
        status: text(o, "Status")?,
        region_id: text(o, "RegionId")?,
        sub_product: text(o, "SubProductKey")?,
        version: text(o, "Version")?,
        tags,
        created: created(o, zone, now),
        ram_bytes: o
            .get("Ram")
            .and_then(Value::as_u64)
            .filter(|m| *m > 0)
            .and_then(|m| m.checked_mul(1 << 20)),
    })
}

/// `CreatedTime`: `YYYY-MM-DD HH:MM:SS` in the account's zone as documented, also with a
/// `T`, fractional seconds, or an explicit offset (then honoured). Unlike a backup's
/// times, a bad one never makes the entry invalid: an instance's name and tags matter
/// more than its age, and an unknown age only delays the never-backed-up grace to the
/// first time the exporter saw it. So anything unusable is `None`, including a time in
/// the future (a wrong `timezone` would otherwise extend that grace) or before Redis.
fn created(
    obj: &Map<String, Value>,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let raw = obj.get("CreatedTime")?.as_str()?.trim();
    if raw.is_empty() {
        return None;
    }
    let at = match DateTime::parse_from_rfc3339(raw) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())?;
            zone.from_local_datetime(&naive)
                .single()?
                .with_timezone(&Utc)
        }
    };
    (at.timestamp() >= EARLIEST && at <= now + CLOCK_SKEW).then_some(at)
}

/// Decodes `DescribeBackups`' `Data`; one bad backup does not hide the others. `now`
/// only judges whether the backups' times can be true.
pub fn backup_list(
    data: &Value,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Result<BackupList, DecodeError> {
    let mut out = BackupList {
        backups: Vec::new(),
        invalid: Vec::new(),
    };
    for v in list(data)? {
        match object(v, "Data[]").and_then(|o| backup(o, zone, now)) {
            Ok(b) => out.backups.push(b),
            Err(error) => out.invalid.push(InvalidBackup {
                id: v.get("BackupId").and_then(Value::as_str).map(str::to_owned),
                error,
            }),
        }
    }
    Ok(out)
}

/// Decodes `DownloadBackup`'s `Data`; `now` as in [`backup_list`].
pub fn backup_detail(
    data: &Value,
    zone: FixedOffset,
    now: DateTime<Utc>,
) -> Result<BackupDetail, DecodeError> {
    let o = object(data, "Data")?;
    Ok(BackupDetail {
        backup: backup(o, zone, now)?,
        shard_id: text(o, "ShardId")?,
        public_url: url(o, "BackupDownloadUrl")?,
        intranet_url: url(o, "BackupIntranetDownloadUrl")?,
    })
}

#[cfg(test)]
#[path = "model_proptest.rs"]
mod proptests;
#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
