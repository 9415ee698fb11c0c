//! `wgclusterd init`: makes the data dir (mode 0700) a new one-router cluster. Writes the admin
//! token to `<data_dir>/admin.token` (mode 0600, like every file in the data dir) and keeps only
//! its SHA-256 (in the database, until the first `run` turns it into the `Bootstrap` command).

use crate::config::DaemonConfig;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use wgcluster_actors::store::{self, META};
use wgcluster_actors::tls::pki::{ClusterCa, NodeKey};
use wgcluster_actors::tls::store::TlsFiles;

pub const TOKEN_FILE: &str = "admin.token";
pub const DB_FILE: &str = "wgcluster.redb";
/// META key of the admin token's hash until the cluster is bootstrapped.
pub const PENDING_BOOTSTRAP: &str = "pending_bootstrap_sha256";
/// META key set once this data dir belongs to a cluster.
pub const INITIALISED: &str = "initialised";
/// META key: the cluster address this router joined through (where `run` asks to be added).
pub const JOIN_PEER: &str = "join_peer";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} is already initialised (remove the directory to start over)")]
    Already(String),
    #[error("cannot create {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cluster TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    DataDir(#[from] crate::datadir::DataDirError),
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
    crate::datadir::create(&cfg.data_dir)?;

    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let token = format!("wgc_{}", hex::encode(secret));
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();

    let token_path = cfg.data_dir.join(TOKEN_FILE);
    let _ = std::fs::remove_file(&token_path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&token_path).map_err(io(&token_path))?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(io(&token_path))?;
    f.sync_all().map_err(io(&token_path))?;

    // The cluster CA and this router's certificate (serial 1).
    let ca = ClusterCa::generate("wgcluster").map_err(|e| InitError::Tls(e.to_string()))?;
    let key = NodeKey::generate().map_err(|e| InitError::Tls(e.to_string()))?;
    let cert = ca.sign_node(&cfg.node_id, &key.public_key(), 1).map_err(|e| InitError::Tls(format!("node_id: {e}")))?;
    let files = TlsFiles::new(&cfg.data_dir);
    files.save_ca(&ca).map_err(|e| InitError::Tls(e.to_string()))?;
    files.save_node_key(&key.key_pem()).map_err(|e| InitError::Tls(e.to_string()))?;
    files.save_node_cert(&cert.cert_pem).map_err(|e| InitError::Tls(e.to_string()))?;

    set_meta(cfg, &[(PENDING_BOOTSTRAP, hash.as_slice()), (INITIALISED, &[1u8])])?;
    Ok(token_path)
}

fn set_meta(cfg: &DaemonConfig, pairs: &[(&str, &[u8])]) -> Result<(), InitError> {
    let db = store::open(&db_path(cfg))?;
    let txn = db.begin_write().map_err(store::StoreError::from)?;
    {
        let mut t = txn.open_table(META).map_err(store::StoreError::from)?;
        for (k, v) in pairs {
            t.insert(*k, *v).map_err(store::StoreError::from)?;
        }
    }
    txn.commit().map_err(store::StoreError::from)?;
    Ok(())
}

/// Marks the data dir as belonging to a cluster joined through `peer`.
pub fn mark_joined(cfg: &DaemonConfig, peer: &str) -> Result<(), InitError> {
    crate::datadir::create(&cfg.data_dir)?;
    set_meta(cfg, &[(JOIN_PEER, peer.as_bytes()), (INITIALISED, &[1u8])])
}

/// The peer this router joined through, if it joined.
pub fn join_peer(db: &redb::Database) -> Result<Option<String>, store::StoreError> {
    let txn = db.begin_read()?;
    let t = txn.open_table(META)?;
    let v = t.get(JOIN_PEER)?;
    Ok(v.map(|v| String::from_utf8_lossy(v.value()).to_string()))
}
