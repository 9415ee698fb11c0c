//! The HTTP API (DESIGN §6): routes, the JSON envelope, auth, and the mapping of requests to
//! commands. Only this module knows HTTP and JSON; everything it decides it asks of `actors`.
//!
//! The same routes serve the TCP listener (`api_listen`, bearer token required) and the control
//! socket (Unix, mode 0600: the caller is local root, no token needed); `edge.rs` decides which
//! routes each listener has. The HTTP/1.1 server itself is `server/`.

mod agent;
mod assign;
mod audit;
mod auth;
pub mod body;
mod cluster;
pub mod idempotency;
pub use agent::interface_json;
pub(crate) mod configs;
mod dns; // dns: settings, retry queue and status routes
pub mod edge;
pub mod error;
pub mod members;
pub mod nodes;
pub(crate) mod peers;
pub mod server;
mod settings;
mod usage; // usage: peer limits' fields, usage history, usage settings (#15)
mod views;
mod vrrp; // vrrp: keepalived's notify hook (#16)

use std::sync::Arc;
use std::time::Instant;
use wgcluster_actors::assign::NodeRemoval;
use wgcluster_actors::raft::{ClusterHandle, Proposer};
use wgcluster_actors::state::{Command, Outcome, Request};

pub use auth::verified_member;
use error::ApiError;
use server::{Method, Payload, Router};

pub use edge::BODY_LIMIT;

/// What every handler can reach.
pub struct AppState {
    pub cluster: ClusterHandle,
    pub proposer: Arc<dyn Proposer>,
    /// This router's client to the other routers (None only for a data dir made before clusters
    /// existed).
    pub cluster_client: Option<wgcluster_actors::tls::ClusterClient>,
    /// Where other routers reach this one.
    pub cluster_addr: String,
    /// The node-removal workflow (backup, then `RemoveNode`).
    pub removal: Arc<NodeRemoval>,
    pub started: Instant,
    /// This router's WireGuard reconciler (None on a witness).
    pub wg: Option<wgcluster_actors::wg::reconciler::ReconcilerHandle>,
    pub node_id: String,
}

pub type App = Arc<AppState>;

pub use wgcluster_actors::clock::now_ms;

impl AppState {
    /// Proposes one command as `user` and returns apply's verdict (forwarded to the panel on a
    /// follower; see `ForwardingProposer`). No idempotency key: for the daemon's own writes.
    pub async fn submit(&self, user: &str, cmd: Command) -> Result<Outcome, ApiError> {
        self.submit_by(user, None, cmd).await
    }

    /// Proposes an administrator's command, with the request's `Idempotency-Key` if it had one.
    /// A repeat answers with the first outcome (and marks the answer as replayed).
    pub async fn submit_as(&self, u: &auth::User, cmd: Command) -> Result<Outcome, ApiError> {
        self.submit_by(&u.0, u.1.as_ref(), cmd).await
    }

    pub async fn submit_by(&self, user: &str, key: Option<&idempotency::Capture>, cmd: Command) -> Result<Outcome, ApiError> {
        let req = Request { at: now_ms(), user: user.to_string(), cmd, idempotency: key.map(idempotency::Capture::finish) };
        let (out, replayed) = self.proposer.propose(req).await?.unwrap_replay();
        if let (true, Some(k)) = (replayed, key) {
            k.mark_replayed();
        }
        Ok(out)
    }
}

/// All routes of the API, the agent and the local hooks (the cluster's are added by
/// `cluster::server::routes`).
pub fn routes(r: Router) -> Router {
    r.get("/api/health", cluster::health)
        .get("/v1/health", cluster::agent_health)
        .get("/metrics", cluster::metrics)
        .get("/api/cluster", cluster::cluster)
        .post("/api/cluster/join-tokens", members::create_join_token)
        .delete("/api/cluster/members/{node_id}", members::remove_member)
        .get("/api/backups", cluster::list_backups)
        .get("/api/backups/{id}", cluster::get_backup)
        .get("/api/audit-logs", audit::list)
        .get("/api/audit-logs/actions", audit::actions)
        .get("/api/settings/health", settings::get_health)
        .put("/api/settings/health", settings::put_health)
        .get("/api/nodes", nodes::list)
        .post("/api/nodes", nodes::create)
        .get("/api/nodes/{node_id}", nodes::get)
        .patch("/api/nodes/{node_id}", nodes::patch)
        .delete("/api/nodes/{node_id}", nodes::delete)
        .get("/api/configs", configs::list)
        .post("/api/configs", configs::create)
        .get("/api/configs/{config}", configs::get)
        .patch("/api/configs/{config}", configs::patch)
        .delete("/api/configs/{config}", configs::delete)
        .get("/api/configs/{config}/nodes", assign::list_nodes)
        .post("/api/configs/{config}/nodes", assign::assign_node)
        .delete("/api/configs/{config}/nodes/{node_id}", assign::remove_node)
        .post("/api/configs/{config}/nodes/{node_id}/migrate", assign::migrate)
        .post("/api/configs/{config}/rebalance", assign::rebalance)
        .get("/api/configs/{config}/endpoint-group", assign::get_group)
        .post("/api/configs/{config}/endpoint-group", assign::set_group)
        .delete("/api/configs/{config}/endpoint-group", assign::delete_group)
        // dns: provider settings, this router's DNS retry queue, per-group sync status
        .get("/api/settings/dns", dns::get_settings)
        .put("/api/settings/dns", dns::put_settings)
        .get("/api/dns/queue", dns::list_queue)
        .post("/api/dns/queue/{id}/retry", dns::retry)
        .delete("/api/dns/queue/{id}", dns::drop_entry)
        .get("/api/dns/status", dns::status)
        .get("/api/dns/removals", dns::removals)
        .get("/api/configs/{config}/peers", peers::list)
        .post("/api/configs/{config}/peers", peers::create)
        .get("/api/configs/{config}/peers/{peer_id}", peers::get)
        .patch("/api/configs/{config}/peers/{peer_id}", peers::patch)
        .delete("/api/configs/{config}/peers/{peer_id}", peers::delete)
        .get("/api/configs/{config}/peers/{peer_id}/config", peers::download)
        .get("/api/configs/{config}/peers/{peer_id}/usage", usage::peer_usage)
        .get("/api/settings/usage", usage::get_settings)
        .put("/api/settings/usage", usage::put_settings)
        .get("/api/peers/{peer_id}/configs", peers::configs_of)
        .get("/v1/wg/{iface}/config", agent::get_config)
        .post("/v1/wg/{iface}/peers", agent::add_peer)
        .delete("/v1/wg/{iface}/peers/{public_key}", agent::delete_peer)
        .delete("/v1/wg/{iface}", agent::delete_interface)
        // keepalived's notify hook through `wgclusterd vrrp-notify` (control socket only)
        .post("/v1/vrrp/{config}", vrrp::notify)
}

/// The JSON 404 for unknown routes.
pub fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {path}"))
}

/// Reads the whole body of an API request: 413 past `BODY_LIMIT`, 408 past `BODY_DEADLINE`.
pub async fn read_body(payload: Payload) -> Result<Vec<u8>, ApiError> {
    edge::read_limited(payload, BODY_LIMIT, edge::BODY_DEADLINE).await
}
