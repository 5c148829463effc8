//! `switchboard echo --tls-cert --tls-key`: argument checks, a clear error for unusable files,
//! and wss echo end to end with a certificate generated for this run.
#![allow(clippy::unwrap_used)]

mod common;

use common::{echo_process, switchboard};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard::proto::handshake::ClientOptions;
use switchboard::server::tls::{rustls, tokio_rustls};
use switchboard::{client_handshake, CloseCode, Message, WebSocketConfig};
use tokio::net::TcpStream;

const BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_certificate_needs_its_key_and_the_other_way_round() {
    for flag in ["--tls-cert", "--tls-key"] {
        let output = switchboard()
            .args(["echo", flag, "x.pem"])
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("required arguments were not provided"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_certificate_fails_before_listening() {
    let output = switchboard()
        .args(["echo", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "/nonexistent/cert.pem"])
        .args(["--tls-key", "/nonexistent/key.pem"])
        .output();
    let output = tokio::time::timeout(BOUND, output).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read certificate file /nonexistent/cert.pem"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn echo_serves_wss() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let write = |name: &str, pem: String| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let cert = write("cert.pem", certified.cert.pem());
    let key = write("key.pem", certified.signing_key.serialize_pem());

    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let echo = echo_process(&["--tls-cert", cert, "--tls-key", key]).await;
    let addr = echo
        .url
        .strip_prefix("wss://")
        .unwrap_or_else(|| panic!("not a wss:// URL: {}", echo.url))
        .to_owned();

    let session = async {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certified.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(&addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let port = addr.rsplit(':').next().unwrap();
        let url = format!("wss://localhost:{port}/").parse().unwrap();
        let config = WebSocketConfig::default();
        let (mut ws, _) = client_handshake(tls, &url, ClientOptions::default(), &config)
            .await
            .unwrap();
        ws.send("secure echo").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::text("secure echo")
        );
        ws.close(CloseCode::NORMAL_CLOSURE, "").await.unwrap();
    };
    tokio::time::timeout(BOUND, session).await.unwrap();
    // `echo` is killed when dropped at the end of the test.
    drop(echo);
    std::fs::remove_dir_all(&dir).unwrap();
}
