//! `AssignmentActor` — the assignment manager (the seed's ConfigNodes): assigns configs to nodes
//! and runs the node-removal workflow (DESIGN §5.3): fetch a backup of the node's actual interface
//! config, then one `RemoveNode` command that records the backup, re-homes the node's peers
//! least-loaded, removes the assignment and writes the audit entries. The node's reconciler removes
//! the interface once the command is applied; DNS follows from the changed state.
//!
//! Owns: nothing but the handles it is given (state reads, a `Proposer`, a `BackupSource`). Receives: `AssignNode`, `RemoveNodeFromConfig`,
//! `MigrateNode`. Sends: commands through `ClusterHandle::write`; backup requests to a `BackupSource`.

use crate::model::{ConfigName, Millis, NodeId};
use crate::raft::{ClusterHandle, WriteError};
use crate::state::{Command, CommandError, Outcome, Request};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Where a node's actual interface config comes from (its agent route, in a cluster).
pub trait BackupSource: Send + Sync + 'static {
    /// `Ok(Some(json))` the interface as the node reports it (no private key); `Ok(None)` the node
    /// has no such interface; `Err(why)` the node could not be asked (the backup is then skipped).
    fn fetch(&self, node: &NodeId, iface: &ConfigName) -> futures_util::future::BoxFuture<'static, Result<Option<String>, String>>;
}

/// futures-util's [`futures_util::future::BoxFuture`] with the `'static` lifetime every
/// future here has. Kept under this name so `daemon/` code naming `assign::BoxFuture<T>` compiles
/// unchanged; code in this crate names futures-util's directly.
pub type BoxFuture<T> = futures_util::future::BoxFuture<'static, T>;

#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("no quorum: the write was not committed within {0:?}")]
    Timeout(Duration),
    /// Forwarding to the panel failed.
    #[error("{0}")]
    Forward(String),
}

/// How a command reaches Raft: directly on the panel, forwarded to it on a follower. The daemon
/// implements it (forwarding needs the cluster transport); tests can use `Direct`.
pub trait Proposer: Send + Sync + 'static {
    fn propose(&self, req: Request) -> futures_util::future::BoxFuture<'static, Result<Outcome, AssignError>>;
}

/// Proposes to the local Raft only (a one-router cluster, or tests).
pub struct Direct {
    pub cluster: ClusterHandle,
    pub timeout: Duration,
}

impl Proposer for Direct {
    fn propose(&self, req: Request) -> futures_util::future::BoxFuture<'static, Result<Outcome, AssignError>> {
        let (cluster, t) = (self.cluster.clone(), self.timeout);
        Box::pin(async move { submit(&cluster, t, req).await })
    }
}

pub struct AssignmentActor {
    cluster: ClusterHandle,
    backups: Arc<dyn BackupSource>,
    proposer: Arc<dyn Proposer>,
}

impl AssignmentActor {
    pub fn new(cluster: ClusterHandle, backups: Arc<dyn BackupSource>, proposer: Arc<dyn Proposer>) -> Self {
        Self { cluster, backups, proposer }
    }
}

impl Actor for AssignmentActor {
    type Context = Context<Self>;
}

/// Proposes one command and waits for its verdict, bounded by `timeout`.
pub async fn submit(cluster: &ClusterHandle, timeout: Duration, req: Request) -> Result<Outcome, AssignError> {
    match tokio::time::timeout(timeout, cluster.write(req)).await {
        Err(_) => Err(AssignError::Timeout(timeout)),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(resp)) => Ok(resp?),
    }
}

/// Assign `config` to `node_id`.
#[derive(Message)]
#[rtype(result = "Result<Outcome, AssignError>")]
pub struct AssignNode {
    pub config: ConfigName,
    pub node_id: NodeId,
    pub user: String,
    pub at: Millis,
}

impl Handler<AssignNode> for AssignmentActor {
    type Result = ResponseFuture<Result<Outcome, AssignError>>;
    fn handle(&mut self, m: AssignNode, _: &mut Self::Context) -> Self::Result {
        let req = Request { at: m.at, user: m.user, cmd: Command::AssignNode { config: m.config, node_id: m.node_id } };
        self.proposer.propose(req)
    }
}

/// Take `node_id` off `config` (the node-removal workflow). Replies `Outcome::NodeRemoved`.
#[derive(Message)]
#[rtype(result = "Result<Outcome, AssignError>")]
pub struct RemoveNodeFromConfig {
    pub config: ConfigName,
    pub node_id: NodeId,
    pub user: String,
    pub at: Millis,
}

impl Handler<RemoveNodeFromConfig> for AssignmentActor {
    type Result = ResponseFuture<Result<Outcome, AssignError>>;
    fn handle(&mut self, m: RemoveNodeFromConfig, _: &mut Self::Context) -> Self::Result {
        let (cluster, proposer, backups) = (self.cluster.clone(), self.proposer.clone(), self.backups.clone());
        Box::pin(async move {
            // Refuse early (and without asking the node) what the command would refuse anyway.
            cluster.read(|s| {
                if !s.configs.contains_key(&m.config) {
                    return Err(CommandError::not_found("config", &m.config));
                }
                if !s.is_assigned(&m.config, &m.node_id) {
                    return Err(CommandError::not_found("config node", format!("{}:{}", m.config, m.node_id)));
                }
                Ok(())
            })?;
            let (backup_interface, backup_note) = match backups.fetch(&m.node_id, &m.config).await {
                Ok(Some(json)) => (Some(json), String::new()),
                Ok(None) => (None, format!("node '{}' has no interface '{}'", m.node_id, m.config)),
                Err(why) => {
                    log::warn!("backup of {}:{} skipped: {why}", m.config, m.node_id);
                    (None, format!("backup skipped: {why}"))
                }
            };
            let cmd = Command::RemoveNode { config: m.config, node_id: m.node_id, backup_interface, backup_note };
            proposer.propose(Request { at: m.at, user: m.user, cmd }).await
        })
    }
}

/// Move every peer of `config` off `from` (to `to`, or least-loaded). Replies `PeersMigrated`.
#[derive(Message)]
#[rtype(result = "Result<Outcome, AssignError>")]
pub struct MigrateNode {
    pub config: ConfigName,
    pub from: NodeId,
    pub to: Option<NodeId>,
    pub user: String,
    pub at: Millis,
}

impl Handler<MigrateNode> for AssignmentActor {
    type Result = ResponseFuture<Result<Outcome, AssignError>>;
    fn handle(&mut self, m: MigrateNode, _: &mut Self::Context) -> Self::Result {
        let cmd = Command::MigratePeers { config: m.config, from: m.from, to: m.to };
        self.proposer.propose(Request { at: m.at, user: m.user, cmd })
    }
}
