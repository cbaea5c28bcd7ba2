//! The throwaway `redis-server` a drill loads the dump into: no TCP port, a unix socket
//! in the drill's private directory, no persistence, no modules, protected mode and
//! debug commands off. It is killed when dropped (`kill_on_drop`), so a deadline, an
//! error or a cancelled drill never leaves it running; [`Server::stop`] asks it to
//! `SHUTDOWN NOSAVE` first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::resp::{info_field, keyspace, Conn};

/// How often loading is looked at.
const POLL: Duration = Duration::from_millis(50);

/// What a scratch server that finished loading says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub keys_per_db: BTreeMap<u32, u64>,
    pub used_memory: u64,
    pub load: Duration,
}

/// Why the dump did not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Redis refused the dump; its own error line.
    Refused(String),
    /// Redis cannot read this RDB version ("Can't handle RDB format version").
    Unsupported(String),
    /// The server could not be started or talked to: nothing said about the dump.
    Start(String),
}

#[derive(Debug)]
pub struct Server {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
    conn: Option<Conn>,
}

/// The RDB versions a `redis-server --version` line's release reads, newest first by
/// release (see docs: 7.4 → 12, 7.2 → 11, 7.0 → 10, 5.0/6.x → 9, 4.0 → 8).
pub fn rdb_version_read_by(version_line: &str) -> Option<u32> {
    let v = version_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next()??, parts.next()??);
    Some(match (major, minor) {
        (0..=3, _) => 7,
        (4, _) => 8,
        (5 | 6, _) => 9,
        (7, 0) => 10,
        (7, 1..=2) => 11,
        _ => 12,
    })
}

/// `redis-server --version` of `binary`.
pub async fn version(binary: &Path) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{} could not be run: {e}", binary.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The size of `sockaddr_un.sun_path` on Linux, with its terminating NUL.
const SUN_PATH: usize = 108;

impl Server {
    /// Starts `binary` on `dir/dbfilename` and waits until it has loaded the dump.
    pub async fn load(
        binary: &Path,
        dir: &Path,
        dbfilename: &str,
    ) -> Result<(Server, Loaded), LoadError> {
        let sock = dir.join("redis.sock");
        // Redis refuses a socket path it cannot bind (sun_path holds 108 bytes) and exits:
        // that says nothing of the dump, so it must not read as a refused load.
        if sock.as_os_str().len() >= SUN_PATH {
            return Err(LoadError::Start(format!(
                "drill.scratch_dir is too long: the scratch server's socket path {} has {} bytes, a unix socket path must have fewer than {SUN_PATH}",
                sock.display(),
                sock.as_os_str().len()
            )));
        }
        let log = dir.join("redis.log");
        let s = |p: &Path| p.display().to_string();
        let started = Instant::now();
        // An empty environment: the exporter's may hold the access key secret.
        let child = Command::new(binary)
            .env_clear()
            .args(["--port", "0"])
            .args(["--unixsocket", &s(&sock)])
            .args(["--unixsocketperm", "700"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "yes"])
            .args(["--enable-debug-command", "no"])
            .args(["--enable-module-command", "no"])
            .args(["--daemonize", "no"])
            .args(["--dir", &s(dir)])
            .args(["--dbfilename", dbfilename])
            .args(["--logfile", &s(&log)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                LoadError::Start(format!("{} could not be started: {e}", binary.display()))
            })?;
        // For the sweep of a drill its process did not live to end (scratch::sweep):
        // the server outlives a SIGKILLed exporter.
        if let Some(pid) = child.id() {
            let _ = std::fs::write(dir.join(super::scratch::SERVER_PID), pid.to_string());
        }
        let mut server = Server {
            child,
            sock,
            log,
            conn: None,
        };
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(server.refused(status));
            }
            if server.conn.is_none() {
                server.conn = Conn::connect(&server.sock).await.ok();
            }
            if let Some(conn) = &mut server.conn {
                match conn.text(&[b"INFO", b"persistence"]).await {
                    Ok(info) if info_field(&info, "loading") == Some("0") => break,
                    Ok(_) => {}
                    // LOADING errors are answers too; a dropped connection is not.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {}
                    Err(_) => server.conn = None,
                }
            }
            tokio::time::sleep(POLL).await;
        }
        let load = started.elapsed();
        let conn = server
            .conn
            .as_mut()
            .ok_or_else(|| LoadError::Start("no connection".into()))?;
        let talk = |e: std::io::Error| {
            LoadError::Start(format!("the scratch server stopped answering: {e}"))
        };
        let keys_per_db = keyspace(&conn.text(&[b"INFO", b"keyspace"]).await.map_err(talk)?);
        let memory = conn.text(&[b"INFO", b"memory"]).await.map_err(talk)?;
        let used_memory = info_field(&memory, "used_memory")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        Ok((
            server,
            Loaded {
                keys_per_db,
                used_memory,
                load,
            },
        ))
    }

    /// The server ended before it loaded: Redis' own reason from its log.
    fn refused(&self, status: std::process::ExitStatus) -> LoadError {
        use std::os::unix::process::ExitStatusExt as _;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        judged(&log, status.code(), status.signal())
    }

    /// `SELECT db` then `EXISTS key`.
    pub async fn exists(&mut self, db: u32, key: &str) -> std::io::Result<bool> {
        let conn = self.conn()?;
        conn.text(&[b"SELECT", db.to_string().as_bytes()]).await?;
        Ok(conn.int(&[b"EXISTS", key.as_bytes()]).await? > 0)
    }

    /// `SELECT db` then `DBSIZE`.
    pub async fn dbsize(&mut self, db: u32) -> std::io::Result<u64> {
        let conn = self.conn()?;
        conn.text(&[b"SELECT", db.to_string().as_bytes()]).await?;
        Ok(conn.int(&[b"DBSIZE"]).await?.max(0).unsigned_abs())
    }

    fn conn(&mut self) -> std::io::Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| std::io::Error::other("not connected"))
    }

    /// `SHUTDOWN NOSAVE`, then a kill if it is still there a second later.
    pub async fn stop(mut self) {
        if let Some(conn) = &mut self.conn {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), conn.call(&[b"SHUTDOWN", b"NOSAVE"]))
                    .await;
        }
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Redis' reason for refusing a dump: the first warning-level line (`#`) of its log
/// that is not one of the start-up warnings about the host.
pub fn reason(log: &str) -> Option<String> {
    let warnings: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(" # ").map(|(_, m)| m.trim()))
        .filter(|m| {
            // Start-up lines Redis logs at this level on every start.
            ![
                "WARNING",
                "Warning",
                "Server initialized",
                "oO0O",
                "Redis version=",
                "Configuration loaded",
            ]
            .iter()
            .any(|p| m.starts_with(p))
        })
        .collect();
    warnings
        .iter()
        .find(|m| !m.starts_with("Fatal error loading"))
        .or(warnings.first())
        .map(|m| (*m).to_owned())
}

/// What a scratch server that exited (with `code`, or killed by `signal`) before it
/// answered says of the dump: Redis' own line when it refused it (or crashed on it),
/// and nothing when it was stopped from outside — SIGKILL (the kernel's out-of-memory
/// killer, or an operator) or a shutdown it was asked for and logged — which must not
/// read as a failed restore. The exit status cannot tell: Redis 7.0 exits 0 after
/// refusing a dump that needs a module.
fn judged(log: &str, code: Option<i32>, signal: Option<i32>) -> LoadError {
    const SIGKILL: i32 = 9;
    if signal == Some(SIGKILL) {
        return LoadError::Start(
            "redis-server was killed (SIGKILL) while loading: out of memory, or stopped by someone"
                .into(),
        );
    }
    let asked = log.lines().find(|l| {
        (l.contains("signal-handler") && l.contains("Received"))
            || l.contains(" # User requested shutdown")
    });
    if let Some(line) = asked {
        let said = line.split_once(") ").map_or(line, |(_, m)| m);
        let said = said.split_once(" # ").map_or(said, |(_, m)| m);
        return LoadError::Start(format!(
            "redis-server was told to stop before it answered: {}",
            said.trim()
        ));
    }
    match reason(log) {
        Some(line) if line.contains("Can't handle RDB format version") => {
            LoadError::Unsupported(line)
        }
        Some(line) => LoadError::Refused(line),
        None => {
            let how = code.map_or_else(
                || format!("signal {}", signal.unwrap_or(0)),
                |c| format!("exit status {c}"),
            );
            LoadError::Start(format!(
                "redis-server exited ({how}) before loading, with nothing in its log"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `check --drill` with a scratch directory deep under /tmp: Redis could not
    /// bind the socket and the drill read as `load_failed`, a verdict on the backup.
    #[tokio::test]
    async fn a_socket_path_redis_cannot_bind_is_no_verdict_on_the_dump() {
        let dir = std::path::PathBuf::from(format!("/tmp/{}", "d".repeat(100)));
        match Server::load(Path::new("/nonexistent/redis-server"), &dir, "dump.rdb").await {
            Err(LoadError::Start(e)) => assert!(
                e.starts_with(
                    "drill.scratch_dir is too long: the scratch server's socket path /tmp/ddd"
                ),
                "{e}"
            ),
            Err(_) => panic!("not a start error"),
            Ok(_) => panic!("started"),
        }
    }

    #[test]
    fn the_rdb_version_a_release_reads() {
        let line = |v: &str| {
            format!("Redis server v={v} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d")
        };
        assert_eq!(rdb_version_read_by(&line("7.0.15")), Some(10));
        assert_eq!(rdb_version_read_by(&line("7.2.4")), Some(11));
        assert_eq!(rdb_version_read_by(&line("7.4.1")), Some(12));
        assert_eq!(rdb_version_read_by(&line("6.2.14")), Some(9));
        assert_eq!(rdb_version_read_by("Valkey server"), None);
    }

    #[test]
    fn the_reason_is_redis_own_line() {
        let log = "1:C 07 Dec 2026 07:00:00.000 # WARNING Memory overcommit must be enabled!\n\
                   1:M 07 Dec 2026 07:00:00.001 * Loading RDB produced by version 7.0.15\n\
                   1:M 07 Dec 2026 07:00:00.002 # Can't handle RDB format version 11\n\
                   1:M 07 Dec 2026 07:00:00.003 # Fatal error loading the DB: Invalid argument. Exiting.\n";
        assert_eq!(
            reason(log).as_deref(),
            Some("Can't handle RDB format version 11")
        );
        assert_eq!(reason("nothing\n"), None);
    }

    #[test]
    fn a_server_stopped_from_outside_is_no_verdict_on_the_dump() {
        let refused = "1:M 07 Dec 2026 07:00:00.002 # Short read or OOM loading DB. Unrecoverable error, aborting now.\n";
        let start = |e: LoadError| match e {
            LoadError::Start(s) => s,
            LoadError::Refused(s) | LoadError::Unsupported(s) => panic!("a verdict: {s}"),
        };
        assert!(start(judged(refused, None, Some(9))).contains("SIGKILL"));
        // SIGTERM while loading, as Debian's redis-server 7.0.15 logged it; it exits 0.
        let term = "11626:M 07 Dec 2026 11:09:46.642 * RDB memory usage when created 536.36 Mb\n\
                    11626:signal-handler (1796641786) Received shutdown signal during loading, scheduling shutdown.\n\
                    11626:M 07 Dec 2026 11:09:46.985 # User requested shutdown...\n";
        assert_eq!(
            start(judged(term, Some(0), None)),
            "redis-server was told to stop before it answered: Received shutdown signal during loading, scheduling shutdown."
        );
        // Redis 7.0 exits 0 after refusing a dump: the status is no evidence.
        assert!(matches!(
            judged(refused, Some(0), None),
            LoadError::Refused(_)
        ));
        assert!(matches!(
            judged(refused, Some(1), None),
            LoadError::Refused(l) if l.starts_with("Short read")
        ));
        // A crash is Redis' answer to the dump: its log has the reason.
        assert!(matches!(
            judged(refused, None, Some(11)),
            LoadError::Refused(_)
        ));
        assert_eq!(
            start(judged("", None, Some(6))),
            "redis-server exited (signal 6) before loading, with nothing in its log"
        );
    }
}
