//! The receiving side of the Raft transport and of forwarded writes: decode postcard bytes, hand
//! them to openraft or to `write`, encode the reply. The HTTP layer only moves bytes.

use super::handle::{ClusterHandle, WriteError};
use super::network::RpcKind;
use crate::state::{Request, Response};

impl ClusterHandle {
    /// Serves one Raft RPC; the reply is a postcard `Result<Reply, RaftError>`.
    pub async fn serve_rpc(&self, kind: RpcKind, body: &[u8]) -> Result<Vec<u8>, String> {
        let bad = |e: postcard::Error| format!("undecodable {kind:?} request: {e}");
        let enc = |r: Result<Vec<u8>, postcard::Error>| r.map_err(|e| format!("cannot encode {kind:?} reply: {e}"));
        match kind {
            RpcKind::AppendEntries => enc(postcard::to_allocvec(&self.raft.append_entries(postcard::from_bytes(body).map_err(bad)?).await)),
            RpcKind::Vote => enc(postcard::to_allocvec(&self.raft.vote(postcard::from_bytes(body).map_err(bad)?).await)),
            RpcKind::InstallSnapshot => {
                enc(postcard::to_allocvec(&self.raft.install_snapshot(postcard::from_bytes(body).map_err(bad)?).await))
            }
        }
    }

    /// Serves a write forwarded by a follower: the reply is a postcard `ForwardReply`.
    pub async fn serve_forward(&self, body: &[u8]) -> Vec<u8> {
        let res: ForwardReply = match postcard::from_bytes::<Request>(body) {
            Err(e) => Err(PanelRefusal::Undecodable(e.to_string())),
            Ok(req) => self.write_indexed(req).await.map_err(PanelRefusal::Write),
        };
        postcard::to_allocvec(&res).unwrap_or_default()
    }
}

/// Why the panel did not take a forwarded write (typed on the wire).
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum PanelRefusal {
    #[error("the panel could not decode the forwarded write: {0}")]
    Undecodable(String),
    #[error(transparent)]
    Write(WriteError),
}

/// The panel's answer to a forwarded write: apply's verdict and the log index it was applied at,
/// or why it was not taken.
pub type ForwardReply = Result<(Response, u64), PanelRefusal>;

/// Encodes a write for forwarding to the leader.
pub fn encode_forward(req: &Request) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(req)
}

/// Decodes the leader's reply to a forwarded write.
pub fn decode_forward_reply(bytes: &[u8]) -> Result<ForwardReply, postcard::Error> {
    postcard::from_bytes(bytes)
}
