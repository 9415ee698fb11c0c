//! The HTTP API (DESIGN §6): routes, the JSON envelope, auth, and the mapping of requests to
//! commands. Only this module knows HTTP and JSON; everything it decides it asks of `actors`.
//!
//! The same `App` serves the TCP listener (`api_listen`, bearer token required) and the control
//! socket (Unix, mode 0600: the caller is local root, no token needed).

mod agent;
mod assign;
mod audit;
mod auth;
pub mod body;
mod cluster;
pub mod idempotency;
pub use agent::interface_json;
pub use cluster::agent_health;
pub(crate) mod configs;
mod dns; // dns: settings, retry queue and status routes
pub mod edge;
pub mod error;
pub mod members;
pub mod nodes;
pub(crate) mod peers;
mod settings;
mod usage; // usage: peer limits' fields, usage history, usage settings (#15)
mod views;
mod vrrp; // vrrp: keepalived's notify hook (#16)

use actix_web::web;
use std::sync::Arc;
use std::time::Instant;
use wgcluster_actors::assign::NodeRemoval;
use wgcluster_actors::raft::{ClusterHandle, Proposer};
use wgcluster_actors::state::{Command, Outcome, Request};

pub use auth::{verified_member, LocalConn};
use error::ApiError;

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

pub type App = web::Data<Arc<AppState>>;

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

/// All routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(format!("malformed query string: {e}")).into()))
        .route("/api/health", web::get().to(cluster::health))
        .route("/v1/health", web::get().to(cluster::agent_health))
        .route("/metrics", web::get().to(cluster::metrics))
        .route("/api/cluster", web::get().to(cluster::cluster))
        .route("/api/cluster/join-tokens", web::post().to(members::create_join_token))
        .route("/api/cluster/members/{node_id}", web::delete().to(members::remove_member))
        .route("/api/backups", web::get().to(cluster::list_backups))
        .route("/api/backups/{id}", web::get().to(cluster::get_backup))
        .route("/api/audit-logs", web::get().to(audit::list))
        .route("/api/audit-logs/actions", web::get().to(audit::actions))
        .route("/api/settings/health", web::get().to(settings::get_health))
        .route("/api/settings/health", web::put().to(settings::put_health))
        .route("/api/nodes", web::get().to(nodes::list))
        .route("/api/nodes", web::post().to(nodes::create))
        .route("/api/nodes/{node_id}", web::get().to(nodes::get))
        .route("/api/nodes/{node_id}", web::patch().to(nodes::patch))
        .route("/api/nodes/{node_id}", web::delete().to(nodes::delete))
        .route("/api/configs", web::get().to(configs::list))
        .route("/api/configs", web::post().to(configs::create))
        .route("/api/configs/{config}", web::get().to(configs::get))
        .route("/api/configs/{config}", web::patch().to(configs::patch))
        .route("/api/configs/{config}", web::delete().to(configs::delete))
        .route("/api/configs/{config}/nodes", web::get().to(assign::list_nodes))
        .route("/api/configs/{config}/nodes", web::post().to(assign::assign_node))
        .route("/api/configs/{config}/nodes/{node_id}", web::delete().to(assign::remove_node))
        .route("/api/configs/{config}/nodes/{node_id}/migrate", web::post().to(assign::migrate))
        .route("/api/configs/{config}/rebalance", web::post().to(assign::rebalance))
        .route("/api/configs/{config}/endpoint-group", web::get().to(assign::get_group))
        .route("/api/configs/{config}/endpoint-group", web::post().to(assign::set_group))
        .route("/api/configs/{config}/endpoint-group", web::delete().to(assign::delete_group))
        // dns: provider settings, this router's DNS retry queue, per-group sync status
        .route("/api/settings/dns", web::get().to(dns::get_settings))
        .route("/api/settings/dns", web::put().to(dns::put_settings))
        .route("/api/dns/queue", web::get().to(dns::list_queue))
        .route("/api/dns/queue/{id}/retry", web::post().to(dns::retry))
        .route("/api/dns/queue/{id}", web::delete().to(dns::drop_entry))
        .route("/api/dns/status", web::get().to(dns::status))
        .route("/api/dns/removals", web::get().to(dns::removals))
        .route("/api/configs/{config}/peers", web::get().to(peers::list))
        .route("/api/configs/{config}/peers", web::post().to(peers::create))
        .route("/api/configs/{config}/peers/{peer_id}", web::get().to(peers::get))
        .route("/api/configs/{config}/peers/{peer_id}", web::patch().to(peers::patch))
        .route("/api/configs/{config}/peers/{peer_id}", web::delete().to(peers::delete))
        .route("/api/configs/{config}/peers/{peer_id}/config", web::get().to(peers::download))
        .route("/api/configs/{config}/peers/{peer_id}/usage", web::get().to(usage::peer_usage))
        .route("/api/settings/usage", web::get().to(usage::get_settings))
        .route("/api/settings/usage", web::put().to(usage::put_settings))
        .route("/api/peers/{peer_id}/configs", web::get().to(peers::configs_of))
        .route("/v1/wg/{iface}/config", web::get().to(agent::get_config))
        .route("/v1/wg/{iface}/peers", web::post().to(agent::add_peer))
        .route("/v1/wg/{iface}/peers/{public_key}", web::delete().to(agent::delete_peer))
        .route("/v1/wg/{iface}", web::delete().to(agent::delete_interface))
        // keepalived's notify hook through `wgclusterd vrrp-notify` (control socket only)
        .route("/v1/vrrp/{config}", web::post().to(vrrp::notify));
}

/// The JSON 404 for unknown routes.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())))
}

/// Reads the whole body of an API request: 413 past `BODY_LIMIT`, 408 past `BODY_DEADLINE`.
pub async fn read_body(payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    edge::read_limited(payload, BODY_LIMIT, edge::BODY_DEADLINE).await
}
