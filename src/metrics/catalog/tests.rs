//! The catalog against itself and against the registry it feeds.

use std::collections::BTreeSet;

use super::*;

#[test]
fn names_are_unique_well_formed_and_helped() {
    let mut seen = BTreeSet::new();
    for m in all() {
        assert!(seen.insert(m.name), "{} declared twice", m.name);
        assert!(
            m.name.starts_with("cds_redis_") || m.source == Source::Process,
            "{}",
            m.name
        );
        assert!(
            m.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            m.name
        );
        assert!(
            !m.help.trim().is_empty() && !m.help.contains('\n'),
            "{}",
            m.name
        );
        assert_eq!(
            m.name.ends_with("_total"),
            m.kind == Kind::Counter,
            "{}: counters and only counters end in _total",
            m.name
        );
        let labels = (m.labels)();
        let unique: BTreeSet<_> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len(), "{}: a label twice", m.name);
    }
    assert_eq!(seen.len(), 75);
}

#[test]
fn units_follow_the_names() {
    assert_eq!(MAX_AGE_SECONDS.meta.unit(), Unit::Seconds);
    assert_eq!(
        RESTORE_DEADLINE_TIMESTAMP_SECONDS.meta.unit(),
        Unit::UnixTime
    );
    assert_eq!(PROCESS_START_TIME_SECONDS.meta.unit(), Unit::UnixTime);
    assert_eq!(VERIFY_BYTES_TOTAL.meta.unit(), Unit::Bytes);
    assert_eq!(PROCESS_CPU_SECONDS_TOTAL.meta.unit(), Unit::Seconds);
    assert_eq!(FINDING.meta.unit(), Unit::None);
    assert_eq!(
        API_REQUEST_DURATION_SECONDS.meta.series_names(),
        [
            "cds_redis_backup_exporter_api_request_duration_seconds_bucket",
            "cds_redis_backup_exporter_api_request_duration_seconds_sum",
            "cds_redis_backup_exporter_api_request_duration_seconds_count",
        ]
    );
}

/// The live registry serves exactly the catalog's live (and, on Linux, process)
/// families, with their help, type and label names.
#[test]
fn the_registry_serves_the_declared_live_families() {
    let m = crate::metrics::Metrics::new().expect("registry");
    m.init_account("a");
    m.observe_api(
        "a",
        crate::cds::Action::DescribeBackups,
        "Success",
        std::time::Duration::ZERO,
    );
    m.set_shard(crate::partition::Partition::default());
    let families = m.live.gather();
    let mut served = BTreeSet::new();
    for f in &families {
        let meta = find(f.name()).unwrap_or_else(|| panic!("{} is not declared", f.name()));
        assert_eq!(f.help(), meta.help, "{}", meta.name);
        let kind = match f.get_field_type() {
            prometheus::proto::MetricType::COUNTER => Kind::Counter,
            prometheus::proto::MetricType::GAUGE => Kind::Gauge,
            prometheus::proto::MetricType::HISTOGRAM => Kind::Histogram,
            other => panic!("{}: {other:?}", meta.name),
        };
        assert_eq!(kind, meta.kind, "{}", meta.name);
        if let Some(sample) = f.get_metric().first() {
            let have: Vec<&str> = sample.get_label().iter().map(|l| l.name()).collect();
            let mut want = (meta.labels)();
            // The client library sorts label names.
            want.sort_unstable();
            assert_eq!(have, want, "{}", meta.name);
        }
        served.insert(meta.name);
    }
    let want: BTreeSet<&str> = all()
        .filter(|m| {
            m.source == Source::Live || (cfg!(target_os = "linux") && m.source == Source::Process)
        })
        .map(|m| m.name)
        .collect();
    assert_eq!(served, want);
}
