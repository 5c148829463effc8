//! TLS for `wss://` with rustls and its `ring` provider: trust anchors, client certificates,
//! SNI and ALPN, and the opt-in that turns certificate checks off.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::{Error, Result};

/// TLS settings gathered by the builder; turned into a [`ClientConfig`] at connect time.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsOptions {
    /// A complete configuration from the caller; excludes every other setting.
    pub(crate) config: Option<Arc<ClientConfig>>,
    pub(crate) ca_files: Vec<PathBuf>,
    pub(crate) native_roots: bool,
    pub(crate) client_auth: Option<(PathBuf, PathBuf)>,
    pub(crate) accept_invalid_certs: bool,
}

impl TlsOptions {
    /// The configuration to connect with. Reads the CA, certificate and key files (again at
    /// each call, so that rotated files are picked up by the next connection).
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        if let Some(config) = &self.config {
            let others = !self.ca_files.is_empty()
                || self.native_roots
                || self.client_auth.is_some()
                || self.accept_invalid_certs;
            if others {
                return Err(Error::Config(
                    "a TLS ClientConfig given with tls() excludes the other TLS settings".into(),
                ));
            }
            return Ok(Arc::clone(config));
        }
        let plain_defaults = self.ca_files.is_empty()
            && !self.native_roots
            && self.client_auth.is_none()
            && !self.accept_invalid_certs;
        if plain_defaults {
            return default_config();
        }
        self.build()
    }

    fn build(&self) -> Result<Arc<ClientConfig>> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(tls_config_error)?;
        let builder = if self.accept_invalid_certs {
            tracing::warn!(
                "TLS certificate verification is disabled: the connection is not authenticated"
            );
            let verifier = AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let mut config = match &self.client_auth {
            None => builder.with_no_client_auth(),
            Some((cert_path, key_path)) => {
                let chain = read_certificates(cert_path, "client certificate")?;
                let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
                    Error::Config(format!(
                        "cannot read a private key from {}: {e}",
                        key_path.display()
                    ))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(tls_config_error)?
            }
        };
        set_alpn(&mut config);
        Ok(Arc::new(config))
    }

    /// The trust anchors: the CA files and/or the system's store if asked for, else
    /// webpki-roots (Mozilla's list, compiled in).
    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        if self.ca_files.is_empty() && !self.native_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok(roots);
        }
        for path in &self.ca_files {
            for certificate in read_certificates(path, "CA certificate")? {
                roots.add(certificate).map_err(|e| {
                    Error::Config(format!(
                        "unusable CA certificate in {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        if self.native_roots {
            add_native_roots(&mut roots)?;
        }
        Ok(roots)
    }
}

#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut RootCertStore) -> Result<()> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!("skipping part of the system certificate store: {error}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(Error::Config(
            "no usable certificate in the system certificate store".into(),
        ));
    }
    Ok(())
}

#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_roots: &mut RootCertStore) -> Result<()> {
    // Unreachable through the public API: `native_roots()` exists only with the feature.
    Err(Error::Config(
        "the system certificate store needs the `native-roots` feature".into(),
    ))
}

/// The configuration without options, built once: webpki-roots, no client certificate.
fn default_config() -> Result<Arc<ClientConfig>> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = DEFAULT.get() {
        return Ok(Arc::clone(config));
    }
    let config = TlsOptions::default().build()?;
    Ok(Arc::clone(DEFAULT.get_or_init(|| config)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(crate::server::tls::provider())
}

/// ALPN `http/1.1` (RFC 7301): the WebSocket handshake is HTTP/1.1, and servers that also
/// speak HTTP/2 must not pick it for this connection.
fn set_alpn(config: &mut ClientConfig) {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
}

fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::Config(format!("cannot read {what}s from {}: {e}", path.display()))
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certificates.is_empty() {
        return Err(unreadable(&"no PEM certificate in the file"));
    }
    Ok(certificates)
}

fn tls_config_error(error: rustls::Error) -> Error {
    Error::Config(format!("TLS configuration: {error}"))
}

/// Runs the TLS handshake over `stream` for `host`, which is sent as SNI (RFC 6066 3) when
/// it is a name and checked against the certificate's IP address entries when it is an
/// address (IP addresses are never sent as SNI).
pub(crate) async fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    stream: TcpStream,
) -> Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Config(format!("{host:?} is not a valid TLS server name")))?;
    Ok(TlsConnector::from(config).connect(name, stream).await?)
}

/// Accepts any certificate for any name, while still checking that the server holds the
/// key of the certificate it presented (the handshake signatures), so the connection is
/// encrypted but not authenticated: anyone on the path can impersonate the server.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_built_once_with_alpn() {
        let a = TlsOptions::default().client_config().unwrap();
        let b = TlsOptions::default().client_config().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_given_configuration_excludes_other_settings() {
        let config = TlsOptions::default().client_config().unwrap();
        let options = TlsOptions {
            config: Some(Arc::clone(&config)),
            ..TlsOptions::default()
        };
        assert!(Arc::ptr_eq(&options.client_config().unwrap(), &config));
        let options = TlsOptions {
            config: Some(config),
            accept_invalid_certs: true,
            ..TlsOptions::default()
        };
        assert!(matches!(options.client_config(), Err(Error::Config(_))));
    }

    #[test]
    fn missing_files_are_config_errors_naming_the_file() {
        let options = TlsOptions {
            ca_files: vec!["/nonexistent/ca.pem".into()],
            ..TlsOptions::default()
        };
        match options.client_config() {
            Err(Error::Config(message)) => assert!(message.contains("/nonexistent/ca.pem")),
            other => panic!("{other:?}"),
        }
        let options = TlsOptions {
            accept_invalid_certs: true,
            client_auth: Some(("/nonexistent/c.pem".into(), "/nonexistent/k.pem".into())),
            ..TlsOptions::default()
        };
        assert!(matches!(options.client_config(), Err(Error::Config(_))));
    }
}
