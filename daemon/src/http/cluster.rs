//! Cluster-level routes: health (no token), the agent health probe, `/api/cluster`, backups and
//! Prometheus metrics.

use super::auth::User;
use super::error::{ok, ApiError};
use super::server::{Path, Response};
use super::{views, App};
use serde_json::json;
use std::fmt::Write;
use wgcluster_actors::model::quote_prefix;

pub async fn health(app: App) -> Response {
    let (leader, term) = app.cluster.leader();
    ok(
        "ok",
        json!({ "node_id": app.node_id, "version": env!("CARGO_PKG_VERSION"), "leader": leader, "term": term,
                "uptime_s": app.started.elapsed().as_secs() }),
    )
}

/// What the panel's health monitor reads: liveness and the state version applied here.
/// What the panel's health monitor reads: liveness, the state version this router's reconciler
/// has applied to WireGuard, and its data-plane counters.
pub async fn agent_health(app: App) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let version = app.cluster.read(|s| s.version);
    let wg = app.wg.as_ref().map(|w| {
        json!({
            "backend": w.backend.kind(),
            "applied_version": w.stats.applied_version.load(Relaxed),
            "passes": w.stats.passes.load(Relaxed),
            "ops_total": w.stats.ops_total.load(Relaxed),
            "last_pass_ops": w.stats.last_pass_ops.load(Relaxed),
            "errors": w.stats.errors.load(Relaxed),
            "drift_healed": w.stats.drift_healed.load(Relaxed),
        })
    });
    ok("ok", json!({ "node_id": app.node_id, "state_version": version, "applied_index": app.cluster.applied_index(), "wg": wg }))
}

pub async fn cluster(app: App, _u: User) -> Response {
    let (leader, term) = app.cluster.leader();
    ok(
        "Cluster retrieved successfully",
        json!({ "leader": leader, "term": term, "node_id": app.node_id, "applied_index": app.cluster.applied_index(),
                "members": app.cluster.members() }),
    )
}

pub async fn list_backups(app: App, _u: User) -> Response {
    let data = app.cluster.read(|s| s.backups.iter().rev().map(|b| views::backup(b, false)).collect::<Vec<_>>());
    ok("Backups retrieved successfully", data.into())
}

pub async fn get_backup(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id: u64 = path.parse().map_err(|_| ApiError::BadRequest(format!("id: {} is not a backup id", quote_prefix(&path))))?;
    let v = app.cluster.read(|s| s.backups.iter().find(|b| b.id == id).map(|b| views::backup(b, true)));
    Ok(ok("Backup retrieved successfully", v.ok_or_else(|| ApiError::NotFound(format!("backup '{id}' not found")))?))
}

pub async fn metrics(app: App, _u: User) -> Response {
    let (leader, term) = app.cluster.leader();
    let is_leader = leader.as_deref() == Some(app.node_id.as_str());
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    };
    let (nodes, configs, peers, audit, version) =
        app.cluster.read(|s| (s.nodes.len(), s.configs.len(), s.peers.len(), s.audit.len(), s.version));
    gauge("wgcluster_nodes", "Routers known to the cluster.", nodes.to_string());
    gauge("wgcluster_configs", "WireGuard configs.", configs.to_string());
    gauge("wgcluster_peers", "Peers over all configs.", peers.to_string());
    gauge("wgcluster_audit_entries", "Audit entries retained.", audit.to_string());
    gauge("wgcluster_state_version", "Commands applied on this router.", version.to_string());
    gauge("wgcluster_raft_term", "Current Raft term.", term.to_string());
    gauge("wgcluster_raft_applied_index", "Last Raft log index applied here.", app.cluster.applied_index().to_string());
    let (snap, purged) = app.cluster.log_indexes();
    gauge(
        "wgcluster_raft_snapshot_index",
        "Last log index covered by the local snapshot (-1: none).",
        snap.map(|v| v as i64).unwrap_or(-1).to_string(),
    );
    gauge(
        "wgcluster_raft_purged_index",
        "Last purged (compacted) log index (-1: none).",
        purged.map(|v| v as i64).unwrap_or(-1).to_string(),
    );
    gauge("wgcluster_is_leader", "1 when this router is the panel.", u8::from(is_leader).to_string());
    gauge("wgcluster_uptime_seconds", "Seconds since start.", app.started.elapsed().as_secs().to_string());
    if let Some(w) = &app.wg {
        use std::sync::atomic::Ordering::Relaxed;
        gauge(
            "wgcluster_wg_applied_version",
            "State version applied to WireGuard here.",
            w.stats.applied_version.load(Relaxed).to_string(),
        );
        gauge("wgcluster_wg_ops_total", "WireGuard operations applied since start.", w.stats.ops_total.load(Relaxed).to_string());
        gauge("wgcluster_wg_errors_total", "Failed reconcile passes since start.", w.stats.errors.load(Relaxed).to_string());
        gauge(
            "wgcluster_wg_drift_healed_total",
            "Periodic passes that found and fixed drift.",
            w.stats.drift_healed.load(Relaxed).to_string(),
        );
    }
    usage_metrics(&app, &mut out, super::now_ms());
    Response::new(200).content_type("text/plain; version=0.0.4").body(out)
}

/// Usage (#15): per-router totals and connected peers; per peer only with the
/// `metrics_per_peer` usage setting (one series set per peer).
fn usage_metrics(app: &App, out: &mut String, now: u64) {
    use wgcluster_actors::usage::merge::status;
    app.cluster.read(|s| {
        let _ = write!(out, "# HELP wgcluster_usage_rx_bytes_total Bytes received from peers through a router (cumulative, cluster-wide view).\n# TYPE wgcluster_usage_rx_bytes_total counter\n");
        for (n, u) in &s.usage.routers {
            let _ = writeln!(out, "wgcluster_usage_rx_bytes_total{{node=\"{n}\"}} {}", u.rx);
        }
        let _ = write!(out, "# HELP wgcluster_usage_tx_bytes_total Bytes sent to peers through a router (cumulative).\n# TYPE wgcluster_usage_tx_bytes_total counter\n");
        for (n, u) in &s.usage.routers {
            let _ = writeln!(out, "wgcluster_usage_tx_bytes_total{{node=\"{n}\"}} {}", u.tx);
        }
        let mut online: std::collections::BTreeMap<&str, u64> = s.nodes.keys().map(|n| (n.as_str(), 0)).collect();
        let fresh = 2000 * s.settings.usage_interval_s;
        for u in s.usage.peers.values() {
            let st = status(Some(u), now, fresh);
            if let (true, Some(n)) = (st.connected, st.serving_node.as_ref()) {
                if let Some(c) = online.get_mut(n.as_str()) {
                    *c += 1;
                }
            }
        }
        let _ = write!(out, "# HELP wgcluster_peers_connected Peers whose newest handshake (< 180 s) is with this router.\n# TYPE wgcluster_peers_connected gauge\n");
        for (n, c) in &online {
            let _ = writeln!(out, "wgcluster_peers_connected{{node=\"{n}\"}} {c}");
        }
        if !s.settings.usage_metrics_per_peer {
            return;
        }
        let _ = write!(out, "# HELP wgcluster_peer_rx_bytes_total Bytes received from a peer (cumulative over routers).\n# TYPE wgcluster_peer_rx_bytes_total counter\n");
        for (id, u) in &s.usage.peers {
            let c = s.peers.get(id).map(|p| p.config.as_str()).unwrap_or("");
            let _ = writeln!(out, "wgcluster_peer_rx_bytes_total{{config=\"{c}\",peer=\"{id}\"}} {}", u.rx);
        }
        let _ = write!(out, "# HELP wgcluster_peer_tx_bytes_total Bytes sent to a peer (cumulative over routers).\n# TYPE wgcluster_peer_tx_bytes_total counter\n");
        for (id, u) in &s.usage.peers {
            let c = s.peers.get(id).map(|p| p.config.as_str()).unwrap_or("");
            let _ = writeln!(out, "wgcluster_peer_tx_bytes_total{{config=\"{c}\",peer=\"{id}\"}} {}", u.tx);
        }
        let _ = write!(out, "# HELP wgcluster_peer_handshake_age_seconds Seconds since the peer's newest handshake on any router.\n# TYPE wgcluster_peer_handshake_age_seconds gauge\n");
        for (id, u) in &s.usage.peers {
            if let Some(hs) = status(Some(u), now, fresh).latest_handshake {
                let c = s.peers.get(id).map(|p| p.config.as_str()).unwrap_or("");
                let _ = writeln!(out, "wgcluster_peer_handshake_age_seconds{{config=\"{c}\",peer=\"{id}\"}} {}", now.saturating_sub(hs) / 1000);
            }
        }
    });
}
