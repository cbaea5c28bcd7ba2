//! Objects for the verification stories: what a backup's download can really hold
//! besides a sound dump — one without keys, one damaged in place, one cut short but of
//! the size CDS reports, an error page served with 200, sound dumps inside gzip and
//! tar containers, and a decompression bomb.

use std::io::Write as _;

use super::rdb;

/// A sound dump of `len` bytes ([`rdb::body`]).
pub fn sound(len: u64, seed: u64) -> Vec<u8> {
    rdb::body(len, seed)
}

/// A sound dump of `keys` string keys of `value_len` bytes, whose RESIZEDB opcode
/// declares them, as Redis writes it ([`rdb::with_keys`]).
pub fn with_keys(keys: u64, value_len: usize) -> Vec<u8> {
    rdb::with_keys(keys, value_len, keys)
}

/// A sound dump without a single key: a flushed database, a wrongly pointed backup.
pub fn empty() -> Vec<u8> {
    rdb::keyless()
}

/// A sound dump of `len` bytes with one bit flipped in the middle of its value: every
/// record still parses, the checksum does not match.
pub fn bit_flipped(len: u64, seed: u64) -> Vec<u8> {
    let mut out = rdb::body(len, seed);
    let mid = out.len() / 2;
    if let Some(b) = out.get_mut(mid) {
        *b ^= 0x04;
    }
    out
}

/// The first `len` bytes of a dump twice as long: exactly the size CDS reports, but
/// the dump ends before its end marker.
pub fn cut_short(len: u64, seed: u64) -> Vec<u8> {
    let mut out = rdb::body(len.saturating_mul(2), seed);
    out.truncate(usize::try_from(len).unwrap_or(usize::MAX));
    out
}

/// An HTML error page padded to `len` bytes, as a misconfigured proxy serves it with 200.
pub fn html_page(len: u64) -> Vec<u8> {
    let mut out =
        b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>503</h1>"
            .to_vec();
    let len = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .max(out.len() + 14);
    out.resize(len - 14, b' ');
    out.extend_from_slice(b"</body></html>");
    out
}

/// A sound dump whose header claims RDB version 99, which no Redis has written.
pub fn future_version(len: u64, seed: u64) -> Vec<u8> {
    let mut out = rdb::body(len, seed);
    if let Some(v) = out.get_mut(5..9) {
        v.copy_from_slice(b"0099");
    }
    out
}

/// `data` gzipped.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// `data` as the one file of a tar archive.
pub fn tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    let mut b = tar::Builder::new(Vec::new());
    // Appending to a Vec cannot fail for a name this short.
    let _ = b.append_data(&mut header, name, data);
    b.into_inner().unwrap_or_default()
}

/// What one string of [`lzf_bomb`] inflates to: the walker's cap for inflating LZF.
pub const BOMB_STRING: usize = 256 * 1024;

/// A gzip/LZF bomb: a sound dump (unique keys, a correct CRC-64) of `records` string
/// keys whose values are stored LZF-compressed at the format's best ratio (one literal,
/// then back references of 264 bytes in 3), 2,981 bytes inflating to [`BOMB_STRING`];
/// gzip then squeezes the near-identical records further. 1,000 records: 7,843 bytes
/// on the wire (it fits in the light check's head, so it is checked whole), 3 MB of
/// RDB, 256 MiB of strings: over 34,000 bytes of work per byte downloaded.
pub fn lzf_bomb(records: usize) -> Vec<u8> {
    let mut lzf = vec![0x00, b'x'];
    let mut left = BOMB_STRING - 1;
    while left > 0 {
        let n = left.min(264);
        // Length n - 2 = 7 + the extra byte; distance 1 (low 13 bits all zero, plus one).
        lzf.extend_from_slice(&[0xE0, (n - 9) as u8, 0x00]);
        left -= n;
    }
    let mut rdb = b"REDIS0009".to_vec();
    rdb.extend_from_slice(&[0xFE, 0x00]);
    for i in 0..records {
        let key = format!("bomb:{i:08}");
        rdb.push(0x00);
        rdb.push(key.len() as u8);
        rdb.extend_from_slice(key.as_bytes());
        rdb.push(0xC3);
        // 14-bit length, then 32-bit length (big-endian), as Redis encodes them.
        rdb.extend_from_slice(&[0x40 | (lzf.len() >> 8) as u8, lzf.len() as u8]);
        rdb.push(0x80);
        rdb.extend_from_slice(&(BOMB_STRING as u32).to_be_bytes());
        rdb.extend_from_slice(&lzf);
    }
    rdb.push(0xFF);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&rdb);
    rdb.extend_from_slice(&crc.to_le_bytes());
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&rdb);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{inspect, verify, Container, Failure};

    #[test]
    fn each_object_gets_the_verdict_its_story_needs() {
        assert!(matches!(
            verify(&future_version(4096, 1)[..]),
            Err(Failure::UnsupportedVersion { version: 99 })
        ));
        let ok = verify(&sound(4096, 1)[..]).map(|s| s.keys);
        assert_eq!(ok, Ok(1));
        assert_eq!(verify(&empty()[..]).map(|s| s.keys), Ok(0));
        assert!(matches!(
            verify(&bit_flipped(4096, 1)[..]),
            Err(Failure::ChecksumMismatch { .. })
        ));
        let short = cut_short(4096, 1);
        assert_eq!(short.len(), 4096);
        assert!(matches!(verify(&short[..]), Err(Failure::Truncated { .. })));
        assert!(matches!(
            verify(&html_page(4096)[..]),
            Err(Failure::NotRdb { .. })
        ));
        assert_eq!(html_page(4096).len(), 4096);
        let gz = verify(&gzip(&sound(4096, 2))[..]).map(|s| s.head.container);
        assert_eq!(gz, Ok(Container::Gzip));
        let tarred = verify(&tar("dump.rdb", &sound(4096, 3))[..]).map(|s| s.head.container);
        assert_eq!(tarred, Ok(Container::Tar));
        let whole = tar("dump.rdb", &sound(100_000, 3));
        let head = &whole[..64 * 1024];
        assert_eq!(
            inspect(head, &whole[whole.len() - 9..], whole.len() as u64).map(|h| h.container),
            Ok(Container::Tar)
        );
    }

    #[test]
    fn the_bomb_is_small_sound_and_stopped_by_the_work_cap() {
        use std::io::Read as _;
        let bomb = lzf_bomb(1000);
        assert_eq!(bomb.len(), 7843);
        let mut rdb = Vec::new();
        flate2::read::GzDecoder::new(&bomb[..])
            .read_to_end(&mut rdb)
            .unwrap();
        // Bare, LZF alone stays under the cap: every key is counted.
        assert_eq!(verify(&rdb[..]).map(|s| s.keys), Ok(1000));
        // Gzipped, the work would be 34,000 times the download: stopped.
        assert!(matches!(
            verify(&bomb[..]),
            Err(Failure::Inflated { input: 7843, .. })
        ));
        // A sound gzipped dump is not.
        assert!(verify(&gzip(&sound(1 << 20, 4))[..]).is_ok());
    }
}
