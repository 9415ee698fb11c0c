//! openraft's network side, reduced to bytes: `RaftNetworkFactory` makes a client per target whose
//! RPCs are postcard-encoded and handed to a `RaftTransport`. A one-router cluster uses
//! `NoTransport`; the cluster work plugs in mutual-TLS HTTPS without touching this file.

use super::types::{RaftNode, TypeConfig};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{RaftNetwork, RaftNetworkFactory};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcKind {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl RpcKind {
    pub fn path(&self) -> &'static str {
        match self {
            RpcKind::AppendEntries => "/v1/raft/append",
            RpcKind::Vote => "/v1/raft/vote",
            RpcKind::InstallSnapshot => "/v1/raft/snapshot",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The target could not be reached at all (connection refused, no route, TLS refused).
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// The request went out but failed (timeout, bad answer).
    #[error("rpc to {0} failed: {1}")]
    Failed(String, String),
}

/// futures-util's boxed `Send` future, re-exported for the transport's implementors.
pub use futures_util::future::BoxFuture;

/// Moves one encoded RPC to `target` and returns the encoded reply, which is a postcard
/// `Result<Response, RaftError>` produced by the target's `Raft` handler.
pub trait RaftTransport: Send + Sync + 'static {
    fn call<'a>(&'a self, target: &'a RaftNode, kind: RpcKind, body: Vec<u8>) -> BoxFuture<'a, Result<Vec<u8>, TransportError>>;
}

/// The transport of a one-router cluster: there is nobody to talk to.
pub struct NoTransport;

impl RaftTransport for NoTransport {
    fn call<'a>(&'a self, target: &'a RaftNode, _: RpcKind, _: Vec<u8>) -> BoxFuture<'a, Result<Vec<u8>, TransportError>> {
        Box::pin(async move { Err(TransportError::Unreachable(target.id.clone(), "this router has no cluster transport".into())) })
    }
}

#[derive(Clone)]
pub struct Network {
    transport: Arc<dyn RaftTransport>,
}

impl Network {
    pub fn new(transport: Arc<dyn RaftTransport>) -> Self {
        Self { transport }
    }
}

pub struct Client {
    transport: Arc<dyn RaftTransport>,
    target: RaftNode,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Client;
    async fn new_client(&mut self, _target: u64, node: &RaftNode) -> Client {
        Client { transport: self.transport.clone(), target: node.clone() }
    }
}

impl Client {
    async fn rpc<Req, Resp, E>(&self, kind: RpcKind, req: &Req) -> Result<Resp, RPCError<u64, RaftNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = postcard::to_allocvec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply = self.transport.call(&self.target, kind, body).await.map_err(|e| match e {
            TransportError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&e)),
            TransportError::Failed(..) => RPCError::Network(NetworkError::new(&e)),
        })?;
        let decoded: Result<Resp, E> = postcard::from_bytes(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decoded.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(0, e)))
    }
}

impl RaftNetwork<TypeConfig> for Client {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, RaftNode, RaftError<u64>>> {
        self.rpc(RpcKind::AppendEntries, &rpc).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, RaftNode, RaftError<u64, InstallSnapshotError>>> {
        self.rpc(RpcKind::InstallSnapshot, &rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, RaftNode, RaftError<u64>>> {
        self.rpc(RpcKind::Vote, &rpc).await
    }
}
