//! The generated reference against the checked-in file, the schema, the validator and
//! the example `config.yaml`.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::*;
use crate::config::Config;

use crate::generated::read;

#[test]
fn docs_configuration_md_is_generated_from_the_schema() {
    crate::generated::holds(PATH, &markdown(), "src/config/");
}

#[test]
fn every_key_of_the_schema_is_documented_and_nothing_else() {
    let paths: Vec<String> = keys().into_iter().map(|(p, _)| p).collect();
    let undocumented: Vec<&String> = paths
        .iter()
        .filter(|p| doc_of(p).is_none_or(|d| d.doc.trim().is_empty()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys without a meaning in src/config/doc/keys.rs: {undocumented:?}"
    );
    let known: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for k in KEYS {
        assert!(
            known.contains(k.path),
            "{} is documented but not a key",
            k.path
        );
        assert!(seen.insert(k.path), "{} documented twice", k.path);
    }
    for deep in [
        "accounts[].backups[].backup_id",
        "verify.rules[].level",
        "poll.interval",
    ] {
        assert!(known.contains(deep), "{deep} not walked");
    }
    // Leaves have a default (a value, "required", "none", ...).
    for (path, shape) in keys() {
        if matches!(shape, Shape::Leaf(_)) {
            assert!(
                !doc_of(&path).map_or("", |d| d.default).is_empty(),
                "{path}"
            );
        }
    }
}

const BASE: &str = "accounts:\n  - name: a\n    access_key_id: id\n    access_key_secret: secret-value\n    instances:\n      - instance_uuid: u\n";

fn parse(yaml: &str) -> Config {
    Config::parse(yaml, "test.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// `value` set at `path` in `doc`; the first entry of a list stands for `[]`.
fn set(doc: &mut Value, path: &str, value: Value) -> bool {
    let mut at = doc;
    let segments: Vec<&str> = path.split('.').collect();
    for (i, seg) in segments.iter().enumerate() {
        let (key, list) = match seg.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (*seg, false),
        };
        let Some(map) = at.as_mapping_mut() else {
            return false;
        };
        let key = Value::String(key.to_owned());
        if i + 1 == segments.len() && !list {
            map.insert(key, value);
            return true;
        }
        let next = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Default::default()));
        at = if list {
            match next.as_sequence_mut().and_then(|s| s.first_mut()) {
                Some(first) => first,
                None => return false,
            }
        } else {
            next
        };
    }
    false
}

/// A default written as a value is what the validator uses when the key is left out.
#[test]
fn documented_defaults_are_the_validators() {
    let base_doc: Value = serde_yaml::from_str(BASE).expect("base");
    let without = parse(BASE);
    let mut checked = 0;
    for k in KEYS {
        let Some(text) = k
            .default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
        else {
            continue;
        };
        let value: Value = serde_yaml::from_str(text).expect("a YAML value");
        let mut doc = base_doc.clone();
        assert!(set(&mut doc, k.path, value), "{}: no place for it", k.path);
        let yaml = serde_yaml::to_string(&doc).expect("yaml");
        assert_eq!(
            parse(&yaml),
            without,
            "{}: {text} is not the default",
            k.path
        );
        checked += 1;
    }
    // Not vacuous: the 25 of this writing, and whatever later sections add.
    assert!(checked >= 25, "{checked}");
}

/// The example `config.yaml` shows every key (commented out where it has no default).
#[test]
fn the_example_config_names_every_key() {
    let example = read("config.yaml");
    let missing: Vec<String> = keys()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            let name = p.rsplit(['.', ']']).next().unwrap_or(p);
            !example.contains(&format!("{name}:"))
        })
        .collect();
    assert!(missing.is_empty(), "config.yaml does not show {missing:?}");
}
