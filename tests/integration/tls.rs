//! TLS and basic auth on the real server: a self-signed certificate made here, a web config
//! file in the exporter-toolkit format, and real HTTPS requests from a rustls client that
//! trusts only that certificate.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

use crate::support::{self, Case, Response};

pub(crate) const PASSWORD: &str = "s3cret:with colon";

/// The web config and certificate of one test, in a temporary directory.
pub(crate) struct Tls {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) web_file: std::path::PathBuf,
    ca: rcgen::Certificate,
}

/// A certificate for `localhost`, its key, and a web config naming them by relative path (the
/// toolkit resolves them from the config's directory), with one basic-auth user.
pub(crate) fn setup(extra: &str) -> Tls {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    std::fs::write(dir.path().join("server.crt"), key.cert.pem()).expect("write cert");
    std::fs::write(
        dir.path().join("server.key"),
        key.signing_key.serialize_pem(),
    )
    .expect("write key");
    // cost 4: the lowest bcrypt allows, so the test spends no time hashing
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    let web_file = dir.path().join("web.yml");
    std::fs::write(
        &web_file,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: '{hash}'\n{extra}"
        ),
    )
    .expect("write web config");
    Tls {
        _dir: dir,
        web_file,
        ca: key.cert,
    }
}

fn client(trusted: &rcgen::Certificate) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots
        .add(trusted.der().clone())
        .expect("trust the test cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn https_get(
    connector: &tokio_rustls::TlsConnector,
    addr: &str,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> std::io::Result<Response> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = connector.connect(name, tcp).await?;
    let auth = credentials
        .map(|(u, p)| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // a peer that closes without close_notify ends in UnexpectedEof after the whole response
    match tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut raw)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
    }
    support::parse_response(&raw)
}

#[tokio::test]
async fn serves_https_with_basic_auth_and_refuses_the_rest() {
    let tls = setup("");
    let web = hostwatt::web::load(&tls.web_file).unwrap_or_else(|e| panic!("{e}"));
    assert!(web.tls.is_some() && web.auth.is_some());
    let case = Case::load("rapl-wrap");
    let (app, _root) = case.run().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (_registry_tx, registry_rx) =
        watch::channel(hostwatt::server::Served::from(app.registry.clone()));
    let (_web_tx, web_rx) = watch::channel(Arc::new(web));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(hostwatt::server::serve(
        listener,
        registry_rx,
        web_rx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let connector = client(&tls.ca);

    let ok = https_get(
        &connector,
        &addr,
        "/metrics",
        Some(("prometheus", PASSWORD)),
    )
    .await
    .expect("HTTPS with the right credentials");
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body, hostwatt::metrics::exposition(&app.registry));
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));

    for (path, creds) in [
        ("/metrics", None),
        ("/metrics", Some(("prometheus", "wrong"))),
        ("/metrics", Some(("nobody", PASSWORD))),
        // like the exporter toolkit, every path is protected
        ("/healthz", None),
    ] {
        let denied = https_get(&connector, &addr, path, creds)
            .await
            .expect("HTTPS request");
        assert_eq!(denied.status, 401, "{path} {creds:?}: {denied:?}");
        assert_eq!(
            denied.header("www-authenticate"),
            Some("Basic realm=\"hostwatt\""),
            "{path} {creds:?}"
        );
        assert!(!denied.body.contains("hostwatt_"), "{denied:?}");
        assert_eq!(denied.header("x-content-type-options"), Some("nosniff"));
    }
    let health = https_get(
        &connector,
        &addr,
        "/healthz",
        Some(("prometheus", PASSWORD)),
    )
    .await
    .expect("healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    // plain HTTP to the TLS port gets no response at all
    let plain_addr = addr.clone();
    let plain = tokio::task::spawn_blocking(move || support::http_get(&plain_addr, "/metrics"))
        .await
        .expect("client thread");
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP was served: {plain:?}"
    );

    // a client that does not trust this certificate refuses the server
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let untrusting = client(&other.cert);
    let refused = https_get(
        &untrusting,
        &addr,
        "/metrics",
        Some(("prometheus", PASSWORD)),
    )
    .await;
    let err = refused.expect_err("an untrusted certificate is refused");
    assert!(err.to_string().contains("certificate"), "{err}");

    // and the server still serves after all that
    let again = https_get(
        &connector,
        &addr,
        "/metrics",
        Some(("prometheus", PASSWORD)),
    )
    .await
    .expect("HTTPS after failed handshakes");
    assert_eq!(again.status, 200);

    stop_tx.send(()).expect("server still listening");
    let ended = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server task ends after shutdown");
    ended.expect("server task").expect("server run");
}

#[test]
fn check_config_names_a_broken_web_config() {
    let tls = setup("");
    // a TLS 1.0 minimum is refused, not silently raised
    let text = std::fs::read_to_string(&tls.web_file).expect("web config");
    std::fs::write(
        &tls.web_file,
        text.replace("min_version: TLS12", "min_version: TLS10"),
    )
    .expect("write");
    let out = support::hostwatt()
        .args(["check-config", "--config", "config/hostwatt.example.toml"])
        .arg("--web.config.file")
        .arg(&tls.web_file)
        .output()
        .expect("run hostwatt");
    let (_, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        // the path came from the flag: the flag is blamed, not the example config
        stderr.starts_with("hostwatt: --web.config.file: ")
            && stderr.contains("tls_server_config.min_version: TLS10 is not supported"),
        "{stderr}"
    );
}
