//! Tests of the peer differ: `diff` against devices, `diff_specs` against `diff`.

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
        Case { name: "absent interface without peers", desired: spec(51820, vec![]), actual: None, want: &["create", "identity:51820"] },
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
    specs::apply_to(&mut dev, &plan);
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

/// `diff_specs` (old spec → new spec) against `diff` (new spec → the device `old` programmed).
/// The helpers are shared with the reconciler's tests.
pub(crate) mod specs {
    use super::super::*;
    use crate::wg::spec::public_key_of;

    pub(crate) fn k(n: u8) -> Key {
        [n; 32]
    }
    pub(crate) fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    pub(crate) fn spec(peers: Vec<PeerSpec>) -> InterfaceSpec {
        InterfaceSpec { name: "wg0".into(), private_key: k(200), listen_port: 51820, addresses: vec![net("10.8.0.1/24")], mtu: None, peers }
    }
    pub(crate) fn peer(n: u8) -> PeerSpec {
        PeerSpec::new(k(n), vec![net(&format!("10.8.0.{n}/32"))])
    }
    /// The device after programming `s` (what `diff` sees).
    pub(crate) fn device(s: &InterfaceSpec) -> ActualInterface {
        ActualInterface {
            listen_port: s.listen_port,
            private_key: Some(clamp_private_key(&s.private_key)),
            public_key: Some(public_key_of(&s.private_key)),
            peers: s.peers.iter().map(programmed).collect(),
        }
    }

    /// A peer as the device reports it after programming `p` (keepalive 0 reads back as none).
    pub(crate) fn programmed(p: &PeerSpec) -> ActualPeer {
        ActualPeer {
            public_key: p.public_key,
            preshared_key: p.preshared_key,
            allowed_ips: p.allowed_ips.clone(),
            endpoint: p.endpoint,
            persistent_keepalive: p.persistent_keepalive.filter(|k| *k != 0),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    /// What a device does with `plan`: the fake devices of the plan and reconciler tests.
    pub(crate) fn apply_to(dev: &mut ActualInterface, plan: &Plan) {
        if let Some(id) = &plan.set_identity {
            dev.private_key = Some(id.private_key);
            dev.listen_port = id.listen_port;
        }
        for op in &plan.peer_ops {
            match op {
                PeerOp::Remove(key) => dev.peers.retain(|p| &p.public_key != key),
                PeerOp::Add(p) | PeerOp::Update(p) => {
                    dev.peers.retain(|a| a.public_key != p.public_key);
                    dev.peers.push(programmed(p));
                }
            }
        }
    }

    #[test]
    fn diff_specs_equals_diff_against_the_programmed_device() {
        let old = spec(vec![peer(1), peer(2), peer(3), peer(5)]);
        let mut changed = peer(3);
        changed.allowed_ips.push(net("10.9.0.0/16"));
        let mut psk = peer(5);
        psk.preshared_key = Some(k(99));
        let cases = vec![
            old.clone(),
            spec(vec![peer(1), peer(2), peer(3), peer(4), peer(5)]),
            spec(vec![peer(2), peer(5)]),
            spec(vec![peer(1), peer(2), changed, psk]),
            spec(vec![]),
            spec(vec![peer(0), peer(9)]),
            InterfaceSpec { private_key: k(201), ..old.clone() },
            InterfaceSpec { listen_port: 51821, ..old.clone() },
            InterfaceSpec { listen_port: 0, ..old.clone() },
        ];
        for new in cases {
            let want = diff(&new, Some(&device(&old)));
            let got = diff_specs(&old, &new).unwrap();
            assert_eq!(got, want, "old {old:?} new {new:?}");
        }
    }

    #[test]
    fn diff_specs_unchanged_and_equivalent_forms_are_empty() {
        let old = spec(vec![peer(1), peer(2)]);
        assert!(diff_specs(&old, &old).unwrap().is_empty());
        // Host bits and keepalive 0 are not differences; an unpinned endpoint is learned.
        let mut a = peer(1);
        a.allowed_ips = vec![net("10.8.0.1/32")];
        a.persistent_keepalive = Some(0);
        let mut pinned = old.clone();
        pinned.peers[1].endpoint = Some("192.0.2.1:1".parse().unwrap());
        let new = spec(vec![a, peer(2)]);
        assert!(diff_specs(&old, &new).unwrap().is_empty());
        assert!(diff_specs(&pinned, &old).unwrap().is_empty());
        assert_eq!(diff_specs(&old, &pinned).unwrap().counts().updated, 1);
    }

    #[test]
    fn diff_specs_refuses_unsorted_and_duplicate_peers() {
        let old = spec(vec![peer(1), peer(2)]);
        assert!(diff_specs(&old, &spec(vec![peer(2), peer(1)])).is_err());
        assert!(diff_specs(&spec(vec![peer(2), peer(1)]), &old).is_err());
        assert!(diff_specs(&old, &spec(vec![peer(1), peer(1)])).is_err());
    }
}
