//! `/api/nodes`: list, pre-register, show, patch and delete routers.

use super::auth::User;
use super::body::Body;
use super::error::{ok, ApiError};
use super::{read_body, views, App};
use actix_web::{web, HttpResponse};
use wgcluster_actors::model::quote_prefix;
use wgcluster_actors::model::{check_name, InvalidField, NodeId};
use wgcluster_actors::state::{Command, NodePatch, NodeSpec};

/// A public address: an IPv4/IPv6 address or a host name, optionally with `:port`
/// (`192.0.2.1:51820`, `[2001:db8::1]:51820`, `2001:db8::1`, `vpn.example.com`).
pub fn parse_endpoint(field: &str, s: &str) -> Result<String, InvalidField> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
            None => (s, None),
        }
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        (h, Some(p))
    } else {
        (s, None)
    };
    let ok_host = host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
    if !ok_host {
        return Err(InvalidField::new(field, format!("{} is not an IP address or host name", quote_prefix(s))));
    }
    if let Some(p) = port {
        if !p.parse::<u16>().map(|p| p > 0).unwrap_or(false) {
            return Err(InvalidField::new(field, format!("{} has an invalid port", quote_prefix(s))));
        }
    }
    Ok(s.to_string())
}

fn node_id(s: &str) -> Result<NodeId, ApiError> {
    Ok(NodeId::parse("node_id", s)?)
}

pub async fn list(app: App, _u: User) -> HttpResponse {
    let data = app.cluster.read(|s| s.nodes.values().map(|n| views::node(s, n)).collect::<Vec<_>>());
    ok("Nodes retrieved successfully", data.into())
}

pub async fn get(app: App, _u: User, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = node_id(&path)?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    let v = v.ok_or_else(|| ApiError::NotFound(format!("node '{id}' not found")))?;
    Ok(ok("Node retrieved successfully", v))
}

pub async fn create(app: App, u: User, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let b = Body::parse(&read_body(payload).await?)?;
    b.only(&["id", "name", "endpoint", "weight", "cluster_addr"])?;
    let id = NodeId::parse("id", &b.req_str("id")?)?;
    let endpoint = b.opt_str("endpoint")?.map(|e| parse_endpoint("endpoint", &e)).transpose()?;
    let cluster_addr = b.opt_str("cluster_addr")?.map(|e| parse_endpoint("cluster_addr", &e)).transpose()?;
    let weight = b.opt_uint("weight", 1, 1000)?.unwrap_or(1) as u32;
    let name = b.opt_str("name")?.map(|n| check_name("name", &n)).transpose()?;
    let spec = NodeSpec { id: id.clone(), name, endpoint, cluster_addr, witness: false };
    app.submit(&u.0, Command::CreateNode { node: spec, weight }).await?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    Ok(ok("Node created successfully", v.unwrap_or_default()))
}

pub async fn patch(app: App, u: User, path: web::Path<String>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
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
    app.submit(&u.0, Command::UpdateNode { id: id.clone(), patch }).await?;
    let v = app.cluster.read(|s| s.nodes.get(&id).map(|n| views::node(s, n)));
    Ok(ok("Node updated successfully", v.unwrap_or_default()))
}

pub async fn delete(app: App, u: User, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = node_id(&path)?;
    app.submit(&u.0, Command::DeleteNode { id }).await?;
    Ok(ok("Node deleted successfully", serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints() {
        let cases = [
            ("192.0.2.1", true),
            ("192.0.2.1:51820", true),
            ("[2001:db8::1]:51820", true),
            ("2001:db8::1", true),
            ("vpn.example.com", true),
            ("r1.example.com:7", true),
            ("", false),
            ("a b", false),
            ("x:0", false),
            ("x:99999", false),
            ("bad_host!", false),
        ];
        for (e, want) in cases {
            assert_eq!(super::parse_endpoint("endpoint", e).is_ok(), want, "{e}");
        }
    }
}
