//! The client write path, the cluster half: `ForwardingProposer` proposes a write to this router's
//! Raft and, when this router is a follower, forwards it to the panel (`POST /v1/forward` over
//! mutual TLS), then waits until this router has applied it, so the caller's next read sees its
//! own write and a follower answers exactly as the panel would. The original `Request` travels
//! whole: the audit entry names the user who made the change, not the forwarding router.

use super::RPC_TIMEOUT;
use futures_util::future::BoxFuture;
use wgcluster_actors::raft::{decode_forward_reply, encode_forward, submit, ClusterHandle, RaftNode};
use wgcluster_actors::raft::{ForwardError, ProposeError, Proposer, WriteError};
use wgcluster_actors::state::{Outcome, Request, Response};
use wgcluster_actors::tls::{ClientError, ClusterClient};

/// How long a write may wait for Raft before the API answers 503.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct ForwardingProposer {
    pub cluster: ClusterHandle,
    pub client: Option<ClusterClient>,
}

impl Proposer for ForwardingProposer {
    fn propose(&self, req: Request) -> BoxFuture<'static, Result<Outcome, ProposeError>> {
        let (cluster, client) = (self.cluster.clone(), self.client.clone());
        Box::pin(async move {
            match submit(&cluster, WRITE_TIMEOUT, req.clone()).await {
                Err(ProposeError::Write(WriteError::NotLeader { leader: Some(leader) })) => {
                    let client = client.ok_or(ForwardError::NoClient)?;
                    Ok(forward(&cluster, &client, &leader, &req).await??)
                }
                Err(ProposeError::Write(WriteError::NotLeader { leader: None })) => Err(ForwardError::NoPanel.into()),
                other => other,
            }
        })
    }
}

/// Forwards a write to the panel and waits until this router has applied it.
pub async fn forward(cluster: &ClusterHandle, client: &ClusterClient, leader: &RaftNode, req: &Request) -> Result<Response, ForwardError> {
    let panel = || leader.id.clone();
    let body = encode_forward(req).map_err(|e| ForwardError::Failed { panel: panel(), reason: e.to_string() })?;
    let (status, bytes) = client
        .request(&leader.id, &leader.addr, "POST", "/v1/forward", body, Some("application/octet-stream"), RPC_TIMEOUT)
        .await
        .map_err(|e| match e {
            // Nothing was sent: the panel is down or this router is cut off from it.
            e if e.is_unreachable() => ForwardError::Unreachable { panel: panel(), reason: e.to_string() },
            e @ ClientError::Timeout { .. } => ForwardError::NoAnswer { panel: panel(), reason: e.to_string() },
            e => ForwardError::Failed { panel: panel(), reason: e.to_string() },
        })?;
    if status != 200 {
        return Err(ForwardError::Refused { panel: panel(), status });
    }
    let reply = decode_forward_reply(&bytes)
        .map_err(|e| ForwardError::Failed { panel: panel(), reason: format!("undecodable reply from the panel: {e}") })?;
    let (resp, index) = reply.map_err(|refusal| ForwardError::Panel { panel: panel(), refusal })?;
    if !cluster.wait_applied(index, RPC_TIMEOUT).await {
        log::warn!("forwarded write committed at {index} but not applied here yet");
    }
    Ok(resp)
}
