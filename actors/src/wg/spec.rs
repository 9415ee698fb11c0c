//! Plain data of the WireGuard data plane: what an interface *should* hold ([`InterfaceSpec`],
//! [`PeerSpec`]) and what it *does* hold ([`ActualInterface`], [`ActualPeer`]), as read back
//! through a backend. No I/O here. Keys travel as base64 (the WireGuard convention) when
//! serialized, and `Debug` never prints a private or preshared key.

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::error::WgError;

/// A WireGuard key (public, private or preshared): 32 raw bytes.
pub type Key = [u8; 32];

/// What Debug prints instead of a secret.
const REDACTED: &str = "<redacted>";

/// Desired state of one WireGuard interface on this router.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceSpec {
    /// Linux interface name (1–15 chars of `[A-Za-z0-9_=+.-]`, not `.` or `..`).
    pub name: String,
    /// Interface private key (shared by every node of a Mode A config).
    #[serde(with = "key_b64")]
    pub private_key: Key,
    /// UDP listen port; 0 lets the device choose one (and is then never "corrected").
    pub listen_port: u16,
    /// Tunnel addresses of the interface itself (e.g. `10.8.0.1/24`).
    pub addresses: Vec<IpNet>,
    /// Link MTU; `None` leaves the device's default alone.
    pub mtu: Option<u32>,
    /// Peers this interface must carry, and no others.
    pub peers: Vec<PeerSpec>,
}

/// Desired state of one peer of an interface.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerSpec {
    #[serde(with = "key_b64")]
    pub public_key: Key,
    #[serde(with = "opt_key_b64", default)]
    pub preshared_key: Option<Key>,
    /// Allowed IPs; compared after masking host bits, as WireGuard stores them.
    pub allowed_ips: Vec<IpNet>,
    /// Fixed endpoint; `None` means "learn it from the peer" (a roaming client), and an endpoint
    /// the device learned is then never treated as a difference.
    pub endpoint: Option<SocketAddr>,
    /// Persistent keepalive in seconds; `None` and `Some(0)` both mean off.
    pub persistent_keepalive: Option<u16>,
}

/// What a backend read back from a live interface.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ActualInterface {
    pub listen_port: u16,
    #[serde(with = "opt_key_b64", default)]
    pub private_key: Option<Key>,
    /// Derived from the private key (the UAPI does not report it).
    #[serde(with = "opt_key_b64", default)]
    pub public_key: Option<Key>,
    pub peers: Vec<ActualPeer>,
}

/// One peer as the device holds it, with its counters.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ActualPeer {
    #[serde(with = "key_b64")]
    pub public_key: Key,
    /// `None` when the device holds the all-zero key (no PSK).
    #[serde(with = "opt_key_b64", default)]
    pub preshared_key: Option<Key>,
    pub allowed_ips: Vec<IpNet>,
    /// Configured or learned (roaming) endpoint.
    pub endpoint: Option<SocketAddr>,
    /// `None` when off (0).
    pub persistent_keepalive: Option<u16>,
    /// `None` when the peer never completed a handshake.
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Base64 text of a key (for logs, config files and errors; only ever used on public keys here).
pub fn key_to_base64(key: &Key) -> String {
    B64.encode(key)
}

/// Parses a base64 WireGuard key.
pub fn key_from_base64(text: &str) -> Result<Key, WgError> {
    let bytes = B64.decode(text.trim()).map_err(|e| WgError::InvalidSpec(format!("bad base64 key: {e}")))?;
    <Key>::try_from(bytes.as_slice()).map_err(|_| WgError::InvalidSpec(format!("key must be 32 bytes, got {}", bytes.len())))
}

/// The public key that belongs to `private_key` (X25519, as WireGuard computes it).
pub fn public_key_of(private_key: &Key) -> Key {
    let secret = x25519_dalek::StaticSecret::from(*private_key);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

/// The X25519-clamped form of a private key, which is what WireGuard stores and reports
/// (`k[0] &= 248; k[31] = (k[31] & 127) | 64`). Two keys with the same clamped form are the same
/// key; `wg genkey` output is already clamped.
pub fn clamp_private_key(key: &Key) -> Key {
    let mut k = *key;
    k[0] &= 248;
    k[31] = (k[31] & 127) | 64;
    k
}

/// Checks a Linux interface name with the one rule, `model::ConfigName`'s (1–15 chars of
/// `[A-Za-z0-9_=+.-]`, not `.` or `..`). Names reach the backends as plain strings (from the
/// desired state, which holds `ConfigName`s, or from a directory listing), and the name becomes a
/// file name in the UAPI directory and a netlink attribute: the backends keep this as their
/// safety check at the OS boundary.
pub fn validate_ifname(name: &str) -> Result<(), WgError> {
    crate::model::ConfigName::parse("interface", name).map(|_| ()).map_err(|_| WgError::InvalidName(name.to_string()))
}

impl InterfaceSpec {
    /// The interface's public key, derived from its private key.
    pub fn public_key(&self) -> Key {
        public_key_of(&self.private_key)
    }

    /// Rejects what no backend can program: a bad name, duplicate peers, a peer carrying the
    /// interface's own public key (WireGuard silently ignores such a peer), or a zero peer key.
    pub fn validate(&self) -> Result<(), WgError> {
        validate_ifname(&self.name)?;
        let own = self.public_key();
        let mut seen = std::collections::HashSet::with_capacity(self.peers.len());
        for peer in &self.peers {
            if peer.public_key == [0u8; 32] {
                return Err(WgError::InvalidSpec("peer with all-zero public key".into()));
            }
            if peer.public_key == own {
                return Err(WgError::InvalidSpec(format!("peer {} has the interface's own public key", key_to_base64(&peer.public_key))));
            }
            if !seen.insert(peer.public_key) {
                return Err(WgError::InvalidSpec(format!("peer {} listed twice", key_to_base64(&peer.public_key))));
            }
        }
        Ok(())
    }
}

impl PeerSpec {
    /// A peer with just a key and allowed IPs (the usual server-side client entry).
    pub fn new(public_key: Key, allowed_ips: Vec<IpNet>) -> Self {
        PeerSpec { public_key, preshared_key: None, allowed_ips, endpoint: None, persistent_keepalive: None }
    }
}

impl ActualInterface {
    /// The peer with this public key, if the device has it.
    pub fn peer(&self, public_key: &Key) -> Option<&ActualPeer> {
        self.peers.iter().find(|p| &p.public_key == public_key)
    }
}

/// Debug helper: a public key as base64.
struct PubKey<'a>(&'a Key);
impl fmt::Debug for PubKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&key_to_base64(self.0))
    }
}

/// Debug helper: a secret that may be absent, shown only as present/absent.
struct Secret(bool);
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            write!(f, "Some({REDACTED})")
        } else {
            f.write_str("None")
        }
    }
}

impl fmt::Debug for InterfaceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterfaceSpec")
            .field("name", &self.name)
            .field("private_key", &format_args!("{REDACTED}"))
            .field("listen_port", &self.listen_port)
            .field("addresses", &self.addresses)
            .field("mtu", &self.mtu)
            .field("peers", &self.peers)
            .finish()
    }
}

impl fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerSpec")
            .field("public_key", &PubKey(&self.public_key))
            .field("preshared_key", &Secret(self.preshared_key.is_some()))
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .finish()
    }
}

impl fmt::Debug for ActualInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActualInterface")
            .field("listen_port", &self.listen_port)
            .field("private_key", &Secret(self.private_key.is_some()))
            .field("public_key", &self.public_key.as_ref().map(PubKey))
            .field("peers", &self.peers)
            .finish()
    }
}

impl fmt::Debug for ActualPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActualPeer")
            .field("public_key", &PubKey(&self.public_key))
            .field("preshared_key", &Secret(self.preshared_key.is_some()))
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("last_handshake", &self.last_handshake)
            .field("rx_bytes", &self.rx_bytes)
            .field("tx_bytes", &self.tx_bytes)
            .finish()
    }
}

/// serde: a key as a base64 string.
mod key_b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &Key, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let text = String::deserialize(d)?;
        key_from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// serde: an optional key as an optional base64 string.
mod opt_key_b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(key: &Option<Key>, s: S) -> Result<S::Ok, S::Error> {
        match key {
            Some(k) => s.serialize_some(&B64.encode(k)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Key>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| key_from_base64(&t).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> InterfaceSpec {
        InterfaceSpec {
            name: "wg0".into(),
            private_key: [7u8; 32],
            listen_port: 51820,
            addresses: vec!["10.8.0.1/24".parse().unwrap()],
            mtu: Some(1420),
            peers: vec![PeerSpec {
                public_key: [1u8; 32],
                preshared_key: Some([9u8; 32]),
                allowed_ips: vec!["10.8.0.2/32".parse().unwrap()],
                endpoint: None,
                persistent_keepalive: Some(25),
            }],
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let s = spec();
        let text = format!("{s:?} {:#?}", s);
        let private_b64 = key_to_base64(&s.private_key);
        let psk_b64 = key_to_base64(&[9u8; 32]);
        assert!(!text.contains(&private_b64), "{text}");
        assert!(!text.contains(&psk_b64), "{text}");
        assert!(!text.contains("7, 7, 7"), "{text}");
        assert!(!text.contains("9, 9, 9"), "{text}");
        assert!(text.contains(REDACTED));
        assert!(text.contains(&key_to_base64(&[1u8; 32])));

        let actual = ActualInterface {
            listen_port: 1,
            private_key: Some([7u8; 32]),
            public_key: Some(s.public_key()),
            peers: vec![ActualPeer {
                public_key: [1u8; 32],
                preshared_key: Some([9u8; 32]),
                allowed_ips: vec![],
                endpoint: None,
                persistent_keepalive: None,
                last_handshake: None,
                rx_bytes: 0,
                tx_bytes: 0,
            }],
        };
        let text = format!("{actual:?}");
        assert!(!text.contains(&private_b64) && !text.contains(&psk_b64), "{text}");
    }

    #[test]
    fn serde_round_trip_uses_base64_keys() {
        let s = spec();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(&key_to_base64(&[1u8; 32])), "{json}");
        let back: InterfaceSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let bytes = postcard::to_stdvec(&s).unwrap();
        let back: InterfaceSpec = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn ifname_rules() {
        for ok in ["wg0", "a", "wg-cluster_1.x", "abcdefghijklmno", "a=b+c"] {
            assert!(validate_ifname(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "abcdefghijklmnop", "wg/0", "wg 0", "wg0\n", "wgé"] {
            assert!(validate_ifname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn validate_rejects_duplicates_and_own_key() {
        let mut s = spec();
        assert!(s.validate().is_ok());
        s.peers.push(s.peers[0].clone());
        assert!(matches!(s.validate(), Err(WgError::InvalidSpec(_))));
        let mut s = spec();
        s.peers[0].public_key = s.public_key();
        assert!(matches!(s.validate(), Err(WgError::InvalidSpec(_))));
    }

    #[test]
    fn clamping_matches_wireguard() {
        let k = clamp_private_key(&[0xff; 32]);
        assert_eq!(k[0], 0xf8);
        assert_eq!(k[31], 0x7f);
        assert_eq!(clamp_private_key(&[0; 32])[31], 0x40);
        assert_eq!(clamp_private_key(&k), k);
        assert_eq!(public_key_of(&[0xff; 32]), public_key_of(&k));
    }

    #[test]
    fn public_key_matches_wg_pubkey() {
        // `echo <priv> | wg pubkey` reference vector.
        let private = key_from_base64("KE0njs196J300ZOWLiaZ2VsUvyToF+sU1OHpOl4byGs=").unwrap();
        let public = key_from_base64("FoUXP3w+4iqAe06U6gE6xFUMH+18dqUQKZCIn5DC/CE=").unwrap();
        assert_eq!(public_key_of(&private), public);
    }
}
