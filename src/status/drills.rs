//! The "Restore drills" section of an instance page: the last drill of each drilled
//! backup, newest first, as an accessible table (caption, column headers, the backup
//! as the row header); or a line saying why there is none.

use std::fmt::Write as _;

use super::{escape, icon, time};
use crate::report::{self, InstanceView};

/// The section; `selected`: whether `drill:` drills this instance.
pub fn section(out: &mut String, i: &InstanceView, selected: bool) {
    out.push_str("<h2>Restore drills</h2>\n");
    if i.drills.is_empty() {
        out.push_str(if selected {
            "<p class=\"summary\">No restore drill of this instance has run yet.</p>\n"
        } else {
            "<p class=\"summary\">Not drilled: <code>drill:</code> is off or does not select this instance (<code>check --drill</code> runs one now).</p>\n"
        });
        return;
    }
    out.push_str("<table>\n<caption>The last restore drill of each drilled backup, newest first; recovery = download + load; times in its account's zone</caption>\n<thead><tr>");
    for c in [
        "backup",
        "shard",
        "when",
        "result",
        "download",
        "load",
        "recovery",
        "memory / Ram",
        "detail",
    ] {
        let _ = write!(out, "<th scope=\"col\">{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for d in &i.drills {
        let word = d.outcome.as_str();
        let _ = writeln!(
            out,
            "<tr data-drill=\"{word}\"><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{} {word}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&d.backup_id),
            escape(&d.shard_id),
            time(d.at, i.zone),
            icon(report::drill_icon(d.outcome, report::Charset::Utf8)),
            report::seconds_text(d.download_seconds),
            report::seconds_text(d.load_seconds),
            report::seconds_text(d.recovery_seconds()),
            report::memory_text(d.used_memory, d.instance_ram),
            escape(&d.detail),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The fleet page's line on drills, when any ran: how many instances were drilled, and
/// links to those whose last drill did not pass (their pages say why).
pub fn fleet_note(out: &mut String, instances: &[InstanceView]) {
    let drilled: Vec<&InstanceView> = instances.iter().filter(|i| !i.drills.is_empty()).collect();
    if drilled.is_empty() {
        return;
    }
    let failed: Vec<String> = drilled
        .iter()
        .filter(|i| i.drills[0].outcome != crate::drilled::DrillOutcome::Ok)
        .map(|i| {
            let name = if i.instance_name.is_empty() {
                &i.instance_uuid
            } else {
                &i.instance_name
            };
            format!(
                "<a href=\"/instance/{}\">{}</a> ({})",
                escape(&super::path_segment(&i.instance_uuid)),
                escape(name),
                i.drills[0].outcome.as_str()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<p class=\"summary\">Restore drills: {} instance(s) drilled; the last drill of {} did not pass{}</p>",
        drilled.len(),
        failed.len(),
        if failed.is_empty() { ".".to_owned() } else { format!(": {}.", failed.join(", ")) }
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::drilled::{DrillOutcome, DrillRecord, DrillResult};
    use crate::state::Snapshot;

    fn page(snap: &Snapshot) -> String {
        let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        super::super::instance_page(
            &crate::report::fleet(snap, now),
            snap,
            "ins-a",
            "/metrics",
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_instance_page_shows_its_drills_in_the_accounts_zone() {
        let mut s = super::super::tests::one_instance_snapshot();
        s.account_zones.insert(
            "acct".into(),
            chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        );
        let not_drilled = page(&s);
        assert!(
            not_drilled.contains("<h2>Restore drills</h2>\n<p class=\"summary\">Not drilled:"),
            "{not_drilled}"
        );
        s.drills
            .drilled
            .insert("ins-a".into(), Duration::from_secs(86_400));
        assert!(page(&s).contains("No restore drill of this instance has run yet."));
        s.drills.book.record(DrillRecord {
            instance_uuid: "ins-a".into(),
            shard_id: "s1".into(),
            backup_id: "bk-1".into(),
            result: DrillResult {
                outcome: DrillOutcome::Ok,
                download_seconds: 1.5,
                load_seconds: 0.25,
                used_memory: Some(3 << 20),
                instance_ram: Some(1 << 30),
                at: 1_789_990_000,
                ..DrillResult::default()
            },
        });
        s.drills.book.record(DrillRecord {
            instance_uuid: "ins-a".into(),
            shard_id: "s1".into(),
            backup_id: "bk-2".into(),
            result: DrillResult {
                outcome: DrillOutcome::LoadFailed,
                detail: "Bad file format reading the append only file <x>".into(),
                download_seconds: 2.0,
                at: 1_789_999_000,
                ..DrillResult::default()
            },
        });
        let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let fleet = super::super::fleet_page(&crate::report::fleet(&s, now), "/metrics", None);
        assert!(
            fleet.contains("<p class=\"summary\">Restore drills: 1 instance(s) drilled; the last drill of 1 did not pass: <a href=\"/instance/ins%2Da\">orders</a> (load_failed).</p>\n"),
            "{fleet}"
        );
        let html = page(&s);
        assert!(html.contains("<table>\n<caption>The last restore drill of each drilled backup, newest first; recovery = download + load; times in its account's zone</caption>\n<thead><tr><th scope=\"col\">backup</th><th scope=\"col\">shard</th><th scope=\"col\">when</th><th scope=\"col\">result</th><th scope=\"col\">download</th><th scope=\"col\">load</th><th scope=\"col\">recovery</th><th scope=\"col\">memory / Ram</th><th scope=\"col\">detail</th></tr></thead>\n<tbody>\n\
<tr data-drill=\"load_failed\"><th scope=\"row\"><code>bk-2</code></th><td>s1</td><td><time datetime=\"2026-09-21T13:56:40Z\">2026-09-21 21:56 +08:00</time></td><td><span class=\"icon\" aria-hidden=\"true\">✖</span> load_failed</td><td>2.0 s</td><td>0.0 s</td><td>2.0 s</td><td></td><td>Bad file format reading the append only file &lt;x&gt;</td></tr>\n\
<tr data-drill=\"ok\"><th scope=\"row\"><code>bk-1</code></th><td>s1</td><td><time datetime=\"2026-09-21T11:26:40Z\">2026-09-21 19:26 +08:00</time></td><td><span class=\"icon\" aria-hidden=\"true\">✔</span> ok</td><td>1.5 s</td><td>0.2 s</td><td>1.8 s</td><td>3.0 MiB of 1.0 GiB (0.3%)</td><td></td></tr>\n\
</tbody>\n</table>\n<h2>Backups</h2>"), "{html}");
    }
}
