//! Turns [`RawConfig`] into [`Config`], checking every value and collecting every
//! problem with its key path instead of stopping at the first.

use std::collections::HashSet;
use std::time::Duration;

use chrono::FixedOffset;
use reqwest::Url;

use super::raw::{RawAccount, RawConfig, RawMatchers, RawStalenessRule};

use super::{
    Account, BackupTarget, Config, Matchers, ProbeConfig, Problem, StalenessRule,
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, REGIONS,
};
use crate::cds::{InstanceFilter, Secret, UrlType};

mod poll;
mod verify;

#[derive(Default)]
pub struct Validator {
    pub problems: Vec<Problem>,
    /// Secrets read from files, to keep out of every message.
    pub secrets: Vec<String>,
}

impl Validator {
    pub(in crate::config) fn problem(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(in crate::config) fn duration(
        &mut self,
        path: &str,
        raw: Option<String>,
        default: Duration,
        min: Duration,
    ) -> Duration {
        let Some(text) = raw else { return default };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d >= min => d,
            Ok(_) => {
                self.problem(
                    path,
                    format!(
                        "{text:?} is too short; use at least {}",
                        humantime::format_duration(min)
                    ),
                );
                default
            }
            Err(_) => {
                self.problem(
                    path,
                    format!("{text:?} is not a duration; write e.g. 500ms, 30s, 5m or 1h"),
                );
                default
            }
        }
    }

    pub(in crate::config) fn count<T: TryFrom<i64> + Copy>(
        &mut self,
        path: &str,
        raw: Option<i64>,
        default: T,
        range: std::ops::RangeInclusive<i64>,
    ) -> T {
        match raw {
            None => default,
            Some(n) if range.contains(&n) => T::try_from(n).unwrap_or(default),
            Some(n) => {
                self.problem(
                    path,
                    format!(
                        "{n} is out of range; use {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    pub fn config(&mut self, raw: RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Config {
        let poll = self.poll(raw.poll);
        let dp = ProbeConfig::default();
        let url_types = self.url_types(
            "probe.url_types",
            raw.probe.url_types.as_deref(),
            &[UrlType::Public],
        );
        let enabled = raw.probe.enabled.unwrap_or(dp.enabled);
        if enabled && raw.probe.url_types.as_ref().is_some_and(Vec::is_empty) {
            self.problem(
                "probe.url_types",
                "is empty; list public and/or intranet, or set probe.enabled: false",
            );
        }
        let probe = ProbeConfig {
            enabled,
            concurrency: self.count(
                "probe.concurrency",
                raw.probe.concurrency,
                dp.concurrency,
                1..=256,
            ),
            url_types,
            timeout: self.duration(
                "probe.timeout",
                raw.probe.timeout,
                dp.timeout,
                Duration::from_millis(100),
            ),
        };
        if raw.accounts.is_empty() {
            self.problem(
                "accounts",
                "no account configured; add at least one with its targets (see the README)",
            );
        }
        let mut names = HashSet::new();
        let accounts = raw
            .accounts
            .into_iter()
            .enumerate()
            .map(|(i, a)| self.account(&format!("accounts[{i}]"), a, env, &mut names))
            .collect::<Vec<_>>();
        let staleness = raw
            .staleness
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.staleness_rule(&format!("staleness[{i}]"), r))
            .collect::<Vec<_>>();
        self.known_accounts(
            &accounts,
            staleness
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("staleness[{i}]"), &r.matchers)),
        );
        let verify = self.verify(raw.verify);
        self.known_accounts(
            &accounts,
            verify
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("verify.rules[{i}]"), &r.matchers)),
        );
        let drill = self.drill(raw.drill);
        self.known_accounts(
            &accounts,
            drill
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("drill.rules[{i}]"), &r.matchers)),
        );
        Config {
            poll,
            probe,
            accounts,
            staleness,
            verify,
            drill,
        }
    }

    /// A `staleness:` rule: a maximum age of at least a minute, and matchers.
    fn staleness_rule(&mut self, at: &str, r: RawStalenessRule) -> StalenessRule {
        let max_age_path = format!("{at}.max_age");
        let max_age = match r.max_age {
            None => {
                self.problem(
                    &max_age_path,
                    "is missing; give the largest allowed backup age, e.g. 26h or 8d",
                );
                Duration::ZERO
            }
            text => self.duration(&max_age_path, text, Duration::ZERO, Duration::from_secs(60)),
        };
        let matchers = self.matchers(
            at,
            RawMatchers {
                account: r.account,
                tag: r.tag,
                instance_name: r.instance_name,
                instance_uuid: r.instance_uuid,
            },
        );
        StalenessRule { matchers, max_age }
    }

    /// A rule's matchers: none blank, an instance-name glob that parses. Whether the
    /// account exists is checked once every account is known ([`Self::known_accounts`]).
    pub(in crate::config) fn matchers(&mut self, at: &str, r: RawMatchers) -> Matchers {
        let mut text = |key: &str, value: Option<String>| -> Option<String> {
            let v = value?.trim().to_owned();
            if v.is_empty() {
                self.problem(
                    format!("{at}.{key}"),
                    "is empty; leave the key out to match every value",
                );
                return None;
            }
            Some(v)
        };
        let account = text("account", r.account);
        let tag = text("tag", r.tag);
        let instance_uuid = text("instance_uuid", r.instance_uuid);
        let name = text("instance_name", r.instance_name);
        let instance_name = name.and_then(|n| match glob::Pattern::new(&n) {
            Ok(p) => Some(p),
            Err(e) => {
                self.problem(
                    format!("{at}.instance_name"),
                    format!("{n:?} is not a valid pattern ({e}); use * for any text, ? for one character, [abc] for one of a set"),
                );
                None
            }
        });
        Matchers {
            account,
            tag,
            instance_name,
            instance_uuid,
        }
    }

    /// Rules may only name configured accounts: a typo would silently match nothing.
    fn known_accounts<'a>(
        &mut self,
        accounts: &[Account],
        rules: impl Iterator<Item = (String, &'a Matchers)>,
    ) {
        for (at, m) in rules {
            if let Some(name) = &m.account {
                if !accounts.iter().any(|a| &a.name == name) {
                    self.problem(
                        format!("{at}.account"),
                        format!("{name:?} is not the name of a configured account; use one of the names under accounts:"),
                    );
                }
            }
        }
    }

    /// A list of URL types, each once; `default` when left out.
    fn url_types(&mut self, at: &str, raw: Option<&[String]>, default: &[UrlType]) -> Vec<UrlType> {
        let Some(raw) = raw else {
            return default.to_vec();
        };
        let mut out = Vec::new();
        for (i, t) in raw.iter().enumerate() {
            let Some(parsed) = UrlType::ALL.into_iter().find(|u| u.as_str() == t) else {
                self.problem(
                    format!("{at}[{i}]"),
                    format!("{t:?} is not a URL type; use public or intranet"),
                );
                continue;
            };
            if out.contains(&parsed) {
                self.problem(format!("{at}[{i}]"), format!("{t:?} is listed twice"));
            } else {
                out.push(parsed);
            }
        }
        out
    }

    fn required(&mut self, path: &str, value: Option<String>) -> String {
        match value.map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                self.problem(path, "is missing or empty");
                String::new()
            }
        }
    }

    fn account(
        &mut self,
        at: &str,
        a: RawAccount,
        env: &dyn Fn(&str) -> Option<String>,
        names: &mut HashSet<String>,
    ) -> Account {
        let name = self.required(&format!("{at}.name"), a.name);
        if !name.is_empty() && !names.insert(name.clone()) {
            self.problem(
                format!("{at}.name"),
                format!("{name:?} is used by another account; names must be unique"),
            );
        }
        let endpoint = self.endpoint(&format!("{at}.endpoint"), a.endpoint);
        let access_key_id = self.credential(
            &format!("{at}.access_key_id"),
            a.access_key_id,
            ENV_ACCESS_KEY_ID,
            env,
        );
        let secret = self.secret(at, a.access_key_secret, a.access_key_secret_file, env);
        let timezone = self.timezone(&format!("{at}.timezone"), a.timezone);
        let mut seen = HashSet::new();
        let mut backups = Vec::new();
        for (i, b) in a.backups.into_iter().enumerate() {
            let path = format!("{at}.backups[{i}]");
            let t = BackupTarget {
                instance_uuid: self.required(&format!("{path}.instance_uuid"), b.instance_uuid),
                backup_id: self.required(&format!("{path}.backup_id"), b.backup_id),
            };
            if !seen.insert((t.instance_uuid.clone(), t.backup_id.clone())) {
                self.problem(path, "is listed twice");
            }
            backups.push(t);
        }
        // A set, not a scan of the list: 100,000 instances must validate in linear time.
        let mut listed = HashSet::new();
        let mut instances = Vec::new();
        for (i, t) in a.instances.into_iter().enumerate() {
            let path = format!("{at}.instances[{i}]");
            let uuid = self.required(&format!("{path}.instance_uuid"), t.instance_uuid);
            if !listed.insert(uuid.clone()) {
                self.problem(path, "is listed twice");
            }
            instances.push(uuid);
        }
        let discovery = a.discovery.map(|d| InstanceFilter {
            tag_name: d.tag_name.filter(|s| !s.trim().is_empty()),
            instance_name: d.instance_name.filter(|s| !s.trim().is_empty()),
        });
        if backups.is_empty() && instances.is_empty() && discovery.is_none() {
            self.problem(
                at,
                "has nothing to watch; add backups:, instances: or discovery:",
            );
        }
        Account {
            name,
            endpoint,
            access_key_id,
            access_key_secret: Secret::new(secret),
            timezone,
            backups,
            instances,
            discovery,
        }
    }

    fn credential(
        &mut self,
        path: &str,
        value: Option<String>,
        var: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        let also = if var == ENV_ACCESS_KEY_SECRET {
            ", in access_key_secret_file"
        } else {
            ""
        };
        match value.or_else(|| env(var)).map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                self.problem(
                    path,
                    format!("is missing; set it here{also} or in the environment variable {var}"),
                );
                String::new()
            }
        }
    }

    /// `access_key_secret`, else the file `access_key_secret_file` names, else the
    /// environment. Messages name the file and the OS error, never what it holds.
    fn secret(
        &mut self,
        at: &str,
        value: Option<String>,
        file: Option<String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        let file_key = format!("{at}.access_key_secret_file");
        let Some(file) = file else {
            return self.credential(
                &format!("{at}.access_key_secret"),
                value,
                ENV_ACCESS_KEY_SECRET,
                env,
            );
        };
        if value.is_some() {
            self.problem(
                file_key,
                "cannot be used together with access_key_secret; keep one of them",
            );
            return String::new();
        }
        let file = file.trim();
        if file.is_empty() {
            self.problem(
                file_key,
                "is empty; give the path of a file holding the secret",
            );
            return String::new();
        }
        match crate::input::read_text(std::path::Path::new(file)) {
            Ok(content) => {
                let secret = content.trim_end();
                if secret.is_empty() {
                    self.problem(file_key, format!("{file:?} is empty"));
                    return String::new();
                }
                self.secrets.push(secret.to_owned());
                secret.to_owned()
            }
            Err(e) => {
                self.problem(file_key, format!("cannot read {file:?}: {e}"));
                String::new()
            }
        }
    }

    fn endpoint(&mut self, path: &str, value: Option<String>) -> Url {
        let fallback = || Url::parse(REGIONS[0].1).expect("constant URL");
        let Some(text) = value.map(|s| s.trim().to_owned()) else {
            return fallback();
        };
        if let Some((_, url)) = REGIONS.iter().find(|(name, _)| *name == text) {
            return Url::parse(url).expect("constant URL");
        }
        match Url::parse(&text) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http")
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none() =>
            {
                u
            }
            Ok(_) => {
                self.problem(path, format!("{text:?} must be an http(s) URL with a host and no query, or one of cn, asia, us"));
                fallback()
            }
            Err(e) => {
                self.problem(path, format!("{text:?} is not a URL ({e}); use e.g. https://cdsapi.capitalonline.net or cn, asia, us"));
                fallback()
            }
        }
    }

    fn timezone(&mut self, path: &str, value: Option<String>) -> FixedOffset {
        let beijing = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        let Some(text) = value.map(|s| s.trim().to_owned()) else {
            return beijing;
        };
        if text == "UTC" || text == "Z" {
            return FixedOffset::east_opt(0).unwrap_or(beijing);
        }
        match text.parse::<FixedOffset>() {
            // No zone is set outside this span; the decoder's bound on times in the
            // future (`cds::model::ZONE_ERROR_MAX`) relies on it.
            Ok(z) if !(-12 * 3600..=14 * 3600).contains(&z.local_minus_utc()) => {
                self.problem(
                    path,
                    format!("{text:?} is outside the UTC offsets in use (-12:00 to +14:00)"),
                );
                beijing
            }
            Ok(z) => z,
            Err(_) => {
                // Zone names would need the tz database (a large dependency) and
                // CDS regions do not observe DST, so an offset is all it takes.
                let hint = if text.contains('/') {
                    " (zone names are not supported; Asia/Shanghai is +08:00)"
                } else {
                    ""
                };
                self.problem(
                    path,
                    format!("{text:?} is not a UTC offset; write it like +08:00 or UTC{hint}"),
                );
                beijing
            }
        }
    }
}
