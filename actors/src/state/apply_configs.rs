//! Applying config commands: create, patch, delete, and the config's endpoint group (Mode A).

use super::*;
use crate::model::AuditAction;
use ipnet::IpNet;
use serde_json::json;

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl State {
    /// Address networks must not overlap each other nor another config's.
    fn check_addresses(&self, name: &ConfigName, addrs: &[IpNet]) -> Result<(), CommandError> {
        if addrs.is_empty() {
            return Err(CommandError::Invalid { field: "address".into(), reason: "at least one address is needed".into() });
        }
        for (i, a) in addrs.iter().enumerate() {
            for b in &addrs[i + 1..] {
                if overlaps(a, b) {
                    return Err(CommandError::Invalid { field: "address".into(), reason: format!("{a} overlaps {b}") });
                }
            }
            for other in self.configs.values().filter(|c| &c.name != name) {
                if let Some(b) = other.addresses.iter().find(|b| overlaps(a, b)) {
                    return Err(CommandError::Invalid {
                        field: "address".into(),
                        reason: format!("{a} overlaps {b} of config '{}'", other.name),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_port(&self, name: &ConfigName, port: u16) -> Result<(), CommandError> {
        if let Some(other) = self.configs.values().find(|c| &c.name != name && c.listen_port == port) {
            return Err(CommandError::Conflict(format!("listen_port {port} is already used by config '{}'", other.name)));
        }
        Ok(())
    }

    pub(super) fn create_config(&mut self, at: Millis, user: &str, c: &NewConfig) -> Response {
        if self.configs.contains_key(&c.name) {
            return Err(CommandError::Conflict(format!("config '{}' already exists", c.name)));
        }
        self.check_addresses(&c.name, &c.addresses)?;
        self.check_port(&c.name, c.listen_port)?;
        let config = Config {
            name: c.name.clone(),
            private_key: c.private_key,
            public_key: c.private_key.public(),
            addresses: c.addresses.clone(),
            listen_port: c.listen_port,
            mtu: c.mtu,
            dns: c.dns.clone(),
            peer_allowed_ips: c.peer_allowed_ips.clone(),
            peer_keepalive: c.peer_keepalive,
            created_at: at,
            updated_at: at,
            placement: c.placement,
        };
        let details = json!({ "address": c.addresses, "listen_port": c.listen_port,
                              "public_key": config.public_key.to_base64(), "placement": c.placement });
        self.configs.insert(c.name.clone(), config);
        self.audit(at, user, AuditAction::ConfigCreated, "config", c.name.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn update_config(&mut self, at: Millis, user: &str, name: &ConfigName, patch: &ConfigPatch) -> Response {
        self.config_or_404(name)?;
        if let Some(port) = patch.listen_port {
            self.check_port(name, port)?;
        }
        let Some(c) = self.configs.get_mut(name) else { return Err(CommandError::not_found("config", name)) };
        if let Some(p) = patch.listen_port {
            c.listen_port = p;
        }
        if let Some(m) = patch.mtu {
            c.mtu = m;
        }
        if let Some(d) = &patch.dns {
            c.dns = d.clone();
        }
        if let Some(a) = &patch.peer_allowed_ips {
            c.peer_allowed_ips = a.clone();
        }
        if let Some(k) = patch.peer_keepalive {
            c.peer_keepalive = k;
        }
        if let Some(p) = patch.placement {
            c.placement = p;
        }
        c.updated_at = at;
        let details = serde_json::to_value(patch).unwrap_or_default();
        self.audit(at, user, AuditAction::ConfigUpdated, "config", name.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn delete_config(&mut self, at: Millis, user: &str, name: &ConfigName, force: bool) -> Response {
        self.config_or_404(name)?;
        let peers = self.peers_of(name).count();
        let nodes: Vec<String> = self.nodes_of(name).map(|cn| cn.node_id.to_string()).collect();
        if !force && (peers > 0 || !nodes.is_empty()) {
            return Err(CommandError::Conflict(format!(
                "config '{name}' is in use ({peers} peer(s), assigned to [{}]); remove them first or pass force=true",
                nodes.join(", ")
            )));
        }
        self.peers.retain(|_, p| &p.config != name);
        self.config_nodes.retain(|(c, _), _| c != name);
        if let Some(g) = self.endpoint_groups.remove(name) {
            self.schedule_dns_removal(&g, at);
        }
        self.vips.remove(name);
        self.configs.remove(name);
        let details = json!({ "peers_deleted": peers, "nodes_unassigned": nodes });
        self.audit(at, user, AuditAction::ConfigDeleted, "config", name.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn set_endpoint_group(&mut self, at: Millis, user: &str, g: &EndpointGroupSpec) -> Response {
        self.config_or_404(&g.config)?;
        let prev = self.endpoint_groups.get(&g.config).cloned();
        let created_at = prev.as_ref().map(|e| e.created_at).unwrap_or(at);
        let mut group = EndpointGroup {
            config: g.config.clone(),
            domain: g.domain.clone(),
            port: g.port,
            provider: g.provider,
            cloudflare_zone_id: g.cloudflare_zone_id.clone(),
            cloudflare_record_name: g.cloudflare_record_name.clone(),
            ttl: g.ttl,
            proxied: false,
            auto_migrate: g.auto_migrate,
            publish_only_healthy: g.publish_only_healthy,
            min_nodes: g.min_nodes,
            created_at,
            updated_at: at,
            dns_status: DnsStatus::default(),
        };
        // Records stay the group's while it publishes at the same place; moved elsewhere, the old
        // records are scheduled for removal and the status starts afresh (#16).
        let here = crate::dns::plan::location(&group, &self.settings.dns);
        if let Some(prev) = prev {
            if crate::dns::plan::location(&prev, &self.settings.dns) == here {
                group.dns_status = prev.dns_status;
            } else {
                self.schedule_dns_removal(&prev, at);
            }
        }
        // A name published again is the group's again: its pending removal is moot.
        self.dns_removals.remove(&here);
        let details = json!({ "domain": g.domain, "port": g.port, "provider": g.provider.as_str(), "ttl": g.ttl,
                              "auto_migrate": g.auto_migrate, "publish_only_healthy": g.publish_only_healthy,
                              "min_nodes": g.min_nodes, "proxied": false });
        self.endpoint_groups.insert(g.config.clone(), group);
        self.audit(at, user, AuditAction::EndpointGroupUpdated, "endpoint_group", g.config.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn delete_endpoint_group(&mut self, at: Millis, user: &str, config: &ConfigName) -> Response {
        self.config_or_404(config)?;
        let Some(g) = self.endpoint_groups.remove(config) else {
            return Err(CommandError::not_found("endpoint group of config", config));
        };
        self.vips.remove(config);
        let removal = self.schedule_dns_removal(&g, at);
        let details = json!({ "dns_records_to_remove": removal.map(|r| json!({ "record_name": r.record_name, "records": r.addrs })) });
        self.audit(at, user, AuditAction::EndpointGroupDeleted, "endpoint_group", config.as_str(), details);
        Ok(Outcome::Done)
    }

    /// Schedules the removal of the records `g` published (#16), merged with a pending removal at
    /// the same place. Returns it (None: nothing was ever published).
    pub(super) fn schedule_dns_removal(&mut self, g: &EndpointGroup, at: Millis) -> Option<DnsRemoval> {
        let r = crate::dns::plan::removal_of(g, &self.settings.dns, at)?;
        let entry = self.dns_removals.entry(r.key()).or_insert_with(|| r.clone());
        for a in &r.addrs {
            if !entry.addrs.contains(a) {
                entry.addrs.push(a.clone());
            }
        }
        Some(entry.clone())
    }
}
