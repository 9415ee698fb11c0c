//! Who is calling: the `User` extractor. A TCP caller must send `Authorization: Bearer <token>`;
//! the token's SHA-256 is compared in constant time with the stored hashes, and the token's name
//! becomes the audit `user`. A caller on the control socket is local root: its user is the
//! `X-Wgcluster-User` header (the rpcd bridge passes the ubus session's username) or `root`.
//! A member router calling over the cluster listener (verified client certificate) is
//! `router:<id>`.

use super::error::ApiError;
use super::App;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};

/// Marks a connection that came in on the control socket.
#[derive(Clone, Copy)]
pub struct LocalConn;

pub struct User(pub String);

impl User {
    /// An administrator (token, or local root on the control socket) rather than a member router.
    pub fn is_admin(&self) -> bool {
        !self.0.starts_with("router:")
    }
}

fn sanitize(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || "_.@-".contains(*c)).take(64).collect()
}

fn authorize(req: &HttpRequest) -> Result<User, ApiError> {
    if req.conn_data::<LocalConn>().is_some() {
        let user = req.headers().get("x-wgcluster-user").and_then(|v| v.to_str().ok()).map(sanitize);
        return Ok(User(user.filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into())));
    }
    let app = req.app_data::<App>().ok_or_else(|| ApiError::Internal("app state missing".into()))?;
    // A member router on the cluster listener (mutual TLS) acts as itself.
    if req.headers().get("authorization").is_none() {
        if let Some(peer) = req.conn_data::<wgcluster_actors::tls::PeerIdentity>() {
            // Re-checked per request: a connection opened before a removal must not outlive it.
            let revoked =
                app.cluster.read(|s| s.member_certs.get(&peer.serial).is_some_and(|c| c.revoked || c.node_id.as_str() != peer.node_id));
            if revoked {
                return Err(ApiError::Unauthorized(format!("the certificate of '{}' was revoked", peer.node_id)));
            }
            return Ok(User(format!("router:{}", peer.node_id)));
        }
    }
    let header =
        req.headers().get("authorization").ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> header".into()))?;
    let value = header.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into()))?
        .trim();
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match app.cluster.read(|s| s.token_name(&hash).map(str::to_string)) {
        Some(name) => Ok(User(name)),
        None => Err(ApiError::Unauthorized("invalid token".into())),
    }
}

impl FromRequest for User {
    type Error = ApiError;
    type Future = Ready<Result<User, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authorize(req))
    }
}
