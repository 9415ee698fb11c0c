//! Who is calling. Two extractors, two kinds of caller:
//! - `User`: an administrator. A TCP caller must send `Authorization: Bearer <token>`; the token's
//!   SHA-256 is compared in constant time with the stored hashes, and the token's name becomes the
//!   audit `user`. A caller on the control socket is local root: its user is the
//!   `X-Wgcluster-User` header (the rpcd bridge passes the ubus session's username) or `root`.
//!   A router certificate is never an administrator (403).
//! - `AgentCaller`: an administrator, or a member router (verified, unrevoked client certificate on
//!   the cluster listener) — only for the agent's read of an interface without private keys.
//!
//! `verified_member` is the one per-request revocation check of a client certificate.

use super::error::ApiError;
use super::server::{FromReq, Req};
use wgcluster_actors::tls::PeerIdentity;

/// An administrator: the name recorded as `user` in audit entries, and the request's
/// `Idempotency-Key` if it carried one (`idempotency.rs`).
pub struct User(pub String, pub Option<super::idempotency::Capture>);

/// Who may read an interface through the agent route.
pub enum AgentCaller {
    Admin(User),
    Router(PeerIdentity),
}

impl AgentCaller {
    pub fn is_admin(&self) -> bool {
        matches!(self, AgentCaller::Admin(_))
    }

    /// The caller as audit entries and logs name it: the user, or `router:<id>`.
    pub fn name(&self) -> String {
        match self {
            AgentCaller::Admin(u) => u.0.clone(),
            AgentCaller::Router(p) => format!("router:{}", p.node_id),
        }
    }
}

/// The client certificate of this connection, if any, re-checked against the replicated
/// revocation list on every request: a keep-alive connection opened before a removal must not
/// outlive it. `Ok(None)`: no client certificate.
pub fn verified_member(req: &Req) -> Result<Option<PeerIdentity>, ApiError> {
    let Some(peer) = req.peer.as_ref() else { return Ok(None) };
    let refused = req.app.cluster.read(|s| s.cert_refused(&peer.node_id, peer.serial));
    if refused {
        log::info!("refused a request from {} (certificate serial {}): revoked", peer.node_id, peer.serial);
        return Err(ApiError::Unauthorized(format!("the certificate of '{}' was revoked", peer.node_id)));
    }
    Ok(Some(peer.clone()))
}

fn sanitize(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || "_.@-".contains(*c)).take(64).collect()
}

fn capture(req: &Req) -> Option<super::idempotency::Capture> {
    req.capture.clone()
}

fn authorize(req: &Req) -> Result<User, ApiError> {
    if req.is_local() {
        let user = req.header_str("x-wgcluster-user").map(sanitize);
        return Ok(User(user.filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into()), capture(req)));
    }
    let app = &req.app;
    if req.header("authorization").is_none() && req.peer.is_some() {
        return Err(ApiError::Forbidden(
            "a router certificate does not authorise administration: send Authorization: Bearer <admin token>".into(),
        ));
    }
    let header =
        req.header("authorization").ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> header".into()))?;
    let value = super::server::visible_ascii(header).ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into()))?
        .trim();
    let hash: [u8; 32] = wgcluster_actors::model::sha256(token.as_bytes());
    match app.cluster.read(|s| s.token_name(&hash).map(str::to_string)) {
        Some(name) => Ok(User(name, capture(req))),
        None => Err(ApiError::Unauthorized("invalid token".into())),
    }
}

impl FromReq for User {
    async fn from_req(req: &mut Req) -> Result<User, ApiError> {
        authorize(req)
    }
}

fn agent_caller(req: &Req) -> Result<AgentCaller, ApiError> {
    if req.header("authorization").is_none() {
        if let Some(peer) = verified_member(req)? {
            return Ok(AgentCaller::Router(peer));
        }
    }
    authorize(req).map(AgentCaller::Admin)
}

impl FromReq for AgentCaller {
    async fn from_req(req: &mut Req) -> Result<AgentCaller, ApiError> {
        agent_caller(req)
    }
}
