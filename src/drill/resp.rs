//! Just enough RESP2 to talk to the scratch server over its unix socket: commands as
//! arrays of bulk strings, and replies that are simple strings, errors, integers or
//! bulk strings. Replies are bounded: the scratch server is ours, but its `INFO` is
//! read into memory and a confused server must not make it grow without end.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The longest reply read (`INFO` is a few KiB).
const MAX_REPLY: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
}

#[derive(Debug)]
pub struct Conn {
    io: BufReader<UnixStream>,
}

fn bad(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

impl Conn {
    pub async fn connect(path: &std::path::Path) -> std::io::Result<Conn> {
        Ok(Conn {
            io: BufReader::new(UnixStream::connect(path).await?),
        })
    }

    pub async fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.io.get_mut().write_all(&out).await?;
        self.reply().await
    }

    /// A command whose reply must be text (`INFO`): its text, or the server's error.
    pub async fn text(&mut self, args: &[&[u8]]) -> std::io::Result<String> {
        match self.call(args).await? {
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Reply::Simple(s) => Ok(s),
            Reply::Error(e) => Err(bad(e)),
            other => Err(bad(format!("unexpected reply {other:?}"))),
        }
    }

    pub async fn int(&mut self, args: &[&[u8]]) -> std::io::Result<i64> {
        match self.call(args).await? {
            Reply::Int(n) => Ok(n),
            Reply::Error(e) => Err(bad(e)),
            other => Err(bad(format!("unexpected reply {other:?}"))),
        }
    }

    async fn line(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        (&mut self.io)
            .take(64 << 10)
            .read_until(b'\n', &mut line)
            .await?;
        if !line.ends_with(b"\r\n") {
            return Err(bad("the connection ended in a reply"));
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    async fn reply(&mut self) -> std::io::Result<Reply> {
        let line = self.line().await?;
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => rest.parse().map(Reply::Int).map_err(|_| bad("bad integer")),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad("bad length"))?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let n = usize::try_from(n).map_err(|_| bad("bad length"))?;
                if n > MAX_REPLY {
                    return Err(bad("reply too long"));
                }
                let mut b = vec![0; n + 2];
                self.io.read_exact(&mut b).await?;
                b.truncate(n);
                Ok(Reply::Bulk(Some(b)))
            }
            _ => Err(bad(format!("unexpected reply type {kind:?}"))),
        }
    }
}

/// `field:value` lines of an `INFO` section.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// `INFO keyspace`: db number → keys.
pub fn keyspace(info: &str) -> std::collections::BTreeMap<u32, u64> {
    info.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().strip_prefix("db")?.split_once(':')?;
            let keys = rest.split(',').find_map(|kv| kv.strip_prefix("keys="))?;
            Some((db.parse().ok()?, keys.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_sections_are_read() {
        let ks =
            "# Keyspace\r\ndb0:keys=12,expires=1,avg_ttl=0\r\ndb3:keys=4,expires=0,avg_ttl=0\r\n";
        assert_eq!(keyspace(ks), [(0, 12), (3, 4)].into_iter().collect());
        let mem = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n";
        assert_eq!(info_field(mem, "used_memory"), Some("1048576"));
        assert_eq!(info_field("loading:0\r\n", "loading"), Some("0"));
    }
}
