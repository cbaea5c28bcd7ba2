//! The file as a YAML tree, before it becomes [`RawConfig`].
//!
//! serde's `deny_unknown_fields` stops at the first unknown key and knows nothing of the
//! environment, so the tree is first walked against [`SCHEMA`]: every unknown key is
//! reported (with the closest valid key) and dropped, and `${VAR}` is expanded in string
//! values. Deserializing then goes through `serde_path_to_error`; a value of the wrong
//! type is reported at its key path and dropped, and deserializing is tried again, so
//! one pass reports every type error too.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value};

use super::raw::{Leaf, RawConfig, Shape, SCHEMA};
use super::Problem;

/// Type errors reported before giving up; each retry removes one value, so this only
/// bounds the work on a pathological file.
const MAX_TYPE_ERRORS: usize = 32;

/// Strings quoted in messages are cut to this many characters.
const QUOTE_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A path whose value was dropped because it was unusable. Problems that validation
/// later finds at or below it, or about a container it emptied, are consequences, not
/// news.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub path: String,
    /// The dropped value was a list or mapping, whose absence the parent may notice.
    pub container: bool,
}

fn is_under(child: &str, parent: &str) -> bool {
    child
        .strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

impl Dropped {
    /// Whether a problem at `path` is a consequence of dropping this value.
    pub fn explains(&self, path: &str) -> bool {
        self.path == path
            || is_under(path, &self.path)
            || (self.container && is_under(&self.path, path))
    }
}

/// What the walk over the tree found.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<Problem>,
    pub dropped: Vec<Dropped>,
    /// Values of `access_key_secret` keys, wherever they stand, to keep out of messages.
    pub secrets: Vec<String>,
    /// Each path's rank in the file, so that problems found in different passes are
    /// listed in the order a reader meets them.
    order: HashMap<String, usize>,
}

impl Findings {
    fn problem(&mut self, path: &[Seg], message: impl Into<String>) {
        self.problems.push(Problem {
            path: render(path),
            message: message.into(),
        });
    }

    /// Lists the problems found so far in file order.
    pub fn sort(&mut self) {
        self.problems
            .sort_by_key(|p| self.order.get(&p.path).copied().unwrap_or(usize::MAX));
    }

    fn drop_value(&mut self, path: &[Seg], shape: Shape) {
        self.dropped.push(Dropped {
            path: render(path),
            container: !matches!(shape, Shape::Leaf(_)),
        });
    }
}

/// Reports and removes unknown keys, expands `${VAR}`, and drops sections and lists
/// written without a value (`poll:` with every key commented out), as if left out.
/// With `ranked`, each key path's place in the file is recorded too, so that problems
/// can be listed in file order.
pub fn prepare(value: &mut Value, env: &dyn Fn(&str) -> Option<String>, ranked: bool) -> Findings {
    let mut found = Findings::default();
    collect_secrets(value, &mut found.secrets);
    if ranked {
        rank(value, &mut Vec::new(), &mut found.order);
    }
    if value.is_null() {
        *value = Value::Mapping(Mapping::new());
    }
    walk(value, SCHEMA, &mut Vec::new(), env, &mut found);
    found
}

fn collect_secrets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("access_key_secret") {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                }
                collect_secrets(v, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|v| collect_secrets(v, out)),
        Value::Tagged(t) => collect_secrets(&t.value, out),
        _ => {}
    }
}

fn rank(value: &Value, path: &mut Vec<Seg>, order: &mut HashMap<String, usize>) {
    let next = order.len();
    order.entry(render(path)).or_insert(next);
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                path.push(Seg::Key(key_text(k)));
                rank(v, path, order);
                path.pop();
            }
        }
        Value::Sequence(list) => {
            for (i, v) in list.iter().enumerate() {
                path.push(Seg::Index(i));
                rank(v, path, order);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Returns false when the value should be removed from its parent.
fn walk(
    value: &mut Value,
    shape: Shape,
    path: &mut Vec<Seg>,
    env: &dyn Fn(&str) -> Option<String>,
    found: &mut Findings,
) -> bool {
    // Tags (`!foo`) mean nothing here; unwrapped, the value is checked like any other.
    while let Value::Tagged(t) = value {
        *value = std::mem::take(&mut t.value);
    }
    match (shape, &mut *value) {
        (Shape::Map(_) | Shape::List(_), Value::Null) => false,
        (Shape::Map(keys), Value::Mapping(map)) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                let known = k
                    .as_str()
                    .and_then(|name| keys.iter().find(|(key, _)| *key == name));
                let Some((name, child)) = known else {
                    path.push(Seg::Key(key_text(&k)));
                    found.problem(path, unknown_key_message(&k, keys));
                    path.pop();
                    continue;
                };
                path.push(Seg::Key((*name).to_owned()));
                let keep = walk(&mut v, *child, path, env, found);
                path.pop();
                if keep {
                    map.insert(k, v);
                }
            }
            true
        }
        (Shape::List(item), Value::Sequence(list)) => {
            for (i, v) in list.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                if !walk(v, *item, path, env, found) {
                    // Removing would renumber the following entries' paths.
                    *v = neutral(*item);
                }
                path.pop();
            }
            true
        }
        (Shape::Leaf(leaf), Value::String(text)) => match expand(text, env) {
            Ok(expanded) => {
                if leaf == Leaf::Secret {
                    found.secrets.push(expanded.clone());
                }
                if let Some(v) = typed(text, &expanded, leaf) {
                    *value = v;
                } else {
                    *text = expanded;
                }
                true
            }
            Err(message) => {
                found.problem(path, message);
                found.drop_value(path, shape);
                false
            }
        },
        // Anything else is a type error, which serde reports below with its path.
        _ => true,
    }
}

/// Stands in for an unusable list entry; its own problems are then explained by
/// [`Dropped`].
fn neutral(shape: Shape) -> Value {
    match shape {
        Shape::Map(_) => Value::Mapping(Mapping::new()),
        Shape::List(_) => Value::Sequence(Vec::new()),
        Shape::Leaf(_) => Value::String(String::new()),
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "~".to_owned(),
        Value::Sequence(_) => "<a list>".to_owned(),
        Value::Mapping(_) => "<a mapping>".to_owned(),
        Value::Tagged(t) => key_text(&t.value),
    }
}

/// Compares key names the way people mistype them: case, `-` for `_`, missing `_`.
fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn closest(unknown: &str, keys: &[(&'static str, Shape)]) -> Option<&'static str> {
    let u = normalized(unknown);
    if u.is_empty() {
        return None;
    }
    let mut best: Option<(f64, &'static str)> = None;
    for (key, _) in keys {
        let k = normalized(key);
        let similarity = strsim::jaro_winkler(&u, &k);
        let allowed = (u.chars().count().min(k.chars().count()) / 3).max(1);
        let close = k == u
            // `timeout` for `request_timeout`, `retries` for `max_retries`.
            || (u.chars().count() >= 4 && (k.contains(&u) || u.contains(&k)))
            || strsim::damerau_levenshtein(&u, &k) <= allowed
            || similarity >= 0.9;
        if close && best.is_none_or(|(s, _)| similarity > s) {
            best = Some((similarity, key));
        }
    }
    best.map(|(_, key)| key)
}

fn unknown_key_message(k: &Value, keys: &[(&'static str, Shape)]) -> String {
    match k.as_str().and_then(|name| closest(name, keys)) {
        Some(key) => format!("unknown key; did you mean {key}?"),
        None => {
            let names: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
            format!("unknown key; valid keys here are {}", names.join(", "))
        }
    }
}

/// Replaces `${VAR}` with the variable's value and `$$` with `$`; any other `$` stays.
/// Messages name variables only, never the text around them, which may be a secret.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err("has ${ without a closing }; write $$ for a literal $".to_owned());
            };
            let name = &tail[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(
                    "has ${...} without a variable name (letters, digits and _); write $$ for a literal $"
                        .to_owned(),
                );
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None if !missing.iter().any(|m| m == name) => missing.push(name.to_owned()),
                None => {}
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    match missing.as_slice() {
        [] => Ok(out),
        [one] => Err(format!("environment variable {one} is not set")),
        many => Err(format!(
            "environment variables {} are not set",
            many.join(", ")
        )),
    }
}

/// A value written as exactly `${VAR}` where a number or boolean is expected takes the
/// type of the variable's text, as if that text had been written in the file.
fn typed(original: &str, expanded: &str, leaf: Leaf) -> Option<Value> {
    let name = original.trim().strip_prefix("${")?.strip_suffix('}')?;
    if name.contains(['$', '{', '}'])
        || !matches!(leaf, Leaf::Int | Leaf::Float | Leaf::Bool | Leaf::Size)
    {
        return None;
    }
    serde_yaml::from_str::<Value>(expanded)
        .ok()
        .filter(|v| v.is_number() || v.is_bool())
}

/// Deserializes the prepared tree, reporting each value of the wrong type at its path.
/// `None` when it had to give up; the problems then say why.
pub fn deserialize(mut value: Value, found: &mut Findings) -> Option<RawConfig> {
    let mut last: Option<Vec<Seg>> = None;
    for _ in 0..MAX_TYPE_ERRORS {
        let error = match serde_path_to_error::deserialize::<_, RawConfig>(&value) {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        let path = segments(error.path());
        let target = path.as_ref().and_then(|p| locate(&value, p));
        let (Some(path), Some((shape, found_value))) = (path, target) else {
            found.problems.push(Problem {
                path: error.path().to_string(),
                message: error.inner().to_string(),
            });
            return None;
        };
        if last.as_ref() == Some(&path) {
            // Removing it did not help; do not report the same thing again.
            return None;
        }
        found.problem(&path, type_message(shape, found_value));
        found.drop_value(&path, shape);
        remove(&mut value, &path, shape);
        last = Some(path);
    }
    found.problems.push(Problem {
        path: ".".to_owned(),
        message: format!("more than {MAX_TYPE_ERRORS} values of the wrong type; fix these first"),
    });
    None
}

fn segments(path: &serde_path_to_error::Path) -> Option<Vec<Seg>> {
    use serde_path_to_error::Segment;
    path.iter()
        .map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .filter(|p| !p.is_empty())
}

/// The shape expected at `path` and the value found there.
fn locate<'a>(root: &'a Value, path: &[Seg]) -> Option<(Shape, &'a Value)> {
    let mut shape = SCHEMA;
    let mut value = root;
    for seg in path {
        (shape, value) = match (shape, seg) {
            (Shape::Map(keys), Seg::Key(k)) => {
                let (_, child) = keys.iter().find(|(key, _)| key == k)?;
                (*child, value.get(k.as_str())?)
            }
            (Shape::List(item), Seg::Index(i)) => (*item, value.get(*i)?),
            _ => return None,
        };
    }
    Some((shape, value))
}

fn remove(root: &mut Value, path: &[Seg], shape: Shape) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut value = root;
    for seg in parent {
        let next = match seg {
            Seg::Key(k) => value.get_mut(k.as_str()),
            Seg::Index(i) => value.get_mut(*i),
        };
        let Some(next) = next else { return };
        value = next;
    }
    match (last, value) {
        (Seg::Key(k), Value::Mapping(m)) => {
            m.shift_remove(k.as_str());
        }
        (Seg::Index(i), Value::Sequence(s)) => {
            if let Some(v) = s.get_mut(*i) {
                *v = neutral(shape);
            }
        }
        _ => {}
    }
}

fn expected(shape: Shape) -> &'static str {
    match shape {
        Shape::Map(_) => "a mapping of keys",
        Shape::List(_) => "a list",
        Shape::Leaf(Leaf::Text | Leaf::Secret) => "a string",
        Shape::Leaf(Leaf::Duration) => "a duration like 500ms, 30s or 5m",
        Shape::Leaf(Leaf::Int) => "a whole number",
        Shape::Leaf(Leaf::Float) => "a number",
        Shape::Leaf(Leaf::Bool) => "true or false",
        Shape::Leaf(Leaf::Size) => "a number of bytes or a size like 512KiB or 16MiB",
    }
}

fn type_message(shape: Shape, v: &Value) -> String {
    let quote = shape != Shape::Leaf(Leaf::Secret);
    let got = match v {
        Value::Null => "nothing".to_owned(),
        Value::Bool(b) if quote => b.to_string(),
        Value::Number(n) if quote => n.to_string(),
        Value::String(s) if quote => {
            let shown: String = s.chars().take(QUOTE_CHARS).collect();
            format!("the string {shown:?}")
        }
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(_) => "a tagged value".to_owned(),
    };
    format!("expected {}, got {got}", expected(shape))
}
