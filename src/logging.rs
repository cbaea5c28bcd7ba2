//! The log subscriber `main` installs, built here so that tests format log lines with
//! exactly what the binary uses: logfmt or JSON on a writer, this crate's events at the
//! chosen level ([`crate::log_filter`]). Fields are plain values in both formats: an
//! absent optional field is left out (tracing records `None` as nothing), never written
//! as `Some(..)`/`None`.

use tracing_subscriber::fmt::MakeWriter;

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// The subscriber for `level` and `format`, writing to `writer`.
pub fn subscriber<W>(
    level: tracing::Level,
    format: LogFormat,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt as _;
    let filter = crate::log_filter(level);
    match format {
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(writer)
                .finish(),
        ),
        LogFormat::Logfmt => Box::new(
            tracing_subscriber::registry()
                .with(filter)
                .with(tracing_logfmt::builder().layer().with_writer(writer)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The lines `emit` logs in `format`, each without its timestamp (the one field
    /// that changes from run to run).
    fn lines(format: LogFormat, emit: impl FnOnce()) -> Vec<String> {
        let buf = Buffer::default();
        let sub = subscriber(tracing::Level::DEBUG, format, buf.clone());
        tracing::subscriber::with_default(sub, emit);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| match format {
                LogFormat::Logfmt => {
                    let (ts, rest) = l.split_once(' ').unwrap();
                    assert!(ts.starts_with("ts=20"), "{l}");
                    rest.to_owned()
                }
                LogFormat::Json => {
                    let (head, rest) = l.split_once(",\"level\"").unwrap();
                    assert!(head.starts_with("{\"timestamp\":\"20"), "{l}");
                    format!("{{\"level\"{rest}")
                }
            })
            .collect()
    }

    fn verifications() {
        use crate::verify::{Outcome, Verification};
        let ok = Verification {
            outcome: Outcome::Ok,
            level: crate::config::VerifyLevel::Light,
            keys: Some(1),
            bytes: 2048,
            duration_ms: 7,
            ..Default::default()
        };
        crate::verify::log_result("u-1", "b-1", &ok);
        let gone = Verification {
            outcome: Outcome::DownloadFailed,
            level: crate::config::VerifyLevel::Full,
            http_status: Some(404),
            detail: "HTTP 404 from the object store".into(),
            ..Default::default()
        };
        crate::verify::log_result("u-1", "b-2", &gone);
        let refused = Verification {
            outcome: Outcome::DownloadFailed,
            level: crate::config::VerifyLevel::Light,
            http_status: None,
            detail: "connection refused".into(),
            ..Default::default()
        };
        crate::verify::log_result("u 2", "b-3", &refused);
    }

    #[test]
    fn optional_fields_are_plain_values_or_absent_in_logfmt() {
        assert_eq!(
            lines(LogFormat::Logfmt, verifications),
            [
                "level=info target=cds_redis_backup_exporter::verify message=\"backup verified\" instance_uuid=u-1 backup_id=b-1 verify_level=light result=ok keys=1 bytes=2048 duration_ms=7",
                "level=warn target=cds_redis_backup_exporter::verify message=\"backup verification failed\" instance_uuid=u-1 backup_id=b-2 verify_level=full result=download_failed http_status=404 detail=\"HTTP 404 from the object store\" bytes=0",
                "level=warn target=cds_redis_backup_exporter::verify message=\"backup verification failed\" instance_uuid=\"u 2\" backup_id=b-3 verify_level=light result=download_failed detail=\"connection refused\" bytes=0",
            ]
        );
    }

    #[test]
    fn json_has_the_same_fields_with_numbers_as_numbers() {
        assert_eq!(
            lines(LogFormat::Json, verifications),
            [
                r#"{"level":"INFO","fields":{"message":"backup verified","instance_uuid":"u-1","backup_id":"b-1","verify_level":"light","result":"ok","keys":1,"bytes":2048,"duration_ms":7},"target":"cds_redis_backup_exporter::verify"}"#,
                r#"{"level":"WARN","fields":{"message":"backup verification failed","instance_uuid":"u-1","backup_id":"b-2","verify_level":"full","result":"download_failed","http_status":404,"detail":"HTTP 404 from the object store","bytes":0},"target":"cds_redis_backup_exporter::verify"}"#,
                r#"{"level":"WARN","fields":{"message":"backup verification failed","instance_uuid":"u 2","backup_id":"b-3","verify_level":"light","result":"download_failed","detail":"connection refused","bytes":0},"target":"cds_redis_backup_exporter::verify"}"#,
            ]
        );
    }
}
