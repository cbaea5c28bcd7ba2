//! Backups may arrive as a bare `.rdb`, gzipped, or as the first file of a tar
//! archive (plain or gzipped). The container is told by its magic bytes, never by a
//! file name, and the tar header is parsed here (a few fields) rather than pulling in
//! an archive crate for one read-only member.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::reader::io_failure;
use super::Failure;

pub(super) const TAR_BLOCK: usize = 512;

pub(super) fn is_gzip(prefix: &[u8]) -> bool {
    prefix.starts_with(&[0x1f, 0x8b])
}

/// POSIX (`ustar\0`) and GNU (`ustar  `) headers both carry "ustar" at 257.
pub(super) fn is_tar(prefix: &[u8]) -> bool {
    prefix.get(257..262) == Some(b"ustar")
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
pub(super) fn read_up_to<R: Read>(r: &mut R, n: usize) -> Result<Vec<u8>, Failure> {
    let mut out = vec![0; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(&e, got as u64)),
        }
    }
    out.truncate(got);
    Ok(out)
}

/// Counts the bytes read from the object itself, below any decompressor: what the
/// check's work is measured against ([`super::reader::MAX_INFLATION`]).
pub(super) struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    pub(super) fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn tar_corrupt(what: impl Into<String>) -> Failure {
    Failure::Corrupt {
        offset: 0,
        what: format!("tar archive: {}", what.into()),
    }
}

/// Reads tar headers up to the first regular file and returns its size, leaving `r`
/// at its first byte. Extended headers (pax, GNU long names) and directories before
/// it are skipped. Offsets in failures are 0: the RDB has not started yet.
pub(super) fn first_member<R: Read>(r: &mut R) -> Result<u64, Failure> {
    loop {
        let h = read_up_to(r, TAR_BLOCK)?;
        if h.len() < TAR_BLOCK {
            return Err(Failure::Truncated { offset: 0 });
        }
        if h.iter().all(|b| *b == 0) {
            return Err(Failure::NotRdb {
                what: "a tar archive without any file".into(),
            });
        }
        let stored = octal(&h[148..156]).ok_or_else(|| tar_corrupt("unreadable checksum"))?;
        let computed: u64 = h
            .iter()
            .enumerate()
            .map(|(i, b)| u64::from(if (148..156).contains(&i) { b' ' } else { *b }))
            .sum();
        if stored != computed {
            return Err(tar_corrupt("header checksum mismatch"));
        }
        let size = size(&h[124..136]).ok_or_else(|| tar_corrupt("unreadable size"))?;
        match h[156] {
            b'0' | 0 | b'7' => return Ok(size),
            _ => {
                let padded = size.div_ceil(TAR_BLOCK as u64) * TAR_BLOCK as u64;
                let skipped = std::io::copy(&mut r.take(padded), &mut std::io::sink())
                    .map_err(|e| io_failure(&e, 0))?;
                if skipped < padded {
                    return Err(Failure::Truncated { offset: 0 });
                }
            }
        }
    }
}

/// An octal number, space or NUL padded.
fn octal(field: &[u8]) -> Option<u64> {
    let digits = field
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| **b != 0 && **b != b' ');
    let mut v = 0u64;
    let mut any = false;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(v)
}

/// The size field: octal, or GNU's base-256 (high bit set) for 8 GiB and more.
fn size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 == 0 {
        return octal(field);
    }
    let mut v = u64::from(field[0] & 0x7F);
    for b in &field[1..] {
        v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
    }
    Some(v)
}
