//! Health hysteresis: a node turns unhealthy after `unhealthy_after` consecutive failed probes and
//! healthy again after `healthy_after` consecutive good ones. Pure.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub unhealthy_after: u32,
    pub healthy_after: u32,
}

/// The running count for one node. Starts from the node's current verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracker {
    pub healthy: bool,
    misses: u32,
    hits: u32,
}

impl Tracker {
    pub fn new(healthy: bool) -> Self {
        Self { healthy, misses: 0, hits: 0 }
    }

    /// Records one probe; returns the new verdict when it flips.
    pub fn observe(&mut self, ok: bool, t: Thresholds) -> Option<bool> {
        if ok {
            self.misses = 0;
            self.hits = self.hits.saturating_add(1);
            if !self.healthy && self.hits >= t.healthy_after.max(1) {
                self.healthy = true;
                return Some(true);
            }
        } else {
            self.hits = 0;
            self.misses = self.misses.saturating_add(1);
            if self.healthy && self.misses >= t.unhealthy_after.max(1) {
                self.healthy = false;
                return Some(false);
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // table-driven cases are tuples
mod tests {
    use super::*;

    #[test]
    fn table() {
        let t = Thresholds { unhealthy_after: 3, healthy_after: 2 };
        // (start, probes, flips expected at each step)
        let cases: &[(bool, &[bool], &[Option<bool>])] = &[
            (true, &[false, false, false], &[None, None, Some(false)]),
            (true, &[false, false, true, false, false], &[None, None, None, None, None]),
            (false, &[true, true], &[None, Some(true)]),
            (false, &[true, false, true, true], &[None, None, None, Some(true)]),
            (true, &[true, true, true], &[None, None, None]),
            (true, &[false, false, false, false], &[None, None, Some(false), None]),
        ];
        for (start, probes, want) in cases {
            let mut tr = Tracker::new(*start);
            let got: Vec<Option<bool>> = probes.iter().map(|ok| tr.observe(*ok, t)).collect();
            assert_eq!(&got, want, "start={start} probes={probes:?}");
        }
    }
}
