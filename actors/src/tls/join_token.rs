//! Join tokens (`wgcj1.…`): what `wgclusterd join --token` takes. A one-time secret, the
//! cluster CA's fingerprint, the issuer's address and an expiry, encoded as base64url(postcard).
//! Not PKI: a token signs nothing and is checked by hash. Secrets live in types whose `Debug` is
//! redacted and whose memory is zeroed; errors never echo the token.

use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

use crate::model::Endpoint;

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
        hex::encode(crate::model::sha256(&self.0))
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

/// The issuer's `host:port` in its canonical form (`model::Endpoint`, port required).
fn check_host_port(addr: &str) -> Result<String, TokenError> {
    Endpoint::parse_with_port("issuer_addr", addr)
        .map(|e| e.to_string())
        .map_err(|_| TokenError::BadIssuerAddr(addr.escape_debug().to_string()))
}

impl JoinToken {
    /// A new token with a fresh random secret.
    pub fn new(ca_fingerprint: &str, issuer_addr: &str, expires_at: u64) -> Result<Self, TokenError> {
        let mut fp = [0u8; 32];
        hex::decode_to_slice(ca_fingerprint, &mut fp).map_err(|_| TokenError::BadFingerprint)?;
        let issuer_addr = check_host_port(issuer_addr)?;
        Ok(Self { secret: TokenSecret::random(), ca_fingerprint: hex::encode(fp), issuer_addr, expires_at })
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
        let issuer_addr = check_host_port(&wire.issuer_addr)?;
        Ok(Self {
            secret: TokenSecret(wire.secret),
            ca_fingerprint: hex::encode(wire.ca_fingerprint),
            issuer_addr,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(back.secret_hash(), hex::encode(crate::model::sha256(&t.secret.0)));
        assert!(back.secret.matches_hash(&t.secret_hash()));
        assert!(back.secret.matches_hash(&t.secret_hash().to_uppercase()));
        assert!(!JoinToken::new(&fp(), "h:1", 0).unwrap().secret.matches_hash(&t.secret_hash()));
        assert!(!t.secret.matches_hash("abc"));
        let sent = TokenSecret::from_hex(&t.secret.expose_hex()).unwrap();
        assert!(sent.matches_hash(&t.secret_hash()));
        for addr in ["router.lan:10087", "[2001:db8::1]:10087", "r-1:1"] {
            let t = JoinToken::new(&fp(), addr, 5).unwrap();
            assert_eq!(JoinToken::parse(&t.encode()).unwrap().issuer_addr, addr);
        }
        // The issuer's address is an `Endpoint` with a port, kept in its canonical form.
        assert_eq!(JoinToken::new(&fp(), "router.lan.:10087", 5).unwrap().issuer_addr, "router.lan:10087");
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
        for addr in ["h:0", ":1", "h:x", "a b:1", "[::1:1", "h:65536", "::1:80", "r_1:1", "a..b:1", "h", "[1.2.3.4]:1"] {
            assert!(matches!(JoinToken::new(&fp(), addr, 1), Err(TokenError::BadIssuerAddr(_))), "{addr}");
        }
        assert_eq!(TokenSecret::from_hex("zz"), Err(TokenError::BadSecret));
        // messages are readable sentences that do not echo the input
        for e in [TokenError::NotBase64, TokenError::NotAToken] {
            assert!(!e.to_string().contains(&good));
        }
    }
}
