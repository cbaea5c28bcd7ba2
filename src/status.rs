//! The status page at `/` and one page per instance: the same [`report::Fleet`] as
//! `check`, as server-rendered HTML. Times read in each account's zone with the offset
//! (the `datetime` attribute keeps the UTC instant); a severity is a word and an icon as
//! well as a colour; tables have a caption, column headers and a row header (the
//! instance), for screen readers. No JavaScript and no external assets: the style
//! sheet is inline and allowed by its hash in the Content-Security-Policy, and every
//! string that comes from CDS (instance names are user input) is escaped.
//!
//! [`Pages`] serves them cheaply whatever the fleet's size: the report and the fleet
//! page are built once per snapshot (and again at most every [`Pages::MAX_AGE`], so
//! ages do not freeze if polling stalls), one at a time and off the runtime thread;
//! an instance page is rendered from that report alone, and an unknown instance is a
//! map lookup.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::body::Bytes;

use crate::report::{self, Fleet, InstanceView, Severity};

mod drills;
use crate::state::{BackupKey, Snapshot};

/// The status pages of the latest snapshot, built on demand and shared by every
/// request until the next snapshot.
#[derive(Debug, Default)]
pub struct Pages {
    built: Arc<Mutex<Option<Arc<Built>>>>,
    /// Held while building, by the build itself: one build at a time even when the
    /// requests that started them leave, and requests that arrive meanwhile wait for
    /// it and share it rather than build their own.
    building: Arc<tokio::sync::Mutex<()>>,
    builds: AtomicU64,
}

/// One build: the report, where each instance is in it, and the fleet page.
#[derive(Debug)]
struct Built {
    /// Not a strong reference: an old snapshot is freed when the poll loop replaces it.
    snapshot: Weak<Snapshot>,
    at: Instant,
    fleet: Fleet,
    index: HashMap<String, usize>,
    page: Bytes,
}

impl Pages {
    /// A build is reused for at most this long, and the page refreshes itself at this
    /// interval too, so ages and age-based findings stay current between cycles.
    pub const MAX_AGE: Duration = Duration::from_secs(30);

    /// The fleet page of `snap`.
    pub async fn fleet_page(
        &self,
        snap: &Arc<Snapshot>,
        telemetry_path: &str,
        dashboards: Option<&str>,
    ) -> Bytes {
        self.built(snap, telemetry_path, dashboards)
            .await
            .page
            .clone()
    }

    /// The page of instance `uuid`, or `None` if `snap` does not know it — decided
    /// before anything is built.
    pub async fn instance_page(
        &self,
        snap: &Arc<Snapshot>,
        uuid: &str,
        telemetry_path: &str,
        dashboards: Option<&str>,
    ) -> Option<Bytes> {
        if !snap.instances.contains_key(uuid) && !snap.vanished.contains_key(uuid) {
            return None;
        }
        let built = self.built(snap, telemetry_path, dashboards).await;
        let view = built.fleet.instances.get(*built.index.get(uuid)?)?;
        Some(Bytes::from(instance_page_of(
            view,
            snap,
            telemetry_path,
            dashboards,
        )))
    }

    /// How many times the report has been built (tests, benchmarks).
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    fn current(&self, snap: &Arc<Snapshot>) -> Option<Arc<Built>> {
        crate::sync::lock(&self.built)
            .as_ref()
            .filter(|b| Weak::as_ptr(&b.snapshot) == Arc::as_ptr(snap))
            .filter(|b| b.at.elapsed() < Self::MAX_AGE)
            .map(Arc::clone)
    }

    async fn built(
        &self,
        snap: &Arc<Snapshot>,
        telemetry_path: &str,
        dashboards: Option<&str>,
    ) -> Arc<Built> {
        if let Some(b) = self.current(snap) {
            return b;
        }
        let turn = Arc::clone(&self.building).lock_owned().await;
        if let Some(b) = self.current(snap) {
            return b;
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let (s, t, d, slot) = (
            Arc::clone(snap),
            telemetry_path.to_owned(),
            dashboards.map(str::to_owned),
            Arc::clone(&self.built),
        );
        // Tens of milliseconds at 10,000 instances: not on the thread that answers
        // health checks and scrapes. The build keeps the turn and stores its result
        // itself, so clients that leave cannot make builds pile up.
        let build = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let built = Arc::new(Built::new(&s, &t, d.as_deref()));
            *crate::sync::lock(&slot) = Some(Arc::clone(&built));
            built
        });
        match build.await {
            Ok(b) => b,
            // Only if the build panicked or the runtime is shutting down.
            Err(_) => Arc::new(Built::new(snap, telemetry_path, dashboards)),
        }
    }
}

impl Built {
    fn new(snap: &Arc<Snapshot>, telemetry_path: &str, dashboards: Option<&str>) -> Self {
        let at = Instant::now();
        let fleet = report::fleet(snap, chrono::Utc::now());
        let page = Bytes::from(fleet_page(&fleet, telemetry_path, dashboards));
        let mut index = HashMap::with_capacity(fleet.instances.len());
        for (n, i) in fleet.instances.iter().enumerate() {
            // The first entry wins, as a search from the top would find it.
            index.entry(i.instance_uuid.clone()).or_insert(n);
        }
        Self {
            snapshot: Arc::downgrade(snap),
            at,
            fleet,
            index,
            page,
        }
    }
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}tbody th{background:none;font-weight:normal}caption{text-align:left;padding:.3em 0;color:#444}\
tr.critical td.problem{color:#b00020;font-weight:600}tr.warning td.problem{color:#8a5a00}.icon{display:inline-block;width:1.1em}\
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
    // The accounts' zone when they share one, else UTC.
    let zones: std::collections::BTreeSet<&str> = fleet
        .accounts
        .iter()
        .map(|a| a.utc_offset.as_str())
        .collect();
    let zone = match zones.into_iter().collect::<Vec<_>>()[..] {
        [one] => one.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| chrono::Offset::fix(&chrono::Utc));
    let _ = write!(
        out,
        "<h1>CDS Redis backups</h1>\n<p class=\"summary\">{} instances: {} healthy, {} with critical problems, {} with warnings; {} account(s) the exporter cannot see; {} shard(s) not verified. As of {} (version {}).</p>\n",
        s.instances,
        s.healthy,
        s.critical,
        s.warning,
        s.blind_accounts,
        s.unverified_shards,
        time(fleet.generated_at, zone),
        env!("CARGO_PKG_VERSION")
    );
    nav(&mut out, telemetry_path, dashboards, None);
    for a in fleet.accounts.iter().filter(|a| !a.up) {
        // The same words `check` prints: CDS's error code and message, or the network
        // error, so the page alone says where to look.
        let why = a.error.as_deref().map_or_else(
            || "credentials refused or the API down".to_owned(),
            |e| format!("last error: <code>{}</code>", escape(e)),
        );
        let _ = writeln!(
            out,
            "<p class=\"summary\"><strong>Blind:</strong> the exporter cannot see account <code>{}</code> ({why}); its instances show what was known before.</p>",
            escape(&a.name)
        );
    }
    drills::fleet_note(&mut out, &fleet.instances);
    out.push_str("<h2>Instances</h2>\n<table>\n");
    shard_header(
        &mut out,
        "Every shard of every instance, problems first; times in each account's zone",
    );
    for i in &fleet.instances {
        instance_rows(&mut out, i, true);
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

/// The caption and column headers of a table of shard rows, and the body's start.
fn shard_header(out: &mut String, caption: &str) {
    const COLS: [&str; 12] = [
        "account",
        "instance",
        "shard",
        "newest finished",
        "restore point",
        "age / allowed",
        "deadline",
        "size",
        "newer",
        "download",
        "verified",
        "problem",
    ];
    let _ = write!(out, "<caption>{}</caption>\n<thead><tr>", escape(caption));
    for c in COLS {
        let _ = write!(out, "<th scope=\"col\">{c}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

fn instance_rows(out: &mut String, i: &InstanceView, link: bool) {
    let dash = |v: Option<String>| {
        v.map_or_else(
            || "<span class=\"muted\">-</span>".to_owned(),
            |v| escape(&v),
        )
    };
    for (n, r) in report::rows(i).into_iter().enumerate() {
        // Rows are the shards in order (one row when there is none).
        let shard = i.shards.get(n);
        let restore = shard.and_then(|s| s.restore_point.as_ref()).map_or_else(
            || "<span class=\"muted\">none</span>".to_owned(),
            |p| {
                format!(
                    "<code>{}</code><br>{}",
                    escape(&p.backup_id),
                    time(p.point, i.zone)
                )
            },
        );
        let deadline = shard.and_then(|s| s.restore_deadline).map_or_else(
            || "<span class=\"muted\">-</span>".to_owned(),
            |t| time(t, i.zone),
        );
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
            format!(
                "<span class=\"ok\">{} {}</span>",
                icon(report::icon(None, r.checked, report::Charset::Utf8)),
                r.no_problem()
            )
        } else {
            r.findings
                .iter()
                .map(|f| finding(f))
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
            "<tr class=\"{}\" data-instance=\"{}\" data-shard=\"{}\"><td>{}</td><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"restore\">{}</td><td class=\"age\">{}</td><td class=\"deadline\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"problem\">{}</td></tr>",
            row_class(r.worst),
            escape(&i.instance_uuid),
            escape(r.shard),
            escape(r.account),
            name,
            escape(r.shard),
            dash(r.newest),
            restore,
            dash(r.age),
            deadline,
            dash(r.size),
            escape(&r.newer),
            downloads,
            escape(&r.verified),
            problem,
        );
    }
}

/// A time for people, to the minute in `zone` with its offset, with the exact UTC
/// instant for machines.
fn time(t: chrono::DateTime<chrono::Utc>, zone: chrono::FixedOffset) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report::local_time(t, zone)
    )
}

/// An icon beside the word it stands for: hidden from screen readers, which read the word.
fn icon(glyph: &str) -> String {
    format!("<span class=\"icon\" aria-hidden=\"true\">{glyph}</span>")
}

/// One finding: icon, severity word and text; its severity and alert readable by
/// scripts (and the agreement test).
fn finding(f: &report::Finding) -> String {
    let severity = report::word(f.severity);
    let alert = f
        .alert
        .map(|a| format!(" data-alert=\"{}\"", escape(a)))
        .unwrap_or_default();
    format!(
        "<span class=\"finding\" data-severity=\"{severity}\"{alert}>{} <strong>{severity}</strong>: {}</span>",
        icon(report::icon(Some(f.severity), report::Checked::Full, report::Charset::Utf8)),
        escape(&f.what)
    )
}

/// One instance: its shards, and every backup the exporter knows of it. `None` if the
/// report does not list `uuid`.
pub fn instance_page(
    fleet: &Fleet,
    snap: &Snapshot,
    uuid: &str,
    telemetry_path: &str,
    dashboards: Option<&str>,
) -> Option<String> {
    let i = fleet.instances.iter().find(|i| i.instance_uuid == uuid)?;
    Some(instance_page_of(i, snap, telemetry_path, dashboards))
}

fn instance_page_of(
    i: &InstanceView,
    snap: &Snapshot,
    telemetry_path: &str,
    dashboards: Option<&str>,
) -> String {
    let uuid = i.instance_uuid.as_str();
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
    out.push_str("<h2>Shards</h2>\n<table>\n");
    shard_header(
        &mut out,
        "The instance's shards; times in its account's zone",
    );
    instance_rows(&mut out, i, false);
    out.push_str("</tbody>\n</table>\n");
    drills::section(&mut out, i, snap.drills.drilled.contains_key(uuid));
    out.push_str("<h2>Backups</h2>\n<table>\n<caption>Every backup CDS lists of the instance, newest first; times in its account's zone</caption>\n<thead><tr><th scope=\"col\">backup</th><th scope=\"col\">shard</th><th scope=\"col\">state</th><th scope=\"col\">type / mode</th><th scope=\"col\">start</th><th scope=\"col\">end</th><th scope=\"col\">size</th><th scope=\"col\">verification</th></tr></thead>\n<tbody>\n");
    // Backups are keyed by (instance, backup): this instance's are one range.
    let mut backups: Vec<_> = snap
        .backups
        .range(BackupKey::new(uuid, "")..)
        .take_while(|(k, _)| k.instance_uuid == uuid)
        .map(|(_, b)| b)
        .collect();
    backups.sort_by_key(|b| std::cmp::Reverse(b.backup.start));
    for b in backups {
        let verification = snap
            .verifications
            .get(&BackupKey::new(&b.instance_uuid, &b.backup.id))
            .map(|vs| {
                vs.iter()
                    .map(|v| format!("{} ({})", v.outcome.as_str(), v.level.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(String::new, |t| time(t, i.zone))
        };
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\"><code>{}</code></th><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.backup.id),
            escape(&b.shard_id),
            escape(b.backup.status.as_str()),
            escape(&b.backup.backup_type),
            escape(&b.backup.mode),
            time(b.backup.start),
            time(b.backup.end),
            b.backup.size.map(report::human_bytes).unwrap_or_default(),
            escape(&verification),
        );
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests;
