//! The Raft log on the store: entries in the append-only `raft-log` (one postcard entry per frame,
//! see `store::log`), the vote in `raft-vote`, the last purged id in `raft-purged` (both fsync'd
//! before the call returns) and the committed id in `raft-committed` (a `store::file::Slot`,
//! overwritten in place without fsync: it may lag after a power loss, and Raft recovers it from
//! the leader). `append` writes a whole batch and
//! fsyncs once before it reports the flush, so an acknowledged write survives `kill -9` and power
//! loss.

use super::io_err;
use super::types::TypeConfig;
use crate::store::file::Slot;
use crate::store::log::RaftLog;
use crate::store::{Store, StoreError, COMMITTED_FILE, PURGED_FILE, VOTE_FILE};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard};

type SErr = StorageError<u64>;

/// The log index of a postcard-encoded `Entry`: its `log_id` comes first (postcard writes fields
/// in order), so only that prefix is decoded.
pub fn entry_index(payload: &[u8]) -> Result<u64, String> {
    postcard::take_from_bytes::<LogId<u64>>(payload).map(|(id, _)| id.index).map_err(|e| format!("not a log entry: {e}"))
}

#[derive(Clone)]
pub struct LogStore {
    store: Arc<Store>,
    log: Arc<Mutex<RaftLog>>,
    committed: Arc<Slot>,
}

fn read_logs(e: StoreError) -> SErr {
    StorageIOError::read_logs(io_err(e)).into()
}
fn write_logs(e: StoreError) -> SErr {
    StorageIOError::write_logs(io_err(e)).into()
}

impl LogStore {
    /// Opens the log in `store` (once per store: the log file is not shared between handles
    /// other than clones of this one).
    pub fn open(store: Arc<Store>) -> Result<Self, StoreError> {
        let purged: Option<LogId<u64>> = store.read(PURGED_FILE)?;
        let log = store.open_raft_log(purged.map(|p| p.index), entry_index)?;
        let committed = Arc::new(Slot::open(&store.path(COMMITTED_FILE))?);
        Ok(Self { store, log: Arc::new(Mutex::new(log)), committed })
    }

    fn log(&self) -> MutexGuard<'_, RaftLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decode(log: &RaftLog, index: u64, bytes: &[u8]) -> Result<Entry<TypeConfig>, StoreError> {
        postcard::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupt { key: format!("{} entry {index}", log.path().display()), reason: e.to_string() })
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, StoreError> {
        let log = self.log();
        let Some(last) = log.last_index() else { return Ok(None) };
        match log.read(last)? {
            Some(b) => Ok(Some(Self::decode(&log, last, &b)?.log_id)),
            None => Ok(None),
        }
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
    fn entries(&self, start: u64, end: Option<u64>, max_bytes: usize) -> Result<Vec<Entry<TypeConfig>>, StoreError> {
        let log = self.log();
        let (Some(first), Some(last)) = (log.first_index(), log.last_index()) else { return Ok(Vec::new()) };
        let from = start.max(first);
        let to = end.map_or(last, |e| e.saturating_sub(1).min(last));
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        if end.is_some_and(|e| e == 0) {
            return Ok(out);
        }
        for index in from..=to {
            let size = log.frame_len(index).unwrap_or(0) as usize;
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            let Some(b) = log.read(index)? else { break };
            bytes += size;
            out.push(Self::decode(&log, index, &b)?);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    /// Replication reads through here: at most `APPEND_BYTES_MAX` per AppendEntries.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        self.entries(start, Some(end), APPEND_BYTES_MAX).map_err(read_logs)
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
        self.entries(start, end, usize::MAX).map_err(read_logs)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let last_purged_log_id: Option<LogId<u64>> = self.store.read(PURGED_FILE).map_err(read_logs)?;
        let last_log_id = self.last_entry_id().map_err(read_logs)?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        self.store.write(VOTE_FILE, vote).map_err(|e| StorageIOError::write_vote(io_err(e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        self.store.read(VOTE_FILE).map_err(|e| StorageIOError::read_vote(io_err(e)).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), SErr> {
        let bytes = postcard::to_allocvec(&committed).map_err(|e| StorageIOError::write(io_err(e)))?;
        self.committed.write(&bytes).map_err(|e| StorageIOError::write(io_err(e)).into())
    }

    /// A committed file a power loss left empty or stale reads as "unknown" (Raft then learns
    /// the committed index from the leader), with a warning.
    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, SErr> {
        let read = self.committed.read().and_then(|b| {
            b.map(|b| postcard::from_bytes::<Option<LogId<u64>>>(&b))
                .transpose()
                .map_err(|e| StoreError::Corrupt { key: COMMITTED_FILE.into(), reason: e.to_string() })
        });
        match read {
            Ok(c) => Ok(c.flatten()),
            Err(StoreError::Corrupt { key, reason }) => {
                log::warn!("{key}: unreadable ({reason}); the committed index is learnt again from the leader");
                Ok(None)
            }
            Err(e) => Err(StorageIOError::read(io_err(e)).into()),
        }
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = Vec::new();
        for entry in entries {
            let bytes = postcard::to_allocvec(&entry).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
            batch.push((entry.log_id.index, bytes));
        }
        let res = self.log().append(&batch);
        let failed = res.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(res.map_err(|e| std::io::Error::other(e.to_string())));
        match failed {
            Some(e) => Err(StorageIOError::write_logs(openraft::AnyError::error(e)).into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.log().truncate(log_id.index).map_err(write_logs)
    }

    /// Records `last_purged` durably first, then drops the entries (a crash in between leaves
    /// dead frames that the next open skips).
    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.store.write(PURGED_FILE, &log_id).map_err(write_logs)?;
        self.log().purge(log_id.index).map_err(write_logs)?;
        Ok(())
    }
}

/// What a stopped router's log holds: first and last live index (read-only: takes no lock and
/// cuts nothing; for tests and diagnostics).
pub fn inspect_log(data_dir: &std::path::Path) -> Result<(Option<u64>, Option<u64>), StoreError> {
    let dir = data_dir.join(crate::store::DIR);
    let purged: Option<LogId<u64>> = match crate::store::file::read(&dir.join(PURGED_FILE))? {
        None => None,
        Some(b) => Some(postcard::from_bytes(&b).map_err(|e| StoreError::Corrupt { key: PURGED_FILE.into(), reason: e.to_string() })?),
    };
    let path = dir.join(crate::store::LOG_FILE);
    let f = std::fs::File::open(&path).map_err(crate::store::file::io_error("open", &path))?;
    let scan = crate::store::log::scan(&f, &path, purged.map(|p| p.index), entry_index)?;
    let last = scan.first.map(|f| f + scan.offsets.len() as u64 - 1).filter(|_| !scan.offsets.is_empty());
    Ok((scan.first, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, Request};
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(i: u64, bytes: usize) -> Entry<TypeConfig> {
        let cmd = Command::IssueJoinToken { sha256: "x".repeat(bytes), expires_at: 0 };
        let req = Request { at: 0, user: "t".into(), cmd, idempotency: None };
        Entry::<TypeConfig> { log_id: LogId::new(CommittedLeaderId::new(7, 3), i), payload: EntryPayload::Normal(req) }
    }

    #[test]
    fn the_index_is_read_from_the_entry_prefix() {
        for i in [0, 1, 127, 128, 300, u64::MAX] {
            let bytes = postcard::to_allocvec(&entry(i, 3)).expect("encode");
            assert_eq!(entry_index(&bytes), Ok(i));
        }
        assert!(entry_index(&[]).is_err());
    }

    /// The vote, the committed id and the purge mark survive reopening; the committed id is read
    /// back from the slot after the handle that wrote it is gone (as after `kill -9`).
    #[tokio::test]
    async fn raft_meta_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("wgc-logmeta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let id = |i| LogId::new(CommittedLeaderId::new(2, 0), i);
        {
            let mut store = LogStore::open(Arc::new(Store::open(&dir).expect("open"))).expect("log");
            store.save_committed(Some(id(7))).await.expect("committed");
            store.save_committed(Some(id(12))).await.expect("committed");
            store.save_vote(&Vote::new(2, 0)).await.expect("vote");
        }
        let mut store = LogStore::open(Arc::new(Store::open(&dir).expect("reopen"))).expect("log");
        assert_eq!(store.read_committed().await.expect("read"), Some(id(12)));
        assert_eq!(store.read_vote().await.expect("read"), Some(Vote::new(2, 0)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Replication's reads stop at `APPEND_BYTES_MAX` (at least one entry, whatever its size);
    /// plain reads return the whole range.
    #[tokio::test]
    async fn replication_reads_are_bounded_by_bytes() {
        let dir = std::env::temp_dir().join(format!("wgc-logcap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut store = LogStore::open(Arc::new(Store::open(&dir).expect("open"))).expect("log");
        // Entries 1..=8 of ~100 KiB each and 9 of 600 KiB (the log does not look inside).
        let batch: Vec<_> = (1..=9u64)
            .map(|i| (i, postcard::to_allocvec(&entry(i, if i == 9 { 600 * 1024 } else { 100 * 1024 })).expect("encode")))
            .collect();
        store.log().append(&batch).expect("append");
        let idx = |v: &[Entry<TypeConfig>]| v.iter().map(|e| e.log_id.index).collect::<Vec<_>>();
        let cases: &[(u64, u64, &[u64])] = &[(1, 10, &[1, 2]), (3, 10, &[3, 4]), (8, 10, &[8]), (9, 10, &[9]), (2, 3, &[2]), (5, 5, &[])];
        for (start, end, want) in cases {
            let got = store.limited_get_log_entries(*start, *end).await.expect("read");
            assert_eq!(idx(&got), *want, "{start}..{end}");
        }
        assert_eq!(idx(&store.try_get_log_entries(1..10).await.expect("read")), (1..10).collect::<Vec<_>>());
        assert_eq!(inspect_log(&dir).expect("inspect"), (Some(1), Some(9)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
