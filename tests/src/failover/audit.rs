//! Timings from the audit log (part of [the failover lab](super)).

use super::*;

/// The cluster's own record of a failover, from the audit log (wall-clock ms).
#[derive(Clone, Debug, Default)]
pub struct AuditTimes {
    /// `node_health_changed` (node level, healthy=false) of the failed node.
    pub unhealthy_at: Option<u64>,
    /// `peer_migrated` off the failed node.
    pub migrated_at: Option<u64>,
    pub migrated_count: Option<u64>,
    /// `drain_completed` of the failed node (Mode B: destinations applied the moved peers).
    pub drained_at: Option<u64>,
    /// `dns_updated` after the failure (Mode A).
    pub dns_updated_at: Option<u64>,
}

/// Reads the audit times of `node`'s failure in `config`, counting only entries at or after
/// `since_ms`.
pub fn audit_times(api: &Api, config: &str, node: &str, since_ms: u64) -> AuditTimes {
    let first = |action: &str, pred: &dyn Fn(&Value) -> bool| -> Option<Value> {
        let mut v: Vec<Value> =
            api.audit(action).into_iter().filter(|e| e["timestamp"].as_u64().unwrap_or(0) >= since_ms && pred(e)).collect();
        v.sort_by_key(|e| e["timestamp"].as_u64());
        v.into_iter().next()
    };
    let entity = format!("{config}:{node}");
    let unhealthy =
        first("node_health_changed", &|e| e["entity_type"] == "node" && e["entity_id"] == node && e["details"]["healthy"] == false);
    let migrated = first("peer_migrated", &|e| e["entity_id"] == entity.as_str());
    let drained = first("drain_completed", &|e| e["entity_id"] == entity.as_str());
    let dns = first("dns_updated", &|_| true);
    AuditTimes {
        unhealthy_at: unhealthy.and_then(|e| e["timestamp"].as_u64()),
        migrated_count: migrated.as_ref().and_then(|e| e["details"]["count"].as_u64()),
        migrated_at: migrated.and_then(|e| e["timestamp"].as_u64()),
        drained_at: drained.and_then(|e| e["timestamp"].as_u64()),
        dns_updated_at: dns.and_then(|e| e["timestamp"].as_u64()),
    }
}

/// `b - a` in seconds, for reports.
pub fn secs(a: u64, b: Option<u64>) -> Option<f64> {
    b.map(|b| (b as f64 - a as f64) / 1000.0)
}

/// `1.23 s` or `-`.
pub fn fmt_s(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} s")).unwrap_or_else(|| "-".into())
}
