//! The metric names a PromQL expression selects, for the tests that hold the rules and
//! the dashboards to the metrics the exporter declares. A scanner, not a parser: it
//! skips strings, label matchers, ranges, Grafana variables and comments, the label
//! lists of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, and function
//! names (an identifier followed by `(`); every other identifier is a metric name.

/// Operators, modifiers and aggregations (which may be followed by `by (...)` before
/// their parenthesis) that look like identifiers.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
    "Inf",
    "NaN",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Metric names in `expr`, in order of appearance (repeats kept).
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_to(&chars, i, '}'),
            '[' => i = skip_to(&chars, i, ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_to(&chars, i, '}');
                } else {
                    while i < chars.len() && ident_char(chars[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number or a duration (5m, 1e3, 0x1f): digits and the letters after.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if ident_start(c) => {
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let paren = chars.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&word.as_str()) {
                    if paren {
                        i = skip_to(&chars, next, ')');
                    }
                } else if !paren && !KEYWORDS.contains(&word.as_str()) {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The index after the string starting at `i` (backslash escapes in `"` and `'`).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        if chars[j] == '\\' && quote != '`' {
            j += 2;
            continue;
        }
        if chars[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    j
}

/// The index after the `close` that ends the bracket at `i`, strings inside skipped.
fn skip_to(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' => j = skip_string(chars, j),
            c if c == close => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// The PromQL inside a Grafana variable query: `label_values(metric{...}, label)` selects
/// the metric (the label is not one), `query_result(expr)` its expression; anything
/// else is PromQL as it stands.
pub fn grafana_variable_query(query: &str) -> String {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return inner.to_owned();
    }
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // The label is what follows the last comma outside braces.
        let chars: Vec<char> = inner.chars().collect();
        let mut depth = 0i32;
        let mut last_comma = None;
        let mut j = 0;
        while j < chars.len() {
            match chars[j] {
                '"' | '\'' | '`' => {
                    j = skip_string(&chars, j);
                    continue;
                }
                '{' | '(' | '[' => depth += 1,
                '}' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => last_comma = Some(j),
                _ => {}
            }
            j += 1;
        }
        return match last_comma {
            Some(at) => chars[..at].iter().collect(),
            // label_values(label): no metric.
            None => String::new(),
        };
    }
    q.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_skip_labels_functions_and_variables() {
        let expr = r#"sum by (action, le) (rate(cds_a_bucket{job="$job", x=~"a}b"}[$__rate_interval]))
            / on (job) group_left (tags) cds_b offset 5m
            and ignoring(x) max without (pod) (c:d:e) > bool 2 * 3600 # cds_comment
            or label_replace(cds_f, "dst", "$1", "src", "(.*)") unless ${var} > 1e3"#;
        assert_eq!(
            metric_names(expr),
            vec!["cds_a_bucket", "cds_b", "c:d:e", "cds_f"]
        );
    }

    #[test]
    fn grafana_variable_queries() {
        assert_eq!(
            grafana_variable_query(r#"label_values(cds_x{job="$job", a=~"b,c"}, instance)"#),
            r#"cds_x{job="$job", a=~"b,c"}"#
        );
        assert_eq!(grafana_variable_query("label_values(job)"), "");
        assert_eq!(
            grafana_variable_query("query_result(group by (a) (cds_y))"),
            "group by (a) (cds_y)"
        );
        assert_eq!(grafana_variable_query("cds_z"), "cds_z");
    }
}
