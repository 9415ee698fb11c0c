//! Server-initiated handshakes (#16): when this router takes over peers another router served, it
//! points each one at its last known endpoint and starts a handshake at once, so a client that
//! never re-resolves (every stock WireGuard app) switches without waiting for its own timers.
//!
//! **When** (pure, [`takeovers`], from the replicated state): a peer is taken over when
//! - it is homed on this router (`node_id`), it had a live session (handshake younger than
//!   `CONNECTED_MAX_AGE_MS`) on another router, and that router is now unhealthy — the
//!   migration planner re-homed it here (Mode B; Mode A re-homes too); or
//! - this router became VRRP master of the config's floating address (`masters`, from
//!   keepalived's notify hook): every peer with a live session anywhere; and, while master, the
//!   peers of any router that becomes unhealthy. A config with a floating address is taken over
//!   by its master only (its clients send to the address).
//!
//! The endpoint is the one the serving router last reported (#15: collected at
//! `usage_interval_s` and merged in the replicated usage book). A peer whose handshake on *this*
//! router is already at or after the takeover's moment is left alone ([`still_needed`]: the
//! client came on its own).
//!
//! **How** (one [`Plan`] per batch, [`takeover_plan`], applied through the ordinary backend
//! `apply`, so both backends do it the same way): per peer, `Remove`, then `Add` with the endpoint
//! and a persistent keepalive of [`TRIGGER_KEEPALIVE_S`], then `Update` back to the peer's spec
//! (keepalive off). Both data planes send a keepalive when a peer's persistent keepalive goes
//! from 0 to non-zero while the interface is up — wireguard-go's `ipcSetPeer.handlePostConfig`
//! (`pkaOn` → `SendKeepalive`), the kernel's `set_peer` (`send_keepalive` →
//! `wg_packet_send_keepalive`) — and a keepalive on a peer without a current session queues the
//! packet and sends a handshake initiation (`SendStagedPackets` / `wg_packet_send_staged_packets`).
//! Removing the peer first guarantees that there is no session: a stale one (this router served
//! the client minutes ago) would otherwise carry the keepalive under keys the client dropped.
//! The handshake, once started, is retried by the data plane's own timer (every 5 s, up to
//! 90 s) even with the keepalive off again. The re-created peer's counters start from zero; the
//! usage merger counts that as a reset (`usage::merge`), so at most the bytes this router carried
//! for the peer since its last reading are lost — ~0 for a peer another router was serving.
//!
//! **Rate**: the reconciler applies at most [`TAKEOVER_BATCH`] peers per [`TAKEOVER_TICK`]
//! (2,000 handshakes a second): 10,000 peers take over in 5 s without a burst of 20,000 X25519
//! operations in one go.

use super::plan::{PeerOp, Plan};
use super::spec::{ActualInterface, InterfaceSpec, Key};
use crate::model::{ConfigName, Millis, NodeId, PeerId};
use crate::state::State;
use crate::usage::merge::status;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

/// Peers per batch (one `apply` per interface per batch).
pub const TAKEOVER_BATCH: usize = 200;
/// Time between batches.
pub const TAKEOVER_TICK: Duration = Duration::from_millis(100);
/// The keepalive switched on for a moment to make the data plane send a handshake initiation.
pub const TRIGGER_KEEPALIVE_S: u16 = 25;

/// Why a peer is taken over (with the moment that identifies the event: the same cause is acted
/// on once).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// The router that served the peer (latest handshake at `handshake`) is unhealthy and the
    /// peer is homed here now.
    Failed { node: NodeId, handshake: Millis },
    /// This router became VRRP master of the config's floating address at `since`.
    Master { since: Millis },
}

impl Cause {
    /// A handshake on this router at or after this moment means the client is already here.
    pub fn moment(&self) -> Millis {
        match self {
            Cause::Failed { handshake, .. } => *handshake,
            Cause::Master { since } => *since,
        }
    }
}

/// One peer to take over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    pub config: ConfigName,
    pub peer: PeerId,
    pub public_key: Key,
    pub endpoint: SocketAddr,
    pub cause: Cause,
}

/// PURE: the peers `me` should take over now (see the module doc), in config and peer id order.
/// `masters`: the configs whose floating address this router holds, with the moment it became
/// master. Configs only drained from `me` are not considered (their peers are leaving).
pub fn takeovers(state: &State, me: &NodeId, masters: &BTreeMap<ConfigName, Millis>, now: Millis) -> Vec<Takeover> {
    let mut out = Vec::new();
    let mine = state.config_nodes.values().filter(|cn| &cn.node_id == me).map(|cn| &cn.config);
    for config in mine.collect::<std::collections::BTreeSet<_>>() {
        let mode_a = state.endpoint_groups.contains_key(config);
        let master = masters.get(config).copied();
        // With a floating address only its master takes peers over: clients reach the address.
        if master.is_none() && state.vips.contains_key(config) {
            continue;
        }
        for p in state.peers_of(config) {
            let homed_here = p.node_id.as_ref() == Some(me);
            if !p.enabled || !(mode_a || homed_here) {
                continue;
            }
            let st = status(state.usage.peers.get(&p.id), now, 0);
            let (Some(serving), Some(endpoint), Some(handshake), true) = (st.serving_node, st.endpoint, st.latest_handshake, st.connected)
            else {
                continue;
            };
            let serving_failed = &serving != me && state.nodes.get(&serving).is_some_and(|n| !n.healthy);
            let cause = match master {
                // The master also takes over the clients of a router that fails later (one that a
                // brief second master left bound to its own address).
                Some(_) if serving_failed => Cause::Failed { node: serving, handshake },
                Some(since) => Cause::Master { since },
                None if homed_here && serving_failed => Cause::Failed { node: serving, handshake },
                None => continue,
            };
            out.push(Takeover { config: config.clone(), peer: p.id.clone(), public_key: p.public_key.0, endpoint, cause });
        }
    }
    out
}

/// PURE: whether the takeover is still needed given the device as read now: the peer is carried
/// and has no handshake on this router since the cause's moment.
pub fn still_needed(t: &Takeover, device: &ActualInterface) -> bool {
    let Some(peer) = device.peer(&t.public_key) else { return false };
    let moment = UNIX_EPOCH + Duration::from_millis(t.cause.moment());
    peer.last_handshake.is_none_or(|h| h < moment)
}

/// PURE: the plan that makes the data plane initiate a handshake with each taken-over peer of
/// `spec` (peers `spec` no longer carries are left out): remove, add with the endpoint and the
/// trigger keepalive, set back to the spec.
pub fn takeover_plan(spec: &InterfaceSpec, batch: &[&Takeover]) -> Plan {
    let mut plan = Plan::default();
    for t in batch {
        let Ok(i) = spec.peers.binary_search_by_key(&t.public_key, |p| p.public_key) else { continue };
        let p = &spec.peers[i];
        let mut trigger = p.clone();
        trigger.endpoint = Some(t.endpoint);
        trigger.persistent_keepalive = Some(p.persistent_keepalive.filter(|k| *k > 0).unwrap_or(TRIGGER_KEEPALIVE_S));
        plan.peer_ops.push(PeerOp::Remove(p.public_key));
        plan.peer_ops.push(PeerOp::Add(trigger));
        plan.peer_ops.push(PeerOp::Update(p.clone()));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::state::*;
    use crate::usage::merge::{PeerReading, RouterReport, CONNECTED_MAX_AGE_MS};
    use crate::wg::spec::{ActualPeer, PeerSpec};

    fn nid(s: &str) -> NodeId {
        NodeId::parse("n", s).unwrap()
    }
    fn cn() -> ConfigName {
        ConfigName::parse("c", "wg0").unwrap()
    }
    const NOW: Millis = 1_000_000_000;

    /// Routers r1, r2, r3 on wg0 (Mode A or B), peers a (homed r1), b (homed r2), c (homed r2,
    /// disabled), d (homed r2, no reading).
    fn state(mode_a: bool) -> (State, BTreeMap<&'static str, PeerId>) {
        let mut s = State::default();
        let run = |s: &mut State, cmd| s.apply(&Request { at: 1, user: "t".into(), cmd, idempotency: None }).unwrap();
        let spec = |id: &str| NodeSpec { id: nid(id), name: None, endpoint: None, cluster_addr: None, witness: false };
        run(
            &mut s,
            Command::Bootstrap {
                token: ApiToken { name: "a".into(), sha256: [0; 32], created_at: 0 },
                node: spec("r1"),
                ca: None,
                serial: 0,
            },
        );
        run(&mut s, Command::CreateNode { node: spec("r2"), weight: 1 });
        run(&mut s, Command::CreateNode { node: spec("r3"), weight: 1 });
        run(
            &mut s,
            Command::CreateConfig {
                config: NewConfig {
                    name: cn(),
                    private_key: generate_keypair().0,
                    addresses: vec!["10.0.0.1/24".parse().unwrap()],
                    listen_port: 51820,
                    mtu: None,
                    dns: vec![],
                    peer_allowed_ips: vec![],
                    peer_keepalive: None,
                    placement: Default::default(),
                },
            },
        );
        for n in ["r1", "r2", "r3"] {
            run(&mut s, Command::AssignNode { config: cn(), node_id: nid(n) });
        }
        let mk = |name: &str, node: &str, enabled: bool| NewPeer {
            id: PeerId::random(),
            name: name.into(),
            public_key: generate_keypair().1,
            private_key: None,
            preshared_key: None,
            node_id: Some(nid(node)),
            allowed_ips: None,
            keepalive: None,
            enabled,
            limits: Default::default(),
        };
        let peers = vec![mk("a", "r1", true), mk("b", "r2", true), mk("c", "r2", false), mk("d", "r2", true)];
        let ids: BTreeMap<&str, PeerId> = ["a", "b", "c", "d"].into_iter().zip(peers.iter().map(|p| p.id.clone())).collect();
        run(&mut s, Command::CreatePeers { config: cn(), peers });
        if mode_a {
            run(&mut s, Command::SetEndpointGroup { group: crate::wg::desired::mode_a_group(cn()) });
        }
        (s, ids)
    }

    /// The usage book says `peer` last handshook on `node` at `hs` from `ep`.
    fn seen(s: &mut State, peer: &PeerId, node: &str, hs: Millis, ep: &str) {
        let r = RouterReport {
            node: nid(node),
            epoch: 1,
            at: hs + 1,
            peers: vec![PeerReading { peer: peer.clone(), rx: 1, tx: 1, handshake: Some(hs), endpoint: Some(ep.parse().unwrap()) }],
        };
        s.usage.merge(&[r], |_| true, NOW);
    }

    /// "name@endpoint" of each takeover, sorted (peer ids are random).
    fn names(out: &[Takeover], ids: &BTreeMap<&str, PeerId>) -> Vec<String> {
        let mut v: Vec<String> = out
            .iter()
            .map(|t| {
                let n = ids.iter().find(|(_, id)| **id == t.peer).map(|(n, _)| *n).unwrap_or("?");
                format!("{n}@{}", t.endpoint)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn table() {
        // (case, mode A, serving router of a/b/c/d, unhealthy routers, re-home everything to,
        //  me, master since, expected "peer@endpoint")
        type Case<'a> = (&'a str, bool, &'a str, &'a [&'a str], Option<&'a str>, &'a str, Option<Millis>, &'a [&'a str]);
        let cases: &[Case] = &[
            ("all healthy: nothing", true, "r2", &[], None, "r3", None, &[]),
            ("r2 unhealthy, peers not yet re-homed: nothing", true, "r2", &["r2"], None, "r3", None, &[]),
            (
                "r2 unhealthy, peers re-homed to r3: r3 takes them over",
                true,
                "r2",
                &["r2"],
                Some("r3"),
                "r3",
                None,
                &["a@192.0.2.1:4000", "b@192.0.2.2:4000"],
            ),
            ("the same seen from r1: not its peers", true, "r2", &["r2"], Some("r3"), "r1", None, &[]),
            ("Mode B too", false, "r2", &["r2"], Some("r3"), "r3", None, &["a@192.0.2.1:4000", "b@192.0.2.2:4000"]),
            ("serving router healthy, peers re-homed (rebalance): nothing", true, "r2", &[], Some("r3"), "r3", None, &[]),
            ("served by me already: nothing", true, "r3", &["r2"], Some("r3"), "r3", None, &[]),
            (
                "VIP master: every live peer, whoever served it",
                true,
                "r2",
                &[],
                None,
                "r1",
                Some(5),
                &["a@192.0.2.1:4000", "b@192.0.2.2:4000"],
            ),
            (
                "VIP master also when it served them itself (the book may lag)",
                true,
                "r1",
                &[],
                None,
                "r1",
                Some(5),
                &["a@192.0.2.1:4000", "b@192.0.2.2:4000"],
            ),
            (
                "VIP master, their router failed: taken over for that failure",
                true,
                "r2",
                &["r2"],
                None,
                "r1",
                Some(5),
                &["a@192.0.2.1:4000", "b@192.0.2.2:4000"],
            ),
        ];
        for (what, mode_a, serving, unhealthy, rehome, me, master, want) in cases {
            let (mut s, ids) = state(*mode_a);
            if master.is_some() {
                s.vips.insert(cn(), Vip::parse("192.0.2.100", None, 9, true).unwrap());
            }
            for (i, n) in ["a", "b", "c"].iter().enumerate() {
                seen(&mut s, &ids[n], serving, NOW - 10_000, &format!("192.0.2.{}:4000", i + 1));
            }
            for u in *unhealthy {
                s.nodes.get_mut(&nid(u)).unwrap().healthy = false;
            }
            if let Some(to) = rehome {
                for p in s.peers.values_mut() {
                    p.node_id = Some(nid(to));
                }
            }
            let masters: BTreeMap<ConfigName, Millis> = master.map(|m| (cn(), m)).into_iter().collect();
            let out = takeovers(&s, &nid(me), &masters, NOW);
            assert_eq!(names(&out, &ids), want.iter().map(|w| w.to_string()).collect::<Vec<_>>(), "{what}");
            for t in &out {
                let want_cause = match master {
                    Some(since) if unhealthy.is_empty() => Cause::Master { since: *since },
                    _ => Cause::Failed { node: nid(serving), handshake: NOW - 10_000 },
                };
                assert_eq!(t.cause, want_cause, "{what}");
            }
        }
    }

    #[test]
    fn with_a_floating_address_only_the_master_takes_over() {
        let (mut s, ids) = state(true);
        seen(&mut s, &ids["a"], "r2", NOW - 1_000, "192.0.2.1:4000");
        s.nodes.get_mut(&nid("r2")).unwrap().healthy = false;
        for p in s.peers.values_mut() {
            p.node_id = Some(nid("r3"));
        }
        assert_eq!(takeovers(&s, &nid("r3"), &BTreeMap::new(), NOW).len(), 1, "DNS mode: the new home");
        s.vips.insert(cn(), Vip::parse("192.0.2.100", None, 9, true).unwrap());
        assert!(takeovers(&s, &nid("r3"), &BTreeMap::new(), NOW).is_empty(), "VIP: the home is not the master");
        let masters = BTreeMap::from([(cn(), 7)]);
        let out = takeovers(&s, &nid("r1"), &masters, NOW);
        assert_eq!(names(&out, &ids), vec!["a@192.0.2.1:4000".to_string()]);
        assert_eq!(out[0].cause, Cause::Failed { node: nid("r2"), handshake: NOW - 1_000 }, "its router failed: that is the cause");
    }

    #[test]
    fn stale_sessions_and_unknown_endpoints_are_not_taken_over() {
        let (mut s, ids) = state(true);
        s.nodes.get_mut(&nid("r2")).unwrap().healthy = false;
        for p in s.peers.values_mut() {
            p.node_id = Some(nid("r3"));
        }
        // a: last handshake 181 s ago (no live session); b: live.
        seen(&mut s, &ids["a"], "r2", NOW - CONNECTED_MAX_AGE_MS - 1_000, "192.0.2.1:4000");
        seen(&mut s, &ids["b"], "r2", NOW - 1_000, "192.0.2.2:4000");
        let out = takeovers(&s, &nid("r3"), &BTreeMap::new(), NOW);
        assert_eq!(names(&out, &ids), vec!["b@192.0.2.2:4000".to_string()]);
    }

    fn takeover(key: Key, cause: Cause) -> Takeover {
        Takeover { config: cn(), peer: PeerId::random(), public_key: key, endpoint: "192.0.2.9:51820".parse().unwrap(), cause }
    }

    #[test]
    fn still_needed_table() {
        let device = |hs: Option<u64>| ActualInterface {
            listen_port: 51820,
            private_key: None,
            public_key: None,
            peers: vec![ActualPeer {
                public_key: [1; 32],
                preshared_key: None,
                allowed_ips: vec![],
                endpoint: None,
                persistent_keepalive: None,
                last_handshake: hs.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                rx_bytes: 0,
                tx_bytes: 0,
            }],
        };
        let failed = Cause::Failed { node: nid("r2"), handshake: 5_000 };
        let cases = [
            ("never handshook here", [1; 32], failed.clone(), None, true),
            ("older handshake here", [1; 32], failed.clone(), Some(4_000), true),
            ("client came here on its own", [1; 32], failed.clone(), Some(6_000), false),
            ("not carried", [2; 32], failed, None, false),
            ("master since 5 s, handshake before", [1; 32], Cause::Master { since: 5_000 }, Some(4_999), true),
            ("master since 5 s, handshake at", [1; 32], Cause::Master { since: 5_000 }, Some(5_000), false),
        ];
        for (what, key, cause, hs, want) in cases {
            assert_eq!(still_needed(&takeover(key, cause), &device(hs)), want, "{what}");
        }
    }

    #[test]
    fn plan_removes_adds_with_trigger_and_restores() {
        let net = |s: &str| s.parse().unwrap();
        let mut kept = PeerSpec::new([3; 32], vec![net("10.0.0.3/32")]);
        kept.persistent_keepalive = Some(10);
        let spec = InterfaceSpec {
            name: "wg0".into(),
            private_key: [7; 32],
            listen_port: 51820,
            addresses: vec![],
            mtu: None,
            peers: vec![PeerSpec::new([1; 32], vec![net("10.0.0.2/32")]), kept.clone()],
        };
        let cause = Cause::Master { since: 1 };
        let (a, gone, b) = (takeover([1; 32], cause.clone()), takeover([2; 32], cause.clone()), takeover([3; 32], cause));
        let plan = takeover_plan(&spec, &[&a, &gone, &b]);
        let mut trigger = spec.peers[0].clone();
        trigger.endpoint = Some(a.endpoint);
        trigger.persistent_keepalive = Some(TRIGGER_KEEPALIVE_S);
        let mut trigger_kept = kept.clone();
        trigger_kept.endpoint = Some(b.endpoint);
        assert_eq!(
            plan.peer_ops,
            vec![
                PeerOp::Remove([1; 32]),
                PeerOp::Add(trigger),
                PeerOp::Update(spec.peers[0].clone()),
                PeerOp::Remove([3; 32]),
                PeerOp::Add(trigger_kept),
                PeerOp::Update(kept),
            ]
        );
        assert!(plan.set_identity.is_none() && !plan.create_interface);
        // The UAPI request: the keepalive goes on in the add and off again in the update.
        let mut text = Vec::new();
        crate::wg::uapi::write_set_request(&mut text, &takeover_plan(&spec, &[&a])).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("public_key") && !l.starts_with("preshared")).collect();
        assert_eq!(
            lines,
            vec![
                "set=1",
                "remove=true",
                "endpoint=192.0.2.9:51820",
                "persistent_keepalive_interval=25",
                "allowed_ip=10.0.0.2/32",
                "update_only=true",
                "persistent_keepalive_interval=0",
                "replace_allowed_ips=true",
                "allowed_ip=10.0.0.2/32",
                "",
            ]
        );
        // The kernel request: the same three peer entries, keepalive 25 then 0.
        let req = crate::wg::kernel::KernelSetRequest::from_plan(&takeover_plan(&spec, &[&a]));
        let ka: Vec<Option<u16>> = req.peers.iter().map(|p| p.persistent_keepalive).collect();
        assert_eq!(ka, vec![None, Some(TRIGGER_KEEPALIVE_S), Some(0)]);
        assert_eq!(req.peers[1].endpoint, Some(a.endpoint));
    }
}
