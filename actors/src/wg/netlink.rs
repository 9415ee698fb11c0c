//! Link-level configuration of WireGuard interfaces through rtnetlink (no `ip`/`wg` processes):
//! create/delete `wireguard` links (kernel backend), and for every backend the interface's
//! addresses, MTU, up state and routes for peers' allowed IPs ([`Netlink::configure`]).
//!
//! Threading: rtnetlink is async (tokio). Each call runs on a short-lived dedicated thread with
//! its own current-thread tokio runtime, so it is safe to call from any blocking context, inside
//! or outside a tokio runtime, and never blocks an async worker. When a network namespace file is
//! configured (the network lab runs one "router" per namespace in one test process), that thread
//! first enters it with `setns(CLONE_NEWNET)`; the netlink socket is then bound to that namespace
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

use std::future::Future;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::stream::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{Handle, LinkUnspec, LinkWireguard, RouteMessageBuilder};

use super::backend::LinkChanges;
use super::error::WgError;
use super::plan::normalize_allowed_ips;
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

    /// Runs `f` with a fresh rtnetlink handle on a dedicated thread (see the module doc).
    fn run<T, F, Fut>(&self, f: F) -> Result<T, WgError>
    where
        T: Send,
        F: FnOnce(Handle) -> Fut + Send,
        Fut: Future<Output = Result<T, WgError>>,
    {
        in_netns(self.netns.as_deref(), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| WgError::io("cannot build netlink runtime", e))?;
            rt.block_on(async move {
                let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| WgError::io("cannot open rtnetlink socket", e))?;
                let task = tokio::spawn(conn);
                let result = f(handle).await;
                task.abort();
                result
            })
        })
    }

    /// The link called `name`, if it exists.
    pub fn link(&self, name: &str) -> Result<Option<LinkState>, WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |h| async move { get_link(&h, &name).await })
    }

    /// Creates a kernel WireGuard link (`ip link add NAME type wireguard`).
    pub fn create_wireguard_link(&self, name: &str) -> Result<(), WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |h| async move {
            h.link().add(LinkWireguard::new(&name).build()).execute().await.map_err(|e| nl_err(&format!("create wireguard link {name}"), e))
        })
    }

    /// Deletes a link; returns false when it did not exist.
    pub fn delete_link(&self, name: &str) -> Result<bool, WgError> {
        validate_ifname(name)?;
        let name = name.to_string();
        self.run(move |h| async move {
            let Some(link) = get_link(&h, &name).await? else {
                return Ok(false);
            };
            match h.link().del(link.index).execute().await {
                Ok(()) => Ok(true),
                Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(false),
                Err(e) => Err(nl_err(&format!("delete link {name}"), e)),
            }
        })
    }

    /// Names of all links of kind `wireguard` (kernel interfaces).
    pub fn list_wireguard_links(&self) -> Result<Vec<String>, WgError> {
        self.run(|h| async move {
            let mut names = Vec::new();
            let mut links = h.link().get().execute();
            while let Some(msg) = links.try_next().await.map_err(|e| nl_err("list links", e))? {
                let state = link_state(&msg);
                if state.kind.as_deref() == Some("wireguard") {
                    if let Some(name) = link_name(&msg) {
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
        self.run(move |h| async move { configure(&h, &spec).await })
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

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => Some(msg.raw_code().abs()),
        _ => None,
    }
}

fn nl_err(context: &str, e: rtnetlink::Error) -> WgError {
    let transient = match errno_of(&e) {
        Some(code) => matches!(code, libc::EBUSY | libc::EAGAIN | libc::ENOBUFS | libc::EINTR | libc::ENOMEM),
        None => matches!(e, rtnetlink::Error::RequestFailed),
    };
    let message = match errno_of(&e) {
        Some(code) => format!("{context}: {}", std::io::Error::from_raw_os_error(code)),
        None => format!("{context}: {e}"),
    };
    WgError::Netlink { message, transient }
}

fn link_name(msg: &LinkMessage) -> Option<String> {
    msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_state(msg: &LinkMessage) -> LinkState {
    let mut state = LinkState { index: msg.header.index, mtu: None, up: msg.header.flags.contains(LinkFlags::Up), kind: None };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Mtu(m) => state.mtu = Some(*m),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        state.kind = Some(match kind {
                            InfoKind::Wireguard => "wireguard".to_string(),
                            other => format!("{other:?}").to_lowercase(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    state
}

async fn get_link(h: &Handle, name: &str) -> Result<Option<LinkState>, WgError> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(link_state(&msg))),
        Ok(None) => Ok(None),
        Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(&format!("get link {name}"), e)),
    }
}

/// The address (with prefix length) an address message carries.
fn address_of(msg: &AddressMessage) -> Option<IpNet> {
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    IpNet::new(local.or(address)?, msg.header.prefix_len).ok()
}

/// Our routes on `index`: destinations of routes with protocol [`ROUTE_PROTO`] in the main table.
fn our_route(msg: &RouteMessage, index: u32) -> Option<IpNet> {
    if msg.header.protocol != RouteProtocol::Other(ROUTE_PROTO) {
        return None;
    }
    let mut oif = None;
    let mut dst = None;
    let mut table = u32::from(msg.header.table);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Destination(RouteAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    if oif != Some(index) || table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    let dst = dst.unwrap_or(match msg.header.address_family {
        rtnetlink::packet_route::AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    IpNet::new(dst, msg.header.destination_prefix_length).ok()
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

async fn configure(h: &Handle, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
    let name = &spec.name;
    let link = get_link(h, name).await?.ok_or_else(|| WgError::NotFound(name.clone()))?;
    let mut changes = LinkChanges::default();

    if let Some(mtu) = spec.mtu {
        if link.mtu != Some(mtu) {
            let msg = LinkUnspec::new_with_index(link.index).mtu(mtu).build();
            h.link().set(msg).execute().await.map_err(|e| nl_err(&format!("set mtu {mtu} on {name}"), e))?;
            changes.mtu_set = true;
        }
    }
    if !link.up {
        let msg = LinkUnspec::new_with_index(link.index).up().build();
        h.link().set(msg).execute().await.map_err(|e| nl_err(&format!("set {name} up"), e))?;
        changes.brought_up = true;
    }

    // Addresses.
    let mut current: Vec<(IpNet, AddressMessage)> = Vec::new();
    let mut addrs = h.address().get().set_link_index_filter(link.index).execute();
    while let Some(msg) = addrs.try_next().await.map_err(|e| nl_err(&format!("list addresses of {name}"), e))? {
        if msg.header.index != link.index {
            continue;
        }
        if let Some(net) = address_of(&msg) {
            current.push((net, msg));
        }
    }
    let current_nets: Vec<IpNet> = current.iter().map(|(n, _)| *n).collect();
    let (add, remove) = set_diff(&spec.addresses, &current_nets);
    for net in remove {
        if is_link_local(&net) {
            continue;
        }
        if let Some((_, msg)) = current.iter().find(|(n, _)| *n == net) {
            h.address().del(msg.clone()).execute().await.map_err(|e| nl_err(&format!("remove address {net} from {name}"), e))?;
            changes.addresses_removed += 1;
        }
    }
    for net in add {
        match h.address().add(link.index, net.addr(), net.prefix_len()).execute().await {
            Ok(()) => changes.addresses_added += 1,
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(&format!("add address {net} to {name}"), e)),
        }
    }

    // Routes for peers' allowed IPs.
    let mut ours = Vec::new();
    for v6 in [false, true] {
        let query = if v6 {
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
        };
        let mut routes = h.route().get(query).execute();
        while let Some(msg) = routes.try_next().await.map_err(|e| nl_err(&format!("list routes of {name}"), e))? {
            if let Some(net) = our_route(&msg, link.index) {
                ours.push((net, msg));
            }
        }
    }
    let our_nets: Vec<IpNet> = ours.iter().map(|(n, _)| *n).collect();
    let (add, remove) = set_diff(&desired_routes(spec), &our_nets);
    for net in remove {
        if let Some((_, msg)) = ours.iter().find(|(n, _)| *n == net) {
            match h.route().del(msg.clone()).execute().await {
                Ok(()) => changes.routes_removed += 1,
                Err(e) if errno_of(&e) == Some(libc::ESRCH) => {}
                Err(e) => return Err(nl_err(&format!("remove route {net} dev {name}"), e)),
            }
        }
    }
    for net in add {
        let scope = if net.addr().is_ipv4() { RouteScope::Link } else { RouteScope::Universe };
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(net.addr(), net.prefix_len())
            .map_err(|e| WgError::InvalidSpec(format!("route {net}: {e}")))?
            .output_interface(link.index)
            .protocol(RouteProtocol::Other(ROUTE_PROTO))
            .scope(scope)
            .build();
        match h.route().add(msg).execute().await {
            Ok(()) => changes.routes_added += 1,
            // Someone else's route to the same prefix: leave it be.
            Err(e) if errno_of(&e) == Some(libc::EEXIST) => {}
            Err(e) => return Err(nl_err(&format!("add route {net} dev {name}"), e)),
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
