//! The `drill:` section: restore drills (off unless `enabled: true`). Which instances
//! are drilled and with which data checks (`rules`, matchers as in `verify.rules`), how
//! often, which backup, and the limits that keep a drill's time, disk and memory
//! bounded. The raw struct, its schema for [`super::tree`], and its validation live
//! here together so the section can be read in one place.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::raw::{Leaf, RawMatchers, RawSize, Shape};
use super::validate::Validator;
use super::Matchers;

/// `drill:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrill {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub rules: Vec<RawDrillRule>,
    pub every: Option<String>,
    pub backup: Option<String>,
    pub concurrency: Option<i64>,
    pub timeout: Option<String>,
    pub max_size: Option<RawSize>,
    pub scratch_dir: Option<String>,
    pub disk_budget: Option<RawSize>,
    pub redis_server: Option<String>,
    pub warn_after: Option<String>,
}

/// One `drill.rules` entry: matchers and the data checks of the instances they match.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrillRule {
    pub account: Option<String>,
    pub tag: Option<String>,
    pub instance_name: Option<String>,
    pub instance_uuid: Option<String>,
    #[serde(default)]
    pub keys: Vec<RawKeyCheck>,
    #[serde(default)]
    pub min_keys: Vec<RawMinKeys>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyCheck {
    pub db: Option<i64>,
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMinKeys {
    pub db: Option<i64>,
    pub count: Option<i64>,
}

pub const KEY_CHECK: &[(&str, Shape)] = &[
    ("db", Shape::Leaf(Leaf::Int)),
    ("key", Shape::Leaf(Leaf::Text)),
];

pub const MIN_KEYS: &[(&str, Shape)] = &[
    ("db", Shape::Leaf(Leaf::Int)),
    ("count", Shape::Leaf(Leaf::Int)),
];

pub const DRILL_RULE: &[(&str, Shape)] = &[
    ("account", Shape::Leaf(Leaf::Text)),
    ("tag", Shape::Leaf(Leaf::Text)),
    ("instance_name", Shape::Leaf(Leaf::Text)),
    ("instance_uuid", Shape::Leaf(Leaf::Text)),
    ("keys", Shape::List(&Shape::Map(KEY_CHECK))),
    ("min_keys", Shape::List(&Shape::Map(MIN_KEYS))),
];

pub const DRILL: &[(&str, Shape)] = &[
    ("enabled", Shape::Leaf(Leaf::Bool)),
    ("rules", Shape::List(&Shape::Map(DRILL_RULE))),
    ("every", Shape::Leaf(Leaf::Duration)),
    ("backup", Shape::Leaf(Leaf::Text)),
    ("concurrency", Shape::Leaf(Leaf::Int)),
    ("timeout", Shape::Leaf(Leaf::Duration)),
    ("max_size", Shape::Leaf(Leaf::Size)),
    ("scratch_dir", Shape::Leaf(Leaf::Text)),
    ("disk_budget", Shape::Leaf(Leaf::Size)),
    ("redis_server", Shape::Leaf(Leaf::Text)),
    ("warn_after", Shape::Leaf(Leaf::Duration)),
];

/// Which backup of a shard a drill restores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrillPick {
    /// The restore point ([`crate::verdict`]): what a restore today would use.
    #[default]
    Latest,
    /// Any finished backup still listed, so older ones are proven too.
    Random,
}

impl DrillPick {
    pub const ALL: [DrillPick; 2] = [DrillPick::Latest, DrillPick::Random];

    pub fn as_str(self) -> &'static str {
        match self {
            DrillPick::Latest => "latest",
            DrillPick::Random => "random",
        }
    }
}

/// A key that must exist after the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub db: u32,
    pub key: String,
}

/// A database that must hold at least `count` keys after the restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinKeys {
    pub db: u32,
    pub count: u64,
}

/// The data checks of the instances a rule matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataChecks {
    pub keys: Vec<KeyCheck>,
    pub min_keys: Vec<MinKeys>,
}

impl DataChecks {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.min_keys.is_empty()
    }
}

/// `drill.rules` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRule {
    pub matchers: Matchers,
    pub checks: DataChecks,
}

/// `drill:`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillConfig {
    pub enabled: bool,
    /// Empty: every watched instance, without data checks.
    pub rules: Vec<DrillRule>,
    /// Each drilled instance once per period, at an offset of its own.
    pub every: Duration,
    pub backup: DrillPick,
    /// Scratch servers at once.
    pub concurrency: usize,
    /// Download, load and checks of one drill together.
    pub timeout: Duration,
    /// Larger objects are not drilled (`too_large`).
    pub max_size: u64,
    /// Each drill works in a private subdirectory, removed when it ends.
    pub scratch_dir: PathBuf,
    /// The most disk the drills may use at once; an object is also refused when the
    /// scratch directory's file system has not that much free.
    pub disk_budget: u64,
    pub redis_server: PathBuf,
    /// No successful drill for this long is a warning.
    pub warn_after: Duration,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            rules: Vec::new(),
            every: Duration::from_secs(7 * 86_400),
            backup: DrillPick::Latest,
            concurrency: 1,
            timeout: Duration::from_secs(3600),
            max_size: 4 << 30,
            scratch_dir: std::env::temp_dir().join("cds-redis-backup-drills"),
            disk_budget: 10 << 30,
            redis_server: PathBuf::from("redis-server"),
            warn_after: Duration::from_secs(14 * 86_400),
        }
    }
}

impl DrillConfig {
    /// The data checks for `instance` when it is drilled; `None` when it is not.
    pub fn checks_for(
        &self,
        account: &str,
        instance: &crate::cds::Instance,
    ) -> Option<&DataChecks> {
        static NONE: DataChecks = DataChecks {
            keys: Vec::new(),
            min_keys: Vec::new(),
        };
        if !self.enabled {
            return None;
        }
        if self.rules.is_empty() {
            return Some(&NONE);
        }
        self.rules
            .iter()
            .find(|r| r.matchers.matches(account, instance))
            .map(|r| &r.checks)
    }
}

/// The longest `drill.timeout` and shortest `drill.every`.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);
const MIN_EVERY: Duration = Duration::from_secs(3600);
/// Redis' own ceiling for `databases` is far higher, but a check past the default 16
/// could never pass on the scratch server the drill starts.
const MAX_DB: i64 = 15;

impl Validator {
    pub(super) fn drill(&mut self, raw: RawDrill) -> DrillConfig {
        let d = DrillConfig::default();
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let at = format!("drill.rules[{i}]");
            let matchers = self.matchers(
                &at,
                RawMatchers {
                    account: r.account,
                    tag: r.tag,
                    instance_name: r.instance_name,
                    instance_uuid: r.instance_uuid,
                },
            );
            let mut checks = DataChecks::default();
            for (j, k) in r.keys.into_iter().enumerate() {
                let kat = format!("{at}.keys[{j}]");
                let db = self.db(&format!("{kat}.db"), k.db);
                match k.key {
                    Some(key) if !key.is_empty() => checks.keys.push(KeyCheck { db, key }),
                    _ => self.problem(format!("{kat}.key"), "is missing; give the key's name"),
                }
            }
            for (j, m) in r.min_keys.into_iter().enumerate() {
                let mat = format!("{at}.min_keys[{j}]");
                let db = self.db(&format!("{mat}.db"), m.db);
                match m.count {
                    Some(n) if n >= 1 => checks.min_keys.push(MinKeys {
                        db,
                        count: n.unsigned_abs(),
                    }),
                    Some(n) => self.problem(
                        format!("{mat}.count"),
                        format!("{n} is out of range; use 1 or more"),
                    ),
                    None => self.problem(
                        format!("{mat}.count"),
                        "is missing; give the fewest keys the database must hold",
                    ),
                }
            }
            rules.push(DrillRule { matchers, checks });
        }
        let every = self.duration("drill.every", raw.every, d.every, MIN_EVERY);
        let backup = match raw.backup {
            None => d.backup,
            Some(text) => match DrillPick::ALL
                .into_iter()
                .find(|p| p.as_str() == text.trim())
            {
                Some(p) => p,
                None => {
                    self.problem(
                        "drill.backup",
                        format!("{text:?} is not a choice; use latest or random"),
                    );
                    d.backup
                }
            },
        };
        let concurrency = self.count("drill.concurrency", raw.concurrency, d.concurrency, 1..=8);
        let mut timeout = self.duration(
            "drill.timeout",
            raw.timeout,
            d.timeout,
            Duration::from_secs(1),
        );
        if timeout > MAX_TIMEOUT {
            self.problem(
                "drill.timeout",
                format!(
                    "is too long; use at most {}",
                    humantime::format_duration(MAX_TIMEOUT)
                ),
            );
            timeout = d.timeout;
        }
        let max_size = self.size(
            "drill.max_size",
            raw.max_size,
            d.max_size,
            (1 << 10, 1 << 40, "1KiB to 1TiB"),
        );
        let disk_budget = self.size(
            "drill.disk_budget",
            raw.disk_budget,
            d.disk_budget,
            (1 << 10, 100 << 40, "1KiB to 100TiB"),
        );
        let scratch_dir = match raw.scratch_dir.map(|s| s.trim().to_owned()) {
            None => d.scratch_dir,
            Some(p) if p.is_empty() || !p.starts_with('/') => {
                self.problem(
                    "drill.scratch_dir",
                    format!("{p:?} is not an absolute path; give the directory drills may fill, e.g. /var/lib/cds-redis-backup-exporter/drills"),
                );
                d.scratch_dir
            }
            Some(p) => PathBuf::from(p),
        };
        let redis_server = match raw.redis_server.map(|s| s.trim().to_owned()) {
            None => d.redis_server,
            Some(p) if p.is_empty() => {
                self.problem(
                    "drill.redis_server",
                    "is empty; give the redis-server binary, or leave the key out for the one on PATH",
                );
                d.redis_server
            }
            Some(p) => PathBuf::from(p),
        };
        let warn_after = self.duration("drill.warn_after", raw.warn_after, d.warn_after, MIN_EVERY);
        let enabled = raw.enabled.unwrap_or(d.enabled);
        if enabled && warn_after < every {
            self.problem(
                "drill.warn_after",
                "is shorter than drill.every: every instance would be reported between its drills; use at least drill.every",
            );
        }
        DrillConfig {
            enabled,
            rules,
            every,
            backup,
            concurrency,
            timeout,
            max_size,
            scratch_dir,
            disk_budget,
            redis_server,
            warn_after,
        }
    }

    fn db(&mut self, at: &str, raw: Option<i64>) -> u32 {
        match raw {
            None => 0,
            Some(n) if (0..=MAX_DB).contains(&n) => u32::try_from(n).unwrap_or(0),
            Some(n) => {
                self.problem(at, format!("{n} is out of range; use 0 to {MAX_DB}"));
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError, Problem};

    const ACCOUNT: &str = "accounts:\n  - name: main\n    access_key_id: AK\n    access_key_secret: SK\n    backups:\n      - {instance_uuid: i1, backup_id: b1}\n";

    fn load_text(drill: &str) -> Result<Config, Vec<Problem>> {
        match Config::parse(&format!("{ACCOUNT}{drill}"), "test.yaml", &|_| None) {
            Ok(c) => Ok(c),
            Err(ConfigError::Invalid { problems, .. }) => Err(problems),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn drills_are_off_unless_enabled_and_defaults_hold() {
        let c = load_text("").unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(c.drill, DrillConfig::default());
        assert!(!c.drill.enabled);
    }

    #[test]
    fn a_full_drill_section_is_read() {
        let c = load_text(
            "drill:\n  enabled: true\n  every: 3d\n  backup: random\n  concurrency: 2\n  timeout: 10m\n  max_size: 2GiB\n  scratch_dir: /srv/drills\n  disk_budget: 5GiB\n  redis_server: /usr/bin/redis-server\n  warn_after: 10d\n  rules:\n    - tag: prod\n      keys: [{db: 1, key: 'user:1'}]\n      min_keys: [{db: 0, count: 100}]\n",
        )
        .unwrap_or_else(|p| panic!("{p:?}"));
        let d = &c.drill;
        assert_eq!(
            (
                d.enabled,
                d.every,
                d.backup,
                d.concurrency,
                d.timeout,
                d.max_size,
                d.disk_budget
            ),
            (
                true,
                Duration::from_secs(3 * 86_400),
                DrillPick::Random,
                2,
                Duration::from_secs(600),
                2 << 30,
                5 << 30
            )
        );
        assert_eq!(d.scratch_dir, PathBuf::from("/srv/drills"));
        assert_eq!(d.redis_server, PathBuf::from("/usr/bin/redis-server"));
        assert_eq!(d.rules[0].matchers.tag.as_deref(), Some("prod"));
        assert_eq!(
            d.rules[0].checks.keys,
            vec![KeyCheck {
                db: 1,
                key: "user:1".into()
            }]
        );
        assert_eq!(
            d.rules[0].checks.min_keys,
            vec![MinKeys { db: 0, count: 100 }]
        );
    }

    #[test]
    fn every_problem_of_the_section_is_reported_with_its_path() {
        let problems = load_text(
            "drill:\n  enabled: true\n  every: 1m\n  backup: oldest\n  concurrency: 0\n  scratch_dir: relative\n  redis_server: ''\n  warn_after: 2h\n  rules:\n    - account: nope\n      keys: [{db: 16}]\n      min_keys: [{count: 0}]\n",
        )
        .err()
        .unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for want in [
            "drill.every",
            "drill.backup",
            "drill.concurrency",
            "drill.scratch_dir",
            "drill.redis_server",
            "drill.rules[0].account",
            "drill.rules[0].keys[0].db",
            "drill.rules[0].keys[0].key",
            "drill.rules[0].min_keys[0].count",
        ] {
            assert!(paths.contains(&want), "{want} not in {paths:?}");
        }
    }
}
