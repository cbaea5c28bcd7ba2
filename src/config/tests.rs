#![allow(clippy::unwrap_used)]
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
    let c = parse(include_str!("../../config.yaml")).unwrap();
    assert_eq!(c.poll, PollConfig::default());
    assert_eq!(c.probe, ProbeConfig::default());
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
