//! The control socket client: HTTP/1.0 over the Unix socket, used by `status` and the rpcd bridge.
//! The server side is the same HTTP app bound with `bind_uds` (see `startup`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot reach the daemon at {path}: {source} (is wgclusterd running?)")]
    Connect { path: String, source: std::io::Error },
    #[error("control socket I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed answer from the daemon")]
    Malformed,
    #[error("the daemon's answer is larger than {0} bytes")]
    TooLarge(u64),
}

/// The largest answer read from the control socket.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// One request; returns (status code, body). `user` goes in `X-Wgcluster-User`, `key` in
/// `Idempotency-Key` (both already checked by the caller).
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    user: Option<&str>,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), ControlError> {
    let mut s = UnixStream::connect(socket).map_err(|source| ControlError::Connect { path: socket.display().to_string(), source })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or(b"");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(u) = user {
        head.push_str(&format!("X-Wgcluster-User: {u}\r\n"));
    }
    if let Some(k) = key {
        head.push_str(&format!("Idempotency-Key: {k}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    // Bounded like every other answer we read: a peer list of 20,000 peers is about 8 MB.
    let mut buf = Vec::new();
    s.take(MAX_ANSWER_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_ANSWER_BYTES {
        return Err(ControlError::TooLarge(MAX_ANSWER_BYTES));
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or(ControlError::Malformed)?;
    let status_line = std::str::from_utf8(&buf[..split]).map_err(|_| ControlError::Malformed)?;
    let code = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(ControlError::Malformed)?;
    let body = &buf[split + 4..];
    // A streamed answer (the peer lists, `http::views::ok_list`) may come chunked even to HTTP/1.0.
    let chunked = status_line.lines().skip(1).any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        return Ok((code, dechunk(body)?));
    }
    Ok((code, body.to_vec()))
}

/// The body of a `Transfer-Encoding: chunked` answer (RFC 9112 §7.1; extensions and trailers ignored).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, ControlError> {
    let mut out = Vec::with_capacity(rest.len());
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or(ControlError::Malformed)?;
        let line = std::str::from_utf8(&rest[..eol]).map_err(|_| ControlError::Malformed)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| ControlError::Malformed)?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err(ControlError::Malformed);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn chunked_bodies_are_joined_and_bad_ones_refused() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", b"abc0123456789"),
        ];
        for (wire, body) in ok {
            assert_eq!(dechunk(wire).expect("valid chunked body"), *body);
        }
        let bad: &[&[u8]] = &[b"", b"5\r\nhel", b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcX\r\n0\r\n\r\n", b"3\r\nabc\r\n"];
        for wire in bad {
            assert!(dechunk(wire).is_err(), "{:?}", String::from_utf8_lossy(wire));
        }
    }
}
