//! The demo scenario at a fixed clock, polled once through the fake API and rendered to
//! the exposition text, compared with `tests/golden/metrics.txt`: any change to a
//! metric's name, labels, help text or value shows up in review as a diff of that file.
//! What depends on timing or the build (durations, the poll, reload and refresh times, the
//! process metrics, the git revision) is masked. After a deliberate change:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test --test it golden
//! ```

use chrono::TimeZone as _;

use crate::helpers::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/metrics.txt");

/// Families whose values vary from run to run; their series stay, their values do not.
fn volatile(name: &str) -> bool {
    name.contains("duration_seconds")
        || name == "cds_redis_backup_exporter_last_poll_timestamp_seconds"
        || name == "cds_redis_backup_exporter_config_last_reload_success_timestamp_seconds"
        || name == "cds_redis_backup_exporter_target_last_refresh_timestamp_seconds"
        || name == "cds_redis_backup_verify_timestamp_seconds"
        || name == "cds_redis_backup_exporter_verify_budget_remaining_bytes"
        // A walker that has its verdict early stops the download at a chunk boundary.
        || name == "cds_redis_backup_exporter_verify_bytes_total"
        || name == "cds_redis_backup_verify_read_bytes"
}

fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let name = line
            .trim_start_matches("# HELP ")
            .trim_start_matches("# TYPE ")
            .split(['{', ' '])
            .next()
            .unwrap_or("");
        if name.starts_with("process_") {
            continue;
        }
        let line = if line.starts_with('#') || !volatile(name) {
            line.to_owned()
        } else {
            let (series, _) = line.rsplit_once(' ').unwrap();
            format!("{series} <masked>")
        };
        let line = match line.find("revision=\"") {
            Some(at) => {
                let end = line[at + 10..].find('"').unwrap() + at + 10;
                format!("{}revision=\"<masked>{}", &line[..at], &line[end..])
            }
            None => line,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn demo_metrics_match_the_golden_file() {
    let now = chrono::Utc
        .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
        .single()
        .unwrap();
    let (_fake, config) =
        cds_redis_backup_exporter::demo::start_at(now, None, std::time::Duration::ZERO)
            .await
            .unwrap();
    // Verification runs beside the cycle: let it finish, then render a second cycle.
    let driver = Driver::new(&config);
    driver.cycle().await;
    for _ in 0..200 {
        let live = driver.metrics.encode();
        let idle = |name| value(&live, name, &[]) == 0.0;
        if idle("cds_redis_backup_exporter_verify_queued")
            && idle("cds_redis_backup_exporter_verify_in_flight")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let text = mask(&driver.cycle().await);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if text != want {
        let got: Vec<&str> = text.lines().collect();
        let wanted: Vec<&str> = want.lines().collect();
        let first = got
            .iter()
            .zip(&wanted)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(wanted.len()));
        panic!(
            "/metrics differs from {GOLDEN} from line {}:\n  got:  {:?}\n  want: {:?}\n\
             ({} lines, want {}). If the change is deliberate: UPDATE_GOLDEN=1 cargo test --test it golden",
            first + 1,
            got.get(first),
            wanted.get(first),
            got.len(),
            wanted.len()
        );
    }
}
