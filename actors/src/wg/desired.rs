//! What this router's WireGuard should look like, from the replicated state. Pure.
//!
//! Mode A (the config has an endpoint group): every node of the config carries every enabled
//! peer. Mode B: a node carries the enabled peers assigned to it, plus those draining away from it
//! (make-before-break). Disabled peers are carried nowhere (their handshakes fail).

use super::spec::{InterfaceSpec, PeerSpec};
use crate::model::{Config, NodeId, Peer};
use crate::state::State;

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
        };
        let peers = vec![mk("a", "r1", true), mk("b", "r2", true), mk("c", "r1", false)];
        let ids = peers.iter().map(|p| p.id.clone()).collect();
        run(Command::CreatePeers { config: cn("wg0"), peers });
        if mode_a {
            run(Command::SetEndpointGroup {
                group: EndpointGroupSpec {
                    config: cn("wg0"),
                    domain: "vpn.example.com".into(),
                    port: 51820,
                    provider: DnsProviderKind::Cloudflare,
                    cloudflare_zone_id: None,
                    cloudflare_record_name: None,
                    ttl: 60,
                    auto_migrate: true,
                    publish_only_healthy: true,
                    min_nodes: 1,
                },
            });
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
