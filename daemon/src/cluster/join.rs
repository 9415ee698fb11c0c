//! Joining a cluster. Client side (`wgclusterd join --token T --peer HOST:PORT`): make a key,
//! send the token and the public key to the peer over TLS pinned to the CA fingerprint in the
//! token, check the CA it returns against that fingerprint, save the identity. Server side
//! (`POST /v1/join` on any member): check the token, sign a certificate with the replicated CA,
//! and admit the router with one `AdmitNode` command (which consumes the token).

use crate::config::DaemonConfig;
use crate::http::body::Body;
use crate::http::error::{ok, ApiError};
use crate::http::server::{Payload, Response};
use crate::http::{now_ms, read_body, App};
use serde_json::json;
use std::time::Duration;
use wgcluster_actors::model::NodeId;
use wgcluster_actors::state::{Command, NodeSpec};
use wgcluster_actors::tls::pki::{fingerprint_of_pem, ClusterCa, JoinToken, NodeKey, NodePublicKey};
use wgcluster_actors::tls::store::TlsFiles;
use wgcluster_actors::tls::{join_client_config, ClusterClient, JOIN_SERVER_NAME};

/// `POST /v1/join` `{"token","node_id","cluster_addr","endpoint"?,"public_key_pem"}`.
pub async fn serve_join(app: App, payload: Payload) -> Result<Response, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["token", "node_id", "cluster_addr", "endpoint", "public_key_pem"])?;
    let token = JoinToken::parse(&b.req_str("token")?).map_err(|e| ApiError::BadRequest(format!("token: {e}")))?;
    let node_id = NodeId::parse("node_id", &b.req_str("node_id")?)?;
    let cluster_addr = crate::http::nodes::parse_endpoint("cluster_addr", &b.req_str("cluster_addr")?)?;
    let endpoint = b.opt_str("endpoint")?.map(|e| crate::http::nodes::parse_endpoint("endpoint", &e)).transpose()?;
    let public_key =
        NodePublicKey::from_pem(&b.req_str("public_key_pem")?).map_err(|e| ApiError::BadRequest(format!("public_key_pem: {e}")))?;
    let now = now_ms();
    let hash = token.secret_hash();
    let (ca, known) = app.cluster.read(|s| {
        let known = s.join_tokens.iter().find(|t| t.sha256 == hash).map(|t| t.expires_at);
        (s.cluster_ca.clone(), known)
    });
    let ca = ca.ok_or_else(|| ApiError::Conflict("this cluster has no CA (it was initialised without one)".into()))?;
    match known {
        None => return Err(ApiError::Unauthorized("the join token is unknown or was already used".into())),
        Some(exp) if exp <= now => return Err(ApiError::Unauthorized("the join token has expired".into())),
        Some(_) => {}
    }
    if token.ca_fingerprint != ca.fingerprint {
        return Err(ApiError::Unauthorized("the join token belongs to another cluster".into()));
    }
    let ca_signer = ClusterCa::from_pem(&ca.cert_pem, &ca.key_pem).map_err(|e| ApiError::Internal(format!("cluster CA: {e}")))?;
    let mut serial_bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial_bytes);
    let serial = (u64::from_be_bytes(serial_bytes) >> 1).max(2);
    let cert = ca_signer
        .sign_node(node_id.as_str(), &public_key, serial)
        .map_err(|e| ApiError::BadRequest(format!("node_id: cannot issue a certificate: {e}")))?;
    let node = NodeSpec { id: node_id.clone(), name: None, endpoint, cluster_addr: Some(cluster_addr), witness: false };
    app.submit("join", Command::AdmitNode { token_sha256: hash, node, serial }).await.map_err(|e| match e {
        ApiError::Conflict(m) => ApiError::Unauthorized(m),
        other => other,
    })?;
    log::info!("router {node_id} joined (certificate serial {serial})");
    Ok(ok("Joined", json!({ "ca_cert_pem": ca.cert_pem, "cert_pem": cert.cert_pem, "serial": serial, "node_id": app.node_id })))
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{0}")]
    Token(String),
    #[error("{0} is already initialised; a router joins with an empty data dir")]
    Initialised(String),
    #[error("{0}")]
    Io(String),
    #[error("the join was refused: {0}")]
    Refused(String),
    #[error("the peer sent a CA that does not match the token's fingerprint")]
    WrongCa,
}

/// `wgclusterd join`: blocking, runs its own small runtime.
pub fn join(cfg: &DaemonConfig, token: &str, peer: &str) -> Result<(), JoinError> {
    let token = JoinToken::parse(token).map_err(|e| JoinError::Token(format!("--token: {e}")))?;
    token.check_fresh(now_ms()).map_err(|e| JoinError::Token(format!("--token: {e}")))?;
    if crate::init::is_initialised(cfg).map_err(|e| JoinError::Io(e.to_string()))? {
        return Err(JoinError::Initialised(cfg.data_dir.display().to_string()));
    }
    let key = NodeKey::generate().map_err(|e| JoinError::Io(e.to_string()))?;
    let client_cfg = join_client_config(&token.ca_fingerprint).map_err(|e| JoinError::Token(e.to_string()))?;
    let client = ClusterClient::new(client_cfg);
    let body = json!({
        "token": token.encode(),
        "node_id": cfg.node_id,
        "cluster_addr": super::advertised_addr(cfg.cluster_listen, cfg.endpoint.as_ref()),
        "endpoint": cfg.endpoint.as_ref().map(ToString::to_string),
        "public_key_pem": key.public_key().to_pem(),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| JoinError::Io(e.to_string()))?;
    let res = rt.block_on(client.request(
        JOIN_SERVER_NAME,
        peer,
        "POST",
        "/v1/join",
        body.to_string().into_bytes(),
        Some("application/json"),
        Duration::from_secs(20),
    ));
    let (status, bytes) = res.map_err(|e| JoinError::Refused(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| JoinError::Refused(format!("HTTP {status}")))?;
    if status != 200 {
        return Err(JoinError::Refused(v["message"].as_str().unwrap_or("unknown error").to_string()));
    }
    let ca_pem = v["data"]["ca_cert_pem"].as_str().ok_or(JoinError::Refused("no CA in the answer".into()))?;
    let cert_pem = v["data"]["cert_pem"].as_str().ok_or(JoinError::Refused("no certificate in the answer".into()))?;
    if fingerprint_of_pem(ca_pem).map_err(|_| JoinError::WrongCa)? != token.ca_fingerprint {
        return Err(JoinError::WrongCa);
    }
    crate::datadir::create(&cfg.data_dir).map_err(|e| JoinError::Io(e.to_string()))?;
    let files = TlsFiles::new(&cfg.data_dir);
    files.save_ca_cert(ca_pem).map_err(|e| JoinError::Io(e.to_string()))?;
    files.save_node_key(&key.key_pem()).map_err(|e| JoinError::Io(e.to_string()))?;
    files.save_node_cert(cert_pem).map_err(|e| JoinError::Io(e.to_string()))?;
    let issuer = v["data"]["node_id"].as_str().unwrap_or("");
    crate::init::mark_joined(cfg, &format!("{issuer}@{peer}")).map_err(|e| JoinError::Io(e.to_string()))?;
    Ok(())
}
