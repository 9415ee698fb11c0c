//! Tunnel address allocation from a config's networks. Pure: takes the networks and the addresses in
//! use, returns the next free host address of each family, or says which family is exhausted.
//! `allocate` is the rule, stated as a scan; apply allocates through `index::ConfigIndex`, which
//! gives the same answers in O(log n) and is property-tested against `allocate`.
//!
//! Invariant: never returns an address in `used`, a network or broadcast address, or an address
//! outside the config's networks.

use ipnet::IpNet;
use std::collections::HashSet;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the address pool {0} has no free address left")]
    Exhausted(IpNet),
    #[error("the config has no address network to allocate from")]
    NoNetwork,
}

/// One host address (as /32 or /128) from the first network of each family in `networks`.
pub fn allocate(networks: &[IpNet], used: &HashSet<IpAddr>) -> Result<Vec<IpNet>, PoolError> {
    let first_v4 = networks.iter().find(|n| matches!(n, IpNet::V4(_)));
    let first_v6 = networks.iter().find(|n| matches!(n, IpNet::V6(_)));
    let mut out = Vec::new();
    for net in [first_v4, first_v6].into_iter().flatten() {
        let addr = next_free(net, used).ok_or(PoolError::Exhausted(net.trunc()))?;
        out.push(IpNet::from(addr));
    }
    if out.is_empty() {
        return Err(PoolError::NoNetwork);
    }
    Ok(out)
}

/// The host addresses of a network as numbers: `first..=last` (network and broadcast excluded,
/// except in /31, /32, /127 and /128, which have none), in the network's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRange {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl PoolRange {
    pub fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(n) => {
                let base = u32::from(n.network()) as u128;
                let bcast = u32::from(n.broadcast()) as u128;
                let (first, last) = if n.prefix_len() >= 31 { (base, bcast) } else { (base + 1, bcast - 1) };
                Self { v6: false, first, last }
            }
            IpNet::V6(n) => {
                let base = u128::from(n.network());
                let last = u128::from(n.broadcast());
                let first = if n.prefix_len() >= 127 { base } else { base + 1 };
                Self { v6: true, first, last }
            }
        }
    }

    /// `addr` as a number, when it is a host address of this range.
    pub fn value(&self, addr: &IpAddr) -> Option<u128> {
        let v = match (addr, self.v6) {
            (IpAddr::V4(a), false) => u32::from(*a) as u128,
            (IpAddr::V6(a), true) => u128::from(*a),
            _ => return None,
        };
        (self.first..=self.last).contains(&v).then_some(v)
    }

    /// The host address `v` as a /32 or /128.
    pub fn net_of(&self, v: u128) -> IpNet {
        IpNet::from(self.addr_of(v))
    }

    fn addr_of(&self, v: u128) -> IpAddr {
        if self.v6 {
            IpAddr::from(std::net::Ipv6Addr::from(v))
        } else {
            IpAddr::from(std::net::Ipv4Addr::from(v as u32))
        }
    }
}

/// The lowest usable host address of `net` not in `used`. Scans at most `used.len() + 2` candidates
/// past the first host, so it is cheap even for a /64. This is the rule; `index::ConfigIndex`
/// implements it without the scan and is property-tested against it.
fn next_free(net: &IpNet, used: &HashSet<IpAddr>) -> Option<IpAddr> {
    let r = PoolRange::of(net);
    let budget = used.len() as u128 + 2;
    let mut v = r.first;
    let mut steps = 0u128;
    while v <= r.last && steps <= budget {
        let a = r.addr_of(v);
        if !used.contains(&a) {
            return Some(a);
        }
        v += 1;
        steps += 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table-driven cases are tuples
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|x| x.parse().unwrap()).collect()
    }

    #[test]
    fn table() {
        let own: HashSet<IpAddr> = ["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()].into();
        let cases: &[(&[&str], &HashSet<IpAddr>, Result<Vec<&str>, ()>)] = &[
            (&["10.0.0.1/24"], &own, Ok(vec!["10.0.0.2/32"])),
            (&["10.0.0.1/24", "fd00::1/64"], &own, Ok(vec!["10.0.0.2/32", "fd00::2/128"])),
            (&["fd00::1/120"], &own, Ok(vec!["fd00::2/128"])),
            (&["10.0.0.1/30"], &own, Ok(vec!["10.0.0.2/32"])),
        ];
        for (n, used, want) in cases {
            let got = allocate(&nets(n), used).map_err(|_| ());
            let want = want.clone().map(|w| nets(&w));
            assert_eq!(got, want, "{n:?}");
        }
    }

    #[test]
    fn exhausted_names_the_pool() {
        let used: HashSet<IpAddr> = ["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()].into();
        let e = allocate(&nets(&["10.0.0.1/30"]), &used).unwrap_err();
        assert_eq!(e, PoolError::Exhausted("10.0.0.0/30".parse().unwrap()));
        assert!(e.to_string().contains("10.0.0.0/30"));
        assert_eq!(allocate(&[], &used), Err(PoolError::NoNetwork));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Alloc,
        Free(usize),
    }

    fn run_ops(net: &str, ops: Vec<Op>) {
        let networks = nets(&[net]);
        let own = networks[0].addr();
        let mut used: HashSet<IpAddr> = [own].into();
        let mut live: Vec<IpAddr> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc => match allocate(&networks, &used) {
                    Ok(a) => {
                        let ip = a[0].addr();
                        assert!(!used.contains(&ip), "duplicate {ip}");
                        assert!(networks[0].contains(&ip));
                        assert_ne!(ip, networks[0].network());
                        if let IpNet::V4(n) = networks[0] {
                            assert_ne!(ip, IpAddr::V4(n.broadcast()));
                        }
                        used.insert(ip);
                        live.push(ip);
                    }
                    Err(PoolError::Exhausted(_)) => {
                        // Only when every host address really is taken.
                        let hosts = networks[0].hosts().count();
                        assert_eq!(used.len(), hosts, "exhausted early");
                    }
                    Err(e) => panic!("{e}"),
                },
                Op::Free(i) => {
                    if !live.is_empty() {
                        let ip = live.remove(i % live.len());
                        used.remove(&ip);
                    }
                }
            }
        }
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(prop_oneof![3 => Just(Op::Alloc), 1 => any::<usize>().prop_map(Op::Free)], 0..200)
    }

    proptest! {
        #[test]
        fn v4_never_duplicates(ops in ops()) { run_ops("10.9.0.1/26", ops) }
        #[test]
        fn v6_never_duplicates(ops in ops()) { run_ops("fd00:1::1/120", ops) }
    }
}
