//! The kernel backend: WireGuard's generic-netlink API through the `wireguard-uapi` crate
//! (`WgSocket`: `GET_DEVICE` / `SET_DEVICE`), links created and deleted with rtnetlink
//! (`kind wireguard`, see `netlink.rs`). This is the data plane on OpenWrt.
//!
//! A plan becomes one `SET_DEVICE` request ([`KernelSetRequest`]): identity attributes, then per
//! peer `WGPEER_F_REMOVE_ME`, or `WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS` with the
//! fields (update), or the fields with `WGPEER_F_REPLACE_ALLOWEDIPS` (add); never
//! `WGDEVICE_F_REPLACE_PEERS` — except on removal ([`clear_peers_request`]): deleting a link
//! that still holds peers costs the kernel ~17 ms per peer (17 s at 1,000, blocking the
//! reconciler and shutdown), so the peers are dropped in one request first (~0.1 s at 1,000) and
//! the link deleted then. The crate splits a request larger than one netlink message
//! (64 KiB, roughly 700 peers) into consecutive messages, as `wg` does.
//!
//! Building the request from a plan and turning a returned device into an [`ActualInterface`]
//! are pure and unit-tested; the socket calls need the kernel module (absent on the build
//! machine). The request and the crate's `set::Device` hold the private key: never `Debug`-print
//! them (our [`KernelSetRequest`] redacts it).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use ipnet::IpNet;
use wireguard_uapi::get;
use wireguard_uapi::set::{self, WgDeviceF, WgPeerF};
use wireguard_uapi::{DeviceInterface, WgSocket};

use super::backend::{LinkChanges, WgBackend};
use super::error::WgError;
use super::netlink::{in_netns, Netlink};
use super::plan::{Identity, PeerOp, Plan};
use super::spec::{public_key_of, validate_ifname, ActualInterface, ActualPeer, InterfaceSpec, Key};

const ZERO_KEY: Key = [0u8; 32];

/// One peer entry of a [`KernelSetRequest`], owning what `set::Peer` borrows.
#[derive(Clone, PartialEq)]
pub struct KernelPeer {
    pub public_key: Key,
    pub flags: Vec<WgPeerF>,
    pub preshared_key: Option<Key>,
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<u16>,
    pub allowed_ips: Vec<(IpAddr, u8)>,
}

/// The owned form of one `SET_DEVICE` request built from a plan.
#[derive(Clone, PartialEq)]
pub struct KernelSetRequest {
    pub identity: Option<Identity>,
    pub peers: Vec<KernelPeer>,
}

impl fmt::Debug for KernelPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelPeer")
            .field("public_key", &super::spec::key_to_base64(&self.public_key))
            .field("flags", &self.flags)
            .field("preshared_key", &self.preshared_key.map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

impl fmt::Debug for KernelSetRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelSetRequest").field("identity", &self.identity).field("peers", &self.peers).finish()
    }
}

fn allowed(nets: &[IpNet]) -> Vec<(IpAddr, u8)> {
    nets.iter()
        .map(|n| {
            let n = n.trunc();
            (n.addr(), n.prefix_len())
        })
        .collect()
}

impl KernelSetRequest {
    /// PURE: the request carrying every operation of `plan`.
    pub fn from_plan(plan: &Plan) -> Self {
        let peers = plan
            .peer_ops
            .iter()
            .map(|op| match op {
                PeerOp::Remove(k) => KernelPeer {
                    public_key: *k,
                    flags: vec![WgPeerF::RemoveMe],
                    preshared_key: None,
                    endpoint: None,
                    persistent_keepalive: None,
                    allowed_ips: Vec::new(),
                },
                PeerOp::Update(p) => KernelPeer {
                    public_key: p.public_key,
                    flags: vec![WgPeerF::UpdateOnly, WgPeerF::ReplaceAllowedIps],
                    // All zero removes a PSK; 0 turns keepalive off.
                    preshared_key: Some(p.preshared_key.unwrap_or(ZERO_KEY)),
                    endpoint: p.endpoint,
                    persistent_keepalive: Some(p.persistent_keepalive.unwrap_or(0)),
                    allowed_ips: allowed(&p.allowed_ips),
                },
                PeerOp::Add(p) => KernelPeer {
                    public_key: p.public_key,
                    flags: vec![WgPeerF::ReplaceAllowedIps],
                    preshared_key: p.preshared_key,
                    endpoint: p.endpoint,
                    persistent_keepalive: p.persistent_keepalive,
                    allowed_ips: allowed(&p.allowed_ips),
                },
            })
            .collect();
        KernelSetRequest { identity: plan.set_identity.clone(), peers }
    }

    /// The crate's borrowed request for interface `iface`.
    pub fn device<'a>(&'a self, iface: &'a str) -> set::Device<'a> {
        let mut dev = set::Device::from_ifname(iface);
        if let Some(id) = &self.identity {
            dev = dev.private_key(&id.private_key).listen_port(id.listen_port);
        }
        dev.peers(
            self.peers
                .iter()
                .map(|p| {
                    let mut peer = set::Peer::from_public_key(&p.public_key).flags(p.flags.clone());
                    if let Some(psk) = &p.preshared_key {
                        peer = peer.preshared_key(psk);
                    }
                    if let Some(ep) = &p.endpoint {
                        peer = peer.endpoint(ep);
                    }
                    if let Some(k) = p.persistent_keepalive {
                        peer = peer.persistent_keepalive_interval(k);
                    }
                    peer.allowed_ips(p.allowed_ips.iter().map(|(ip, len)| set::AllowedIp { ipaddr: ip, cidr_mask: Some(*len) }).collect())
                })
                .collect(),
        )
    }
}

/// PURE: the request that drops every peer of `iface` at once (`WGDEVICE_F_REPLACE_PEERS` with
/// no peers), sent before the link is deleted (see the module doc).
pub fn clear_peers_request(iface: &str) -> set::Device<'_> {
    set::Device::from_ifname(iface).flags(vec![WgDeviceF::ReplacePeers])
}

/// PURE: a device as the kernel returned it, in our terms.
pub fn device_to_actual(dev: &get::Device) -> Result<ActualInterface, WgError> {
    let private_key = dev.private_key.filter(|k| *k != ZERO_KEY);
    let mut peers = Vec::with_capacity(dev.peers.len());
    for p in &dev.peers {
        let mut allowed_ips = Vec::with_capacity(p.allowed_ips.len());
        for a in &p.allowed_ips {
            allowed_ips.push(
                IpNet::new(a.ipaddr, a.cidr_mask).map_err(|_| WgError::Protocol(format!("bad allowed ip {}/{}", a.ipaddr, a.cidr_mask)))?,
            );
        }
        peers.push(ActualPeer {
            public_key: p.public_key,
            preshared_key: (p.preshared_key != ZERO_KEY).then_some(p.preshared_key),
            allowed_ips,
            endpoint: p.endpoint,
            persistent_keepalive: (p.persistent_keepalive_interval != 0).then_some(p.persistent_keepalive_interval),
            last_handshake: (p.last_handshake_time != Duration::ZERO).then(|| UNIX_EPOCH + p.last_handshake_time),
            rx_bytes: p.rx_bytes,
            tx_bytes: p.tx_bytes,
        });
    }
    Ok(ActualInterface {
        listen_port: dev.listen_port,
        private_key,
        public_key: dev.public_key.filter(|k| *k != ZERO_KEY).or_else(|| private_key.as_ref().map(public_key_of)),
        peers,
    })
}

/// WireGuard through the kernel module.
pub struct KernelBackend {
    netlink: Netlink,
}

impl KernelBackend {
    /// `netns`: namespace file to operate in (`None`: the daemon's own).
    pub fn new(netns: Option<PathBuf>) -> Self {
        KernelBackend { netlink: Netlink::new(netns) }
    }

    /// Removes the link `iface` when it is of `kind` (`wireguard`: peers cleared first, see the
    /// module doc); returns whether it did. The leftover clean-up after a backend switch.
    pub(crate) fn remove_if_kind(&self, iface: &str, kind: &str) -> Result<bool, WgError> {
        validate_ifname(iface)?;
        match self.netlink.link(iface)? {
            Some(link) if link.kind.as_deref() == Some(kind) => {
                if kind == "wireguard" {
                    self.remove_interface(iface)?;
                    Ok(true)
                } else {
                    self.netlink.delete_link(iface)
                }
            }
            _ => Ok(false),
        }
    }

    fn with_socket<T: Send>(&self, f: impl FnOnce(&mut WgSocket) -> Result<T, WgError> + Send) -> Result<T, WgError> {
        in_netns(self.netlink.netns(), move || {
            let mut sock = WgSocket::connect().map_err(|e| WgError::Unsupported(format!("WireGuard generic netlink: {e}")))?;
            f(&mut sock)
        })
    }
}

impl WgBackend for KernelBackend {
    fn kind(&self) -> &'static str {
        "kernel"
    }

    fn list_interfaces(&self) -> Result<Vec<String>, WgError> {
        self.netlink.list_wireguard_links()
    }

    fn read(&self, iface: &str) -> Result<Option<ActualInterface>, WgError> {
        validate_ifname(iface)?;
        match self.netlink.link(iface)? {
            None => return Ok(None),
            Some(link) if link.kind.as_deref() != Some("wireguard") => {
                return Err(WgError::InvalidSpec(format!("{iface} exists but is not a wireguard link")))
            }
            Some(_) => {}
        }
        let name = iface.to_string();
        let dev = self.with_socket(move |s| {
            s.get_device(DeviceInterface::from_name(name.as_str()))
                .map_err(|e| WgError::Netlink { message: format!("get device {name}: {e}"), transient: true })
        })?;
        device_to_actual(&dev).map(Some)
    }

    fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<bool, WgError> {
        validate_ifname(&spec.name)?;
        if self.netlink.link(&spec.name)?.is_some() {
            return Ok(false);
        }
        self.netlink.create_wireguard_link(&spec.name)?;
        Ok(true)
    }

    fn apply(&self, iface: &str, plan: &Plan) -> Result<usize, WgError> {
        validate_ifname(iface)?;
        let ops = plan.op_count();
        if ops == 0 {
            return Ok(0);
        }
        let request = KernelSetRequest::from_plan(plan);
        let name = iface.to_string();
        self.with_socket(move |s| {
            s.set_device(request.device(&name))
                .map_err(|e| WgError::Netlink { message: format!("set device {name}: {e}"), transient: false })
        })?;
        Ok(ops)
    }

    fn configure_link(&self, spec: &InterfaceSpec) -> Result<LinkChanges, WgError> {
        self.netlink.configure(spec)
    }

    /// wireguard-go's `tun` device of an earlier userspace run: deleting the device ends the
    /// process (its reads fail) and with it the UAPI socket.
    fn remove_leftover(&self, iface: &str) -> Result<bool, WgError> {
        self.remove_if_kind(iface, "tun")
    }

    fn remove_interface(&self, iface: &str) -> Result<(), WgError> {
        validate_ifname(iface)?;
        match self.netlink.link(iface)? {
            None => return Ok(()),
            Some(link) if link.kind.as_deref() == Some("wireguard") => {
                let name = iface.to_string();
                let cleared = self.with_socket(move |s| {
                    s.set_device(clear_peers_request(&name))
                        .map_err(|e| WgError::Netlink { message: format!("clear peers of {name}: {e}"), transient: true })
                });
                // Deleting still works without it, only slower.
                if let Err(e) = cleared {
                    log::warn!("{iface}: {e}; deleting the link with its peers");
                }
            }
            Some(_) => {}
        }
        self.netlink.delete_link(iface).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wg::plan::diff;
    use crate::wg::spec::PeerSpec;

    fn k(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn request_from_plan_sets_flags_per_op() {
        let plan = Plan {
            create_interface: false,
            set_identity: Some(Identity { private_key: k(1), listen_port: 51820 }),
            peer_ops: vec![
                PeerOp::Remove(k(2)),
                PeerOp::Update(PeerSpec::new(k(3), vec!["10.8.0.3/24".parse().unwrap()])),
                PeerOp::Add(PeerSpec {
                    public_key: k(4),
                    preshared_key: Some(k(5)),
                    allowed_ips: vec!["fd00::4/128".parse().unwrap()],
                    endpoint: Some("192.0.2.4:51820".parse().unwrap()),
                    persistent_keepalive: Some(25),
                }),
            ],
        };
        let req = KernelSetRequest::from_plan(&plan);
        let dev = req.device("wg0");
        assert_eq!(dev.interface, DeviceInterface::from_name("wg0"));
        assert!(dev.flags.is_empty(), "never REPLACE_PEERS");
        assert_eq!(dev.private_key, Some(&k(1)));
        assert_eq!(dev.listen_port, Some(51820));
        assert_eq!(dev.peers.len(), 3);

        let remove = &dev.peers[0];
        assert_eq!(remove.public_key, &k(2));
        assert_eq!(remove.flags, vec![WgPeerF::RemoveMe]);
        assert!(remove.allowed_ips.is_empty());

        let update = &dev.peers[1];
        assert_eq!(update.public_key, &k(3));
        assert_eq!(update.flags, vec![WgPeerF::UpdateOnly, WgPeerF::ReplaceAllowedIps]);
        assert_eq!(update.preshared_key, Some(&ZERO_KEY));
        assert_eq!(update.persistent_keepalive_interval, Some(0));
        assert_eq!(update.endpoint, None);
        assert_eq!(update.allowed_ips.len(), 1);
        assert_eq!(*update.allowed_ips[0].ipaddr, "10.8.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(update.allowed_ips[0].cidr_mask, Some(24));

        let add = &dev.peers[2];
        assert_eq!(add.flags, vec![WgPeerF::ReplaceAllowedIps]);
        assert_eq!(add.preshared_key, Some(&k(5)));
        assert_eq!(add.endpoint, Some(&"192.0.2.4:51820".parse().unwrap()));
        assert_eq!(add.persistent_keepalive_interval, Some(25));
        assert_eq!(add.allowed_ips[0].cidr_mask, Some(128));

        let text = format!("{req:?}");
        assert!(!text.contains("1, 1, 1") && !text.contains("5, 5, 5"), "{text}");
    }

    #[test]
    fn clearing_replaces_the_peers_with_none() {
        let dev = clear_peers_request("wg9");
        assert_eq!(dev.interface, DeviceInterface::from_name("wg9"));
        assert_eq!(dev.flags, vec![WgDeviceF::ReplacePeers]);
        assert!(dev.peers.is_empty() && dev.private_key.is_none() && dev.listen_port.is_none() && dev.fwmark.is_none());
    }

    #[test]
    fn empty_plan_builds_a_bare_request() {
        let req = KernelSetRequest::from_plan(&Plan::default());
        let dev = req.device("wg0");
        assert!(dev.private_key.is_none() && dev.listen_port.is_none() && dev.peers.is_empty());
    }

    fn get_device(peers: Vec<get::Peer>) -> get::Device {
        get::Device {
            ifindex: 7,
            ifname: "wg0".into(),
            private_key: Some(k(1)),
            public_key: Some(public_key_of(&k(1))),
            listen_port: 51820,
            fwmark: 0,
            peers,
        }
    }

    fn get_peer(n: u8, ips: &[(&str, u8)]) -> get::Peer {
        get::Peer {
            public_key: k(n),
            preshared_key: ZERO_KEY,
            endpoint: None,
            persistent_keepalive_interval: 0,
            last_handshake_time: Duration::ZERO,
            rx_bytes: 1,
            tx_bytes: 2,
            allowed_ips: ips
                .iter()
                .map(|(ip, len)| get::AllowedIp {
                    family: if ip.contains(':') { 10 } else { 2 },
                    ipaddr: ip.parse().unwrap(),
                    cidr_mask: *len,
                })
                .collect(),
            protocol_version: 1,
        }
    }

    #[test]
    fn parse_kernel_device() {
        let mut p2 = get_peer(3, &[("fd00::3", 128)]);
        p2.preshared_key = k(9);
        p2.persistent_keepalive_interval = 25;
        p2.last_handshake_time = Duration::from_secs(1_700_000_000);
        p2.endpoint = Some("198.51.100.3:51820".parse().unwrap());
        let dev = get_device(vec![get_peer(2, &[("10.8.0.2", 32)]), p2]);
        let actual = device_to_actual(&dev).unwrap();
        assert_eq!(actual.listen_port, 51820);
        assert_eq!(actual.private_key, Some(k(1)));
        assert_eq!(actual.public_key, Some(public_key_of(&k(1))));
        let a = &actual.peers[0];
        assert_eq!(a.preshared_key, None);
        assert_eq!(a.persistent_keepalive, None);
        assert_eq!(a.last_handshake, None);
        assert_eq!(a.allowed_ips, vec!["10.8.0.2/32".parse::<IpNet>().unwrap()]);
        assert_eq!((a.rx_bytes, a.tx_bytes), (1, 2));
        let b = &actual.peers[1];
        assert_eq!(b.preshared_key, Some(k(9)));
        assert_eq!(b.persistent_keepalive, Some(25));
        assert_eq!(b.last_handshake, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert_eq!(b.endpoint, Some("198.51.100.3:51820".parse().unwrap()));

        // The parsed device diffs clean against the spec it came from.
        let spec = InterfaceSpec {
            name: "wg0".into(),
            private_key: k(1),
            listen_port: 51820,
            addresses: vec![],
            mtu: None,
            peers: vec![
                PeerSpec::new(k(2), vec!["10.8.0.2/32".parse().unwrap()]),
                PeerSpec {
                    public_key: k(3),
                    preshared_key: Some(k(9)),
                    allowed_ips: vec!["fd00::3/128".parse().unwrap()],
                    endpoint: None,
                    persistent_keepalive: Some(25),
                },
            ],
        };
        assert!(diff(&spec, Some(&actual)).is_empty());
    }

    #[test]
    fn parse_rejects_bad_prefix_and_handles_fresh_device() {
        let dev = get_device(vec![get_peer(2, &[("10.8.0.2", 33)])]);
        assert!(matches!(device_to_actual(&dev), Err(WgError::Protocol(_))));
        let mut fresh = get_device(vec![]);
        fresh.private_key = None;
        fresh.public_key = None;
        let actual = device_to_actual(&fresh).unwrap();
        assert_eq!((actual.private_key, actual.public_key), (None, None));
    }
}
