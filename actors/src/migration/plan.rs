//! What the migration planner should do now, from the state alone. Pure.
//!
//! - A failed node (node or assignment unhealthy) that still homes peers of a config with
//!   automatic migration (Mode A: the group's `auto_migrate`; Mode B: the settings'
//!   `auto_migrate_independent`) gets `MigratePeers` to the least-loaded healthy nodes — or, when
//!   none exists, one `ReportMigrationBlocked` (the peers stay; never dropped).
//! - A drain completes when every destination of its moved peers has applied the drain's state
//!   version (make-before-break), or, in Mode A, when its TTL has passed.
//! - A node that comes back gets nothing back (no flapping); `Rebalance` is on request only.

use crate::model::{ConfigName, Millis, NodeId};
use crate::state::{Command, State};
use std::collections::{BTreeMap, BTreeSet};

/// What the planner knows about other routers: the state version each has applied to WireGuard.
pub type AppliedVersions = BTreeMap<NodeId, u64>;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    pub commands: Vec<Command>,
    /// (config, node) pairs reported as blocked by these commands.
    pub newly_blocked: Vec<(ConfigName, NodeId)>,
}

pub fn decide(state: &State, applied: &AppliedVersions, now: Millis, already_blocked: &BTreeSet<(ConfigName, NodeId)>) -> Decisions {
    let mut d = Decisions::default();
    for cn in state.config_nodes.values() {
        let Some(node) = state.nodes.get(&cn.node_id) else { continue };
        let failed = !node.healthy || !cn.is_healthy;
        if !failed {
            continue;
        }
        let homed = state.peers_of(&cn.config).filter(|p| p.node_id.as_ref() == Some(&cn.node_id)).count();
        if homed == 0 {
            continue;
        }
        let auto = match state.endpoint_groups.get(&cn.config) {
            Some(g) => g.auto_migrate,
            None => state.settings.auto_migrate_independent,
        };
        if !auto {
            continue;
        }
        if state.candidates(&cn.config, Some(&cn.node_id)).is_empty() {
            let key = (cn.config.clone(), cn.node_id.clone());
            if !already_blocked.contains(&key) {
                d.commands.push(Command::ReportMigrationBlocked {
                    config: cn.config.clone(),
                    node_id: cn.node_id.clone(),
                    reason: format!("no healthy, enabled node can take its {homed} peer(s); they stay where they are"),
                });
                d.newly_blocked.push(key);
            }
            continue;
        }
        d.commands.push(Command::MigratePeers { config: cn.config.clone(), from: cn.node_id.clone(), to: None });
    }
    for drain in state.drains.values() {
        let ready = match drain.until {
            Some(until) => now >= until,
            None => {
                let dests: BTreeSet<&NodeId> =
                    state.draining_peers(&drain.config, &drain.node_id).filter_map(|p| p.node_id.as_ref()).collect();
                dests.iter().all(|n| applied.get(*n).is_some_and(|v| *v >= drain.version))
            }
        };
        if ready {
            d.commands.push(Command::CompleteDrain { config: drain.config.clone(), node_id: drain.node_id.clone() });
        }
    }
    d
}

/// The assignments whose node or assignment is unhealthy: when this set changes (a health
/// verdict), the planner decides at once instead of at its next tick. Refused commands do not
/// change it, so this trigger cannot loop.
pub fn failed_assignments(state: &State) -> BTreeSet<(ConfigName, NodeId)> {
    state
        .config_nodes
        .values()
        .filter(|cn| !cn.is_healthy || state.nodes.get(&cn.node_id).is_none_or(|n| !n.healthy))
        .map(|cn| (cn.config.clone(), cn.node_id.clone()))
        .collect()
}

/// The state version each destination of a pending make-before-break drain must still apply:
/// node → the highest drain version it has not reached (Mode A TTL drains wait for time, not for
/// routers, and are not listed). The planner watches exactly these routers for their applied
/// version so a drain completes the moment the last one has applied, not a probe interval later.
pub fn awaited(state: &State, applied: &AppliedVersions) -> BTreeMap<NodeId, u64> {
    let mut out: BTreeMap<NodeId, u64> = BTreeMap::new();
    for drain in state.drains.values().filter(|d| d.until.is_none()) {
        for p in state.draining_peers(&drain.config, &drain.node_id) {
            let Some(n) = &p.node_id else { continue };
            if applied.get(n).is_some_and(|v| *v >= drain.version) {
                continue;
            }
            let v = out.entry(n.clone()).or_insert(drain.version);
            *v = (*v).max(drain.version);
        }
    }
    out
}

/// Which awaited routers to start watching now: those not watched already (`watching`: node →
/// the version its watch waits for), or watched for an older version than now awaited.
pub fn to_watch(awaited: &BTreeMap<NodeId, u64>, watching: &BTreeMap<NodeId, u64>) -> Vec<(NodeId, u64)> {
    awaited.iter().filter(|(n, v)| watching.get(*n).is_none_or(|w| w < *v)).map(|(n, v)| (n.clone(), *v)).collect()
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
    fn run(s: &mut State, cmd: Command) {
        s.apply(&Request { at: 1000, user: "t".into(), cmd, idempotency: None }).unwrap();
    }

    /// wg0 on r1, r2 (and r3 when `three`), 4 peers on r1.
    fn state(three: bool, mode_a: bool) -> State {
        let mut s = State::default();
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
                    name: cn("wg0"),
                    private_key: generate_keypair().0,
                    addresses: vec!["10.0.0.1/24".parse().unwrap()],
                    listen_port: 1,
                    mtu: None,
                    dns: vec![],
                    peer_allowed_ips: vec![],
                    peer_keepalive: None,
                    placement: Default::default(),
                },
            },
        );
        for n in ["r1", "r2"].iter().chain(three.then_some(&"r3")) {
            run(&mut s, Command::AssignNode { config: cn("wg0"), node_id: nid(n) });
        }
        let peers = (0..4)
            .map(|i| NewPeer {
                id: PeerId::random(),
                name: format!("p{i}"),
                public_key: generate_keypair().1,
                private_key: None,
                preshared_key: None,
                node_id: Some(nid("r1")),
                allowed_ips: None,
                keepalive: None,
                enabled: true,
                limits: Default::default(),
            })
            .collect();
        run(&mut s, Command::CreatePeers { config: cn("wg0"), peers });
        if mode_a {
            run(
                &mut s,
                Command::SetEndpointGroup {
                    group: EndpointGroupSpec {
                        config: cn("wg0"),
                        domain: "vpn.example.com".into(),
                        port: 1,
                        provider: DnsProviderKind::Cloudflare,
                        cloudflare_zone_id: None,
                        cloudflare_record_name: None,
                        ttl: 60,
                        auto_migrate: true,
                        publish_only_healthy: true,
                        min_nodes: 1,
                    },
                },
            );
        }
        s
    }

    fn fail(s: &mut State, n: &str) {
        run(s, Command::SetNodeHealth { node_id: nid(n), config: None, healthy: false, reason: "t".into() });
    }

    #[test]
    fn healthy_cluster_needs_nothing() {
        let s = state(true, false);
        assert_eq!(decide(&s, &AppliedVersions::new(), 0, &BTreeSet::new()), Decisions::default());
    }

    #[test]
    fn failed_node_migrates_then_drains_make_before_break() {
        let mut s = state(true, false);
        fail(&mut s, "r1");
        let d = decide(&s, &AppliedVersions::new(), 0, &BTreeSet::new());
        assert_eq!(d.commands, vec![Command::MigratePeers { config: cn("wg0"), from: nid("r1"), to: None }]);
        for c in d.commands {
            run(&mut s, c);
        }
        // Spread over r2 and r3, still draining from r1.
        let on = |s: &State, n: &str| s.peers.values().filter(|p| p.node_id == Some(nid(n))).count();
        assert_eq!((on(&s, "r2"), on(&s, "r3")), (2, 2));
        assert!(s.peers.values().all(|p| p.draining_from == Some(nid("r1"))));
        let v = s.drains[&(cn("wg0"), nid("r1"))].version;
        // Not complete until both destinations applied the move.
        let mut applied = AppliedVersions::new();
        applied.insert(nid("r2"), v);
        assert!(decide(&s, &applied, 0, &BTreeSet::new()).commands.is_empty());
        applied.insert(nid("r3"), v);
        let d = decide(&s, &applied, 0, &BTreeSet::new());
        assert_eq!(d.commands, vec![Command::CompleteDrain { config: cn("wg0"), node_id: nid("r1") }]);
    }

    #[test]
    fn the_planner_watches_exactly_the_destinations_still_behind() {
        let mut s = state(true, false);
        assert!(awaited(&s, &AppliedVersions::new()).is_empty(), "no drain, nothing to wait for");
        assert!(failed_assignments(&s).is_empty());
        fail(&mut s, "r1");
        assert_eq!(failed_assignments(&s), [(cn("wg0"), nid("r1"))].into());
        for c in decide(&s, &AppliedVersions::new(), 0, &BTreeSet::new()).commands {
            run(&mut s, c);
        }
        let v = s.drains[&(cn("wg0"), nid("r1"))].version;
        // (applied r2, applied r3) -> awaited
        type Case = (Option<u64>, Option<u64>, Vec<(&'static str, u64)>);
        let cases: Vec<Case> = vec![
            (None, None, vec![("r2", v), ("r3", v)]),
            (Some(v - 1), None, vec![("r2", v), ("r3", v)]),
            (Some(v), None, vec![("r3", v)]),
            (Some(v + 5), Some(v), vec![]),
        ];
        for (a2, a3, want) in cases {
            let mut applied = AppliedVersions::new();
            a2.map(|x| applied.insert(nid("r2"), x));
            a3.map(|x| applied.insert(nid("r3"), x));
            let got = awaited(&s, &applied);
            let want: BTreeMap<NodeId, u64> = want.into_iter().map(|(n, v)| (nid(n), v)).collect();
            assert_eq!(got, want, "r2 {a2:?} r3 {a3:?}");
        }
        // Watches: new ones, and ones for an older version; never two for the same wait.
        let awaited: BTreeMap<NodeId, u64> = [(nid("r2"), 10), (nid("r3"), 12)].into();
        let watching: BTreeMap<NodeId, u64> = [(nid("r2"), 10), (nid("r3"), 11), (nid("r9"), 3)].into();
        assert_eq!(to_watch(&awaited, &watching), vec![(nid("r3"), 12)]);
        assert_eq!(to_watch(&awaited, &BTreeMap::new()), vec![(nid("r2"), 10), (nid("r3"), 12)]);
        // A Mode A drain waits for its TTL, not for routers.
        let mut a = state(false, true);
        run(&mut a, Command::RemoveNode { config: cn("wg0"), node_id: nid("r1"), backup_interface: None, backup_note: String::new() });
        assert!(super::awaited(&a, &AppliedVersions::new()).is_empty());
    }

    #[test]
    fn no_destination_is_reported_once_and_peers_stay() {
        let mut s = state(false, false);
        fail(&mut s, "r1");
        fail(&mut s, "r2");
        let d = decide(&s, &AppliedVersions::new(), 0, &BTreeSet::new());
        assert_eq!(d.commands.len(), 1);
        assert!(matches!(d.commands[0], Command::ReportMigrationBlocked { .. }));
        let blocked: BTreeSet<_> = d.newly_blocked.into_iter().collect();
        assert!(decide(&s, &AppliedVersions::new(), 0, &blocked).commands.is_empty());
    }

    #[test]
    fn mode_a_removal_drains_until_ttl() {
        let mut s = state(false, true);
        run(&mut s, Command::RemoveNode { config: cn("wg0"), node_id: nid("r1"), backup_interface: None, backup_note: String::new() });
        let until = s.drains[&(cn("wg0"), nid("r1"))].until.unwrap();
        assert_eq!(until, 1000 + 60_000);
        assert!(decide(&s, &AppliedVersions::new(), until - 1, &BTreeSet::new()).commands.is_empty());
        assert_eq!(decide(&s, &AppliedVersions::new(), until, &BTreeSet::new()).commands.len(), 1);
    }

    #[test]
    fn auto_migrate_off_leaves_peers() {
        let mut s = state(true, false);
        s.settings.auto_migrate_independent = false;
        fail(&mut s, "r1");
        assert!(decide(&s, &AppliedVersions::new(), 0, &BTreeSet::new()).commands.is_empty());
    }

    #[test]
    fn rebalance_evens_out_make_before_break() {
        let mut s = state(true, false);
        let out = s.apply(&Request { at: 1, user: "t".into(), cmd: Command::Rebalance { config: cn("wg0") }, idempotency: None }).unwrap();
        assert_eq!(out, Outcome::Rebalanced { moved: 2 });
        let on = |n: &str| s.peers.values().filter(|p| p.node_id == Some(nid(n))).count();
        assert_eq!((on("r1"), on("r2"), on("r3")), (2, 1, 1));
        assert_eq!(s.peers.values().filter(|p| p.draining_from.is_some()).count(), 2);
    }
}
