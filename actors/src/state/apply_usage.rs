//! Applying usage (#15): the panel's batch of router readings (`RecordUsage`, merged by
//! `usage::merge`), peer limits (data limit, expiry) and the usage settings.

use super::*;
use crate::model::AuditAction;
use crate::usage::RouterReport;
use serde_json::json;

/// Shortest and longest usage collection interval, seconds.
pub const USAGE_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;
/// Readings in one `RecordUsage` at most (a cluster of 16 routers × 20,000 peers).
pub const USAGE_READINGS_MAX: usize = 320_000;

impl State {
    pub(super) fn record_usage(&mut self, at: Millis, user: &str, reports: &[RouterReport]) -> Response {
        let readings: usize = reports.iter().map(|r| r.peers.len()).sum();
        if readings > USAGE_READINGS_MAX {
            return Err(CommandError::Invalid {
                field: "reports".into(),
                reason: format!("{readings} readings; at most {USAGE_READINGS_MAX}"),
            });
        }
        let peers = &self.peers;
        let counts = self.usage.merge(reports, |p| peers.contains_key(p), at);
        // Usage of peers deleted since (a config deleted with its peers) is dropped here.
        self.usage.peers.retain(|id, _| peers.contains_key(id));
        let ids: Vec<PeerId> =
            self.peers.iter().filter(|(_, p)| p.enabled && !p.limit_override && has_limit(p)).map(|(id, _)| id.clone()).collect();
        let mut limited = Vec::new();
        for id in ids {
            if self.enforce_limits(at, user, &id) {
                limited.push(id);
            }
        }
        Ok(Outcome::UsageRecorded { accepted: counts.accepted as u64, limited })
    }

    /// Disables the peer when one of its limits is reached at `at` (and not overridden), with a
    /// `peer_limit_reached` entry naming the limit. Returns whether it disabled it.
    pub(super) fn enforce_limits(&mut self, at: Millis, user: &str, id: &PeerId) -> bool {
        let (rx, tx) = self.usage.peers.get(id).map_or((0, 0), |u| (u.rx, u.tx));
        let Some(p) = self.peers.get_mut(id) else { return false };
        if !p.enabled || p.limit_override {
            return false;
        }
        let Some(kind) = p.limits.reached(rx, tx, at) else { return false };
        p.enabled = false;
        p.limited = Some(kind);
        p.updated_at = at;
        let details = json!({ "config": p.config, "name": p.name, "limit": kind.as_str(),
                              "data_limit_bytes": p.limits.data_limit_bytes, "rx_limit_bytes": p.limits.rx_limit_bytes,
                              "tx_limit_bytes": p.limits.tx_limit_bytes, "expires_at": p.limits.expires_at,
                              "used_bytes": rx.saturating_add(tx), "rx_bytes": rx, "tx_bytes": tx });
        self.audit(at, user, AuditAction::PeerLimitReached, "peer", id.as_str(), details);
        true
    }

    /// After an administrator's change of a peer's limits or `enabled`: a peer a limit had
    /// disabled comes back when that limit no longer holds; `enabled: true` over a reached limit
    /// overrides it until the limits change; then the limits are enforced again.
    pub(super) fn limits_after_patch(&mut self, at: Millis, user: &str, id: &PeerId, patch: &PeerPatch) {
        let (rx, tx) = self.usage.peers.get(id).map_or((0, 0), |u| (u.rx, u.tx));
        let Some(p) = self.peers.get_mut(id) else { return };
        let limits_changed = patch.data_limit_bytes.is_some()
            || patch.expires_at.is_some()
            || patch.rx_limit_bytes.is_some()
            || patch.tx_limit_bytes.is_some();
        if limits_changed {
            p.limit_override = false;
        }
        match patch.enabled {
            Some(true) => {
                p.limited = None;
                p.limit_override = p.limits.reached(rx, tx, at).is_some();
            }
            Some(false) => p.limited = None,
            None if p.limited.is_some() && limits_changed && p.limits.reached(rx, tx, at).is_none() => {
                p.enabled = true;
                p.limited = None;
            }
            None => {}
        }
        self.enforce_limits(at, user, id);
    }

    pub(super) fn set_usage_settings(&mut self, at: Millis, user: &str, interval_s: Option<u64>, per_peer: Option<bool>) -> Response {
        if interval_s.is_some_and(|v| !USAGE_INTERVAL_RANGE.contains(&v)) {
            return Err(CommandError::Invalid {
                field: "interval_s".into(),
                reason: format!("must be {} to {}", USAGE_INTERVAL_RANGE.start(), USAGE_INTERVAL_RANGE.end()),
            });
        }
        if let Some(v) = interval_s {
            self.settings.usage_interval_s = v;
        }
        if let Some(v) = per_peer {
            self.settings.usage_metrics_per_peer = v;
        }
        let details = json!({ "interval_s": self.settings.usage_interval_s, "metrics_per_peer": self.settings.usage_metrics_per_peer });
        self.audit(at, user, AuditAction::SettingsUpdated, "settings", "usage", details);
        Ok(Outcome::Done)
    }
}

fn has_limit(p: &Peer) -> bool {
    p.limits.any()
}
