//! The cluster listener (`cluster_listen`): HTTPS with mutual TLS. Routes: `GET /v1/health`
//! (open: the panel's probe), `POST /v1/join` (open: a router with a join token and no
//! certificate yet), and for members only: Raft RPCs (`/v1/raft/*`), forwarded writes
//! (`/v1/forward`), membership requests (`/v1/members`, `/v1/members/remove`), and this
//! router's peer counters for the panel's usage collector (`GET /v1/usage`, #15), and the state
//! version this router's WireGuard has applied, answered as soon as it reaches the one the
//! panel's drain waits for (`GET /v1/applied?at_least=V&wait_ms=W`, #16).

use crate::http::edge::{read_limited, CLUSTER_BODY_DEADLINE, CLUSTER_BODY_LIMIT};
use crate::http::error::ApiError;
use crate::http::server::{FromReq, Payload, Query, Req, Response, Router};
use crate::http::{read_body, App};
use serde_json::json;
use wgcluster_actors::model::NodeId;
use wgcluster_actors::raft::{RpcKind, WriteError};
use wgcluster_actors::tls::PeerIdentity;

/// A caller that presented a valid, unrevoked member certificate.
pub struct Member(pub PeerIdentity);

impl FromReq for Member {
    async fn from_req(req: &mut Req) -> Result<Member, ApiError> {
        match crate::http::verified_member(req) {
            Ok(Some(p)) => Ok(Member(p)),
            Ok(None) => Err(ApiError::Unauthorized("this route needs a cluster member certificate".into())),
            Err(e) => Err(e),
        }
    }
}

/// The cluster listener's routes (`/v1/health` is in `http::routes`).
pub fn routes(r: Router) -> Router {
    r.post("/v1/join", super::join::serve_join)
        .post("/v1/raft/append", append)
        .post("/v1/raft/vote", vote)
        .post("/v1/raft/snapshot", snapshot)
        .post("/v1/forward", forward)
        .post("/v1/members", add_member)
        .post("/v1/members/remove", remove_member)
        .get("/v1/usage", usage)
        .get("/v1/applied", applied)
}

/// Longest wait a `/v1/applied` caller may ask for.
const APPLIED_WAIT_MAX_MS: u64 = 10_000;

/// `GET /v1/applied?at_least=V&wait_ms=W`: this router's applied state version, once it is at
/// least V or after W ms (at most 10 s), for the panel's drain watch. Without WireGuard on this
/// router the version is null at once.
async fn applied(app: App, _m: Member, query: Query) -> Result<Response, ApiError> {
    let num = |k: &str| -> Result<u64, ApiError> {
        match query.get(k) {
            None => Ok(0),
            Some(v) => v.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("{k}: must be a whole number"))),
        }
    };
    let (at_least, wait_ms) = (num("at_least")?, num("wait_ms")?.min(APPLIED_WAIT_MAX_MS));
    let Some(wg) = app.wg.clone() else {
        return Ok(crate::http::error::ok("no WireGuard on this router", json!({ "applied_version": null })));
    };
    let read = || wg.stats.applied_version.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    loop {
        // Registered before the read, so a pass that lands in between still wakes this wait.
        let changed = wg.stats.applied_changed.notified();
        let v = read();
        if v >= at_least || tokio::time::timeout_at(deadline, changed).await.is_err() {
            return Ok(crate::http::error::ok("ok", json!({ "applied_version": read() })));
        }
    }
}

/// This router's readings of its interfaces' peers (`usage::collect::read_local`), for the panel.
async fn usage(app: App, _m: Member) -> Result<Response, ApiError> {
    let Some(wg) = app.wg.clone() else { return Ok(crate::http::error::ok("no WireGuard on this router", json!([]))) };
    let me = NodeId::parse("node_id", &app.node_id)?;
    let configs = app.cluster.read(|s| wgcluster_actors::usage::collect::interfaces_of(s, &me));
    // On the reconciler's thread (it owns the blocking data-plane I/O), not on a blocking-pool one.
    let readings = wg
        .with_backend(move |b| wgcluster_actors::usage::collect::read_local(b, &configs))
        .await
        .map_err(|e| ApiError::Internal(format!("usage read: {e}")))?;
    Ok(crate::http::error::ok("ok", serde_json::to_value(readings).unwrap_or_default()))
}

async fn body(payload: Payload) -> Result<Vec<u8>, ApiError> {
    read_limited(payload, CLUSTER_BODY_LIMIT, CLUSTER_BODY_DEADLINE).await
}

async fn rpc(app: App, kind: RpcKind, payload: Payload) -> Result<Response, ApiError> {
    let bytes = body(payload).await?;
    let reply = app.cluster.serve_rpc(kind, &bytes).await.map_err(ApiError::BadRequest)?;
    Ok(Response::new(200).content_type("application/octet-stream").body(reply))
}

async fn append(app: App, _m: Member, p: Payload) -> Result<Response, ApiError> {
    rpc(app, RpcKind::AppendEntries, p).await
}
async fn vote(app: App, _m: Member, p: Payload) -> Result<Response, ApiError> {
    rpc(app, RpcKind::Vote, p).await
}
async fn snapshot(app: App, _m: Member, p: Payload) -> Result<Response, ApiError> {
    rpc(app, RpcKind::InstallSnapshot, p).await
}

async fn forward(app: App, _m: Member, p: Payload) -> Result<Response, ApiError> {
    let bytes = body(p).await?;
    Ok(Response::new(200).content_type("application/octet-stream").body(app.cluster.serve_forward(&bytes).await))
}

/// A member asks to be brought into Raft (as learner, then voter while there are fewer than 5).
/// A router may only add itself.
async fn add_member(app: App, m: Member, payload: Payload) -> Result<Response, ApiError> {
    let b = crate::http::body::Body::parse(&read_body(payload).await?)?;
    let node = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    let addr = crate::http::nodes::parse_endpoint("addr", &b.req_str("addr")?)?;
    if node.as_str() != m.0.node_id {
        return Err(ApiError::BadRequest(format!("a router can only add itself (certificate is for '{}')", m.0.node_id)));
    }
    let role = match app.cluster.add_member(&node, &addr).await {
        Ok(role) => role,
        Err(WriteError::NotLeader { leader: Some(l) }) => {
            return Ok(Response::new(503).json(&json!({
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
async fn remove_member(app: App, _m: Member, payload: Payload) -> Result<Response, ApiError> {
    let b = crate::http::body::Body::parse(&read_body(payload).await?)?;
    let node = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    let user = b.opt_str("user")?.unwrap_or_else(|| "admin".into());
    crate::http::members::remove_on_leader(&app, &user, &node).await?;
    Ok(crate::http::error::ok("Member removed", json!({ "node_id": node })))
}
