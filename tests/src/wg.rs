//! WireGuard from the test's side: the one UAPI reader ([`uapi_get`]: any wireguard-go of the
//! lab, through its socket file) and the one way a test brings up a stock wireguard-go interface
//! in a lab host ([`start_wireguard_go`]), which the stock clients of the data-plane, backend and
//! failover tests build on (`wg setconf`/`wg set` and `ip` follow, each its own way).

use crate::lab::Host;
use crate::util::wait_until;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// The answer of the interface behind the UAPI socket `sock` to `get=1`, read until the blank line
/// that ends it (or the socket closes); `Err` when there is no such socket or it does not answer.
pub fn uapi_get(sock: &Path) -> Result<String, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(b"get=1\n\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = s.read(&mut chunk).map_err(|e| format!("{}: {e}", sock.display()))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"\n\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Starts a stock wireguard-go (foreground) for `iface` in `host` and waits until its UAPI socket
/// answers; panics when it does not within 10 s. The caller owns the child.
pub fn start_wireguard_go(host: &Host, iface: &str) -> Child {
    let child = host.spawn_with("wireguard-go", &["-f", iface], &[("WG_PROCESS_FOREGROUND", "1")]);
    let sock = host.uapi_dir().join(format!("{iface}.sock"));
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(10), || UnixStream::connect(&sock).is_ok()),
        "client wireguard-go socket did not appear"
    );
    child
}
