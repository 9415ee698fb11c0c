//! The seed's agent routes, on every router: the actual interface config (for backups), and peer
//! changes that become commands (a peer pinned to this router, or removed) so the reconciler never
//! reverts them; `DELETE /v1/wg/{iface}` takes this router off that config through the
//! node-removal workflow. Public keys in paths: standard base64 (percent-encoded) or URL-safe.

use super::auth::{AgentCaller, User};
use super::body::Body;
use super::configs::config_name;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Query, Response};
use super::{now_ms, read_body, views, App};
use serde_json::{json, Value};
use wgcluster_actors::model::*;
use wgcluster_actors::state::{Command, NewPeer, Outcome};
use wgcluster_actors::wg::ActualInterface;

/// JSON of an interface as the device holds it; the private key only when asked for and allowed.
pub fn interface_json(a: &ActualInterface, include_private: bool) -> Value {
    let b64 = |k: &[u8; 32]| WgKey(*k).to_base64();
    let peers: Vec<Value> = a
        .peers
        .iter()
        .map(|p| {
            json!({
                "public_key": b64(&p.public_key),
                "has_preshared_key": p.preshared_key.is_some(),
                "allowed_ips": p.allowed_ips,
                "endpoint": p.endpoint.map(|e| e.to_string()),
                "persistent_keepalive": p.persistent_keepalive,
                "last_handshake": p.last_handshake.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                "rx_bytes": p.rx_bytes,
                "tx_bytes": p.tx_bytes,
            })
        })
        .collect();
    let mut v = json!({ "listen_port": a.listen_port, "public_key": a.public_key.as_ref().map(b64), "peers": peers });
    if include_private {
        v["private_key"] = json!(a.private_key.as_ref().map(b64));
    }
    v
}

/// Reads an interface through this router's backend, off the async threads.
pub async fn read_interface(app: &App, iface: &str) -> Result<Option<ActualInterface>, ApiError> {
    let wg = app.wg.clone().ok_or_else(|| ApiError::Conflict("this router runs no WireGuard (witness)".into()))?;
    let name = iface.to_string();
    tokio::task::spawn_blocking(move || wg.backend.read(&name))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Unavailable(format!("cannot read {iface}: {e}")))
}

pub async fn get_config(app: App, u: AgentCaller, path: Path<String>, q: Query) -> Result<Response, ApiError> {
    let iface = config_name(&path)?;
    let include_private = matches!(q.get("include_private"), Some("1") | Some("true"));
    if include_private && !u.is_admin() {
        return Err(ApiError::Forbidden(
            "include_private needs the admin token (a router certificate may read an interface without its private key)".into(),
        ));
    }
    let actual = read_interface(&app, iface.as_str()).await?;
    let a = actual.ok_or_else(|| ApiError::NotFound(format!("interface '{iface}' does not exist on this router")))?;
    if include_private {
        // Audited before the key leaves (no entry, no key), as the peer downloads are.
        let cmd = Command::RecordSecretRead { config: iface.clone(), peer: None, via: "agent:include_private".into() };
        app.submit(&u.name(), cmd).await?;
    }
    Ok(ok("Interface retrieved successfully", interface_json(&a, include_private)))
}

fn key_from_path(s: &str) -> Result<WgKey, ApiError> {
    Ok(WgKey::parse("public_key", s)?)
}

/// `POST /v1/wg/{iface}/peers` `{"public_key","name"?,"allowed_ips"?,"preshared_key"?}`: a peer
/// pinned to this router.
pub async fn add_peer(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["public_key", "name", "allowed_ips", "preshared_key", "keepalive"])?;
    let public_key = WgKey::parse("public_key", &b.req_str("public_key")?)?;
    // The same name rule as /api/configs/{c}/peers: this name is written into client configs.
    let name = match b.opt_str("name")? {
        Some(n) => check_name("name", &n)?,
        None => format!("peer-{}", public_key.to_base64().chars().take(8).collect::<String>()),
    };
    let peer = NewPeer {
        id: PeerId::random(),
        name,
        public_key,
        private_key: None,
        preshared_key: b.opt_str("preshared_key")?.map(|k| WgKey::parse("preshared_key", &k)).transpose()?,
        node_id: Some(NodeId::parse("node_id", &app.node_id)?),
        allowed_ips: b.opt_cidrs("allowed_ips")?,
        keepalive: b.opt_uint("keepalive", 0, 65535)?.map(|k| k as u16),
        enabled: true,
        limits: Default::default(),
    };
    let out = app.submit_as(&u, Command::CreatePeers { config, peers: vec![peer] }).await?;
    let Outcome::PeersCreated { ids } = out else { return Err(ApiError::Internal(format!("unexpected outcome {out:?}"))) };
    let v = app.cluster.read(|s| ids.first().and_then(|id| s.peers.get(id)).map(|p| views::peer(s, p)));
    Ok(ok("Peer added", v.unwrap_or_default()))
}

pub async fn delete_peer(app: App, u: User, path: Path<(String, String)>) -> Result<Response, ApiError> {
    let (c, k) = path.into_inner();
    let config = config_name(&c)?;
    let key = key_from_path(&k)?;
    let id = app.cluster.read(|s| s.peers_of(&config).find(|p| p.public_key == key).map(|p| p.id.clone()));
    let id = id.ok_or_else(|| ApiError::NotFound(format!("no peer with public key {} in config '{config}'", key.to_base64())))?;
    app.submit_as(&u, Command::DeletePeer { config, id }).await?;
    Ok(ok("Peer removed", Value::Null))
}

pub async fn delete_interface(app: App, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let config = config_name(&path)?;
    let node_id = NodeId::parse("node_id", &app.node_id)?;
    let out = app.removal.remove(config, node_id, u.0, now_ms()).await?;
    match out {
        Outcome::NodeRemoved { peers_migrated, backup_id } => {
            Ok(ok("Node removed successfully", json!({ "peers_migrated": peers_migrated, "backup_id": backup_id })))
        }
        other => Err(ApiError::Internal(format!("unexpected outcome {other:?}"))),
    }
}
