//! Header checks of the packed encodings Redis stores as one string (ziplist,
//! listpack, intset, zipmap), and LZF decompression. Each blob carries its own total
//! length and element count, so a damaged one is usually caught here even when the
//! dump was written with `rdbchecksum no`. Entries are not decoded one by one: the
//! checksum already covers their bytes, and Redis itself re-validates them on load.

/// Blobs (and LZF strings) up to this size, uncompressed, are held and checked; larger
/// ones are skipped unchecked. Redis keeps packed encodings small (quicklist nodes are
/// 8 KiB by default), so real blobs are far below it.
pub(super) const BLOB_CAP: usize = 256 * 1024;

/// The packed encoding a blob-valued type uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Blob {
    Ziplist,
    Listpack,
    Intset,
    Zipmap,
}

/// Checks a blob's header against its length and returns its element count when the
/// header states it; `Err` says what is wrong. `allow_empty` is for quicklist nodes,
/// which Redis skips when empty instead of refusing.
pub(super) fn check(kind: Blob, b: &[u8], allow_empty: bool) -> Result<Option<usize>, String> {
    let u32_at = |i: usize| -> u32 {
        let mut a = [0; 4];
        a.copy_from_slice(&b[i..i + 4]);
        u32::from_le_bytes(a)
    };
    let empty = || Err(format!("{kind:?} without any element"));
    match kind {
        Blob::Ziplist => {
            // zlbytes u32, zltail u32, zllen u16, entries, 0xFF.
            let count = sized_list(kind, b, 10, 8, allow_empty)?;
            let tail = u32_at(4) as usize;
            if tail < 10 || tail >= b.len() {
                return Err(format!("ziplist tail offset {tail} outside it"));
            }
            Ok(count)
        }
        // total u32, count u16, entries, 0xFF.
        Blob::Listpack => sized_list(kind, b, 6, 4, allow_empty),
        Blob::Intset => {
            // encoding u32 (2, 4 or 8 bytes per integer), length u32, integers.
            if b.len() < 8 {
                return Err(format!("intset of {} bytes, less than its header", b.len()));
            }
            let width = u32_at(0) as u64;
            if !matches!(width, 2 | 4 | 8) {
                return Err(format!("intset with {width}-byte integers"));
            }
            let count = u32_at(4) as u64;
            if 8 + width * count != b.len() as u64 {
                return Err(format!(
                    "intset of {count} {width}-byte integers in {} bytes",
                    b.len()
                ));
            }
            if count == 0 && !allow_empty {
                return empty();
            }
            Ok(Some(count as usize))
        }
        Blob::Zipmap => {
            // zmlen u8 (254 = count them), entries of at least 3 bytes, 0xFF.
            if b.len() < 2 {
                return Err(format!("zipmap of {} bytes, less than its header", b.len()));
            }
            end_marker(kind, b)?;
            let count = b[0] as usize;
            if count < 254 && count > (b.len() - 2) / 3 {
                return Err(format!(
                    "zipmap claims {count} entries in {} bytes",
                    b.len()
                ));
            }
            if count == 0 && !allow_empty {
                return empty();
            }
            Ok((count < 254).then_some(count))
        }
    }
}

fn end_marker(kind: Blob, b: &[u8]) -> Result<(), String> {
    match b.last() {
        Some(0xFF) => Ok(()),
        _ => Err(format!("{kind:?} does not end with 0xFF")),
    }
}

/// The shared shape of ziplists and listpacks: a `header` of `header` bytes starting
/// with the total size (u32) and holding the entry count (u16 at `count_at`; 0xFFFF
/// means "count them"), entries of at least 2 bytes each, and the 0xFF end marker.
fn sized_list(
    kind: Blob,
    b: &[u8],
    header: usize,
    count_at: usize,
    allow_empty: bool,
) -> Result<Option<usize>, String> {
    let name = format!("{kind:?}").to_lowercase();
    if b.len() < header + 1 {
        return Err(format!("{name} of {} bytes, less than its header", b.len()));
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return Err(format!("{name} says {total} bytes but is {}", b.len()));
    }
    end_marker(kind, b)?;
    let count = u16::from_le_bytes([b[count_at], b[count_at + 1]]) as usize;
    if count != 0xFFFF && count > (b.len() - header - 1) / 2 {
        return Err(format!(
            "{name} claims {count} entries in {} bytes",
            b.len()
        ));
    }
    if count == 0 && !allow_empty {
        return Err(format!("{kind:?} without any element"));
    }
    Ok((count != 0xFFFF).then_some(count))
}

/// LZF decompression (liblzf's format, as Redis writes it) of `input` into exactly
/// `expected` bytes; `Err` when the data is malformed or inflates to another length.
pub(super) fn lzf(input: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let bad = |why: &str| Err(format!("LZF data {why}"));
    let mut out: Vec<u8> = Vec::with_capacity(expected.min(BLOB_CAP));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let Some(lit) = input.get(i..i + n) else {
                return bad("ends inside a literal run");
            };
            if out.len() + n > expected {
                return bad("inflates past its declared length");
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            // A back reference: length (3 bits, 7 = one more byte) and 13-bit distance.
            let mut n = ctrl >> 5;
            if n == 7 {
                let Some(&more) = input.get(i) else {
                    return bad("ends inside a back reference");
                };
                n += more as usize;
                i += 1;
            }
            let Some(&low) = input.get(i) else {
                return bad("ends inside a back reference");
            };
            i += 1;
            let distance = ((ctrl & 0x1f) << 8) + low as usize + 1;
            let n = n + 2;
            if distance > out.len() {
                return bad("refers before its start");
            }
            if out.len() + n > expected {
                return bad("inflates past its declared length");
            }
            // Byte by byte: the source may overlap what is being written.
            let from = out.len() - distance;
            for k in 0..n {
                let byte = out[from + k];
                out.push(byte);
            }
        }
    }
    if out.len() != expected {
        return Err(format!(
            "LZF data inflates to {} bytes, not the declared {expected}",
            out.len()
        ));
    }
    Ok(out)
}

/// LZF's back references reach at most this far back.
const LZF_WINDOW: usize = 8 * 1024;

/// Where [`LzfCheck`] stopped inside a token when its input chunk ended.
#[derive(Debug, Clone, Copy)]
enum LzfState {
    /// At a control byte.
    Ctrl,
    /// Inside a literal run: this many bytes to go.
    Literal(usize),
    /// After the control byte of a long back reference, before its length byte.
    RefLen(usize),
    /// Before the low distance byte of a back reference of this length.
    RefLow { ctrl: usize, n: usize },
}

/// [`lzf`] for strings too large to hold: the same decoder and the same verdicts, fed
/// in chunks, keeping only the last [`LZF_WINDOW`] bytes of output, so a claim of any
/// size costs 8 KiB. Redis loads an LZF string only when it inflates to exactly its
/// declared length (lzf_decompress's return value against it).
pub(super) struct LzfCheck {
    window: Box<[u8; LZF_WINDOW]>,
    produced: u64,
    expected: u64,
    state: LzfState,
}

impl LzfCheck {
    pub(super) fn new(expected: u64) -> Self {
        LzfCheck {
            window: Box::new([0; LZF_WINDOW]),
            produced: 0,
            expected,
            state: LzfState::Ctrl,
        }
    }

    /// How many bytes the data fed so far inflated to.
    pub(super) fn produced(&self) -> u64 {
        self.produced
    }

    fn emit(&mut self, byte: u8) {
        self.window[(self.produced % LZF_WINDOW as u64) as usize] = byte;
        self.produced += 1;
    }

    /// Room for `n` more output bytes, or the error [`lzf`] gives.
    fn room(&self, n: usize) -> Result<(), String> {
        if self.produced + n as u64 > self.expected {
            return Err("LZF data inflates past its declared length".into());
        }
        Ok(())
    }

    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                LzfState::Ctrl => {
                    let ctrl = input[i] as usize;
                    i += 1;
                    if ctrl < 32 {
                        self.room(ctrl + 1)?;
                        self.state = LzfState::Literal(ctrl + 1);
                    } else if ctrl >> 5 == 7 {
                        self.state = LzfState::RefLen(ctrl);
                    } else {
                        self.state = LzfState::RefLow { ctrl, n: ctrl >> 5 };
                    }
                }
                LzfState::Literal(left) => {
                    let n = left.min(input.len() - i);
                    for &b in &input[i..i + n] {
                        self.emit(b);
                    }
                    i += n;
                    self.state = if n == left {
                        LzfState::Ctrl
                    } else {
                        LzfState::Literal(left - n)
                    };
                }
                LzfState::RefLen(ctrl) => {
                    let n = 7 + input[i] as usize;
                    i += 1;
                    self.state = LzfState::RefLow { ctrl, n };
                }
                LzfState::RefLow { ctrl, n } => {
                    let distance = ((ctrl & 0x1f) << 8) + input[i] as usize + 1;
                    i += 1;
                    let n = n + 2;
                    if distance as u64 > self.produced {
                        return Err("LZF data refers before its start".into());
                    }
                    self.room(n)?;
                    for _ in 0..n {
                        let from = (self.produced - distance as u64) % LZF_WINDOW as u64;
                        self.emit(self.window[from as usize]);
                    }
                    self.state = LzfState::Ctrl;
                }
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<(), String> {
        match self.state {
            LzfState::Ctrl => {}
            LzfState::Literal(_) => return Err("LZF data ends inside a literal run".into()),
            _ => return Err("LZF data ends inside a back reference".into()),
        }
        if self.produced != self.expected {
            return Err(format!(
                "LZF data inflates to {} bytes, not the declared {}",
                self.produced, self.expected
            ));
        }
        Ok(())
    }
}
