//! The cluster PKI, as pure functions over bytes and PEM: the cluster CA (self-signed, ECDSA
//! P-256, 10 years, made once at `init`), router key pairs, router certificates (DNS SAN = node
//! id, clientAuth + serverAuth, 2 years), reading identity back out of a certificate, and join
//! tokens (`wgcj1.…`). No file I/O here (that is `tls::store`), no logging of secrets: private
//! keys and token secrets live in types whose `Debug` is redacted and whose memory is zeroed.
//!
//! Node ids as certificate names: a node id is put in the certificate as a DNS SAN and checked
//! by webpki as a DNS name, so on top of the model's rule (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most
//! 63 characters) [`check_node_id`] refuses ids that are not valid DNS names: an empty label
//! (`a..b`, a trailing `.`), a label that starts or ends with `-`, and a last label that is all
//! digits or `0x…` hex (it would read as an IP address, e.g. `10.0.0.1` or `router.1`).
//! Underscores are fine: rustls-pki-types and webpki accept `_` in DNS names. DNS names compare
//! case-insensitively, so two node ids that differ only in case would match each other's
//! certificates: the daemon should refuse such a pair.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::{Zeroize, Zeroizing};

/// Lifetime of the cluster CA.
pub const CA_VALIDITY: Duration = Duration::from_secs(3650 * 86_400);
/// Lifetime of a router certificate.
pub const NODE_CERT_VALIDITY: Duration = Duration::from_secs(730 * 86_400);
/// Certificates start this much in the past, for routers whose clocks lag a little.
pub const BACKDATE: Duration = Duration::from_secs(3600);

const CA_ORGANIZATION: &str = "wgcluster";

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

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Secrets and PEM
// ---------------------------------------------------------------------------------------------

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
fn pkcs8_from_pem(pem: &str) -> Result<PrivatePkcs8KeyDer<'static>, PkiError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| PkiError::Pem { what: "private key", reason: "expected a PKCS#8 'PRIVATE KEY' block".into() })
}

fn p256_key_from_pem(pem: &str) -> Result<KeyPair, PkiError> {
    let der = pkcs8_from_pem(pem)?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256)
        .map_err(|_| PkiError::Malformed { what: "private key", reason: "not an ECDSA P-256 PKCS#8 key".into() })
}

fn key_pem(key: &KeyPair) -> SecretPem {
    let der = Zeroizing::new(key.serialize_der());
    SecretPem::new(pem_encode("PRIVATE KEY", &der))
}

// ---------------------------------------------------------------------------------------------
// Node ids
// ---------------------------------------------------------------------------------------------

/// Checks that `id` can be a router's certificate name (see the module doc for the rule).
pub fn check_node_id(id: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::InvalidNodeId { id: id.escape_debug().to_string(), reason: reason.to_string() };
    if id.is_empty() {
        return Err(bad("must not be empty"));
    }
    if id.len() > 63 {
        return Err(bad("is longer than 63 characters"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(bad("must start with a letter or digit"));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c))) {
        return Err(bad(&format!("contains {c:?}; allowed are letters, digits and _.-")));
    }
    let labels: Vec<&str> = id.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(bad("has an empty DNS label ('..' or a trailing '.'), so it is no valid certificate name"));
    }
    if labels.iter().any(|l| l.starts_with('-') || l.ends_with('-')) {
        return Err(bad("has a DNS label that starts or ends with '-', so it is no valid certificate name"));
    }
    if let Some(last) = labels.last() {
        let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")).is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        if hex || last.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad("ends in a number, so it would read as an IP address; add a letter to the last part"));
        }
    }
    // The rules above are meant to equal rustls' own; keep rustls as the final word.
    match ServerName::try_from(id) {
        Ok(ServerName::DnsName(_)) => Ok(()),
        _ => Err(bad("is not a valid DNS name for a certificate")),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading certificates
// ---------------------------------------------------------------------------------------------

/// SHA-256 of a certificate's DER, lowercase hex: the CA fingerprint of join tokens.
pub fn fingerprint_of_der(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
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

fn serial_from_bytes(raw: &[u8]) -> Option<u64> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len());
    let digits = &raw[start..];
    if digits.len() > 8 {
        return None;
    }
    Some(digits.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// The end of a certificate's validity, in unix milliseconds.
pub fn not_after_of(cert_der: &[u8]) -> Option<u64> {
    let (_, not_after) = validity_of(cert_der)?;
    Some(not_after)
}

/// (notBefore, notAfter) of a certificate in unix milliseconds, read with a minimal DER walk.
fn validity_of(cert_der: &[u8]) -> Option<(u64, u64)> {
    let mut input = cert_der;
    let (tag, cert) = der::read(&mut input)?;
    if tag != der::SEQUENCE || !input.is_empty() {
        return None;
    }
    let mut cert = cert;
    let (tag, tbs) = der::read(&mut cert)?;
    if tag != der::SEQUENCE {
        return None;
    }
    let mut tbs = tbs;
    let (mut tag, _) = der::read(&mut tbs)?;
    if tag == 0xa0 {
        // [0] EXPLICIT version, then the serial
        tag = der::read(&mut tbs)?.0;
    }
    if tag != der::INTEGER {
        return None;
    }
    let _signature = der::read(&mut tbs)?;
    let _issuer = der::read(&mut tbs)?;
    let (tag, validity) = der::read(&mut tbs)?;
    if tag != der::SEQUENCE {
        return None;
    }
    let mut validity = validity;
    let not_before = der::read(&mut validity).and_then(|(t, v)| der::time_ms(t, v))?;
    let not_after = der::read(&mut validity).and_then(|(t, v)| der::time_ms(t, v))?;
    Some((not_before, not_after))
}

/// Just enough DER for this module: TLVs, a Name's attributes, times.
mod der {
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// Reads one TLV (single-byte tags, definite lengths) and advances `input`.
    pub fn read<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let (len_bytes, after) = rest.split_at(n);
            rest = after;
            len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return None;
        }
        let (value, after) = rest.split_at(len);
        *input = after;
        Some((tag, value))
    }

    /// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as unix ms.
    pub fn time_ms(tag: u8, value: &[u8]) -> Option<u64> {
        let s = std::str::from_utf8(value).ok()?;
        let s = s.strip_suffix('Z')?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, rest) = match tag {
            UTC_TIME if s.len() == 12 => {
                let yy: i32 = s[..2].parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
            }
            GENERALIZED_TIME if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
            _ => return None,
        };
        let num = |i: usize| -> Option<u8> { rest.get(i..i + 2)?.parse().ok() };
        let month = time::Month::try_from(num(0)?).ok()?;
        let date = time::Date::from_calendar_date(year, month, num(2)?).ok()?;
        let t = time::Time::from_hms(num(4)?, num(6)?, num(8)?).ok()?;
        let secs = time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp();
        u64::try_from(secs).ok()?.checked_mul(1000)
    }
}

/// Rebuilds the rcgen `DistinguishedName` of a certificate's subject (the raw Name content, as
/// webpki returns it). Only what wgcluster writes: one CN or O per RDN, UTF8 or Printable.
fn distinguished_name_of(subject: &[u8]) -> Option<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    let mut input = subject;
    while !input.is_empty() {
        let (tag, mut set) = der::read(&mut input)?;
        if tag != der::SET {
            return None;
        }
        let (tag, mut atv) = der::read(&mut set)?;
        if tag != der::SEQUENCE || !set.is_empty() {
            return None;
        }
        let (tag, oid) = der::read(&mut atv)?;
        if tag != der::OID {
            return None;
        }
        let (vtag, value) = der::read(&mut atv)?;
        if !atv.is_empty() {
            return None;
        }
        let ty = match oid {
            [0x55, 0x04, 0x03] => DnType::CommonName,
            [0x55, 0x04, 0x0a] => DnType::OrganizationName,
            _ => return None,
        };
        let text = std::str::from_utf8(value).ok()?.to_string();
        let value = match vtag {
            der::UTF8_STRING => DnValue::Utf8String(text),
            der::PRINTABLE_STRING => DnValue::PrintableString(text.try_into().ok()?),
            _ => return None,
        };
        dn.push(ty, value);
    }
    Some(dn)
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
    let algs = super::provider().signature_verification_algorithms.all;
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

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

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

// ---------------------------------------------------------------------------------------------
// The cluster CA
// ---------------------------------------------------------------------------------------------

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
            distinguished_name_of(cert.subject()).ok_or_else(|| malformed("its subject was not made by wgcluster"))?
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

// ---------------------------------------------------------------------------------------------
// Router keys
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Join tokens
// ---------------------------------------------------------------------------------------------

/// Prefix (and version) of an encoded join token.
pub const TOKEN_PREFIX: &str = "wgcj1.";

/// Why a join token was refused. Messages never contain the token's secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the join token is empty")]
    Empty,
    #[error("not a wgcluster join token: it must start with '{TOKEN_PREFIX}'")]
    NotAToken,
    #[error("the join token has version '{0}', this wgclusterd reads '{TOKEN_PREFIX}' tokens: upgrade it, or make a new token")]
    UnsupportedVersion(String),
    #[error("the join token is damaged (not base64url): was it cut or wrapped when copied?")]
    NotBase64,
    #[error("the join token is damaged: {0}")]
    Malformed(String),
    #[error("the join token names a bad issuer address '{0}': expected host:port")]
    BadIssuerAddr(String),
    #[error("the CA fingerprint must be 64 hex digits (SHA-256)")]
    BadFingerprint,
    #[error("the token secret must be 64 hex digits")]
    BadSecret,
    #[error("the join token expired at {expires_at} (unix ms); ask for a new one")]
    Expired { expires_at: u64 },
}

/// The 32 random bytes of a join token. `Debug` is redacted, memory is zeroed on drop. The
/// issuer stores only [`TokenSecret::hash_hex`]; the joiner sends [`TokenSecret::expose_hex`].
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret([u8; 32]);

impl TokenSecret {
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        Self(b)
    }

    pub fn from_hex(s: &str) -> Result<Self, TokenError> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut b).map_err(|_| TokenError::BadSecret)?;
        Ok(Self(b))
    }

    /// The secret as hex, to send to the issuer in the join request (over TLS only).
    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// SHA-256 of the secret, lowercase hex: the only form the issuer stores.
    pub fn hash_hex(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// Whether this secret hashes to `stored_hash_hex`, compared in constant time.
    pub fn matches_hash(&self, stored_hash_hex: &str) -> bool {
        let ours = self.hash_hex();
        let theirs = stored_hash_hex.trim().to_ascii_lowercase();
        ours.len() == theirs.len() && ours.bytes().zip(theirs.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Drop for TokenSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// A join token: what `wgclusterd join --token` takes. Carries a one-time secret, the
/// fingerprint of the cluster CA (so the joiner can authenticate the issuer before it has the
/// CA), where to reach the issuer, and when it expires. `Debug` redacts the secret; there is no
/// `Display` on purpose: [`JoinToken::encode`] is the only way to the secret-bearing string.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub secret: TokenSecret,
    /// SHA-256 of the CA certificate's DER, lowercase hex.
    pub ca_fingerprint: String,
    /// host:port of the issuer's cluster listener.
    pub issuer_addr: String,
    /// unix milliseconds
    pub expires_at: u64,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("secret", &self.secret)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("issuer_addr", &self.issuer_addr)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The postcard body of an encoded token (v1).
#[derive(Serialize, Deserialize)]
struct WireTokenV1 {
    secret: [u8; 32],
    ca_fingerprint: [u8; 32],
    issuer_addr: String,
    expires_at: u64,
}

impl Drop for WireTokenV1 {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// Checks `host:port`: a non-empty host (an IPv6 address in brackets) and a numeric port > 0.
fn check_host_port(addr: &str) -> Result<(), TokenError> {
    let bad = || TokenError::BadIssuerAddr(addr.escape_debug().to_string());
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 || host.is_empty() || addr.len() > 255 {
        return Err(bad());
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(bad)?;
        inner.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        return Ok(());
    }
    if host.contains(':') || !host.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(bad());
    }
    Ok(())
}

impl JoinToken {
    /// A new token with a fresh random secret.
    pub fn new(ca_fingerprint: &str, issuer_addr: &str, expires_at: u64) -> Result<Self, TokenError> {
        let mut fp = [0u8; 32];
        hex::decode_to_slice(ca_fingerprint, &mut fp).map_err(|_| TokenError::BadFingerprint)?;
        check_host_port(issuer_addr)?;
        Ok(Self { secret: TokenSecret::random(), ca_fingerprint: hex::encode(fp), issuer_addr: issuer_addr.to_string(), expires_at })
    }

    /// `wgcj1.<base64url(postcard)>`, one line, safe for a shell argument.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let mut fp = [0u8; 32];
        // `ca_fingerprint` is validated hex when made by `new` or `parse`; a hand-made token with
        // a bad one encodes zeros and will simply never match a CA.
        let _ = hex::decode_to_slice(&self.ca_fingerprint, &mut fp);
        let wire =
            WireTokenV1 { secret: self.secret.0, ca_fingerprint: fp, issuer_addr: self.issuer_addr.clone(), expires_at: self.expires_at };
        let bytes = Zeroizing::new(postcard::to_allocvec(&wire).unwrap_or_default());
        let mut out = String::from(TOKEN_PREFIX);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut out);
        out
    }

    /// Parses a token as printed by [`JoinToken::encode`] (surrounding whitespace ignored).
    /// Does not check expiry: see [`JoinToken::check_fresh`].
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        use base64::Engine;
        let s = s.trim();
        if s.is_empty() {
            return Err(TokenError::Empty);
        }
        let Some(body) = s.strip_prefix(TOKEN_PREFIX) else {
            if let Some((version, _)) = s.split_once('.') {
                if version.starts_with("wgcj") && version.len() <= 8 {
                    return Err(TokenError::UnsupportedVersion(format!("{}.", version.escape_debug())));
                }
            }
            return Err(TokenError::NotAToken);
        };
        let bytes = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::NotBase64)?);
        let (wire, rest): (WireTokenV1, &[u8]) =
            postcard::take_from_bytes(&bytes).map_err(|_| TokenError::Malformed("its content is cut short or not a token".into()))?;
        if !rest.is_empty() {
            return Err(TokenError::Malformed(format!("{} unexpected bytes at the end", rest.len())));
        }
        check_host_port(&wire.issuer_addr)?;
        Ok(Self {
            secret: TokenSecret(wire.secret),
            ca_fingerprint: hex::encode(wire.ca_fingerprint),
            issuer_addr: wire.issuer_addr.clone(),
            expires_at: wire.expires_at,
        })
    }

    /// SHA-256 of the secret, hex: what the issuer stores.
    pub fn secret_hash(&self) -> String {
        self.secret.hash_hex()
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at
    }

    /// `Err(Expired)` once `now_ms` has reached `expires_at`.
    pub fn check_fresh(&self, now_ms: u64) -> Result<(), TokenError> {
        if self.is_expired(now_ms) {
            Err(TokenError::Expired { expires_at: self.expires_at })
        } else {
            Ok(())
        }
    }
}

/// Now, in unix milliseconds (for token expiry).
pub fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::UnixTime;
    use rustls::server::WebPkiClientVerifier;
    use rustls::{client::WebPkiServerVerifier, RootCertStore};
    use std::sync::Arc;

    fn roots(ca: &ClusterCa) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        Arc::new(roots)
    }

    fn node_cert(ca: &ClusterCa, id: &str, serial: u64) -> (NodeKey, NodeCert, CertificateDer<'static>) {
        let key = NodeKey::generate().unwrap();
        let cert = ca.sign_node(id, &key.public_key(), serial).unwrap();
        let der = cert_der_from_pem(&cert.cert_pem).unwrap();
        (key, cert, der)
    }

    fn webpki_accepts(ca: &ClusterCa, leaf: &CertificateDer<'_>, name: &str) -> (bool, bool) {
        let provider = super::super::provider();
        let client_v = WebPkiClientVerifier::builder_with_provider(roots(ca), provider.clone()).build().unwrap();
        let server_v = WebPkiServerVerifier::builder_with_provider(roots(ca), provider).build().unwrap();
        let now = UnixTime::now();
        let as_client = client_v.verify_client_cert(leaf, &[], now).is_ok();
        let sn = ServerName::try_from(name.to_string()).unwrap();
        let as_server = server_v.verify_server_cert(leaf, &[], &sn, &[], now).is_ok();
        (as_client, as_server)
    }

    #[test]
    fn signed_cert_verifies_with_rustls_webpki_verifiers() {
        let ca = ClusterCa::generate("home").unwrap();
        let (_key, cert, der) = node_cert(&ca, "router_1.lan", 7);
        assert_eq!(webpki_accepts(&ca, &der, "router_1.lan"), (true, true));
        // the server name must be the node id
        assert!(!webpki_accepts(&ca, &der, "router2").1);
        assert_eq!(node_id_of(&der).as_deref(), Some("router_1.lan"));
        assert_eq!(serial_of(&der), Some(7));
        assert_eq!(cert.serial, 7);
        let not_after = not_after_of(&der).unwrap();
        assert_eq!(not_after, cert.not_after);
        let expected = now_ms() + NODE_CERT_VALIDITY.as_millis() as u64;
        assert!(not_after <= expected && not_after + 5_000 >= expected, "{not_after} vs {expected}");
        let (id, serial) = verify_node_cert(ca.cert_der(), &der, SystemTime::now()).unwrap();
        assert_eq!((id.as_str(), serial), ("router_1.lan", 7));
    }

    #[test]
    fn cert_from_another_ca_does_not_verify() {
        let ca = ClusterCa::generate("home").unwrap();
        let other = ClusterCa::generate("home").unwrap();
        let (_key, _cert, der) = node_cert(&other, "node1", 1);
        assert_eq!(webpki_accepts(&ca, &der, "node1"), (false, false));
        assert!(verify_node_cert(ca.cert_der(), &der, SystemTime::now()).is_err());
        // the CA itself is not a router certificate
        assert!(node_id_of(ca.cert_der()).is_none());
    }

    #[test]
    fn expired_cert_does_not_verify() {
        let ca = ClusterCa::generate("home").unwrap();
        let (_key, _cert, der) = node_cert(&ca, "node1", 1);
        let later = SystemTime::now() + NODE_CERT_VALIDITY + Duration::from_secs(86_400);
        let err = verify_node_cert(ca.cert_der(), &der, later).unwrap_err();
        assert!(matches!(err, PkiError::OutsideValidity(_)), "{err}");
        let other = ClusterCa::generate("home").unwrap();
        let err = verify_node_cert(other.cert_der(), &der, later).unwrap_err();
        assert!(matches!(err, PkiError::Verify(_)), "{err}");
    }

    #[test]
    fn large_serials_round_trip() {
        let ca = ClusterCa::generate("home").unwrap();
        for serial in [1u64, 0x80, 0xffff, u64::MAX] {
            let (_k, _c, der) = node_cert(&ca, "n1", serial);
            assert_eq!(serial_of(&der), Some(serial));
        }
        let key = NodeKey::generate().unwrap();
        assert!(matches!(ca.sign_node("n1", &key.public_key(), 0), Err(PkiError::InvalidSerial)));
        assert!(matches!(ca.sign_node("a..b", &key.public_key(), 1), Err(PkiError::InvalidNodeId { .. })));
    }

    #[test]
    fn fingerprint_is_stable_and_is_sha256_of_der() {
        let ca = ClusterCa::generate("home").unwrap();
        let fp = ca.fingerprint();
        assert_eq!(fp.len(), 64);
        assert_eq!(fp, ca.fingerprint());
        assert_eq!(fp, hex::encode(Sha256::digest(ca.cert_der())));
        assert_eq!(fingerprint_of_pem(ca.cert_pem()).unwrap(), fp);
        let again = ClusterCa::from_pem(ca.cert_pem(), ca.key_pem().expose()).unwrap();
        assert_eq!(again.fingerprint(), fp);
        assert_ne!(ClusterCa::generate("home").unwrap().fingerprint(), fp);
    }

    #[test]
    fn reloaded_ca_signs_certs_that_verify_against_the_original() {
        let ca = ClusterCa::generate("Büro & Lab").unwrap();
        let again = ClusterCa::from_pem(ca.cert_pem(), ca.key_pem().expose()).unwrap();
        let (_k, _c, der) = node_cert(&again, "node9", 9);
        assert_eq!(webpki_accepts(&ca, &der, "node9"), (true, true));
    }

    #[test]
    fn ca_from_pem_refuses_a_foreign_key_and_garbage() {
        let ca = ClusterCa::generate("home").unwrap();
        let other = ClusterCa::generate("home").unwrap();
        assert!(matches!(ClusterCa::from_pem(ca.cert_pem(), other.key_pem().expose()), Err(PkiError::KeyMismatch)));
        assert!(matches!(ClusterCa::from_pem("nonsense", ca.key_pem().expose()), Err(PkiError::Pem { .. })));
        let err = ClusterCa::from_pem(ca.cert_pem(), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap_err();
        assert!(matches!(err, PkiError::Malformed { .. }), "{err}");
        assert!(ClusterCa::generate("").is_err());
        assert!(ClusterCa::generate("a\nb").is_err());
    }

    #[test]
    fn keys_round_trip_and_debug_is_redacted() {
        let key = NodeKey::generate().unwrap();
        let pem = key.key_pem();
        assert!(pem.expose().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = NodeKey::from_pem(pem.expose()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let pubkey = NodePublicKey::from_pem(&key.public_key().to_pem()).unwrap();
        assert_eq!(pubkey, key.public_key());
        assert_eq!(NodePublicKey::from_der(&pubkey.to_der()).unwrap(), pubkey);
        assert!(matches!(NodePublicKey::from_der(&[1, 2, 3]), Err(PkiError::UnsupportedPublicKey)));
        let body: String = pem.expose().lines().nth(1).unwrap().to_string();
        for dbg in [format!("{key:?}"), format!("{pem:?}")] {
            assert!(dbg.contains("redacted") && !dbg.contains(&body), "{dbg}");
        }
        let ca = ClusterCa::generate("home").unwrap();
        let ca_key_body = ca.key_pem().expose().lines().nth(1).unwrap().to_string();
        assert!(!format!("{ca:?}").contains(&ca_key_body));
    }

    #[test]
    fn node_id_rules() {
        let ok = ["node1", "OpenWrt", "r-1.lan", "router_1", "a", "1router", "x.y-z_w", "r1.0a"];
        for id in ok {
            assert!(check_node_id(id).is_ok(), "{id}: {:?}", check_node_id(id));
        }
        let bad = ["", "-x", "a b", "a/b", "a..b", "a.", ".a", "a-", "a.-b", "10.0.0.1", "router.1", "123", "0x1f", "héllo"];
        for id in bad {
            assert!(check_node_id(id).is_err(), "{id}");
        }
        assert!(check_node_id(&"x".repeat(64)).is_err());
        let err = check_node_id("router.1").unwrap_err().to_string();
        assert!(err.contains("IP address"), "{err}");
    }

    #[test]
    fn der_times() {
        assert_eq!(der::time_ms(der::UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(der::time_ms(der::UTC_TIME, b"000101000000Z"), Some(946_684_800_000));
        assert_eq!(der::time_ms(der::GENERALIZED_TIME, b"20500101000000Z"), Some(2_524_608_000_000));
        assert_eq!(der::time_ms(der::UTC_TIME, b"0001010000Z"), None);
        assert_eq!(der::time_ms(der::UTC_TIME, b"001301000000Z"), None);
        assert_eq!(serial_from_bytes(&[0x00, 0xff]), Some(255));
        assert_eq!(serial_from_bytes(&[0x80]), None);
        assert_eq!(serial_from_bytes(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), None);
    }

    fn fp() -> String {
        "ab".repeat(32)
    }

    #[test]
    fn token_round_trip() {
        let t = JoinToken::new(&fp(), "192.0.2.1:10087", 1_700_000_000_000).unwrap();
        let s = t.encode();
        assert!(s.starts_with("wgcj1."));
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{s}");
        let back = JoinToken::parse(&format!("  {s}\n")).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.secret_hash(), t.secret_hash());
        assert_eq!(back.secret_hash(), hex::encode(Sha256::digest(t.secret.0)));
        assert!(back.secret.matches_hash(&t.secret_hash()));
        assert!(back.secret.matches_hash(&t.secret_hash().to_uppercase()));
        assert!(!JoinToken::new(&fp(), "h:1", 0).unwrap().secret.matches_hash(&t.secret_hash()));
        assert!(!t.secret.matches_hash("abc"));
        let sent = TokenSecret::from_hex(&t.secret.expose_hex()).unwrap();
        assert!(sent.matches_hash(&t.secret_hash()));
        for addr in ["router.lan:10087", "[2001:db8::1]:10087", "r_1:1"] {
            let t = JoinToken::new(&fp(), addr, 5).unwrap();
            assert_eq!(JoinToken::parse(&t.encode()).unwrap().issuer_addr, addr);
        }
        assert!(t.is_expired(1_700_000_000_000));
        assert!(!t.is_expired(1_699_999_999_999));
        assert_eq!(t.check_fresh(1_800_000_000_000), Err(TokenError::Expired { expires_at: 1_700_000_000_000 }));
        let dbg = format!("{t:?}");
        assert!(dbg.contains("redacted") && !dbg.contains(&t.secret.expose_hex()), "{dbg}");
    }

    #[test]
    fn malformed_tokens_give_clear_errors() {
        use base64::Engine;
        let good = JoinToken::new(&fp(), "10.0.0.1:10087", 5).unwrap().encode();
        let b64 = |bytes: &[u8]| format!("wgcj1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(JoinToken::parse(""), Err(TokenError::Empty));
        assert_eq!(JoinToken::parse("  "), Err(TokenError::Empty));
        assert_eq!(JoinToken::parse("hello"), Err(TokenError::NotAToken));
        assert!(matches!(JoinToken::parse("wgcj2.AAAA"), Err(TokenError::UnsupportedVersion(v)) if v == "wgcj2."));
        assert_eq!(JoinToken::parse("wgcj1.not base64!"), Err(TokenError::NotBase64));
        assert!(matches!(JoinToken::parse(&good[..good.len() - 12]), Err(TokenError::Malformed(_))));
        assert!(matches!(JoinToken::parse("wgcj1."), Err(TokenError::Malformed(_))));
        let mut long = good.clone();
        long.push_str("AAAA");
        assert!(matches!(JoinToken::parse(&long), Err(TokenError::Malformed(m)) if m.contains("unexpected bytes")));
        let bad_addr = WireTokenV1 { secret: [1; 32], ca_fingerprint: [2; 32], issuer_addr: "no-port".into(), expires_at: 1 };
        let bytes = postcard::to_allocvec(&bad_addr).unwrap();
        assert_eq!(JoinToken::parse(&b64(&bytes)), Err(TokenError::BadIssuerAddr("no-port".into())));
        assert!(matches!(JoinToken::new("abcd", "h:1", 1), Err(TokenError::BadFingerprint)));
        for addr in ["h:0", ":1", "h:x", "a b:1", "[::1:1", "h:65536", "::1:80"] {
            assert!(matches!(JoinToken::new(&fp(), addr, 1), Err(TokenError::BadIssuerAddr(_))), "{addr}");
        }
        assert_eq!(TokenSecret::from_hex("zz"), Err(TokenError::BadSecret));
        // messages are readable sentences that do not echo the input
        for e in [TokenError::NotBase64, TokenError::NotAToken] {
            assert!(!e.to_string().contains(&good));
        }
    }
}
