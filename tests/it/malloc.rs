//! The daemon re-executes itself with glibc's allocator tuned (src/main_malloc.rs),
//! keeping its process ID, and leaves an operator's own setting alone.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::helpers::{free_loopback_addr, BIN};

/// The daemon's environment once it answers, started with `env` added.
fn environment_when_serving(env: &[(&str, &str)]) -> Vec<String> {
    let addr = free_loopback_addr();
    let mut child = Command::new(BIN)
        .args(["--demo", "--web.listen-address", &addr])
        .env_remove("GLIBC_TUNABLES")
        .env_remove("MALLOC_ARENA_MAX")
        .env_remove("MALLOC_MMAP_THRESHOLD_")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The port answers only after the exec: what /proc shows then is the tuned process.
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo did not listen within 60 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "the demo exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    // Still the exporter by name (`top`, `pkill`, the journal), not `exe`.
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap();
    assert_eq!(comm.trim_end(), "cds-redis-backu");
    let _ = child.kill();
    let _ = child.wait();
    environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| v.starts_with("MALLOC_") || v.starts_with("GLIBC_TUNABLES"))
        .collect()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_daemon_runs_with_one_arena_and_a_fixed_mmap_threshold() {
    assert_eq!(
        environment_when_serving(&[]),
        ["MALLOC_ARENA_MAX=1", "MALLOC_MMAP_THRESHOLD_=131072"]
    );
}

#[test]
fn an_operators_own_allocator_settings_are_kept_as_they_are() {
    assert_eq!(
        environment_when_serving(&[("MALLOC_ARENA_MAX", "4")]),
        ["MALLOC_ARENA_MAX=4"]
    );
    assert_eq!(
        environment_when_serving(&[("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")]),
        ["GLIBC_TUNABLES=glibc.malloc.tcache_count=0"]
    );
}
