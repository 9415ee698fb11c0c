//! Applying operational commands: node health verdicts, DNS settings and DNS sync reports, and
//! health thresholds. Secrets in settings never reach an audit entry.

use super::*;
use crate::model::AuditAction;
use serde_json::json;

impl State {
    pub(super) fn set_node_health(
        &mut self,
        at: Millis,
        user: &str,
        node_id: &NodeId,
        config: Option<&ConfigName>,
        healthy: bool,
        reason: &str,
    ) -> Response {
        self.node_or_404(node_id)?;
        let changed = match config {
            Some(c) => {
                let Some(cn) = self.config_nodes.get_mut(&(c.clone(), node_id.clone())) else {
                    return Err(CommandError::not_found("config node", format!("{c}:{node_id}")));
                };
                let changed = cn.is_healthy != healthy;
                cn.is_healthy = healthy;
                cn.updated_at = at;
                changed
            }
            None => {
                let Some(n) = self.nodes.get_mut(node_id) else { return Err(CommandError::not_found("node", node_id)) };
                let changed = n.healthy != healthy;
                n.healthy = healthy;
                n.updated_at = at;
                changed
            }
        };
        if !changed {
            return Ok(Outcome::Unchanged);
        }
        let (entity_type, entity_id) = match config {
            Some(c) => ("config_node", format!("{c}:{node_id}")),
            None => ("node", node_id.to_string()),
        };
        let details = json!({ "healthy": healthy, "reason": reason });
        self.audit(at, user, AuditAction::NodeHealthChanged, entity_type, &entity_id, details);
        Ok(Outcome::Done)
    }

    pub(super) fn set_dns_settings(
        &mut self,
        at: Millis,
        user: &str,
        cloudflare: &Option<CloudflareSettings>,
        rfc2136: &Option<Rfc2136Settings>,
        reconcile_interval_s: Option<u64>,
    ) -> Response {
        if cloudflare.is_none() && rfc2136.is_none() && reconcile_interval_s.is_none() {
            return Err(CommandError::Invalid {
                field: "settings".into(),
                reason: "give cloudflare, rfc2136 and/or reconcile_interval_s".into(),
            });
        }
        if reconcile_interval_s.is_some_and(|v| !(DNS_RECONCILE_MIN_S..=DNS_RECONCILE_MAX_S).contains(&v)) {
            return Err(CommandError::Invalid {
                field: "reconcile_interval_s".into(),
                reason: format!("must be {DNS_RECONCILE_MIN_S} to {DNS_RECONCILE_MAX_S}"),
            });
        }
        if let Some(v) = reconcile_interval_s {
            self.settings.dns_reconcile_interval_s = v;
        }
        if let Some(c) = cloudflare {
            self.settings.dns.cloudflare = Some(c.clone());
        }
        if let Some(r) = rfc2136 {
            self.settings.dns.rfc2136 = Some(r.clone());
        }
        let details = json!({
            "cloudflare": cloudflare.as_ref().map(|c| json!({ "api_base": c.api_base, "api_token": "***" })),
            "rfc2136": rfc2136.as_ref().map(|r| json!({ "server": r.server, "zone": r.zone, "key_name": r.key_name,
                                                        "algorithm": r.algorithm, "key_secret": "***" })),
            "reconcile_interval_s": reconcile_interval_s,
        });
        self.audit(at, user, AuditAction::DnsSettingsUpdated, "settings", "dns", details);
        Ok(Outcome::Done)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_dns_sync(
        &mut self,
        at: Millis,
        user: &str,
        config: &ConfigName,
        published: &[String],
        degraded: bool,
        changed: bool,
        error: Option<&str>,
    ) -> Response {
        let Some(g) = self.endpoint_groups.get_mut(config) else {
            return Err(CommandError::not_found("endpoint group of config", config));
        };
        let st = &mut g.dns_status;
        match error {
            Some(e) => st.last_error = Some(e.to_string()),
            None => {
                st.last_sync = Some(at);
                st.published = published.to_vec();
                st.degraded = degraded;
                st.last_error = None;
            }
        }
        let domain = g.domain.clone();
        match error {
            Some(e) => {
                self.audit(at, user, AuditAction::DnsFailed, "endpoint_group", config.as_str(), json!({ "domain": domain, "error": e }))
            }
            None if changed => self.audit(
                at,
                user,
                AuditAction::DnsUpdated,
                "endpoint_group",
                config.as_str(),
                json!({ "domain": domain, "records": published, "degraded": degraded }),
            ),
            None => {}
        }
        Ok(Outcome::Done)
    }

    /// A successful sync that corrected records edited behind our back (#16): the status as
    /// `record_dns_sync` sets it, plus the drift count and the last drift, audited with the records.
    pub(super) fn record_dns_drift(
        &mut self,
        at: Millis,
        user: &str,
        config: &ConfigName,
        published: &[String],
        degraded: bool,
        drift: &DnsDrift,
    ) -> Response {
        let Some(g) = self.endpoint_groups.get_mut(config) else {
            return Err(CommandError::not_found("endpoint group of config", config));
        };
        let st = &mut g.dns_status;
        st.last_sync = Some(at);
        st.published = published.to_vec();
        st.degraded = degraded;
        st.last_error = None;
        st.drift_corrected += 1;
        st.last_drift = Some(DnsDrift { at, ..drift.clone() });
        let details = json!({ "domain": g.domain, "record_name": crate::dns::plan::record_name(g), "removed": drift.removed,
                              "restored": drift.restored, "corrected": drift.corrected, "records": published });
        self.audit(at, user, AuditAction::DnsDriftCorrected, "endpoint_group", config.as_str(), details);
        Ok(Outcome::Done)
    }

    /// DNS sync removed the records of a pending removal (#16): the entry goes, audited.
    pub(super) fn complete_dns_removal(&mut self, at: Millis, user: &str, key: &str, removed: &[String]) -> Response {
        let Some(r) = self.dns_removals.remove(key) else {
            return Err(CommandError::not_found("DNS removal", key));
        };
        let details = json!({ "record_name": r.record_name, "provider": r.provider.as_str(), "zone": r.zone,
                              "removed": removed, "published": r.addrs });
        self.audit(at, user, AuditAction::DnsRecordsRemoved, "endpoint_group", r.config.as_str(), details);
        Ok(Outcome::Done)
    }

    pub(super) fn set_health_settings(
        &mut self,
        at: Millis,
        user: &str,
        probe_interval_ms: Option<u64>,
        unhealthy_after: Option<u32>,
        healthy_after: Option<u32>,
        auto_migrate_independent: Option<bool>,
    ) -> Response {
        if probe_interval_ms.is_some_and(|v| !(200..=600_000).contains(&v)) {
            return Err(CommandError::Invalid { field: "probe_interval_ms".into(), reason: "must be 200 to 600000".into() });
        }
        if unhealthy_after.is_some_and(|v| !(1..=100).contains(&v)) {
            return Err(CommandError::Invalid { field: "unhealthy_after".into(), reason: "must be 1 to 100".into() });
        }
        if healthy_after.is_some_and(|v| !(1..=100).contains(&v)) {
            return Err(CommandError::Invalid { field: "healthy_after".into(), reason: "must be 1 to 100".into() });
        }
        let s = &mut self.settings;
        if let Some(v) = probe_interval_ms {
            s.probe_interval_ms = v;
        }
        if let Some(v) = unhealthy_after {
            s.unhealthy_after = v;
        }
        if let Some(v) = healthy_after {
            s.healthy_after = v;
        }
        if let Some(v) = auto_migrate_independent {
            s.auto_migrate_independent = v;
        }
        let details = json!({ "probe_interval_ms": s.probe_interval_ms, "unhealthy_after": s.unhealthy_after,
                              "healthy_after": s.healthy_after, "auto_migrate_independent": s.auto_migrate_independent });
        self.audit(at, user, AuditAction::SettingsUpdated, "settings", "health", details);
        Ok(Outcome::Done)
    }
}
