//! Is a downloaded backup a whole, restorable Redis dump? The CDS API only says a
//! backup "finished"; this module looks at the bytes. It is pure: it reads what it is
//! given and nothing else (no files, clock or network), so the exporter decides where
//! the bytes come from and how long it may take.
//!
//! Two levels:
//! - [`inspect`] is the light check, from the first [`HEAD_BYTES`] and last
//!   [`TAIL_BYTES`] of an object (two range requests): the container, the `REDIS`
//!   magic and a supported version, the AUX fields at the start, and, for a bare RDB,
//!   that the file ends with the EOF opcode and its checksum, i.e. that the dump was
//!   written to the end. It cannot see damage in between. [`key_hint`] reads the same
//!   head on for the `RESIZEDB` opcodes (the key count Redis declares per database at
//!   save time), a hint of the key count where the whole dump is not read.
//! - [`verify`] is the full check, one streaming pass over the whole object in bounded
//!   memory: every opcode and value record is walked, keys are counted per database,
//!   packed blobs get their header checked, LZF strings inflated to their declared
//!   length, and the CRC-64 is compared. What each value check covers is documented on
//!   the walker (`walk.rs`) and the blob checks (`blobs.rs`).
//!
//! The judge of "would it restore" is redis-server loading the dump, not
//! redis-check-rdb: where they differ, the verdict follows the server. A key holding an
//! empty collection is skipped by the server (and refused by redis-check-rdb), so it
//! is counted apart ([`Summary::empty_keys`]), not called damage; bytes after the
//! checksum are ignored by the server ([`Summary::trailing_bytes`]); a dump selecting a
//! database past the default 16 loads only on a server configured with more
//! ([`Summary::databases_needed`]), which is a warning for the caller to raise.
//!
//! Neither level decodes entries inside packed blobs, detects duplicate set members or
//! hash fields, or checks that stream consumer PELs match their group's PEL: Redis
//! checks those on load, and with `rdbchecksum yes` (the default) any change to those
//! bytes already fails the CRC. A dump whose keys need a Redis module (type 7) passes
//! here, as in `redis-check-rdb`, but only restores where that module is loaded.

mod blobs;
mod container;
mod reader;
mod walk;

#[cfg(test)]
mod real_dumps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use container::{first_member, is_gzip, is_tar, read_up_to, Counted, TAR_BLOCK};
use reader::Reader;
pub use reader::{INFLATION_SLACK, MAX_INFLATION};
use walk::{describe, Counts, Walker};

/// What the light check reads from the start of an object.
pub const HEAD_BYTES: usize = 64 * 1024;
/// What the light check reads from the end: the EOF opcode and the 8-byte CRC-64.
pub const TAIL_BYTES: usize = 9;

/// What the head of a dump says of its key count, without reading the rest: the
/// `RESIZEDB` opcodes found in it (Redis writes one after each SELECTDB, with the
/// database's key and expires counts at save time) and the key records read whole.
/// A hint: a database whose RESIZEDB lies past the head is not in it, Redis before
/// 3.2 (RDB 6 and older) writes none, and another writer may declare anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyHint {
    /// RESIZEDB opcodes in the head.
    pub dbs: u64,
    /// The key counts they declare, summed.
    pub declared_keys: u64,
    pub declared_expires: u64,
    /// Key records read whole in the head (empty collections left out).
    pub keys_read: u64,
    pub expires_read: u64,
    /// The head holds the whole dump, to its checksum.
    pub complete: bool,
}

impl KeyHint {
    /// The key count it suggests: what was read when the head holds the whole dump,
    /// else what the RESIZEDB opcodes declare (at least the keys read); `None` when the
    /// head holds neither (no RESIZEDB before the head ends).
    pub fn keys(&self) -> Option<u64> {
        if self.complete {
            Some(self.keys_read)
        } else if self.dbs > 0 {
            Some(self.declared_keys.max(self.keys_read))
        } else {
            None
        }
    }

    /// Keys with an expiry, as [`KeyHint::keys`].
    pub fn expires(&self) -> Option<u64> {
        if self.complete {
            Some(self.expires_read)
        } else if self.dbs > 0 {
            Some(self.declared_expires.max(self.expires_read))
        } else {
            None
        }
    }

    /// Whether it says the dump holds no key: no key read, and every database the head
    /// declares has none (a dump with no database at all only when the head holds it whole).
    pub fn says_empty(&self) -> bool {
        self.keys() == Some(0)
    }
}

/// How the dump is packaged. The names ([`Container::as_str`]) are the `format` label
/// of the verification series and what the state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Container {
    #[serde(rename = "rdb")]
    Raw,
    #[serde(rename = "gzip")]
    Gzip,
    /// The first regular file of a tar archive.
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "tar.gz")]
    TarGz,
}

impl Container {
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Raw => "rdb",
            Container::Gzip => "gzip",
            Container::Tar => "tar",
            Container::TarGz => "tar.gz",
        }
    }
}

/// The AUX fields Redis writes at the start of a dump (absent or unparsable: `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aux {
    pub redis_ver: Option<String>,
    pub redis_bits: Option<u64>,
    /// Unix seconds when the dump was started.
    pub ctime: Option<i64>,
    pub used_mem: Option<u64>,
    pub aof_base: Option<bool>,
    pub repl_id: Option<String>,
    pub repl_offset: Option<i64>,
}

/// What the start of a dump says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub container: Container,
    pub version: u32,
    pub aux: Aux,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Verified,
    /// The trailer is all zero: the server ran with `rdbchecksum no`.
    Disabled,
    /// RDB versions before 5 have no checksum.
    Absent,
}

/// What a full check found in a sound dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub head: Head,
    /// Keys per database number; databases without keys are absent.
    pub keys_per_db: BTreeMap<u64, u64>,
    pub keys: u64,
    /// Keys preceded by an expiry (including ones already past: Redis drops those on load).
    pub keys_with_expiry: u64,
    pub checksum: Checksum,
    /// Length of the RDB itself (decompressed, without tar framing), trailer included.
    pub bytes: u64,
    /// Keys whose collection has no element (an empty set, hash, list or sorted set):
    /// redis-server skips them on load ("empty keys skipped"), so they are not in
    /// `keys`.
    pub empty_keys: u64,
    /// The highest database number the dump selects. Redis refuses the whole dump when
    /// it is not below its `databases` setting: see [`Summary::databases_needed`].
    pub max_db: Option<u64>,
    /// Bytes after the checksum trailer: Redis stops reading at the trailer and loads
    /// the dump anyway, so they are no damage, only something not Redis' own.
    pub trailing_bytes: u64,
}

/// The `databases` setting of a Redis server left at its default.
pub const DEFAULT_DATABASES: u64 = 16;

impl Summary {
    /// The `databases` a server needs to load this dump, when that is more than
    /// [`DEFAULT_DATABASES`]: a default redis-server exits on such a dump ("Data file
    /// was created with a Redis server configured to handle more than 16 databases"),
    /// one configured with at least this many loads it. A warning, not damage.
    pub fn databases_needed(&self) -> Option<u64> {
        self.max_db
            .map(|db| db.saturating_add(1))
            .filter(|n| *n > DEFAULT_DATABASES)
    }
}

/// Why a dump is not sound. The verifier maps each to its outcome (`verification::Outcome`,
/// the `result` label), the one vocabulary of results.
/// Offsets count bytes of the RDB itself: inside a gzip or tar container they are
/// offsets in the decompressed dump, and 0 for a damaged container header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Not a Redis dump at all: wrong magic (an HTML error page, an empty archive).
    #[error("not an RDB file: {what}")]
    NotRdb { what: String },
    /// An RDB version newer than 12 (or a fork's numbering), or a format only release
    /// candidates wrote (module type 6, pre-GA functions), which Redis itself refuses.
    #[error("unsupported RDB version {version} or pre-release record")]
    UnsupportedVersion { version: u32 },
    /// The data ends before the EOF opcode and checksum: the dump was not written to
    /// the end, or the download stopped.
    #[error("the dump ends early, at byte {offset}")]
    Truncated { offset: u64 },
    #[error("checksum mismatch: stored {stored:#018x}, computed {computed:#018x}")]
    ChecksumMismatch { stored: u64, computed: u64 },
    /// Anything structurally wrong that would make redis-server refuse the dump.
    #[error("corrupt at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    /// The reader failed for a reason other than the data (a network or disk error):
    /// says nothing about the dump, so it is not called corrupt.
    #[error("reading failed at byte {offset}: {what}")]
    Unreadable { offset: u64, what: String },
    /// Checking on would cost more than [`MAX_INFLATION`] bytes of inflating per byte
    /// of the object (`input` bytes read), plus [`INFLATION_SLACK`]: a decompression
    /// bomb, or a dump too compressible to check. Says nothing of its soundness.
    #[error("not checked past byte {offset}: it inflates to more than {MAX_INFLATION} times the {input} bytes read (plus 16 MiB)")]
    Inflated { offset: u64, input: u64 },
}

/// Light check: `head` = the first up to [`HEAD_BYTES`] of the object, `tail` = its
/// last [`TAIL_BYTES`] (fewer if the object is shorter), `len` = its total size.
///
/// For a bare RDB (version 5 and later) the tail must be the EOF opcode followed by 8
/// bytes, otherwise the dump was not written to the end ([`Failure::Truncated`] at
/// `len`); the checksum itself is not computed. For gzip and tar containers only the
/// head is read (decompressed as far as it goes): the tail check is skipped, since the
/// container's own trailer hides the RDB's end.
pub fn inspect(head: &[u8], tail: &[u8], len: u64) -> Result<Head, Failure> {
    if is_gzip(head) {
        let out = gunzip_prefix(head)?;
        if is_tar(&out) {
            return head_of(tar_payload(&out)?, Container::TarGz);
        }
        return head_of(&out, Container::Gzip);
    }
    if is_tar(head) {
        return head_of(tar_payload(head)?, Container::Tar);
    }
    let h = head_of(head, Container::Raw)?;
    let truncated = Failure::Truncated { offset: len };
    if h.version >= 5 {
        // Header, EOF opcode and checksum at the least.
        if len < 18 || tail.len() < TAIL_BYTES || tail[tail.len() - TAIL_BYTES] != 0xFF {
            return Err(truncated);
        }
    } else if len < 10 || tail.last() != Some(&0xFF) {
        return Err(truncated);
    }
    Ok(h)
}

/// The key-count hint of a dump from its first up to [`HEAD_BYTES`] (as given to
/// [`inspect`]): the head is walked as far as it goes. `None` when it is not the start
/// of a readable dump, or the walk meets anything but the head's end or the dump's
/// (damage there is for [`verify`] to name; a hint from a damaged head is no hint).
pub fn key_hint(head: &[u8]) -> Option<KeyHint> {
    if is_gzip(head) {
        let out = gunzip_prefix(head).ok()?;
        if is_tar(&out) {
            return hint_of(tar_payload(&out).ok()?);
        }
        return hint_of(&out);
    }
    if is_tar(head) {
        return hint_of(tar_payload(head).ok()?);
    }
    hint_of(head)
}

fn hint_of(rdb: &[u8]) -> Option<KeyHint> {
    let mut w = Walker::new(Reader::new(rdb));
    w.header().ok()?;
    let mut aux = Aux::default();
    let op = w.aux_section(&mut aux).ok()?;
    let mut counts = Counts::default();
    let complete = match w.body(op, &mut aux, &mut counts) {
        Ok(_) => true,
        Err(Failure::Truncated { .. }) => false,
        Err(_) => return None,
    };
    Some(KeyHint {
        dbs: counts.resize_dbs,
        declared_keys: counts.resize_keys,
        declared_expires: counts.resize_expires,
        keys_read: counts.keys,
        expires_read: counts.keys_with_expiry,
        complete,
    })
}

/// The decompressed start of a gzip head, as far as the head's bytes go.
fn gunzip_prefix(head: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut gz = MultiGzDecoder::new(head).take(HEAD_BYTES as u64);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match gz.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The head is usually a prefix of the stream, so it stops mid-way.
            Err(_) if !out.is_empty() => return Ok(out),
            Err(e) => return Err(reader::io_failure(&e, 0)),
        }
    }
}

/// The bytes of the first tar member that are in `head`.
fn tar_payload(head: &[u8]) -> Result<&[u8], Failure> {
    let mut cursor = Cursor::new(head);
    first_member(&mut cursor)?;
    let start = usize::try_from(cursor.position()).unwrap_or(head.len());
    Ok(&head[start.min(head.len())..])
}

/// Magic, version and the AUX fields as far as `rdb` goes; running out of bytes
/// after the header is not an error here.
fn head_of(rdb: &[u8], container: Container) -> Result<Head, Failure> {
    let mut w = Walker::new(Reader::new(rdb));
    let version = w.header().map_err(|e| better_not_rdb(e, rdb))?;
    let mut aux = Aux::default();
    match w.aux_section(&mut aux) {
        Ok(_) | Err(Failure::Truncated { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(Head {
        container,
        version,
        aux,
    })
}

/// Describes the first 16 bytes, not just the few the header check read.
fn better_not_rdb(e: Failure, prefix: &[u8]) -> Failure {
    match e {
        Failure::NotRdb { .. } => Failure::NotRdb {
            what: format!("it starts with {}", describe(prefix)),
        },
        e => e,
    }
}

/// Full check: streams the whole object once, in bounded memory (a 64 KiB buffer, the
/// gzip window, and at most two [`blobs::BLOB_CAP`] buffers), whatever the input, and
/// bounded work (at most [`MAX_INFLATION`] bytes inflated per byte read).
pub fn verify<R: Read>(r: R) -> Result<Summary, Failure> {
    let input = Arc::new(AtomicU64::new(0));
    let mut r = Counted::new(r, Arc::clone(&input));
    let prefix = read_up_to(&mut r, TAR_BLOCK)?;
    let gzip = is_gzip(&prefix);
    let first = prefix[..prefix.len().min(16)].to_vec();
    let stream = Cursor::new(prefix).chain(r);
    if gzip {
        let mut gz = MultiGzDecoder::new(stream);
        let inner = read_up_to(&mut gz, TAR_BLOCK)?;
        let tar = is_tar(&inner);
        let first = inner[..inner.len().min(16)].to_vec();
        let stream = Cursor::new(inner).chain(gz);
        if tar {
            return verify_tar(stream, Container::TarGz, input);
        }
        return verify_rdb(stream, Container::Gzip, &first, input);
    }
    if is_tar(stream.get_ref().0.get_ref()) {
        return verify_tar(stream, Container::Tar, input);
    }
    verify_rdb(stream, Container::Raw, &first, input)
}

/// The first regular member must be exactly one RDB; padding and later members are
/// the archive's business.
fn verify_tar<R: Read>(
    mut r: R,
    container: Container,
    input: Arc<AtomicU64>,
) -> Result<Summary, Failure> {
    let size = first_member(&mut r)?;
    let mut member = r.take(size);
    let first = read_up_to(&mut member, 16)?;
    verify_rdb(
        Cursor::new(first.clone()).chain(member),
        container,
        &first,
        input,
    )
}

/// Walks one RDB stream whose first bytes are `first` (for describing a wrong magic);
/// `input` counts the bytes of the object read, for the work bound.
fn verify_rdb<R: Read>(
    r: R,
    container: Container,
    first: &[u8],
    input: Arc<AtomicU64>,
) -> Result<Summary, Failure> {
    let mut w = Walker::new(Reader::metered(r, input));
    let version = w.header().map_err(|e| better_not_rdb(e, first))?;
    let mut aux = Aux::default();
    let mut counts = Counts::default();
    let op = w.aux_section(&mut aux)?;
    let checksum = w.body(op, &mut aux, &mut counts)?;
    let bytes = w.rd.offset();
    // Read to the end all the same: a container damaged after the dump is still seen.
    let trailing_bytes = if w.rd.at_end()? {
        0
    } else {
        match w.rd.skip(u64::MAX) {
            Err(Failure::Truncated { offset }) => offset - bytes,
            Err(e) => return Err(e),
            Ok(()) => u64::MAX,
        }
    };
    Ok(Summary {
        head: Head {
            container,
            version,
            aux,
        },
        keys_per_db: counts.keys_per_db,
        keys: counts.keys,
        keys_with_expiry: counts.keys_with_expiry,
        checksum,
        bytes,
        empty_keys: counts.empty_keys,
        max_db: counts.max_db,
        trailing_bytes,
    })
}
