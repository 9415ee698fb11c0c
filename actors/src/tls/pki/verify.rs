//! Reading a router's identity out of a certificate (node id, serial, validity, fingerprint) and
//! verifying a router certificate against the cluster CA.

use super::der::{serial_from_bytes, validity_of};
use super::names::check_node_id;
use super::pem::cert_der_from_pem;
use super::PkiError;
use rustls::pki_types::{CertificateDer, ServerName};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SHA-256 of a certificate's DER, lowercase hex: the CA fingerprint of join tokens.
pub fn fingerprint_of_der(cert_der: &[u8]) -> String {
    hex::encode(crate::model::sha256(cert_der))
}

/// [`fingerprint_of_der`] of the first certificate of a PEM text.
pub fn fingerprint_of_pem(cert_pem: &str) -> Result<String, PkiError> {
    Ok(fingerprint_of_der(&cert_der_from_pem(cert_pem)?))
}

/// The node id of a router certificate: its one DNS SAN, if it is a valid node id. Does not
/// verify anything: use it on certificates that rustls has verified (see `tls::config`).
pub fn node_id_of(cert_der: &[u8]) -> Option<String> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    let mut names = cert.valid_dns_names();
    let first = names.next()?;
    if names.next().is_some() {
        return None;
    }
    check_node_id(first).ok()?;
    Some(first.to_string())
}

/// The serial number of a certificate, if it fits a `u64` (all wgcluster serials do).
pub fn serial_of(cert_der: &[u8]) -> Option<u64> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    serial_from_bytes(cert.serial())
}

/// The end of a certificate's validity, in unix milliseconds.
pub fn not_after_of(cert_der: &[u8]) -> Option<u64> {
    let (_, not_after) = validity_of(cert_der)?;
    Some(not_after)
}

/// Verifies a router certificate against the CA for both uses (client and server, with the
/// node id as server name) at `now`, and returns its node id and serial.
///
/// [`PkiError::OutsideValidity`] means only the time is wrong: the certificate verifies at a
/// moment inside its own validity (so it is from this CA, and can be renewed).
pub fn verify_node_cert(ca_der: &[u8], cert_der: &[u8], now: SystemTime) -> Result<(String, u64), PkiError> {
    let secs = now.duration_since(UNIX_EPOCH).map_err(|_| PkiError::Verify("the clock is before 1970".into()))?;
    match verify_node_cert_at(ca_der, cert_der, secs) {
        Err(e @ (webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. })) => {
            let (not_before, _) = validity_of(cert_der).ok_or_else(|| PkiError::Verify("its validity cannot be read".into()))?;
            let inside = Duration::from_millis(not_before) + Duration::from_secs(1);
            match verify_node_cert_at(ca_der, cert_der, inside) {
                Ok(_) => Err(PkiError::OutsideValidity(e.to_string())),
                Err(e) => Err(PkiError::Verify(e.to_string())),
            }
        }
        Err(e) => Err(PkiError::Verify(e.to_string())),
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(PkiError::Verify("the certificate has no single DNS name that is a node id, or a serial over 64 bits".into())),
    }
}

fn verify_node_cert_at(ca_der: &[u8], cert_der: &[u8], since_epoch: Duration) -> Result<Option<(String, u64)>, webpki::Error> {
    let ca = CertificateDer::from(ca_der);
    let anchor = webpki::anchor_from_trusted_cert(&ca)?;
    let leaf = CertificateDer::from(cert_der);
    let ee = webpki::EndEntityCert::try_from(&leaf)?;
    let time = rustls::pki_types::UnixTime::since_unix_epoch(since_epoch);
    let algs = crate::tls::provider().signature_verification_algorithms.all;
    for usage in [webpki::KeyUsage::client_auth(), webpki::KeyUsage::server_auth()] {
        ee.verify_for_usage(algs, std::slice::from_ref(&anchor), &[], time, usage, None, None)?;
    }
    let (Some(node_id), Some(serial)) = (node_id_of(cert_der), serial_of(cert_der)) else {
        return Ok(None);
    };
    let name = ServerName::try_from(node_id.as_str()).map_err(|_| webpki::Error::BadDer)?;
    ee.verify_is_valid_for_subject_name(&name)?;
    Ok(Some((node_id, serial)))
}
