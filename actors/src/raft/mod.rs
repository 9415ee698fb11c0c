//! Raft glue — the only module that imports openraft. `types` declares the type config,
//! `log_store` and `state_machine` are our storage on `store`, `network` turns openraft's RPCs into
//! bytes for a `RaftTransport` (none for a single router; HTTPS for a cluster), and `handle` is
//! what the rest of the daemon uses: write a command, read the state, watch leadership; `write` is
//! the client write path (`Proposer`, `submit`, typed `ProposeError`).
//!
//! Invariant: the state machine is the only writer of `State`; the only way to change it is a
//! `Request` committed through Raft — a single router is a one-voter cluster on the same path.

// openraft's storage traits fix `StorageError` as the error type; it is large, and boxing it
// is not ours to choose.
#![allow(clippy::result_large_err)]

mod handle;
mod log_store;
mod network;
mod rpc;
mod state_machine;
mod types;
mod write;

pub use handle::{ClusterHandle, MemberView, RaftTiming, StartError, WriteError};
pub use log_store::{inspect_log, LogStore};
pub use network::{BoxFuture, NoTransport, RaftTransport, RpcKind, TransportError};
pub use rpc::{decode_forward_reply, encode_forward, ForwardReply, PanelRefusal};
pub use state_machine::{inspect_snapshot, Applied, StateMachine};
pub use types::{raft_id, RaftNode, TypeConfig};
pub use write::{submit, ForwardError, ProposeError, Proposer};

pub type Raft = openraft::Raft<TypeConfig>;

fn io_err(e: impl std::error::Error + 'static) -> openraft::AnyError {
    openraft::AnyError::new(&e)
}

#[cfg(test)]
mod conformance;
