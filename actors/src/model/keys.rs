//! WireGuard keys: 32 bytes, standard base64 on the wire. Key pairs come from x25519-dalek.
//! `WgKey` never prints itself in `Debug` beyond a short fingerprint, so a stray `{:?}` cannot
//! leak a private key into a log.

use super::InvalidField;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WgKey(pub [u8; 32]);

impl WgKey {
    /// Parses standard base64 (as `wg` prints it); URL-safe base64 is accepted too, for path segments.
    pub fn parse(field: &str, s: &str) -> Result<Self, InvalidField> {
        let s = s.trim();
        let bytes = STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .map_err(|_| InvalidField::new(field, "is not valid base64 (expected a WireGuard key of 32 bytes)"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| InvalidField::new(field, format!("decodes to {} bytes; a WireGuard key is 32 bytes", v.len())))?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The public key belonging to this private key.
    pub fn public(&self) -> WgKey {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        WgKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl fmt::Debug for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WgKey({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A fresh (private, public) pair.
pub fn generate_keypair() -> (WgKey, WgKey) {
    let secret = x25519_dalek::StaticSecret::random_from_rng(rand_core::OsRng);
    let public = x25519_dalek::PublicKey::from(&secret);
    (WgKey(secret.to_bytes()), WgKey(public.to_bytes()))
}

/// 32 random bytes (a preshared key).
pub fn random_key() -> WgKey {
    let mut b = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    WgKey(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let (_, public) = generate_keypair();
        let std = public.to_base64();
        assert_eq!(WgKey::parse("k", &std).unwrap(), public);
        let url = URL_SAFE.encode(public.0);
        assert_eq!(WgKey::parse("k", &url).unwrap(), public);
        let cases = ["", "abc", "!!!!", &STANDARD.encode([0u8; 31]), &STANDARD.encode([0u8; 33])];
        for c in cases {
            let e = WgKey::parse("public_key", c).unwrap_err();
            assert_eq!(e.field, "public_key");
        }
    }

    #[test]
    fn public_matches_pair_and_debug_hides() {
        let (private, public) = generate_keypair();
        assert_eq!(private.public(), public);
        let dbg = format!("{private:?}");
        assert!(!dbg.contains(&private.to_base64()));
        // RFC 7748 test vector (Alice).
        let alice = hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
        let alice_pub = hex::decode("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a").unwrap();
        let k = WgKey(alice.try_into().unwrap());
        assert_eq!(k.public().0.to_vec(), alice_pub);
    }
}
