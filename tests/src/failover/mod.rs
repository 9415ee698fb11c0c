//! The failover lab: `wgclusterd` routers as namespaces of the network lab ([`crate::lab`]), each
//! with its own daemon and the wireguard-go that daemon starts; a real BIND9 in a "dns" namespace
//! serving the Mode A cluster endpoint (updated by the daemon over RFC 2136 + TSIG); and a stock
//! WireGuard client (wireguard-go + `wg`) with a re-resolve watchdog. Shared by
//! `tests/tests/failover_*.rs`, the `demo` binary and the failover benchmark (`demo bench`, see
//! `tests/bench/failover/README.md`).
//!
//! - The test process stays in the root namespace, which has no route into the lab. Calls to a
//!   router's HTTP API are made from a short-lived thread that has entered the operator's
//!   namespace (`setns(CLONE_NEWNET)` affects only that thread): plain TCP to `<router>:10086` with
//!   the admin bearer token, like an operator on the routers' LAN ([`Api`]).
//! - UAPI sockets are files: the test reads every wireguard-go (routers and client) directly
//!   through `<host uapi dir>/IFACE.sock` ([`uapi_peers`]).
//! - A router dies with [`Router::kill_all`]: SIGKILL, by PID, to every process in its namespace
//!   (the daemon and the wireguard-go it started) — as if the box lost power.
//! - Cleanup: everything started here runs in a lab namespace; the [`Lab`]'s `Drop` kills and
//!   deletes it all. The one file outside the lab directory, `/etc/netns/<client-ns>/resolv.conf`
//!   (so the client resolves names with the lab's DNS), is removed by [`ClientResolver`]'s `Drop`;
//!   leftovers of crashed runs are removed by the next run.
//! - Every wait polls with a deadline. Times are wall-clock milliseconds (the daemon stamps audit
//!   entries with the same clock), so the test can line its own events up with the cluster's.

use crate::bind9;
use crate::daemon::{binary, parse_http_response};
use crate::lab::{self, Host, Lab};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod audit;
mod client;
mod configs;
mod dns;
mod mode_a;
mod mode_b;
mod netns;
mod router;
mod stock;
mod uapi;
mod vip;
pub use audit::*;
pub use client::*;
pub use configs::*;
pub use dns::*;
pub use mode_a::*;
pub use mode_b::*;
pub use netns::*;
pub use router::*;
pub use stock::*;
pub use uapi::*;
pub use vip::*;

/// Every router's HTTP API port (on its lab address).
pub const API_PORT: u16 = 10086;
/// Every router's cluster (mutual TLS) port.
pub const CLUSTER_PORT: u16 = 10087;
/// The WireGuard listen port of the configs the scenarios make.
pub const WG_PORT: u16 = 51820;
/// The Mode A cluster endpoint name (in bind9's zone).
pub const ENDPOINT_NAME: &str = "vpn.example.test";
/// Per-request bound of API calls.
pub const API_TIMEOUT: Duration = Duration::from_secs(30);

/// What the failover lab needs: the WireGuard lab's commands plus BIND9 and dig. Under
/// `CI=true` a missing one fails (never skips); otherwise a loud SKIPPED line and `false`.
pub fn prereqs() -> bool {
    lab::ensure_prereqs_for(&[
        ("wireguard-go", "wireguard-go"),
        ("wg", "wireguard-tools"),
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("named", "bind9"),
        ("dig", "bind9-dnsutils"),
    ])
}

/// Wall-clock milliseconds (the daemon's audit timestamps use the same clock).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How often the lab's waits poll (each poll may enter a namespace and make an API call).
pub const LAB_POLL: Duration = Duration::from_millis(50);

/// [`crate::util::wait_for_every`] at [`LAB_POLL`]: polls `check` until it returns `Some`,
/// panicking with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    crate::util::wait_for_every(what, timeout, LAB_POLL, check)
}
