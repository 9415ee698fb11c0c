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

impl RaftLogReader<TypeConfig> for LogStore {
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
        let txn = self.db.begin_read().map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let t = txn.open_table(RAFT_LOG).map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => t.range(start..end),
            None => t.range(start..),
        }
        .map_err(|e| StorageIOError::read_logs(io_err(e)))?;
        let mut out = Vec::new();
        for item in iter {
            let (_, v) = item.map_err(|e| StorageIOError::read_logs(io_err(e)))?;
            out.push(postcard::from_bytes(v.value()).map_err(|e| StorageIOError::read_logs(io_err(e)))?);
        }
        Ok(out)
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
