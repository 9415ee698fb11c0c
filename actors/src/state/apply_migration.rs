//! Applying migration bookkeeping: drains (make-before-break), rebalancing, and the record of a
//! migration that could not happen.

use super::*;
use crate::model::AuditAction;
use serde_json::json;

impl State {
    /// Starts or extends the drain of `node` from `config`, at the current version.
    pub(super) fn start_drain(&mut self, at: Millis, config: &ConfigName, node: &NodeId, until: Option<Millis>, removed: bool) {
        let version = self.version;
        let d = self.drains.entry((config.clone(), node.clone())).or_insert_with(|| Drain {
            config: config.clone(),
            node_id: node.clone(),
            started_at: at,
            version,
            until,
            removed,
        });
        d.version = version;
        d.removed |= removed;
        if until.is_some() {
            d.until = until;
        }
    }

    /// Peers of `config` still draining away from `node`, with where they are going.
    pub fn draining_peers<'a>(&'a self, config: &'a ConfigName, node: &'a NodeId) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers_of(config).filter(move |p| p.draining_from.as_ref() == Some(node))
    }

    pub(super) fn complete_drain(&mut self, at: Millis, user: &str, config: &ConfigName, node: &NodeId) -> Response {
        let Some(d) = self.drains.remove(&(config.clone(), node.clone())) else {
            return Err(CommandError::not_found("drain", format!("{config}:{node}")));
        };
        let mut released = 0u64;
        for p in self.peers.values_mut().filter(|p| &p.config == config && p.draining_from.as_ref() == Some(node)) {
            p.draining_from = None;
            p.updated_at = at;
            released += 1;
        }
        let entity = format!("{config}:{node}");
        let details = json!({ "config": config, "node_id": node, "peers_released": released, "node_removed": d.removed,
                              "took_ms": at.saturating_sub(d.started_at) });
        self.audit(at, user, AuditAction::DrainCompleted, "config_node", &entity, details);
        Ok(Outcome::Done)
    }

    /// Moves peers from nodes above their weighted share to nodes below it. Deterministic: the
    /// target of each node is its share of the total by weight (remainders to the lowest ids).
    pub(super) fn rebalance(&mut self, at: Millis, user: &str, config: &ConfigName) -> Response {
        self.config_or_404(config)?;
        let cands = self.candidates(config, None);
        if cands.is_empty() {
            return Err(CommandError::Conflict(format!("config '{config}' has no healthy, enabled node to balance over")));
        }
        let total: u64 =
            self.peers_of(config).filter(|p| p.node_id.as_ref().is_some_and(|n| cands.iter().any(|c| &c.id == n))).count() as u64;
        let wsum: u64 = cands.iter().map(|c| u64::from(c.weight.max(1))).sum();
        let mut targets: Vec<(NodeId, u64)> = cands.iter().map(|c| (c.id.clone(), total * u64::from(c.weight.max(1)) / wsum)).collect();
        let mut rest = total - targets.iter().map(|t| t.1).sum::<u64>();
        for t in targets.iter_mut() {
            if rest == 0 {
                break;
            }
            t.1 += 1;
            rest -= 1;
        }
        let load = |s: &State, n: &NodeId| s.peers_of(config).filter(|p| p.node_id.as_ref() == Some(n)).count() as u64;
        let mut surplus: Vec<PeerId> = Vec::new();
        for (n, target) in &targets {
            let l = load(self, n);
            if l > *target {
                // The most recently created peers move first (older sessions stay put).
                let mut ps: Vec<&Peer> = self.peers_of(config).filter(|p| p.node_id.as_ref() == Some(n)).collect();
                ps.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
                surplus.extend(ps.into_iter().take((l - target) as usize).map(|p| p.id.clone()));
            }
        }
        let mut moves = Vec::new();
        let mut it = surplus.into_iter();
        for (n, target) in &targets {
            let l = load(self, n);
            for _ in l..*target {
                if let Some(pid) = it.next() {
                    moves.push((pid, n.clone()));
                }
            }
        }
        let per_dest = self.move_peers(at, user, &moves);
        self.audit(at, user, AuditAction::PeersRebalanced, "config", config.as_str(), json!({ "moved": moves.len(), "to": per_dest }));
        Ok(Outcome::Rebalanced { moved: moves.len() as u64 })
    }

    pub(super) fn report_blocked(&mut self, at: Millis, user: &str, config: &ConfigName, node: &NodeId, reason: &str) -> Response {
        let entity = format!("{config}:{node}");
        self.audit(at, user, AuditAction::MigrationBlocked, "config_node", &entity, json!({ "reason": reason }));
        Ok(Outcome::Done)
    }
}
