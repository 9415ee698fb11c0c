//! rustls configurations of the cluster: the listener ([`server_config`]: client certificates
//! verified against the cluster CA but optional, so a router without a certificate can reach
//! `/v1/join`), router-to-router clients ([`client_config`]: trusts only the cluster CA, checks the
//! server as the target's node id), the joining router's client ([`join_client_config`]: pins the
//! CA fingerprint of the join token), and reading the verified peer identity of a connection.
//! TLS 1.3 only, rustls' `ring` provider, no session resumption (see below).
//!
//! Revocation: [`server_config`] takes an [`IsAllowed`] callback `(node id, serial) -> bool`,
//! asked once per TLS handshake after the chain verified; a refused certificate fails the
//! handshake. Session resumption is off on both sides, so every connection runs the callback
//! (a resumed TLS 1.3 session would skip certificate verification). A connection that is already
//! open stays open until it closes: keep the listener's keep-alive short (the daemon's server:
//! 5 s), or, for an immediate effect, call the callback again per request with
//! [`peer_identity`]'s serial. Clients can apply the same callback to servers with
//! [`client_config_checked`].

use super::pki::{self, fingerprint_of_der, node_id_of, serial_of};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// "Is this router certificate still allowed?" — `(node id, serial)`; `false` refuses the
/// handshake. The daemon answers from the replicated state (node still a member, serial the
/// current one for that node).
pub type IsAllowed = Arc<dyn Fn(&str, u64) -> bool + Send + Sync>;

/// An [`IsAllowed`] that allows every certificate the cluster CA signed.
pub fn allow_all() -> IsAllowed {
    Arc::new(|_, _| true)
}

/// The server name a joining router sends: it does not know the issuer's node id, and the join
/// verifier does not check the name (any router of the pinned CA may answer).
pub const JOIN_SERVER_NAME: &str = "join.wgcluster.invalid";

/// Routes of the cluster listener that a peer without a verified identity may call.
pub const OPEN_CLUSTER_ROUTES: &[&str] = &["/v1/join", "/v1/health"];

#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("{what} is not valid PEM: {reason}")]
    Pem { what: &'static str, reason: String },
    #[error("this router's certificate is not usable: {0}")]
    NodeCert(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS verifier setup failed: {0}")]
    Verifier(String),
    #[error("the CA fingerprint must be 64 hex digits (SHA-256), got '{0}'")]
    BadFingerprint(String),
}

/// The verified identity of a peer: node id (the certificate's DNS SAN) and serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub node_id: String,
    pub serial: u64,
}

/// The identity of the peer of a connection accepted with [`server_config`], from the
/// certificates rustls reports for it (`ServerConnection::peer_certificates()`; the daemon's server reads them from
/// `tokio_rustls::server::TlsStream` after the handshake).
///
/// Precondition: the certificates come from a finished handshake under [`server_config`]: rustls
/// reports peer certificates only after its verifier accepted them (chain to the cluster CA,
/// clientAuth, validity, [`IsAllowed`]). `None` means the peer sent no certificate.
pub fn peer_identity(peer_certs: Option<&[CertificateDer<'_>]>) -> Option<PeerIdentity> {
    let leaf = peer_certs?.first()?;
    Some(PeerIdentity { node_id: node_id_of(leaf)?, serial: serial_of(leaf)? })
}

/// [`peer_identity`]'s node id.
pub fn peer_node_id(peer_certs: Option<&[CertificateDer<'_>]>) -> Option<String> {
    peer_identity(peer_certs).map(|p| p.node_id)
}

/// The daemon's rule for the cluster listener: `/v1/join` and `/v1/health` are open, every other
/// route needs a verified peer node id. `path` is the request path without the query.
pub fn cluster_route_allowed(path: &str, peer_node_id: Option<&str>) -> bool {
    peer_node_id.is_some() || OPEN_CLUSTER_ROUTES.contains(&path)
}

fn pem_certs(what: &'static str, pem: &str) -> Result<CertificateDer<'static>, TlsConfigError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsConfigError::Pem { what, reason: e.to_string() })
}

fn pem_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| TlsConfigError::Pem { what: "node key", reason: "expected a 'PRIVATE KEY' or 'EC PRIVATE KEY' block".into() })
}

/// Parses the three PEMs and checks the node certificate against the CA. An expired (or not yet
/// valid) certificate is accepted with a warning, so the router can still start and renew; any
/// other failure (wrong CA, no node id) is an error.
fn load_identity(
    ca_cert_pem: &str,
    node_cert_pem: &str,
    node_key_pem: &str,
) -> Result<(CertificateDer<'static>, CertificateDer<'static>, PrivateKeyDer<'static>), TlsConfigError> {
    let ca = pem_certs("CA certificate", ca_cert_pem)?;
    let leaf = pem_certs("node certificate", node_cert_pem)?;
    let key = pem_key(node_key_pem)?;
    match pki::verify_node_cert(&ca, &leaf, SystemTime::now()) {
        Ok(_) => {}
        Err(pki::PkiError::OutsideValidity(e)) => {
            log::warn!("this router's certificate ({}) is outside its validity: {e}", node_id_of(&leaf).unwrap_or_default());
        }
        Err(e) => return Err(TlsConfigError::NodeCert(e.to_string())),
    }
    Ok((ca, leaf, key))
}

fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    Ok(Arc::new(roots))
}

/// The cluster listener's config. Sends the chain `[node cert, CA cert]` (the CA lets a joining
/// router check the token's fingerprint), asks for a client certificate but does not require
/// one, verifies a presented one against the CA (clientAuth) and `is_allowed`. No ALPN is set:
/// the daemon's listener adds `http/1.1`.
pub fn server_config(
    ca_cert_pem: &str,
    node_cert_pem: &str,
    node_key_pem: &str,
    is_allowed: IsAllowed,
) -> Result<ServerConfig, TlsConfigError> {
    let (ca, leaf, key) = load_identity(ca_cert_pem, node_cert_pem, node_key_pem)?;
    let provider = super::provider();
    let verifier = cluster_client_verifier(&ca, &provider, is_allowed)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![leaf, ca], key)?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The config of router-to-router clients: trusts only the cluster CA, presents this router's
/// certificate. Connect with `ServerName` = the target's node id (the client in `tls::client`
/// does), so the server is checked as that router whatever address it was reached at.
pub fn client_config(ca_cert_pem: &str, node_cert_pem: &str, node_key_pem: &str) -> Result<Arc<ClientConfig>, TlsConfigError> {
    client_config_checked(ca_cert_pem, node_cert_pem, node_key_pem, allow_all())
}

/// [`client_config`] that also asks `is_allowed` about the server's certificate (node id,
/// serial) once it verified, so a removed router cannot pose as a current one.
pub fn client_config_checked(
    ca_cert_pem: &str,
    node_cert_pem: &str,
    node_key_pem: &str,
    is_allowed: IsAllowed,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let (ca, leaf, key) = load_identity(ca_cert_pem, node_cert_pem, node_key_pem)?;
    let provider = super::provider();
    let inner = WebPkiServerVerifier::builder_with_provider(roots(&ca)?, provider.clone())
        .build()
        .map_err(|e| TlsConfigError::Verifier(e.to_string()))?;
    let verifier = Arc::new(ClusterServerVerifier { inner, is_allowed });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(vec![leaf], key)?;
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The config of a router that joins with a token and has no CA yet: it accepts the server's
/// chain only if the chain holds the CA certificate whose SHA-256 is `ca_fingerprint` and the
/// server's certificate verifies against that CA (serverAuth, validity, the handshake signature).
/// It presents no client certificate. Use [`JOIN_SERVER_NAME`] as the target node id.
///
/// Why pinning is safe: the fingerprint came with the token from the administrator, out of band.
/// Nobody can make another certificate with the same SHA-256, nor a server certificate signed by
/// that CA without its key, nor finish the handshake without the server key; so a server that
/// passes is a router of that cluster, as if the CA had been installed as the trust anchor. The
/// server name is not checked: any router of the cluster may answer a join, and the joiner
/// does not know the issuer's node id. After joining, compare the CA certificate you are given
/// with the fingerprint too ([`super::pki::fingerprint_of_pem`]).
pub fn join_client_config(ca_fingerprint: &str) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let fp = ca_fingerprint.trim().to_ascii_lowercase();
    if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TlsConfigError::BadFingerprint(ca_fingerprint.escape_debug().to_string()));
    }
    let provider = super::provider();
    let verifier = Arc::new(PinnedCaVerifier { fingerprint: fp, provider: provider.clone() });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

fn cluster_client_verifier(
    ca: &CertificateDer<'static>,
    provider: &Arc<CryptoProvider>,
    is_allowed: IsAllowed,
) -> Result<Arc<ClusterClientVerifier>, TlsConfigError> {
    let inner = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsConfigError::Verifier(e.to_string()))?;
    Ok(Arc::new(ClusterClientVerifier { inner, is_allowed }))
}

/// WebPKI client verification against the cluster CA, then the revocation hook.
struct ClusterClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    is_allowed: IsAllowed,
}

impl fmt::Debug for ClusterClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterClientVerifier").finish_non_exhaustive()
    }
}

impl ClientCertVerifier for ClusterClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let (Some(node_id), Some(serial)) = (node_id_of(end_entity), serial_of(end_entity)) else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
        };
        if !(self.is_allowed)(&node_id, serial) {
            log::info!("refused the certificate of {node_id} (serial {serial}): not allowed");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// WebPKI server verification against the cluster CA (name = target node id), then the hook.
struct ClusterServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    is_allowed: IsAllowed,
}

impl fmt::Debug for ClusterServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterServerVerifier").finish_non_exhaustive()
    }
}

impl ServerCertVerifier for ClusterServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        let (Some(node_id), Some(serial)) = (node_id_of(end_entity), serial_of(end_entity)) else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure));
        };
        if !(self.is_allowed)(&node_id, serial) {
            log::info!("refused the server certificate of {node_id} (serial {serial}): not allowed");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The joining router's server verifier: the CA is the chain member with the pinned fingerprint.
#[derive(Debug)]
struct PinnedCaVerifier {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.iter().find(|c| fingerprint_of_der(c) == self.fingerprint) else {
            log::warn!("join: the server's chain has no CA with the token's fingerprint");
            return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&cert, &roots, &[], now, self.provider.signature_verification_algorithms.all)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::{cert_der_from_pem, ClusterCa, NodeKey};

    struct Node {
        ca: ClusterCa,
        cert_pem: String,
        key_pem: String,
    }

    fn node(id: &str, serial: u64) -> Node {
        let ca = ClusterCa::generate("test").unwrap();
        let key = NodeKey::generate().unwrap();
        let cert = ca.sign_node(id, &key.public_key(), serial).unwrap();
        Node { ca, cert_pem: cert.cert_pem, key_pem: key.key_pem().expose().to_string() }
    }

    #[test]
    fn configs_build_and_refuse_mismatched_material() {
        let n = node("n1", 1);
        let other = node("n2", 2);
        server_config(n.ca.cert_pem(), &n.cert_pem, &n.key_pem, allow_all()).unwrap();
        client_config(n.ca.cert_pem(), &n.cert_pem, &n.key_pem).unwrap();
        join_client_config(&n.ca.fingerprint()).unwrap();
        // a node certificate of another CA
        let err = server_config(other.ca.cert_pem(), &n.cert_pem, &n.key_pem, allow_all()).unwrap_err();
        assert!(matches!(err, TlsConfigError::NodeCert(_)), "{err}");
        // a key that is not the certificate's
        assert!(client_config(n.ca.cert_pem(), &n.cert_pem, &other.key_pem).is_err());
        // garbage never echoes a key
        let err = client_config(n.ca.cert_pem(), &n.cert_pem, "garbage").unwrap_err();
        assert!(!err.to_string().contains("garbage"));
        assert!(matches!(join_client_config("abc"), Err(TlsConfigError::BadFingerprint(_))));
    }

    #[test]
    fn server_verifier_refuses_foreign_and_revoked_and_allows_members() {
        let n = node("n1", 1);
        let key = NodeKey::generate().unwrap();
        let member = cert_der_from_pem(&n.ca.sign_node("n2", &key.public_key(), 5).unwrap().cert_pem).unwrap();
        let revoked = cert_der_from_pem(&n.ca.sign_node("n3", &key.public_key(), 6).unwrap().cert_pem).unwrap();
        let foreign_ca = ClusterCa::generate("test").unwrap();
        let foreign = cert_der_from_pem(&foreign_ca.sign_node("n2", &key.public_key(), 5).unwrap().cert_pem).unwrap();
        let is_allowed: IsAllowed = Arc::new(|id, serial| !(id == "n3" && serial == 6));
        let ca = n.ca.cert_der().clone();
        let v = cluster_client_verifier(&ca, &crate::tls::provider(), is_allowed).unwrap();
        assert!(v.offer_client_auth());
        assert!(!v.client_auth_mandatory());
        let now = UnixTime::now();
        assert!(v.verify_client_cert(&member, &[], now).is_ok());
        assert!(matches!(v.verify_client_cert(&revoked, &[], now), Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))));
        assert!(v.verify_client_cert(&foreign, &[], now).is_err());
    }

    #[test]
    fn peer_identity_and_route_rule() {
        let n = node("n1", 42);
        let der = cert_der_from_pem(&n.cert_pem).unwrap();
        let certs = vec![der];
        assert_eq!(peer_identity(Some(&certs)), Some(PeerIdentity { node_id: "n1".into(), serial: 42 }));
        assert_eq!(peer_node_id(Some(&certs)).as_deref(), Some("n1"));
        assert_eq!(peer_node_id(None), None);
        assert_eq!(peer_node_id(Some(&[])), None);
        assert!(cluster_route_allowed("/v1/join", None));
        assert!(cluster_route_allowed("/v1/health", None));
        assert!(!cluster_route_allowed("/v1/raft/append", None));
        assert!(!cluster_route_allowed("/v1/join/x", None));
        assert!(cluster_route_allowed("/v1/raft/append", Some("n1")));
    }
}
