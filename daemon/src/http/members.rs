//! Cluster membership for administrators: `POST /api/cluster/join-tokens` (a single-use,
//! short-lived token carrying the CA fingerprint and this router's cluster address; only its hash
//! is stored) and `DELETE /api/cluster/members/{node_id}` (leave Raft, revoke the certificate).

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Response};
use super::{now_ms, read_body, App};
use serde_json::json;
use wgcluster_actors::model::NodeId;
use wgcluster_actors::state::Command;
use wgcluster_actors::tls::pki::JoinToken;
use wgcluster_actors::tls::RPC_TIMEOUT;

/// Default and longest lifetime of a join token.
const TOKEN_TTL_S: u64 = 15 * 60;
const TOKEN_TTL_MAX_S: u64 = 24 * 3600;

pub async fn create_join_token(app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let bytes = read_body(payload).await?;
    let ttl = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        TOKEN_TTL_S
    } else {
        let b = Body::parse(&bytes)?;
        b.only(&["ttl_s"])?;
        b.opt_uint("ttl_s", 1, TOKEN_TTL_MAX_S)?.unwrap_or(TOKEN_TTL_S)
    };
    let fingerprint = app.cluster.read(|s| s.cluster_ca.as_ref().map(|c| c.fingerprint.clone()));
    let fingerprint = fingerprint.ok_or_else(|| ApiError::Conflict("this cluster has no CA".into()))?;
    let expires_at = now_ms() + ttl * 1000;
    // This router's address as registered now (a SIGHUP with a new `endpoint` changes it), else
    // the one it started with.
    let addr = app
        .cluster
        .read(|s| s.nodes.get(&app.cluster.node_id).and_then(|n| n.cluster_addr.clone()))
        .unwrap_or_else(|| app.cluster_addr.clone());
    let token = JoinToken::new(&fingerprint, &addr, expires_at).map_err(|e| ApiError::Internal(e.to_string()))?;
    app.submit_as(&u, Command::IssueJoinToken { sha256: token.secret_hash(), expires_at }).await?;
    if u.1.as_ref().is_some_and(|k| k.replayed()) {
        // Only the token's hash is kept: the first answer cannot be given again.
        return Err(ApiError::Conflict(
            "this Idempotency-Key already created a join token; its secret is shown only once. \
             Create a new token with a new key (the unused one expires by itself)"
                .into(),
        ));
    }
    Ok(ok("Join token created; it works once", json!({ "token": token.encode(), "expires_at": expires_at, "issuer": addr })))
}

/// On the panel: leave Raft, then revoke (so the router cannot talk to the cluster any more).
pub async fn remove_on_leader(app: &App, user: &str, node: &NodeId) -> Result<(), ApiError> {
    if node.as_str() == app.node_id {
        return Err(ApiError::Conflict("the panel cannot remove itself; remove it from another router".into()));
    }
    app.cluster.remove_member(node).await?;
    app.submit(user, Command::RevokeMember { node_id: node.clone() }).await?;
    Ok(())
}

pub async fn remove_member(app: App, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let node = NodeId::parse("node_id", &path)?;
    if app.cluster.is_leader() {
        remove_on_leader(&app, &u.0, &node).await?;
    } else {
        let (Some(client), Some(leader)) = (app.cluster_client.as_ref(), app.cluster.leader_node()) else {
            return Err(ApiError::Unavailable("no panel is known right now; retry shortly".into()));
        };
        let body = json!({ "node_id": node, "user": u.0 }).to_string().into_bytes();
        let (status, bytes) = client
            .request(&leader.id, &leader.addr, "POST", "/v1/members/remove", body, Some("application/json"), RPC_TIMEOUT)
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot reach the panel: {e}")))?;
        if status != 200 {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let msg = v["message"].as_str().unwrap_or("the panel refused").to_string();
            return Err(match status {
                404 => ApiError::NotFound(msg),
                409 => ApiError::Conflict(msg),
                _ => ApiError::Unavailable(msg),
            });
        }
    }
    Ok(ok("Member removed", json!({ "node_id": node })))
}
