//! TSIG (RFC 8945): signing a request and verifying the answer with HMAC-SHA256/384/512 (ring's
//! HMAC, already linked for TLS).
//!
//! A request's MAC covers the message without its TSIG record, then the TSIG variables (§4.3.3:
//! key name and algorithm in canonical form, class ANY, TTL 0, time, fudge, error, other data). The
//! answer's MAC covers the request's MAC (length-prefixed), the answer without its TSIG record
//! (ARCOUNT one less, the original id), then its TSIG variables.
//!
//! Must not: expose the secret (it lives only inside ring's key, whose Debug shows the algorithm);
//! accept an answer whose MAC is truncated, made with another key or algorithm, or signed outside
//! the fudge window.

use super::message::{self, Message, Name, Tsig, WireError, CLASS_ANY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// `hmac-sha256` (also `HMAC-SHA256.`, and 384/512).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            "hmac-sha384" => Some(Algorithm::HmacSha384),
            "hmac-sha512" => Some(Algorithm::HmacSha512),
            _ => None,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    fn name(self) -> Name {
        Name::parse(self.text()).expect("algorithm names are valid DNS names")
    }

    fn ring(self) -> ring::hmac::Algorithm {
        match self {
            Algorithm::HmacSha256 => ring::hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => ring::hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => ring::hmac::HMAC_SHA512,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    #[error("the answer is not signed")]
    Unsigned,
    #[error("the answer is signed with key '{0}', not ours")]
    OtherKey(String),
    #[error("the answer is signed with algorithm '{0}', not ours")]
    OtherAlgorithm(String),
    #[error("the answer's MAC is {0} bytes, not the algorithm's {1}")]
    MacLength(usize, usize),
    #[error("the answer's MAC does not match")]
    BadMac,
    #[error("the answer was signed at {signed}, {diff} s from our clock (fudge {fudge} s)")]
    Time { signed: u64, diff: u64, fudge: u16 },
    #[error("the answer carries TSIG error {0}")]
    Error(String),
    #[error("cannot encode the message: {0}")]
    Wire(#[from] WireError),
}

/// The name of an extended TSIG error code (RFC 8945 §3).
pub fn error_name(code: u16) -> Option<&'static str> {
    match code {
        16 => Some("BADSIG"),
        17 => Some("BADKEY"),
        18 => Some("BADTIME"),
        22 => Some("BADTRUNC"),
        _ => None,
    }
}

/// A TSIG key: its name, algorithm and secret.
pub struct Key {
    pub name: Name,
    pub algorithm: Algorithm,
    key: ring::hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, {})", self.name, self.algorithm.text())
    }
}

/// A signed request: its bytes and what verifying the answer needs.
pub struct Signed {
    pub bytes: Vec<u8>,
    pub id: u16,
    pub mac: Vec<u8>,
}

impl Key {
    pub fn new(name: Name, algorithm: Algorithm, secret: &[u8]) -> Key {
        Key { name, algorithm, key: ring::hmac::Key::new(algorithm.ring(), secret) }
    }

    /// The TSIG variables (§4.3.3) of `t`, appended to `out`.
    fn variables(out: &mut Vec<u8>, t: &Tsig) {
        out.extend_from_slice(t.key.wire());
        out.extend_from_slice(&CLASS_ANY.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(t.algorithm.wire());
        out.extend_from_slice(&t.time.to_be_bytes()[2..]);
        out.extend_from_slice(&t.fudge.to_be_bytes());
        out.extend_from_slice(&t.error.to_be_bytes());
        out.extend_from_slice(&(t.other.len() as u16).to_be_bytes());
        out.extend_from_slice(&t.other);
    }

    /// Signs the request `msg` (any TSIG it holds is replaced) at `now` (seconds since the epoch).
    pub fn sign(&self, msg: &Message, now: u64, fudge: u16) -> Result<Signed, TsigError> {
        self.sign_answer(msg, &[], now, fudge)
    }

    /// Signs `msg` as the answer to a request signed with `request_mac` (what a server does; empty:
    /// `msg` is a request).
    pub fn sign_answer(&self, msg: &Message, request_mac: &[u8], now: u64, fudge: u16) -> Result<Signed, TsigError> {
        let mut tsig = Tsig {
            key: self.name.clone(),
            algorithm: self.algorithm.name(),
            time: now & 0xffff_ffff_ffff,
            fudge,
            mac: Vec::new(),
            original_id: msg.id,
            error: 0,
            other: Vec::new(),
        };
        let mut data = Vec::with_capacity(512);
        if !request_mac.is_empty() {
            data.extend_from_slice(&(request_mac.len() as u16).to_be_bytes());
            data.extend_from_slice(request_mac);
        }
        msg.encode_unsigned(&mut data)?;
        Self::variables(&mut data, &tsig);
        tsig.mac = ring::hmac::sign(&self.key, &data).as_ref().to_vec();
        let mac = tsig.mac.clone();
        let signed = Message { tsig: Some(tsig), ..msg.clone() };
        Ok(Signed { bytes: signed.encode()?, id: msg.id, mac })
    }

    /// Verifies the TSIG of `buf`, the answer to a request signed with `request_mac` (empty: `buf`
    /// is itself a request), at `now`.
    pub fn verify(&self, buf: &[u8], request_mac: &[u8], now: u64) -> Result<(), TsigError> {
        let (msg, tsig_at) = Message::decode_parts(buf)?;
        let t = msg.tsig.as_ref().ok_or(TsigError::Unsigned)?;
        if t.key != self.name {
            return Err(TsigError::OtherKey(t.key.to_string()));
        }
        if t.algorithm != self.algorithm.name() {
            return Err(TsigError::OtherAlgorithm(t.algorithm.to_string()));
        }
        if t.error != 0 {
            return Err(TsigError::Error(error_name(t.error).map_or_else(|| t.error.to_string(), str::to_string)));
        }
        let full = self.algorithm.ring().digest_algorithm().output_len();
        if t.mac.len() != full {
            return Err(TsigError::MacLength(t.mac.len(), full));
        }
        let mut data = Vec::with_capacity(buf.len() + 2 + request_mac.len() + 64);
        if !request_mac.is_empty() {
            data.extend_from_slice(&(request_mac.len() as u16).to_be_bytes());
            data.extend_from_slice(request_mac);
        }
        let start = data.len();
        data.extend_from_slice(&buf[..tsig_at]);
        data[start..start + 2].copy_from_slice(&t.original_id.to_be_bytes());
        message::set_count(&mut data[start..], 10, msg.additional.len())?;
        Self::variables(&mut data, t);
        ring::hmac::verify(&self.key, &data, &t.mac).map_err(|_| TsigError::BadMac)?;
        let diff = now.abs_diff(t.time);
        if diff > u64::from(t.fudge) {
            return Err(TsigError::Time { signed: t.time, diff, fudge: t.fudge });
        }
        Ok(())
    }
}
