//! TLS (rustls with the ring provider) for `--tls-cert` / `--tls-key`.

use crate::error::RegistryError;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls;

/// Builds a TLS acceptor from PEM files (certificate chain, then private key).
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, RegistryError> {
    let load = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|e| RegistryError::TlsLoad {
            what,
            path: path.into(),
            reason: e.to_string(),
        })
    };
    let cert_pem = load("certificate", cert)?;
    let key_pem = load("key", key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| RegistryError::TlsLoad {
            what: "certificate",
            path: cert.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(RegistryError::TlsLoad {
            what: "certificate",
            path: cert.into(),
            reason: "no PEM certificate found".into(),
        });
    }
    let private = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| RegistryError::TlsLoad {
            what: "key",
            path: key.into(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| RegistryError::TlsLoad {
            what: "key",
            path: key.into(),
            reason: "no PEM private key found".into(),
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, private))
        .map_err(|e| RegistryError::TlsConfig {
            cert: cert.into(),
            key: key.into(),
            reason: e.to_string(),
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
