//! A drill's private corner of `drill.scratch_dir`: a 0700 subdirectory that holds the
//! download, the unwrapped dump and the scratch server's socket, removed with
//! everything in it when the [`Scratch`] is dropped — on success, on error, on the
//! deadline and when the drill's future is dropped mid-way — and the disk check made
//! before the first byte is downloaded. A process killed mid-drill (SIGKILL) cannot
//! clean up: each directory holds a lock for as long as its drill runs, and the next
//! drill removes the directories whose lock nobody holds ([`sweep`]), and kills the
//! scratch server such a drill left running, before it measures the free space.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Removes its directory when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
    /// Held (an exclusive `flock`) while the drill runs: released by the kernel
    /// however the process ends, which is what tells [`sweep`] a directory is stale.
    _lock: std::fs::File,
}

/// The lock file in each drill's directory.
const LOCK: &str = ".lock";

/// The scratch server's process ID, in its drill's directory.
pub const SERVER_PID: &str = "redis.pid";

/// A directory without its lock file is being created, or its creator died between
/// the two steps: only once this old is it taken for the latter.
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

impl Scratch {
    /// Creates `parent` if needed and a fresh 0700 subdirectory in it.
    pub fn create(parent: &Path) -> std::io::Result<Scratch> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
        let dir = parent.join(format!("drill-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        // The mode above is masked by the umask; the socket directory must be private
        // whatever it is.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let lock = std::fs::File::create(dir.join(LOCK))?;
        if let Err(e) = lock.try_lock() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(std::io::Error::other(format!(
                "cannot lock the drill's directory: {e}"
            )));
        }
        Ok(Scratch { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.dir.display(), error = %e, "the drill's scratch directory could not be removed");
            }
        }
    }
}

/// Removes the drill directories in `parent` left by processes that died mid-drill:
/// those whose lock can be taken (or, without a lock file, older than a minute).
/// Drills running in this or another process hold theirs. Returns how many went.
pub fn sweep(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let is_drill = e.file_name().to_string_lossy().starts_with("drill-")
            && e.file_type().is_ok_and(|t| t.is_dir());
        if !is_drill {
            continue;
        }
        let path = e.path();
        // Held until the directory is gone, so no drill can take it meanwhile.
        let lock = std::fs::File::open(path.join(LOCK));
        let stale = match &lock {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > UNLOCKED_GRACE)),
        };
        if !stale {
            continue;
        }
        kill_orphan(&path);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::warn!(dir = %path.display(), "removed a drill's scratch directory left by a process that ended mid-drill");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "a stale drill scratch directory could not be removed");
            }
        }
    }
    removed
}

/// Kills the scratch server a dead drill in `dir` left running, if it still is: the
/// process its pid file names, when its command line names `dir` (a reused pid is
/// someone else's).
fn kill_orphan(dir: &Path) {
    let Some(pid) = std::fs::read_to_string(dir.join(SERVER_PID))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return;
    };
    let dir = dir.as_os_str().as_encoded_bytes();
    if !cmdline.windows(dir.len()).any(|w| w == dir) {
        return;
    }
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        if rustix::process::kill_process(p, rustix::process::Signal::KILL).is_ok() {
            tracing::warn!(
                pid,
                "killed a drill's scratch redis-server left by a process that ended mid-drill"
            );
        }
    }
}

/// Bytes free to an unprivileged writer on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Why a drill of an object of `needed` bytes (its download and its unwrapped dump)
/// cannot start, or `None` when it fits both the budget and the free space.
pub fn refuse(needed: u64, budget: u64, free: u64) -> Option<String> {
    if needed > budget {
        return Some(format!(
            "it needs about {needed} bytes of scratch disk, more than drill.disk_budget ({budget})"
        ));
    }
    if needed > free {
        return Some(format!(
            "it needs about {needed} bytes of scratch disk and drill.scratch_dir has {free} free"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_private_and_gone_after_drop() {
        let parent = std::env::temp_dir().join(format!("scratch-test-{}", std::process::id()));
        let s = Scratch::create(&parent).unwrap();
        let dir = s.path().to_owned();
        std::fs::write(dir.join("dump.rdb"), b"x").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        drop(s);
        assert!(!dir.exists());
        assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0);
        std::fs::remove_dir(&parent).unwrap();
    }

    #[test]
    fn the_sweep_removes_only_directories_no_drill_holds() {
        let parent =
            std::env::temp_dir().join(format!("sweep-test-{}", uuid::Uuid::new_v4().simple()));
        let running = Scratch::create(&parent).unwrap();
        // Left by a process killed mid-drill: its lock file is there, nobody holds it.
        let left = parent.join("drill-left");
        std::fs::create_dir(&left).unwrap();
        std::fs::write(left.join(LOCK), b"").unwrap();
        std::fs::write(left.join("dump.rdb"), b"x").unwrap();
        // Being created: no lock file yet, and young.
        let young = parent.join("drill-young");
        std::fs::create_dir(&young).unwrap();
        // Not a drill's.
        std::fs::create_dir(parent.join("other")).unwrap();
        assert_eq!(sweep(&parent), 1);
        assert!(!left.exists());
        assert!(running.path().exists());
        assert!(young.exists() && parent.join("other").exists());
        // A second handle in this very process is refused too: flock is per open file.
        assert_eq!(sweep(&parent), 0);
        drop(running);
        std::fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn the_budget_and_the_free_space_both_bound_a_drill() {
        assert_eq!(refuse(10, 10, 10), None);
        assert!(refuse(11, 10, 100).unwrap().contains("drill.disk_budget"));
        assert!(refuse(11, 100, 10).unwrap().contains("10 free"));
        assert!(free_bytes(&std::env::temp_dir()).unwrap() > 0);
    }
}
