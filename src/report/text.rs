//! Numbers and CDS-derived text made fit for people and terminals: ages and sizes as
//! people write them, and any text bounded and stripped of what a terminal would
//! act on instead of show.

/// `93784` → `1d 2h`; `300` → `5m`.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The most characters of one CDS-derived text a terminal cell shows; longer text ends
/// in `…`. A name of 300,000 characters is an attack on the table, not a name.
pub const CELL_CHARS: usize = 120;

/// `s` made safe and bounded for a terminal, in one pass over at most `max_chars`
/// characters of it (linear whatever its length): control characters (C0 with tab and
/// newline, DEL, C1) and the bidirectional overrides and isolates are shown as
/// `\u{1b}` instead of reaching the terminal, where ESC starts sequences that set the
/// clipboard (OSC 52), the title (OSC 0) or clear the screen (CSI 2J), and the bidi
/// characters reorder what is shown; the result has at most `max_chars` characters,
/// the last being `…` when `s` was cut.
pub fn for_terminal(s: &str, max_chars: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    let mut shown = 0usize;
    // Where `out` ends when cut: the last point with room left for the `…`.
    let mut cut = 0usize;
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) {
            let before = out.len();
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            shown += out.len() - before;
        } else {
            out.push(c);
            shown += 1;
        }
        if shown > max_chars {
            out.truncate(cut);
            out.push('…');
            return out;
        }
        if shown < max_chars {
            cut = out.len();
        }
    }
    out
}

/// The explicit bidirectional formatting characters (embeddings, overrides, isolates):
/// invisible, they make a terminal show text in another order than it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes_read_like_people_write_them() {
        assert_eq!(human_age(93_784), "1d 2h");
        assert_eq!(human_age(7_260), "2h 1m");
        assert_eq!(human_age(300), "5m");
        assert_eq!(human_age(-5), "0s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn terminal_text_shows_control_characters_and_stops_at_the_width() {
        // OSC 52 (clipboard), OSC 0 (title), CSI 2J (clear), C1 CSI, DEL, tab, newline.
        let hostile = "a\u{1b}]52;c;ZXZpbA==\u{7}b\u{1b}]0;pwned\u{9c}\u{1b}[2J\u{9b}\u{7f}\t\n";
        assert_eq!(
            for_terminal(hostile, 200),
            "a\\u{1b}]52;c;ZXZpbA==\\u{7}b\\u{1b}]0;pwned\\u{9c}\\u{1b}[2J\\u{9b}\\u{7f}\\u{9}\\u{a}"
        );
        assert_eq!(
            for_terminal("x\u{202e}y\u{2066}", 50),
            "x\\u{202e}y\\u{2066}"
        );
        assert_eq!(for_terminal("名前-ok", 50), "名前-ok");
        assert_eq!(for_terminal("", 5), "");
        // Exactly the width fits; one more is cut, the ellipsis counted in the width.
        assert_eq!(for_terminal("abcde", 5), "abcde");
        assert_eq!(for_terminal("abcdef", 5), "abcd…");
        assert_eq!(for_terminal("名前名前名前", 5), "名前名前…");
        // An escape is never cut in half.
        assert_eq!(for_terminal("ab\u{1b}cdef", 8), "ab…");
        assert_eq!(for_terminal("ab\u{1b}", 8), "ab\\u{1b}");
        let long = "n".repeat(300_000);
        let shown = for_terminal(&long, CELL_CHARS);
        assert_eq!(shown.chars().count(), CELL_CHARS);
        assert!(shown.ends_with("n…"));
    }
}
