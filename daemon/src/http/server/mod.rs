//! The daemon's own HTTP/1.1 server (#12: it replaced actix-web, see ARCHITECTURE.md "Size").
//! One concern per file:
//! - `parse.rs`: the request head (httparse), the body's framing, the chunked decoder: pure,
//!   table- and fuzz-tested;
//! - `router.rs`: the method + path-pattern table (`{param}` segments);
//! - `extract.rs`: what a handler can ask for (`App`, `Path`, `Query`, `Payload`, `HttpRequest`;
//!   `User`/`AgentCaller`/`Member` live with the auth code) and the adapter from an async fn to
//!   a boxed handler;
//! - `response.rs`: `Response` with a fixed or a streamed (chunked) body;
//! - `conn.rs`: one connection: keep-alive loop, deadlines, limits, the edge checks, dispatch;
//! - `listen.rs`: the accept loops (TCP, TLS, Unix), the connection caps, graceful shutdown.
//!
//! Everything runs on the actix `System`'s single-threaded runtime (a `LocalSet`): no worker
//! or accept thread of its own, and handlers need not be `Send`.

mod conn;
mod extract;
mod listen;
pub mod parse;
mod response;
mod router;

#[cfg(test)]
pub use conn::parse_error;
pub use conn::Limits;
pub use extract::{FromReq, HttpRequest, Path, Payload, Query};
pub use listen::{Listeners, Server};
pub use parse::Method;
pub use response::Response;
pub use router::Router;

use super::edge::Listener;
use super::AppState;
use std::sync::Arc;
use wgcluster_actors::dns::DnsHandle;
use wgcluster_actors::tls::PeerIdentity;

/// What every request of a server reaches: the application state, the DNS handle (None where
/// DNS sync does not run) and the route table.
pub struct Services {
    pub app: Arc<AppState>,
    pub dns: Option<DnsHandle>,
    pub router: Router,
}

/// One request as a handler sees it.
pub struct Req {
    /// The query string as sent, without '?'.
    pub query: String,
    /// Names lower case, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The route's `{param}` segments, percent-decoded, in order.
    pub params: Vec<String>,
    pub listener: Listener,
    /// The verified client certificate of a cluster (TLS) connection, if it sent one.
    pub peer: Option<PeerIdentity>,
    pub app: Arc<AppState>,
    pub dns: Option<DnsHandle>,
    /// The request's `Idempotency-Key` and running fingerprint (`idempotency.rs`).
    pub capture: Option<super::idempotency::Capture>,
    /// The body, read only when a handler asks for it (`Payload`).
    pub body: Option<conn::BodyIn>,
}

impl Req {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The header as text, if it is visible ASCII.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(visible_ascii)
    }

    /// Whether this came in on the control socket (local root).
    pub fn is_local(&self) -> bool {
        self.listener == Listener::Control
    }
}

/// A header value as text when every byte is visible ASCII, space or tab.
pub fn visible_ascii(v: &[u8]) -> Option<&str> {
    if v.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)) {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}
