//! The cluster CA: made once per cluster (`wgclusterd init`), loaded back from its PEM files, and
//! signing router certificates ([`NodeCert`]).

use super::keys::{NodeKey, NodePublicKey};
use super::names::check_node_id;
use super::pem::{cert_der_from_pem, key_pem, p256_key_from_pem, pem_encode, SecretPem};
use super::verify::{fingerprint_of_der, verify_node_cert};
use super::{gen_err, PkiError};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lifetime of the cluster CA.
pub const CA_VALIDITY: Duration = Duration::from_secs(3650 * 86_400);
/// Lifetime of a router certificate.
pub const NODE_CERT_VALIDITY: Duration = Duration::from_secs(730 * 86_400);
/// Certificates start this much in the past, for routers whose clocks lag a little.
pub const BACKDATE: Duration = Duration::from_secs(3600);

const CA_ORGANIZATION: &str = "wgcluster";

/// Validity window [now - BACKDATE, now + lifetime], whole seconds (what X.509 stores).
fn window(lifetime: Duration) -> Result<(time::OffsetDateTime, time::OffsetDateTime), PkiError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| PkiError::Generate("the clock is before 1970".into()))?.as_secs();
    let at = |secs: u64| {
        i64::try_from(secs)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| PkiError::Generate("time out of range".into()))
    };
    Ok((at(now.saturating_sub(BACKDATE.as_secs()))?, at(now + lifetime.as_secs())?))
}

/// The cluster CA: certificate and signing key. Made once per cluster (`wgclusterd init`).
pub struct ClusterCa {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa").field("fingerprint", &self.fingerprint()).field("key", &"<redacted>").finish()
    }
}

impl ClusterCa {
    /// A new self-signed CA (ECDSA P-256, 10 years, path length 0: it signs routers only).
    /// `cluster_name` goes into the CA's common name (1–64 printable characters).
    pub fn generate(cluster_name: &str) -> Result<Self, PkiError> {
        if cluster_name.is_empty() || cluster_name.chars().count() > 64 || cluster_name.chars().any(|c| c.is_control()) {
            return Err(PkiError::InvalidClusterName(format!(
                "'{}' must be 1–64 characters without control characters",
                cluster_name.escape_debug()
            )));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let mut params = ca_params(&format!("wgcluster CA {cluster_name}"));
        let (not_before, not_after) = window(CA_VALIDITY)?;
        params.not_before = not_before;
        params.not_after = not_after;
        let mut serial = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key).map_err(gen_err)?;
        let cert_der = cert.der().clone();
        Ok(Self { cert_pem: pem_encode("CERTIFICATE", &cert_der), cert_der, issuer: Issuer::new(params, key) })
    }

    /// Loads a CA saved with [`ClusterCa::cert_pem`] and [`ClusterCa::key_pem`]. Checks that
    /// the key belongs to the certificate and that a certificate signed now verifies.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = cert_der_from_pem(cert_pem)?;
        let key = p256_key_from_pem(key_pem)?;
        let malformed = |reason: &str| PkiError::Malformed { what: "CA certificate", reason: reason.to_string() };
        let dn = {
            let cert = webpki::EndEntityCert::try_from(&cert_der).map_err(|e| malformed(&e.to_string()))?;
            if cert.subject_public_key_info().as_ref() != key.subject_public_key_info().as_slice() {
                return Err(PkiError::KeyMismatch);
            }
            super::der::distinguished_name_of(cert.subject()).ok_or_else(|| malformed("its subject was not made by wgcluster"))?
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = ca_key_usages();
        let ca = Self { cert_pem: pem_encode("CERTIFICATE", &cert_der), cert_der, issuer: Issuer::new(params, key) };
        // A probe certificate proves the rebuilt issuer name matches the certificate.
        let probe = NodeKey::generate()?;
        let signed = ca.sign_node("probe.invalid", &probe.public_key(), 1)?;
        let signed_der = cert_der_from_pem(&signed.cert_pem)?;
        verify_node_cert(&ca.cert_der, &signed_der, SystemTime::now())
            .map_err(|e| malformed(&format!("a certificate it signs does not verify: {e}")))?;
        Ok(ca)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA's private key (a secret: store it 0600, never log it).
    pub fn key_pem(&self) -> SecretPem {
        key_pem(self.issuer.key())
    }

    /// SHA-256 of the CA certificate's DER, lowercase hex.
    pub fn fingerprint(&self) -> String {
        fingerprint_of_der(&self.cert_der)
    }

    /// Signs a router certificate: DNS SAN and CN = `node_id`, clientAuth + serverAuth,
    /// 2 years from now (back-dated by [`BACKDATE`]). `serial` must be at least 1 and should be
    /// unique in the cluster (a replicated counter): revocation goes by (node id, serial).
    pub fn sign_node(&self, node_id: &str, public_key: &NodePublicKey, serial: u64) -> Result<NodeCert, PkiError> {
        check_node_id(node_id)?;
        if serial == 0 {
            return Err(PkiError::InvalidSerial);
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_id);
        params.distinguished_name = dn;
        let san = node_id.to_string().try_into().map_err(|e: rcgen::Error| gen_err(e))?;
        params.subject_alt_names = vec![SanType::DnsName(san)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(serial));
        let (not_before, not_after) = window(NODE_CERT_VALIDITY)?;
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(public_key, &self.issuer).map_err(gen_err)?;
        let not_after_ms = u64::try_from(not_after.unix_timestamp()).unwrap_or(0).saturating_mul(1000);
        Ok(NodeCert { cert_pem: pem_encode("CERTIFICATE", cert.der()), serial, not_after: not_after_ms })
    }
}

fn ca_key_usages() -> Vec<KeyUsagePurpose> {
    vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature]
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = ca_key_usages();
    params
}

/// A router certificate as signed by [`ClusterCa::sign_node`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCert {
    pub cert_pem: String,
    pub serial: u64,
    /// End of validity, unix milliseconds.
    pub not_after: u64,
}
