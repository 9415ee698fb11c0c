//! Collection (#15): every router reads its interfaces' peer counters on request (`GET
//! /v1/usage` on the cluster listener, or directly on the panel itself) — [`read_local`], one
//! device read per interface through the backend the reconciler uses (UAPI or netlink). The
//! panel's [`UsageCollector`] (leader only) asks every router once per `usage_interval_s`, turns
//! the readings into one `RecordUsage` command for the whole cluster ([`plan_batch`], pure: only
//! readings that differ from the replicated baseline, so idle peers cost nothing), and proposes
//! it. It also proposes when an expiry is due with no traffic at all, so a limit bites within
//! one interval. Nothing is kept between rounds: memory is one round's readings.

use super::merge::{PeerReading, RouterReport};
use crate::model::Sha256;
use crate::model::{ConfigName, Millis, Node, NodeId, PeerId};
use crate::raft::ClusterHandle;
use crate::state::{Command, Request, State};
use crate::wg::backend::WgBackend;
use actix::prelude::*;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// One interface as one router read it (the `/v1/usage` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceReading {
    pub config: ConfigName,
    pub epoch: u64,
    pub at: Millis,
    pub peers: Vec<KeyReading>,
}

/// One peer of an interface, by public key (the router does not need peer ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReading {
    /// Base64, as in the API.
    pub public_key: String,
    pub rx: u64,
    pub tx: u64,
    pub handshake: Option<Millis>,
    pub endpoint: Option<SocketAddr>,
}

/// PURE: the epoch of an interface from the boot id and its index: another boot or another
/// interface instance (re-created link, restarted wireguard-go) gives another value.
pub fn epoch_of(boot_id: &str, ifindex: Option<u32>) -> u64 {
    let mut h = Sha256::new();
    h.update(boot_id.as_bytes());
    h.update(ifindex.unwrap_or(0).to_le_bytes());
    let d = h.finish();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The configs whose interfaces `node` runs (assigned, or draining from it).
pub fn interfaces_of(s: &State, node: &NodeId) -> Vec<ConfigName> {
    let assigned = s.config_nodes.values().filter(|cn| &cn.node_id == node).map(|cn| cn.config.clone());
    let draining = s.drains.values().filter(|d| &d.node_id == node).map(|d| d.config.clone());
    let names: std::collections::BTreeSet<ConfigName> = assigned.chain(draining).collect();
    names.into_iter().collect()
}

/// Reads the given interfaces through `backend` (blocking). An interface that is missing or
/// cannot be read is left out (its peers are simply not reported this round).
pub fn read_local(backend: &dyn WgBackend, configs: &[ConfigName]) -> Vec<IfaceReading> {
    let boot = crate::wg::userspace_os::boot_id();
    let mut out = Vec::with_capacity(configs.len());
    for c in configs {
        let at = crate::clock::now_ms();
        let dev = match backend.read(c.as_str()) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                log::debug!("usage: cannot read {c}: {e}");
                continue;
            }
        };
        let epoch = epoch_of(&boot, crate::wg::userspace_os::interface_index(c.as_str()));
        let peers = dev
            .peers
            .iter()
            .map(|p| KeyReading {
                public_key: crate::wg::spec::key_to_base64(&p.public_key),
                rx: p.rx_bytes,
                tx: p.tx_bytes,
                handshake: p.last_handshake.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as Millis),
                endpoint: p.endpoint,
            })
            .collect();
        out.push(IfaceReading { config: c.clone(), epoch, at, peers });
    }
    out
}

/// PURE: one round's readings → the batch to propose, or `None` when nothing changed and no
/// expiry is due. A reading is kept when it differs from the replicated baseline of that
/// (peer, router): another epoch, other counters, a newer handshake, another endpoint.
pub fn plan_batch(s: &State, fetched: &[(NodeId, Vec<IfaceReading>)], now: Millis) -> Option<Command> {
    let mut keys: HashMap<&ConfigName, HashMap<String, &PeerId>> = HashMap::new();
    let mut reports = Vec::new();
    for (node, ifaces) in fetched {
        for iface in ifaces {
            let by_key =
                keys.entry(&iface.config).or_insert_with(|| s.peers_of(&iface.config).map(|p| (p.public_key.to_base64(), &p.id)).collect());
            let mut peers = Vec::new();
            for r in &iface.peers {
                let Some(id) = by_key.get(&r.public_key) else { continue };
                let prev = s.usage.peers.get(*id).and_then(|u| u.routers.get(node));
                let changed = match prev {
                    None => r.rx > 0 || r.tx > 0 || r.handshake.is_some(),
                    Some(p) => {
                        p.epoch != iface.epoch
                            || p.rx != r.rx
                            || p.tx != r.tx
                            || r.handshake > p.handshake
                            || (r.endpoint.is_some() && r.endpoint != p.endpoint)
                    }
                };
                if changed {
                    // Within the same epoch the merge keeps the last handshake and endpoint, so
                    // only news is sent (a steady reading is an id and two counters).
                    let (handshake, endpoint) = match prev {
                        Some(p) if p.epoch == iface.epoch => {
                            (r.handshake.filter(|h| Some(*h) > p.handshake), r.endpoint.filter(|e| Some(*e) != p.endpoint))
                        }
                        _ => (r.handshake, r.endpoint),
                    };
                    peers.push(PeerReading { peer: (*id).clone(), rx: r.rx, tx: r.tx, handshake, endpoint });
                }
            }
            if !peers.is_empty() {
                reports.push(RouterReport { node: node.clone(), epoch: iface.epoch, at: iface.at, peers });
            }
        }
    }
    let expiry_due = s.peers.values().any(|p| p.enabled && !p.limit_override && p.limits.expires_at.is_some_and(|e| e <= now));
    (!reports.is_empty() || expiry_due).then_some(Command::RecordUsage { reports })
}

/// How the panel asks a router for its readings.
pub trait UsageSource: Send + Sync + 'static {
    fn fetch(&self, node: &Node) -> BoxFuture<'static, Result<Vec<IfaceReading>, String>>;
}

/// This router's own readings of the given interfaces (the daemon runs [`read_local`] on the
/// reconciler's thread: no thread of the async runtime is borrowed for it).
pub type LocalReader = Arc<dyn Fn(Vec<ConfigName>) -> BoxFuture<'static, Vec<IfaceReading>> + Send + Sync>;

/// The panel's collector: one round per `usage_interval_s`, one command per round at most.
pub struct UsageCollector {
    cluster: ClusterHandle,
    source: Arc<dyn UsageSource>,
    local: Option<LocalReader>,
    busy: bool,
    /// When the last round started (a changed interval applies from the next second).
    last: Option<std::time::Instant>,
    clock: fn() -> Millis,
}

impl UsageCollector {
    pub fn new(cluster: ClusterHandle, source: Arc<dyn UsageSource>, local: Option<LocalReader>, clock: fn() -> Millis) -> Self {
        Self { cluster, source, local, busy: false, last: None, clock }
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        ctx.notify_later(Tick, Duration::from_secs(1));
    }
}

impl Actor for UsageCollector {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.schedule(ctx);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

#[derive(Message)]
#[rtype(result = "()")]
struct Fetched(Vec<(NodeId, Vec<IfaceReading>)>);

impl Handler<Tick> for UsageCollector {
    type Result = ();
    fn handle(&mut self, _: Tick, ctx: &mut Self::Context) {
        self.schedule(ctx);
        if !self.cluster.is_leader() || self.busy {
            return;
        }
        let interval = Duration::from_secs(self.cluster.read(|s| s.settings.usage_interval_s).max(1));
        if self.last.is_some_and(|t| t.elapsed() < interval) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let me = self.cluster.node_id.clone();
        let (targets, mine) = self.cluster.read(|s| {
            let targets: Vec<Node> = s
                .nodes
                .values()
                .filter(|n| n.id != me && !n.witness && n.registered && !interfaces_of(s, &n.id).is_empty())
                .cloned()
                .collect();
            (targets, interfaces_of(s, &me))
        });
        self.busy = true;
        let source = self.source.clone();
        let local = self.local.clone();
        let fut = async move {
            let futs: Vec<_> = targets.iter().map(|n| source.fetch(n)).collect();
            let remote = futures_util::future::join_all(futs);
            let own = async move {
                match local {
                    Some(read) if !mine.is_empty() => read(mine).await,
                    _ => Vec::new(),
                }
            };
            let (results, own) = futures_util::future::join(remote, own).await;
            let mut out = vec![(me, own)];
            for (n, r) in targets.into_iter().zip(results) {
                match r {
                    Ok(readings) => out.push((n.id, readings)),
                    Err(e) => log::debug!("usage: no readings from {}: {e}", n.id),
                }
            }
            out
        };
        ctx.spawn(fut.into_actor(self).map(|res, _act, ctx| ctx.notify(Fetched(res))));
    }
}

impl Handler<Fetched> for UsageCollector {
    type Result = ();
    fn handle(&mut self, Fetched(fetched): Fetched, ctx: &mut Self::Context) {
        let at = (self.clock)();
        let cmd = self.cluster.read(|s| plan_batch(s, &fetched, at));
        let Some(cmd) = cmd else {
            self.busy = false;
            return;
        };
        let cluster = self.cluster.clone();
        ctx.spawn(
            async move {
                let req = Request { at, user: "usage-collector".into(), cmd, idempotency: None };
                match cluster.write(req).await {
                    Ok(Ok(crate::state::Outcome::UsageRecorded { accepted, limited })) => {
                        log::debug!("usage: {accepted} reading(s) recorded");
                        for id in limited {
                            log::info!("usage: peer {id} reached a limit and was disabled");
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => log::warn!("usage: batch refused: {e}"),
                    Err(e) => log::debug!("usage: batch not written: {e}"),
                }
            }
            .into_actor(self)
            .map(|_, act, _| act.busy = false),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::state::{Outcome, PeerPatch};
    use std::net::SocketAddr;

    fn kr(s: &State, c: &ConfigName, i: usize, rx: u64, tx: u64, hs: Option<Millis>) -> KeyReading {
        let p = s.peers_of(c).nth(i).unwrap();
        KeyReading { public_key: p.public_key.to_base64(), rx, tx, handshake: hs, endpoint: None }
    }

    /// Rounds of readings → what goes into the batch (peers per report), against the baseline
    /// the previous batches left.
    #[test]
    fn plan_batch_table() {
        let (mut s, c, node) = crate::wg::desired::bench_state(4);
        let iface = |s: &State, epoch, at, peers: Vec<(usize, u64, u64, Option<Millis>)>| IfaceReading {
            config: c.clone(),
            epoch,
            at,
            peers: peers.into_iter().map(|(i, rx, tx, hs)| kr(s, &c, i, rx, tx, hs)).collect(),
        };
        let stranger =
            KeyReading { public_key: crate::model::generate_keypair().1.to_base64(), rx: 9, tx: 9, handshake: None, endpoint: None };
        // (what, readings, peers in the batch (None: no command))
        let rounds: Vec<(&str, IfaceReading, Option<usize>)> = vec![
            ("idle peers never seen: nothing", iface(&s, 1, 1000, vec![(0, 0, 0, None), (1, 0, 0, None)]), None),
            ("two with traffic", iface(&s, 1, 2000, vec![(0, 10, 5, Some(1900)), (1, 3, 0, None), (2, 0, 0, None)]), Some(2)),
            ("same counters again: nothing", iface(&s, 1, 3000, vec![(0, 10, 5, Some(1900)), (1, 3, 0, None)]), None),
            ("one grew", iface(&s, 1, 4000, vec![(0, 10, 5, Some(1900)), (1, 4, 0, None)]), Some(1)),
            ("newer handshake only", iface(&s, 1, 5000, vec![(0, 10, 5, Some(4900)), (1, 4, 0, None)]), Some(1)),
            ("new epoch, same numbers", iface(&s, 2, 6000, vec![(0, 10, 5, Some(4900)), (1, 4, 0, None)]), Some(2)),
        ];
        for (what, reading, want) in rounds {
            let mut r = reading.clone();
            r.peers.push(stranger.clone());
            let got = plan_batch(&s, &[(node.clone(), vec![r])], 10_000);
            match (&got, want) {
                (None, None) => {}
                (Some(Command::RecordUsage { reports }), Some(n)) => {
                    assert_eq!(reports.iter().map(|r| r.peers.len()).sum::<usize>(), n, "{what}");
                    let out = s.apply(&Request { at: reading.at, user: "t".into(), cmd: got.clone().unwrap(), idempotency: None });
                    assert!(matches!(out, Ok(Outcome::UsageRecorded { .. })), "{what}: {out:?}");
                }
                _ => panic!("{what}: {got:?}"),
            }
        }
        let first = s.peers_of(&c).next().unwrap().id.clone();
        assert_eq!(s.usage.peers[&first].rx, 20, "10 before the new epoch, 10 after it");
        // An expiry that is due makes a batch even with nothing read.
        let patch = PeerPatch { expires_at: Some(Some(50_000)), ..Default::default() };
        s.apply(&Request {
            at: 7000,
            user: "t".into(),
            cmd: Command::UpdatePeer { config: c.clone(), id: first.clone(), patch },
            idempotency: None,
        })
        .unwrap();
        assert_eq!(plan_batch(&s, &[], 49_999), None);
        let cmd = plan_batch(&s, &[], 50_000).expect("expiry due");
        s.apply(&Request { at: 50_000, user: "t".into(), cmd, idempotency: None }).unwrap();
        assert!(!s.peers[&first].enabled);
        assert_eq!(plan_batch(&s, &[], 60_000), None, "already disabled");
    }

    /// The size of what reaches the Raft log per interval, and of a peer's usage in a snapshot
    /// (ARCHITECTURE, "Peer status and usage (#15)", quotes these numbers).
    #[test]
    fn encoded_sizes_are_bounded() {
        use crate::usage::merge::{PeerUsage, RouterSeen, DAY_MS, HOUR_MS};
        let at = 1_800_000_000_000;
        let reading = |i: u64| PeerReading {
            peer: PeerId::parse("p", &format!("{:016x}", 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i + 1))).unwrap(),
            rx: 3_000_000_000 + i * 7919,
            tx: 800_000_000 + i * 104_729,
            handshake: Some(at - 30_000 - i),
            endpoint: Some(SocketAddr::from(([203, 0, 113, (i % 250) as u8], 40_000 + (i % 20_000) as u16))),
        };
        for n in [1_000u64, 10_000] {
            let reports = vec![RouterReport {
                node: NodeId::parse("n", "router-01").unwrap(),
                epoch: u64::MAX / 3,
                at,
                peers: (0..n).map(reading).collect(),
            }];
            let req = Request { at, user: "usage-collector".into(), cmd: Command::RecordUsage { reports }, idempotency: None };
            let bytes = postcard::to_allocvec(&req).unwrap().len() as u64;
            eprintln!("RecordUsage with {n} active peers: {bytes} bytes ({} per reading)", bytes / n);
            assert!(bytes <= n * 56 + 64, "{n} readings: {bytes} bytes");
            // Steady state: same epoch, handshake and endpoint as the baseline (only counters).
            let Command::RecordUsage { mut reports } = req.cmd else { unreachable!() };
            for r in &mut reports[0].peers {
                (r.handshake, r.endpoint) = (None, None);
            }
            let req = Request { at, user: "usage-collector".into(), cmd: Command::RecordUsage { reports }, idempotency: None };
            let bytes = postcard::to_allocvec(&req).unwrap().len() as u64;
            eprintln!("RecordUsage with {n} active peers, counters only: {bytes} bytes ({} per reading)", bytes / n);
            assert!(bytes <= n * 32 + 64, "{n} readings: {bytes} bytes");
        }
        // A peer active every hour of its retention: 48 hourly, 35 daily buckets, one router.
        let mut u = PeerUsage { rx: 5_000_000_000_000, tx: 900_000_000_000, ..Default::default() };
        for h in (0..48).rev() {
            u.history.hourly.add(HOUR_MS, at - at % HOUR_MS - h * HOUR_MS, 50_000_000, 9_000_000);
        }
        for d in (0..35).rev() {
            u.history.daily.add(DAY_MS, at - at % DAY_MS - d * DAY_MS, 1_200_000_000, 200_000_000);
        }
        u.routers.insert(
            NodeId::parse("n", "router-01").unwrap(),
            RouterSeen {
                epoch: u64::MAX / 3,
                at,
                rx: 3_000_000_000,
                tx: 1,
                handshake: Some(at),
                endpoint: Some(SocketAddr::from(([203, 0, 113, 9], 51000))),
                rx_rate: 10_000,
                tx_rate: 100,
            },
        );
        let bytes = postcard::to_allocvec(&u).unwrap().len();
        let heap = u.history.hourly.heap_bytes() + u.history.daily.heap_bytes();
        eprintln!("a fully active peer's usage in a snapshot: {bytes} bytes; its history on the heap: {heap} bytes");
        assert!(bytes < 1_200, "{bytes}");
        assert!(heap < 1_000, "{heap}");
    }

    #[test]
    fn epochs_differ_by_boot_and_index() {
        let a = epoch_of("boot-1", Some(5));
        assert_eq!(a, epoch_of("boot-1", Some(5)));
        assert_ne!(a, epoch_of("boot-1", Some(6)));
        assert_ne!(a, epoch_of("boot-2", Some(5)));
    }
}
