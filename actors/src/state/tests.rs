//! Table-driven tests of `State::apply`: each case runs one command against a fixture state and
//! checks the verdict; every refused command must leave the state exactly as it was.

use super::*;

fn cn(s: &str) -> ConfigName {
    ConfigName::parse("c", s).unwrap()
}
fn nid(s: &str) -> NodeId {
    NodeId::parse("n", s).unwrap()
}
fn req(cmd: Command) -> Request {
    Request { at: 1000, user: "admin".into(), cmd, idempotency: None }
}
fn spec(id: &str) -> NodeSpec {
    NodeSpec { id: nid(id), name: None, endpoint: Some("192.0.2.1".into()), cluster_addr: None, witness: false }
}
fn new_config(name: &str, addr: &str, port: u16) -> Command {
    Command::CreateConfig {
        config: NewConfig {
            name: cn(name),
            private_key: generate_keypair().0,
            addresses: vec![addr.parse().unwrap()],
            listen_port: port,
            mtu: None,
            dns: vec![],
            peer_allowed_ips: vec!["0.0.0.0/0".parse().unwrap()],
            peer_keepalive: Some(25),
            placement: Default::default(),
        },
    }
}
fn new_peer(name: &str, node: Option<&str>) -> NewPeer {
    NewPeer {
        id: PeerId::random(),
        name: name.into(),
        public_key: generate_keypair().1,
        private_key: None,
        preshared_key: None,
        node_id: node.map(nid),
        allowed_ips: None,
        keepalive: None,
        enabled: true,
        limits: Default::default(),
    }
}

/// wg0 (10.0.0.1/29: five peer addresses) on node1 and node2 (node3 unassigned), 2 peers on node1.
fn fixture() -> State {
    let mut s = State::default();
    let token = ApiToken { name: "admin".into(), sha256: [7; 32], created_at: 0 };
    let cmds = vec![
        Command::Bootstrap { token, node: spec("node1"), ca: None, serial: 0 },
        Command::CreateNode { node: spec("node2"), weight: 1 },
        Command::CreateNode { node: spec("node3"), weight: 1 },
        new_config("wg0", "10.0.0.1/29", 51820),
        Command::AssignNode { config: cn("wg0"), node_id: nid("node1") },
        Command::AssignNode { config: cn("wg0"), node_id: nid("node2") },
        Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("a", Some("node1")), new_peer("b", Some("node1"))] },
    ];
    for c in cmds {
        s.apply(&req(c)).unwrap();
    }
    s
}

#[test]
#[allow(clippy::type_complexity)] // the case table
fn refused_commands_change_nothing() {
    let base = fixture();
    let existing_key = base.peers.values().next().unwrap().public_key;
    let mut dup = new_peer("dup", None);
    dup.public_key = existing_key;
    let cases: Vec<(&str, Command, fn(&CommandError) -> bool)> = vec![
        ("duplicate config", new_config("wg0", "10.1.0.1/24", 1), |e| matches!(e, CommandError::Conflict(_))),
        ("overlapping cidr", new_config("wg1", "10.0.0.5/24", 1), |e| matches!(e, CommandError::Invalid { .. })),
        ("port taken", new_config("wg1", "10.9.0.1/24", 51820), |e| matches!(e, CommandError::Conflict(_))),
        ("unknown config", Command::AssignNode { config: cn("nope"), node_id: nid("node1") }, |e| {
            matches!(e, CommandError::NotFound { .. })
        }),
        ("unknown node", Command::AssignNode { config: cn("wg0"), node_id: nid("ghost") }, |e| matches!(e, CommandError::NotFound { .. })),
        ("duplicate assignment", Command::AssignNode { config: cn("wg0"), node_id: nid("node1") }, |e| {
            matches!(e, CommandError::Conflict(_))
        }),
        ("duplicate public key", Command::CreatePeers { config: cn("wg0"), peers: vec![dup] }, |e| matches!(e, CommandError::Conflict(_))),
        (
            "pool exhausted (all or nothing)",
            Command::CreatePeers { config: cn("wg0"), peers: (0..4).map(|i| new_peer(&format!("p{i}"), None)).collect() },
            |e| matches!(e, CommandError::PoolExhausted(_)),
        ),
        ("pinned to unassigned node", Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("x", Some("node3"))] }, |e| {
            matches!(e, CommandError::Conflict(_))
        }),
        ("delete node in use", Command::DeleteNode { id: nid("node1") }, |e| matches!(e, CommandError::Conflict(_))),
        ("delete config in use", Command::DeleteConfig { name: cn("wg0"), force: false }, |e| matches!(e, CommandError::Conflict(_))),
        ("migrate to unassigned", Command::MigratePeers { config: cn("wg0"), from: nid("node1"), to: Some(nid("node3")) }, |e| {
            matches!(e, CommandError::Conflict(_))
        }),
        (
            "bootstrap twice",
            Command::Bootstrap {
                token: ApiToken { name: "x".into(), sha256: [1; 32], created_at: 0 },
                node: spec("n9"),
                ca: None,
                serial: 0,
            },
            |e| matches!(e, CommandError::Conflict(_)),
        ),
        ("zero weight", Command::UpdateNode { id: nid("node2"), patch: NodePatch { weight: Some(0), ..Default::default() } }, |e| {
            matches!(e, CommandError::Invalid { .. })
        }),
        // Names are checked in apply too (commands may come from another router).
        (
            "peer name with a newline",
            Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("x\nPostUp = id", None)] },
            |e| matches!(e, CommandError::Invalid { field, .. } if field == "name"),
        ),
        (
            "bulk peer name with bidi",
            Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("ok", None), new_peer("a\u{202e}b", None)] },
            |e| matches!(e, CommandError::Invalid { field, .. } if field == "[1].name"),
        ),
        (
            "peer rename to empty",
            Command::UpdatePeer {
                config: cn("wg0"),
                id: base.peers.keys().next().unwrap().clone(),
                patch: PeerPatch { name: Some(" ".into()), ..Default::default() },
            },
            |e| matches!(e, CommandError::Invalid { .. }),
        ),
        (
            "node name with NUL",
            Command::UpdateNode { id: nid("node2"), patch: NodePatch { name: Some("a\0b".into()), ..Default::default() } },
            |e| matches!(e, CommandError::Invalid { .. }),
        ),
        ("node name too long", Command::CreateNode { node: NodeSpec { name: Some("x".repeat(65)), ..spec("node9") }, weight: 1 }, |e| {
            matches!(e, CommandError::Invalid { .. })
        }),
        (
            "secret read of an unknown peer",
            Command::RecordSecretRead { config: cn("wg0"), peer: Some(PeerId::random()), via: "download:conf".into() },
            |e| matches!(e, CommandError::NotFound { .. }),
        ),
        (
            "interface key read of an unknown config",
            Command::RecordSecretRead { config: cn("nope"), peer: None, via: "agent:include_private".into() },
            |e| matches!(e, CommandError::NotFound { .. }),
        ),
    ];
    for (name, cmd, want) in cases {
        let mut s = base.clone();
        let err = s.apply(&req(cmd)).expect_err(name);
        assert!(want(&err), "{name}: {err:?}");
        let mut expected = base.clone();
        expected.version += 1; // the command was applied (and refused): only the version moves
        assert_eq!(s, expected, "{name} changed the state");
    }
}

#[test]
fn removing_a_node_migrates_its_peers_and_audits() {
    let mut s = fixture();
    let audit_before = s.audit.len();
    let out = s
        .apply(&req(Command::RemoveNode {
            config: cn("wg0"),
            node_id: nid("node1"),
            backup_interface: None,
            backup_note: "skipped".into(),
        }))
        .unwrap();
    assert_eq!(out, Outcome::NodeRemoved { peers_migrated: 2, backup_id: 1 });
    assert!(s.peers.values().all(|p| p.node_id == Some(nid("node2"))));
    assert!(!s.is_assigned(&cn("wg0"), &nid("node1")));
    let actions: Vec<&str> = s.audit.iter().skip(audit_before).map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["backup_created", "peer_migrated", "node_removed"]);
    // The last node cannot go while it holds peers.
    let before = s.clone();
    let err = s
        .apply(&req(Command::RemoveNode { config: cn("wg0"), node_id: nid("node2"), backup_interface: None, backup_note: String::new() }))
        .unwrap_err();
    assert!(matches!(err, CommandError::Conflict(_)), "{err:?}");
    let mut expected = before;
    expected.version += 1;
    assert_eq!(s, expected);
}

#[test]
fn placement_and_addresses() {
    let mut s = fixture();
    // node2 has 0 peers, node1 has 2: the next two go to node2, then alternate.
    s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("c", None), new_peer("d", None)] })).unwrap();
    let on2 = s.peers.values().filter(|p| p.node_id == Some(nid("node2"))).count();
    assert_eq!(on2, 2);
    let mut addrs: Vec<_> = s.peers.values().flat_map(|p| p.addresses.clone()).collect();
    let n = addrs.len();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), n, "duplicate address");
    // Freed on delete, reused after.
    let victim = s.peers.values().next().unwrap().clone();
    s.apply(&req(Command::DeletePeer { config: cn("wg0"), id: victim.id.clone() })).unwrap();
    s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("e", None)] })).unwrap();
    assert!(s.peers.values().any(|p| p.addresses == victim.addresses));
}

#[test]
fn health_and_dns_reports_are_audited_once() {
    let mut s = fixture();
    let set = |h| Command::SetNodeHealth { node_id: nid("node2"), config: None, healthy: h, reason: "probe".into() };
    assert_eq!(s.apply(&req(set(false))).unwrap(), Outcome::Done);
    assert_eq!(s.apply(&req(set(false))).unwrap(), Outcome::Unchanged);
    assert_eq!(s.audit.iter().filter(|e| e.action == "node_health_changed").count(), 1);
    // An unhealthy node takes no new peers.
    s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("z", None)] })).unwrap();
    assert!(s.peers.values().all(|p| p.node_id == Some(nid("node1"))));
    // DNS settings: secrets never in the audit entry.
    let cf = CloudflareSettings { api_token: "sekrit-token".into(), api_base: "http://127.0.0.1:1".into() };
    s.apply(&req(Command::SetDnsSettings { cloudflare: Some(cf), rfc2136: None, reconcile_interval_s: None })).unwrap();
    assert!(s.audit.iter().all(|e| !e.details.contains("sekrit-token")));
}

#[test]
fn audit_retention_is_bounded() {
    let mut s = fixture();
    for i in 0..(AUDIT_RETENTION + 10) {
        let patch = NodePatch { name: Some(format!("n{i}")), ..Default::default() };
        s.apply(&req(Command::UpdateNode { id: nid("node3"), patch })).unwrap();
    }
    assert_eq!(s.audit.len(), AUDIT_RETENTION);
    assert!(s.audit.front().unwrap().id > 10);
}

#[test]
fn join_tokens_are_single_use_and_expire() {
    let mut s = fixture();
    s.apply(&Request {
        at: 1000,
        user: "admin".into(),
        cmd: Command::IssueJoinToken { sha256: "h1".into(), expires_at: 5000 },
        idempotency: None,
    })
    .unwrap();
    s.apply(&Request {
        at: 1000,
        user: "admin".into(),
        cmd: Command::IssueJoinToken { sha256: "h2".into(), expires_at: 2000 },
        idempotency: None,
    })
    .unwrap();
    let admit = |h: &str, id: &str, serial, at| Request {
        at,
        user: "admin".into(),
        cmd: Command::AdmitNode { token_sha256: h.into(), node: spec(id), serial },
        idempotency: None,
    };
    assert!(s.apply(&admit("h1", "r2", 10, 1500)).is_ok());
    assert!(s.cert_allowed("r2", 10));
    assert!(matches!(s.apply(&admit("h1", "r3", 11, 1500)), Err(CommandError::Conflict(_))), "reused");
    assert!(matches!(s.apply(&admit("h2", "r3", 11, 2500)), Err(CommandError::Conflict(_))), "expired");
    assert!(matches!(s.apply(&admit("nope", "r3", 11, 1500)), Err(CommandError::Conflict(_))), "unknown");
    // The cluster listener's deny-list: known and good passes, another router's serial or a
    // revoked one is refused, a serial this state has not seen yet passes (a fresh joiner).
    for (node, serial, refused) in [("r2", 10, false), ("r3", 10, true), ("r2", 99, false)] {
        assert_eq!(s.cert_refused(node, serial), refused, "{node} serial {serial} before revocation");
    }
    s.apply(&req(Command::RevokeMember { node_id: nid("r2") })).unwrap();
    assert!(!s.cert_allowed("r2", 10));
    assert!(s.cert_refused("r2", 10), "a revoked certificate must be refused");
}

#[test]
fn secret_reads_are_audited_without_the_key() {
    let mut s = fixture();
    let (private, public) = generate_keypair();
    let mut p = new_peer("phone", Some("node1"));
    p.public_key = public;
    p.private_key = Some(private);
    let id = p.id.clone();
    s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![p] })).unwrap();
    let before = s.peers.clone();
    let out = s.apply(&req(Command::RecordSecretRead { config: cn("wg0"), peer: Some(id.clone()), via: "download:qr".into() })).unwrap();
    assert_eq!(out, Outcome::Done);
    assert_eq!(s.peers, before, "a read changes no peer");
    let e = s.audit.back().unwrap();
    assert_eq!((e.action.as_str(), e.entity_id.as_str(), e.user.as_str()), ("peer_private_key_read", id.as_str(), "admin"));
    assert!(e.details.contains("phone") && e.details.contains("download:qr"), "{}", e.details);
    assert!(!e.details.contains(&private.to_base64()), "{}", e.details);
    // The interface's own key (agent read with include_private) is audited on the config.
    let out = s.apply(&req(Command::RecordSecretRead { config: cn("wg0"), peer: None, via: "agent:include_private".into() })).unwrap();
    assert_eq!(out, Outcome::Done);
    let e = s.audit.back().unwrap();
    assert_eq!((e.action.as_str(), e.entity_type.as_str(), e.entity_id.as_str()), ("config_private_key_read", "config", "wg0"));
}

#[test]
fn idempotent_writes_apply_once() {
    let mut s = fixture();
    let idem = |fp: u8| Some(Idempotency { key: "bulk-1".into(), fingerprint: [fp; 32] });
    let bulk = || Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("c", None), new_peer("d", None)] };
    let first = s.apply(&Request { idempotency: idem(1), ..req(bulk()) }).unwrap();
    let Outcome::PeersCreated { ids } = &first else { panic!("{first:?}") };
    let peers = s.peers.len();
    let audit = s.audit.len();
    // The retry carries new random ids and keys (made at the edge again): it applies nothing and
    // answers with the first outcome — on any router, since the record is replicated state.
    let again = s.apply(&Request { idempotency: idem(1), ..req(bulk()) }).unwrap();
    assert_eq!(again, Outcome::Replayed(Box::new(first.clone())));
    assert_eq!(again.unwrap_replay(), (first.clone(), true));
    assert_eq!((s.peers.len(), s.audit.len()), (peers, audit), "a repeat changed the state");
    assert!(ids.iter().all(|id| s.peers.contains_key(id)));
    // The same key for another request: refused, nothing changes.
    let before = s.clone();
    let e = s.apply(&Request { idempotency: idem(2), ..req(bulk()) }).unwrap_err();
    assert!(matches!(&e, CommandError::Conflict(m) if m.contains("Idempotency-Key 'bulk-1'")), "{e}");
    let mut expected = before;
    expected.version += 1;
    assert_eq!(s, expected);
    // Another user's key of the same name is theirs.
    let one = Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("e", None)] };
    let other = s.apply(&Request { idempotency: idem(1), user: "ops".into(), ..req(one) }).unwrap();
    assert!(matches!(other, Outcome::PeersCreated { .. }));
    // A refused write is not remembered: once the cause is gone, the same key applies.
    let victim = ids[0].clone();
    s.apply(&req(Command::DeletePeer { config: cn("wg0"), id: victim })).unwrap();
    let pinned = |n: &str| Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("x", Some(n))] };
    let key2 = || Some(Idempotency { key: "pin".into(), fingerprint: [9; 32] });
    assert!(s.apply(&Request { idempotency: key2(), ..req(pinned("node3")) }).is_err());
    s.apply(&req(Command::AssignNode { config: cn("wg0"), node_id: nid("node3") })).unwrap();
    assert!(matches!(s.apply(&Request { idempotency: key2(), ..req(pinned("node3")) }), Ok(Outcome::PeersCreated { .. })));
    // Keys are 1 to 128 characters.
    let long = Some(Idempotency { key: "k".repeat(129), fingerprint: [1; 32] });
    assert!(matches!(s.apply(&Request { idempotency: long, ..req(bulk()) }), Err(CommandError::Invalid { .. })));
}

/// Peer limits (#15): reached by usage or by time, audited naming the limit, lifted by raising
/// or removing the limit or by `enabled: true`.
#[test]
fn peer_limits_table() {
    use crate::usage::{PeerReading, RouterReport};
    let at = |t: Millis, cmd: Command| Request { at: t, user: "admin".into(), cmd, idempotency: None };
    let usage = |peer: &PeerId, t: Millis, bytes: u64| Command::RecordUsage {
        reports: vec![RouterReport {
            node: nid("node1"),
            epoch: 1,
            at: t,
            peers: vec![PeerReading { peer: peer.clone(), rx: bytes / 2, tx: bytes - bytes / 2, handshake: Some(t), endpoint: None }],
        }],
    };
    let patch = |p: PeerPatch| p;
    let mut s = fixture();
    let id = s.peers.keys().next().unwrap().clone();
    let update = |p: PeerPatch| Command::UpdatePeer { config: cn("wg0"), id: id.clone(), patch: p };
    let limit_entries =
        |s: &State| s.audit.iter().filter(|e| e.action == "peer_limit_reached").map(|e| e.details.clone()).collect::<Vec<_>>();
    // (what, time, command, enabled after, limited after, new peer_limit_reached entries)
    type Step<'a> = (&'a str, Millis, Command, bool, Option<LimitKind>, usize);
    let steps: Vec<Step> = vec![
        ("1 KB limit set", 2000, update(patch(PeerPatch { data_limit_bytes: Some(Some(1000)), ..Default::default() })), true, None, 0),
        ("600 bytes used", 3000, usage(&id, 3000, 600), true, None, 0),
        ("1000 bytes used: cut", 4000, usage(&id, 4000, 1000), false, Some(LimitKind::DataLimit), 1),
        ("more usage reported while disabled: no second entry", 5000, usage(&id, 5000, 1200), false, Some(LimitKind::DataLimit), 0),
        ("limit raised: back", 6000, update(PeerPatch { data_limit_bytes: Some(Some(5000)), ..Default::default() }), true, None, 0),
        (
            "limit lowered below usage: cut at once",
            7000,
            update(PeerPatch { data_limit_bytes: Some(Some(100)), ..Default::default() }),
            false,
            Some(LimitKind::DataLimit),
            1,
        ),
        ("limit removed: back", 8000, update(PeerPatch { data_limit_bytes: Some(None), ..Default::default() }), true, None, 0),
        (
            "expiry in the past: cut at once",
            9000,
            update(PeerPatch { expires_at: Some(Some(8500)), ..Default::default() }),
            false,
            Some(LimitKind::Expiry),
            1,
        ),
        (
            "enabled: true overrides the reached expiry",
            10_000,
            update(PeerPatch { enabled: Some(true), ..Default::default() }),
            true,
            None,
            0,
        ),
        ("override holds at the next batch", 11_000, usage(&id, 11_000, 1300), true, None, 0),
        ("expiry moved to the future", 12_000, update(PeerPatch { expires_at: Some(Some(20_000)), ..Default::default() }), true, None, 0),
        ("batch before the expiry", 19_999, usage(&id, 19_999, 1400), true, None, 0),
        ("batch at the expiry: cut", 20_000, usage(&id, 20_000, 1400), false, Some(LimitKind::Expiry), 1),
        (
            "disabled by hand: limit forgotten",
            21_000,
            update(PeerPatch { enabled: Some(false), expires_at: Some(None), ..Default::default() }),
            false,
            None,
            0,
        ),
    ];
    for (what, t, cmd, enabled, limited, entries) in steps {
        let before = limit_entries(&s).len();
        s.apply(&at(t, cmd)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let p = &s.peers[&id];
        assert_eq!((p.enabled, p.limited), (enabled, limited), "{what}");
        assert_eq!(limit_entries(&s).len() - before, entries, "{what}");
    }
    let details = limit_entries(&s);
    assert!(details[0].contains("\"limit\":\"data_limit_bytes\"") && details[0].contains("\"used_bytes\":1000"), "{}", details[0]);
    assert!(details[2].contains("\"limit\":\"expires_at\""), "{}", details[2]);
    // Usage survives everything above: 1400 bytes in all (the last reading's counters).
    assert_eq!(s.usage.peers[&id].rx + s.usage.peers[&id].tx, 1400);
}

#[test]
fn new_peer_with_a_past_expiry_is_created_disabled() {
    let mut s = fixture();
    let mut p = new_peer("expired", Some("node2"));
    p.limits.expires_at = Some(500);
    let id = p.id.clone();
    let out = s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![p] })).unwrap();
    assert_eq!(out, Outcome::PeersCreated { ids: vec![id.clone()] });
    assert_eq!((s.peers[&id].enabled, s.peers[&id].limited), (false, Some(LimitKind::Expiry)));
    assert_eq!(s.audit.back().unwrap().action, "peer_limit_reached");
}

#[test]
fn usage_commands_refused_change_nothing() {
    use crate::usage::{PeerReading, RouterReport};
    let s = fixture();
    let id = s.peers.keys().next().unwrap().clone();
    let reading = PeerReading { peer: id, rx: 1, tx: 1, handshake: None, endpoint: None };
    let big = RouterReport { node: nid("node1"), epoch: 1, at: 1, peers: vec![reading; apply_usage::USAGE_READINGS_MAX + 1] };
    let cases = vec![
        Command::RecordUsage { reports: vec![big] },
        Command::SetUsageSettings { interval_s: Some(4), metrics_per_peer: None },
        Command::SetUsageSettings { interval_s: Some(3601), metrics_per_peer: Some(true) },
    ];
    for cmd in cases {
        let mut t = s.clone();
        assert!(t.apply(&req(cmd.clone())).is_err(), "{cmd:?}");
        t.version = s.version;
        assert_eq!(t, s, "{cmd:?}");
    }
}

#[test]
fn usage_of_peers_deleted_with_their_config_is_dropped_at_the_next_batch() {
    use crate::usage::{PeerReading, RouterReport};
    let mut s = fixture();
    let ids: Vec<PeerId> = s.peers.keys().cloned().collect();
    let batch = |ids: &[PeerId], at: Millis| Command::RecordUsage {
        reports: vec![RouterReport {
            node: nid("node1"),
            epoch: 1,
            at,
            peers: ids.iter().map(|id| PeerReading { peer: id.clone(), rx: 10, tx: 10, handshake: None, endpoint: None }).collect(),
        }],
    };
    s.apply(&req(batch(&ids, 100))).unwrap();
    assert_eq!(s.usage.peers.len(), 2);
    s.apply(&req(Command::DeleteConfig { name: cn("wg0"), force: true })).unwrap();
    s.apply(&req(batch(&[], 200))).unwrap();
    assert!(s.usage.peers.is_empty(), "{:?}", s.usage.peers.keys().collect::<Vec<_>>());
    assert_eq!(s.usage.routers[&nid("node1")].rx, 20, "router totals stay");
}

#[test]
fn traffic_placement_follows_recent_traffic() {
    use crate::usage::merge::HOUR_MS;
    use crate::usage::{PeerReading, RouterReport};
    let at = |t: Millis, cmd: Command| Request { at: t, user: "admin".into(), cmd, idempotency: None };
    let mut s = fixture();
    s.apply(&req(Command::CreatePeers { config: cn("wg0"), peers: vec![new_peer("busy", Some("node2"))] })).unwrap();
    let busy = s.peers.values().find(|p| p.name == "busy").unwrap().id.clone();
    let report = |t: Millis, bytes: u64| Command::RecordUsage {
        reports: vec![RouterReport {
            node: nid("node2"),
            epoch: 1,
            at: t,
            peers: vec![PeerReading { peer: busy.clone(), rx: bytes, tx: bytes, handshake: Some(t), endpoint: None }],
        }],
    };
    let t0 = 10 * HOUR_MS;
    s.apply(&at(t0, report(t0, 0))).unwrap();
    s.apply(&at(t0 + 60_000, report(t0 + 60_000, 5_000_000))).unwrap();
    let place_two = |s: &mut State, t: Millis| {
        let new = vec![new_peer("x", None), new_peer("y", None)];
        let ids: Vec<PeerId> = new.iter().map(|p| p.id.clone()).collect();
        s.apply(&at(t, Command::CreatePeers { config: cn("wg0"), peers: new })).unwrap();
        let homes: Vec<String> = ids.iter().map(|id| s.peers[id].node_id.as_ref().unwrap().to_string()).collect();
        for id in ids {
            s.apply(&at(t, Command::DeletePeer { config: cn("wg0"), id })).unwrap();
        }
        homes
    };
    // (placement, time of the creation, homes of two new peers). node1 carries 2 peers and no
    // traffic, node2 1 peer and 10 MB in the last hour.
    let cases = [
        (Placement::Peers, t0 + 120_000, ["node2", "node1"]),
        (Placement::Traffic, t0 + 120_000, ["node1", "node1"]),
        // The hour after: the previous hour still counts.
        (Placement::Traffic, t0 + HOUR_MS + 120_000, ["node1", "node1"]),
        // Two hours later the traffic is no longer recent: the peers rule.
        (Placement::Traffic, t0 + 2 * HOUR_MS + 120_000, ["node2", "node1"]),
    ];
    for (placement, t, want) in cases {
        let patch = ConfigPatch { placement: Some(placement), ..Default::default() };
        s.apply(&at(t, Command::UpdateConfig { name: cn("wg0"), patch })).unwrap();
        assert_eq!(s.configs[&cn("wg0")].placement, placement);
        assert_eq!(place_two(&mut s, t), want, "{placement:?} at {t}");
    }
}

#[test]
fn rx_and_tx_limits_table() {
    use crate::usage::{PeerReading, RouterReport};
    let at = |t: Millis, cmd: Command| Request { at: t, user: "admin".into(), cmd, idempotency: None };
    let usage = |peer: &PeerId, t: Millis, rx: u64, tx: u64| Command::RecordUsage {
        reports: vec![RouterReport {
            node: nid("node1"),
            epoch: 1,
            at: t,
            peers: vec![PeerReading { peer: peer.clone(), rx, tx, handshake: Some(t), endpoint: None }],
        }],
    };
    let mut s = fixture();
    let id = s.peers.keys().next().unwrap().clone();
    let update = |p: PeerPatch| Command::UpdatePeer { config: cn("wg0"), id: id.clone(), patch: p };
    // (what, time, command, enabled after, limited after)
    let steps: Vec<(&str, Millis, Command, bool, Option<LimitKind>)> = vec![
        (
            "rx 1,000 and tx 5,000 limits set",
            2000,
            update(PeerPatch { rx_limit_bytes: Some(Some(1000)), tx_limit_bytes: Some(Some(5000)), ..Default::default() }),
            true,
            None,
        ),
        ("tx 4,000 (under), rx 900 (under)", 3000, usage(&id, 3000, 900, 4000), true, None),
        (
            "rx 1,000: cut by the rx limit although the total is under no limit",
            4000,
            usage(&id, 4000, 1000, 4000),
            false,
            Some(LimitKind::RxLimit),
        ),
        ("rx limit removed: back", 5000, update(PeerPatch { rx_limit_bytes: Some(None), ..Default::default() }), true, None),
        ("tx 5,000: cut by the tx limit", 6000, usage(&id, 6000, 1000, 5000), false, Some(LimitKind::TxLimit)),
        ("tx limit raised: back", 7000, update(PeerPatch { tx_limit_bytes: Some(Some(9000)), ..Default::default() }), true, None),
        (
            "a total limit under the usage wins over the tx limit",
            8000,
            update(PeerPatch { data_limit_bytes: Some(Some(6000)), ..Default::default() }),
            false,
            Some(LimitKind::DataLimit),
        ),
    ];
    for (what, t, cmd, enabled, limited) in steps {
        s.apply(&at(t, cmd)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let p = &s.peers[&id];
        assert_eq!((p.enabled, p.limited), (enabled, limited), "{what}");
    }
    let last = s.audit.iter().rev().find(|e| e.action == "peer_limit_reached").unwrap();
    assert!(last.details.contains("\"limit\":\"data_limit_bytes\"") && last.details.contains("\"rx_bytes\":1000"), "{}", last.details);
    let tx_cut = s.audit.iter().find(|e| e.details.contains("\"limit\":\"tx_limit_bytes\"")).unwrap();
    assert!(tx_cut.details.contains("\"tx_bytes\":5000") && tx_cut.details.contains("\"tx_limit_bytes\":5000"), "{}", tx_cut.details);
}

#[test]
fn migration_re_evaluates_limits() {
    let at = |t: Millis, cmd: Command| Request { at: t, user: "admin".into(), cmd, idempotency: None };
    let mut s = fixture();
    let mut p = new_peer("expiring", Some("node1"));
    p.limits.expires_at = Some(5000);
    let id = p.id.clone();
    s.apply(&at(1000, Command::CreatePeers { config: cn("wg0"), peers: vec![p] })).unwrap();
    assert!(s.peers[&id].enabled);
    // No usage batch came since the expiry passed; the move itself cuts the peer.
    s.apply(&at(6000, Command::MigratePeers { config: cn("wg0"), from: nid("node1"), to: Some(nid("node2")) })).unwrap();
    let p = &s.peers[&id];
    assert_eq!((p.node_id.clone(), p.enabled, p.limited), (Some(nid("node2")), false, Some(LimitKind::Expiry)));
    assert!(s.audit.iter().any(|e| e.action == "peer_limit_reached" && e.entity_id == id.as_str()));
}

fn group_spec(domain: &str) -> EndpointGroupSpec {
    EndpointGroupSpec {
        config: cn("wg0"),
        domain: domain.into(),
        port: 51820,
        provider: DnsProviderKind::Cloudflare,
        cloudflare_zone_id: Some("zone1".into()),
        cloudflare_record_name: None,
        ttl: 60,
        auto_migrate: true,
        publish_only_healthy: true,
        min_nodes: 1,
    }
}

fn published(s: &mut State, addrs: &[&str]) {
    let published = addrs.iter().map(|a| a.to_string()).collect();
    s.apply(&req(Command::RecordDnsSync { config: cn("wg0"), published, degraded: false, changed: true, error: None })).unwrap();
}

/// #16: a group that stops publishing somewhere leaves a replicated removal behind (deleted,
/// deleted with its config, or moved to another name); publishing there again closes it.
#[test]
fn dns_removals_follow_groups() {
    let mut s = fixture();
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("vpn.example.test") })).unwrap();
    // Never published: nothing to remove.
    s.apply(&req(Command::DeleteEndpointGroup { config: cn("wg0") })).unwrap();
    assert!(s.dns_removals.is_empty());

    s.apply(&req(Command::SetEndpointGroup { group: group_spec("vpn.example.test") })).unwrap();
    published(&mut s, &["192.0.2.1", "192.0.2.2"]);
    // Re-saved at the same place: the status stays, nothing to remove.
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("VPN.example.test.") })).unwrap();
    assert!(s.dns_removals.is_empty());
    assert_eq!(s.endpoint_groups[&cn("wg0")].dns_status.published.len(), 2);
    // Moved to another name: the old records are to be removed, the status starts afresh.
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("edge.example.test") })).unwrap();
    let key = removal_key(DnsProviderKind::Cloudflare, "zone1", "vpn.example.test");
    assert_eq!(s.dns_removals[&key].addrs, vec!["192.0.2.1".to_string(), "192.0.2.2".into()]);
    assert_eq!(s.endpoint_groups[&cn("wg0")].dns_status, DnsStatus::default());
    // Back to the old name: the removal is moot.
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("vpn.example.test") })).unwrap();
    assert!(s.dns_removals.is_empty());
    published(&mut s, &["192.0.2.1"]);

    // The group is deleted: audited with the records to remove.
    s.apply(&req(Command::DeleteEndpointGroup { config: cn("wg0") })).unwrap();
    assert_eq!(s.dns_removals[&key].addrs, vec!["192.0.2.1".to_string()]);
    assert!(s.audit.back().unwrap().details.contains("192.0.2.1"), "{:?}", s.audit.back());
    // Done: the removal goes, audited; a second completion is refused and changes nothing.
    let done = Command::CompleteDnsRemoval { key: key.clone(), removed: vec!["192.0.2.1".into()] };
    s.apply(&req(done.clone())).unwrap();
    assert!(s.dns_removals.is_empty());
    let e = s.audit.back().unwrap();
    assert_eq!(e.action, "dns_records_removed");
    assert!(e.details.contains("vpn.example.test") && e.details.contains("192.0.2.1"), "{}", e.details);
    let before = s.clone();
    assert!(matches!(s.apply(&req(done)), Err(CommandError::NotFound { .. })));
    assert_eq!(s.dns_removals, before.dns_removals);

    // Deleting the config (with force) removes its group's records too.
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("vpn.example.test") })).unwrap();
    published(&mut s, &["192.0.2.7"]);
    s.apply(&req(Command::DeleteConfig { name: cn("wg0"), force: true })).unwrap();
    assert_eq!(s.dns_removals[&key].addrs, vec!["192.0.2.7".to_string()]);
}

/// #16: drift corrections are counted, kept and audited with the records; the reconcile interval
/// is bounded.
#[test]
fn dns_drift_and_reconcile_interval() {
    let mut s = fixture();
    s.apply(&req(Command::SetEndpointGroup { group: group_spec("vpn.example.test") })).unwrap();
    let drift = DnsDrift { at: 0, removed: vec!["203.0.113.66".into()], restored: vec!["192.0.2.1".into()], corrected: vec![] };
    for _ in 0..2 {
        let cmd = Command::RecordDnsDrift { config: cn("wg0"), published: vec!["192.0.2.1".into()], degraded: false, drift: drift.clone() };
        s.apply(&Request { at: 777, user: "dns-sync".into(), cmd, idempotency: None }).unwrap();
    }
    let st = &s.endpoint_groups[&cn("wg0")].dns_status;
    assert_eq!((st.drift_corrected, st.last_sync, st.published.clone()), (2, Some(777), vec!["192.0.2.1".to_string()]));
    assert_eq!(st.last_drift, Some(DnsDrift { at: 777, ..drift }));
    let e = s.audit.back().unwrap();
    assert_eq!(e.action, "dns_drift_corrected");
    assert!(e.details.contains("203.0.113.66") && e.details.contains("\"restored\":[\"192.0.2.1\"]"), "{}", e.details);

    assert_eq!(s.settings.dns_reconcile_interval_s, DNS_RECONCILE_INTERVAL_S);
    let set = |v| Command::SetDnsSettings { cloudflare: None, rfc2136: None, reconcile_interval_s: Some(v) };
    for bad in [0, DNS_RECONCILE_MIN_S - 1, DNS_RECONCILE_MAX_S + 1] {
        assert!(matches!(s.apply(&req(set(bad))), Err(CommandError::Invalid { .. })), "{bad}");
    }
    s.apply(&req(set(DNS_RECONCILE_MIN_S))).unwrap();
    assert_eq!(s.settings.dns_reconcile_interval_s, DNS_RECONCILE_MIN_S);
    let none = Command::SetDnsSettings { cloudflare: None, rfc2136: None, reconcile_interval_s: None };
    assert!(matches!(s.apply(&req(none)), Err(CommandError::Invalid { .. })));
}
