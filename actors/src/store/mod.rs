//! The node's redb database: table definitions, the schema version, and small typed accessors.
//! Only `raft/` writes the Raft tables; `meta` holds node-local facts (schema version).
//!
//! One file, `<data_dir>/wgcluster.redb`. Every write transaction is a batch committed with fsync
//! (redb's default durability), except where a caller says otherwise and says why.

use redb::{Database, ReadableTable, TableDefinition};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// redb page cache.
const CACHE_BYTES: usize = 2 << 20;

/// Bump when a stored encoding changes in a way older binaries cannot read.
/// 3 (#15): `State` gained `usage`, `Settings` the usage settings, `Peer` its limits (postcard has
/// no field defaults, so a schema-2 snapshot cannot be read; no release carried schema 2).
/// 4: `Config` gained `placement`, `PeerLimits` rx/tx limits, usage history is packed (#15);
/// `State` gained `dns_removals` and `vips`, `Settings` the DNS reconcile interval, `DnsStatus` the
/// drift count and last drift; new commands `RecordDnsDrift`, `CompleteDnsRemoval`,
/// `SetEndpointGroupVip` (#16). Fields were added inside nested structs, so no byte-level migration
/// can carry a schema-3 snapshot over: a schema-3 data dir is refused by name (no release carried
/// schema 3).
/// 5: `Vip` gained `in_dns` (#16, the domain publishes the floating address).
pub const SCHEMA_VERSION: u32 = 5;

/// Raft log entries by index, postcard-encoded `Entry<TypeConfig>`.
pub const RAFT_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Raft bookkeeping: `vote`, `committed`, `last_purged` (postcard).
pub const RAFT_META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// The current state-machine snapshot: `meta` and `data` (postcard).
pub const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
/// Node-local facts: `schema_version`.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: redb::DatabaseError },
    #[error("cannot create the database {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error("database error: {0}")]
    Db(String),
    #[error("the data dir was written by schema version {found}; this wgclusterd understands version {SCHEMA_VERSION}")]
    Schema { found: u32 },
    #[error("stored value '{key}' is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

macro_rules! db_err {
    ($($t:ty),*) => { $(impl From<$t> for StoreError { fn from(e: $t) -> Self { StoreError::Db(e.to_string()) } })* };
}
db_err!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// Creates the database file with mode 0600 (whatever the umask) unless it exists: it holds the
/// cluster CA key, peer private keys and DNS secrets. redb then initialises the empty file.
fn create_private(path: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create { path: path.display().to_string(), source }),
    }
}

/// Opens (or creates, mode 0600) the database and checks or stamps the schema version.
pub fn open(path: &Path) -> Result<Database, StoreError> {
    create_private(path)?;
    // A small page cache: the state lives in memory anyway, and routers have 128 MB.
    let db = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = match meta.get("schema_version")? {
            Some(v) => Some(
                decode_u32(v.value()).ok_or_else(|| StoreError::Corrupt { key: "schema_version".into(), reason: "not 4 bytes".into() })?,
            ),
            None => None,
        };
        match found {
            Some(v) if v != SCHEMA_VERSION => return Err(StoreError::Schema { found: v }),
            Some(_) => {}
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
            }
        }
        // Make sure every table exists so readers never meet a missing table.
        txn.open_table(RAFT_LOG)?;
        txn.open_table(RAFT_META)?;
        txn.open_table(SNAPSHOT)?;
    }
    txn.commit()?;
    Ok(db)
}

fn decode_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_stamped_and_checked() {
        let dir = std::env::temp_dir().join(format!("wgc-store-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t.redb");
        let _ = std::fs::remove_file(&path);
        drop(open(&path).unwrap());
        drop(open(&path).unwrap());
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "a new database is private whatever the umask");
        }
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert("schema_version", 99u32.to_le_bytes().as_slice()).unwrap();
            txn.commit().unwrap();
        }
        match open(&path) {
            Err(StoreError::Schema { found: 99 }) => {}
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
