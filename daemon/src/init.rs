//! `wgclusterd init`: makes the data dir (mode 0700) a new one-router cluster. Writes the admin
//! token to `<data_dir>/admin.token` (mode 0600, like every file in the data dir) and keeps only
//! its SHA-256 (in the store's node-local facts, until the first `run` turns it into the
//! `Bootstrap` command).

use crate::config::DaemonConfig;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use wgcluster_actors::store::{self, Store};
use wgcluster_actors::tls::pki::{ClusterCa, NodeKey};
use wgcluster_actors::tls::store::TlsFiles;

pub const TOKEN_FILE: &str = "admin.token";

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

/// True when the data dir already belongs to a cluster.
pub fn is_initialised(cfg: &DaemonConfig) -> Result<bool, InitError> {
    if !store::exists(&cfg.data_dir) {
        return Ok(false);
    }
    Ok(Store::open(&cfg.data_dir)?.node()?.initialised)
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
    let hash: [u8; 32] = wgcluster_actors::model::sha256(token.as_bytes());

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

    Store::open(&cfg.data_dir)?.update_node(|m| {
        m.pending_bootstrap = Some(hash);
        m.initialised = true;
    })?;
    Ok(token_path)
}

/// Marks the data dir as belonging to a cluster joined through `peer`.
pub fn mark_joined(cfg: &DaemonConfig, peer: &str) -> Result<(), InitError> {
    crate::datadir::create(&cfg.data_dir)?;
    Store::open(&cfg.data_dir)?.update_node(|m| {
        m.join_peer = Some(peer.to_string());
        m.initialised = true;
    })?;
    Ok(())
}
