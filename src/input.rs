//! Reading the files an operator points the exporter at (`--config.file`,
//! `--web.config.file`, secret and certificate files) without letting one of them hang or
//! swamp the process: only regular files, never more than a size cap, and YAML whose
//! nesting is checked in linear time before a parser whose cost grows with the square
//! of the depth ever sees it.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// No file the exporter reads is anywhere near this: config.yaml is a few KiB even with
/// thousands of instances listed (100,000 UUIDs are about 5 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// Deeper YAML is refused. config.yaml needs 5 levels and a web config 4; libyaml's
/// parse time grows with the square of the depth (60,000 levels took 11 s).
pub const MAX_YAML_DEPTH: usize = 64;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A FIFO, socket, device or directory: reading could block for ever or never end.
    NotRegular(&'static str),
    TooLarge(u64),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge(n) => write!(
                f,
                "it is {n} bytes, more than the {} MiB a file may have",
                MAX_FILE_BYTES >> 20
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. The file is opened without
/// blocking (a FIFO would otherwise wait for a writer), then checked through the open
/// handle, so it cannot be swapped between the check and the read.
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(&meta.file_type())));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    // A file that grows while read still stops at the cap.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(out.len() as u64));
    }
    Ok(out)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    String::from_utf8(read(path)?).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// YAML nested deeper than [`MAX_YAML_DEPTH`], at a 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it nests deeper than {MAX_YAML_DEPTH} levels at line {}; the file needs a handful — is it the right file?",
            self.line
        )
    }
}

/// Checks in one pass that `text` nests at most [`MAX_YAML_DEPTH`] levels, counting
/// flow brackets outside quotes and comments plus block levels (indentation steps and
/// `- ` prefixes). It errs on the side of counting too many, which no real file comes
/// near.
pub fn check_yaml_depth(text: &str) -> Result<(), TooDeep> {
    let mut flow = 0usize;
    // Indentation columns of the open block levels, innermost last.
    let mut indents: Vec<usize> = Vec::new();
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let too_deep = TooDeep { line: n + 1 };
        let bytes = line.as_bytes();
        let mut i = 0;
        if quote.is_none() && flow == 0 {
            let indent = bytes.iter().take_while(|b| **b == b' ').count();
            let rest = &line[indent..];
            if !rest.is_empty() && !rest.starts_with('#') {
                while indents.last().is_some_and(|top| *top > indent) {
                    indents.pop();
                }
                if indents.last() != Some(&indent) {
                    indents.push(indent);
                }
                // `- - - x` opens a level per dash on one line.
                let mut col = indent;
                while matches!(&line.as_bytes()[col..], [b'-' | b'?', b' ', ..]) {
                    col += 2;
                    indents.push(col);
                }
                i = col;
            }
        }
        if indents.len() + flow > MAX_YAML_DEPTH {
            return Err(too_deep);
        }
        let mut prev = b' ';
        // `- ` or `? ` further along a line (`key: - - x`) also open levels, or are
        // errors the parser stops at; counting them keeps the bound honest.
        let mut inline = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some('\'') if c == b'\'' => quote = None,
                Some('"') if c == b'\\' => i += 1,
                Some('"') if c == b'"' => quote = None,
                Some(_) => {}
                None => match c {
                    b'#' if prev == b' ' || prev == b'\t' => break,
                    b'\'' | b'"' if matches!(prev, b' ' | b'\t' | b'[' | b'{' | b',' | b':') => {
                        quote = Some(c as char);
                    }
                    b'[' | b'{' => {
                        flow += 1;
                        if indents.len() + flow > MAX_YAML_DEPTH {
                            return Err(too_deep);
                        }
                    }
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    b'-' | b'?'
                        if matches!(prev, b' ' | b'[' | b'{' | b',')
                            && bytes.get(i + 1) == Some(&b' ') =>
                    {
                        inline += 1;
                        if indents.len() + flow + inline > MAX_YAML_DEPTH {
                            return Err(too_deep);
                        }
                    }
                    _ => {}
                },
            }
            prev = c;
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_files_pass_and_deep_ones_are_refused_with_their_line() {
        for ok in [
            include_str!("../config.yaml"),
            include_str!("../deploy/web-config.example.yml"),
            "a: [1, [2, {b: \"[[[[\"}]]\n# [[[[[[\nc: '{{{{'\n",
            "",
        ] {
            assert_eq!(check_yaml_depth(ok), Ok(()), "{ok}");
        }
        let flow = "[".repeat(100_000);
        assert_eq!(check_yaml_depth(&flow), Err(TooDeep { line: 1 }));
        let dashes = format!("x: 1\n{}a", "- ".repeat(100));
        assert_eq!(check_yaml_depth(&dashes), Err(TooDeep { line: 2 }));
        for inline in ["- ", "? "] {
            let text = format!("accounts: {}", inline.repeat(100));
            assert_eq!(check_yaml_depth(&text), Err(TooDeep { line: 1 }));
        }
        let mut block = String::new();
        for d in 0..100 {
            block.push_str(&format!("{}k{d}:\n", " ".repeat(d)));
        }
        assert_eq!(check_yaml_depth(&block), Err(TooDeep { line: 65 }));
        // Dedenting closes levels: many shallow blocks in a row are fine.
        let wide = "a:\n  b:\n    c: 1\n".repeat(10_000);
        assert_eq!(check_yaml_depth(&wide), Ok(()));
    }

    #[test]
    fn non_regular_and_huge_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("input-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read(&dir).unwrap_err();
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        let big = dir.join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(
            read(&big).unwrap_err().to_string(),
            format!(
                "it is {} bytes, more than the 8 MiB a file may have",
                MAX_FILE_BYTES + 1
            )
        );
        let small = dir.join("small.yaml");
        std::fs::write(&small, "a: 1\n").unwrap();
        assert_eq!(read_text(&small).unwrap(), "a: 1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("input-fifo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("config.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert_eq!(
            read(&fifo).unwrap_err().to_string(),
            "it is a named pipe (FIFO), not a regular file"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
