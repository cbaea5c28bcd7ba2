//! Throughput and memory of the full RDB verification (`rdb::verify`), for
//! BENCHMARKS.md: a valid dump of `--gib` GiB is generated on the fly (string keys with
//! `--value-bytes` values, every 10th with an expiry, a checksum computed as it is
//! written) and streamed through the verifier; nothing touches the disk and the dump is
//! never held in memory. Prints GiB/s of CPU time on one core and the process's peak
//! RSS.
//!
//!     cargo run --release --example rdb_bench -- --gib 2

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use anyhow::{ensure, Result};
use clap::Parser;

use cds_redis_backup_exporter::rdb;
use common::{cpu_seconds, generation_cpu, peak_rss_mib, Dump};

#[derive(Debug, Parser)]
struct Args {
    /// Size of the generated dump, in GiB.
    #[arg(long, default_value_t = 2.0)]
    gib: f64,
    /// Bytes of each string value.
    #[arg(long, default_value_t = 1000)]
    value_bytes: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let target = (args.gib * f64::from(1u32 << 30)) as u64;
    let generating = generation_cpu(target, args.value_bytes)?;
    let before = peak_rss_mib()?;
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    let summary = rdb::verify(Dump::new(target, args.value_bytes))
        .map_err(|e| anyhow::anyhow!("verify failed: {e}"))?;
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let gib = summary.bytes as f64 / f64::from(1u32 << 30);
    ensure!(
        summary.checksum == rdb::Checksum::Verified,
        "checksum not verified"
    );
    ensure!(
        summary.keys_with_expiry == summary.keys.div_ceil(10),
        "expiry count"
    );
    println!(
        "rdb_bench: {gib:.2} GiB, {} keys ({} with expiry) verified in {wall:.2} s wall, {cpu:.2} s CPU: {:.2} GiB/s per core (generation included)",
        summary.keys,
        summary.keys_with_expiry,
        gib / cpu.max(0.01)
    );
    println!(
        "rdb_bench: generating alone took {generating:.2} s CPU; the verifier's share: {:.2} GiB/s per core",
        gib / (cpu - generating).max(0.01)
    );
    println!(
        "rdb_bench: peak RSS {:.1} MiB (before the verification: {before:.1} MiB)",
        peak_rss_mib()?
    );
    Ok(())
}
