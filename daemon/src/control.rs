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
}

/// One request; returns (status code, body).
pub fn request(socket: &Path, method: &str, path: &str, user: Option<&str>, body: Option<&[u8]>) -> Result<(u16, Vec<u8>), ControlError> {
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
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or(ControlError::Malformed)?;
    let status_line = std::str::from_utf8(&buf[..split]).map_err(|_| ControlError::Malformed)?;
    let code = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(ControlError::Malformed)?;
    Ok((code, buf[split + 4..].to_vec()))
}
