//! TLS for servers (`wss://`) with rustls: certificates and keys from PEM files.
//!
//! Enabled by the `rustls` feature (on by default). Crypto comes from the `ring` provider,
//! chosen explicitly, so nothing depends on (or panics over) a process-wide default provider.
//!
//! ```no_run
//! use switchboard::server::{tls, Acceptor};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = tls::acceptor("cert.pem", "key.pem")?;
//! let acceptor = Acceptor::new();
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let timeout = acceptor.websocket_config().handshake_timeout;
//! let stream = tls::accept(&tls, tcp, timeout).await?;
//! let ws = acceptor.accept(stream).await?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, Result};

pub use rustls;
pub use tokio_rustls;
pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// The ALPN protocol a WebSocket handshake speaks: it is an HTTP/1.1 request (RFC 6455 4.1).
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Reads a certificate chain from a PEM file: the server's certificate first, then any
/// intermediates (the order `certbot`'s `fullchain.pem` has).
///
/// Fails with [`Error::Config`] if the file cannot be read, is not PEM, or holds no
/// certificate.
pub fn load_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let failed = |e: pem::Error| pem_error("certificate", path, e);
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    if certificates.is_empty() {
        return Err(failed(pem::Error::NoItemsFound));
    }
    Ok(certificates)
}

/// Reads the first private key (PKCS #8, PKCS #1 RSA or SEC1 EC) from a PEM file.
///
/// Fails with [`Error::Config`] if the file cannot be read, is not PEM, or holds no key.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error("private key", path, e))
}

/// A rustls server configuration for the certificate chain and key in these PEM files, with
/// ALPN `http/1.1`, TLS 1.2 and 1.3, and no client certificates.
///
/// Fails with [`Error::Config`] if a file is unusable or the key does not fit the
/// certificate.
pub fn server_config(
    certificates: impl AsRef<Path>,
    private_key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>> {
    let chain = load_certificates(certificates)?;
    let key = load_private_key(private_key)?;
    server_config_from_der(chain, key)
}

/// The TLS provider of both roles: rustls with `ring`, chosen explicitly rather than through a
/// process-wide default that another crate in the program may set differently.
///
/// rustls 0.23.48 deprecated `ring`'s provider because it has no post-quantum key exchange;
/// that takes `aws-lc-rs`, whose C build we do not impose on every user of `wss://`. The
/// deprecation is allowed here, in the one place that names the provider.
#[allow(deprecated)]
pub(crate) fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// [`server_config`] from a certificate chain and key already in memory (DER).
pub fn server_config_from_der(
    certificates: Vec<CertificateDer<'static>>,
    private_key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS settings: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certificates, private_key)
        .map_err(|e| Error::Config(format!("TLS certificate and key: {e}")))?;
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}

/// A [`TlsAcceptor`] for the certificate chain and key in these PEM files (see
/// [`server_config`]). Its streams go to [`Acceptor::accept`](super::Acceptor::accept).
pub fn acceptor(
    certificates: impl AsRef<Path>,
    private_key: impl AsRef<Path>,
) -> Result<TlsAcceptor> {
    server_config(certificates, private_key).map(TlsAcceptor::from)
}

/// Runs the server side of the TLS handshake on `io`, failing with [`Error::Timeout`] after
/// `timeout` (the WebSocket handshake's own bound, `handshake_timeout`, is a good choice: a
/// client that stalls mid-handshake must not hold a connection forever) and with
/// [`Error::Io`] if the handshake fails.
///
/// # Cancel safety
///
/// Not cancel-safe: dropping the future mid-handshake leaves the transport in an unknown
/// state; close it.
pub async fn accept<S>(tls: &TlsAcceptor, io: S, timeout: Duration) -> Result<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(timeout, tls.accept(io))
        .await
        .map_err(|_| Error::Timeout("TLS handshake"))?
        .map_err(Error::Io)
}

/// A configuration error that names the file and says what was wrong with it.
fn pem_error(what: &str, path: &Path, error: pem::Error) -> Error {
    let path = path.display();
    Error::Config(match error {
        pem::Error::Io(e) => format!("cannot read {what} file {path}: {e}"),
        pem::Error::NoItemsFound => format!("no {what} found in PEM file {path}"),
        e => format!("invalid PEM in {what} file {path}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "switchboard-tls-unit-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn config_error(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::Config(why)) => why,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let why = config_error(load_certificates("/nonexistent/cert.pem"));
        assert!(
            why.starts_with("cannot read certificate file /nonexistent/cert.pem: "),
            "{why}"
        );
        let why = config_error(load_private_key("/nonexistent/key.pem"));
        assert!(
            why.starts_with("cannot read private key file /nonexistent/key.pem: "),
            "{why}"
        );
    }

    #[test]
    fn files_without_the_item_say_so() {
        let path = temp_file("empty.pem", b"not pem at all\n");
        let why = config_error(load_certificates(&path));
        assert!(
            why.starts_with("no certificate found in PEM file "),
            "{why}"
        );
        let why = config_error(load_private_key(&path));
        assert!(
            why.starts_with("no private key found in PEM file "),
            "{why}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn broken_pem_is_invalid() {
        let path = temp_file(
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        let why = config_error(load_certificates(&path));
        assert!(why.starts_with("invalid PEM in certificate file "), "{why}");
        let path2 = temp_file("unterminated.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n");
        let why = config_error(load_private_key(&path2));
        assert!(why.starts_with("invalid PEM in private key file "), "{why}");
        std::fs::remove_file(path).unwrap();
        std::fs::remove_file(path2).unwrap();
    }
}
