//! The cluster PKI, as pure functions over bytes and PEM: the cluster CA (self-signed, ECDSA
//! P-256, 10 years, made once at `init`), router key pairs, router certificates (DNS SAN = node
//! id, clientAuth + serverAuth, 2 years) and reading identity back out of a certificate. No file
//! I/O here (that is `tls::store`), no logging of secrets: private keys live in types whose
//! `Debug` is redacted and whose memory is zeroed.
//!
//! Owns [`PkiError`]; the parts live in:
//! - [`pem`]: PEM encoding and decoding, [`SecretPem`];
//! - [`names`]: node ids as certificate names ([`check_node_id`]);
//! - [`der`]: the minimal DER reader (validity, serial, subject name);
//! - [`verify`]: fingerprints, identity out of a certificate, [`verify_node_cert`];
//! - [`ca`]: [`ClusterCa`] and [`NodeCert`];
//! - [`keys`]: router key pairs ([`NodeKey`], [`NodePublicKey`]).
//!
//! Join tokens are not PKI: they live in `tls::join_token` and are re-exported here so the old
//! paths (`tls::pki::JoinToken`, …) keep working.

pub mod ca;
pub mod der;
pub mod keys;
pub mod names;
pub mod pem;
pub mod verify;

#[cfg(test)]
mod tests;

pub use super::join_token::{JoinToken, TokenError, TokenSecret, TOKEN_PREFIX};
pub use crate::clock::now_ms;
pub use ca::{ClusterCa, NodeCert, BACKDATE, CA_VALIDITY, NODE_CERT_VALIDITY};
pub use keys::{NodeKey, NodePublicKey};
pub use names::check_node_id;
pub use pem::{cert_der_from_pem, SecretPem};
pub use verify::{fingerprint_of_der, fingerprint_of_pem, node_id_of, not_after_of, serial_of, verify_node_cert};

/// Errors of the PKI functions. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("invalid node id '{id}': {reason}")]
    InvalidNodeId { id: String, reason: String },
    #[error("invalid cluster name: {0}")]
    InvalidClusterName(String),
    #[error("{what} is not valid PEM: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("{what} is malformed: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the public key is not an ECDSA P-256 SubjectPublicKeyInfo (the only kind wgcluster signs)")]
    UnsupportedPublicKey,
    #[error("the CA key does not belong to the CA certificate")]
    KeyMismatch,
    #[error("a certificate serial must be at least 1")]
    InvalidSerial,
    #[error("could not make the certificate: {0}")]
    Generate(String),
    #[error("the certificate does not verify against the cluster CA: {0}")]
    Verify(String),
    /// Chain and signature are fine, but the certificate is expired or not yet valid.
    #[error("the certificate is outside its validity: {0}")]
    OutsideValidity(String),
}

pub(crate) fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}
