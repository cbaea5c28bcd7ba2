//! Shared test plumbing: time, scenarios, configs, a running exporter, scrape parsing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use cds_redis_backup_exporter::cds::{InstanceFilter, Secret};
use cds_redis_backup_exporter::config::{
    Account, BackupTarget, Config, PollConfig, ProbeConfig, VerifyConfig, VerifyLevel,
};
use cds_redis_backup_exporter::fake::{FakeBackup, FakeCds, FakeInstance, FakeObject, Scenario};
use cds_redis_backup_exporter::metrics::Metrics;
use cds_redis_backup_exporter::partition::Partition;
use cds_redis_backup_exporter::poller::Poller;
use cds_redis_backup_exporter::server::WebConfig;

/// Now, to the second: CDS times carry no fractions, so expected values stay exact.
pub fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap()
}

pub fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

pub async fn fake(scenario: Scenario) -> FakeCds {
    FakeCds::start(TcpListener::bind("127.0.0.1:0").await.unwrap(), scenario)
        .await
        .unwrap()
}

/// A replication instance named after `uuid` with one finished backup, `bk`, that
/// started 2 h and ended 1 h ago (10 bytes).
pub fn instance_with_one_backup(uuid: &str) -> FakeInstance {
    let now = now();
    let mut i = FakeInstance::new(uuid, uuid, "redis-replication");
    i.backups.push(FakeBackup::finished(
        "bk",
        "",
        now - hours(2),
        now - hours(1),
        10,
    ));
    i
}

/// A fake serving `instance` alone (key `AK`/`SK`), and a config whose account `a`
/// watches it. Keep the fake alive as long as the config is used.
pub async fn watching(instance: FakeInstance) -> (FakeCds, Config) {
    let uuid = instance.uuid.clone();
    let mut s = Scenario::new("AK", "SK");
    s.instances = vec![instance];
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = vec![uuid];
    (f, config(vec![a]))
}

/// An account for `fake` with no targets yet.
pub fn account(name: &str, fake: &FakeCds, scenario: &Scenario) -> Account {
    Account {
        name: name.to_owned(),
        endpoint: reqwest::Url::parse(&fake.base_url()).unwrap(),
        access_key_id: scenario.access_key_id.clone(),
        access_key_secret: Secret::new(scenario.access_key_secret.clone()),
        timezone: scenario.timezone,
        backups: Vec::new(),
        instances: Vec::new(),
        discovery: None,
    }
}

pub fn backup_target(instance: &str, backup: &str) -> BackupTarget {
    BackupTarget {
        instance_uuid: instance.to_owned(),
        backup_id: backup.to_owned(),
    }
}

pub fn discover_all() -> Option<InstanceFilter> {
    Some(InstanceFilter::default())
}

/// One cycle per hour (tests drive cycles or need only the first), no start delay,
/// short deadlines so failure cases stay fast, and no retries, so each failure is one
/// request (tests of retrying turn them on).
pub fn config(accounts: Vec<Account>) -> Config {
    Config {
        poll: PollConfig {
            interval: Duration::from_secs(3600),
            start_jitter: Duration::ZERO,
            request_timeout: Duration::from_millis(1500),
            max_retries: 0,
            retry_backoff: Duration::from_millis(10),
            retry_max_backoff: Duration::from_millis(200),
            ..PollConfig::default()
        },
        probe: ProbeConfig {
            timeout: Duration::from_millis(1500),
            ..ProbeConfig::default()
        },
        accounts,
        staleness: Vec::new(),
        drill: Default::default(),
        // Off: tests that count object requests see only probes; tests of
        // verification turn it on.
        verify: VerifyConfig {
            level: VerifyLevel::Off,
            ..VerifyConfig::default()
        },
    }
}

/// Runs cycles by hand, for tests of what changes between cycles.
pub struct Driver {
    pub poller: Poller,
    pub metrics: Arc<Metrics>,
}

impl Driver {
    pub fn new(config: &Config) -> Self {
        Self::partitioned(config, Partition::default())
    }

    /// Polling only `partition` of the fleet, as a replica given `--shard`.
    pub fn partitioned(config: &Config, partition: Partition) -> Self {
        let metrics = Arc::new(Metrics::new().unwrap());
        Self {
            poller: Poller::new(config, partition, Arc::clone(&metrics)).unwrap(),
            metrics,
        }
    }

    /// One cycle, published; returns the exposition text.
    pub async fn cycle(&self) -> String {
        let snap = self.poller.cycle().await;
        self.metrics.publish(&snap);
        self.metrics.encode()
    }
}

/// The real thing: `run` on a loopback listener, stopped on drop.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Exporter {
    pub async fn start(config: Config) -> Self {
        Self::start_web(config, WebConfig::default()).await
    }

    /// With these web settings (TLS, auth, limits, lifecycle API).
    pub async fn start_web(config: Config, web: WebConfig) -> Self {
        Self::start_with(config, web, cds_redis_backup_exporter::Control::default()).await
    }

    /// With web settings and a way to reload (a loader, SIGHUP-like signals).
    pub async fn start_with(
        config: Config,
        web: WebConfig,
        control: cds_redis_backup_exporter::Control,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(cds_redis_backup_exporter::run_with(
            config,
            Partition::default(),
            web,
            control,
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{path}", self.addr))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Waits (bounded) for the first completed cycle, then scrapes.
    pub async fn scrape_when_ready(&self) -> String {
        for _ in 0..200 {
            if self.get("/-/ready").await.0 == 200 {
                return self.get("/metrics").await.1;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("exporter not ready after 5s");
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// A server that accepts connections and never answers, holding them open; abort the
/// handle to stop it.
pub async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

/// A loopback port nobody listens on (bound, then released).
pub async fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Parses the exposition text: `name` → (sorted `k="v"` label string → value).
pub fn parse(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        out.entry(name.to_owned())
            .or_default()
            .insert(split_labels(labels).join(","), value.parse().unwrap());
    }
    out
}

/// `a="x",b="y\"z"` → sorted [`a="x"`, `b="y\"z"`], honouring escapes inside values.
fn split_labels(labels: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in labels.chars() {
        match c {
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => {
                cur.push(c);
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quoted = !quoted;
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.sort();
    out
}

/// The series of `name` whose labels include all of `want`, as (labels → value).
pub fn select(text: &str, name: &str, want: &[(&str, &str)]) -> BTreeMap<String, f64> {
    parse(text)
        .remove(name)
        .unwrap_or_default()
        .into_iter()
        .filter(|(labels, _)| {
            let have = split_labels(labels);
            want.iter()
                .all(|(k, v)| have.iter().any(|l| *l == format!("{k}=\"{v}\"")))
        })
        .collect()
}

/// The one value of `name` with labels `want`; fails if there is not exactly one.
pub fn value(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    let found = select(text, name, want);
    assert_eq!(
        found.len(),
        1,
        "{name}{want:?}: expected one series, found {found:?}"
    );
    found.into_values().next().unwrap()
}

/// A CA with a server certificate for 127.0.0.1 and a client certificate, plus a
/// client certificate from another CA, as PEM files in a temp dir removed on drop.
pub struct Pki {
    pub dir: std::path::PathBuf,
    pub ca_pem: String,
    /// Client certificate and key in one PEM, as `reqwest::Identity` takes it.
    pub client_pem: String,
    /// The same from a CA the server does not know.
    pub rogue_client_pem: String,
}

impl Pki {
    pub fn new() -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair,
        };
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), Issuer::new(params, key))
        };
        let leaf = |issuer: &Issuer<'_, KeyPair>, sans: Vec<String>, usage| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (ca_pem, issuer) = ca("test CA");
        let (_, rogue) = ca("rogue CA");
        let (server_crt, server_key) = leaf(
            &issuer,
            vec!["127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_crt, client_key) = leaf(&issuer, vec![], ExtendedKeyUsagePurpose::ClientAuth);
        let (rogue_crt, rogue_key) = leaf(&rogue, vec![], ExtendedKeyUsagePurpose::ClientAuth);
        let dir = std::env::temp_dir().join(format!("cds-exporter-web-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), &ca_pem).unwrap();
        std::fs::write(dir.join("server.crt"), server_crt).unwrap();
        std::fs::write(dir.join("server.key"), server_key).unwrap();
        Self {
            dir,
            ca_pem,
            client_pem: format!("{client_crt}{client_key}"),
            rogue_client_pem: format!("{rogue_crt}{rogue_key}"),
        }
    }

    /// Writes `yaml` as web.yml beside the PEM files and loads it.
    pub fn security(&self, yaml: &str) -> Arc<cds_redis_backup_exporter::web_config::WebSecurity> {
        let path = self.dir.join("web.yml");
        std::fs::write(&path, yaml).unwrap();
        Arc::new(cds_redis_backup_exporter::web_config::WebSecurity::load(&path).unwrap())
    }

    /// An HTTPS client trusting only the test CA; `identity` is a PEM from above.
    pub fn client(&self, identity: Option<&str>, tls12_only: bool) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .timeout(Duration::from_secs(5));
        if let Some(pem) = identity {
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        if tls12_only {
            b = b.max_tls_version(reqwest::tls::Version::TLS_1_2);
        }
        b.build().unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An exporter over one fake account with one finished backup, served with `security`
/// and `limits`. Keep the fake alive as long as the exporter.
pub async fn secured_exporter(
    security: Arc<cds_redis_backup_exporter::web_config::WebSecurity>,
    limits: cds_redis_backup_exporter::server::Limits,
) -> (FakeCds, Exporter) {
    let (fake, config) = watching(instance_with_one_backup("ins-web")).await;
    let web = WebConfig {
        security,
        limits,
        ..WebConfig::default()
    };
    let exporter = Exporter::start_web(config, web).await;
    (fake, exporter)
}

/// The exporter binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_cds-redis-backup-exporter");

/// A fresh directory under the system's temp dir.
pub fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("cds-exporter-it-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A loopback address no one listens on now, for a process to bind.
pub fn free_loopback_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The binary on a free loopback port with `config`; stderr kept for failures.
pub struct Process {
    pub child: Child,
    pub addr: String,
}

impl Process {
    pub fn start(config: &Path, args: &[&str], stderr: Stdio) -> Self {
        let addr = free_loopback_addr();
        let child = Command::new(BIN)
            .args(["--config.file", config.to_str().unwrap()])
            .args(["--web.listen-address", &addr])
            .args(args)
            .env_remove("CDS_ACCESS_KEY_ID")
            .env_remove("CDS_ACCESS_KEY_SECRET")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Self { child, addr }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the exit status.
    pub async fn exit(mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("the exporter did not exit within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An instance `uuid` whose one finished backup `bk-<uuid>` holds `object`, with the
/// size CDS reports set to `size` (the object's length when `None`).
pub fn holding(uuid: &str, object: FakeObject, size: Option<u64>) -> FakeInstance {
    let mut i = instance_with_one_backup(uuid);
    let b = &mut i.backups[0];
    b.id = format!("bk-{uuid}");
    b.size = match (&object, size) {
        (_, Some(s)) => s,
        (FakeObject::Data(d), None) => d.len() as u64,
        _ => 1000,
    };
    b.object = object;
    i
}

/// The fake serving `instances`, and a config watching every one of them (no
/// discovery) with `verify`.
pub async fn watching_all(
    instances: Vec<FakeInstance>,
    verify: cds_redis_backup_exporter::config::VerifyConfig,
) -> (FakeCds, Config) {
    let mut s = Scenario::new("AK", "SK");
    let uuids = instances.iter().map(|i| i.uuid.clone()).collect();
    s.instances = instances;
    let f = fake(s.clone()).await;
    let mut a = account("a", &f, &s);
    a.instances = uuids;
    let mut c = config(vec![a]);
    c.verify = verify;
    (f, c)
}

/// Verification at `level`, public URLs only (the fake serves objects there).
pub fn verify_level(
    level: cds_redis_backup_exporter::config::VerifyLevel,
) -> cds_redis_backup_exporter::config::VerifyConfig {
    cds_redis_backup_exporter::config::VerifyConfig {
        level,
        url_types: vec![cds_redis_backup_exporter::cds::UrlType::Public],
        ..Default::default()
    }
}

/// The `result` of each backup's verification, by instance (`uuid` → result).
pub fn verify_results(text: &str) -> BTreeMap<String, String> {
    select(text, "cds_redis_backup_verify_result", &[])
        .into_iter()
        .filter(|(_, v)| *v == 1.0)
        .filter_map(|(labels, _)| {
            let label = |name: &str| {
                labels.split(',').find_map(|l| {
                    l.strip_prefix(&format!("{name}=\""))
                        .map(|r| r.trim_end_matches('"').to_owned())
                })
            };
            Some((label("instance_uuid")?, label("result")?))
        })
        .collect()
}

/// Cycles every `step` until `want` backups have a result or `within` has passed.
pub async fn verified_within(
    driver: &Driver,
    want: usize,
    within: Duration,
    step: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = driver.cycle().await;
        if verify_results(&text).len() >= want || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(step).await;
    }
}

/// Writes a `config.yaml` into `dir` for the binary: the first account of `c`,
/// discovering every instance, each call failing after `request_timeout` without retry.
/// Returns its path.
pub fn write_config(c: &Config, dir: &Path, request_timeout: &str) -> String {
    let a = &c.accounts[0];
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "poll: {{request_timeout: {request_timeout}, max_retries: 0}}\naccounts:\n  - name: a\n    endpoint: {}\n    access_key_id: {}\n    access_key_secret: {}\n    discovery: {{}}\n",
            a.endpoint,
            a.access_key_id,
            a.access_key_secret.expose()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Web security with basic auth for the users of a `basic_auth_users:` YAML document.
pub fn basic_auth(users: &str) -> Arc<cds_redis_backup_exporter::web_config::WebSecurity> {
    Arc::new(
        cds_redis_backup_exporter::web_config::WebSecurity::parse(users, Path::new("."), "web.yml")
            .unwrap(),
    )
}

/// Writes to `bin` a `redis-server` stand-in that answers `--version` as 7.0.15 and
/// otherwise writes its environment to `<pid_file>.env`, its pid to `pid_file` and sleeps, never opening its socket: a drill
/// that runs it is surely mid-way until stopped. The shell stays (no `exec`), so the
/// process keeps the command line a real server would have.
pub fn stand_in_redis_server(bin: &Path, pid_file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        bin,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Redis server v=7.0.15 sha=0'; exit 0; fi\nenv > {}.env\necho $$ > {}\nsleep 60\n",
            pid_file.display(),
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin, std::fs::Permissions::from_mode(0o700)).unwrap();
}
