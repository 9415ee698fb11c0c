//! The receiving side of the Raft transport and of forwarded writes: decode postcard bytes, hand
//! them to openraft or to `write`, encode the reply. The HTTP layer only moves bytes.

use super::handle::ClusterHandle;
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

    /// Serves a write forwarded by a follower: the reply is a postcard
    /// `Result<(Response, log index), String>`.
    pub async fn serve_forward(&self, body: &[u8]) -> Vec<u8> {
        let res: Result<(Response, u64), String> = match postcard::from_bytes::<Request>(body) {
            Err(e) => Err(format!("undecodable forwarded write: {e}")),
            Ok(req) => self.write_indexed(req).await.map_err(|e| e.to_string()),
        };
        postcard::to_allocvec(&res).unwrap_or_default()
    }
}

/// Encodes a write for forwarding to the leader.
pub fn encode_forward(req: &Request) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(req).map_err(|e| e.to_string())
}

/// Decodes the leader's reply to a forwarded write.
pub fn decode_forward_reply(bytes: &[u8]) -> Result<Result<(Response, u64), String>, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("undecodable reply from the panel: {e}"))
}
