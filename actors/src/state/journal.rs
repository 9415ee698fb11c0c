//! `ChangeJournal`: which peers the last commands changed, so views derived from the state (the
//! WireGuard desired state, `wg::desired::DesiredCache`) stay current without a rebuild per
//! change (issue #13). Local, not replicated: every router's apply writes the same entries, and a
//! consumer that missed some (a snapshot was installed, the journal was trimmed) rebuilds.
//!
//! Each successful command adds at most one entry: the peers it changed, or `All` for commands
//! that change more than peers (a config, an assignment, Mode A/B, migrations…); commands that
//! change nothing a derived view shows add none (`apply::journal_change`).

use crate::model::{ConfigName, PeerId};
use portable_atomic::AtomicU64;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

/// Entries kept; a consumer further behind rebuilds.
pub const KEEP: usize = 1024;

static EPOCHS: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These peers of `config` were created, changed or deleted.
    Peers { config: ConfigName, ids: Vec<PeerId> },
    /// Anything else: rebuild.
    All,
}

/// Where a consumer is: the journal's identity (a new `State` — loaded, installed from a
/// snapshot — is a new epoch) and the last entry it has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    epoch: u64,
    seq: u64,
}

#[derive(Debug, Clone)]
pub struct ChangeJournal {
    epoch: u64,
    seq: u64,
    entries: VecDeque<(u64, Change)>,
}

impl Default for ChangeJournal {
    fn default() -> Self {
        Self { epoch: EPOCHS.fetch_add(1, Ordering::Relaxed), seq: 0, entries: VecDeque::new() }
    }
}

/// Derived data: two states are equal when their replicated maps are.
impl PartialEq for ChangeJournal {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ChangeJournal {}

impl ChangeJournal {
    pub fn record(&mut self, c: Change) {
        self.seq += 1;
        self.entries.push_back((self.seq, c));
        while self.entries.len() > KEEP {
            self.entries.pop_front();
        }
    }

    pub fn cursor(&self) -> Cursor {
        Cursor { epoch: self.epoch, seq: self.seq }
    }

    /// The changes after `c`, oldest first; `None` when they are not all known (another epoch,
    /// or trimmed): the consumer must rebuild.
    pub fn since(&self, c: Cursor) -> Option<impl Iterator<Item = &Change>> {
        if c.epoch != self.epoch || c.seq > self.seq {
            return None;
        }
        let oldest = self.entries.front().map(|(s, _)| *s).unwrap_or(self.seq + 1);
        if c.seq + 1 < oldest && c.seq < self.seq {
            return None;
        }
        Some(self.entries.iter().filter(move |(s, _)| *s > c.seq).map(|(_, ch)| ch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: u8) -> Change {
        Change::Peers { config: ConfigName::parse("c", "wg0").unwrap(), ids: vec![PeerId::parse("p", &format!("p{n}")).unwrap()] }
    }

    #[test]
    fn cursors() {
        let mut j = ChangeJournal::default();
        let start = j.cursor();
        assert_eq!(j.since(start).map(|i| i.count()), Some(0));
        j.record(peers(1));
        j.record(Change::All);
        let mid = j.cursor();
        j.record(peers(2));
        assert_eq!(j.since(start).map(|i| i.cloned().collect::<Vec<_>>()), Some(vec![peers(1), Change::All, peers(2)]));
        assert_eq!(j.since(mid).map(|i| i.cloned().collect::<Vec<_>>()), Some(vec![peers(2)]));
        // Another state (another epoch), a cursor from the future, a trimmed journal: rebuild.
        assert!(ChangeJournal::default().since(mid).is_none());
        assert!(ChangeJournal::default().since(Cursor { epoch: j.epoch, seq: 99 }).is_none());
        for i in 0..KEEP as u8 as usize + KEEP {
            j.record(peers((i % 200) as u8));
        }
        assert!(j.since(start).is_none(), "trimmed entries are not silently skipped");
        assert_eq!(j.since(j.cursor()).map(|i| i.count()), Some(0));
        // A clone has the same history.
        let c = j.clone();
        assert_eq!(c.since(j.cursor()).map(|i| i.count()), Some(0));
    }
}
