//! Router-to-router plumbing: this router's TLS identity, the cluster listener (mutual TLS), the
//! Raft transport over it, forwarding writes to the panel, and joining.
//!
//! Invariants: every cluster route except `/v1/join` and `/v1/health` needs a client certificate
//! from the cluster CA whose serial is not revoked in the replicated state; keys and tokens are
//! never logged.

pub mod join;
pub mod server;
pub mod transport;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wgcluster_actors::raft::ClusterHandle;
use wgcluster_actors::tls::store::{NodeFiles, TlsFiles};
use wgcluster_actors::tls::{client_config, ClusterClient};

/// Timeout of one Raft RPC or forwarded write.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);

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
pub fn advertised_addr(cluster_listen: std::net::SocketAddr, endpoint: Option<&str>) -> String {
    if !cluster_listen.ip().is_unspecified() {
        return cluster_listen.to_string();
    }
    let host = endpoint.map(wgcluster_actors::state::render::endpoint_host).unwrap_or("127.0.0.1");
    wgcluster_actors::state::render::endpoint(host, cluster_listen.port())
}

/// Forwards a write to the panel and waits until this router has applied it, so the caller's
/// follow-up read sees its own write.
pub async fn forward(
    cluster: &ClusterHandle,
    client: &ClusterClient,
    leader: &wgcluster_actors::raft::RaftNode,
    req: &wgcluster_actors::state::Request,
) -> Result<wgcluster_actors::state::Response, String> {
    let body = wgcluster_actors::raft::encode_forward(req)?;
    let (status, bytes) = client
        .request(&leader.id, &leader.addr, "POST", "/v1/forward", body, Some("application/octet-stream"), RPC_TIMEOUT)
        .await
        .map_err(|e| match e {
            // Nothing was sent: the panel is down or this router is cut off from it.
            e if e.is_unreachable() => format!(
                "no quorum: the panel {} cannot be reached from this router ({e}); the write was not sent. \
                 This router may be cut off from the cluster, or a new panel is being elected: retry shortly",
                leader.id
            ),
            e @ wgcluster_actors::tls::ClientError::Timeout { .. } => format!(
                "no quorum: the panel {} did not answer the forwarded write ({e}); this router may be cut off \
                 from the cluster. The write may still be applied if the panel received it",
                leader.id
            ),
            e => format!("cannot forward the write to the panel {}: {e}", leader.id),
        })?;
    if status != 200 {
        return Err(format!("the panel {} refused the forwarded write ({status})", leader.id));
    }
    let (resp, index) = wgcluster_actors::raft::decode_forward_reply(&bytes)??;
    if !cluster.wait_applied(index, RPC_TIMEOUT).await {
        log::warn!("forwarded write committed at {index} but not applied here yet");
    }
    Ok(resp)
}
