use std::path::PathBuf;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use super::*;

/// A directory of PEM files: a CA, a server cert and key for 127.0.0.1, a key that
/// matches nothing, and a file that is not PEM. Removed on drop.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("web-config-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "unit test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = server.signed_by(&key, &issuer).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write("ca.crt", &ca_cert.pem());
        write("server.crt", &cert.pem());
        write("server.key", &key.serialize_pem());
        write("other.key", &KeyPair::generate().unwrap().serialize_pem());
        write("junk.txt", "not a certificate\n");
        Self { dir }
    }

    fn parse(&self, yaml: &str) -> Result<WebSecurity, WebConfigError> {
        WebSecurity::parse(yaml, &self.dir, "web.yml")
    }

    /// The whole error message, with the temp dir shown as DIR.
    fn error(&self, yaml: &str) -> String {
        match self.parse(yaml) {
            Ok(s) => panic!("expected an error for {yaml:?}, got {s:?}"),
            Err(e) => e
                .to_string()
                .replace(&self.dir.display().to_string(), "DIR"),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn basic(credentials: &str) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
}

fn users_yaml(users: &[(&str, &str)]) -> String {
    let mut yaml = "basic_auth_users:\n".to_owned();
    for (user, password) in users {
        yaml += &format!("  {user}: '{}'\n", bcrypt::hash(password, 4).unwrap());
    }
    yaml
}

#[test]
fn empty_config_is_plain_http_without_auth() {
    let pki = Pki::new();
    for yaml in [
        "",
        "---\n",
        "{}",
        "tls_server_config: {}\n",
        "basic_auth_users: {}\n",
    ] {
        let s = pki.parse(yaml).unwrap();
        assert!(s.tls().is_none(), "{yaml:?}");
        assert_eq!(s.basic_auth_users(), 0, "{yaml:?}");
        assert!(s.check(None).is_ok(), "{yaml:?}");
    }
    assert!(WebSecurity::none().check(None).is_ok());
}

#[test]
fn full_config_loads() {
    let pki = Pki::new();
    let yaml = format!(
        "tls_server_config:
  cert_file: server.crt
  key_file: {}/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: true
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
{}",
        pki.dir.display(),
        users_yaml(&[("alice", "secret"), ("bob", "hunter2")])
    );
    let s = pki.parse(&yaml).unwrap();
    let tls = s.tls().unwrap();
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(!tls.ignore_client_order);
    assert_eq!(s.client_auth(), ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(s.basic_auth_users(), 2);
    let headers: Vec<_> = s
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    assert_eq!(
        headers,
        [
            "strict-transport-security: max-age=31536000",
            "x-frame-options: deny"
        ]
    );
}

#[test]
fn every_client_auth_type_builds() {
    let pki = Pki::new();
    for auth in ClientAuth::ALL {
        let ca = if auth.verifies() {
            "  client_ca_file: ca.crt\n"
        } else {
            ""
        };
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: {}\n{ca}",
            auth.name()
        );
        assert_eq!(pki.parse(&yaml).unwrap().client_auth(), auth);
    }
}

#[test]
fn load_resolves_files_against_the_config_directory() {
    let pki = Pki::new();
    let path = pki.dir.join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    assert!(WebSecurity::load(&path).unwrap().tls().is_some());

    let missing = pki.dir.join("absent.yml");
    let e = WebSecurity::load(&missing).unwrap_err().to_string();
    assert_eq!(
        e.replace(&pki.dir.display().to_string(), "DIR"),
        "cannot read web config file DIR/absent.yml: No such file or directory (os error 2) \
         (point --web.config.file at a readable YAML file)"
    );
}

#[test]
fn bad_configs_report_every_problem() {
    let pki = Pki::new();
    let cases: &[(&str, &str)] = &[
        (
            "tls_server_config:\n  min_version: TLS13\n",
            "web config file web.yml has 2 problem(s):
  - tls_server_config.cert_file: required when TLS is configured
  - tls_server_config.key_file: required when TLS is configured",
        ),
        (
            "tls_server_config:
  cert_file: missing.crt
  key_file: /nonexistent/x.key
  client_auth_type: Sometimes
  min_version: TLS10
  max_version: SSL3
",
            "web config file web.yml has 5 problem(s):
  - tls_server_config.cert_file: cannot read DIR/missing.crt: No such file or directory (os error 2)
  - tls_server_config.key_file: cannot read /nonexistent/x.key: No such file or directory (os error 2)
  - tls_server_config.client_auth_type: unknown value \"Sometimes\"; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert
  - tls_server_config.min_version: rustls supports TLS12 and TLS13 only
  - tls_server_config.max_version: unknown version \"SSL3\"; expected TLS12 or TLS13",
        ),
        (
            "tls_server_config:
  cert_file: junk.txt
  key_file: server.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
  max_version: TLS12
",
            "web config file web.yml has 4 problem(s):
  - tls_server_config.cert_file: DIR/junk.txt holds no PEM certificate
  - tls_server_config.key_file: DIR/server.crt holds no PEM private key (PKCS#8, PKCS#1 or SEC1)
  - tls_server_config.client_ca_file: required when client_auth_type is RequireAndVerifyClientCert
  - tls_server_config.min_version: TLS13 is above max_version TLS12",
        ),
        (
            "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_ca_file: ca.crt
  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [CurveP521, X25519]
",
            "web config file web.yml has 3 problem(s):
  - tls_server_config.client_ca_file: is set, but client_auth_type NoClientCert does not verify client certificates; use VerifyClientCertIfGiven or RequireAndVerifyClientCert, or remove client_ca_file
  - tls_server_config.cipher_suites[0]: cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not supported; rustls offers TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
  - tls_server_config.curve_preferences[0]: curve \"CurveP521\" is not supported; rustls offers X25519, CurveP256, CurveP384",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            "web config file web.yml has 1 problem(s):
  - tls_server_config.key_file: the private key does not match the certificate in cert_file",
        ),
        (
            "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: junk.txt
http_server_config:
  headers:
    Server: nginx
    X-Content-Type-Options: sniff
basic_auth_users:
  alice: $2y$10$short
  bob:
  'c:d': $2y$04$abcdefghijklmnopqrstuu5Ei0Y2BnsmVl3ba7cRzyd2GTyHfC.2y
",
            "web config file web.yml has 6 problem(s):
  - tls_server_config.client_ca_file: DIR/junk.txt holds no PEM certificate
  - http_server_config.headers.Server: this header cannot be configured; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy
  - http_server_config.headers.X-Content-Type-Options: \"sniff\" is not allowed; expected one of nosniff
  - basic_auth_users.alice: not a bcrypt hash ($2y$, $2b$ or $2a$, 60 characters); make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'
  - basic_auth_users.bob: no bcrypt hash
  - basic_auth_users.c:d: a user name cannot contain ':' (basic auth splits on it)",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n",
            "web config file web.yml is not valid: tls_server_config: unknown field `keyfile`, expected one of `cert_file`, `key_file`, `client_auth_type`, `client_ca_file`, `min_version`, `max_version`, `cipher_suites`, `curve_preferences`, `prefer_server_cipher_suites` at line 3 column 3",
        ),
        (
            "tls_server_config:\n  client_allowed_sans: [a]\n",
            "web config file web.yml is not valid: tls_server_config: unknown field `client_allowed_sans`, expected one of `cert_file`, `key_file`, `client_auth_type`, `client_ca_file`, `min_version`, `max_version`, `cipher_suites`, `curve_preferences`, `prefer_server_cipher_suites` at line 2 column 3",
        ),
        (
            "http_server_config:\n  http2: maybe\n",
            "web config file web.yml is not valid: http_server_config.http2: invalid type: string \"maybe\", expected a boolean at line 2 column 10",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(pki.error(yaml), *want, "for:\n{yaml}");
    }
}

#[test]
fn errors_and_debug_never_show_hashes() {
    let pki = Pki::new();
    let hash = bcrypt::hash("secret", 4).unwrap();
    let bad = &hash[..59];
    let e = pki.error(&format!(
        "basic_auth_users:\n  alice: '{}'\n  bob: '$2y$99{}'\n  carol: '$2y$15{}'\n  dave: '$2y$03{}'\n",
        bad,
        &hash[6..],
        &hash[6..],
        &hash[6..]
    ));
    assert!(!e.contains(&hash[7..]), "{e}");
    assert_eq!(
        e,
        "web config file web.yml has 4 problem(s):
  - basic_auth_users.alice: not a bcrypt hash ($2y$, $2b$ or $2a$, 60 characters); make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'
  - basic_auth_users.bob: bcrypt cost 99 is above 14, the most accepted: every check of a new password would take 1099511627776 s or more of CPU; make the hash again with htpasswd -nBC 10 \"bob\" | cut -d: -f2
  - basic_auth_users.carol: bcrypt cost 15 is above 14, the most accepted: every check of a new password would take 2 s or more of CPU; make the hash again with htpasswd -nBC 10 \"carol\" | cut -d: -f2
  - basic_auth_users.dave: bcrypt cost 3 is below 4, the least bcrypt allows"
    );
    let s = pki
        .parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: '{hash}'\n"
        ))
        .unwrap();
    assert_eq!(
        format!("{s:?}"),
        "WebSecurity { tls: true, client_auth: NoClientCert, basic_auth_users: 1, headers: [] }"
    );
}

#[test]
fn basic_auth_header_checks() {
    let pki = Pki::new();
    let s = pki
        .parse(&users_yaml(&[
            ("alice", "s3cret:with:colons"),
            ("bob", "pw"),
        ]))
        .unwrap();
    let check = |h: Option<HeaderValue>| s.check(h.as_ref());
    assert_eq!(check(None), Err(Denied::Missing));
    assert_eq!(
        check(Some(HeaderValue::from_static("Bearer abc"))),
        Err(Denied::NotBasic)
    );
    assert_eq!(
        check(Some(HeaderValue::from_static("Basic"))),
        Err(Denied::NotBasic)
    );
    assert_eq!(
        check(Some(HeaderValue::from_static("Basic !!!notbase64"))),
        Err(Denied::BadBase64)
    );
    assert_eq!(check(Some(basic("alice"))), Err(Denied::NoColon));
    assert_eq!(check(Some(basic("carol:pw"))), Err(Denied::UnknownUser));
    assert_eq!(check(Some(basic("alic:pw"))), Err(Denied::UnknownUser));
    assert_eq!(check(Some(basic("alice:pw"))), Err(Denied::WrongPassword));
    assert_eq!(check(Some(basic("alice:"))), Err(Denied::WrongPassword));
    assert_eq!(check(Some(basic("alice:s3cret:with:colons"))), Ok(()));
    assert_eq!(check(Some(basic("bob:pw"))), Ok(()));
    let lower = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:pw")
    );
    assert_eq!(check(Some(HeaderValue::from_str(&lower).unwrap())), Ok(()));
    assert!(s.check(None).is_err());
    assert!(s.check(Some(&basic("bob:pw"))).is_ok());
}

#[test]
fn successful_checks_are_cached_and_bounded() {
    let pki = Pki::new();
    let names: Vec<String> = (0..70).map(|i| format!("u{i}")).collect();
    let users: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "pw")).collect();
    let s = pki.parse(&users_yaml(&users)).unwrap();
    let auth = s.auth.as_ref().unwrap();
    assert_eq!(s.cache_len(), 0);
    assert!(!auth.is_cached(Some(&basic("u0:pw"))));
    assert_eq!(
        s.check(Some(&basic("u0:wrong"))),
        Err(Denied::WrongPassword)
    );
    assert_eq!(s.check(Some(&basic("nobody:pw"))), Err(Denied::UnknownUser));
    assert_eq!(s.cache_len(), 0, "failures are not cached");
    assert_eq!(s.check(Some(&basic("u0:pw"))), Ok(()));
    assert!(auth.is_cached(Some(&basic("u0:pw"))));
    assert!(!auth.is_cached(Some(&basic("u0:pwx"))));
    assert_eq!(s.check(Some(&basic("u0:pw"))), Ok(()));
    assert_eq!(s.cache_len(), 1);
    for n in &names {
        assert_eq!(s.check(Some(&basic(&format!("{n}:pw")))), Ok(()));
    }
    assert_eq!(s.cache_len(), 64);
    // The oldest went first.
    assert!(!auth.is_cached(Some(&basic("u0:pw"))));
    assert!(auth.is_cached(Some(&basic("u69:pw"))));
}

fn client(last: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 9, last])
}

#[tokio::test]
async fn async_check_matches_sync_check() {
    let pki = Pki::new();
    let s = Arc::new(pki.parse(&users_yaml(&[("alice", "pw")])).unwrap());
    let ip = client(1);
    assert_eq!(s.check_async(None, ip).await, Err(Denied::Missing));
    assert_eq!(
        s.check_async(Some(basic("alice:no")), ip).await,
        Err(Denied::WrongPassword)
    );
    assert!(s.check_async(Some(basic("alice:pw")), ip).await.is_ok());
    assert!(s.check_async(Some(basic("alice:pw")), ip).await.is_ok());
    assert!(WebSecurity::none().check_async(None, ip).await.is_ok());
}

/// An uncached check lasts at least as long as one at the highest configured cost, so a
/// cheap user's answer looks like an unknown user's.
#[tokio::test]
async fn uncached_checks_last_as_long_as_the_dearest_hash() {
    let pki = Pki::new();
    let yaml = format!(
        "basic_auth_users:\n  cheap: '{}'\n  dear: '{}'\n",
        bcrypt::hash("pw", 4).unwrap(),
        bcrypt::hash("pw", 10).unwrap()
    );
    let s = pki.parse(&yaml).unwrap();
    let floor = s.auth.as_ref().unwrap().floor;
    assert!(floor > std::time::Duration::from_millis(5), "{floor:?}");
    for creds in ["cheap:wrong", "nobody:pw", "cheap:pw"] {
        let started = std::time::Instant::now();
        let _ = s.check_async(Some(basic(creds)), client(2)).await;
        assert!(
            started.elapsed() >= floor,
            "{creds}: {:?} < {floor:?}",
            started.elapsed()
        );
    }
    // Cached now: answered at once.
    let started = std::time::Instant::now();
    assert_eq!(
        s.check_async(Some(basic("cheap:pw")), client(2)).await,
        Ok(())
    );
    assert!(started.elapsed() < floor);
}

#[tokio::test]
async fn a_client_may_have_two_checks_pending_and_no_more() {
    let ip = client(3);
    let first = auth::GATE.admit(ip);
    let second = auth::GATE.admit(ip);
    assert!(first.is_some() && second.is_some());
    assert!(auth::GATE.admit(ip).is_none());
    assert!(
        auth::GATE.admit(client(4)).is_some(),
        "other clients are not affected"
    );
    drop(first);
    assert!(auth::GATE.admit(ip).is_some());
    let pki = Pki::new();
    let s = pki.parse(&users_yaml(&[("alice", "pw")])).unwrap();
    let _third = auth::GATE.admit(ip);
    assert_eq!(
        s.check_async(Some(basic("alice:pw")), ip).await,
        Err(Denied::Busy)
    );
}

#[test]
fn clients_are_ipv4_addresses_and_ipv6_64s() {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(auth::group(ip("127.0.0.7")), ip("127.0.0.7"));
    assert_ne!(auth::group(ip("127.0.0.7")), auth::group(ip("127.0.0.8")));
    assert_eq!(
        auth::group(ip("2001:db8:1:2:3:4:5:6")),
        ip("2001:db8:1:2::")
    );
    assert_eq!(
        auth::group(ip("2001:db8:1:2::1")),
        auth::group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
    );
    assert_ne!(
        auth::group(ip("2001:db8:1:2::1")),
        auth::group(ip("2001:db8:1:3::1"))
    );
    assert_eq!(auth::group(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    // A whole /64 shares the per-client limit.
    let gate: &'static auth::Gate = Box::leak(Box::new(auth::Gate::new(1)));
    let _a = gate.admit(ip("2001:db8::1"));
    let _b = gate.admit(ip("2001:db8::2"));
    assert!(_a.is_some() && _b.is_some());
    assert!(gate.admit(ip("2001:db8::ffff:3")).is_none());
    assert!(gate.admit(ip("2001:db8:0:1::1")).is_some());
}

/// With one place: newcomers first (the newest first), then the clients served longest
/// ago; a waiter that leaves gives its place back.
#[tokio::test]
async fn free_places_go_to_newcomers_then_to_the_clients_served_longest_ago() {
    let gate: &'static auth::Gate = Box::leak(Box::new(auth::Gate::new(1)));
    for a in [1, 2, 3] {
        drop(gate.admit(client(a)).unwrap().slot().await);
    }
    let holder = gate.admit(client(9)).unwrap();
    let hold = holder.slot().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    let queue = |c: u8| {
        let ticket = gate.admit(client(c)).unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _slot = ticket.slot().await;
            tx.send(c).unwrap();
        })
    };
    for c in [3, 1, 2, 20, 21] {
        tasks.push(queue(c));
        tokio::task::yield_now().await;
    }
    // One that leaves the queue before its turn.
    let leaving = queue(22);
    tokio::task::yield_now().await;
    assert_eq!(gate.waiting(), 6);
    leaving.abort();
    let _ = leaving.await;
    assert_eq!(gate.waiting(), 5);
    drop(hold);
    for t in tasks {
        t.await.unwrap();
    }
    drop(tx);
    let mut order = Vec::new();
    while let Some(c) = rx.recv().await {
        order.push(c);
    }
    assert_eq!(order, [21, 20, 1, 2, 3]);
    // Nothing holds a place now: the next check starts at once.
    let next = gate.admit(client(30)).unwrap();
    let slot = tokio::time::timeout(std::time::Duration::from_secs(1), next.slot()).await;
    assert!(slot.is_ok(), "a place leaked");
}

#[test]
fn a_reload_keeps_what_was_verified_for_unchanged_users() {
    let pki = Pki::new();
    let alice = bcrypt::hash("pw", 4).unwrap();
    let bob = bcrypt::hash("pw", 4).unwrap();
    let yaml = |users: &[(&str, &str)]| {
        let mut y = "basic_auth_users:\n".to_owned();
        for (u, h) in users {
            y += &format!("  {u}: '{h}'\n");
        }
        y
    };
    let first = pki
        .parse(&yaml(&[("alice", &alice), ("bob", &bob)]))
        .unwrap();
    assert_eq!(first.check(Some(&basic("alice:pw"))), Ok(()));
    assert_eq!(first.check(Some(&basic("bob:pw"))), Ok(()));
    let same = WebSecurity::parse_after(
        &yaml(&[("alice", &alice), ("bob", &bob)]),
        &pki.dir,
        "web.yml",
        &first,
    )
    .unwrap();
    assert!(Arc::ptr_eq(
        same.auth.as_ref().unwrap(),
        first.auth.as_ref().unwrap()
    ));
    let new_bob = bcrypt::hash("pw2", 4).unwrap();
    let carol = bcrypt::hash("pw", 4).unwrap();
    let changed = WebSecurity::parse_after(
        &yaml(&[("alice", &alice), ("bob", &new_bob), ("carol", &carol)]),
        &pki.dir,
        "web.yml",
        &same,
    )
    .unwrap();
    let auth = changed.auth.as_ref().unwrap();
    assert!(
        auth.is_cached(Some(&basic("alice:pw"))),
        "alice kept her hash"
    );
    assert!(
        !auth.is_cached(Some(&basic("bob:pw"))),
        "bob's hash changed"
    );
    assert_eq!(changed.cache_len(), 1);
    assert_eq!(
        changed.check(Some(&basic("bob:pw"))),
        Err(Denied::WrongPassword)
    );
}

#[test]
fn dummy_hash_uses_the_highest_cost() {
    let pki = Pki::new();
    let yaml = format!(
        "basic_auth_users:\n  a: '{}'\n  b: '{}'\n",
        bcrypt::hash("x", 4).unwrap(),
        bcrypt::hash("x", 5).unwrap()
    );
    let s = pki.parse(&yaml).unwrap();
    let dummy = &s.auth.as_ref().unwrap().dummy_hash;
    assert_eq!(bcrypt::HashParts::from_str(dummy).unwrap().get_cost(), 5);
}

#[test]
fn shipped_example_is_valid_but_for_its_placeholder_hash() {
    let pki = Pki::new();
    let example = include_str!("../../deploy/web-config.example.yml");
    assert_eq!(
        pki.error(example),
        "web config file web.yml has 1 problem(s):
  - basic_auth_users.prometheus: not a bcrypt hash ($2y$, $2b$ or $2a$, 60 characters); make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'"
    );
    let real = bcrypt::hash("pw", 4).unwrap();
    let fixed = example.replace(
        "$2y$10$REPLACE.THIS.PLACEHOLDER.WITH.A.REAL.BCRYPT.HASH.xxxxxx",
        &real,
    );
    let s = pki.parse(&fixed).unwrap();
    assert!(s.tls().is_some());
    assert_eq!(s.basic_auth_users(), 1);
    assert_eq!(s.headers().len(), 2);
}
