//! `ClusterHandle`: the daemon's one door to the replicated state. Writes go through Raft
//! (`write`), reads are served from the local state machine (`read`), and membership and leadership
//! come from openraft's metrics (`members`, `leader`).

use super::log_store::LogStore;
use super::network::{Network, RaftTransport};
use super::state_machine::{Applied, StateMachine};
use super::types::{raft_id, RaftNode};
use super::Raft;
use crate::model::NodeId;
use crate::state::{Request, Response, State};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{Config, ServerState, SnapshotPolicy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Why Raft refused a write. Serializable: a panel returns it to a follower that forwarded the
/// write, which then answers exactly as the panel would.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum WriteError {
    #[error("this router is not the panel (leader); the panel is {}", .leader.as_ref().map(|l| l.id.as_str()).unwrap_or("unknown"))]
    NotLeader { leader: Option<RaftNode> },
    #[error("{0}")]
    NoQuorum(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
    /// This router was the panel when it took the write and lost that role before the write was
    /// committed: the new panel may still commit it. The outcome is unknown.
    #[error(
        "this router stopped being the panel while the write was in flight; the new panel ({}) may still apply it",
        .leader.as_ref().map(|l| l.id.as_str()).unwrap_or("not elected yet")
    )]
    LeadershipLost { leader: Option<RaftNode> },
}

impl WriteError {
    /// True when the write may have been applied (or may still be).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, WriteError::LeadershipLost { .. })
    }
}

/// More routers than this stay learners (Raft gets slower, not safer, with more voters).
pub const MAX_VOTERS: usize = 5;

fn map_change_err(e: RaftError<u64, ClientWriteError<u64, RaftNode>>) -> WriteError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => WriteError::NotLeader { leader: f.leader_node },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => WriteError::NoQuorum(format!("membership change refused: {e}")),
        RaftError::Fatal(e) => WriteError::Fatal(e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("raft config: {0}")]
    Config(String),
    #[error("raft: {0}")]
    Raft(String),
}

/// A member as `GET /api/cluster` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: String,
    pub addr: String,
    pub role: &'static str,
    pub voter: bool,
    pub matched_index: Option<u64>,
}

/// Timing of elections and snapshots; defaults suit a WAN between routers.
#[derive(Debug, Clone)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    /// Build a snapshot (and allow log purge) after this many entries.
    pub snapshot_logs: u64,
    /// Entries kept in the log behind the snapshot, for followers that lag a little.
    pub keep_logs: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self { heartbeat_ms: 300, election_timeout_ms: 1500, snapshot_logs: 1000, keep_logs: 200 }
    }
}

#[derive(Clone)]
pub struct ClusterHandle {
    pub raft: Raft,
    pub node_id: NodeId,
    pub raft_id: u64,
    shared: Arc<RwLock<Applied>>,
    versions: watch::Receiver<u64>,
    /// How long a leader may go without a quorum's acknowledgement before writes fail fast.
    quorum_grace_ms: u64,
}

impl ClusterHandle {
    /// Builds storage and starts Raft. Must run inside a tokio runtime.
    pub async fn start(
        store: Arc<crate::store::Store>,
        node_id: NodeId,
        transport: Arc<dyn RaftTransport>,
        timing: &RaftTiming,
    ) -> Result<Self, StartError> {
        // Every field written out: openraft's `Config::default()` runs its clap parser, which
        // links all of clap into the binary (~175 K on aarch64). Values not set from `timing` are
        // openraft 0.9's defaults.
        #[allow(deprecated)] // send_snapshot_timeout: deprecated but still a field to fill
        let config = Config {
            cluster_name: "wgcluster".into(),
            heartbeat_interval: timing.heartbeat_ms,
            // openraft 0.9: a follower that had a leader first waits out the leader lease
            // (= election_timeout_max), then its own random timeout; a dead panel is replaced after
            // about max + [min, max). With min/max at 0.4/0.6 of `election_timeout_ms` that sums to
            // about 1–1.2 × the configured value (1.5–1.8 s by default).
            election_timeout_min: (timing.election_timeout_ms * 2 / 5).max(timing.heartbeat_ms + 1),
            election_timeout_max: (timing.election_timeout_ms * 3 / 5).max(timing.heartbeat_ms + 2),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_logs),
            max_in_snapshot_log_to_keep: timing.keep_logs,
            install_snapshot_timeout: 200,
            send_snapshot_timeout: 0,
            max_payload_entries: 300,
            replication_lag_threshold: 5000,
            snapshot_max_chunk_size: 3 * 1024 * 1024,
            purge_batch_size: 1,
            enable_tick: true,
            enable_heartbeat: true,
            enable_elect: true,
        }
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
        let log = LogStore::open(store.clone()).map_err(|e| StartError::Storage(e.to_string()))?;
        let sm = StateMachine::open(store).map_err(|e| StartError::Storage(e.to_string()))?;
        let shared = sm.shared();
        let versions = sm.subscribe();
        let id = raft_id(&node_id);
        let raft = Raft::new(id, Arc::new(config), Network::new(transport), log, sm).await.map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(Self { raft, node_id, raft_id: id, shared, versions, quorum_grace_ms: timing.election_timeout_ms * 2 })
    }

    /// Makes this router a one-voter cluster if Raft has never been initialised here.
    pub async fn initialize_single(&self, addr: &str) -> Result<bool, StartError> {
        if self.raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))? {
            return Ok(false);
        }
        let mut members = BTreeMap::new();
        members.insert(self.raft_id, RaftNode { id: self.node_id.to_string(), addr: addr.to_string() });
        self.raft.initialize(members).await.map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(true)
    }

    /// Waits until some leader is known, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<u64> {
        let mut m = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = m.borrow().current_leader {
                return Some(l);
            }
            if tokio::time::timeout_at(deadline, m.changed()).await.is_err() {
                return None;
            }
        }
    }

    /// Appends `req` through Raft and returns what apply said.
    pub async fn write(&self, req: Request) -> Result<Response, WriteError> {
        self.write_indexed(req).await.map(|(r, _)| r)
    }

    /// Like `write`, also returning the log index the command was committed at (a follower that
    /// forwarded the write waits until it has applied that index before it answers).
    pub async fn write_indexed(&self, req: Request) -> Result<(Response, u64), WriteError> {
        // Fail fast on a panel that has lost its quorum (e.g. its link was cut): without this the
        // write would wait for a commit that cannot come.
        let was_leader = {
            let m = self.raft.metrics().borrow().clone();
            let voters = m.membership_config.membership().voter_ids().count();
            if m.state == ServerState::Leader && voters > 1 {
                if let Some(ms) = m.millis_since_quorum_ack {
                    if ms > self.quorum_grace_ms {
                        return Err(WriteError::NoQuorum(format!(
                            "no quorum: this router is cut off from the majority of the cluster (no acknowledgement for {ms} ms); writes are refused"
                        )));
                    }
                }
            }
            m.state == ServerState::Leader
        };
        match self.raft.client_write(req).await {
            Ok(r) => Ok((r.data, r.log_id.index)),
            // openraft answers ForwardToLeader also for an entry it had appended before stepping
            // down (a later panel may commit it): only a router that was not the panel when the
            // write came in knows that nothing was appended.
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) if was_leader => {
                Err(WriteError::LeadershipLost { leader: f.leader_node })
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(WriteError::NotLeader { leader: f.leader_node }),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(WriteError::NoQuorum(format!("no quorum: the cluster cannot accept writes right now ({e})")))
            }
            Err(RaftError::Fatal(e)) => Err(WriteError::Fatal(e.to_string())),
        }
    }

    /// Reads the local state. Keep `f` short: it holds the state's read lock.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.shared.read() {
            Ok(a) => f(&a.state),
            Err(poisoned) => f(&poisoned.into_inner().state),
        }
    }

    /// The index of the last log entry applied here.
    pub fn applied_index(&self) -> u64 {
        match self.shared.read() {
            Ok(a) => a.last_applied.map(|l| l.index).unwrap_or(0),
            Err(p) => p.into_inner().last_applied.map(|l| l.index).unwrap_or(0),
        }
    }

    /// Ticks with the state version after each applied batch.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.versions.clone()
    }

    /// Waits until this router has applied log index `index`, up to `timeout`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut v = self.versions.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.applied_index() >= index {
                return true;
            }
            if tokio::time::timeout_at(deadline, v.changed()).await.is_err() {
                return self.applied_index() >= index;
            }
        }
    }

    /// The index of the last entry in this router's log, and whether this router is the only
    /// voter (then it commits alone).
    pub fn last_log(&self) -> (Option<u64>, bool) {
        let m = self.raft.metrics().borrow().clone();
        let voters = m.membership_config.membership().voter_ids().count();
        (m.last_log_index, voters == 1 && m.membership_config.membership().voter_ids().any(|v| v == m.id))
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// The current leader's id and cluster address, if one is known.
    pub fn leader_node(&self) -> Option<RaftNode> {
        let m = self.raft.metrics().borrow().clone();
        m.current_leader.and_then(|l| m.membership_config.membership().get_node(&l).cloned())
    }

    /// (snapshot index, purged index) of the local log, for metrics.
    pub fn log_indexes(&self) -> (Option<u64>, Option<u64>) {
        let m = self.raft.metrics().borrow().clone();
        (m.snapshot.map(|l| l.index), m.purged.map(|l| l.index))
    }

    /// (leader node id, term).
    pub fn leader(&self) -> (Option<String>, u64) {
        let m = self.raft.metrics().borrow().clone();
        let leader = m.current_leader.and_then(|l| m.membership_config.membership().get_node(&l).map(|n| n.id.clone()));
        (leader, m.current_term)
    }

    pub fn members(&self) -> Vec<MemberView> {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| {
                let role = if Some(*id) == m.current_leader {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                };
                let matched_index = if *id == self.raft_id {
                    m.last_applied.map(|l| l.index)
                } else {
                    m.replication.as_ref().and_then(|r| r.get(id).cloned().flatten()).map(|l| l.index)
                };
                MemberView { id: node.id.clone(), addr: node.addr.clone(), role, voter: voters.contains(id), matched_index }
            })
            .collect()
    }

    /// On the leader: brings `node` in as a learner (waiting until it has caught up), then makes
    /// it a voter while there are fewer than `MAX_VOTERS`. Idempotent.
    pub async fn add_member(&self, node: &NodeId, addr: &str) -> Result<&'static str, WriteError> {
        let id = raft_id(node);
        let rn = RaftNode { id: node.to_string(), addr: addr.to_string() };
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let known_addr = membership.get_node(&id).map(|n| n.addr.clone());
        let is_voter = membership.voter_ids().any(|v| v == id);
        let voters = membership.voter_ids().count();
        if known_addr.as_deref() != Some(addr) {
            self.raft.add_learner(id, rn, true).await.map_err(map_change_err)?;
        }
        if is_voter {
            return Ok("voter");
        }
        if voters >= MAX_VOTERS {
            return Ok("learner");
        }
        self.raft
            .change_membership(openraft::ChangeMembers::AddVoterIds([id].into_iter().collect()), false)
            .await
            .map_err(map_change_err)?;
        Ok("voter")
    }

    /// On the leader: removes `node` from the membership and promotes a learner in its place when
    /// voters are short.
    pub async fn remove_member(&self, node: &NodeId) -> Result<(), WriteError> {
        let id = raft_id(node);
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership().clone();
        if membership.voter_ids().any(|v| v == id) {
            self.raft
                .change_membership(openraft::ChangeMembers::RemoveVoters([id].into_iter().collect()), false)
                .await
                .map_err(map_change_err)?;
        }
        if membership.get_node(&id).is_some() {
            self.raft
                .change_membership(openraft::ChangeMembers::RemoveNodes([id].into_iter().collect()), false)
                .await
                .map_err(map_change_err)?;
        }
        let m = self.raft.metrics().borrow().clone();
        let ms = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = ms.voter_ids().collect();
        if voters.len() < MAX_VOTERS {
            if let Some((learner, _)) = ms.nodes().find(|(i, _)| !voters.contains(i)) {
                let l = *learner;
                self.raft
                    .change_membership(openraft::ChangeMembers::AddVoterIds([l].into_iter().collect()), false)
                    .await
                    .map_err(map_change_err)?;
            }
        }
        Ok(())
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
