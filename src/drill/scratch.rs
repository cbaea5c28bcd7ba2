//! A drill's private corner of `drill.scratch_dir`: a 0700 subdirectory that holds the
//! download, the unwrapped dump and the scratch server's socket, removed with
//! everything in it when the [`Scratch`] is dropped — on success, on error, on the
//! deadline and when the drill's future is dropped mid-way — and the disk check made
//! before the first byte is downloaded.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Removes its directory when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: PathBuf,
}

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
        Ok(Scratch { dir })
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
    fn the_budget_and_the_free_space_both_bound_a_drill() {
        assert_eq!(refuse(10, 10, 10), None);
        assert!(refuse(11, 10, 100).unwrap().contains("drill.disk_budget"));
        assert!(refuse(11, 100, 10).unwrap().contains("10 free"));
        assert!(free_bytes(&std::env::temp_dir()).unwrap() > 0);
    }
}
