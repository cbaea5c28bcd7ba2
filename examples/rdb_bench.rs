//! Throughput and memory of the full RDB verification (`rdb::verify`), for
//! BENCHMARKS.md: a valid dump of `--gib` GiB is generated on the fly (string keys with
//! `--value-bytes` values, every 10th with an expiry, a checksum computed as it is
//! written) and streamed through the verifier; nothing touches the disk and the dump is
//! never held in memory. Prints GiB/s of CPU time on one core and the process's peak
//! RSS.
//!
//!     cargo run --release --example rdb_bench -- --gib 2

use std::io::Read;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use clap::Parser;
use crc::{Crc, Table, CRC_64_REDIS};

use cds_redis_backup_exporter::rdb;

#[derive(Debug, Parser)]
struct Args {
    /// Size of the generated dump, in GiB.
    #[arg(long, default_value_t = 2.0)]
    gib: f64,
    /// Bytes of each string value.
    #[arg(long, default_value_t = 1000)]
    value_bytes: usize,
}

static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// A dump written record by record as the verifier reads it.
struct Dump {
    digest: crc::Digest<'static, u64, Table<16>>,
    pending: Vec<u8>,
    at: usize,
    written: u64,
    target: u64,
    keys: u64,
    value: Vec<u8>,
    done: bool,
}

/// A 32-bit RDB length: `0x80` then 4 bytes big-endian.
fn length(out: &mut Vec<u8>, n: usize) {
    out.push(0x80);
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    length(out, s.len());
    out.extend_from_slice(s);
}

impl Dump {
    fn new(target: u64, value_bytes: usize) -> Self {
        let mut head = b"REDIS0011".to_vec();
        for (k, v) in [("redis-ver", "7.2.4"), ("redis-bits", "64")] {
            head.push(0xFA);
            string(&mut head, k.as_bytes());
            string(&mut head, v.as_bytes());
        }
        head.extend_from_slice(&[0xFE, 0x00]);
        // Values that do not compress: what a real cache of serialised objects holds.
        let value = (0..value_bytes)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
            .collect();
        let mut d = Self {
            digest: CRC64.digest(),
            pending: Vec::new(),
            at: 0,
            written: 0,
            target,
            keys: 0,
            value,
            done: false,
        };
        d.emit(head);
        d
    }

    fn emit(&mut self, bytes: Vec<u8>) {
        self.digest.update(&bytes);
        self.written += bytes.len() as u64;
        self.pending = bytes;
        self.at = 0;
    }

    /// The next batch of records (about 64 KiB), or the EOF and checksum.
    fn refill(&mut self) {
        let mut out = Vec::with_capacity(70 * 1024);
        while out.len() < 64 * 1024 && self.written + (out.len() as u64) < self.target {
            if self.keys.is_multiple_of(10) {
                out.push(0xFC);
                out.extend_from_slice(&4_102_444_800_000u64.to_le_bytes());
            }
            out.push(0x00);
            string(&mut out, format!("key:{:012}", self.keys).as_bytes());
            string(&mut out, &self.value);
            self.keys += 1;
        }
        if out.is_empty() {
            out.push(0xFF);
            self.digest.update(&out);
            let crc = std::mem::replace(&mut self.digest, CRC64.digest()).finalize();
            out.extend_from_slice(&crc.to_le_bytes());
            self.pending = out;
            self.at = 0;
            self.done = true;
            return;
        }
        self.emit(out);
    }
}

impl Read for Dump {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            self.refill();
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn peak_rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM")?;
    Ok(kib / 1024.0)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// CPU seconds spent generating the dump alone (read into a small buffer and dropped),
/// to tell the verifier's share.
fn generation_cpu(target: u64, value_bytes: usize) -> Result<f64> {
    let cpu = cpu_seconds();
    let mut dump = Dump::new(target, value_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    while dump.read(&mut buf)? > 0 {}
    Ok(cpu_seconds() - cpu)
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
