//! `PeerIndex`: lookups derived from the replicated maps, so that creating a peer costs O(log n)
//! instead of a scan of every peer (issue #13). Per config it keeps the address pools (next-free
//! cursor plus the holes left below it), the public keys in use and each node's peer count (the
//! placement load). Pure data; never serialised: it is rebuilt from `State::peers` on first use
//! after a snapshot is loaded, and dropped whenever a command changes peers in a way it does not
//! track (see `State::apply`).
//!
//! Invariant: for every config it holds, the index equals `ConfigIndex::build` of the current
//! state (the fuzz target `commands` checks this after every command).

use super::pool::{PoolError, PoolRange};
use crate::model::{Config, ConfigName, NodeId, Peer, WgKey};
use ipnet::IpNet;
use std::collections::{BTreeSet, HashMap, HashSet};

/// One address family's pool of a config: its first network of that family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    net: IpNet,
    range: PoolRange,
    used: HashSet<u128>,
    /// The lowest value not yet known to be used; everything below it is used or a hole.
    cursor: u128,
    /// Free values below `cursor` (addresses released after the cursor passed them).
    holes: BTreeSet<u128>,
}

impl Pool {
    fn new(net: IpNet) -> Self {
        let range = PoolRange::of(&net);
        Self { net, range, used: HashSet::new(), cursor: range.first, holes: BTreeSet::new() }
    }

    fn advance(&mut self) {
        while self.cursor <= self.range.last && self.used.contains(&self.cursor) {
            self.cursor += 1;
        }
    }

    /// Marks `addr` used (ignored when it is not in this pool's family or range).
    fn mark(&mut self, addr: &IpNet) {
        let Some(v) = self.range.value(&addr.addr()) else { return };
        self.used.insert(v);
        if v < self.cursor {
            self.holes.remove(&v);
        } else if v == self.cursor {
            self.advance();
        }
    }

    fn release(&mut self, addr: &IpNet) {
        let Some(v) = self.range.value(&addr.addr()) else { return };
        if self.used.remove(&v) && v < self.cursor {
            self.holes.insert(v);
        }
    }

    /// The `n` lowest free addresses, ascending, without taking them; fewer when the pool runs out.
    fn lowest_free(&self, n: usize) -> Vec<u128> {
        let mut out: Vec<u128> = self.holes.iter().take(n).copied().collect();
        let mut v = self.cursor;
        while out.len() < n && v <= self.range.last {
            if !self.used.contains(&v) {
                out.push(v);
            }
            v += 1;
        }
        out
    }
}

/// What the index knows about one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIndex {
    pools: Vec<Pool>,
    keys: HashMap<WgKey, u32>,
    load: HashMap<NodeId, u64>,
}

impl ConfigIndex {
    /// The index of `config` from its peers (`peers` may hold other configs' peers: skipped).
    pub fn build<'a>(config: &Config, peers: impl Iterator<Item = &'a Peer>) -> Self {
        let first_v4 = config.addresses.iter().find(|n| matches!(n, IpNet::V4(_)));
        let first_v6 = config.addresses.iter().find(|n| matches!(n, IpNet::V6(_)));
        let pools = [first_v4, first_v6].into_iter().flatten().map(|n| Pool::new(*n)).collect();
        let mut idx = Self { pools, keys: HashMap::new(), load: HashMap::new() };
        for own in &config.addresses {
            idx.pools.iter_mut().for_each(|p| p.mark(own));
        }
        for p in peers.filter(|p| p.config == config.name) {
            idx.insert(p);
        }
        idx
    }

    /// Records a peer that joined the config.
    pub fn insert(&mut self, p: &Peer) {
        for a in &p.addresses {
            self.pools.iter_mut().for_each(|pool| pool.mark(a));
        }
        *self.keys.entry(p.public_key).or_default() += 1;
        if let Some(n) = &p.node_id {
            *self.load.entry(n.clone()).or_default() += 1;
        }
    }

    /// Forgets a peer that left the config.
    pub fn remove(&mut self, p: &Peer) {
        for a in &p.addresses {
            self.pools.iter_mut().for_each(|pool| pool.release(a));
        }
        if let Some(c) = self.keys.get_mut(&p.public_key) {
            *c -= 1;
            if *c == 0 {
                self.keys.remove(&p.public_key);
            }
        }
        if let Some(n) = &p.node_id {
            self.unload(n);
        }
    }

    /// A peer moved from `from` to `to` (its home node).
    pub fn rehome(&mut self, from: Option<&NodeId>, to: Option<&NodeId>) {
        if let Some(f) = from {
            self.unload(f);
        }
        if let Some(t) = to {
            *self.load.entry(t.clone()).or_default() += 1;
        }
    }

    fn unload(&mut self, n: &NodeId) {
        if let Some(c) = self.load.get_mut(n) {
            *c -= 1;
            if *c == 0 {
                self.load.remove(n);
            }
        }
    }

    /// Whether `other` answers every question the same (the cursors and holes may differ in
    /// representation: an index kept current and one rebuilt from scratch are compared this way).
    #[cfg(test)]
    pub(crate) fn equivalent(&self, other: &Self) -> bool {
        let view = |x: &Self| {
            let pools: Vec<(IpNet, BTreeSet<u128>, Vec<u128>)> =
                x.pools.iter().map(|p| (p.net, p.used.iter().copied().collect(), p.lowest_free(16))).collect();
            (pools, x.keys.clone(), x.load.clone())
        };
        view(self) == view(other)
    }

    pub fn has_key(&self, k: &WgKey) -> bool {
        self.keys.contains_key(k)
    }

    /// Peers of this config whose home is `node`.
    pub fn load(&self, node: &NodeId) -> u64 {
        self.load.get(node).copied().unwrap_or(0)
    }

    /// Addresses for `n` new peers, the same ones `pool::allocate` would hand out one peer at a
    /// time: peer i gets the i-th lowest free host address of each family's first network. Takes
    /// nothing (the caller inserts the peers once every check passed). The error names the pool
    /// the one-at-a-time rule would have found exhausted first.
    pub fn allocate(&self, n: usize) -> Result<Vec<Vec<IpNet>>, PoolError> {
        if self.pools.is_empty() {
            return Err(PoolError::NoNetwork);
        }
        let free: Vec<Vec<u128>> = self.pools.iter().map(|p| p.lowest_free(n)).collect();
        // One at a time, peer i fails on the first family (v4 before v6) with fewer than i+1.
        let first_short = free.iter().map(Vec::len).min().unwrap_or(0);
        if first_short < n {
            let (pool, _) = self.pools.iter().zip(&free).find(|(_, f)| f.len() == first_short).expect("a pool is short");
            return Err(PoolError::Exhausted(pool.net.trunc()));
        }
        Ok((0..n).map(|i| self.pools.iter().zip(&free).map(|(p, f)| p.range.net_of(f[i])).collect()).collect())
    }
}

/// The index of every config built so far. Compares equal to any other index: it is derived data,
/// so two states are equal when their replicated maps are.
#[derive(Clone, Default)]
pub struct PeerIndex {
    configs: HashMap<ConfigName, ConfigIndex>,
}

impl std::fmt::Debug for PeerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerIndex({} configs)", self.configs.len())
    }
}

impl PartialEq for PeerIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PeerIndex {}

impl PeerIndex {
    /// The config's index, built from `peers` if it is not held yet.
    pub fn config<'a>(&mut self, config: &Config, peers: impl Iterator<Item = &'a Peer>) -> &mut ConfigIndex {
        self.configs.entry(config.name.clone()).or_insert_with(|| ConfigIndex::build(config, peers))
    }

    /// The config's index if it is held (mutations of tracked commands keep it current).
    pub fn held(&mut self, config: &ConfigName) -> Option<&mut ConfigIndex> {
        self.configs.get_mut(config)
    }

    /// Drops everything: the next use rebuilds from the state.
    pub fn clear(&mut self) {
        self.configs.clear();
    }

    /// Every held config index (for the invariant check).
    pub fn iter(&self) -> impl Iterator<Item = (&ConfigName, &ConfigIndex)> {
        self.configs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::super::pool;
    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc(usize),
        Free(usize),
        Mark(u8),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![3 => (1usize..6).prop_map(Op::Alloc), 2 => any::<usize>().prop_map(Op::Free), 1 => any::<u8>().prop_map(Op::Mark)],
            0..120,
        )
    }

    /// The index hands out exactly what today's one-at-a-time rule (`pool::allocate`) hands out,
    /// including the error, under any mix of allocations, releases and foreign addresses.
    fn same_as_scan(nets: &[&str], ops: Vec<Op>) {
        let networks: Vec<IpNet> = nets.iter().map(|s| net(s)).collect();
        let mut pools: Vec<Pool> = Vec::new();
        for n in
            [networks.iter().find(|n| matches!(n, IpNet::V4(_))), networks.iter().find(|n| matches!(n, IpNet::V6(_)))].into_iter().flatten()
        {
            pools.push(Pool::new(*n));
        }
        let mut idx = ConfigIndex { pools, keys: HashMap::new(), load: HashMap::new() };
        let mut used: HashSet<IpAddr> = HashSet::new();
        for own in &networks {
            used.insert(own.addr());
            idx.pools.iter_mut().for_each(|p| p.mark(own));
        }
        let mut live: Vec<Vec<IpNet>> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc(n) => {
                    let mut scan_used = used.clone();
                    let mut want = Vec::new();
                    let mut want_err = None;
                    for _ in 0..n {
                        match pool::allocate(&networks, &scan_used) {
                            Ok(a) => {
                                scan_used.extend(a.iter().map(|x| x.addr()));
                                want.push(a);
                            }
                            Err(e) => {
                                want_err = Some(e);
                                break;
                            }
                        }
                    }
                    match (idx.allocate(n), want_err) {
                        (Ok(got), None) => {
                            assert_eq!(got, want);
                            for a in &got {
                                for x in a {
                                    idx.pools.iter_mut().for_each(|p| p.mark(x));
                                    used.insert(x.addr());
                                }
                            }
                            live.extend(got);
                        }
                        (Err(g), Some(w)) => assert_eq!(g, w),
                        (g, w) => panic!("index {g:?}, scan error {w:?}"),
                    }
                }
                Op::Free(i) => {
                    if !live.is_empty() {
                        let a = live.remove(i % live.len());
                        for x in &a {
                            idx.pools.iter_mut().for_each(|p| p.release(x));
                            used.remove(&x.addr());
                        }
                    }
                }
                Op::Mark(b) => {
                    // An address placed from outside the pool rule (a restored backup, the own address).
                    let x = match networks[0] {
                        IpNet::V4(n) => IpNet::from(IpAddr::from(std::net::Ipv4Addr::from(u32::from(n.network()) + u32::from(b) % 70))),
                        IpNet::V6(n) => IpNet::from(IpAddr::from(std::net::Ipv6Addr::from(u128::from(n.network()) + u128::from(b)))),
                    };
                    if used.insert(x.addr()) {
                        idx.pools.iter_mut().for_each(|p| p.mark(&x));
                        live.push(vec![x]);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn v4_pool_equals_the_scan(ops in ops()) { same_as_scan(&["10.9.0.1/26"], ops) }
        #[test]
        fn v6_pool_equals_the_scan(ops in ops()) { same_as_scan(&["fd00:1::1/122"], ops) }
        #[test]
        fn dual_stack_equals_the_scan(ops in ops()) { same_as_scan(&["10.9.0.1/27", "fd00:1::1/124"], ops) }
        #[test]
        fn tiny_pools_equal_the_scan(ops in ops()) { same_as_scan(&["10.9.0.1/30", "fd00:1::1/126"], ops) }
    }

    #[test]
    #[allow(clippy::type_complexity)] // the case table
    fn table() {
        // (networks, addresses used besides the own ones, n) → addresses of the last peer, or the error pool
        let cases: &[(&[&str], &[&str], usize, Result<&[&str], &str>)] = &[
            (&["10.0.0.1/24"], &[], 1, Ok(&["10.0.0.2/32"])),
            (&["10.0.0.1/24"], &["10.0.0.2/32", "10.0.0.4/32"], 2, Ok(&["10.0.0.5/32"])),
            (&["10.0.0.1/24", "fd00::1/64"], &[], 3, Ok(&["10.0.0.4/32", "fd00::4/128"])),
            (&["10.0.0.1/30"], &[], 1, Ok(&["10.0.0.2/32"])),
            (&["10.0.0.1/30"], &[], 2, Err("10.0.0.0/30")),
            (&["10.0.0.1/24", "fd00::1/126"], &[], 3, Err("fd00::/126")),
            (&["10.0.0.1/31"], &[], 1, Ok(&["10.0.0.0/32"])),
        ];
        for (nets, taken, n, want) in cases {
            let mut idx =
                ConfigIndex { pools: nets.iter().map(|s| Pool::new(net(s))).collect(), keys: HashMap::new(), load: HashMap::new() };
            for x in nets.iter().chain(taken.iter()) {
                idx.pools.iter_mut().for_each(|p| p.mark(&net(x)));
            }
            let got = idx.allocate(*n).map(|v| v.last().cloned().unwrap_or_default()).map_err(|e| match e {
                PoolError::Exhausted(p) => p.to_string(),
                PoolError::NoNetwork => "none".into(),
            });
            let want = want.map(|w| w.iter().map(|s| net(s)).collect::<Vec<_>>()).map_err(|e| e.to_string());
            assert_eq!(got, want, "{nets:?} {taken:?} {n}");
        }
        let empty = ConfigIndex { pools: vec![], keys: HashMap::new(), load: HashMap::new() };
        assert_eq!(empty.allocate(1), Err(PoolError::NoNetwork));
    }
}
