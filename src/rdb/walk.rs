//! The RDB grammar: header, opcodes, and every value type up to RDB 12, walked once
//! from start to trailer. Values are skipped, not built: only the few bytes the checks
//! need are held (AUX fields, packed blobs up to [`BLOB_CAP`]), so memory does not
//! depend on what the dump claims.

use std::collections::BTreeMap;
use std::io::Read;

use super::blobs::{self, Blob, BLOB_CAP};
use super::reader::{Reader, CHUNK};
use super::{Aux, Checksum, Failure};

/// The newest RDB version this walker knows (Redis 7.4 and 8).
pub(super) const MAX_VERSION: u32 = 12;

/// No Redis host holds a string of a TiB or a collection of 2^40 elements; a larger
/// claim is damage. Smaller false claims cost nothing: skipping allocates nothing and
/// ends in `Truncated` when the data runs out.
pub(super) const MAX_STRING: u64 = 1 << 40;
pub(super) const MAX_COUNT: u64 = 1 << 40;

/// Databases with keys that one dump may name. Redis writes each non-empty database
/// once and its default is 16; the cap keeps the per-db map small on crafted input.
pub(super) const MAX_DBS: usize = 16 * 1024;

/// An AUX name or value longer than this is skipped unread: the fields we want are short.
const AUX_CAP: usize = 1024;

/// What the walk counted, for [`super::Summary`].
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub keys_per_db: BTreeMap<u64, u64>,
    pub keys: u64,
    pub keys_with_expiry: u64,
    /// Keys whose collection has no element: Redis skips them on load.
    pub empty_keys: u64,
    /// The highest database number a SELECTDB names.
    pub max_db: Option<u64>,
    /// RESIZEDB opcodes seen, and the db and expires sizes they declare, summed.
    pub resize_dbs: u64,
    pub resize_keys: u64,
    pub resize_expires: u64,
}

pub(super) struct Walker<R> {
    pub rd: Reader<R>,
    pub version: u32,
}

impl<R: Read> Walker<R> {
    pub(super) fn new(rd: Reader<R>) -> Self {
        Walker { rd, version: 0 }
    }

    /// `REDIS` and four digits. A short input that matches as far as it goes is
    /// truncated; anything else is not an RDB at all.
    pub(super) fn header(&mut self) -> Result<u32, Failure> {
        let mut seen = Vec::with_capacity(9);
        for i in 0..9 {
            let b = self.rd.u8()?;
            seen.push(b);
            let ok = if i < 5 {
                b == b"REDIS"[i]
            } else {
                b.is_ascii_digit()
            };
            if !ok {
                return Err(Failure::NotRdb {
                    what: format!("it starts with {}", describe(&seen)),
                });
            }
        }
        let version = seen[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if version == 0 || version > MAX_VERSION {
            return Err(Failure::UnsupportedVersion { version });
        }
        self.version = version;
        Ok(version)
    }

    /// Reads the AUX fields at the start; returns the first other opcode.
    pub(super) fn aux_section(&mut self, aux: &mut Aux) -> Result<u8, Failure> {
        loop {
            let op = self.rd.u8()?;
            if op != 0xFA {
                return Ok(op);
            }
            self.aux(aux)?;
        }
    }

    /// Everything after the header up to and including the checksum, starting at
    /// opcode `op` (as returned by [`Self::aux_section`]).
    pub(super) fn body(
        &mut self,
        mut op: u8,
        aux: &mut Aux,
        counts: &mut Counts,
    ) -> Result<Checksum, Failure> {
        let mut db = 0u64;
        // EXPIRETIME* applies to the next key only, as in rdbLoad.
        let mut expiry = false;
        loop {
            match op {
                0xFF => return self.trailer(),
                0xFE => {
                    db = self.len()?;
                    // Redis exits on any SELECTDB past its `databases`, keys or not.
                    counts.max_db = counts.max_db.max(Some(db));
                }
                0xFD => {
                    self.rd.skip(4)?;
                    expiry = true;
                }
                0xFC => {
                    self.rd.skip(8)?;
                    expiry = true;
                }
                0xFB => {
                    // A hint Redis writes for the next SELECTDB's database (to size its
                    // tables on load), not a count: kept apart from `keys`.
                    let (keys, expires) = (self.len()?, self.len()?);
                    counts.resize_dbs += 1;
                    counts.resize_keys = counts.resize_keys.saturating_add(keys);
                    counts.resize_expires = counts.resize_expires.saturating_add(expires);
                }
                0xFA => self.aux(aux)?,
                0xF9 => self.rd.skip(1)?,
                0xF8 => {
                    self.len()?;
                }
                0xF7 => {
                    self.len()?; // module id
                    let when_opcode = self.len()?;
                    if when_opcode != 2 {
                        return Err(self.corrupt_before(
                            1,
                            format!("module AUX with when-opcode {when_opcode}, not 2"),
                        ));
                    }
                    self.len()?; // when
                    self.module_value()?;
                }
                // Written only by 7.0 release candidates; Redis refuses it too.
                0xF6 => {
                    return Err(Failure::UnsupportedVersion {
                        version: self.version,
                    })
                }
                0xF5 => self.skip_string()?,
                0xF4 => {
                    for _ in 0..3 {
                        self.len()?;
                    }
                }
                t => {
                    let at = self.rd.offset() - 1;
                    if !(t <= 25 && t != 8) {
                        return Err(Failure::Corrupt {
                            offset: at,
                            what: format!("unknown opcode or value type {t}"),
                        });
                    }
                    // Type 6 is the module format of Redis 4.0 release candidates; it
                    // cannot be skipped without the module. Like the pre-GA function
                    // opcode, it is a format this walker does not read, not damage.
                    if t == 6 {
                        return Err(Failure::UnsupportedVersion {
                            version: self.version,
                        });
                    }
                    self.skip_string()?; // key
                    if self.value(t)? {
                        // rdbLoadObject's "empty key": skipped, with its expiry.
                        counts.empty_keys += 1;
                        expiry = false;
                        op = self.rd.u8()?;
                        continue;
                    }
                    if !counts.keys_per_db.contains_key(&db) && counts.keys_per_db.len() >= MAX_DBS
                    {
                        return Err(Failure::Corrupt {
                            offset: at,
                            what: format!("keys in more than {MAX_DBS} databases"),
                        });
                    }
                    *counts.keys_per_db.entry(db).or_default() += 1;
                    counts.keys += 1;
                    counts.keys_with_expiry += u64::from(expiry);
                    expiry = false;
                }
            }
            op = self.rd.u8()?;
        }
    }

    fn trailer(&mut self) -> Result<Checksum, Failure> {
        if self.version < 5 {
            return Ok(Checksum::Absent);
        }
        // The CRC covers everything up to and including the EOF opcode.
        let computed = self.rd.crc();
        let stored = u64::from_le_bytes(self.rd.array()?);
        if stored == 0 {
            Ok(Checksum::Disabled)
        } else if stored != computed {
            Err(Failure::ChecksumMismatch { stored, computed })
        } else {
            Ok(Checksum::Verified)
        }
    }

    fn corrupt_before(&self, back: u64, what: String) -> Failure {
        Failure::Corrupt {
            offset: self.rd.offset().saturating_sub(back),
            what,
        }
    }

    fn aux(&mut self, aux: &mut Aux) -> Result<(), Failure> {
        let name = self.string(AUX_CAP)?;
        let value = self.string(AUX_CAP)?;
        let (Some(name), Some(value)) = (name, value) else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&value).into_owned();
        // Values that do not parse are left out: they are informational, and Redis
        // itself does not refuse a dump over them.
        match name.as_slice() {
            b"redis-ver" => aux.redis_ver = Some(text),
            b"redis-bits" => aux.redis_bits = text.parse().ok(),
            b"ctime" => aux.ctime = text.parse().ok(),
            b"used-mem" => aux.used_mem = text.parse().ok(),
            b"aof-base" => aux.aof_base = text.parse::<u8>().ok().map(|v| v != 0),
            b"repl-id" => aux.repl_id = Some(text),
            b"repl-offset" => aux.repl_offset = text.parse().ok(),
            _ => {}
        }
        Ok(())
    }

    /// A length, and whether it was a special string encoding (top bits `11`).
    fn len_enc(&mut self) -> Result<(u64, bool), Failure> {
        let b = self.rd.u8()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3F), false),
            1 => (u64::from(b & 0x3F) << 8 | u64::from(self.rd.u8()?), false),
            3 => (u64::from(b & 0x3F), true),
            _ => match b {
                0x80 => (u64::from(u32::from_be_bytes(self.rd.array()?)), false),
                0x81 => (u64::from_be_bytes(self.rd.array()?), false),
                _ => {
                    return Err(self.corrupt_before(1, format!("unknown length encoding 0x{b:02x}")))
                }
            },
        })
    }

    /// A plain length. Like rdbLoadLen, a special-encoding byte here reads as its low
    /// six bits: Redis loads such a file, so it is not called damaged.
    fn len(&mut self) -> Result<u64, Failure> {
        Ok(self.len_enc()?.0)
    }

    /// An element count, refused beyond [`MAX_COUNT`]. Zero is no damage: redis-server
    /// skips an empty collection on load (redis-check-rdb refuses it, but the server is
    /// what restores the backup).
    fn count(&mut self) -> Result<u64, Failure> {
        let at = self.rd.offset();
        let n = self.len()?;
        if n > MAX_COUNT {
            return Err(Failure::Corrupt {
                offset: at,
                what: format!("collection of {n} elements"),
            });
        }
        Ok(n)
    }

    /// A string: its bytes when at most `keep` long (integers as decimal text, LZF
    /// inflated), otherwise skipped. LZF strings up to [`BLOB_CAP`] are inflated
    /// either way, to check that they inflate to their declared length.
    fn string(&mut self, keep: usize) -> Result<Option<Vec<u8>>, Failure> {
        let at = self.rd.offset();
        let (n, special) = self.len_enc()?;
        if special {
            let int = match n {
                0 => i64::from(self.rd.u8()? as i8),
                1 => i64::from(i16::from_le_bytes(self.rd.array()?)),
                2 => i64::from(i32::from_le_bytes(self.rd.array()?)),
                3 => return self.lzf(at, keep),
                _ => {
                    return Err(Failure::Corrupt {
                        offset: at,
                        what: format!("unknown string encoding {n}"),
                    })
                }
            };
            let text = int.to_string().into_bytes();
            return Ok((text.len() <= keep).then_some(text));
        }
        if n > MAX_STRING {
            return Err(Failure::Corrupt {
                offset: at,
                what: format!("string of {n} bytes"),
            });
        }
        match usize::try_from(n) {
            Ok(n) if n <= keep => Ok(Some(self.rd.bytes(n)?)),
            _ => {
                self.rd.skip(n)?;
                Ok(None)
            }
        }
    }

    fn lzf(&mut self, at: u64, keep: usize) -> Result<Option<Vec<u8>>, Failure> {
        let clen = self.len()?;
        let ulen = self.len()?;
        if clen > MAX_STRING || ulen > MAX_STRING {
            return Err(Failure::Corrupt {
                offset: at,
                what: format!("LZF string of {clen} bytes inflating to {ulen}"),
            });
        }
        // lzf_decompress into zero bytes returns 0, which is what Redis compares with
        // the declared length: it loads such a string, as an empty one, whatever the data.
        if ulen == 0 {
            self.rd.skip(clen)?;
            return Ok((keep > 0).then(Vec::new));
        }
        let small = |n: u64| usize::try_from(n).ok().filter(|n| *n <= BLOB_CAP);
        let (Some(clen), Some(ulen)) = (small(clen), small(ulen)) else {
            // Too large to hold: inflated through an 8 KiB window, only to check that
            // it inflates to exactly its declared length, as Redis requires.
            let mut check = blobs::LzfCheck::new(ulen);
            let mut left = clen;
            while left > 0 {
                let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                let chunk = self.rd.bytes(n)?;
                let before = check.produced();
                check
                    .feed(&chunk)
                    .map_err(|what| Failure::Corrupt { offset: at, what })?;
                // Inflating is work the reader bounds: what each chunk produced counts,
                // not the declared length, so a lie about it stays a corrupt verdict.
                self.rd.inflated(check.produced() - before)?;
                left -= n as u64;
            }
            check
                .finish()
                .map_err(|what| Failure::Corrupt { offset: at, what })?;
            return Ok(None);
        };
        let packed = self.rd.bytes(clen)?;
        let out =
            blobs::lzf(&packed, ulen).map_err(|what| Failure::Corrupt { offset: at, what })?;
        self.rd.inflated(out.len() as u64)?;
        Ok((out.len() <= keep).then_some(out))
    }

    fn skip_string(&mut self) -> Result<(), Failure> {
        self.string(0).map(drop)
    }

    /// A packed blob string, checked when it is at most [`BLOB_CAP`] bytes; its
    /// element count must be a multiple of `group` (2 for field/value pairs). `true`
    /// when its header says it has no element (allowed only when `allow_empty`).
    fn blob(&mut self, kind: Blob, allow_empty: bool, group: usize) -> Result<bool, Failure> {
        let at = self.rd.offset();
        let Some(b) = self.string(BLOB_CAP)? else {
            return Ok(false);
        };
        let corrupt = |what: String| Failure::Corrupt { offset: at, what };
        match blobs::check(kind, &b, allow_empty).map_err(corrupt)? {
            Some(n) if n % group != 0 => Err(corrupt(format!(
                "{kind:?} of {n} entries, not a multiple of {group}"
            ))),
            n => Ok(n == Some(0)),
        }
    }

    /// One value of type `t` (0..=25, not 6 or 8); `true` when it is a collection
    /// without elements, which Redis skips on load ("empty keys skipped"). Empty
    /// intsets and zipmaps are refused instead: their integrity check fails in Redis.
    fn value(&mut self, t: u8) -> Result<bool, Failure> {
        let empty = match t {
            0 => {
                self.skip_string()?;
                false
            }
            1 | 2 => {
                let n = self.count()?;
                for _ in 0..n {
                    self.skip_string()?;
                }
                n == 0
            }
            3 => {
                let n = self.count()?;
                for _ in 0..n {
                    self.skip_string()?;
                    // A score as text: 1-byte length, 253..=255 for nan/+inf/-inf.
                    let n = self.rd.u8()?;
                    if n < 253 {
                        self.rd.skip(u64::from(n))?;
                    }
                }
                n == 0
            }
            4 => {
                let n = self.count()?;
                for _ in 0..n {
                    self.skip_string()?;
                    self.skip_string()?;
                }
                n == 0
            }
            5 => {
                let n = self.count()?;
                for _ in 0..n {
                    self.skip_string()?;
                    let score = f64::from_le_bytes(self.rd.array()?);
                    if score.is_nan() {
                        return Err(self.corrupt_before(8, "sorted set score is NaN".into()));
                    }
                }
                n == 0
            }
            7 => {
                self.len()?; // module id
                self.module_value()?;
                false
            }
            9 => self.blob(Blob::Zipmap, false, 1)?,
            10 => self.blob(Blob::Ziplist, true, 1)?,
            11 => self.blob(Blob::Intset, false, 1)?,
            12 | 13 => self.blob(Blob::Ziplist, true, 2)?,
            // Quicklists: empty nodes are skipped, and a list of only those is empty.
            14 => {
                let mut empty = true;
                for _ in 0..self.count()? {
                    empty &= self.blob(Blob::Ziplist, true, 1)?;
                }
                empty
            }
            15 | 19 | 21 => {
                self.stream(t)?;
                false
            }
            16 | 17 => self.blob(Blob::Listpack, true, 2)?,
            18 => {
                let mut empty = true;
                for _ in 0..self.count()? {
                    let at = self.rd.offset();
                    match self.len()? {
                        1 => {
                            self.skip_string()?;
                            empty = false;
                        }
                        2 => empty &= self.blob(Blob::Listpack, true, 1)?,
                        c => {
                            return Err(Failure::Corrupt {
                                offset: at,
                                what: format!("quicklist node container {c}, not 1 or 2"),
                            })
                        }
                    }
                }
                empty
            }
            20 => self.blob(Blob::Listpack, true, 1)?,
            // Hashes with field expiry: 24 starts with the minimum expiry (8 bytes),
            // then (ttl, field, value) triples; 22 is its release-candidate form.
            22 | 24 => {
                if t == 24 {
                    self.rd.skip(8)?;
                }
                let n = self.count()?;
                for _ in 0..n {
                    self.len()?;
                    self.skip_string()?;
                    self.skip_string()?;
                }
                n == 0
            }
            // A listpack of (field, value, ttl) triples; 25 starts with the minimum expiry.
            23 | 25 => {
                if t == 25 {
                    self.rd.skip(8)?;
                }
                self.blob(Blob::Listpack, true, 3)?
            }
            _ => {
                return Err(self.corrupt_before(1, format!("unknown value type {t}")));
            }
        };
        Ok(empty)
    }

    /// A module value in check mode (rdbLoadCheckModuleValue): typed fields until
    /// the EOF sub-opcode 0.
    fn module_value(&mut self) -> Result<(), Failure> {
        loop {
            let at = self.rd.offset();
            match self.len()? {
                0 => return Ok(()),
                1 | 2 => {
                    self.len()?;
                }
                3 => self.rd.skip(4)?,
                4 => self.rd.skip(8)?,
                5 => self.skip_string()?,
                op => {
                    return Err(Failure::Corrupt {
                        offset: at,
                        what: format!("unknown module value opcode {op}"),
                    })
                }
            }
        }
    }

    /// Streams: listpack nodes, metadata, consumer groups with their pending entries
    /// and consumers. 19 adds first id, max deleted id, entries added and each group's
    /// entries read; 21 adds each consumer's active time.
    fn stream(&mut self, t: u8) -> Result<(), Failure> {
        for _ in 0..self.count()? {
            let at = self.rd.offset();
            match self.string(16)? {
                Some(key) if key.len() == 16 => {}
                _ => {
                    return Err(Failure::Corrupt {
                        offset: at,
                        what: "stream node key is not a 16-byte id".into(),
                    })
                }
            }
            self.blob(Blob::Listpack, false, 1)?;
        }
        // Length, last id; then first id, max deleted id, entries added.
        let fields = if t >= 19 { 8 } else { 3 };
        for _ in 0..fields {
            self.len()?;
        }
        for _ in 0..self.count()? {
            self.skip_string()?; // group name
            self.len()?;
            self.len()?; // last delivered id
            if t >= 19 {
                self.len()?; // entries read
            }
            for _ in 0..self.count()? {
                self.rd.skip(16 + 8)?; // id, delivery time
                self.len()?; // delivery count
            }
            for _ in 0..self.count()? {
                self.skip_string()?; // consumer name
                self.rd.skip(if t >= 21 { 16 } else { 8 })?; // seen (and active) time
                for _ in 0..self.count()? {
                    self.rd.skip(16)?;
                }
            }
        }
        Ok(())
    }
}

/// A short, printable picture of the first bytes, for [`Failure::NotRdb`].
pub(super) fn describe(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let text: String = head.escape_ascii().to_string();
    let hint = if head.first() == Some(&b'<') {
        " (an HTML or XML page?)"
    } else if head.first() == Some(&b'{') {
        " (a JSON document?)"
    } else {
        ""
    };
    format!("\"{text}\"{hint}")
}
