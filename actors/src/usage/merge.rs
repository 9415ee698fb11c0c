//! PURE: the delta merger. Routers report what WireGuard's counters say (absolute rx/tx bytes per
//! peer, the latest handshake, the endpoint) together with the interface's *epoch* (its
//! generation: a new value whenever the counters start again from zero — interface re-created,
//! wireguard-go restarted, router rebooted) and the router's reading time. [`UsageBook::merge`]
//! turns those readings into cumulative usage per peer that survives:
//!
//! - **counter resets**: another epoch, or a counter below the last one seen → everything the
//!   counter now holds is new traffic (the bytes since the reset);
//! - **duplicate and out-of-order reports**: a reading not newer than the last one accepted from
//!   that router for that peer changes nothing;
//! - **migration and Mode A**: the baseline is kept per (peer, router), so each router's traffic is
//!   counted once and the peer's total is the sum over routers; a peer moving to another router
//!   starts a new baseline there and keeps its total;
//! - **daemon restart and panel change**: the book is replicated (it lives in `State`), so
//!   whichever router merges next starts from the same baselines; an interface adopted after a
//!   daemon restart keeps its epoch and its counters go on.
//!
//! Residual case (documented, not detectable from counters alone): a peer removed and re-added on
//! the same interface epoch whose new counter already exceeds the old one by the next reading is
//! counted short by the old value.
//!
//! History: hourly and daily buckets, per peer ([`PEER_KEEP`]: 48 hours, 35 days) and per router
//! ([`ROUTER_KEEP`]: 7 days, 90 days); only buckets that saw traffic are stored (packed, see
//! `series.rs`), pruned against the merging command's time. Everything here is deterministic (no
//! clock): it runs inside `State::apply`.

use super::series::Series;
use crate::model::{Millis, NodeId, PeerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub const HOUR_MS: Millis = 3_600_000;
pub const DAY_MS: Millis = 24 * HOUR_MS;
/// How long a history keeps its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub hourly_ms: Millis,
    pub daily_ms: Millis,
}
/// A peer's history: hourly for 48 hours, daily for 35 days. Every router holds every peer's
/// history in memory: at most 83 buckets of ~11 bytes, ~0.9 KB for a peer active every hour.
pub const PEER_KEEP: Keep = Keep { hourly_ms: 2 * DAY_MS, daily_ms: 35 * DAY_MS };
/// A router's history (all its peers): hourly for 7 days, daily for 90 days.
pub const ROUTER_KEEP: Keep = Keep { hourly_ms: 7 * DAY_MS, daily_ms: 90 * DAY_MS };
/// A peer is *connected* while its newest handshake is younger than this. WireGuard re-handshakes
/// every 120 s while packets flow (REKEY_AFTER_TIME) and drops a session after 180 s
/// (REJECT_AFTER_TIME), so a handshake older than 180 s means no live session.
pub const CONNECTED_MAX_AGE_MS: Millis = 180_000;

/// One peer as one router read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerReading {
    pub peer: PeerId,
    pub rx: u64,
    pub tx: u64,
    /// Latest handshake (unix ms); `None`: never.
    pub handshake: Option<Millis>,
    pub endpoint: Option<SocketAddr>,
}

/// One router's readings of one interface at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterReport {
    pub node: NodeId,
    /// The interface generation: changes whenever its counters restart from zero.
    pub epoch: u64,
    /// When the router read the counters (its clock, unix ms).
    pub at: Millis,
    pub peers: Vec<PeerReading>,
}

/// The last reading accepted from one router for one peer, and the rate it implied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterSeen {
    pub epoch: u64,
    pub at: Millis,
    pub rx: u64,
    pub tx: u64,
    pub handshake: Option<Millis>,
    pub endpoint: Option<SocketAddr>,
    /// Bytes per second between the two latest readings (0 after a reset or the first reading).
    pub rx_rate: u64,
    pub tx_rate: u64,
}

/// Traffic in one hour or day starting at `start` (unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub start: Millis,
    pub rx: u64,
    pub tx: u64,
}

/// Hourly and daily buckets, oldest first, only those with traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub hourly: Series,
    pub daily: Series,
}

/// One peer's usage: totals, the baseline per router, history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerUsage {
    pub rx: u64,
    pub tx: u64,
    pub routers: BTreeMap<NodeId, RouterSeen>,
    pub history: History,
}

/// A router's totals over all peers (for `/metrics` and the per-router history).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterUsage {
    pub rx: u64,
    pub tx: u64,
    pub history: History,
}

/// The replicated usage of every peer (inside `State`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBook {
    pub peers: BTreeMap<PeerId, PeerUsage>,
    pub routers: BTreeMap<NodeId, RouterUsage>,
}

/// What a reading meant against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not newer than the last accepted reading of this router (duplicate or out of order).
    Stale,
    /// Same epoch, counters went on: the difference is new traffic.
    Delta { rx: u64, tx: u64 },
    /// First reading, another epoch, or a counter went down: the counters are all new traffic.
    Reset { rx: u64, tx: u64 },
}

impl Verdict {
    /// The bytes this reading adds to the totals.
    pub fn bytes(self) -> (u64, u64) {
        match self {
            Verdict::Stale => (0, 0),
            Verdict::Delta { rx, tx } | Verdict::Reset { rx, tx } => (rx, tx),
        }
    }
}

/// PURE: the verdict on one reading (`epoch`, `at`, counters) against the last one accepted from
/// the same router (`prev`).
pub fn judge(prev: Option<&RouterSeen>, epoch: u64, at: Millis, rx: u64, tx: u64) -> Verdict {
    match prev {
        None => Verdict::Reset { rx, tx },
        Some(p) if at <= p.at => Verdict::Stale,
        Some(p) if p.epoch != epoch || rx < p.rx || tx < p.tx => Verdict::Reset { rx, tx },
        Some(p) => Verdict::Delta { rx: rx - p.rx, tx: tx - p.tx },
    }
}

/// What one [`UsageBook::merge`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeCounts {
    pub accepted: usize,
    pub stale: usize,
    pub resets: usize,
    /// Readings of peers `known` refused (deleted peers).
    pub unknown: usize,
}

impl UsageBook {
    /// Merges routers' reports. `known` says whether a peer exists (readings of deleted peers are
    /// dropped); `now` is the command's time, against which history is pruned.
    pub fn merge(&mut self, reports: &[RouterReport], known: impl Fn(&PeerId) -> bool, now: Millis) -> MergeCounts {
        let mut n = MergeCounts::default();
        for report in reports {
            for r in &report.peers {
                if !known(&r.peer) {
                    n.unknown += 1;
                    continue;
                }
                let usage = self.peers.entry(r.peer.clone()).or_default();
                let prev = usage.routers.get(&report.node);
                let verdict = judge(prev, report.epoch, report.at, r.rx, r.tx);
                let (drx, dtx) = verdict.bytes();
                let (rx_rate, tx_rate) = match (verdict, prev) {
                    (Verdict::Delta { rx, tx }, Some(p)) => {
                        let secs = (report.at - p.at).max(1);
                        (rx.saturating_mul(1000) / secs, tx.saturating_mul(1000) / secs)
                    }
                    _ => (0, 0),
                };
                match verdict {
                    Verdict::Stale => {
                        n.stale += 1;
                        continue;
                    }
                    Verdict::Reset { .. } if prev.is_some() => n.resets += 1,
                    _ => {}
                }
                n.accepted += 1;
                let seen = RouterSeen {
                    epoch: report.epoch,
                    at: report.at,
                    rx: r.rx,
                    tx: r.tx,
                    handshake: r.handshake.max(prev.and_then(|p| (p.epoch == report.epoch).then_some(p.handshake).flatten())),
                    endpoint: r.endpoint.or(prev.and_then(|p| p.endpoint)),
                    rx_rate,
                    tx_rate,
                };
                usage.routers.insert(report.node.clone(), seen);
                usage.rx = usage.rx.saturating_add(drx);
                usage.tx = usage.tx.saturating_add(dtx);
                usage.history.add(report.at, drx, dtx);
                let router = self.routers.entry(report.node.clone()).or_default();
                router.rx = router.rx.saturating_add(drx);
                router.tx = router.tx.saturating_add(dtx);
                router.history.add(report.at, drx, dtx);
            }
        }
        for usage in self.peers.values_mut() {
            usage.history.prune(now, PEER_KEEP);
        }
        for router in self.routers.values_mut() {
            router.history.prune(now, ROUTER_KEEP);
        }
        n
    }

    /// Forgets a deleted peer.
    pub fn forget_peer(&mut self, id: &PeerId) {
        self.peers.remove(id);
    }

    /// Forgets a router that left the cluster (its baselines; peers' totals stay).
    /// A router's recent traffic (rx + tx of the current and the previous hour, all configs) at
    /// `now`: the load of `Placement::Traffic`.
    pub fn recent_bytes(&self, node: &NodeId, now: Millis) -> u64 {
        let since = (now - now % HOUR_MS).saturating_sub(HOUR_MS);
        self.routers.get(node).map_or(0, |r| {
            r.history.range(HOUR_MS, since, Millis::MAX).iter().fold(0u64, |a, b| a.saturating_add(b.rx).saturating_add(b.tx))
        })
    }

    pub fn forget_router(&mut self, node: &NodeId) {
        self.routers.remove(node);
        for usage in self.peers.values_mut() {
            usage.routers.remove(node);
        }
    }
}

impl History {
    /// Adds traffic seen at `at` to its hour and its day (zero traffic stores nothing).
    pub fn add(&mut self, at: Millis, rx: u64, tx: u64) {
        if rx == 0 && tx == 0 {
            return;
        }
        self.hourly.add(HOUR_MS, at - at % HOUR_MS, rx, tx);
        self.daily.add(DAY_MS, at - at % DAY_MS, rx, tx);
    }

    /// Drops buckets that ended before their retention window (relative to `now`).
    pub fn prune(&mut self, now: Millis, keep: Keep) {
        self.hourly.prune(HOUR_MS, |b| b.start + HOUR_MS + keep.hourly_ms <= now);
        self.daily.prune(DAY_MS, |b| b.start + DAY_MS + keep.daily_ms <= now);
    }

    /// Buckets of `step` (`HOUR_MS` or `DAY_MS`) overlapping `[from, to)`.
    pub fn range(&self, step: Millis, from: Millis, to: Millis) -> Vec<Bucket> {
        let (series, step) = if step >= DAY_MS { (&self.daily, DAY_MS) } else { (&self.hourly, HOUR_MS) };
        series.buckets(step).into_iter().filter(|b| b.start.saturating_add(step) > from && b.start < to).collect()
    }
}

/// A peer's live status as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStatus {
    pub connected: bool,
    /// The router with the newest handshake (Mode A: several may carry the peer).
    pub serving_node: Option<NodeId>,
    pub endpoint: Option<SocketAddr>,
    pub latest_handshake: Option<Millis>,
    /// Bytes per second at the serving router's latest reading (0 when that reading is older than
    /// `fresh_ms`).
    pub rx_rate: u64,
    pub tx_rate: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// PURE: the status of a peer at `now`. `fresh_ms`: how old a reading may be for its rate to
/// count (two collection intervals).
pub fn status(usage: Option<&PeerUsage>, now: Millis, fresh_ms: Millis) -> PeerStatus {
    let Some(u) = usage else { return PeerStatus::default() };
    // The newest handshake wins; among routers without one, none serves.
    let serving = u
        .routers
        .iter()
        .filter(|(_, s)| s.handshake.is_some())
        .max_by(|(an, a), (bn, b)| a.handshake.cmp(&b.handshake).then(a.at.cmp(&b.at)).then(bn.cmp(an)));
    let mut st = PeerStatus { rx_bytes: u.rx, tx_bytes: u.tx, ..PeerStatus::default() };
    if let Some((node, s)) = serving {
        let hs = s.handshake.unwrap_or(0);
        st.connected = now.saturating_sub(hs) < CONNECTED_MAX_AGE_MS;
        st.serving_node = Some(node.clone());
        st.endpoint = s.endpoint;
        st.latest_handshake = s.handshake;
        if now.saturating_sub(s.at) <= fresh_ms {
            st.rx_rate = s.rx_rate;
            st.tx_rate = s.tx_rate;
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid(s: &str) -> PeerId {
        PeerId::parse("peer_id", s).unwrap()
    }
    fn nid(s: &str) -> NodeId {
        NodeId::parse("node_id", s).unwrap()
    }
    fn reading(peer: &str, rx: u64, tx: u64) -> PeerReading {
        PeerReading { peer: pid(peer), rx, tx, handshake: None, endpoint: None }
    }
    fn report(node: &str, epoch: u64, at: Millis, peers: Vec<PeerReading>) -> RouterReport {
        RouterReport { node: nid(node), epoch, at, peers }
    }
    const T0: Millis = 1_800_000_000_000;

    #[test]
    fn judge_table() {
        let prev = RouterSeen { epoch: 7, at: 1000, rx: 100, tx: 50, ..Default::default() };
        // (what, prev, epoch, at, rx, tx) -> verdict
        let cases = [
            ("first reading counts all", None, 7, 1000, 100, 50, Verdict::Reset { rx: 100, tx: 50 }),
            ("counters went on", Some(&prev), 7, 2000, 150, 80, Verdict::Delta { rx: 50, tx: 30 }),
            ("no traffic", Some(&prev), 7, 2000, 100, 50, Verdict::Delta { rx: 0, tx: 0 }),
            ("duplicate", Some(&prev), 7, 1000, 100, 50, Verdict::Stale),
            ("older reading", Some(&prev), 7, 900, 90, 40, Verdict::Stale),
            ("older reading of another epoch", Some(&prev), 6, 900, 900, 900, Verdict::Stale),
            ("new epoch with more bytes", Some(&prev), 8, 2000, 500, 500, Verdict::Reset { rx: 500, tx: 500 }),
            ("new epoch with fewer bytes", Some(&prev), 8, 2000, 5, 5, Verdict::Reset { rx: 5, tx: 5 }),
            ("rx went down, same epoch", Some(&prev), 7, 2000, 10, 60, Verdict::Reset { rx: 10, tx: 60 }),
            ("tx went down, same epoch", Some(&prev), 7, 2000, 120, 10, Verdict::Reset { rx: 120, tx: 10 }),
        ];
        for (what, prev, epoch, at, rx, tx, want) in cases {
            assert_eq!(judge(prev, epoch, at, rx, tx), want, "{what}");
        }
    }

    /// Table of report sequences → (rx total, tx total) of peer `p1`.
    #[test]
    fn merge_sequences_table() {
        let r = |node: &str, epoch, at_s: u64, rx, tx| report(node, epoch, T0 + at_s * 1000, vec![reading("p1", rx, tx)]);
        let cases: Vec<(&str, Vec<RouterReport>, (u64, u64))> = vec![
            ("one router, counters grow", vec![r("a", 1, 0, 10, 5), r("a", 1, 60, 30, 9)], (30, 9)),
            ("duplicate report", vec![r("a", 1, 0, 10, 5), r("a", 1, 60, 30, 9), r("a", 1, 60, 30, 9)], (30, 9)),
            ("out-of-order report ignored", vec![r("a", 1, 0, 10, 5), r("a", 1, 120, 50, 20), r("a", 1, 60, 30, 9)], (50, 20)),
            ("interface re-created (epoch)", vec![r("a", 1, 0, 100, 100), r("a", 2, 60, 10, 1)], (110, 101)),
            ("re-created, more bytes than before", vec![r("a", 1, 0, 100, 100), r("a", 2, 60, 300, 300)], (400, 400)),
            ("counter reset without epoch change", vec![r("a", 1, 0, 100, 100), r("a", 1, 60, 7, 3)], (107, 103)),
            (
                "daemon restart, interface adopted (same epoch)",
                vec![r("a", 1, 0, 100, 100), r("a", 1, 60, 150, 120), r("a", 1, 3600, 170, 121)],
                (170, 121),
            ),
            (
                "Mode B migration a -> b",
                vec![r("a", 1, 0, 100, 10), r("b", 9, 60, 5, 1), r("a", 1, 61, 100, 10), r("b", 9, 120, 25, 2)],
                (125, 12),
            ),
            (
                "Mode A, two routers carry it",
                vec![r("a", 1, 0, 100, 10), r("b", 2, 0, 7, 7), r("a", 1, 60, 110, 10), r("b", 2, 60, 9, 9)],
                (119, 19),
            ),
            (
                "Mode A failover: a dies, b serves, a comes back re-created",
                vec![r("a", 1, 0, 100, 10), r("b", 2, 60, 50, 5), r("a", 3, 120, 1, 1), r("b", 2, 120, 60, 6)],
                (161, 17),
            ),
            (
                "report of another router's clock is ordered per router only",
                vec![r("a", 1, 1000, 10, 10), r("b", 2, 5, 1, 1), r("b", 2, 6, 2, 2)],
                (12, 12),
            ),
        ];
        for (what, reports, want) in cases {
            let mut one_by_one = UsageBook::default();
            for rep in &reports {
                one_by_one.merge(std::slice::from_ref(rep), |_| true, T0);
            }
            let u = &one_by_one.peers[&pid("p1")];
            assert_eq!((u.rx, u.tx), want, "{what}");
            // One batch gives the same as one report at a time.
            let mut batch = UsageBook::default();
            batch.merge(&reports, |_| true, T0);
            assert_eq!(batch, one_by_one, "{what}: batch");
            // Router totals add up to the peer's.
            let (rx, tx) = batch.routers.values().fold((0, 0), |(a, b), r| (a + r.rx, b + r.tx));
            assert_eq!((rx, tx), want, "{what}: routers");
        }
    }

    #[test]
    fn unknown_peers_are_dropped_and_counted() {
        let mut b = UsageBook::default();
        let n = b.merge(&[report("a", 1, T0, vec![reading("p1", 1, 1), reading("gone", 5, 5)])], |p| p.as_str() == "p1", T0);
        assert_eq!(n, MergeCounts { accepted: 1, stale: 0, resets: 0, unknown: 1 });
        assert!(!b.peers.contains_key(&pid("gone")));
    }

    #[test]
    fn history_buckets_and_retention() {
        let mut b = UsageBook::default();
        let base = T0 - T0 % DAY_MS;
        // Readings every 30 min over 10 days, 1 MB each time.
        let mut reps = Vec::new();
        for i in 0..(10 * 48) {
            reps.push(report("a", 1, base + i * 1_800_000, vec![reading("p1", (i + 1) * 1_000_000, 0)]));
        }
        let end = base + 10 * DAY_MS;
        b.merge(&reps, |_| true, end);
        let h = &b.peers[&pid("p1")].history;
        // A peer keeps 48 hours of hours, every day of the 10; its router 7 days of hours.
        assert_eq!(h.hourly.len(HOUR_MS), 2 * 24);
        assert_eq!(b.routers[&NodeId::parse("n", "a").unwrap()].history.hourly.len(HOUR_MS), 7 * 24);
        let daily = h.daily.buckets(DAY_MS);
        assert_eq!(daily.len(), 10);
        assert_eq!(h.hourly.newest().unwrap().rx, 2_000_000);
        assert_eq!(daily[1].rx, 48_000_000);
        assert_eq!(daily[0].rx, 48_000_000, "the first reading counts its whole counter");
        // Range queries.
        assert_eq!(h.range(DAY_MS, base + DAY_MS, base + 3 * DAY_MS).len(), 2);
        assert_eq!(h.range(HOUR_MS, end - 2 * HOUR_MS, end).len(), 2);
        // 36 days later the peer's days are gone, the router's are not; 100 days: all gone.
        b.merge(&[], |_| true, end + 36 * DAY_MS);
        assert!(b.peers[&pid("p1")].history.daily.is_empty());
        assert_eq!(b.routers[&NodeId::parse("n", "a").unwrap()].history.daily.len(DAY_MS), 10);
        b.merge(&[], |_| true, end + 100 * DAY_MS);
        let h = &b.peers[&pid("p1")].history;
        assert!(h.hourly.is_empty() && h.daily.is_empty());
        assert!(b.routers[&NodeId::parse("n", "a").unwrap()].history.daily.is_empty());
        assert_eq!(b.peers[&pid("p1")].rx, 480_000_000, "totals are not history");
    }

    #[test]
    fn out_of_order_buckets_stay_sorted() {
        let mut h = History::default();
        for at in [5 * HOUR_MS, HOUR_MS, 3 * HOUR_MS, HOUR_MS + 5, 0] {
            h.add(at, 1, 1);
        }
        let starts: Vec<_> = h.hourly.buckets(HOUR_MS).iter().map(|b| b.start).collect();
        assert_eq!(starts, vec![0, HOUR_MS, 3 * HOUR_MS, 5 * HOUR_MS]);
        assert_eq!(h.hourly.buckets(HOUR_MS)[1].rx, 2);
    }

    #[test]
    fn status_table() {
        let seen = |at: Millis, hs: Option<Millis>, rate: u64, port: u16| RouterSeen {
            epoch: 1,
            at,
            rx: 0,
            tx: 0,
            handshake: hs,
            endpoint: Some(SocketAddr::from(([192, 0, 2, 1], port))),
            rx_rate: rate,
            tx_rate: rate,
        };
        let usage = |routers: Vec<(&str, RouterSeen)>| PeerUsage {
            rx: 10,
            tx: 20,
            routers: routers.into_iter().map(|(n, s)| (nid(n), s)).collect(),
            history: History::default(),
        };
        let now = T0;
        let fresh = 120_000;
        // (what, usage, connected, serving, endpoint port, rate)
        let cases = vec![
            ("never seen", None, false, None, None, 0),
            ("no handshake yet", Some(usage(vec![("a", seen(now, None, 5, 1))])), false, None, None, 0),
            ("fresh handshake", Some(usage(vec![("a", seen(now, Some(now - 10_000), 5, 1))])), true, Some("a"), Some(1), 5),
            ("stale handshake", Some(usage(vec![("a", seen(now, Some(now - CONNECTED_MAX_AGE_MS), 5, 1))])), false, Some("a"), Some(1), 5),
            (
                "old reading: no rate",
                Some(usage(vec![("a", seen(now - fresh - 1, Some(now - 10_000), 5, 1))])),
                true,
                Some("a"),
                Some(1),
                0,
            ),
            (
                "Mode A: newest handshake serves",
                Some(usage(vec![("a", seen(now, Some(now - 100_000), 5, 1)), ("b", seen(now, Some(now - 5_000), 7, 2))])),
                true,
                Some("b"),
                Some(2),
                7,
            ),
        ];
        for (what, u, connected, serving, port, rate) in cases {
            let s = status(u.as_ref(), now, fresh);
            assert_eq!(s.connected, connected, "{what}");
            assert_eq!(s.serving_node, serving.map(nid), "{what}");
            assert_eq!(s.endpoint.map(|e| e.port()), port, "{what}");
            assert_eq!(s.rx_rate, rate, "{what}");
            if u.is_some() {
                assert_eq!((s.rx_bytes, s.tx_bytes), (10, 20), "{what}");
            }
        }
    }

    /// A simulated peer: real traffic per step on whichever router carries it, counters that reset
    /// at random, reports that arrive duplicated, delayed and reordered. The merged total equals
    /// the true traffic exactly when every router's last reading has arrived after all resets
    /// were observed (each reset is seen as a new epoch or a lower counter).
    #[derive(Debug, Clone)]
    enum Step {
        Traffic { router: usize, rx: u32, tx: u32 },
        Reset { router: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0..3usize, 0..5_000u32, 0..5_000u32).prop_map(|(router, rx, tx)| Step::Traffic { router, rx, tx }),
            1 => (0..3usize).prop_map(|router| Step::Reset { router }),
        ]
    }

    proptest! {
        #[test]
        fn totals_match_true_traffic(steps in prop::collection::vec(step(), 1..60), shuffle in any::<u64>(), dup in 0..4usize) {
            let routers = ["a", "b", "c"];
            let mut counters = [(0u64, 0u64); 3];
            let mut epochs = [1u64, 1, 1];
            let mut truth = (0u64, 0u64);
            let mut reports = Vec::new();
            let mut at = T0;
            for s in &steps {
                at += 1000;
                match *s {
                    Step::Traffic { router, rx, tx } => {
                        counters[router].0 += u64::from(rx);
                        counters[router].1 += u64::from(tx);
                        truth.0 += u64::from(rx);
                        truth.1 += u64::from(tx);
                        reports.push(report(routers[router], epochs[router], at, vec![reading("p1", counters[router].0, counters[router].1)]));
                    }
                    Step::Reset { router } => {
                        counters[router] = (0, 0);
                        epochs[router] += 1;
                        reports.push(report(routers[router], epochs[router], at, vec![reading("p1", 0, 0)]));
                    }
                }
            }
            // In order, each report once: exact.
            let mut b = UsageBook::default();
            b.merge(&reports, |_| true, at);
            let u = &b.peers[&pid("p1")];
            prop_assert_eq!((u.rx, u.tx), truth);
            // The same reports again (all duplicates) change nothing.
            let before = b.clone();
            b.merge(&reports, |_| true, at);
            prop_assert_eq!(&b, &before);
            // Duplicated and locally reordered (delayed within a window of `dup` reports): never
            // more than the truth, and the last report of every router still lands the total
            // within the traffic of the reports it skipped.
            let mut mixed = reports.clone();
            let mut x = shuffle | 1;
            for i in 0..mixed.len() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                let j = (i + (x as usize % (dup + 1))).min(mixed.len() - 1);
                mixed.swap(i, j);
                if x % 3 == 0 { mixed.push(mixed[i].clone()); }
            }
            let mut m = UsageBook::default();
            m.merge(&mixed, |_| true, at);
            let u = &m.peers[&pid("p1")];
            prop_assert!(u.rx <= truth.0 && u.tx <= truth.1, "over-counted: {:?} > {:?}", (u.rx, u.tx), truth);
            if dup == 0 {
                prop_assert_eq!((u.rx, u.tx), truth);
            }
            // History holds exactly the totals (no bucket pruned within the run).
            let (hrx, htx) = m.peers[&pid("p1")].history.hourly.buckets(HOUR_MS).iter().fold((0, 0), |(a, b), k| (a + k.rx, b + k.tx));
            prop_assert_eq!((hrx, htx), (u.rx, u.tx));
        }
    }
}
