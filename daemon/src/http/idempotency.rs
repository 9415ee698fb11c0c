//! `Idempotency-Key` at the HTTP edge (DESIGN §6, issue #13). The connection (`server/conn.rs`)
//! checks the key on a write (any method but GET/HEAD/OPTIONS) that carries the header and starts
//! a `Capture`; `Payload::read` hashes the body as the handler reads it, so the body is neither
//! buffered twice nor read before authentication. The `User` extractor picks the `Capture` up; when the
//! handler submits its command, `Capture::finish` turns it into the `Idempotency` the command
//! carries: the key and SHA-256 over method, path, query and body. Apply (`state/idempotency.rs`)
//! does the rest, replicated.
//!
//! Key rule: 1 to 128 visible ASCII characters (0x21–0x7E); anything else is a 400 naming the
//! header. A repeat is answered with the first outcome and the header `Idempotent-Replayed: true`.

use super::error::ApiError;
use super::server::Method;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wgcluster_actors::model::quote_prefix;
use wgcluster_actors::model::Sha256;
use wgcluster_actors::state::idempotency::MAX_KEY_LEN;
use wgcluster_actors::state::Idempotency;

pub const HEADER: &str = "idempotency-key";
/// Set on the answer to a repeat.
pub const REPLAYED: &str = "idempotent-replayed";

/// The key as the client sent it, checked.
pub fn parse_key(raw: &[u8]) -> Result<String, ApiError> {
    let ok = !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.iter().all(|b| (0x21..=0x7e).contains(b));
    if !ok {
        let shown = quote_prefix(&String::from_utf8_lossy(raw));
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key: must be 1 to {MAX_KEY_LEN} visible ASCII characters (no spaces), got {shown}"
        )));
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

/// Whether a method can change anything (only those take a key).
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::Get | Method::Head | Method::Options)
}

/// A key and the running hash of the request it came with.
#[derive(Clone)]
pub struct Capture {
    key: String,
    hasher: Rc<RefCell<Sha256>>,
    replayed: Rc<Cell<bool>>,
}

impl Capture {
    pub fn new(key: String, method: &Method, path: &str, query: &str) -> Self {
        let mut h = Sha256::new();
        for part in [method.as_str(), path, query] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Self { key, hasher: Rc::new(RefCell::new(h)), replayed: Rc::new(Cell::new(false)) }
    }

    /// Adds body bytes to the fingerprint (`Payload::read`).
    pub fn update(&self, bytes: &[u8]) {
        self.hasher.borrow_mut().update(bytes);
    }

    /// The write was a repeat: the answer gets `Idempotent-Replayed: true`.
    pub fn mark_replayed(&self) {
        self.replayed.set(true);
    }

    pub fn replayed(&self) -> bool {
        self.replayed.get()
    }

    /// The key and the fingerprint of everything read so far (the handler has read its body
    /// when it submits).
    pub fn finish(&self) -> Idempotency {
        let fingerprint: [u8; 32] = self.hasher.borrow().clone().finish();
        Idempotency { key: self.key.clone(), fingerprint }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let long = "k".repeat(MAX_KEY_LEN);
        let too_long = format!("{long}k");
        let cases: &[(&[u8], bool)] = &[
            (b"a", true),
            (b"0b6f3c1e-7d6a-4c1e-9a51-6b1f7d2e9c10", true),
            (long.as_bytes(), true),
            (too_long.as_bytes(), false),
            (b"", false),
            (b"has space", false),
            (b"tab\t", false),
            (b"new\nline", false),
            (b"\xc3\xa9", false),
            (b"\x7f", false),
        ];
        for (raw, ok) in cases {
            let got = parse_key(raw);
            assert_eq!(got.is_ok(), *ok, "{:?}", String::from_utf8_lossy(raw));
            if let Err(e) = got {
                assert!(e.to_string().starts_with("Idempotency-Key:"), "{e}");
            }
        }
    }

    #[test]
    fn fingerprint_covers_method_path_query_and_body() {
        let fp = |m: Method, p: &str, q: &str, body: &[&[u8]]| {
            let c = Capture::new("k".into(), &m, p, q);
            for b in body {
                c.hasher.borrow_mut().update(b);
            }
            c.finish().fingerprint
        };
        let base = fp(Method::Post, "/api/configs/wg0/peers", "", &[b"{\"name\":\"a\"}"]);
        assert_eq!(base, fp(Method::Post, "/api/configs/wg0/peers", "", &[b"{\"name\":", b"\"a\"}"]), "chunking does not matter");
        for other in [
            fp(Method::Patch, "/api/configs/wg0/peers", "", &[b"{\"name\":\"a\"}"]),
            fp(Method::Post, "/api/configs/wg1/peers", "", &[b"{\"name\":\"a\"}"]),
            fp(Method::Post, "/api/configs/wg0/peers", "x=1", &[b"{\"name\":\"a\"}"]),
            fp(Method::Post, "/api/configs/wg0/peers", "", &[b"{\"name\":\"b\"}"]),
            // Parts are length-prefixed: moving bytes between path and query changes the hash.
            fp(Method::Post, "/api/configs/wg0/peer", "s", &[b"{\"name\":\"a\"}"]),
        ] {
            assert_ne!(base, other);
        }
        assert!(is_write(&Method::Post) && is_write(&Method::Delete) && !is_write(&Method::Get));
    }
}
