//! `IdempotencyLog`: the outcomes of writes made with an `Idempotency-Key`, part of the replicated
//! state, so a repeat is recognised on every router, after a leader change and after a restart
//! (issue #13). Pure.
//!
//! Rules: a key belongs to the user who sent it; a repeat with the same request (fingerprint)
//! returns the first outcome and applies nothing; the same key with another request is refused;
//! only successful writes are kept (a refused write changed nothing, so repeating it is safe).
//! Bounded: a key is kept `TTL_MS` (24 h) after its first use, at most `MAX_KEYS` keys and
//! `MAX_IDS` stored peer ids (a 5,000-peer bulk answer weighs 5,000); the oldest go first.

use super::{Idempotency, Outcome};
use crate::model::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How long a key is remembered after its first use.
pub const TTL_MS: Millis = 24 * 3600 * 1000;
/// Keys remembered at most.
pub const MAX_KEYS: usize = 10_000;
/// Peer ids kept in stored outcomes at most (bounds the snapshot: ~25 bytes each).
pub const MAX_IDS: usize = 100_000;
/// Longest key accepted (DESIGN §6).
pub const MAX_KEY_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub at: Millis,
    pub fingerprint: [u8; 32],
    pub outcome: Outcome,
}

/// What a key says about a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Never used (or expired): apply the command.
    New,
    /// The same request again: answer with this outcome.
    Repeat(&'a Outcome),
    /// The key was first used, at this time, for another request.
    OtherRequest(Millis),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyLog {
    records: BTreeMap<(String, String), Record>,
    /// (user, key) in the order they were recorded: expiry and eviction take from the front.
    order: VecDeque<(String, String)>,
    ids: usize,
}

fn weight(o: &Outcome) -> usize {
    match o {
        Outcome::PeersCreated { ids } => ids.len(),
        Outcome::Replayed(inner) => weight(inner),
        _ => 0,
    }
}

impl IdempotencyLog {
    pub fn seen(&self, user: &str, idem: &Idempotency, now: Millis) -> Seen<'_> {
        match self.records.get(&(user.to_string(), idem.key.clone())) {
            Some(r) if r.at.saturating_add(TTL_MS) > now => {
                if r.fingerprint == idem.fingerprint {
                    Seen::Repeat(&r.outcome)
                } else {
                    Seen::OtherRequest(r.at)
                }
            }
            _ => Seen::New,
        }
    }

    /// Remembers a successful write's outcome, then drops what is expired or over the bounds.
    pub fn record(&mut self, user: &str, idem: &Idempotency, at: Millis, outcome: &Outcome) {
        let k = (user.to_string(), idem.key.clone());
        if let Some(old) = self.records.remove(&k) {
            // An expired key used again: the new use replaces it.
            self.ids -= weight(&old.outcome);
            self.order.retain(|o| o != &k);
        }
        self.ids += weight(outcome);
        self.records.insert(k.clone(), Record { at, fingerprint: idem.fingerprint, outcome: outcome.clone() });
        self.order.push_back(k);
        self.prune(at);
    }

    fn prune(&mut self, now: Millis) {
        while let Some(front) = self.order.front() {
            let expired = self.records.get(front).is_none_or(|r| r.at.saturating_add(TTL_MS) <= now);
            if !(expired || self.records.len() > MAX_KEYS || self.ids > MAX_IDS) {
                break;
            }
            if let Some(k) = self.order.pop_front() {
                if let Some(r) = self.records.remove(&k) {
                    self.ids -= weight(&r.outcome);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PeerId;

    fn idem(key: &str, fp: u8) -> Idempotency {
        Idempotency { key: key.into(), fingerprint: [fp; 32] }
    }

    #[test]
    fn repeats_other_requests_and_expiry() {
        let mut log = IdempotencyLog::default();
        log.record("admin", &idem("k1", 1), 1000, &Outcome::Done);
        let cases: &[(&str, &str, u8, Millis, Seen)] = &[
            ("admin", "k1", 1, 1001, Seen::Repeat(&Outcome::Done)),
            ("admin", "k1", 2, 1001, Seen::OtherRequest(1000)),
            // Keys belong to their user.
            ("other", "k1", 1, 1001, Seen::New),
            ("admin", "k2", 1, 1001, Seen::New),
            // Just before and at expiry.
            ("admin", "k1", 1, 1000 + TTL_MS - 1, Seen::Repeat(&Outcome::Done)),
            ("admin", "k1", 1, 1000 + TTL_MS, Seen::New),
        ];
        for (user, key, fp, now, want) in cases {
            assert_eq!(&log.seen(user, &idem(key, *fp), *now), want, "{user} {key} {fp} {now}");
        }
    }

    #[test]
    fn bounded_by_keys_ids_and_time() {
        let mut log = IdempotencyLog::default();
        for i in 0..MAX_KEYS + 10 {
            log.record("admin", &idem(&format!("k{i}"), 1), 1000, &Outcome::Done);
        }
        assert_eq!(log.len(), MAX_KEYS);
        assert_eq!(log.seen("admin", &idem("k0", 1), 1001), Seen::New, "the oldest went first");
        let ids = |n: usize| Outcome::PeersCreated { ids: (0..n).map(|_| PeerId::random()).collect() };
        let mut log = IdempotencyLog::default();
        for i in 0..25 {
            log.record("admin", &idem(&format!("bulk{i}"), 1), 1000, &ids(5000));
        }
        assert!(log.ids <= MAX_IDS && log.len() == MAX_IDS / 5000, "{} ids in {} keys", log.ids, log.len());
        // Time: everything older than the TTL goes on the next record.
        log.record("admin", &idem("late", 1), 1000 + TTL_MS, &Outcome::Done);
        assert_eq!(log.len(), 1);
        assert_eq!(log.ids, 0);
    }
}
