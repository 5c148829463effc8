//! A CA generated at test time (rcgen), the PEM files a client reads, and rustls server
//! configurations, with or without client certificate checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::spawn_tls_echo;

/// A CA made at test time, the files a client needs, and server configurations.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: CertifiedIssuer<'static, KeyPair>,
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

impl Pki {
    pub fn new() -> Self {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "switchboard-client-test-{}-{n}",
            std::process::id(),
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Distinct names: a verifier looks issuers up by name.
        let pki = Self {
            dir,
            ca: new_ca(&format!("switchboard test CA {n}")),
        };
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).unwrap();
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A certificate for `names` (DNS names or IP addresses) with `usage`, signed by the CA.
    pub fn issue(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (CertificateDer<'static>, KeyPair) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        (cert.der().clone(), key)
    }

    /// A server configuration for localhost, 127.0.0.1 and ::1; with `client_ca`, client
    /// certificates issued by this CA are required.
    pub fn server_config(&self, client_ca: bool) -> Arc<ServerConfig> {
        let (cert, key) = self.issue(
            &["localhost", "127.0.0.1", "::1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        server_config_for(cert, key, client_ca.then(|| self.ca.der().clone()))
    }

    /// Writes a client certificate and key; returns their paths.
    pub fn client_files(&self) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(&["client.test"], ExtendedKeyUsagePurpose::ClientAuth);
        let pem = pem_block("CERTIFICATE", &cert);
        std::fs::write(self.path("client.pem"), pem).unwrap();
        std::fs::write(self.path("client.key"), key.serialize_pem()).unwrap();
        (self.path("client.pem"), self.path("client.key"))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config_for(
    cert: CertificateDer<'static>,
    key: KeyPair,
    client_ca: Option<CertificateDer<'static>>,
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(builder.with_single_cert(vec![cert], key).unwrap())
}

pub async fn tls_server(config: Arc<ServerConfig>) -> (u16, mpsc::UnboundedReceiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, spawn_tls_echo(listener, config))
}
