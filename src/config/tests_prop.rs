//! Property tests: whatever the file holds, parsing answers (never panics), an error
//! always names at least one problem, and no message quotes a secret.
use proptest::prelude::*;
use serde_yaml::{Mapping, Value};

use super::raw::{Leaf, Shape, SCHEMA};
use super::*;

const SECRET: &str = "pr0p-s3cret-value";

fn env(k: &str) -> Option<String> {
    match k {
        "CONC" => Some("8".to_owned()),
        "SK" => Some(SECRET.to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Parses and checks what holds for every answer; returns the message, if any.
fn parse_checked(text: &str) -> Result<Config, String> {
    match Config::parse(text, "p.yaml", &env) {
        Ok(c) => {
            let p = &c.poll;
            assert!(!c.accounts.is_empty());
            assert!(p.concurrency >= 1 && p.max_retries <= 10);
            assert!(p.retry_max_backoff >= p.retry_backoff);
            assert!(p.stale_after >= p.interval);
            assert!((1024..=1 << 30).contains(&p.max_response_bytes));
            assert!(p.rate_limit.is_none_or(|r| r > 0.0 && r <= 10_000.0));
            Ok(c)
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty());
            Err(Problems(&problems).to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Pieces that YAML and this schema give meaning to, to be glued at random.
fn token() -> impl Strategy<Value = String> {
    let known: Vec<String> = ["poll", "probe", "accounts", "interval", "concurrency"]
        .iter()
        .chain(&["access_key_secret", "backups", "instance_uuid", "discovery"])
        .chain(&[
            "stale_after",
            "max_response_size",
            "rate_limit",
            "url_types",
        ])
        .map(|k| format!("{k}: "))
        .collect();
    prop_oneof![
        prop::sample::select(known),
        prop::sample::select(vec![
            "- ", "[", "]", "{", "}", ", ", ": ", "\"", "'", "#", "&a ", "*a", "<<: ", "!t ",
            "${CONC}", "${UNSET}", "$$", "${", "~", "5m", "16MiB", "-1", "1e999", ".nan", "---",
            "? ", "|", ">",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,8}",
        "\\PC{0,3}",
    ]
}

fn yamlish() -> impl Strategy<Value = String> {
    let line = (0usize..5, prop::collection::vec(token(), 0..5))
        .prop_map(|(indent, tokens)| " ".repeat(indent * 2) + &tokens.concat());
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        (-3i64..20).prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_map(|f| Value::Number(f.into())),
        prop::sample::select(vec![
            "5m",
            "0s",
            "10ms",
            "1h",
            "1 fortnight",
            "16MiB",
            "512",
            "2GiB",
            "10MB",
            "${CONC}",
            "${UNSET}",
            "${EMPTY}",
            "$$x",
            "${",
            "eight",
            "+08:00",
            "UTC",
            "Asia/Shanghai",
            "https://example.com",
            "ftp://x",
            "cn",
            "public",
            "intranet",
            "",
            " ",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        "[ -~]{0,12}".prop_map(Value::String),
    ]
}

/// What may stand where the secret goes: the secret in every form, and nowhere else.
fn secret_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::String(SECRET.to_owned())),
        Just(Value::String("${SK}".to_owned())),
        Just(Value::String(format!("{SECRET}${{UNSET}}"))),
        Just(Value::String(format!("{SECRET}${{"))),
        Just(Value::Sequence(vec![Value::String(SECRET.to_owned())])),
        Just(Value::Null),
        Just(Value::Bool(true)),
    ]
}

/// A tree shaped like the schema, with random values, some keys left out, some added,
/// and now and then a value of the wrong shape.
fn tree(shape: Shape) -> BoxedStrategy<Value> {
    match shape {
        Shape::Leaf(Leaf::Secret) => secret_value().boxed(),
        Shape::Leaf(_) => prop_oneof![
            9 => scalar(),
            1 => prop::collection::vec(scalar(), 0..2).prop_map(Value::Sequence),
        ]
        .boxed(),
        Shape::List(item) => prop_oneof![
            9 => prop::collection::vec(tree(*item), 0..3).prop_map(Value::Sequence),
            1 => scalar(),
        ]
        .boxed(),
        Shape::Map(keys) => {
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = keys
                .iter()
                .map(|(k, child)| {
                    let k = (*k).to_owned();
                    prop::option::weighted(0.6, tree(*child))
                        .prop_map(move |v| v.map(|v| (k.clone(), v)))
                        .boxed()
                })
                .collect();
            let extra = prop::option::weighted(0.1, ("[a-z_]{1,12}", scalar()));
            prop_oneof![
                19 => (fields, extra).prop_map(|(fields, extra)| {
                    let mut m = Mapping::new();
                    for (k, v) in fields.into_iter().flatten().chain(extra) {
                        m.insert(Value::String(k), v);
                    }
                    Value::Mapping(m)
                }),
                1 => scalar(),
            ]
            .boxed()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_gets_an_answer(text in yamlish()) {
        let _ = parse_checked(&text);
    }

    #[test]
    fn any_string_gets_an_answer(text in "\\PC{0,200}") {
        let _ = parse_checked(&text);
    }

    #[test]
    fn random_configs_get_an_answer_and_never_show_the_secret(root in tree(SCHEMA)) {
        let text = serde_yaml::to_string(&root).unwrap();
        match parse_checked(&text) {
            Ok(_) => {}
            Err(message) => prop_assert!(!message.contains(SECRET), "{text}\n{message}"),
        }
    }

}

/// Nesting openers YAML knows, one level each: flow and block, sequences and maps.
fn opener() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("["),
        Just("{a: "),
        Just("- "),
        Just("? "),
        Just("[{x: ")
    ]
}

proptest! {
    // Each case may build a 1 MB text: fewer cases, still every shape of nesting.
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// At any depth and size, parsing answers quickly: deep files are refused before
    /// the parser (whose cost grows with the square of the depth) sees them, and
    /// nothing overflows the stack.
    #[test]
    fn any_nesting_gets_a_quick_answer(
        openers in prop::collection::vec(opener(), 1..8),
        depth in prop_oneof![1usize..80, 1000usize..200_000],
        tail in "[a-z\\]\\} ]{0,20}",
    ) {
        let mut text = String::from("accounts: ");
        for i in 0..depth {
            text.push_str(openers[i % openers.len()]);
        }
        text.push_str(&tail);
        let started = std::time::Instant::now();
        let answer = parse_checked(&text);
        prop_assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        if depth > crate::input::MAX_YAML_DEPTH {
            // Refused by the depth check, or by the parser at a construct YAML does not
            // allow there, long before the depth could cost anything.
            prop_assert!(answer.is_err());
        }
    }
}
