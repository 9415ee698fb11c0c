//! A small HTTP/1.1 client over tokio-rustls for router-to-router calls (Raft RPCs, forwarded
//! writes, health probes, joins). One request at a time per connection; at most one idle
//! keep-alive connection per target, reused by the next request to it (and dialled again once
//! if the reused connection turns out dead before any of the answer arrived). Request bodies
//! carry a Content-Length; responses may use Content-Length, chunked encoding, or end at close,
//! and are bounded in size. Timeouts: one for connecting (TCP + TLS), one for the whole request.
//!
//! Errors map onto openraft's: [`ClientError::Unreachable`] (no connection: refused, no route,
//! DNS, TLS refused either way) is openraft's `Unreachable`; the others are `NetworkError`.
//!
//! The same code also serves the DNS provider's HTTP calls (`tls::web`): there the server is
//! verified against the public CAs (a second `ClientConfig`), or, for a loopback-only test
//! server, the client runs without TLS ([`ClusterClient::plain_loopback`]; it refuses to dial
//! anything but a loopback address).
//!
//! A request whose reused connection was dead is sent again on a fresh one. That is only done
//! when nothing of the answer had arrived; the server closing an idle connection is the usual
//! cause, so the first attempt was not processed. Raft RPCs are safe to repeat anyway.

use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Timeout of one router-to-router request (a Raft RPC, a forwarded write, a membership call).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections older than this are dropped instead of reused. Keep it below the server's
/// keep-alive (the daemon's HTTP server, `daemon/src/http/server/conn.rs`: 5 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Largest response body accepted (snapshots are the big ones).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;
const MAX_HEAD_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 64;
const MAX_CHUNK_LINE: usize = 4 << 10;
const READ_CHUNK: usize = 16 << 10;
const COALESCE_BODY_BYTES: usize = 16 << 10;

/// Why a request failed. No variant carries a request or response body.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection to the target: connect refused or timed out, name resolution failed, or
    /// TLS failed (we refused the server's certificate, or it refused ours).
    #[error("{target} at {addr} is unreachable: {reason}")]
    Unreachable { target: String, addr: String, reason: String },
    /// The whole-request timeout passed.
    #[error("request to {target} at {addr} timed out after {after:?}")]
    Timeout { target: String, addr: String, after: Duration },
    /// The connection broke mid-request, or the answer was not acceptable HTTP/1.1.
    #[error("request to {target} at {addr} failed: {reason}")]
    Failed { target: String, addr: String, reason: String },
    /// The request itself was refused before sending (bad method, path or header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ClientError {
    /// True for [`ClientError::Unreachable`]: openraft's `Unreachable`; everything else is a
    /// `NetworkError`.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// Limits of a [`ClusterClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// One request. `headers` must not set Host, Content-Length, Content-Type, Transfer-Encoding
/// or Connection (the client does).
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub content_type: Option<&'a str>,
    pub body: Vec<u8>,
}

/// An answer, whatever its status code.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// The router-to-router HTTP client. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// None: plain TCP, loopback addresses only.
    connector: Option<TlsConnector>,
    options: ClientOptions,
    /// Poll an idle connection before reuse (off only in tests of the re-dial path).
    probe_idle: bool,
    /// target node id -> its one idle connection
    idle: Mutex<HashMap<String, IdleConn>>,
}

struct IdleConn {
    addr: String,
    conn: Conn,
    since: Instant,
}

struct Conn {
    stream: Stream,
    /// Bytes read but not consumed yet.
    buf: Vec<u8>,
}

/// A connection's byte stream: TLS, or plain TCP (loopback only).
enum Stream {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where a request goes: the pool key, the `Host` header, the name the server's certificate
/// must carry (SNI; unused without TLS) and the `host:port` to dial.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dest<'a> {
    pub(crate) key: &'a str,
    pub(crate) host: &'a str,
    pub(crate) server_name: &'a str,
    pub(crate) addr: &'a str,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A client with `client_config` (from `tls::config::client_config`, or
    /// `join_client_config` for a joining router) and default limits.
    pub fn new(client_config: Arc<rustls::ClientConfig>) -> Self {
        Self::with_options(client_config, ClientOptions::default())
    }

    pub fn with_options(client_config: Arc<rustls::ClientConfig>, options: ClientOptions) -> Self {
        Self::build(Some(TlsConnector::from(client_config)), options)
    }

    /// A client without TLS, for a server on this machine only (the DNS tests' fake provider):
    /// every address a target resolves to must be a loopback address, or the request is refused
    /// before any connection is made.
    pub fn plain_loopback(options: ClientOptions) -> Self {
        Self::build(None, options)
    }

    /// True for a client made by [`ClusterClient::plain_loopback`].
    pub fn is_plain(&self) -> bool {
        self.inner.connector.is_none()
    }

    fn build(connector: Option<TlsConnector>, options: ClientOptions) -> Self {
        Self { inner: Arc::new(Inner { connector, options, probe_idle: true, idle: Mutex::new(HashMap::new()) }) }
    }

    /// Sends `method path` with `body` to the router `target_node_id` at `addr` (`host:port`)
    /// and returns the status and body of the answer, whatever the status. The server must
    /// present a certificate for `target_node_id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        target_node_id: &str,
        addr: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let req = Request { method, path, headers: &[], content_type, body };
        let resp = self.send(target_node_id, addr, req, timeout).await?;
        Ok((resp.status, resp.body))
    }

    /// [`ClusterClient::request`] with extra headers, returning the answer's headers too.
    pub async fn send(&self, target_node_id: &str, addr: &str, req: Request<'_>, timeout: Duration) -> Result<Response, ClientError> {
        let dest = Dest { key: target_node_id, host: target_node_id, server_name: target_node_id, addr };
        self.send_to(dest, req, timeout).await
    }

    /// One request to `dest`; the answer whatever its status.
    pub(crate) async fn send_to(&self, dest: Dest<'_>, req: Request<'_>, timeout: Duration) -> Result<Response, ClientError> {
        let Dest { key: target_node_id, addr, .. } = dest;
        let head = build_head(dest.host, &req)?;
        let is_head = req.method == "HEAD";
        let max = self.inner.options.max_response_bytes;
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || ClientError::Timeout { target: target_node_id.to_string(), addr: addr.to_string(), after: timeout };
        let failed = |e: ExchangeError| {
            if e.refused {
                ClientError::Unreachable { target: target_node_id.to_string(), addr: addr.to_string(), reason: e.reason }
            } else {
                ClientError::Failed { target: target_node_id.to_string(), addr: addr.to_string(), reason: e.reason }
            }
        };

        if let Some(mut conn) = self.take_idle(target_node_id, addr) {
            let exchange = exchange(&mut conn, &head, &req.body, is_head, max);
            match tokio::time::timeout_at(deadline, exchange).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok((resp, reusable))) => {
                    if reusable {
                        self.put_idle(target_node_id, addr, conn);
                    }
                    return Ok(resp);
                }
                Ok(Err(e)) if e.stale => {
                    log::debug!("reused connection to {target_node_id} at {addr} was dead ({}); dialling again", e.reason);
                }
                Ok(Err(e)) => return Err(failed(e)),
            }
        }

        let connect_timeout = self.inner.options.connect_timeout;
        let connect_deadline = deadline.min(tokio::time::Instant::now() + connect_timeout);
        let mut conn = match tokio::time::timeout_at(connect_deadline, self.dial(dest)).await {
            Err(_) => {
                let what = if self.is_plain() { "connection" } else { "TLS connection" };
                return Err(ClientError::Unreachable {
                    target: target_node_id.to_string(),
                    addr: addr.to_string(),
                    reason: format!("no {what} within {:?}", connect_timeout.min(timeout)),
                });
            }
            Ok(result) => result?,
        };
        let exchange = exchange(&mut conn, &head, &req.body, is_head, max);
        match tokio::time::timeout_at(deadline, exchange).await {
            Err(_) => Err(timed_out()),
            Ok(Err(e)) => Err(failed(e)),
            Ok(Ok((resp, reusable))) => {
                if reusable {
                    self.put_idle(target_node_id, addr, conn);
                }
                Ok(resp)
            }
        }
    }

    /// Reuses idle connections without probing them first, so a dead one is found only by
    /// the request itself (tests of the re-dial path).
    #[cfg(test)]
    pub(crate) fn without_idle_probe(mut self) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.probe_idle = false;
        }
        self
    }

    /// Drops every idle connection (e.g. after the cluster's membership changed).
    pub fn close_idle(&self) {
        self.lock_idle().clear();
    }

    /// How many idle connections are kept (for metrics and tests).
    pub fn idle_count(&self) -> usize {
        self.lock_idle().len()
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, HashMap<String, IdleConn>> {
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_idle(&self, target: &str, addr: &str) -> Option<Conn> {
        let idle = self.lock_idle().remove(target)?;
        if idle.addr != addr || idle.since.elapsed() >= self.inner.options.idle_timeout {
            return None;
        }
        let mut conn = idle.conn;
        (!self.inner.probe_idle || looks_alive(&mut conn)).then_some(conn)
    }

    fn put_idle(&self, target: &str, addr: &str, conn: Conn) {
        self.lock_idle().insert(target.to_string(), IdleConn { addr: addr.to_string(), conn, since: Instant::now() });
    }

    async fn dial(&self, dest: Dest<'_>) -> Result<Conn, ClientError> {
        let (target, addr) = (dest.key, dest.addr);
        let unreachable = |reason: String| ClientError::Unreachable { target: target.to_string(), addr: addr.to_string(), reason };
        let Some(connector) = &self.inner.connector else {
            // Plain TCP: only ever to this machine (a token must not cross a network in clear).
            let resolved: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host(addr).await.map_err(|e| unreachable(format!("resolve: {e}")))?.collect();
            if resolved.is_empty() || resolved.iter().any(|a| !a.ip().is_loopback()) {
                return Err(ClientError::InvalidRequest(format!(
                    "plain HTTP is allowed only to a loopback address, and '{}' is not one",
                    addr.escape_debug()
                )));
            }
            let tcp = TcpStream::connect(&resolved[..]).await.map_err(|e| unreachable(format!("connect: {e}")))?;
            let _ = tcp.set_nodelay(true);
            return Ok(Conn { stream: Stream::Plain(tcp), buf: Vec::new() });
        };
        let name = ServerName::try_from(dest.server_name.to_string()).map_err(|_| {
            ClientError::InvalidRequest(format!("'{}' is not a DNS name or an IP address", dest.server_name.escape_debug()))
        })?;
        let tcp = TcpStream::connect(addr).await.map_err(|e| unreachable(format!("connect: {e}")))?;
        // Requests are small and latency-bound: do not wait for ACKs to send.
        let _ = tcp.set_nodelay(true);
        let stream = connector.connect(name, tcp).await.map_err(|e| unreachable(format!("TLS: {e}")))?;
        Ok(Conn { stream: Stream::Tls(Box::new(stream)), buf: Vec::new() })
    }
}

mod wire;
use wire::*;
#[cfg(test)]
pub(crate) use wire::{flush, read_more, write_all};

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request { method, path, headers, content_type: Some("application/octet-stream"), body: b"abc".to_vec() }
    }

    #[test]
    fn request_heads_are_built_and_checked() {
        let head = build_head("n1", &req("POST", "/v1/raft/vote?x=1", &[("X-Trace", "7")])).unwrap();
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/raft/vote?x=1 HTTP/1.1\r\nHost: n1\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: 3\r\nX-Trace: 7\r\n\r\n"
        );
        for (m, p, h) in [
            ("post", "/", &[][..]),
            ("GET", "x", &[][..]),
            ("GET", "/a b", &[][..]),
            ("GET", "/a\r\nX: y", &[][..]),
            ("GET", "/", &[("Host", "evil")][..]),
            ("GET", "/", &[("Content-Length", "1")][..]),
            ("GET", "/", &[("X", "a\r\nb")][..]),
            ("GET", "/", &[("X Y", "a")][..]),
        ] {
            assert!(matches!(build_head("n1", &req(m, p, h)), Err(ClientError::InvalidRequest(_))), "{m} {p:?} {h:?}");
        }
        assert!(build_head("n1\r\n", &req("GET", "/", &[])).is_err());
    }

    #[test]
    fn framing_rules() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> { pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() };
        assert!(matches!(framing(200, &h(&[("content-length", "5")]), false), Ok(Framing::Length(5))));
        assert!(matches!(framing(200, &h(&[("content-length", "5")]), true), Ok(Framing::Empty)));
        assert!(matches!(framing(204, &h(&[]), false), Ok(Framing::Empty)));
        assert!(matches!(framing(200, &h(&[("transfer-encoding", "chunked")]), false), Ok(Framing::Chunked)));
        assert!(framing(200, &h(&[("transfer-encoding", "gzip, chunked")]), false).is_err());
        assert!(framing(200, &h(&[("content-length", "5"), ("content-length", "6")]), false).is_err());
        assert!(framing(200, &h(&[("content-length", "-1")]), false).is_err());
        assert!(matches!(framing(200, &h(&[]), false), Ok(Framing::UntilClose)));
    }
}
