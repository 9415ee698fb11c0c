//! The state machine: `State` in memory behind a lock (reads are local and cheap), made durable by
//! snapshots (the store's `snapshot` file, replaced atomically and fsync'd) plus the Raft log. On start the last snapshot is loaded and openraft re-applies
//! committed entries after it. This keeps flash writes to one fsync per log batch plus one snapshot
//! per `snapshot_logs` entries, instead of rewriting state on every apply.
//!
//! Owns: `Applied` (state, last applied log id, membership). Sends: a `watch` tick with the state
//! version after every applied batch (the reconciler and other local actors listen to it).

use super::io_err;
use super::types::{RaftNode, TypeConfig};
use crate::state::{Outcome, Response, State};
use crate::store::{file, Store, StoreError, SNAPSHOT_FILE};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use std::io::Cursor;
use std::sync::{Arc, Mutex, RwLock};
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
    store: Arc<Store>,
    shared: Arc<RwLock<Applied>>,
    version_tx: Arc<watch::Sender<u64>>,
    snapshot_seq: Arc<portable_atomic::AtomicU64>,
    /// Serialises snapshot writes (openraft may build one while it installs another) and holds
    /// the last log id of the stored snapshot, so an older one never replaces a newer one.
    stored: Arc<Mutex<Option<LogId<u64>>>>,
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
    pub fn open(store: Arc<Store>) -> Result<Self, SErr> {
        let mut applied = Applied::default();
        if let Some((meta, data)) = load_snapshot(&store.path(SNAPSHOT_FILE)).map_err(read_err)? {
            applied.state = postcard::from_bytes(&data).map_err(read_err)?;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership;
        }
        let stored = Arc::new(Mutex::new(applied.last_applied));
        let (version_tx, _) = watch::channel(applied.state.version);
        Ok(Self {
            store,
            shared: Arc::new(RwLock::new(applied)),
            version_tx: Arc::new(version_tx),
            snapshot_seq: Arc::new(portable_atomic::AtomicU64::new(0)),
            stored,
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

    /// Replaces the snapshot file: `[meta length u32 LE][meta, postcard][data]`, fsync'd; unless
    /// the stored snapshot is newer (a build that finished after an install).
    fn store_snapshot(&self, meta: &SnapshotMeta<u64, RaftNode>, data: &[u8]) -> Result<(), SErr> {
        let mut stored = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        if *stored > meta.last_log_id {
            log::debug!("snapshot {} not stored: the stored one is newer", meta.snapshot_id);
            return Ok(());
        }
        let meta_bytes = postcard::to_allocvec(meta).map_err(write_err)?;
        let mut bytes = Vec::with_capacity(4 + meta_bytes.len() + data.len());
        bytes.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&meta_bytes);
        bytes.extend_from_slice(data);
        file::replace(&self.store.path(SNAPSHOT_FILE), &bytes).map_err(write_err)?;
        *stored = meta.last_log_id;
        Ok(())
    }
}

/// The snapshot stored at `path`, if any (see `store_snapshot` for the layout).
fn load_snapshot(path: &std::path::Path) -> Result<Option<StoredSnapshot>, StoreError> {
    let Some(mut bytes) = file::read(path)? else { return Ok(None) };
    let corrupt = |reason: String| StoreError::Corrupt { key: path.display().to_string(), reason };
    let len =
        bytes.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).ok_or_else(|| corrupt("shorter than its header".into()))?;
    let end = 4usize.saturating_add(len as usize);
    let meta = bytes.get(4..end).ok_or_else(|| corrupt("meta cut short".into()))?;
    let meta = postcard::from_bytes(meta).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some((meta, bytes.split_off(end))))
}

/// The last log index the stored snapshot of a stopped router covers (read-only; for tests and
/// diagnostics).
pub fn inspect_snapshot(data_dir: &std::path::Path) -> Result<Option<u64>, StoreError> {
    let path = data_dir.join(crate::store::DIR).join(SNAPSHOT_FILE);
    Ok(load_snapshot(&path)?.and_then(|(meta, _)| meta.last_log_id).map(|l| l.index))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    /// Encodes the state and stores it on tokio's blocking pool, not on the Raft thread: at 20,000
    /// peers the encoding takes tens of milliseconds and the file write (several MB, fsync'd, on a
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
        Ok(load_snapshot(&self.store.path(SNAPSHOT_FILE))
            .map_err(read_err)?
            .map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
