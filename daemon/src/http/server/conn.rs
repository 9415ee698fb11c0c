//! One connection: read a request head (bounded size, deadline), apply the edge checks
//! (`edge.rs`: listener, declared length; `idempotency.rs`: the key), dispatch, write the
//! response (fixed or chunked), and repeat while the client keeps the connection alive.
//!
//! Keep-alive: an idle connection is closed after `Limits::idle` (5 s; the cluster client keeps
//! idle connections 4 s, see `actors/src/tls/client`). A request head must arrive within
//! `Limits::head` of its first byte (or of the accept), or the connection gets 408 and is closed
//! (slowloris). Bodies are read only when a handler asks (`Payload`); one a handler did not read
//! closes the connection after the answer instead of being drained.

use super::parse::{self, ChunkedDecoder, Framing, Head, ParseError};
use super::response::{Body, Response};
use super::{Req, Services};
use crate::http::edge::{self, Listener};
use crate::http::error::ApiError;
use crate::http::idempotency;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use wgcluster_actors::tls::PeerIdentity;

/// A client's byte stream (TCP, TLS over TCP, Unix).
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Time limits of a connection.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Keep-alive: how long an idle connection is kept.
    pub idle: Duration,
    /// How long a request head may take to arrive.
    pub head: Duration,
    /// How long one write of the answer may wait for the client to read.
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { idle: Duration::from_secs(5), head: Duration::from_secs(10), write: Duration::from_secs(30) }
    }
}

const READ_CHUNK: usize = 16 * 1024;

/// The stream and the bytes read from it but not used yet (pipelined requests, a body's start).
pub struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(io: Box<dyn Io>) -> Self {
        Self { io, buf: Vec::new() }
    }

    /// Reads more bytes into `buf`; false at end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }
}

/// A request's body, still on the connection (`Payload`).
pub struct BodyIn {
    slot: Rc<Cell<Option<Conn>>>,
    framing: Framing,
    expect_continue: bool,
    /// Set once the whole body was read: the connection may serve the next request.
    done: Rc<Cell<bool>>,
}

impl BodyIn {
    pub async fn read(self, limit: usize, deadline: Duration) -> Result<Vec<u8>, ApiError> {
        let mut conn = self.slot.take().ok_or_else(|| ApiError::Internal("the request body was already read".into()))?;
        let res = match tokio::time::timeout(deadline, read_framed(&mut conn, self.framing, limit, self.expect_continue)).await {
            Ok(res) => res,
            Err(_) => Err(ApiError::BodyTimeout(format!("the request body was not received within {} s", deadline.as_secs()))),
        };
        self.slot.set(Some(conn));
        if res.is_ok() {
            self.done.set(true);
        }
        res
    }
}

/// The answer to a request that cannot be parsed: 431 for a head too large, 413 for a body over
/// the limit, 400 for anything malformed.
pub fn parse_error(e: ParseError) -> ApiError {
    match e {
        ParseError::HeadTooLarge => ApiError::HeaderTooLarge(e.to_string()),
        ParseError::BodyTooLarge(l) => too_large(l),
        ParseError::Malformed(_) => ApiError::BadRequest(e.to_string()),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!("the request body is larger than the limit of {limit} bytes"))
}

fn cut_short() -> ApiError {
    ApiError::BadRequest("cannot read the request body: the connection closed before it was complete".into())
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::BadRequest(format!("cannot read the request body: {e}"))
}

async fn read_framed(conn: &mut Conn, framing: Framing, limit: usize, expect_continue: bool) -> Result<Vec<u8>, ApiError> {
    if framing == Framing::None {
        return Ok(Vec::new());
    }
    if let Framing::Length(n) = framing {
        if n > limit as u64 {
            return Err(too_large(limit));
        }
    }
    if expect_continue && conn.buf.is_empty() {
        conn.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.map_err(io_error)?;
        conn.io.flush().await.map_err(io_error)?;
    }
    match framing {
        Framing::Length(n) => {
            let n = n as usize;
            while conn.buf.len() < n {
                if !conn.fill().await.map_err(io_error)? {
                    return Err(cut_short());
                }
            }
            let rest = conn.buf.split_off(n);
            Ok(std::mem::replace(&mut conn.buf, rest))
        }
        _ => {
            let mut dec = ChunkedDecoder::new(limit);
            loop {
                let used = dec.feed(&conn.buf).map_err(parse_error)?;
                conn.buf.drain(..used);
                if dec.is_done() {
                    return Ok(std::mem::take(&mut dec.out));
                }
                if !conn.fill().await.map_err(io_error)? {
                    return Err(cut_short());
                }
            }
        }
    }
}

/// Why no request head came.
enum NoHead {
    /// Closed, idle past keep-alive, or the server is stopping: close quietly.
    Quiet,
    /// Answer this and close.
    Refuse(ApiError),
}

async fn read_head(conn: &mut Conn, first: bool, limits: Limits, shutdown: &mut watch::Receiver<bool>) -> Result<Head, NoHead> {
    // Idle between requests: wait for the first byte (or the server stopping).
    if conn.buf.is_empty() && !first {
        let wait = async {
            tokio::select! {
                r = conn.fill() => r.ok().filter(|more| *more).map(|_| ()),
                _ = shutdown.wait_for(|stop| *stop) => None,
            }
        };
        match tokio::time::timeout(limits.idle, wait).await {
            Ok(Some(())) => {}
            _ => return Err(NoHead::Quiet),
        }
    }
    let read = async {
        loop {
            match parse::parse_head(&conn.buf) {
                Ok(Some((head, n))) => {
                    conn.buf.drain(..n);
                    return Ok(head);
                }
                Ok(None) => {}
                Err(ParseError::HeadTooLarge) => {
                    return Err(NoHead::Refuse(ApiError::HeaderTooLarge(ParseError::HeadTooLarge.to_string())))
                }
                Err(e) => return Err(NoHead::Refuse(ApiError::BadRequest(e.to_string()))),
            }
            match conn.fill().await {
                Ok(true) => {}
                _ => return Err(NoHead::Quiet),
            }
        }
    };
    let res = tokio::time::timeout(limits.head, read).await;
    match res {
        Ok(res) => res,
        // Nothing at all on a fresh connection: nobody to answer.
        Err(_) if conn.buf.is_empty() => Err(NoHead::Quiet),
        Err(_) => {
            Err(NoHead::Refuse(ApiError::BodyTimeout(format!("the request head was not received within {} s", limits.head.as_secs()))))
        }
    }
}

/// Serves one connection until it closes, idles out, or the server stops.
pub async fn serve(
    io: Box<dyn Io>,
    listener: Listener,
    peer: Option<PeerIdentity>,
    services: Rc<Services>,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slot = Rc::new(Cell::new(Some(Conn::new(io))));
    let mut first = true;
    loop {
        let Some(mut conn) = slot.take() else { return };
        let head = read_head(&mut conn, first, limits, &mut shutdown).await;
        first = false;
        let head = match head {
            Ok(h) => h,
            Err(NoHead::Quiet) => return close(conn).await,
            Err(NoHead::Refuse(e)) => {
                let _ = write_response(&mut conn, e.response(), false, false, true, limits).await;
                return close(conn).await;
            }
        };
        slot.set(Some(conn));
        let head_only = head.method == parse::Method::Head;
        let http10 = head.http10;
        let (resp, body_left) = dispatch(head, listener, peer.clone(), &services, &slot).await;
        let close_after = body_left.1 || *shutdown.borrow();
        let Some(mut conn) = slot.take() else { return };
        // The client asked to close, or a body is left unread on the connection.
        let keep = !close_after && !body_left.0;
        if write_response(&mut conn, resp, head_only, http10, !keep, limits).await.is_err() || !keep {
            return close(conn).await;
        }
        slot.set(Some(conn));
    }
}

async fn close(mut conn: Conn) {
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.io.shutdown()).await;
}

/// Runs the edge checks and the handler. Returns the response and (body left unread, client
/// asked to close).
async fn dispatch(
    head: Head,
    listener: Listener,
    peer: Option<PeerIdentity>,
    services: &Rc<Services>,
    slot: &Rc<Cell<Option<Conn>>>,
) -> (Response, (bool, bool)) {
    let wants_close = head.wants_close();
    let framing = match parse::framing(&head) {
        Ok(f) => f,
        Err(e) => return (parse_error(e).response(), (true, true)),
    };
    let done = Rc::new(Cell::new(matches!(framing, Framing::None | Framing::Length(0))));
    let left = |done: &Rc<Cell<bool>>| !done.get();
    // The edge (`edge.rs`): a route this listener does not serve does not exist; a declared body
    // over the limit is refused before any of it is read, and before authentication.
    let class = edge::route_class(&head.method, &head.path);
    if !edge::served_on(listener, class) {
        let e = crate::http::not_found(&head.method, &head.path);
        return (e.response(), (left(&done), wants_close));
    }
    let declared = head.header("content-length").map(|v| std::str::from_utf8(v).unwrap_or("?"));
    if let Err(e) = edge::declared_length_ok(declared, edge::body_limit(listener)) {
        return (e.response(), (true, true));
    }
    let capture = match head.header(idempotency::HEADER).filter(|_| idempotency::is_write(&head.method)) {
        None => None,
        Some(raw) => match idempotency::parse_key(raw) {
            Ok(key) => Some(idempotency::Capture::new(key, &head.method, &head.path, &head.query)),
            Err(e) => return (e.response(), (left(&done), wants_close)),
        },
    };
    let Some((handler, params)) = services.router.find(&head.method, &head.path) else {
        let e = crate::http::not_found(&head.method, &head.path);
        return (e.response(), (left(&done), wants_close));
    };
    let expect_continue =
        head.header("expect").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue")) && framing != Framing::None && !head.http10;
    let body = BodyIn { slot: slot.clone(), framing, expect_continue, done: done.clone() };
    let req = Req {
        query: head.query,
        headers: head.headers,
        params,
        listener,
        peer,
        app: services.app.clone(),
        dns: services.dns.clone(),
        capture: capture.clone(),
        body: Some(body),
    };
    let mut resp = handler(req).await;
    if capture.is_some_and(|c| c.replayed()) {
        resp = resp.header(idempotency::REPLAYED, "true");
    }
    (resp, (left(&done), wants_close))
}

async fn write_all(conn: &mut Conn, bytes: &[u8], limits: Limits) -> std::io::Result<()> {
    match tokio::time::timeout(limits.write, conn.io.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading")),
    }
}

/// Writes `resp`: a fixed body with `Content-Length`; a stream chunked (HTTP/1.1) or up to the
/// close (HTTP/1.0). `head_only`: the answer to HEAD, without the body.
async fn write_response(
    conn: &mut Conn,
    resp: Response,
    head_only: bool,
    http10: bool,
    close: bool,
    limits: Limits,
) -> std::io::Result<()> {
    let close = close || (http10 && matches!(resp.body, Body::Stream(_)));
    match &resp.body {
        Body::Fixed(b) => {
            let mut out = resp.head(Some(b.len()), false, close);
            if !head_only {
                out.extend_from_slice(b);
            }
            write_all(conn, &out, limits).await?;
        }
        Body::Stream(_) => {
            let chunked = !http10;
            write_all(conn, &resp.head(None, chunked, close), limits).await?;
            if !head_only {
                let Body::Stream(pieces) = resp.body else { return Ok(()) };
                for piece in pieces.filter(|p| !p.is_empty()) {
                    if chunked {
                        let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                        framed.extend_from_slice(&piece);
                        framed.extend_from_slice(b"\r\n");
                        write_all(conn, &framed, limits).await?;
                    } else {
                        write_all(conn, &piece, limits).await?;
                    }
                }
                if chunked {
                    write_all(conn, b"0\r\n\r\n", limits).await?;
                }
            }
        }
    }
    conn.io.flush().await
}
