//! Router-to-router plumbing: this router's TLS identity, the cluster listener (mutual TLS), the
//! Raft transport over it, forwarding writes to the panel, and joining.
//!
//! Invariants: every cluster route except `/v1/join` and `/v1/health` needs a client certificate
//! from the cluster CA whose serial is not revoked in the replicated state; keys and tokens are
//! never logged.

pub mod forward;
pub mod join;
pub mod server;
pub mod transport;

use std::path::Path;
use std::sync::Arc;
use wgcluster_actors::model::{Endpoint, Host};
use wgcluster_actors::tls::store::{NodeFiles, TlsFiles};
use wgcluster_actors::tls::{client_config, ClusterClient};

pub use wgcluster_actors::tls::RPC_TIMEOUT;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Files(#[from] wgcluster_actors::tls::store::StoreError),
    #[error("this router has no cluster identity in {0}/tls (run `wgclusterd init` or `join`)")]
    Missing(String),
    #[error("cluster TLS: {0}")]
    Tls(String),
}

/// This router's TLS material and the client built from it.
#[derive(Clone)]
pub struct Identity {
    pub files: Arc<NodeFiles>,
    pub client: ClusterClient,
}

impl Identity {
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        let files = TlsFiles::new(data_dir).load_node()?.ok_or_else(|| IdentityError::Missing(data_dir.display().to_string()))?;
        let cfg = client_config(&files.ca_cert_pem, &files.node_cert_pem, files.node_key_pem.expose())
            .map_err(|e| IdentityError::Tls(e.to_string()))?;
        Ok(Self { files: Arc::new(files), client: ClusterClient::new(cfg) })
    }
}

/// The address other routers reach this one at: `cluster_listen`, with an unspecified IP replaced
/// by the host of `endpoint` (or loopback when there is none).
pub fn advertised_addr(cluster_listen: std::net::SocketAddr, endpoint: Option<&Endpoint>) -> String {
    if !cluster_listen.ip().is_unspecified() {
        return cluster_listen.to_string();
    }
    let loopback = Endpoint { host: Host::V4(std::net::Ipv4Addr::LOCALHOST), port: None };
    endpoint.unwrap_or(&loopback).with_port(cluster_listen.port()).to_string()
}
