//! glibc's allocator settings for the daemon (a module of `main.rs` only).
//!
//! Two of glibc's defaults cost this daemon 3–4 MiB of resident memory it never uses
//! again (BENCHMARKS.md, "Memory with every backup exported"): the thread that renders
//! `/metrics` gets an arena of its own, and the mmap threshold rises each time a large
//! block is freed, so the next cycle's large tables land in the heap between the live
//! snapshot's and leave holes there when they go. glibc reads its settings from the
//! environment when a process starts, and `mallopt` would need `unsafe`, which this
//! crate forbids: so the daemon re-executes itself once (same process ID, arguments
//! and open files) with them set. An operator's choice wins: nothing happens when any
//! of them, or `GLIBC_TUNABLES`, is already in the environment.

/// The settings, as glibc's environment variables spell them: one arena for every
/// thread, and a fixed threshold (glibc's starting value) above which blocks are mapped
/// on their own and returned to the kernel when freed.
pub const SETTINGS: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "1"),
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
];

/// Whether the environment already says how glibc's allocator should behave.
fn chosen(var: impl Fn(&str) -> bool) -> bool {
    var("GLIBC_TUNABLES") || SETTINGS.iter().any(|(name, _)| var(name))
}

/// Re-executes the daemon with [`SETTINGS`] unless the environment already chose.
/// Returns only when it did not: `Ok(false)` when there was nothing to do, `Err` when
/// the exec failed (no `/proc`, say), in which case the daemon runs untuned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() -> std::io::Result<bool> {
    use std::os::unix::process::CommandExt as _;
    if chosen(|name| std::env::var_os(name).is_some()) {
        return Ok(false);
    }
    let mut args = std::env::args_os();
    let Some(argv0) = args.next() else {
        return Ok(false);
    };
    // The binary's own path, so the process keeps its name (`comm`, which `top`,
    // `pkill` and the journal show, is the executed file's name); `/proc/self/exe`
    // only when that path is gone (a package upgrade replaced the file meanwhile).
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "/proc/self/exe".into());
    Err(std::process::Command::new(exe)
        .arg0(argv0)
        .args(args)
        .envs(SETTINGS)
        .exec())
}

/// Other C libraries have neither the extra arenas nor these variables.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::chosen;

    #[test]
    fn any_of_the_operators_own_settings_means_nothing_is_changed() {
        assert!(!chosen(|_| false));
        for set in [
            "GLIBC_TUNABLES",
            "MALLOC_ARENA_MAX",
            "MALLOC_MMAP_THRESHOLD_",
        ] {
            assert!(chosen(|name| name == set), "{set}");
        }
        assert!(!chosen(|name| name == "MALLOC_TOP_PAD_"));
    }
}
