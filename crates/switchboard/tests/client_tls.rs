//! wss:// with the URL client: trust from a CA file or a given rustls config, names and IP
//! addresses, certificates from the wrong CA or for the wrong name, no verification, and
//! client certificates. The CA is generated for each test.
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used)]

mod client_support;

use std::sync::Arc;

use client_support::pki::{provider, server_config_for, tls_server, Pki};
use client_support::{bounded, round_trip};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::RootCertStore;
use switchboard::{ClientBuilder, Error};

#[tokio::test]
async fn wss_with_a_ca_file_by_name_and_by_ip_address() {
    bounded(async {
        let pki = Pki::new();
        let (port, _) = tls_server(pki.server_config(false)).await;
        for host in ["localhost", "127.0.0.1"] {
            let (mut ws, _) = ClientBuilder::new(format!("wss://{host}:{port}/"))
                .ca_file(pki.path("ca.pem"))
                .connect()
                .await
                .unwrap();
            assert!(ws.get_ref().is_tls());
            round_trip(&mut ws, host).await;
        }
    })
    .await;
}

#[tokio::test]
async fn wss_with_a_given_rustls_config() {
    bounded(async {
        let pki = Pki::new();
        let (port, _) = tls_server(pki.server_config(false)).await;
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (mut ws, _) = ClientBuilder::new(format!("wss://localhost:{port}/"))
            .tls(Arc::new(config))
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "own config").await;
    })
    .await;
}

/// The TLS failure's description, for checking that it names the certificate problem.
fn tls_failure(result: switchboard::Result<impl Sized>) -> String {
    match result {
        Err(Error::Io(e)) => e.to_string(),
        Err(other) => panic!("expected an I/O (TLS) error, got {other:?}"),
        Ok(_) => panic!("expected a TLS failure"),
    }
}

#[tokio::test]
async fn wss_rejects_a_certificate_from_another_ca_or_for_another_name() {
    bounded(async {
        let pki = Pki::new();
        let other = Pki::new();
        let (port, _) = tls_server(pki.server_config(false)).await;
        let url = format!("wss://localhost:{port}/");
        let wrong_ca = ClientBuilder::new(&url)
            .ca_file(other.path("ca.pem"))
            .connect()
            .await;
        let message = tls_failure(wrong_ca);
        assert!(message.contains("UnknownIssuer"), "{message}");
        // The default trust anchors do not include a test CA either.
        let message = tls_failure(switchboard::connect(&url).await);
        assert!(message.contains("UnknownIssuer"), "{message}");
        // Right CA, wrong name.
        let (cert, key) = pki.issue(&["elsewhere.test"], ExtendedKeyUsagePurpose::ServerAuth);
        let (port, _) = tls_server(server_config_for(cert, key, None)).await;
        let wrong_name = ClientBuilder::new(format!("wss://localhost:{port}/"))
            .ca_file(pki.path("ca.pem"))
            .connect()
            .await;
        let message = tls_failure(wrong_name);
        assert!(message.contains("not valid for name"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn danger_accept_invalid_certs_accepts_anything() {
    bounded(async {
        let pki = Pki::new();
        let (cert, key) = pki.issue(&["elsewhere.test"], ExtendedKeyUsagePurpose::ServerAuth);
        let (port, _) = tls_server(server_config_for(cert, key, None)).await;
        let (mut ws, _) = ClientBuilder::new(format!("wss://127.0.0.1:{port}/"))
            .danger_accept_invalid_certs()
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "unverified").await;
    })
    .await;
}

#[tokio::test]
async fn client_certificates() {
    bounded(async {
        let pki = Pki::new();
        let (port, mut presented) = tls_server(pki.server_config(true)).await;
        let url = format!("wss://localhost:{port}/");
        let (cert, key) = pki.client_files();
        let (mut ws, _) = ClientBuilder::new(&url)
            .ca_file(pki.path("ca.pem"))
            .client_auth(&cert, &key)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "authenticated").await;
        assert!(presented.recv().await.unwrap());

        // Without a certificate the server refuses. With TLS 1.3 the refusal arrives after
        // the client's side of the TLS handshake is done, so it may surface while reading the
        // 101 response; either way it is an I/O error.
        let result = ClientBuilder::new(&url)
            .ca_file(pki.path("ca.pem"))
            .connect()
            .await;
        assert!(matches!(result, Err(Error::Io(_))), "{result:?}");

        let missing_key = ClientBuilder::new(&url)
            .ca_file(pki.path("ca.pem"))
            .client_auth(&cert, pki.path("nonexistent.key"));
        assert!(matches!(missing_key.check(), Err(Error::Config(_))));
    })
    .await;
}
