//! wss: TLS from PEM files with a self-signed certificate generated for each run (no key is
//! ever committed), a rustls client that trusts only that certificate, and echo over it.
#![allow(clippy::unwrap_used)]

mod server_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use server_support::bounded;
use switchboard::proto::handshake::ClientOptions;
use switchboard::server::tls::{self, rustls, tokio_rustls};
use switchboard::server::Acceptor;
use switchboard::{client_handshake, CloseCode, Error, Message, WebSocketConfig};
use tokio::net::{TcpListener, TcpStream};

/// A fresh directory for one test's PEM files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("switchboard-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost`, written as PEM: (cert path, key path, DER).
fn self_signed(dir: &TempDir) -> (PathBuf, PathBuf, rustls::pki_types::CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.write("cert.pem", &certified.cert.pem());
    let key = dir.write("key.pem", &certified.signing_key.serialize_pem());
    (cert, key, certified.cert.der().clone())
}

/// A client that trusts only `root`, speaking HTTP/1.1 over ALPN.
fn connector(root: rustls::pki_types::CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn wss_echo_with_a_certificate_made_at_run_time() {
    let dir = TempDir::new("echo");
    let (cert, key, der) = self_signed(&dir);
    let tls = tls::acceptor(&cert, &key).unwrap();
    let acceptor = Acceptor::new().protocols(["echo"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = tls.accept(tcp).await.unwrap();
        let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let mut ws = acceptor.accept(stream).await.unwrap();
        while let Some(message) = ws.recv().await {
            let message = message.unwrap();
            if message.is_data() {
                ws.send(message).await.unwrap();
            }
        }
        alpn
    });

    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = bounded(connector(der).connect(name, tcp)).await.unwrap();
    let url = format!("wss://localhost:{port}/echo").parse().unwrap();
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["echo".into()];
    let (mut client, _) = bounded(client_handshake(
        stream,
        &url,
        options,
        &WebSocketConfig::default(),
    ))
    .await
    .unwrap();
    assert_eq!(client.subprotocol(), Some("echo"));
    for message in [
        Message::text("over TLS"),
        Message::binary(vec![1u8; 100_000]),
    ] {
        client.send(message.clone()).await.unwrap();
        assert_eq!(bounded(client.recv()).await.unwrap().unwrap(), message);
    }
    bounded(client.close(CloseCode::NORMAL_CLOSURE, ""))
        .await
        .unwrap();
    let alpn = bounded(server).await.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_fails() {
    let dir = TempDir::new("untrusted");
    let (cert, key, _) = self_signed(&dir);
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = tls::acceptor(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tls.accept(tcp).await.is_err()
    });
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connected = bounded(connector(other.cert.der().clone()).connect(name, tcp)).await;
    assert!(connected.is_err());
    assert!(bounded(server).await.unwrap());
}

fn config_error(result: switchboard::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Config(why)) => why,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn unusable_files_are_config_errors_that_name_the_file() {
    let dir = TempDir::new("errors");
    let (cert, key, _) = self_signed(&dir);
    let missing = Path::new("/nonexistent/switchboard/cert.pem");

    let why = config_error(tls::server_config(missing, &key));
    assert!(
        why.contains("certificate file /nonexistent/switchboard/cert.pem"),
        "{why}"
    );
    let why = config_error(tls::server_config(&cert, missing));
    assert!(
        why.contains("private key file /nonexistent/switchboard/cert.pem"),
        "{why}"
    );
    // The two files swapped: no certificate in the key file, no key in the certificate file.
    let why = config_error(tls::server_config(&key, &key));
    assert!(why.starts_with("no certificate found in PEM file"), "{why}");
    let why = config_error(tls::server_config(&cert, &cert));
    assert!(why.starts_with("no private key found in PEM file"), "{why}");
    // A key that does not belong to the certificate.
    let other = rcgen::KeyPair::generate().unwrap();
    let wrong_key = dir.write("wrong.pem", &other.serialize_pem());
    let why = config_error(tls::server_config(&cert, &wrong_key));
    assert!(why.starts_with("TLS certificate and key"), "{why}");
    // And the right pair works.
    assert!(tls::server_config(&cert, &key).is_ok());
}

#[tokio::test]
async fn a_stalled_tls_handshake_times_out() {
    let dir = TempDir::new("stalled");
    let (cert, key, _) = self_signed(&dir);
    let tls = tls::acceptor(&cert, &key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let result = bounded(tls::accept(
        &tls,
        tcp,
        std::time::Duration::from_millis(100),
    ))
    .await;
    assert!(matches!(result, Err(Error::Timeout("TLS handshake"))));
}
