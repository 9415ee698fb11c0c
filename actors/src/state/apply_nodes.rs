//! Applying node commands: bootstrap, registration, pre-registration, patch, delete, assignment to
//! configs (the seed's ConfigNodes), node removal from a config and peer migration.

use super::*;
use crate::model::AuditAction;
use serde_json::json;

/// A node's display name follows the one text rule (`model::check_name`), whoever proposed it.
pub(super) fn check_spec_name(spec: &NodeSpec) -> Result<(), CommandError> {
    if let Some(name) = &spec.name {
        check_name("name", name)?;
    }
    Ok(())
}

impl State {
    pub(super) fn bootstrap(
        &mut self,
        at: Millis,
        user: &str,
        token: &ApiToken,
        node: &NodeSpec,
        ca: Option<&ClusterCa>,
        serial: u64,
    ) -> Response {
        if !self.tokens.is_empty() {
            return Err(CommandError::Conflict("the cluster is already initialised".into()));
        }
        self.tokens.push(token.clone());
        self.insert_node(at, node, 1, true);
        self.cluster_ca = ca.cloned();
        if ca.is_some() {
            self.member_certs.insert(serial, MemberCert { node_id: node.id.clone(), serial, revoked: false });
            self.next_cert_serial = self.next_cert_serial.max(serial + 1);
        }
        self.audit(at, user, AuditAction::ClusterInitialized, "node", node.id.as_str(), json!({ "token": token.name }));
        Ok(Outcome::Done)
    }

    pub(super) fn insert_node(&mut self, at: Millis, spec: &NodeSpec, weight: u32, registered: bool) {
        self.nodes.insert(
            spec.id.clone(),
            Node {
                id: spec.id.clone(),
                name: spec.name.clone().unwrap_or_else(|| spec.id.to_string()),
                endpoint: spec.endpoint.clone(),
                cluster_addr: spec.cluster_addr.clone(),
                weight: weight.max(1),
                enabled: true,
                healthy: true,
                registered,
                witness: spec.witness,
                created_at: at,
                updated_at: at,
            },
        );
    }

    pub(super) fn register_node(&mut self, at: Millis, user: &str, spec: &NodeSpec) -> Response {
        check_spec_name(spec)?;
        match self.nodes.get_mut(&spec.id) {
            None => {
                self.insert_node(at, spec, 1, true);
                self.audit(at, user, AuditAction::NodeRegistered, "node", spec.id.as_str(), json!({ "endpoint": spec.endpoint }));
                Ok(Outcome::Done)
            }
            Some(n) => {
                let endpoint = spec.endpoint.clone().or_else(|| n.endpoint.clone());
                let cluster_addr = spec.cluster_addr.clone().or_else(|| n.cluster_addr.clone());
                if n.registered && n.endpoint == endpoint && n.cluster_addr == cluster_addr && n.witness == spec.witness {
                    return Ok(Outcome::Unchanged);
                }
                if spec.witness && self.config_nodes.values().any(|cn| cn.node_id == spec.id) {
                    return Err(CommandError::Conflict(format!(
                        "router '{}' runs as a witness but is assigned to configs; remove it from them first",
                        spec.id
                    )));
                }
                n.witness = spec.witness;
                n.endpoint = endpoint;
                n.cluster_addr = cluster_addr;
                n.registered = true;
                n.updated_at = at;
                let details = json!({ "endpoint": n.endpoint });
                self.audit(at, user, AuditAction::NodeRegistered, "node", spec.id.as_str(), details);
                Ok(Outcome::Done)
            }
        }
    }

    pub(super) fn create_node(&mut self, at: Millis, user: &str, spec: &NodeSpec, weight: u32) -> Response {
        if self.nodes.contains_key(&spec.id) {
            return Err(CommandError::Conflict(format!("node '{}' already exists", spec.id)));
        }
        if weight == 0 {
            return Err(CommandError::Invalid { field: "weight".into(), reason: "must be at least 1".into() });
        }
        check_spec_name(spec)?;
        self.insert_node(at, spec, weight, false);
        let details = json!({ "name": spec.name, "endpoint": spec.endpoint, "weight": weight });
        self.audit(at, user, AuditAction::NodeCreated, "node", spec.id.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn update_node(&mut self, at: Millis, user: &str, id: &NodeId, patch: &NodePatch) -> Response {
        self.node_or_404(id)?;
        if patch.weight == Some(0) {
            return Err(CommandError::Invalid { field: "weight".into(), reason: "must be at least 1".into() });
        }
        if let Some(name) = &patch.name {
            check_name("name", name)?;
        }
        let Some(n) = self.nodes.get_mut(id) else { return Err(CommandError::not_found("node", id)) };
        if let Some(name) = &patch.name {
            n.name = name.clone();
        }
        if let Some(e) = &patch.endpoint {
            n.endpoint = e.clone();
        }
        if let Some(w) = patch.weight {
            n.weight = w;
        }
        if let Some(en) = patch.enabled {
            n.enabled = en;
        }
        n.updated_at = at;
        let details = serde_json::to_value(patch).unwrap_or_default();
        self.audit(at, user, AuditAction::NodeUpdated, "node", id.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn delete_node(&mut self, at: Millis, user: &str, id: &NodeId) -> Response {
        if self.node_or_404(id)?.registered {
            return Err(CommandError::Conflict(format!(
                "node '{id}' is a live cluster member; remove it with DELETE /api/cluster/members/{id} first"
            )));
        }
        let used: Vec<String> = self.config_nodes.values().filter(|cn| &cn.node_id == id).map(|cn| cn.config.to_string()).collect();
        if !used.is_empty() {
            return Err(CommandError::Conflict(format!(
                "node '{id}' is still assigned to config(s) {}; remove it from them first",
                used.join(", ")
            )));
        }
        self.nodes.remove(id);
        self.audit(at, user, AuditAction::NodeDeleted, "node", id.as_str(), json!({}));
        Ok(Outcome::Done)
    }

    pub(super) fn assign_node(&mut self, at: Millis, user: &str, config: &ConfigName, node_id: &NodeId) -> Response {
        self.config_or_404(config)?;
        if self.node_or_404(node_id)?.witness {
            return Err(CommandError::Conflict(format!("node '{node_id}' is a witness (runs no WireGuard) and cannot carry a config")));
        }
        if self.is_assigned(config, node_id) {
            return Err(CommandError::Conflict(format!("node '{node_id}' is already assigned to config '{config}'")));
        }
        self.next_config_node_id += 1;
        let id = self.next_config_node_id;
        self.config_nodes.insert(
            (config.clone(), node_id.clone()),
            ConfigNode { id, config: config.clone(), node_id: node_id.clone(), is_healthy: true, created_at: at, updated_at: at },
        );
        // Peers that had no home (the config had no nodes) get one now.
        let orphans: Vec<PeerId> = self.peers_of(config).filter(|p| p.node_id.is_none()).map(|p| p.id.clone()).collect();
        let homes = self.place(config, None, orphans.len(), at);
        for (pid, home) in orphans.iter().zip(homes) {
            if let Some(p) = self.peers.get_mut(pid) {
                p.node_id = Some(home);
                p.updated_at = at;
            }
        }
        let entity = format!("{config}:{node_id}");
        let details = json!({ "config": config, "node_id": node_id, "config_node_id": id, "peers_homed": orphans.len() });
        self.audit(at, user, AuditAction::NodeAssigned, "config_node", &entity, details);
        Ok(Outcome::ConfigNodeCreated { id })
    }

    /// Where each peer of `config` on `from` goes; refuses when some peer has nowhere to go.
    fn plan_moves(
        &self,
        at: Millis,
        config: &ConfigName,
        from: &NodeId,
        to: Option<&NodeId>,
    ) -> Result<Vec<(PeerId, NodeId)>, CommandError> {
        let movers: Vec<PeerId> = self.peers_of(config).filter(|p| p.node_id.as_ref() == Some(from)).map(|p| p.id.clone()).collect();
        if movers.is_empty() {
            return Ok(Vec::new());
        }
        let cands = self.candidates(config, Some(from));
        let homes = match to {
            Some(dest) => {
                if dest == from {
                    return Err(CommandError::Invalid {
                        field: "destination_node_id".into(),
                        reason: "is the node the peers are moving away from".into(),
                    });
                }
                if !cands.iter().any(|c| &c.id == dest) {
                    return Err(CommandError::Conflict(format!(
                        "node '{dest}' cannot take peers of config '{config}' (not assigned, disabled or unhealthy)"
                    )));
                }
                vec![dest.clone(); movers.len()]
            }
            None => {
                let (cands, unit) = self.weigh(config, cands, at);
                placement::spread_by(cands, movers.len(), unit)
            }
        };
        if homes.len() < movers.len() {
            return Err(CommandError::Conflict(format!(
                "config '{config}' has no other enabled, healthy node to take the {} peer(s) of node '{from}'; \
                 they stay where they are",
                movers.len()
            )));
        }
        Ok(movers.into_iter().zip(homes).collect())
    }

    /// Re-homes peers. Mode B (no endpoint group) is make-before-break: each moved peer keeps
    /// `draining_from` = its old node, which keeps carrying it until the panel completes the drain.
    /// Usage and limits are the peer's and move with it; its limits are re-evaluated here.
    pub(super) fn move_peers(&mut self, at: Millis, user: &str, moves: &[(PeerId, NodeId)]) -> BTreeMap<String, u64> {
        let mut per_dest: BTreeMap<String, u64> = BTreeMap::new();
        let mut drains: Vec<(ConfigName, NodeId)> = Vec::new();
        for (pid, dest) in moves {
            let mode_a = self.peers.get(pid).map(|p| self.endpoint_groups.contains_key(&p.config)).unwrap_or(false);
            if let Some(p) = self.peers.get_mut(pid) {
                let from = p.node_id.replace(dest.clone());
                if !mode_a {
                    if let Some(from) = from.filter(|f| f != dest) {
                        // A peer already draining keeps its original source until that completes.
                        if p.draining_from.is_none() {
                            p.draining_from = Some(from.clone());
                        }
                        drains.push((p.config.clone(), p.draining_from.clone().unwrap_or(from)));
                    }
                }
                p.updated_at = at;
                *per_dest.entry(dest.to_string()).or_default() += 1;
            }
        }
        for (config, node) in drains {
            self.start_drain(at, &config, &node, None, false);
        }
        for (pid, _) in moves {
            if self.peers.get(pid).is_some_and(|p| p.limits.any()) {
                self.enforce_limits(at, user, pid);
            }
        }
        per_dest
    }

    pub(super) fn migrate_peers(&mut self, at: Millis, user: &str, config: &ConfigName, from: &NodeId, to: Option<&NodeId>) -> Response {
        self.config_or_404(config)?;
        self.node_or_404(from)?;
        if !self.is_assigned(config, from) {
            return Err(CommandError::not_found("config node", format!("{config}:{from}")));
        }
        let moves = self.plan_moves(at, config, from, to)?;
        let per_dest = self.move_peers(at, user, &moves);
        let entity = format!("{config}:{from}");
        let details = json!({ "config": config, "from": from, "count": moves.len(), "to": per_dest });
        self.audit(at, user, AuditAction::PeerMigrated, "config_node", &entity, details);
        Ok(Outcome::PeersMigrated { count: moves.len() as u64 })
    }

    pub(super) fn remove_node(
        &mut self,
        at: Millis,
        user: &str,
        config: &ConfigName,
        node_id: &NodeId,
        backup_interface: Option<String>,
        backup_note: &str,
    ) -> Response {
        self.config_or_404(config)?;
        let Some(cn) = self.config_nodes.get(&(config.clone(), node_id.clone())) else {
            return Err(CommandError::not_found("config node", format!("{config}:{node_id}")));
        };
        let cn_id = cn.id;
        let moves = self.plan_moves(at, config, node_id, None)?;
        // 1 backup
        self.next_backup_id += 1;
        let backup_id = self.next_backup_id;
        self.backups.push_back(Backup {
            id: backup_id,
            config: config.clone(),
            node_id: node_id.clone(),
            created_at: at,
            interface: backup_interface,
            note: backup_note.to_string(),
        });
        while self.backups.len() > BACKUP_RETENTION {
            self.backups.pop_front();
        }
        let skipped = self.backups.back().map(|b| b.interface.is_none()).unwrap_or(true);
        self.audit(
            at,
            user,
            AuditAction::BackupCreated,
            "backup",
            &backup_id.to_string(),
            json!({ "config": config, "node_id": node_id, "skipped": skipped, "note": backup_note }),
        );
        // 2 migrate
        let per_dest = self.move_peers(at, user, &moves);
        if !moves.is_empty() {
            let entity = format!("{config}:{node_id}");
            let details = json!({ "config": config, "from": node_id, "count": moves.len(), "to": per_dest });
            self.audit(at, user, AuditAction::PeerMigrated, "config_node", &entity, details);
        }
        // 3 unassign; the node drains: Mode B until the destinations have the moved peers,
        // Mode A until it has been out of DNS for the record TTL.
        self.config_nodes.remove(&(config.clone(), node_id.clone()));
        let until = self.endpoint_groups.get(config).map(|g| at + u64::from(g.ttl) * 1000);
        self.start_drain(at, config, node_id, until, true);
        let entity = format!("{config}:{node_id}");
        let details = json!({ "config": config, "node_id": node_id, "config_node_id": cn_id,
                              "peers_migrated": moves.len(), "backup_id": backup_id });
        self.audit(at, user, AuditAction::NodeRemoved, "config_node", &entity, details);
        Ok(Outcome::NodeRemoved { peers_migrated: moves.len() as u64, backup_id })
    }
}
