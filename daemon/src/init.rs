//! `wgclusterd init`: makes the data dir a new one-router cluster. Writes the admin token to
//! `<data_dir>/admin.token` (mode 0600) and keeps only its SHA-256 (in the database, until the
//! first `run` turns it into the cluster's `Bootstrap` command).

use crate::config::DaemonConfig;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use wgcluster_actors::store::{self, META};

pub const TOKEN_FILE: &str = "admin.token";
pub const DB_FILE: &str = "wgcluster.redb";
/// META key of the admin token's hash until the cluster is bootstrapped.
pub const PENDING_BOOTSTRAP: &str = "pending_bootstrap_sha256";
/// META key set once this data dir belongs to a cluster.
pub const INITIALISED: &str = "initialised";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} is already initialised (remove the directory to start over)")]
    Already(String),
    #[error("cannot create {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

pub fn db_path(cfg: &DaemonConfig) -> PathBuf {
    cfg.data_dir.join(DB_FILE)
}

/// True when the data dir already belongs to a cluster.
pub fn is_initialised(cfg: &DaemonConfig) -> Result<bool, InitError> {
    if !db_path(cfg).exists() {
        return Ok(false);
    }
    let db = store::open(&db_path(cfg))?;
    let txn = db.begin_read().map_err(store::StoreError::from)?;
    let t = txn.open_table(META).map_err(store::StoreError::from)?;
    Ok(t.get(INITIALISED).map_err(store::StoreError::from)?.is_some())
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> InitError + '_ {
    move |source| InitError::Io { path: path.display().to_string(), source }
}

pub fn init(cfg: &DaemonConfig) -> Result<PathBuf, InitError> {
    if is_initialised(cfg)? {
        return Err(InitError::Already(cfg.data_dir.display().to_string()));
    }
    std::fs::create_dir_all(&cfg.data_dir).map_err(io(&cfg.data_dir))?;
    std::fs::set_permissions(&cfg.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(io(&cfg.data_dir))?;

    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let token = format!("wgc_{}", hex::encode(secret));
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();

    let token_path = cfg.data_dir.join(TOKEN_FILE);
    let _ = std::fs::remove_file(&token_path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&token_path).map_err(io(&token_path))?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(io(&token_path))?;
    f.sync_all().map_err(io(&token_path))?;

    let db = store::open(&db_path(cfg))?;
    let txn = db.begin_write().map_err(store::StoreError::from)?;
    {
        let mut t = txn.open_table(META).map_err(store::StoreError::from)?;
        t.insert(PENDING_BOOTSTRAP, hash.as_slice()).map_err(store::StoreError::from)?;
        t.insert(INITIALISED, [1u8].as_slice()).map_err(store::StoreError::from)?;
    }
    txn.commit().map_err(store::StoreError::from)?;
    Ok(token_path)
}
