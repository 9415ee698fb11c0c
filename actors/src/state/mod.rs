//! The replicated state and everything that decides on it, all pure: `command` (what can change),
//! `apply*` (how a command changes the state, with its audit entry), `pool` (addresses),
//! `placement` (which node), `render` (client config files), `audit_query` (filters).
//!
//! Invariants: no I/O and no clock here (time comes in the `Request`); `apply` either changes the
//! state and appends exactly one audit entry per change, or returns an error and changes nothing.

mod apply;
mod apply_configs;
mod apply_members;
mod apply_migration;
mod apply_nodes;
mod apply_ops;
mod apply_peers;
mod apply_usage;
mod apply_vip;
pub mod audit_query;
pub mod command;
pub mod idempotency;
pub mod index;
pub mod journal;
pub mod pages;
pub mod peer_query;
pub mod placement;
pub mod pool;
pub mod render;

pub use apply_usage::{USAGE_INTERVAL_RANGE, USAGE_READINGS_MAX};
pub use command::*;

use crate::model::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Audit entries kept (oldest dropped first). About 200 bytes each.
pub const AUDIT_RETENTION: usize = 5000;
/// Backups kept (oldest dropped first).
pub const BACKUP_RETENTION: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub nodes: BTreeMap<NodeId, Node>,
    pub configs: BTreeMap<ConfigName, Config>,
    pub config_nodes: BTreeMap<(ConfigName, NodeId), ConfigNode>,
    pub endpoint_groups: BTreeMap<ConfigName, EndpointGroup>,
    pub peers: BTreeMap<PeerId, Peer>,
    pub audit: VecDeque<AuditEntry>,
    pub backups: VecDeque<Backup>,
    pub tokens: Vec<ApiToken>,
    pub settings: Settings,
    pub next_audit_id: u64,
    pub next_config_node_id: u64,
    pub next_backup_id: u64,
    /// Number of commands applied (successful or not): the state version a router has reached.
    pub version: u64,
    pub cluster_ca: Option<ClusterCa>,
    pub join_tokens: Vec<JoinTokenRecord>,
    /// Certificates issued to routers, by serial.
    pub member_certs: BTreeMap<u64, MemberCert>,
    pub next_cert_serial: u64,
    /// Nodes being drained, by (config, node).
    pub drains: BTreeMap<(ConfigName, NodeId), Drain>,
    /// Outcomes of writes made with an `Idempotency-Key` (bounded; see `idempotency.rs`).
    pub idempotency: idempotency::IdempotencyLog,
    /// Peer usage and live status as the routers last reported it (#15; `usage/merge.rs`).
    pub usage: crate::usage::UsageBook,
    /// DNS records still to be removed from a provider (#16), by `DnsRemoval::key`.
    pub dns_removals: BTreeMap<String, DnsRemoval>,
    /// Derived lookups for allocation and placement; not replicated, rebuilt on use.
    #[serde(skip)]
    pub index: index::PeerIndex,
    /// Which peers recent commands changed (for incremental views); not replicated.
    #[serde(skip)]
    pub journal: journal::ChangeJournal,
    /// Floating addresses of endpoint groups (#16), by config.
    pub vips: BTreeMap<ConfigName, Vip>,
    /// Peer counts and page marks per config for list reads (`pages.rs`); not replicated.
    #[serde(skip)]
    pub pages: pages::PageCache,
}

impl State {
    pub fn peers_of<'a>(&'a self, config: &'a ConfigName) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers.values().filter(move |p| &p.config == config)
    }

    pub fn nodes_of<'a>(&'a self, config: &'a ConfigName) -> impl Iterator<Item = &'a ConfigNode> + 'a {
        self.config_nodes.values().filter(move |cn| &cn.config == config)
    }

    pub fn is_assigned(&self, config: &ConfigName, node: &NodeId) -> bool {
        self.config_nodes.contains_key(&(config.clone(), node.clone()))
    }

    /// Nodes that may take peers of `config` (assigned, enabled, healthy), excluding `except`,
    /// with their current load in this config (one pass over the peers).
    pub fn candidates(&self, config: &ConfigName, except: Option<&NodeId>) -> Vec<placement::Candidate> {
        let mut load: std::collections::HashMap<&NodeId, u64> = std::collections::HashMap::new();
        for n in self.peers_of(config).filter_map(|p| p.node_id.as_ref()) {
            *load.entry(n).or_default() += 1;
        }
        self.candidates_with(config, except, |n| load.get(n).copied().unwrap_or(0))
    }

    /// `candidates` with the load of each node from `load` (apply passes the index's counters).
    pub fn candidates_with(
        &self,
        config: &ConfigName,
        except: Option<&NodeId>,
        load: impl Fn(&NodeId) -> u64,
    ) -> Vec<placement::Candidate> {
        self.nodes_of(config)
            .filter(|cn| Some(&cn.node_id) != except && cn.is_healthy)
            .filter_map(|cn| self.nodes.get(&cn.node_id))
            .filter(|n| n.enabled && n.healthy)
            .map(|n| placement::Candidate { id: n.id.clone(), weight: n.weight, load: load(&n.id) })
            .collect()
    }

    /// `cands` (with their peer counts) weighed by `config`'s placement rule at `at`, and the load
    /// one placed peer adds (`placement::spread_by`).
    pub fn weigh(&self, config: &ConfigName, cands: Vec<placement::Candidate>, at: Millis) -> (Vec<placement::Candidate>, u64) {
        match self.configs.get(config).map(|c| c.placement) {
            Some(Placement::Traffic) => placement::by_traffic(cands, |n| self.usage.recent_bytes(n, at)),
            _ => (cands, 1),
        }
    }

    /// Homes for `n` peers of `config`: the candidates (except `except`) weighed and spread.
    pub fn place(&self, config: &ConfigName, except: Option<&NodeId>, n: usize, at: Millis) -> Vec<NodeId> {
        let (cands, unit) = self.weigh(config, self.candidates(config, except), at);
        placement::spread_by(cands, n, unit)
    }

    /// The audit `user` for a token secret's hash, if it is one of ours.
    pub fn token_name(&self, sha256: &[u8; 32]) -> Option<&str> {
        // Compare every token without an early exit on the first byte that differs.
        let mut found = None;
        for t in &self.tokens {
            let diff = t.sha256.iter().zip(sha256.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(t.name.as_str());
            }
        }
        found
    }

    fn audit(&mut self, at: Millis, user: &str, action: AuditAction, entity_type: &str, entity_id: &str, details: serde_json::Value) {
        self.next_audit_id += 1;
        self.audit.push_back(AuditEntry {
            id: self.next_audit_id,
            timestamp: at,
            action: action.as_str().to_string(),
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            details: details.to_string(),
            user: user.to_string(),
        });
        while self.audit.len() > AUDIT_RETENTION {
            self.audit.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
