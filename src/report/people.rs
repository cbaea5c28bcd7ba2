//! How the report's facts read to people, the same on the status page and in `check`:
//! times in the account's own zone with its offset (CDS accounts live in fixed offsets,
//! usually +08:00; JSON stays UTC), a severity as a word with an icon beside its colour,
//! and what a verification actually checked — a light check reads a dump's head and tail
//! only, so it never reads as plain "ok".

use chrono::{DateTime, FixedOffset, Utc};

use super::Severity;

/// `t` to the minute in `zone`, with the offset: `2026-12-07 15:04 +08:00`.
pub fn local_time(t: DateTime<Utc>, zone: FixedOffset) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

/// How much of a shard's newest finished backup was checked, by its best final
/// verification (a failed download or a skipped job checked nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Checked {
    /// No final verdict: not verified (yet, or at all).
    No,
    /// The head and the tail: damage in the middle is not seen.
    Light,
    /// Every byte: every opcode walked, the checksum compared.
    Full,
}

/// The `verified` cell: the verdict and the level, naming what a light check read; or
/// why there is none. `level` is the instance's `verify:` level (`None`: not known).
pub fn verified_text(verification: Option<(&str, &str)>, level: Option<&str>) -> String {
    match verification {
        Some(("light", "ok")) => "head+tail ok (light)".to_owned(),
        Some(("full", "ok")) => "ok (full read)".to_owned(),
        Some((l, r)) if r == "download_failed" || r == "skipped" => {
            format!("not verified: {r} ({l})")
        }
        Some((l, r)) => format!("{r} ({l})"),
        None => match level {
            Some("off") | None => "not verified (verify: off)".to_owned(),
            Some(_) => "not verified yet".to_owned(),
        },
    }
}

/// The level a verification result counts as checked at.
pub fn checked(verification: Option<(&str, &str)>) -> Checked {
    match verification {
        Some((_, "download_failed" | "skipped")) | None => Checked::No,
        Some(("full", _)) => Checked::Full,
        Some(_) => Checked::Light,
    }
}

/// What a row says when the engine found nothing: plain "ok" only when the whole dump
/// was read.
pub fn no_problem_text(c: Checked) -> &'static str {
    match c {
        Checked::Full => "ok",
        Checked::Light => "ok (head+tail only)",
        Checked::No => "not verified",
    }
}

/// The characters the icons are drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    /// For a terminal that is not UTF-8, or plain output (`NO_COLOR`).
    Ascii,
}

/// The icon beside a severity word (`None`: no finding, by how much was checked).
pub fn icon(severity: Option<Severity>, c: Checked, charset: Charset) -> &'static str {
    let utf8 = charset == Charset::Utf8;
    match (severity, c) {
        (Some(Severity::Critical), _) => {
            if utf8 {
                "✖"
            } else {
                "X"
            }
        }
        (Some(Severity::Warning), _) => {
            if utf8 {
                "▲"
            } else {
                "!"
            }
        }
        (None, Checked::No) => "?",
        (None, _) => {
            if utf8 {
                "✔"
            } else {
                "+"
            }
        }
    }
}

/// The severity as a word.
pub fn word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    }
}

/// The charset of a terminal from its locale: the first of `LC_ALL`, `LC_CTYPE` and
/// `LANG` that is set decides; a locale naming another charset (`C`, `POSIX`,
/// `zh_CN.GB18030`) gets ASCII; none set at all is taken as UTF-8, as nearly every
/// terminal today is. (`check` also draws its icons in ASCII under `NO_COLOR`.)
pub fn charset_from_locale(var: &dyn Fn(&str) -> Option<String>) -> Charset {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .into_iter()
        .find_map(|k| var(k).filter(|v| !v.is_empty()));
    match locale {
        None => Charset::Utf8,
        Some(l) => {
            let l = l.to_ascii_lowercase();
            if l.contains("utf-8") || l.contains("utf8") {
                Charset::Utf8
            } else {
                Charset::Ascii
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn zone(secs: i32) -> FixedOffset {
        FixedOffset::east_opt(secs).unwrap()
    }

    #[test]
    fn times_read_in_the_accounts_fixed_offset_with_the_offset_shown() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 7, 4, 59).unwrap();
        assert_eq!(local_time(t, zone(8 * 3600)), "2026-12-07 15:04 +08:00");
        assert_eq!(local_time(t, zone(0)), "2026-12-07 07:04 +00:00");
        // Nepal and Newfoundland-like offsets: quarter and half hours, either side.
        assert_eq!(
            local_time(t, zone(5 * 3600 + 45 * 60)),
            "2026-12-07 12:49 +05:45"
        );
        assert_eq!(
            local_time(t, zone(-(3 * 3600 + 30 * 60))),
            "2026-12-07 03:34 -03:30"
        );
        // Across midnight and a year's end.
        let late = Utc.with_ymd_and_hms(2026, 12, 31, 20, 30, 0).unwrap();
        assert_eq!(local_time(late, zone(8 * 3600)), "2027-01-01 04:30 +08:00");
        assert_eq!(local_time(t, zone(-(12 * 3600))), "2026-12-06 19:04 -12:00");
        // Fixed offsets have no DST: the same offset in June and December.
        let june = Utc.with_ymd_and_hms(2026, 6, 7, 7, 4, 0).unwrap();
        assert_eq!(
            local_time(june, zone(-(3 * 3600 + 30 * 60))),
            "2026-06-07 03:34 -03:30"
        );
    }

    #[test]
    fn a_light_check_never_reads_as_plain_ok() {
        let light = Some(("light", "ok"));
        assert_eq!(verified_text(light, Some("light")), "head+tail ok (light)");
        assert_eq!(checked(light), Checked::Light);
        assert_eq!(no_problem_text(checked(light)), "ok (head+tail only)");
        let full = Some(("full", "ok"));
        assert_eq!(verified_text(full, Some("full")), "ok (full read)");
        assert_eq!(no_problem_text(checked(full)), "ok");
        assert_eq!(
            verified_text(Some(("full", "truncated")), None),
            "truncated (full)"
        );
        assert_eq!(checked(Some(("full", "not_rdb"))), Checked::Full);
        let failed = Some(("light", "download_failed"));
        assert_eq!(
            verified_text(failed, Some("light")),
            "not verified: download_failed (light)"
        );
        assert_eq!(no_problem_text(checked(failed)), "not verified");
        assert_eq!(
            verified_text(None, Some("off")),
            "not verified (verify: off)"
        );
        assert_eq!(verified_text(None, Some("light")), "not verified yet");
        assert_eq!(no_problem_text(checked(None)), "not verified");
    }

    #[test]
    fn severities_have_a_word_and_an_icon_in_utf8_and_in_ascii() {
        let c = Some(Severity::Critical);
        let w = Some(Severity::Warning);
        assert_eq!(
            [c, w, None, None].map(word_or_ok),
            ["critical", "warning", "-", "-"]
        );
        assert_eq!(icon(c, Checked::Full, Charset::Utf8), "✖");
        assert_eq!(icon(w, Checked::No, Charset::Utf8), "▲");
        assert_eq!(icon(None, Checked::Full, Charset::Utf8), "✔");
        assert_eq!(icon(None, Checked::Light, Charset::Utf8), "✔");
        assert_eq!(icon(None, Checked::No, Charset::Utf8), "?");
        assert_eq!(icon(c, Checked::Full, Charset::Ascii), "X");
        assert_eq!(icon(w, Checked::Full, Charset::Ascii), "!");
        assert_eq!(icon(None, Checked::Full, Charset::Ascii), "+");
        assert_eq!(icon(None, Checked::No, Charset::Ascii), "?");
        for s in [c, w, None] {
            for k in [Checked::No, Checked::Light, Checked::Full] {
                assert!(icon(s, k, Charset::Ascii).is_ascii());
            }
        }
    }

    fn word_or_ok(s: Option<Severity>) -> &'static str {
        s.map_or("-", word)
    }

    #[test]
    fn the_charset_follows_the_locale() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(charset_from_locale(&env(&[])), Charset::Utf8);
        assert_eq!(
            charset_from_locale(&env(&[("LANG", "C.UTF-8")])),
            Charset::Utf8
        );
        assert_eq!(
            charset_from_locale(&env(&[("LANG", "zh_CN.utf8")])),
            Charset::Utf8
        );
        assert_eq!(charset_from_locale(&env(&[("LANG", "C")])), Charset::Ascii);
        assert_eq!(
            charset_from_locale(&env(&[("LANG", "zh_CN.GB18030")])),
            Charset::Ascii
        );
        // LC_ALL wins over LANG; an empty one does not count.
        assert_eq!(
            charset_from_locale(&env(&[("LC_ALL", "POSIX"), ("LANG", "en_US.UTF-8")])),
            Charset::Ascii
        );
        assert_eq!(
            charset_from_locale(&env(&[("LC_ALL", ""), ("LANG", "en_US.UTF-8")])),
            Charset::Utf8
        );
    }
}
