//! RDB-shaped bodies for the fake object store.
//!
//! The exporter proves a backup is real by downloading (part of) it and looking at what
//! it got, so the fake must serve bytes that look like a Redis dump: the `REDIS0009`
//! magic, a couple of aux fields, one database with one string key, the EOF opcode and
//! the trailing Redis CRC-64. The length is exact to the byte, which lets a scenario
//! model a truncated upload by serving fewer bytes than `BackupSize` claims.

use thiserror::Error;

/// The checksum Redis appends to an RDB file (Jones polynomial, reflected).
const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

const MAGIC: &[u8] = b"REDIS0009";
const OP_AUX: u8 = 0xFA;
const OP_SELECTDB: u8 = 0xFE;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EOF: u8 = 0xFF;
const TYPE_STRING: u8 = 0x00;
const KEY: &[u8] = b"demo";
const TRAILER_LEN: usize = 8;

/// The smallest complete body: everything but the filler value. Shorter requests get a
/// prefix of this, which `verify` rightly rejects.
pub const MIN_LEN: u64 = (fixed_prefix_len() + 1 + 1 + TRAILER_LEN) as u64;

/// Why a body is not a plausible RDB file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RdbError {
    #[error("too short for an RDB file: {0} bytes")]
    TooShort(usize),
    #[error("missing the REDIS magic and version")]
    BadMagic,
    #[error("no EOF opcode before the checksum")]
    MissingEof,
    #[error("CRC-64 mismatch: trailer says {stored:#018x}, content hashes to {computed:#018x}")]
    ChecksumMismatch { stored: u64, computed: u64 },
}

/// An RDB-shaped file of exactly `len` bytes whose value filler is derived from `seed`.
pub fn body(len: u64, seed: u64) -> Vec<u8> {
    let Ok(len) = usize::try_from(len) else {
        // Unreachable on 64-bit targets; an empty body is the honest failure elsewhere.
        return Vec::new();
    };
    let min = MIN_LEN as usize;
    if len < min {
        let mut full = body(MIN_LEN, seed);
        full.truncate(len);
        return full;
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    aux(&mut out, b"redis-ver", b"5.0.14");
    out.extend_from_slice(&[OP_SELECTDB, 0x00, TYPE_STRING]);
    put_len(&mut out, KEY.len() as u64, 1);
    out.extend_from_slice(KEY);
    debug_assert_eq!(out.len(), fixed_prefix_len());

    // Whatever is left holds the value's length prefix, the value, EOF and the CRC.
    let remaining = len - out.len() - 1 - TRAILER_LEN;
    let (value_len, prefix_len) = value_layout(remaining as u64);
    put_len(&mut out, value_len, prefix_len);
    filler(&mut out, value_len as usize, seed);
    out.push(OP_EOF);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A complete dump without keys: magic, the `redis-ver` AUX field, EOF, CRC-64.
pub fn keyless() -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    aux(&mut out, b"redis-ver", b"5.0.14");
    out.push(OP_EOF);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A complete dump of `keys` string keys in db 0 (`key:0`, `key:1`, …, each holding
/// `value_len` filler bytes), announced by a RESIZEDB opcode declaring `declared` keys
/// and no expires, as Redis 3.2 and later write it (Redis declares the true count;
/// another `declared` models a writer that does not).
pub fn with_keys(keys: u64, value_len: usize, declared: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    aux(&mut out, b"redis-ver", b"5.0.14");
    out.extend_from_slice(&[OP_SELECTDB, 0x00, OP_RESIZEDB]);
    put_len(&mut out, declared, 5);
    put_len(&mut out, 0, 1);
    for i in 0..keys {
        out.push(TYPE_STRING);
        let key = format!("key:{i}");
        put_len(&mut out, key.len() as u64, 1);
        out.extend_from_slice(key.as_bytes());
        put_len(&mut out, value_len as u64, 5);
        filler(&mut out, value_len, i);
    }
    out.push(OP_EOF);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The keys of [`empty_keys`]: each an empty collection in one of the encodings Redis
/// has written, named after it, with its value type and value.
pub const EMPTY_KEYS: [(&str, u8, &[u8]); 14] = [
    ("set", 2, &[0]),
    ("list", 1, &[0]),
    ("list_quicklist", 14, &[0]),
    // One node: an empty ziplist (zlbytes 11, zltail 10, zllen 0, end).
    (
        "list_quicklist_empty_ziplist",
        14,
        &[1, 11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF],
    ),
    (
        "list_ziplist",
        10,
        &[11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF],
    ),
    ("hash", 4, &[0]),
    (
        "hash_ziplist",
        13,
        &[11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF],
    ),
    ("zset", 3, &[0]),
    ("zset_2", 5, &[0]),
    (
        "zset_ziplist",
        12,
        &[11, 11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF],
    ),
    // An empty listpack: total 7, count 0, end.
    ("zset_listpack", 17, &[7, 7, 0, 0, 0, 0, 0, 0xFF]),
    ("hash_listpack", 16, &[7, 7, 0, 0, 0, 0, 0, 0xFF]),
    ("list_quicklist_2", 18, &[0]),
    // One packed node (container 2): an empty listpack.
    (
        "list_quicklist_2_empty_listpack",
        18,
        &[1, 2, 7, 7, 0, 0, 0, 0, 0, 0xFF],
    ),
];

/// The essence of Redis' own `tests/assets/corrupt_empty_keys.rdb`: an RDB 10 dump
/// (Redis 7.0) whose keys ([`EMPTY_KEYS`]) all hold empty collections, plus one
/// string key `str` when `with_a_key`. redis-server loads it and skips every empty one
/// ("empty keys skipped: 14"); redis-check-rdb calls it an error.
pub fn empty_keys(with_a_key: bool) -> Vec<u8> {
    let mut out = b"REDIS0010".to_vec();
    aux(&mut out, b"redis-ver", b"7.0.15");
    out.extend_from_slice(&[OP_SELECTDB, 0x00]);
    for (name, t, value) in EMPTY_KEYS {
        out.push(t);
        put_len(&mut out, name.len() as u64, 1);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value);
    }
    if with_a_key {
        out.extend_from_slice(&[TYPE_STRING, 3]);
        out.extend_from_slice(b"str");
        out.extend_from_slice(&[1, b'v']);
    }
    out.push(OP_EOF);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the magic, the EOF opcode before the trailer and the CRC-64.
pub fn verify(bytes: &[u8]) -> Result<(), RdbError> {
    if bytes.len() < MAGIC.len() + 1 + TRAILER_LEN {
        return Err(RdbError::TooShort(bytes.len()));
    }
    let version_ok = bytes[5..9].iter().all(u8::is_ascii_digit);
    if !bytes.starts_with(b"REDIS") || !version_ok {
        return Err(RdbError::BadMagic);
    }
    let (content, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
    if content.last() != Some(&OP_EOF) {
        return Err(RdbError::MissingEof);
    }
    let mut stored = [0u8; TRAILER_LEN];
    stored.copy_from_slice(trailer);
    let stored = u64::from_le_bytes(stored);
    let computed = CRC64.checksum(content);
    if stored != computed {
        return Err(RdbError::ChecksumMismatch { stored, computed });
    }
    Ok(())
}

const fn fixed_prefix_len() -> usize {
    let aux_len = 1 + 1 + b"redis-ver".len() + 1 + b"5.0.14".len();
    MAGIC.len() + aux_len + 3 + 1 + KEY.len()
}

fn aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(OP_AUX);
    for s in [key, value] {
        put_len(out, s.len() as u64, 1);
        out.extend_from_slice(s);
    }
}

/// Splits `remaining` bytes into a length prefix and a value. Some totals have no
/// minimal encoding (65 = 64 + 1 byte, but 64 needs 2 bytes), so the prefix may be
/// wider than necessary; Redis' loader accepts any width.
fn value_layout(remaining: u64) -> (u64, usize) {
    for (prefix, capacity) in [(1usize, 1u64 << 6), (2, 1 << 14), (5, 1 << 32)] {
        if let Some(v) = remaining.checked_sub(prefix as u64) {
            if v < capacity {
                return (v, prefix);
            }
        }
    }
    (remaining.saturating_sub(9), 9)
}

/// Redis length encoding with a chosen width: 6-bit, 14-bit, 0x80 + 32-bit BE or
/// 0x81 + 64-bit BE.
fn put_len(out: &mut Vec<u8>, v: u64, width: usize) {
    match width {
        1 => out.push((v & 0x3F) as u8),
        2 => out.extend_from_slice(&[0x40 | ((v >> 8) & 0x3F) as u8, (v & 0xFF) as u8]),
        5 => {
            out.push(0x80);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(0x81);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Printable pseudo-random bytes, so a hexdump of a demo download looks like data.
fn filler(out: &mut Vec<u8>, n: usize, seed: u64) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_";
    let start = out.len();
    out.resize(start + n, 0);
    let mut rng = fastrand::Rng::with_seed(seed);
    rng.fill(&mut out[start..]);
    for b in &mut out[start..] {
        *b = ALPHABET[usize::from(*b & 0x3F)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_the_redis_one() {
        // The check value from Redis' own crc64.c self-test.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn round_trip_many_lengths() {
        let lens = [
            MIN_LEN,
            MIN_LEN + 1,
            MIN_LEN + 63,
            MIN_LEN + 64,
            MIN_LEN + 65,
            MIN_LEN + 66,
            1000,
            16_384 + 40,
            16_384 + 41,
            300_000,
            2 * 1024 * 1024,
        ];
        for len in lens {
            let b = body(len, 7);
            assert_eq!(b.len() as u64, len, "len {len}");
            assert!(b.starts_with(b"REDIS0009"));
            verify(&b).unwrap_or_else(|e| panic!("len {len}: {e}"));
        }
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(body(500, 1), body(500, 1));
        assert_ne!(body(500, 1), body(500, 2));
    }

    #[test]
    fn length_prefix_matches_value() {
        // layout: prefix, value len-encoding, value, EOF, CRC
        let b = body(MIN_LEN + 100, 3);
        let p = fixed_prefix_len();
        assert_eq!(b[p] & 0xC0, 0x40);
        let v = (usize::from(b[p] & 0x3F) << 8) | usize::from(b[p + 1]);
        assert_eq!(p + 2 + v + 1 + 8, b.len());
    }

    #[test]
    fn short_lengths_are_prefixes_and_fail_verify() {
        let full = body(MIN_LEN, 9);
        for len in [0, 1, 9, 20, MIN_LEN - 1] {
            let b = body(len, 9);
            assert_eq!(b.len() as u64, len);
            assert_eq!(&full[..b.len()], &b[..]);
            assert!(verify(&b).is_err());
        }
    }

    #[test]
    fn flipping_any_byte_fails() {
        let good = body(4096, 5);
        for i in [0, 3, 12, 40, 2000, 4086, 4087, 4095] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(verify(&bad).is_err(), "flip at {i} went unnoticed");
        }
        let mut bad = good.clone();
        bad[2000] ^= 0x01;
        assert!(matches!(
            verify(&bad),
            Err(RdbError::ChecksumMismatch { .. })
        ));
        assert_eq!(verify(&good[..good.len() - 1]), Err(RdbError::MissingEof));
        assert_eq!(verify(b"NOTREDIS0\xff12345678"), Err(RdbError::BadMagic));
    }
}
