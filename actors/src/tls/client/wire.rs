//! The HTTP/1.1 wire format of the client: the request head (checked: no header injection), one
//! exchange on a connection (write the request, read the answer), the response framing
//! (Content-Length, chunked, until close; bounded) and the error that says whether a request may
//! be sent again on a fresh connection.

use super::*;

/// An idle connection is alive when a read would block: no close, no stray bytes.
pub(super) fn looks_alive(conn: &mut Conn) -> bool {
    if !conn.buf.is_empty() {
        return false;
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut rb = ReadBuf::new(&mut byte);
    matches!(Pin::new(&mut conn.stream).poll_read(&mut cx, &mut rb), Poll::Pending)
}

pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(super) fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// The request head. `host` is the `Host` header: a node id, or `host[:port]` (IPv6 in brackets).
pub(super) fn build_head(target: &str, req: &Request<'_>) -> Result<Vec<u8>, ClientError> {
    let invalid = |what: String| Err(ClientError::InvalidRequest(what));
    if req.method.is_empty() || req.method.len() > 16 || !req.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid(format!("bad method '{}'", req.method.escape_debug()));
    }
    if !req.path.starts_with('/') || !req.path.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return invalid(format!("bad path '{}': it must start with '/' and hold no spaces or control characters", req.path.escape_debug()));
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:[]".contains(&b)) {
        return invalid(format!("bad target host '{}'", target.escape_debug()));
    }
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {target}\r\n", req.method, req.path);
    if let Some(ct) = req.content_type {
        if !is_header_value(ct) {
            return invalid("bad content type".into());
        }
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    for (name, value) in req.headers {
        let lower = name.to_ascii_lowercase();
        if !is_token(name) || !is_header_value(value) {
            return invalid(format!("bad header '{}'", name.escape_debug()));
        }
        if ["host", "content-length", "content-type", "transfer-encoding", "connection"].contains(&lower.as_str()) {
            return invalid(format!("header '{name}' is set by the client"));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

/// How an exchange failed. `stale`: on the connection, before any byte of the answer (a reused
/// connection that the server had closed). `refused`: TLS said no (an alert or a certificate
/// error), which in TLS 1.3 shows only at the first read, when the server rejects our certificate.
pub(super) struct ExchangeError {
    pub(super) reason: String,
    pub(super) stale: bool,
    pub(super) refused: bool,
}

impl ExchangeError {
    fn protocol(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), stale: false, refused: false }
    }

    fn io(e: io::Error, nothing_received: bool) -> Self {
        let refused = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).is_some_and(|tls| {
            matches!(tls, rustls::Error::AlertReceived(_) | rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        });
        Self { reason: if refused { format!("TLS: {e}") } else { e.to_string() }, stale: nothing_received && !refused, refused }
    }
}

pub(crate) async fn write_all<S: AsyncWrite + Unpin>(s: &mut S, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

pub(crate) async fn flush<S: AsyncWrite + Unpin>(s: &mut S) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *s).poll_flush(cx)).await
}

/// Reads what is available (up to [`READ_CHUNK`]) onto the end of `buf`; 0 at end of stream.
pub(crate) async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + READ_CHUNK, 0);
    let result = poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut buf[old..]);
        match Pin::new(&mut *s).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    let n = *result.as_ref().unwrap_or(&0);
    buf.truncate(old + n);
    result
}

/// Writes one request and reads its answer. Returns the answer and whether the connection may
/// carry another request.
pub(super) async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    body: &[u8],
    is_head: bool,
    max: usize,
) -> Result<(Response, bool), ExchangeError> {
    let sent = async {
        if body.len() <= COALESCE_BODY_BYTES {
            let mut all = Vec::with_capacity(head.len() + body.len());
            all.extend_from_slice(head);
            all.extend_from_slice(body);
            write_all(&mut conn.stream, &all).await?;
        } else {
            write_all(&mut conn.stream, head).await?;
            write_all(&mut conn.stream, body).await?;
        }
        flush(&mut conn.stream).await
    };
    sent.await.map_err(|e| ExchangeError::io(e, true))?;
    read_response(conn, is_head, max).await
}

pub(super) enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

pub(super) async fn fill(conn: &mut Conn, nothing_received: bool) -> Result<(), ExchangeError> {
    match read_more(&mut conn.stream, &mut conn.buf).await {
        Ok(0) => Err(ExchangeError {
            reason: "the connection closed before the answer was complete".into(),
            stale: nothing_received,
            refused: false,
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(ExchangeError::io(e, nothing_received)),
    }
}

pub(super) async fn read_response(conn: &mut Conn, is_head: bool, max: usize) -> Result<(Response, bool), ExchangeError> {
    let mut received_any = false;
    let (status, headers, keep_alive) = loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(&conn.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = parsed.code.unwrap_or(0);
                let http11 = parsed.version == Some(1);
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_string()))
                    .collect();
                conn.buf.drain(..n);
                if (100..200).contains(&status) {
                    if status == 101 {
                        return Err(ExchangeError::protocol("unexpected 101 Switching Protocols"));
                    }
                    continue; // an interim answer: the real one follows
                }
                let close = headers.iter().any(|(n, v)| n == "connection" && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
                break (status, headers, http11 && !close);
            }
            Ok(httparse::Status::Partial) => {
                if conn.buf.len() > MAX_HEAD_BYTES {
                    return Err(ExchangeError::protocol("the answer's head is too large"));
                }
                fill(conn, !received_any).await?;
                received_any = true;
            }
            Err(e) => {
                return Err(ExchangeError::protocol(format!("not an HTTP/1.1 answer: {e}")));
            }
        }
    };

    let framing = framing(status, &headers, is_head)?;
    let too_large = |n: usize| ExchangeError::protocol(format!("the answer is larger than {max} bytes ({n} or more)"));
    let (body, reusable) = match framing {
        Framing::Empty => (Vec::new(), keep_alive),
        Framing::Length(len) => {
            if len > max {
                return Err(too_large(len));
            }
            let mut body = Vec::with_capacity(len);
            take_exact(conn, &mut body, len).await?;
            (body, keep_alive)
        }
        Framing::Chunked => {
            let mut body = Vec::new();
            loop {
                let line = take_line(conn).await?;
                let size_text = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| ExchangeError::protocol(format!("bad chunk size '{}'", size_text.escape_debug())))?;
                if size == 0 {
                    // trailers, up to the empty line
                    while !take_line(conn).await?.is_empty() {}
                    break;
                }
                let total = body.len().saturating_add(size);
                if total > max {
                    return Err(too_large(total));
                }
                take_exact(conn, &mut body, size).await?;
                if !take_line(conn).await?.is_empty() {
                    return Err(ExchangeError::protocol("a chunk is longer than its size"));
                }
            }
            (body, keep_alive)
        }
        Framing::UntilClose => {
            let mut body = std::mem::take(&mut conn.buf);
            loop {
                if body.len() > max {
                    return Err(too_large(body.len()));
                }
                match read_more(&mut conn.stream, &mut body).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(ExchangeError::io(e, false)),
                }
            }
            (body, false)
        }
    };
    Ok((Response { status, headers, body }, reusable && conn.buf.is_empty()))
}

pub(super) fn framing(status: u16, headers: &[(String, String)], is_head: bool) -> Result<Framing, ExchangeError> {
    if is_head || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if let Some((_, te)) = headers.iter().find(|(n, _)| n == "transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        return if last.eq_ignore_ascii_case("chunked") && !te.contains(',') {
            Ok(Framing::Chunked)
        } else {
            Err(ExchangeError::protocol(format!("unsupported transfer-encoding '{}'", te.escape_debug())))
        };
    }
    let mut length = None;
    for (_, v) in headers.iter().filter(|(n, _)| n == "content-length") {
        let n: usize = v.parse().map_err(|_| ExchangeError::protocol(format!("bad content-length '{}'", v.escape_debug())))?;
        if length.is_some_and(|l| l != n) {
            return Err(ExchangeError::protocol("conflicting content-length headers"));
        }
        length = Some(n);
    }
    Ok(match length {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Moves exactly `n` bytes of the stream into `out`.
pub(super) async fn take_exact(conn: &mut Conn, out: &mut Vec<u8>, n: usize) -> Result<(), ExchangeError> {
    let mut remaining = n;
    while remaining > 0 {
        if conn.buf.is_empty() {
            fill(conn, false).await?;
        }
        let take = remaining.min(conn.buf.len());
        out.extend_from_slice(&conn.buf[..take]);
        conn.buf.drain(..take);
        remaining -= take;
    }
    Ok(())
}

/// Takes one CRLF-terminated line (without the CRLF).
pub(super) async fn take_line(conn: &mut Conn) -> Result<String, ExchangeError> {
    loop {
        if let Some(pos) = conn.buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&conn.buf[..pos]).into_owned();
            conn.buf.drain(..pos + 2);
            return Ok(line);
        }
        if conn.buf.len() > MAX_CHUNK_LINE {
            return Err(ExchangeError::protocol("a chunk header line is too long"));
        }
        fill(conn, false).await?;
    }
}
