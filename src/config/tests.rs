use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.yaml", &no_env)
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = parse(
        "accounts:\n  - name: main\n    access_key_id: AK\n    access_key_secret: SK\n    backups:\n      - {instance_uuid: i1, backup_id: b1}\n",
    )
    .unwrap();
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.poll.interval, Duration::from_secs(300));
    assert_eq!(c.probe, ProbeConfig::default());
    let a = &c.accounts[0];
    assert_eq!(a.endpoint.as_str(), "https://cdsapi.capitalonline.net/");
    assert_eq!(a.timezone, FixedOffset::east_opt(8 * 3600).unwrap());
    assert_eq!(
        a.backups,
        vec![BackupTarget {
            instance_uuid: "i1".into(),
            backup_id: "b1".into()
        }]
    );
    assert!(
        !format!("{c:?}").contains("SK\""),
        "secret must not be in Debug output"
    );
}

#[test]
fn shipped_example_config_is_valid() {
    let env = |k: &str| match k {
        "CDS_ACCESS_KEY_ID" => Some("AKIDreal".to_owned()),
        "CDS_ACCESS_KEY_SECRET" => Some("real-secret".to_owned()),
        _ => None,
    };
    let c = Config::parse(include_str!("../../config.yaml"), "config.yaml", &env).unwrap();
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.probe, ProbeConfig::default());
    // The credentials come from the environment, as the README says.
    assert_eq!(c.accounts[0].access_key_id, "AKIDreal");
    assert_eq!(c.example_credentials(), []);
}

#[test]
fn the_shipped_config_without_credentials_names_the_variables() {
    let e = parse(include_str!("../../config.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("accounts[0].access_key_id: environment variable CDS_ACCESS_KEY_ID is not set"),
        "{e}"
    );
    assert!(
        e.contains(
            "accounts[0].access_key_secret: environment variable CDS_ACCESS_KEY_SECRET is not set"
        ),
        "{e}"
    );
}

#[test]
fn the_example_access_key_is_named_in_one_line() {
    let c = parse(
        "accounts:\n  - name: real\n    access_key_id: AKIDreal\n    access_key_secret: SK\n    discovery: {}\n  - name: main\n    access_key_id: AKIDEXAMPLE\n    access_key_secret: SKEXAMPLEsecret\n    discovery: {}\n",
    )
    .unwrap();
    let found = c.example_credentials();
    assert_eq!(
        found.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["account main uses the example access key AKIDEXAMPLE (accounts[1].access_key_id), which CDS refuses: give your own, e.g. access_key_id: ${CDS_ACCESS_KEY_ID} and access_key_secret: ${CDS_ACCESS_KEY_SECRET} with both exported"]
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = r#"
poll:
  interval: 5 parsecs
  concurrency: 0
probe:
  url_types: [public, dark-web]
accounts:
  - name: a
    endpoint: ftp://example.com
    timezone: Beijing
    backups:
      - instance_uuid: ""
        backup_id: b
  - name: a
    access_key_id: AK
    access_key_secret: SK
"#;
    let e = parse(text).unwrap_err().to_string();
    let expected = r#"config file test.yaml has 10 problem(s):
  - poll.interval: "5 parsecs" is not a duration; write e.g. 500ms, 30s, 5m or 1h
  - poll.concurrency: 0 is out of range; use 1 to 256
  - probe.url_types[1]: "dark-web" is not a URL type; use public or intranet
  - accounts[0].endpoint: "ftp://example.com" must be an http(s) URL with a host and no query, or one of cn, asia, us
  - accounts[0].access_key_id: is missing; set it here or in the environment variable CDS_ACCESS_KEY_ID
  - accounts[0].access_key_secret: is missing; set it here, in access_key_secret_file or in the environment variable CDS_ACCESS_KEY_SECRET
  - accounts[0].timezone: "Beijing" is not a UTC offset; write it like +08:00 or UTC
  - accounts[0].backups[0].instance_uuid: is missing or empty
  - accounts[1].name: "a" is used by another account; names must be unique
  - accounts[1]: has nothing to watch; add backups:, instances: or discovery:"#;
    assert_eq!(e, expected);
}

#[test]
fn credentials_come_from_the_environment() {
    let env = |k: &str| match k {
        ENV_ACCESS_KEY_ID => Some("AKENV".to_owned()),
        ENV_ACCESS_KEY_SECRET => Some("SKENV".to_owned()),
        _ => None,
    };
    let c = Config::parse(
        "accounts:\n  - name: m\n    endpoint: asia\n    timezone: UTC\n    discovery: {tag_name: prod}\n",
        "x",
        &env,
    )
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.access_key_id, "AKENV");
    assert_eq!(a.access_key_secret.expose(), "SKENV");
    assert_eq!(
        a.endpoint.as_str(),
        "https://cdsapi-asia.capitalonline.net/"
    );
    assert_eq!(a.timezone, FixedOffset::east_opt(0).unwrap());
    assert_eq!(
        a.discovery,
        Some(InstanceFilter {
            tag_name: Some("prod".into()),
            instance_name: None
        })
    );
}

#[test]
fn timezones_are_the_offsets_in_use() {
    let zone = |z: &str| {
        let text = format!(
            "accounts:\n  - name: m\n    endpoint: asia\n    access_key_id: AK\n    access_key_secret: SK\n    timezone: \"{z}\"\n    discovery: {{tag_name: prod}}\n"
        );
        Config::parse(&text, "x", &|_| None)
            .map(|c| c.accounts[0].timezone.local_minus_utc())
            .map_err(|e| e.to_string())
    };
    assert_eq!(zone("-12:00"), Ok(-12 * 3600));
    assert_eq!(zone("+14:00"), Ok(14 * 3600));
    assert_eq!(
        zone("+14:30").unwrap_err(),
        "config file x has 1 problem(s):\n  - accounts[0].timezone: \"+14:30\" is outside the UTC offsets in use (-12:00 to +14:00)"
    );
    assert!(zone("-12:01").is_err());
}

#[test]
fn empty_file_and_missing_file() {
    assert_eq!(
        parse("").unwrap_err().to_string(),
        "config file test.yaml has 1 problem(s):\n  - accounts: no account configured; add at least one with its targets (see the README)"
    );
    let e = Config::load(Path::new("/nonexistent/c.yaml"), &no_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot read config file /nonexistent/c.yaml: No such file"),
        "{e}"
    );
}

fn env_with(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

const ONE_ACCOUNT: &str =
    "accounts:\n  - {name: main, access_key_id: AK, access_key_secret: SK, discovery: {}}\n";

#[test]
fn variables_are_expanded_and_dollars_escaped() {
    let env = env_with(&[
        ("AK", "AKENV"),
        ("SK", "SK$ENV"),
        ("CONC", "8"),
        ("PROBE", "false"),
        ("RATE", "0.5"),
        ("SIZE", "1024"),
    ]);
    let text = "poll:
  concurrency: ${CONC}
  rate_limit: ${RATE}
  max_response_size: ${SIZE}
  interval: \"${CONC}m\"
probe:
  enabled: ${PROBE}
accounts:
  - name: cost$$center-$HOME-${AK}
    access_key_id: ${AK}
    access_key_secret: ${SK}
    discovery: {}
";
    let c = Config::parse(text, "x", &env).unwrap();
    assert_eq!(c.poll.concurrency, 8);
    assert_eq!(c.poll.rate_limit, Some(0.5));
    assert_eq!(c.poll.max_response_bytes, 1024);
    assert_eq!(c.poll.interval, Duration::from_secs(480));
    assert!(!c.probe.enabled);
    let a = &c.accounts[0];
    // `$$` is one `$`; a `$` not followed by `{` stays; the secret is not re-expanded.
    assert_eq!(a.name, "cost$center-$HOME-AKENV");
    assert_eq!(a.access_key_id, "AKENV");
    assert_eq!(a.access_key_secret.expose(), "SK$ENV");
}

#[test]
fn new_poll_settings_parse() {
    let c = parse(&format!(
        "poll:
  interval: 1m
  max_retries: 0
  retry_backoff: 10ms
  retry_max_backoff: 10ms
  rate_limit: 20
  max_response_size: 512KiB
  stale_after: 1m
{ONE_ACCOUNT}"
    ))
    .unwrap();
    assert_eq!(c.poll.max_retries, 0);
    assert_eq!(c.poll.retry_backoff, Duration::from_millis(10));
    assert_eq!(c.poll.retry_max_backoff, Duration::from_millis(10));
    assert_eq!(c.poll.rate_limit, Some(20.0));
    assert_eq!(c.poll.max_response_bytes, 512 * 1024);
    assert_eq!(c.poll.stale_after, Duration::from_secs(60));
    for (size, bytes) in [
        ("16MiB", 16 << 20),
        ("1GiB", 1 << 30),
        ("10MB", 10_000_000),
        ("1000kB", 1_000_000),
        ("1 KiB", 1024),
        ("2048", 2048),
    ] {
        let c = parse(&format!(
            "poll: {{max_response_size: {size}}}\n{ONE_ACCOUNT}"
        ))
        .unwrap();
        assert_eq!(c.poll.max_response_bytes, bytes, "{size}");
    }
    // Unset, stale_after is 1h, or 3 intervals when that is longer.
    let c = parse(&format!("poll: {{interval: 2m}}\n{ONE_ACCOUNT}")).unwrap();
    assert_eq!(c.poll.stale_after, Duration::from_secs(3600));
    let c = parse(&format!("poll: {{interval: 30m}}\n{ONE_ACCOUNT}")).unwrap();
    assert_eq!(c.poll.stale_after, Duration::from_secs(5400));
}

#[test]
fn empty_sections_and_merge_keys() {
    let text = "poll:
probe:
defaults: &defaults
  access_key_id: AK
  access_key_secret: SK
accounts:
  - <<: *defaults
    name: a
    backups:
    discovery: {}
";
    // `defaults` is not a key: anchors must live under a known key or in a list item.
    let e = parse(text).unwrap_err().to_string();
    assert_eq!(
        e,
        "config file test.yaml has 1 problem(s):\n  - defaults: unknown key; valid keys here are poll, probe, accounts, staleness, verify, drill"
    );
    let text = "poll:
probe:
accounts:
  - &first
    name: a
    access_key_id: AK
    access_key_secret: SK
    backups:
    discovery: {}
  - <<: *first
    name: b
";
    let c = parse(text).unwrap();
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.accounts[1].name, "b");
    assert_eq!(c.accounts[1].access_key_id, "AK");
}

#[test]
fn summary_names_accounts_and_targets_without_secrets() {
    let c = parse(
        "probe: {url_types: [public, intranet]}
poll: {rate_limit: 5}
accounts:
  - name: main
    access_key_id: AKID-not-shown
    access_key_secret: SK-not-shown
    backups: [{instance_uuid: i1, backup_id: b1}]
    instances: [{instance_uuid: i2}, {instance_uuid: i3}]
    discovery: {tag_name: prod}
  - name: lab
    endpoint: http://127.0.0.1:8080
    access_key_id: AK
    access_key_secret: SK-not-shown
    discovery: {}
",
    )
    .unwrap();
    assert_eq!(
        c.summary(),
        "2 account(s); poll every 5m (8 calls in flight, 2 retries, at most 5 requests/s); probe on (public, intranet)
  - main: cdsapi.capitalonline.net, 1 backup(s), 2 instance(s), discovery by tag_name \"prod\"
  - lab: 127.0.0.1:8080, 0 backup(s), 0 instance(s), discovery of every instance"
    );
}

/// Field names serde knows for `T`, read from its unknown-field error.
fn serde_fields<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let e = serde_yaml::from_str::<T>("zz_not_a_key: 1")
        .err()
        .unwrap()
        .to_string();
    let expected = &e[e.find("expected").unwrap()..];
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn schema_lists_exactly_the_raw_structs_fields() {
    use raw::*;
    let keys = |list: &[(&str, Shape)]| -> Vec<String> {
        list.iter().map(|(k, _)| (*k).to_owned()).collect()
    };
    assert_eq!(serde_fields::<RawConfig>(), keys(TOP));
    assert_eq!(serde_fields::<RawPoll>(), keys(POLL));
    assert_eq!(serde_fields::<RawProbe>(), keys(PROBE));
    assert_eq!(serde_fields::<RawAccount>(), keys(ACCOUNT));
    assert_eq!(serde_fields::<RawBackupTarget>(), keys(BACKUP));
    assert_eq!(serde_fields::<RawInstanceTarget>(), keys(INSTANCE));
    assert_eq!(serde_fields::<RawDiscovery>(), keys(DISCOVERY));
    assert_eq!(serde_fields::<RawStalenessRule>(), keys(STALENESS_RULE));
    assert_eq!(serde_fields::<RawVerify>(), keys(VERIFY));
    assert_eq!(serde_fields::<RawVerifyRule>(), keys(VERIFY_RULE));
    use super::drill::*;
    assert_eq!(serde_fields::<RawDrill>(), keys(DRILL));
    assert_eq!(serde_fields::<RawDrillRule>(), keys(DRILL_RULE));
    assert_eq!(serde_fields::<RawKeyCheck>(), keys(KEY_CHECK));
    assert_eq!(serde_fields::<RawMinKeys>(), keys(MIN_KEYS));
}

/// A YAML nested 100,000 levels deep stalled the parser for seconds (its cost grows with
/// the square of the depth); it is refused before parsing, at once.
#[test]
fn absurdly_deep_yaml_is_refused_quickly() {
    for text in [
        format!("accounts: {}", "[".repeat(100_000)),
        format!("accounts:\n{}", "- ".repeat(100_000)),
    ] {
        let started = std::time::Instant::now();
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert!(
            e.starts_with(
                "config file test.yaml is not valid: it nests deeper than 64 levels at line"
            ),
            "{e}"
        );
    }
}

/// 100,000 instances validate in linear time (the duplicate check was quadratic), and
/// a duplicate among them is still found.
#[test]
fn a_hundred_thousand_instances_validate_quickly() {
    let mut text = String::from(
        "accounts:\n  - name: big\n    access_key_id: AK\n    access_key_secret: SK\n    instances:\n",
    );
    for i in 0..100_000 {
        text.push_str(&format!("      - instance_uuid: ins-{i:08}\n"));
    }
    let started = std::time::Instant::now();
    let c = parse(&text).unwrap();
    let took = started.elapsed();
    eprintln!("100,000 instances validated in {took:?}");
    assert_eq!(c.accounts[0].instances.len(), 100_000);
    // A bound no load can reach but the quadratic check could: that one took minutes
    // here (40,000 instances: 5 s in a release build). The release binary's number,
    // about 0.4 s, is checked by scripts/hostile-inputs.sh and kept in BENCHMARKS.md.
    assert!(took < Duration::from_secs(20), "{took:?}");
    text.push_str("      - instance_uuid: ins-00000007\n");
    let e = parse(&text).unwrap_err().to_string();
    assert!(
        e.ends_with("  - accounts[0].instances[100000]: is listed twice"),
        "{e}"
    );
}
