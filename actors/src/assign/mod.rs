//! `AssignmentActor` — the assignment manager (the seed's ConfigNodes): assigns configs to nodes
//! and runs the node-removal workflow (DESIGN §5.3): fetch a backup of the node's actual interface
//! config, then one `RemoveNode` command that records the backup, re-homes the node's peers
//! least-loaded, removes the assignment and writes the audit entries. The node's reconciler removes
//! the interface once the command is applied; DNS follows from the changed state.
//!
//! Owns: nothing but the handles it is given. Receives: `AssignNode`, `RemoveNodeFromConfig`,
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
    fn fetch(&self, node: &NodeId, iface: &ConfigName) -> BoxFuture<Result<Option<String>, String>>;
}

pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("no quorum: the write was not committed within {0:?}")]
    Timeout(Duration),
}

pub struct AssignmentActor {
    cluster: ClusterHandle,
    backups: Arc<dyn BackupSource>,
    write_timeout: Duration,
}

impl AssignmentActor {
    pub fn new(cluster: ClusterHandle, backups: Arc<dyn BackupSource>, write_timeout: Duration) -> Self {
        Self { cluster, backups, write_timeout }
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
        let (cluster, t) = (self.cluster.clone(), self.write_timeout);
        Box::pin(async move {
            let req = Request { at: m.at, user: m.user, cmd: Command::AssignNode { config: m.config, node_id: m.node_id } };
            submit(&cluster, t, req).await
        })
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
        let (cluster, t, backups) = (self.cluster.clone(), self.write_timeout, self.backups.clone());
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
            submit(&cluster, t, Request { at: m.at, user: m.user, cmd }).await
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
        let (cluster, t) = (self.cluster.clone(), self.write_timeout);
        Box::pin(async move {
            let cmd = Command::MigratePeers { config: m.config, from: m.from, to: m.to };
            submit(&cluster, t, Request { at: m.at, user: m.user, cmd }).await
        })
    }
}
