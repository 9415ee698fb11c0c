//! Placement: which node gets a peer. Least-loaded by peers ÷ weight, ties broken by node id; a batch
//! is placed one peer at a time so it spreads over several nodes. Pure.

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
pub fn spread(mut cands: Vec<Candidate>, n: usize) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(i) = least_loaded(&cands) else { break };
        cands[i].load += 1;
        out.push(cands[i].id.clone());
    }
    out
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
