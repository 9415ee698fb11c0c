//! keepalived's notify hook (#16): `POST /v1/vrrp/{config}` with `{"state": "MASTER"|"BACKUP"|
//! "FAULT"|"MASTER_RX_LOWER_PRI"}`, sent by `wgclusterd vrrp-notify` over the control socket (the only listener that
//! serves it, see `edge.rs`). MASTER makes the reconciler take the config's peers over
//! (server-initiated handshakes); MASTER_RX_LOWER_PRI (still master, another router advertised too:
//! a split healing) makes it take them back; anything else ends this router's mastership.

use super::auth::User;
use super::body::Body;
use super::configs::config_name;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Response};
use super::{read_body, App};
use serde_json::json;
use wgcluster_actors::vrrp::VrrpState;

pub async fn notify(app: App, _u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["state"])?;
    let state: VrrpState = b.req_str("state")?.parse().map_err(|e: String| ApiError::BadRequest(format!("state: {e}")))?;
    let known = app.cluster.read(|s| s.vips.contains_key(&config));
    if !known {
        return Err(ApiError::NotFound(format!("config '{config}' has no floating address")));
    }
    let wg = app.wg.as_ref().ok_or_else(|| ApiError::Unavailable("this router runs no WireGuard (a witness)".into()))?;
    match state {
        VrrpState::MasterRxLowerPri => wg.vrrp_reclaim(config.clone()),
        s => wg.vrrp(config.clone(), s == VrrpState::Master),
    }
    .map_err(ApiError::Unavailable)?;
    log::info!("vrrp: keepalived says this router is {} for {config}", state.as_str());
    Ok(ok("VRRP state noted", json!({ "config": config.as_str(), "state": state.as_str() })))
}
