//! The drill's download: the whole object, streamed once into the scratch directory
//! and at the same time through [`crate::rdb::verify`] on a blocking thread (so the
//! key count to compare with Redis' is known when the last byte lands), every byte
//! paced and paid for through the [`Egress`] verification shares. The URL stays
//! inside; errors name the HTTP status or the transport failure only.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use hyper::body::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::cds::SecretUrl;
pub use crate::drilled::Egress;
use crate::rdb::{self, Failure, Summary};

/// How a download ended.
#[derive(Debug)]
pub enum Fetched {
    /// The object is in the file; the verifier's verdict on it.
    Done(Result<Summary, Failure>),
    TooLarge(u64),
    /// The daily budget cannot hold it.
    Budget,
    Failed(String),
}

/// Feeds the blocking walker the chunks the download writes.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Budget bytes a drill holds and bytes it took, kept by the caller so they are
/// settled even when the download's future is dropped.
#[derive(Debug, Default)]
pub struct Held {
    pub reserved: u64,
    pub bytes: u64,
    /// The download is done: the drill is loading or checking.
    pub downloaded: bool,
}

/// Downloads `url` into `file`, at most `max_size` bytes; `bytes` counts what arrived
/// .
pub async fn fetch(
    http: &reqwest::Client,
    url: &SecretUrl,
    file: &Path,
    max_size: u64,
    answer_within: Duration,
    egress: &dyn Egress,
    held: &mut Held,
) -> Fetched {
    let transport = |e: reqwest::Error| {
        Fetched::Failed(if e.is_timeout() {
            "the download timed out".to_owned()
        } else if e.is_connect() {
            "the download could not connect".to_owned()
        } else {
            "the download failed in transfer".to_owned()
        })
    };
    let mut r = match tokio::time::timeout(answer_within, http.get(url.expose()).send()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return transport(e.without_url()),
        Err(_) => return Fetched::Failed("no answer within probe.timeout".into()),
    };
    let status = r.status().as_u16();
    if status != 200 {
        return Fetched::Failed(format!("the download answered HTTP {status}"));
    }
    if let Some(n) = r.content_length() {
        if n > max_size {
            return Fetched::TooLarge(n);
        }
        if n > held.reserved {
            if !egress.reserve(n - held.reserved) {
                return Fetched::Budget;
            }
            held.reserved = n;
        }
    }
    let mut out = match tokio::fs::File::create(file).await {
        Ok(f) => f,
        Err(e) => return Fetched::Failed(format!("the scratch file could not be created: {e}")),
    };
    let (tx, rx) = mpsc::channel(4);
    let walker = tokio::task::spawn_blocking(move || {
        rdb::verify(ChannelReader {
            rx,
            cur: Bytes::new(),
        })
    });
    // Dropping the download drops the sender: the walker sees the end and finishes.
    let walker = AbortOnDrop(walker);
    loop {
        let chunk = match tokio::time::timeout(answer_within, r.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return transport(e.without_url()),
            Err(_) => return Fetched::Failed("no data within probe.timeout".into()),
        };
        let after = held.bytes.saturating_add(chunk.len() as u64);
        if after > max_size {
            return Fetched::TooLarge(after);
        }
        if after > held.reserved {
            if !egress.reserve(after - held.reserved) {
                return Fetched::Budget;
            }
            held.reserved = after;
        }
        egress.pace(chunk.len() as u64).await;
        if let Err(e) = out.write_all(&chunk).await {
            return Fetched::Failed(format!("the scratch file could not be written: {e}"));
        }
        held.bytes = after;
        // The walker may have stopped early at a verdict; the file is still wanted.
        let _ = tx.send(chunk).await;
    }
    if let Err(e) = out.flush().await {
        return Fetched::Failed(format!("the scratch file could not be written: {e}"));
    }
    drop(tx);
    match walker.join().await {
        Ok(v) => Fetched::Done(v),
        Err(e) => Fetched::Failed(format!("the check stopped: {e}")),
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes the RDB inside `object` (gzip, tar or both, as [`crate::rdb`] reads them) to
/// `dump`, at most `limit` bytes of it (what the verifier read, checked against the
/// disk before): a container that holds more is refused, not left to fill the disk. A
/// bare dump is renamed. Blocking: run it off the runtime's thread.
pub fn unwrap(
    object: &Path,
    container: rdb::Container,
    dump: &Path,
    limit: u64,
) -> std::io::Result<()> {
    use flate2::read::MultiGzDecoder;
    let open = || std::fs::File::open(object).map(std::io::BufReader::new);
    let out = || std::fs::File::create(dump);
    match container {
        rdb::Container::Raw => return std::fs::rename(object, dump),
        rdb::Container::Gzip => bounded(MultiGzDecoder::new(open()?), &mut out()?, limit)?,
        rdb::Container::Tar => first_member(open()?, &mut out()?, limit)?,
        rdb::Container::TarGz => first_member(MultiGzDecoder::new(open()?), &mut out()?, limit)?,
    }
    std::fs::remove_file(object)
}

/// Copies `r` to `out`, failing once more than `limit` bytes came.
fn bounded<R: Read>(r: R, out: &mut std::fs::File, limit: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut r.take(limit.saturating_add(1)), out)?;
    if copied > limit {
        return Err(std::io::Error::other(format!(
            "it holds more than the {limit} bytes the verifier read"
        )));
    }
    Ok(())
}

/// The first regular file of a tar archive, as the verifier took it.
fn first_member<R: Read>(r: R, out: &mut std::fs::File, limit: u64) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let entry = entry?;
        if entry.header().entry_type().is_file() {
            return bounded(entry, out, limit);
        }
    }
    Err(std::io::Error::other("the tar archive holds no file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrapping_stops_past_the_limit_and_keeps_nothing_of_the_object_on_success() {
        let dir = std::env::temp_dir().join(format!("unwrap-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (object, dump) = (dir.join("object"), dir.join("dump.rdb"));
        std::fs::write(&object, crate::fake::dumps::gzip(&[7u8; 100])).unwrap();
        let e = unwrap(&object, rdb::Container::Gzip, &dump, 99).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it holds more than the 99 bytes the verifier read"
        );
        unwrap(&object, rdb::Container::Gzip, &dump, 100).unwrap();
        assert_eq!(std::fs::read(&dump).unwrap(), vec![7u8; 100]);
        assert!(!object.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
