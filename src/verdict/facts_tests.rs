//! The warnings that explain, one fact each: the thresholds that used to be written in
//! PromQL (and copied by hand into the status page) decided once, at and around them.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::cds::{Backup, UrlType};
use crate::config::VerifyLevel;
use crate::probe::ProbeResult;
use crate::state::TargetKey;
use crate::verify::{LastVerified, Outcome, Verification};

const U: &str = "u";
const NOW: i64 = 1_795_953_600;

fn t(hours: f64) -> DateTime<Utc> {
    DateTime::from_timestamp(NOW + (hours * 3600.0) as i64, 0).unwrap_or_default()
}

fn backup(id: &str, status: &str, start_h: f64, end_h: Option<f64>) -> Backup {
    Backup {
        id: id.into(),
        status: status.into(),
        backup_type: "RDB".into(),
        mode: "auto".into(),
        size: Some(1000),
        start: Some(t(start_h)),
        end: end_h.map(t),
    }
}

fn probe(url_type: UrlType, status: u16, total: Option<u64>) -> (UrlType, ProbeResult) {
    (
        url_type,
        ProbeResult {
            status,
            duration: Duration::from_millis(5),
            total_size: total,
            failure: None,
        },
    )
}

fn with(snap: &mut Snapshot, b: Backup, probes: Vec<(UrlType, ProbeResult)>) {
    let state = BackupState {
        instance_uuid: U.into(),
        shard_id: String::new(),
        probes,
        urls: None,
        backup: b,
    };
    snap.backups
        .insert(BackupKey::new(U, &state.backup.id), Arc::new(state));
}

/// (reason, backup_id, url_type, result) of a finding.
type Found = (
    &'static str,
    Option<String>,
    Option<&'static str>,
    Option<&'static str>,
);

/// Every finding of the instance's shard "".
fn found(snap: &Snapshot) -> Vec<Found> {
    judge(snap, t(0.0))
        .remove(&ShardKey::new(U, ""))
        .map(|v| {
            v.findings
                .into_iter()
                .map(|f| (f.reason.as_str(), f.backup_id, f.url_type, f.result))
                .collect()
        })
        .unwrap_or_default()
}

fn reasons(snap: &Snapshot) -> Vec<&'static str> {
    found(snap).into_iter().map(|f| f.0).collect()
}

/// The newest finished backup `b1` (ended 1 h ago, reachable) and `extra` newer ones.
fn shard(extra: &[Backup]) -> Snapshot {
    let mut snap = Snapshot::default();
    with(
        &mut snap,
        backup("b1", "finished", -1.5, Some(-1.0)),
        vec![probe(UrlType::Public, 200, Some(1000))],
    );
    for b in extra {
        with(&mut snap, b.clone(), Vec::new());
    }
    snap
}

#[test]
fn unfinished_backups_failed_unknown_and_stuck_after_six_hours() {
    assert_eq!(reasons(&shard(&[])), Vec::<&str>::new());
    let snap = shard(&[backup("b2", "failed", -0.5, None)]);
    assert_eq!(found(&snap), [("failed", Some("b2".into()), None, None)]);
    let snap = shard(&[backup("b2", "paused", -0.5, None)]);
    assert_eq!(reasons(&snap), ["status_unknown"]);
    // Running: 5h59m is not stuck, 6h01m is.
    let snap = shard(&[backup("b2", "running", -(5.0 + 59.0 / 60.0), None)]);
    assert_eq!(reasons(&snap), Vec::<&str>::new());
    let snap = shard(&[backup("b2", "running", -(6.0 + 1.0 / 60.0), None)]);
    assert_eq!(found(&snap), [("stuck", Some("b2".into()), None, None)]);
    assert_eq!(STUCK_AFTER, Duration::from_secs(6 * 3600));
}

#[test]
fn download_findings_one_per_url_type_and_a_gone_object_once() {
    let mut snap = Snapshot::default();
    let b1 = backup("b1", "finished", -1.5, Some(-1.0));
    with(
        &mut snap,
        b1.clone(),
        vec![
            probe(UrlType::Public, 403, None),
            probe(UrlType::Intranet, 200, Some(999)),
        ],
    );
    assert_eq!(
        found(&snap),
        [
            (
                "download_unreachable",
                Some("b1".into()),
                Some("public"),
                None
            ),
            ("size_mismatch", Some("b1".into()), Some("intranet"), None),
        ]
    );
    // A size the answer does not tell is no mismatch.
    with(
        &mut snap,
        b1.clone(),
        vec![probe(UrlType::Public, 200, None)],
    );
    assert_eq!(reasons(&snap), Vec::<&str>::new());
    // 404 on both URL types: the object is gone, said once (and the newest is unusable).
    with(
        &mut snap,
        b1,
        vec![
            probe(UrlType::Public, 404, None),
            probe(UrlType::Intranet, 410, None),
        ],
    );
    assert_eq!(
        reasons(&snap),
        ["no_restore_point", "newest_unusable", "object_gone"]
    );
}

fn verified(snap: &mut Snapshot, outcomes: &[(VerifyLevel, Outcome)]) {
    let vs = outcomes
        .iter()
        .map(|(level, outcome)| Verification {
            level: *level,
            outcome: *outcome,
            ..Verification::default()
        })
        .collect();
    snap.verifications.insert(BackupKey::new(U, "b1"), vs);
}

#[test]
fn verification_findings_of_the_newest_backup() {
    use Outcome::*;
    use VerifyLevel::*;
    type Case = (
        &'static [(VerifyLevel, Outcome)],
        &'static [(&'static str, Option<&'static str>)],
    );
    let cases: &[Case] = &[
        (&[(Light, Ok)], &[]),
        (
            &[(Full, NeedsDatabases)],
            &[("needs_databases", Some("needs_databases"))],
        ),
        (
            &[(Full, TooLarge)],
            &[("verify_inconclusive", Some("too_large"))],
        ),
        // Another level's verdict judges it: not inconclusive.
        (&[(Light, Ok), (Full, TooLarge)], &[]),
        (
            &[(Light, UnsupportedVersion), (Full, Skipped)],
            &[("verify_inconclusive", Some("unsupported_version"))],
        ),
        (
            &[(Light, Truncated), (Full, ChecksumMismatch)],
            &[
                ("newest_unusable", None),
                ("corrupt", Some("checksum_mismatch")),
                ("corrupt", Some("truncated")),
            ],
        ),
    ];
    for (outcomes, want) in cases {
        let mut snap = shard(&[]);
        verified(&mut snap, outcomes);
        let got: Vec<(&str, Option<&str>)> = found(&snap)
            .into_iter()
            .filter(|f| f.0 != "no_restore_point")
            .map(|f| (f.0, f.3))
            .collect();
        assert_eq!(got.as_slice(), *want, "{outcomes:?}");
    }
}

#[test]
fn unverified_six_hours_after_the_end_only_where_verification_is_on() {
    // b1 ended 1 h ago: not yet; ended 7 h ago with only a failed download: unverified.
    let mut snap = shard(&[]);
    snap.verify_levels.insert(U.into(), VerifyLevel::Light);
    verified(&mut snap, &[(VerifyLevel::Light, Outcome::DownloadFailed)]);
    assert_eq!(reasons(&snap), Vec::<&str>::new());
    let mut snap = Snapshot::default();
    with(
        &mut snap,
        backup("b1", "finished", -7.5, Some(-7.0)),
        vec![probe(UrlType::Public, 200, None)],
    );
    verified(&mut snap, &[(VerifyLevel::Light, Outcome::DownloadFailed)]);
    assert_eq!(reasons(&snap), Vec::<&str>::new(), "verify level off");
    snap.verify_levels.insert(U.into(), VerifyLevel::Light);
    assert_eq!(
        found(&snap),
        [("unverified", Some("b1".into()), None, None)]
    );
    verified(&mut snap, &[(VerifyLevel::Light, Outcome::Ok)]);
    assert_eq!(reasons(&snap), Vec::<&str>::new());
}

#[test]
fn empty_after_keys_within_two_max_ages_else_no_history() {
    let mut snap = shard(&[]);
    verified(&mut snap, &[(VerifyLevel::Light, Outcome::Empty)]);
    let keyed = |end_h: f64| LastVerified {
        backup_id: "b0".into(),
        end: t(end_h).timestamp(),
        keys: Some(5),
        keys_hint: false,
    };
    // Default max age 26 h: keys 51 h ago count, 53 h ago do not.
    snap.verified.insert(ShardKey::new(U, ""), keyed(-51.0));
    assert!(reasons(&snap).contains(&"empty"), "{:?}", reasons(&snap));
    snap.verified.insert(ShardKey::new(U, ""), keyed(-53.0));
    assert!(
        reasons(&snap).contains(&"empty_no_history"),
        "{:?}",
        reasons(&snap)
    );
    snap.verified.remove(&ShardKey::new(U, ""));
    assert_eq!(reasons(&snap), ["empty_no_history"]);
}

#[test]
fn an_instance_blind_or_its_account_blind_is_critical() {
    let mut snap = Snapshot::default();
    assert!(instance_findings(&snap, U, "main").is_empty());
    snap.targets.insert(
        TargetKey::instance(U),
        crate::state::TargetState {
            up: Some(false),
            last_good: None,
        },
    );
    let f = instance_findings(&snap, U, "main");
    assert_eq!(f[0].reason, Reason::InstanceBlind);
    snap.account_up.insert("main".into(), false);
    let f = instance_findings(&snap, U, "main");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].reason, Reason::AccountBlind);
    assert_eq!(f[0].reason.severity(), Severity::Critical);
}
