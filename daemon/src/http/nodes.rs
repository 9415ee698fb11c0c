//! `/api/nodes`: list, pre-register, show, patch and delete routers.

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::server::{Path, Payload, Response};
use super::{read_body, views, App};
use wgcluster_actors::model::{check_name, Endpoint, InvalidField, NodeId};
use wgcluster_actors::state::{Command, NodePatch, NodeSpec};

/// A public address (`model::Endpoint`: IPv4, IPv6 or a DNS name, optionally with `:port`), in
/// its canonical form: what the node's `endpoint` / `cluster_addr` stores.
pub fn parse_endpoint(field: &str, s: &str) -> Result<String, InvalidField> {
    Ok(Endpoint::parse(field, s)?.to_string())
}

fn node_id(s: &str) -> Result<NodeId, ApiError> {
    Ok(NodeId::parse("node_id", s)?)
}

pub async fn list(app: App, _u: User) -> Response {
    let data = app.cluster.read(|s| s.nodes.values().map(|n| views::node(s, n)).collect::<Vec<_>>());
    ok("Nodes retrieved successfully", data.into())
}

pub async fn get(app: App, _u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id = node_id(&path)?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    let v = v.ok_or_else(|| ApiError::NotFound(format!("node '{id}' not found")))?;
    Ok(ok("Node retrieved successfully", v))
}

pub async fn create(app: App, u: User, payload: Payload) -> Result<Response, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["id", "name", "endpoint", "weight", "cluster_addr"])?;
    let id = NodeId::parse("id", &b.req_str("id")?)?;
    let endpoint = b.opt_str("endpoint")?.map(|e| parse_endpoint("endpoint", &e)).transpose()?;
    let cluster_addr = b.opt_str("cluster_addr")?.map(|e| parse_endpoint("cluster_addr", &e)).transpose()?;
    let weight = b.opt_uint("weight", 1, 1000)?.unwrap_or(1) as u32;
    let name = b.opt_str("name")?.map(|n| check_name("name", &n)).transpose()?;
    let spec = NodeSpec { id: id.clone(), name, endpoint, cluster_addr, witness: false };
    app.submit_as(&u, Command::CreateNode { node: spec, weight }).await?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    Ok(ok("Node created successfully", v.unwrap_or_default()))
}

pub async fn patch(app: App, u: User, path: Path<String>, payload: Payload) -> Result<Response, ApiError> {
    let id = node_id(&path)?;
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["name", "endpoint", "weight", "enabled"])?;
    let endpoint = if b.is_null("endpoint") {
        Some(None)
    } else {
        b.opt_str("endpoint")?.map(|e| parse_endpoint("endpoint", &e).map(Some)).transpose()?
    };
    let patch = NodePatch {
        name: b.opt_str("name")?.map(|n| check_name("name", &n)).transpose()?,
        endpoint,
        weight: b.opt_uint("weight", 1, 1000)?.map(|w| w as u32),
        enabled: b.opt_bool("enabled")?,
    };
    app.submit_as(&u, Command::UpdateNode { id: id.clone(), patch }).await?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    Ok(ok("Node updated successfully", v.unwrap_or_default()))
}

pub async fn delete(app: App, u: User, path: Path<String>) -> Result<Response, ApiError> {
    let id = node_id(&path)?;
    app.submit_as(&u, Command::DeleteNode { id }).await?;
    Ok(ok("Node deleted successfully", serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    /// The rules are `model::Endpoint`'s (table-tested there); this is the canonical form stored.
    #[test]
    fn endpoints() {
        let cases = [
            ("192.0.2.1", Some("192.0.2.1")),
            ("[2001:db8::1]:51820", Some("[2001:db8::1]:51820")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            (" vpn.example.com.:51820 ", Some("vpn.example.com:51820")),
            ("", None),
            ("x:0", None),
            ("-a.com", None),
        ];
        for (e, want) in cases {
            assert_eq!(super::parse_endpoint("endpoint", e).ok().as_deref(), want, "{e}");
        }
    }
}
