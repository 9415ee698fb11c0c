//! The Raft log on redb: entries by index (postcard), the vote, the committed id and the last purged
//! id. `append` writes a whole batch in one fsync'd transaction before it reports the flush, so an
//! acknowledged write survives `kill -9` and power loss; the committed id is written with
//! `Durability::None` (it rides along with the next durable commit, and Raft can recover it).

use super::io_err;
use super::types::TypeConfig;
use crate::store::{RAFT_LOG, RAFT_META};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use redb::{Database, Durability, ReadableTable};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

type SErr = StorageError<u64>;

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SErr> {
        let txn = self.db.begin_read().map_err(|e| StorageIOError::read(io_err(e)))?;
        let t = txn.open_table(RAFT_META).map_err(|e| StorageIOError::read(io_err(e)))?;
        let v = t.get(key).map_err(|e| StorageIOError::read(io_err(e)))?;
        match v {
            None => Ok(None),
            Some(v) => Ok(Some(postcard::from_bytes(v.value()).map_err(|e| StorageIOError::read(io_err(e)))?)),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &str, value: &T, durable: bool) -> Result<(), SErr> {
        let bytes = postcard::to_allocvec(value).map_err(|e| StorageIOError::write(io_err(e)))?;
        let mut txn = self.db.begin_write().map_err(|e| StorageIOError::write(io_err(e)))?;
        if !durable {
            txn.set_durability(Durability::None);
        }
        {
            let mut t = txn.open_table(RAFT_META).map_err(|e| StorageIOError::write(io_err(e)))?;
            t.insert(key, bytes.as_slice()).map_err(|e| StorageIOError::write(io_err(e)))?;
        }
        txn.commit().map_err(|e| StorageIOError::write(io_err(e)))?;
        Ok(())
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, SErr> {
        let txn = self.db.begin_read().map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let t = txn.open_table(RAFT_LOG).map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let last = t.last().map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        match last {
            None => Ok(None),
            Some((_, v)) => {
                let e: Entry<TypeConfig> = postcard::from_bytes(v.value()).map_err(|e| StorageIOError::read_logs(io_err(e)))?;
                Ok(Some(e.log_id))
            }
        }
    }

    /// Deletes entries with index in `range` (one transaction).
    fn delete_range(&self, from: u64, to_inclusive: Option<u64>) -> Result<(), SErr> {
        let txn = self.db.begin_write().map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        {
            let mut t = txn.open_table(RAFT_LOG).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
            let res = match to_inclusive {
                Some(to) => t.retain_in(from..=to, |_, _| false),
                None => t.retain_in(from.., |_, _| false),
            };
            res.map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        }
        txn.commit().map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        Ok(())
    }
}

/// Bytes of log entries one AppendEntries carries at most (always at least one entry). openraft
/// 0.9 gives every AppendEntries RPC one heartbeat interval to finish: a follower catching up
/// over many bulk entries (each up to ~1 MB) got them 300 at a time, could never take them
/// within that, and replication stalled while elections started (issue #13).
pub const APPEND_BYTES_MAX: usize = 256 * 1024;

impl LogStore {
    /// Entries from `start` (before `end`), stopping once `max_bytes` of encoded entries are
    /// taken (the first entry always, whatever its size).
    fn entries(&self, start: u64, end: Option<u64>, max_bytes: usize) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        let txn = self.db.begin_read().map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let t = txn.open_table(RAFT_LOG).map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => t.range(start..end),
            None => t.range(start..),
        }
        .map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for item in iter {
            let (_, v) = item.map_err(|e| StorageIOError::read_logs(io_err(e)))?;
            if !out.is_empty() && bytes + v.value().len() > max_bytes {
                break;
            }
            bytes += v.value().len();
            out.push(postcard::from_bytes(v.value()).map_err(|e| StorageIOError::read_logs(io_err(e)))?);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    /// Replication reads through here: at most `APPEND_BYTES_MAX` per AppendEntries.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        self.entries(start, Some(end), APPEND_BYTES_MAX)
    }

    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(x) => Some(x.saturating_add(1)),
            Bound::Excluded(x) => Some(*x),
            Bound::Unbounded => None,
        };
        self.entries(start, end, usize::MAX)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let last_purged_log_id: Option<LogId<u64>> = self.get_meta("last_purged")?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        self.put_meta("vote", vote, true)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), SErr> {
        self.put_meta("committed", &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, SErr> {
        Ok(self.get_meta::<Option<LogId<u64>>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let txn = self.db.begin_write().map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        {
            let mut t = txn.open_table(RAFT_LOG).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
            for entry in entries {
                let bytes = postcard::to_allocvec(&entry).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
                t.insert(entry.log_id.index, bytes.as_slice()).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
            }
        }
        let res = txn.commit().map_err(|e| std::io::Error::other(e.to_string()));
        let failed = res.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(res);
        match failed {
            Some(e) => Err(StorageIOError::write_logs(openraft::AnyError::error(e)).into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.delete_range(log_id.index, None)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.put_meta("last_purged", &log_id, true)?;
        self.delete_range(0, Some(log_id.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, Request};
    use openraft::{CommittedLeaderId, EntryPayload};

    /// Replication's reads stop at `APPEND_BYTES_MAX` (at least one entry, whatever its size);
    /// plain reads return the whole range.
    #[tokio::test]
    async fn replication_reads_are_bounded_by_bytes() {
        let dir = std::env::temp_dir().join(format!("wgc-logcap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Arc::new(crate::store::open(&dir.join("t.redb")).unwrap());
        // Entries 1..=8 of ~100 KiB each and 9 of 600 KiB (the log does not look inside).
        let entry = |i: u64, bytes: usize| {
            let cmd = Command::IssueJoinToken { sha256: "x".repeat(bytes), expires_at: 0 };
            let req = Request { at: 0, user: "t".into(), cmd, idempotency: None };
            Entry::<TypeConfig> { log_id: LogId::new(CommittedLeaderId::new(1, 0), i), payload: EntryPayload::Normal(req) }
        };
        {
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(RAFT_LOG).unwrap();
                for i in 1..=9u64 {
                    let e = entry(i, if i == 9 { 600 * 1024 } else { 100 * 1024 });
                    t.insert(i, postcard::to_allocvec(&e).unwrap().as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let mut store = LogStore::new(db);
        let idx = |v: &[Entry<TypeConfig>]| v.iter().map(|e| e.log_id.index).collect::<Vec<_>>();
        let cases: &[(u64, u64, &[u64])] = &[(1, 10, &[1, 2]), (3, 10, &[3, 4]), (8, 10, &[8]), (9, 10, &[9]), (2, 3, &[2])];
        for (start, end, want) in cases {
            let got = store.limited_get_log_entries(*start, *end).await.unwrap();
            assert_eq!(idx(&got), *want, "{start}..{end}");
        }
        assert_eq!(idx(&store.try_get_log_entries(1..10).await.unwrap()), (1..10).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
