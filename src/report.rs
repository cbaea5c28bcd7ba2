//! The fleet in plain words, for people rather than Prometheus: what `check` prints
//! and the status page shows. Built from a [`Snapshot`] and a clock, nothing else, so
//! both say exactly what `/metrics` says, problems first.
//!
//! Every finding is the policy engine's ([`crate::verdict`], the same verdicts `/metrics`
//! exports and the alert rules read): this module only renders them, with no threshold
//! or judgement of its own. Critical for "no backup you could restore from within the
//! allowed age" and for not being able to see; warning for the rest. Each finding names
//! the alert that fires for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::state::{BackupKey, BackupState, ShardKey, Snapshot};

mod drills;
mod people;
mod text;
mod view;
pub use drills::{drill_icon, drills_of, memory_text, seconds_text, DrillView};
pub use people::{
    charset_from_locale, checked, icon, local_time, no_problem_text, verified_text, word, Charset,
    Checked,
};
pub use text::{for_terminal, human_age, human_bytes, CELL_CHARS};
pub use view::*;

/// One shard of an instance as text, as `check` and the status page show it; the
/// instance's own findings come on its first row. `None`: nothing to show.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub account: &'a str,
    /// The name, or the UUID when CDS gave no name.
    pub instance: &'a str,
    pub shard: &'a str,
    pub newest: Option<String>,
    /// Age of the restore point's data, and the age allowed it (deadline − point), as
    /// the engine judges them; `None` without a restore point.
    pub age: Option<String>,
    pub size: Option<String>,
    pub took: Option<String>,
    /// States of the backups newer than the newest finished one.
    pub newer: String,
    /// One entry per probed URL: `public ok`, `intranet 403`.
    pub downloads: Vec<String>,
    /// The verdict and level, naming what a light check read, or why there is none.
    pub verified: String,
    /// How much of the newest backup was checked: what "ok" may claim.
    pub checked: Checked,
    pub findings: Vec<&'a Finding>,
    pub worst: Option<Severity>,
}

impl Row<'_> {
    /// The problem cell of a row without findings: "ok" only for a dump read whole.
    pub fn no_problem(&self) -> &'static str {
        no_problem_text(self.checked)
    }
}

/// The rows of an instance: one per shard (one if it has none).
pub fn rows(i: &InstanceView) -> Vec<Row<'_>> {
    let instance = if i.instance_name.is_empty() {
        &i.instance_uuid
    } else {
        &i.instance_name
    };
    (0..i.shards.len().max(1))
        .map(|n| {
            let s = i.shards.get(n);
            let mut findings: Vec<&Finding> =
                s.map(|s| s.findings.iter().collect()).unwrap_or_default();
            if n == 0 {
                findings.splice(0..0, i.findings.iter());
            }
            let newest = s.and_then(|s| s.newest.as_ref());
            Row {
                account: &i.account,
                instance,
                shard: s.map_or("", |s| s.shard_id.as_str()),
                newest: newest.map(|b| local_time(b.end, i.zone)),
                age: s.and_then(|s| s.restore_point.as_ref()).map(|p| {
                    format!(
                        "{} / {}",
                        human_age(p.age_seconds),
                        human_age(p.allowed_age_seconds)
                    )
                }),
                size: newest.and_then(|b| b.size_bytes).map(human_bytes),
                took: newest.and_then(|b| b.duration_seconds).map(human_age),
                newer: s.map_or_else(String::new, |s| {
                    s.newer
                        .iter()
                        .map(|b| b.status.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                downloads: s.map_or_else(Vec::new, |s| {
                    s.urls
                        .iter()
                        .map(|p| {
                            let t = p.url_type.as_str();
                            if p.reachable {
                                format!("{t} ok")
                            } else {
                                format!("{t} {}", p.http_status)
                            }
                        })
                        .collect()
                }),
                verified: verified_text(verification(s), i.verify_level),
                checked: checked(verification(s)),
                worst: findings.iter().map(|f| f.severity).max(),
                findings,
            }
        })
        .collect()
}

/// A shard's verification as (level, result).
fn verification(s: Option<&ShardView>) -> Option<(&str, &str)> {
    s.and_then(|s| s.verification.as_ref())
        .map(|v| (v.level.as_str(), v.result.as_str()))
}

/// The engine's finding in words, its times in the account's `zone`, with the alert that
/// fires for it named at the end.
fn rendered(f: &crate::verdict::Finding, zone: chrono::FixedOffset) -> Finding {
    let severity = match f.reason.severity() {
        crate::verdict::Severity::Critical => Severity::Critical,
        crate::verdict::Severity::Warning => Severity::Warning,
    };
    let alert = f.reason.alert();
    Finding {
        severity,
        what: {
            let detail = f.detail_with(|t| local_time(t, zone));
            match alert {
                Some(a) => format!("{detail} ({a})"),
                None => detail,
            }
        },
        alert,
    }
}

/// What the snapshot says, at `now`.
pub fn fleet(snap: &Snapshot, now: DateTime<Utc>) -> Fleet {
    let accounts: Vec<AccountView> = snap
        .account_up
        .iter()
        .map(|(name, up)| AccountView {
            name: name.clone(),
            up: *up,
            error: snap.account_errors.get(name).cloned(),
            utc_offset: zone_of(snap, name).to_string(),
        })
        .collect();
    let last_success = snap.last_success();
    let verdicts = crate::verdict::judge(snap, now);
    let mut by_instance: BTreeMap<&str, Vec<&BackupState>> = BTreeMap::new();
    for b in snap.backups.values() {
        by_instance.entry(&b.instance_uuid).or_default().push(b);
    }
    let mut instances: Vec<InstanceView> = snap
        .instances
        .iter()
        .map(|(uuid, (account, i))| {
            let backups = by_instance.get(uuid.as_str()).cloned().unwrap_or_default();
            let zone = zone_of(snap, account);
            let mut shards = shards(snap, uuid, &backups, &last_success, &verdicts, now, zone);
            // The shards with problems first, as the instances are.
            shards.sort_by_cached_key(|s| {
                let worst = s.findings.iter().map(|f| f.severity).max();
                (std::cmp::Reverse(worst), s.shard_id.clone())
            });
            InstanceView {
                account: account.clone(),
                instance_uuid: uuid.clone(),
                instance_name: i.name.clone(),
                tags: i.tags.clone(),
                backups_listed: snap.instance_backups.get(uuid).copied(),
                shards,
                findings: crate::verdict::instance_findings(snap, uuid, account)
                    .iter()
                    .map(|f| rendered(f, zone))
                    .collect(),
                verify_level: snap.verify_levels.get(uuid).map(|l| l.as_str()),
                zone,
                drills: drills_of(snap, uuid),
            }
        })
        .collect();
    for (uuid, gone) in &snap.vanished {
        instances.push(InstanceView {
            account: gone.account.clone(),
            instance_uuid: uuid.clone(),
            instance_name: gone.name.clone(),
            tags: Vec::new(),
            backups_listed: None,
            shards: Vec::new(),
            findings: crate::verdict::vanished_finding(snap, uuid, now)
                .iter()
                .map(|f| rendered(f, zone_of(snap, &gone.account)))
                .collect(),
            verify_level: None,
            zone: zone_of(snap, &gone.account),
            drills: Vec::new(),
        });
    }
    instances.sort_by_cached_key(|v| {
        (
            std::cmp::Reverse(v.worst()),
            std::cmp::Reverse(v.all_findings().count()),
            v.account.clone(),
            v.instance_name.clone(),
            v.instance_uuid.clone(),
        )
    });
    let mut summary = Summary {
        instances: instances.len(),
        blind_accounts: accounts.iter().filter(|a| !a.up).count(),
        ..Summary::default()
    };
    for i in &instances {
        summary.unverified_shards += i
            .shards
            .iter()
            .filter(|s| s.newest.is_some() && checked(verification(Some(s))) == Checked::No)
            .count();
        match i.worst() {
            None => summary.healthy += 1,
            Some(Severity::Critical) => summary.critical += 1,
            Some(Severity::Warning) => summary.warning += 1,
        }
    }
    Fleet {
        generated_at: now,
        accounts,
        instances,
        summary,
        verification: None,
    }
}

/// An account's configured zone; UTC for one the snapshot does not know.
fn zone_of(snap: &Snapshot, account: &str) -> chrono::FixedOffset {
    snap.account_zones
        .get(account)
        .copied()
        .unwrap_or_else(|| chrono::Offset::fix(&Utc))
}

fn shards(
    snap: &Snapshot,
    uuid: &str,
    backups: &[&BackupState],
    last_success: &BTreeMap<ShardKey, crate::state::LastSuccess>,
    verdicts: &BTreeMap<ShardKey, crate::verdict::ShardVerdict>,
    now: DateTime<Utc>,
    zone: chrono::FixedOffset,
) -> Vec<ShardView> {
    let mut ids: Vec<String> = backups.iter().map(|b| b.shard_id.clone()).collect();
    // A range, not a scan: thousands of instances each look up their own shards.
    ids.extend(
        snap.shards
            .range(ShardKey::new(uuid, "")..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
            .map(|(k, _)| k.shard_id.clone()),
    );
    // An instance never backed up has a verdict for shard "" and nothing else.
    ids.extend(
        verdicts
            .range(ShardKey::new(uuid, "")..)
            .take_while(|(k, _)| k.instance_uuid == uuid)
            .map(|(k, _)| k.shard_id.clone()),
    );
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .map(|shard| {
            let key = ShardKey::new(uuid, &shard);
            let facts = snap.shards.get(&key);
            let ls = last_success.get(&key);
            let newest = ls.and_then(|ls| {
                backups.iter().find(|b| {
                    b.shard_id == shard && b.backup.is_finished() && b.backup.end == Some(ls.end)
                })
            });
            let mut v = ShardView {
                shard_id: shard.clone(),
                newest: newest.map(|b| BackupView {
                    backup_id: b.backup.id.clone(),
                    end: b.backup.end.unwrap_or(now),
                    age_seconds: b.backup.end.map_or(0, |e| (now - e).num_seconds()),
                    size_bytes: b.backup.size,
                    duration_seconds: b
                        .backup
                        .end
                        .zip(b.backup.start)
                        .map(|(e, s)| (e - s).num_seconds()),
                }),
                max_age_seconds: facts.map(|f| f.max_age.as_secs()),
                newer: Vec::new(),
                urls: Vec::new(),
                verification: None,
                keys: None,
                restore_point: None,
                restore_deadline: None,
                findings: Vec::new(),
            };
            let mut newer: Vec<&&BackupState> = backups
                .iter()
                .filter(|b| b.shard_id == shard && !b.backup.is_finished())
                .collect();
            newer.sort_by_key(|b| std::cmp::Reverse(b.backup.start));
            for b in newer {
                v.newer.push(NewerBackup {
                    backup_id: b.backup.id.clone(),
                    status: b.backup.status.clone(),
                });
            }
            if let Some(b) = newest {
                newest_facts(snap, &mut v, b);
            }
            if let Some(verdict) = verdicts.get(&key) {
                v.restore_point = verdict.restore_point.as_ref().map(|r| RestorePointView {
                    backup_id: r.backup_id.clone(),
                    point: r.point,
                    age_seconds: (now - r.point).num_seconds(),
                    // What the deadline says, so the column and the deadline agree.
                    allowed_age_seconds: verdict.deadline.map_or_else(
                        || i64::try_from(verdict.allowed_age.as_secs()).unwrap_or(i64::MAX),
                        |d| (d - r.point).num_seconds(),
                    ),
                });
                v.restore_deadline = verdict.deadline;
                v.findings
                    .extend(verdict.findings.iter().map(|f| rendered(f, zone)));
            }
            v
        })
        .collect()
}

/// What the probes and the verification saw of the newest finished backup, as facts.
fn newest_facts(snap: &Snapshot, v: &mut ShardView, b: &BackupState) {
    for (t, p) in &b.probes {
        v.urls.push(UrlProbe {
            url_type: *t,
            http_status: p.status,
            reachable: p.reachable(),
        });
    }
    let key = BackupKey::new(&b.instance_uuid, &b.backup.id);
    // A final verdict says more than a failed download at a higher level.
    let best = snap
        .verifications
        .get(&key)
        .and_then(|vs| vs.iter().max_by_key(|v| (v.outcome.is_final(), v.level)));
    if let Some(ver) = best {
        v.verification = Some(VerificationView {
            level: ver.level,
            result: ver.outcome,
        });
        v.keys = ver.keys;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cds::{BackupStatus, UrlType};
    use crate::config::VerifyLevel;
    use crate::verify::Outcome;

    /// One instance whose newest backup `b1` (ended 2 h ago) verified as `outcome`, with
    /// an older listed backup `b0` ended `older_h` hours ago.
    fn one_instance(outcome: Outcome, older_h: i64) -> (Snapshot, DateTime<Utc>) {
        use crate::cds::{Backup, Instance};
        use crate::state::ShardFacts;
        let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let h = |n: i64| now - chrono::Duration::hours(n);
        let mut snap = Snapshot::default();
        let instance = Instance {
            uuid: "u".into(),
            name: "orders".into(),
            ..Instance::default()
        };
        snap.instances
            .insert("u".into(), ("main".into(), instance.into()));
        snap.instance_backups.insert("u".into(), 2);
        let backup = Backup {
            id: "b1".into(),
            status: "finished".into(),
            backup_type: "RDB".into(),
            mode: "auto".into(),
            size: Some(1000),
            start: Some(h(3)),
            end: Some(h(2)),
        };
        let state = BackupState {
            instance_uuid: "u".into(),
            shard_id: String::new(),
            backup,
            probes: Vec::new(),
            urls: None,
        };
        snap.backups
            .insert(BackupKey::new("u", "b1"), std::sync::Arc::new(state));
        snap.shards.insert(
            ShardKey::new("u", ""),
            ShardFacts {
                finished: Some(2),
                expected_interval: None,
                schedule: None,
                max_age: crate::policy::DEFAULT_MAX_AGE,
                rule_max_age: None,
                listed_finished: vec![("b1".into(), h(2)), ("b0".into(), h(older_h))],
            },
        );
        let v = crate::verify::Verification {
            outcome,
            level: crate::config::VerifyLevel::Light,
            ..Default::default()
        };
        snap.verifications
            .insert(BackupKey::new("u", "b1"), vec![v]);
        (snap, now)
    }

    fn findings(snap: &Snapshot, now: DateTime<Utc>) -> Vec<(Severity, Option<&'static str>)> {
        let f = fleet(snap, now);
        f.instances[0]
            .all_findings()
            .map(|f| (f.severity, f.alert))
            .collect()
    }

    /// The named views keep the JSON shape docs/check.schema.json gives: arrays.
    #[test]
    fn named_views_are_written_as_the_schemas_arrays() {
        let newer = NewerBackup {
            backup_id: "b2".into(),
            status: BackupStatus::Unknown("paused".into()),
        };
        let url = UrlProbe {
            url_type: UrlType::Public,
            http_status: 403,
            reachable: false,
        };
        let ver = VerificationView {
            level: VerifyLevel::Light,
            result: Outcome::Truncated,
        };
        assert_eq!(
            serde_json::to_string(&(newer, url, ver)).unwrap(),
            r#"[["b2","paused"],["public",403,false],["light","truncated"]]"#
        );
    }

    #[test]
    fn a_corrupt_newest_warns_and_pages_only_when_nothing_older_restores_in_time() {
        let (snap, now) = one_instance(Outcome::Corrupt, 20);
        assert_eq!(
            findings(&snap, now),
            [
                (Severity::Warning, Some("CdsRedisBackupNewestUnusable")),
                (Severity::Warning, Some("CdsRedisBackupCorrupt")),
            ]
        );
        let (snap, now) = one_instance(Outcome::Corrupt, 30);
        assert_eq!(
            findings(&snap, now),
            [
                (Severity::Critical, Some("CdsRedisBackupNoRestorePoint")),
                (Severity::Warning, Some("CdsRedisBackupNewestUnusable")),
                (Severity::Warning, Some("CdsRedisBackupCorrupt")),
            ]
        );
        // Empty without an earlier backup known to hold keys: a warning, no alert.
        let (snap, now) = one_instance(Outcome::Empty, 30);
        assert_eq!(findings(&snap, now), [(Severity::Warning, None)]);
    }
}
