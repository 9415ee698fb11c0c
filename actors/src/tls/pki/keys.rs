//! Router key pairs: [`NodeKey`] (ECDSA P-256, made by the router itself, redacted) and
//! [`NodePublicKey`], the part that leaves the router in a join request.

use super::pem::{key_pem, p256_key_from_pem, pem_encode, SecretPem};
use super::{gen_err, PkiError};
use rcgen::{KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::SubjectPublicKeyInfoDer;
use std::fmt;

/// A router's TLS key pair (ECDSA P-256). Made by the router itself; only the public key
/// leaves it (in the join request), the CA signs that.
pub struct NodeKey(KeyPair);

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

impl NodeKey {
    pub fn generate() -> Result<Self, PkiError> {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map(Self).map_err(gen_err)
    }

    pub fn from_pem(key_pem: &str) -> Result<Self, PkiError> {
        p256_key_from_pem(key_pem).map(Self)
    }

    /// The private key, PKCS#8 PEM (a secret).
    pub fn key_pem(&self) -> SecretPem {
        key_pem(&self.0)
    }

    pub fn public_key(&self) -> NodePublicKey {
        NodePublicKey { point: self.0.der_bytes().to_vec() }
    }
}

/// An ECDSA P-256 public key, as sent in a join request (SubjectPublicKeyInfo, DER or PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct NodePublicKey {
    /// The uncompressed point (65 bytes, `04 || x || y`).
    point: Vec<u8>,
}

/// DER of a P-256 SubjectPublicKeyInfo up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (65 bytes, no unused bits) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];

impl NodePublicKey {
    pub fn from_der(spki_der: &[u8]) -> Result<Self, PkiError> {
        match spki_der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(Self { point: point.to_vec() }),
            _ => Err(PkiError::UnsupportedPublicKey),
        }
    }

    pub fn from_pem(spki_pem: &str) -> Result<Self, PkiError> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(spki_pem.as_bytes())
            .map_err(|e| PkiError::Pem { what: "public key", reason: e.to_string() })?;
        Self::from_der(der.as_ref())
    }

    pub fn to_der(&self) -> Vec<u8> {
        self.subject_public_key_info()
    }

    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.to_der())
    }
}

impl fmt::Debug for NodePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodePublicKey({})", hex::encode(&self.point))
    }
}

impl PublicKeyData for NodePublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}
