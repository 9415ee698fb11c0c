//! The openraft type config: our `Request`/`Response` as app data, u64 Raft ids derived from the
//! string node ids, and `RaftNode` carrying the string id and the cluster address.

use crate::model::NodeId;
use crate::state::{Request, Response};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = RaftNode,
);

/// What Raft knows about a member: its node id and where to reach it (`host:port` of the cluster
/// listener; empty for a one-router cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftNode {
    pub id: String,
    pub addr: String,
}

/// The Raft id of a node: the first 8 bytes of SHA-256 of its id, so every router derives the same
/// number without coordination. Never 0 (openraft uses small ids in tests; 0 is just avoided).
pub fn raft_id(node: &NodeId) -> u64 {
    let h = crate::model::sha256(node.as_str().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_be_bytes(b).max(1)
}
