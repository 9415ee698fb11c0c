//! What every harness of this crate shares: free ports and polling with a deadline.
//!
//! - [`free_port`] / [`free_port_on`]: a port that was free a moment ago for TCP and for UDP on
//!   that address and that this process has not handed out before (so two daemons, a daemon and a
//!   BIND9, or two routers of one test binary never get the same one).
//! - [`wait_for`] (every [`POLL`]) and [`wait_for_every`]: poll until `Some`, panic after the
//!   deadline naming what was awaited. [`wait_until`]: poll a condition, return whether it held.
//!   Nothing in the harness sleeps for a fixed long time.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often [`wait_for`] polls.
pub const POLL: Duration = Duration::from_millis(20);

/// Ports this process has handed out.
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port on 127.0.0.1 (see [`free_port_on`]).
pub fn free_port() -> u16 {
    free_port_on(Ipv4Addr::LOCALHOST)
}

/// A port on `ip` that was free for TCP and UDP a moment ago and that this process has not
/// handed out before.
pub fn free_port_on(ip: Ipv4Addr) -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).unwrap_or_else(|e| panic!("bind {ip}:0: {e}")).port();
        if UdpSocket::bind((ip, port)).is_err() {
            continue;
        }
        let mut guard = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

/// Polls `check` every `every` until it returns true or `timeout` passes. Returns the last result.
pub fn wait_until(timeout: Duration, every: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// Polls `check` every `every` until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for_every<T>(what: &str, timeout: Duration, every: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    wait_until(timeout, every, || {
        found = check();
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Polls `check` every [`POLL`] until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    wait_for_every(what, timeout, POLL, check)
}
