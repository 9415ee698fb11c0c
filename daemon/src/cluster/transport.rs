//! The Raft transport of a cluster: openraft's RPCs as postcard bodies in HTTPS POSTs to the
//! target's cluster listener, over mutual TLS (`tls::ClusterClient`, keep-alive per target).

use super::RPC_TIMEOUT;
use wgcluster_actors::raft::{BoxFuture, RaftNode, RaftTransport, RpcKind, TransportError};
use wgcluster_actors::tls::ClusterClient;

pub struct HttpsTransport {
    pub client: ClusterClient,
}

impl RaftTransport for HttpsTransport {
    fn call<'a>(&'a self, target: &'a RaftNode, kind: RpcKind, body: Vec<u8>) -> BoxFuture<'a, Result<Vec<u8>, TransportError>> {
        Box::pin(async move {
            // Snapshots can be large; everything else is small and should be quick.
            let timeout = if kind == RpcKind::InstallSnapshot { RPC_TIMEOUT * 6 } else { RPC_TIMEOUT };
            let res =
                self.client.request(&target.id, &target.addr, "POST", kind.path(), body, Some("application/octet-stream"), timeout).await;
            match res {
                Ok((200, bytes)) => Ok(bytes),
                Ok((status, bytes)) => Err(TransportError::Failed(
                    target.id.clone(),
                    format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
                )),
                Err(e) if e.is_unreachable() => Err(TransportError::Unreachable(target.id.clone(), e.to_string())),
                Err(e) => Err(TransportError::Failed(target.id.clone(), e.to_string())),
            }
        })
    }
}
