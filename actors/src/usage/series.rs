//! PURE: `Series`, one history of traffic buckets (hourly or daily), kept compact because every
//! router holds every peer's history in memory (it is part of the replicated `State`).
//!
//! Closed buckets are packed oldest first as three LEB128 varints each — the bucket's slot
//! (`start ÷ step`), rx, tx — in one exactly sized allocation: about 11 bytes for a bucket of a
//! few hundred MB, against 24 for a `Bucket` plus a `VecDeque`'s slack. The newest bucket, the one
//! still counting, stays unpacked. Counts are exact (no rounding): the hourly buckets add up to
//! the peer's totals. Readings arrive in time order per router, so a bucket is almost always
//! added to the newest one or opens a new one; a late reading for an older bucket (another
//! router's clock) unpacks and repacks the series — rare, and at most a few hundred buckets.

use super::merge::Bucket;
use crate::model::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// Closed buckets, oldest first: (slot, rx, tx) as LEB128 varints.
    packed: Box<[u8]>,
    /// The newest bucket.
    last: Option<Bucket>,
}

impl Series {
    /// Every bucket, oldest first. `step` is the series' bucket length (`HOUR_MS` or `DAY_MS`).
    pub fn buckets(&self, step: Millis) -> Vec<Bucket> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((b, next)) = decode(&self.packed, at, step) {
            out.push(b);
            at = next;
        }
        out.extend(self.last);
        out
    }

    pub fn len(&self, step: Millis) -> usize {
        self.buckets(step).len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_none()
    }

    /// The newest bucket.
    pub fn newest(&self) -> Option<&Bucket> {
        self.last.as_ref()
    }

    /// Adds `rx`/`tx` to the bucket starting at `start` (a multiple of `step`).
    pub fn add(&mut self, step: Millis, start: Millis, rx: u64, tx: u64) {
        match &mut self.last {
            None => self.last = Some(Bucket { start, rx, tx }),
            Some(l) if l.start == start => {
                l.rx = l.rx.saturating_add(rx);
                l.tx = l.tx.saturating_add(tx);
            }
            Some(l) if l.start < start => {
                let closed = *l;
                let mut packed = Vec::with_capacity(self.packed.len() + 30);
                packed.extend_from_slice(&self.packed);
                encode(&mut packed, &closed, step);
                self.packed = packed.into_boxed_slice();
                self.last = Some(Bucket { start, rx, tx });
            }
            Some(_) => {
                let mut all = self.buckets(step);
                match all.iter().rposition(|b| b.start <= start) {
                    Some(i) if all[i].start == start => {
                        all[i].rx = all[i].rx.saturating_add(rx);
                        all[i].tx = all[i].tx.saturating_add(tx);
                    }
                    Some(i) => all.insert(i + 1, Bucket { start, rx, tx }),
                    None => all.insert(0, Bucket { start, rx, tx }),
                }
                *self = Series::from_buckets(&all, step);
            }
        }
    }

    /// Drops the oldest buckets while `expired` says so (it is asked oldest first).
    pub fn prune(&mut self, step: Millis, expired: impl Fn(&Bucket) -> bool) {
        let mut cut = 0;
        while let Some((b, next)) = decode(&self.packed, cut, step) {
            if !expired(&b) {
                break;
            }
            cut = next;
        }
        if cut == self.packed.len() && self.last.as_ref().is_some_and(&expired) {
            *self = Series::default();
        } else if cut > 0 {
            self.packed = self.packed[cut..].into();
        }
    }

    fn from_buckets(all: &[Bucket], step: Millis) -> Series {
        let Some((last, closed)) = all.split_last() else { return Series::default() };
        let mut packed = Vec::with_capacity(closed.len() * 12);
        for b in closed {
            encode(&mut packed, b, step);
        }
        Series { packed: packed.into_boxed_slice(), last: Some(*last) }
    }

    /// Bytes held on the heap (for the memory figures).
    pub fn heap_bytes(&self) -> usize {
        self.packed.len()
    }
}

fn encode(out: &mut Vec<u8>, b: &Bucket, step: Millis) {
    for mut v in [b.start / step.max(1), b.rx, b.tx] {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
}

/// The bucket packed at `at` and where the next one starts; `None` at the end (or on a
/// malformed varint, which `encode` never writes).
fn decode(buf: &[u8], mut at: usize, step: Millis) -> Option<(Bucket, usize)> {
    let mut vals = [0u64; 3];
    for v in &mut vals {
        let mut shift = 0u32;
        loop {
            let byte = *buf.get(at)?;
            at += 1;
            if shift >= 64 {
                return None;
            }
            *v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
    }
    Some((Bucket { start: vals[0] * step, rx: vals[1], tx: vals[2] }, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::merge::{DAY_MS, HOUR_MS};
    use proptest::prelude::*;

    /// (hours of the readings in arrival order, expected (hour, rx) buckets)
    type AddCase<'a> = (&'a [u64], &'a [(u64, u64)]);

    #[test]
    fn add_table() {
        let cases: &[AddCase] = &[
            (&[], &[]),
            (&[3], &[(3, 1)]),
            (&[3, 3, 4], &[(3, 2), (4, 1)]),
            (&[5, 1, 3, 1, 0], &[(0, 1), (1, 2), (3, 1), (5, 1)]),
            (&[1, 2, 3, 2], &[(1, 1), (2, 2), (3, 1)]),
        ];
        for (hours, want) in cases {
            let mut s = Series::default();
            for h in *hours {
                s.add(HOUR_MS, h * HOUR_MS, 1, 2);
            }
            let got: Vec<(u64, u64)> = s.buckets(HOUR_MS).iter().map(|b| (b.start / HOUR_MS, b.rx)).collect();
            assert_eq!(got, *want, "{hours:?}");
        }
    }

    #[test]
    fn prune_table() {
        let mut s = Series::default();
        for d in [10, 11, 12, 15] {
            s.add(DAY_MS, d * DAY_MS, 5, 5);
        }
        s.prune(DAY_MS, |b| b.start < 11 * DAY_MS);
        assert_eq!(s.buckets(DAY_MS).iter().map(|b| b.start / DAY_MS).collect::<Vec<_>>(), vec![11, 12, 15]);
        s.prune(DAY_MS, |b| b.start < 15 * DAY_MS);
        assert_eq!(s.buckets(DAY_MS).len(), 1);
        assert_eq!(s.heap_bytes(), 0);
        s.prune(DAY_MS, |_| true);
        assert!(s.is_empty() && s.buckets(DAY_MS).is_empty());
    }

    #[test]
    fn a_week_of_hours_is_small() {
        let mut s = Series::default();
        let h0 = 490_000;
        for h in 0..168 {
            s.add(HOUR_MS, (h0 + h) * HOUR_MS, 50_000_000, 9_000_000);
        }
        // slot 3 bytes + rx 4 + tx 4 = 11 per closed bucket.
        assert_eq!(s.heap_bytes(), 167 * 11);
    }

    proptest! {
        /// Any arrival order gives the same buckets as sorting first, and the sums are exact.
        #[test]
        fn order_does_not_matter(readings in prop::collection::vec((0u64..200, 0u64..u64::MAX / 1024, 0u64..1_000_000), 0..60)) {
            let mut s = Series::default();
            for (h, rx, tx) in &readings {
                s.add(HOUR_MS, h * HOUR_MS, *rx, *tx);
            }
            let mut sorted = readings.clone();
            sorted.sort_by_key(|r| r.0);
            let mut t = Series::default();
            for (h, rx, tx) in &sorted {
                t.add(HOUR_MS, h * HOUR_MS, *rx, *tx);
            }
            prop_assert_eq!(s.buckets(HOUR_MS), t.buckets(HOUR_MS));
            let sum = s.buckets(HOUR_MS).iter().fold((0u64, 0u64), |a, b| (a.0 + b.rx, a.1 + b.tx));
            let truth = readings.iter().fold((0u64, 0u64), |a, r| (a.0 + r.1, a.1 + r.2));
            prop_assert_eq!(sum, truth);
            let starts: Vec<u64> = s.buckets(HOUR_MS).iter().map(|b| b.start).collect();
            prop_assert!(starts.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
