//! `check` for a person at a terminal (issue 20, items 3 to 5): the table fits the
//! terminal's width, read from the pty the real binary writes to; without a terminal
//! `COLUMNS`, else 100; `--wide` shows everything. An account it cannot see is named
//! with CDS's error code and message; `--log.level` is honoured; the example access key
//! is warned about.
//!
//! The pty is made here, in Rust (rustix's `openpt` and `tcsetwinsize`, no `unsafe`),
//! rather than in a Python helper: it runs with `cargo test` wherever the other tests
//! do, with the binary Cargo built, and a missing tool cannot skip it.

use std::io::Read as _;
use std::process::{Command, Stdio};

use cds_redis_backup_exporter::fake::Scenario;

use crate::helpers::*;

/// `check --demo` with stdout on a pty of `cols` columns, stderr on a pipe: (status,
/// what the terminal received with `\r` and colour codes taken out, stderr).
/// The layout is under test, not verification's speed: the default 60 s bound is a
/// user's, which a loaded 2-core CI machine can exceed on the demo's full checks (the
/// table then counts shards as not verified, and its order changes).
const WITHIN: [&str; 2] = ["--verify.within", "10m"];

fn on_pty(cols: u16, args: &[&str]) -> (i32, String, String) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 50,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&slave, size).unwrap();
    let mut child = {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(WITHIN)
            // The terminal's width wins over COLUMNS.
            .env("COLUMNS", "300")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
        // The command, and with it this process's copy of the slave, is dropped here:
        // reading the master ends (EIO) when the child closes its copy.
    };
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let mut master = std::fs::File::from(master);
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // Linux: every slave descriptor closed.
            Err(e) if e.raw_os_error() == Some(5) => break,
            Err(e) => panic!("reading the pty: {e}"),
        }
    }
    let status = child.wait().unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.contains("\u{1b}[31m"),
        "a terminal gets colour:\n{text}"
    );
    (
        status.code().unwrap_or(-1),
        plain(&text),
        errors.join().unwrap(),
    )
}

/// `text` without carriage returns (the pty's ONLCR) and SGR colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                assert_eq!(chars.next(), Some('['), "{text}");
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                    assert!(c.is_ascii_digit() || c == ';', "not SGR: {c:?} in {text}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Without a terminal: (status, stdout, stderr).
fn piped(args: &[&str], columns: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(WITHIN)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    match columns {
        Some(c) => cmd.env("COLUMNS", c),
        None => cmd.env_remove("COLUMNS"),
    };
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// Every instance name of the demo, from `check --output json`.
fn demo_instances() -> Vec<String> {
    let (_, json, _) = piped(&["check", "--demo", "--output", "json"], None);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_table_fits_the_terminal_at_80_100_and_200_columns() {
    let names = demo_instances();
    assert_eq!(names.len(), 28);
    for cols in [80u16, 100, 200] {
        let (code, text, stderr) = on_pty(cols, &["check", "--demo"]);
        assert_eq!(code, 1, "{text}{stderr}");
        let long: Vec<&str> = text
            .lines()
            .filter(|l| l.chars().count() > usize::from(cols))
            .collect();
        assert_eq!(long, Vec::<&str>::new(), "wider than {cols}:\n{text}");
        for n in &names {
            assert!(
                text.lines()
                    .any(|l| l.contains(&format!("┆ {n} ")) || l.starts_with(&format!("│ {n} "))),
                "{n} missing at {cols} columns:\n{text}"
            );
        }
        // The problems are below the table, numbered; the summary ends it.
        assert!(text.contains("[1] demo / demo-stale\n"), "{text}");
        assert!(
            text.contains("  - ✖ critical: the restore point "),
            "{text}"
        );
        assert!(
            text.replace('\n', " ").contains(
                "28 instance(s): 8 healthy, 9 with critical problems, 11 with warnings; 0 account(s) the exporter cannot see"
            ),
            "{text}"
        );
        let header = text.lines().nth(1).unwrap();
        // Which columns fit: at 80 the details go, at 200 everything fits.
        let expected: &[&str] = match cols {
            80 => &["instance", "shard", "age / allowed", "problem"],
            100 => &["account", "instance", "shard", "age / allowed", "problem"],
            _ => &[
                "account",
                "instance",
                "shard",
                "newest finished",
                "age / allowed",
                "size",
                "took",
                "newer",
                "download",
                "verified",
                "problem",
            ],
        };
        let shown: Vec<&str> = header
            .split(['│', '┆'])
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        assert_eq!(shown, expected, "at {cols}:\n{text}");
    }
}

#[test]
fn without_a_terminal_columns_then_100_and_wide_shows_everything() {
    let (_, text, _) = piped(&["check", "--demo"], Some("90"));
    assert!(widest(&text) <= 90, "{text}");
    assert!(widest(&text) > 80, "{text}");
    let (_, text, _) = piped(&["check", "--demo"], None);
    assert!(widest(&text) <= 100, "{text}");
    assert!(widest(&text) > 90, "{text}");
    let (code, text, _) = piped(&["check", "--demo", "--wide"], Some("80"));
    assert_eq!(code, 1);
    assert!(widest(&text) > 200, "{text}");
    assert!(text.lines().nth(1).unwrap().contains("newest finished"));
    // The problems in the table, no notes.
    assert!(!text.contains("[1] "), "{text}");
    assert!(text.contains("(CdsRedisBackupNoRestorePoint)"), "{text}");
}

// The binary is waited for on this thread: the fake needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_it_cannot_see_is_named_with_the_cds_error() {
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![instance_with_one_backup("ins-1")];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.discovery = discover_all();
    a.access_key_id = "AKID-revoked".into();
    let config = write_config(&config(vec![a]), &temp_dir(), "5s");

    let (code, text, stderr) = piped(&["check", "--config.file", &config], None);
    assert_eq!(code, 3, "{text}{stderr}");
    let why = "DescribeDBInstances: CDS answered InvalidAccessKeyId.NotFound: the AccessKeyId does not exist (HTTP 403)";
    assert!(
        text.replace("\n    ", " ")
            .contains(&format!("account a: the exporter cannot see it: {why}\n")),
        "{text}"
    );
    assert!(!text.contains("SK"), "{text}");
    // Only errors are logged unless --log.level says otherwise.
    assert_eq!(stderr, "");
    let (_, json, _) = piped(
        &["check", "--config.file", &config, "--output", "json"],
        None,
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["accounts"][0]["up"], false);
    assert_eq!(doc["accounts"][0]["error"], why);

    let (_, _, stderr) = piped(
        &["check", "--config.file", &config, "--log.level", "warn"],
        None,
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("message=\"CDS call failed\""))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains(" level=warn "), "{line}");
    assert!(line.contains(" account=a "), "{line}");
    assert!(!stderr.contains("Some("), "{stderr}");
    assert!(!stderr.contains("Signature"), "{stderr}");
}

#[test]
fn the_example_access_key_is_warned_about_in_one_line() {
    let dir = temp_dir();
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        "accounts:\n  - name: main\n    access_key_id: AKIDEXAMPLE\n    access_key_secret: SKEXAMPLEsecret\n    discovery: {}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config.check", "--config.file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "warning: account main uses the example access key AKIDEXAMPLE (accounts[0].access_key_id), which CDS refuses: give your own, e.g. access_key_id: ${CDS_ACCESS_KEY_ID} and access_key_secret: ${CDS_ACCESS_KEY_SECRET} with both exported\n"
    );
    // The shipped config.yaml takes the credentials from the environment.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml");
    let out = Command::new(BIN)
        .args(["--config.check", "--config.file", shipped])
        .env("CDS_ACCESS_KEY_ID", "AKIDfromenv")
        .env("CDS_ACCESS_KEY_SECRET", "from-env")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let _ = std::fs::remove_dir_all(&dir);
}
