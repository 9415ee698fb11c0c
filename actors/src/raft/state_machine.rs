//! The state machine: `State` in memory behind a lock (reads are local and cheap), made durable by
//! snapshots in redb plus the Raft log. On start the last snapshot is loaded and openraft re-applies
//! committed entries after it. This keeps flash writes to one fsync per log batch plus one snapshot
//! per `snapshot_logs` entries, instead of rewriting state on every apply.
//!
//! Owns: `Applied` (state, last applied log id, membership). Sends: a `watch` tick with the state
//! version after every applied batch (the reconciler and other local actors listen to it).

use super::io_err;
use super::types::{RaftNode, TypeConfig};
use crate::state::{Outcome, Response, State};
use crate::store::SNAPSHOT;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use redb::Database;
use std::io::Cursor;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

type SErr = StorageError<u64>;
/// A snapshot as stored: its meta and the postcard-encoded `State`.
type StoredSnapshot = (SnapshotMeta<u64, RaftNode>, Vec<u8>);

/// What the state machine holds.
#[derive(Debug, Default)]
pub struct Applied {
    pub state: State,
    pub last_applied: Option<LogId<u64>>,
    pub membership: StoredMembership<u64, RaftNode>,
}

#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    shared: Arc<RwLock<Applied>>,
    version_tx: Arc<watch::Sender<u64>>,
    snapshot_seq: Arc<portable_atomic::AtomicU64>,
}

fn read_err(e: impl std::error::Error + 'static) -> SErr {
    StorageIOError::read_state_machine(io_err(e)).into()
}
fn write_err(e: impl std::error::Error + 'static) -> SErr {
    StorageIOError::write_state_machine(io_err(e)).into()
}
fn poisoned() -> SErr {
    StorageIOError::read_state_machine(openraft::AnyError::error("state lock poisoned")).into()
}

impl StateMachine {
    /// Opens the state machine from the stored snapshot, if any.
    pub fn open(db: Arc<Database>) -> Result<Self, SErr> {
        let mut applied = Applied::default();
        if let Some((meta, data)) = Self::load_snapshot(&db)? {
            applied.state = postcard::from_bytes(&data).map_err(read_err)?;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership;
        }
        let (version_tx, _) = watch::channel(applied.state.version);
        Ok(Self {
            db,
            shared: Arc::new(RwLock::new(applied)),
            version_tx: Arc::new(version_tx),
            snapshot_seq: Arc::new(portable_atomic::AtomicU64::new(0)),
        })
    }

    /// The shared, readable state (for the HTTP layer and local actors).
    pub fn shared(&self) -> Arc<RwLock<Applied>> {
        self.shared.clone()
    }

    /// Ticks with the state version after every applied batch.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version_tx.subscribe()
    }

    fn load_snapshot(db: &Database) -> Result<Option<StoredSnapshot>, SErr> {
        let txn = db.begin_read().map_err(read_err)?;
        let t = txn.open_table(SNAPSHOT).map_err(read_err)?;
        let (Some(meta), Some(data)) = (t.get("meta").map_err(read_err)?, t.get("data").map_err(read_err)?) else {
            return Ok(None);
        };
        let meta = postcard::from_bytes(meta.value()).map_err(read_err)?;
        Ok(Some((meta, data.value().to_vec())))
    }

    fn store_snapshot(&self, meta: &SnapshotMeta<u64, RaftNode>, data: &[u8]) -> Result<(), SErr> {
        let meta_bytes = postcard::to_allocvec(meta).map_err(write_err)?;
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut t = txn.open_table(SNAPSHOT).map_err(write_err)?;
            t.insert("meta", meta_bytes.as_slice()).map_err(write_err)?;
            t.insert("data", data).map_err(write_err)?;
        }
        txn.commit().map_err(write_err)?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Encodes the state and stores it on tokio's blocking pool, not on the Raft thread: at 20,000
    /// peers the encoding takes tens of milliseconds and the redb commit (several MB, fsync'd, on a
    /// router's flash) far longer; on the single-threaded runtime that would hold back heartbeats
    /// and votes. Applies wait only while the state is encoded (they need the write lock), not
    /// while it is written.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let this = self.clone();
        let built = tokio::task::spawn_blocking(move || this.build_snapshot_blocking()).await;
        built.map_err(|e| write_err(std::io::Error::other(format!("snapshot task: {e}"))))?
    }
}

impl StateMachine {
    fn build_snapshot_blocking(&self) -> Result<Snapshot<TypeConfig>, SErr> {
        let (data, last_applied, membership) = {
            let a = self.shared.read().map_err(|_| poisoned())?;
            (postcard::to_allocvec(&a.state).map_err(read_err)?, a.last_applied, a.membership.clone())
        };
        let seq = self.snapshot_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, seq),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta { last_log_id: last_applied, last_membership: membership, snapshot_id };
        self.store_snapshot(&meta, &data)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, StoredMembership<u64, RaftNode>), SErr> {
        let a = self.shared.read().map_err(|_| poisoned())?;
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let version = {
            let mut a = self.shared.write().map_err(|_| poisoned())?;
            for entry in entries {
                a.last_applied = Some(entry.log_id);
                let resp = match entry.payload {
                    EntryPayload::Blank => Ok(Outcome::Unchanged),
                    EntryPayload::Normal(req) => a.state.apply(&req),
                    EntryPayload::Membership(m) => {
                        a.membership = StoredMembership::new(Some(entry.log_id), m);
                        Ok(Outcome::Unchanged)
                    }
                };
                out.push(resp);
            }
            a.state.version
        };
        self.version_tx.send_replace(version);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta<u64, RaftNode>, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), SErr> {
        // Decoded and stored on the blocking pool, like `build_snapshot`; only the swap below
        // takes the lock.
        let data = snapshot.into_inner();
        let (this, stored_meta) = (self.clone(), meta.clone());
        let decoded = tokio::task::spawn_blocking(move || -> Result<State, SErr> {
            let state: State = postcard::from_bytes(&data).map_err(read_err)?;
            this.store_snapshot(&stored_meta, &data)?;
            Ok(state)
        })
        .await;
        let state = decoded.map_err(|e| write_err(std::io::Error::other(format!("snapshot task: {e}"))))??;
        let version = {
            let mut a = self.shared.write().map_err(|_| poisoned())?;
            a.state = state;
            a.last_applied = meta.last_log_id;
            a.membership = meta.last_membership.clone();
            a.state.version
        };
        self.version_tx.send_replace(version);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        Ok(Self::load_snapshot(&self.db)?.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
