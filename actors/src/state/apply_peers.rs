//! Applying peer commands: bulk create (all or nothing), patch, delete.

use super::index::ConfigIndex;
use super::*;
use crate::model::AuditAction;
use serde_json::json;

/// Bulk creations above this many peers get one summary audit entry instead of one per peer.
const AUDIT_PER_PEER_MAX: usize = 20;

impl State {
    pub(super) fn create_peers(&mut self, at: Millis, user: &str, config: &ConfigName, new: &[NewPeer]) -> Response {
        let cfg = self.config_or_404(config)?.clone();
        if new.is_empty() {
            return Err(CommandError::Invalid { field: "peers".into(), reason: "no peer given".into() });
        }
        // The index is taken out while the checks read the rest of the state, and put back on
        // every path: a refused command leaves it as it was (it changes nothing).
        let mut index = std::mem::take(&mut self.index);
        let idx = index.config(&cfg, self.peers.values());
        let checked = self
            .check_new_peers(config, &cfg, new, idx)
            .and_then(|()| idx.allocate(new.len()).map_err(|e| CommandError::PoolExhausted(format!("config '{config}': {e}"))));
        let addrs = match checked {
            Ok(a) => a,
            Err(e) => {
                self.index = index;
                return Err(e);
            }
        };
        let idx = index.config(&cfg, self.peers.values());
        // Placement: pinned peers count towards the load before the rest are spread.
        let (mut cands, unit) = self.weigh(config, self.candidates_with(config, None, |n| idx.load(n)), at);
        for p in new {
            if let Some(c) = p.node_id.as_ref().and_then(|n| cands.iter_mut().find(|c| &c.id == n)) {
                c.load = c.load.saturating_add(unit);
            }
        }
        let unpinned = new.iter().filter(|p| p.node_id.is_none()).count();
        let mut homes = placement::spread_by(cands, unpinned, unit).into_iter();
        let (defaults, keepalive) = (cfg.peer_allowed_ips.clone(), cfg.peer_keepalive);

        let mut ids = Vec::with_capacity(new.len());
        for (p, addresses) in new.iter().zip(addrs) {
            let node_id = p.node_id.clone().or_else(|| homes.next());
            let peer = Peer {
                id: p.id.clone(),
                config: config.clone(),
                name: p.name.clone(),
                public_key: p.public_key,
                private_key: p.private_key,
                preshared_key: p.preshared_key,
                addresses,
                allowed_ips: p.allowed_ips.clone().unwrap_or_else(|| defaults.clone()),
                keepalive: p.keepalive.or(keepalive),
                enabled: p.enabled,
                node_id,
                draining_from: None,
                created_at: at,
                updated_at: at,
                limits: p.limits,
                limited: None,
                limit_override: false,
            };
            if new.len() <= AUDIT_PER_PEER_MAX {
                let details = json!({ "config": config, "name": peer.name, "public_key": peer.public_key.to_base64(),
                                      "address": peer.addresses, "node_id": peer.node_id });
                self.audit(at, user, AuditAction::PeerCreated, "peer", p.id.as_str(), details);
            }
            ids.push(p.id.clone());
            idx.insert(&peer);
            self.peers.insert(p.id.clone(), peer);
        }
        self.index = index;
        // A limit already reached (an expiry in the past) disables the peer at once.
        for p in new.iter().filter(|p| p.limits != PeerLimits::default()) {
            self.enforce_limits(at, user, &p.id);
        }
        if new.len() > AUDIT_PER_PEER_MAX {
            let details = json!({ "config": config, "count": new.len(), "first": ids.first(), "last": ids.last() });
            self.audit(at, user, AuditAction::PeerCreated, "config", config.as_str(), details);
        }
        Ok(Outcome::PeersCreated { ids })
    }

    /// Every check of a bulk creation but the addresses: names, keys (against the config's and
    /// each other), ids, pinned nodes. Per peer, in that order.
    fn check_new_peers(&self, config: &ConfigName, cfg: &Config, new: &[NewPeer], idx: &ConfigIndex) -> Result<(), CommandError> {
        let mut batch: HashSet<WgKey> = HashSet::with_capacity(new.len());
        for (i, p) in new.iter().enumerate() {
            // Defence in depth: commands may come from another router; the API checked this too.
            check_name(&if new.len() > 1 { format!("[{i}].name") } else { "name".into() }, &p.name)?;
            let field = if new.len() > 1 { format!("[{i}].public_key") } else { "public_key".into() };
            if p.public_key == cfg.public_key {
                return Err(CommandError::Invalid { field, reason: "is the config's own public key".into() });
            }
            if idx.has_key(&p.public_key) || !batch.insert(p.public_key) {
                return Err(CommandError::Conflict(format!(
                    "{field}: a peer with public key {} already exists in config '{config}'",
                    p.public_key.to_base64()
                )));
            }
            if self.peers.contains_key(&p.id) {
                return Err(CommandError::Conflict(format!("peer id '{}' already exists", p.id)));
            }
            if let Some(n) = &p.node_id {
                self.node_or_404(n)?;
                if !self.is_assigned(config, n) {
                    return Err(CommandError::Conflict(format!("node '{n}' is not assigned to config '{config}'")));
                }
            }
        }
        Ok(())
    }

    fn peer_in(&self, config: &ConfigName, id: &PeerId) -> Result<&Peer, CommandError> {
        self.config_or_404(config)?;
        self.peers.get(id).filter(|p| &p.config == config).ok_or_else(|| CommandError::not_found("peer", id))
    }

    pub(super) fn update_peer(&mut self, at: Millis, user: &str, config: &ConfigName, id: &PeerId, patch: &PeerPatch) -> Response {
        self.peer_in(config, id)?;
        if let Some(n) = &patch.name {
            check_name("name", n)?;
        }
        if let Some(n) = &patch.node_id {
            self.node_or_404(n)?;
            if !self.is_assigned(config, n) {
                return Err(CommandError::Conflict(format!("node '{n}' is not assigned to config '{config}'")));
            }
        }
        let Some(p) = self.peers.get_mut(id) else { return Err(CommandError::not_found("peer", id)) };
        if let Some(n) = &patch.name {
            p.name = n.clone();
        }
        if let Some(a) = &patch.allowed_ips {
            p.allowed_ips = a.clone();
        }
        if let Some(k) = patch.keepalive {
            p.keepalive = k;
        }
        if let Some(e) = patch.enabled {
            p.enabled = e;
        }
        if let Some(n) = &patch.node_id {
            if let Some(idx) = self.index.held(config) {
                idx.rehome(p.node_id.as_ref(), Some(n));
            }
            p.node_id = Some(n.clone());
        }
        if let Some(l) = patch.data_limit_bytes {
            p.limits.data_limit_bytes = l;
        }
        if let Some(e) = patch.expires_at {
            p.limits.expires_at = e;
        }
        if let Some(l) = patch.rx_limit_bytes {
            p.limits.rx_limit_bytes = l;
        }
        if let Some(l) = patch.tx_limit_bytes {
            p.limits.tx_limit_bytes = l;
        }
        p.updated_at = at;
        let mut details = serde_json::to_value(patch).unwrap_or_default();
        details["config"] = json!(config);
        self.audit(at, user, AuditAction::PeerUpdated, "peer", id.as_str(), details);
        self.limits_after_patch(at, user, id, patch);
        Ok(Outcome::Done)
    }

    pub(super) fn delete_peer(&mut self, at: Millis, user: &str, config: &ConfigName, id: &PeerId) -> Response {
        let p = self.peer_in(config, id)?;
        let details = json!({ "config": config, "name": p.name, "public_key": p.public_key.to_base64(), "address": p.addresses });
        self.usage.forget_peer(id);
        if let Some(removed) = self.peers.remove(id) {
            if let Some(idx) = self.index.held(config) {
                idx.remove(&removed);
            }
        }
        self.audit(at, user, AuditAction::PeerDeleted, "peer", id.as_str(), details);
        Ok(Outcome::Done)
    }

    /// Audits a read of a peer's secret keys; changes nothing else. The details name the config,
    /// the peer's name and the route; never a key.
    pub(super) fn record_secret_read(&mut self, at: Millis, user: &str, config: &ConfigName, id: Option<&PeerId>, via: &str) -> Response {
        let via = check_text("via", via, 32)?;
        let Some(id) = id else {
            if !self.configs.contains_key(config) {
                return Err(CommandError::not_found("config", config));
            }
            self.audit(at, user, AuditAction::ConfigPrivateKeyRead, "config", config.as_str(), json!({ "via": via }));
            return Ok(Outcome::Done);
        };
        let p = self.peer_in(config, id)?;
        let details = json!({ "config": config, "name": p.name, "private_key": p.private_key.is_some(),
                              "preshared_key": p.preshared_key.is_some(), "via": via });
        self.audit(at, user, AuditAction::PeerPrivateKeyRead, "peer", id.as_str(), details);
        Ok(Outcome::Done)
    }
}
