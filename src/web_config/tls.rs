//! `tls_server_config` → a rustls [`ServerConfig`], with the exporter-toolkit (Go
//! `crypto/tls`) names mapped onto what rustls and its *ring* provider offer.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

use super::any_cert::AnyClientCert;
use super::raw::RawTls;
use super::Validator;

/// Go's `tls.ClientAuthType` names, which exporter-toolkit uses as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub const ALL: [ClientAuth; 5] = [
        Self::NoClientCert,
        Self::RequestClientCert,
        Self::RequireAnyClientCert,
        Self::VerifyClientCertIfGiven,
        Self::RequireAndVerifyClientCert,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::NoClientCert => "NoClientCert",
            Self::RequestClientCert => "RequestClientCert",
            Self::RequireAnyClientCert => "RequireAnyClientCert",
            Self::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            Self::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }

    /// True for the types that check certificates against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

/// Go's TLS 1.3 suite names: accepted and without effect, as in Go, where TLS 1.3
/// suites cannot be configured.
const TLS13_NAMES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Builds the server config, or records every problem of the section and returns None.
/// First every key is checked (so all problems are reported at once), then the checked
/// parts are assembled; rustls can still refuse a combination, which is a problem too.
pub(super) fn server_config(
    raw: RawTls,
    dir: &Path,
    v: &mut Validator,
) -> Option<(Arc<ServerConfig>, ClientAuth)> {
    let checked = check(raw, dir, v)?;
    let auth = checked.auth;
    build(checked, v).map(|config| (Arc::new(config), auth))
}

/// The TLS section, every key checked and read.
struct Checked {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    auth: ClientAuth,
    /// Present when `auth` verifies client certificates.
    roots: Option<RootCertStore>,
    min: u8,
    max: u8,
    suites: Vec<SupportedCipherSuite>,
    groups: Vec<&'static dyn SupportedKxGroup>,
    prefer_server_order: bool,
}

fn check(raw: RawTls, dir: &Path, v: &mut Validator) -> Option<Checked> {
    let before = v.problems.len();
    let certs = required(v, "tls_server_config.cert_file", raw.cert_file).and_then(|file| {
        read(v, "tls_server_config.cert_file", dir, &file).and_then(|(shown, bytes)| {
            certificates(v, "tls_server_config.cert_file", &shown, &bytes)
        })
    });
    let key = required(v, "tls_server_config.key_file", raw.key_file).and_then(|file| {
        read(v, "tls_server_config.key_file", dir, &file)
            .and_then(|(shown, bytes)| private_key(v, &shown, &bytes))
    });
    let auth = client_auth(v, raw.client_auth_type.as_deref());
    let roots = auth.and_then(|auth| client_roots(v, auth, raw.client_ca_file, dir));
    let min = version(v, "tls_server_config.min_version", raw.min_version, 12);
    let max = version(v, "tls_server_config.max_version", raw.max_version, 13);
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            v.problem(
                "tls_server_config.min_version",
                format!("TLS{lo} is above max_version TLS{hi}"),
            );
        }
    }
    let suites = cipher_suites(v, raw.cipher_suites.unwrap_or_default());
    let groups = curves(v, raw.curve_preferences.unwrap_or_default());
    if v.problems.len() > before {
        return None;
    }
    Some(Checked {
        certs: certs?,
        key: key?,
        auth: auth?,
        roots,
        min: min?,
        max: max?,
        suites,
        groups,
        prefer_server_order: raw.prefer_server_cipher_suites.unwrap_or(true),
    })
}

/// A file key that TLS cannot do without.
fn required(v: &mut Validator, key: &str, value: Option<String>) -> Option<String> {
    let value = non_empty(value);
    if value.is_none() {
        v.problem(key, "required when TLS is configured");
    }
    value
}

fn client_auth(v: &mut Validator, raw: Option<&str>) -> Option<ClientAuth> {
    match raw.map(str::trim) {
        None | Some("") => Some(ClientAuth::NoClientCert),
        Some(name) => {
            let found = ClientAuth::ALL.into_iter().find(|a| a.name() == name);
            if found.is_none() {
                let all: Vec<_> = ClientAuth::ALL.iter().map(|a| a.name()).collect();
                v.problem(
                    "tls_server_config.client_auth_type",
                    format!("unknown value {name:?}; expected one of {}", all.join(", ")),
                );
            }
            found
        }
    }
}

/// The CAs that client certificates are verified against: required exactly when `auth`
/// verifies them.
fn client_roots(
    v: &mut Validator,
    auth: ClientAuth,
    file: Option<String>,
    dir: &Path,
) -> Option<RootCertStore> {
    let key = "tls_server_config.client_ca_file";
    match (non_empty(file), auth.verifies()) {
        (Some(file), true) => {
            read(v, key, dir, &file).and_then(|(shown, bytes)| root_store(v, &shown, &bytes))
        }
        (Some(_), false) => {
            // Go ignores the CA then; a file that looks like it verifies clients but
            // does not is worse than an error.
            v.problem(
                key,
                format!(
                    "is set, but client_auth_type {} does not verify client certificates; \
                     use VerifyClientCertIfGiven or RequireAndVerifyClientCert, or remove client_ca_file",
                    auth.name()
                ),
            );
            None
        }
        (None, true) => {
            v.problem(
                key,
                format!("required when client_auth_type is {}", auth.name()),
            );
            None
        }
        (None, false) => None,
    }
}

/// Assembles the checked parts into a rustls config.
fn build(c: Checked, v: &mut Validator) -> Option<ServerConfig> {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: c.suites,
        kx_groups: c.groups,
        ..ring::default_provider()
    });
    let versions: Vec<&'static SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(n, _)| (c.min..=c.max).contains(n))
            .map(|(_, version)| version)
            .collect();
    let builder = match ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
    {
        Ok(b) => b,
        Err(e) => {
            v.problem(
                "tls_server_config",
                format!("the versions and cipher_suites leave nothing to negotiate: {e}"),
            );
            return None;
        }
    };
    let verifier = verifier(c.auth, c.roots, &provider, v)?;
    let mut config = match builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(c.certs, c.key)
    {
        Ok(config) => config,
        Err(rustls::Error::InconsistentKeys(_)) => {
            v.problem(
                "tls_server_config.key_file",
                "the private key does not match the certificate in cert_file",
            );
            return None;
        }
        Err(e) => {
            v.problem(
                "tls_server_config.key_file",
                format!("cannot use the private key: {e}"),
            );
            return None;
        }
    };
    config.ignore_client_order = c.prefer_server_order;
    // Only HTTP/1.1 is served; saying so in ALPN keeps HTTP/2-capable clients on it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

/// How client certificates are asked for and checked.
fn verifier(
    auth: ClientAuth,
    roots: Option<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    v: &mut Validator,
) -> Option<Arc<dyn ClientCertVerifier>> {
    Some(match auth {
        ClientAuth::NoClientCert => WebPkiClientVerifier::no_client_auth(),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyClientCert {
                mandatory: auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let mut b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots?), Arc::clone(provider));
            if auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            match b.build() {
                Ok(verifier) => verifier,
                Err(e) => {
                    v.problem("tls_server_config.client_ca_file", e.to_string());
                    return None;
                }
            }
        }
    })
}

/// exporter-toolkit treats an empty string as unset.
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Reads `file`, relative to the web config's directory as exporter-toolkit does;
/// returns the path as shown in problems and the bytes.
fn read(v: &mut Validator, key: &str, dir: &Path, file: &str) -> Option<(String, Vec<u8>)> {
    let path = dir.join(file);
    let shown = path.display().to_string();
    match crate::input::read(&path) {
        Ok(bytes) => Some((shown, bytes)),
        Err(e) => {
            v.problem(key, format!("cannot read {shown}: {e}"));
            None
        }
    }
}

fn certificates(
    v: &mut Validator,
    key: &str,
    shown: &str,
    bytes: &[u8],
) -> Option<Vec<CertificateDer<'static>>> {
    match CertificateDer::pem_slice_iter(bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if certs.is_empty() => {
            v.problem(key, format!("{shown} holds no PEM certificate"));
            None
        }
        Ok(certs) => Some(certs),
        Err(e) => {
            v.problem(key, format!("{shown} is not valid PEM: {e}"));
            None
        }
    }
}

fn private_key(v: &mut Validator, shown: &str, bytes: &[u8]) -> Option<PrivateKeyDer<'static>> {
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Some(key),
        Err(pem::Error::NoItemsFound) => {
            v.problem(
                "tls_server_config.key_file",
                format!("{shown} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"),
            );
            None
        }
        // Not the parser's message: it can quote lines of the key.
        Err(_) => {
            v.problem(
                "tls_server_config.key_file",
                format!("{shown} is not valid PEM"),
            );
            None
        }
    }
}

fn root_store(v: &mut Validator, shown: &str, bytes: &[u8]) -> Option<RootCertStore> {
    let key = "tls_server_config.client_ca_file";
    let certs = certificates(v, key, shown, bytes)?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        if let Err(e) = roots.add(cert) {
            v.problem(
                key,
                format!("certificate {} in {shown} is not a usable CA: {e}", i + 1),
            );
            return None;
        }
    }
    Some(roots)
}

fn version(v: &mut Validator, key: &str, raw: Option<String>, default: u8) -> Option<u8> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Some(default),
        Some("TLS12") => Some(12),
        Some("TLS13") => Some(13),
        Some("TLS10" | "TLS11") => {
            v.problem(key, "rustls supports TLS12 and TLS13 only");
            None
        }
        Some(other) => {
            v.problem(
                key,
                format!("unknown version {other:?}; expected TLS12 or TLS13"),
            );
            None
        }
    }
}

/// Every TLS 1.3 suite plus the TLS 1.2 suites listed, in the order listed; an
/// empty list keeps the provider's defaults.
fn cipher_suites(v: &mut Validator, names: Vec<String>) -> Vec<SupportedCipherSuite> {
    let all = ring::default_provider().cipher_suites;
    if names.is_empty() {
        return all;
    }
    let tls12: Vec<(String, SupportedCipherSuite)> = all
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
        .map(|s| (format!("{:?}", s.suite()), *s))
        .collect();
    let mut chosen: Vec<SupportedCipherSuite> = all
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if TLS13_NAMES.contains(&name) {
            continue;
        }
        match tls12.iter().find(|(n, _)| n == name) {
            Some((_, suite)) if !chosen.contains(suite) => chosen.push(*suite),
            Some(_) => {}
            None => {
                let offered: Vec<_> = tls12.iter().map(|(n, _)| n.as_str()).collect();
                v.problem(
                    format!("tls_server_config.cipher_suites[{i}]"),
                    format!(
                        "cipher suite {name:?} is not supported; rustls offers {}",
                        offered.join(", ")
                    ),
                );
            }
        }
    }
    chosen
}

fn curves(v: &mut Validator, names: Vec<String>) -> Vec<&'static dyn SupportedKxGroup> {
    if names.is_empty() {
        return ring::default_provider().kx_groups;
    }
    let mut chosen: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let group = match name.trim() {
            "X25519" => ring::kx_group::X25519,
            "CurveP256" => ring::kx_group::SECP256R1,
            "CurveP384" => ring::kx_group::SECP384R1,
            other => {
                v.problem(
                    format!("tls_server_config.curve_preferences[{i}]"),
                    format!("curve {other:?} is not supported; rustls offers X25519, CurveP256, CurveP384"),
                );
                continue;
            }
        };
        if !chosen.iter().any(|g| g.name() == group.name()) {
            chosen.push(group);
        }
    }
    chosen
}
