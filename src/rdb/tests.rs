//! Hand-built dumps for every opcode, value type and encoding, the containers, the
//! refusals, and properties over arbitrary input.

use std::io::Write as _;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::reader::CRC64;
use super::*;

/// A length in RDB encoding, in its shortest form.
pub(super) fn len(n: u64) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else if n < 16384 {
        vec![0x40 | (n >> 8) as u8, n as u8]
    } else if n <= u64::from(u32::MAX) {
        let mut v = vec![0x80];
        v.extend((n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![0x81];
        v.extend(n.to_be_bytes());
        v
    }
}

/// A plain string.
pub(super) fn s(bytes: &[u8]) -> Vec<u8> {
    let mut v = len(bytes.len() as u64);
    v.extend_from_slice(bytes);
    v
}

fn start(version: u32) -> Vec<u8> {
    format!("REDIS{version:04}").into_bytes()
}

/// EOF opcode and the right checksum.
pub(super) fn finish(mut v: Vec<u8>) -> Vec<u8> {
    v.push(0xFF);
    let crc = CRC64.checksum(&v);
    v.extend(crc.to_le_bytes());
    v
}

/// A version-11 dump of `body` with a redis-ver AUX field.
fn dump(body: &[u8]) -> Vec<u8> {
    let mut v = start(11);
    v.push(0xFA);
    v.extend(s(b"redis-ver"));
    v.extend(s(b"7.2.4"));
    v.extend_from_slice(body);
    finish(v)
}

/// One key `k` of type `t` with `value`, in db 0.
fn record(t: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend(s(b"k"));
    v.extend_from_slice(value);
    v
}

fn listpack(count: u16, entries: &[u8]) -> Vec<u8> {
    let total = (6 + entries.len() + 1) as u32;
    let mut v = total.to_le_bytes().to_vec();
    v.extend(count.to_le_bytes());
    v.extend_from_slice(entries);
    v.push(0xFF);
    v
}

/// A listpack of `n` small integers (1-byte encoding, 1-byte back length).
fn lp_ints(n: u16) -> Vec<u8> {
    let entries: Vec<u8> = (0..n).flat_map(|i| [(i % 100) as u8, 1]).collect();
    listpack(n, &entries)
}

/// A ziplist of `n` 4-bit immediate integers (prevlen, encoding 0xF1..).
fn ziplist(n: u16) -> Vec<u8> {
    let entries: Vec<u8> = (0..n)
        .flat_map(|i| [if i == 0 { 0 } else { 2 }, 0xF1 + (i % 12) as u8])
        .collect();
    let total = (10 + entries.len() + 1) as u32;
    let tail = if n == 0 {
        10
    } else {
        10 + entries.len() as u32 - 2
    };
    let mut v = total.to_le_bytes().to_vec();
    v.extend(tail.to_le_bytes());
    v.extend(n.to_le_bytes());
    v.extend(entries);
    v.push(0xFF);
    v
}

fn intset(values: &[i16]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    v.extend((values.len() as u32).to_le_bytes());
    for x in values {
        v.extend(x.to_le_bytes());
    }
    v
}

fn zipmap() -> Vec<u8> {
    vec![1, 1, b'a', 1, 0, b'b', 0xFF]
}

fn ok(bytes: &[u8]) -> Summary {
    match verify(bytes) {
        Ok(s) => s,
        Err(e) => panic!("expected Ok, got {e:?} ({e})"),
    }
}

fn corrupt(bytes: &[u8]) -> String {
    match verify(bytes) {
        Err(Failure::Corrupt { what, .. }) => what,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn crc64_check_value() {
    assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
}

#[test]
fn minimal_dump_with_aux_fields() {
    let mut v = start(11);
    for (k, val) in [
        (&b"redis-ver"[..], s(b"7.2.4")),
        (b"redis-bits", vec![0xC0, 64]),
        (
            b"ctime",
            [vec![0xC2], 1_700_000_000i32.to_le_bytes().to_vec()].concat(),
        ),
        (
            b"used-mem",
            [vec![0xC2], 1_000_000i32.to_le_bytes().to_vec()].concat(),
        ),
        (b"aof-base", vec![0xC0, 0]),
        (b"repl-id", s(b"0123456789abcdef0123456789abcdef01234567")),
        (
            b"repl-offset",
            [vec![0xC1], 300i16.to_le_bytes().to_vec()].concat(),
        ),
        (b"unknown-field", s(b"whatever")),
    ] {
        v.push(0xFA);
        v.extend(s(k));
        v.extend(val);
    }
    let v = finish(v);
    let sum = ok(&v);
    let aux = Aux {
        redis_ver: Some("7.2.4".into()),
        redis_bits: Some(64),
        ctime: Some(1_700_000_000),
        used_mem: Some(1_000_000),
        aof_base: Some(false),
        repl_id: Some("0123456789abcdef0123456789abcdef01234567".into()),
        repl_offset: Some(300),
    };
    assert_eq!(sum.head.aux, aux);
    assert_eq!(sum.head.version, 11);
    assert_eq!(sum.head.container, Container::Raw);
    assert_eq!(sum.checksum, Checksum::Verified);
    assert_eq!(sum.keys, 0);
    assert_eq!(sum.bytes, v.len() as u64);
    // The light check reads the same fields.
    let head = inspect(&v, &v[v.len() - TAIL_BYTES..], v.len() as u64).unwrap();
    assert_eq!(head.aux, aux);
    // A head cut inside the AUX fields is no error: it just knows less.
    let head = inspect(&v[..30], &v[v.len() - TAIL_BYTES..], v.len() as u64).unwrap();
    assert_eq!(head.aux.redis_ver.as_deref(), Some("7.2.4"));
    assert_eq!(head.aux.redis_bits, None);
}

#[test]
fn every_opcode() {
    let mut b = Vec::new();
    b.extend([0xF4]); // SLOT_INFO
    b.extend([len(5), len(1), len(0)].concat());
    b.push(0xF5); // FUNCTION2
    b.extend(s(
        b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",
    ));
    b.push(0xF7); // MODULE_AUX: id, when-opcode 2, when, value
    b.extend(len(0x1234_5678_9abc));
    b.extend([2, 2]);
    b.extend([1, 5, 4, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 0, 0, 0]);
    b.extend([0xFE, 0]); // SELECTDB 0
    b.extend([0xFB, 2, 1]); // RESIZEDB
    b.extend([0xF8, 10]); // IDLE
    b.extend(record(0, &s(b"v")));
    b.extend([0xF9, 3]); // FREQ
    b.push(0xFC); // EXPIRETIME_MS
    b.extend(1_700_000_000_000u64.to_le_bytes());
    b.extend(record(0, &s(b"v")));
    b.extend([0xFE, 3]); // SELECTDB 3
    b.push(0xFD); // EXPIRETIME
    b.extend(1_700_000_000u32.to_le_bytes());
    b.extend(record(0, &[0xC0, 7]));
    b.extend(record(0, &[0xC1, 7, 0]));
    let sum = ok(&dump(&b));
    assert_eq!(sum.keys, 4);
    assert_eq!(sum.keys_with_expiry, 2);
    assert_eq!(sum.keys_per_db, [(0, 2), (3, 2)].into());

    // MODULE_AUX with a when-opcode other than 2.
    assert!(corrupt(&dump(&[0xF7, 1, 1, 2, 0])).contains("when-opcode"));
    // FUNCTION_PRE_GA: 7.0 release candidates only.
    assert_eq!(
        verify(&dump(&[0xF6, 0][..])[..]),
        Err(Failure::UnsupportedVersion { version: 11 })
    );
}

#[test]
fn every_value_type() {
    let two = |a: &[u8], b: &[u8]| [s(a), s(b)].concat();
    let values: Vec<(u8, Vec<u8>)> = vec![
        (0, s(b"plain")),
        (1, [len(2), two(b"a", b"b")].concat()),
        (2, [len(2), two(b"a", b"b")].concat()),
        (
            3,
            [
                len(3),
                s(b"a"),
                s(b"1.5"),
                s(b"b"),
                vec![254],
                s(b"c"),
                vec![255],
            ]
            .concat(),
        ),
        (4, [len(1), two(b"f", b"v")].concat()),
        (5, [len(1), s(b"m"), 2.5f64.to_le_bytes().to_vec()].concat()),
        (
            7,
            [
                len(99),
                vec![1, 5, 2, 6, 3, 0, 0, 0, 0, 5],
                s(b"x"),
                vec![0],
            ]
            .concat(),
        ),
        (
            7,
            [len(99), vec![5], s(b"module"), vec![4], vec![0; 8], vec![0]].concat(),
        ),
        (9, s(&zipmap())),
        (10, s(&ziplist(3))),
        (11, s(&intset(&[1, 2, 3]))),
        (12, s(&ziplist(4))),
        (13, s(&ziplist(2))),
        (14, [len(2), s(&ziplist(3)), s(&ziplist(0))].concat()),
        (16, s(&lp_ints(2))),
        (17, s(&lp_ints(4))),
        (
            18,
            [
                len(3),
                vec![2],
                s(&lp_ints(5)),
                vec![1],
                s(b"plain node"),
                vec![2],
                s(&lp_ints(0)),
            ]
            .concat(),
        ),
        (20, s(&lp_ints(3))),
        (22, [len(1), len(0), two(b"f", b"v")].concat()),
        (23, s(&lp_ints(3))),
        (
            24,
            [
                vec![0; 8],
                len(2),
                len(0),
                two(b"f", b"v"),
                len(5),
                two(b"g", b"w"),
            ]
            .concat(),
        ),
        (25, [vec![0; 8], s(&lp_ints(6))].concat()),
    ];
    for (t, value) in &values {
        let sum = ok(&dump(&record(*t, value)));
        assert_eq!(sum.keys, 1, "type {t}");
    }
    let all: Vec<u8> = values.iter().flat_map(|(t, v)| record(*t, v)).collect();
    assert_eq!(ok(&dump(&all)).keys, values.len() as u64);

    assert_eq!(
        verify(&dump(&record(6, b""))[..]),
        Err(Failure::UnsupportedVersion { version: 11 })
    );
    for t in [8, 26, 200] {
        assert!(
            corrupt(&dump(&record(t, b""))).contains("unknown"),
            "type {t}"
        );
    }
    // Empty intsets and zipmaps fail Redis' integrity check (other empty collections
    // are skipped: `empty_keys_are_skipped_as_redis_server_does`).
    assert!(corrupt(&dump(&record(11, &s(&intset(&[]))))).contains("without any element"));
    assert!(corrupt(&dump(&record(9, &s(&[0, 0xFF])))).contains("without any element"));
    // Odd field/value counts, a NaN score, a bad quicklist container, a bad module opcode.
    assert!(corrupt(&dump(&record(16, &s(&lp_ints(3))))).contains("multiple of 2"));
    assert!(
        corrupt(&dump(&record(25, &[vec![0; 8], s(&lp_ints(4))].concat())))
            .contains("multiple of 3")
    );
    let nan = [len(1), s(b"m"), f64::NAN.to_le_bytes().to_vec()].concat();
    assert!(corrupt(&dump(&record(5, &nan))).contains("NaN"));
    assert!(
        corrupt(&dump(&record(18, &[len(1), vec![3], s(b"x")].concat()))).contains("container")
    );
    assert!(corrupt(&dump(&record(7, &[len(1), vec![9]].concat()))).contains("module"));
}

/// A stream of each version: one node, two groups with PEL entries and consumers.
fn stream(t: u8) -> Vec<u8> {
    let mut v = len(1);
    v.extend(s(&[0u8; 16]));
    v.extend(s(&lp_ints(4)));
    v.extend([len(3), len(1_700_000_000_000), len(2)].concat());
    if t >= 19 {
        v.extend([len(1), len(0), len(0), len(0), len(3)].concat());
    }
    v.extend(len(1)); // groups
    v.extend(s(b"group"));
    v.extend([len(1_700_000_000_000), len(1)].concat());
    if t >= 19 {
        v.extend(len(2));
    }
    v.extend(len(1)); // group PEL
    v.extend([0u8; 16]);
    v.extend([0u8; 8]);
    v.extend(len(1));
    v.extend(len(1)); // consumers
    v.extend(s(b"alice"));
    v.extend([0u8; 8]);
    if t >= 21 {
        v.extend([0u8; 8]);
    }
    v.extend(len(1));
    v.extend([0u8; 16]);
    v
}

#[test]
fn streams_of_each_version() {
    for t in [15, 19, 21] {
        assert_eq!(ok(&dump(&record(t, &stream(t)))).keys, 1, "type {t}");
        // Each version's layout differs: reading one as another fails.
        let other = if t == 21 { 19 } else { 21 };
        assert!(verify(&dump(&record(other, &stream(t)))[..]).is_err());
    }
    let mut bad_key = stream(19);
    bad_key[1] = 15; // a 15-byte node key
    assert!(verify(&dump(&record(19, &bad_key))[..]).is_err());
}

#[test]
fn length_encodings() {
    // The same 3-byte string with its length in each width.
    for l in [
        vec![3],
        vec![0x40, 3],
        vec![0x80, 0, 0, 0, 3],
        vec![0x81, 0, 0, 0, 0, 0, 0, 0, 3],
    ] {
        assert_eq!(
            ok(&dump(&record(0, &[l, b"abc".to_vec()].concat()))).keys,
            1
        );
    }
    let long = vec![b'x'; 300];
    assert_eq!(&s(&long)[..2], &[0x41, 0x2C]);
    assert_eq!(ok(&dump(&record(0, &s(&long)))).keys, 1);
    let big = vec![b'y'; 70_000];
    assert_eq!(s(&big)[0], 0x80);
    assert_eq!(ok(&dump(&record(0, &s(&big)))).keys, 1);
    for b in [0x82u8, 0x90, 0xBF] {
        assert!(
            corrupt(&dump(&record(0, &[b, 0, 0, 0, 0, 0, 0, 0, 0]))).contains("length encoding")
        );
    }
}

#[test]
fn string_encodings() {
    for v in [vec![0xC0, 0xFF], vec![0xC1, 1, 2], vec![0xC2, 1, 2, 3, 4]] {
        assert_eq!(ok(&dump(&record(0, &v))).keys, 1);
    }
    assert!(corrupt(&dump(&record(0, &[0xC4, 0]))).contains("string encoding"));
    // LZF: literal "a", then a back reference of 9 bytes at distance 1.
    let packed = [0x00, b'a', 0xE0, 0x00, 0x00];
    assert_eq!(blobs::lzf(&packed, 10).unwrap(), b"aaaaaaaaaa");
    let lzf = |ulen: u64| {
        [
            vec![0xC3],
            len(packed.len() as u64),
            len(ulen),
            packed.to_vec(),
        ]
        .concat()
    };
    assert_eq!(ok(&dump(&record(0, &lzf(10)))).keys, 1);
    assert!(corrupt(&dump(&record(0, &lzf(11)))).contains("LZF"));
    assert!(corrupt(&dump(&record(0, &lzf(9)))).contains("LZF"));
    // A reference before the start, a literal run past the end.
    assert!(blobs::lzf(&[0x20, 0x05], 10).is_err());
    assert!(blobs::lzf(&[0x05, b'a'], 6).is_err());
    // A compressed blob is inflated and checked like a plain one.
    let lp = lp_ints(3);
    let lit = [vec![(lp.len() - 1) as u8], lp.clone()].concat();
    let blob = [vec![0xC3], len(lit.len() as u64), len(lp.len() as u64), lit].concat();
    assert_eq!(ok(&dump(&record(20, &blob))).keys, 1);
}

#[test]
fn blob_headers() {
    let mut lp = lp_ints(2);
    lp[0] += 1; // total bytes off by one
    assert!(corrupt(&dump(&record(16, &s(&lp)))).contains("says"));
    let mut lp = lp_ints(2);
    *lp.last_mut().unwrap() = 0;
    assert!(corrupt(&dump(&record(16, &s(&lp)))).contains("0xFF"));
    let mut lp = lp_ints(2);
    lp[4] = 200; // more entries than bytes
    assert!(corrupt(&dump(&record(16, &s(&lp)))).contains("claims"));
    let mut zl = ziplist(2);
    zl[4] = 200; // tail outside
    assert!(corrupt(&dump(&record(10, &s(&zl)))).contains("tail"));
    let mut is = intset(&[1, 2]);
    is[0] = 3;
    assert!(corrupt(&dump(&record(11, &s(&is)))).contains("3-byte"));
    assert!(corrupt(&dump(&record(11, &s(&intset(&[1, 2])[..10])))).contains("intset of 2"));
    assert!(corrupt(&dump(&record(9, &s(&[1, 0xFF])))).contains("zipmap claims"));
}

#[test]
fn checksum_trailer_and_end() {
    let good = dump(&record(0, &s(b"v")));
    let n = good.len();
    let mut bad = good.clone();
    bad[n - 1] ^= 1;
    assert!(matches!(
        verify(&bad[..]),
        Err(Failure::ChecksumMismatch { .. })
    ));
    let mut zero = good.clone();
    zero[n - 8..].fill(0);
    assert_eq!(ok(&zero).checksum, Checksum::Disabled);
    // A value byte changed: only the checksum can tell.
    let mut flipped = good.clone();
    flipped[n - 10] = b'w';
    assert!(matches!(
        verify(&flipped[..]),
        Err(Failure::ChecksumMismatch { .. })
    ));
    // Bytes after the trailer: redis-server stops at the checksum and loads the dump.
    let mut extra = good.clone();
    extra.extend(b"\nappended");
    let sum = ok(&extra);
    assert_eq!((sum.keys, sum.bytes, sum.trailing_bytes), (1, n as u64, 9));
    assert_eq!(ok(&good).trailing_bytes, 0);
    // Version 4: no checksum at all.
    let mut old = start(4);
    old.extend(record(0, &s(b"v")));
    old.push(0xFF);
    assert_eq!(ok(&old).checksum, Checksum::Absent);
    assert!(inspect(&old, &old[old.len() - TAIL_BYTES..], old.len() as u64).is_ok());
}

#[test]
fn refusals_of_the_header() {
    let html = b"<!DOCTYPE html><html><body>403 Forbidden</body></html>";
    let e = verify(&html[..]).unwrap_err();
    assert!(matches!(e, Failure::NotRdb { .. }));
    assert!(e.to_string().contains("<!DOCTYPE html><"), "{e}");
    assert!(e.to_string().contains("HTML"), "{e}");
    assert!(matches!(
        inspect(html, &html[html.len() - 9..], html.len() as u64).unwrap_err(),
        Failure::NotRdb { .. }
    ));
    assert_eq!(
        verify(&b"REDIS0013"[..]),
        Err(Failure::UnsupportedVersion { version: 13 })
    );
    assert_eq!(
        verify(&b"REDIS0080xxxx"[..]),
        Err(Failure::UnsupportedVersion { version: 80 })
    );
    assert_eq!(
        verify(&b"REDIS0000"[..]),
        Err(Failure::UnsupportedVersion { version: 0 })
    );
    assert!(matches!(
        verify(&b"REDIS00a1"[..]).unwrap_err(),
        Failure::NotRdb { .. }
    ));
    assert_eq!(verify(&b""[..]), Err(Failure::Truncated { offset: 0 }));
    assert_eq!(verify(&b"RED"[..]), Err(Failure::Truncated { offset: 3 }));
}

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A ustar archive holding `name` with `bytes`, with a pax header before it.
fn tar(bytes: &[u8]) -> Vec<u8> {
    fn header(name: &str, size: usize, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }
    let pad = |v: &mut Vec<u8>| v.resize(v.len().div_ceil(512) * 512, 0);
    let pax = b"30 path=backups/dump-2024.rdb\n";
    let mut v = header("PaxHeader", pax.len(), b'x');
    v.extend(pax);
    pad(&mut v);
    v.extend(header("dump.rdb", bytes.len(), b'0'));
    v.extend(bytes);
    pad(&mut v);
    v.extend([0u8; 1024]);
    v
}

#[test]
fn containers() {
    let raw = dump(&record(0, &s(b"v")));
    let want = ok(&raw);
    for (container, bytes) in [
        (Container::Gzip, gzip(&raw)),
        (Container::Tar, tar(&raw)),
        (Container::TarGz, gzip(&tar(&raw))),
    ] {
        let mut got = ok(&bytes);
        assert_eq!(got.head.container, container);
        got.head.container = Container::Raw;
        assert_eq!(got, want, "{container:?}");
        let head = inspect(
            &bytes,
            &bytes[bytes.len() - TAIL_BYTES..],
            bytes.len() as u64,
        )
        .unwrap();
        assert_eq!(head.container, container);
        assert_eq!(head.aux.redis_ver.as_deref(), Some("7.2.4"));
    }
    // A gzip head cut short still shows the start.
    let big = dump(&record(
        0,
        &s(&(0..200_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<_>>()),
    ));
    let gz = gzip(&big);
    let head = inspect(&gz[..HEAD_BYTES], &gz[gz.len() - 9..], gz.len() as u64).unwrap();
    assert_eq!((head.container, head.version), (Container::Gzip, 11));
    // Cut inside the compressed stream, inside the tar member, or with junk after gzip.
    assert!(matches!(
        verify(&gz[..gz.len() / 2]).unwrap_err(),
        Failure::Truncated { .. }
    ));
    let t = tar(&raw);
    assert!(matches!(
        verify(&t[..1024 + raw.len() - 3]).unwrap_err(),
        Failure::Truncated { .. }
    ));
    let mut junk = gzip(&raw);
    junk.extend(b"junk after the gzip stream");
    assert!(matches!(
        verify(&junk[..]).unwrap_err(),
        Failure::Corrupt { .. }
    ));
    // A tar member with more than the dump in it: a dump file Redis would load.
    let more = tar(&[raw.clone(), vec![0]].concat());
    assert_eq!(ok(&more).trailing_bytes, 1);
    // Gzip of an HTML page.
    assert!(matches!(
        verify(&gzip(b"<html>")[..]).unwrap_err(),
        Failure::NotRdb { .. }
    ));
}

#[test]
fn light_check_tail() {
    let raw = dump(&record(0, &s(b"v")));
    let n = raw.len();
    assert!(inspect(&raw, &raw[n - 9..], n as u64).is_ok());
    // The upload stopped 4 bytes early: the last 9 bytes are not EOF + CRC.
    let cut = &raw[..n - 4];
    assert_eq!(
        inspect(cut, &cut[cut.len() - 9..], cut.len() as u64),
        Err(Failure::Truncated {
            offset: cut.len() as u64
        })
    );
    assert_eq!(
        inspect(&raw[..9], &raw[..9], 9),
        Err(Failure::Truncated { offset: 9 })
    );
}

#[test]
fn huge_claims_are_refused_without_allocating() {
    let t = Instant::now();
    // A 2^60-byte string.
    let v = dump(&record(
        0,
        &[
            vec![0x81],
            (1u64 << 60).to_be_bytes().to_vec(),
            b"abc".to_vec(),
        ]
        .concat(),
    ));
    assert!(corrupt(&v).contains("string of"));
    // A 2^60-byte LZF string, and one inflating to 2^60 bytes.
    let v = dump(&record(
        0,
        &[vec![0xC3], len(3), len(1 << 60), b"abc".to_vec()].concat(),
    ));
    assert!(corrupt(&v).contains("LZF"));
    // A 2^40-element list with two elements present, a 2^40-byte string, a blob
    // length just under the cap for holding it: the data runs out (the walk then
    // reads the EOF opcode and checksum as elements, or ends in the middle).
    for value in [
        [len(1 << 40), s(b"a"), s(b"b")].concat(),
        [len(1 << 40), b"abc".to_vec()].concat(),
    ] {
        for t in [0, 1, 16] {
            let mut v = start(11);
            v.extend(record(t, &value));
            assert!(matches!(
                verify(&v[..]).unwrap_err(),
                Failure::Truncated { .. }
            ));
            let v = dump(&record(t, &value));
            let e = verify(&v[..]).unwrap_err();
            assert!(
                matches!(e, Failure::Truncated { .. } | Failure::Corrupt { .. }),
                "{e:?}"
            );
        }
    }
    let mut v = start(11);
    v.extend(record(16, &len(blobs::BLOB_CAP as u64)));
    assert!(matches!(
        verify(&v[..]).unwrap_err(),
        Failure::Truncated { .. }
    ));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// A valid dump with one key of most types, for the properties.
fn sample() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(record(0, &s(b"hello")));
    b.extend(record(18, &[len(1), vec![2], s(&lp_ints(5))].concat()));
    b.extend(record(11, &s(&intset(&[1, 2, 3]))));
    b.extend(record(4, &[len(1), s(b"f"), s(b"v")].concat()));
    b.extend(record(19, &stream(19)));
    b.extend([0xFE, 1, 0xFC]);
    b.extend(0u64.to_le_bytes());
    b.extend(record(
        5,
        &[len(1), s(b"m"), 1f64.to_le_bytes().to_vec()].concat(),
    ));
    dump(&b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let t = Instant::now();
        let _ = verify(&bytes[..]);
        let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let _ = inspect(&bytes, tail, bytes.len() as u64);
        prop_assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn arbitrary_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let t = Instant::now();
        let v = [b"REDIS0011".to_vec(), body].concat();
        let _ = verify(&v[..]);
        let _ = verify(&finish(v.clone())[..]);
        let _ = inspect(&v, &v[v.len() - TAIL_BYTES..], v.len() as u64);
        prop_assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn no_prefix_of_a_dump_passes(cut in 0usize..10_000) {
        let v = sample();
        let cut = cut % v.len();
        let e = verify(&v[..cut]).unwrap_err();
        prop_assert!(matches!(e, Failure::Truncated { .. } | Failure::Corrupt { .. }), "{:?}", e);
    }

    #[test]
    fn one_changed_byte_never_passes(at in 0usize..10_000, x in 1u8..=255) {
        let mut v = sample();
        let at = at % v.len();
        v[at] ^= x;
        // A version digit turned into a valid version below 5 leaves a dump without a
        // checksum, which redis-server loads as well (it reads the trailer only from
        // version 5; Debian's 7.0.15 loaded a dump with a stream relabelled
        // REDIS0001): no corruption either judge can see.
        let version = std::str::from_utf8(&v[5..9]).ok().and_then(|t| t.parse::<u32>().ok());
        prop_assume!(!((5..9).contains(&at) && version.is_some_and(|n| (1..5).contains(&n))));
        prop_assert!(verify(&v[..]).is_err());
    }
}

#[test]
fn the_sample_passes() {
    let sum = ok(&sample());
    assert_eq!(sum.keys, 6);
    assert_eq!(sum.keys_per_db, [(0, 5), (1, 1)].into());
    assert_eq!(sum.keys_with_expiry, 1);
}

/// Finding 12 of issue 19: what redis-server does on load, checked in
/// `real_dumps::fixtures_get_the_verdict_redis_server_gives`.
#[test]
fn empty_keys_are_skipped_as_redis_server_does() {
    let fixture = crate::fake::rdb::empty_keys(false);
    let sum = ok(&fixture);
    assert_eq!((sum.keys, sum.empty_keys), (0, 14));
    assert!(sum.keys_per_db.is_empty());
    let sum = ok(&crate::fake::rdb::empty_keys(true));
    assert_eq!((sum.keys, sum.empty_keys), (1, 14));
    assert_eq!(sum.keys_per_db, [(0, 1)].into());
    // Each encoding alone, with an expiry that goes with the skipped key.
    let empty_values: Vec<(u8, Vec<u8>)> = vec![
        (1, len(0)),
        (2, len(0)),
        (3, len(0)),
        (4, len(0)),
        (5, len(0)),
        (10, s(&ziplist(0))),
        (12, s(&ziplist(0))),
        (13, s(&ziplist(0))),
        (14, len(0)),
        (14, [len(2), s(&ziplist(0)), s(&ziplist(0))].concat()),
        (16, s(&lp_ints(0))),
        (17, s(&lp_ints(0))),
        (18, len(0)),
        (18, [len(1), len(2), s(&lp_ints(0))].concat()),
        (20, s(&lp_ints(0))),
        (22, len(0)),
        (23, s(&lp_ints(0))),
        (24, [vec![0; 8], len(0)].concat()),
        (25, [vec![0; 8], s(&lp_ints(0))].concat()),
    ];
    for (t, value) in &empty_values {
        let mut b = vec![0xFC];
        b.extend(1_700_000_000_000u64.to_le_bytes());
        b.extend(record(*t, value));
        b.extend(record(0, &s(b"v")));
        let sum = ok(&dump(&b));
        assert_eq!(
            (sum.keys, sum.keys_with_expiry, sum.empty_keys),
            (1, 0, 1),
            "type {t}"
        );
    }
    // A quicklist with one non-empty node among empty ones is a list.
    let mixed = [len(2), s(&ziplist(0)), s(&ziplist(2))].concat();
    assert_eq!(ok(&dump(&record(14, &mixed))).empty_keys, 0);
    let plain = [len(2), len(2), s(&lp_ints(0)), len(1), s(b"x")].concat();
    assert_eq!(ok(&dump(&record(18, &plain))).keys, 1);
}

#[test]
fn databases_past_the_default_sixteen_are_a_warning() {
    let select = |db: u64| [vec![0xFE], len(db), record(0, &s(b"v"))].concat();
    let sum = ok(&dump(&select(100)));
    assert_eq!((sum.keys, sum.max_db), (1, Some(100)));
    assert_eq!(sum.databases_needed(), Some(101));
    assert_eq!(ok(&dump(&select(16))).databases_needed(), Some(17));
    assert_eq!(ok(&dump(&select(15))).databases_needed(), None);
    // Redis exits on the SELECTDB itself, even with no key after it.
    let b = [vec![0xFE], len(40), select(0)].concat();
    let sum = ok(&dump(&b));
    assert_eq!((sum.max_db, sum.databases_needed()), (Some(40), Some(41)));
    assert_eq!(ok(&dump(b"")).databases_needed(), None);
}

/// An LZF string of `repeats` back references (264 bytes each) after a literal `a`.
fn long_lzf(repeats: usize, ulen: u64) -> Vec<u8> {
    let mut packed = vec![0x00, b'a'];
    for _ in 0..repeats {
        packed.extend([0xE0, 0xFF, 0x00]);
    }
    [vec![0xC3], len(packed.len() as u64), len(ulen), packed].concat()
}

#[test]
fn lzf_strings_too_large_to_hold_are_still_inflated_to_their_length() {
    let repeats = 1500; // 396,001 bytes inflated: past BLOB_CAP
    let real = 1 + 264 * repeats as u64;
    assert!(real > blobs::BLOB_CAP as u64);
    assert_eq!(ok(&dump(&record(0, &long_lzf(repeats, real)))).keys, 1);
    for wrong in [real - 1, real + 1, 1_000_000, 1 << 39] {
        let e = corrupt(&dump(&record(0, &long_lzf(repeats, wrong))));
        assert!(e.contains("LZF"), "{wrong}: {e}");
    }
    // The finding's case: three bytes of data declaring a million.
    let short = [
        vec![0xC3],
        len(4),
        len(1_000_000),
        vec![2, b'a', b'b', b'c'],
    ]
    .concat();
    assert!(corrupt(&dump(&record(0, &short))).contains("LZF"));
    // Inflating into zero bytes: lzf_decompress returns 0, as declared, and Redis
    // loads an empty string whatever the data.
    let zero = [vec![0xC3], len(4), len(0), vec![2, b'a', b'b', b'c']].concat();
    assert_eq!(ok(&dump(&record(0, &zero))).keys, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The chunked checker gives the whole decoder's verdict, however the input is cut.
    #[test]
    fn lzf_check_agrees_with_lzf(
        input in proptest::collection::vec(any::<u8>(), 0..64),
        expected in 0usize..200,
        cut in 1usize..8,
    ) {
        let whole = blobs::lzf(&input, expected);
        let mut check = blobs::LzfCheck::new(expected as u64);
        let mut verdict = Ok(());
        for chunk in input.chunks(cut) {
            verdict = check.feed(chunk);
            if verdict.is_err() {
                break;
            }
        }
        let verdict = verdict.and_then(|()| check.finish());
        prop_assert_eq!(whole.is_ok(), verdict.is_ok(), "{:?} vs {:?}", whole, verdict);
    }
}

/// The first [`HEAD_BYTES`] of `bytes`: what the light level reads.
fn head_of_object(bytes: &[u8]) -> &[u8] {
    &bytes[..HEAD_BYTES.min(bytes.len())]
}

/// A RESIZEDB opcode declaring `keys` and `expires`.
fn resizedb(keys: u64, expires: u64) -> Vec<u8> {
    let mut v = vec![0xFB];
    v.extend(len(keys));
    v.extend(len(expires));
    v
}

/// An AUX field of `n` bytes: what a module or a large functions section puts between
/// the opcodes without being a key.
fn padding(n: usize) -> Vec<u8> {
    let mut v = vec![0xFA];
    v.extend(s(b"pad"));
    v.extend(s(&vec![b'x'; n]));
    v
}

#[test]
fn the_head_gives_the_resizedb_key_count_of_a_large_dump() {
    // 1000 keys of 100 bytes: about 110 KiB, of which the head reads 64 KiB.
    let big = crate::fake::rdb::with_keys(1000, 100, 1000);
    assert!(big.len() > 100_000, "{}", big.len());
    let hint = key_hint(head_of_object(&big)).unwrap();
    assert_eq!(
        (hint.dbs, hint.declared_keys, hint.declared_expires),
        (1, 1000, 0)
    );
    assert!(
        !hint.complete && hint.keys_read > 0 && hint.keys_read < 1000,
        "{hint:?}"
    );
    assert_eq!(
        (hint.keys(), hint.expires(), hint.says_empty()),
        (Some(1000), Some(0), false)
    );
    assert_eq!(ok(&big).keys, 1000, "the hint is the count here");
    // Inside gzip: the head is inflated as far as it goes.
    let hint = key_hint(head_of_object(&gzip(&big))).unwrap();
    assert_eq!(hint.keys(), Some(1000));
    // A dump the head holds whole: the keys read, whatever is declared.
    let small = crate::fake::rdb::with_keys(3, 10, 7);
    let hint = key_hint(&small).unwrap();
    assert!(hint.complete);
    assert_eq!(hint.keys(), Some(3));
    assert_eq!(
        key_hint(&crate::fake::rdb::keyless()).map(|h| h.keys()),
        Some(Some(0))
    );
}

#[test]
fn where_the_hint_says_empty_and_where_it_says_nothing() {
    // RESIZEDB 0 in db 0, then 70 KiB that is no key: the head says empty.
    let mut body = vec![0xFE, 0];
    body.extend(resizedb(0, 0));
    body.extend(padding(70_000));
    let declared_empty = dump(&body);
    let hint = key_hint(head_of_object(&declared_empty)).unwrap();
    assert_eq!((hint.dbs, hint.keys_read, hint.says_empty()), (1, 0, true));
    assert_eq!(ok(&declared_empty).keys, 0);
    // The same with a key past the head: still "empty" to the hint, one key to the
    // full walk. Redis never declares 0 for a database it writes keys into (it skips
    // empty databases); another writer may.
    let mut lying = body.clone();
    lying.extend(record(0, &s(b"v")));
    let lying = dump(&lying);
    assert!(key_hint(head_of_object(&lying)).unwrap().says_empty());
    assert_eq!(ok(&lying).keys, 1);
    // A key read in the head outweighs a declared 0.
    let mut early = vec![0xFE, 0];
    early.extend(resizedb(0, 0));
    early.extend(record(0, &s(b"v")));
    early.extend(padding(70_000));
    let hint = key_hint(head_of_object(&dump(&early))).unwrap();
    assert_eq!((hint.keys(), hint.says_empty()), (Some(1), false));
    // No RESIZEDB before the head ends (Redis before 3.2, or a head full of module or
    // function data): no hint, and not empty.
    let old_style = crate::fake::rdb::body(300_000, 1);
    let hint = key_hint(head_of_object(&old_style)).unwrap();
    assert_eq!((hint.dbs, hint.keys(), hint.says_empty()), (0, None, false));
    let padded = dump(&padding(70_000));
    assert_eq!(
        key_hint(head_of_object(&padded)).and_then(|h| h.keys()),
        None
    );
    // Several databases: only those declared in the head count, a lower bound.
    let mut two = crate::fake::rdb::with_keys(1000, 100, 1000);
    two.truncate(two.len() - 9); // EOF and checksum
    two.extend([0xFE, 1]);
    two.extend(resizedb(5, 0));
    for i in 0..5u8 {
        two.push(0);
        two.extend(s(&[b'k', i]));
        two.extend(s(b"v"));
    }
    let two = finish(two);
    assert_eq!(ok(&two).keys, 1005);
    assert_eq!(key_hint(head_of_object(&two)).unwrap().keys(), Some(1000));
    // Damage in the head is no hint (and for the full level to name).
    let mut damaged = vec![0xFE, 0];
    damaged.extend(resizedb(10, 0));
    damaged.push(0xF3);
    damaged.extend(padding(70_000));
    assert_eq!(key_hint(head_of_object(&dump(&damaged))), None);
    assert_eq!(key_hint(b"<html>"), None);
}
