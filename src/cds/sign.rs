//! CDS OpenAPI request signing, signature version 1.0 (HMAC-SHA1).
//!
//! A pure function of its inputs: the caller supplies the nonce and the timestamp, so the
//! vendor's test vectors pin the algorithm down exactly, and the fake API (the `fake`
//! module, which depends on this one, never the reverse) verifies requests with the very
//! same code path.
//!
//! ```
//! use std::collections::BTreeMap;
//! use cds_redis_backup_exporter::cds::sign::signature;
//!
//! let params: BTreeMap<String, String> = [
//!     ("Action", "DownloadBackup"),
//!     ("InstanceUuid", "ins-1a2b3c"),
//!     ("BackupId", "bk-20200821-01"),
//!     ("AccessKeyId", "AKIDEXAMPLE"),
//!     ("SignatureMethod", "HMAC-SHA1"),
//!     ("SignatureVersion", "1.0"),
//!     ("SignatureNonce", "3f8e4d7a-0b1c-11eb-9a03-0242ac130003"),
//!     ("Timestamp", "2020-08-21T07:58:45Z"),
//!     ("Version", "2019-08-08"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_owned(), v.to_owned()))
//! .collect();
//! assert_eq!(signature("SKEXAMPLEsecret", &params), "LmghZ4/koiUo7ejNIAfrSV9skpw=");
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// RFC 3986 unreserved characters stay; everything else is `%XY` (upper-case hex).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` as the CDS signer does (space is `%20`, `*` is `%2A`, `~` stays).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The canonical query string: every parameter except `Signature`, sorted by name in
/// byte order (a `BTreeMap<String, _>` already is), each name and value encoded.
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET&%2F&` followed by the canonical query string, encoded once more.
pub fn string_to_sign(params: &BTreeMap<String, String>) -> String {
    format!("GET&%2F&{}", encode(&canonical_query(params)))
}

/// Base64(HMAC-SHA1(secret, string-to-sign)). The key is the secret itself: CDS does not
/// append `&` to it, unlike some other clouds.
pub fn signature(secret: &str, params: &BTreeMap<String, String>) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(string_to_sign(params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(action: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p: BTreeMap<String, String> = [
            ("Action", action),
            ("AccessKeyId", "AKIDEXAMPLE"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "3f8e4d7a-0b1c-11eb-9a03-0242ac130003"),
            ("Timestamp", "2020-08-21T07:58:45Z"),
            ("Version", "2019-08-08"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            p.insert((*k).to_owned(), (*v).to_owned());
        }
        p
    }

    #[test]
    fn vendor_vector_1_download_backup() {
        let p = common(
            "DownloadBackup",
            &[
                ("InstanceUuid", "ins-1a2b3c"),
                ("BackupId", "bk-20200821-01"),
            ],
        );
        assert_eq!(
            canonical_query(&p),
            "AccessKeyId=AKIDEXAMPLE&Action=DownloadBackup&BackupId=bk-20200821-01&InstanceUuid=ins-1a2b3c&SignatureMethod=HMAC-SHA1&SignatureNonce=3f8e4d7a-0b1c-11eb-9a03-0242ac130003&SignatureVersion=1.0&Timestamp=2020-08-21T07%3A58%3A45Z&Version=2019-08-08"
        );
        assert_eq!(
            string_to_sign(&p),
            "GET&%2F&AccessKeyId%3DAKIDEXAMPLE%26Action%3DDownloadBackup%26BackupId%3Dbk-20200821-01%26InstanceUuid%3Dins-1a2b3c%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3f8e4d7a-0b1c-11eb-9a03-0242ac130003%26SignatureVersion%3D1.0%26Timestamp%3D2020-08-21T07%253A58%253A45Z%26Version%3D2019-08-08"
        );
        assert_eq!(
            signature("SKEXAMPLEsecret", &p),
            "LmghZ4/koiUo7ejNIAfrSV9skpw="
        );
    }

    #[test]
    fn vendor_vector_2_unicode_space_and_reserved() {
        let p = common(
            "DescribeDBInstances",
            &[
                ("InstanceUuid", "ins-1a2b3c"),
                ("TagName", "生产 env/a*b~c+d"),
            ],
        );
        assert_eq!(
            canonical_query(&p),
            "AccessKeyId=AKIDEXAMPLE&Action=DescribeDBInstances&InstanceUuid=ins-1a2b3c&SignatureMethod=HMAC-SHA1&SignatureNonce=3f8e4d7a-0b1c-11eb-9a03-0242ac130003&SignatureVersion=1.0&TagName=%E7%94%9F%E4%BA%A7%20env%2Fa%2Ab~c%2Bd&Timestamp=2020-08-21T07%3A58%3A45Z&Version=2019-08-08"
        );
        assert_eq!(
            signature("SKEXAMPLEsecret", &p),
            "7vouiiZw2FG3+BWlYcw4T5ubYQo="
        );
    }

    #[test]
    fn signature_parameter_is_never_signed() {
        let mut p = common("DownloadBackup", &[]);
        let before = signature("s", &p);
        p.insert("Signature".into(), "anything".into());
        assert_eq!(signature("s", &p), before);
    }
}
