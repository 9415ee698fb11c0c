//! Placement: which node gets a peer. Least-loaded by load ÷ weight, ties broken by node id; a batch
//! is placed one peer at a time so it spreads over several nodes. The load is the node's peer count
//! (`Placement::Peers`) or its recent traffic (`Placement::Traffic`, see `by_traffic`). Pure.

use crate::model::NodeId;

/// A node that may take peers, with its current load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: NodeId,
    pub weight: u32,
    pub load: u64,
}

/// Index of the least-loaded candidate (load/weight compared exactly, without floats).
pub fn least_loaded(cands: &[Candidate]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, c) in cands.iter().enumerate() {
        best = Some(match best {
            None => i,
            Some(b) => {
                let bc = &cands[b];
                let lhs = c.load as u128 * bc.weight.max(1) as u128;
                let rhs = bc.load as u128 * c.weight.max(1) as u128;
                if lhs < rhs || (lhs == rhs && c.id < bc.id) {
                    i
                } else {
                    b
                }
            }
        });
    }
    best
}

/// Places `n` items over `cands`, one at a time, each on the then least-loaded candidate.
/// Returns the chosen node for each item, in order. Empty when there are no candidates.
pub fn spread(cands: Vec<Candidate>, n: usize) -> Vec<NodeId> {
    spread_by(cands, n, 1)
}

/// `spread` where each placed item adds `unit` to its node's load (the traffic rule's estimate of
/// one peer's traffic).
pub fn spread_by(mut cands: Vec<Candidate>, n: usize, unit: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(i) = least_loaded(&cands) else { break };
        cands[i].load = cands[i].load.saturating_add(unit);
        out.push(cands[i].id.clone());
    }
    out
}

/// The traffic rule: `cands` arrive with their peer counts as load and leave with their recent
/// traffic (bytes) as load, plus the unit one placed peer adds: the average recent traffic per
/// peer of these nodes (at least 1 byte). While no candidate has recent traffic, nothing is known
/// about traffic: the candidates are returned as they came, with unit 1 (the peers rule).
pub fn by_traffic(cands: Vec<Candidate>, traffic: impl Fn(&NodeId) -> u64) -> (Vec<Candidate>, u64) {
    let bytes: Vec<u64> = cands.iter().map(|c| traffic(&c.id)).collect();
    let total: u64 = bytes.iter().fold(0u64, |a, b| a.saturating_add(*b));
    if total == 0 {
        return (cands, 1);
    }
    let peers: u64 = cands.iter().map(|c| c.load).sum();
    let unit = (total / peers.max(1)).max(1);
    let weighed = cands.into_iter().zip(bytes).map(|(c, b)| Candidate { load: b, ..c }).collect();
    (weighed, unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(id: &str, weight: u32, load: u64) -> Candidate {
        Candidate { id: NodeId::parse("id", id).unwrap(), weight, load }
    }

    #[test]
    fn table() {
        let cases: &[(&[Candidate], Option<&str>)] = &[
            (&[], None),
            (&[c("a", 1, 5)], Some("a")),
            (&[c("a", 1, 5), c("b", 1, 3)], Some("b")),
            (&[c("b", 1, 3), c("a", 1, 3)], Some("a")),
            (&[c("a", 1, 3), c("b", 2, 5)], Some("b")),
            (&[c("a", 1, 2), c("b", 2, 5)], Some("a")),
            (&[c("a", 0, 0), c("b", 1, 0)], Some("a")),
        ];
        for (cands, want) in cases {
            let got = least_loaded(cands).map(|i| cands[i].id.as_str().to_string());
            assert_eq!(got.as_deref(), *want, "{cands:?}");
        }
    }

    #[test]
    fn spread_follows_weights() {
        let got = spread(vec![c("a", 1, 0), c("b", 3, 0)], 8);
        let a = got.iter().filter(|x| x.as_str() == "a").count();
        assert_eq!((a, got.len() - a), (2, 6));
        assert!(spread(vec![], 3).is_empty());
    }

    #[test]
    fn traffic_table() {
        let t = |id: &NodeId| match id.as_str() {
            "a" => 9_000,
            "b" => 1_000,
            _ => 0,
        };
        // (candidates with peer counts, peers to place, expected homes)
        let cases: &[(&[Candidate], usize, &[&str])] = &[
            // b has least traffic although it has more peers; unit = 10,000 / 10 = 1,000 bytes.
            (&[c("a", 1, 2), c("b", 1, 8)], 1, &["b"]),
            // b takes peers until its estimated traffic passes a's: 1,000 + 8 × 1,000 = 9,000 ties, id breaks.
            (&[c("a", 1, 2), c("b", 1, 8)], 10, &["b", "b", "b", "b", "b", "b", "b", "b", "a", "b"]),
            // weight 9 on a: 9,000 / 9 = 1,000 ties with b's 1,000 / 1, id a wins.
            (&[c("a", 9, 2), c("b", 1, 8)], 1, &["a"]),
            // no traffic anywhere: the peers rule.
            (&[c("c", 1, 5), c("d", 1, 3)], 2, &["d", "d"]),
            // c has no traffic, a does: c is least.
            (&[c("a", 1, 0), c("c", 1, 40)], 1, &["c"]),
        ];
        for (cands, n, want) in cases {
            let (weighed, unit) = by_traffic(cands.to_vec(), t);
            let got: Vec<String> = spread_by(weighed, *n, unit).iter().map(|x| x.as_str().to_string()).collect();
            assert_eq!(got, *want, "{cands:?}");
        }
    }

    proptest! {
        /// With no recent traffic the traffic rule places exactly as the peers rule.
        #[test]
        fn traffic_without_traffic_is_peers(weights in prop::collection::vec(1u32..5, 1..6),
                                            loads in prop::collection::vec(0u64..20, 6), n in 0usize..100) {
            let cands: Vec<Candidate> = weights.iter().enumerate()
                .map(|(i, w)| c(&format!("n{i}"), *w, loads[i])).collect();
            let (weighed, unit) = by_traffic(cands.clone(), |_| 0);
            prop_assert_eq!(spread_by(weighed, n, unit), spread(cands, n));
        }

        /// A single peer goes to a node whose recent traffic ÷ weight is the least, and a batch
        /// leaves the estimated loads balanced up to one peer's estimate.
        #[test]
        fn traffic_picks_least_and_balances(weights in prop::collection::vec(1u32..5, 1..6),
                                            bytes in prop::collection::vec(0u64..1_000_000, 6),
                                            peers in prop::collection::vec(0u64..50, 6), n in 1usize..100) {
            let cands: Vec<Candidate> = weights.iter().enumerate()
                .map(|(i, w)| c(&format!("n{i}"), *w, peers[i])).collect();
            let traffic = |id: &NodeId| bytes[id.as_str()[1..].parse::<usize>().unwrap()];
            let (weighed, unit) = by_traffic(cands.clone(), traffic);
            prop_assert!(unit >= 1);
            let placed = spread_by(weighed.clone(), n, unit);
            prop_assert_eq!(placed.len(), n);
            if bytes[..cands.len()].iter().any(|b| *b > 0) {
                let first = weighed.iter().find(|x| x.id == placed[0]).unwrap();
                for y in &weighed {
                    prop_assert!(first.load as u128 * y.weight as u128 <= y.load as u128 * first.weight as u128,
                                 "{:?} placed while {:?} had less traffic per weight", first, y);
                }
            }
            let mut fin = weighed.clone();
            for id in &placed { fin.iter_mut().find(|x| &x.id == id).unwrap().load += unit; }
            for x in &fin {
                if !placed.contains(&x.id) { continue; }
                for y in &fin {
                    let lhs = (x.load - unit) as u128 * y.weight as u128;
                    let rhs = y.load as u128 * x.weight as u128;
                    prop_assert!(lhs <= rhs, "{:?} got a peer while {:?} was lighter", x, y);
                }
            }
        }
    }

    proptest! {
        /// After placing a batch, no node could take one of another node's peers and be less loaded
        /// than that node was: the loads are balanced up to one peer's worth of weight.
        #[test]
        fn spread_is_balanced(weights in prop::collection::vec(1u32..5, 1..6),
                              loads in prop::collection::vec(0u64..20, 6), n in 0usize..200) {
            let cands: Vec<Candidate> = weights.iter().enumerate()
                .map(|(i, w)| c(&format!("n{i}"), *w, loads[i])).collect();
            let placed = spread(cands.clone(), n);
            prop_assert_eq!(placed.len(), n);
            let mut fin = cands.clone();
            for id in &placed { fin.iter_mut().find(|x| &x.id == id).unwrap().load += 1; }
            // Every node that received something was, at that moment, least loaded; so its final
            // (load-1)/weight is <= any other node's final load/weight.
            for x in &fin {
                let got = placed.iter().filter(|id| **id == x.id).count() as u64;
                if got == 0 { continue; }
                for y in &fin {
                    let lhs = (x.load - 1) as u128 * y.weight as u128;
                    let rhs = y.load as u128 * x.weight as u128;
                    prop_assert!(lhs <= rhs, "{:?} got a peer while {:?} was lighter", x, y);
                }
            }
        }
    }
}
