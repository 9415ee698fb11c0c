//! PEM: encoding DER with a label, reading certificates and PKCS#8 keys out of PEM text, and
//! [`SecretPem`], the redacted, zeroed-on-drop holder of a private key's PEM.

use super::PkiError;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::fmt;
use zeroize::Zeroizing;

/// A PEM private key (a secret). `Debug` prints `<redacted>`, the memory is zeroed on drop;
/// read it with [`SecretPem::expose`] only to hand it to rustls or to `tls::store`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretPem(Zeroizing<String>);

impl SecretPem {
    pub fn new(pem: String) -> Self {
        Self(Zeroizing::new(pem))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretPem(<redacted>)")
    }
}

/// PEM-encodes `der` with the given label (64-character base64 lines, `\n` endings).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The first certificate of a PEM text, as DER.
pub fn cert_der_from_pem(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Pem { what: "certificate", reason: e.to_string() })
}

/// A PKCS#8 `PRIVATE KEY` PEM block, as DER. Errors never echo the input.
pub(super) fn pkcs8_from_pem(pem: &str) -> Result<PrivatePkcs8KeyDer<'static>, PkiError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| PkiError::Pem { what: "private key", reason: "expected a PKCS#8 'PRIVATE KEY' block".into() })
}

pub(super) fn p256_key_from_pem(pem: &str) -> Result<KeyPair, PkiError> {
    let der = pkcs8_from_pem(pem)?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256)
        .map_err(|_| PkiError::Malformed { what: "private key", reason: "not an ECDSA P-256 PKCS#8 key".into() })
}

pub(super) fn key_pem(key: &KeyPair) -> SecretPem {
    let der = Zeroizing::new(key.serialize_der());
    SecretPem::new(pem_encode("PRIVATE KEY", &der))
}
