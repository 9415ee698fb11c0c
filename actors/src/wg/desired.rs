//! What this router's WireGuard should look like, from the replicated state. Pure.
//!
//! Mode A (the config has an endpoint group): every node of the config carries every enabled
//! peer. Mode B: a node carries the enabled peers assigned to it, plus those draining away from it
//! (make-before-break). Disabled peers are carried nowhere (their handshakes fail).

use super::spec::{InterfaceSpec, PeerSpec};
use crate::model::{Config, ConfigName, NodeId, Peer, PeerId};
use crate::state::journal::{Change, Cursor};
use crate::state::State;
use std::collections::{BTreeMap, HashMap};

fn peer_spec(p: &Peer) -> PeerSpec {
    PeerSpec {
        public_key: p.public_key.0,
        preshared_key: p.preshared_key.map(|k| k.0),
        // Server side: the peer may send from its tunnel addresses.
        allowed_ips: p.addresses.clone(),
        endpoint: None,
        persistent_keepalive: None,
    }
}

fn carries(mode_a: bool, p: &Peer, node: &NodeId) -> bool {
    p.enabled && (mode_a || p.node_id.as_ref() == Some(node) || p.draining_from.as_ref() == Some(node))
}

pub fn interface_for(state: &State, config: &Config, node: &NodeId) -> InterfaceSpec {
    let mode_a = state.endpoint_groups.contains_key(&config.name);
    let mut peers: Vec<PeerSpec> = state.peers_of(&config.name).filter(|p| carries(mode_a, p, node)).map(peer_spec).collect();
    peers.sort_by_key(|p| p.public_key);
    InterfaceSpec {
        name: config.name.to_string(),
        private_key: config.private_key.0,
        listen_port: config.listen_port,
        addresses: config.addresses.clone(),
        mtu: config.mtu.map(u32::from),
        peers,
    }
}

/// Every interface `node` should run: its assigned configs, plus configs it is being drained
/// from (the interface stays until the panel completes the drain).
pub fn desired_interfaces(state: &State, node: &NodeId) -> Vec<InterfaceSpec> {
    let assigned = state.config_nodes.values().filter(|cn| &cn.node_id == node).map(|cn| &cn.config);
    let draining = state.drains.values().filter(|d| &d.node_id == node).map(|d| &d.config);
    let names: std::collections::BTreeSet<_> = assigned.chain(draining).collect();
    names.into_iter().filter_map(|c| state.configs.get(c)).map(|c| interface_for(state, c, node)).collect()
}

/// `desired_interfaces`, kept current from the state's change journal: a command that changed k
/// peers costs O(k log n) (a binary search and an insert or removal in each interface's sorted
/// peer list), not a rebuild of every peer (issue #13). Anything the journal calls `All`, a new
/// state (snapshot installed) or a gap in the journal rebuilds. Equal to `desired_interfaces`
/// after every command (checked by the `commands` fuzz target and the unit tests).
#[derive(Debug, Default)]
pub struct DesiredCache {
    cursor: Option<Cursor>,
    ifaces: BTreeMap<ConfigName, InterfaceSpec>,
    /// The public key each carried peer has in the spec (a deleted peer is gone from the state).
    keys: HashMap<ConfigName, HashMap<PeerId, [u8; 32]>>,
}

impl DesiredCache {
    /// Brings the cache up to `state` for `node`.
    pub fn update(&mut self, state: &State, node: &NodeId) {
        let patched = match (self.cursor, state.journal.since(self.cursor.unwrap_or_default())) {
            (Some(_), Some(changes)) => {
                let mut ok = true;
                for c in changes {
                    match c {
                        Change::All => {
                            ok = false;
                            break;
                        }
                        Change::Peers { config, ids } => self.patch(state, node, config, ids),
                    }
                }
                ok
            }
            _ => false,
        };
        if !patched {
            self.rebuild(state, node);
        }
        self.cursor = Some(state.journal.cursor());
    }

    fn rebuild(&mut self, state: &State, node: &NodeId) {
        self.ifaces.clear();
        self.keys.clear();
        for spec in desired_interfaces(state, node) {
            let Some(name) = state.configs.keys().find(|c| c.as_str() == spec.name).cloned() else { continue };
            let mode_a = state.endpoint_groups.contains_key(&name);
            let keys = state.peers_of(&name).filter(|p| carries(mode_a, p, node)).map(|p| (p.id.clone(), p.public_key.0)).collect();
            self.keys.insert(name.clone(), keys);
            self.ifaces.insert(name, spec);
        }
    }

    fn patch(&mut self, state: &State, node: &NodeId, config: &ConfigName, ids: &[PeerId]) {
        let (Some(spec), Some(keys)) = (self.ifaces.get_mut(config), self.keys.get_mut(config)) else {
            return; // not an interface of this router
        };
        let mode_a = state.endpoint_groups.contains_key(config);
        for id in ids {
            if let Some(old) = keys.remove(id) {
                if let Ok(i) = spec.peers.binary_search_by_key(&old, |p| p.public_key) {
                    spec.peers.remove(i);
                }
            }
            let Some(p) = state.peers.get(id).filter(|p| &p.config == config && carries(mode_a, p, node)) else { continue };
            let new = peer_spec(p);
            match spec.peers.binary_search_by_key(&new.public_key, |x| x.public_key) {
                Ok(i) => spec.peers[i] = new,
                Err(i) => spec.peers.insert(i, new),
            }
            keys.insert(id.clone(), p.public_key.0);
        }
    }

    /// The desired interface of `config`, if this router runs it.
    pub fn get(&self, config: &ConfigName) -> Option<&InterfaceSpec> {
        self.ifaces.get(config)
    }

    /// Every desired interface (as `desired_interfaces` returns them).
    pub fn specs(&self) -> Vec<InterfaceSpec> {
        self.ifaces.values().cloned().collect()
    }
}

/// An endpoint group that puts `config` in Mode A (for the benchmark state and the tests).
#[doc(hidden)]
pub fn mode_a_group(config: ConfigName) -> crate::state::EndpointGroupSpec {
    crate::state::EndpointGroupSpec {
        config,
        domain: "vpn.example.com".into(),
        port: 51820,
        provider: crate::model::DnsProviderKind::Cloudflare,
        cloudflare_zone_id: None,
        cloudflare_record_name: None,
        ttl: 60,
        auto_migrate: true,
        publish_only_healthy: true,
        min_nodes: 1,
    }
}

/// For the scale benchmark: a Mode A config `wg0` on `r1` with `n` peers; returns the state, the
/// config and the node.
#[doc(hidden)]
pub fn bench_state(n: usize) -> (State, ConfigName, NodeId) {
    use crate::model::*;
    use crate::state::*;
    let mut s = State::default();
    let node = NodeId::parse("n", "r1").expect("valid");
    let config = ConfigName::parse("c", "wg0").expect("valid");
    let mut run = |cmd| s.apply(&Request { at: 1, user: "bench".into(), cmd, idempotency: None }).map(|_| ()).expect("bench command");
    let spec = NodeSpec { id: node.clone(), name: None, endpoint: None, cluster_addr: None, witness: false };
    run(Command::Bootstrap { token: ApiToken { name: "a".into(), sha256: [0; 32], created_at: 0 }, node: spec, ca: None, serial: 0 });
    run(Command::CreateConfig {
        config: NewConfig {
            name: config.clone(),
            private_key: generate_keypair().0,
            addresses: vec!["10.64.0.1/14".parse().expect("net")],
            listen_port: 51820,
            mtu: None,
            dns: vec![],
            peer_allowed_ips: vec![],
            peer_keepalive: None,
            placement: Default::default(),
        },
    });
    run(Command::AssignNode { config: config.clone(), node_id: node.clone() });
    run(Command::SetEndpointGroup { group: mode_a_group(config.clone()) });
    let peers = (0..n)
        .map(|i| NewPeer {
            id: PeerId::random(),
            name: format!("p{i}"),
            public_key: generate_keypair().1,
            private_key: None,
            preshared_key: Some(random_key()),
            node_id: None,
            allowed_ips: None,
            keepalive: None,
            enabled: true,
            limits: Default::default(),
        })
        .collect();
    run(Command::CreatePeers { config: config.clone(), peers });
    (s, config, node)
}

/// For the scale benchmark: the `i`-th one-peer change (a peer disabled, or enabled again).
#[doc(hidden)]
pub fn bench_touch(s: &mut State, config: &ConfigName, i: usize) {
    use crate::state::*;
    let Some(p) = s.peers_of(config).nth(i % 97) else { return };
    let (id, enabled) = (p.id.clone(), p.enabled);
    let patch = PeerPatch { name: None, allowed_ips: None, keepalive: None, enabled: Some(!enabled), node_id: None, ..Default::default() };
    let _ = s.apply(&Request {
        at: 2,
        user: "bench".into(),
        cmd: Command::UpdatePeer { config: config.clone(), id, patch },
        idempotency: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::state::*;

    fn nid(s: &str) -> NodeId {
        NodeId::parse("n", s).unwrap()
    }
    fn cn(s: &str) -> ConfigName {
        ConfigName::parse("c", s).unwrap()
    }

    fn state(mode_a: bool) -> (State, Vec<PeerId>) {
        let mut s = State::default();
        let mut run = |cmd| s.apply(&Request { at: 1, user: "t".into(), cmd, idempotency: None }).unwrap();
        let spec = |id: &str| NodeSpec { id: nid(id), name: None, endpoint: None, cluster_addr: None, witness: false };
        run(Command::Bootstrap {
            token: ApiToken { name: "a".into(), sha256: [0; 32], created_at: 0 },
            node: spec("r1"),
            ca: None,
            serial: 0,
        });
        run(Command::CreateNode { node: spec("r2"), weight: 1 });
        run(Command::CreateConfig {
            config: NewConfig {
                name: cn("wg0"),
                private_key: generate_keypair().0,
                addresses: vec!["10.0.0.1/24".parse().unwrap()],
                listen_port: 51820,
                mtu: Some(1420),
                dns: vec![],
                peer_allowed_ips: vec![],
                peer_keepalive: None,
                placement: Default::default(),
            },
        });
        run(Command::AssignNode { config: cn("wg0"), node_id: nid("r1") });
        run(Command::AssignNode { config: cn("wg0"), node_id: nid("r2") });
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
        let peers = vec![mk("a", "r1", true), mk("b", "r2", true), mk("c", "r1", false)];
        let ids = peers.iter().map(|p| p.id.clone()).collect();
        run(Command::CreatePeers { config: cn("wg0"), peers });
        if mode_a {
            run(Command::SetEndpointGroup { group: super::mode_a_group(cn("wg0")) });
        }
        (s, ids)
    }

    #[test]
    fn a_removed_node_keeps_its_interface_while_draining() {
        let (mut s, ids) = state(false);
        let b_id = ids[1].clone();
        s.apply(&Request {
            at: 2,
            user: "t".into(),
            cmd: Command::RemoveNode { config: cn("wg0"), node_id: nid("r2"), backup_interface: None, backup_note: String::new() },
            idempotency: None,
        })
        .unwrap();
        let on_r2 = desired_interfaces(&s, &nid("r2"));
        assert_eq!(on_r2.len(), 1, "draining interface kept");
        assert_eq!(on_r2[0].peers.len(), 1);
        assert_eq!(s.peers[&b_id].node_id, Some(nid("r1")));
        let on_r1 = desired_interfaces(&s, &nid("r1"));
        assert_eq!(on_r1[0].peers.len(), 2, "destination already carries the moved peer");
        s.apply(&Request {
            at: 3,
            user: "t".into(),
            cmd: Command::CompleteDrain { config: cn("wg0"), node_id: nid("r2") },
            idempotency: None,
        })
        .unwrap();
        assert!(desired_interfaces(&s, &nid("r2")).is_empty());
        assert_eq!(s.peers[&b_id].draining_from, None);
    }

    #[test]
    fn table() {
        // (mode A?, node, draining peer b from r1?, expected peer names carried)
        let cases: &[(bool, &str, bool, &[&str])] = &[
            (false, "r1", false, &["a"]),
            (false, "r2", false, &["b"]),
            (false, "r1", true, &["a", "b"]),
            (true, "r1", false, &["a", "b"]),
            (true, "r2", false, &["a", "b"]),
            (false, "r3", false, &[]),
        ];
        for (mode_a, node, draining, want) in cases {
            let (mut s, ids) = state(*mode_a);
            if *draining {
                s.peers.get_mut(&ids[1]).unwrap().draining_from = Some(nid("r1"));
            }
            let ifaces = desired_interfaces(&s, &nid(node));
            let carried: Vec<&str> = ifaces
                .iter()
                .flat_map(|i| i.peers.iter())
                .map(|ps| s.peers.values().find(|p| p.public_key.0 == ps.public_key).unwrap().name.as_str())
                .collect();
            let mut carried = carried;
            carried.sort();
            assert_eq!(&carried, want, "mode_a={mode_a} node={node} draining={draining}");
            if *node != "r3" {
                assert_eq!(ifaces.len(), 1);
                assert_eq!(ifaces[0].listen_port, 51820);
                assert_eq!(ifaces[0].mtu, Some(1420));
            } else {
                assert!(ifaces.is_empty());
            }
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::state::{Command, PeerPatch, Request};

    /// One-peer changes patch the cache; it always equals the rebuild, and a Mode switch (an
    /// `All` entry) or a new state object rebuilds.
    #[test]
    fn cache_follows_one_peer_changes() {
        let (mut s, config, node) = bench_state(300);
        let mut cache = DesiredCache::default();
        cache.update(&s, &node);
        assert_eq!(cache.specs(), desired_interfaces(&s, &node));
        assert_eq!(cache.get(&config).map(|i| i.peers.len()), Some(300));
        for i in 0..40 {
            bench_touch(&mut s, &config, i);
            cache.update(&s, &node);
            assert_eq!(cache.specs(), desired_interfaces(&s, &node), "after touch {i}");
        }
        let victim = s.peers_of(&config).nth(5).map(|p| p.id.clone()).expect("peer");
        let run = |s: &mut State, cmd| s.apply(&Request { at: 3, user: "t".into(), cmd, idempotency: None }).expect("command");
        run(&mut s, Command::DeletePeer { config: config.clone(), id: victim.clone() });
        cache.update(&s, &node);
        assert_eq!(cache.specs(), desired_interfaces(&s, &node), "after a delete");
        run(&mut s, Command::DeleteEndpointGroup { config: config.clone() });
        cache.update(&s, &node);
        assert_eq!(cache.specs(), desired_interfaces(&s, &node), "Mode B now: node r1 carries the peers homed on it");
        let patch =
            PeerPatch { name: Some("x".into()), allowed_ips: None, keepalive: None, enabled: None, node_id: None, ..Default::default() };
        let other = s.peers_of(&config).nth(7).map(|p| p.id.clone()).expect("peer");
        run(&mut s, Command::UpdatePeer { config: config.clone(), id: other, patch });
        cache.update(&s, &node);
        assert_eq!(cache.specs(), desired_interfaces(&s, &node));
        // A state decoded from a snapshot is a new journal epoch: rebuilt, still equal.
        let bytes = postcard::to_allocvec(&s).expect("encode");
        let loaded: State = postcard::from_bytes(&bytes).expect("decode");
        cache.update(&loaded, &node);
        assert_eq!(cache.specs(), desired_interfaces(&loaded, &node));
    }
}
