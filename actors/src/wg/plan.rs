//! The pure peer differ: given what an interface should hold ([`InterfaceSpec`]) and what it
//! holds ([`ActualInterface`]), [`diff`] returns the minimal [`Plan`] that closes the gap — never a
//! full replace, and no operation at all for a peer that already matches. Backends turn a plan into
//! one UAPI `set` transaction (userspace) or one netlink `SET_DEVICE` request (kernel).
//!
//! Comparison rules (what counts as "the same"):
//! - allowed IPs are compared as sets after masking host bits (`10.0.0.5/24` == `10.0.0.0/24`),
//!   because that is how WireGuard stores them;
//! - an endpoint is compared only when the spec pins one: a learned (roaming) endpoint is not a
//!   difference;
//! - keepalive `None` == `Some(0)`, preshared key `None` == all-zero key;
//! - a desired listen port of 0 ("any") never triggers an identity change on its own;
//! - private keys are compared clamped (WireGuard stores and reports the clamped form), and the
//!   identity a plan sets carries the clamped key.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ipnet::IpNet;

use super::spec::{clamp_private_key, key_to_base64, ActualInterface, ActualPeer, InterfaceSpec, Key, PeerSpec};

/// The interface identity to (re)program: private key and listen port.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub private_key: Key,
    pub listen_port: u16,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("private_key", &format_args!("<redacted>")).field("listen_port", &self.listen_port).finish()
    }
}

/// One change to one peer.
#[derive(Clone, PartialEq)]
pub enum PeerOp {
    /// Create the peer with these fields.
    Add(PeerSpec),
    /// Change an existing peer in place (`update_only`): replace its allowed IPs and set its
    /// preshared key, keepalive and (if pinned) endpoint. Other peers are untouched.
    Update(PeerSpec),
    /// Remove the peer with this public key.
    Remove(Key),
}

impl PeerOp {
    /// The public key the operation is about.
    pub fn public_key(&self) -> &Key {
        match self {
            PeerOp::Add(p) | PeerOp::Update(p) => &p.public_key,
            PeerOp::Remove(k) => k,
        }
    }
}

impl fmt::Debug for PeerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerOp::Add(p) => f.debug_tuple("Add").field(p).finish(),
            PeerOp::Update(p) => f.debug_tuple("Update").field(p).finish(),
            PeerOp::Remove(k) => f.debug_tuple("Remove").field(&format_args!("{}", key_to_base64(k))).finish(),
        }
    }
}

/// The difference between desired and actual state of one interface.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Plan {
    /// The interface does not exist yet (create it before applying the rest).
    pub create_interface: bool,
    /// Private key and/or listen port differ (or the interface is new).
    pub set_identity: Option<Identity>,
    /// Peer changes: removals first, then updates, then additions (each in input order).
    pub peer_ops: Vec<PeerOp>,
}

/// How many peers a plan adds, updates and removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanCounts {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.create_interface && self.set_identity.is_none() && self.peer_ops.is_empty()
    }

    /// Operations a backend applies for this plan: one for the identity, one per peer op.
    /// (Interface creation is done by `ensure_interface`, not counted here.)
    pub fn op_count(&self) -> usize {
        usize::from(self.set_identity.is_some()) + self.peer_ops.len()
    }

    /// Peer op counts by kind.
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for op in &self.peer_ops {
            match op {
                PeerOp::Add(_) => c.added += 1,
                PeerOp::Update(_) => c.updated += 1,
                PeerOp::Remove(_) => c.removed += 1,
            }
        }
        c
    }
}

/// Masks host bits, sorts and de-duplicates: the set WireGuard would store.
pub fn normalize_allowed_ips(ips: &[IpNet]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = ips.iter().map(IpNet::trunc).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Allowed-IP sets equal after masking. Fast path without allocation when both lists are in
/// the same order (the usual case: the device reports them as they were programmed).
fn same_allowed_ips(desired: &[IpNet], actual: &[IpNet]) -> bool {
    if desired.len() == actual.len() && desired.iter().zip(actual).all(|(d, a)| d.trunc() == a.trunc()) {
        return true;
    }
    normalize_allowed_ips(desired) == normalize_allowed_ips(actual)
}

/// Whether the device's peer already carries everything the spec asks for.
pub fn peer_matches(desired: &PeerSpec, actual: &ActualPeer) -> bool {
    let zero = [0u8; 32];
    desired.preshared_key.unwrap_or(zero) == actual.preshared_key.unwrap_or(zero)
        && desired.persistent_keepalive.unwrap_or(0) == actual.persistent_keepalive.unwrap_or(0)
        && desired.endpoint.is_none_or(|e| actual.endpoint == Some(e))
        && same_allowed_ips(&desired.allowed_ips, &actual.allowed_ips)
}

/// The operation (if any) for ONE peer, for incremental changes when the caller already knows
/// which peer changed (e.g. one peer edited through the API) and holds its last-read state:
/// `desired` None = the peer must go, `actual` None = the device does not have it.
pub fn diff_peer(desired: Option<&PeerSpec>, actual: Option<&ActualPeer>) -> Option<PeerOp> {
    match (desired, actual) {
        (Some(d), None) => Some(PeerOp::Add(d.clone())),
        (Some(d), Some(a)) if !peer_matches(d, a) => Some(PeerOp::Update(d.clone())),
        (Some(_), Some(_)) => None,
        (None, Some(a)) => Some(PeerOp::Remove(a.public_key)),
        (None, None) => None,
    }
}

/// The minimal plan that turns `actual` (None: interface absent) into `desired`.
/// Linear in the number of peers: one hash map over the device's peers, no allocation per
/// unchanged peer.
pub fn diff(desired: &InterfaceSpec, actual: Option<&ActualInterface>) -> Plan {
    let identity = Identity { private_key: clamp_private_key(&desired.private_key), listen_port: desired.listen_port };
    let Some(actual) = actual else {
        let mut seen = HashSet::with_capacity(desired.peers.len());
        return Plan {
            create_interface: true,
            set_identity: Some(identity),
            peer_ops: desired.peers.iter().filter(|p| seen.insert(p.public_key)).map(|p| PeerOp::Add(p.clone())).collect(),
        };
    };

    let key_differs = actual.private_key.map(|k| clamp_private_key(&k)) != Some(identity.private_key);
    let port_differs = desired.listen_port != 0 && actual.listen_port != desired.listen_port;
    let set_identity = (key_differs || port_differs).then_some(identity);

    // Key -> index of its (last) entry on the device; `matched` marks the ones still wanted.
    let index: HashMap<&Key, usize> = actual.peers.iter().enumerate().map(|(i, p)| (&p.public_key, i)).collect();
    let mut matched = vec![false; actual.peers.len()];
    let mut added: HashSet<&Key> = HashSet::new();
    let mut updates = Vec::new();
    let mut adds = Vec::new();
    for p in &desired.peers {
        match index.get(&p.public_key) {
            Some(&i) => {
                if std::mem::replace(&mut matched[i], true) {
                    continue; // duplicate in the spec: first one wins
                }
                if !peer_matches(p, &actual.peers[i]) {
                    updates.push(PeerOp::Update(p.clone()));
                }
            }
            None => {
                if added.insert(&p.public_key) {
                    adds.push(PeerOp::Add(p.clone()));
                }
            }
        }
    }
    let mut peer_ops: Vec<PeerOp> = actual
        .peers
        .iter()
        .enumerate()
        .filter(|(i, p)| !matched[*i] && index.get(&p.public_key) == Some(i))
        .map(|(_, p)| PeerOp::Remove(p.public_key))
        .collect();
    peer_ops.append(&mut updates);
    peer_ops.append(&mut adds);
    Plan { create_interface: false, set_identity, peer_ops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::{Duration, UNIX_EPOCH};

    const PRIV: Key = [42u8; 32];

    fn k(n: u8) -> Key {
        [n; 32]
    }
    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }
    fn ep(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }
    fn ps(n: u8, ips: &[&str]) -> PeerSpec {
        PeerSpec::new(k(n), nets(ips))
    }
    fn ap(n: u8, ips: &[&str]) -> ActualPeer {
        ActualPeer {
            public_key: k(n),
            preshared_key: None,
            allowed_ips: nets(ips),
            endpoint: None,
            persistent_keepalive: None,
            last_handshake: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            rx_bytes: 10,
            tx_bytes: 20,
        }
    }
    fn spec(port: u16, peers: Vec<PeerSpec>) -> InterfaceSpec {
        InterfaceSpec { name: "wg0".into(), private_key: PRIV, listen_port: port, addresses: nets(&["10.8.0.1/24"]), mtu: None, peers }
    }
    fn actual(port: u16, private: Option<Key>, peers: Vec<ActualPeer>) -> ActualInterface {
        ActualInterface { listen_port: port, private_key: private, public_key: None, peers }
    }

    /// Compact rendering of a plan for table comparisons.
    fn render(plan: &Plan) -> Vec<String> {
        let mut out = Vec::new();
        if plan.create_interface {
            out.push("create".to_string());
        }
        if let Some(id) = &plan.set_identity {
            out.push(format!("identity:{}", id.listen_port));
        }
        for op in &plan.peer_ops {
            out.push(match op {
                PeerOp::Add(p) => format!("add:{}", p.public_key[0]),
                PeerOp::Update(p) => format!("update:{}", p.public_key[0]),
                PeerOp::Remove(k) => format!("remove:{}", k[0]),
            });
        }
        out
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            desired: InterfaceSpec,
            actual: Option<ActualInterface>,
            want: &'static [&'static str],
        }
        let with = |mut p: PeerSpec, f: &dyn Fn(&mut PeerSpec)| {
            f(&mut p);
            p
        };
        let awith = |mut p: ActualPeer, f: &dyn Fn(&mut ActualPeer)| {
            f(&mut p);
            p
        };
        let cases = vec![
            Case {
                name: "absent interface: create, identity, add all",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"]), ps(2, &["10.8.0.3/32"])]),
                actual: None,
                want: &["create", "identity:51820", "add:1", "add:2"],
            },
            Case {
                name: "absent interface without peers",
                desired: spec(51820, vec![]),
                actual: None,
                want: &["create", "identity:51820"],
            },
            Case {
                name: "fresh device (no key): identity + adds",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"])]),
                actual: Some(actual(0, None, vec![])),
                want: &["identity:51820", "add:1"],
            },
            Case {
                name: "identical: nothing",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"]), ps(2, &["10.8.0.3/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(2, &["10.8.0.3/32"]), ap(1, &["10.8.0.2/32"])])),
                want: &[],
            },
            Case {
                name: "port differs",
                desired: spec(51821, vec![]),
                actual: Some(actual(51820, Some(PRIV), vec![])),
                want: &["identity:51821"],
            },
            Case {
                name: "port 0 wanted: any port is fine",
                desired: spec(0, vec![]),
                actual: Some(actual(40000, Some(PRIV), vec![])),
                want: &[],
            },
            Case {
                name: "unclamped spec key equals the clamped key the device reports",
                desired: spec(51820, vec![]),
                actual: Some(actual(51820, Some(clamp_private_key(&PRIV)), vec![])),
                want: &[],
            },
            Case {
                name: "private key differs",
                desired: spec(51820, vec![]),
                actual: Some(actual(51820, Some(k(43)), vec![])),
                want: &["identity:51820"],
            },
            Case {
                name: "one peer added among many",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"]), ps(2, &["10.8.0.3/32"]), ps(3, &["10.8.0.4/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(3, &["10.8.0.4/32"])])),
                want: &["add:2"],
            },
            Case {
                name: "one peer removed, others untouched",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(9, &["10.8.0.9/32"])])),
                want: &["remove:9"],
            },
            Case {
                name: "allowed ips changed: update that peer only",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32", "fd00::2/128"]), ps(2, &["10.8.0.3/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(2, &["10.8.0.3/32"])])),
                want: &["update:1"],
            },
            Case {
                name: "allowed ips compared masked and as a set",
                desired: spec(51820, vec![ps(1, &["192.168.5.7/24", "10.8.0.2/32", "10.8.0.2/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32", "192.168.5.0/24"])])),
                want: &[],
            },
            Case {
                name: "learned endpoint is not a difference",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![awith(ap(1, &["10.8.0.2/32"]), &|p| p.endpoint = ep("203.0.113.9:4444"))])),
                want: &[],
            },
            Case {
                name: "pinned endpoint differs",
                desired: spec(51820, vec![with(ps(1, &["10.8.0.2/32"]), &|p| p.endpoint = ep("198.51.100.1:51820"))]),
                actual: Some(actual(51820, Some(PRIV), vec![awith(ap(1, &["10.8.0.2/32"]), &|p| p.endpoint = ep("203.0.113.9:4444"))])),
                want: &["update:1"],
            },
            Case {
                name: "keepalive none == 0",
                desired: spec(51820, vec![with(ps(1, &["10.8.0.2/32"]), &|p| p.persistent_keepalive = Some(0))]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"])])),
                want: &[],
            },
            Case {
                name: "keepalive differs",
                desired: spec(51820, vec![with(ps(1, &["10.8.0.2/32"]), &|p| p.persistent_keepalive = Some(25))]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"])])),
                want: &["update:1"],
            },
            Case {
                name: "psk added",
                desired: spec(51820, vec![with(ps(1, &["10.8.0.2/32"]), &|p| p.preshared_key = Some(k(5)))]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"])])),
                want: &["update:1"],
            },
            Case {
                name: "psk removed",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![awith(ap(1, &["10.8.0.2/32"]), &|p| p.preshared_key = Some(k(5)))])),
                want: &["update:1"],
            },
            Case {
                name: "ordering: removes, then updates, then adds",
                desired: spec(51820, vec![ps(3, &["10.8.0.4/32"]), ps(1, &["10.8.0.20/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(2, &["10.8.0.3/32"])])),
                want: &["remove:2", "update:1", "add:3"],
            },
            Case {
                name: "allowed ip moving between peers: update both, no remove",
                desired: spec(51820, vec![ps(1, &["10.8.0.3/32"]), ps(2, &["10.8.0.2/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(2, &["10.8.0.3/32"])])),
                want: &["update:1", "update:2"],
            },
            Case {
                name: "duplicate desired peer: first wins, one op",
                desired: spec(51820, vec![ps(1, &["10.8.0.2/32"]), ps(1, &["10.8.0.9/32"])]),
                actual: Some(actual(51820, Some(PRIV), vec![])),
                want: &["add:1"],
            },
            Case {
                name: "empty desired: remove all",
                desired: spec(51820, vec![]),
                actual: Some(actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(2, &["10.8.0.3/32"])])),
                want: &["remove:1", "remove:2"],
            },
        ];
        for case in cases {
            let plan = diff(&case.desired, case.actual.as_ref());
            assert_eq!(render(&plan), case.want, "case: {}", case.name);
            assert_eq!(plan.is_empty(), case.want.is_empty(), "case: {}", case.name);
        }
    }

    #[test]
    fn diff_is_idempotent_after_applying() {
        // Simulate applying a plan on a model device; the second diff must be empty.
        let desired = spec(
            51820,
            vec![
                ps(1, &["10.8.0.2/32"]),
                PeerSpec {
                    public_key: k(2),
                    preshared_key: Some(k(7)),
                    allowed_ips: nets(&["10.8.0.3/32", "10.9.0.0/16"]),
                    endpoint: ep("198.51.100.7:51820"),
                    persistent_keepalive: Some(25),
                },
            ],
        );
        let mut dev = actual(1, Some(k(43)), vec![ap(9, &["10.8.0.2/32"])]);
        let plan = diff(&desired, Some(&dev));
        if let Some(id) = &plan.set_identity {
            dev.private_key = Some(id.private_key);
            dev.listen_port = id.listen_port;
        }
        for op in &plan.peer_ops {
            match op {
                PeerOp::Remove(key) => dev.peers.retain(|p| &p.public_key != key),
                PeerOp::Add(p) | PeerOp::Update(p) => {
                    dev.peers.retain(|a| a.public_key != p.public_key);
                    dev.peers.push(ActualPeer {
                        public_key: p.public_key,
                        preshared_key: p.preshared_key,
                        allowed_ips: p.allowed_ips.clone(),
                        endpoint: p.endpoint,
                        persistent_keepalive: p.persistent_keepalive.filter(|&k| k != 0),
                        last_handshake: None,
                        rx_bytes: 0,
                        tx_bytes: 0,
                    });
                }
            }
        }
        assert!(diff(&desired, Some(&dev)).is_empty());
    }

    #[test]
    fn diff_peer_table() {
        let d = ps(1, &["10.8.0.2/32"]);
        let same = ap(1, &["10.8.0.2/32"]);
        let other = ap(1, &["10.8.0.3/32"]);
        assert_eq!(diff_peer(Some(&d), None), Some(PeerOp::Add(d.clone())));
        assert_eq!(diff_peer(Some(&d), Some(&same)), None);
        assert_eq!(diff_peer(Some(&d), Some(&other)), Some(PeerOp::Update(d.clone())));
        assert_eq!(diff_peer(None, Some(&same)), Some(PeerOp::Remove(k(1))));
        assert_eq!(diff_peer(None, None), None);
    }

    #[test]
    fn duplicate_keys_on_the_device_never_remove_a_wanted_peer() {
        let desired = spec(51820, vec![ps(1, &["10.8.0.2/32"])]);
        let dev = actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.2/32"]), ap(1, &["10.8.0.2/32"]), ap(2, &[])]);
        assert_eq!(render(&diff(&desired, Some(&dev))), vec!["remove:2"]);
    }

    #[test]
    fn counts_and_op_count() {
        let desired = spec(51821, vec![ps(1, &["10.8.0.2/32"]), ps(3, &["10.8.0.4/32"])]);
        let dev = actual(51820, Some(PRIV), vec![ap(1, &["10.8.0.5/32"]), ap(2, &["10.8.0.3/32"])]);
        let plan = diff(&desired, Some(&dev));
        assert_eq!(plan.counts(), PlanCounts { added: 1, updated: 1, removed: 1 });
        assert_eq!(plan.op_count(), 4);
        assert!(!format!("{plan:?}").contains("42, 42"));
    }

    #[test]
    fn large_diff_is_linear_enough() {
        let n = 10_000u32;
        let key = |i: u32| {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            key[31] = 1;
            key
        };
        let addr = |i: u32| -> IpNet { format!("10.{}.{}.{}/32", 100 + (i >> 16), (i >> 8) & 255, i & 255).parse().unwrap() };
        let desired = InterfaceSpec { peers: (0..n).map(|i| PeerSpec::new(key(i), vec![addr(i)])).collect(), ..spec(51820, vec![]) };
        let mut dev = actual(51820, Some(PRIV), Vec::new());
        dev.peers = (0..n)
            .map(|i| ActualPeer {
                public_key: key(i),
                preshared_key: None,
                allowed_ips: vec![addr(if i == 77 { n + 1 } else { i })],
                endpoint: None,
                persistent_keepalive: None,
                last_handshake: None,
                rx_bytes: 0,
                tx_bytes: 0,
            })
            .collect();
        let t = std::time::Instant::now();
        let plan = diff(&desired, Some(&dev));
        let took = t.elapsed();
        assert_eq!(plan.peer_ops.len(), 1);
        assert!(matches!(&plan.peer_ops[0], PeerOp::Update(p) if p.public_key == key(77)));
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
