//! `check`'s report for people: a table that fits the terminal. Under a width it keeps
//! the columns that fit (instance and problem always; then shard, age, account,
//! verified, newest, download, size, took, newer, dropped in the reverse of that order)
//! and moves each row's problems below the table as numbered notes, wrapped to the
//! width; [`Width::Wide`] shows every column and every problem in the table, as wide as
//! the text needs. The accounts the exporter cannot see follow, with the CDS error or
//! the network error, then the summary.
//!
//! Every piece of CDS text goes through [`report::for_terminal`] once: escaped and cut.

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use unicode_width::UnicodeWidthStr as _;

use crate::report::{self, Charset, Fleet, Row, Severity};

/// How the table is drawn for the terminal at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Problems red (critical) and yellow (warning).
    pub color: bool,
    /// The table's borders: box drawing, or `+-|` for a terminal that is not UTF-8.
    pub borders: Charset,
    /// The severity icons (`✖ ▲ ✔ ?`, or `X ! + ?`): ASCII also under `NO_COLOR`.
    pub icons: Charset,
}

/// The width when stdout is no terminal and `COLUMNS` is not set: readable in a
/// 100-column window, a mail or a CI log.
pub const DEFAULT_WIDTH: usize = 100;

/// Narrower widths are taken as this: below it a UUID and the table's borders no
/// longer fit, and lines may be longer than the width.
pub const MIN_WIDTH: usize = 60;

/// How wide the report may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// At most this many columns (terminal cells).
    Columns(usize),
    /// Every column, each as wide as its text (`--wide`).
    Wide,
}

/// The most characters of one finding: findings quote CDS text (a verification's
/// detail, an account name) but are sentences, longer than a cell.
const FINDING_CHARS: usize = 2 * report::CELL_CHARS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Account,
    Instance,
    Shard,
    Newest,
    Age,
    Size,
    Took,
    Newer,
    Download,
    Verified,
    Problem,
}

/// The columns, left to right.
const ORDER: [Col; 11] = [
    Col::Account,
    Col::Instance,
    Col::Shard,
    Col::Newest,
    Col::Age,
    Col::Size,
    Col::Took,
    Col::Newer,
    Col::Download,
    Col::Verified,
    Col::Problem,
];

/// What goes first when the table is too wide: the details before what says whether
/// a restore would work. Instance and problem are never dropped.
const DROP_ORDER: [Col; 9] = [
    Col::Newer,
    Col::Took,
    Col::Size,
    Col::Download,
    Col::Newest,
    Col::Verified,
    Col::Account,
    Col::Age,
    Col::Shard,
];

/// The narrowest an instance name is wrapped to before columns are dropped instead.
const INSTANCE_MIN: usize = 16;

impl Col {
    fn header(self) -> &'static str {
        match self {
            Col::Account => "account",
            Col::Instance => "instance",
            Col::Shard => "shard",
            Col::Newest => "newest finished",
            Col::Age => "age / allowed",
            Col::Size => "size",
            Col::Took => "took",
            Col::Newer => "newer",
            Col::Download => "download",
            Col::Verified => "verified",
            Col::Problem => "problem",
        }
    }
}

/// One table row: the cells of every column, escaped, and its problems.
struct Line<'a> {
    row: Row<'a>,
    /// The number of its note below the table (narrow layout, rows with problems).
    note: Option<usize>,
}

impl Line<'_> {
    fn cell(&self, c: Col, wide: bool, icons: Charset) -> String {
        let safe = |v: &str| report::for_terminal(v, report::CELL_CHARS);
        let dash = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), safe);
        let r = &self.row;
        match c {
            Col::Account => safe(r.account),
            Col::Instance => safe(r.instance),
            Col::Shard => safe(r.shard),
            Col::Newest => dash(&r.newest),
            Col::Age => dash(&r.age),
            Col::Size => dash(&r.size),
            Col::Took => dash(&r.took),
            Col::Newer => safe(&r.newer),
            Col::Download => r
                .downloads
                .iter()
                .map(|d| safe(d))
                .collect::<Vec<_>>()
                .join("\n"),
            Col::Verified => safe(&r.verified),
            Col::Problem if wide => {
                if r.findings.is_empty() {
                    no_problem(r, icons)
                } else {
                    r.findings
                        .iter()
                        .map(|f| {
                            format!(
                                "{} {}: {}",
                                report::icon(Some(f.severity), r.checked, icons),
                                report::word(f.severity),
                                report::for_terminal(&f.what, FINDING_CHARS)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            }
            Col::Problem => match (r.worst, self.note) {
                (Some(s), Some(n)) => format!(
                    "{} {} [{n}]",
                    report::icon(Some(s), r.checked, icons),
                    report::word(s)
                ),
                _ => no_problem(r, icons),
            },
        }
    }
}

/// A row without findings: its icon and how much was checked ("ok" only for a whole read).
fn no_problem(r: &Row<'_>, icons: Charset) -> String {
    format!(
        "{} {}",
        report::icon(None, r.checked, icons),
        r.no_problem()
    )
}

/// The widest line of `s` in terminal cells.
fn text_width(s: &str) -> usize {
    s.lines().map(|l| l.width()).max().unwrap_or(0)
}

/// The report as text for a terminal of `width`, drawn in `style`.
pub fn table(fleet: &Fleet, style: Style, width: Width) -> String {
    let mut n = 0;
    let lines: Vec<Line<'_>> = fleet
        .instances
        .iter()
        .flat_map(report::rows)
        .map(|row| {
            let note = (!row.findings.is_empty() && width != Width::Wide).then(|| {
                n += 1;
                n
            });
            Line { row, note }
        })
        .collect();
    let mut out = match width {
        Width::Wide => render(&lines, &ORDER, style, None),
        Width::Columns(w) => narrow(fleet, &lines, style, w.max(MIN_WIDTH)),
    };
    let wrap_to = match width {
        Width::Wide => None,
        Width::Columns(w) => Some(w.max(MIN_WIDTH)),
    };
    for a in fleet.accounts.iter().filter(|a| !a.up) {
        let why = a.error.as_deref().unwrap_or("no call of it succeeded");
        let text = format!(
            "account {}: the exporter cannot see it: {}",
            report::for_terminal(&a.name, report::CELL_CHARS),
            report::for_terminal(why, FINDING_CHARS)
        );
        out.push_str(&wrap(&text, wrap_to, "", "    "));
    }
    let s = &fleet.summary;
    let summary = format!(
        "{} instance(s): {} healthy, {} with critical problems, {} with warnings; {} account(s) the exporter cannot see",
        s.instances, s.healthy, s.critical, s.warning, s.blind_accounts
    );
    out.push_str(&wrap(&summary, wrap_to, "", ""));
    if let Some(note) = super::verification_note(fleet) {
        out.push_str(&wrap(&note, wrap_to, "", ""));
    }
    out
}

/// The table with the columns that fit in `width`, then the numbered problems.
fn narrow(fleet: &Fleet, lines: &[Line<'_>], style: Style, width: usize) -> String {
    let accounts: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.row.account).collect();
    let mut cols: Vec<Col> = ORDER
        .into_iter()
        .filter(|c| match c {
            // One account: its name on every row says nothing.
            Col::Account => accounts.len() > 1 || fleet.accounts.len() > 1,
            Col::Shard => lines.iter().any(|l| !l.row.shard.is_empty()),
            _ => true,
        })
        .collect();
    let mut drops = DROP_ORDER.into_iter();
    let table = loop {
        if fits(lines, &cols, width, style.icons) {
            let plain = Style {
                color: false,
                ..style
            };
            let t = render(lines, &cols, plain, Some(width));
            if text_width(&t) <= width {
                break if style.color {
                    render(lines, &cols, style, Some(width))
                } else {
                    t
                };
            }
        }
        match drops.next() {
            Some(d) => cols.retain(|c| *c != d),
            // Nothing left to drop: as narrow as comfy-table can make it.
            None => break render(lines, &cols, style, Some(width)),
        }
    };
    let mut out = table;
    for l in lines {
        let Some(n) = l.note else { continue };
        let r = &l.row;
        let mut head = format!(
            "[{n}] {} / {}",
            report::for_terminal(r.account, report::CELL_CHARS),
            report::for_terminal(r.instance, report::CELL_CHARS)
        );
        if !r.shard.is_empty() {
            head.push_str(" / shard ");
            head.push_str(&report::for_terminal(r.shard, report::CELL_CHARS));
        }
        out.push_str(&wrap(&head, Some(width), "", "    "));
        for f in &r.findings {
            let word = report::word(f.severity);
            let text = format!(
                "{} {word}: {}",
                report::icon(Some(f.severity), r.checked, style.icons),
                report::for_terminal(&f.what, FINDING_CHARS)
            );
            let mut shown = wrap(&text, Some(width), "  - ", "    ");
            if style.color {
                let code = match f.severity {
                    Severity::Critical => "31",
                    Severity::Warning => "33",
                };
                // The word is at the start of the first line, never cut by the wrap.
                shown = shown.replacen(word, &format!("\u{1b}[{code}m{word}\u{1b}[39m"), 1);
            }
            out.push_str(&shown);
        }
    }
    out
}

/// Whether `cols` fit in `width` with every column but the instance at its full
/// width and the instance at least [`INSTANCE_MIN`] (or its own width if less).
fn fits(lines: &[Line<'_>], cols: &[Col], width: usize, icons: Charset) -> bool {
    let total: usize = cols
        .iter()
        .map(|&c| {
            let natural = lines
                .iter()
                .map(|l| text_width(&l.cell(c, false, icons)))
                .max()
                .unwrap_or(0)
                .max(c.header().width());
            let shown = if c == Col::Instance {
                natural.min(INSTANCE_MIN)
            } else {
                natural
            };
            shown + 2 // the padding either side
        })
        .sum();
    // The borders: one left of each column and one at the right.
    total + cols.len() < width
}

fn render(lines: &[Line<'_>], cols: &[Col], style: Style, width: Option<usize>) -> String {
    let wide = width.is_none();
    let mut t = Table::new();
    t.load_preset(match style.borders {
        Charset::Utf8 => presets::UTF8_FULL_CONDENSED,
        Charset::Ascii => presets::ASCII_FULL_CONDENSED,
    });
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(u16::try_from(w).unwrap_or(u16::MAX));
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    if style.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(cols.iter().map(|c| c.header()));
    for l in lines {
        t.add_row(cols.iter().map(|&c| {
            let cell = Cell::new(l.cell(c, wide, style.icons));
            match (c, l.row.worst) {
                (Col::Problem, Some(Severity::Critical)) => cell.fg(Color::Red),
                (Col::Problem, Some(Severity::Warning)) => cell.fg(Color::Yellow),
                _ => cell,
            }
        }));
    }
    format!("{t}\n")
}

/// `text` as lines of at most `width` cells (`None`: one line), the first starting with
/// `first` and the others with `rest`; words longer than a line are cut.
fn wrap(text: &str, width: Option<usize>, first: &str, rest: &str) -> String {
    let Some(width) = width else {
        return format!("{first}{text}\n");
    };
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut used = first.width();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = word.width();
        if !empty && used + 1 + w > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            used = rest.width();
            empty = true;
        }
        if !empty {
            line.push(' ');
            used += 1;
        }
        // A word longer than what is left of an empty line: cut it, cell by cell.
        for c in word.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + cw > width && !empty {
                out.push_str(&line);
                out.push('\n');
                line = rest.to_owned();
                used = rest.width();
            }
            line.push(c);
            used += cw;
            empty = false;
        }
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_wrapped_at_words_and_long_words_are_cut() {
        assert_eq!(
            wrap("the restore point is older", Some(12), "  - ", "    "),
            "  - the\n    restore\n    point is\n    older\n"
        );
        assert_eq!(
            wrap("a 0123456789abcdef", Some(10), "", "  "),
            "a\n  01234567\n  89abcdef\n"
        );
        assert_eq!(wrap("名前名前名前", Some(6), "", ""), "名前名\n前名前\n");
        assert_eq!(wrap("one two", None, "> ", ""), "> one two\n");
    }
}
