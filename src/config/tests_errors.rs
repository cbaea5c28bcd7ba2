//! Snapshot tests: bad configuration files and the exact, whole message each one gives.
use super::*;

/// A valid account, appended to cases so that each shows only its own problems.
const ACCOUNT: &str = "accounts:
  - name: main
    access_key_id: AK
    access_key_secret: SK-never-shown
    instances: [{instance_uuid: i1}]
";

const SECRET: &str = "s3cr3t-from-env";

fn env(k: &str) -> Option<String> {
    match k {
        "CONC" => Some("8".to_owned()),
        "WORD" => Some("eight".to_owned()),
        "SK_VAR" => Some(SECRET.to_owned()),
        _ => None,
    }
}

fn message(text: &str) -> String {
    match Config::parse(text, "c.yaml", &env) {
        Ok(_) => "OK".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn invalid(lines: &[&str]) -> String {
    let mut out = format!("config file c.yaml has {} problem(s):", lines.len());
    for l in lines {
        out.push_str("\n  - ");
        out.push_str(l);
    }
    out
}

/// Checks every case and reports all mismatches at once, with what each gave.
fn check(cases: &[(&str, String, String)]) {
    let failed: Vec<String> = cases
        .iter()
        .filter_map(|(name, text, expected)| {
            let got = message(text);
            (got != *expected).then(|| format!("{name}:\nexpected: {expected}\n     got: {got}\n"))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn case(name: &'static str, text: &str, lines: &[&str]) -> (&'static str, String, String) {
    (name, format!("{text}{ACCOUNT}"), invalid(lines))
}

#[test]
fn unknown_keys_are_all_reported_with_suggestions() {
    check(&[
        case(
            "one typo",
            "poll:\n  intervall: 5m\n",
            &["poll.intervall: unknown key; did you mean interval?"],
        ),
        (
            "several at once, at every level",
            "acounts: []\npoll:\n  concurency: 4\n  timeout: 5s\nprobe:\n  colour: blue\naccounts:\n  - name: main\n    access-key-id: AK\n    access_key_secret: SK\n    backup: []\n    backups:\n      - {instance_uuid: i1, backupid: b1}\n"
                .to_owned(),
            invalid(&[
                "acounts: unknown key; did you mean accounts?",
                "poll.concurency: unknown key; did you mean concurrency?",
                "poll.timeout: unknown key; did you mean request_timeout?",
                "probe.colour: unknown key; valid keys here are enabled, concurrency, url_types, timeout",
                "accounts[0].access-key-id: unknown key; did you mean access_key_id?",
                "accounts[0].backup: unknown key; did you mean backups?",
                "accounts[0].backups[0].backupid: unknown key; did you mean backup_id?",
                "accounts[0].access_key_id: is missing; set it here or in the environment variable CDS_ACCESS_KEY_ID",
                "accounts[0].backups[0].backup_id: is missing or empty",
            ]),
        ),
        case(
            "new poll keys are known",
            "poll:\n  max_retry: 3\n  ratelimit: 5\n  stale: 1h\n",
            &[
                "poll.max_retry: unknown key; did you mean max_retries?",
                "poll.ratelimit: unknown key; did you mean rate_limit?",
                "poll.stale: unknown key; did you mean stale_after?",
            ],
        ),
    ]);
}

#[test]
fn type_errors_are_all_reported_at_their_paths() {
    check(&[
        (
            "wrong types everywhere",
            "poll:\n  concurrency: \"eight\"\n  interval: [5m]\nprobe:\n  enabled: maybe\n  url_types: [public, 5]\naccounts:\n  - name: [1]\n    access_key_id: AK\n    access_key_secret: SK\n    backups: {instance_uuid: x}\n    instances: [i1, {instance_uuid: i2}]\n"
                .to_owned(),
            invalid(&[
                "poll.concurrency: expected a whole number, got the string \"eight\"",
                "poll.interval: expected a duration like 500ms, 30s or 5m, got a list",
                "probe.enabled: expected true or false, got the string \"maybe\"",
                "probe.url_types[1]: expected a string, got 5",
                "accounts[0].name: expected a string, got a list",
                "accounts[0].backups: expected a list, got a mapping",
                "accounts[0].instances[0]: expected a mapping of keys, got the string \"i1\"",
            ]),
        ),
        case(
            "new poll keys",
            "poll:\n  max_retries: 1.5\n  rate_limit: fast\n  max_response_size: 1.5\n",
            &[
                "poll.max_retries: expected a whole number, got 1.5",
                "poll.rate_limit: expected a number, got the string \"fast\"",
                "poll.max_response_size: expected a number of bytes or a size like 512KiB or 16MiB, got 1.5",
            ],
        ),
        (
            "the top level",
            "- poll\n".to_owned(),
            "config file c.yaml is not valid: the top level must be a mapping of keys (poll:, probe:, accounts:, staleness:, verify:, drill:)".to_owned(),
        ),
    ]);
}

#[test]
fn syntax_errors_give_the_line() {
    check(&[
        (
            "unclosed list",
            "poll:\n  interval: 5m\naccounts: [\n".to_owned(),
            "config file c.yaml is not valid: did not find expected node content at line 4 column 1, while parsing a flow node".to_owned(),
        ),
        (
            "bad indentation",
            "poll:\n  interval: 5m\n concurrency: 3\n".to_owned(),
            "config file c.yaml is not valid: did not find expected key at line 3 column 2, while parsing a block mapping".to_owned(),
        ),
    ]);
}

#[test]
fn environment_expansion_problems() {
    check(&[
        (
            "unset variables",
            "accounts:\n  - name: main\n    access_key_id: ${CDS_AK}\n    access_key_secret: ${A}-${B}-${A}\n    instances: [{instance_uuid: i1}]\n"
                .to_owned(),
            invalid(&[
                "accounts[0].access_key_id: environment variable CDS_AK is not set",
                "accounts[0].access_key_secret: environment variables A, B are not set",
            ]),
        ),
        case(
            "bad references",
            "probe:\n  timeout: ${TIMEOUT\n  url_types: [\"${}\"]\n",
            &[
                "probe.timeout: has ${ without a closing }; write $$ for a literal $",
                "probe.url_types[0]: has ${...} without a variable name (letters, digits and _); write $$ for a literal $",
            ],
        ),
        case(
            "a number from a variable that is not one",
            "poll:\n  concurrency: ${WORD}\n",
            &["poll.concurrency: expected a whole number, got the string \"eight\""],
        ),
    ]);
}

#[test]
fn new_poll_keys_out_of_range() {
    check(&[
        case(
            "too many or negative",
            "poll:\n  max_retries: 11\n  retry_backoff: 5ms\n  rate_limit: 0\n  max_response_size: 512\n",
            &[
                "poll.max_retries: 11 is out of range; use 0 to 10",
                "poll.retry_backoff: \"5ms\" is too short; use at least 10ms",
                "poll.rate_limit: 0 is out of range; use a number of requests per second above 0 and at most 10000, or leave it out for no limit",
                "poll.max_response_size: 512 is out of range; use 1KiB to 1GiB",
            ],
        ),
        case(
            "other end",
            "poll:\n  max_retries: -1\n  rate_limit: 10000.5\n  max_response_size: 2GiB\n",
            &[
                "poll.max_retries: -1 is out of range; use 0 to 10",
                "poll.rate_limit: 10000.5 is out of range; use a number of requests per second above 0 and at most 10000, or leave it out for no limit",
                "poll.max_response_size: \"2GiB\" is out of range; use 1KiB to 1GiB",
            ],
        ),
        case(
            "bad units",
            "poll:\n  max_response_size: 16 potatoes\n  retry_backoff: 1 fortnight\n",
            &[
                "poll.retry_backoff: \"1 fortnight\" is not a duration; write e.g. 500ms, 30s, 5m or 1h",
                "poll.max_response_size: \"16 potatoes\" is not a size; write e.g. 512KiB, 16MiB, 1GiB, 10MB or a number of bytes",
            ],
        ),
        case(
            "backoff ceiling below the backoff",
            "poll:\n  retry_backoff: 2s\n  retry_max_backoff: 1s\n",
            &["poll.retry_max_backoff: \"1s\" is shorter than poll.retry_backoff (2s); use at least that"],
        ),
        case(
            "default ceiling below the backoff",
            "poll:\n  retry_backoff: 1m\n",
            &["poll.retry_max_backoff: the default 30s is shorter than poll.retry_backoff (1m); use at least that"],
        ),
        case(
            "stale_after shorter than the interval",
            "poll:\n  interval: 10m\n  stale_after: 5m\n",
            &["poll.stale_after: \"5m\" is shorter than poll.interval (10m); values must be kept at least one cycle"],
        ),
    ]);
}

fn temp_file(name: &str, content: &str) -> String {
    let path = std::env::temp_dir().join(format!("cds-config-test-{}-{name}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn secret_file_problems() {
    let empty = temp_file("empty", " \n\n");
    let good = temp_file("good", "SK-from-file\n");
    let text = format!(
        "accounts:
  - name: both
    access_key_id: AK
    access_key_secret: SK
    access_key_secret_file: {good}
    discovery: {{}}
  - name: unreadable
    access_key_id: AK
    access_key_secret_file: /nonexistent/cds-secret
    discovery: {{}}
  - name: empty
    access_key_id: AK
    access_key_secret_file: {empty}
    discovery: {{}}
"
    );
    check(&[(
        "both, unreadable, empty",
        text,
        invalid(&[
            "accounts[0].access_key_secret_file: cannot be used together with access_key_secret; keep one of them",
            "accounts[1].access_key_secret_file: cannot read \"/nonexistent/cds-secret\": No such file or directory (os error 2)",
            &format!("accounts[2].access_key_secret_file: {empty:?} is empty"),
        ]),
    )]);
    let c = Config::parse(
        &format!("accounts:\n  - {{name: a, access_key_id: AK, access_key_secret_file: {good}, discovery: {{}}}}\n"),
        "c.yaml",
        &env,
    )
    .unwrap();
    assert_eq!(c.accounts[0].access_key_secret.expose(), "SK-from-file");
    std::fs::remove_file(empty).unwrap();
    std::fs::remove_file(good).unwrap();
}

/// However a secret is misplaced or mistyped, no message quotes it.
#[test]
fn no_message_contains_a_secret() {
    let file = temp_file("leak", "file-s3cr3t-value\n");
    let placements = [
        "access_key_secret: 12345678".to_owned(),
        "access_key_secret: [s3cr3t-in-list]".to_owned(),
        "access_key_secret: {s3cr3t-as-key: 1}".to_owned(),
        "access_key_secret: true".to_owned(),
        "access_key_secret: s3cr3t-${UNSET}".to_owned(),
        "access_key_secret: s3cr3t-${x y}".to_owned(),
        "access_key_secret: s3cr3t-${unterminated".to_owned(),
        "access_key_secret: ${SK_VAR}\n    access_key_secret_file: /nonexistent".to_owned(),
        format!("access_key_secret: s3cr3t-literal\n    access_key_secret_file: {file}"),
        format!("access_key_secret_file: {file}\n    name: [x]"),
        "acces_key_secret: s3cr3t-typo".to_owned(),
        // The secret also written where values are quoted.
        "access_key_secret: ${SK_VAR}\n    timezone: ${SK_VAR}".to_owned(),
        "access_key_secret: s3cr3t-literal\n    endpoint: s3cr3t-literal".to_owned(),
    ];
    for placement in placements {
        let text = format!(
            "poll:\n  access_key_secret: s3cr3t-misplaced\naccounts:\n  - access_key_id: AK\n    {placement}\n"
        );
        let e = message(&text);
        assert!(e.starts_with("config file c.yaml has"), "{placement}: {e}");
        for secret in [
            "12345678",
            "s3cr3t",
            SECRET,
            "file-s3cr3t-value",
            "s3cr3t-misplaced",
        ] {
            assert!(!e.contains(secret), "{placement} leaks {secret}: {e}");
        }
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn readme_example_is_what_the_exporter_says() {
    let text = "poll:\n  intervall: 5m\n  concurrency: eight\naccounts:\n  - name: main\n    access_key_id: ${CDS_AK}\n    discovery: {}\n";
    let e = Config::parse(text, "config.yaml", &env)
        .unwrap_err()
        .to_string();
    assert!(
        include_str!("../../README.md").contains(&format!("```\n{e}\n```")),
        "{e}"
    );
}

#[test]
fn staleness_rules_are_checked_at_their_paths() {
    check(&[
        case(
            "every kind of mistake at once",
            "staleness:\n  - tag: prod\n  - account: typo\n    max_age: 30s\n  - instance_name: \"orders-[\"\n    tag: \" \"\n    max_age: soon\n    team: x\n",
            &[
                "staleness[2].team: unknown key; valid keys here are account, tag, instance_name, instance_uuid, max_age",
                "staleness[0].max_age: is missing; give the largest allowed backup age, e.g. 26h or 8d",
                "staleness[1].max_age: \"30s\" is too short; use at least 1m",
                "staleness[2].max_age: \"soon\" is not a duration; write e.g. 500ms, 30s, 5m or 1h",
                "staleness[2].tag: is empty; leave the key out to match every value",
                "staleness[2].instance_name: \"orders-[\" is not a valid pattern (Pattern syntax error near position 7: invalid range pattern); use * for any text, ? for one character, [abc] for one of a set",
                "staleness[1].account: \"typo\" is not the name of a configured account; use one of the names under accounts:",
            ],
        ),
        case(
            "not a list",
            "staleness:\n  tag: prod\n",
            &["staleness: expected a list, got a mapping"],
        ),
        (
            "a valid rule",
            format!("staleness:\n  - account: main\n    tag: prod\n    instance_name: \"orders-*\"\n    max_age: 8h\n{ACCOUNT}"),
            "OK".to_owned(),
        ),
    ]);
}

#[test]
fn verify_section_problems_are_all_reported() {
    check(&[
        case(
            "every kind of mistake at once",
            "verify:\n  level: thorough\n  rules:\n    - tag: prod\n    - account: nope\n      level: full\n  url_types: [intranet, ftp, intranet]\n  concurrency: 0\n  max_bandwidth: 1KiB\n  max_size: 2TiB\n  daily_budget: lots\n  timeout: 0s\n  state_file: \" \"\n",
            &[
                "verify.level: \"thorough\" is not a level; use off, light or full",
                "verify.rules[0].level: is missing; use off, light or full",
                "verify.url_types[1]: \"ftp\" is not a URL type; use public or intranet",
                "verify.url_types[2]: \"intranet\" is listed twice",
                "verify.concurrency: 0 is out of range; use 1 to 16",
                "verify.max_bandwidth: \"1KiB\" is out of range; use 64KiB to 10GiB (bytes per second)",
                "verify.max_size: \"2TiB\" is out of range; use 1MiB to 1TiB",
                "verify.daily_budget: \"lots\" is not a size; write e.g. 512KiB, 16MiB, 1GiB, 10MB or a number of bytes",
                "verify.timeout: \"0s\" is too short; use at least 1s",
                "verify.state_file: is empty; give a file path, or leave the key out to keep results in memory",
                "verify.rules[1].account: \"nope\" is not the name of a configured account; use one of the names under accounts:",
            ],
        ),
        case(
            "an empty list of URL types",
            "verify:\n  url_types: []\n",
            &["verify.url_types: is empty; list intranet and/or public, or set verify.level: off"],
        ),
        (
            "a valid section",
            format!("verify:\n  level: off\n  rules:\n    - {{tag: prod, level: full}}\n  max_bandwidth: 20MiB\n  daily_budget: 1TiB\n  state_file: /var/lib/cds/verify.json\n{ACCOUNT}"),
            "OK".to_owned(),
        ),
    ]);
}
