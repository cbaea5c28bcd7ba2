//! The status page at `/` and one page per instance: the same [`report::Fleet`] as
//! `check`, as server-rendered HTML. No JavaScript and no external assets: the style
//! sheet is inline and allowed by its hash in the Content-Security-Policy, and every
//! string that comes from CDS (instance names are user input) is escaped.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::report::{self, Fleet, InstanceView, Severity};
use crate::state::Snapshot;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}tr.critical td.problem{color:#b00020;font-weight:600}tr.warning td.problem{color:#8a5a00}\
.summary{font-size:1.05em;padding:.5em;background:#f7f7f7;border:1px solid #ddd}\
.ok{color:#1b5e20}.muted{color:#666}code{font-size:.95em}nav a{margin-right:1em}";

/// The `Content-Security-Policy` of every page: nothing but the inline style sheet.
pub fn content_security_policy() -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a path segment for a link (an instance UUID is CDS-provided text too).
fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"30\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

fn nav(out: &mut String, telemetry_path: &str, dashboards: Option<&str>, instance: Option<&str>) {
    let _ = write!(
        out,
        "<nav><a href=\"/\">Fleet</a><a href=\"{}\">Metrics</a><a href=\"/-/healthy\">Health</a><a href=\"/-/ready\">Readiness</a>",
        escape(telemetry_path)
    );
    if let Some(url) = dashboards {
        let base = url.trim_end_matches('/');
        let target = match instance {
            Some(uuid) => format!(
                "{base}/d/cds-redis-backup-instance?var-instance_uuid={}",
                path_segment(uuid)
            ),
            None => format!("{base}/d/cds-redis-backups-overview"),
        };
        let _ = write!(out, "<a href=\"{}\">Grafana</a>", escape(&target));
    }
    out.push_str("</nav>\n");
}

fn row_class(worst: Option<Severity>) -> &'static str {
    match worst {
        Some(Severity::Critical) => "critical",
        Some(Severity::Warning) => "warning",
        None => "healthy",
    }
}

/// The page before the first cycle has completed.
pub fn waiting(telemetry_path: &str) -> String {
    let mut out = String::new();
    head(&mut out, "CDS Redis backups");
    let _ = write!(
        out,
        "<h1>CDS Redis backups</h1>\n<p class=\"summary\">The first poll cycle has not completed yet; this page fills in when it has.</p>\n"
    );
    nav(&mut out, telemetry_path, None, None);
    out.push_str("</body>\n</html>\n");
    out
}

/// The fleet: a summary line, blind accounts, then every instance, problems first.
pub fn fleet_page(fleet: &Fleet, telemetry_path: &str, dashboards: Option<&str>) -> String {
    let mut out = String::with_capacity(2048 + fleet.instances.len() * 600);
    head(&mut out, "CDS Redis backups");
    let s = &fleet.summary;
    let _ = write!(
        out,
        "<h1>CDS Redis backups</h1>\n<p class=\"summary\">{} instances: {} healthy, {} with critical problems, {} with warnings; {} account(s) the exporter cannot see. As of {} (version {}).</p>\n",
        s.instances,
        s.healthy,
        s.critical,
        s.warning,
        s.blind_accounts,
        fleet.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        env!("CARGO_PKG_VERSION")
    );
    nav(&mut out, telemetry_path, dashboards, None);
    for a in fleet.accounts.iter().filter(|a| !a.up) {
        let _ = writeln!(
            out,
            "<p class=\"summary\"><strong>Blind:</strong> the exporter cannot see account <code>{}</code> (credentials refused or the API down); its instances show what was known before.</p>",
            escape(&a.name)
        );
    }
    out.push_str("<h2>Instances</h2>\n<table>\n<thead><tr><th>account</th><th>instance</th><th>shard</th><th>newest finished</th><th>age / max</th><th>size</th><th>newer</th><th>download</th><th>verified</th><th>problem</th></tr></thead>\n<tbody>\n");
    for i in &fleet.instances {
        instance_rows(&mut out, i, true);
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

fn instance_rows(out: &mut String, i: &InstanceView, link: bool) {
    let dash = |v: Option<String>| {
        v.map_or_else(
            || "<span class=\"muted\">-</span>".to_owned(),
            |v| escape(&v),
        )
    };
    for r in report::rows(i) {
        let name = if link {
            format!(
                "<a href=\"/instance/{}\">{}</a>",
                escape(&path_segment(&i.instance_uuid)),
                escape(r.instance)
            )
        } else {
            escape(r.instance)
        };
        let problem = if r.findings.is_empty() {
            "<span class=\"ok\">ok</span>".to_owned()
        } else {
            r.findings
                .iter()
                .map(|f| escape(&f.what))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let downloads = r
            .downloads
            .iter()
            .map(|d| escape(d))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"problem\">{}</td></tr>",
            row_class(r.worst),
            escape(r.account),
            name,
            escape(r.shard),
            dash(r.newest),
            dash(r.age),
            dash(r.size),
            escape(&r.newer),
            downloads,
            dash(r.verified),
            problem,
        );
    }
}

/// One instance: its shards, and every backup the exporter knows of it.
pub fn instance_page(
    fleet: &Fleet,
    snap: &Snapshot,
    uuid: &str,
    telemetry_path: &str,
    dashboards: Option<&str>,
) -> Option<String> {
    let i = fleet.instances.iter().find(|i| i.instance_uuid == uuid)?;
    let mut out = String::new();
    let title = if i.instance_name.is_empty() {
        i.instance_uuid.clone()
    } else {
        i.instance_name.clone()
    };
    head(&mut out, &format!("{title} — CDS Redis backups"));
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"summary\">Instance <code>{}</code> of account <code>{}</code>; tags: {}; {} backup(s) listed by CDS.</p>\n",
        escape(&title),
        escape(&i.instance_uuid),
        escape(&i.account),
        if i.tags.is_empty() { "none".to_owned() } else { escape(&i.tags.join(", ")) },
        i.backups_listed.map_or_else(|| "?".to_owned(), |n| n.to_string()),
    );
    nav(&mut out, telemetry_path, dashboards, Some(uuid));
    out.push_str("<h2>Shards</h2>\n<table>\n<thead><tr><th>account</th><th>instance</th><th>shard</th><th>newest finished</th><th>age / max</th><th>size</th><th>newer</th><th>download</th><th>verified</th><th>problem</th></tr></thead>\n<tbody>\n");
    instance_rows(&mut out, i, false);
    out.push_str("</tbody>\n</table>\n<h2>Backups</h2>\n<table>\n<thead><tr><th>backup</th><th>shard</th><th>state</th><th>type / mode</th><th>start</th><th>end</th><th>size</th><th>verification</th></tr></thead>\n<tbody>\n");
    let mut backups: Vec<_> = snap
        .backups
        .values()
        .filter(|b| b.instance_uuid == uuid)
        .collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.backup.start));
    for b in backups {
        let verification = snap
            .verifications
            .get(&(b.instance_uuid.clone(), b.backup.id.clone()))
            .map(|vs| {
                vs.iter()
                    .map(|v| format!("{} ({})", v.outcome.as_str(), v.level.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.backup.id),
            escape(&b.shard_id),
            escape(&b.backup.status),
            escape(&b.backup.backup_type),
            escape(&b.backup.mode),
            time(b.backup.start),
            time(b.backup.end),
            b.backup.size.map(report::human_bytes).unwrap_or_default(),
            escape(&verification),
        );
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped_and_the_policy_allows_only_the_style_sheet() {
        assert_eq!(
            escape("<script>alert(1)</script>&\"'"),
            "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"
        );
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
    }
}
