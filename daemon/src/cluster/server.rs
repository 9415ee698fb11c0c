//! The cluster listener (`cluster_listen`): HTTPS with mutual TLS. Routes: `GET /v1/health`
//! (open: the panel's probe), `POST /v1/join` (open: a router with a join token and no
//! certificate yet), and for members only: Raft RPCs (`/v1/raft/*`), forwarded writes
//! (`/v1/forward`), and membership requests (`/v1/members`, `/v1/members/remove`).

use crate::http::error::ApiError;
use crate::http::{read_body, App};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde_json::json;
use std::future::{ready, Ready};
use wgcluster_actors::model::NodeId;
use wgcluster_actors::raft::{RpcKind, WriteError};
use wgcluster_actors::tls::PeerIdentity;

/// Largest body on the cluster port (snapshots of a big state).
pub const CLUSTER_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// A caller that presented a valid, unrevoked member certificate.
pub struct Member(pub PeerIdentity);

impl FromRequest for Member {
    type Error = ApiError;
    type Future = Ready<Result<Member, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(p) = req.conn_data::<PeerIdentity>() else {
            return ready(Err(ApiError::Unauthorized("this route needs a cluster member certificate".into())));
        };
        // The handshake checked revocation, but a keep-alive connection opened before the
        // certificate was revoked would otherwise keep working: check again on every request.
        if let Some(app) = req.app_data::<App>() {
            let refused = app.cluster.read(|s| s.member_certs.get(&p.serial).is_some_and(|c| c.revoked || c.node_id.as_str() != p.node_id));
            if refused {
                log::info!("refused a request from {} (certificate serial {}): revoked", p.node_id, p.serial);
                return ready(Err(ApiError::Unauthorized(format!("the certificate of '{}' was revoked", p.node_id))));
            }
        }
        ready(Ok(Member(p.clone())))
    }
}

/// Records the verified peer identity of a TLS connection (see `startup`).
pub fn on_connect(conn: &dyn std::any::Any, ext: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(tls) = conn.downcast_ref::<Tls>() {
        let (_, session) = tls.get_ref();
        if let Some(id) = wgcluster_actors::tls::peer_identity(session.peer_certificates()) {
            ext.insert(id);
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/health", web::get().to(crate::http::agent_health))
        .route("/v1/join", web::post().to(super::join::serve_join))
        .route("/v1/raft/append", web::post().to(append))
        .route("/v1/raft/vote", web::post().to(vote))
        .route("/v1/raft/snapshot", web::post().to(snapshot))
        .route("/v1/forward", web::post().to(forward))
        .route("/v1/members", web::post().to(add_member))
        .route("/v1/members/remove", web::post().to(remove_member));
}

async fn body(payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut payload = payload;
    let mut buf = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(crate::http::payload_error)?;
        if buf.len() + chunk.len() > CLUSTER_BODY_LIMIT {
            return Err(ApiError::TooLarge("cluster request too large".into()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

async fn rpc(app: App, kind: RpcKind, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let bytes = body(payload).await?;
    let reply = app.cluster.serve_rpc(kind, &bytes).await.map_err(ApiError::BadRequest)?;
    Ok(HttpResponse::Ok().content_type("application/octet-stream").body(reply))
}

async fn append(app: App, _m: Member, p: web::Payload) -> Result<HttpResponse, ApiError> {
    rpc(app, RpcKind::AppendEntries, p).await
}
async fn vote(app: App, _m: Member, p: web::Payload) -> Result<HttpResponse, ApiError> {
    rpc(app, RpcKind::Vote, p).await
}
async fn snapshot(app: App, _m: Member, p: web::Payload) -> Result<HttpResponse, ApiError> {
    rpc(app, RpcKind::InstallSnapshot, p).await
}

async fn forward(app: App, _m: Member, p: web::Payload) -> Result<HttpResponse, ApiError> {
    let bytes = body(p).await?;
    Ok(HttpResponse::Ok().content_type("application/octet-stream").body(app.cluster.serve_forward(&bytes).await))
}

/// A member asks to be brought into Raft (as learner, then voter while there are fewer than 5).
/// A router may only add itself.
async fn add_member(app: App, m: Member, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let b = crate::http::body::Body::parse(&read_body(payload).await?)?;
    let node = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    let addr = crate::http::nodes::parse_endpoint("addr", &b.req_str("addr")?)?;
    if node.as_str() != m.0.node_id {
        return Err(ApiError::BadRequest(format!("a router can only add itself (certificate is for '{}')", m.0.node_id)));
    }
    let role = match app.cluster.add_member(&node, &addr).await {
        Ok(role) => role,
        Err(WriteError::NotLeader { leader: Some(l) }) => {
            return Ok(HttpResponse::ServiceUnavailable().json(json!({
                "status": false, "message": format!("not the panel; ask {}", l.id),
                "data": { "leader_id": l.id, "leader_addr": l.addr },
            })))
        }
        Err(e) => return Err(e.into()),
    };
    log::info!("router {node} at {addr} is now a {role}");
    Ok(crate::http::error::ok("Member added", json!({ "node_id": node, "role": role })))
}

/// A follower forwards an administrator's `DELETE /api/cluster/members/{id}` to the panel.
async fn remove_member(app: App, _m: Member, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let b = crate::http::body::Body::parse(&read_body(payload).await?)?;
    let node = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    let user = b.opt_str("user")?.unwrap_or_else(|| "admin".into());
    crate::http::members::remove_on_leader(&app, &user, &node).await?;
    Ok(crate::http::error::ok("Member removed", json!({ "node_id": node })))
}
