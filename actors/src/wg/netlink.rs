//! Link-level configuration of WireGuard interfaces through rtnetlink (no `ip`/`wg` processes):
//! create/delete `wireguard` links (kernel backend), and for every backend the interface's
//! addresses, MTU, up state and routes for peers' allowed IPs ([`Netlink::configure`]).
//!
//! Threading: every call opens a blocking rtnetlink socket (neli, see `rtnl.rs` for the
//! messages) on a short-lived dedicated thread, so it is safe to call from any blocking context,
//! inside or outside a tokio runtime, and never blocks an async worker. When a network namespace
//! file is configured (the network lab runs one "router" per namespace in one test process), that
//! thread first enters it with `setns(CLONE_NEWNET)`; the socket is then bound to that namespace
//! and the caller's own threads are unaffected.
//!
//! Rules of [`Netlink::configure`] (minimal and idempotent; nothing we did not create is touched):
//! - MTU set only when the spec has one and it differs; link brought up when down;
//! - addresses: the spec's addresses are added, other addresses on *this* interface removed
//!   (IPv6 link-local addresses the kernel made are left alone);
//! - routes: one route `dev IFACE` per distinct (masked) allowed IP of the peers, except
//!   prefixes already covered by one of the interface's own address networks (the kernel's
//!   prefix route carries those) and default routes (`/0`: full-tunnel policy routing is not the
//!   server's business). Our routes carry protocol [`ROUTE_PROTO`], and only routes on this
//!   interface with that protocol are ever removed.

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use neli::rtnl::{Ifaddrmsg, Ifinfomsg, Rtmsg};

use super::backend::LinkChanges;
use super::error::WgError;
use super::plan::normalize_allowed_ips;
use super::rtnl::{self, Failure, Op, Socket};
use super::spec::{validate_ifname, InterfaceSpec};

/// Route protocol number marking the routes wgcluster installs (`ip route … proto 87`).
pub const ROUTE_PROTO: u8 = 87;

/// A link as netlink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub index: u32,
    pub mtu: Option<u32>,
    pub up: bool,
    /// `IFLA_INFO_KIND`, e.g. `wireguard` (a TUN device made by wireguard-go has none).
    pub kind: Option<String>,
}

/// rtnetlink access, optionally inside a network namespace.
#[derive(Clone, Debug, Default)]
pub struct Netlink {
    netns: Option<PathBuf>,
}

impl Netlink {
    /// `netns`: a network namespace file (e.g. `/var/run/netns/NAME`), or `None` for the
    /// daemon's own namespace.
    pub fn new(netns: Option<PathBuf>) -> Self {
        Netlink { netns }
    }

    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// Runs `f` with a fresh rtnetlink socket on a dedicated thread (see the module doc).
    pub(crate) fn run<T, F>(&self, f: F) -> Result<T, WgError>
    where
        T: Send,
        F: FnOnce(&mut Socket) -> Result<T, WgError> + Send,
    {
        in_netns(self.netns.as_deref(), move || {
            let mut sock = Socket::open().map_err(|e| WgError::io("cannot open rtnetlink socket", e))?;
            f(&mut sock)
        })
    }

    /// The link called `name`, if it exists.
    pub fn link(&self, name: &str) -> Result<Option<LinkState>, WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |s| get_link(s, &name))
    }

    /// Creates a kernel WireGuard link (`ip link add NAME type wireguard`).
    pub fn create_wireguard_link(&self, name: &str) -> Result<(), WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |s| {
            let context = || format!("create wireguard link {name}");
            s.ack(rtnl::new_wireguard_link(&name).map_err(|e| nl_err(&context(), e))?).map_err(|e| nl_err(&context(), e))
        })
    }

    /// Deletes a link; returns false when it did not exist.
    pub fn delete_link(&self, name: &str) -> Result<bool, WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |s| {
            let Some(link) = get_link(s, &name)? else {
                return Ok(false);
            };
            match s.ack(rtnl::delete_link(index_of(&link))) {
                Ok(()) => Ok(true),
                Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
                Err(e) => Err(nl_err(&format!("delete link {name}"), e)),
            }
        })
    }

    /// Names of all links of kind `wireguard` (kernel interfaces).
    pub fn list_wireguard_links(&self) -> Result<Vec<String>, WgError> {
        self.run(|s| {
            let mut names = Vec::new();
            for payload in s.dump(rtnl::dump_links()).map_err(|e| nl_err("list links", e))? {
                let msg: Ifinfomsg = rtnl::parse(&payload).map_err(|e| nl_err("list links", e))?;
                if let (Some(name), state) = rtnl::parse_link(&msg) {
                    if state.kind.as_deref() == Some("wireguard") {
                        names.push(name);
                    }
                }
            }
            names.sort();
            Ok(names)
        })
    }

    /// Brings the interface's link in line with the spec (rules in the module doc).
    pub fn configure(&self, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
        validate_ifname(&spec.name)?;
        let spec = spec.clone();
        self.run(move |s| configure(s, &spec))
    }
}

/// Runs `f` on a new thread that first enters `netns` (if any); returns its result.
pub(crate) fn in_netns<T, F>(netns: Option<&Path>, f: F) -> Result<T, WgError>
where
    T: Send,
    F: FnOnce() -> Result<T, WgError> + Send,
{
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            if let Some(path) = netns {
                let file = std::fs::File::open(path).map_err(|e| WgError::io(format!("open netns {}", path.display()), e))?;
                // SAFETY: setns(2) on a valid fd; it only changes this (new) thread's namespace.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(WgError::io(format!("enter netns {}", path.display()), std::io::Error::last_os_error()));
                }
            }
            f()
        });
        worker.join().unwrap_or_else(|_| Err(WgError::Netlink { message: "netlink worker thread panicked".into(), transient: false }))
    })
}

pub(crate) fn nl_err(context: &str, e: Failure) -> WgError {
    match e {
        Failure::Errno(code) => WgError::Netlink {
            message: format!("{context}: {}", std::io::Error::from_raw_os_error(code)),
            transient: matches!(code, libc::EBUSY | libc::EAGAIN | libc::ENOBUFS | libc::EINTR | libc::ENOMEM),
        },
        // Below the kernel's answer (socket, encoding): worth another try.
        Failure::Other(m) => WgError::Netlink { message: format!("{context}: {m}"), transient: true },
    }
}

/// The link's index as rtnetlink messages carry it.
fn index_of(link: &LinkState) -> i32 {
    i32::try_from(link.index).unwrap_or(i32::MAX)
}

fn get_link(s: &mut Socket, name: &str) -> Result<Option<LinkState>, WgError> {
    let context = || format!("get link {name}");
    let request = rtnl::get_link(name).map_err(|e| nl_err(&context(), e))?;
    match s.get(request) {
        Ok(payload) => {
            let msg: Ifinfomsg = rtnl::parse(&payload).map_err(|e| nl_err(&context(), e))?;
            Ok(Some(rtnl::parse_link(&msg).1))
        }
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(&context(), e)),
    }
}

/// PURE: the routes the spec needs on its interface (see module doc).
pub fn desired_routes(spec: &InterfaceSpec) -> Vec<IpNet> {
    let own: Vec<IpNet> = spec.addresses.iter().map(IpNet::trunc).collect();
    let all: Vec<IpNet> = spec.peers.iter().flat_map(|p| p.allowed_ips.iter().copied()).collect();
    normalize_allowed_ips(&all).into_iter().filter(|net| net.prefix_len() > 0).filter(|net| !own.iter().any(|o| o.contains(net))).collect()
}

/// PURE: (to add, to remove) so that `current` becomes `desired`, as sets.
pub fn set_diff(desired: &[IpNet], current: &[IpNet]) -> (Vec<IpNet>, Vec<IpNet>) {
    let add = desired.iter().filter(|d| !current.contains(d)).copied().collect();
    let remove = current.iter().filter(|c| !desired.contains(c)).copied().collect();
    (add, remove)
}

/// PURE: an IPv6 link-local address (the kernel's own; never removed unless asked for).
fn is_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

fn configure(s: &mut Socket, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
    let name = &spec.name;
    let link = get_link(s, name)?.ok_or_else(|| WgError::NotFound(name.clone()))?;
    let index = index_of(&link);
    let mut changes = LinkChanges::default();

    if let Some(mtu) = spec.mtu {
        if link.mtu != Some(mtu) {
            let context = format!("set mtu {mtu} on {name}");
            s.ack(rtnl::set_link(index, Some(mtu), false).map_err(|e| nl_err(&context, e))?).map_err(|e| nl_err(&context, e))?;
            changes.mtu_set = true;
        }
    }
    if !link.up {
        let context = format!("set {name} up");
        s.ack(rtnl::set_link(index, None, true).map_err(|e| nl_err(&context, e))?).map_err(|e| nl_err(&context, e))?;
        changes.brought_up = true;
    }

    // Addresses.
    let context = format!("list addresses of {name}");
    let mut current: Vec<IpNet> = Vec::new();
    for payload in s.dump(rtnl::dump_addresses()).map_err(|e| nl_err(&context, e))? {
        let msg: Ifaddrmsg = rtnl::parse(&payload).map_err(|e| nl_err(&context, e))?;
        match rtnl::parse_address(&msg) {
            Some((i, net)) if i == link.index => current.push(net),
            _ => {}
        }
    }
    let (add, remove) = set_diff(&spec.addresses, &current);
    for net in remove {
        if is_link_local(&net) {
            continue;
        }
        let context = format!("remove address {net} from {name}");
        match s.ack(rtnl::address(Op::Delete, index, &net).map_err(|e| nl_err(&context, e))?) {
            Ok(()) => changes.addresses_removed += 1,
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => {}
            Err(e) => return Err(nl_err(&context, e)),
        }
    }
    for net in add {
        let context = format!("add address {net} to {name}");
        match s.ack(rtnl::address(Op::Add, index, &net).map_err(|e| nl_err(&context, e))?) {
            Ok(()) => changes.addresses_added += 1,
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(&context, e)),
        }
    }

    // Routes for peers' allowed IPs.
    let context = format!("list routes of {name}");
    let mut ours = Vec::new();
    for v6 in [false, true] {
        for payload in s.dump(rtnl::dump_routes(v6)).map_err(|e| nl_err(&context, e))? {
            let msg: Rtmsg = rtnl::parse(&payload).map_err(|e| nl_err(&context, e))?;
            if let Some(net) = rtnl::parse_our_route(&msg, link.index) {
                ours.push(net);
            }
        }
    }
    let (add, remove) = set_diff(&desired_routes(spec), &ours);
    for net in remove {
        let context = format!("remove route {net} dev {name}");
        match s.ack(rtnl::route(Op::Delete, index, &net).map_err(|e| nl_err(&context, e))?) {
            Ok(()) => changes.routes_removed += 1,
            Err(e) if e.errno() == Some(libc::ESRCH) => {}
            Err(e) => return Err(nl_err(&context, e)),
        }
    }
    for net in add {
        let context = format!("add route {net} dev {name}");
        match s.ack(rtnl::route(Op::Add, index, &net).map_err(|e| nl_err(&context, e))?) {
            Ok(()) => changes.routes_added += 1,
            // Someone else's route to the same prefix: leave it be.
            Err(e) if e.errno() == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(&context, e)),
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wg::spec::PeerSpec;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn spec(addresses: &[&str], peers: &[&[&str]]) -> InterfaceSpec {
        InterfaceSpec {
            name: "wg0".into(),
            private_key: [1; 32],
            listen_port: 51820,
            addresses: nets(addresses),
            mtu: None,
            peers: peers.iter().enumerate().map(|(i, ips)| PeerSpec::new([i as u8 + 2; 32], nets(ips))).collect(),
        }
    }

    #[test]
    fn routes_skip_covered_default_and_duplicates() {
        let s = spec(
            &["10.8.0.1/24", "fd00:8::1/64"],
            &[
                &["10.8.0.2/32", "192.168.50.0/24", "fd00:8::2/128"],
                &["10.8.0.3/32", "192.168.50.7/24", "0.0.0.0/0", "::/0"],
                &["172.16.9.1/32", "fd01::/48"],
            ],
        );
        assert_eq!(desired_routes(&s), nets(&["172.16.9.1/32", "192.168.50.0/24", "fd01::/48"]));
    }

    #[test]
    fn routes_without_addresses() {
        let s = spec(&[], &[&["10.8.0.2/32"], &["10.8.0.3/32"]]);
        assert_eq!(desired_routes(&s), nets(&["10.8.0.2/32", "10.8.0.3/32"]));
    }

    #[test]
    fn set_diff_table() {
        /// (desired, current, to add, to remove)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &[], &[], &[]),
            (&["10.0.0.1/24"], &[], &["10.0.0.1/24"], &[]),
            (&[], &["10.0.0.1/24"], &[], &["10.0.0.1/24"]),
            (&["10.0.0.1/24"], &["10.0.0.1/24"], &[], &[]),
            // Same address, other prefix: replace.
            (&["10.0.0.1/24"], &["10.0.0.1/16"], &["10.0.0.1/24"], &["10.0.0.1/16"]),
            (&["10.0.0.1/24", "fd00::1/64"], &["fd00::1/64", "10.0.0.9/24"], &["10.0.0.1/24"], &["10.0.0.9/24"]),
        ];
        for (desired, current, add, remove) in cases {
            let (a, r) = set_diff(&nets(desired), &nets(current));
            assert_eq!(a, nets(add), "{desired:?} vs {current:?}");
            assert_eq!(r, nets(remove), "{desired:?} vs {current:?}");
        }
    }

    #[test]
    fn link_local_detection() {
        assert!(is_link_local(&"fe80::1234/64".parse().unwrap()));
        assert!(is_link_local(&"febf::1/64".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1/64".parse().unwrap()));
        assert!(!is_link_local(&"fd00::1/64".parse().unwrap()));
        assert!(!is_link_local(&"10.0.0.1/8".parse().unwrap()));
    }
}
