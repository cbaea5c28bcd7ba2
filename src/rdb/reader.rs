//! The one place bytes come in: a buffered reader that knows its offset and feeds every
//! byte it hands out to the CRC-64, so the walker cannot forget a byte when it skips.
//! Errors of the underlying stream become [`Failure`]s here, once.
//!
//! It also keeps the check's work in proportion to the object: every byte it hands out
//! (inflated by gzip, if the object was gzipped) and every byte an LZF string inflates to
//! is work, and a full check may do at most [`MAX_INFLATION`] bytes of work per byte of
//! the object read, plus [`INFLATION_SLACK`]. Past that the dump is not checked further
//! ([`Failure::Inflated`]): a few kilobytes of gzip wrapping LZF can otherwise ask for
//! gigabytes of inflating, a CPU core for as long as the exporter lets it run.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crc::{Crc, Digest, Table, CRC_64_REDIS};

use super::Failure;

/// Redis' CRC-64 ("Jones"). The 16-entry table variant: a dump is hashed whole.
pub(super) static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Skips and buffers go through this many bytes at a time.
pub(super) const CHUNK: usize = 64 * 1024;

/// Work allowed per byte of the object read. Neither layer alone comes near it on a
/// real dump: LZF cannot inflate more than 88 times (3 bytes for 264), and gzip of a
/// real RDB is 2 to 20 times smaller. Deflate alone reaches 1,032 times and gzip around
/// LZF far more (runs of one byte: huge empty bitmaps are the one real case), so such a
/// dump is `too_large` to check rather than a core's work for an hour.
pub const MAX_INFLATION: u64 = 256;

/// Work allowed whatever the object's size, so small dumps holding a few large, very
/// compressible strings are still checked: 16 MiB, a few milliseconds of CPU.
pub const INFLATION_SLACK: u64 = 16 << 20;

/// Counts what a check costs against what it read of the object.
struct Meter {
    /// Bytes of the object read so far, container included (counted by the stream
    /// below the decompressor, [`super::container::Counted`]).
    input: Arc<AtomicU64>,
    work: u64,
}

pub(super) struct Reader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes handed out so far: the offset of the next byte.
    offset: u64,
    crc: Digest<'static, u64, Table<16>>,
    /// None: unbounded (the light check, whose input is bounded already).
    meter: Option<Meter>,
}

impl<R: Read> Reader<R> {
    pub(super) fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            offset: 0,
            crc: CRC64.digest(),
            meter: None,
        }
    }

    /// A reader whose work is bounded by the bytes `input` counts (see the module).
    pub(super) fn metered(inner: R, input: Arc<AtomicU64>) -> Self {
        Reader {
            meter: Some(Meter { input, work: 0 }),
            ..Self::new(inner)
        }
    }

    /// Counts `n` bytes of work (of inflating); fails once the work is out of
    /// proportion to the object, before the work is done.
    pub(super) fn inflated(&mut self, n: u64) -> Result<(), Failure> {
        let Some(m) = &mut self.meter else {
            return Ok(());
        };
        m.work = m.work.saturating_add(n);
        let input = m.input.load(Ordering::Relaxed);
        let allowed = input
            .saturating_mul(MAX_INFLATION)
            .saturating_add(INFLATION_SLACK);
        if m.work > allowed {
            return Err(Failure::Inflated {
                offset: self.offset,
                input,
            });
        }
        Ok(())
    }

    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// The CRC-64 of every byte handed out so far.
    pub(super) fn crc(&self) -> u64 {
        self.crc.clone().finalize()
    }

    /// Refills an empty buffer; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, Failure> {
        if self.pos < self.end {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    self.inflated(n as u64)?;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(&e, self.offset)),
            }
        }
    }

    /// Hands out up to `max` buffered bytes (at least one), after feeding them to the CRC.
    fn take(&mut self, max: usize) -> Result<&[u8], Failure> {
        if !self.fill()? {
            return Err(Failure::Truncated {
                offset: self.offset,
            });
        }
        let n = max.min(self.end - self.pos);
        let start = self.pos;
        self.pos += n;
        self.offset += n as u64;
        self.crc.update(&self.buf[start..start + n]);
        Ok(&self.buf[start..start + n])
    }

    pub(super) fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Failure> {
        let mut done = 0;
        while done < out.len() {
            let got = self.take(out.len() - done)?;
            let n = got.len();
            out[done..done + n].copy_from_slice(got);
            done += n;
        }
        Ok(())
    }

    pub(super) fn u8(&mut self) -> Result<u8, Failure> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], Failure> {
        let mut out = [0; N];
        self.read_exact(&mut out)?;
        Ok(out)
    }

    /// Passes over `n` bytes without holding them: a claimed length costs no memory,
    /// and a false one ends in [`Failure::Truncated`] when the data runs out.
    pub(super) fn skip(&mut self, mut n: u64) -> Result<(), Failure> {
        while n > 0 {
            let got = self.take(usize::try_from(n).unwrap_or(usize::MAX))?.len();
            n -= got as u64;
        }
        Ok(())
    }

    /// Reads `n` bytes into a Vec grown as the data arrives, so a false length in a
    /// short input allocates no more than the input. Callers cap `n`.
    pub(super) fn bytes(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        while out.len() < n {
            let got = self.take(n - out.len())?;
            out.extend_from_slice(got);
        }
        Ok(out)
    }

    /// Whether the stream has ended (nothing is consumed either way).
    pub(super) fn at_end(&mut self) -> Result<bool, Failure> {
        Ok(!self.fill()?)
    }
}

/// What an error of the underlying stream means for the dump at `offset`.
pub(super) fn io_failure(e: &std::io::Error, offset: u64) -> Failure {
    match e.kind() {
        // A gzip stream that stops early, or a tar member cut short.
        ErrorKind::UnexpectedEof => Failure::Truncated { offset },
        // flate2 reports bad compressed data with these kinds.
        ErrorKind::InvalidData | ErrorKind::InvalidInput => Failure::Corrupt {
            offset,
            what: format!("the compressed stream is damaged: {e}"),
        },
        _ => Failure::Unreadable {
            offset,
            what: e.to_string(),
        },
    }
}
