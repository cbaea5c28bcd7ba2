//! Regression tests of issue 19 ("Hardening, round 3") for `check`, the shard flags and
//! sharded discovery: CDS text reaches the terminal escaped and bounded, a wrong shard
//! is a usage error (status 2) naming where it came from, and a replica keeps only its
//! own share of a discovery answer.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cds_redis_backup_exporter::check;
use cds_redis_backup_exporter::fake::Scenario;
use cds_redis_backup_exporter::partition::{bucket, Partition};
use cds_redis_backup_exporter::report::{Fleet, InstanceView, ShardView, Summary};
use chrono::Utc;

use crate::helpers::*;

/// Terminal control sequences a hostile (or careless) instance name could carry: OSC 52
/// writes the clipboard, OSC 0 sets the window title, CSI 2J clears the screen; then the
/// 8-bit C1 CSI, DEL and a newline that would forge a table row.
const HOSTILE: [&str; 4] = [
    "a\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\u{7}",
    "b\u{1b}]0;you have been pwned\u{1b}\\",
    "c\u{1b}[2J\u{1b}[H",
    "d\u{9b}2J\u{7f}\u{0}\nforged row",
];

/// The real binary's `check` with the shard and config variables of the environment
/// this test runs in removed: (status, stdout bytes, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("NO_COLOR", "1").stdin(Stdio::null());
    for var in [
        "CDS_EXPORTER_SHARD",
        "CDS_EXPORTER_TOTAL_SHARDS",
        "CDS_EXPORTER_SHARD_FROM_HOSTNAME",
        "CDS_EXPORTER_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// The binary is waited for on this thread: the fake needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_no_terminal_control_byte_from_cds_names() {
    let mut s = Scenario::new("AK", "SK");
    s.instances = HOSTILE
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut i = instance_with_one_backup(&format!("ins-{n}"));
            i.name = (*name).to_owned();
            i
        })
        .collect();
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    let config = write_config(&config(vec![a]), &temp_dir(), "5s");

    // --wide: the names whole on one line each (the narrow layout wraps them).
    // Not verified: the fake's 10-byte objects would fail it, and this is about names.
    let (code, table, stderr) = run(
        &["check", "--config.file", &config, "--wide", "--no-verify"],
        &[],
    );
    assert_eq!(code, 0, "{}{stderr}", String::from_utf8_lossy(&table));
    // The raw bytes: no C0 control but the table's own newlines, no DEL, no C1 (U+0080
    // to U+009F are C2 80 to C2 9F in UTF-8).
    let controls: Vec<(usize, u8)> = table
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, b)| (b < 0x20 && b != b'\n') || b == 0x7f)
        .collect();
    assert_eq!(controls, vec![], "{}", String::from_utf8_lossy(&table));
    assert!(
        !table
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1])),
        "a C1 control reached the terminal"
    );
    let text = String::from_utf8(table).unwrap();
    for shown in [
        "a\\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u{7}",
        "b\\u{1b}]0;you have been pwned\\u{1b}\\",
        "c\\u{1b}[2J\\u{1b}[H",
    ] {
        assert!(text.contains(shown), "{shown} not in\n{text}");
    }
    // Escapes are never broken across lines: the newline became text, not a new row.
    assert!(
        !text
            .lines()
            .any(|l| l.contains("forged row") && !l.contains("\\u{a}")),
        "{text}"
    );
    assert!(text.contains("4 instance(s): 4 healthy"), "{text}");

    // JSON is for programs: the names whole, escaped by JSON itself.
    let (code, json, _) = run(
        &[
            "check",
            "--config.file",
            &config,
            "--output",
            "json",
            "--no-verify",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(!json.contains(&0x1b));
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let mut names: Vec<&str> = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, HOSTILE);
}

const PLAIN: check::Style = check::Style {
    color: false,
    borders: cds_redis_backup_exporter::report::Charset::Utf8,
    icons: cds_redis_backup_exporter::report::Charset::Utf8,
};

/// A fleet of one healthy instance named `name`, as `check` would report it.
fn fleet_named(name: String) -> Fleet {
    Fleet {
        generated_at: Utc::now(),
        accounts: Vec::new(),
        instances: vec![InstanceView {
            account: "a".into(),
            instance_uuid: "ins-long".into(),
            instance_name: name,
            tags: Vec::new(),
            backups_listed: Some(1),
            shards: vec![ShardView {
                shard_id: String::new(),
                newest: None,
                max_age_seconds: Some(93_600),
                newer: Vec::new(),
                urls: Vec::new(),
                verification: None,
                keys: None,
                restore_point: None,
                restore_deadline: None,
                findings: Vec::new(),
            }],
            findings: Vec::new(),
            verify_level: Some("light"),
            zone: chrono::Offset::fix(&Utc),
            drills: Vec::new(),
        }],
        summary: Summary {
            instances: 1,
            healthy: 1,
            ..Summary::default()
        },
        verification: None,
    }
}

/// The fastest of 3 renderings of the table of `fleet`.
fn render_time(fleet: &Fleet) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let table = check::table(fleet, PLAIN, check::Width::Wide);
            let took = started.elapsed();
            assert!(table.contains("1 instance(s): 1 healthy"));
            took
        })
        .min()
        .unwrap()
}

#[test]
fn a_long_name_renders_in_linear_time_and_is_cut() {
    // Doubling the name must not quadruple the time. The old renderer took 18.8 s on a
    // 300,000-character name in release; these sizes keep its failure quick.
    let small = render_time(&fleet_named("x".repeat(20_000)));
    let large = render_time(&fleet_named("x".repeat(40_000)));
    // Linear work is ~1×: the table cuts the name first; quadratic would be 4×. The
    // floor keeps timer noise on tiny times from deciding.
    assert!(
        large <= small * 3 + Duration::from_millis(20),
        "20,000 chars: {small:?}, 40,000 chars: {large:?}"
    );
    let fleet = fleet_named("y".repeat(300_000));
    let took = render_time(&fleet);
    assert!(took < Duration::from_secs(2), "300,000 chars: {took:?}");
    // Cut to 119 characters and an ellipsis (the table may wrap them over lines).
    let table = check::table(&fleet, PLAIN, check::Width::Wide);
    // The other cells' words ("not verified yet") are not the name's.
    let cells: String = table
        .lines()
        .filter(|l| l.starts_with('│'))
        .collect::<String>()
        .replace("yet", "");
    assert_eq!(cells.matches('y').count(), 119, "{table}");
    assert_eq!(table.matches("y…").count(), 1, "{table}");
}

#[test]
fn a_shard_beyond_total_shards_is_a_usage_error() {
    // Checked before the configuration is read: the file need not exist.
    let (code, _, stderr) = run(
        &[
            "--shard",
            "3",
            "--total-shards",
            "3",
            "--config.file",
            "/nonexistent.yaml",
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: invalid value '3' for '--shard <SHARD>': no such shard: 3 shard(s) from '--total-shards <TOTAL_SHARDS>', numbered 0 to 2\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("\nUsage: "), "{stderr}");

    // From the environment: the message names the variable and its value.
    let (code, _, stderr) = run(
        &["--config.file", "/nonexistent.yaml"],
        &[
            ("CDS_EXPORTER_SHARD", "5"),
            ("CDS_EXPORTER_TOTAL_SHARDS", "4"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: invalid value '5' for the environment variable CDS_EXPORTER_SHARD=\"5\": no such shard: 4 shard(s) from the environment variable CDS_EXPORTER_TOTAL_SHARDS=\"4\", numbered 0 to 3\n"),
        "{stderr}"
    );
}

#[test]
fn shard_from_hostname_names_what_it_conflicts_with() {
    let (code, _, stderr) = run(
        &[
            "--shard.from-hostname",
            "--total-shards",
            "3",
            "--config.file",
            "/nonexistent.yaml",
        ],
        &[("CDS_EXPORTER_SHARD", "1"), ("HOSTNAME", "exporter-1")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: '--shard.from-hostname' cannot be used with the environment variable CDS_EXPORTER_SHARD=\"1\": both say which shard this replica is; keep one\n"),
        "{stderr}"
    );
    assert!(stderr.contains("\nUsage: "), "{stderr}");

    // On the command line, as clap says it.
    let (code, _, stderr) = run(
        &[
            "--shard.from-hostname",
            "--shard",
            "1",
            "--total-shards",
            "3",
            "--config.file",
            "/nonexistent.yaml",
        ],
        &[("HOSTNAME", "exporter-1")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: '--shard.from-hostname' cannot be used with '--shard <SHARD>'"),
        "{stderr}"
    );

    // A pod ordinal beyond --total-shards, and a host name without one.
    for (host, want) in [
        ("exporter-3", "error: '--shard.from-hostname': the host name \"exporter-3\" gives shard 3, which does not exist: 3 shard(s) from '--total-shards <TOTAL_SHARDS>', numbered 0 to 2\n"),
        ("laptop", "error: '--shard.from-hostname': the host name \"laptop\" does not end in -<number> (a StatefulSet pod name); give --shard instead\n"),
    ] {
        let (code, _, stderr) = run(
            &["--shard.from-hostname", "--total-shards", "3", "--config.file", "/nonexistent.yaml"],
            &[("HOSTNAME", host)],
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.starts_with(want), "{stderr}");
    }
}

#[tokio::test]
async fn a_sharded_replica_keeps_only_its_share_of_discovery() {
    let s = Scenario::scaled(now(), 400, 1, Duration::ZERO);
    let uuids: Vec<String> = s.instances.iter().map(|i| i.uuid.clone()).collect();
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    for index in [0, 3] {
        let c = config(vec![a.clone()]);
        let part = Partition::new(index, 4).unwrap();
        let owned = uuids.iter().filter(|u| bucket(u, 4) == index).count();
        let driver = Driver::partitioned(&c, part);
        let text = driver.cycle().await;
        assert_eq!(
            value(
                &text,
                "cds_redis_backup_exporter_owned_instances",
                &[("account", "a")]
            ),
            owned as f64
        );
        // What the poller keeps of the answer is its own share, not all 400.
        assert_eq!(driver.poller.discovered_instances(), owned, "shard {index}");
        assert!((70..=130).contains(&owned), "shard {index}: {owned} of 400");
    }
}
