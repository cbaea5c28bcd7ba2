//! What the benchmarks share: a valid dump generated record by record as it is read
//! (string keys with fixed-size values, every 10th with an expiry, the CRC-64 written
//! as it goes), and this process's CPU time and peak RSS.

use std::io::Read;

use anyhow::{Context as _, Result};
use crc::{Crc, Table, CRC_64_REDIS};

static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// A dump written record by record as the verifier reads it.
pub struct Dump {
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
    pub fn new(target: u64, value_bytes: usize) -> Self {
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

pub fn peak_rss_mib() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmHWM")?;
    Ok(kib / 1024.0)
}

pub fn cpu_seconds() -> f64 {
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
pub fn generation_cpu(target: u64, value_bytes: usize) -> Result<f64> {
    let cpu = cpu_seconds();
    let mut dump = Dump::new(target, value_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    while dump.read(&mut buf)? > 0 {}
    Ok(cpu_seconds() - cpu)
}
