//! Tests of the PKI: certificates made here verify with rustls' own verifiers, and every reader
//! round-trips what the signer wrote.

use super::der::{self, serial_from_bytes};
use super::*;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{client::WebPkiServerVerifier, RootCertStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    let provider = crate::tls::provider();
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
    assert_eq!(fp, hex::encode(crate::model::sha256(ca.cert_der())));
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
