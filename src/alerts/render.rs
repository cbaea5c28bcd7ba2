//! The rule file as text: YAML written by hand rather than through a serializer, so
//! the comments that explain each rule and the block scalars (`|` for expressions,
//! `>-` for annotation templates) stay readable in review. A test parses the output
//! back and compares it with the declarations, so a quoting mistake cannot slip through.

use std::fmt::Write as _;

use super::{alerts, groups, header, Alert, Group, Record, RUNBOOK_URL};

/// `prometheus/alerts.yml`, as generated from the declarations, with the default
/// runbook base.
pub fn rules_yaml() -> String {
    rules_yaml_with(RUNBOOK_URL)
}

/// The rule file with every `runbook_url` under `runbook_base` (checked by
/// `check_runbook_base_url` first where it comes from an operator).
pub fn rules_yaml_with(runbook_base: &str) -> String {
    let mut out = header::text(&table(), runbook_base);
    out.push_str("groups:\n");
    let groups = groups();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        group(&mut out, g, runbook_base);
    }
    out
}

fn group(out: &mut String, g: &Group, runbook_base: &str) {
    comment(out, "  ", g.comment);
    let _ = writeln!(out, "  - name: {}", g.name);
    if !g.interval.is_empty() {
        let _ = writeln!(out, "    interval: {}", g.interval);
    }
    out.push_str("    rules:\n");
    let mut first = true;
    let mut gap = |out: &mut String| {
        if !first {
            out.push('\n');
        }
        first = false;
    };
    for r in g.records {
        // Records of the hourly group have no comments and sit together.
        if !r.comment.is_empty() {
            gap(out);
        }
        record(out, r);
    }
    for s in g.sections {
        if !s.comment.is_empty() {
            gap(out);
            comment(out, "      ", s.comment);
        }
        for a in s.alerts {
            gap(out);
            alert(out, a, runbook_base);
        }
    }
}

fn record(out: &mut String, r: &Record) {
    comment(out, "      ", r.comment);
    let _ = writeln!(out, "      - record: {}", r.name);
    out.push_str("        expr:");
    expr(out, r.expr);
}

fn alert(out: &mut String, a: &Alert, runbook_base: &str) {
    comment(out, "      ", a.comment);
    let _ = writeln!(out, "      - alert: {}", a.name);
    out.push_str("        expr:");
    expr(out, a.expr);
    if !a.for_.is_empty() {
        let _ = writeln!(out, "        for: {}", a.for_);
    }
    if !a.keep_firing_for.is_empty() {
        let _ = writeln!(out, "        keep_firing_for: {}", a.keep_firing_for);
    }
    out.push_str("        labels:\n");
    let _ = writeln!(out, "          severity: {}", a.severity.as_str());
    out.push_str("        annotations:\n");
    folded(out, "summary", a.summary);
    folded(out, "description", a.description);
    let _ = writeln!(
        out,
        "          runbook_url: {}",
        a.runbook_url_at(runbook_base)
    );
}

/// `text` as comment lines at `indent`, nothing if it is empty.
fn comment(out: &mut String, indent: &str, text: &str) {
    for line in dedent(text) {
        if line.is_empty() {
            let _ = writeln!(out, "{indent}#");
        } else {
            let _ = writeln!(out, "{indent}# {line}");
        }
    }
}

/// An expression after `expr:`: a plain scalar when it is one line that needs no
/// quoting, else a literal block (its value ends in a newline, as hand-written rules do).
fn expr(out: &mut String, text: &str) {
    let lines = dedent(text);
    if let [one] = lines.as_slice() {
        if plain_safe(one) {
            let _ = writeln!(out, " {one}");
            return;
        }
        let _ = writeln!(out, " |-\n          {one}");
        return;
    }
    out.push_str(" |\n");
    for line in lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "          {line}");
        }
    }
}

/// Whether a one-line expression reads back as itself as a plain YAML scalar.
fn plain_safe(s: &str) -> bool {
    let first = s.chars().next();
    !s.is_empty()
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.ends_with(' ')
        && !matches!(
            first,
            Some(
                '-' | '?'
                    | ':'
                    | ','
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '#'
                    | '&'
                    | '*'
                    | '!'
                    | '|'
                    | '>'
                    | '\''
                    | '"'
                    | '%'
                    | '@'
                    | '`'
                    | ' '
            )
        )
}

fn folded(out: &mut String, key: &str, text: &str) {
    let _ = writeln!(out, "          {key}: >-");
    for line in dedent(text) {
        let _ = writeln!(out, "            {}", line.trim_start());
    }
}

#[cfg(test)]
/// The value a folded (`>-`) template has once read: its lines joined by spaces.
pub(super) fn fold(text: &str) -> String {
    dedent(text)
        .iter()
        .map(|l| l.trim_start())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
/// The value an expression has once read.
pub(super) fn expr_value(text: &str) -> String {
    let lines = dedent(text);
    match lines.as_slice() {
        [one] => one.clone(),
        _ => lines.iter().map(|l| format!("{l}\n")).collect(),
    }
}

/// The lines of `text` without the blank first and last lines, the common indentation
/// and trailing spaces.
pub(super) fn dedent(text: &str) -> Vec<String> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").to_owned())
        .collect()
}

/// The header's table of every alert: name, severity, condition (wrapped), window, for.
fn table() -> String {
    const NAME: usize = 36;
    const SEVERITY: usize = 10;
    const CONDITION: usize = 48;
    const WINDOW: usize = 8;
    let mut out = String::new();
    let row = |out: &mut String, name: &str, sev: &str, cond: &str, window: &str, for_: &str| {
        let line =
            format!("#   {name:NAME$}{sev:SEVERITY$}{cond:CONDITION$}  {window:WINDOW$}{for_}");
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(&mut out, "alert", "severity", "condition", "window", "for");
    for a in alerts() {
        let lines = wrap(a.condition, CONDITION);
        let for_ = if a.for_.is_empty() { "-" } else { a.for_ };
        let mut lines = lines.iter();
        let first = lines.next().map_or("", String::as_str);
        row(&mut out, a.name, a.severity.as_str(), first, a.window, for_);
        for l in lines {
            row(&mut out, "", "", l, "", "");
        }
    }
    out
}

/// Words of `text` in lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
