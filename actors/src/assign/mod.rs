//! `NodeRemoval` — the node-removal workflow (DESIGN §5.3): fetch a backup of the node's actual
//! interface config, then one `RemoveNode` command that records the backup, re-homes the node's
//! peers least-loaded, removes the assignment and writes the audit entries. The node's reconciler
//! removes the interface once the command is applied; DNS follows from the changed state.
//!
//! Not an actor: it owns nothing but the handles it is given (state reads, a `Proposer`, a
//! `BackupSource`). Assigning and migrating are single commands: handlers propose them directly.

use crate::model::{ConfigName, Millis, NodeId};
use crate::raft::{ClusterHandle, ProposeError, Proposer};
use crate::state::{Command, CommandError, Outcome, Request};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// Where a node's actual interface config comes from (its agent route, in a cluster).
pub trait BackupSource: Send + Sync + 'static {
    /// `Ok(Some(json))` the interface as the node reports it (no private key); `Ok(None)` the node
    /// has no such interface; `Err(why)` the node could not be asked (the backup is then skipped).
    fn fetch(&self, node: &NodeId, iface: &ConfigName) -> BoxFuture<'static, Result<Option<String>, String>>;
}

/// The node-removal workflow. Cheap to share (`Arc`); holds only handles.
pub struct NodeRemoval {
    cluster: ClusterHandle,
    backups: Arc<dyn BackupSource>,
    proposer: Arc<dyn Proposer>,
}

impl NodeRemoval {
    pub fn new(cluster: ClusterHandle, backups: Arc<dyn BackupSource>, proposer: Arc<dyn Proposer>) -> Self {
        Self { cluster, backups, proposer }
    }

    /// Takes `node_id` off `config`: backup, then one `RemoveNode` command (migrate, unassign,
    /// audit). Replies `Outcome::NodeRemoved`.
    pub async fn remove(&self, config: ConfigName, node_id: NodeId, user: String, at: Millis) -> Result<Outcome, ProposeError> {
        // Refuse early (and without asking the node) what the command would refuse anyway.
        self.cluster.read(|s| {
            if !s.configs.contains_key(&config) {
                return Err(CommandError::not_found("config", &config));
            }
            if !s.is_assigned(&config, &node_id) {
                return Err(CommandError::not_found("config node", format!("{config}:{node_id}")));
            }
            Ok(())
        })?;
        let (backup_interface, backup_note) = match self.backups.fetch(&node_id, &config).await {
            Ok(Some(json)) => (Some(json), String::new()),
            Ok(None) => (None, format!("node '{node_id}' has no interface '{config}'")),
            Err(why) => {
                log::warn!("backup of {config}:{node_id} skipped: {why}");
                (None, format!("backup skipped: {why}"))
            }
        };
        let cmd = Command::RemoveNode { config, node_id, backup_interface, backup_note };
        self.proposer.propose(Request { at, user, cmd, idempotency: None }).await
    }
}
