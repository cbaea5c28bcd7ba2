//! `--web.config.file` over loopback: TLS with certificates made here, client
//! certificates, TLS versions, basic auth, and the connection limits.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use cds_redis_backup_exporter::server::Limits;

use crate::helpers::*;

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

fn basic_users(users: &[(&str, &str)]) -> String {
    let mut yaml = "basic_auth_users:\n".to_owned();
    for (user, password) in users {
        yaml += &format!("  {user}: '{}'\n", bcrypt::hash(password, 4).unwrap());
    }
    yaml
}

/// GETs `path` until /-/ready answers 200 (bounded), then returns the response.
async fn get_when_ready(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> reqwest::Response {
    let get = |p: &str| {
        let r = client.get(format!("{base}{p}"));
        match auth {
            Some((u, pw)) => r.basic_auth(u, Some(pw)),
            None => r,
        }
    };
    for _ in 0..200 {
        if get("/-/ready").send().await.unwrap().status() == 200 {
            return get(path).send().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("exporter not ready after 5s");
}

/// Reads until the server closes the connection (EOF or reset); returns how long it took.
async fn until_closed(mut s: TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Err(_) => panic!("connection still open after 5s"),
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn https_with_basic_auth_serves_metrics() {
    let pki = Pki::new();
    let security = pki.security(&format!(
        "{TLS}http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n{}",
        basic_users(&[("prom", "scrape-me")])
    ));
    let (_fake, exporter) = secured_exporter(security, Limits::default()).await;
    let base = format!("https://{}", exporter.addr);
    let client = pki.client(None, false);

    let r = get_when_ready(&client, &base, "/metrics", Some(("prom", "scrape-me"))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.headers()["x-frame-options"], "deny");
    let text = r.text().await.unwrap();
    assert_eq!(
        value(&text, "cds_redis_backup_up", &[("backup_id", "bk")]),
        1.0,
        "{text}"
    );

    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"cds-redis-backup-exporter\""
    );
    assert_eq!(r.headers()["x-frame-options"], "deny");
    exporter.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_fails() {
    let pki = Pki::new();
    let (_fake, exporter) = secured_exporter(pki.security(TLS), Limits::default()).await;
    let plain = reqwest::Client::new();
    let e = plain
        .get(format!("http://{}/-/healthy", exporter.addr))
        .send()
        .await;
    assert!(e.is_err(), "{e:?}");
    // The server is still there for HTTPS.
    let r = pki
        .client(None, false)
        .get(format!("https://{}/-/healthy", exporter.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "Healthy\n".to_owned())
    );
    exporter.stop().await;
}

#[tokio::test]
async fn client_certificate_required_and_verified() {
    let pki = Pki::new();
    let security = pki.security(&format!(
        "{TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
    ));
    let (_fake, exporter) = secured_exporter(security, Limits::default()).await;
    let url = format!("https://{}/-/healthy", exporter.addr);

    let none = pki.client(None, false).get(&url).send().await;
    assert!(none.is_err(), "no client certificate: {none:?}");
    let rogue = pki
        .client(Some(&pki.rogue_client_pem), false)
        .get(&url)
        .send()
        .await;
    assert!(rogue.is_err(), "certificate from an unknown CA: {rogue:?}");
    for tls12_only in [false, true] {
        let good = pki
            .client(Some(&pki.client_pem), tls12_only)
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(good.status(), 200, "TLS 1.2 only: {tls12_only}");
    }
    exporter.stop().await;
}

#[tokio::test]
async fn tls13_minimum_refuses_a_tls12_client() {
    let pki = Pki::new();
    let security = pki.security(&format!("{TLS}  min_version: TLS13\n"));
    let (_fake, exporter) = secured_exporter(security, Limits::default()).await;
    let url = format!("https://{}/-/healthy", exporter.addr);
    let old = pki.client(None, true).get(&url).send().await;
    assert!(old.is_err(), "TLS 1.2 client: {old:?}");
    let r = pki.client(None, false).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    exporter.stop().await;
}

#[tokio::test]
async fn basic_auth_guards_every_path() {
    let pki = Pki::new();
    let security = pki.security(&basic_users(&[("alice", "pa:ss"), ("bob", "other")]));
    let (_fake, exporter) = secured_exporter(security, Limits::default()).await;
    let base = format!("http://{}", exporter.addr);
    let client = reqwest::Client::new();

    for path in ["/", "/metrics", "/-/healthy", "/-/ready", "/nope"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            r.headers()["www-authenticate"],
            "Basic realm=\"cds-redis-backup-exporter\"",
            "{path}"
        );
        assert_eq!(r.text().await.unwrap(), "Unauthorized\n");
    }
    let status = |user: &'static str, pw: &'static str| {
        let r = client
            .get(format!("{base}/-/healthy"))
            .basic_auth(user, Some(pw));
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("alice", "wrong").await, 401);
    assert_eq!(status("alice", "other").await, 401, "bob's password");
    assert_eq!(status("carol", "pa:ss").await, 401, "unknown user");
    assert_eq!(status("alice", "pa:ss").await, 200);
    assert_eq!(status("alice", "pa:ss").await, 200, "cached");
    assert_eq!(status("bob", "other").await, 200);
    let r = client
        .get(format!("{base}/nope"))
        .basic_auth("bob", Some("other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Auth comes before routing: no credentials, no 405 either.
    let r = client.post(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{base}/metrics"))
        .basic_auth("bob", Some("other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    exporter.stop().await;
}

#[tokio::test]
async fn oversized_request_head_is_refused() {
    let (_fake, exporter) = secured_exporter(Default::default(), Limits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/-/healthy", exporter.addr);
    let ok = client
        .get(&url)
        .header("x-filler", "a".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "8 KiB header is within the limit");
    let big = client
        .get(&url)
        .header("x-filler", "a".repeat(32 * 1024))
        .send()
        .await;
    // hyper answers 431; if the close overtakes the answer, the client sees a reset.
    match big {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e:?}"),
    }
    exporter.stop().await;
}

fn short_limits() -> Limits {
    Limits {
        tls_handshake: Duration::from_millis(300),
        header_read: Duration::from_millis(300),
        io: Duration::from_secs(2),
        ..Limits::default()
    }
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() {
    let pki = Pki::new();
    let (_fake, exporter) = secured_exporter(pki.security(TLS), short_limits()).await;
    let s = TcpStream::connect(exporter.addr).await.unwrap();
    let took = until_closed(s).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn slow_plain_clients_are_dropped() {
    let (_fake, exporter) = secured_exporter(Default::default(), short_limits()).await;
    // Sends nothing at all.
    let s = TcpStream::connect(exporter.addr).await.unwrap();
    let took = until_closed(s).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "silent: {took:?}"
    );
    // Stops halfway through the headers.
    let mut s = TcpStream::connect(exporter.addr).await.unwrap();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = until_closed(s).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "half a request: {took:?}"
    );
    // Idle after a whole request: the header deadline covers waiting for the next one.
    let mut s = TcpStream::connect(exporter.addr).await.unwrap();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let took = until_closed(s).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "idle keep-alive: {took:?}"
    );
    exporter.stop().await;
}

#[test]
fn bad_web_config_stops_the_binary_with_every_problem() {
    let pki = Pki::new();
    let path = pki.dir.join("bad.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n  min_version: TLS11\nbasic_auth_users:\n  alice: plaintext\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cds-redis-backup-exporter"))
        .args([
            "--demo",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dir = pki.dir.display();
    let want = format!(
        "error: web config file {dir}/bad.yml has 3 problem(s):
  - tls_server_config.cert_file: cannot read {dir}/nope.crt: No such file or directory (os error 2)
  - tls_server_config.min_version: rustls supports TLS12 and TLS13 only
  - basic_auth_users.alice: not a bcrypt hash ($2y$, $2b$ or $2a$, 60 characters); make one with htpasswd -nBC 10 \"\" | tr -d ':\\n'
"
    );
    assert!(stderr.ends_with(&want), "{stderr}");
}

#[tokio::test]
async fn client_that_stops_reading_is_dropped() {
    let (_fake, exporter) = secured_exporter(Default::default(), short_limits()).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small window fills sooner.
    socket.set_recv_buffer_size(4096).unwrap();
    let s = socket.connect(exporter.addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    const REQUESTS: usize = 2000;
    // Pipelined requests whose answers (several MB) cannot all sit in socket buffers.
    let writer = tokio::spawn(async move {
        let req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQUESTS);
        let _ = wr.write_all(&req).await;
        wr
    });
    // Past the 2 s write deadline, without reading.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "connection still open");
    let answered = got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
    assert!(answered < REQUESTS, "all {answered} answered: not dropped");
    writer.abort();
}

#[tokio::test]
async fn other_client_auth_types() {
    let pki = Pki::new();
    // (type, CA line, expected success without / with a rogue / with a good cert)
    let cases = [
        ("RequestClientCert", "", [true, true, true]),
        ("RequireAnyClientCert", "", [false, true, true]),
        (
            "VerifyClientCertIfGiven",
            "  client_ca_file: ca.crt\n",
            [true, false, true],
        ),
    ];
    for (auth, ca, want) in cases {
        let security = pki.security(&format!("{TLS}  client_auth_type: {auth}\n{ca}"));
        let (_fake, exporter) = secured_exporter(security, Limits::default()).await;
        let url = format!("https://{}/-/healthy", exporter.addr);
        let identities = [
            None,
            Some(pki.rogue_client_pem.as_str()),
            Some(&pki.client_pem),
        ];
        let mut got = [false; 3];
        for (i, identity) in identities.into_iter().enumerate() {
            let r = pki.client(identity, false).get(&url).send().await;
            got[i] = r.is_ok_and(|r| r.status() == 200);
        }
        assert_eq!(got, want, "{auth}: none, rogue, good");
        exporter.stop().await;
    }
}
