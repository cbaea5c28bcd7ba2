//! `docs/configuration.md`, generated from the schema the loader walks ([`SCHEMA`]):
//! every key's path and type come from it, so a new key or section appears by itself;
//! its default and meaning come from [`KEYS`], which a test holds to the schema (every
//! key documented, nothing documented that is not a key) and to the validator (each
//! default written as a value is what leaving the key out gives). After a change,
//! `UPDATE_DOCS=1 cargo test --lib docs` rewrites the file.

use std::fmt::Write as _;

use super::raw::{Leaf, Shape, SCHEMA};

/// Where the file lives, from the repository's root.
pub const PATH: &str = "docs/configuration.md";

/// What the schema does not say of a key. `default` in backticks is a value, checked
/// against the validator; other text describes a default that depends on something.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// As in problems' key paths, with `[]` for any list index: `accounts[].name`.
    pub path: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

mod keys;
pub use keys::KEYS;

fn leaf_type(l: Leaf) -> &'static str {
    match l {
        Leaf::Text => "string",
        Leaf::Secret => "string (secret)",
        Leaf::Duration => "duration",
        Leaf::Int => "integer",
        Leaf::Float => "number",
        Leaf::Bool => "boolean",
        Leaf::Size => "size",
    }
}

fn type_of(s: &Shape) -> String {
    match s {
        Shape::Leaf(l) => leaf_type(*l).to_owned(),
        Shape::Map(_) => "mapping".to_owned(),
        Shape::List(Shape::Map(_)) => "list of mappings".to_owned(),
        Shape::List(inner) => format!("list of {}", type_of(inner)),
    }
}

/// Every key under `shape`, depth first in schema order: (path, its shape).
pub fn keys() -> Vec<(String, Shape)> {
    fn walk(prefix: &str, shape: &Shape, out: &mut Vec<(String, Shape)>) {
        match shape {
            Shape::Map(entries) => {
                for (name, s) in *entries {
                    let path = if prefix.is_empty() {
                        (*name).to_owned()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    out.push((path.clone(), *s));
                    walk(&path, s, out);
                }
            }
            Shape::List(inner) => walk(&format!("{prefix}[]"), inner, out),
            Shape::Leaf(_) => {}
        }
    }
    let mut out = Vec::new();
    walk("", &SCHEMA, &mut out);
    out
}

/// The documentation of `path`, if any.
pub fn doc_of(path: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|k| k.path == path)
}

/// The whole file.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from src/config/ (the schema in raw.rs, the texts in doc/keys.rs) by `UPDATE_DOCS=1 cargo test --lib docs`: edit those, not this file. -->\n\
         # Configuration\n\n\
         `config.yaml` (`--config.file`; [the example](../config.yaml) shows every key). Only \
         `accounts` (with at least one target) is required. Unknown keys are an error, and \
         every problem is reported at once with its key path. In any string value `${VAR}` \
         is replaced by the environment variable `VAR` (unset is an error) and `$$` stands \
         for `$`; a value that is exactly `${VAR}` may give a number or a boolean. \
         Durations are written like `500ms`, `30s`, `5m`, `1h`; sizes as a number of bytes \
         or with a unit (`KiB`, `MiB`, `GiB`, `TiB`, `kB`, `MB`, `GB`, `TB`). `[]` in a \
         path stands for any entry of a list.\n",
    );
    let keys = keys();
    let top = keys.iter().filter(|(p, _)| !p.contains(['.', '[']));
    for (section, shape) in top {
        let _ = write!(out, "\n## `{section}`\n\n");
        if let Some(d) = doc_of(section) {
            let _ = writeln!(out, "{}\n", d.doc);
        }
        let _ = writeln!(out, "| key | type | default | meaning |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        let rows = std::iter::once((section.clone(), *shape)).chain(
            keys.iter()
                .filter(|(p, _)| {
                    p.strip_prefix(section.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
                })
                .cloned(),
        );
        for (path, shape) in rows {
            let (default, doc) = doc_of(&path).map_or(("", ""), |d| (d.default, d.doc));
            // The section's own row says what it holds; its prose is above the table.
            let doc = if path == *section { "" } else { doc };
            let _ = writeln!(
                out,
                "| `{path}` | {} | {default} | {} |",
                type_of(&shape),
                doc.replace('|', "\\|")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
