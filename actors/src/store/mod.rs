//! The node's storage: a directory `<data_dir>/store/` opened once per process (an exclusive
//! `flock` on its `lock` file), holding
//!
//! - `raft-log` — the append-only Raft log (`log`): frames of postcard entries, fsync'd per batch;
//! - small files replaced whole and atomically (`file`), each written as often as its value
//!   changes: `schema` (the version below, text), `node` (node-local facts: initialised, the
//!   pending bootstrap hash, the join peer), `raft-vote` and `raft-purged`, `snapshot` (the state
//!   machine's last snapshot: meta and data), `dns-queue` (the node-local DNS retry queue); and
//!   `raft-committed`, a `file::Slot` overwritten in place without fsync (it may lag, Raft
//!   recovers it).
//!
//! Every file is created 0600 and the directory 0700 whatever the umask: the data holds the
//! cluster CA key, peer private keys and DNS secrets. Only `raft/` writes the Raft files.

pub mod file;
pub mod log;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::{self, File, TryLockError};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Bump when a stored encoding changes in a way older binaries cannot read.
/// 3 (#15): `State` gained `usage`, `Settings` the usage settings, `Peer` its limits (postcard has
/// no field defaults, so a schema-2 snapshot cannot be read; no release carried schema 2).
/// 4: `Config` gained `placement`, `PeerLimits` rx/tx limits, usage history is packed (#15);
/// `State` gained `dns_removals` and `vips`, `Settings` the DNS reconcile interval, `DnsStatus` the
/// drift count and last drift; new commands `RecordDnsDrift`, `CompleteDnsRemoval`,
/// `SetEndpointGroupVip` (#16). Fields were added inside nested structs, so no byte-level migration
/// can carry a schema-3 snapshot over: a schema-3 data dir is refused by name (no release carried
/// schema 3).
/// 5 (#12): redb is replaced by this directory of files (the Raft log, small atomically replaced
/// files), which this version refuses by name (no release carried schema 4 to routers); and
/// `Vip` gained `in_dns` (#16, the domain publishes the floating address), so the encodings
/// changed too.
pub const SCHEMA_VERSION: u32 = 5;

/// The store's directory inside the data dir.
pub const DIR: &str = "store";
/// The single database file of schema 4 and older (redb), refused by `open`.
pub const OLD_DB_FILE: &str = "wgcluster.redb";
pub const LOCK_FILE: &str = "lock";
pub const SCHEMA_FILE: &str = "schema";
pub const NODE_FILE: &str = "node";
pub const LOG_FILE: &str = "raft-log";
pub const VOTE_FILE: &str = "raft-vote";
pub const COMMITTED_FILE: &str = "raft-committed";
pub const PURGED_FILE: &str = "raft-purged";
pub const SNAPSHOT_FILE: &str = "snapshot";
pub const DNS_QUEUE_FILE: &str = "dns-queue";

/// Mode of the store directory.
const DIR_MODE: u32 = 0o700;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {}: {source}", .path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{} is in use by another wgclusterd (it holds the lock {}); stop it first, or give this one another data_dir", .dir.display(), .lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error(
        "{} is a database of an earlier wgclusterd (redb, storage schema 4); this wgclusterd keeps its data in {} \
         (schema {SCHEMA_VERSION}) and cannot read it. No release carried schema 4: move the data dir away and run \
         `wgclusterd init` (or `join`) again",
        .path.display(), .dir.display()
    )]
    OldDatabase { path: PathBuf, dir: PathBuf },
    #[error("the data dir {} was written by schema version {found}; this wgclusterd understands version {SCHEMA_VERSION}", .dir.display())]
    Schema { dir: PathBuf, found: u32 },
    #[error("stored value '{key}' is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{}: corrupt at offset {offset}: {reason}", .path.display())]
    CorruptLog { path: PathBuf, offset: u64, reason: String },
    #[error("{}: entry {index} appended where {want} belongs", .path.display())]
    LogOrder { path: PathBuf, index: u64, want: u64 },
}

/// Node-local facts (never replicated). Field order matters (postcard): add fields at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMeta {
    /// Set once this data dir belongs to a cluster (`init` or `join`).
    pub initialised: bool,
    /// SHA-256 of the admin token until the first `run` turns it into the `Bootstrap` command.
    pub pending_bootstrap: Option<[u8; 32]>,
    /// The cluster address this router joined through (where `run` asks to be added).
    pub join_peer: Option<String>,
}

/// The open store (see the module doc). Dropping it releases the lock.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    _lock: File,
    /// Serialises read-modify-write of the small files within this process.
    files: Mutex<()>,
}

/// True when `data_dir` holds a store (or the refused database of schema 4).
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join(DIR).join(SCHEMA_FILE).exists() || data_dir.join(OLD_DB_FILE).exists()
}

impl Store {
    /// Opens (or creates) the store in `data_dir`: refuses an old redb file, takes the lock,
    /// removes files a crash left half-written, then checks or stamps the schema version.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.join(DIR);
        let old = data_dir.join(OLD_DB_FILE);
        if old.exists() {
            return Err(StoreError::OldDatabase { path: old, dir });
        }
        match fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(&dir) {
            Ok(()) => {}
            Err(source) => return Err(StoreError::Io { op: "create", path: dir, source }),
        }
        let mode = fs::metadata(&dir).map_err(file::io_error("stat", &dir))?.permissions().mode() & 0o7777;
        if mode != DIR_MODE {
            fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE)).map_err(file::io_error("chmod", &dir))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = file::create_private(&lock_path, false)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { dir: data_dir.to_path_buf(), lock: lock_path }),
            Err(TryLockError::Error(source)) => return Err(StoreError::Io { op: "lock", path: lock_path, source }),
        }
        file::remove_leftovers(&dir)?;
        let store = Self { dir, _lock: lock, files: Mutex::new(()) };
        let schema = store.path(SCHEMA_FILE);
        match file::read(&schema)? {
            None => file::replace(&schema, format!("{SCHEMA_VERSION}\n").as_bytes())?,
            Some(b) => {
                let found = std::str::from_utf8(&b)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                    .ok_or_else(|| StoreError::Corrupt { key: schema.display().to_string(), reason: "not a version number".into() })?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema { dir: data_dir.to_path_buf(), found });
                }
            }
        }
        Ok(store)
    }

    /// The store's directory (`<data_dir>/store`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Holds off other read-modify-write cycles of small files in this process.
    pub fn lock_files(&self) -> MutexGuard<'_, ()> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The postcard value in file `name`, or None when there is none.
    pub fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let path = self.path(name);
        match file::read(&path)? {
            None => Ok(None),
            Some(b) => postcard::from_bytes(&b)
                .map(Some)
                .map_err(|e| StoreError::Corrupt { key: path.display().to_string(), reason: e.to_string() }),
        }
    }

    /// Replaces file `name` with `value` (postcard), durably.
    pub fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.path(name);
        let bytes =
            postcard::to_allocvec(value).map_err(|e| StoreError::Corrupt { key: path.display().to_string(), reason: e.to_string() })?;
        file::replace(&path, &bytes)
    }

    /// The node-local facts (defaults when never written).
    pub fn node(&self) -> Result<NodeMeta, StoreError> {
        Ok(self.read(NODE_FILE)?.unwrap_or_default())
    }

    /// Changes the node-local facts durably; returns them as written.
    pub fn update_node(&self, change: impl FnOnce(&mut NodeMeta)) -> Result<NodeMeta, StoreError> {
        let _held = self.lock_files();
        let mut meta = self.node()?;
        change(&mut meta);
        self.write(NODE_FILE, &meta)?;
        Ok(meta)
    }

    /// Opens the Raft log (once per store); frames at or below `last_purged` are dead.
    pub fn open_raft_log(&self, last_purged: Option<u64>, index_of: log::IndexOf) -> Result<log::RaftLog, StoreError> {
        log::RaftLog::open(&self.path(LOG_FILE), last_purged, index_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgc-store-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn schema_is_stamped_and_checked() {
        let dir = tempdir("schema");
        drop(Store::open(&dir).expect("create"));
        drop(Store::open(&dir).expect("reopen"));
        assert_eq!(fs::read_to_string(dir.join(DIR).join(SCHEMA_FILE)).expect("read"), format!("{SCHEMA_VERSION}\n"));
        assert_eq!(mode(&dir.join(DIR)), 0o700);
        assert_eq!(mode(&dir.join(DIR).join(SCHEMA_FILE)), 0o600, "private whatever the umask");
        fs::write(dir.join(DIR).join(SCHEMA_FILE), "99\n").expect("write");
        match Store::open(&dir) {
            Err(StoreError::Schema { found: 99, .. }) => {}
            other => panic!("{other:?}"),
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_old_redb_data_dir_is_refused_by_name() {
        let dir = tempdir("redb");
        fs::write(dir.join(OLD_DB_FILE), b"redb").expect("write");
        let err = Store::open(&dir).expect_err("old database").to_string();
        assert!(err.contains(&dir.join(OLD_DB_FILE).display().to_string()) && err.contains("wgclusterd init"), "{err}");
        assert!(!dir.join(DIR).exists(), "nothing created next to it");
        assert!(exists(&dir));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_opener_is_refused_naming_the_dir() {
        let dir = tempdir("lock");
        let first = Store::open(&dir).expect("first");
        let err = Store::open(&dir).expect_err("second").to_string();
        assert!(err.starts_with(&format!("{} is in use by another wgclusterd", dir.display())), "{err}");
        drop(first);
        Store::open(&dir).expect("free again");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn node_meta_round_trips() {
        let dir = tempdir("node");
        let store = Store::open(&dir).expect("open");
        assert_eq!(store.node().expect("read"), NodeMeta::default());
        store.update_node(|m| (m.initialised, m.pending_bootstrap) = (true, Some([7; 32]))).expect("write");
        drop(store);
        let store = Store::open(&dir).expect("reopen");
        let m = store.node().expect("read");
        assert_eq!((m.initialised, m.pending_bootstrap, m.join_peer), (true, Some([7; 32]), None));
        let _ = fs::remove_dir_all(&dir);
    }
}
