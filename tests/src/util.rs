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

/// The `config daemon 'main'` section of a `wgclusterd` UCI file, one line per option in the
/// order given (a later option overrides an earlier one in the daemon). Every harness writes its
/// daemons' config through this.
///
/// ```
/// use wgcluster_tests::util::DaemonUci;
/// let text = DaemonUci::new().opt("node_id", "r1").opt_if("endpoint", Some("192.0.2.1")).line("option log_level 'debug'").render();
/// assert_eq!(text, "config daemon 'main'\n\toption node_id 'r1'\n\toption endpoint '192.0.2.1'\n\toption log_level 'debug'\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct DaemonUci {
    lines: Vec<String>,
}

impl DaemonUci {
    pub fn new() -> Self {
        Self::default()
    }

    /// `option NAME 'VALUE'`.
    pub fn opt(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.lines.push(format!("option {name} '{value}'"));
        self
    }

    /// `option NAME 'VALUE'` when there is a value.
    pub fn opt_if(self, name: &str, value: Option<impl std::fmt::Display>) -> Self {
        match value {
            Some(v) => self.opt(name, v),
            None => self,
        }
    }

    /// A line as given (trimmed; the indentation is added), e.g. `option log_level 'debug'`.
    pub fn line(mut self, line: &str) -> Self {
        self.lines.push(line.trim().to_string());
        self
    }

    /// The file's text: the section header, then each line indented by a tab.
    pub fn render(&self) -> String {
        let mut text = String::from("config daemon 'main'\n");
        for l in &self.lines {
            text.push('\t');
            text.push_str(l);
            text.push('\n');
        }
        text
    }

    /// Writes [`DaemonUci::render`] to `path` (panics naming the path).
    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, self.render()).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// The last `n` lines of the file at `path` (lossy UTF-8; empty when it cannot be read): the end
/// of a daemon's log for failure messages.
pub fn tail(path: &std::path::Path, n: usize) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
